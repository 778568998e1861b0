/* sparemsg.h: the messages between the hook and a spare daemon (lib/daemon/spare.h), as text
 * datagrams, with no I/O: the hook writes them and reads the hello; the spare reads the
 * assignment and the retirement. The assignment is parsed strictly (fuzzed: tests/fuzz/
 * fuzz-sparemsg.c): it comes from root over a peer-checked socket, yet it becomes the
 * daemon's command line.
 *
 *   hello  (spare to hook)  "dnsjail-spare 1\nprogram NAME\nexe DEV INO\nids UID GID\n"
 *                           "nofile N\n"
 *   assign (hook to spare)  "dnsjail-assign 1\ncontainer-id ID\n" then "--OPTION INDEX\n" for
 *                           each descriptor of the datagram's SCM_RIGHTS array, in any order
 *   retire (hook to spare)  "dnsjail-retire 1\n"
 *
 * Owns: those formats. */
#ifndef DNSJAIL_SPAREMSG_H
#define DNSJAIL_SPAREMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DJ_SPAREMSG_VERSION 1
/* A datagram's size and descriptors at most: both sides refuse anything larger. */
#define DJ_SPAREMSG_MAX 4096
/* 32: a stub with its listeners, pidfds, log, control and config has about 12, and container
 * DNS adds CDNS_SOCKETS (8) sockets (hook/container.c). */
#define DJ_SPAREMSG_MAX_FDS 32
/* The longest container id a spare takes: its command line must fit in the room the spare
 * keeps for it (lib/daemon/spare.c). The hook spawns a daemon for a longer one. */
#define DJ_SPAREMSG_MAX_ID 256

struct dj_sparemsg_hello {
    char program[64];
    uint64_t exe_dev;
    uint64_t exe_ino;
    uint64_t uid, gid; /* the user it runs as: the listener's SO_PEERCRED is the hook's own */
    uint64_t nofile;
};

struct dj_sparemsg_fd {
    const char *option; /* "--inherit-udp": one of dj_sparemsg_fd_options */
    unsigned index;     /* in the SCM_RIGHTS array */
};

struct dj_sparemsg_assign {
    char container_id[DJ_SPAREMSG_MAX_ID + 1];
    struct dj_sparemsg_fd fds[DJ_SPAREMSG_MAX_FDS];
    size_t n_fds;
};

enum dj_sparemsg_kind { DJ_SPAREMSG_ASSIGN, DJ_SPAREMSG_RETIRE };

/* The options an assignment may name: those that hand over a descriptor, nothing else (every
 * setting travels in the --config-fd memfd). NULL-terminated. */
extern const char *const dj_sparemsg_fd_options[];

/* Writes the hello into BUF (DJ_SPAREMSG_MAX bytes); its length, or -1 when it does not fit. */
int dj_sparemsg_format_hello(const struct dj_sparemsg_hello *h, char *buf, size_t size);
int dj_sparemsg_parse_hello(const char *msg, size_t len, struct dj_sparemsg_hello *h,
                            dj_error_t *err);

/* Writes an assignment; -1 with *err when an option is not one of dj_sparemsg_fd_options, the
 * id is too long or holds a blank, or it does not fit. */
int dj_sparemsg_format_assign(const struct dj_sparemsg_assign *a, char *buf, size_t size,
                              dj_error_t *err);
int dj_sparemsg_format_retire(char *buf, size_t size);

/* Reads an assignment or a retirement that came with N_FDS descriptors. An assignment must
 * name every descriptor exactly once, --ready-fd among them, and only with the options above;
 * a retirement comes with none. The options point into dj_sparemsg_fd_options. */
int dj_sparemsg_parse_command(const char *msg, size_t len, size_t n_fds,
                              enum dj_sparemsg_kind *kind, struct dj_sparemsg_assign *a,
                              dj_error_t *err);

#endif

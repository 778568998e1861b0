/* daemonconf.h: the one contract between the hook and its daemons. The hook writes every setting
 * a daemon needs into one versioned text in a sealed memfd and hands over its descriptor
 * (--config-fd FD); the daemon reads it before anything else and refuses what it does not
 * understand. The command line carries only descriptors, and --container-id, which names whose
 * daemon a process is in ps and pgrep. Owns: the key table, writing the text, parsing it.
 *
 * The text, version 1 (DJ_DAEMONCONF_MAX_BYTES at most):
 *
 *     dnsjail-daemon-config 1
 *     KEY VALUE          a setting with a value: all that follows the first blank
 *     KEY                a flag
 *
 * Every line ends with '\n'; no NUL, no '\r', no empty line, no comment. KEY is one of
 * dj_daemonconf_key's names, each also the daemon's long option of the same name (standalone
 * use gives it on the command line; both reach the same place in the daemon). A list key may
 * repeat; any other key appears at most once. Another version, an unknown key, a flag with a
 * value or a setting without one is refused: a daemon that guessed would serve something the
 * hook did not decide. A change of meaning takes a new version, which older daemons refuse. */
#ifndef DNSJAIL_DAEMONCONF_H
#define DNSJAIL_DAEMONCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define DJ_DAEMONCONF_MAGIC "dnsjail-daemon-config"
#define DJ_DAEMONCONF_VERSION 1
#define DJ_DAEMONCONF_MAX_BYTES (256 * 1024)

/* The settings the hook hands over. Adding one: a key here and in the table of daemonconf.c,
 * the hook's start_daemon, and the daemon's option of that name. */
enum dj_daemonconf_key {
    /* both daemons, read by lib/daemon/daemon.c */
    DJ_DC_LOG_RATE,
    DJ_DC_LOG_BURST,
    DJ_DC_NETNS_KEY,
    DJ_DC_SYSTEM_LOG_FORMAT,
    /* both daemons, each its own */
    DJ_DC_AUDIT,
    DJ_DC_FORWARD,
    DJ_DC_VIRTUAL_IPV4,
    DJ_DC_VIRTUAL_IPV6,
    DJ_DC_VIRTUAL_MAX_NAMES,
    /* dnsstub/ */
    DJ_DC_SINKHOLE_IPV4,
    DJ_DC_SINKHOLE_IPV6,
    DJ_DC_TTL,
    DJ_DC_AUDIT_UPSTREAM,
    DJ_DC_FORWARD_CACHE_ENTRIES,
    DJ_DC_FORWARD_TTL_FLOOR,
    DJ_DC_FORWARD_TTL_CEILING,
    DJ_DC_FORWARD_RATE,
    DJ_DC_FORWARD_BURST,
    DJ_DC_CONTAINER_DNS_NAMES,
    /* proxy/ */
    DJ_DC_ALLOW_WILDCARD_ALL,
    DJ_DC_RESOLVER,
    DJ_DC_UPSTREAM_ALLOW,
    DJ_DC_MAX_CONNECTIONS,
    DJ_DC_N_KEYS
};

/* The key's name in the text and the daemon's option. */
const char *dj_daemonconf_key_name(enum dj_daemonconf_key key);

/* Whether KEY is a flag (a line without value). */
bool dj_daemonconf_key_is_flag(enum dj_daemonconf_key key);

/* ---- writing (the hook) ---------------------------------------------------------------- */

struct dj_daemonconf {
    char *text; /* the header and the lines so far */
    size_t len, cap;
    bool failed; /* out of memory, or a value that cannot be written: the memfd refuses */
};

/* Starts the text with its header. */
void dj_daemonconf_init(struct dj_daemonconf *c);
void dj_daemonconf_free(struct dj_daemonconf *c);

void dj_daemonconf_flag(struct dj_daemonconf *c, enum dj_daemonconf_key key);
void dj_daemonconf_set(struct dj_daemonconf *c, enum dj_daemonconf_key key, const char *value);
void dj_daemonconf_set_uint(struct dj_daemonconf *c, enum dj_daemonconf_key key,
                            unsigned long value);

/* A sealed memfd (no write, no resize) that holds the text, checked first with the daemons'
 * own parser: the hook never hands over a text a daemon would refuse. */
int dj_daemonconf_memfd(const struct dj_daemonconf *c, dj_error_t *err);

/* ---- reading (the daemons) ------------------------------------------------------------- */

/* Called for each line: VALUE is NULL for a flag, else it points into the text. */
typedef int dj_daemonconf_setter(void *ctx, enum dj_daemonconf_key key, const char *value,
                                 dj_error_t *err);

/* Checks and parses TEXT (LEN bytes; its line ends become NULs, so values stay valid as long as
 * TEXT), calling SET for each setting in order. No I/O. */
int dj_daemonconf_parse(char *text, size_t len, dj_daemonconf_setter *set, void *ctx,
                        dj_error_t *err);

/* Reads the whole memfd FD from its start into *TEXT (NUL-terminated, malloc'd). */
int dj_daemonconf_read_fd(int fd, char **text, size_t *len, dj_error_t *err);

#endif

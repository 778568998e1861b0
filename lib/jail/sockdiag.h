/* sockdiag.h: the servers of a network namespace (listening TCP and unconnected bound UDP
 * sockets, IPv4 and IPv6), listed with sock_diag netlink as `ss` does, and the processes that
 * hold each one, found by socket inode in /proc/PID/fd.
 *
 * Why: a process outside a container can create a socket inside the container's namespace and
 * serve it from outside (Docker's embedded DNS on 127.0.0.11 is one). The hook lists them at
 * prestart so that the jail can close them off (docs/DESIGN.md, threat model).
 * Owns: the dump request, the reply parser (kernel input, bounds checked, fuzzed), the /proc
 * scan and the ADDR:PORT syntax of allow-foreign-socket. */
#ifndef DNSJAIL_SOCKDIAG_H
#define DNSJAIL_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* A namespace with more servers than this is refused rather than half listed. */
#define DJ_SOCKDIAG_MAX_SOCKETS 4096

/* "[ffff:...:ffff]:65535/tcp" and a NUL */
#define DJ_SOCKDIAG_ENDPOINT_TEXT 56

struct dj_sockdiag_socket {
    int family;       /* AF_INET or AF_INET6 (an IPv4-mapped IPv6 address counts as AF_INET) */
    uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
    uint8_t addr[16]; /* local address, network order; the first 4 bytes for AF_INET */
    uint16_t port;    /* local port, host order */
    bool v6only;      /* AF_INET6: IPV6_V6ONLY set; without it :: takes IPv4 as well */
    uint64_t inode;   /* 0: a socket of the kernel's, no file */
    /* Filled by dj_sockdiag_find_holders: */
    bool held_inside;  /* some holder is in the namespace, or is one of ours */
    pid_t outside_pid; /* a holder outside the namespace; 0: none found */
    char outside_comm[16];
};

struct dj_sockdiag_list {
    struct dj_sockdiag_socket *v;
    size_t n, cap;
};

void dj_sockdiag_list_free(struct dj_sockdiag_list *list);

/* Lists the servers of the network namespace the calling thread is in. */
int dj_sockdiag_list_servers(struct dj_sockdiag_list *out, dj_error_t *err);

/* Parses one buffer of a sock_diag dump for PROTOCOL whose request had sequence number SEQ,
 * appending the servers to OUT; *done is set at the end of the dump. Kernel input: every
 * length is checked, and a reply that does not fit is an error. Used by the dump and the
 * fuzzer. */
int dj_sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol,
                      struct dj_sockdiag_list *out, bool *done, dj_error_t *err);

/* True when the socket is bound to the wildcard address (every local address). */
bool dj_sockdiag_any_address(const struct dj_sockdiag_socket *s);

/* Fills in who holds each socket of LIST: scans PROC (normally "/proc") for descriptors of
 * the sockets' inodes. A process whose network namespace is (NS_DEV, NS_INO), or whose pid
 * is in OURS, holds it "inside". */
int dj_sockdiag_find_holders(struct dj_sockdiag_list *list, const char *proc, dev_t ns_dev,
                             ino_t ns_ino, const pid_t *ours, size_t n_ours, dj_error_t *err);

/* "127.0.0.11:40000/udp", "[::]:53/tcp" into BUF. */
void dj_sockdiag_format(const struct dj_sockdiag_socket *s, char buf[DJ_SOCKDIAG_ENDPOINT_TEXT]);

/* Reads "ADDR:PORT" or "[V6ADDR]:PORT" (PORT 1..65535); false if TEXT is not one. */
bool dj_sockdiag_parse_endpoint(const char *text, int *family, uint8_t addr[16], uint16_t *port);

/* Whether S is named by an item of LIST (ADDR:PORT items separated by commas or blanks, as
 * allow-foreign-socket holds them); a wildcard socket is named by 0.0.0.0 or [::]. */
bool dj_sockdiag_listed(const char *list, const struct dj_sockdiag_socket *s);

#endif

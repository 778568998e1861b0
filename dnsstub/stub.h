/* stub.h: the DNS stub's event loop.
 *
 * One thread, one epoll set: UDP sockets served in recvmmsg/sendmmsg batches, TCP listeners
 * and their connections (length-prefixed, pipelined, bounded buffers, idle timeout), the
 * control socket (see lib/control.h for the protocol), the watched container pidfds, a
 * signalfd for SIGTERM/SIGINT, and the rate-limited query log.
 * stub_prepare() does everything that needs more than the seccomp allowlist STUB_SYSCALLS
 * (allocation included); stub_run() then only reads, writes, accepts and closes.
 * Owns: the serving state and the syscalls it needs after setup. */
#ifndef DNSJAIL_STUB_H
#define DNSJAIL_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "dnswire.h"
#include "error.h"
#include "virtual.h"

#define STUB_MAX_SOCKETS 16       /* UDP and TCP listeners together */
#define STUB_MAX_WATCHED 1024     /* pidfds watched at once */
#define STUB_MAX_CONTROL_CONNS 64 /* control connections open at once */
#define STUB_MAX_TCP_CONNS 128    /* TCP clients at once; the least recently active goes */
#define STUB_TCP_IDLE_MS 10000    /* a TCP or control connection silent this long is closed */
#define STUB_UDP_BATCH 64         /* datagrams per recvmmsg/sendmmsg */
#define STUB_QUERY_MAX 4096       /* longest query accepted (UDP datagram or TCP message) */

struct stub_config {
    int udp_fds[STUB_MAX_SOCKETS];
    size_t n_udp;
    int tcp_fds[STUB_MAX_SOCKETS]; /* listening */
    size_t n_tcp;
    int watch_fds[STUB_MAX_WATCHED];
    size_t n_watch;
    int control_fd; /* listening AF_UNIX SOCK_SEQPACKET, or -1 */
    int signal_fd;  /* signalfd for SIGTERM and SIGINT */
    int log_fd;     /* -1: no query log */
    unsigned log_rate;
    unsigned log_burst;
    const char *container_id; /* may be NULL */
    struct dj_dns_policy policy;
    struct stub_virtual *virt; /* virtual addresses (dnsstub/virtual.h), or NULL */
};

/* Counters of what the stub answered. */
struct stub_stats {
    uint64_t virtual_answers;  /* queries answered for a name with a virtual address */
    uint64_t virtual_recycled; /* ... that took the slot of another name */
};

struct stub;

/* The syscalls stub_run() makes beyond dj_seccomp_base_syscalls (NULL-terminated). */
extern const char *const stub_syscalls[];

/* Builds the serving state and registers every fd (the stub takes them over, all of them
 * non-blocking already). Allocates everything stub_run() will use. */
struct stub *stub_prepare(const struct stub_config *cfg, dj_error_t *err);

/* Serves until a signal, a control "Q", or the last watched process exits. Returns 0 then;
 * -1 with *err when the loop itself fails. */
int stub_run(struct stub *stub, dj_error_t *err);

#endif

/* The syscall lists behind lib/daemon/seccompprofile.h's profiles. Pure data: the generator
 * (seccompgen.c) and the test (tests/unit/test-seccomp.c) link it beside the daemons. */
#include "config.h"
#include "daemon/seccompprofile.h"

#include <fcntl.h>

#include "daemon/metrics.h"

/* What any of our daemons does after setup: serve, log, keep time, and exit. */
static const char *const syscalls_base[] = {
    "read",
    "write",
    "writev",
    "close",
    "exit",
    "exit_group",
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "rt_sigreturn",
    "rt_sigprocmask",
    "getpid",
    "fstat",
    "newfstatat",
    "lseek",
    "futex",
    "restart_syscall",
    "getrandom",
/* A sanitizer build's runtime calls sigaltstack on its own (the unit tests run code under
 * these filters there); release builds never allow it. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DJ_SECCOMP_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(DJ_SECCOMP_SANITIZER)
    "sigaltstack",
#endif
    NULL,
};

/* dnsjail-dnsstub after stub_prepare() (dnsstub/stub.c), beyond the base list: UDP batches
 * (recvmmsg, sendmmsg), TCP and control replies (send and recv are sendto and recvfrom
 * underneath), control requests with their fds (recvmsg), and new clients (accept4). The
 * forward zones' resolvers add what lib/dns/resolver.c lists: a socket per upstream attempt
 * (socket, connect, getsockopt for a TCP connect's result) and query ids (getrandom); its
 * eventfd and epoll calls are in the base. */
static const char *const syscalls_stub[] = {
    "recvmmsg",  "recvmmsg_time64",   "sendmmsg", "recvfrom", "sendto",
    "recvmsg",   "accept4",           "socket",   "connect",  "getsockopt",
    "getrandom", DJ_METRICS_SYSCALLS, NULL,
};

/* dnsjail-proxy's loop (proxy/loop.c), beyond the base list: accepting (accept4), relaying
 * (recvfrom and sendto under recv/send, splice, pipe2 for new pipes, fcntl to resize them,
 * shutdown), the original destination (getsockopt), connecting upstream (socket, connect,
 * getsockopt for SO_ERROR, setsockopt for TCP_NODELAY), and control requests with their fds
 * (recvmsg). The resolver's queries need nothing more (see lib/dns/resolver.c). */
static const char *const syscalls_proxy[] = {
    "accept4",           "recvfrom", "sendto",  "recvmsg",    "splice",     "pipe2",
    "shutdown",          "socket",   "connect", "getsockopt", "setsockopt", "fcntl",
    DJ_METRICS_SYSCALLS, NULL,
};

/* What a spare does beyond its daemon's serving allowlist: wait (accept, check the peer,
 * exchange datagrams with descriptors, fork each jail's daemon, which the kernel reaps), and what
 * the daemon's own start-up does after the assignment, which runs under this filter until the
 * daemon stacks its serving one (dj_daemon_enter_service; filters stack, the stricter wins).
 * That start-up reads files (/etc/resolv.conf when the proxy is given no resolver,
 * /proc/self/uid_map under rootless podman), hence openat: a spare is still
 * narrower than today's start-up of a spawned daemon, which runs under no filter at all. */
static const char *const syscalls_spare[] = {
    "accept4",
    "recvmsg",
    "sendmsg",
    "sendto",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "renameat",
    "renameat2",
    "clone",
    "clone3",
    "fork",
    "set_robust_list",
    "rseq",
    "gettid",
    "fcntl",
    "pread64",
    "openat",
    "open",
    "readlink",
    "statx",
    "prctl",
    "capget",
    "capset",
    "seccomp",
    "geteuid",
    "getuid",
    "getegid",
    "getgid",
    "rt_sigaction",
    "signalfd4",
    "epoll_create1",
    "timerfd_create",
    "timerfd_settime",
    "eventfd2",
    "socket",
    "bind",
    "connect",
    "listen",
    "mprotect",
    "prlimit64",
    "dup",
    "dup3",
    "pipe2",
    "ioctl",
    "sysinfo",
    "uname",
    "getdents64",
    "sched_getaffinity",
    NULL,
};

_Static_assert((DJ_METRICS_OPEN_FLAGS & O_ACCMODE) == O_WRONLY,
               "the metrics directory's open flags must be write-only (see seccompprofile.h)");
const int dj_seccomp_dir_open_flags = DJ_METRICS_OPEN_FLAGS;

#define DJ_SECCOMP_TABLE_ENTRY(id, name_, dir_, ...) [id] = {name_, dir_, {__VA_ARGS__, NULL}},
const struct dj_seccomp_rules dj_seccomp_profiles[DJ_SECCOMP_PROFILE_COUNT] = {
    DJ_SECCOMP_PROFILES(DJ_SECCOMP_TABLE_ENTRY)};
#undef DJ_SECCOMP_TABLE_ENTRY

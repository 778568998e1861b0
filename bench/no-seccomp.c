/* no-seccomp: an LD_PRELOAD shim, used only by bench/dns-sinkhole.sh to run dnsjail-dnsstub
 * under valgrind, which does not implement the seccomp system call (so loading the filter
 * fails and the stub, failing closed, refuses to serve). The sandbox loads its filter, compiled
 * at build time, through libc's syscall(); this replaces that function with one that makes
 * SYS_seccomp succeed without loading anything and passes every other call on. Callgrind
 * counts user-space instructions only: the filter runs in the kernel and would not be counted
 * anyway. Never use this outside a measurement. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>

long syscall(long number, ...)
{
    static long (*next)(long, ...);
    long a[6];
    va_list ap;

    if (number == SYS_seccomp)
        return 0;
    /* libc's own syscall() reads six argument registers whatever the call: so does this. */
    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (next == NULL)
        next = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return next(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

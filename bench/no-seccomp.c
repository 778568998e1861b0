/* no-seccomp: an LD_PRELOAD shim, used only by bench/dns-sinkhole.sh to run dnsjail-dnsstub
 * under valgrind, which does not implement the seccomp system call (so libseccomp's
 * seccomp_init fails and the stub, failing closed, refuses to serve). It replaces the four
 * libseccomp calls the sandbox makes with ones that succeed and load nothing. Callgrind counts
 * user-space instructions only: the filter runs in the kernel and would not be counted anyway.
 * Never use this outside a measurement. */
#include <seccomp.h>
#include <stddef.h>

static char dummy_filter;

scmp_filter_ctx seccomp_init(uint32_t def_action)
{
    (void)def_action;
    return &dummy_filter;
}

int seccomp_rule_add(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt, ...)
{
    (void)ctx;
    (void)action;
    (void)syscall;
    (void)arg_cnt;
    return 0;
}

int seccomp_load(const scmp_filter_ctx ctx)
{
    (void)ctx;
    return 0;
}

void seccomp_release(scmp_filter_ctx ctx)
{
    (void)ctx;
}

/* hook-virtual.c: the jail's virtual addresses: whether the policy wants them, their pools in
 * the ruleset, and the name map the stub writes and the proxy reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "hook.h"

static bool policy_has_port_rule(const struct dj_policy *policy)
{
    for (size_t i = 0; i < policy->n_rules; i++)
        if (dj_vaddr_rule_wants(&policy->rules[i]))
            return true;
    return false;
}

/* Decides whether the jail hands out virtual addresses, and from which pools. */
int virtual_prepare(struct hook *h, dj_error_t *err)
{
    struct hook_virtual *v = &h->virt;

    v->map_fd = v->map_ro_fd = -1;
    /* Audit mode answers with real addresses: every connection reaches its own destination. */
    v->on = h->policy.mode != DJ_MODE_AUDIT && policy_has_port_rule(&h->policy);
    if (!v->on)
        return 0;
    if (dj_vaddr_pool_init(&v->pool, h->cfg.virtual_ipv4, h->cfg.virtual_ipv6,
                           h->cfg.virtual_max_names, err) < 0)
        return -1;
    v->pools[0].family = AF_INET;
    memcpy(v->pools[0].addr, &v->pool.net4, 4);
    v->pools[0].prefix = v->pool.prefix4;
    v->pools[1].family = AF_INET6;
    memcpy(v->pools[1].addr, &v->pool.net6, 16);
    v->pools[1].prefix = v->pool.prefix6;
    return 0;
}

/* The name map the stub writes and the proxy reads: a memfd whose size is sealed (nobody can
 * shrink it under a mapping, which would kill the other daemon with SIGBUS). The proxy gets a
 * read-only reopen through /proc, a separate open file that cannot be mapped writable. */
int virtual_map_create(struct hook *h, dj_error_t *err)
{
    struct hook_virtual *v = &h->virt;
    size_t size = dj_vaddr_map_size(v->pool.n_slots);
    cleanup_close int fd = -1;
    char path[64];

    fd = memfd_create("dnsjail-vaddr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return dj_error_make(err, errno, "memfd_create for the virtual name map");
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return dj_error_make(err, errno, "sizing the virtual name map");
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    v->map_ro_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->map_ro_fd < 0)
        return dj_error_make(err, errno, "reopening the virtual name map read-only");
    v->map_fd = steal_fd(&fd);
    return 0;
}

void virtual_close(struct hook *h)
{
    if (h->virt.map_fd >= 0)
        close(h->virt.map_fd);
    if (h->virt.map_ro_fd >= 0)
        close(h->virt.map_ro_fd);
    h->virt.map_fd = h->virt.map_ro_fd = -1;
}

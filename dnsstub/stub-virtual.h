/* virtual.h: the stub's side of virtual addresses (lib/jail/vaddr.h): which queries get one, the
 * name table over the map shared with the proxy, and its setup before the sandbox.
 * Owns: the stub's copy of the allow rules and the mapping of the shared name map. */
#ifndef DNSJAIL_STUB_VIRTUAL_H
#define DNSJAIL_STUB_VIRTUAL_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dnswire.h"
#include "base/error.h"
#include "jail/policy.h"
#include "jail/vaddr.h"

struct stub_virtual_options {
    int policy_fd;          /* the allow rules (as the hook writes them), or -1 */
    const char *allow_text; /* or the rules themselves (standalone use), or NULL */
    int map_fd;             /* the shared map, read-write; -1: a private one (standalone) */
    const char *net4;       /* NULL: DJ_VADDR_DEFAULT_IPV4 */
    const char *net6;       /* NULL: DJ_VADDR_DEFAULT_IPV6 */
    unsigned max_names;     /* 0: DJ_VADDR_DEFAULT_MAX_NAMES */
};

struct stub_virtual {
    struct dj_allow_rule *rules;
    size_t n_rules;
    struct dj_vaddr_pool pool;
    struct dj_vaddr_slot *map;
    size_t map_size;
    struct dj_vaddr_table *table;
};

/* What a virtual answer was, for the log and the counters. */
struct stub_virtual_answer {
    bool answered; /* an address went out (A or AAAA); false: an empty answer */
    bool recycled; /* the name took the slot of another one */
    uint32_t slot;
    char name[DJ_VADDR_NAME_SIZE];
};

/* Reads the allow rules from O (--policy-fd or --allow; none: an empty list). Before the
 * sandbox. */
int stub_read_allow_rules(const struct stub_virtual_options *o, struct dj_allow_rule **rules,
                          size_t *n_rules, dj_error_t *err);

/* Reads the rules, maps the shared map and builds the table. Returns 1 when virtual
 * addresses are on (some host rule has a port), 0 when there is nothing to do (*V is empty),
 * -1 with *err. Needs the syscalls of setup (read, mmap, ...): call it before the sandbox. */
int stub_virtual_setup(struct stub_virtual *v, const struct stub_virtual_options *o,
                       dj_error_t *err);

/* For a well-formed query Q: when its name gets a virtual address, fills *POLICY (BASE with
 * the name's addresses instead of the sinkhole) and *ANSWER, and returns true. A and AAAA of
 * class IN take (or refresh) the name's slot; other types get an empty answer and touch no
 * slot. */
bool stub_virtual_lookup(struct stub_virtual *v, const struct dj_dns_query *q,
                         const struct dj_dns_policy *base, struct dj_dns_policy *policy,
                         struct stub_virtual_answer *answer);

#endif

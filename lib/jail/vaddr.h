/* vaddr.h: virtual addresses for allowed names with a port (`db.example.com:5432`).
 *
 * The stub answers A/AAAA for such a name with an address of a virtual pool; the jail's
 * ruleset sends TCP to the pool to the proxy, which maps the address back to the name. Slot i
 * of the pool is the address base + 1 + i in both the IPv4 and the IPv6 pool (the network
 * address itself is never handed out), so one slot holds one name for A and AAAA alike.
 *
 * The name of each slot lives in a shared mapping the hook creates (a sealed-size memfd): the
 * stub maps it read-write and is its only writer, the proxy maps a read-only reopen of it.
 * Each slot is a seqlock: the writer makes the sequence odd, stores the name, makes it even
 * again; a reader retries while the sequence is odd or changed under it. The proxy never
 * trusts a slot beyond that: what it reads is checked as a host name and against the rules.
 *
 * The stub's own index (struct dj_vaddr_table) finds the slot of a name (hash chains) and
 * the least recently answered slot (an LRU list), which a new name takes once every slot is
 * used.
 * Owns: the pool arithmetic, the shared map's layout and seqlock, and the stub's table. */
#ifndef DNSJAIL_VADDR_H
#define DNSJAIL_VADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "jail/policy.h"

#define DJ_VADDR_DEFAULT_IPV4 "198.18.0.0/15"       /* RFC 2544 benchmarking: never a real peer */
#define DJ_VADDR_DEFAULT_IPV6 "fd64:6a69:6c00::/64" /* ULA; "dj", "il" in the global ID */
#define DJ_VADDR_DEFAULT_MAX_NAMES 4096
#define DJ_VADDR_MAX_NAMES 65536
#define DJ_VADDR_NAME_SIZE 256 /* a host name's text (at most 253) and its NUL, rounded */
#define DJ_VADDR_READ_TRIES 64 /* a reader gives up after this many torn reads */

struct dj_vaddr_pool {
    struct in_addr net4; /* host bits zero */
    uint8_t prefix4;
    struct in6_addr net6;
    uint8_t prefix6;
    uint32_t n_slots; /* names at once */
};

/* One slot of the shared map. */
struct dj_vaddr_slot {
    uint32_t seq; /* odd while the writer is in the middle; 0: never used */
    uint32_t len; /* bytes of the name */
    uint64_t words[DJ_VADDR_NAME_SIZE / 8];
};

/* Parses "ADDR/PREFIX" of FAMILY into NET (host bits must be zero) and *PREFIX. The pool
 * must leave room for at least 2 addresses (IPv4 /30 or wider, IPv6 /126 or wider). */
int dj_vaddr_parse_net(const char *text, int family, void *net, uint8_t *prefix, dj_error_t *err);

/* Fills *POOL: MAX_NAMES bounded by the room in each network (its size less the network
 * address and, for IPv4, the broadcast one). */
int dj_vaddr_pool_init(struct dj_vaddr_pool *pool, const char *net4, const char *net6,
                       uint32_t max_names, dj_error_t *err);

/* The addresses of SLOT (< n_slots). */
void dj_vaddr_slot_addr4(const struct dj_vaddr_pool *pool, uint32_t slot, struct in_addr *out);
void dj_vaddr_slot_addr6(const struct dj_vaddr_pool *pool, uint32_t slot, struct in6_addr *out);

/* Is ADDR (FAMILY's bytes, network order; IPv4-mapped IPv6 counts as IPv4) inside one of the
 * pools? When it is a slot's address, *SLOT (may be NULL) is set and true is returned with
 * *is_slot true; an address of the pool that is no slot gives true with *is_slot false. */
bool dj_vaddr_addr_slot(const struct dj_vaddr_pool *pool, int family, const uint8_t *addr,
                        uint32_t *slot, bool *is_slot);

/* Bytes of the shared map for N_SLOTS. */
size_t dj_vaddr_map_size(uint32_t n_slots);

/* Reads slot SLOT of MAP (N_SLOTS long) into OUT (DJ_VADDR_NAME_SIZE bytes, NUL-terminated).
 * Returns 1 with a name, 0 for a free slot or one that is out of range, -1 when every try
 * found the writer in the middle or the slot holds no valid host name. */
int dj_vaddr_map_read(const struct dj_vaddr_slot *map, uint32_t n_slots, uint32_t slot, char *out);

/* Writes NAME (shorter than DJ_VADDR_NAME_SIZE) into slot SLOT. The stub's table does this;
 * exposed for the tests. */
void dj_vaddr_map_write(struct dj_vaddr_slot *map, uint32_t slot, const char *name);

/* Is RULE a host rule (a host, a wildcard, or "*") with a port other than 80 and 443? Those
 * two need no virtual address: the ruleset sends them to the HTTP and TLS listeners whatever
 * the address, and the canonical policy text spells a rule without a port as both. */
bool dj_vaddr_rule_wants(const struct dj_allow_rule *rule);

/* Does such a rule cover HOST? Such names get virtual addresses. HOST as for
 * dj_allow_match_host(). */
bool dj_vaddr_name_wanted(const struct dj_allow_rule *rules, size_t n_rules, const char *host);

struct dj_vaddr_table;

/* The stub's index over MAP (dj_vaddr_map_size(pool->n_slots) bytes, all slots free). */
struct dj_vaddr_table *dj_vaddr_table_new(const struct dj_vaddr_pool *pool,
                                          struct dj_vaddr_slot *map, dj_error_t *err);
void dj_vaddr_table_free(struct dj_vaddr_table *t);

/* The slot of NAME (lower case, no trailing dot, shorter than DJ_VADDR_NAME_SIZE), which
 * becomes the most recently answered one. A new name takes a free slot, or else the least
 * recently answered one: *RECYCLED (may be NULL) says whether another name lost its slot. */
uint32_t dj_vaddr_table_assign(struct dj_vaddr_table *t, const char *name, bool *recycled);

/* Names held now. */
uint32_t dj_vaddr_table_used(const struct dj_vaddr_table *t);

#endif

#include "config.h"

#include "jail/vaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_SLOT UINT32_MAX

/* ---- the pools ------------------------------------------------------------------------- */

int dj_vaddr_parse_net(const char *text, int family, void *net, uint8_t *prefix, dj_error_t *err)
{
    const unsigned max = family == AF_INET ? 32 : 128;
    const size_t len = family == AF_INET ? 4 : 16;
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    uint8_t bytes[16] = {0};
    unsigned long value = 0;
    size_t addr_len;

    if (slash == NULL || slash == text || (addr_len = (size_t)(slash - text)) >= sizeof(addr))
        return dj_error_make(err, 0, "'%s' is not ADDRESS/PREFIX", text);
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (inet_pton(family, addr, bytes) != 1)
        return dj_error_make(err, 0, "'%s' is not an %s address", addr,
                             family == AF_INET ? "IPv4" : "IPv6");
    if (slash[1] == '\0' || strlen(slash + 1) > 3)
        return dj_error_make(err, 0, "'%s' is not a prefix length", slash + 1);
    for (const char *d = slash + 1; *d != '\0'; d++) {
        if (*d < '0' || *d > '9')
            return dj_error_make(err, 0, "'%s' is not a prefix length", slash + 1);
        value = value * 10 + (unsigned long)(*d - '0');
    }
    /* At least two addresses besides the network (and IPv4's broadcast) one. */
    if (value > max - 2)
        return dj_error_make(err, 0, "prefix /%lu leaves no room for names (at most /%u)", value,
                             max - 2);
    for (unsigned bit = (unsigned)value; bit < max; bit++)
        if (bytes[bit / 8] & (0x80 >> (bit % 8)))
            return dj_error_make(err, 0, "'%s' has bits set after the prefix /%lu", addr, value);
    memcpy(net, bytes, len);
    *prefix = (uint8_t)value;
    return 0;
}

int dj_vaddr_pool_init(struct dj_vaddr_pool *pool, const char *net4, const char *net6,
                       uint32_t max_names, dj_error_t *err)
{
    uint64_t room4, room6;

    memset(pool, 0, sizeof(*pool));
    if (dj_vaddr_parse_net(net4, AF_INET, &pool->net4, &pool->prefix4, err) < 0)
        return dj_error_wrap(err, "virtual IPv4 pool");
    if (dj_vaddr_parse_net(net6, AF_INET6, &pool->net6, &pool->prefix6, err) < 0)
        return dj_error_wrap(err, "virtual IPv6 pool");
    if (max_names == 0 || max_names > DJ_VADDR_MAX_NAMES)
        return dj_error_make(err, 0, "virtual names: %u is not in 1..%d", max_names,
                             DJ_VADDR_MAX_NAMES);
    room4 = (1ull << (32 - pool->prefix4)) - 2;
    room6 = 128 - pool->prefix6 >= 32 ? UINT32_MAX : (1ull << (128 - pool->prefix6)) - 1;
    pool->n_slots = max_names;
    if (pool->n_slots > room4)
        pool->n_slots = (uint32_t)room4;
    if (pool->n_slots > room6)
        pool->n_slots = (uint32_t)room6;
    return 0;
}

void dj_vaddr_slot_addr4(const struct dj_vaddr_pool *pool, uint32_t slot, struct in_addr *out)
{
    out->s_addr = htonl(ntohl(pool->net4.s_addr) + 1 + slot);
}

void dj_vaddr_slot_addr6(const struct dj_vaddr_pool *pool, uint32_t slot, struct in6_addr *out)
{
    uint64_t carry = (uint64_t)slot + 1;

    *out = pool->net6;
    for (int i = 15; i >= 0 && carry != 0; i--) {
        carry += out->s6_addr[i];
        out->s6_addr[i] = (uint8_t)carry;
        carry >>= 8;
    }
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool dj_vaddr_addr_slot(const struct dj_vaddr_pool *pool, int family, const uint8_t *addr,
                        uint32_t *slot, bool *is_slot)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint64_t offset = 0;

    *is_slot = false;
    if (family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
        family = AF_INET;
        addr += 12;
    }
    if (family == AF_INET) {
        uint32_t a;

        if (!prefix_equal(addr, (const uint8_t *)&pool->net4, pool->prefix4))
            return false;
        memcpy(&a, addr, 4);
        offset = ntohl(a) - ntohl(pool->net4.s_addr);
    } else if (family == AF_INET6) {
        if (!prefix_equal(addr, pool->net6.s6_addr, pool->prefix6))
            return false;
        /* Slots fit in the low 32 bits; anything above them is no slot. */
        for (int i = 0; i < 16; i++) {
            uint8_t host = addr[i] ^ pool->net6.s6_addr[i];

            if (i < 12 && host != 0)
                return true;
            if (i >= 12)
                offset = (offset << 8) | host;
        }
    } else {
        return false;
    }
    if (offset >= 1 && offset - 1 < pool->n_slots) {
        if (slot != NULL)
            *slot = (uint32_t)(offset - 1);
        *is_slot = true;
    }
    return true;
}

/* ---- the shared map -------------------------------------------------------------------- */

size_t dj_vaddr_map_size(uint32_t n_slots)
{
    return (size_t)n_slots * sizeof(struct dj_vaddr_slot);
}

void dj_vaddr_map_write(struct dj_vaddr_slot *map, uint32_t slot, const char *name)
{
    struct dj_vaddr_slot *s = &map[slot];
    uint64_t words[DJ_VADDR_NAME_SIZE / 8] = {0};
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    size_t len = strlen(name);

    if (len >= DJ_VADDR_NAME_SIZE)
        len = DJ_VADDR_NAME_SIZE - 1;
    memcpy(words, name, len);
    /* Odd: readers keep away. The fence orders it before the stores of the name. */
    __atomic_store_n(&s->seq, seq | 1u, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&s->len, (uint32_t)len, __ATOMIC_RELAXED);
    for (size_t i = 0; i < DJ_VADDR_NAME_SIZE / 8; i++)
        __atomic_store_n(&s->words[i], words[i], __ATOMIC_RELAXED);
    /* Even again, and newer than any sequence a reader may have seen before. */
    __atomic_store_n(&s->seq, (seq | 1u) + 1, __ATOMIC_RELEASE);
}

static bool name_chars_ok(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.'))
            return false;
    }
    return true;
}

int dj_vaddr_map_read(const struct dj_vaddr_slot *map, uint32_t n_slots, uint32_t slot, char *out)
{
    const struct dj_vaddr_slot *s;

    out[0] = '\0';
    if (slot >= n_slots)
        return 0;
    s = &map[slot];
    for (int tries = 0; tries < DJ_VADDR_READ_TRIES; tries++) {
        uint64_t words[DJ_VADDR_NAME_SIZE / 8];
        uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        uint32_t len;

        if (before & 1u)
            continue;
        len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
        for (size_t i = 0; i < DJ_VADDR_NAME_SIZE / 8; i++)
            words[i] = __atomic_load_n(&s->words[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != before)
            continue;
        if (before == 0)
            return 0;
        /* The writer is the stub, which the container talks to: check what it left. */
        if (len >= DJ_VADDR_NAME_SIZE || !name_chars_ok((const char *)words, len))
            return -1;
        memcpy(out, words, len);
        out[len] = '\0';
        return 1;
    }
    return -1;
}

/* ---- which names ----------------------------------------------------------------------- */

bool dj_vaddr_rule_wants(const struct dj_allow_rule *rule)
{
    return rule->kind != DJ_RULE_CIDR && rule->port != 0 && rule->port != 80 && rule->port != 443;
}

bool dj_vaddr_name_wanted(const struct dj_allow_rule *rules, size_t n_rules, const char *host)
{
    for (size_t i = 0; i < n_rules; i++) {
        const struct dj_allow_rule *r = &rules[i];

        if (!dj_vaddr_rule_wants(r))
            continue;
        if (dj_allow_match_host(r, 1, host, r->port))
            return true;
    }
    return false;
}

/* ---- the stub's table ------------------------------------------------------------------ */

struct dj_vaddr_table {
    struct dj_vaddr_slot *map;
    uint32_t n_slots;
    uint32_t n_used;         /* slots 0 .. n_used-1 have held a name; the rest were never used */
    uint32_t n_buckets;      /* a power of two */
    uint32_t *buckets;       /* first slot of each hash chain, NO_SLOT: empty */
    uint32_t *chain;         /* next slot in the same chain */
    uint32_t *hash;          /* each used slot's name hash */
    uint32_t *newer, *older; /* the LRU list, most recent at head */
    uint32_t head, tail;
    char (*names)[DJ_VADDR_NAME_SIZE]; /* our own copy: lookups never read the shared map */
};

/* FNV-1a: the names come from the container, but a chain only costs time within the bound. */
static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

struct dj_vaddr_table *dj_vaddr_table_new(const struct dj_vaddr_pool *pool,
                                          struct dj_vaddr_slot *map, dj_error_t *err)
{
    struct dj_vaddr_table *t = calloc(1, sizeof(*t));
    uint32_t n = pool->n_slots;

    if (t == NULL) {
        dj_error_make(err, ENOMEM, "virtual address table");
        return NULL;
    }
    t->map = map;
    t->n_slots = n;
    t->n_buckets = 16;
    while (t->n_buckets < 2 * n)
        t->n_buckets *= 2;
    t->buckets = malloc(t->n_buckets * sizeof(*t->buckets));
    t->chain = calloc(n, sizeof(*t->chain));
    t->hash = calloc(n, sizeof(*t->hash));
    t->newer = calloc(n, sizeof(*t->newer));
    t->older = calloc(n, sizeof(*t->older));
    t->names = calloc(n, sizeof(*t->names));
    if (t->buckets == NULL || t->chain == NULL || t->hash == NULL || t->newer == NULL ||
        t->older == NULL || t->names == NULL) {
        dj_vaddr_table_free(t);
        dj_error_make(err, ENOMEM, "virtual address table");
        return NULL;
    }
    for (uint32_t i = 0; i < t->n_buckets; i++)
        t->buckets[i] = NO_SLOT;
    t->head = t->tail = NO_SLOT;
    return t;
}

void dj_vaddr_table_free(struct dj_vaddr_table *t)
{
    if (t == NULL)
        return;
    free(t->buckets);
    free(t->chain);
    free(t->hash);
    free(t->newer);
    free(t->older);
    free(t->names);
    free(t);
}

uint32_t dj_vaddr_table_used(const struct dj_vaddr_table *t)
{
    return t->n_used;
}

static void lru_unlink(struct dj_vaddr_table *t, uint32_t slot)
{
    if (t->newer[slot] != NO_SLOT)
        t->older[t->newer[slot]] = t->older[slot];
    else
        t->head = t->older[slot];
    if (t->older[slot] != NO_SLOT)
        t->newer[t->older[slot]] = t->newer[slot];
    else
        t->tail = t->newer[slot];
}

static void lru_push_head(struct dj_vaddr_table *t, uint32_t slot)
{
    t->newer[slot] = NO_SLOT;
    t->older[slot] = t->head;
    if (t->head != NO_SLOT)
        t->newer[t->head] = slot;
    t->head = slot;
    if (t->tail == NO_SLOT)
        t->tail = slot;
}

static void chain_remove(struct dj_vaddr_table *t, uint32_t slot)
{
    uint32_t *link = &t->buckets[t->hash[slot] & (t->n_buckets - 1)];

    while (*link != NO_SLOT && *link != slot)
        link = &t->chain[*link];
    if (*link == slot)
        *link = t->chain[slot];
}

uint32_t dj_vaddr_table_assign(struct dj_vaddr_table *t, const char *name, bool *recycled)
{
    uint32_t h = name_hash(name);
    uint32_t *bucket = &t->buckets[h & (t->n_buckets - 1)];
    uint32_t slot;

    if (recycled != NULL)
        *recycled = false;
    for (slot = *bucket; slot != NO_SLOT; slot = t->chain[slot]) {
        if (t->hash[slot] == h && strcmp(t->names[slot], name) == 0) {
            lru_unlink(t, slot);
            lru_push_head(t, slot);
            return slot;
        }
    }
    if (t->n_used < t->n_slots) {
        slot = t->n_used++;
    } else {
        slot = t->tail;
        lru_unlink(t, slot);
        chain_remove(t, slot);
        if (recycled != NULL)
            *recycled = true;
    }
    snprintf(t->names[slot], sizeof(t->names[slot]), "%s", name);
    t->hash[slot] = h;
    t->chain[slot] = *bucket;
    *bucket = slot;
    lru_push_head(t, slot);
    dj_vaddr_map_write(t->map, slot, t->names[slot]);
    return slot;
}

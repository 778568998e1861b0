/* fwdcache.c: the stub's cache of forwarded answers (see fwdcache.h).
 *
 * A power-of-two array of buckets with chained entries and one doubly linked list in use
 * order. The table has as many buckets as the cache may hold entries (rounded up), so chains
 * stay short; the keyed hash keeps a container from lining its names up in one chain. */
#include "config.h"

#include "dns/fwdcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnswire.h"

#define NS_PER_S 1000000000ull
#define KEY_MAX (4 + DJ_DNS_MAX_NAME)

struct entry {
    struct entry *chain;         /* next in the bucket */
    struct entry *newer, *older; /* use order */
    uint64_t hash;
    uint8_t key[KEY_MAX]; /* type, class, lower-cased name */
    size_t key_len;
    uint64_t stored_ns;
    uint64_t expires_ns;
    uint8_t *msg;
    size_t len;
};

struct dj_fwdcache {
    struct dj_fwdcache_limits limits;
    uint8_t hash_key[DJ_SIPHASH_KEY_SIZE];
    struct entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t size;
    struct entry *newest, *oldest;
};

static size_t make_key(uint8_t *key, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                       uint16_t qclass)
{
    key[0] = (uint8_t)(qtype >> 8);
    key[1] = (uint8_t)qtype;
    key[2] = (uint8_t)(qclass >> 8);
    key[3] = (uint8_t)qclass;
    for (size_t i = 0; i < qname_len; i++) {
        uint8_t c = qname[i];

        /* Length bytes are below 'A', so they pass unchanged. */
        key[4 + i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
    return 4 + qname_len;
}

struct dj_fwdcache *dj_fwdcache_new(const struct dj_fwdcache_limits *limits,
                                    const uint8_t key[DJ_SIPHASH_KEY_SIZE], dj_error_t *err)
{
    struct dj_fwdcache *c = calloc(1, sizeof(*c));
    size_t n = 16;

    if (c == NULL) {
        dj_error_make(err, ENOMEM, "forward cache");
        return NULL;
    }
    c->limits = *limits;
    if (c->limits.ttl_ceiling < c->limits.ttl_floor)
        c->limits.ttl_ceiling = c->limits.ttl_floor;
    memcpy(c->hash_key, key, DJ_SIPHASH_KEY_SIZE);
    while (n < limits->max_entries && n < ((size_t)1 << 30))
        n *= 2;
    c->n_buckets = n;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        dj_error_make(err, ENOMEM, "forward cache buckets");
        return NULL;
    }
    return c;
}

void dj_fwdcache_free(struct dj_fwdcache *c)
{
    if (c == NULL)
        return;
    for (struct entry *e = c->newest, *next; e != NULL; e = next) {
        next = e->older;
        free(e->msg);
        free(e);
    }
    free(c->buckets);
    free(c);
}

uint32_t dj_fwdcache_clamp(const struct dj_fwdcache *c, uint32_t lifetime)
{
    if (lifetime < c->limits.ttl_floor)
        return c->limits.ttl_floor;
    if (lifetime > c->limits.ttl_ceiling)
        return c->limits.ttl_ceiling;
    return lifetime;
}

size_t dj_fwdcache_size(const struct dj_fwdcache *c)
{
    return c->size;
}

static void order_unlink(struct dj_fwdcache *c, struct entry *e)
{
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void order_push_newest(struct dj_fwdcache *c, struct entry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest != NULL)
        c->newest->newer = e;
    c->newest = e;
    if (c->oldest == NULL)
        c->oldest = e;
}

static struct entry **find_slot(struct dj_fwdcache *c, uint64_t hash, const uint8_t *key,
                                size_t key_len)
{
    struct entry **slot = &c->buckets[hash & (c->n_buckets - 1)];

    for (; *slot != NULL; slot = &(*slot)->chain)
        if ((*slot)->hash == hash && (*slot)->key_len == key_len &&
            memcmp((*slot)->key, key, key_len) == 0)
            return slot;
    return slot;
}

static void remove_entry(struct dj_fwdcache *c, struct entry *e)
{
    struct entry **slot = find_slot(c, e->hash, e->key, e->key_len);

    if (*slot == e)
        *slot = e->chain;
    order_unlink(c, e);
    free(e->msg);
    free(e);
    c->size--;
}

int dj_fwdcache_put(struct dj_fwdcache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                    uint16_t qclass, const uint8_t *msg, size_t len, uint32_t lifetime,
                    uint64_t now_ns, dj_error_t *err)
{
    uint8_t key[KEY_MAX];
    size_t key_len;
    struct entry **slot;
    struct entry *e;
    uint8_t *copy;
    uint64_t hash;

    if (c->limits.max_entries == 0)
        return 0;
    if (qname_len > DJ_DNS_MAX_NAME)
        return dj_error_make(err, 0, "forward cache: name longer than %d bytes", DJ_DNS_MAX_NAME);
    key_len = make_key(key, qname, qname_len, qtype, qclass);
    hash = dj_siphash24(c->hash_key, key, key_len);
    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "forward cache entry");
    memcpy(copy, msg, len);

    slot = find_slot(c, hash, key, key_len);
    e = *slot;
    if (e != NULL) {
        free(e->msg);
        order_unlink(c, e);
    } else {
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            free(copy);
            return dj_error_make(err, ENOMEM, "forward cache entry");
        }
        if (c->size == c->limits.max_entries) {
            remove_entry(c, c->oldest);
            slot = find_slot(c, hash, key, key_len); /* the chain may have changed */
        }
        e->hash = hash;
        memcpy(e->key, key, key_len);
        e->key_len = key_len;
        *slot = e;
        c->size++;
    }
    e->msg = copy;
    e->len = len;
    e->stored_ns = now_ns;
    e->expires_ns = now_ns + (uint64_t)dj_fwdcache_clamp(c, lifetime) * NS_PER_S;
    order_push_newest(c, e);
    return 0;
}

bool dj_fwdcache_get(struct dj_fwdcache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                     uint16_t qclass, uint64_t now_ns, struct dj_fwdcache_hit *hit)
{
    uint8_t key[KEY_MAX];
    size_t key_len;
    struct entry *e;
    uint64_t hash;

    if (c->size == 0 || qname_len > DJ_DNS_MAX_NAME)
        return false;
    key_len = make_key(key, qname, qname_len, qtype, qclass);
    hash = dj_siphash24(c->hash_key, key, key_len);
    e = *find_slot(c, hash, key, key_len);
    if (e == NULL)
        return false;
    if (now_ns >= e->expires_ns) {
        remove_entry(c, e);
        return false;
    }
    order_unlink(c, e);
    order_push_newest(c, e);
    hit->msg = e->msg;
    hit->len = e->len;
    hit->elapsed = now_ns > e->stored_ns ? (uint32_t)((now_ns - e->stored_ns) / NS_PER_S) : 0;
    /* Rounded up: an entry with half a second left is served with a TTL of 1, not 0. */
    hit->remaining = (uint32_t)((e->expires_ns - now_ns + NS_PER_S - 1) / NS_PER_S);
    return true;
}

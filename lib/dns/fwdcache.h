/* fwdcache.h: the stub's cache of forwarded answers.
 *
 * Keyed by (name without regard to ASCII case, type, class); the value is the upstream's
 * whole response as received, with the time it was stored and how long it may be served
 * (its lifetime from lib/dns/fwdmsg, clamped to the configured floor and ceiling). Expired
 * entries are dropped when looked up; the least recently used entry makes room for a new
 * one when the cache is full. The hash table is keyed with SipHash and a caller-supplied
 * random key, since the names come from containers.
 * No I/O and no clock of its own (the caller passes monotonic nanoseconds), so the unit
 * tests drive it exactly. Owns: the entries and their memory. */
#ifndef DNSJAIL_FWDCACHE_H
#define DNSJAIL_FWDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/siphash.h"

struct dj_fwdcache;

struct dj_fwdcache_limits {
    size_t max_entries;   /* 0: nothing is cached */
    uint32_t ttl_floor;   /* seconds: shorter lifetimes are raised to this */
    uint32_t ttl_ceiling; /* seconds: longer lifetimes are cut to this */
};

struct dj_fwdcache_hit {
    const uint8_t *msg; /* the stored response; valid until the next call that changes the cache */
    size_t len;
    uint32_t elapsed;   /* whole seconds since it was stored */
    uint32_t remaining; /* whole seconds it may still be served (at least 1) */
};

struct dj_fwdcache *dj_fwdcache_new(const struct dj_fwdcache_limits *limits,
                                    const uint8_t key[DJ_SIPHASH_KEY_SIZE], dj_error_t *err);
void dj_fwdcache_free(struct dj_fwdcache *cache);

/* Stores a copy of MSG (LEN bytes) for QNAME/QTYPE/QCLASS, to be served for LIFETIME seconds
 * (before floor and ceiling) from NOW_NS on, replacing an older entry for the same key.
 * Returns 0, or -1 with *err on out-of-memory (the cache is unchanged then). With
 * max_entries 0 it stores nothing and returns 0. */
int dj_fwdcache_put(struct dj_fwdcache *cache, const uint8_t *qname, size_t qname_len,
                    uint16_t qtype, uint16_t qclass, const uint8_t *msg, size_t len,
                    uint32_t lifetime, uint64_t now_ns, dj_error_t *err);

/* Looks QNAME/QTYPE/QCLASS up at NOW_NS. True with *HIT filled when a live entry exists (it
 * becomes the most recently used); an expired one is removed and false returned. */
bool dj_fwdcache_get(struct dj_fwdcache *cache, const uint8_t *qname, size_t qname_len,
                     uint16_t qtype, uint16_t qclass, uint64_t now_ns, struct dj_fwdcache_hit *hit);

/* Lifetime in seconds that dj_fwdcache_put would give an answer of LIFETIME seconds. */
uint32_t dj_fwdcache_clamp(const struct dj_fwdcache *cache, uint32_t lifetime);

size_t dj_fwdcache_size(const struct dj_fwdcache *cache);

#endif

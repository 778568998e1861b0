/* siphash.h: SipHash-2-4 (Aumasson, Bernstein 2012), a keyed hash for tables whose keys come
 * from untrusted peers: without the random key nobody can choose keys that collide.
 * Owns: nothing but the function (used by lib/dns/resolver's and lib/dns/fwdcache's tables). */
#ifndef DNSJAIL_SIPHASH_H
#define DNSJAIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define DJ_SIPHASH_KEY_SIZE 16

uint64_t dj_siphash24(const uint8_t key[DJ_SIPHASH_KEY_SIZE], const uint8_t *data, size_t len);

#endif

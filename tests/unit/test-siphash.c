/* test-siphash: lib/base/siphash against the published SipHash-2-4 vectors and against a second,
 * deliberately different implementation written here from the paper's description (pad the
 * whole message first, then compress block by block), so that a shared misreading of the
 * specification would have to be made twice, differently, to go unnoticed. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/siphash.h"

#define MAX_MESSAGE 256

/* The paper's SipRound on four named words. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static void ref_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v2 += s->v3;
    s->v1 = ROTL(s->v1, 13);
    s->v3 = ROTL(s->v3, 16);
    s->v1 ^= s->v0;
    s->v3 ^= s->v2;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v1;
    s->v0 += s->v3;
    s->v1 = ROTL(s->v1, 17);
    s->v3 = ROTL(s->v3, 21);
    s->v1 ^= s->v2;
    s->v3 ^= s->v0;
    s->v2 = ROTL(s->v2, 32);
}

/* Paper, section 2: the message is padded with zero bytes to a length of 7 mod 8 and the
 * final byte is the length mod 256; every 8-byte word is then read little-endian. */
static uint64_t ref_siphash24(const uint8_t key[16], const uint8_t *m, size_t len)
{
    uint8_t padded[MAX_MESSAGE + 8];
    size_t total = (len / 8 + 1) * 8;
    uint64_t k[2] = {0, 0};
    struct sip_state s;

    assert_true(len <= MAX_MESSAGE);
    memset(padded, 0, sizeof(padded));
    if (len > 0)
        memcpy(padded, m, len);
    padded[total - 1] = (uint8_t)len;
    for (int half = 0; half < 2; half++)
        for (int byte = 7; byte >= 0; byte--)
            k[half] = (k[half] << 8) | key[half * 8 + byte];
    s.v0 = k[0] ^ UINT64_C(0x736f6d6570736575); /* "somepseu" */
    s.v1 = k[1] ^ UINT64_C(0x646f72616e646f6d); /* "dorandom" */
    s.v2 = k[0] ^ UINT64_C(0x6c7967656e657261); /* "lygenera" */
    s.v3 = k[1] ^ UINT64_C(0x7465646279746573); /* "tedbytes" */
    for (size_t off = 0; off < total; off += 8) {
        uint64_t word = 0;

        for (int byte = 7; byte >= 0; byte--)
            word = (word << 8) | padded[off + (size_t)byte];
        s.v3 ^= word;
        ref_round(&s);
        ref_round(&s);
        s.v0 ^= word;
    }
    s.v2 ^= 0xff;
    for (int r = 0; r < 4; r++)
        ref_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static void fill_key(uint8_t key[16])
{
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
}

static void fill_message(uint8_t *m, size_t len)
{
    for (size_t i = 0; i < len; i++)
        m[i] = (uint8_t)i;
}

/* Values published with the reference implementation (vectors.h, key 00..0f, message
 * 00 01 .. len-1), as 64-bit little-endian numbers; 15 is the paper's worked example. */
static const struct {
    size_t len;
    uint64_t hash;
} published[] = {
    {0, UINT64_C(0x726fdb47dd0e0e31)},  {1, UINT64_C(0x74f839c593dc67fd)},
    {2, UINT64_C(0x0d6c8009d9a94f5a)},  {3, UINT64_C(0x85676696d7fb7e2d)},
    {15, UINT64_C(0xa129ca6149be45e5)}, {63, UINT64_C(0x958a324ceb064572)},
};

static void test_published_vectors(void **state)
{
    uint8_t key[16], m[64];

    (void)state;
    fill_key(key);
    fill_message(m, sizeof(m));
    for (size_t i = 0; i < sizeof(published) / sizeof(published[0]); i++) {
        assert_int_equal(dj_siphash24(key, m, published[i].len), published[i].hash);
        assert_int_equal(ref_siphash24(key, m, published[i].len), published[i].hash);
    }
}

/* All 64 reference vectors, plus length 64 (a whole extra block of nothing but the length). */
static void test_every_length_0_to_64(void **state)
{
    uint8_t key[16], m[65];
    uint64_t seen[65];

    (void)state;
    fill_key(key);
    fill_message(m, sizeof(m));
    for (size_t len = 0; len <= 64; len++) {
        seen[len] = dj_siphash24(key, m, len);
        assert_int_equal(seen[len], ref_siphash24(key, m, len));
        /* A reference that collapsed lengths together would agree with a broken library. */
        for (size_t earlier = 0; earlier < len; earlier++)
            assert_int_not_equal(seen[len], seen[earlier]);
    }
}

/* The library reads bytes, not words: any alignment of the input gives the same hash. */
static void test_unaligned_input(void **state)
{
    uint8_t key[16];
    uint64_t aligned_m[(MAX_MESSAGE + 16) / 8];
    uint8_t *base = (uint8_t *)aligned_m;

    (void)state;
    fill_key(key);
    for (size_t len = 0; len <= 64; len++) {
        uint64_t expected;

        fill_message(base, len);
        expected = dj_siphash24(key, base, len);
        for (size_t shift = 1; shift < 8; shift++) {
            memset(base, 0xa5, sizeof(aligned_m));
            fill_message(base + shift, len);
            assert_int_equal(dj_siphash24(key, base + shift, len), expected);
        }
    }
}

/* Random keys and messages, longer than the vectors, against the reference. */
static void test_random_keys_and_messages(void **state)
{
    uint8_t key[16], m[MAX_MESSAGE];
    uint32_t x = 0x9e3779b9u; /* xorshift: reproducible without a seed from the clock */

    (void)state;
    for (int round = 0; round < 200; round++) {
        size_t len;

        for (size_t i = 0; i < sizeof(key); i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            key[i] = (uint8_t)x;
        }
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        len = x % (MAX_MESSAGE + 1);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            m[i] = (uint8_t)(x >> 7);
        }
        assert_int_equal(dj_siphash24(key, m, len), ref_siphash24(key, m, len));
    }
}

/* The key is what keeps peers from choosing collisions: every key bit must change the hash,
 * and the hash must not depend on bytes beyond LEN. */
static void test_key_and_length_matter(void **state)
{
    uint8_t key[16], m[32];
    uint64_t base;

    (void)state;
    fill_key(key);
    fill_message(m, sizeof(m));
    base = dj_siphash24(key, m, 20);
    for (int bit = 0; bit < 128; bit++) {
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(dj_siphash24(key, m, 20), base);
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    m[20] ^= 0xff;
    assert_int_equal(dj_siphash24(key, m, 20), base);
    m[19] ^= 0xff;
    assert_int_not_equal(dj_siphash24(key, m, 20), base);
    /* The empty message needs no data pointer. */
    assert_int_equal(dj_siphash24(key, NULL, 0), UINT64_C(0x726fdb47dd0e0e31));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_every_length_0_to_64),
        cmocka_unit_test(test_unaligned_input),
        cmocka_unit_test(test_random_keys_and_messages),
        cmocka_unit_test(test_key_and_length_matter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

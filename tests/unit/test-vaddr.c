/* test-vaddr.c: virtual address pools, the shared name map (seqlock) and the stub's table
 * (allocation, stability, LRU recycling, the bound). */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "jail/policy.h"
#include "jail/vaddr.h"

static struct dj_vaddr_pool pool_of(const char *net4, const char *net6, uint32_t max)
{
    struct dj_vaddr_pool pool;
    dj_error_t err = NULL;

    if (dj_vaddr_pool_init(&pool, net4, net6, max, &err) < 0) {
        print_error("%s\n", dj_error_msg(&err));
        fail();
    }
    return pool;
}

static void test_pool_addresses(void **unused)
{
    struct dj_vaddr_pool pool = pool_of("198.18.0.0/15", "fd64:6a69:6c00::/64", 4096);
    char text[INET6_ADDRSTRLEN];
    struct in_addr a4;
    struct in6_addr a6;
    uint32_t slot = 99;
    bool is_slot;

    (void)unused;
    assert_int_equal(pool.n_slots, 4096);
    dj_vaddr_slot_addr4(&pool, 0, &a4);
    assert_string_equal(inet_ntop(AF_INET, &a4, text, sizeof(text)), "198.18.0.1");
    dj_vaddr_slot_addr4(&pool, 4095, &a4);
    assert_string_equal(inet_ntop(AF_INET, &a4, text, sizeof(text)), "198.18.16.0");
    dj_vaddr_slot_addr6(&pool, 0, &a6);
    assert_string_equal(inet_ntop(AF_INET6, &a6, text, sizeof(text)), "fd64:6a69:6c00::1");
    dj_vaddr_slot_addr6(&pool, 4095, &a6);
    assert_string_equal(inet_ntop(AF_INET6, &a6, text, sizeof(text)), "fd64:6a69:6c00::1000");

    /* And back. */
    inet_pton(AF_INET, "198.18.16.0", &a4);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET, (uint8_t *)&a4, &slot, &is_slot));
    assert_true(is_slot);
    assert_int_equal(slot, 4095);
    inet_pton(AF_INET6, "fd64:6a69:6c00::2a", &a6);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET6, a6.s6_addr, &slot, &is_slot));
    assert_true(is_slot);
    assert_int_equal(slot, 0x29);
    inet_pton(AF_INET6, "::ffff:198.18.0.3", &a6);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET6, a6.s6_addr, &slot, &is_slot));
    assert_true(is_slot);
    assert_int_equal(slot, 2);
    /* In a pool but no slot: the network address, past the bound, high IPv6 bits. */
    inet_pton(AF_INET, "198.18.0.0", &a4);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET, (uint8_t *)&a4, &slot, &is_slot));
    assert_false(is_slot);
    inet_pton(AF_INET, "198.19.255.255", &a4);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET, (uint8_t *)&a4, &slot, &is_slot));
    assert_false(is_slot);
    inet_pton(AF_INET6, "fd64:6a69:6c00::1:0:1", &a6);
    assert_true(dj_vaddr_addr_slot(&pool, AF_INET6, a6.s6_addr, &slot, &is_slot));
    assert_false(is_slot);
    /* Outside. */
    inet_pton(AF_INET, "198.20.0.1", &a4);
    assert_false(dj_vaddr_addr_slot(&pool, AF_INET, (uint8_t *)&a4, &slot, &is_slot));
    inet_pton(AF_INET6, "fd64:6a69:6c01::1", &a6);
    assert_false(dj_vaddr_addr_slot(&pool, AF_INET6, a6.s6_addr, &slot, &is_slot));
}

static void test_pool_bound(void **unused)
{
    struct dj_vaddr_pool pool;
    dj_error_t err = NULL;

    (void)unused;
    /* A /30 has two usable addresses; a /126 three. The smaller room wins. */
    pool = pool_of("192.0.2.0/30", "fd00::/64", 4096);
    assert_int_equal(pool.n_slots, 2);
    pool = pool_of("198.18.0.0/15", "fd00::/126", 4096);
    assert_int_equal(pool.n_slots, 3);
    pool = pool_of("198.18.0.0/15", "fd00::/64", 65536);
    assert_int_equal(pool.n_slots, 65536);
    assert_int_equal(dj_vaddr_pool_init(&pool, "198.18.0.0/15", "fd00::/64", 0, &err), -1);
    dj_error_release(&err);
    assert_int_equal(dj_vaddr_pool_init(&pool, "198.18.0.0/15", "fd00::/64", 65537, &err), -1);
    dj_error_release(&err);
    assert_int_equal(dj_vaddr_pool_init(&pool, "198.18.0.0/15", "fd00::/127", 4, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "virtual IPv6 pool"));
    dj_error_release(&err);
}

struct table_fixture {
    struct dj_vaddr_pool pool;
    struct dj_vaddr_slot *map;
    struct dj_vaddr_table *table;
};

static struct table_fixture table_of(uint32_t max)
{
    struct table_fixture f;
    dj_error_t err = NULL;

    f.pool = pool_of("198.18.0.0/15", "fd64:6a69:6c00::/64", max);
    f.map = calloc(1, dj_vaddr_map_size(f.pool.n_slots));
    assert_non_null(f.map);
    f.table = dj_vaddr_table_new(&f.pool, f.map, &err);
    assert_non_null(f.table);
    return f;
}

static void table_done(struct table_fixture *f)
{
    dj_vaddr_table_free(f->table);
    free(f->map);
}

static void assert_slot_name(const struct table_fixture *f, uint32_t slot, const char *want)
{
    char name[DJ_VADDR_NAME_SIZE];

    assert_int_equal(dj_vaddr_map_read(f->map, f->pool.n_slots, slot, name), 1);
    assert_string_equal(name, want);
}

static void test_table_stable(void **unused)
{
    struct table_fixture f = table_of(16);
    char name[DJ_VADDR_NAME_SIZE];
    bool recycled = true;
    uint32_t a, b;

    (void)unused;
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 0, name), 0); /* free */
    a = dj_vaddr_table_assign(f.table, "db.example.test", &recycled);
    assert_false(recycled);
    b = dj_vaddr_table_assign(f.table, "git.example.test", &recycled);
    assert_false(recycled);
    assert_int_not_equal(a, b);
    /* The same name keeps its slot, however often it is asked for. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(dj_vaddr_table_assign(f.table, "db.example.test", NULL), a);
        assert_int_equal(dj_vaddr_table_assign(f.table, "git.example.test", NULL), b);
    }
    assert_int_equal(dj_vaddr_table_used(f.table), 2);
    assert_slot_name(&f, a, "db.example.test");
    assert_slot_name(&f, b, "git.example.test");
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 2, name), 0);
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 16, name), 0); /* out of range */
    table_done(&f);
}

static void test_table_lru(void **unused)
{
    struct table_fixture f = table_of(4);
    uint32_t slots[4];
    bool recycled;
    char name[32];

    (void)unused;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "n%d.example.test", i);
        slots[i] = dj_vaddr_table_assign(f.table, name, &recycled);
        assert_false(recycled);
    }
    /* n0 answered again: n1 is now the least recently answered. */
    assert_int_equal(dj_vaddr_table_assign(f.table, "n0.example.test", &recycled), slots[0]);
    assert_false(recycled);
    assert_int_equal(dj_vaddr_table_assign(f.table, "n4.example.test", &recycled), slots[1]);
    assert_true(recycled);
    assert_slot_name(&f, slots[1], "n4.example.test");
    /* n1 lost its slot: asked again, it takes the next least recent (n2's). */
    assert_int_equal(dj_vaddr_table_assign(f.table, "n1.example.test", &recycled), slots[2]);
    assert_true(recycled);
    assert_int_equal(dj_vaddr_table_assign(f.table, "n3.example.test", &recycled), slots[3]);
    assert_false(recycled);
    assert_int_equal(dj_vaddr_table_assign(f.table, "n4.example.test", &recycled), slots[1]);
    assert_false(recycled);
    /* Bounded: never more than the pool's slots in use. */
    for (int i = 0; i < 1000; i++) {
        uint32_t s;

        snprintf(name, sizeof(name), "x%d.example.test", i);
        s = dj_vaddr_table_assign(f.table, name, NULL);
        assert_true(s < 4);
        assert_slot_name(&f, s, name);
    }
    assert_int_equal(dj_vaddr_table_used(f.table), 4);
    table_done(&f);
}

static void test_name_wanted(void **unused)
{
    struct dj_allow_rule *rules = NULL;
    size_t n_rules = 0;
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_allow_parse("db.example.test:5432 *.git.example.test:22 web.example.test "
                                    "tls.example.test:443 plain.example.test:80 "
                                    "203.0.113.0/24:5432",
                                    false, &rules, &n_rules, &err),
                     0);
    assert_true(dj_vaddr_name_wanted(rules, n_rules, "db.example.test"));
    assert_true(dj_vaddr_name_wanted(rules, n_rules, "DB.Example.Test."));
    assert_true(dj_vaddr_name_wanted(rules, n_rules, "a.b.git.example.test"));
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "git.example.test"));
    /* Allowed, but only on the default ports: HTTP and TLS need no virtual address. */
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "web.example.test"));
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "tls.example.test"));
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "plain.example.test"));
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "secret.attacker.test"));
    assert_false(dj_vaddr_name_wanted(rules, n_rules, "203.0.113.7"));
    dj_allow_free(rules, n_rules);
}

static void test_map_rejects_garbage(void **unused)
{
    struct table_fixture f = table_of(4);
    char name[DJ_VADDR_NAME_SIZE];

    (void)unused;
    /* What a misbehaving writer could leave: never handed out as a name. */
    f.map[0].seq = 2;
    f.map[0].len = 300;
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 0, name), -1);
    f.map[0].len = 3;
    memcpy(f.map[0].words, "a/b", 3);
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 0, name), -1);
    f.map[0].len = 0;
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 0, name), -1);
    /* Forever in the middle of a write: the reader gives up. */
    f.map[1].seq = 7;
    assert_int_equal(dj_vaddr_map_read(f.map, f.pool.n_slots, 1, name), -1);
    table_done(&f);
}

/* One writer flipping a slot between two names of different lengths; a reader must only
 * ever see one of them whole. */
struct race {
    struct dj_vaddr_slot *map;
    volatile int stop;
    unsigned long writes;
};

static const char short_name[] = "a.example.test";
static const char long_name[] = "a-much-longer-name.with.many.labels.example.test";

static void *writer(void *arg)
{
    struct race *r = arg;

    while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
        dj_vaddr_map_write(r->map, 0, (r->writes & 1) ? long_name : short_name);
        r->writes++;
        /* A window with no write in progress: without it a writer that never pauses (on its
         * own core, slowed by the sanitizers) can keep every read of the loop below giving
         * up, and the test would prove nothing about whole reads. */
        sched_yield();
    }
    return NULL;
}

static void test_seqlock_race(void **unused)
{
    struct race r = {0};
    unsigned long seen_short = 0, seen_long = 0, gave_up = 0;
    pthread_t thread;

    (void)unused;
    r.map = calloc(1, dj_vaddr_map_size(1));
    assert_non_null(r.map);
    dj_vaddr_map_write(r.map, 0, short_name);
    assert_int_equal(pthread_create(&thread, NULL, writer, &r), 0);
    for (int i = 0; i < 200000; i++) {
        char name[DJ_VADDR_NAME_SIZE];
        int got = dj_vaddr_map_read(r.map, 1, 0, name);

        if (got < 0) {
            gave_up++;
            continue;
        }
        assert_int_equal(got, 1);
        if (strcmp(name, short_name) == 0)
            seen_short++;
        else if (strcmp(name, long_name) == 0)
            seen_long++;
        else
            fail_msg("torn read: \"%s\"", name);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
    pthread_join(thread, NULL);
    assert_true(seen_short + seen_long + gave_up == 200000);
    assert_true(seen_short + seen_long > 0);
    free(r.map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_addresses), cmocka_unit_test(test_pool_bound),
        cmocka_unit_test(test_table_stable),   cmocka_unit_test(test_table_lru),
        cmocka_unit_test(test_name_wanted),    cmocka_unit_test(test_map_rejects_garbage),
        cmocka_unit_test(test_seqlock_race),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

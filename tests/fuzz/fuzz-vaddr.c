/* fuzz-vaddr: what lib/jail/vaddr reads that others wrote. The proxy's reader of the shared name
 * map (the writer is the stub, which the container talks to) gets the input as slots; the
 * pool parser (the admin config and the daemons' options) gets it as text. Besides "no
 * crash", it checks what the proxy relies on: a name read is a short run of host-name
 * characters, and every slot's addresses map back to that slot. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jail/vaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SLOTS 4

static void check_map(const uint8_t *data, size_t size)
{
    struct dj_vaddr_slot map[FUZZ_SLOTS];
    char name[DJ_VADDR_NAME_SIZE];

    memset(map, 0, sizeof(map));
    memcpy(map, data, size < sizeof(map) ? size : sizeof(map));
    for (uint32_t slot = 0; slot <= FUZZ_SLOTS; slot++) {
        int r = dj_vaddr_map_read(map, FUZZ_SLOTS, slot, name);

        if (r != 1)
            continue;
        size_t len = strnlen(name, sizeof(name));
        if (len == 0 || len >= sizeof(name))
            abort();
        for (size_t i = 0; i < len; i++)
            if (strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.", name[i]) == NULL)
                abort();
    }
}

static void check_pool(const uint8_t *data, size_t size)
{
    char text[128], *split;
    struct dj_vaddr_pool pool;
    dj_error_t err = NULL;

    if (size >= sizeof(text))
        size = sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    /* "NET4 NET6": both parsers, then the pool arithmetic both ways. */
    split = strchr(text, ' ');
    if (split == NULL)
        return;
    *split = '\0';
    if (dj_vaddr_pool_init(&pool, text, split + 1, 1 + (uint32_t)(size * 97), &err) < 0) {
        dj_error_release(&err);
        return;
    }
    for (uint32_t slot = 0; slot < pool.n_slots; slot += 1 + pool.n_slots / 7) {
        struct in_addr a4;
        struct in6_addr a6;
        uint32_t back = UINT32_MAX;
        bool is_slot = false;

        dj_vaddr_slot_addr4(&pool, slot, &a4);
        if (!dj_vaddr_addr_slot(&pool, AF_INET, (const uint8_t *)&a4, &back, &is_slot) ||
            !is_slot || back != slot)
            abort();
        dj_vaddr_slot_addr6(&pool, slot, &a6);
        if (!dj_vaddr_addr_slot(&pool, AF_INET6, a6.s6_addr, &back, &is_slot) || !is_slot ||
            back != slot)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_map(data, size);
    check_pool(data, size);
    return 0;
}

/* bytes.h: big-endian (network order) integers read from and written to byte buffers, for the
 * wire formats (DNS, TLS). The caller has checked the bounds; these only assemble bytes, so
 * they work at any alignment. Owns: nothing but the inline functions. */
#ifndef DNSJAIL_BYTES_H
#define DNSJAIL_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t dj_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t dj_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void dj_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void dj_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes V at B + OFFSET and returns the offset after it, for messages built front to back. */
static inline size_t dj_put16_at(uint8_t *b, size_t offset, uint16_t v)
{
    dj_put16(b + offset, v);
    return offset + 2;
}

#endif

/* fuzz-resphead: the response-head parser (lib/http/resphead) on upstream bytes, the way the proxy
 * feeds it: a growing buffer, re-parsed with the same scan state. The first byte chooses
 * whether the request was a HEAD and where the bytes are split in two arrivals. Besides
 * "no crash", it checks what the proxy relies on: an OK head ends inside the input, and the
 * answer for the whole input does not depend on how it arrived. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http/resphead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum resphead_result parse_in_two(const char *buf, size_t len, size_t split, bool head,
                                         struct resphead *out)
{
    struct resphead_scan scan;
    enum resphead_result r;

    resphead_scan_init(&scan);
    r = resphead_parse(&scan, buf, split, head, out);
    if (r != RESPHEAD_NEED_MORE)
        return r;
    return resphead_parse(&scan, buf, len, head, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resphead whole, pieces;
    struct resphead_scan scan;
    enum resphead_result r_whole, r_pieces;
    const char *buf;
    size_t len, split;
    bool head;

    if (size < 1)
        return 0;
    head = (data[0] & 1) != 0;
    buf = (const char *)data + 1;
    len = size - 1;
    split = len == 0 ? 0 : (size_t)(data[0] >> 1) % (len + 1);

    resphead_scan_init(&scan);
    r_whole = resphead_parse(&scan, buf, len, head, &whole);
    if (r_whole == RESPHEAD_OK && (whole.head_len == 0 || whole.head_len > len))
        abort();
    r_pieces = parse_in_two(buf, len, split, head, &pieces);
    /* A result reached on a prefix may be final earlier (e.g. TOO_LARGE or BAD), but an OK
     * head must be the same head however the bytes came. */
    if (r_whole == RESPHEAD_OK && r_pieces == RESPHEAD_OK &&
        (whole.head_len != pieces.head_len || whole.status != pieces.status ||
         whole.body != pieces.body || whole.content_length != pieces.content_length ||
         whole.keep_alive != pieces.keep_alive))
        abort();
    return 0;
}

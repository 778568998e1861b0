/* Fuzzes the request head parser and the chunked walker the way the proxy drives them on a
 * keep-alive connection: heads one after the other, each followed by its body (skipped by
 * Content-Length, walked when chunked). Every head and body is read whole, one byte at a
 * time, and in two pieces split at a point taken from the first byte; all three must agree.
 * The whole input is also walked as a chunked body on its own, so the walker is explored
 * without first needing a valid head. Beyond the sanitizers it checks what the proxy relies
 * on: results and offsets stay inside what was read, NEED_MORE only below the limits, an
 * accepted head ends with CRLF CRLF and its spans hold what the header promises. */
#include "config.h"
#include "http/httphead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 8

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-httphead: %s\n", what);
        abort();
    }
}

static bool same_span(struct dj_http_span a, struct dj_http_span b)
{
    return a.off == b.off && a.len == b.len;
}

static bool same_head(const struct dj_http_head *a, const struct dj_http_head *b)
{
    if (a->result != b->result || a->problem != b->problem)
        return false;
    if (a->result != DJ_HTTP_OK)
        return true;
    return a->head_len == b->head_len && same_span(a->method, b->method) &&
           same_span(a->target, b->target) && a->target_form == b->target_form &&
           same_span(a->path, b->path) && a->version_minor == b->version_minor &&
           same_span(a->host, b->host) && a->host_is_ipv6 == b->host_is_ipv6 &&
           a->port == b->port && a->body == b->body && a->content_length == b->content_length &&
           a->keep_alive == b->keep_alive && a->field_count == b->field_count;
}

static bool span_inside(struct dj_http_span s, size_t len)
{
    return s.off <= len && s.len <= len - s.off;
}

static void check_accepted(const char *buf, const struct dj_http_head *h)
{
    size_t i;

    check(h->problem == NULL, "problem with OK");
    check(h->head_len >= 4 && h->head_len <= DJ_HTTP_MAX_HEAD, "head_len");
    check(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0, "head does not end in CRLFCRLF");
    check(span_inside(h->method, h->head_len) && span_inside(h->target, h->head_len) &&
              span_inside(h->path, h->head_len) && span_inside(h->host, h->head_len),
          "span outside the head");
    check(h->method.len > 0 && h->target.len > 0 && h->host.len > 0, "empty span");
    check(h->version_minor <= 1, "version");
    for (i = 0; i < h->target.len; i++) {
        unsigned char c = (unsigned char)buf[h->target.off + i];

        check(c > 0x20 && c < 0x7f, "target byte");
    }
    for (i = 0; i < h->host.len; i++) {
        unsigned char c = (unsigned char)buf[h->host.off + i];

        check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || (h->host_is_ipv6 && c == ':'),
              "host byte");
    }
    if (h->target_form == DJ_HTTP_TARGET_ORIGIN)
        check(same_span(h->path, h->target) && buf[h->target.off] == '/', "origin-form path");
    if (h->target_form == DJ_HTTP_TARGET_AUTHORITY)
        check(h->port != 0, "CONNECT without port");
    if (h->body == DJ_HTTP_BODY_LENGTH)
        check(h->content_length <= (uint64_t)DJ_HTTP_MAX_CONTENT_LENGTH, "content_length");
    check(h->field_count <= DJ_HTTP_MAX_FIELDS, "field_count");
}

/* Reads the head at BUF three ways; returns the whole-buffer result in *HEAD. */
static void read_head(const char *buf, size_t len, size_t split, struct dj_http_head *head)
{
    struct dj_http_head other;
    enum dj_http_result r;
    size_t n;

    dj_http_head_init(head);
    r = dj_http_head_parse(head, buf, len);
    check(r == head->result, "returned result differs from the stored one");
    check(dj_http_result_text(r) != NULL, "result text");
    check((dj_http_result_status(r) == 0) == (r == DJ_HTTP_OK || r == DJ_HTTP_NEED_MORE), "status");
    if (r == DJ_HTTP_NEED_MORE)
        check(len < DJ_HTTP_MAX_HEAD && head->problem == NULL, "NEED_MORE with a full buffer");
    else if (r == DJ_HTTP_OK)
        check_accepted(buf, head);
    else
        check(head->problem != NULL, "refused without a problem");

    /* As the bytes arrive one by one: a decision on a prefix must be the final one. */
    dj_http_head_init(&other);
    r = DJ_HTTP_NEED_MORE;
    for (n = 0; n <= len && r == DJ_HTTP_NEED_MORE; n++)
        r = dj_http_head_parse(&other, buf, n);
    check(same_head(head, &other), "byte-by-byte differs from whole");

    /* In two pieces. */
    dj_http_head_init(&other);
    r = dj_http_head_parse(&other, buf, split < len ? split : len);
    if (r == DJ_HTTP_NEED_MORE)
        dj_http_head_parse(&other, buf, len);
    check(same_head(head, &other), "two pieces differ from whole");
}

/* Walks a chunked body three ways (and once more with the data skipped, as a splicing relay
 * does); returns the whole-buffer result and *USED. */
static enum dj_chunked_result walk_chunked(const char *buf, size_t len, size_t split, size_t *used)
{
    struct dj_chunked c;
    enum dj_chunked_result whole, r;
    size_t whole_used, total, a, b, pos;

    dj_chunked_init(&c);
    whole = dj_chunked_feed(&c, buf, len, &whole_used);
    check(whole == c.result, "returned chunked result differs from the stored one");
    check(dj_chunked_result_text(whole) != NULL, "chunked result text");
    check(whole_used <= len, "used more than given");
    if (whole == DJ_CHUNKED_NEED_MORE)
        check(whole_used == len && c.problem == NULL, "NEED_MORE without using everything");
    else if (whole == DJ_CHUNKED_DONE)
        check(whole_used >= 5 && memcmp(buf + whole_used - 2, "\r\n", 2) == 0,
              "DONE not after CRLF");
    else
        check(whole_used < len && c.problem != NULL, "error past the end");
    if (whole != DJ_CHUNKED_NEED_MORE) {
        r = dj_chunked_feed(&c, buf, len, &a);
        check(r == whole && a == 0, "result not sticky");
    }

    dj_chunked_init(&c);
    r = DJ_CHUNKED_NEED_MORE;
    total = 0;
    for (pos = 0; pos < len && r == DJ_CHUNKED_NEED_MORE; pos++) {
        r = dj_chunked_feed(&c, buf + pos, 1, &a);
        total += a;
    }
    check(r == whole && total == whole_used, "chunked byte-by-byte differs from whole");

    dj_chunked_init(&c);
    if (split > len)
        split = len;
    b = 0;
    r = dj_chunked_feed(&c, buf, split, &a);
    if (r == DJ_CHUNKED_NEED_MORE)
        r = dj_chunked_feed(&c, buf + split, len - split, &b);
    check(r == whole && a + b == whole_used, "chunked two pieces differ from whole");

    dj_chunked_init(&c);
    r = DJ_CHUNKED_NEED_MORE;
    pos = 0;
    while (pos < len && r == DJ_CHUNKED_NEED_MORE) {
        uint64_t skip = dj_chunked_data_left(&c);

        if (skip > 0) {
            if (skip > len - pos)
                skip = len - pos;
            dj_chunked_skip(&c, skip);
            pos += (size_t)skip;
            continue;
        }
        r = dj_chunked_feed(&c, buf + pos, 1, &a);
        pos += a;
        if (r != DJ_CHUNKED_NEED_MORE)
            break;
    }
    check(r == whole && (r == DJ_CHUNKED_NEED_MORE ? pos == len : pos == whole_used),
          "skipping data differs from feeding it");

    *used = whole_used;
    return whole;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t split, pos = 0, used;
    unsigned messages;

    if (size == 0)
        return 0;
    split = (size_t)data[0] * size / 256;

    walk_chunked(buf, size, split, &used);

    for (messages = 0; messages < MAX_MESSAGES && pos < size; messages++) {
        struct dj_http_head head;
        size_t len = size - pos;

        read_head(buf + pos, len, split, &head);
        if (head.result != DJ_HTTP_OK)
            break;
        pos += head.head_len;
        if (head.body == DJ_HTTP_BODY_LENGTH) {
            if (head.content_length >= size - pos)
                break;
            pos += (size_t)head.content_length;
        } else if (head.body == DJ_HTTP_BODY_CHUNKED) {
            if (walk_chunked(buf + pos, size - pos, split, &used) != DJ_CHUNKED_DONE)
                break;
            pos += used;
        }
    }
    return 0;
}

/* Fuzzes the ClientHello parser the way the proxy drives it: the whole input at once, and
 * first a prefix (as if the rest had not arrived yet; the split point comes from the first
 * byte) then the whole. Beyond the sanitizers it checks what the proxy relies on: a prefix
 * answers NEED_MORE or exactly what the whole answers, NEED_MORE only below the input cap, and
 * an accepted name is what the header promises. */
#include "config.h"
#include "http/tlshello.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-tlshello: %s\n", what);
        abort();
    }
}

static bool same_outcome(const struct dj_tlshello *a, const struct dj_tlshello *b)
{
    return a->result == b->result && a->hello_len == b->hello_len &&
           a->legacy_version == b->legacy_version && a->server_name_len == b->server_name_len &&
           strcmp(a->server_name, b->server_name) == 0 && a->has_ech == b->has_ech &&
           a->has_alpn == b->has_alpn;
}

static void check_name(const struct dj_tlshello *h)
{
    size_t i;

    check(h->server_name_len == strlen(h->server_name), "name length");
    check(h->server_name_len >= 1 && h->server_name_len <= DJ_TLSHELLO_MAX_NAME + 1, "name size");
    for (i = 0; i < h->server_name_len; i++) {
        char c = h->server_name[i];

        check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.',
              "name character");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_tlshello whole, part;
    enum dj_tlshello_result r;
    size_t split;
    uint8_t *prefix;

    r = dj_tlshello_parse(data, size, &whole);
    check(r == whole.result, "returned result differs from the stored one");
    check(dj_tlshello_result_text(r) != NULL, "result text");
    check((r == DJ_TLSHELLO_OK || r == DJ_TLSHELLO_NEED_MORE) == (whole.problem == NULL),
          "problem text");
    if (r == DJ_TLSHELLO_NEED_MORE)
        check(size < DJ_TLSHELLO_MAX_INPUT, "NEED_MORE with a full buffer");
    if (r == DJ_TLSHELLO_OK)
        check_name(&whole);
    else
        check(whole.server_name_len == 0 && whole.server_name[0] == '\0', "name without OK");
    if (r == DJ_TLSHELLO_OK || r == DJ_TLSHELLO_NO_SNI || r == DJ_TLSHELLO_BAD_SNI) {
        check(whole.hello_len > DJ_TLSHELLO_RECORD_HEADER && whole.hello_len <= size &&
                  whole.hello_len <= DJ_TLSHELLO_MAX_INPUT,
              "hello_len");
        /* What follows the hello's records does not matter. */
        dj_tlshello_parse(data, whole.hello_len, &part);
        check(same_outcome(&whole, &part), "bytes after the hello changed the outcome");
    } else {
        check(whole.hello_len == 0, "hello_len without a complete hello");
    }

    if (size == 0)
        return 0;
    split = (size_t)data[0] * size / 256;
    /* A copy of exactly SPLIT bytes, so reading past the prefix is an ASan report. */
    prefix = malloc(split > 0 ? split : 1);
    if (prefix == NULL)
        return 0;
    memcpy(prefix, data, split);
    r = dj_tlshello_parse(prefix, split, &part);
    free(prefix);
    if (r != DJ_TLSHELLO_NEED_MORE)
        check(same_outcome(&whole, &part), "a prefix decided differently from the whole");
    return 0;
}

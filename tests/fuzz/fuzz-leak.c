/* Fuzzes what `dnsjail-leaktest report` reads from a container and from the canary: the input
 * is split at newlines and every line parsed as a probe line; whatever parses must satisfy
 * the grammar the report relies on (a valid token, a channel of [a-z0-9-], a NUL-terminated
 * detail). The whole input is also searched for each parsed token (a line always contains its
 * own token) and escaped as a canary record, whose text must stay one line of printable
 * ASCII and keep the token findable. */
#include "config.h"
#include "report/leak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-leak: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t start = 0;
    while (start <= size) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : size;
        struct dj_leak_line line;
        const char *bad = dj_leak_parse_line(text + start, end - start, &line);
        if (bad == NULL && !line.is_comment) {
            size_t clen = strlen(line.channel);
            check(clen >= 1 && clen <= DJ_LEAK_MAX_CHANNEL, "channel length");
            for (size_t i = 0; i < clen; i++)
                check(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", line.channel[i]) != NULL,
                      "channel character");
            check(strlen(line.detail) <= DJ_LEAK_MAX_DETAIL, "detail length");
            if (line.has_token) {
                check(dj_leak_token_valid(line.token, strlen(line.token)), "token");
                check(dj_leak_text_has_token(text + start, end - start, line.token),
                      "the line holds its token");
                char escaped[4 * 256 + 1];
                size_t span = end - start < 256 ? end - start : 256;
                size_t done = dj_leak_escape(data + start, span, escaped, sizeof(escaped));
                check(done == span, "escape fits four times the input");
            }
        }
        if (nl == NULL)
            break;
        start = end + 1;
    }
    char out[64];
    size_t done = dj_leak_escape(data, size, out, sizeof(out));
    check(done <= size && strlen(out) < sizeof(out), "escape bounds");
    for (size_t i = 0; out[i] != '\0'; i++)
        check(out[i] > ' ' && out[i] < 0x7f, "escaped text is printable");
    return 0;
}

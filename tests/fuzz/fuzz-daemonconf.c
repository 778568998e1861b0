/* Reads any bytes as the daemon configuration the hook hands over (lib/daemon/daemonconf) and
 * checks what the daemons rely on: every setting passed on has a known key, a flag has no value and
 * any other key a non-empty value without a line break; parsing is deterministic; and what was
 * accepted, written again by the hook's writer, parses to the same settings in the same order.
 * Seeds (tests/fuzz/corpus/daemonconf): what the hook writes for the stub and the proxy, and
 * texts each check refuses. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemonconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEN 512

struct seen {
    enum dj_daemonconf_key keys[MAX_SEEN];
    const char *values[MAX_SEEN];
    size_t n;
    bool overflow;
};

static void check(int condition)
{
    if (!condition)
        abort();
}

static int record(void *ctx, enum dj_daemonconf_key key, const char *value, dj_error_t *err)
{
    struct seen *s = ctx;

    (void)err;
    check((unsigned)key < DJ_DC_N_KEYS);
    check(dj_daemonconf_key_is_flag(key) == (value == NULL));
    if (value != NULL)
        check(value[0] != '\0' && strpbrk(value, "\n\r") == NULL);
    if (s->n == MAX_SEEN) {
        s->overflow = true;
        return 0;
    }
    s->keys[s->n] = key;
    s->values[s->n] = value;
    s->n++;
    return 0;
}

static int parse(const char *bytes, size_t len, char **copy, struct seen *s)
{
    dj_error_t err = NULL;
    int r;

    *copy = malloc(len + 1);
    check(*copy != NULL);
    memcpy(*copy, bytes, len);
    (*copy)[len] = '\0';
    memset(s, 0, sizeof(*s));
    r = dj_daemonconf_parse(*copy, len, record, s, &err);
    check((r < 0) == (err != NULL));
    dj_error_release(&err);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen a, b, again;
    struct dj_daemonconf writer;
    char *copy_a, *copy_b, *copy_again;
    int r;

    if (size > DJ_DAEMONCONF_MAX_BYTES + 16)
        return 0;
    r = parse((const char *)data, size, &copy_a, &a);
    check(parse((const char *)data, size, &copy_b, &b) == r);
    check(a.n == b.n && memcmp(a.keys, b.keys, a.n * sizeof(a.keys[0])) == 0);
    if (r == 0 && !a.overflow) {
        dj_daemonconf_init(&writer);
        for (size_t i = 0; i < a.n; i++) {
            if (a.values[i] == NULL)
                dj_daemonconf_flag(&writer, a.keys[i]);
            else
                dj_daemonconf_set(&writer, a.keys[i], a.values[i]);
        }
        check(!writer.failed);
        check(parse(writer.text, writer.len, &copy_again, &again) == 0);
        check(again.n == a.n);
        for (size_t i = 0; i < a.n; i++) {
            check(again.keys[i] == a.keys[i]);
            check((again.values[i] == NULL) == (a.values[i] == NULL));
            check(a.values[i] == NULL || strcmp(again.values[i], a.values[i]) == 0);
        }
        for (int k = 0; k < DJ_DC_N_KEYS; k++)
            check(dj_daemonconf_key_name((enum dj_daemonconf_key)k)[0] != '?');
        free(copy_again);
        dj_daemonconf_free(&writer);
    }
    free(copy_a);
    free(copy_b);
    return 0;
}

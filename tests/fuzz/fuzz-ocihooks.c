/* Reads any bytes as a bundle's config.json and adds dnsjail's hooks (lib/jail/ocihooks), the
 * edit dnsjail-runtime makes before the real runtime reads the file. Checks what the runtime
 * relies on: an accepted document comes out as one valid JSON object, and editing that output
 * again finds our hook there and changes nothing (the hooks are never added twice, and no
 * CAP_NET_RAW is left to drop).
 * Seeds (tests/fuzz/corpus/ocihooks): config.json as runc spec and Docker write it, with and
 * without hooks, and documents each refusal covers. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "jail/ocihooks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Half of the inputs with drop-cap-net-raw, by their first byte. */
    const struct dj_ocihooks_spec spec = {
        .hook_path = "/usr/libexec/dnsjail/dnsjail-hook",
        .config_path = "/etc/dnsjail/dnsjail.conf",
        .start_stage = "prestart",
        .timeout_s = 10,
        .drop_cap_net_raw = size > 0 && (data[0] & 1) != 0,
    };
    char *out = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    dj_error_t err = NULL;
    int r = dj_ocihooks_add((const char *)data, size, &spec, &out, &len, &err);

    if (r < 0) {
        check(out == NULL && strchr(dj_error_msg(&err), '\n') == NULL);
        dj_error_release(&err);
        return 0;
    }
    if (r == DJ_OCIHOOKS_ALREADY && out == NULL)
        return 0;
    /* Added hooks, or (already hooked) dropped CAP_NET_RAW: a new document. */
    check(out != NULL && strlen(out) <= len && out[len] == '\0');
    check(r == DJ_OCIHOOKS_ADDED || spec.drop_cap_net_raw);
    {
        char msg[128];
        yajl_val tree = yajl_tree_parse(out, msg, sizeof(msg));

        /* yajl_tree_parse stops at a NUL, which a string's \u0000 cannot produce (the generator
         * escapes it), so the whole output is parsed. */
        check(tree != NULL && YAJL_IS_OBJECT(tree));
        yajl_tree_free(tree);
    }
    check(dj_ocihooks_add(out, len, &spec, &again, &again_len, &err) == DJ_OCIHOOKS_ALREADY);
    check(again == NULL);
    free(out);
    return 0;
}

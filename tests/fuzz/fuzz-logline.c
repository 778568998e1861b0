/* fuzz-logline: bytes as log lines (split at newlines) read back by lib/report/logline and fed to
 * lib/suggest. Checks that the suggested value parses as an allow list and allows every
 * destination that was accepted. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/logline.h"
#include "jail/policy.h"
#include "report/suggest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_suggest *s = dj_suggest_new();
    const char *p = (const char *)data, *end = p + size;
    char *hosts[16];
    unsigned ports[16];
    size_t n_hosts = 0;

    if (s == NULL)
        return 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        struct dj_logline_record rec;

        if (dj_logline_parse(p, len, &rec, NULL) == 0) {
            if (dj_suggest_add_record(s, &rec, NULL) == 1 && rec.host != NULL && n_hosts < 16 &&
                strchr(rec.host, ':') == NULL) {
                hosts[n_hosts] = strdup(rec.host);
                ports[n_hosts] = (unsigned)rec.port;
                if (hosts[n_hosts] != NULL)
                    n_hosts++;
            }
            dj_logline_record_free(&rec);
        }
        p += len + 1;
    }
    for (unsigned threshold = 0; threshold < 3; threshold++) {
        struct dj_suggestion *list;
        struct dj_allow_rule *rules;
        size_t n, n_rules;
        char *joined;

        if (dj_suggest_compute(s, threshold, &list, &n, NULL) < 0)
            break;
        joined = dj_suggestions_join(list, n);
        if (joined != NULL && n > 0) {
            if (dj_allow_parse(joined, false, &rules, &n_rules, NULL) < 0 || n_rules != n)
                abort();
            for (size_t i = 0; i < n_hosts; i++) {
                struct dj_allow_rule *one;
                size_t n_one;

                /* Address literals are matched by address rules, not as host names. */
                if (dj_allow_parse(hosts[i], false, &one, &n_one, NULL) == 0) {
                    bool is_host = n_one == 1 && one[0].kind == DJ_RULE_HOST;

                    dj_allow_free(one, n_one);
                    if (is_host &&
                        !dj_allow_match_host(rules, n_rules, hosts[i], (uint16_t)ports[i]))
                        abort();
                }
            }
            dj_allow_free(rules, n_rules);
        }
        free(joined);
        dj_suggestions_free(list, n);
    }
    for (size_t i = 0; i < n_hosts; i++)
        free(hosts[i]);
    dj_suggest_free(s);
    return 0;
}

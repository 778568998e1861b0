/* Reads any bytes as a container-DNS name list and a query name, and checks what the stub
 * relies on: dj_cdnsnames_parse either refuses or builds a list that its text form parses back
 * to the same list, and dj_cdnsnames_match never reads outside the query name (which comes
 * from the container) and agrees with the list's rules.
 *
 * Input: the list text up to the first NUL byte, then the query name in wire form (as many
 * bytes as follow; lib/dns/dnswire hands the stub names with the root byte, but the matcher
 * must also survive names that end early). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/cdnsnames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(condition) check_at((condition), __LINE__)

static void check_at(int condition, int line)
{
    if (!condition) {
        fprintf(stderr, "fuzz-cdnsnames: check on line %d failed\n", line);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t text_len = nul != NULL ? (size_t)(nul - data) : size;
    struct dj_cdnsnames list = {0}, again = {0};
    dj_error_t err = NULL;
    char *text = malloc(text_len + 1);
    uint8_t *name;
    size_t name_len;
    static char formatted[DJ_CDNSNAMES_MAX * 260];

    if (text == NULL)
        return 0;
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    name_len = nul != NULL ? size - text_len - 1 : 0;
    /* A copy of its own, exactly as long: the sanitizer catches a read past its end. */
    name = malloc(name_len > 0 ? name_len : 1);
    if (name == NULL) {
        free(text);
        return 0;
    }
    if (name_len > 0)
        memcpy(name, nul + 1, name_len);

    if (dj_cdnsnames_parse(&list, text, &err) < 0) {
        check(list.n == 0 && !list.single_label && list.names == NULL);
        check(err != NULL);
        dj_error_release(&err);
    } else {
        bool matched = dj_cdnsnames_match(&list, name, name_len);

        check(dj_cdnsnames_format(&list, formatted, sizeof(formatted)) != NULL);
        check(dj_cdnsnames_parse(&again, formatted, &err) == 0);
        check(again.n == list.n && again.single_label == list.single_label);
        for (size_t i = 0; i < list.n; i++)
            check(strcmp(again.names[i].text, list.names[i].text) == 0 &&
                  again.names[i].suffix == list.names[i].suffix);
        check(dj_cdnsnames_match(&again, name, name_len) == matched);
        /* A name never matches an empty list, and "*" matches only one label. */
        if (list.n == 0 && !list.single_label)
            check(!matched);
        if (matched && list.n == 0)
            check(name_len >= 3 && (size_t)name[0] + 2 == name_len);
        dj_cdnsnames_free(&again);
        dj_cdnsnames_free(&list);
    }
    free(name);
    free(text);
    return 0;
}

/* fuzz-promtext: the exposition-text reader (lib/report/promtext) on what a metrics file might hold
 * after an unprivileged daemon was taken over. Besides "no crash", it checks what the
 * `dnsjail` command relies on: names and label values are NUL-terminated within their
 * bounds, and the label count is within its array. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool check(const struct dj_promtext_sample *s, void *data)
{
    size_t *count = data;

    if (s->n_labels > DJ_PROMTEXT_MAX_LABELS || strlen(s->name) == 0 ||
        strlen(s->name) > DJ_PROMTEXT_MAX_NAME)
        abort();
    for (size_t i = 0; i < s->n_labels; i++)
        if (strlen(s->labels[i].name) > DJ_PROMTEXT_MAX_NAME ||
            strlen(s->labels[i].value) > DJ_PROMTEXT_MAX_VALUE)
            abort();
    (void)dj_promtext_label_value(s, "outcome");
    (*count)++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly SIZE bytes, so reading past the end is caught. */
    char *copy = malloc(size > 0 ? size : 1);
    size_t count = 0;
    long bad;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    bad = dj_promtext_parse(copy, size, check, &count);
    if (bad < 0 && size <= DJ_PROMTEXT_MAX_BYTES)
        abort();
    free(copy);
    return 0;
}

/* promtext.h: reads back the sample lines of a Prometheus text exposition file, for the
 * `dnsjail` command. The files are written by the unprivileged daemons, so they are untrusted
 * input: this is pure code with a libFuzzer target (tests/fuzz/fuzz-promtext.c), bounded in
 * what it accepts, and it never trusts a length it did not measure.
 *
 * Accepted per line: blank, "# ..." (skipped), or NAME[{LABEL="VALUE",...}] VALUE
 * [TIMESTAMP], with the format's escapes (\\, \", \n) in label values. Anything else is
 * counted as a bad line and skipped.
 * Owns: that reading, nothing about what the series mean. */
#ifndef DNSJAIL_PROMTEXT_H
#define DNSJAIL_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

#define DJ_PROMTEXT_MAX_BYTES (1024 * 1024) /* a longer file is refused */
#define DJ_PROMTEXT_MAX_NAME 128
#define DJ_PROMTEXT_MAX_LABELS 8
#define DJ_PROMTEXT_MAX_VALUE 256 /* a label value, unescaped */

struct dj_promtext_label {
    char name[DJ_PROMTEXT_MAX_NAME + 1];
    char value[DJ_PROMTEXT_MAX_VALUE + 1];
};

struct dj_promtext_sample {
    char name[DJ_PROMTEXT_MAX_NAME + 1];
    struct dj_promtext_label labels[DJ_PROMTEXT_MAX_LABELS];
    size_t n_labels;
    double value; /* may be +-Inf or NaN */
};

/* Calls FN for each well-formed sample of TEXT (LEN bytes, need not be NUL-terminated), in
 * order; stops early when FN returns false. Returns the number of bad lines, or -1 when LEN
 * exceeds DJ_PROMTEXT_MAX_BYTES (nothing is parsed then). */
long dj_promtext_parse(const char *text, size_t len,
                       bool (*fn)(const struct dj_promtext_sample *sample, void *data), void *data);

/* The value of label NAME in SAMPLE, or NULL. */
const char *dj_promtext_label_value(const struct dj_promtext_sample *sample, const char *name);

#endif

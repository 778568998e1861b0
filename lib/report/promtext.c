#include "config.h"
#include "report/promtext.h"

#include <stdlib.h>
#include <string.h>

#define MAX_NUMBER 64 /* the longest value or timestamp token */

/* A cursor over one line: [p, end). */
struct cursor {
    const char *p;
    const char *end;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_blanks(struct cursor *c)
{
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
}

static bool name_char(char c, bool first, bool metric)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (metric && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

static bool read_name(struct cursor *c, char *out, bool metric)
{
    size_t n = 0;

    while (c->p < c->end && name_char(*c->p, n == 0, metric)) {
        if (n == DJ_PROMTEXT_MAX_NAME)
            return false;
        out[n++] = *c->p++;
    }
    out[n] = '\0';
    return n > 0;
}

/* "..." with \\, \" and \n; the cursor is on the opening quote. */
static bool read_quoted(struct cursor *c, char *out)
{
    size_t n = 0;

    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;

        if (ch == '\\') {
            if (c->p >= c->end)
                return false;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return false;
        } else if (ch == '\0') {
            return false; /* it would cut the value short for every reader in C */
        }
        if (n == DJ_PROMTEXT_MAX_VALUE)
            return false;
        out[n++] = ch;
    }
    if (c->p >= c->end)
        return false;
    c->p++; /* the closing quote */
    out[n] = '\0';
    return true;
}

static bool read_labels(struct cursor *c, struct dj_promtext_sample *s)
{
    c->p++; /* '{' */
    for (;;) {
        struct dj_promtext_label *l;

        skip_blanks(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return true;
        }
        if (s->n_labels == DJ_PROMTEXT_MAX_LABELS)
            return false;
        l = &s->labels[s->n_labels];
        if (!read_name(c, l->name, false))
            return false;
        skip_blanks(c);
        if (c->p >= c->end || *c->p != '=')
            return false;
        c->p++;
        skip_blanks(c);
        if (!read_quoted(c, l->value))
            return false;
        s->n_labels++;
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p >= c->end || *c->p != '}')
            return false;
    }
}

/* Copies the next blank-delimited token (at most MAX_NUMBER bytes) into OUT. */
static bool read_token(struct cursor *c, char *out)
{
    size_t n = 0;

    while (c->p < c->end && !is_blank(*c->p)) {
        if (n == MAX_NUMBER || *c->p == '\0')
            return false;
        out[n++] = *c->p++;
    }
    out[n] = '\0';
    return n > 0;
}

static bool parse_value(const char *token, double *value)
{
    char *rest;

    /* strtod also takes hex and "infinity"; the format's own spellings are what we see. */
    *value = strtod(token, &rest);
    return rest != token && *rest == '\0';
}

static bool parse_timestamp(const char *token)
{
    size_t i = token[0] == '-' ? 1 : 0;

    if (token[i] == '\0')
        return false;
    for (; token[i] != '\0'; i++)
        if (token[i] < '0' || token[i] > '9')
            return false;
    return true;
}

/* True for a well-formed sample (in *S), false for a bad line; *SKIP for comments and
 * blank lines. */
static bool parse_line(const char *line, size_t len, struct dj_promtext_sample *s, bool *skip)
{
    struct cursor c = {line, line + len};
    char token[MAX_NUMBER + 1];

    *skip = false;
    skip_blanks(&c);
    if (c.p < c.end && c.end[-1] == '\r')
        c.end--;
    if (c.p == c.end || *c.p == '#') {
        *skip = true;
        return false;
    }
    memset(s, 0, sizeof(*s));
    if (!read_name(&c, s->name, true))
        return false;
    if (c.p < c.end && *c.p == '{' && !read_labels(&c, s))
        return false;
    if (c.p >= c.end || !is_blank(*c.p))
        return false;
    skip_blanks(&c);
    if (!read_token(&c, token) || !parse_value(token, &s->value))
        return false;
    skip_blanks(&c);
    if (c.p < c.end && (!read_token(&c, token) || !parse_timestamp(token)))
        return false;
    skip_blanks(&c);
    return c.p == c.end;
}

long dj_promtext_parse(const char *text, size_t len,
                       bool (*fn)(const struct dj_promtext_sample *sample, void *data), void *data)
{
    const char *p = text, *end = text + len;
    struct dj_promtext_sample sample;
    long bad = 0;

    if (len > DJ_PROMTEXT_MAX_BYTES)
        return -1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        bool skip;

        if (parse_line(p, (size_t)(line_end - p), &sample, &skip)) {
            if (!fn(&sample, data))
                break;
        } else if (!skip) {
            bad++;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return bad;
}

const char *dj_promtext_label_value(const struct dj_promtext_sample *sample, const char *name)
{
    for (size_t i = 0; i < sample->n_labels && i < DJ_PROMTEXT_MAX_LABELS; i++)
        if (strcmp(sample->labels[i].name, name) == 0)
            return sample->labels[i].value;
    return NULL;
}

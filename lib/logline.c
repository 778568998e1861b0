#include "config.h"
#include "logline.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

struct text_field {
    const char *key;
    size_t offset;
};

#define TEXT(name)                                                                                 \
    {                                                                                              \
#name, offsetof(struct dj_log_line, name)                                                  \
    }

static const struct text_field text_fields[] = {
    TEXT(time),     TEXT(event),  TEXT(container), TEXT(client), TEXT(proto),  TEXT(qname),
    TEXT(qtype),    TEXT(rcode),  TEXT(answer),    TEXT(host),   TEXT(method), TEXT(path),
    TEXT(decision), TEXT(reason), TEXT(upstream),  TEXT(detail),
};

/* Printable ASCII only: whatever a line holds must not steer the reader's terminal. */
static void copy_printable(char *out, const char *in)
{
    size_t n = 0;

    for (; in != NULL && *in != '\0' && n + 1 < DJ_LOGLINE_FIELD; in++)
        out[n++] = *in >= 0x20 && *in < 0x7f ? *in : '?';
    out[n] = '\0';
}

static uint64_t unsigned_value(yajl_val v)
{
    if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
        return 0;
    return (uint64_t)YAJL_GET_INTEGER(v);
}

bool dj_log_line_parse(const char *line, size_t len, struct dj_log_line *out)
{
    char *copy;
    yajl_val tree;
    bool ok = false;

    memset(out, 0, sizeof(*out));
    if (len > DJ_LOGLINE_MAX || memchr(line, '\0', len) != NULL)
        return false;
    copy = malloc(len + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, line, len);
    copy[len] = '\0';
    tree = yajl_tree_parse(copy, NULL, 0);
    free(copy);
    if (tree == NULL)
        return false;
    if (YAJL_IS_OBJECT(tree)) {
        ok = true;
        for (size_t i = 0; i < tree->u.object.len; i++) {
            const char *key = tree->u.object.keys[i];
            yajl_val v = tree->u.object.values[i];

            if (strcmp(key, "port") == 0) {
                out->port = unsigned_value(v);
                continue;
            }
            if (strcmp(key, "status") == 0) {
                out->status = unsigned_value(v);
                continue;
            }
            if (!YAJL_IS_STRING(v) || YAJL_GET_STRING(v) == NULL)
                continue;
            for (size_t f = 0; f < sizeof(text_fields) / sizeof(text_fields[0]); f++)
                if (strcmp(key, text_fields[f].key) == 0)
                    copy_printable((char *)out + text_fields[f].offset, YAJL_GET_STRING(v));
        }
    }
    yajl_tree_free(tree);
    return ok;
}

/* logline.c: see logline.h.
 *
 * yajl_tree parses a copy of the line. Before that a scan outside strings refuses anything
 * nested: our lines are flat objects, and a flat tree also keeps yajl_tree_free()'s recursion
 * at one level whatever the input. */
#include "config.h"
#include "report/logline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "base/cleanup.h"

/* Only "{" at depth 0 and no brackets inside it; quotes and escapes tracked. */
static int check_flat(const char *s, size_t len, dj_error_t *err)
{
    bool in_string = false, escaped = false;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '\0')
            return dj_error_make(err, 0, "a NUL byte in the line");
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (depth != 0 || c == '[')
                return dj_error_make(err, 0, "not a flat JSON object");
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

static int take_string(yajl_val v, const char *key, char **out, dj_error_t *err)
{
    if (YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_STRING(v))
        return dj_error_make(err, 0, "field \"%s\" is not a string", key);
    free(*out);
    *out = strdup(v->u.string);
    if (*out == NULL)
        return dj_error_make(err, ENOMEM, "field \"%s\"", key);
    return 0;
}

struct string_field {
    const char *key;
    size_t offset;
};

#define FIELD(name)                                                                                \
    {                                                                                              \
#name, offsetof(struct dj_logline_record, name)                                            \
    }
static const struct string_field string_fields[] = {
    FIELD(time),    FIELD(event),  FIELD(container), FIELD(client), FIELD(qname),
    FIELD(qtype),   FIELD(answer), FIELD(host),      FIELD(reason), FIELD(decision),
    FIELD(outcome), FIELD(dest),   FIELD(rcode),     FIELD(method), FIELD(path),
};
#undef FIELD

int dj_logline_parse(const char *line, size_t len, struct dj_logline_record *rec, dj_error_t *err)
{
    cleanup_free char *copy = NULL;
    char msg[128];
    yajl_val tree;
    int r = 0;

    memset(rec, 0, sizeof(*rec));
    rec->port = -1;
    rec->would_block = -1;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len == 0)
        return dj_error_make(err, 0, "an empty line");
    if (len > DJ_LOGLINE_MAX)
        return dj_error_make(err, 0, "a line of %zu bytes (at most %d)", len, DJ_LOGLINE_MAX);
    if (check_flat(line, len, err) < 0)
        return -1;
    copy = malloc(len + 1);
    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "copying the line");
    memcpy(copy, line, len);
    copy[len] = '\0';
    tree = yajl_tree_parse(copy, msg, sizeof(msg));
    if (tree == NULL)
        return dj_error_make(err, 0, "not JSON");
    if (!YAJL_IS_OBJECT(tree)) {
        yajl_tree_free(tree);
        return dj_error_make(err, 0, "not a JSON object");
    }
    for (size_t i = 0; i < tree->u.object.len && r == 0; i++) {
        const char *key = tree->u.object.keys[i];
        yajl_val v = tree->u.object.values[i];

        for (size_t f = 0; f < sizeof(string_fields) / sizeof(string_fields[0]); f++) {
            if (strcmp(key, string_fields[f].key) == 0) {
                r = take_string(v, key, (char **)(void *)((char *)rec + string_fields[f].offset),
                                err);
                break;
            }
        }
        if (r == 0 && strcmp(key, "port") == 0) {
            if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > 65535)
                r = dj_error_make(err, 0, "field \"port\" is not a port number");
            else
                rec->port = YAJL_GET_INTEGER(v);
        } else if (r == 0 && strcmp(key, "would_block") == 0) {
            if (YAJL_IS_TRUE(v))
                rec->would_block = 1;
            else if (YAJL_IS_FALSE(v))
                rec->would_block = 0;
            else
                r = dj_error_make(err, 0, "field \"would_block\" is not true or false");
        } else if (r == 0 && strcmp(key, "container_dns") == 0) {
            if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
                r = dj_error_make(err, 0, "field \"container_dns\" is not true or false");
            rec->container_dns = YAJL_IS_TRUE(v);
        }
    }
    yajl_tree_free(tree);
    if (r == 0 && rec->event == NULL)
        r = dj_error_make(err, 0, "no \"event\" field");
    if (r < 0)
        dj_logline_record_free(rec);
    return r;
}

void dj_logline_record_free(struct dj_logline_record *rec)
{
    for (size_t f = 0; f < sizeof(string_fields) / sizeof(string_fields[0]); f++) {
        char **p = (char **)(void *)((char *)rec + string_fields[f].offset);
        free(*p);
        *p = NULL;
    }
}

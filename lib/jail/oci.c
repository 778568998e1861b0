/* oci.c: parsers of the OCI state (the hook's stdin) and of the bundle's config.json.
 *
 * Both come from outside dnsjail, so the parsers are strict: a field of the wrong type, a key
 * given twice, or a key that another runtime would read differently is an error, never a
 * guess. Fields dnsjail does not use are ignored (the spec grows).
 *
 * Two runtimes read config.json differently: runc uses Go's encoding/json, which matches
 * object keys case-insensitively (and folds U+017F to 's' and U+212A to 'k'); crun matches
 * them exactly. So "Process" is the process object to runc but nothing to crun. A key that
 * folds to a field we read but is not spelled exactly like it is refused, so that we never
 * check capabilities the runtime does not apply, nor miss ones it does.
 *
 * yajl_tree builds the tree without recursion, but frees it recursively, and it accepts
 * comments, which are not JSON. json_precheck() scans the raw bytes first to bound the
 * nesting depth and refuse what yajl would let through but JSON does not allow. */
#include "config.h"

#include "jail/oci.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "base/cleanup.h"

/* config.json nests about six levels deep; anything far deeper is not an OCI document, and
 * a bound keeps yajl_tree_free()'s recursion shallow. */
#define JSON_MAX_DEPTH 64

/* PID_MAX_LIMIT on 64-bit Linux. */
#define OCI_PID_MAX 4194304

/* Writes the escaped form of byte C into PIECE (at least 4 bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *piece)
{
    static const char hex[] = "0123456789abcdef";

    if (c == '"' || c == '\\') {
        piece[0] = '\\';
        piece[1] = (char)c;
        return 2;
    }
    if (c < 0x20 || c > 0x7e) {
        piece[0] = '\\';
        piece[1] = 'x';
        piece[2] = hex[c >> 4];
        piece[3] = hex[c & 0xf];
        return 4;
    }
    piece[0] = (char)c;
    return 1;
}

const char *oci_printable(char *out, size_t out_size, const char *s)
{
    char piece[4];
    size_t used = 0, full = 0;
    const char *p;

    if (out_size == 0)
        return out;
    if (s == NULL)
        s = "(null)";
    for (p = s; *p != '\0'; p++)
        full += escape_byte((unsigned char)*p, piece);
    for (p = s; *p != '\0'; p++) {
        size_t n = escape_byte((unsigned char)*p, piece);

        /* Cut where "..." and the NUL still fit, unless all of it fits. */
        if (full >= out_size && used + n + 4 > out_size) {
            if (out_size >= 4) {
                memcpy(out + used, "...", 3);
                used += 3;
            }
            break;
        }
        memcpy(out + used, piece, n);
        used += n;
    }
    out[used] = '\0';
    return out;
}

/* ---- raw JSON checks and parsing ------------------------------------------------------ */

static int json_precheck(const char *buf, size_t len, dj_error_t *err)
{
    const char *nul = memchr(buf, '\0', len);
    size_t depth = 0;
    bool in_string = false;

    if (nul != NULL)
        return dj_error_make(err, 0, "invalid JSON: NUL byte at offset %zu", (size_t)(nul - buf));
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];

        if (in_string) {
            if (c == '"') {
                in_string = false;
            } else if (c == '\\' && i + 1 < len) {
                /* yajl turns \u0000 into a NUL inside its C string, which would cut a key
                 * or value short where the runtime sees it whole. */
                if (buf[i + 1] == 'u' && i + 5 < len && memcmp(buf + i + 2, "0000", 4) == 0)
                    return dj_error_make(err, 0, "invalid JSON: \\u0000 in a string at offset %zu",
                                         i);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            if (++depth > JSON_MAX_DEPTH)
                return dj_error_make(err, 0, "invalid JSON: nested deeper than %d levels",
                                     JSON_MAX_DEPTH);
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        case '/':
            return dj_error_make(err, 0, "invalid JSON: comments are not allowed (offset %zu)", i);
        default:
            break;
        }
    }
    return 0;
}

/* Parses BUF into a tree whose top level is an object. */
static int json_parse_object(const char *buf, size_t len, size_t max_len, yajl_val *root,
                             dj_error_t *err)
{
    cleanup_free char *copy = NULL;
    char yajl_msg[256];
    char shown[OCI_PRINTABLE_SIZE];
    yajl_val tree;

    *root = NULL;
    if (buf == NULL)
        return dj_error_make(err, 0, "no input");
    if (len > max_len)
        return dj_error_make(err, 0, "input is %zu bytes, more than the limit of %zu", len,
                             max_len);
    if (json_precheck(buf, len, err) < 0)
        return -1;
    /* yajl_tree_parse() takes a C string. */
    copy = malloc(len + 1);
    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "cannot copy the input");
    memcpy(copy, buf, len);
    copy[len] = '\0';

    yajl_msg[0] = '\0';
    tree = yajl_tree_parse(copy, yajl_msg, sizeof(yajl_msg));
    if (tree == NULL) {
        /* yajl's verbose message repeats the input on further lines: keep the first. */
        yajl_msg[strcspn(yajl_msg, "\r\n")] = '\0';
        return dj_error_make(
            err, 0, "invalid JSON: %s",
            oci_printable(shown, sizeof(shown), yajl_msg[0] != '\0' ? yajl_msg : "parse error"));
    }
    if (!YAJL_IS_OBJECT(tree)) {
        yajl_tree_free(tree);
        return dj_error_make(err, 0, "the top level is not a JSON object");
    }
    *root = tree;
    return 0;
}

static void free_tree(yajl_val *tree)
{
    if (*tree != NULL)
        yajl_tree_free(*tree);
}
#define cleanup_tree __attribute__((cleanup(free_tree)))

/* ---- field access ----------------------------------------------------------------------- */

/* Does KEY fold to WANTED the way Go's encoding/json matches keys (ASCII case, and the two
 * non-ASCII letters that fold to ASCII: U+017F LONG S to 's', U+212A KELVIN SIGN to 'k')? */
static bool key_folds_to(const char *key, const char *wanted)
{
    const unsigned char *k = (const unsigned char *)key;
    const unsigned char *w = (const unsigned char *)wanted;

    while (*w != '\0') {
        unsigned char folded;

        if (k[0] == 0xc5 && k[1] == 0xbf) {
            folded = 's';
            k += 2;
        } else if (k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa) {
            folded = 'k';
            k += 3;
        } else if (*k == '\0') {
            return false;
        } else {
            folded = (unsigned char)((*k >= 'A' && *k <= 'Z') ? *k - 'A' + 'a' : *k);
            k++;
        }
        if (folded != ((*w >= 'A' && *w <= 'Z') ? *w - 'A' + 'a' : *w))
            return false;
        w++;
    }
    return *k == '\0';
}

/* The full name of a field for messages: "process.capabilities" + "bounding". */
static const char *field_name(char *out, size_t out_size, const char *where, const char *key)
{
    char shown[OCI_PRINTABLE_SIZE];

    oci_printable(shown, sizeof(shown), key);
    snprintf(out, out_size, "%s%s%s", where, where[0] != '\0' ? "." : "", shown);
    return out;
}

/* Finds KEY in object OBJ (WHERE names OBJ in messages). *out is NULL when KEY is absent or
 * null: Go and libocispec both read null as "not given". */
static int object_get(yajl_val obj, const char *where, const char *key, yajl_val *out,
                      dj_error_t *err)
{
    char name[2 * OCI_PRINTABLE_SIZE];
    char other[2 * OCI_PRINTABLE_SIZE];
    yajl_val found = NULL;
    bool seen = false;

    *out = NULL;
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *k = obj->u.object.keys[i];

        if (strcmp(k, key) == 0) {
            if (seen)
                return dj_error_make(err, 0, "field '%s' is given twice",
                                     field_name(name, sizeof(name), where, key));
            seen = true;
            found = obj->u.object.values[i];
        } else if (key_folds_to(k, key)) {
            return dj_error_make(
                err, 0, "field '%s' differs from '%s' only in case; runtimes disagree on it",
                field_name(other, sizeof(other), where, k),
                field_name(name, sizeof(name), where, key));
        }
    }
    if (found != NULL && !YAJL_IS_NULL(found))
        *out = found;
    return 0;
}

static int get_string(yajl_val obj, const char *where, const char *key, bool required, char **out,
                      dj_error_t *err)
{
    char name[2 * OCI_PRINTABLE_SIZE];
    yajl_val v;

    *out = NULL;
    if (object_get(obj, where, key, &v, err) < 0)
        return -1;
    if (v == NULL) {
        if (required)
            return dj_error_make(err, 0, "field '%s' is missing",
                                 field_name(name, sizeof(name), where, key));
        return 0;
    }
    if (!YAJL_IS_STRING(v))
        return dj_error_make(err, 0, "field '%s' must be a string",
                             field_name(name, sizeof(name), where, key));
    *out = strdup(v->u.string);
    if (*out == NULL)
        return dj_error_make(err, ENOMEM, "field '%s'", field_name(name, sizeof(name), where, key));
    return 0;
}

static int get_object(yajl_val obj, const char *where, const char *key, yajl_val *out,
                      dj_error_t *err)
{
    char name[2 * OCI_PRINTABLE_SIZE];

    if (object_get(obj, where, key, out, err) < 0)
        return -1;
    if (*out != NULL && !YAJL_IS_OBJECT(*out))
        return dj_error_make(err, 0, "field '%s' must be an object",
                             field_name(name, sizeof(name), where, key));
    return 0;
}

static int get_array(yajl_val obj, const char *where, const char *key, yajl_val *out,
                     dj_error_t *err)
{
    char name[2 * OCI_PRINTABLE_SIZE];

    if (object_get(obj, where, key, out, err) < 0)
        return -1;
    if (*out != NULL && !YAJL_IS_ARRAY(*out))
        return dj_error_make(err, 0, "field '%s' must be an array",
                             field_name(name, sizeof(name), where, key));
    return 0;
}

static bool is_absolute_path(const char *path)
{
    return path[0] == '/' && strlen(path) < PATH_MAX;
}

/* ---- annotations ------------------------------------------------------------------------ */

static void annotations_free(struct oci_annotation *ann, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ann[i].key);
        free(ann[i].value);
    }
    free(ann);
}

static int compare_key_pointers(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* yajl keeps every copy of a repeated key; the runtime keeps only one (Go: the last), so a
 * repeated key could hide a value from us. Sorting finds repeats in O(n log n). */
static int check_unique_keys(yajl_val obj, dj_error_t *err)
{
    cleanup_free const char **keys = NULL;
    char shown[OCI_PRINTABLE_SIZE];
    size_t n = obj->u.object.len;

    if (n < 2)
        return 0;
    keys = calloc(n, sizeof(*keys));
    if (keys == NULL)
        return dj_error_make(err, ENOMEM, "cannot check annotations");
    memcpy(keys, obj->u.object.keys, n * sizeof(*keys));
    qsort(keys, n, sizeof(*keys), compare_key_pointers);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            return dj_error_make(err, 0, "annotation '%s' is given twice",
                                 oci_printable(shown, sizeof(shown), keys[i]));
    return 0;
}

static int parse_annotations(yajl_val root, struct oci_annotation **out, size_t *n_out,
                             bool *present, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    struct oci_annotation *ann;
    yajl_val obj;
    size_t n;

    *out = NULL;
    *n_out = 0;
    if (present != NULL)
        *present = false;
    if (object_get(root, "", "annotations", &obj, err) < 0)
        return -1;
    if (obj == NULL)
        return 0;
    if (!YAJL_IS_OBJECT(obj))
        return dj_error_make(err, 0, "field 'annotations' must be an object of strings");
    n = obj->u.object.len;
    for (size_t i = 0; i < n; i++) {
        if (obj->u.object.keys[i][0] == '\0')
            return dj_error_make(err, 0, "annotation with an empty key");
        if (!YAJL_IS_STRING(obj->u.object.values[i]))
            return dj_error_make(err, 0, "annotation '%s' must be a string",
                                 oci_printable(shown, sizeof(shown), obj->u.object.keys[i]));
    }
    if (check_unique_keys(obj, err) < 0)
        return -1;

    ann = calloc(n > 0 ? n : 1, sizeof(*ann));
    if (ann == NULL)
        return dj_error_make(err, ENOMEM, "cannot copy annotations");
    for (size_t i = 0; i < n; i++) {
        ann[i].key = strdup(obj->u.object.keys[i]);
        ann[i].value = strdup(obj->u.object.values[i]->u.string);
        if (ann[i].key == NULL || ann[i].value == NULL) {
            annotations_free(ann, i + 1);
            return dj_error_make(err, ENOMEM, "cannot copy annotations");
        }
    }
    *out = ann;
    *n_out = n;
    if (present != NULL)
        *present = true;
    return 0;
}

/* ---- the state ------------------------------------------------------------------------- */

/* yajl 2.1.0 never marks a number as a valid integer, so read its text: an optional '-'
 * and digits, nothing else. */
static int parse_pid(yajl_val v, pid_t *pid, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    const char *text;
    const char *p;
    bool negative = false;
    unsigned long value = 0;

    if (!YAJL_IS_NUMBER(v))
        return dj_error_make(err, 0, "field 'pid' must be an integer");
    text = YAJL_GET_NUMBER(v);
    p = text;
    if (*p == '-') {
        negative = true;
        p++;
    }
    if (*p == '\0')
        return dj_error_make(err, 0, "field 'pid' must be an integer");
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return dj_error_make(err, 0, "field 'pid' must be an integer, not %s",
                                 oci_printable(shown, sizeof(shown), text));
        if (value <= OCI_PID_MAX)
            value = value * 10 + (unsigned long)(*p - '0');
    }
    if (negative && value != 0)
        return dj_error_make(err, 0, "field 'pid' is negative (%s)",
                             oci_printable(shown, sizeof(shown), text));
    if (value > OCI_PID_MAX)
        return dj_error_make(err, 0, "field 'pid' is out of range (%s; at most %d)",
                             oci_printable(shown, sizeof(shown), text), OCI_PID_MAX);
    *pid = (pid_t)value;
    return 0;
}

static int state_fill(yajl_val root, struct oci_state *st, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    yajl_val pid;

    if (get_string(root, "", "ociVersion", false, &st->oci_version, err) < 0 ||
        get_string(root, "", "id", true, &st->id, err) < 0 ||
        get_string(root, "", "status", false, &st->status, err) < 0 ||
        get_string(root, "", "bundle", true, &st->bundle, err) < 0)
        return -1;
    if (!is_absolute_path(st->bundle))
        return dj_error_make(err, 0, "field 'bundle' must be an absolute path, not \"%s\"",
                             oci_printable(shown, sizeof(shown), st->bundle));
    if (object_get(root, "", "pid", &pid, err) < 0)
        return -1;
    if (pid != NULL && parse_pid(pid, &st->pid, err) < 0)
        return -1;
    return parse_annotations(root, &st->annotations, &st->n_annotations, &st->have_annotations,
                             err);
}

int oci_state_parse(const char *buf, size_t len, struct oci_state *st, dj_error_t *err)
{
    cleanup_tree yajl_val root = NULL;

    memset(st, 0, sizeof(*st));
    if (json_parse_object(buf, len, OCI_STATE_MAX_BYTES, &root, err) < 0)
        return -1;
    if (state_fill(root, st, err) < 0) {
        oci_state_free(st);
        return -1;
    }
    return 0;
}

void oci_state_free(struct oci_state *st)
{
    if (st == NULL)
        return;
    free(st->oci_version);
    free(st->id);
    free(st->status);
    free(st->bundle);
    annotations_free(st->annotations, st->n_annotations);
    memset(st, 0, sizeof(*st));
}

/* ---- config.json ------------------------------------------------------------------------ */

static int parse_namespaces(yajl_val root, struct oci_bundle *b, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    yajl_val linux_obj, namespaces;
    size_t n_pid = 0;
    bool pid_path = false;

    if (get_object(root, "", "linux", &linux_obj, err) < 0)
        return -1;
    if (linux_obj == NULL)
        return 0;
    if (get_array(linux_obj, "linux", "namespaces", &namespaces, err) < 0)
        return -1;
    if (namespaces == NULL)
        return 0;
    for (size_t i = 0; i < namespaces->u.array.len; i++) {
        yajl_val entry = namespaces->u.array.values[i];
        cleanup_free char *type = NULL;
        cleanup_free char *path = NULL;

        if (!YAJL_IS_OBJECT(entry))
            return dj_error_make(err, 0, "linux.namespaces[%zu] must be an object", i);
        if (get_string(entry, "linux.namespaces[]", "type", true, &type, err) < 0 ||
            get_string(entry, "linux.namespaces[]", "path", false, &path, err) < 0)
            return -1;
        if (strcmp(type, "pid") == 0) {
            n_pid++;
            pid_path = pid_path || (path != NULL && path[0] != '\0');
            continue;
        }
        if (strcmp(type, "network") != 0)
            continue;
        if (b->have_netns)
            return dj_error_make(err, 0, "linux.namespaces has more than one \"network\" entry");
        b->have_netns = true;
        /* The runtimes read an empty path as "create a new namespace". */
        if (path != NULL && path[0] != '\0') {
            if (!is_absolute_path(path))
                return dj_error_make(
                    err, 0, "linux.namespaces: the network path must be absolute, not \"%s\"",
                    oci_printable(shown, sizeof(shown), path));
            b->netns_path = steal_ptr(&path);
        }
    }
    /* Two "pid" entries are the runtime's to refuse; here they only mean "not surely own". */
    b->own_pidns = n_pid == 1 && !pid_path;
    return 0;
}

static const char *const capability_sets[] = {"bounding", "effective", "inheritable", "permitted",
                                              "ambient"};

static int parse_capabilities(yajl_val root, struct oci_bundle *b, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    yajl_val process, caps;

    if (get_object(root, "", "process", &process, err) < 0)
        return -1;
    if (process == NULL)
        return 0;
    if (get_object(process, "process", "capabilities", &caps, err) < 0)
        return -1;
    if (caps == NULL)
        return 0;
    for (size_t s = 0; s < sizeof(capability_sets) / sizeof(capability_sets[0]); s++) {
        const char *set_name = capability_sets[s];
        yajl_val list;

        if (get_array(caps, "process.capabilities", set_name, &list, err) < 0)
            return -1;
        if (list == NULL)
            continue;
        for (size_t i = 0; i < list->u.array.len; i++) {
            yajl_val name = list->u.array.values[i];
            int number;

            if (!YAJL_IS_STRING(name))
                return dj_error_make(err, 0, "process.capabilities.%s[%zu] must be a string",
                                     set_name, i);
            number = oci_capability_number(name->u.string);
            if (number < 0)
                return dj_error_make(err, 0, "process.capabilities.%s: unknown capability \"%s\"",
                                     set_name, oci_printable(shown, sizeof(shown), name->u.string));
            b->caps_any |= UINT64_C(1) << number;
        }
    }
    return 0;
}

/* root.path, and the source of the last mount onto /etc/resolv.conf (podman and CRI-O bind
 * mount the container's resolv.conf there; a later mount hides an earlier one). */
static int parse_root_and_resolv_conf(yajl_val root, struct oci_bundle *b, dj_error_t *err)
{
    yajl_val root_obj, mounts;

    if (get_object(root, "", "root", &root_obj, err) < 0)
        return -1;
    if (root_obj != NULL && get_string(root_obj, "root", "path", false, &b->root_path, err) < 0)
        return -1;
    if (get_array(root, "", "mounts", &mounts, err) < 0)
        return -1;
    for (size_t i = 0; mounts != NULL && i < mounts->u.array.len; i++) {
        yajl_val entry = mounts->u.array.values[i];
        cleanup_free char *destination = NULL;
        cleanup_free char *source = NULL;

        if (!YAJL_IS_OBJECT(entry))
            return dj_error_make(err, 0, "mounts[%zu] must be an object", i);
        if (get_string(entry, "mounts[]", "destination", false, &destination, err) < 0 ||
            get_string(entry, "mounts[]", "source", false, &source, err) < 0)
            return -1;
        if (destination == NULL || strcmp(destination, "/etc/resolv.conf") != 0)
            continue;
        free(b->resolv_conf_source);
        b->resolv_conf_source = steal_ptr(&source);
    }
    return 0;
}

/* Is mount ENTRY a bind mount? runc and crun both bind when the type is "bind" or an option
 * is "bind" or "rbind", whatever else the entry says. */
static int mount_is_bind(yajl_val entry, size_t i, const char *type, bool *out, dj_error_t *err)
{
    yajl_val options;

    *out = type != NULL && strcmp(type, "bind") == 0;
    if (get_array(entry, "mounts[]", "options", &options, err) < 0)
        return -1;
    for (size_t k = 0; options != NULL && k < options->u.array.len; k++) {
        yajl_val o = options->u.array.values[k];

        if (!YAJL_IS_STRING(o))
            return dj_error_make(err, 0, "mounts[%zu].options[%zu] must be a string", i, k);
        if (strcmp(o->u.string, "bind") == 0 || strcmp(o->u.string, "rbind") == 0)
            *out = true;
    }
    return 0;
}

/* Every bind mount's source and destination: a host socket (or a directory holding one) that
 * the container sees is a way around the jail (lib/jail/sockmount.c decides which). */
static int parse_bind_mounts(yajl_val root, struct oci_bundle *b, dj_error_t *err)
{
    yajl_val mounts;

    if (get_array(root, "", "mounts", &mounts, err) < 0)
        return -1;
    if (mounts == NULL)
        return 0;
    b->bind_mounts = calloc(mounts->u.array.len + 1, sizeof(*b->bind_mounts));
    if (b->bind_mounts == NULL)
        return dj_error_make(err, ENOMEM, "mounts");
    for (size_t i = 0; i < mounts->u.array.len; i++) {
        yajl_val entry = mounts->u.array.values[i];
        cleanup_free char *type = NULL;
        cleanup_free char *source = NULL;
        cleanup_free char *destination = NULL;
        bool bind;

        if (!YAJL_IS_OBJECT(entry))
            return dj_error_make(err, 0, "mounts[%zu] must be an object", i);
        if (get_string(entry, "mounts[]", "type", false, &type, err) < 0 ||
            get_string(entry, "mounts[]", "source", false, &source, err) < 0 ||
            get_string(entry, "mounts[]", "destination", false, &destination, err) < 0 ||
            mount_is_bind(entry, i, type, &bind, err) < 0)
            return -1;
        if (!bind)
            continue;
        if (source == NULL || source[0] == '\0')
            return dj_error_make(err, 0, "mounts[%zu] is a bind mount without a source", i);
        if (strlen(source) >= PATH_MAX)
            return dj_error_make(err, 0, "mounts[%zu]: the source is longer than %d bytes", i,
                                 PATH_MAX - 1);
        b->bind_mounts[b->n_bind_mounts].source = steal_ptr(&source);
        b->bind_mounts[b->n_bind_mounts].destination = steal_ptr(&destination);
        b->n_bind_mounts++;
    }
    return 0;
}

int oci_bundle_parse(const char *buf, size_t len, struct oci_bundle *b, dj_error_t *err)
{
    cleanup_tree yajl_val root = NULL;

    memset(b, 0, sizeof(*b));
    if (json_parse_object(buf, len, OCI_CONFIG_MAX_BYTES, &root, err) < 0)
        return -1;
    if (parse_annotations(root, &b->annotations, &b->n_annotations, NULL, err) < 0 ||
        parse_namespaces(root, b, err) < 0 || parse_capabilities(root, b, err) < 0 ||
        parse_root_and_resolv_conf(root, b, err) < 0 || parse_bind_mounts(root, b, err) < 0) {
        oci_bundle_free(b);
        return -1;
    }
    return 0;
}

void oci_bundle_free(struct oci_bundle *b)
{
    if (b == NULL)
        return;
    annotations_free(b->annotations, b->n_annotations);
    free(b->netns_path);
    free(b->root_path);
    free(b->resolv_conf_source);
    for (size_t i = 0; i < b->n_bind_mounts; i++) {
        free(b->bind_mounts[i].source);
        free(b->bind_mounts[i].destination);
    }
    free(b->bind_mounts);
    memset(b, 0, sizeof(*b));
}

/* ---- names ----------------------------------------------------------------------------- */

bool oci_id_is_safe(const char *id)
{
    size_t len;

    if (id == NULL || id[0] == '\0' || id[0] == '.')
        return false;
    len = strlen(id);
    if (len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Linux capabilities by number (include/uapi/linux/capability.h). Spelled out rather than
 * taken from the installed header so that a build on old headers still knows every name. */
static const char *const capability_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

int oci_capability_number(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(capability_names) / sizeof(capability_names[0]); i++)
        if (strcmp(name, capability_names[i]) == 0)
            return (int)i;
    return -1;
}

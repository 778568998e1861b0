/* ocihooks.c: see ocihooks.h. yajl's event parser feeds yajl's generator one event at a time;
 * a stack of frame kinds (the root object, "hooks", a stage's array, one hook object) says
 * where an event stands, which is all the edit needs to know. */
#include "jail/ocihooks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "base/cleanup.h"

enum frame {
    FRAME_OTHER,
    FRAME_ROOT,    /* the document's object */
    FRAME_HOOKS,   /* root."hooks" */
    FRAME_STAGE,   /* an array of root."hooks" */
    FRAME_HOOK,    /* one hook object in such an array */
    FRAME_PROCESS, /* root."process" */
    FRAME_CAPS,    /* root."process"."capabilities" */
    FRAME_CAPSET,  /* one of its arrays (bounding, effective, …) */
};

/* Which of root."hooks"'s arrays dnsjail adds to. */
enum our_stage { STAGE_START, STAGE_STOP, N_STAGES, STAGE_NONE = N_STAGES };

struct edit {
    const struct dj_ocihooks_spec *spec;
    yajl_gen gen;
    enum frame stack[DJ_OCIHOOKS_MAX_DEPTH];
    enum our_stage stage_of[DJ_OCIHOOKS_MAX_DEPTH]; /* for FRAME_STAGE frames */
    size_t depth;
    /* The key that the next value belongs to, where it matters (in ROOT, HOOKS, HOOK). */
    enum { KEY_OTHER, KEY_HOOKS, KEY_STAGE, KEY_PATH, KEY_PROCESS, KEY_CAPS } key;
    enum our_stage key_stage;
    bool seen_hooks;
    bool seen_stage[N_STAGES];
    bool already;
    bool inject;       /* add our hooks (the second pass, when none is there) */
    bool drop_net_raw; /* leave CAP_NET_RAW out of every capability set */
    bool seen_process;
    size_t dropped;
    dj_error_t *err;
    bool failed; /* err is set */
};

static const char *hook_basename(const char *path, size_t len, size_t *base_len)
{
    size_t start = len;

    while (start > 0 && path[start - 1] != '/')
        start--;
    *base_len = len - start;
    return path + start;
}

static int refuse(struct edit *e, const char *what)
{
    if (!e->failed)
        dj_error_make(e->err, EINVAL, "%s", what);
    e->failed = true;
    return 0; /* cancels the parse */
}

static bool gen_str(struct edit *e, const char *s)
{
    return yajl_gen_string(e->gen, (const unsigned char *)s, strlen(s)) == yajl_gen_status_ok;
}

static const char *stage_name(const struct edit *e, enum our_stage stage)
{
    return stage == STAGE_START ? e->spec->start_stage : "poststop";
}

/* One hook object: {"path": …, "args": ["dnsjail-hook", [--config FILE,] [--profile NAME,]
 * STAGE], …}. */
static bool gen_hook(struct edit *e, enum our_stage stage)
{
    bool ok = yajl_gen_map_open(e->gen) == yajl_gen_status_ok && gen_str(e, "path") &&
              gen_str(e, e->spec->hook_path) && gen_str(e, "args") &&
              yajl_gen_array_open(e->gen) == yajl_gen_status_ok && gen_str(e, "dnsjail-hook");

    if (ok && e->spec->config_path != NULL)
        ok = gen_str(e, "--config") && gen_str(e, e->spec->config_path);
    if (ok && e->spec->profile != NULL)
        ok = gen_str(e, "--profile") && gen_str(e, e->spec->profile);
    ok = ok && gen_str(e, stage_name(e, stage)) &&
         yajl_gen_array_close(e->gen) == yajl_gen_status_ok && gen_str(e, "timeout") &&
         yajl_gen_integer(e->gen, e->spec->timeout_s) == yajl_gen_status_ok &&
         yajl_gen_map_close(e->gen) == yajl_gen_status_ok;
    return ok;
}

/* "STAGE": [ours] */
static bool gen_stage_member(struct edit *e, enum our_stage stage)
{
    e->seen_stage[stage] = true;
    return gen_str(e, stage_name(e, stage)) && yajl_gen_array_open(e->gen) == yajl_gen_status_ok &&
           gen_hook(e, stage) && yajl_gen_array_close(e->gen) == yajl_gen_status_ok;
}

/* The stages the hooks object lacked, before it closes. */
static bool gen_missing_stages(struct edit *e)
{
    for (enum our_stage s = STAGE_START; s < N_STAGES; s++)
        if (!e->seen_stage[s] && !gen_stage_member(e, s))
            return false;
    return true;
}

/* {"START": [ours], "poststop": [ours]}, where the document had no "hooks" (or null). */
static bool gen_hooks_object(struct edit *e)
{
    e->seen_hooks = true;
    return yajl_gen_map_open(e->gen) == yajl_gen_status_ok && gen_missing_stages(e) &&
           yajl_gen_map_close(e->gen) == yajl_gen_status_ok;
}

static enum frame top(const struct edit *e)
{
    return e->depth == 0 ? FRAME_OTHER : e->stack[e->depth - 1];
}

static int gen_result(struct edit *e, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok)
        return refuse(e, "config.json cannot be written back (nested too deep?)");
    return 1;
}

/* Before a scalar value. Returns 0 (refused), 1 (write it) or 2 (written instead): the value
 * of "hooks" or of one of our stages may be null, which counts as missing, and nothing else. */
static int before_scalar(struct edit *e, bool is_null)
{
    if (e->depth == 0)
        return refuse(e, "config.json is not a JSON object");
    if (top(e) == FRAME_ROOT && e->key == KEY_HOOKS) {
        if (!is_null)
            return refuse(e, "config.json: \"hooks\" is not an object");
        if (!e->inject)
            return 1;
        return gen_hooks_object(e) ? 2 : refuse(e, "config.json cannot be written back");
    }
    if (top(e) == FRAME_HOOKS && e->key == KEY_STAGE && e->key_stage != STAGE_NONE) {
        if (!is_null)
            return refuse(e, "config.json: a hook stage is not an array");
        if (!e->inject)
            return 1;
        /* The stage's key is out already; its value becomes [ours]. */
        return yajl_gen_array_open(e->gen) == yajl_gen_status_ok && gen_hook(e, e->key_stage) &&
                       yajl_gen_array_close(e->gen) == yajl_gen_status_ok
                   ? 2
                   : refuse(e, "config.json cannot be written back");
    }
    if (top(e) == FRAME_STAGE)
        return refuse(e, "config.json: a hook is not an object");
    if (top(e) == FRAME_ROOT && e->key == KEY_PROCESS && !is_null)
        return refuse(e, "config.json: \"process\" is not an object");
    if (top(e) == FRAME_PROCESS && e->key == KEY_CAPS && !is_null)
        return refuse(e, "config.json: \"process\".\"capabilities\" is not an object");
    return 1;
}

static int on_null(void *ctx)
{
    struct edit *e = ctx;
    int r = before_scalar(e, true);

    return r == 1 ? gen_result(e, yajl_gen_null(e->gen)) : r == 2;
}

static int on_boolean(void *ctx, int value)
{
    struct edit *e = ctx;
    int r = before_scalar(e, false);

    return r != 1 ? 0 : gen_result(e, yajl_gen_bool(e->gen, value));
}

static int on_number(void *ctx, const char *s, size_t len)
{
    struct edit *e = ctx;
    int r = before_scalar(e, false);

    return r != 1 ? 0 : gen_result(e, yajl_gen_number(e->gen, s, len));
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct edit *e = ctx;
    int r = before_scalar(e, false);

    if (r != 1)
        return 0;
    /* A capability set names each capability as "CAP_X" (the runtime refuses anything else). */
    if (top(e) == FRAME_CAPSET && e->drop_net_raw && len == strlen("CAP_NET_RAW") &&
        memcmp(s, "CAP_NET_RAW", len) == 0) {
        e->dropped++;
        return 1;
    }
    if (top(e) == FRAME_HOOK && e->key == KEY_PATH) {
        size_t ours_len, theirs_len;
        const char *ours = hook_basename(e->spec->hook_path, strlen(e->spec->hook_path), &ours_len);
        const char *theirs = hook_basename((const char *)s, len, &theirs_len);

        if (ours_len == theirs_len && memcmp(ours, theirs, ours_len) == 0)
            e->already = true;
    }
    return gen_result(e, yajl_gen_string(e->gen, s, len));
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct edit *e = ctx;

    e->key = KEY_OTHER;
    if (top(e) == FRAME_ROOT && len == 5 && memcmp(s, "hooks", 5) == 0) {
        if (e->seen_hooks)
            return refuse(e, "config.json: \"hooks\" is there twice");
        e->seen_hooks = true;
        e->key = KEY_HOOKS;
    } else if (top(e) == FRAME_HOOKS) {
        e->key = KEY_STAGE;
        e->key_stage = STAGE_NONE;
        for (enum our_stage st = STAGE_START; st < N_STAGES; st++) {
            const char *name = stage_name(e, st);

            if (strlen(name) == len && memcmp(s, name, len) == 0) {
                if (e->seen_stage[st])
                    return refuse(e, "config.json: a hook stage is there twice");
                e->seen_stage[st] = true;
                e->key_stage = st;
            }
        }
        /* Another stage (STAGE_NONE) is left as it is; only its hooks' paths are looked at. */
    } else if (top(e) == FRAME_HOOK && len == 4 && memcmp(s, "path", 4) == 0) {
        e->key = KEY_PATH;
    } else if (top(e) == FRAME_ROOT && len == 7 && memcmp(s, "process", 7) == 0) {
        /* Twice, the runtime would read the last: a first one could hide its capabilities. */
        if (e->seen_process)
            return refuse(e, "config.json: \"process\" is there twice");
        e->seen_process = true;
        e->key = KEY_PROCESS;
    } else if (top(e) == FRAME_PROCESS && len == 12 && memcmp(s, "capabilities", 12) == 0) {
        e->key = KEY_CAPS;
    }
    return gen_result(e, yajl_gen_string(e->gen, s, len));
}

static int push(struct edit *e, enum frame f, enum our_stage stage)
{
    if (e->depth >= DJ_OCIHOOKS_MAX_DEPTH)
        return refuse(e, "config.json is nested too deep");
    e->stage_of[e->depth] = stage;
    e->stack[e->depth++] = f;
    e->key = KEY_OTHER;
    return 1;
}

static int on_start_map(void *ctx)
{
    struct edit *e = ctx;
    enum frame f = FRAME_OTHER;

    if (e->depth == 0)
        f = FRAME_ROOT;
    else if (top(e) == FRAME_ROOT && e->key == KEY_HOOKS)
        f = FRAME_HOOKS;
    else if (top(e) == FRAME_HOOKS && e->key == KEY_STAGE && e->key_stage != STAGE_NONE)
        return refuse(e, "config.json: a hook stage is not an array");
    else if (top(e) == FRAME_STAGE)
        f = FRAME_HOOK;
    else if (top(e) == FRAME_ROOT && e->key == KEY_PROCESS)
        f = FRAME_PROCESS;
    else if (top(e) == FRAME_PROCESS && e->key == KEY_CAPS)
        f = FRAME_CAPS;
    else if (top(e) == FRAME_CAPS)
        return refuse(e, "config.json: a capability set is not an array");
    return push(e, f, STAGE_NONE) && gen_result(e, yajl_gen_map_open(e->gen));
}

static int on_end_map(void *ctx)
{
    struct edit *e = ctx;
    enum frame f = top(e);

    if (e->inject &&
        ((f == FRAME_HOOKS && !gen_missing_stages(e)) ||
         (f == FRAME_ROOT && !e->seen_hooks && !(gen_str(e, "hooks") && gen_hooks_object(e)))))
        return refuse(e, "config.json cannot be written back");
    e->depth--;
    e->key = KEY_OTHER;
    return gen_result(e, yajl_gen_map_close(e->gen));
}

static int on_start_array(void *ctx)
{
    struct edit *e = ctx;
    enum frame f = FRAME_OTHER;
    enum our_stage stage = STAGE_NONE;

    if (e->depth == 0)
        return refuse(e, "config.json is not a JSON object");
    if (top(e) == FRAME_ROOT && e->key == KEY_HOOKS)
        return refuse(e, "config.json: \"hooks\" is not an object");
    if (top(e) == FRAME_HOOKS && e->key == KEY_STAGE) {
        f = FRAME_STAGE;
        stage = e->key_stage;
    } else if (top(e) == FRAME_STAGE) {
        return refuse(e, "config.json: a hook is not an object");
    } else if (top(e) == FRAME_ROOT && e->key == KEY_PROCESS) {
        return refuse(e, "config.json: \"process\" is not an object");
    } else if (top(e) == FRAME_PROCESS && e->key == KEY_CAPS) {
        return refuse(e, "config.json: \"process\".\"capabilities\" is not an object");
    } else if (top(e) == FRAME_CAPS) {
        f = FRAME_CAPSET;
    } else if (top(e) == FRAME_CAPSET) {
        return refuse(e, "config.json: a capability set holds something else than names");
    }
    return push(e, f, stage) && gen_result(e, yajl_gen_array_open(e->gen));
}

static int on_end_array(void *ctx)
{
    struct edit *e = ctx;
    enum our_stage stage = e->stage_of[e->depth - 1];

    if (e->inject && top(e) == FRAME_STAGE && stage != STAGE_NONE && !gen_hook(e, stage))
        return refuse(e, "config.json cannot be written back");
    e->depth--;
    e->key = KEY_OTHER;
    return gen_result(e, yajl_gen_array_close(e->gen));
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

static void gen_freep(yajl_gen *g)
{
    if (*g != NULL)
        yajl_gen_free(*g);
}

static void handle_freep(yajl_handle *h)
{
    if (*h != NULL)
        yajl_free(*h);
}

/* One pass over the document into E's generator. */
static int run_pass(struct edit *e, const char *json, size_t len)
{
    __attribute__((cleanup(handle_freep))) yajl_handle parser = yajl_alloc(&callbacks, NULL, e);

    if (parser == NULL)
        return dj_error_make(e->err, ENOMEM, "config.json parser");
    if (yajl_parse(parser, (const unsigned char *)json, len) != yajl_status_ok ||
        yajl_complete_parse(parser) != yajl_status_ok) {
        if (e->failed)
            return -1;
        unsigned char *msg = yajl_get_error(parser, 0, (const unsigned char *)json, len);
        size_t msg_len = msg != NULL ? strcspn((const char *)msg, "\n") : 0;
        int r;

        /* yajl's message ends with a newline; the error is one line. */
        r = dj_error_make(e->err, EINVAL, "config.json is not valid JSON (%.*s)", (int)msg_len,
                          msg != NULL ? (const char *)msg : "");
        if (msg != NULL)
            yajl_free_error(parser, msg);
        return r;
    }
    if (e->failed)
        return -1;
    if (e->depth != 0)
        return dj_error_make(e->err, EINVAL, "config.json ends inside a value");
    return 0;
}

int dj_ocihooks_add(const char *json, size_t len, const struct dj_ocihooks_spec *spec, char **out,
                    size_t *out_len, dj_error_t *err)
{
    __attribute__((cleanup(gen_freep))) yajl_gen scan = yajl_gen_alloc(NULL);
    __attribute__((cleanup(gen_freep))) yajl_gen gen = yajl_gen_alloc(NULL);
    struct edit e;
    const unsigned char *buf;
    size_t buf_len;
    bool already;

    *out = NULL;
    *out_len = 0;
    if (scan == NULL || gen == NULL)
        return dj_error_make(err, ENOMEM, "config.json writer");
    /* First a pass that only looks (is a dnsjail-hook there? is the document one we
     * understand?), then the pass that writes what changes. */
    memset(&e, 0, sizeof(e));
    e.spec = spec;
    e.gen = scan;
    e.err = err;
    if (run_pass(&e, json, len) < 0)
        return -1;
    already = e.already;
    if (already && !spec->drop_cap_net_raw)
        return DJ_OCIHOOKS_ALREADY;
    memset(&e, 0, sizeof(e));
    e.spec = spec;
    e.gen = gen;
    e.err = err;
    e.inject = !already;
    e.drop_net_raw = spec->drop_cap_net_raw;
    if (run_pass(&e, json, len) < 0)
        return -1;
    if (already && e.dropped == 0)
        return DJ_OCIHOOKS_ALREADY;
    if (yajl_gen_get_buf(gen, &buf, &buf_len) != yajl_gen_status_ok)
        return dj_error_make(err, ENOMEM, "config.json writer");
    *out = malloc(buf_len + 1);
    if (*out == NULL)
        return dj_error_make(err, ENOMEM, "config.json copy");
    memcpy(*out, buf, buf_len);
    (*out)[buf_len] = '\0';
    *out_len = buf_len;
    return already ? DJ_OCIHOOKS_ALREADY : DJ_OCIHOOKS_ADDED;
}

/* ocihooks.h: adding dnsjail's hooks to a bundle's config.json, for engines that read no
 * hooks.d (Docker, containerd): dnsjail-runtime rewrites the file before the real runtime
 * reads it.
 *
 * The document is streamed through, not rebuilt from a tree: every member the engine wrote comes
 * out as it came in (numbers keep their spelling, order is kept), and only the hooks object
 * changes: dnsjail's start hook is appended to the start stage's array (after the engine's own
 * hooks, such as Docker's network set-up at prestart) and its poststop hook to "poststop",
 * creating the arrays or the "hooks" object where they are missing; and, when the admin asks,
 * CAP_NET_RAW leaves the process's capability sets.
 * Refused (fail closed, the container must not start unjailed by an edit we did not
 * understand): anything but one JSON object, a "hooks" or a stage that is there twice or is
 * not an object / array (null counts as missing), invalid JSON or UTF-8, nesting deeper than
 * DJ_OCIHOOKS_MAX_DEPTH. A config.json that already runs a dnsjail-hook at any stage (hooks.d
 * put it there, or a second wrapper) is left alone. Owns: that edit; no I/O. */
#ifndef DNSJAIL_OCIHOOKS_H
#define DNSJAIL_OCIHOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define DJ_OCIHOOKS_MAX_DEPTH 64

struct dj_ocihooks_spec {
    const char *hook_path;   /* absolute path of dnsjail-hook */
    const char *config_path; /* the hook's --config, or NULL for its default */
    const char *profile;     /* the hook's --profile, or NULL */
    const char *start_stage; /* "prestart" or "createRuntime" */
    unsigned timeout_s;      /* the runtime kills a hook that takes longer */
    bool drop_cap_net_raw;   /* leave CAP_NET_RAW out of the process's capability sets (the
                                admin's drop-cap-net-raw: Docker grants it by default) */
};

enum dj_ocihooks_outcome {
    DJ_OCIHOOKS_ADDED,   /* our hooks were added */
    DJ_OCIHOOKS_ALREADY, /* a dnsjail-hook is there already; none added */
};

/* Edits the config.json JSON (LEN bytes). Returns a dj_ocihooks_outcome, or -1 with ERR saying
 * what was refused. *OUT (malloc'd, NUL-terminated, *OUT_LEN bytes) is the new document when
 * anything changed (hooks added or CAP_NET_RAW dropped), NULL when nothing did. */
int dj_ocihooks_add(const char *json, size_t len, const struct dj_ocihooks_spec *spec, char **out,
                    size_t *out_len, dj_error_t *err);

#endif

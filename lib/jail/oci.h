/* oci.h: what dnsjail reads from the runtime: the OCI state on the hook's stdin and the
 * bundle's config.json. Both are untrusted input, parsed with yajl's tree API.
 * Owns: struct oci_state, struct oci_bundle and their parsers. */
#ifndef DNSJAIL_OCI_H
#define DNSJAIL_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define OCI_STATE_MAX_BYTES (1024 * 1024)
#define OCI_CONFIG_MAX_BYTES (16 * 1024 * 1024)

struct oci_annotation {
    char *key;
    char *value;
};

struct oci_state {
    char *oci_version;
    char *id;     /* required; checked by oci_id_is_safe() before use in paths */
    char *status; /* informational only: runc says "creating", crun "created" */
    pid_t pid;    /* 0 when absent (crun at poststop) */
    char *bundle; /* required, absolute path */
    bool have_annotations;
    struct oci_annotation *annotations;
    size_t n_annotations;
};

/* A bind mount from config.json's mounts: what of the host the container will see. */
struct oci_bind_mount {
    char *source;      /* as written: absolute, or relative to the bundle directory */
    char *destination; /* may be NULL */
};

struct oci_bundle {
    struct oci_annotation *annotations;
    size_t n_annotations;
    bool have_netns;   /* linux.namespaces has a "network" entry */
    char *netns_path;  /* its "path" (absolute), or NULL for a new namespace (absent or "") */
    bool own_pidns;    /* one "pid" entry, without a path: a new pid namespace, whose every
                          process the kernel ends when the container's init exits */
    uint64_t caps_any; /* bit N set: CAP number N appears in any set of process.capabilities */
    char *root_path;   /* root.path as written (relative to the bundle unless absolute); NULL */
    char *resolv_conf_source; /* source of the last mount onto /etc/resolv.conf, or NULL */
    struct oci_bind_mount *bind_mounts; /* mounts of type "bind" or with option bind/rbind */
    size_t n_bind_mounts;
};

/* Parses the state JSON (at most OCI_STATE_MAX_BYTES). Missing id/bundle, wrong types,
 * duplicate annotation keys and a negative or huge pid are errors. In both parsers a field
 * that is null counts as absent, and messages do not say where the input came from: the
 * caller adds that (dj_error_wrap). */
int oci_state_parse(const char *buf, size_t len, struct oci_state *st, dj_error_t *err);
void oci_state_free(struct oci_state *st);

/* Parses config.json (at most OCI_CONFIG_MAX_BYTES). Unknown capability names are errors
 * (fail closed), and so is a key that differs only in case from one dnsjail reads, such as
 * "Process": runc's Go decoder would read it and crun would not. */
int oci_bundle_parse(const char *buf, size_t len, struct oci_bundle *b, dj_error_t *err);
void oci_bundle_free(struct oci_bundle *b);

/* A container id we accept in file names: 1..128 of [A-Za-z0-9_.-], not starting with '.'. */
bool oci_id_is_safe(const char *id);

/* The capability number for "CAP_NET_ADMIN" etc., or -1. */
int oci_capability_number(const char *name);

/* Room for oci_printable()'s output, including the terminating NUL. */
#define OCI_PRINTABLE_SIZE 128

/* Copies untrusted text S into OUT so that it can be quoted in a one-line message: bytes
 * outside printable ASCII, '"' and '\\' are escaped (\xNN, \", \\) and long text is cut
 * with "...". Returns OUT. */
const char *oci_printable(char *out, size_t out_size, const char *s);

#endif

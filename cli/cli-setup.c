#include "config.h"

/* `dnsjail setup ENGINE`: registers dnsjail-runtime with a container engine without rewriting
 * the engine's own configuration: Docker's daemon.json gets a "runtimes" entry merged in (every
 * other key kept, in its place); containerd, CRI-O and podman get a drop-in file of ours in the
 * directory they read drop-ins from. --dry-run shows what would be written, --undo takes back
 * exactly what setup added. --root DIR works on a tree below DIR (an image being built, or a
 * test). The engine must be restarted (or, for containerd, its main configuration must import
 * the drop-in directory: said when it does not). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/file.h"
#include "cli.h"

#define SETUP_FILE_MAX (1u << 20)
#define RUNTIME_PATH DJ_BINDIR "/dnsjail-runtime"
#define MAX_PROFILES 16

struct setup {
    const char *root; /* "" or a directory the engine's paths are below */
    bool dry_run;
    bool undo;
    bool make_default;
    const char *profiles[MAX_PROFILES];
    size_t n_profiles;
    const char *prior_default; /* docker --undo: the default-runtime before setup, or NULL */
};

/* ---- files ------------------------------------------------------------------------------- */

static char *under_root(const struct setup *s, const char *path)
{
    char *out = NULL;

    return asprintf(&out, "%s%s", s->root, path) < 0 ? NULL : out;
}

/* The file's text, or NULL with *MISSING when it is not there. */
static char *read_text(const char *path, bool *missing, dj_error_t *err)
{
    char *text = NULL;

    *missing = false;
    if (dj_file_read_at(AT_FDCWD, path, SETUP_FILE_MAX, &text, NULL) == 0)
        return text;
    if (errno == ENOENT) {
        *missing = true;
        return NULL;
    }
    dj_error_make(err, errno, "%s", path);
    return NULL;
}

/* A new file beside PATH, renamed over it: the engine reads the old file or the new one. */
static int write_text(const char *path, const char *text, dj_error_t *err)
{
    cleanup_free char *dir = strdup(path);
    cleanup_free char *tmp = NULL;
    cleanup_close int fd = -1;
    size_t len = strlen(text), done = 0;
    char *slash = dir != NULL ? strrchr(dir, '/') : NULL;

    if (slash == NULL || asprintf(&tmp, "%s.dnsjail-%ld", path, (long)getpid()) < 0)
        return dj_error_make(err, ENOMEM, "%s", path);
    *slash = '\0';
    if (dir[0] != '\0' && dj_file_mkdir_p(dir, 0755, 0755, err) < 0)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return dj_error_make(err, errno, "%s", tmp);
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            dj_error_make(err, n < 0 ? errno : EIO, "%s", tmp);
            unlink(tmp);
            return -1;
        }
        done += (size_t)n;
    }
    if (rename(tmp, path) < 0) {
        dj_error_make(err, errno, "%s", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes (or, --dry-run, shows) NEW as PATH, which held OLD (NULL: missing); NEW NULL removes
 * it. Says what happened in one line, then the new text. */
static int apply_file(const struct setup *s, const char *engine, const char *path, const char *old,
                      const char *new_text, dj_error_t *err)
{
    const char *verb = s->dry_run ? "would " : "";

    if ((old == NULL && new_text == NULL) ||
        (old != NULL && new_text != NULL && strcmp(old, new_text) == 0)) {
        printf("%s: %s: %s\n", engine, path,
               s->undo ? "nothing of dnsjail's there" : "set up already");
        return 0;
    }
    if (new_text == NULL) {
        printf("%s: %s: %sremove it\n", engine, path, verb);
        if (!s->dry_run && unlink(path) < 0)
            return dj_error_make(err, errno, "%s", path);
        return 0;
    }
    printf("%s: %s: %s%s it:\n%s", engine, path, verb, old == NULL ? "create" : "rewrite",
           new_text);
    if (new_text[0] != '\0' && new_text[strlen(new_text) - 1] != '\n')
        printf("\n");
    return s->dry_run ? 0 : write_text(path, new_text, err);
}

/* ---- Docker: daemon.json ----------------------------------------------------------------- */

static bool json_string_is(yajl_val v, const char *want)
{
    return YAJL_IS_STRING(v) && strcmp(v->u.string, want) == 0;
}

/* A runtime entry setup wrote: named dnsjail or dnsjail-PROFILE and holding exactly what
 * setup writes for that name. The name alone proves nothing: an admin's own "dnsjail-ci"
 * (another path, other arguments) is theirs, and setup and --undo leave it alone. */
static bool is_ours(const char *name, yajl_val entry)
{
    const char *profile = NULL;
    yajl_val path, args;

    if (strncmp(name, "dnsjail-", 8) == 0)
        profile = name + 8;
    else if (strcmp(name, "dnsjail") != 0)
        return false;
    if (!YAJL_IS_OBJECT(entry) || entry->u.object.len != (profile != NULL ? 2u : 1u))
        return false;
    path = yajl_tree_get(entry, (const char *[]){"path", NULL}, yajl_t_any);
    if (path == NULL || !json_string_is(path, RUNTIME_PATH))
        return false;
    if (profile == NULL)
        return true;
    args = yajl_tree_get(entry, (const char *[]){"runtimeArgs", NULL}, yajl_t_any);
    return args != NULL && YAJL_IS_ARRAY(args) && args->u.array.len == 2 &&
           json_string_is(args->u.array.values[0], "--profile") &&
           json_string_is(args->u.array.values[1], profile);
}

/* The runtime NAME of daemon.json's "runtimes" (NULL: none). */
static yajl_val runtime_entry(yajl_val root, const char *name)
{
    yajl_val runtimes = root != NULL
                            ? yajl_tree_get(root, (const char *[]){"runtimes", NULL}, yajl_t_object)
                            : NULL;

    for (size_t i = 0; runtimes != NULL && i < runtimes->u.object.len; i++)
        if (strcmp(runtimes->u.object.keys[i], name) == 0)
            return runtimes->u.object.values[i];
    return NULL;
}

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* A value of the tree as it was: numbers keep their spelling, objects their order. */
static void gen_value(yajl_gen g, yajl_val v)
{
    if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            gen_str(g, v->u.object.keys[i]);
            gen_value(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            gen_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_STRING(v)) {
        gen_str(g, YAJL_GET_STRING(v));
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else {
        yajl_gen_null(g);
    }
}

/* "NAME": {"path": dnsjail-runtime[, "runtimeArgs": ["--profile", PROFILE]]} */
static void gen_our_runtime(yajl_gen g, const char *profile)
{
    char name[64];

    snprintf(name, sizeof(name), profile != NULL ? "dnsjail-%s" : "dnsjail", profile);
    gen_str(g, name);
    yajl_gen_map_open(g);
    gen_str(g, "path");
    gen_str(g, RUNTIME_PATH);
    if (profile != NULL) {
        /* Docker writes runtimeArgs unquoted into a shell wrapper: profile names are
         * [a-z0-9-] only, checked before. */
        gen_str(g, "runtimeArgs");
        yajl_gen_array_open(g);
        gen_str(g, "--profile");
        gen_str(g, profile);
        yajl_gen_array_close(g);
    }
    yajl_gen_map_close(g);
}

static void gen_our_runtimes(yajl_gen g, const struct setup *s)
{
    gen_our_runtime(g, NULL);
    for (size_t i = 0; i < s->n_profiles; i++)
        gen_our_runtime(g, s->profiles[i]);
}

/* daemon.json as it should be: EDIT false writes the tree back unchanged (to compare with). */
static char *docker_text(const struct setup *s, yajl_val root, bool edit)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    bool seen_runtimes = false, seen_default = false;
    const unsigned char *buf;
    size_t len;
    char *out = NULL;

    if (g == NULL)
        return NULL;
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_indent_string, "  ");
    yajl_gen_map_open(g);
    for (size_t i = 0; root != NULL && i < root->u.object.len; i++) {
        const char *key = root->u.object.keys[i];
        yajl_val v = root->u.object.values[i];

        if (edit && strcmp(key, "runtimes") == 0 && YAJL_IS_OBJECT(v)) {
            size_t kept = 0;

            seen_runtimes = true;
            for (size_t k = 0; k < v->u.object.len; k++)
                kept += !is_ours(v->u.object.keys[k], v->u.object.values[k]);
            if (s->undo && kept == 0)
                continue; /* it held only ours */
            gen_str(g, key);
            yajl_gen_map_open(g);
            for (size_t k = 0; k < v->u.object.len; k++) {
                if (is_ours(v->u.object.keys[k], v->u.object.values[k]))
                    continue;
                gen_str(g, v->u.object.keys[k]);
                gen_value(g, v->u.object.values[k]);
            }
            if (!s->undo)
                gen_our_runtimes(g, s);
            yajl_gen_map_close(g);
            continue;
        }
        if (edit && strcmp(key, "default-runtime") == 0) {
            seen_default = true;
            /* Taken back only when it names a runtime of ours that goes with it; what it was
             * before setup, where setup's copy of the file says so, comes back. */
            if (s->undo && YAJL_IS_STRING(v) &&
                is_ours(YAJL_GET_STRING(v), runtime_entry(root, YAJL_GET_STRING(v)))) {
                if (s->prior_default != NULL) {
                    gen_str(g, key);
                    gen_str(g, s->prior_default);
                }
                continue;
            }
            gen_str(g, key);
            if (!s->undo && s->make_default)
                gen_str(g, "dnsjail");
            else
                gen_value(g, v);
            continue;
        }
        gen_str(g, key);
        gen_value(g, v);
    }
    if (edit && !s->undo && !seen_runtimes) {
        gen_str(g, "runtimes");
        yajl_gen_map_open(g);
        gen_our_runtimes(g, s);
        yajl_gen_map_close(g);
    }
    if (edit && !s->undo && s->make_default && !seen_default) {
        gen_str(g, "default-runtime");
        gen_str(g, "dnsjail");
    }
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
        out = strndup((const char *)buf, len);
    yajl_gen_free(g);
    return out;
}

static int setup_docker(const struct setup *s, dj_error_t *err)
{
    cleanup_free char *path = under_root(s, "/etc/docker/daemon.json");
    cleanup_free char *text = NULL;
    cleanup_free char *before = NULL;
    cleanup_free char *after = NULL;
    cleanup_free char *backup_path = NULL;
    cleanup_free char *backup = NULL;
    yajl_val root = NULL, backup_root = NULL;
    struct setup u = *s;
    bool missing, no_backup = true, restore = false;
    char msg[256];
    int r;

    if (path == NULL || asprintf(&backup_path, "%s.before-dnsjail", path) < 0)
        return dj_error_make(err, ENOMEM, "path");
    text = read_text(path, &missing, err);
    if (text == NULL && !missing)
        return -1;
    if (text != NULL) {
        root = yajl_tree_parse(text, msg, sizeof(msg));
        if (root == NULL || !YAJL_IS_OBJECT(root)) {
            msg[strcspn(msg, "\n")] = '\0';
            yajl_tree_free(root);
            return dj_error_make(err, 0, "%s: %s; left as it is", path,
                                 root == NULL ? msg : "not a JSON object");
        }
        {
            yajl_val runtimes = yajl_tree_get(root, (const char *[]){"runtimes", NULL}, yajl_t_any);

            if (runtimes != NULL && !YAJL_IS_OBJECT(runtimes)) {
                yajl_tree_free(root);
                return dj_error_make(err, 0, "%s: \"runtimes\" is not an object; left as it is",
                                     path);
            }
        }
    }
    /* A runtime of the admin's under a name setup would write: refused, never replaced. */
    for (size_t i = 0; !s->undo && i <= s->n_profiles; i++) {
        char name[64];
        yajl_val entry;

        snprintf(name, sizeof(name), i == 0 ? "dnsjail" : "dnsjail-%s",
                 i == 0 ? "" : s->profiles[i - 1]);
        entry = runtime_entry(root, name);
        if (entry != NULL && !is_ours(name, entry)) {
            yajl_tree_free(root);
            return dj_error_make(err, 0,
                                 "%s: the runtime \"%s\" there is not one dnsjail setup writes "
                                 "(its path or arguments differ); left as it is: rename or "
                                 "remove it first",
                                 path, name);
        }
    }
    /* setup keeps daemon.json as it found it (empty: there was none) beside it, so that --undo
     * gives back those very bytes when nothing else changed since, and otherwise still the
     * default-runtime that --default replaced. */
    if (s->undo) {
        backup = read_text(backup_path, &no_backup, err);
        if (backup == NULL && !no_backup) {
            yajl_tree_free(root);
            return -1;
        }
        if (backup != NULL && backup[0] != '\0') {
            backup_root = yajl_tree_parse(backup, NULL, 0);
            if (backup_root == NULL || !YAJL_IS_OBJECT(backup_root)) {
                fprintf(stderr, "docker: %s is not JSON: not used\n", backup_path);
                yajl_tree_free(backup_root);
                backup_root = NULL;
                free(backup);
                backup = NULL;
            }
        }
        if (backup_root != NULL) {
            yajl_val v = yajl_tree_get(backup_root, (const char *[]){"default-runtime", NULL},
                                       yajl_t_string);
            if (v != NULL &&
                !is_ours(YAJL_GET_STRING(v), runtime_entry(backup_root, YAJL_GET_STRING(v))))
                u.prior_default = YAJL_GET_STRING(v);
        }
    }
    before = docker_text(&u, root, false);
    after = docker_text(&u, root, true);
    yajl_tree_free(root);
    if (before == NULL || after == NULL) {
        yajl_tree_free(backup_root);
        return dj_error_make(err, ENOMEM, "daemon.json");
    }
    if (backup != NULL) {
        /* What the copy holds, as setup writes JSON: the same as the undone file, or not. */
        cleanup_free char *as_before = docker_text(&u, backup_root, false);

        restore = as_before != NULL && strcmp(as_before, after) == 0;
    }
    yajl_tree_free(backup_root);
    if (restore) {
        printf("docker: %s: %sgive back the file as it was before dnsjail setup (%s)\n", path,
               s->dry_run ? "would " : "", backup_path);
        r = apply_file(s, "docker", path, missing ? NULL : text, backup[0] == '\0' ? NULL : backup,
                       err);
    } else if (s->undo && missing) /* no daemon.json to undo anything in: said, nothing written */
        r = apply_file(s, "docker", path, NULL, NULL, err);
    else {
        /* The first setup's copy is the one to keep: a later one would hold ours. */
        if (!s->undo && !s->dry_run && strcmp(before, after) != 0 &&
            access(backup_path, F_OK) != 0 && write_text(backup_path, missing ? "" : text, err) < 0)
            return -1;
        r = apply_file(s, "docker", path, missing ? NULL : before, after, err);
    }
    if (r == 0 && s->undo && backup != NULL && !s->dry_run && unlink(backup_path) < 0)
        r = dj_error_make(err, errno, "%s", backup_path);
    if (r == 0 && strcmp(before, after) != 0 && !s->dry_run)
        printf("docker: restart dockerd to %s (e.g. systemctl restart docker)%s\n",
               s->undo ? "drop the dnsjail runtimes" : "use it",
               s->undo ? "" : "; then docker run --runtime dnsjail ...");
    return r;
}

/* ---- drop-ins: containerd, CRI-O, podman --------------------------------------------------- */

/* The drop-in each engine reads, and what it holds. */
struct dropin {
    const char *engine;
    const char *path;
    const char *text;
};

static const struct dropin dropins[] = {
    {"containerd", "/etc/containerd/conf.d/dnsjail.toml",
     "# Written by `dnsjail setup containerd`; `dnsjail setup containerd --undo` removes it.\n"
     "# A runtime handler for RuntimeClass \"dnsjail\"; pod_annotations passes a pod's\n"
     "# io.dnsjail.* annotations into the container's config.json, where the hook reads\n"
     "# them (without it the hook sees none and applies default-enable alone).\n"
     "version = 2\n"
     "\n"
     "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.dnsjail]\n"
     "  runtime_type = \"io.containerd.runc.v2\"\n"
     "  pod_annotations = [\"io.dnsjail.*\"]\n"
     "\n"
     "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.dnsjail.options]\n"
     "  BinaryName = \"" RUNTIME_PATH "\"\n"},
    /* What oci-config/crio-dnsjail.conf.in shows, and the dnsjail handler. */
    {"crio", "/etc/crio/crio.conf.d/50-dnsjail.conf",
     "# Written by `dnsjail setup crio`; `dnsjail setup crio --undo` removes it.\n"
     "[crio.runtime]\n"
     "# The hooks.d files run dnsjail-hook for pods with an io.dnsjail.* annotation.\n"
     "hooks_dir = [\n"
     "  \"/usr/share/containers/oci/hooks.d\",\n"
     "  \"/etc/containers/oci/hooks.d\",\n"
     "  \"" DJ_HOOKSDIR "\",\n"
     "]\n"
     "\n"
     "# Handlers that filter annotations pass only those listed.\n"
     "[crio.runtime.runtimes.runc]\n"
     "allowed_annotations = [\"io.dnsjail.enable\", \"io.dnsjail.mode\", \"io.dnsjail.allow\",\n"
     "  \"io.dnsjail.forward\", \"io.dnsjail.profile\"]\n"
     "\n"
     "# RuntimeClass \"dnsjail\": its pods are jailed without an annotation.\n"
     "[crio.runtime.runtimes.dnsjail]\n"
     "runtime_path = \"" RUNTIME_PATH "\"\n"
     "runtime_type = \"oci\"\n"
     "allowed_annotations = [\"io.dnsjail.enable\", \"io.dnsjail.mode\", \"io.dnsjail.allow\",\n"
     "  \"io.dnsjail.forward\", \"io.dnsjail.profile\"]\n"},
    {"podman", "/etc/containers/containers.conf.d/50-dnsjail.conf",
     "# Written by `dnsjail setup podman`; `dnsjail setup podman --undo` removes it.\n"
     "# podman runs the hooks.d file for containers with io.dnsjail.* annotations; this\n"
     "# runtime (podman run --runtime dnsjail) jails a container without them.\n"
     "[engine.runtimes]\n"
     "dnsjail = [\"" RUNTIME_PATH "\"]\n"},
};

/* containerd reads a drop-in only when its main configuration imports it: say so, never edit
 * that file. */
static void containerd_imports_note(const struct setup *s)
{
    cleanup_free char *main_path = under_root(s, "/etc/containerd/config.toml");
    cleanup_free char *text = NULL;
    dj_error_t err = NULL;
    bool missing, found = false;

    if (main_path == NULL)
        return;
    text = read_text(main_path, &missing, &err);
    dj_error_release(&err);
    for (char *line = text; line != NULL && *line != '\0' && !found;) {
        char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

        while (len > 0 && (*line == ' ' || *line == '\t')) {
            line++;
            len--;
        }
        found = len > 7 && strncmp(line, "imports", 7) == 0 &&
                (memmem(line, len, "/etc/containerd/conf.d/*.toml", 29) != NULL ||
                 memmem(line, len, "/etc/containerd/conf.d/dnsjail.toml", 35) != NULL);
        line = end != NULL ? end + 1 : NULL;
    }
    if (!found)
        printf("containerd: %s does not import the drop-in; add this line at its top level:\n"
               "  imports = [\"/etc/containerd/conf.d/*.toml\"]\n",
               main_path);
}

static int setup_dropin(const struct setup *s, const struct dropin *d, dj_error_t *err)
{
    cleanup_free char *path = under_root(s, d->path);
    cleanup_free char *old = NULL;
    bool missing;

    if (path == NULL)
        return dj_error_make(err, ENOMEM, "path");
    old = read_text(path, &missing, err);
    if (old == NULL && !missing)
        return -1;
    if (apply_file(s, d->engine, path, old, s->undo ? NULL : d->text, err) < 0)
        return -1;
    if (s->dry_run)
        return 0;
    if (strcmp(d->engine, "containerd") == 0 && !s->undo)
        containerd_imports_note(s);
    if (strcmp(d->engine, "podman") != 0) /* podman reads its configuration at every run */
        printf("%s: restart %s to %s%s\n", d->engine, d->engine,
               s->undo ? "drop the handler" : "use it",
               s->undo ? "" : "; pods choose it with a RuntimeClass whose handler is dnsjail");
    return 0;
}

/* ---- for `dnsjail status` ------------------------------------------------------------------ */

bool dj_cli_setup_present(const char *engine, char *where, size_t size)
{
    cleanup_free char *text = NULL;
    dj_error_t err = NULL;
    bool missing, present = false;

    if (strcmp(engine, "docker") == 0) {
        yajl_val root, ours;
        const char *got;

        snprintf(where, size, "/etc/docker/daemon.json");
        text = read_text(where, &missing, &err);
        dj_error_release(&err);
        root = text != NULL ? yajl_tree_parse(text, NULL, 0) : NULL;
        ours = yajl_tree_get(root, (const char *[]){"runtimes", "dnsjail", "path", NULL},
                             yajl_t_string);
        got = YAJL_GET_STRING(ours);
        present = got != NULL && strcmp(got, RUNTIME_PATH) == 0;
        yajl_tree_free(root);
        return present;
    }
    for (size_t i = 0; i < sizeof(dropins) / sizeof(dropins[0]); i++) {
        if (strcmp(engine, dropins[i].engine) != 0)
            continue;
        snprintf(where, size, "%s", dropins[i].path);
        text = read_text(where, &missing, &err);
        dj_error_release(&err);
        present = text != NULL && strcmp(text, dropins[i].text) == 0;
    }
    return present;
}

/* ---- the command ------------------------------------------------------------------------- */

static void setup_usage(FILE *out)
{
    fprintf(out,
            "Usage: " DJ_CLI_PROGRAM " setup docker|containerd|crio|podman [--dry-run] [--undo]\n"
            "              [--root DIR] [--default] [--profile NAME]...\n"
            "\n"
            "Registers dnsjail-runtime with a container engine: Docker's daemon.json gets a\n"
            "\"runtimes\" entry (other keys kept), containerd, CRI-O and podman a drop-in file.\n"
            "\n"
            "  --dry-run       show what would be written, change nothing\n"
            "  --undo          remove what setup added\n"
            "  --root DIR      the engine's files below DIR\n"
            "  --default       docker: make dnsjail the default-runtime\n"
            "  --profile NAME  docker: also a runtime dnsjail-NAME for profile.NAME.*\n"
            "  -h, --help      this text\n");
}

int dj_cli_setup(const struct dj_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"undo", no_argument, NULL, 'u'},
        {"root", required_argument, NULL, 'r'},
        {"default", no_argument, NULL, 'd'},
        {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct setup s = {.root = ""};
    dj_error_t err = NULL;
    const char *engine;
    int opt, r;

    (void)cli;
    optind = 0; /* glibc: start over; options may come after the engine's name */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            s.dry_run = true;
            break;
        case 'u':
            s.undo = true;
            break;
        case 'r':
            s.root = optarg;
            break;
        case 'd':
            s.make_default = true;
            break;
        case 'p':
            if (!dj_adminconf_profile_name_ok(optarg, strlen(optarg)) ||
                s.n_profiles >= MAX_PROFILES) {
                fprintf(stderr,
                        DJ_CLI_PROGRAM " setup: --profile \"%s\": a profile name is "
                                       "[a-z0-9-] (at most %d of them)\n",
                        optarg, MAX_PROFILES);
                return 2;
            }
            s.profiles[s.n_profiles++] = optarg;
            break;
        case 'h':
            setup_usage(stdout);
            return 0;
        default:
            setup_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        setup_usage(stderr);
        return 2;
    }
    engine = argv[optind];
    if ((s.make_default || s.n_profiles > 0) && strcmp(engine, "docker") != 0) {
        fprintf(stderr,
                DJ_CLI_PROGRAM " setup %s: --default and --profile are for docker; "
                               "elsewhere a pod names its profile with the annotation "
                               "io.dnsjail.profile\n",
                engine);
        return 2;
    }
    r = 1;
    if (strcmp(engine, "docker") == 0)
        r = setup_docker(&s, &err);
    for (size_t i = 0; i < sizeof(dropins) / sizeof(dropins[0]); i++)
        if (strcmp(engine, dropins[i].engine) == 0)
            r = setup_dropin(&s, &dropins[i], &err);
    if (r == 1) {
        fprintf(stderr,
                DJ_CLI_PROGRAM " setup: unknown engine \"%s\" (docker, containerd, crio, podman)\n",
                engine);
        return 2;
    }
    if (r < 0) {
        fprintf(stderr, DJ_CLI_PROGRAM " setup %s: %s\n", engine, dj_error_msg(&err));
        dj_error_release(&err);
        return 1;
    }
    return 0;
}

#include "config.h"
#include "jail/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/file.h"
#include "jail/policy.h"

#define RECORD_MAX_BYTES 8192
/* What a reader takes: a record, or the policy, whose allow list alone may be
 * DJ_ALLOW_MAX_BYTES (a reader cut at RECORD_MAX_BYTES once turned a pod with a long allow list
 * into a policy conflict for its second member). */
#define STATE_FILE_MAX_BYTES (DJ_ALLOW_MAX_BYTES + 64 * 1024)

static char *path_join(const char *a, const char *b, const char *c)
{
    char *out = NULL;

    if (asprintf(&out, "%s/%s%s%s", a, b, c != NULL ? "/" : "", c != NULL ? c : "") < 0)
        return NULL;
    return out;
}

/* Writes DATA to PATH atomically (temporary file, then rename). */
static int write_file(const char *path, const char *data, dj_error_t *err)
{
    cleanup_free char *tmp = NULL;
    cleanup_close int fd = -1;
    size_t len = strlen(data);

    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return dj_error_make(err, ENOMEM, "write %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return dj_error_make(err, errno, "create %s", tmp);
    if (write(fd, data, len) != (ssize_t)len)
        return dj_error_make(err, errno, "write %s", tmp);
    if (rename(tmp, path) < 0)
        return dj_error_make(err, errno, "rename %s", tmp);
    return 0;
}

/* Reads a record or the policy; *out = NULL when it does not exist. */
static int read_file(const char *path, char **out, dj_error_t *err)
{
    if (dj_file_read_at(AT_FDCWD, path, STATE_FILE_MAX_BYTES, out, NULL) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    return dj_error_make(err, errno, "read %s", path);
}

#define REMOVE_MAX_DEPTH 16 /* the hook makes two levels; anything deeper is not ours */

/* Removes NAME (relative to PARENT_FD) and everything below it, never following a link: the
 * metrics directory is writable by the daemons' user, so a directory there could be swapped
 * for a link between reading it and opening it; descriptors and O_NOFOLLOW leave nothing to
 * swap. */
static void remove_tree_at(int parent_fd, const char *name, int depth)
{
    int fd = depth < REMOVE_MAX_DEPTH
                 ? openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (dir == NULL) {
        if (fd >= 0)
            close(fd);
        unlinkat(parent_fd, name, 0); /* a file or a link, or not there */
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
            remove_tree_at(dirfd(dir), de->d_name, depth + 1);
        else
            unlinkat(dirfd(dir), de->d_name, 0);
    }
    closedir(dir);
    unlinkat(parent_fd, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path, 0);
}

int dj_state_open(struct dj_state *st, const char *dir, dj_error_t *err)
{
    cleanup_free char *containers = path_join(dir, "containers", NULL);
    cleanup_free char *netns = path_join(dir, "netns", NULL);
    cleanup_free char *lock = path_join(dir, "lock", NULL);
    int fd;

    st->dir = NULL;
    st->lock_fd = -1;
    if (containers == NULL || netns == NULL || lock == NULL)
        return dj_error_make(err, ENOMEM, "state directory");
    /* Searchable by all, listable by none: the spare daemons (an unprivileged user) reach
     * their pool below it (hook/spares.c); what the jails record stays in 0700 folders. */
    if (dj_file_mkdir_p(dir, 0755, 0711, err) < 0 ||
        dj_file_mkdir_p(containers, 0755, 0700, err) < 0 ||
        dj_file_mkdir_p(netns, 0755, 0700, err) < 0)
        return -1;
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", lock);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            close(fd);
            return dj_error_make(err, errno, "lock %s", lock);
        }
    }
    st->dir = strdup(dir);
    if (st->dir == NULL) {
        close(fd);
        return dj_error_make(err, ENOMEM, "state directory");
    }
    st->lock_fd = fd;
    return 0;
}

void dj_state_close(struct dj_state *st)
{
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    st->lock_fd = -1;
    free(st->dir);
    st->dir = NULL;
}

char *dj_state_netns_key(const struct dj_netns *ns)
{
    char *key = NULL;

    if (asprintf(&key, "%" PRIu64 "-%" PRIu64, (uint64_t)ns->dev, (uint64_t)ns->ino) < 0)
        return NULL;
    return key;
}

int dj_state_netns_key_parse(const char *key, dev_t *dev, ino_t *ino)
{
    uint64_t d, i;
    int used = 0;

    if (sscanf(key, "%" SCNu64 "-%" SCNu64 "%n", &d, &i, &used) != 2 || key[used] != '\0')
        return -1;
    *dev = (dev_t)d;
    *ino = (ino_t)i;
    return 0;
}

static char *container_path(struct dj_state *st, const char *id)
{
    char *path = NULL;

    if (asprintf(&path, "%s/containers/%s", st->dir, id) < 0)
        return NULL;
    return path;
}

static char *ns_path(struct dj_state *st, const char *key, const char *leaf)
{
    char *path = NULL;

    if (asprintf(&path, "%s/netns/%s%s%s", st->dir, key, leaf != NULL ? "/" : "",
                 leaf != NULL ? leaf : "") < 0)
        return NULL;
    return path;
}

int dj_state_write_container(struct dj_state *st, const char *id,
                             const struct dj_container_record *rec, dj_error_t *err)
{
    cleanup_free char *path = container_path(st, id);
    cleanup_free char *text = NULL;

    if (path == NULL || asprintf(&text, "netns-key=%s\nnetns-path=%s\n%s", rec->netns_key,
                                 rec->netns_path != NULL ? rec->netns_path : "",
                                 rec->own_pidns ? "pidns=own\n" : "") < 0)
        return dj_error_make(err, ENOMEM, "container record");
    return write_file(path, text, err);
}

int dj_state_read_container(struct dj_state *st, const char *id, struct dj_container_record *rec,
                            bool *found, dj_error_t *err)
{
    cleanup_free char *path = container_path(st, id);
    cleanup_free char *text = NULL;
    char *line, *save = NULL;

    memset(rec, 0, sizeof(*rec));
    *found = false;
    if (path == NULL)
        return dj_error_make(err, ENOMEM, "container record");
    if (read_file(path, &text, err) < 0)
        return -1;
    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "netns-key=", 10) == 0)
            rec->netns_key = strdup(line + 10);
        else if (strncmp(line, "netns-path=", 11) == 0 && line[11] != '\0')
            rec->netns_path = strdup(line + 11);
        else if (strcmp(line, "pidns=own") == 0)
            rec->own_pidns = true;
    }
    if (rec->netns_key == NULL) {
        dj_container_record_free(rec);
        return dj_error_make(err, 0, "%s: damaged record", path);
    }
    *found = true;
    return 0;
}

bool dj_state_container_recorded(const char *dir, const char *id)
{
    cleanup_free char *path = path_join(dir, "containers", id);

    return path == NULL || access(path, F_OK) == 0 || errno != ENOENT;
}

void dj_state_remove_container(struct dj_state *st, const char *id)
{
    cleanup_free char *path = container_path(st, id);

    if (path != NULL)
        unlink(path);
}

void dj_container_record_free(struct dj_container_record *rec)
{
    free(rec->netns_key);
    free(rec->netns_path);
    rec->netns_key = NULL;
    rec->netns_path = NULL;
}

int dj_state_ns_create(struct dj_state *st, const char *key, const char *policy, dj_error_t *err)
{
    cleanup_free char *dir = ns_path(st, key, NULL);
    cleanup_free char *members = ns_path(st, key, "members");
    cleanup_free char *policy_path = ns_path(st, key, "policy");

    if (dir == NULL || members == NULL || policy_path == NULL)
        return dj_error_make(err, ENOMEM, "namespace state");
    if (dj_file_mkdir_p(dir, 0755, 0700, err) < 0 || dj_file_mkdir_p(members, 0755, 0700, err) < 0)
        return -1;
    return write_file(policy_path, policy, err);
}

int dj_state_ns_read_policy(struct dj_state *st, const char *key, char **policy, dj_error_t *err)
{
    cleanup_free char *path = ns_path(st, key, "policy");

    *policy = NULL;
    if (path == NULL)
        return dj_error_make(err, ENOMEM, "namespace state");
    return read_file(path, policy, err);
}

int dj_state_ns_add_member(struct dj_state *st, const char *key, const char *id,
                           const struct dj_proc_id *init, dj_error_t *err)
{
    cleanup_free char *members = ns_path(st, key, "members");
    cleanup_free char *path = NULL;
    char text[64] = "";

    if (members == NULL || (path = path_join(members, id, NULL)) == NULL)
        return dj_error_make(err, ENOMEM, "namespace state");
    if (init != NULL)
        snprintf(text, sizeof(text), "%d %llu\n", (int)init->pid, init->start);
    return write_file(path, text, err);
}

/* One "PID START" from the start of TEXT; -1 when there is none. */
static int parse_proc_id(const char *text, struct dj_proc_id *id)
{
    int pid;
    unsigned long long start;

    if (sscanf(text, "%d %llu", &pid, &start) != 2 || pid <= 0)
        return -1;
    id->pid = (pid_t)pid;
    id->start = start;
    return 0;
}

void dj_state_ns_member_foreach(struct dj_state *st, const char *key,
                                void (*fn)(struct dj_state *, const char *key, const char *id,
                                           const struct dj_proc_id *init, void *),
                                void *data)
{
    cleanup_free char *members = ns_path(st, key, "members");
    DIR *dir = members != NULL ? opendir(members) : NULL;
    struct dirent *de;

    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        cleanup_free char *path = NULL;
        cleanup_free char *text = NULL;
        struct dj_proc_id init = {0, 0};

        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp") != NULL)
            continue;
        path = path_join(members, de->d_name, NULL);
        if (path != NULL && read_file(path, &text, NULL) == 0 && text != NULL &&
            parse_proc_id(text, &init) < 0)
            init = (struct dj_proc_id){0, 0};
        fn(st, key, de->d_name, &init, data);
    }
    closedir(dir);
}

int dj_state_ns_write_bystanders(struct dj_state *st, const char *key,
                                 const struct dj_proc_id *list, size_t n, dj_error_t *err)
{
    cleanup_free char *path = ns_path(st, key, "bystanders");
    cleanup_free char *text = NULL;
    size_t size = n * 32 + 1, used = 0;

    /* The record stops at RECORD_MAX_BYTES: beyond that, the rest count as members
     * (the table stays for them), which errs on the closed side. */
    if (size > RECORD_MAX_BYTES)
        size = RECORD_MAX_BYTES;
    text = malloc(size);
    if (path == NULL || text == NULL)
        return dj_error_make(err, ENOMEM, "namespace state");
    text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(text + used, size - used, "%d %llu\n", (int)list[i].pid, list[i].start);

        if (w < 0 || (size_t)w >= size - used) {
            text[used] = '\0';
            break;
        }
        used += (size_t)w;
    }
    return write_file(path, text, err);
}

void dj_state_ns_read_bystanders(struct dj_state *st, const char *key, struct dj_proc_id **list,
                                 size_t *n)
{
    cleanup_free char *path = ns_path(st, key, "bystanders");
    cleanup_free char *text = NULL;
    size_t lines = 0;

    *list = NULL;
    *n = 0;
    if (path == NULL || read_file(path, &text, NULL) < 0 || text == NULL)
        return;
    for (const char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    *list = calloc(lines + 1, sizeof(**list));
    if (*list == NULL)
        return;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');

        if (parse_proc_id(p, &(*list)[*n]) == 0)
            (*n)++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

static size_t count_entries(const char *dir_path)
{
    DIR *dir = opendir(dir_path);
    struct dirent *de;
    size_t n = 0;

    if (dir == NULL)
        return 0;
    while ((de = readdir(dir)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

size_t dj_state_ns_remove_member(struct dj_state *st, const char *key, const char *id)
{
    cleanup_free char *members = ns_path(st, key, "members");
    cleanup_free char *path = NULL;

    if (members == NULL || (path = path_join(members, id, NULL)) == NULL)
        return 0;
    unlink(path);
    return count_entries(members);
}

static char *daemon_file(struct dj_state *st, const char *key, const char *daemon,
                         const char *suffix)
{
    cleanup_free char *leaf = NULL;

    if (asprintf(&leaf, "%s.%s", daemon, suffix) < 0)
        return NULL;
    return ns_path(st, key, leaf);
}

int dj_state_ns_write_pid(struct dj_state *st, const char *key, const char *daemon, pid_t pid,
                          dj_error_t *err)
{
    cleanup_free char *path = daemon_file(st, key, daemon, "pid");
    char text[32];

    if (path == NULL)
        return dj_error_make(err, ENOMEM, "namespace state");
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    return write_file(path, text, err);
}

pid_t dj_state_ns_read_pid(struct dj_state *st, const char *key, const char *daemon)
{
    cleanup_free char *path = daemon_file(st, key, daemon, "pid");
    cleanup_free char *text = NULL;
    long pid;

    if (path == NULL || read_file(path, &text, NULL) < 0 || text == NULL)
        return 0;
    pid = strtol(text, NULL, 10);
    return pid > 0 && pid < 4194304 ? (pid_t)pid : 0;
}

char *dj_state_ns_control_path(struct dj_state *st, const char *key, const char *daemon)
{
    return daemon_file(st, key, daemon, "control");
}

int dj_state_ns_metrics_dir(struct dj_state *st, const char *key, uid_t uid, gid_t gid,
                            dj_error_t *err)
{
    cleanup_free char *path = ns_path(st, key, DJ_STATE_METRICS_DIR);
    cleanup_close int fd = -1;
    struct stat sb;

    if (path == NULL)
        return dj_error_make(err, ENOMEM, "metrics directory");
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return dj_error_make(err, errno, "mkdir %s", path);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", path);
    if (fstat(fd, &sb) < 0)
        return dj_error_make(err, errno, "stat %s", path);
    /* Only the daemons write there; everyone may read the numbers. */
    if (geteuid() == 0 && (sb.st_uid != uid || sb.st_gid != gid) && fchown(fd, uid, gid) < 0)
        return dj_error_make(err, errno, "chown %s", path);
    if ((sb.st_mode & 07777) != 0755 && fchmod(fd, 0755) < 0)
        return dj_error_make(err, errno, "chmod %s", path);
    return steal_fd(&fd);
}

void dj_state_ns_remove(struct dj_state *st, const char *key)
{
    cleanup_free char *dir = ns_path(st, key, NULL);

    if (dir != NULL)
        remove_tree(dir);
}

static void foreach_entry(struct dj_state *st, const char *sub,
                          void (*fn)(struct dj_state *, const char *, void *), void *data)
{
    cleanup_free char *path = path_join(st->dir, sub, NULL);
    DIR *dir = path != NULL ? opendir(path) : NULL;
    struct dirent *de;

    if (dir == NULL)
        return;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp") != NULL)
            continue;
        fn(st, de->d_name, data);
    }
    closedir(dir);
}

void dj_state_ns_foreach(struct dj_state *st, void (*fn)(struct dj_state *, const char *, void *),
                         void *data)
{
    foreach_entry(st, "netns", fn, data);
}

void dj_state_container_foreach(struct dj_state *st,
                                void (*fn)(struct dj_state *, const char *, void *), void *data)
{
    foreach_entry(st, "containers", fn, data);
}

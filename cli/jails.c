#include "config.h"
#include "jails.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/cleanup.h"
#include "jail/state.h"
#include "jail/policy.h"
#include "report/promtext.h"

#define MAX_SMALL_FILE 4096
#define MAX_POLICY_FILE (DJ_ALLOW_MAX_BYTES + 64)
#define MAX_MEMBERS 4096
#define MAX_METRICS 512 /* series kept per jail */
#define MAX_PID 4194304 /* PID_MAX_LIMIT */

const char *const dj_cli_daemon_names[DJ_CLI_DAEMONS] = {"dnsstub", "proxy"};
/* /proc/PID/comm holds at most 15 characters of the program's name. */
static const char *const daemon_comm[DJ_CLI_DAEMONS] = {"dnsjail-dnsstub", "dnsjail-proxy"};

/* dj_file_read_at()'s errors in words that say what is wrong with the file. */
static const char *read_problem(int errno_value)
{
    switch (errno_value) {
    case EINVAL:
        return "not a regular file";
    case ELOOP:
        return "a symbolic link, not followed";
    case EFBIG:
        return "too long";
    default:
        return strerror(errno_value);
    }
}

/* A copy of TEXT with anything but printable ASCII replaced by '?', so that no name from the
 * state directory can move a terminal's cursor or break a table. */
static char *printable_copy(const char *text, size_t max)
{
    size_t len = strnlen(text, max);
    char *copy = malloc(len + 1);

    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = text[i] > 0x20 && text[i] < 0x7f ? text[i] : '?';
    copy[len] = '\0';
    return copy;
}

static void add_problem(struct dj_jail_info *jail, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_problem(struct dj_jail_info *jail, const char *fmt, ...)
{
    char line[256];
    char *joined = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (jail->problem == NULL) {
        jail->problem = strdup(line);
        return;
    }
    if (asprintf(&joined, "%s; %s", jail->problem, line) < 0)
        return;
    free(jail->problem);
    jail->problem = joined;
}

static bool valid_key(const char *name)
{
    const char *dash = strchr(name, '-');

    if (dash == NULL || dash == name || dash[1] == '\0' || strlen(name) > 64)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (p != dash && (*p < '0' || *p > '9'))
            return false;
    return true;
}

static void read_policy(int key_fd, struct dj_jail_info *jail)
{
    cleanup_free char *text = NULL;
    struct dj_allow_rule *rules = NULL;
    size_t n_rules = 0;
    dj_error_t err = NULL;
    struct stat st;
    const char *allow;
    char *nl;

    if (fstatat(key_fd, "policy", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        jail->created = st.st_mtime;
    if (dj_file_read_at(key_fd, "policy", MAX_POLICY_FILE, &text, NULL) < 0) {
        if (errno != ENOENT)
            add_problem(jail, "policy: %s", read_problem(errno));
        return;
    }
    nl = strchr(text, '\n');
    if (nl != NULL)
        *nl = '\0';
    /* "mode=M allow=RULES", as dj_policy_canonical() writes it. */
    allow = strstr(text, " allow=");
    if (strncmp(text, "mode=", 5) != 0 || allow == NULL) {
        add_problem(jail, "policy: not in the hook's format");
        return;
    }
    jail->mode = strndup(text + 5, (size_t)(allow - text - 5));
    allow += strlen(" allow=");
    if (dj_allow_parse(allow, true, &rules, &n_rules, &err) < 0) {
        add_problem(jail, "policy: %s", dj_error_msg(&err));
        dj_error_release(&err);
    } else {
        jail->n_rules = (long)n_rules;
        dj_allow_free(rules, n_rules);
    }
    jail->rules = printable_copy(allow, DJ_ALLOW_MAX_BYTES);
    if (jail->mode != NULL) {
        char *safe = printable_copy(jail->mode, 32);

        free(jail->mode);
        jail->mode = safe;
    }
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_members(int key_fd, struct dj_jail_info *jail)
{
    int fd = openat(key_fd, "members", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (dir == NULL) {
        if (fd >= 0)
            close(fd);
        if (errno != ENOENT)
            add_problem(jail, "members: %s", strerror(errno));
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        char **grown;

        if (de->d_name[0] == '.')
            continue;
        if (jail->n_members == MAX_MEMBERS) {
            add_problem(jail, "members: more than %d", MAX_MEMBERS);
            break;
        }
        grown = realloc(jail->members, (jail->n_members + 1) * sizeof(*grown));
        if (grown == NULL)
            break;
        jail->members = grown;
        jail->members[jail->n_members] = printable_copy(de->d_name, 256);
        if (jail->members[jail->n_members] != NULL)
            jail->n_members++;
    }
    closedir(dir);
    if (jail->n_members > 1)
        qsort(jail->members, jail->n_members, sizeof(*jail->members), compare_strings);
}

/* Alive: the process exists and is still the daemon (a pid can be reused after a crash).
 * /proc/PID/comm is readable by everyone, unlike /proc/PID/exe. */
static bool daemon_alive(pid_t pid, size_t daemon)
{
    char path[48], comm[32];
    cleanup_close int fd = -1;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, comm, sizeof(comm) - 1);
    if (n <= 0)
        return false;
    comm[n] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, daemon_comm[daemon]) == 0;
}

static void read_pid(int key_fd, size_t daemon, struct dj_jail_info *jail)
{
    cleanup_free char *text = NULL;
    char name[32];
    char *end;
    long pid;

    snprintf(name, sizeof(name), "%s.pid", dj_cli_daemon_names[daemon]);
    if (dj_file_read_at(key_fd, name, 64, &text, NULL) < 0) {
        if (errno != ENOENT)
            add_problem(jail, "%s: %s", name, read_problem(errno));
        return;
    }
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\0' && *end != '\n') || pid <= 0 || pid > MAX_PID) {
        add_problem(jail, "%s: not a pid", name);
        return;
    }
    jail->daemons[daemon].pid = (pid_t)pid;
    jail->daemons[daemon].alive = daemon_alive((pid_t)pid, daemon);
}

struct metric_reader {
    struct dj_jail_info *jail;
    bool full;
};

/* The jail's own labels (netns, container) are the same on every line: leave them out. */
static bool keep_sample(const struct dj_promtext_sample *s, void *data)
{
    struct metric_reader *r = data;
    struct dj_jail_info *jail = r->jail;
    struct dj_jail_metric *grown, *m;
    char labels[DJ_PROMTEXT_MAX_LABELS * (DJ_PROMTEXT_MAX_NAME + DJ_PROMTEXT_MAX_VALUE + 2)];
    size_t used = 0;

    if (jail->n_metrics == MAX_METRICS) {
        r->full = true;
        return false;
    }
    labels[0] = '\0';
    for (size_t i = 0; i < s->n_labels; i++) {
        const struct dj_promtext_label *l = &s->labels[i];
        int n;

        if (strcmp(l->name, "netns") == 0 || strcmp(l->name, "container") == 0)
            continue;
        n = snprintf(labels + used, sizeof(labels) - used, "%s%s=%s", used > 0 ? "," : "", l->name,
                     l->value);
        if (n < 0 || (size_t)n >= sizeof(labels) - used)
            break;
        used += (size_t)n;
    }
    grown = realloc(jail->metrics, (jail->n_metrics + 1) * sizeof(*grown));
    if (grown == NULL)
        return false;
    jail->metrics = grown;
    m = &jail->metrics[jail->n_metrics];
    m->name = printable_copy(s->name, DJ_PROMTEXT_MAX_NAME);
    m->labels = printable_copy(labels, sizeof(labels));
    m->value = s->value;
    if (m->name == NULL || m->labels == NULL) {
        free(m->name);
        free(m->labels);
        return false;
    }
    jail->n_metrics++;
    return true;
}

static void read_metrics(int key_fd, size_t daemon, struct dj_jail_info *jail)
{
    cleanup_close int dir_fd =
        openat(key_fd, DJ_STATE_METRICS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_free char *text = NULL;
    struct metric_reader reader = {jail, false};
    char name[32];
    size_t len = 0;
    long bad;

    if (dir_fd < 0)
        return; /* a jail from before metrics, or the hook could not make the directory */
    snprintf(name, sizeof(name), "%s.prom", dj_cli_daemon_names[daemon]);
    if (dj_file_read_at(dir_fd, name, DJ_PROMTEXT_MAX_BYTES, &text, &len) < 0) {
        if (errno != ENOENT)
            add_problem(jail, "metrics/%s: %s", name, read_problem(errno));
        return;
    }
    bad = dj_promtext_parse(text, len, keep_sample, &reader);
    jail->daemons[daemon].have_metrics = true;
    jail->daemons[daemon].bad_lines = bad;
    if (bad > 0)
        add_problem(jail, "metrics/%s: %ld lines that are not samples", name, bad);
    if (reader.full)
        add_problem(jail, "metrics: more than %d series, the rest left out", MAX_METRICS);
}

/* 0 and the jail filled in; 1 when the jail vanished (skip it). */
static int read_jail(int netns_fd, const char *key, struct dj_jail_info *jail)
{
    cleanup_close int key_fd =
        openat(netns_fd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    memset(jail, 0, sizeof(*jail));
    jail->n_rules = -1;
    if (key_fd < 0 && errno == ENOENT)
        return 1;
    jail->key = printable_copy(key, 64);
    if (key_fd < 0) {
        add_problem(jail, "%s", strerror(errno));
        return 0;
    }
    read_policy(key_fd, jail);
    read_members(key_fd, jail);
    for (size_t d = 0; d < DJ_CLI_DAEMONS; d++) {
        read_pid(key_fd, d, jail);
        read_metrics(key_fd, d, jail);
    }
    return 0;
}

static int compare_jails(const void *a, const void *b)
{
    const struct dj_jail_info *x = a, *y = b;

    return strcmp(x->key != NULL ? x->key : "", y->key != NULL ? y->key : "");
}

int dj_jails_read(const char *state_dir, struct dj_jail_info **jails, size_t *n_jails,
                  dj_error_t *err)
{
    cleanup_close int state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dj_jail_info *list = NULL;
    size_t n = 0;
    int netns_fd;
    DIR *dir;
    struct dirent *de;

    *jails = NULL;
    *n_jails = 0;
    if (state_fd < 0 && errno == ENOENT)
        return 0; /* no hook has run since boot */
    if (state_fd < 0)
        return dj_error_make(err, errno, "state directory %s", state_dir);
    netns_fd = openat(state_fd, "netns", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (netns_fd < 0 && errno == ENOENT)
        return 0;
    if (netns_fd < 0)
        return dj_error_make(err, errno, "%s/netns", state_dir);
    dir = fdopendir(netns_fd);
    if (dir == NULL) {
        close(netns_fd);
        return dj_error_make(err, errno, "%s/netns", state_dir);
    }
    while ((de = readdir(dir)) != NULL) {
        struct dj_jail_info *grown;

        if (de->d_name[0] == '.' || !valid_key(de->d_name))
            continue; /* not something the hook makes */
        grown = realloc(list, (n + 1) * sizeof(*grown));
        if (grown == NULL) {
            closedir(dir);
            dj_jails_free(list, n);
            return dj_error_make(err, ENOMEM, "reading the jails");
        }
        list = grown;
        if (read_jail(dirfd(dir), de->d_name, &list[n]) == 0)
            n++;
    }
    closedir(dir);
    if (n > 1)
        qsort(list, n, sizeof(*list), compare_jails);
    *jails = list;
    *n_jails = n;
    return 0;
}

void dj_jails_free(struct dj_jail_info *jails, size_t n_jails)
{
    for (size_t i = 0; i < n_jails; i++) {
        struct dj_jail_info *j = &jails[i];

        free(j->key);
        for (size_t m = 0; m < j->n_members; m++)
            free(j->members[m]);
        free(j->members);
        free(j->mode);
        free(j->rules);
        for (size_t m = 0; m < j->n_metrics; m++) {
            free(j->metrics[m].name);
            free(j->metrics[m].labels);
        }
        free(j->metrics);
        free(j->problem);
    }
    free(jails);
}

double dj_jail_metric_sum(const struct dj_jail_info *jail, const char *name, const char *label)
{
    double sum = 0;
    bool found = false;

    for (size_t i = 0; i < jail->n_metrics; i++) {
        const struct dj_jail_metric *m = &jail->metrics[i];

        if (strcmp(m->name, name) != 0)
            continue;
        if (label != NULL && strstr(m->labels, label) == NULL)
            continue;
        found = true;
        sum += m->value;
    }
    return found ? sum : -1;
}

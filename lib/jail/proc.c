#include "config.h"
#include "jail/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

#define STAT_MAX_BYTES 4096 /* a stat line is about 300 bytes; its name at most 64 */
#define START_FIELD 22

int dj_proc_parse_start(const char *text, size_t len, unsigned long long *start)
{
    const char *end = text + len;
    const char *p = NULL;
    int field = 2; /* the command name ends at P */

    for (const char *q = text; q < end; q++)
        if (*q == ')')
            p = q;
    if (p == NULL)
        return -1;
    p++;
    while (p < end) {
        unsigned long long value = 0;
        const char *digits;

        if (*p != ' ')
            return -1;
        p++;
        field++;
        digits = p;
        while (p < end && *p != ' ' && *p != '\n') {
            if (field == START_FIELD) {
                if (*p < '0' || *p > '9' || value > (~0ULL - 9) / 10)
                    return -1;
                value = value * 10 + (unsigned)(*p - '0');
            }
            p++;
        }
        if (p == digits)
            return -1; /* the kernel writes no empty field */
        if (field == START_FIELD) {
            *start = value;
            return 0;
        }
    }
    return -1;
}

int dj_proc_identify(pid_t pid, struct dj_proc_id *id)
{
    char path[64], buf[STAT_MAX_BYTES];
    cleanup_close int fd = -1;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf));
    if (n <= 0 || dj_proc_parse_start(buf, (size_t)n, &id->start) < 0)
        return -1;
    id->pid = pid;
    return 0;
}

bool dj_proc_same(const struct dj_proc_id *id)
{
    struct dj_proc_id now;

    return dj_proc_identify(id->pid, &now) == 0 && now.start == id->start;
}

bool dj_proc_in(const struct dj_proc_id *id, const struct dj_proc_id *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].pid == id->pid && list[i].start == id->start)
            return true;
    return false;
}

/* 1 in the namespace, 0 in another, -1 when there is none to read (an exited task). */
static int in_netns(const char *path, dev_t dev, ino_t ino)
{
    struct stat sb;

    if (stat(path, &sb) < 0)
        return -1;
    return sb.st_dev == dev && sb.st_ino == ino;
}

/* A leader that exited before its other threads has no namespace left to read: its threads
 * tell. (A thread that moved to another namespace than its leader's did so with setns, which a
 * jailed container cannot: it holds no CAP_SYS_ADMIN. Only a leader's namespace is read
 * otherwise, which keeps the scan to one stat per process.) */
static bool any_thread_in_netns(long pid, dev_t dev, ino_t ino)
{
    char path[64];
    DIR *dir;
    struct dirent *de;
    bool found = false;

    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    dir = opendir(path);
    if (dir == NULL)
        return false;
    while (!found && (de = readdir(dir)) != NULL) {
        char ns[96];
        char *endp;
        long tid = strtol(de->d_name, &endp, 10);

        if (de->d_name[0] < '0' || de->d_name[0] > '9' || *endp != '\0')
            continue;
        snprintf(ns, sizeof(ns), "/proc/%ld/task/%ld/ns/net", pid, tid);
        found = in_netns(ns, dev, ino) == 1;
    }
    closedir(dir);
    return found;
}

int dj_proc_netns_list(dev_t dev, ino_t ino, struct dj_proc_id **list, size_t *n, dj_error_t *err)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    size_t cap = 0;

    *list = NULL;
    *n = 0;
    if (dir == NULL)
        return dj_error_make(err, errno, "opendir /proc");
    while ((de = readdir(dir)) != NULL) {
        char path[64];
        struct dj_proc_id id;
        char *endp;
        long pid;

        pid = strtol(de->d_name, &endp, 10);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || *endp != '\0' || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
        switch (in_netns(path, dev, ino)) {
        case 1:
            break;
        case 0:
            continue;
        default:
            if (!any_thread_in_netns(pid, dev, ino))
                continue;
        }
        if (dj_proc_identify((pid_t)pid, &id) < 0)
            continue; /* gone since */
        if (*n == cap) {
            size_t new_cap = cap == 0 ? 16 : cap * 2;
            struct dj_proc_id *grown = realloc(*list, new_cap * sizeof(**list));

            if (grown == NULL) {
                closedir(dir);
                free(*list);
                *list = NULL;
                *n = 0;
                return dj_error_make(err, ENOMEM, "listing the namespace's processes");
            }
            *list = grown;
            cap = new_cap;
        }
        (*list)[(*n)++] = id;
    }
    closedir(dir);
    return 0;
}

#include "config.h"

/* The spare pool's idle daemons (lib/daemon/spare.h) for `dnsjail ps` and `dnsjail status`:
 * found by their command line, "--spare-pool <state dir>/spares", as a jail's daemons show
 * "--container-id ID" on theirs. The child a spare forks for a jail rewrites its command line
 * and is that jail's daemon, listed with its jail; the spare itself stays idle. Until then the
 * child waits as the spare's heir ("--spare-heir"), listed under its spare. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli.h"

enum pool_member { NOT_OURS, SPARE, HEIR };

/* Whether /proc/PID/cmdline is an idle spare of POOL, or its heir (the next jail's daemon,
 * forked ahead: "--spare-heir"); its program's name goes to *KIND. */
static enum pool_member pool_member_of(const char *pid, const char *pool, const char **kind)
{
    char path[64], buf[4096];
    cleanup_close int fd = -1;
    const char *arg, *base, *end;
    bool in_pool = false, heir = false;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
        return NOT_OURS;
    buf[n] = '\0';
    end = buf + n;
    base = strrchr(buf, '/') != NULL ? strrchr(buf, '/') + 1 : buf;
    if (strcmp(base, "dnsjail-dnsstub") == 0)
        *kind = "dnsjail-dnsstub";
    else if (strcmp(base, "dnsjail-proxy") == 0)
        *kind = "dnsjail-proxy";
    else
        return NOT_OURS;
    for (arg = buf; arg < end; arg += strlen(arg) + 1) {
        const char *value = arg + strlen(arg) + 1;

        if (strcmp(arg, "--spare-pool") == 0 && value < end && strcmp(value, pool) == 0)
            in_pool = true;
        else if (strcmp(arg, "--spare-heir") == 0)
            heir = true;
    }
    return !in_pool ? NOT_OURS : heir ? HEIR : SPARE;
}

size_t dj_cli_spares(const struct dj_adminconf *cfg, FILE *out)
{
    cleanup_free char *pool = NULL;
    struct dirent *de;
    size_t n = 0;
    bool heading = false;
    DIR *proc;

    if (asprintf(&pool, "%s/spares", cfg->state_dir) < 0 || (proc = opendir("/proc")) == NULL)
        return 0;
    while ((de = readdir(proc)) != NULL) {
        const char *kind;
        enum pool_member member;

        if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
            (member = pool_member_of(de->d_name, pool, &kind)) == NOT_OURS)
            continue;
        if (out != NULL) {
            if (!heading)
                fprintf(out, "\n%-8s %-16s %s\n", "SPARE", "KIND", "STATE");
            heading = true;
            fprintf(out, "%-8s %-16s %s\n", de->d_name, kind,
                    member == HEIR ? "heir (the next jail's daemon, forked ahead)" : "idle");
        }
        if (member == SPARE)
            n++;
    }
    closedir(proc);
    return n;
}

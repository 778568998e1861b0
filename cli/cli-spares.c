#include "config.h"

/* The spare pool's idle daemons (lib/daemon/spare.h) for `dnsjail ps` and `dnsjail status`:
 * found by their command line, "--spare-pool <state dir>/spares", as a jail's daemons show
 * "--container-id ID" on theirs. The child a spare forks for a jail rewrites its command line
 * and is that jail's daemon, listed with its jail; the spare itself stays idle. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli.h"

/* Whether /proc/PID/cmdline is an idle spare of POOL; its program's name goes to *KIND. */
static bool spare_of(const char *pid, const char *pool, const char **kind)
{
    char path[64], buf[4096];
    cleanup_close int fd = -1;
    const char *arg, *base, *end;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
        return false;
    buf[n] = '\0';
    end = buf + n;
    base = strrchr(buf, '/') != NULL ? strrchr(buf, '/') + 1 : buf;
    if (strcmp(base, "dnsjail-dnsstub") == 0)
        *kind = "dnsjail-dnsstub";
    else if (strcmp(base, "dnsjail-proxy") == 0)
        *kind = "dnsjail-proxy";
    else
        return false;
    for (arg = buf; arg < end; arg += strlen(arg) + 1) {
        const char *value = arg + strlen(arg) + 1;

        if (strcmp(arg, "--spare-pool") == 0 && value < end && strcmp(value, pool) == 0)
            return true;
    }
    return false;
}

size_t dj_cli_spares(const struct dj_adminconf *cfg, FILE *out)
{
    cleanup_free char *pool = NULL;
    struct dirent *de;
    size_t n = 0;
    DIR *proc;

    if (asprintf(&pool, "%s/spares", cfg->state_dir) < 0 || (proc = opendir("/proc")) == NULL)
        return 0;
    while ((de = readdir(proc)) != NULL) {
        const char *kind;

        if (de->d_name[0] < '1' || de->d_name[0] > '9' || !spare_of(de->d_name, pool, &kind))
            continue;
        if (out != NULL) {
            if (n == 0)
                fprintf(out, "\n%-8s %-16s %s\n", "SPARE", "KIND", "STATE");
            fprintf(out, "%-8s %-16s idle\n", de->d_name, kind);
        }
        n++;
    }
    closedir(proc);
    return n;
}

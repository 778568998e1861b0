#include "config.h"

/* `dnsjail status`: is dnsjail installed and can it work on this host? The admin config, the
 * state directory, the programs, the hooks.d files, the container runtimes and the kernel
 * features the hook needs. It only looks: no namespace, no netlink, no root needed (some
 * answers are "unknown" without it). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"

enum verdict { OK, WARN, MISSING };

struct report {
    unsigned missing;
};

static void line(struct report *r, enum verdict v, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void line(struct report *r, enum verdict v, const char *what, const char *fmt, ...)
{
    static const char *const words[] = {"ok", "warn", "missing"};
    va_list ap;

    printf("%-8s %-28s ", words[v], what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (v == MISSING)
        r->missing++;
}

static void status_usage(FILE *out)
{
    fprintf(out, "Usage: " DJ_CLI_PROGRAM " [--config FILE] status\n"
                 "\n"
                 "Shows whether dnsjail can work here: the admin configuration, the state\n"
                 "directory, the hook and daemon programs, the hooks.d files, the container\n"
                 "runtimes found in PATH and the kernel features the hook needs (seccomp,\n"
                 "pidfd, nftables). Exit status 0 when nothing needed is missing.\n");
}

static void check_program(struct report *r, const char *dir, const char *name)
{
    cleanup_free char *path = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return;
    if (access(path, X_OK) == 0)
        line(r, OK, name, "%s", path);
    else
        line(r, MISSING, name, "%s: %s", path, strerror(errno));
}

/* The first executable NAME in PATH, or NULL. */
static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    cleanup_free char *copy = strdup(path != NULL ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    char *save = NULL;

    if (copy == NULL)
        return NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        char *candidate = NULL;

        if (*dir == '\0' || asprintf(&candidate, "%s/%s", dir, name) < 0)
            continue;
        if (access(candidate, X_OK) == 0)
            return candidate;
        free(candidate);
    }
    return NULL;
}

static void check_hooks_dirs(struct report *r)
{
    /* podman and CRI-O read these by default; the build's own comes first. */
    static const char *const dirs[] = {DJ_HOOKSDIR, "/usr/share/containers/oci/hooks.d",
                                       "/etc/containers/oci/hooks.d"};
    bool found = false;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        cleanup_free char *path = NULL;

        if (i > 0 && strcmp(dirs[i], dirs[0]) == 0)
            continue;
        if (asprintf(&path, "%s/dnsjail-prestart.json", dirs[i]) < 0)
            continue;
        if (access(path, R_OK) == 0) {
            line(r, OK, "hooks.d file", "%s", path);
            found = true;
        }
    }
    if (!found)
        line(r, WARN, "hooks.d file",
             "none in %s or the default directories: podman and CRI-O will not run the hook "
             "(runc and crun bundles can still name it)",
             DJ_HOOKSDIR);
}

static void check_runtimes(struct report *r)
{
    static const char *const runtimes[] = {"runc", "crun", "podman", "crio"};
    bool any = false;

    for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
        cleanup_free char *path = find_in_path(runtimes[i]);

        if (path != NULL) {
            line(r, OK, runtimes[i], "%s", path);
            any = true;
        }
    }
    if (!any)
        line(r, WARN, "container runtime", "none of runc, crun, podman, crio in PATH");
}

/* "Seccomp:" appears in /proc/self/status when the kernel has seccomp. */
static bool kernel_has_seccomp(void)
{
    cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
    char buf[256];

    while (f != NULL && fgets(buf, sizeof(buf), f) != NULL)
        if (strncmp(buf, "Seccomp:", 8) == 0)
            return true;
    return false;
}

static bool module_present(const char *name)
{
    char path[128];
    struct stat st;

    snprintf(path, sizeof(path), "/sys/module/%s", name);
    return stat(path, &st) == 0;
}

static void check_kernel(struct report *r)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

    if (fd >= 0) {
        close(fd);
        line(r, OK, "pidfd", "pidfd_open works");
    } else {
        line(r, MISSING, "pidfd", "pidfd_open: %s (Linux 5.3 or later is needed)", strerror(errno));
    }
#else
    line(r, MISSING, "pidfd", "this build has no pidfd_open");
#endif
    if (kernel_has_seccomp())
        line(r, OK, "seccomp", "the kernel filters syscalls");
    else
        line(r, MISSING, "seccomp", "no Seccomp line in /proc/self/status");
    /* Loaded modules show under /sys/module; built-in ones often do too. A module not
     * loaded yet is loaded by the kernel when the hook first asks for it. */
    if (module_present("nf_tables"))
        line(r, OK, "nftables", "nf_tables is loaded");
    else
        line(r, WARN, "nftables",
             "nf_tables not seen in /sys/module (built in, or loaded on demand: unknown)");
    if (module_present("nft_chain_nat") || module_present("nf_nat"))
        line(r, OK, "nftables inet nat", "nft_chain_nat/nf_nat present");
    else
        line(r, WARN, "nftables inet nat",
             "nft_chain_nat not seen in /sys/module (built in, or loaded on demand: unknown)");
}

static void check_state_dir(struct report *r, const char *dir)
{
    cleanup_free char *netns = NULL;
    DIR *d;
    struct dirent *de;
    size_t jails = 0;

    if (asprintf(&netns, "%s/netns", dir) < 0)
        return;
    d = opendir(netns);
    if (d == NULL) {
        if (errno == ENOENT)
            line(r, OK, "state directory", "%s: no jail since boot", dir);
        else
            line(r, WARN, "state directory", "%s: %s (run as root to see the jails)", dir,
                 strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            jails++;
    closedir(d);
    line(r, OK, "state directory", "%s: %zu jail%s", dir, jails, jails == 1 ? "" : "s");
}

int dj_cli_status(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_config *cfg = cli->cfg;
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct report r = {0};
    int opt;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            status_usage(stdout);
            return 0;
        }
        fprintf(stderr, DJ_CLI_PROGRAM " status: unknown option %s (see --help)\n",
                argv[optind - 1]);
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, DJ_CLI_PROGRAM " status: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cli->config_error != NULL)
        line(&r, MISSING, "configuration", "%s (the rest uses the defaults)", cli->config_error);
    else if (access(cli->config_path, F_OK) == 0)
        line(&r, OK, "configuration", "%s", cli->config_path);
    else
        line(&r, OK, "configuration", "%s absent: the built-in defaults apply", cli->config_path);
    check_state_dir(&r, cfg->state_dir);
    check_program(&r, DJ_LIBEXECDIR, "dnsjail-hook");
    check_program(&r, cfg->libexec_dir, "dnsjail-dnsstub");
    check_program(&r, cfg->libexec_dir, "dnsjail-proxy");
    check_hooks_dirs(&r);
    check_runtimes(&r);
    check_kernel(&r);
    return r.missing == 0 ? 0 : 1;
}

#include "config.h"

/* `dnsjail status`: is this host ready to jail containers? The hooks.d files and the programs
 * they name, the configuration, the runtimes, and the kernel features the jail needs. The
 * nftables probe installs the real ruleset in a throw-away network namespace of its own, so it
 * proves the features without touching the host's rules. Changes nothing on the host. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "base/cleanup.h"
#include "cli.h"
#include "jail/keeper.h"
#include "jail/netns.h"
#include "jail/nft.h"

#define MAX_CHECKS 48

enum state { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct check {
    const char *area;
    char *what;
    enum state state;
    char *detail;
};

struct report {
    struct check checks[MAX_CHECKS];
    size_t n;
};

static void add(struct report *r, const char *area, enum state state, const char *what,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct report *r, const char *area, enum state state, const char *what,
                const char *fmt, ...)
{
    va_list ap;
    char *detail = NULL;

    if (r->n == MAX_CHECKS)
        return;
    va_start(ap, fmt);
    if (vasprintf(&detail, fmt, ap) < 0)
        detail = NULL;
    va_end(ap);
    r->checks[r->n++] = (struct check){area, strdup(what), state, detail};
}

static bool executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The first PATH directory holding an executable NAME, into OUT. */
static bool find_in_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    cleanup_free char *copy =
        strdup(path != NULL && *path != '\0' ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    char *save = NULL;

    if (copy == NULL)
        return false;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/%s", dir, name);
        if (executable(out))
            return true;
    }
    return false;
}

/* Does a hooks.d file name an executable hook? Reads only the "path" value. */
static void check_hooks_file(struct report *r, const char *dir, const char *name, bool required)
{
    char file[4096], hook[4096];
    cleanup_fclose FILE *f = NULL;
    char line[4096];
    bool found_path = false;

    snprintf(file, sizeof(file), "%s/%s", dir, name);
    f = fopen(file, "re");
    if (f == NULL) {
        add(r, "hooks", required ? CHECK_FAIL : CHECK_WARN, file, "%s", strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = strstr(line, "\"path\"");
        char *start, *end;

        if (p == NULL || (start = strchr(p + 6, '"')) == NULL ||
            (end = strchr(start + 1, '"')) == NULL)
            continue;
        *end = '\0';
        snprintf(hook, sizeof(hook), "%s", start + 1);
        found_path = true;
        break;
    }
    if (!found_path)
        add(r, "hooks", CHECK_FAIL, file, "no \"path\" in it");
    else if (!executable(hook))
        add(r, "hooks", CHECK_FAIL, file, "names %s, which is not an executable file", hook);
    else
        add(r, "hooks", CHECK_OK, file, "runs %s", hook);
}

/* Installs the real ruleset in a new network namespace, in a child that then exits; with RAW
 * the raw-frame policing too, its egress chain on the namespace's loopback. */
static int probe_nftables(bool raw, char *why, size_t size)
{
    int pipefd[2];
    pid_t pid;
    int status;
    ssize_t n;

    if (pipe(pipefd) < 0)
        return snprintf(why, size, "pipe: %s", strerror(errno)), -1;
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return snprintf(why, size, "fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        struct dj_nft_spec spec = {.dns_port = 15353, .http_port = 15380, .tls_port = 15443};
        struct dj_nft_raw policing = {.mark = 1, .priority = 1, .devices = {"lo"}, .n_devices = 1};
        dj_error_t err = NULL;
        const char *msg = "ok";

        if (raw)
            spec.raw = &policing;
        close(pipefd[0]);
        if (unshare(CLONE_NEWNET) < 0)
            msg = strerror(errno);
        else if (dj_netns_loopback_up(&err) < 0 || dj_nft_install(&spec, &err) < 0)
            msg = dj_error_msg(&err);
        if (write(pipefd[1], msg, strlen(msg)) < 0)
            _exit(2);
        _exit(strcmp(msg, "ok") == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    n = read(pipefd[0], why, size - 1);
    why[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void check_kernel(struct report *r)
{
    char why[512];
    long fd = syscall(SYS_pidfd_open, getpid(), 0);

    if (fd >= 0) {
        close((int)fd);
        add(r, "kernel", CHECK_OK, "pidfd_open", "available");
    } else {
        add(r, "kernel", CHECK_FAIL, "pidfd_open", "%s (needs Linux 5.3)", strerror(errno));
    }
    if (geteuid() != 0) {
        add(r, "kernel", CHECK_WARN, "nftables inet nat, redirect, reject",
            "not probed: needs root");
    } else if (probe_nftables(false, why, sizeof(why)) == 0) {
        add(r, "kernel", CHECK_OK, "nftables inet nat, redirect, reject",
            "the jail's ruleset installs (probed in a throw-away network namespace)");
    } else {
        add(r, "kernel", CHECK_FAIL, "nftables inet nat, redirect, reject", "%s", why);
    }
    {
        cleanup_fclose FILE *f = fopen("/proc/sys/user/max_user_namespaces", "re");
        long v = -1;

        if (f != NULL && fscanf(f, "%ld", &v) == 1 && v > 0)
            add(r, "kernel", CHECK_OK, "user namespaces", "available (rootless podman)");
        else
            add(r, "kernel", CHECK_WARN, "user namespaces", "not available: no rootless podman");
    }
}

/* allow-cap-net-raw needs the netdev egress hook, and AF_XDP sends below it: the hook refuses
 * CAP_NET_RAW there unless allow-af-xdp accepts that. */
static void check_raw_policing(struct report *r, const struct dj_adminconf *cfg)
{
    static const char feature[] = "nftables netdev egress (allow-cap-net-raw)";
    enum state missing = cfg->allow_cap_net_raw ? CHECK_FAIL : CHECK_WARN;
    char why[512];

    if (geteuid() != 0)
        add(r, "kernel", CHECK_WARN, feature, "not probed: needs root");
    else if (probe_nftables(true, why, sizeof(why)) == 0)
        add(r, "kernel", CHECK_OK, feature,
            "raw-frame policing installs (probed in a throw-away network namespace)");
    else
        add(r, "kernel", missing, feature,
            "%s; the hook refuses containers while allow-cap-net-raw is set", why);
    if (!dj_nft_af_xdp_available())
        add(r, "kernel", CHECK_OK, "AF_XDP sockets", "not in this kernel");
    else if (cfg->allow_cap_net_raw && cfg->allow_af_xdp)
        add(r, "kernel", CHECK_WARN, "AF_XDP sockets",
            "available: containers with CAP_NET_RAW can send frames past the raw-frame "
            "policing (allow-af-xdp accepts that); set allow-af-xdp = false to refuse them");
    else if (cfg->allow_cap_net_raw)
        add(r, "kernel", CHECK_WARN, "AF_XDP sockets",
            "available: the hook refuses containers with CAP_NET_RAW despite "
            "allow-cap-net-raw, since their AF_XDP frames would pass the raw-frame policing; "
            "drop NET_RAW, or set allow-af-xdp = true to accept that");
    else
        add(r, "kernel", CHECK_OK, "AF_XDP sockets",
            "available, harmless while allow-cap-net-raw is false");
}

/* Engines reach dnsjail through hooks.d (podman, CRI-O) or through dnsjail-runtime, which
 * `dnsjail setup` registers; Docker and containerd only the second way. */
static void check_engines(struct report *r, bool any_hooks)
{
    static const struct {
        const char *engine, *program;
        bool has_hooks_d;
    } engines[] = {
        {"docker", "dockerd", false},
        {"containerd", "containerd", false},
        {"crio", "crio", true},
        {"podman", "podman", true},
    };
    char path[4096], where[256];

    for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
        bool present;

        if (!find_in_path(engines[i].program, path, sizeof(path)))
            continue;
        present = dj_cli_setup_present(engines[i].engine, where, sizeof(where));
        if (present)
            add(r, "engines", CHECK_OK, engines[i].engine, "dnsjail-runtime registered in %s",
                where);
        else if (engines[i].has_hooks_d && any_hooks)
            add(r, "engines", CHECK_OK, engines[i].engine,
                "through hooks.d (annotated containers); `" DJ_CLI_PROGRAM
                " setup %s` would also register dnsjail-runtime",
                engines[i].engine);
        else
            add(r, "engines", CHECK_WARN, engines[i].engine,
                "found (%s) but dnsjail-runtime is not registered%s: `" DJ_CLI_PROGRAM " setup %s`",
                path, engines[i].has_hooks_d ? " and no hooks.d file is there" : "",
                engines[i].engine);
    }
}

static const char *state_text(enum state s)
{
    return s == CHECK_OK ? "ok" : s == CHECK_WARN ? "warn" : "FAIL";
}

static void print_json(const struct report *r, bool ready)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    size_t len;

    if (g == NULL)
        return;
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"ready", 5);
    yajl_gen_bool(g, ready);
    yajl_gen_string(g, (const unsigned char *)"checks", 6);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < r->n; i++) {
        const struct check *c = &r->checks[i];
        const char *state = c->state == CHECK_OK ? "ok" : c->state == CHECK_WARN ? "warn" : "fail";

        yajl_gen_map_open(g);
        yajl_gen_string(g, (const unsigned char *)"area", 4);
        yajl_gen_string(g, (const unsigned char *)c->area, strlen(c->area));
        yajl_gen_string(g, (const unsigned char *)"check", 5);
        yajl_gen_string(g, (const unsigned char *)(c->what ? c->what : ""),
                        c->what ? strlen(c->what) : 0);
        yajl_gen_string(g, (const unsigned char *)"state", 5);
        yajl_gen_string(g, (const unsigned char *)state, strlen(state));
        yajl_gen_string(g, (const unsigned char *)"detail", 6);
        yajl_gen_string(g, (const unsigned char *)(c->detail ? c->detail : ""),
                        c->detail ? strlen(c->detail) : 0);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        fwrite(buf, 1, len, stdout);
        putchar('\n');
    }
    yajl_gen_free(g);
}

char *dj_cli_keeper_describe(const struct dj_adminconf *cfg)
{
    cleanup_free char *pin = dj_keeper_pin_path(cfg->state_dir);
    char *text = NULL;

    if (pin == NULL ||
        asprintf(&text, "%s%s", pin,
                 dj_keeper_present(pin) ? ": pinned (netfilter hooks kept on)"
                                        : ": none yet (the next jailed container creates it)") < 0)
        return NULL;
    return text;
}

/* Informational: no keeper only means the next jailed container makes it (or says why not). */
static void add_keeper(struct report *r, const struct dj_adminconf *cfg)
{
    cleanup_free char *text = dj_cli_keeper_describe(cfg);

    if (text != NULL)
        add(r, "programs", CHECK_OK, "keeper", "%s", text);
}

int dj_cli_status(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_adminconf *cfg = cli->cfg;
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"hooks-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const default_dirs[] = {DJ_HOOKSDIR, "/usr/share/containers/oci/hooks.d",
                                               "/etc/containers/oci/hooks.d"};
    static const char *const runtimes[] = {"runc", "crun", "podman", "crio"};
    const char *dirs[8];
    size_t n_dirs = 0;
    struct report r;
    bool json = false, ready = true, any_runtime = false, any_hooks = false;
    char path[4096];
    int opt;

    memset(&r, 0, sizeof(r));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'j':
            json = true;
            break;
        case 'd':
            if (n_dirs < sizeof(dirs) / sizeof(dirs[0]))
                dirs[n_dirs++] = optarg;
            break;
        case 'h':
            printf("Usage: " DJ_CLI_PROGRAM
                   " [--config FILE] status [--json] [--hooks-dir DIR]...\n"
                   "\n"
                   "Checks that this host can jail containers: the hooks.d files and the\n"
                   "programs they run, the daemons, the runtimes found, and the kernel\n"
                   "features (pidfd, nftables inet nat with redirect and reject: installed for\n"
                   "real in a throw-away network namespace when run as root). Exit status 0\n"
                   "when nothing required is missing, 1 otherwise.\n"
                   "\n"
                   "  --json           one JSON object\n"
                   "  --hooks-dir DIR  look for the hooks.d files here (repeatable; default:\n"
                   "                   " DJ_HOOKSDIR " and podman's and CRI-O's usual places)\n"
                   "  -h, --help       this text\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, DJ_CLI_PROGRAM " status: takes no arguments (see --help)\n");
        return 2;
    }
    if (n_dirs == 0) {
        for (size_t i = 0; i < sizeof(default_dirs) / sizeof(default_dirs[0]); i++) {
            bool seen = false;

            for (size_t j = 0; j < n_dirs; j++)
                seen = seen || strcmp(dirs[j], default_dirs[i]) == 0;
            if (!seen)
                dirs[n_dirs++] = default_dirs[i];
        }
    }
    /* The hooks: present in at least one directory, and each one found must work. */
    for (size_t i = 0; i < n_dirs; i++) {
        snprintf(path, sizeof(path), "%s/dnsjail-prestart.json", dirs[i]);
        if (access(path, F_OK) != 0)
            continue;
        any_hooks = true;
        check_hooks_file(&r, dirs[i], "dnsjail-prestart.json", true);
        check_hooks_file(&r, dirs[i], "dnsjail-poststop.json", true);
    }
    if (!any_hooks)
        add(&r, "hooks", CHECK_WARN, "dnsjail-prestart.json",
            "in none of the hooks.d directories: podman and CRI-O will not run the hook "
            "(runc and crun bundles can still name it in config.json)");
    /* A configuration that does not load still gets a status: the defaults, and this line. */
    if (cli->config_error != NULL)
        add(&r, "config", CHECK_FAIL, cli->config_path, "%s", cli->config_error);
    else
        add(&r, "config", CHECK_OK, cli->config_path, "state in %s, log in %s, daemons as %s",
            cfg->state_dir, cfg->log_file, cfg->run_as_user);
    for (size_t i = 0; i < 2; i++) {
        static const char *const daemons[] = {"dnsjail-dnsstub", "dnsjail-proxy"};

        snprintf(path, sizeof(path), "%s/%s", cfg->libexec_dir, daemons[i]);
        add(&r, "programs", executable(path) ? CHECK_OK : CHECK_FAIL, daemons[i], "%s%s", path,
            executable(path) ? "" : ": not an executable file");
    }
    /* Informational: no pool is fine, the next jailed container makes it. */
    add(&r, "programs", CHECK_OK, "spare pool", "%zu idle spares in %s/spares%s",
        dj_cli_spares(cfg, NULL), cfg->state_dir, " (a jailed container makes them when none)");
    add_keeper(&r, cfg);
    for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
        bool found = find_in_path(runtimes[i], path, sizeof(path));

        any_runtime = any_runtime || found;
        add(&r, "runtimes", found ? CHECK_OK : CHECK_WARN, runtimes[i], "%s",
            found ? path : "not found in PATH");
    }
    if (!any_runtime)
        add(&r, "runtimes", CHECK_FAIL, "a container runtime", "none found");
    check_kernel(&r);
    check_raw_policing(&r, cfg);
    check_engines(&r, any_hooks);
    {
        /* "Seccomp:" appears in /proc/self/status when the kernel filters syscalls. */
        cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        bool seccomp = false;

        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            seccomp = seccomp || strncmp(line, "Seccomp:", 8) == 0;
        add(&r, "kernel", seccomp ? CHECK_OK : CHECK_FAIL, "seccomp", "%s",
            seccomp ? "the kernel filters system calls" : "no Seccomp line in /proc/self/status");
    }

    for (size_t i = 0; i < r.n; i++)
        ready = ready && r.checks[i].state != CHECK_FAIL;
    if (json) {
        print_json(&r, ready);
    } else {
        for (size_t i = 0; i < r.n; i++)
            printf("%-4s  %-9s %-38s %s\n", state_text(r.checks[i].state), r.checks[i].area,
                   r.checks[i].what ? r.checks[i].what : "",
                   r.checks[i].detail ? r.checks[i].detail : "");
        printf("%s\n",
               ready ? "ready: this host can jail containers" : "NOT ready: see the FAIL lines");
    }
    for (size_t i = 0; i < r.n; i++) {
        free(r.checks[i].what);
        free(r.checks[i].detail);
    }
    return ready ? 0 : 1;
}

/* main.c: dnsjail-runtime, an OCI runtime command line in front of runc or crun, for engines
 * that read no hooks.d (Docker, containerd). Registered as a runtime, it is called exactly as
 * runc is: `[OWN OPTIONS] [GLOBAL FLAGS] COMMAND [ARGS]`. On `create` and `run` it adds
 * dnsjail's hooks to the bundle's config.json (lib/jail/ocihooks.h) and then executes the real
 * runtime with the same arguments; every other command goes to the runtime untouched, so its
 * output and exit code are the runtime's own.
 *
 * Its own options come first, before the runtime's (Docker's "runtimeArgs" are put there):
 *   --config FILE          the admin configuration (the hook gets the same --config)
 *   --profile NAME         the configuration's profile.NAME.* for every container (the hook
 *                          gets --profile NAME); one registered runtime per profile
 *   --runtime-binary PATH  the real runtime (default: the configuration's `runtime`, else runc)
 *   --hook-binary PATH     dnsjail-hook (default: the installed one; a knob for tests)
 * With the admin's drop-cap-net-raw, CAP_NET_RAW also leaves the bundle's capability sets
 * (Docker grants it to every container, and the hook refuses it otherwise).
 * A create it cannot carry out (config.json unreadable or not understood, the admin
 * configuration broken) fails with one line on stderr and in the runtime's --log file, in
 * runc's log format, since that file is where Docker looks for the reason. It never starts a
 * container it could not jail. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/file.h"
#include "jail/adminconf.h"
#include "jail/ocihooks.h"

#define CONFIG_JSON_MAX (16u << 20)
#define HOOK_TIMEOUT_S 10

/* What the runtime's command line says, as far as dnsjail needs it. */
struct runtime_call {
    const char *command;  /* "create", "run", …, or NULL */
    const char *bundle;   /* --bundle, or NULL for the current directory */
    const char *log_path; /* the runtime's --log */
    bool log_json;        /* --log-format json */
};

/* The runtime's global flags that take a value (runc's and crun's); any other flag before the
 * command is taken as a switch. "--flag=value" needs no table. */
static const char *const global_flags_with_value[] = {
    "--log",      "--log-format", "--root",           "--criu",
    "--rootless", "--log-level",  "--cgroup-manager", NULL,
};

/* create's and run's flags that take a value, so that a value is never taken for a flag. */
static const char *const create_flags_with_value[] = {
    "--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds", NULL,
};

/* runc's and crun's long flags come with one dash or two: "-root" is "--root". */
static bool in_list(const char *const *list, const char *arg)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, arg) == 0 || ((*list)[1] == '-' && strcmp(*list + 1, arg) == 0))
            return true;
    return false;
}

/* "--name=value" or "--name" "value": the value of flag NAME at ARGV[*I], or NULL. */
static const char *flag_value(char **argv, int argc, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], name) == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static void read_call(int argc, char **argv, struct runtime_call *call)
{
    int i = 0;
    const char *v;

    memset(call, 0, sizeof(*call));
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((v = flag_value(argv, argc, &i, "--log")) != NULL ||
            (v = flag_value(argv, argc, &i, "-log")) != NULL)
            call->log_path = v;
        else if ((v = flag_value(argv, argc, &i, "--log-format")) != NULL ||
                 (v = flag_value(argv, argc, &i, "-log-format")) != NULL)
            call->log_json = strcmp(v, "json") == 0;
        else if (strchr(argv[i], '=') == NULL && in_list(global_flags_with_value, argv[i]))
            i++;
    }
    if (i >= argc)
        return;
    call->command = argv[i++];
    if (strcmp(call->command, "create") != 0 && strcmp(call->command, "run") != 0)
        return;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if ((v = flag_value(argv, argc, &i, "--bundle")) != NULL ||
            (v = flag_value(argv, argc, &i, "-bundle")) != NULL ||
            (v = flag_value(argv, argc, &i, "-b")) != NULL)
            call->bundle = v;
        else if (argv[i][0] == '-' && strchr(argv[i], '=') == NULL &&
                 in_list(create_flags_with_value, argv[i]))
            i++;
    }
}

/* One line in the runtime's --log, the way runc writes its own errors there. */
static void log_refusal(const struct runtime_call *call, const char *message)
{
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    cleanup_close int fd = -1;

    if (call->log_path == NULL)
        return;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fd = open(call->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    if (call->log_json) {
        yajl_gen g = yajl_gen_alloc(NULL);
        const unsigned char *buf;
        size_t len;

        if (g == NULL)
            return;
        yajl_gen_map_open(g);
        yajl_gen_string(g, (const unsigned char *)"level", 5);
        yajl_gen_string(g, (const unsigned char *)"error", 5);
        yajl_gen_string(g, (const unsigned char *)"msg", 3);
        yajl_gen_string(g, (const unsigned char *)message, strlen(message));
        yajl_gen_string(g, (const unsigned char *)"time", 4);
        yajl_gen_string(g, (const unsigned char *)when, strlen(when));
        yajl_gen_map_close(g);
        if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
            dprintf(fd, "%.*s\n", (int)len, (const char *)buf);
        yajl_gen_free(g);
    } else {
        /* logrus's text format quotes the message with Go's %q; ours holds no quote or
         * backslash that a reader would misread beyond what %q would escape. */
        dprintf(fd, "time=\"%s\" level=error msg=\"", when);
        for (const char *p = message; *p != '\0'; p++)
            dprintf(fd, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
        dprintf(fd, "\"\n");
    }
}

static int refuse(const struct runtime_call *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(const struct runtime_call *call, int status, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fprintf(stderr, "dnsjail-runtime: %s\n", message);
    log_refusal(call, message);
    return status;
}

/* Replaces DIR/config.json with TEXT: a new file beside it, then a rename, so the runtime reads
 * either the old file or the whole new one. */
static int replace_config(int dir_fd, const struct stat *old, const char *text, size_t len,
                          dj_error_t *err)
{
    char tmp[64];
    cleanup_close int fd = -1;
    size_t done = 0;

    snprintf(tmp, sizeof(tmp), ".config.json.dnsjail-%ld", (long)getpid());
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                old->st_mode & 07777);
    if (fd < 0)
        return dj_error_make(err, errno, "cannot write a new config.json");
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            dj_error_make(err, n < 0 ? errno : EIO, "cannot write a new config.json");
            unlinkat(dir_fd, tmp, 0);
            return -1;
        }
        done += (size_t)n;
    }
    /* Same owner as the engine gave it, where we may (rootless engines cannot chown). */
    if (fchown(fd, old->st_uid, old->st_gid) < 0 && errno != EPERM) {
        dj_error_make(err, errno, "cannot give the new config.json its owner");
        unlinkat(dir_fd, tmp, 0);
        return -1;
    }
    if (renameat(dir_fd, tmp, dir_fd, "config.json") < 0) {
        dj_error_make(err, errno, "cannot replace config.json");
        unlinkat(dir_fd, tmp, 0);
        return -1;
    }
    return 0;
}

static int add_hooks(const char *bundle, const struct dj_ocihooks_spec *spec, dj_error_t *err)
{
    cleanup_close int dir_fd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int fd = -1;
    cleanup_free char *text = NULL;
    cleanup_free char *edited = NULL;
    size_t len, edited_len;
    struct stat st;
    int r;

    if (dir_fd < 0)
        return dj_error_make(err, errno, "bundle %s", bundle);
    fd = openat(dir_fd, "config.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0)
        return dj_error_make(err, errno, "%s/config.json", bundle);
    if (!S_ISREG(st.st_mode))
        return dj_error_make(err, EINVAL, "%s/config.json is not a regular file", bundle);
    if (dj_file_read_fd(fd, CONFIG_JSON_MAX, &text, &len) < 0)
        return dj_error_make(err, errno, "%s/config.json", bundle);
    r = dj_ocihooks_add(text, len, spec, &edited, &edited_len, err);
    if (r < 0)
        return dj_error_wrap(err, "%s", bundle);
    /* hooks.d's hook carries no --profile: running it would jail without the profile the
     * admin registered this runtime for. */
    if (r == DJ_OCIHOOKS_ALREADY && spec->profile != NULL)
        return dj_error_make(err, 0,
                             "%s/config.json already runs a dnsjail-hook (from hooks.d?), which "
                             "would not get --profile %s; choose the profile with the annotation "
                             "io.dnsjail.profile there instead",
                             bundle, spec->profile);
    if (edited == NULL)
        return 0;
    return replace_config(dir_fd, &st, edited, edited_len, err);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dnsjail-runtime [--config FILE] [--profile NAME] [--runtime-binary PATH] "
               "[--hook-binary PATH] [RUNTIME FLAGS] COMMAND [ARGS]\n"
               "An OCI runtime (runc's command line) that jails every container it creates with "
               "dnsjail, then runs the real runtime.\n");
}

int main(int argc, char **argv)
{
    const char *config_path = DJ_SYSCONFDIR "/dnsjail.conf";
    bool config_given = false;
    const char *runtime = NULL;
    const char *hook = DJ_LIBEXECDIR "/dnsjail-hook";
    const char *profile = NULL;
    bool creating;
    struct runtime_call call;
    struct dj_adminconf cfg;
    cleanup_error dj_error_t err = NULL;
    const char *v;
    int i = 1;

    for (; i < argc; i++) {
        if ((v = flag_value(argv, argc, &i, "--config")) != NULL) {
            config_path = v;
            config_given = true;
        } else if ((v = flag_value(argv, argc, &i, "--profile")) != NULL) {
            profile = v;
        } else if ((v = flag_value(argv, argc, &i, "--runtime-binary")) != NULL) {
            runtime = v;
        } else if ((v = flag_value(argv, argc, &i, "--hook-binary")) != NULL) {
            hook = v;
        } else if (strcmp(argv[i], "--dnsjail-help") == 0) {
            usage(stdout);
            return 0;
        } else {
            break;
        }
    }
    read_call(argc - i, argv + i, &call);
    if (i == argc) {
        usage(stderr);
        return 2;
    }

    creating = call.command != NULL &&
               (strcmp(call.command, "create") == 0 || strcmp(call.command, "run") == 0);
    /* Read when it decides something: the runtime to run, or (create) what the bundle gets.
     * Deleting a container needs no configuration, which may be broken by then. */
    if (dj_adminconf_init(&cfg, &err) < 0 ||
        ((runtime == NULL || creating) &&
         dj_adminconf_load(&cfg, config_path, !config_given, &err) < 0))
        return refuse(&call, 1, "%s", dj_error_msg(&err));
    if (runtime == NULL)
        runtime = cfg.runtime != NULL ? cfg.runtime : "runc";

    if (creating) {
        struct dj_ocihooks_spec spec = {
            .hook_path = hook,
            .config_path = config_given ? config_path : NULL,
            .profile = profile,
            .start_stage = "prestart",
            .timeout_s = HOOK_TIMEOUT_S,
            .drop_cap_net_raw = cfg.drop_cap_net_raw,
        };

        if (profile != NULL && !dj_adminconf_profile_name_ok(profile, strlen(profile))) {
            dj_adminconf_free(&cfg);
            return refuse(&call, 1, "--profile \"%s\" is not a profile name ([a-z0-9-])", profile);
        }
        if (hook[0] != '/') {
            dj_adminconf_free(&cfg);
            return refuse(&call, 1, "--hook-binary %s is not an absolute path", hook);
        }
        if (add_hooks(call.bundle != NULL ? call.bundle : ".", &spec, &err) < 0) {
            dj_adminconf_free(&cfg);
            return refuse(&call, 1, "not jailed, container not created: %s", dj_error_msg(&err));
        }
    }

    /* The runtime sees exactly what it would have seen without us, but our own options. */
    argv[i - 1] = (char *)runtime;
    execvp(runtime, argv + i - 1);
    {
        int saved = errno;

        dj_adminconf_free(&cfg);
        return refuse(&call, 127, "cannot run the runtime %s: %s", runtime, strerror(saved));
    }
}

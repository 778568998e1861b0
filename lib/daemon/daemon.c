#include "config.h"
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemonconf.h"
#include "daemon/jsonlog.h"
#include "daemon/metrics.h"
#include "jail/rootless.h"
#include "daemon/sandbox.h"
#include "daemon/spawn.h"

void dj_daemon_options_init(struct dj_daemon_options *o, const char *program,
                            struct dj_daemon_config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->program = program;
    o->cfg = cfg;
    o->ready_fd = -1;
    o->system_log_fd = -1;
    o->config_fd = -1;
    cfg->n_watch = 0;
    cfg->control_fd = -1;
    cfg->signal_fd = -1;
    cfg->log_fd = -1;
    cfg->metrics_dir_fd = -1;
    cfg->log_rate = DJ_DAEMON_DEFAULT_LOG_RATE;
    cfg->log_burst = DJ_DAEMON_DEFAULT_LOG_BURST;
}

/* 1 when OPT is a shared option (taken), 0 when it is not, -1 with *err when ARG is wrong. */
static int shared_option(struct dj_daemon_options *o, int opt, const char *arg, dj_error_t *err)
{
    struct dj_daemon_config *cfg = o->cfg;
    /* The options that name an open fd, and where it goes ... */
    const struct {
        int opt;
        const char *name;
        int *fd;
    } fd_options[] = {
        {DJ_DAEMON_OPT_READY_FD, "--ready-fd", &o->ready_fd},
        {DJ_DAEMON_OPT_CONTROL_FD, "--control-fd", &cfg->control_fd},
        {DJ_DAEMON_OPT_LOG_FD, "--log-fd", &cfg->log_fd},
        {DJ_DAEMON_OPT_SYSTEM_LOG_FD, "--system-log-fd", &o->system_log_fd},
        {DJ_DAEMON_OPT_METRICS_FD, "--metrics-fd", &cfg->metrics_dir_fd},
        {DJ_DAEMON_OPT_CONFIG_FD, "--config-fd", &o->config_fd},
    };
    /* ... and those whose text is kept as it is (checked when used). */
    const struct {
        int opt;
        const char **text;
    } text_options[] = {
        {DJ_DAEMON_OPT_SYSTEM_LOG_FORMAT, &o->system_log_format},
        {DJ_DAEMON_OPT_LOG_FILE, &o->log_file},
        {DJ_DAEMON_OPT_CONTAINER_ID, &cfg->container_id},
        {DJ_DAEMON_OPT_USER, &o->user},
        {DJ_DAEMON_OPT_METRICS_DIR, &o->metrics_dir},
        {DJ_DAEMON_OPT_NETNS_KEY, &cfg->netns_key},
    };
    unsigned long value;

    for (size_t i = 0; i < sizeof(fd_options) / sizeof(fd_options[0]); i++)
        if (fd_options[i].opt == opt)
            return dj_daemon_parse_fd(fd_options[i].name, arg, fd_options[i].fd, err) < 0 ? -1 : 1;
    for (size_t i = 0; i < sizeof(text_options) / sizeof(text_options[0]); i++) {
        if (text_options[i].opt == opt) {
            *text_options[i].text = arg;
            return 1;
        }
    }
    switch (opt) {
    case DJ_DAEMON_OPT_WATCH_PIDFD:
        if (dj_daemon_add_fd("--watch-pidfd", arg, cfg->watch_fds, &cfg->n_watch,
                             DJ_CTLSERVE_MAX_WATCHED, err) < 0)
            return -1;
        return 1;
    case DJ_DAEMON_OPT_LOG_RATE:
    case DJ_DAEMON_OPT_LOG_BURST:
        if (dj_daemon_parse_uint(arg, UINT_MAX, &value) < 0)
            return dj_error_make(err, 0, "%s: '%s' is not a number",
                                 opt == DJ_DAEMON_OPT_LOG_RATE ? "--log-rate" : "--log-burst", arg);
        *(opt == DJ_DAEMON_OPT_LOG_RATE ? &cfg->log_rate : &cfg->log_burst) = (unsigned)value;
        return 1;
    default:
        return 0;
    }
}

/* One setting, from the command line or the configuration. */
static int take_setting(struct dj_daemon_options *o, int opt, const char *value,
                        dj_daemon_apply_fn *apply, void *ctx, dj_error_t *err)
{
    int r = shared_option(o, opt, value, err);

    if (r != 0)
        return r < 0 ? -1 : 0;
    return apply(ctx, opt, value, err);
}

struct config_reader {
    struct dj_daemon_options *o;
    const struct option *longopts;
    dj_daemon_apply_fn *apply;
    void *ctx;
};

/* A key of the configuration is the name of the daemon's option that takes it; a key this
 * daemon has no option for is refused like an unknown one. */
static int config_setting(void *data, enum dj_daemonconf_key key, const char *value,
                          dj_error_t *err)
{
    struct config_reader *r = data;
    const char *name = dj_daemonconf_key_name(key);

    for (const struct option *opt = r->longopts; opt->name != NULL; opt++) {
        if (strcmp(opt->name, name) != 0)
            continue;
        if ((opt->has_arg == no_argument) != dj_daemonconf_key_is_flag(key))
            return dj_error_make(err, 0, "internal error: --%s and the configuration disagree",
                                 name);
        if (take_setting(r->o, opt->val, value, r->apply, r->ctx, err) < 0)
            return dj_error_wrap(err, "the daemon configuration");
        return 0;
    }
    return dj_error_make(err, 0, "the daemon configuration sets %s, which %s does not take", name,
                         r->o->program);
}

static int read_config(struct dj_daemon_options *o, const struct option *longopts,
                       dj_daemon_apply_fn *apply, void *ctx, dj_error_t *err)
{
    struct config_reader reader = {o, longopts, apply, ctx};
    size_t len;

    if (dj_daemonconf_read_fd(o->config_fd, &o->config_text, &len, err) < 0)
        return -1;
    close(o->config_fd);
    o->config_fd = -1;
    return dj_daemonconf_parse(o->config_text, len, config_setting, &reader, err);
}

int dj_daemon_parse_options(struct dj_daemon_options *o, int argc, char **argv,
                            const struct option *longopts, void (*usage)(FILE *out),
                            dj_daemon_apply_fn *apply, void *ctx, dj_error_t *err)
{
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == DJ_DAEMON_OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || opt == ':')
            return dj_error_make(err, 0, "unknown option or missing value: %s (see --help)",
                                 argv[optind - 1]);
        if (take_setting(o, opt, optarg, apply, ctx, err) < 0)
            return -1;
    }
    if (optind < argc)
        return dj_error_make(err, 0, "unexpected argument '%s' (see --help)", argv[optind]);
    if (o->config_fd >= 0 && read_config(o, longopts, apply, ctx, err) < 0)
        return -1;
    return 0;
}

int dj_daemon_options_check(const struct dj_daemon_options *o, dj_error_t *err)
{
    if (o->log_file != NULL && o->cfg->log_fd >= 0)
        return dj_error_make(err, 0, "--log-fd and --log-file exclude each other");
    if (o->metrics_dir != NULL && o->cfg->metrics_dir_fd >= 0)
        return dj_error_make(err, 0, "--metrics-fd and --metrics-dir exclude each other");
    return 0;
}

void dj_daemon_die(const struct dj_daemon_options *o, const char *message)
{
    fprintf(stderr, "%s: %s\n", o->program, message);
    if (o->ready_fd >= 0) {
        dj_spawn_report_failure(o->ready_fd, message);
    } else if (o->cfg->log_fd >= 0) {
        /* An assigned spare: the hook took the jail and went on at the hand-over
         * (lib/daemon/spare.c), so nobody reads a failure on a pipe. The jail's log (and the
         * system log) say it; its sockets close with us, and the container's traffic is
         * refused. */
        char line[DJ_JSON_MIN_SIZE * 16];
        struct dj_json j;
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        dj_json_begin(&j, line, sizeof(line));
        dj_json_add_time(&j, "time", &now);
        dj_json_add_cstring(&j, "event", "daemon_failed");
        dj_json_add_cstring(&j, "daemon", o->program);
        if (o->cfg->container_id != NULL)
            dj_json_add_cstring(&j, "container", o->cfg->container_id);
        dj_json_add_cstring(&j, "detail", message);
        dj_log_write(&(struct dj_log){.fd = o->cfg->log_fd}, line, dj_json_end(&j));
    }
    exit(1);
}

void dj_daemon_exit(int status)
{
    fflush(NULL);
    _exit(status);
}

void dj_daemon_refuse_root(const struct dj_daemon_options *o)
{
    if (o->user == NULL && dj_rootless_uid_means_root())
        dj_daemon_die(o, "refusing to serve as root: pass --user NAME");
}

int dj_daemon_check_fds(const struct dj_daemon_options *o, dj_error_t *err)
{
    const struct dj_daemon_config *cfg = o->cfg;

    if (cfg->control_fd >= 0 &&
        dj_daemon_check_socket("--control-fd", cfg->control_fd, SOCK_SEQPACKET, err) < 0)
        return -1;
    if (cfg->log_fd >= 0) {
        int mode = fcntl(cfg->log_fd, F_GETFL);

        if (mode < 0 || (mode & O_ACCMODE) == O_RDONLY)
            return dj_error_make(err, 0, "--log-fd %d is not open for writing", cfg->log_fd);
    }
    return 0;
}

static int open_log(struct dj_daemon_options *o, dj_error_t *err)
{
    struct dj_daemon_config *cfg = o->cfg;

    if (o->log_file == NULL)
        return 0;
    if (strcmp(o->log_file, "-") == 0) {
        cfg->log_fd = STDOUT_FILENO;
        return 0;
    }
    cfg->log_fd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (cfg->log_fd < 0)
        return dj_error_make(err, errno, "open log file %s", o->log_file);
    return 0;
}

/* The directory is opened now, while paths still work, and moved to the one descriptor number
 * the sandbox allows openat in, before anything keeps its number. */
static int open_metrics_dir(struct dj_daemon_options *o, dj_error_t *err)
{
    struct dj_daemon_config *cfg = o->cfg;
    struct stat st;

    if (o->metrics_dir != NULL) {
        cfg->metrics_dir_fd = open(o->metrics_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cfg->metrics_dir_fd < 0)
            return dj_error_make(err, errno, "--metrics-dir %s", o->metrics_dir);
    }
    if (cfg->metrics_dir_fd >= 0 && (fstat(cfg->metrics_dir_fd, &st) < 0 || !S_ISDIR(st.st_mode)))
        return dj_error_make(err, 0, "--metrics-fd %d is not a directory", cfg->metrics_dir_fd);
    return dj_sandbox_move_dir_fd(&cfg->metrics_dir_fd, err);
}

int dj_daemon_open_files(struct dj_daemon_options *o, dj_error_t *err)
{
    if (open_log(o, err) < 0 || open_metrics_dir(o, err) < 0)
        return -1;
    return 0;
}

int dj_daemon_setup_signals(struct dj_daemon_options *o, dj_error_t *err)
{
    sigset_t stop;

    /* Writes to a closed pipe or socket must come back as EPIPE, not kill us; a hang-up has
     * no meaning for a daemon without a terminal. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    /* An ignored signal never reaches the signalfd: undo what a shell may have set. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
        return dj_error_make(err, errno, "sigprocmask");
    o->cfg->signal_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (o->cfg->signal_fd < 0)
        return dj_error_make(err, errno, "signalfd");
    return 0;
}

int dj_daemon_enter_service(const struct dj_daemon_options *o, enum dj_seccomp_profile profile)
{
    dj_error_t err = NULL;

    if (dj_sandbox_enter_dirfd(o->user, profile, o->cfg->metrics_dir_fd, &err) < 0) {
        dj_error_wrap(&err, "entering the sandbox");
        dj_daemon_die(o, dj_error_msg(&err));
    }
    if (o->ready_fd >= 0 && dj_spawn_report_ready(o->ready_fd, &err) < 0) {
        /* Nobody waits for us any more; the hook has given up on this daemon. */
        fprintf(stderr, "%s: %s\n", o->program, dj_error_msg(&err));
        dj_error_release(&err);
        return -1;
    }
    return 0;
}

/* ---- option values ---------------------------------------------------------------------- */

int dj_daemon_parse_uint(const char *text, unsigned long max, unsigned long *value)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || *value > max)
        return -1;
    return 0;
}

int dj_daemon_parse_fd(const char *option, const char *text, int *fd, dj_error_t *err)
{
    unsigned long value;

    if (dj_daemon_parse_uint(text, INT_MAX, &value) < 0)
        return dj_error_make(err, 0, "%s: '%s' is not a file descriptor number", option, text);
    if (fcntl((int)value, F_GETFD) < 0)
        return dj_error_make(err, errno, "%s %lu", option, value);
    *fd = (int)value;
    return 0;
}

int dj_daemon_add_fd(const char *option, const char *text, int *fds, size_t *n, size_t max,
                     dj_error_t *err)
{
    if (*n == max)
        return dj_error_make(err, 0, "%s: at most %zu of them", option, max);
    if (dj_daemon_parse_fd(option, text, &fds[*n], err) < 0)
        return -1;
    (*n)++;
    return 0;
}

int dj_daemon_parse_port(const char *option, const char *text, uint16_t *port, dj_error_t *err)
{
    unsigned long value;

    if (dj_daemon_parse_uint(text, 65535, &value) < 0 || value == 0)
        return dj_error_make(err, 0, "%s: '%s' is not a port (1-65535)", option, text);
    *port = (uint16_t)value;
    return 0;
}

int dj_daemon_parse_listen(const char *option, const char *text, struct sockaddr_storage *addr,
                           socklen_t *len, dj_error_t *err)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port_text;
    uint16_t port;

    memset(addr, 0, sizeof(*addr));
    if (text[0] == '[') {
        const char *close_bracket = strchr(text, ']');
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
        size_t host_len = close_bracket != NULL ? (size_t)(close_bracket - text - 1) : 0;

        if (close_bracket == NULL || close_bracket[1] != ':' || host_len >= sizeof(host))
            return dj_error_make(err, 0, "%s: '%s' is not [IPV6]:PORT", option, text);
        memcpy(host, text + 1, host_len);
        host[host_len] = '\0';
        port_text = close_bracket + 2;
        sin6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return dj_error_make(err, 0, "%s: '%s' is not an IPv6 address", option, host);
        *len = sizeof(*sin6);
    } else {
        const char *colon = strrchr(text, ':');
        struct sockaddr_in *sin = (struct sockaddr_in *)addr;
        size_t host_len = colon != NULL ? (size_t)(colon - text) : 0;

        if (colon == NULL || host_len >= sizeof(host))
            return dj_error_make(err, 0, "%s: '%s' is not IPV4:PORT", option, text);
        memcpy(host, text, host_len);
        host[host_len] = '\0';
        port_text = colon + 1;
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return dj_error_make(err, 0, "%s: '%s' is not an IPv4 address", option, host);
        *len = sizeof(*sin);
    }
    if (dj_daemon_parse_port(option, port_text, &port, err) < 0)
        return -1;
    /* sin_port and sin6_port sit at the same offset. */
    ((struct sockaddr_in *)addr)->sin_port = htons(port);
    return 0;
}

int dj_daemon_check_socket(const char *option, int fd, int type, dj_error_t *err)
{
    int value = 0;
    socklen_t len = sizeof(value);
    int flags;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) < 0)
        return dj_error_make(err, errno, "%s %d is not a socket", option, fd);
    if (value != type)
        return dj_error_make(err, 0, "%s %d is not a %s socket", option, fd,
                             type == SOCK_STREAM  ? "TCP"
                             : type == SOCK_DGRAM ? "UDP"
                                                  : "SEQPACKET");
    if (type != SOCK_DGRAM) {
        len = sizeof(value);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) < 0 || value == 0)
            return dj_error_make(err, 0, "%s %d is not listening", option, fd);
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return dj_error_make(err, errno, "making %s %d non-blocking", option, fd);
    return 0;
}

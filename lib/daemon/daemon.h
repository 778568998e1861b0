/* daemon.h: what dnsjail's two daemons (dnsstub/, proxy/) do alike from their command line to
 * their event loop: the options they share (--ready-fd, --watch-pidfd, --control-fd, the log
 * and metrics options, --user), checking the fds they inherit, opening the log file and the
 * metrics directory, the signalfd, dying with a report to the hook, and entering the sandbox.
 * Each daemon keeps its own options, listeners and loop; the control socket itself is
 * lib/daemon/ctlserve.h's. Owns: that shared start-up, and the values the loops take from it. */
#ifndef DNSJAIL_DAEMON_H
#define DNSJAIL_DAEMON_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "daemon/ctlserve.h"
#include "base/error.h"
#include "daemon/seccompprofile.h"

#define DJ_DAEMON_DEFAULT_LOG_RATE 200
#define DJ_DAEMON_DEFAULT_LOG_BURST 400

/* What a daemon's loop takes from the shared options. */
struct dj_daemon_config {
    int watch_fds[DJ_CTLSERVE_MAX_WATCHED];
    size_t n_watch;
    int control_fd; /* listening AF_UNIX SOCK_SEQPACKET, or -1 */
    int signal_fd;  /* signalfd for SIGTERM and SIGINT */
    int log_fd;     /* -1: no log */
    unsigned log_rate;
    unsigned log_burst;
    const char *container_id; /* may be NULL */
    int metrics_dir_fd;       /* -1: no metrics file */
    const char *netns_key;    /* for the metrics' labels; may be NULL */
};

/* The shared options as given, and where start-up puts what the loop needs. */
struct dj_daemon_options {
    const char *program;          /* for messages, e.g. "dnsjail-dnsstub" */
    struct dj_daemon_config *cfg; /* inside the daemon's own configuration */
    int ready_fd;                 /* --ready-fd, or -1 */
    int system_log_fd;            /* --system-log-fd, or -1 */
    const char *system_log_format;
    const char *log_file;
    const char *user;
    const char *metrics_dir;
    int config_fd;     /* --config-fd, or -1 */
    char *config_text; /* what it held: the values of its settings point into it */
};

/* getopt_long values of the shared options: above any daemon's own (those start at 256). */
enum {
    DJ_DAEMON_OPT_READY_FD = 0x1000,
    DJ_DAEMON_OPT_WATCH_PIDFD,
    DJ_DAEMON_OPT_CONTROL_FD,
    DJ_DAEMON_OPT_LOG_FD,
    DJ_DAEMON_OPT_SYSTEM_LOG_FD,
    DJ_DAEMON_OPT_SYSTEM_LOG_FORMAT,
    DJ_DAEMON_OPT_LOG_FILE,
    DJ_DAEMON_OPT_CONTAINER_ID,
    DJ_DAEMON_OPT_LOG_RATE,
    DJ_DAEMON_OPT_LOG_BURST,
    DJ_DAEMON_OPT_USER,
    DJ_DAEMON_OPT_METRICS_FD,
    DJ_DAEMON_OPT_METRICS_DIR,
    DJ_DAEMON_OPT_NETNS_KEY,
    DJ_DAEMON_OPT_CONFIG_FD,
    DJ_DAEMON_OPT_HELP,
};

/* The shared options' entries, for the daemon's struct option array. */
/* clang-format off */
#define DJ_DAEMON_LONGOPTS                                                              \
    {"ready-fd", required_argument, NULL, DJ_DAEMON_OPT_READY_FD},                      \
    {"watch-pidfd", required_argument, NULL, DJ_DAEMON_OPT_WATCH_PIDFD},                \
    {"control-fd", required_argument, NULL, DJ_DAEMON_OPT_CONTROL_FD},                  \
    {"log-fd", required_argument, NULL, DJ_DAEMON_OPT_LOG_FD},                          \
    {"system-log-fd", required_argument, NULL, DJ_DAEMON_OPT_SYSTEM_LOG_FD},            \
    {"system-log-format", required_argument, NULL, DJ_DAEMON_OPT_SYSTEM_LOG_FORMAT},    \
    {"log-file", required_argument, NULL, DJ_DAEMON_OPT_LOG_FILE},                      \
    {"container-id", required_argument, NULL, DJ_DAEMON_OPT_CONTAINER_ID},              \
    {"log-rate", required_argument, NULL, DJ_DAEMON_OPT_LOG_RATE},                      \
    {"log-burst", required_argument, NULL, DJ_DAEMON_OPT_LOG_BURST},                    \
    {"user", required_argument, NULL, DJ_DAEMON_OPT_USER},                              \
    {"metrics-fd", required_argument, NULL, DJ_DAEMON_OPT_METRICS_FD},                  \
    {"metrics-dir", required_argument, NULL, DJ_DAEMON_OPT_METRICS_DIR},                \
    {"netns-key", required_argument, NULL, DJ_DAEMON_OPT_NETNS_KEY},                    \
    {"config-fd", required_argument, NULL, DJ_DAEMON_OPT_CONFIG_FD},                    \
    {"help", no_argument, NULL, DJ_DAEMON_OPT_HELP}
/* clang-format on */

/* Nothing given yet: every fd -1, the default log rate and burst. */
void dj_daemon_options_init(struct dj_daemon_options *o, const char *program,
                            struct dj_daemon_config *cfg);

/* Takes one of the daemon's own settings: OPT is its option's getopt value, VALUE its text (NULL
 * for a flag), which stays valid for the daemon's life. The one place each setting is read. */
typedef int dj_daemon_apply_fn(void *ctx, int opt, const char *value, dj_error_t *err);

/* Parses ARGV with getopt_long and LONGOPTS (DJ_DAEMON_LONGOPTS and the daemon's own), then the
 * configuration --config-fd hands over (lib/daemonconf.h), whose keys are the names of the same
 * options: each setting, from either, goes into O when it is a shared one, else to APPLY.
 * --help prints USAGE on stdout and exits 0. -1 with *err for an unknown option or key, a
 * missing value, an operand, or a value the option refuses. */
int dj_daemon_parse_options(struct dj_daemon_options *o, int argc, char **argv,
                            const struct option *longopts, void (*usage)(FILE *out),
                            dj_daemon_apply_fn *apply, void *ctx, dj_error_t *err);

/* The shared options' conflicts, once all are parsed. */
int dj_daemon_options_check(const struct dj_daemon_options *o, dj_error_t *err);

/* Reports a startup failure where someone can see it (stderr, and the hook through the ready
 * pipe) and exits non-zero. */
void dj_daemon_die(const struct dj_daemon_options *o, const char *message)
    __attribute__((noreturn));

/* Ends a daemon that served to its end: stdio flushed, then _exit. The C library's exit
 * handlers (_dl_fini and the rest) register nothing of ours, and only fault in pages the
 * daemon never touched since its spare forked it: ~7% of a jail's daemon's CPU time in a perf
 * profile of 20 jailed starts (docs/BENCHMARKS.md), spent as its containers end. */
void dj_daemon_exit(int status) __attribute__((noreturn));

/* Refuses (dies) to serve as root without --user. */
void dj_daemon_refuse_root(const struct dj_daemon_options *o);

/* Checks the inherited --control-fd (made non-blocking) and --log-fd. */
int dj_daemon_check_fds(const struct dj_daemon_options *o, dj_error_t *err);

/* Opens --log-file and --metrics-dir, while paths still work. */
int dj_daemon_open_files(struct dj_daemon_options *o, dj_error_t *err);

/* Routes SIGTERM and SIGINT to cfg->signal_fd and ignores SIGPIPE and SIGHUP. */
int dj_daemon_setup_signals(struct dj_daemon_options *o, dj_error_t *err);

/* Drops privileges into the seccomp sandbox (PROFILE's filter, with the metrics directory's
 * rules when there is one), dying on failure, then reports readiness. -1 (said on stderr) when
 * nobody waits for that any more; the daemon should exit 1. */
int dj_daemon_enter_service(const struct dj_daemon_options *o, enum dj_seccomp_profile profile);

/* ---- option values ---------------------------------------------------------------------- */

/* A decimal number without sign or spaces, at most MAX. */
int dj_daemon_parse_uint(const char *text, unsigned long max, unsigned long *value);

/* An open fd's number. OPTION names it in the message. */
int dj_daemon_parse_fd(const char *option, const char *text, int *fd, dj_error_t *err);

/* ... appended to FDS (N of them, at most MAX). */
int dj_daemon_add_fd(const char *option, const char *text, int *fds, size_t *n, size_t max,
                     dj_error_t *err);

/* A port, 1-65535. */
int dj_daemon_parse_port(const char *option, const char *text, uint16_t *port, dj_error_t *err);

/* "127.0.0.1:5300" or "[::1]:5300". */
int dj_daemon_parse_listen(const char *option, const char *text, struct sockaddr_storage *addr,
                           socklen_t *len, dj_error_t *err);

/* Checks that FD is a socket of TYPE (listening, unless SOCK_DGRAM), and makes it
 * non-blocking. */
int dj_daemon_check_socket(const char *option, int fd, int type, dj_error_t *err);

#endif

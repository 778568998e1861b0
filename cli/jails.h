/* jails.h: what the `dnsjail` command reads about the jails on this host, from the hook's
 * state directory (lib/jail/state.h describes the layout) and the daemons' metrics files.
 *
 * Read-only and lock-free: it takes no lock (that needs write access, and a hook run must
 * never wait for a person's command), so a jail can appear or vanish while it reads; what
 * vanished is skipped, what is half there is shown with what could be read. Everything read
 * is bounded, opened without following links and checked to be a regular file, and names
 * that will be printed are reduced to printable characters: the metrics files come from the
 * unprivileged daemons and are parsed by lib/report/promtext.
 * Owns: struct dj_jail_info and its reading. */
#ifndef DNSJAIL_CLI_JAILS_H
#define DNSJAIL_CLI_JAILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "base/error.h"

#define DJ_CLI_DAEMONS 2 /* dnsstub, proxy */

extern const char *const dj_cli_daemon_names[DJ_CLI_DAEMONS];

/* One series read back from a metrics file, without the jail's own labels. */
struct dj_jail_metric {
    char *name;
    char *labels; /* "k=v,k=v" in file order, "" without labels */
    double value;
};

struct dj_jail_daemon {
    pid_t pid; /* 0: no pid file, or not a pid */
    bool alive;
    bool have_metrics; /* its .prom file was there and read */
    long bad_lines;    /* lines of it that were not samples */
};

struct dj_jail_info {
    char *key;      /* netns key */
    char **members; /* container ids */
    size_t n_members;
    char *mode;     /* "enforce", "audit", or NULL when the policy is unreadable */
    char *rules;    /* the canonical allow list, or NULL */
    long n_rules;   /* -1: unknown */
    time_t created; /* 0: unknown */
    struct dj_jail_daemon daemons[DJ_CLI_DAEMONS];
    struct dj_jail_metric *metrics;
    size_t n_metrics;
    char *problem; /* what could not be read, or NULL */
};

/* Reads every jail under STATE_DIR into *JAILS (sorted by key). A state directory that does
 * not exist means no jails. -1 with *err when the directory cannot be read at all. */
int dj_jails_read(const char *state_dir, struct dj_jail_info **jails, size_t *n_jails,
                  dj_error_t *err);
void dj_jails_free(struct dj_jail_info *jails, size_t n_jails);

/* Sum of the values of series NAME (any labels) whose labels contain LABEL (NULL: all).
 * Returns -1 when there is no such series. */
double dj_jail_metric_sum(const struct dj_jail_info *jail, const char *name, const char *label);

#endif

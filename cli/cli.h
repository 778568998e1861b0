/* cli.h: the `dnsjail` command's subcommands. dnsjail.c parses the global options (the admin
 * config, which names the state directory) and hands each subcommand its own arguments.
 * Owns: the subcommands' entry points. */
#ifndef DNSJAIL_CLI_H
#define DNSJAIL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "jail/adminconf.h"

#define DJ_CLI_PROGRAM "dnsjail"

/* What the global options decided. */
struct dj_cli {
    const struct dj_adminconf *cfg; /* loaded, or the defaults when config_error is set */
    const char *config_path;
    const char *config_error; /* only `status` runs with a config that does not load */
};

/* Each returns the process's exit status: 0 done, 1 failed, 2 usage error. ARGV[0] is the
 * subcommand's name. */
int dj_cli_ps(const struct dj_cli *cli, int argc, char **argv);
int dj_cli_check(const struct dj_cli *cli, int argc, char **argv);
int dj_cli_status(const struct dj_cli *cli, int argc, char **argv);
int dj_cli_logs(const struct dj_cli *cli, int argc, char **argv);
int dj_cli_suggest(const struct dj_cli *cli, int argc, char **argv);
int dj_cli_setup(const struct dj_cli *cli, int argc, char **argv);

/* For `status`: has `dnsjail setup ENGINE` registered dnsjail-runtime there? WHERE gets the
 * file that says so. */
bool dj_cli_setup_present(const char *engine, char *where, size_t size);

/* cli-spares.c: the idle spares of CFG's pool; with OUT, one line each there (pid, kind,
 * "idle") under a heading. Returns how many. */
size_t dj_cli_spares(const struct dj_adminconf *cfg, FILE *out);

/* cli-status.c: where CFG's keeper is pinned, and whether it is there, in one phrase for
 * `status` and `ps` (malloc'd; NULL: out of memory). */
char *dj_cli_keeper_describe(const struct dj_adminconf *cfg);

#endif

/* cli.h: the `dnsjail` command's subcommands. dnsjail.c parses the global options (the admin
 * config, which names the state directory) and hands each subcommand its own arguments.
 * Owns: the subcommands' entry points. */
#ifndef DNSJAIL_CLI_H
#define DNSJAIL_CLI_H

#include <stdio.h>

#include "adminconf.h"

#define DJ_CLI_PROGRAM "dnsjail"

/* Each returns the process's exit status: 0 done, 1 failed, 2 usage error. ARGV[0] is the
 * subcommand's name. */
int dj_cli_ps(const struct dj_config *cfg, int argc, char **argv);
int dj_cli_check(const struct dj_config *cfg, int argc, char **argv);

#endif

#include "config.h"

/* dnsjail: the command for people who run dnsjail. It reads what the hook and the daemons
 * leave in the state directory, needing no privilege beyond reading that directory; only
 * `setup` changes anything (an engine's runtime registration, cli-setup.c). */

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jail/adminconf.h"
#include "cli.h"
#include "base/error.h"

#define DEFAULT_CONFIG DJ_SYSCONFDIR "/dnsjail.conf"

struct subcommand {
    const char *name;
    int (*run)(const struct dj_cli *cli, int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"ps", dj_cli_ps, "list the jailed containers with their daemons and counters"},
    {"logs", dj_cli_logs, "the decisions for one container ([-f] to follow)"},
    {"suggest", dj_cli_suggest, "an allow list from logs: what would have allowed what was seen"},
    {"check", dj_cli_check, "validate annotations or an admin config and explain the rules"},
    {"status", dj_cli_status, "is this host ready: hooks, programs, runtimes, kernel features"},
    {"setup", dj_cli_setup, "register dnsjail-runtime with docker, containerd, crio or podman"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: " DJ_CLI_PROGRAM " [--config FILE] COMMAND [OPTIONS]\n"
                 "       " DJ_CLI_PROGRAM " --help | --version\n"
                 "\n"
                 "Shows what dnsjail does on this host.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out,
            "\n"
            "Options:\n"
            "  -c, --config FILE  the admin configuration that names the state directory\n"
            "                     (default " DEFAULT_CONFIG ")\n"
            "  -h, --help         this text; '" DJ_CLI_PROGRAM " COMMAND --help' for a command\n"
            "  -V, --version      the version\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = DEFAULT_CONFIG;
    bool config_given = false;
    struct dj_adminconf cfg;
    struct dj_cli cli = {NULL, NULL, NULL};
    dj_error_t err = NULL;
    const char *command;
    int opt, status;

    opterr = 0;
    /* "+": stop at the command; what follows is the command's. */
    while ((opt = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            config_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf(DJ_CLI_PROGRAM " " PACKAGE_VERSION "\n");
            return 0;
        default:
            fprintf(stderr, DJ_CLI_PROGRAM ": unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    command = argv[optind];
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(command, subcommands[i].name) != 0)
            continue;
        /* The same file and rules as the hook: the state directory is where it says. */
        if (dj_adminconf_init(&cfg, &err) < 0) {
            fprintf(stderr, DJ_CLI_PROGRAM ": %s\n", dj_error_msg(&err));
            dj_error_release(&err);
            return 1;
        }
        if (dj_adminconf_load(&cfg, config_path, !config_given, &err) < 0) {
            /* A file with an error changes nothing (lib/jail/adminconf): cfg holds the defaults.
             * status reports the error among the rest; the others cannot go on. */
            if (subcommands[i].run != dj_cli_status) {
                fprintf(stderr, DJ_CLI_PROGRAM ": %s\n", dj_error_msg(&err));
                dj_error_release(&err);
                dj_adminconf_free(&cfg);
                return 1;
            }
            cli.config_error = dj_error_msg(&err);
        }
        cli.cfg = &cfg;
        cli.config_path = config_path;
        status = subcommands[i].run(&cli, argc - optind, argv + optind);
        dj_adminconf_free(&cfg);
        dj_error_release(&err);
        return status;
    }
    fprintf(stderr, DJ_CLI_PROGRAM ": unknown command '%s' (see --help)\n", command);
    return 2;
}

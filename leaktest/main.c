/* main.c: dnsjail-leaktest's subcommand dispatch. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "leaktest.h"

static void usage(FILE *out)
{
    fputs("usage: dnsjail-leaktest probe --canary-zone ZONE --canary-addr ADDR [options]\n"
          "       dnsjail-leaktest canary --zone ZONE [--listen ADDR]... [options]\n"
          "       dnsjail-leaktest report --state FILE [--json] < PROBE-OUTPUT\n"
          "Each subcommand takes --help. See docs/LEAKTEST.md.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "probe") == 0)
        return lt_probe_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "canary") == 0)
        return lt_canary_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0)
        return lt_report_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return LT_EXIT_OK;
    }
    fprintf(stderr, "dnsjail-leaktest: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return LT_EXIT_USAGE;
}

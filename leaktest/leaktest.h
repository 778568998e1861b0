/* leaktest.h: the parts of dnsjail-leaktest that its subcommands share.
 *
 * dnsjail-leaktest proves a jail holds where it runs: `probe` (inside the jailed container)
 * tries every egress channel with a fresh token each, `canary` (outside, where the user
 * controls the network) records every token that reaches it, and `report` joins the two. The
 * probe never needs a path to the canary to learn the result: the jail under test is expected
 * to block that path too. See docs/LEAKTEST.md. */
#ifndef DNSJAIL_LEAKTEST_H
#define DNSJAIL_LEAKTEST_H

/* Exit statuses of every subcommand. */
enum {
    LT_EXIT_OK = 0,     /* nothing leaked (probe: no leak confirmed locally) */
    LT_EXIT_LEAKED = 1, /* at least one channel leaked */
    LT_EXIT_USAGE = 2,  /* bad command line */
    LT_EXIT_ERROR = 3,  /* could not do the job (unreadable file, no socket, ...) */
};

/* What the canary puts in every answer, so a probe that reads it back knows for sure. */
#define LT_CANARY_MARKER "LEAKTEST-CANARY"

int lt_probe_main(int argc, char **argv);
int lt_canary_main(int argc, char **argv);
int lt_report_main(int argc, char **argv);

#endif

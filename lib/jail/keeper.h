/* keeper.h: the keeper, a small network namespace of dnsjail's own that holds an empty
 * `inet dnsjail` table (nat and filter output chains, a filter input chain, all accepting,
 * no rules), pinned by a bind mount at STATE-DIR-keeper/netns.
 *
 * Why: the kernel enables a netfilter hook point's static key (jump label) when the first
 * hook of that kind appears anywhere on the host, and patches the code when it does (~1.7 ms
 * measured, against 0.13 ms when another namespace already holds one). A jail whose table is
 * the host's only such hook would pay it at every container start (and disable the key again
 * when its namespace dies). The keeper holds the hooks for as long as the host runs, so only
 * the first jailed container after boot pays, once. docs/DESIGN.md "The keeper".
 * Owns: the keeper's path, creating it, and telling whether it is there. */
#ifndef DNSJAIL_KEEPER_H
#define DNSJAIL_KEEPER_H

#include <stdbool.h>

#include "base/error.h"

/* STATE_DIR-keeper/netns, malloc'd (NULL: out of memory). Beside the state directory, not in
 * it: the state directory holds only what jails leave. */
char *dj_keeper_pin_path(const char *state_dir);

/* Whether PIN is a pinned network namespace (a bind mount of an nsfs file). */
bool dj_keeper_present(const char *pin);

/* Creates the keeper at PIN unless it is there: a fresh network namespace (entered on a
 * thread of its own, so the caller's namespace stays as it was), its table, then the bind
 * mount that keeps it. *CREATED says whether this call made it. The pin lasts only as long as
 * the mount namespace the caller is in: call it from the host's. */
int dj_keeper_ensure(const char *pin, bool *created, dj_error_t *err);

#endif

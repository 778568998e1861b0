/* proc.h: which processes live in a network namespace, read from the namespace itself
 * (a scan of /proc/PID/ns/net), and an identity of a process that survives the hook's exit
 * (pid plus start time, so that a reused pid is not taken for the process that had it).
 * The jail's life cycle asks these questions instead of trusting its own records alone: the
 * table must not leave a namespace in which something it jailed still runs.
 * Owns: the /proc scan and the parsing of /proc/PID/stat. */
#ifndef DNSJAIL_PROC_H
#define DNSJAIL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

struct dj_proc_id {
    pid_t pid;
    unsigned long long start; /* field 22 of /proc/PID/stat: clock ticks after boot */
};

/* The start time in the text of a /proc/PID/stat file. The command name (field 2) is chosen
 * by the process and may hold blanks and parentheses: fields are counted after its last ')'.
 * -1 when the text is not such a line. */
int dj_proc_parse_start(const char *text, size_t len, unsigned long long *start);

/* Fills ID for the living process PID; -1 when it is gone (or a zombie's stat is unreadable). */
int dj_proc_identify(pid_t pid, struct dj_proc_id *id);

/* Whether ID still names the same process (alive or a zombie not yet reaped). */
bool dj_proc_same(const struct dj_proc_id *id);

/* Every process with a thread in the network namespace DEV:INO, as a malloc'd list. Zombies
 * have left every namespace and are not listed. A process whose namespace cannot be read
 * (another user's, when not root) is not listed either: the caller cannot know. */
int dj_proc_netns_list(dev_t dev, ino_t ino, struct dj_proc_id **list, size_t *n, dj_error_t *err);

/* Whether ID is in LIST. */
bool dj_proc_in(const struct dj_proc_id *id, const struct dj_proc_id *list, size_t n);

#endif

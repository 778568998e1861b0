/* trace.h: DNSJAIL_HOOK_TRACE=FILE, where the hook's time goes (bench/hook-trace.py reads it).
 * Each trace_mark names the phase that just ended; at exit one line per phase is appended to
 * FILE: "STAGE ID PHASE MICROSECONDS". Unset, a mark is one test of a flag: nothing is timed,
 * allocated or written, so the shipped hook runs as if there were no marks. */
#ifndef DNSJAIL_HOOK_TRACE_H
#define DNSJAIL_HOOK_TRACE_H

#include <stdbool.h>

extern bool trace_on;

/* Reads the environment once, at the start of main; STAGE labels the lines. */
void trace_init(const char *stage);
void trace_mark_slow(const char *phase);
/* Appends the phases to the file; ID is the container's. */
void trace_flush(const char *id);

static inline void trace_mark(const char *phase)
{
    if (trace_on)
        trace_mark_slow(phase);
}

#endif

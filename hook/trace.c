/* trace.c: the hook's per-phase timing for benchmarks (trace.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

/* More marks than any path of the hook makes; those past it are dropped, not written. */
#define TRACE_MAX_MARKS 48

bool trace_on;

static const char *trace_path;
static const char *trace_stage;
static struct timespec trace_last;
static struct {
    const char *phase;
    long long usec;
} marks[TRACE_MAX_MARKS];
static size_t n_marks;

void trace_init(const char *stage)
{
    const char *path = getenv("DNSJAIL_HOOK_TRACE");

    if (path == NULL || path[0] == '\0')
        return;
    trace_path = path;
    trace_stage = stage;
    trace_on = true;
    clock_gettime(CLOCK_MONOTONIC, &trace_last);
}

void trace_mark_slow(const char *phase)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (n_marks < TRACE_MAX_MARKS) {
        marks[n_marks].phase = phase;
        marks[n_marks].usec = (now.tv_sec - trace_last.tv_sec) * 1000000LL +
                              (now.tv_nsec - trace_last.tv_nsec) / 1000;
        n_marks++;
    }
    trace_last = now;
}

void trace_flush(const char *id)
{
    int fd;
    FILE *out;

    if (!trace_on || n_marks == 0)
        return;
    /* One write per run (a stdio buffer of its own, flushed once), so lines of hooks that run
     * at the same time do not interleave within a run's block. */
    fd = open(trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    out = fdopen(fd, "a");
    if (out == NULL) {
        close(fd);
        return;
    }
    setvbuf(out, NULL, _IOFBF, 8192);
    for (size_t i = 0; i < n_marks; i++)
        fprintf(out, "%s %s %s %lld\n", trace_stage, id != NULL ? id : "-", marks[i].phase,
                marks[i].usec);
    fclose(out);
}

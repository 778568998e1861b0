/* jsonlog.h: the daemons' event log: one JSON object per line, rate-limited.
 *
 * A line is built in a caller-owned buffer and written with a single write(2), so lines from
 * several daemons appending to one O_APPEND file do not interleave. Strings are escaped per
 * RFC 8259: '"', '\' and control characters (DEL too) are escaped; valid UTF-8 passes
 * through; every byte that is not part of valid UTF-8 is written as \u00XX (its value read
 * as a Latin-1 code point), so the line stays valid JSON and the odd byte stays visible.
 * A line that does not fit its buffer is cut at a field or escape boundary and ends with
 * "truncated":true; it is always a complete JSON object.
 *
 * The rate limiter is a token bucket on the monotonic clock (time passed in by the caller,
 * so tests control it). Lines it refuses are counted, and a summary
 * {"time":...,"event":"log_suppressed","count":N} is written when logging resumes or on a
 * periodic call, at most once per summary interval. Nothing here blocks or syncs.
 * Owns: JSON line building, the token bucket and the log fd's writes. */
#ifndef DNSJAIL_JSONLOG_H
#define DNSJAIL_JSONLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"

#define DJ_JSON_LINE_MAX 4096 /* a buffer size that holds any line the daemons write */
#define DJ_JSON_MIN_SIZE 64   /* smaller buffers get no line at all */
#define DJ_TIME_TEXT_SIZE 32  /* "2024-05-01T12:34:56.789Z" and NUL */

struct dj_json {
    char *buf;
    size_t cap;
    size_t len;
    bool truncated; /* something was cut or left out; later fields are left out too */
    bool has_field;
};

/* Starts a line ("{") in BUF (CAP bytes). CAP below DJ_JSON_MIN_SIZE gives an empty line. */
void dj_json_begin(struct dj_json *j, char *buf, size_t cap);

/* Adds "KEY":"VALUE" with VALUE of LEN bytes (any bytes, escaped). */
void dj_json_add_string(struct dj_json *j, const char *key, const char *value, size_t len);

/* Same for a NUL-terminated VALUE; NULL gives "KEY":null. */
void dj_json_add_cstring(struct dj_json *j, const char *key, const char *value);

void dj_json_add_null(struct dj_json *j, const char *key);
void dj_json_add_uint(struct dj_json *j, const char *key, uint64_t value);
void dj_json_add_bool(struct dj_json *j, const char *key, bool value);

/* Adds "KEY":"<RFC 3339 UTC time with milliseconds>" for the CLOCK_REALTIME time *TS. */
void dj_json_add_time(struct dj_json *j, const char *key, const struct timespec *ts);

/* Closes the object and adds the newline; BUF is also NUL-terminated. Returns the line's
 * length (0 when the buffer was too small to hold any line). */
size_t dj_json_end(struct dj_json *j);

/* RFC 3339 UTC with milliseconds, e.g. "2024-05-01T12:34:56.789Z", into OUT
 * (DJ_TIME_TEXT_SIZE bytes). Pure arithmetic: no time zone files, safe under seccomp. */
void dj_format_time(const struct timespec *ts, char *out);

/* Token bucket: RATE tokens per second up to BURST; a line costs one. RATE 0 = no limit. */
struct dj_ratelimit {
    uint64_t rate;       /* tokens per second; 0 = unlimited */
    uint64_t capacity;   /* burst, in nano-tokens */
    uint64_t tokens;     /* in nano-tokens (1e9 per line), so integer math stays exact */
    uint64_t last_ns;    /* monotonic time of the last refill */
    uint64_t suppressed; /* lines refused since the last dj_ratelimit_take_suppressed */
};

void dj_ratelimit_init(struct dj_ratelimit *rl, unsigned rate, unsigned burst, uint64_t now_ns);

/* True when a line may be written now (and takes its token); false counts it suppressed. */
bool dj_ratelimit_allow(struct dj_ratelimit *rl, uint64_t now_ns);

/* Returns the suppressed count and resets it. */
uint64_t dj_ratelimit_take_suppressed(struct dj_ratelimit *rl);

/* A daemon's log: where lines go, the limiter and the summary bookkeeping. */
struct dj_log {
    int fd; /* -1: logging is off, every call is a no-op */
    struct dj_ratelimit limit;
    uint64_t summary_interval_ns;
    uint64_t last_summary_ns;
    const char *container_id; /* put into summary lines when not NULL */
};

#define DJ_LOG_SUMMARY_INTERVAL_NS 1000000000ull

/* FD may be -1 (no logging). The log does not own FD or CONTAINER_ID. */
void dj_log_init(struct dj_log *log, int fd, unsigned rate, unsigned burst,
                 const char *container_id, uint64_t now_ns);

/* Call before building a line: true when it may be written. When it is the first line after
 * some were refused, writes the pending summary first (if the interval allows). Cheap when
 * logging is off or the line is refused. */
bool dj_log_admit(struct dj_log *log, uint64_t now_ns);

/* Writes LINE (LEN bytes, newline included) with one write(2); errors and short writes are
 * ignored on purpose: a full disk must not stop the daemon. */
void dj_log_write(const struct dj_log *log, const char *line, size_t len);

/* Writes the log_suppressed summary when lines were suppressed and the interval has passed
 * since the last summary (or FORCE, e.g. at exit). Call it periodically. */
void dj_log_summarize(struct dj_log *log, uint64_t now_ns, bool force);

/* True while a summary is waiting (so the daemon knows to wake up for it). */
bool dj_log_summary_pending(const struct dj_log *log);

/* The system log: journald (its native protocol, so `journalctl CONTAINER_ID=...` finds the
 * lines, next to podman's own) or a syslog socket. Process-wide like openlog(3): once set,
 * every dj_log_write also sends its line there as one datagram, without blocking (a full
 * socket drops the datagram; the log file still has the line). FD is a connected,
 * non-blocking AF_UNIX datagram socket; IDENT and CONTAINER_ID must outlive the process's use
 * of the log (argv strings do). */
enum dj_system_log_format { DJ_SYSTEM_LOG_NONE, DJ_SYSTEM_LOG_JOURNAL, DJ_SYSTEM_LOG_SYSLOG };

void dj_system_log_init(int fd, enum dj_system_log_format format, const char *ident,
                        const char *container_id);

/* Sends LINE (LEN bytes; a trailing newline is dropped) to the system log, if one is set. */
void dj_system_log_send(const char *line, size_t len);

/* "journal" or "syslog" (a daemon's --system-log-format); -1 for anything else. */
int dj_system_log_format_parse(const char *text, enum dj_system_log_format *format);

/* A daemon's --system-log-fd FD (-1: none) and --system-log-format FORMAT: checks them (FD a
 * socket, FORMAT known, both or neither) and sets the system log. 0, or -1 with *err. */
int dj_system_log_from_options(int fd, const char *format, const char *ident,
                               const char *container_id, dj_error_t *err);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t dj_monotonic_ns(void);

#endif

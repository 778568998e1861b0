#include "config.h"
#include "daemon/jsonlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define NS_PER_TOKEN 1000000000ull
/* Room always kept free for the worst ending: ,"truncated":true}\n and the NUL. */
#define TRUNCATED_TAIL ",\"truncated\":true}\n"
#define TAIL_RESERVE (sizeof(TRUNCATED_TAIL))

/* ---- JSON line building ------------------------------------------------------------------ */

void dj_json_begin(struct dj_json *j, char *buf, size_t cap)
{
    j->buf = buf;
    j->cap = cap >= DJ_JSON_MIN_SIZE ? cap : 0;
    j->len = 0;
    j->truncated = false;
    j->has_field = false;
    if (j->cap > 0)
        j->buf[j->len++] = '{';
    else if (buf != NULL && cap > 0)
        buf[0] = '\0';
}

static size_t body_limit(const struct dj_json *j)
{
    return j->cap - TAIL_RESERVE;
}

static bool put_raw(struct dj_json *j, const char *text, size_t len)
{
    if (len > body_limit(j) - j->len)
        return false;
    memcpy(j->buf + j->len, text, len);
    j->len += len;
    return true;
}

/* Length of the valid UTF-8 sequence starting at S (AVAIL bytes), or 0 when it is not one.
 * Overlong forms, surrogates and code points above U+10FFFF are not valid. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;

    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 4;
    else
        return 0;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (avail < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need;
}

/* Writes VALUE as a JSON string (quotes included). Stops at a whole escape unit when the
 * buffer runs out; returns false then (the string is still closed). */
static bool put_escaped(struct dj_json *j, const char *value, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)value;
    size_t i = 0;

    /* The opening quote and the closing one must both fit. */
    if (2 > body_limit(j) - j->len)
        return false;
    j->buf[j->len++] = '"';
    while (i < len) {
        char unit[6];
        const char *text = unit;
        size_t unit_len, consumed = 1;
        unsigned char c = s[i];

        if (c == '"' || c == '\\') {
            unit[0] = '\\';
            unit[1] = (char)c;
            unit_len = 2;
        } else if (c >= 0x20 && c < 0x7F) {
            text = (const char *)s + i;
            unit_len = 1;
            /* Copy a run of plain characters in one go: the common case. */
            while (i + unit_len < len && s[i + unit_len] >= 0x20 && s[i + unit_len] < 0x7F &&
                   s[i + unit_len] != '"' && s[i + unit_len] != '\\')
                unit_len++;
            consumed = unit_len;
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
            unit[0] = '\\';
            unit[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
            unit_len = 2;
        } else if (c >= 0x80 && (consumed = utf8_sequence(s + i, len - i)) > 0) {
            text = (const char *)s + i;
            unit_len = consumed;
        } else {
            /* Control characters, DEL and bytes that are not valid UTF-8. */
            memcpy(unit, "\\u00", 4);
            unit[4] = hex[c >> 4];
            unit[5] = hex[c & 0x0F];
            unit_len = 6;
            consumed = 1;
        }
        /* Keep one byte for the closing quote; a plain run may be cut anywhere. */
        if (unit_len + 1 > body_limit(j) - j->len) {
            if (text == (const char *)s + i && c >= 0x20 && c < 0x7F) {
                size_t fits = body_limit(j) - j->len - 1;
                memcpy(j->buf + j->len, text, fits);
                j->len += fits;
            }
            j->buf[j->len++] = '"';
            return false;
        }
        memcpy(j->buf + j->len, text, unit_len);
        j->len += unit_len;
        i += consumed;
    }
    j->buf[j->len++] = '"';
    return true;
}

/* Writes the separator and "KEY": — or nothing, when the line is already cut. Returns the
 * position to roll back to in *MARK. */
static bool start_field(struct dj_json *j, const char *key, size_t *mark)
{
    if (j->cap == 0 || j->truncated)
        return false;
    *mark = j->len;
    if ((j->has_field && !put_raw(j, ",", 1)) || !put_escaped(j, key, strlen(key)) ||
        !put_raw(j, ":", 1)) {
        j->len = *mark;
        j->truncated = true;
        return false;
    }
    return true;
}

static void add_raw_value(struct dj_json *j, const char *key, const char *text, size_t len)
{
    size_t mark;

    if (!start_field(j, key, &mark))
        return;
    if (!put_raw(j, text, len)) {
        j->len = mark;
        j->truncated = true;
        return;
    }
    j->has_field = true;
}

void dj_json_add_string(struct dj_json *j, const char *key, const char *value, size_t len)
{
    size_t mark;

    if (!start_field(j, key, &mark))
        return;
    /* A value that cannot even start is left out with its key. */
    if (body_limit(j) - j->len < 2) {
        j->len = mark;
        j->truncated = true;
        return;
    }
    if (!put_escaped(j, value, len))
        j->truncated = true;
    j->has_field = true;
}

void dj_json_add_cstring(struct dj_json *j, const char *key, const char *value)
{
    if (value == NULL)
        dj_json_add_null(j, key);
    else
        dj_json_add_string(j, key, value, strlen(value));
}

void dj_json_add_null(struct dj_json *j, const char *key)
{
    add_raw_value(j, key, "null", 4);
}

void dj_json_add_bool(struct dj_json *j, const char *key, bool value)
{
    add_raw_value(j, key, value ? "true" : "false", value ? 4 : 5);
}

void dj_json_add_uint(struct dj_json *j, const char *key, uint64_t value)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRIu64, value);

    add_raw_value(j, key, text, (size_t)n);
}

void dj_json_add_time(struct dj_json *j, const char *key, const struct timespec *ts)
{
    char text[DJ_TIME_TEXT_SIZE];

    dj_format_time(ts, text);
    dj_json_add_string(j, key, text, strlen(text));
}

size_t dj_json_end(struct dj_json *j)
{
    const char *tail = j->truncated ? &TRUNCATED_TAIL[j->has_field ? 0 : 1] : "}\n";
    size_t tail_len = strlen(tail);

    if (j->cap == 0)
        return 0;
    /* TAIL_RESERVE was never handed out to fields, so this always fits. */
    memcpy(j->buf + j->len, tail, tail_len + 1);
    j->len += tail_len;
    return j->len;
}

/* ---- time --------------------------------------------------------------------------------- */

/* Proleptic Gregorian date of DAYS since 1970-01-01, by 400-year eras (146097 days each),
 * counted from 0000-03-01 so that the leap day is the last day of a year. */
static void date_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
    int64_t since_0000_03_01 = days + 719468;
    int64_t era = (since_0000_03_01 >= 0 ? since_0000_03_01 : since_0000_03_01 - 146096) / 146097;
    unsigned day_of_era = (unsigned)(since_0000_03_01 - era * 146097);
    unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    unsigned month_from_march = (5 * day_of_year + 2) / 153;

    *day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    *month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
    *year = era * 400 + year_of_era + (*month <= 2 ? 1 : 0);
}

void dj_format_time(const struct timespec *ts, char *out)
{
    /* Years stay within 4 digits: a clock that far off is wrong anyway. */
    const int64_t last_second = 253402300799; /* 9999-12-31T23:59:59Z */
    int64_t seconds = ts->tv_sec < 0 ? 0 : ts->tv_sec > last_second ? last_second : ts->tv_sec;
    long nanoseconds = ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 ? ts->tv_nsec : 0;
    unsigned second_of_day = (unsigned)(seconds % 86400), month, day;
    int64_t year;
    char text[64];
    int n;

    date_from_days(seconds / 86400, &year, &month, &day);
    n = snprintf(text, sizeof(text), "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)year, month,
                 day, second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60,
                 (unsigned)(nanoseconds / 1000000));
    if (n < 0)
        n = 0;
    if (n >= DJ_TIME_TEXT_SIZE)
        n = DJ_TIME_TEXT_SIZE - 1; /* cannot happen with the clamped year */
    memcpy(out, text, (size_t)n);
    out[n] = '\0';
}

/* ---- rate limiting ------------------------------------------------------------------------ */

void dj_ratelimit_init(struct dj_ratelimit *rl, unsigned rate, unsigned burst, uint64_t now_ns)
{
    rl->rate = rate;
    rl->capacity = (uint64_t)(burst > 0 ? burst : 1) * NS_PER_TOKEN;
    rl->tokens = rl->capacity;
    rl->last_ns = now_ns;
    rl->suppressed = 0;
}

bool dj_ratelimit_allow(struct dj_ratelimit *rl, uint64_t now_ns)
{
    if (rl->rate == 0)
        return true;
    if (now_ns > rl->last_ns) {
        uint64_t elapsed = now_ns - rl->last_ns;
        uint64_t missing = rl->capacity - rl->tokens;

        /* RATE tokens per second is RATE nano-tokens per nanosecond. Compare first so the
         * product cannot overflow after a long idle time. */
        if (elapsed > missing / rl->rate)
            rl->tokens = rl->capacity;
        else
            rl->tokens += elapsed * rl->rate;
        rl->last_ns = now_ns;
    }
    if (rl->tokens >= NS_PER_TOKEN) {
        rl->tokens -= NS_PER_TOKEN;
        return true;
    }
    rl->suppressed++;
    return false;
}

uint64_t dj_ratelimit_take_suppressed(struct dj_ratelimit *rl)
{
    uint64_t n = rl->suppressed;

    rl->suppressed = 0;
    return n;
}

/* ---- the log ------------------------------------------------------------------------------ */

void dj_log_init(struct dj_log *log, int fd, unsigned rate, unsigned burst,
                 const char *container_id, uint64_t now_ns)
{
    log->fd = fd;
    dj_ratelimit_init(&log->limit, rate, burst, now_ns);
    log->summary_interval_ns = DJ_LOG_SUMMARY_INTERVAL_NS;
    log->last_summary_ns = now_ns - DJ_LOG_SUMMARY_INTERVAL_NS; /* the first may come at once */
    log->container_id = container_id;
}

bool dj_log_admit(struct dj_log *log, uint64_t now_ns)
{
    bool allowed;

    if (log->fd < 0)
        return false;
    allowed = dj_ratelimit_allow(&log->limit, now_ns);
    /* Logging resumes: say first how much was left out (unless a summary was just written;
     * the periodic call catches up). */
    if (allowed && log->limit.suppressed > 0)
        dj_log_summarize(log, now_ns, false);
    return allowed;
}

void dj_log_write(const struct dj_log *log, const char *line, size_t len)
{
    ssize_t n;

    if (log->fd < 0 || len == 0)
        return;
    do
        n = write(log->fd, line, len);
    while (n < 0 && errno == EINTR);
    dj_system_log_send(line, len);
}

/* ---- the system log -------------------------------------------------------------------- */

static struct {
    int fd;
    enum dj_system_log_format format;
    char header[512]; /* everything before the message, built once */
    size_t header_len;
} system_log = {-1, DJ_SYSTEM_LOG_NONE, "", 0};

void dj_system_log_init(int fd, enum dj_system_log_format format, const char *ident,
                        const char *container_id)
{
    int n;

    system_log.fd = -1;
    system_log.format = DJ_SYSTEM_LOG_NONE;
    if (fd < 0 || format == DJ_SYSTEM_LOG_NONE || ident == NULL)
        return;
    if (format == DJ_SYSTEM_LOG_JOURNAL) {
        /* Field values may hold anything but a newline; ids are checked by the hook, still
         * never let one end a field early. */
        if (container_id != NULL && strchr(container_id, '\n') == NULL)
            n = snprintf(system_log.header, sizeof(system_log.header),
                         "PRIORITY=6\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%ld\n"
                         "CONTAINER_ID=%.12s\nCONTAINER_ID_FULL=%s\nMESSAGE=",
                         ident, (long)getpid(), container_id, container_id);
        else
            n = snprintf(system_log.header, sizeof(system_log.header),
                         "PRIORITY=6\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%ld\n"
                         "MESSAGE=",
                         ident, (long)getpid());
    } else {
        /* RFC 3164 without a timestamp, as syslog(3) sends to /dev/log: daemon.info = 30. */
        n = snprintf(system_log.header, sizeof(system_log.header), "<30>%s[%ld]: ", ident,
                     (long)getpid());
    }
    if (n < 0 || (size_t)n >= sizeof(system_log.header))
        return;
    system_log.header_len = (size_t)n;
    system_log.fd = fd;
    system_log.format = format;
}

void dj_system_log_send(const char *line, size_t len)
{
    struct iovec iov[2];

    if (system_log.fd < 0 || len == 0)
        return;
    if (line[len - 1] == '\n')
        len--;
    iov[0].iov_base = system_log.header;
    iov[0].iov_len = system_log.header_len;
    iov[1].iov_base = (void *)line;
    iov[1].iov_len = len;
    /* A datagram each; EAGAIN (a busy journal) and every other error drop it. */
    if (writev(system_log.fd, iov, 2) < 0)
        return;
}

int dj_system_log_format_parse(const char *text, enum dj_system_log_format *format)
{
    if (strcmp(text, "journal") == 0)
        *format = DJ_SYSTEM_LOG_JOURNAL;
    else if (strcmp(text, "syslog") == 0)
        *format = DJ_SYSTEM_LOG_SYSLOG;
    else
        return -1;
    return 0;
}
int dj_system_log_from_options(int fd, const char *format_text, const char *ident,
                               const char *container_id, dj_error_t *err)
{
    enum dj_system_log_format format;
    struct stat st;

    if (fd < 0)
        return format_text == NULL
                   ? 0
                   : dj_error_make(err, 0, "--system-log-format without --system-log-fd");
    if (format_text == NULL || dj_system_log_format_parse(format_text, &format) < 0)
        return dj_error_make(err, 0, "--system-log-format: expected journal or syslog");
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return dj_error_make(err, 0, "--system-log-fd %d is not a socket", fd);
    dj_system_log_init(fd, format, ident, container_id);
    return 0;
}

bool dj_log_summary_pending(const struct dj_log *log)
{
    return log->fd >= 0 && log->limit.suppressed > 0;
}

void dj_log_summarize(struct dj_log *log, uint64_t now_ns, bool force)
{
    char line[DJ_JSON_MIN_SIZE * 8];
    struct dj_json j;
    struct timespec now;
    size_t len;

    if (!dj_log_summary_pending(log))
        return;
    if (!force && now_ns - log->last_summary_ns < log->summary_interval_ns)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    dj_json_begin(&j, line, sizeof(line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", "log_suppressed");
    if (log->container_id != NULL)
        dj_json_add_cstring(&j, "container", log->container_id);
    dj_json_add_uint(&j, "count", dj_ratelimit_take_suppressed(&log->limit));
    len = dj_json_end(&j);
    dj_log_write(log, line, len);
    log->last_summary_ns = now_ns;
}

uint64_t dj_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

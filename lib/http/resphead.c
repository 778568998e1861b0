#include "config.h"
#include "http/resphead.h"

#include <string.h>
#include <strings.h>

void resphead_scan_init(struct resphead_scan *scan)
{
    scan->scanned = 0;
}

/* Finds the end of the head (just after "\n\n" or "\n\r\n"); 0 when not there yet. */
static size_t find_head_end(struct resphead_scan *scan, const char *buf, size_t len)
{
    size_t i = scan->scanned;

    for (; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 >= len)
            break; /* decide when the next byte is here */
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r') {
            if (i + 2 >= len)
                break;
            if (buf[i + 2] == '\n')
                return i + 3;
        }
    }
    scan->scanned = i;
    return 0;
}

static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* [*start, *end) without surrounding SP and HTAB. */
static void trim(const char *buf, size_t *start, size_t *end)
{
    while (*start < *end && is_ows(buf[*start]))
        (*start)++;
    while (*end > *start && is_ows(buf[*end - 1]))
        (*end)--;
}

static bool span_is(const char *buf, size_t start, size_t end, const char *word)
{
    size_t n = strlen(word);

    return end - start == n && strncasecmp(buf + start, word, n) == 0;
}

struct fields {
    bool have_length;
    uint64_t length;
    bool bad_length;
    bool have_te;
    bool te_chunked_last;
    bool conn_close;
    bool conn_keep_alive;
};

/* Content-Length: one number, or a list of the same number (RFC 9110 8.6). */
static void read_content_length(const char *buf, size_t start, size_t end, struct fields *f)
{
    size_t pos = start;

    while (pos <= end) {
        size_t item_end = pos, a, b;
        uint64_t value = 0;

        while (item_end < end && buf[item_end] != ',')
            item_end++;
        a = pos;
        b = item_end;
        trim(buf, &a, &b);
        if (a == b) {
            f->bad_length = true;
            return;
        }
        for (size_t k = a; k < b; k++) {
            unsigned digit = (unsigned char)buf[k] - '0';

            if (digit > 9 || value > (UINT64_MAX / 2 - digit) / 10) {
                f->bad_length = true;
                return;
            }
            value = value * 10 + digit;
        }
        if (f->have_length && f->length != value) {
            f->bad_length = true;
            return;
        }
        f->have_length = true;
        f->length = value;
        pos = item_end + 1;
    }
}

/* Transfer-Encoding and Connection are comma-separated lists; parameters follow ';'. */
static void read_list(const char *buf, size_t start, size_t end, bool te, struct fields *f)
{
    size_t pos = start;

    while (pos <= end) {
        size_t item_end = pos, a, b;

        while (item_end < end && buf[item_end] != ',')
            item_end++;
        a = pos;
        b = item_end;
        for (size_t k = a; k < b; k++) {
            if (buf[k] == ';') {
                b = k;
                break;
            }
        }
        trim(buf, &a, &b);
        if (a < b) {
            if (te) {
                f->have_te = true;
                f->te_chunked_last = span_is(buf, a, b, "chunked");
            } else if (span_is(buf, a, b, "close")) {
                f->conn_close = true;
            } else if (span_is(buf, a, b, "keep-alive")) {
                f->conn_keep_alive = true;
            }
        }
        pos = item_end + 1;
    }
}

static enum resphead_result fail(struct resphead *out, enum resphead_result result,
                                 const char *problem)
{
    out->result = result;
    out->problem = problem;
    return result;
}

enum resphead_result resphead_parse(struct resphead_scan *scan, const char *buf, size_t len,
                                    bool request_was_head, struct resphead *out)
{
    struct fields f;
    size_t end, pos, line_end, content_end;

    memset(out, 0, sizeof(*out));
    memset(&f, 0, sizeof(f));
    end = find_head_end(scan, buf, len < RESPHEAD_MAX ? len : RESPHEAD_MAX);
    if (end == 0) {
        if (len >= RESPHEAD_MAX)
            return fail(out, RESPHEAD_TOO_LARGE, "response head over 32768 bytes");
        out->result = RESPHEAD_NEED_MORE;
        return RESPHEAD_NEED_MORE;
    }

    /* Status line: HTTP/1.D SP DDD [SP reason] */
    line_end = (size_t)((const char *)memchr(buf, '\n', end) - buf);
    content_end = line_end > 0 && buf[line_end - 1] == '\r' ? line_end - 1 : line_end;
    if (content_end < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9' ||
        buf[8] != ' ')
        return fail(out, RESPHEAD_BAD, "not an HTTP/1.x status line");
    for (size_t k = 9; k < 12; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return fail(out, RESPHEAD_BAD, "status code is not three digits");
    if (content_end > 12 && buf[12] != ' ')
        return fail(out, RESPHEAD_BAD, "status code is not three digits");
    out->version_minor = (unsigned)(buf[7] - '0');
    out->status =
        (unsigned)(buf[9] - '0') * 100 + (unsigned)(buf[10] - '0') * 10 + (unsigned)(buf[11] - '0');
    if (out->status < 100)
        return fail(out, RESPHEAD_BAD, "status code below 100");

    for (pos = line_end + 1; pos < end; pos = line_end + 1) {
        size_t colon, value_start, value_end;

        line_end = (size_t)((const char *)memchr(buf + pos, '\n', end - pos) - buf);
        content_end = line_end > pos && buf[line_end - 1] == '\r' ? line_end - 1 : line_end;
        if (content_end == pos)
            break; /* the blank line */
        if (is_ows(buf[pos]))
            return fail(out, RESPHEAD_BAD, "obs-fold in the response head");
        for (colon = pos; colon < content_end && buf[colon] != ':'; colon++)
            if (!is_tchar((unsigned char)buf[colon]))
                return fail(out, RESPHEAD_BAD, "bad field name in the response head");
        if (colon == pos || colon == content_end)
            return fail(out, RESPHEAD_BAD, "bad field line in the response head");
        value_start = colon + 1;
        value_end = content_end;
        trim(buf, &value_start, &value_end);
        if (span_is(buf, pos, colon, "content-length"))
            read_content_length(buf, value_start, value_end, &f);
        else if (span_is(buf, pos, colon, "transfer-encoding"))
            read_list(buf, value_start, value_end, true, &f);
        else if (span_is(buf, pos, colon, "connection"))
            read_list(buf, value_start, value_end, false, &f);
    }

    out->result = RESPHEAD_OK;
    out->head_len = end;
    out->keep_alive =
        out->version_minor >= 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
    if ((out->status >= 100 && out->status < 200) || out->status == 204 || out->status == 304 ||
        request_was_head) {
        out->body = RESPHEAD_BODY_NONE;
        return RESPHEAD_OK;
    }
    if (f.have_te) {
        /* RFC 9112 6.1 and 6.3: chunked last frames it; otherwise, or in HTTP/1.0, the server's
         * close does. With Content-Length beside it the connection is not reused. */
        if (f.te_chunked_last && out->version_minor >= 1) {
            out->body = RESPHEAD_BODY_CHUNKED;
            if (f.have_length || f.bad_length)
                out->keep_alive = false;
        } else {
            out->body = RESPHEAD_BODY_CLOSE;
            out->keep_alive = false;
        }
        return RESPHEAD_OK;
    }
    if (f.bad_length)
        return fail(out, RESPHEAD_BAD, "invalid or conflicting Content-Length in the response");
    if (f.have_length) {
        out->body = RESPHEAD_BODY_LENGTH;
        out->content_length = f.length;
        return RESPHEAD_OK;
    }
    out->body = RESPHEAD_BODY_CLOSE;
    out->keep_alive = false;
    return RESPHEAD_OK;
}

#include "config.h"
#include "http/httphead.h"

#include <arpa/inet.h>
#include <string.h>

#include "http/hostname.h"

#define IPV6_TEXT_MAX 45 /* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */
#define DEFAULT_PORT 80

/* ---- characters (ASCII only: no locale may change what a byte means) ---------------------- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* A byte allowed in a field value (field-vchar, SP, HTAB; obs-text included). */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool equal_nocase(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t i;

    if (a_len != b_len)
        return false;
    for (i = 0; i < a_len; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

static bool span_is(const char *buf, struct dj_http_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(buf + s.off, text, s.len) == 0;
}

static bool span_is_nocase(const char *buf, struct dj_http_span s, const char *text)
{
    return equal_nocase(buf + s.off, s.len, text, strlen(text));
}

/* ---- authorities: "host[:port]" in targets and the Host field ------------------------------ */

struct authority {
    struct dj_http_span host; /* brackets stripped from an IPv6 literal */
    bool ipv6;
    uint16_t port; /* 0: none */
};

/* A DNS-name-looking host (lib/http/hostname.h); dotted IPv4 passes too. */
static const char *check_host_name(const char *name, size_t len)
{
    unsigned char bad = 0;

    switch (dj_hostname_check(name, len, &bad)) {
    case DJ_HOSTNAME_OK:
        return NULL;
    case DJ_HOSTNAME_EMPTY:
        return "empty host";
    case DJ_HOSTNAME_TOO_LONG:
        return "host longer than 253 bytes";
    case DJ_HOSTNAME_EMPTY_LABEL:
        return "empty label in host";
    case DJ_HOSTNAME_LABEL_TOO_LONG:
        return "label longer than 63 bytes in host";
    case DJ_HOSTNAME_BAD_CHAR:
        break;
    }
    return bad == '%' ? "percent-encoding in host" : "character not allowed in host";
}

static const char *check_ipv6_literal(const char *text, size_t len)
{
    char copy[IPV6_TEXT_MAX + 1];
    struct in6_addr addr;
    size_t i;

    if (len == 0 || len > IPV6_TEXT_MAX)
        return "bad IPv6 literal in host";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        /* Zone identifiers ("%25eth0") and IPvFuture ("v1.x") are not for a proxy. */
        if (hex_value(c) < 0 && c != ':' && c != '.')
            return "bad IPv6 literal in host";
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (inet_pton(AF_INET6, copy, &addr) != 1)
        return "bad IPv6 literal in host";
    return NULL;
}

/* 1 to 5 digits, 1..65535. */
static const char *parse_port(const char *digits, size_t len, uint16_t *port)
{
    unsigned long value = 0;
    size_t i;

    if (len == 0 || len > 5)
        return "bad port";
    for (i = 0; i < len; i++) {
        if (!is_digit((unsigned char)digits[i]))
            return "bad port";
        value = value * 10 + (unsigned long)(digits[i] - '0');
    }
    if (value == 0 || value > 65535)
        return "bad port";
    *port = (uint16_t)value;
    return NULL;
}

/* Reads uri-host [":" port] (RFC 9110 7.2), the LEN bytes at OFF in BUF. */
static const char *parse_authority(const char *buf, size_t off, size_t len, bool need_port,
                                   struct authority *out)
{
    const char *s = buf + off;
    size_t host_end;
    const char *problem;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return "empty host";
    if (memchr(s, '@', len) != NULL)
        return "userinfo in host";
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);

        if (close == NULL)
            return "bad IPv6 literal in host";
        host_end = (size_t)(close - s) + 1;
        problem = check_ipv6_literal(s + 1, host_end - 2);
        if (problem != NULL)
            return problem;
        out->host.off = off + 1;
        out->host.len = host_end - 2;
        out->ipv6 = true;
        if (host_end < len && s[host_end] != ':')
            return "bad IPv6 literal in host";
    } else {
        const char *colon = memchr(s, ':', len);

        host_end = colon != NULL ? (size_t)(colon - s) : len;
        problem = check_host_name(s, host_end);
        if (problem != NULL)
            return problem;
        out->host.off = off;
        out->host.len = host_end;
    }

    if (host_end == len)
        return need_port ? "no port" : NULL;
    /* s[host_end] is the ':' */
    return parse_port(s + host_end + 1, len - host_end - 1, &out->port);
}

static bool same_authority(const char *buf, const struct authority *a, const struct authority *b)
{
    uint16_t port_a = a->port != 0 ? a->port : DEFAULT_PORT;
    uint16_t port_b = b->port != 0 ? b->port : DEFAULT_PORT;

    return a->ipv6 == b->ipv6 && port_a == port_b &&
           equal_nocase(buf + a->host.off, a->host.len, buf + b->host.off, b->host.len);
}

/* ---- the head ----------------------------------------------------------------------------- */

static enum dj_http_result refuse(struct dj_http_head *head, enum dj_http_result result,
                                  const char *problem)
{
    head->result = result;
    head->problem = problem;
    return result;
}

void dj_http_head_init(struct dj_http_head *head)
{
    memset(head, 0, sizeof(*head));
    head->result = DJ_HTTP_NEED_MORE;
}

static enum dj_http_result read_target(struct dj_http_head *head, const char *buf)
{
    struct dj_http_span t = head->target;
    const char *s = buf + t.off;
    struct authority auth;
    const char *problem;
    size_t i;

    if (t.len == 0)
        return refuse(head, DJ_HTTP_BAD_TARGET, "empty request-target");
    for (i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == ' ')
            return refuse(head, DJ_HTTP_BAD_TARGET, "space in request-target");
        if (c < 0x21 || c > 0x7e)
            return refuse(head, DJ_HTTP_BAD_TARGET, "control or non-ASCII byte in request-target");
    }

    if (span_is(buf, head->method, "CONNECT")) {
        problem = parse_authority(buf, t.off, t.len, true, &auth);
        if (problem != NULL)
            return refuse(head, DJ_HTTP_BAD_TARGET, "CONNECT target is not host:port");
        head->target_form = DJ_HTTP_TARGET_AUTHORITY;
    } else if (t.len == 1 && s[0] == '*') {
        if (!span_is(buf, head->method, "OPTIONS"))
            return refuse(head, DJ_HTTP_BAD_TARGET, "asterisk-form outside OPTIONS");
        head->target_form = DJ_HTTP_TARGET_ASTERISK;
        return DJ_HTTP_OK;
    } else if (s[0] == '/') {
        head->target_form = DJ_HTTP_TARGET_ORIGIN;
        head->path = t;
        return DJ_HTTP_OK;
    } else {
        static const char scheme[] = "http://";
        const size_t scheme_len = sizeof(scheme) - 1;
        size_t end = scheme_len;

        if (t.len < scheme_len || !equal_nocase(s, scheme_len, scheme, scheme_len))
            return refuse(head, DJ_HTTP_BAD_TARGET,
                          "request-target is neither a path nor an http:// URI");
        while (end < t.len && s[end] != '/' && s[end] != '?' && s[end] != '#')
            end++;
        problem = parse_authority(buf, t.off + scheme_len, end - scheme_len, false, &auth);
        if (problem != NULL)
            return refuse(head, DJ_HTTP_BAD_TARGET, problem);
        head->target_form = DJ_HTTP_TARGET_ABSOLUTE;
        head->path.off = t.off + end;
        head->path.len = t.len - end;
    }
    head->progress.have_target_authority = true;
    head->host = auth.host;
    head->host_is_ipv6 = auth.ipv6;
    head->port = auth.port;
    return DJ_HTTP_OK;
}

/* "method SP request-target SP HTTP-version" (RFC 9112 3), single spaces only. */
static enum dj_http_result read_request_line(struct dj_http_head *head, const char *buf,
                                             size_t start, size_t end)
{
    const char *line = buf + start;
    size_t len = end - start;
    const char *first_space = memchr(line, ' ', len);
    size_t first, last;
    struct dj_http_span version;

    if (first_space == NULL)
        return refuse(head, DJ_HTTP_BAD_REQUEST_LINE, "no space in the request line");
    first = (size_t)(first_space - line);
    last = len;
    while (line[last - 1] != ' ')
        last--;
    last--; /* the last space */

    /* The method's bytes were checked as they arrived (dj_http_head_parse). */
    head->method.off = start;
    head->method.len = first;

    if (last == first)
        return refuse(head, DJ_HTTP_BAD_VERSION, "no HTTP version (HTTP/0.9 request)");
    version.off = start + last + 1;
    version.len = len - last - 1;
    if (span_is(buf, version, "HTTP/1.1"))
        head->version_minor = 1;
    else if (span_is(buf, version, "HTTP/1.0"))
        head->version_minor = 0;
    else if (version.len >= 5 && memcmp(buf + version.off, "HTTP/", 5) == 0)
        return refuse(head, DJ_HTTP_BAD_VERSION, "HTTP version other than 1.0 and 1.1");
    else
        return refuse(head, DJ_HTTP_BAD_REQUEST_LINE, "request line does not end in HTTP/1.x");

    head->target.off = start + first + 1;
    head->target.len = last - first - 1;
    return read_target(head, buf);
}

/* A Connection field: a comma-separated list of tokens, empty elements allowed (RFC 9110
 * 5.6.1). Only "close" and "keep-alive" mean anything to us. */
static enum dj_http_result read_connection(struct dj_http_head *head, const char *buf, size_t start,
                                           size_t end)
{
    size_t pos = start;

    while (pos <= end) {
        size_t element_end = pos;
        size_t token_start, token_end, i;

        while (element_end < end && buf[element_end] != ',')
            element_end++;
        token_start = pos;
        token_end = element_end;
        while (token_start < token_end && is_ws((unsigned char)buf[token_start]))
            token_start++;
        while (token_end > token_start && is_ws((unsigned char)buf[token_end - 1]))
            token_end--;
        for (i = token_start; i < token_end; i++)
            if (!is_tchar((unsigned char)buf[i]))
                return refuse(head, DJ_HTTP_BAD_FIELD_VALUE, "Connection is not a token list");
        if (equal_nocase(buf + token_start, token_end - token_start, "close", 5))
            head->progress.connection_close = true;
        else if (equal_nocase(buf + token_start, token_end - token_start, "keep-alive", 10))
            head->progress.connection_keep_alive = true;
        pos = element_end + 1;
    }
    return DJ_HTTP_OK;
}

static enum dj_http_result read_content_length(struct dj_http_head *head, const char *buf,
                                               size_t start, size_t end)
{
    uint64_t value = 0;
    size_t i;

    if (head->progress.have_content_length)
        return refuse(head, DJ_HTTP_DUPLICATE_CONTENT_LENGTH, "more than one Content-Length");
    head->progress.have_content_length = true;
    if (head->progress.have_transfer_encoding)
        return refuse(head, DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING,
                      "Content-Length with Transfer-Encoding");
    if (start == end)
        return refuse(head, DJ_HTTP_BAD_CONTENT_LENGTH, "empty Content-Length");
    for (i = start; i < end; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (!is_digit(c))
            return refuse(head, DJ_HTTP_BAD_CONTENT_LENGTH, "Content-Length is not digits");
        if (value > (DJ_HTTP_MAX_CONTENT_LENGTH - (uint64_t)(c - '0')) / 10)
            return refuse(head, DJ_HTTP_BAD_CONTENT_LENGTH, "Content-Length too big");
        value = value * 10 + (uint64_t)(c - '0');
    }
    head->content_length = value;
    return DJ_HTTP_OK;
}

static enum dj_http_result read_transfer_encoding(struct dj_http_head *head, const char *buf,
                                                  size_t start, size_t end)
{
    if (head->progress.have_transfer_encoding)
        return refuse(head, DJ_HTTP_BAD_TRANSFER_ENCODING, "more than one Transfer-Encoding");
    head->progress.have_transfer_encoding = true;
    if (head->progress.have_content_length)
        return refuse(head, DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING,
                      "Content-Length with Transfer-Encoding");
    /* RFC 9112 6.1: a 1.0 message with Transfer-Encoding has faulty framing. */
    if (head->version_minor == 0)
        return refuse(head, DJ_HTTP_BAD_TRANSFER_ENCODING, "Transfer-Encoding in HTTP/1.0");
    if (!equal_nocase(buf + start, end - start, "chunked", 7))
        return refuse(head, DJ_HTTP_BAD_TRANSFER_ENCODING,
                      "Transfer-Encoding other than exactly chunked");
    return DJ_HTTP_OK;
}

static enum dj_http_result read_host_field(struct dj_http_head *head, const char *buf, size_t start,
                                           size_t end)
{
    struct authority auth;
    const char *problem;

    if (head->progress.have_host_field)
        return refuse(head, DJ_HTTP_DUPLICATE_HOST, "more than one Host");
    head->progress.have_host_field = true;
    problem = parse_authority(buf, start, end - start, false, &auth);
    if (problem != NULL)
        return refuse(head, DJ_HTTP_BAD_HOST, problem);
    head->progress.field_host = auth.host;
    head->progress.field_host_is_ipv6 = auth.ipv6;
    head->progress.field_port = auth.port;
    return DJ_HTTP_OK;
}

/* "field-name: OWS field-value OWS" (RFC 9112 5). */
static enum dj_http_result read_field_line(struct dj_http_head *head, const char *buf, size_t start,
                                           size_t end)
{
    const char *colon;
    size_t name_end, value_start, value_end, i;
    struct dj_http_span name;

    if (++head->field_count > DJ_HTTP_MAX_FIELDS)
        return refuse(head, DJ_HTTP_TOO_LARGE, "more than 100 header fields");
    if (is_ws((unsigned char)buf[start]))
        return refuse(head, DJ_HTTP_OBS_FOLD, "line folding (obs-fold)");
    colon = memchr(buf + start, ':', end - start);
    if (colon == NULL)
        return refuse(head, DJ_HTTP_BAD_FIELD_NAME, "header line without a colon");
    name_end = (size_t)(colon - buf);
    if (name_end == start)
        return refuse(head, DJ_HTTP_BAD_FIELD_NAME, "empty field name");
    if (is_ws((unsigned char)buf[name_end - 1]))
        return refuse(head, DJ_HTTP_SPACE_BEFORE_COLON, "whitespace before the colon");
    for (i = start; i < name_end; i++)
        if (!is_tchar((unsigned char)buf[i]))
            return refuse(head, DJ_HTTP_BAD_FIELD_NAME, "field name is not a token");
    for (i = name_end + 1; i < end; i++)
        if (!is_value_char((unsigned char)buf[i]))
            return refuse(head, DJ_HTTP_BAD_FIELD_VALUE, "control character in a field value");

    value_start = name_end + 1;
    value_end = end;
    while (value_start < value_end && is_ws((unsigned char)buf[value_start]))
        value_start++;
    while (value_end > value_start && is_ws((unsigned char)buf[value_end - 1]))
        value_end--;

    name.off = start;
    name.len = name_end - start;
    if (span_is_nocase(buf, name, "host"))
        return read_host_field(head, buf, value_start, value_end);
    if (span_is_nocase(buf, name, "content-length"))
        return read_content_length(head, buf, value_start, value_end);
    if (span_is_nocase(buf, name, "transfer-encoding"))
        return read_transfer_encoding(head, buf, value_start, value_end);
    if (span_is_nocase(buf, name, "connection"))
        return read_connection(head, buf, value_start, value_end);
    return DJ_HTTP_OK;
}

/* The blank line: decide host, framing and persistence. */
static enum dj_http_result finish_head(struct dj_http_head *head, const char *buf, size_t head_len)
{
    bool have_field = head->progress.have_host_field;

    if (!have_field && head->target_form != DJ_HTTP_TARGET_AUTHORITY)
        return refuse(head, DJ_HTTP_MISSING_HOST, "no Host");
    if (have_field && head->progress.have_target_authority) {
        struct authority from_target = {
            .host = head->host, .ipv6 = head->host_is_ipv6, .port = head->port};
        struct authority from_field = {.host = head->progress.field_host,
                                       .ipv6 = head->progress.field_host_is_ipv6,
                                       .port = head->progress.field_port};

        if (!same_authority(buf, &from_target, &from_field))
            return refuse(head, DJ_HTTP_HOST_MISMATCH, "Host differs from the request-target");
    } else if (have_field) {
        head->host = head->progress.field_host;
        head->host_is_ipv6 = head->progress.field_host_is_ipv6;
        head->port = head->progress.field_port;
    }

    if (head->progress.have_transfer_encoding)
        head->body = DJ_HTTP_BODY_CHUNKED;
    else if (head->progress.have_content_length)
        head->body = DJ_HTTP_BODY_LENGTH;
    else
        head->body = DJ_HTTP_BODY_NONE;

    if (head->version_minor == 1)
        head->keep_alive = !head->progress.connection_close;
    else
        head->keep_alive = head->progress.connection_keep_alive && !head->progress.connection_close;

    head->head_len = head_len;
    head->result = DJ_HTTP_OK;
    head->problem = NULL;
    return DJ_HTTP_OK;
}

enum dj_http_result dj_http_head_parse(struct dj_http_head *head, const char *buf, size_t len)
{
    if (head->result != DJ_HTTP_NEED_MORE)
        return head->result;

    for (;;) {
        size_t start = head->progress.line_start;
        size_t limit = DJ_HTTP_MAX_HEAD; /* the line's CRLF must end at or before this */
        size_t end, i;
        enum dj_http_result r;

        if (!head->progress.in_fields && start + DJ_HTTP_MAX_REQUEST_LINE + 2 < limit)
            limit = start + DJ_HTTP_MAX_REQUEST_LINE + 2;
        end = len < limit ? len : limit;

        /* Find this line's CR, refusing a bare LF or bare CR as soon as it is seen, and
         * the method's characters too: TLS or other binary bytes sent to the HTTP port are
         * refused at the first byte instead of after 8 KiB or a timeout. */
        for (i = head->progress.scanned; i < end; i++) {
            unsigned char c = (unsigned char)buf[i];

            if (c == '\n')
                return refuse(head, DJ_HTTP_BAD_LINE_ENDING, "LF without CR");
            if (c == '\r')
                break;
            if (!head->progress.in_fields && !head->progress.method_done) {
                if (c == ' ' && i == start)
                    return refuse(head, DJ_HTTP_BAD_METHOD, "empty method");
                if (c == ' ')
                    head->progress.method_done = true;
                else if (!is_tchar(c))
                    return refuse(head, DJ_HTTP_BAD_METHOD, "method is not a token");
            }
        }
        if (i >= end) {
            if (end > head->progress.scanned)
                head->progress.scanned = end;
            if (end == limit)
                return refuse(head, DJ_HTTP_TOO_LARGE,
                              head->progress.in_fields ? "request head too large"
                                                       : "request line too long");
            return DJ_HTTP_NEED_MORE;
        }
        head->progress.scanned = i; /* the CR: look at it again once its LF may be there */
        if (i + 1 >= limit)
            return refuse(head, DJ_HTTP_TOO_LARGE,
                          head->progress.in_fields ? "request head too large"
                                                   : "request line too long");
        if (i + 1 >= len)
            return DJ_HTTP_NEED_MORE;
        if (buf[i + 1] != '\n')
            return refuse(head, DJ_HTTP_BAD_LINE_ENDING, "CR without LF");

        /* A complete line [start, i). */
        if (!head->progress.in_fields) {
            /* RFC 9112 2.2: empty lines before the request line are ignored. */
            if (i > start) {
                r = read_request_line(head, buf, start, i);
                if (r != DJ_HTTP_OK)
                    return r;
                head->progress.in_fields = true;
            }
        } else if (i == start) {
            return finish_head(head, buf, i + 2);
        } else {
            r = read_field_line(head, buf, start, i);
            if (r != DJ_HTTP_OK)
                return r;
        }
        head->progress.line_start = i + 2;
        head->progress.scanned = i + 2;
    }
}

const char *dj_http_result_text(enum dj_http_result result)
{
    switch (result) {
    case DJ_HTTP_OK:
        return "ok";
    case DJ_HTTP_NEED_MORE:
        return "need_more";
    case DJ_HTTP_TOO_LARGE:
        return "too_large";
    case DJ_HTTP_BAD_LINE_ENDING:
        return "bad_line_ending";
    case DJ_HTTP_BAD_REQUEST_LINE:
        return "bad_request_line";
    case DJ_HTTP_BAD_METHOD:
        return "bad_method";
    case DJ_HTTP_BAD_TARGET:
        return "bad_target";
    case DJ_HTTP_BAD_VERSION:
        return "bad_version";
    case DJ_HTTP_OBS_FOLD:
        return "obs_fold";
    case DJ_HTTP_BAD_FIELD_NAME:
        return "bad_field_name";
    case DJ_HTTP_SPACE_BEFORE_COLON:
        return "space_before_colon";
    case DJ_HTTP_BAD_FIELD_VALUE:
        return "bad_field_value";
    case DJ_HTTP_MISSING_HOST:
        return "missing_host";
    case DJ_HTTP_DUPLICATE_HOST:
        return "duplicate_host";
    case DJ_HTTP_BAD_HOST:
        return "bad_host";
    case DJ_HTTP_HOST_MISMATCH:
        return "host_mismatch";
    case DJ_HTTP_BAD_CONTENT_LENGTH:
        return "bad_content_length";
    case DJ_HTTP_DUPLICATE_CONTENT_LENGTH:
        return "duplicate_content_length";
    case DJ_HTTP_BAD_TRANSFER_ENCODING:
        return "bad_transfer_encoding";
    case DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING:
        return "content_length_and_transfer_encoding";
    }
    return "unknown";
}

int dj_http_result_status(enum dj_http_result result)
{
    switch (result) {
    case DJ_HTTP_OK:
    case DJ_HTTP_NEED_MORE:
        return 0;
    case DJ_HTTP_TOO_LARGE:
        return 431;
    case DJ_HTTP_BAD_VERSION:
        return 505;
    default:
        return 400;
    }
}

/* ---- chunked bodies ------------------------------------------------------------------------ */

enum chunk_state {
    CHUNK_SIZE_FIRST, /* the first hex digit of a chunk-size */
    CHUNK_SIZE,       /* more hex digits */
    CHUNK_SIZE_BWS,   /* whitespace after the size: only ';' may follow */
    CHUNK_EXTENSION,  /* after ';' up to CR */
    CHUNK_SIZE_LF,
    CHUNK_DATA,
    CHUNK_DATA_CR,
    CHUNK_DATA_LF,
    TRAILER_LINE,  /* start of a trailer field line, or the final CRLF */
    TRAILER_NAME,  /* inside a field name */
    TRAILER_VALUE, /* after the colon up to CR */
    TRAILER_LF,    /* the LF ending a trailer field line */
    FINAL_LF,      /* the LF of the blank line that ends the message */
};

void dj_chunked_init(struct dj_chunked *chunked)
{
    memset(chunked, 0, sizeof(*chunked));
    chunked->result = DJ_CHUNKED_NEED_MORE;
    chunked->progress.state = CHUNK_SIZE_FIRST;
}

static enum dj_chunked_result chunk_error(struct dj_chunked *c, enum dj_chunked_result result,
                                          const char *problem)
{
    c->result = result;
    c->problem = problem;
    return result;
}

/* One framing byte (anything but chunk data). */
static enum dj_chunked_result chunk_step(struct dj_chunked *c, unsigned char b)
{
    int digit;

    switch (c->progress.state) {
    case CHUNK_SIZE_FIRST:
    case CHUNK_SIZE:
    case CHUNK_SIZE_BWS:
    case CHUNK_EXTENSION:
        if (++c->progress.line_len > DJ_HTTP_MAX_CHUNK_LINE + 1)
            return chunk_error(c, DJ_CHUNKED_TOO_LARGE, "chunk-size line too long");
        break;
    case TRAILER_LINE:
    case TRAILER_NAME:
    case TRAILER_VALUE:
    case TRAILER_LF:
    case FINAL_LF:
        if (++c->progress.trailer_len > DJ_HTTP_MAX_TRAILER)
            return chunk_error(c, DJ_CHUNKED_TOO_LARGE, "trailer section too large");
        break;
    default:
        break;
    }

    switch (c->progress.state) {
    case CHUNK_SIZE_FIRST:
        digit = hex_value(b);
        if (digit < 0)
            return chunk_error(c, DJ_CHUNKED_BAD_SIZE, "chunk size is not hex");
        c->progress.size = (uint64_t)digit;
        c->progress.state = CHUNK_SIZE;
        return DJ_CHUNKED_NEED_MORE;
    case CHUNK_SIZE:
        digit = hex_value(b);
        if (digit >= 0) {
            if (c->progress.size > (DJ_HTTP_MAX_CONTENT_LENGTH - (uint64_t)digit) / 16)
                return chunk_error(c, DJ_CHUNKED_BAD_SIZE, "chunk size too big");
            c->progress.size = c->progress.size * 16 + (uint64_t)digit;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == '\r') {
            c->progress.state = CHUNK_SIZE_LF;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == ';') {
            c->progress.state = CHUNK_EXTENSION;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (is_ws(b)) {
            c->progress.state = CHUNK_SIZE_BWS;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "LF without CR after chunk size");
        return chunk_error(c, DJ_CHUNKED_BAD_SIZE, "chunk size is not hex");
    case CHUNK_SIZE_BWS:
        if (is_ws(b))
            return DJ_CHUNKED_NEED_MORE;
        if (b == ';') {
            c->progress.state = CHUNK_EXTENSION;
            return DJ_CHUNKED_NEED_MORE;
        }
        return chunk_error(c, DJ_CHUNKED_BAD_EXTENSION, "whitespace after chunk size");
    case CHUNK_EXTENSION:
        /* Extensions are passed on, not interpreted: any text up to the CRLF. */
        if (b == '\r') {
            c->progress.state = CHUNK_SIZE_LF;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "LF without CR after chunk size");
        if (!is_value_char(b))
            return chunk_error(c, DJ_CHUNKED_BAD_EXTENSION,
                               "control character in a chunk extension");
        return DJ_CHUNKED_NEED_MORE;
    case CHUNK_SIZE_LF:
        if (b != '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "CR without LF after chunk size");
        c->progress.line_len = 0;
        c->progress.state = c->progress.size == 0 ? TRAILER_LINE : CHUNK_DATA;
        return DJ_CHUNKED_NEED_MORE;
    case CHUNK_DATA_CR:
        if (b != '\r')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "chunk data not followed by CRLF");
        c->progress.state = CHUNK_DATA_LF;
        return DJ_CHUNKED_NEED_MORE;
    case CHUNK_DATA_LF:
        if (b != '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "chunk data not followed by CRLF");
        c->progress.state = CHUNK_SIZE_FIRST;
        return DJ_CHUNKED_NEED_MORE;
    case TRAILER_LINE:
        if (b == '\r') {
            c->progress.state = FINAL_LF;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "LF without CR in the trailer");
        if (is_ws(b))
            return chunk_error(c, DJ_CHUNKED_BAD_TRAILER, "line folding in the trailer");
        if (!is_tchar(b))
            return chunk_error(c, DJ_CHUNKED_BAD_TRAILER, "trailer field name is not a token");
        if (++c->progress.trailer_fields > DJ_HTTP_MAX_FIELDS)
            return chunk_error(c, DJ_CHUNKED_TOO_LARGE, "more than 100 trailer fields");
        c->progress.state = TRAILER_NAME;
        return DJ_CHUNKED_NEED_MORE;
    case TRAILER_NAME:
        if (b == ':') {
            c->progress.state = TRAILER_VALUE;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (is_tchar(b))
            return DJ_CHUNKED_NEED_MORE;
        if (b == '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "LF without CR in the trailer");
        return chunk_error(c, DJ_CHUNKED_BAD_TRAILER, "trailer line is not name: value");
    case TRAILER_VALUE:
        if (b == '\r') {
            c->progress.state = TRAILER_LF;
            return DJ_CHUNKED_NEED_MORE;
        }
        if (b == '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "LF without CR in the trailer");
        if (!is_value_char(b))
            return chunk_error(c, DJ_CHUNKED_BAD_TRAILER, "control character in a trailer");
        return DJ_CHUNKED_NEED_MORE;
    case TRAILER_LF:
        if (b != '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "CR without LF in the trailer");
        c->progress.state = TRAILER_LINE;
        return DJ_CHUNKED_NEED_MORE;
    case FINAL_LF:
        if (b != '\n')
            return chunk_error(c, DJ_CHUNKED_BAD_LINE_ENDING, "CR without LF in the trailer");
        c->result = DJ_CHUNKED_DONE;
        return DJ_CHUNKED_DONE;
    default:
        return chunk_error(c, DJ_CHUNKED_BAD_SIZE, "internal state error");
    }
}

enum dj_chunked_result dj_chunked_feed(struct dj_chunked *chunked, const char *data, size_t len,
                                       size_t *used)
{
    size_t pos = 0;

    *used = 0;
    if (chunked->result != DJ_CHUNKED_NEED_MORE)
        return chunked->result;
    while (pos < len) {
        enum dj_chunked_result r;

        if (chunked->progress.state == CHUNK_DATA) {
            uint64_t n = chunked->progress.size;

            if (n > len - pos)
                n = len - pos;
            pos += (size_t)n;
            chunked->progress.size -= n;
            if (chunked->progress.size == 0)
                chunked->progress.state = CHUNK_DATA_CR;
            continue;
        }
        r = chunk_step(chunked, (unsigned char)data[pos]);
        if (r == DJ_CHUNKED_DONE) {
            *used = pos + 1;
            return r;
        }
        if (r != DJ_CHUNKED_NEED_MORE) {
            *used = pos;
            return r;
        }
        pos++;
    }
    *used = len;
    return DJ_CHUNKED_NEED_MORE;
}

uint64_t dj_chunked_data_left(const struct dj_chunked *chunked)
{
    if (chunked->result != DJ_CHUNKED_NEED_MORE || chunked->progress.state != CHUNK_DATA)
        return 0;
    return chunked->progress.size;
}

void dj_chunked_skip(struct dj_chunked *chunked, uint64_t n)
{
    uint64_t left = dj_chunked_data_left(chunked);

    if (n > left)
        n = left;
    if (n == 0)
        return;
    chunked->progress.size -= n;
    if (chunked->progress.size == 0)
        chunked->progress.state = CHUNK_DATA_CR;
}

const char *dj_chunked_result_text(enum dj_chunked_result result)
{
    switch (result) {
    case DJ_CHUNKED_NEED_MORE:
        return "need_more";
    case DJ_CHUNKED_DONE:
        return "done";
    case DJ_CHUNKED_BAD_SIZE:
        return "bad_chunk_size";
    case DJ_CHUNKED_BAD_EXTENSION:
        return "bad_chunk_extension";
    case DJ_CHUNKED_BAD_LINE_ENDING:
        return "bad_line_ending";
    case DJ_CHUNKED_BAD_TRAILER:
        return "bad_trailer";
    case DJ_CHUNKED_TOO_LARGE:
        return "too_large";
    }
    return "unknown";
}

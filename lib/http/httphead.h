/* httphead.h: HTTP/1.x request heads and chunked-body framing, read strictly enough that the
 * proxy and the server behind it cannot disagree about where a request starts and ends or
 * which host it is for (no request smuggling, no Host confusion).
 *
 * Pure code over the caller's buffer (no I/O, no allocation, no global state), written for a
 * non-blocking event loop. Owns: request-line and field syntax (RFC 9112 2-3, 5; RFC 9110
 * 5.5-5.6), the Host / target agreement, message body framing (RFC 9112 6) and the chunked
 * transfer coding (RFC 9112 7.1).
 *
 * Heads: the caller keeps appending received bytes to one buffer that starts where the
 * request starts (just after the previous message on a keep-alive connection) and calls
 * dj_http_head_parse() with all of it until the answer is not DJ_HTTP_NEED_MORE. The parser
 * remembers how far it got, so each byte is looked at once however the bytes arrive; the
 * buffer may move between calls but its first bytes must not change. Results are offsets
 * into that buffer, nothing is copied. A refused head answers 400 and closes, except
 * TOO_LARGE (431) and BAD_VERSION (505): see dj_http_result_status().
 *
 * Bodies: DJ_HTTP_BODY_LENGTH is content_length bytes; DJ_HTTP_BODY_CHUNKED is walked by a
 * struct dj_chunked, fed the body bytes as they pass, which says where the message ends.
 *
 * What is accepted and refused, and why, is in docs/PARSERS.md. In short: CRLF line endings
 * only; single spaces in the request line; HTTP/1.0 and HTTP/1.1 only; no obs-fold, no
 * whitespace before a colon, no control characters in values; exactly one Host (required in
 * 1.0 as well, except for CONNECT), which must agree with an absolute-form target; at most one
 * Content-Length, digits only; Transfer-Encoding only as exactly "chunked", only in 1.1, never
 * with Content-Length. */
#ifndef DNSJAIL_HTTPHEAD_H
#define DNSJAIL_HTTPHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DJ_HTTP_MAX_REQUEST_LINE 8192 /* bytes before its CRLF */
#define DJ_HTTP_MAX_HEAD                                                                           \
    32768                      /* the whole head with the blank line; a buffer this big            \
                                  always reaches an answer */
#define DJ_HTTP_MAX_FIELDS 100 /* header field lines (and trailer field lines) */
#define DJ_HTTP_MAX_HOST 253   /* a host name, without one trailing dot */
#define DJ_HTTP_MAX_CONTENT_LENGTH INT64_MAX /* fits off_t and ssize_t arithmetic */
#define DJ_HTTP_MAX_CHUNK_LINE 4096 /* a chunk-size line with its extensions, before CRLF */
#define DJ_HTTP_MAX_TRAILER 32768   /* the trailer section with its final CRLF */

enum dj_http_result {
    DJ_HTTP_OK = 0,
    DJ_HTTP_NEED_MORE,
    DJ_HTTP_TOO_LARGE,          /* over a limit above (431) */
    DJ_HTTP_BAD_LINE_ENDING,    /* a LF without CR, or a CR without LF */
    DJ_HTTP_BAD_REQUEST_LINE,   /* not "method SP request-target SP HTTP-version" */
    DJ_HTTP_BAD_METHOD,         /* empty or not a token */
    DJ_HTTP_BAD_TARGET,         /* space, control or non-ASCII byte, or the wrong form */
    DJ_HTTP_BAD_VERSION,        /* HTTP/0.9 (no version), HTTP/1.2, HTTP/2.0, ... (505) */
    DJ_HTTP_OBS_FOLD,           /* a field line starting with SP or HTAB */
    DJ_HTTP_BAD_FIELD_NAME,     /* empty, not a token, or no colon */
    DJ_HTTP_SPACE_BEFORE_COLON, /* "Name : value" */
    DJ_HTTP_BAD_FIELD_VALUE,    /* NUL or another control character; a bad Connection list */
    DJ_HTTP_MISSING_HOST,
    DJ_HTTP_DUPLICATE_HOST,
    DJ_HTTP_BAD_HOST,      /* userinfo, a character outside a DNS name, a bad port, ... */
    DJ_HTTP_HOST_MISMATCH, /* the absolute-form or CONNECT target names another authority */
    DJ_HTTP_BAD_CONTENT_LENGTH,
    DJ_HTTP_DUPLICATE_CONTENT_LENGTH,
    DJ_HTTP_BAD_TRANSFER_ENCODING, /* not exactly "chunked", repeated, or in HTTP/1.0 */
    DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING,
};

enum dj_http_target_form {
    DJ_HTTP_TARGET_ORIGIN,    /* "/path?query" */
    DJ_HTTP_TARGET_ABSOLUTE,  /* "http://authority/path?query" (only the http scheme) */
    DJ_HTTP_TARGET_AUTHORITY, /* "host:port", CONNECT only (the proxy refuses CONNECT) */
    DJ_HTTP_TARGET_ASTERISK,  /* "*", OPTIONS only */
};

enum dj_http_body {
    DJ_HTTP_BODY_NONE,    /* neither Content-Length nor Transfer-Encoding: no body */
    DJ_HTTP_BODY_LENGTH,  /* content_length bytes (may be 0) */
    DJ_HTTP_BODY_CHUNKED, /* walk it with struct dj_chunked */
};

/* LEN bytes at offset OFF of the caller's buffer. */
struct dj_http_span {
    size_t off;
    size_t len;
};

struct dj_http_head {
    enum dj_http_result result;
    const char *problem; /* what exactly is wrong, for logs (static text); NULL unless refused */

    /* The rest is valid with DJ_HTTP_OK only. */
    size_t head_len; /* bytes through the blank line (empty lines before the request too) */
    struct dj_http_span method; /* case-sensitive, as sent */
    struct dj_http_span target; /* the request-target as sent */
    enum dj_http_target_form target_form;
    /* Origin-form: the target. Absolute-form: what follows the authority, possibly empty
     * (meaning "/") or starting with '?'. Other forms: empty. */
    struct dj_http_span path;
    unsigned version_minor; /* HTTP/1.0 or HTTP/1.1 */
    /* The host the request is for: from the target when it has an authority (it agrees with
     * the Host field), else from the Host field. Case as sent; an IPv6 literal without its
     * brackets; a trailing dot kept. */
    struct dj_http_span host;
    bool host_is_ipv6;
    uint16_t port; /* 0 when no port was given (80 applies; CONNECT always has one) */
    enum dj_http_body body;
    uint64_t content_length; /* with DJ_HTTP_BODY_LENGTH */
    bool keep_alive;         /* the connection stays open after this exchange */
    unsigned field_count;

    struct {
        size_t line_start; /* the line being read */
        size_t scanned;    /* [line_start, scanned) holds no CR or LF */
        bool in_fields;    /* the request line is done */
        bool method_done;  /* the request line's first space was seen */
        bool have_target_authority;
        bool have_host_field;
        struct dj_http_span field_host;
        bool field_host_is_ipv6;
        uint16_t field_port;
        bool have_content_length;
        bool have_transfer_encoding;
        bool connection_close;
        bool connection_keep_alive;
    } progress; /* private to httphead.c */
};

/* Prepares *HEAD for a new request. */
void dj_http_head_init(struct dj_http_head *head);

/* Reads the request head at the start of BUF (LEN bytes received so far, LEN never smaller
 * than in the previous call for this head) and returns (and stores in head->result) the
 * outcome. Once the result is not NEED_MORE, further calls return it again. */
enum dj_http_result dj_http_head_parse(struct dj_http_head *head, const char *buf, size_t len);

/* A short constant name for a result, for logs: "ok", "need_more", "too_large", ... */
const char *dj_http_result_text(enum dj_http_result result);

/* The status a proxy answers a refused head with: 431 for TOO_LARGE, 505 for BAD_VERSION,
 * 400 for the rest; 0 for OK and NEED_MORE. */
int dj_http_result_status(enum dj_http_result result);

/* ---- chunked bodies ---------------------------------------------------------------------- */

enum dj_chunked_result {
    DJ_CHUNKED_NEED_MORE = 0,   /* the message goes on */
    DJ_CHUNKED_DONE,            /* the last chunk and the trailer section are complete */
    DJ_CHUNKED_BAD_SIZE,        /* not hex, no digits, or over DJ_HTTP_MAX_CONTENT_LENGTH */
    DJ_CHUNKED_BAD_EXTENSION,   /* a control character in a chunk extension, or BWS without ';' */
    DJ_CHUNKED_BAD_LINE_ENDING, /* bare LF or CR; chunk data not followed by CRLF */
    DJ_CHUNKED_BAD_TRAILER,     /* a trailer line that is not "name: value" */
    DJ_CHUNKED_TOO_LARGE,       /* a chunk-size line or the trailer section over its limit */
};

struct dj_chunked {
    enum dj_chunked_result result;
    const char *problem; /* static text; NULL unless an error */
    struct {
        unsigned state;
        uint64_t size;      /* the chunk size being read, then its data bytes left */
        size_t line_len;    /* bytes of the current chunk-size line */
        size_t trailer_len; /* bytes of the trailer section */
        unsigned trailer_fields;
    } progress; /* private to httphead.c */
};

void dj_chunked_init(struct dj_chunked *chunked);

/* Walks the next LEN body bytes at DATA. Returns (and stores in chunked->result) the outcome
 * and sets *USED: with NEED_MORE all LEN bytes; with DONE the bytes up to and including the
 * message's last CRLF (what follows is the next request); with an error the bytes before the
 * offending one. After DONE or an error it returns the same again and uses nothing. */
enum dj_chunked_result dj_chunked_feed(struct dj_chunked *chunked, const char *data, size_t len,
                                       size_t *used);

/* Chunk data bytes that come next and that the walker passes over without looking at (0
 * outside chunk data). A relay may move up to that many with splice(2) and then account for
 * them with dj_chunked_skip() instead of feeding them. */
uint64_t dj_chunked_data_left(const struct dj_chunked *chunked);

/* Accounts for N chunk data bytes moved without dj_chunked_feed(); N at most
 * dj_chunked_data_left() (larger N is cut to it). */
void dj_chunked_skip(struct dj_chunked *chunked, uint64_t n);

const char *dj_chunked_result_text(enum dj_chunked_result result);

#endif

/* resphead.h: where an HTTP/1.x response from an upstream server ends (RFC 9112 6.3), so the
 * proxy can keep a client connection open for its next request, which it must inspect.
 *
 * Pure code over the caller's buffer, like lib/httphead. Unlike request heads, responses
 * come from a host the policy allows, and nothing the proxy decides depends on them but
 * framing: whatever this parser cannot frame with certainty (a malformed head, conflicting or
 * invalid Content-Length, a head over the limit) is relayed as it is until the server closes,
 * and the client connection is closed after it, so proxy and client never disagree about
 * where the next request starts. Bare LF line endings are accepted (servers send them; a
 * client reads them the same way). Owns: the response status line and the framing fields. */
#ifndef DNSJAIL_RESPHEAD_H
#define DNSJAIL_RESPHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESPHEAD_MAX 32768 /* head bytes, blank line included */

enum resphead_result {
    RESPHEAD_NEED_MORE = 0,
    RESPHEAD_OK,
    RESPHEAD_BAD,       /* not a response head we can frame: relay until close */
    RESPHEAD_TOO_LARGE, /* no end within RESPHEAD_MAX: relay until close */
};

enum resphead_body {
    RESPHEAD_BODY_NONE,    /* HEAD request, 1xx, 204, 304 */
    RESPHEAD_BODY_LENGTH,  /* content_length bytes */
    RESPHEAD_BODY_CHUNKED, /* the chunked coding */
    RESPHEAD_BODY_CLOSE,   /* until the server closes */
};

/* Between calls on one growing buffer: how far the search for the blank line got. */
struct resphead_scan {
    size_t scanned;
};

struct resphead {
    enum resphead_result result;
    const char *problem; /* static text with BAD and TOO_LARGE */
    size_t head_len;     /* with OK: bytes through the blank line */
    unsigned status;     /* 100..999 */
    unsigned version_minor;
    enum resphead_body body;
    uint64_t content_length;
    bool keep_alive; /* the server keeps the connection open after this response */
};

void resphead_scan_init(struct resphead_scan *scan);

/* Reads the response head at the start of BUF (LEN bytes so far; the same bytes as in the
 * previous call with SCAN, possibly more). REQUEST_WAS_HEAD: the request was a HEAD, so the
 * response has no body whatever its fields say. */
enum resphead_result resphead_parse(struct resphead_scan *scan, const char *buf, size_t len,
                                    bool request_was_head, struct resphead *out);

#endif

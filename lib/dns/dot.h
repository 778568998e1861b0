/* dot.h: DNS over TLS (RFC 7858) connections for lib/dns/resolver: the TLS side only (connect,
 * handshake, authentication of the server, 2-byte framing both ways); which query goes on
 * which connection, ids, timeouts, reconnects and failover are the resolver's.
 *
 * Trust (per tls:// server, see lib/dns/upstream.h for the syntax):
 *  - TLS 1.2 or later; the server name (AUTH-NAME, when given) is sent as SNI.
 *  - Without pins: the chain must verify against the CA file (ca-file=) or the system's
 *    store, and the certificate must name AUTH-NAME (X509_VERIFY_PARAM_set1_host).
 *  - With pins and a CA file: the same, and one key of the verified chain must match a pin.
 *  - With pins and no CA file: the pin is the trust anchor (self-signed servers are common
 *    for DoT), so the chain is not verified; the server's own key (the leaf's) must match a
 *    pin, and the leaf must name AUTH-NAME when one is given. Only the leaf counts: without a
 *    verified chain, any other certificate the server sends proves nothing.
 *  A pin mismatch fails even when the chain verifies. A failed connection is never replaced
 *  by plain DNS: that is the resolver's rule, this module has no plaintext path at all.
 *
 * Everything that reads files (CA certificates, OpenSSL's configuration) happens in
 * dj_dot_ctx_new(), before the daemons' sandbox. Afterwards a connection uses socket,
 * connect, getsockopt, sendto (send, MSG_NOSIGNAL, so a reset never raises SIGPIPE),
 * recvfrom (recv), close, getrandom and clock_gettime (OpenSSL), and malloc's calls.
 * Owns: the SSL_CTX of a server and the socket and SSL object of a connection. */
#ifndef DNSJAIL_DOT_H
#define DNSJAIL_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"
#include "dns/upstream.h"

#define DJ_DOT_MAX_OUTPUT (256 * 1024) /* queued query bytes per connection */

struct dj_dot_ctx;
struct dj_dot_conn;

enum dj_dot_state {
    DJ_DOT_CONNECTING, /* TCP connect in progress */
    DJ_DOT_HANDSHAKE,  /* TLS handshake in progress */
    DJ_DOT_READY,      /* authenticated: queries may flow */
    DJ_DOT_FAILED,     /* closed by an error; see dj_dot_conn_problem() */
    DJ_DOT_CLOSED,     /* the server closed the connection cleanly */
};

enum dj_dot_failure {
    DJ_DOT_FAIL_NONE,
    DJ_DOT_FAIL_NETWORK, /* connect, reset, TLS protocol error */
    DJ_DOT_FAIL_VERIFY,  /* the chain or the name did not verify */
    DJ_DOT_FAIL_PIN,     /* no key matched a pin */
    DJ_DOT_FAIL_FRAMING, /* a message shorter than a DNS header */
    DJ_DOT_FAIL_LOCAL,   /* out of memory or descriptors */
};

/* Reads the CA certificates (ca-file=, or the system's bundle when the chain is to be
 * verified) and prepares the SSL_CTX for the tls:// server UP. */
struct dj_dot_ctx *dj_dot_ctx_new(const struct dj_upstream *up, dj_error_t *err);
void dj_dot_ctx_free(struct dj_dot_ctx *ctx);

/* Starts a non-blocking connection to the context's server; NULL with *err on failure
 * (errno_value says whether it was local: EMFILE, ENOMEM...). */
struct dj_dot_conn *dj_dot_conn_new(struct dj_dot_ctx *ctx, dj_error_t *err);
void dj_dot_conn_free(struct dj_dot_conn *conn);

int dj_dot_conn_fd(const struct dj_dot_conn *conn);
enum dj_dot_state dj_dot_conn_state(const struct dj_dot_conn *conn);

/* The epoll events the connection waits for now (EPOLLIN and/or EPOLLOUT). */
uint32_t dj_dot_conn_events(const struct dj_dot_conn *conn);

/* Queues the DNS message MSG (LEN bytes, framed here) for sending. -1 when the output
 * queue would exceed DJ_DOT_MAX_OUTPUT or memory runs out. Sending happens in
 * dj_dot_conn_process(), once the connection is READY. */
int dj_dot_conn_queue(struct dj_dot_conn *conn, const uint8_t *msg, size_t len);

typedef void (*dj_dot_message_cb)(void *ctx, const uint8_t *msg, size_t len);

/* After readiness of the fd (or a queue): moves the connection on (connect, handshake,
 * verification, sending, receiving) and calls ON_MESSAGE for each whole message received
 * (the callback must not free the connection). Returns the new state. */
enum dj_dot_state dj_dot_conn_process(struct dj_dot_conn *conn, dj_dot_message_cb on_message,
                                      void *cb_ctx);

/* Why the connection is FAILED (static or connection-owned text) and of what kind. */
const char *dj_dot_conn_problem(const struct dj_dot_conn *conn);
enum dj_dot_failure dj_dot_conn_failure(const struct dj_dot_conn *conn);

/* Base64 of the SHA-256 of the DER SubjectPublicKeyInfo of the PEM certificate CERT_PEM
 * (LEN bytes) into OUT (at least 45 bytes): the pin of that certificate's key, for tests and
 * tools. 0, or -1 with *err. */
int dj_dot_pin_of_pem(const char *cert_pem, size_t len, char *out, dj_error_t *err);

#endif

/* dot.c: DNS over TLS connections (see dot.h for the trust rules and the system calls).
 *
 * Choices:
 *  - The socket I/O goes through a BIO of our own that calls send(MSG_NOSIGNAL) and recv(),
 *    so a connection reset cannot raise SIGPIPE in a caller that did not ignore it, and the
 *    system calls are exactly those listed in dot.h.
 *  - The handshake runs with SSL_VERIFY_NONE and the checks of dot.h are made once it is
 *    done, before any query is written: OpenSSL still verifies the chain (and the host name
 *    given with SSL_set1_host) and records the result, which we read; this lets the
 *    pin-only mode skip the chain without a callback.
 *  - CA certificates are loaded from one PEM file into memory at dj_dot_ctx_new() (never a
 *    hashed directory, which OpenSSL reads lazily, after the sandbox is on).
 *  - No session resumption: a reconnect costs a full handshake, and the server is checked
 *    the same way every time.
 *  - SSL_OP_IGNORE_UNEXPECTED_EOF: a server that closes an idle connection without
 *    close_notify has closed it, not failed; only whole frames are ever delivered, so a
 *    truncated stream cannot forge an answer.
 *  - Received bytes go into one buffer the size of the largest frame; SSL_read is called
 *    until it wants more from the socket, since OpenSSL may hold decrypted bytes that epoll
 *    cannot see. */
#include "config.h"
#include "dns/dot.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "dns/dnswire.h"

/* OpenSSL is loaded with dlopen() by the first tls:// server (or pin computation), not linked:
 * mapping and relocating libcrypto and libssl costs about 1.7 MiB of resident memory in every
 * stub and proxy, most of which have no tls:// server. Loading happens in dj_dot_ctx_new(),
 * before the sandbox (it opens and maps files); nothing here is resolved lazily afterwards
 * (RTLD_NOW). The prototypes come from OpenSSL's headers through __typeof__, and the names
 * are redirected to the table below, so every call, including those inside OpenSSL's macros,
 * goes through the loaded library with its declared type. */
#define OSSL_FUNCTIONS(X)                                                                          \
    X(OPENSSL_init_ssl)                                                                            \
    X(TLS_client_method)                                                                           \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_free)                                                                                \
    X(SSL_CTX_ctrl)                                                                                \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_CTX_set_options)                                                                         \
    X(SSL_CTX_load_verify_file)                                                                    \
    X(SSL_new)                                                                                     \
    X(SSL_free)                                                                                    \
    X(SSL_set_bio)                                                                                 \
    X(SSL_set_connect_state)                                                                       \
    X(SSL_ctrl)                                                                                    \
    X(SSL_set1_host)                                                                               \
    X(SSL_set_hostflags)                                                                           \
    X(SSL_shutdown)                                                                                \
    X(SSL_get_error)                                                                               \
    X(SSL_write)                                                                                   \
    X(SSL_read)                                                                                    \
    X(SSL_do_handshake)                                                                            \
    X(SSL_get0_peer_certificate)                                                                   \
    X(SSL_get_verify_result)                                                                       \
    X(SSL_get0_verified_chain)                                                                     \
    X(BIO_meth_new)                                                                                \
    X(BIO_meth_free)                                                                               \
    X(BIO_meth_set_write)                                                                          \
    X(BIO_meth_set_read)                                                                           \
    X(BIO_meth_set_ctrl)                                                                           \
    X(BIO_meth_set_create)                                                                         \
    X(BIO_get_new_index)                                                                           \
    X(BIO_new)                                                                                     \
    X(BIO_free)                                                                                    \
    X(BIO_new_mem_buf)                                                                             \
    X(BIO_get_data)                                                                                \
    X(BIO_set_data)                                                                                \
    X(BIO_set_init)                                                                                \
    X(BIO_set_flags)                                                                               \
    X(BIO_clear_flags)                                                                             \
    X(ERR_get_error)                                                                               \
    X(ERR_peek_error)                                                                              \
    X(ERR_clear_error)                                                                             \
    X(ERR_error_string_n)                                                                          \
    X(X509_get_X509_PUBKEY)                                                                        \
    X(i2d_X509_PUBKEY)                                                                             \
    X(X509_check_host)                                                                             \
    X(X509_verify_cert_error_string)                                                               \
    X(X509_get_default_cert_file_env)                                                              \
    X(X509_get_default_cert_file)                                                                  \
    X(X509_free)                                                                                   \
    X(PEM_read_bio_X509)                                                                           \
    X(EVP_Digest)                                                                                  \
    X(EVP_sha256)                                                                                  \
    X(EVP_EncodeBlock)                                                                             \
    X(CRYPTO_free)                                                                                 \
    X(OPENSSL_sk_num)                                                                              \
    X(OPENSSL_sk_value)

#define X(name) __typeof__(name) *name;
static struct {
    OSSL_FUNCTIONS(X)
} ossl;
#undef X
static bool ossl_loaded;

static int ossl_load(dj_error_t *err)
{
    void *lib;
    const char *problem;

    if (ossl_loaded)
        return 0;
    dlerror();
    /* libssl's dependency, libcrypto, comes along; dlsym() on libssl's handle searches it. */
    lib = dlopen(DJ_LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        problem = dlerror();
        return dj_error_make(err, 0, "DNS over TLS: cannot load OpenSSL: %s",
                             problem != NULL ? problem : DJ_LIBSSL_SONAME);
    }
#define X(name)                                                                                    \
    ossl.name = (__typeof__(ossl.name))dlsym(lib, #name);                                          \
    if (ossl.name == NULL)                                                                         \
        return dj_error_make(err, 0, "DNS over TLS: %s lacks %s", DJ_LIBSSL_SONAME, #name);
    OSSL_FUNCTIONS(X)
#undef X
    /* The handle stays open: the process keeps using the library until it exits. */
    ossl_loaded = true;
    return 0;
}

/* From here on, OpenSSL names mean the loaded functions. */
#define OPENSSL_init_ssl (*ossl.OPENSSL_init_ssl)
#define TLS_client_method (*ossl.TLS_client_method)
#define SSL_CTX_new (*ossl.SSL_CTX_new)
#define SSL_CTX_free (*ossl.SSL_CTX_free)
#define SSL_CTX_ctrl (*ossl.SSL_CTX_ctrl)
#define SSL_CTX_set_verify (*ossl.SSL_CTX_set_verify)
#define SSL_CTX_set_options (*ossl.SSL_CTX_set_options)
#define SSL_CTX_load_verify_file (*ossl.SSL_CTX_load_verify_file)
#define SSL_new (*ossl.SSL_new)
#define SSL_free (*ossl.SSL_free)
#define SSL_set_bio (*ossl.SSL_set_bio)
#define SSL_set_connect_state (*ossl.SSL_set_connect_state)
#define SSL_ctrl (*ossl.SSL_ctrl)
#define SSL_set1_host (*ossl.SSL_set1_host)
#define SSL_set_hostflags (*ossl.SSL_set_hostflags)
#define SSL_shutdown (*ossl.SSL_shutdown)
#define SSL_get_error (*ossl.SSL_get_error)
#define SSL_write (*ossl.SSL_write)
#define SSL_read (*ossl.SSL_read)
#define SSL_do_handshake (*ossl.SSL_do_handshake)
#define SSL_get0_peer_certificate (*ossl.SSL_get0_peer_certificate)
#define SSL_get_verify_result (*ossl.SSL_get_verify_result)
#define SSL_get0_verified_chain (*ossl.SSL_get0_verified_chain)
#define BIO_meth_new (*ossl.BIO_meth_new)
#define BIO_meth_free (*ossl.BIO_meth_free)
#define BIO_meth_set_write (*ossl.BIO_meth_set_write)
#define BIO_meth_set_read (*ossl.BIO_meth_set_read)
#define BIO_meth_set_ctrl (*ossl.BIO_meth_set_ctrl)
#define BIO_meth_set_create (*ossl.BIO_meth_set_create)
#define BIO_get_new_index (*ossl.BIO_get_new_index)
#define BIO_new (*ossl.BIO_new)
#define BIO_free (*ossl.BIO_free)
#define BIO_new_mem_buf (*ossl.BIO_new_mem_buf)
#define BIO_get_data (*ossl.BIO_get_data)
#define BIO_set_data (*ossl.BIO_set_data)
#define BIO_set_init (*ossl.BIO_set_init)
#define BIO_set_flags (*ossl.BIO_set_flags)
#define BIO_clear_flags (*ossl.BIO_clear_flags)
#define ERR_get_error (*ossl.ERR_get_error)
#define ERR_peek_error (*ossl.ERR_peek_error)
#define ERR_clear_error (*ossl.ERR_clear_error)
#define ERR_error_string_n (*ossl.ERR_error_string_n)
#define X509_get_X509_PUBKEY (*ossl.X509_get_X509_PUBKEY)
#define i2d_X509_PUBKEY (*ossl.i2d_X509_PUBKEY)
#define X509_check_host (*ossl.X509_check_host)
#define X509_verify_cert_error_string (*ossl.X509_verify_cert_error_string)
#define X509_get_default_cert_file_env (*ossl.X509_get_default_cert_file_env)
#define X509_get_default_cert_file (*ossl.X509_get_default_cert_file)
#define X509_free (*ossl.X509_free)
#define PEM_read_bio_X509 (*ossl.PEM_read_bio_X509)
#define EVP_Digest (*ossl.EVP_Digest)
#define EVP_sha256 (*ossl.EVP_sha256)
#define EVP_EncodeBlock (*ossl.EVP_EncodeBlock)
#define CRYPTO_free (*ossl.CRYPTO_free)
#define OPENSSL_sk_num (*ossl.OPENSSL_sk_num)
#define OPENSSL_sk_value (*ossl.OPENSSL_sk_value)

#define FRAME_MAX (2 + 65535)
#define PROBLEM_SIZE 256
#define PIN_TEXT_SIZE 45

struct dj_dot_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *bio_method;
    struct dj_upstream up;
    bool verify_chain;
};

struct dj_dot_conn {
    struct dj_dot_ctx *ctx;
    int fd;
    SSL *ssl;
    enum dj_dot_state state;
    enum dj_dot_failure failure;
    bool want_read;        /* OpenSSL waits for the socket to be readable ... */
    bool want_write;       /* ... or writable */
    bool write_wants_read; /* SSL_write waits for input: EPOLLOUT would spin */
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
    uint8_t in[FRAME_MAX];
    size_t in_len;
    char problem[PROBLEM_SIZE];
};

/* ---- the BIO ---------------------------------------------------------------------------- */

static int bio_write(BIO *b, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);

    BIO_clear_retry_flags(b);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n = recv(fd, buf, (size_t)len, 0);

    BIO_clear_retry_flags(b);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void set_problem(struct dj_dot_conn *c, enum dj_dot_failure failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_problem(struct dj_dot_conn *c, enum dj_dot_failure failure, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
    va_end(ap);
    c->failure = failure;
    c->state = DJ_DOT_FAILED;
}

/* The first OpenSSL error on the queue, as text (the queue is cleared). */
static const char *ssl_error_text(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, size, "%s", errno != 0 ? strerror(errno) : "connection closed");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

static int spki_sha256(X509 *cert, uint8_t out[DJ_UPSTREAM_PIN_SIZE])
{
    unsigned char *der = NULL;
    unsigned int md_len = 0;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    int ok;

    if (len <= 0)
        return -1;
    ok = EVP_Digest(der, (size_t)len, out, &md_len, EVP_sha256(), NULL);
    OPENSSL_free(der);
    return ok == 1 && md_len == DJ_UPSTREAM_PIN_SIZE ? 0 : -1;
}

static bool pin_matches(const struct dj_upstream *up, X509 *cert)
{
    uint8_t hash[DJ_UPSTREAM_PIN_SIZE];

    if (spki_sha256(cert, hash) < 0)
        return false;
    for (size_t i = 0; i < up->n_pins; i++) {
        if (memcmp(hash, up->pins[i], sizeof(hash)) == 0)
            return true;
    }
    return false;
}

static void pin_text(X509 *cert, char out[PIN_TEXT_SIZE])
{
    uint8_t hash[DJ_UPSTREAM_PIN_SIZE];

    if (spki_sha256(cert, hash) < 0) {
        snprintf(out, PIN_TEXT_SIZE, "?");
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, hash, sizeof(hash));
}

/* The checks of dot.h, once the handshake is done. */
static void verify_server(struct dj_dot_conn *c)
{
    const struct dj_upstream *up = &c->ctx->up;
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    char pin[PIN_TEXT_SIZE];
    bool matched;

    if (leaf == NULL) {
        set_problem(c, DJ_DOT_FAIL_VERIFY, "the server sent no certificate");
        return;
    }
    if (c->ctx->verify_chain) {
        long result = SSL_get_verify_result(c->ssl);

        if (result != X509_V_OK) {
            set_problem(c, DJ_DOT_FAIL_VERIFY, "certificate verification failed: %s",
                        X509_verify_cert_error_string(result));
            return;
        }
    } else if (up->auth_name[0] != '\0' &&
               X509_check_host(leaf, up->auth_name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                               NULL) != 1) {
        set_problem(c, DJ_DOT_FAIL_VERIFY, "certificate verification failed: not for %s",
                    up->auth_name);
        return;
    }
    if (up->n_pins == 0)
        return;
    matched = pin_matches(up, leaf);
    if (!matched && c->ctx->verify_chain) {
        STACK_OF(X509) *chain = SSL_get0_verified_chain(c->ssl);

        for (int i = 0; chain != NULL && i < sk_X509_num(chain) && !matched; i++)
            matched = pin_matches(up, sk_X509_value(chain, i));
    }
    if (!matched) {
        pin_text(leaf, pin);
        set_problem(c, DJ_DOT_FAIL_PIN, "no pin-sha256 matches the server's key (its pin is %s)",
                    pin);
    }
}

/* ---- context ---------------------------------------------------------------------------- */

struct dj_dot_ctx *dj_dot_ctx_new(const struct dj_upstream *up, dj_error_t *err)
{
    struct dj_dot_ctx *ctx;
    char buf[PROBLEM_SIZE];

    if (up->transport != DJ_UPSTREAM_TLS) {
        dj_error_make(err, 0, "DNS over TLS: not a tls:// server");
        return NULL;
    }
    if (ossl_load(err) < 0)
        return NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        dj_error_make(err, ENOMEM, "DNS over TLS");
        return NULL;
    }
    ctx->up = *up;
    ctx->verify_chain = up->n_pins == 0 || up->ca_file[0] != '\0';
    /* The certificate time checks end in localtime(): read the time zone file now, not
     * after the sandbox is on. */
    tzset();
    /* Reads OpenSSL's configuration file now, not at the first handshake. */
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        dj_error_make(err, 0, "DNS over TLS: OpenSSL: %s", ssl_error_text(buf, sizeof(buf)));
        goto fail;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    ctx->bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dnsjail-dot");
    if (ctx->ssl_ctx == NULL || ctx->bio_method == NULL) {
        dj_error_make(err, 0, "DNS over TLS: OpenSSL: %s", ssl_error_text(buf, sizeof(buf)));
        goto fail;
    }
    BIO_meth_set_write(ctx->bio_method, bio_write);
    BIO_meth_set_read(ctx->bio_method, bio_read);
    BIO_meth_set_ctrl(ctx->bio_method, bio_ctrl);
    BIO_meth_set_create(ctx->bio_method, bio_create);
    if (SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION) != 1) {
        dj_error_make(err, 0, "DNS over TLS: cannot require TLS 1.2");
        goto fail;
    }
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                       SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                          SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
    if (ctx->verify_chain) {
        const char *file = up->ca_file;

        if (file[0] == '\0') {
            file = getenv(X509_get_default_cert_file_env());
            if (file == NULL || file[0] == '\0')
                file = X509_get_default_cert_file();
        }
        if (SSL_CTX_load_verify_file(ctx->ssl_ctx, file) != 1) {
            dj_error_make(err, 0, "DNS over TLS: cannot load CA certificates from %s: %s", file,
                          ssl_error_text(buf, sizeof(buf)));
            goto fail;
        }
    }
    ERR_clear_error();
    return ctx;

fail:
    dj_dot_ctx_free(ctx);
    return NULL;
}

void dj_dot_ctx_free(struct dj_dot_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->bio_method);
    free(ctx);
}

/* ---- connection ------------------------------------------------------------------------- */

struct dj_dot_conn *dj_dot_conn_new(struct dj_dot_ctx *ctx, dj_error_t *err)
{
    const struct sockaddr_storage *addr = &ctx->up.addr;
    socklen_t addr_len =
        addr->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    struct dj_dot_conn *c = calloc(1, sizeof(*c));
    char buf[PROBLEM_SIZE];
    BIO *bio;

    if (c == NULL) {
        dj_error_make(err, ENOMEM, "DNS over TLS connection");
        return NULL;
    }
    c->ctx = ctx;
    c->state = DJ_DOT_CONNECTING;
    c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        dj_error_make(err, errno, "DNS over TLS: socket");
        goto fail;
    }
    if (connect(c->fd, (const struct sockaddr *)addr, addr_len) < 0 && errno != EINPROGRESS) {
        dj_error_make(err, errno == ENOMEM || errno == ENOBUFS ? errno : 0,
                      "DNS over TLS: connect: %s", strerror(errno));
        goto fail;
    }
    c->ssl = SSL_new(ctx->ssl_ctx);
    bio = c->ssl != NULL ? BIO_new(ctx->bio_method) : NULL;
    if (bio == NULL) {
        dj_error_make(err, ENOMEM, "DNS over TLS: OpenSSL: %s", ssl_error_text(buf, sizeof(buf)));
        goto fail;
    }
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_connect_state(c->ssl);
    if (ctx->up.auth_name[0] != '\0') {
        if (SSL_set_tlsext_host_name(c->ssl, ctx->up.auth_name) != 1 ||
            (ctx->verify_chain && SSL_set1_host(c->ssl, ctx->up.auth_name) != 1)) {
            dj_error_make(err, ENOMEM, "DNS over TLS: setting the server name");
            goto fail;
        }
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    return c;

fail:
    ERR_clear_error();
    dj_dot_conn_free(c);
    return NULL;
}

void dj_dot_conn_free(struct dj_dot_conn *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL && c->state == DJ_DOT_READY)
        SSL_shutdown(c->ssl); /* close_notify, best effort: the socket is non-blocking */
    SSL_free(c->ssl);
    ERR_clear_error();
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c);
}

int dj_dot_conn_fd(const struct dj_dot_conn *c)
{
    return c->fd;
}

enum dj_dot_state dj_dot_conn_state(const struct dj_dot_conn *c)
{
    return c->state;
}

uint32_t dj_dot_conn_events(const struct dj_dot_conn *c)
{
    uint32_t events = 0;

    switch (c->state) {
    case DJ_DOT_CONNECTING:
        return EPOLLOUT;
    case DJ_DOT_HANDSHAKE:
        events = c->want_write ? EPOLLOUT : EPOLLIN;
        break;
    case DJ_DOT_READY:
        events = EPOLLIN;
        if (c->want_write || (c->out_len > 0 && !c->write_wants_read))
            events |= EPOLLOUT;
        break;
    case DJ_DOT_FAILED:
    case DJ_DOT_CLOSED:
        break;
    }
    return events;
}

int dj_dot_conn_queue(struct dj_dot_conn *c, const uint8_t *msg, size_t len)
{
    size_t need = c->out_len + 2 + len;

    if (len > 65535 || need > DJ_DOT_MAX_OUTPUT)
        return -1;
    if (need > c->out_cap) {
        size_t cap = c->out_cap == 0 ? 1024 : c->out_cap;
        uint8_t *grown;

        while (cap < need)
            cap *= 2;
        grown = realloc(c->out, cap);
        if (grown == NULL)
            return -1;
        c->out = grown;
        c->out_cap = cap;
    }
    c->out[c->out_len] = (uint8_t)(len >> 8);
    c->out[c->out_len + 1] = (uint8_t)len;
    memcpy(c->out + c->out_len + 2, msg, len);
    c->out_len = need;
    return 0;
}

/* Sets want_read/want_write from an SSL call's result R; false when it is an error. */
static bool ssl_retry(struct dj_dot_conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);

    c->want_read = e == SSL_ERROR_WANT_READ;
    c->want_write = e == SSL_ERROR_WANT_WRITE;
    return c->want_read || c->want_write;
}

static void ssl_failed(struct dj_dot_conn *c, int r, const char *what)
{
    char buf[PROBLEM_SIZE / 2];
    int e = SSL_get_error(c->ssl, r);

    if (e == SSL_ERROR_ZERO_RETURN) {
        c->state = DJ_DOT_CLOSED;
        snprintf(c->problem, sizeof(c->problem), "the server closed the connection");
        return;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) {
        c->state = DJ_DOT_CLOSED;
        snprintf(c->problem, sizeof(c->problem), "the server closed the connection");
        return;
    }
    set_problem(c, DJ_DOT_FAIL_NETWORK, "%s: %s", what, ssl_error_text(buf, sizeof(buf)));
}

static void flush_output(struct dj_dot_conn *c)
{
    c->want_write = false;
    c->write_wants_read = false;
    while (c->state == DJ_DOT_READY && c->out_len > 0) {
        int r, e;

        errno = 0;
        r = SSL_write(c->ssl, c->out, c->out_len > INT32_MAX ? INT32_MAX : (int)c->out_len);
        if (r > 0) {
            memmove(c->out, c->out + r, c->out_len - (size_t)r);
            c->out_len -= (size_t)r;
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE)
            c->want_write = true;
        else if (e == SSL_ERROR_WANT_READ) /* EPOLLIN is always wanted when READY */
            c->write_wants_read = true;
        else
            ssl_failed(c, r, "TLS write");
        return;
    }
}

static void read_input(struct dj_dot_conn *c, dj_dot_message_cb on_message, void *cb_ctx)
{
    while (c->state == DJ_DOT_READY) {
        size_t used = 0;
        int r, e;

        errno = 0;
        r = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof(c->in) - c->in_len));
        if (r <= 0) {
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                c->want_write = true;
            else if (e != SSL_ERROR_WANT_READ)
                ssl_failed(c, r, "TLS read");
            return;
        }
        c->in_len += (size_t)r;
        while (c->in_len - used >= 2) {
            size_t frame = (size_t)(c->in[used] << 8 | c->in[used + 1]);

            if (frame < DJ_DNS_HEADER_SIZE) {
                set_problem(c, DJ_DOT_FAIL_FRAMING, "a message of %zu bytes", frame);
                return;
            }
            if (c->in_len - used < 2 + frame)
                break;
            on_message(cb_ctx, c->in + used + 2, frame);
            used += 2 + frame;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
}

enum dj_dot_state dj_dot_conn_process(struct dj_dot_conn *c, dj_dot_message_cb on_message,
                                      void *cb_ctx)
{
    if (c->state == DJ_DOT_CONNECTING) {
        int error = 0;
        socklen_t error_len = sizeof(error);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0)
            error = errno;
        if (error != 0) {
            set_problem(c, DJ_DOT_FAIL_NETWORK, "connect: %s", strerror(error));
            return c->state;
        }
        c->state = DJ_DOT_HANDSHAKE;
    }
    if (c->state == DJ_DOT_HANDSHAKE) {
        int r;

        errno = 0;
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            if (!ssl_retry(c, r))
                ssl_failed(c, r, "TLS handshake");
            if (c->state == DJ_DOT_CLOSED)
                set_problem(c, DJ_DOT_FAIL_NETWORK, "TLS handshake: the server closed");
            return c->state;
        }
        c->want_read = c->want_write = false;
        verify_server(c);
        if (c->state == DJ_DOT_FAILED)
            return c->state;
        c->state = DJ_DOT_READY;
    }
    flush_output(c);
    read_input(c, on_message, cb_ctx);
    if (c->state == DJ_DOT_READY && c->out_len > 0)
        flush_output(c); /* a read may have unblocked a write that wanted input */
    return c->state;
}

const char *dj_dot_conn_problem(const struct dj_dot_conn *c)
{
    return c->problem;
}

enum dj_dot_failure dj_dot_conn_failure(const struct dj_dot_conn *c)
{
    return c->failure;
}

int dj_dot_pin_of_pem(const char *cert_pem, size_t len, char *out, dj_error_t *err)
{
    BIO *bio;
    X509 *cert;
    uint8_t hash[DJ_UPSTREAM_PIN_SIZE];
    int r = 0;

    if (ossl_load(err) < 0)
        return -1;
    bio = BIO_new_mem_buf(cert_pem, (int)len);
    cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (cert == NULL || spki_sha256(cert, hash) < 0)
        r = dj_error_make(err, 0, "not a PEM certificate");
    else
        EVP_EncodeBlock((unsigned char *)out, hash, sizeof(hash));
    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();
    return r;
}

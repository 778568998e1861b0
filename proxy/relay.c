#include "config.h"

/* relay.c: moving one direction's bytes. What may be forwarded is the protocol's decision
 * (struct flow's framing); this file reads, frames, writes, splices through a pipe, forwards
 * a half-close, and keeps a pool of empty pipes so a short connection costs no pipe2(). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

#define SPLICE_CHUNK (1u << 20) /* asked per splice; the pipe takes what fits */

void flow_init(struct flow *f, uint32_t max_cap)
{
    memset(f, 0, sizeof(*f));
    f->max_cap = max_cap;
    f->pipe_rd = f->pipe_wr = -1;
    f->framing = FRAME_HOLD;
}

static void pipe_close(struct flow *f)
{
    if (f->pipe_rd >= 0) {
        close(f->pipe_rd);
        close(f->pipe_wr);
    }
    f->pipe_rd = f->pipe_wr = -1;
    f->pipe_len = 0;
    f->pipe_maybe_full = false;
}

/* An empty pipe goes back to the pool; one with bytes in it is closed (they are dropped). */
static void pipe_put(struct proxy *p, struct flow *f)
{
    bool poolable = f->pipe_len == 0 && p->n_pipe_pool < PROXY_PIPE_POOL;

    if (f->pipe_rd < 0)
        return;
    /* Pooled capacity counts against the user's pipe budget: back to the default size. */
    if (poolable && f->pipe_grown && fcntl(f->pipe_wr, F_SETPIPE_SZ, PROXY_PIPE_DEFAULT_SIZE) < 0)
        poolable = false;
    if (!poolable) {
        pipe_close(f);
        return;
    }
    p->pipe_pool[p->n_pipe_pool].rd = f->pipe_rd;
    p->pipe_pool[p->n_pipe_pool].wr = f->pipe_wr;
    p->n_pipe_pool++;
    f->pipe_rd = f->pipe_wr = -1;
}

static bool pipe_get(struct proxy *p, struct flow *f)
{
    int fds[2];

    if (f->pipe_rd >= 0)
        return true;
    f->pipe_len = 0;
    f->pipe_maybe_full = false;
    f->pipe_grown = false;
    f->pipe_spliced = 0;
    if (p->n_pipe_pool > 0) {
        p->n_pipe_pool--;
        f->pipe_rd = p->pipe_pool[p->n_pipe_pool].rd;
        f->pipe_wr = p->pipe_pool[p->n_pipe_pool].wr;
        return true;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return false;
    f->pipe_rd = fds[0];
    f->pipe_wr = fds[1];
    return true;
}

void flow_release(struct proxy *p, struct flow *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->sent = f->out_end = f->len = 0;
    pipe_put(p, f);
}

void flow_trim(struct proxy *p, struct flow *f)
{
    if (f->len == 0) {
        free(f->buf);
        f->buf = NULL;
        f->cap = f->sent = f->out_end = 0;
    }
    if (f->pipe_len == 0)
        pipe_put(p, f);
}

void flow_forward(struct flow *f, uint32_t n)
{
    f->out_end += n;
    f->forwarded += n;
}

void flow_drop_pending(struct proxy *p, struct flow *f)
{
    f->sent = f->out_end;
    if (f->pipe_len > 0)
        pipe_close(f);
}

void flow_set_framing(struct flow *f, enum framing framing, uint64_t length)
{
    f->framing = framing;
    f->left = 0;
    if (framing == FRAME_LENGTH) {
        f->left = length;
        if (length == 0)
            f->framing = FRAME_DONE;
    } else if (framing == FRAME_CHUNKED) {
        dj_chunked_init(&f->chunked);
    }
}

void conn_relay_raw(struct conn *c)
{
    flow_set_framing(&c->up, FRAME_RAW, 0);
    flow_set_framing(&c->down, FRAME_RAW, 0);
    c->up.eof_forward = c->down.eof_forward = true;
}

/* Moves unforwarded bytes to [sent, len) so the buffer has room at its end. */
static void compact(struct flow *f)
{
    if (f->sent == 0)
        return;
    if (f->len > f->sent)
        memmove(f->buf, f->buf + f->sent, f->len - f->sent);
    f->len -= f->sent;
    f->out_end -= f->sent;
    f->sent = 0;
}

/* Room to read into: compacts, grows up to max_cap. False when full (or out of memory). */
static bool make_room(struct flow *f)
{
    uint32_t new_cap;
    uint8_t *grown;

    if (f->buf != NULL && f->len < f->cap)
        return true;
    compact(f);
    if (f->buf != NULL && f->len < f->cap)
        return true;
    if (f->cap >= f->max_cap)
        return false;
    new_cap = f->cap == 0 ? PROXY_BUFFER_MIN : f->cap * 2;
    if (new_cap > f->max_cap)
        new_cap = f->max_cap;
    grown = realloc(f->buf, new_cap);
    if (grown == NULL)
        return false;
    f->buf = grown;
    f->cap = new_cap;
    return true;
}

bool flow_queue(struct flow *f, const void *data, size_t len)
{
    size_t need;

    f->len = f->out_end; /* nothing unforwarded may follow our own answer */
    compact(f);
    need = (size_t)f->len + len;
    if (need > f->cap) {
        /* Our answers are a few hundred bytes: they may exceed max_cap, not memory. */
        size_t new_cap = need < PROXY_BUFFER_MIN ? PROXY_BUFFER_MIN : need;
        uint8_t *grown = new_cap <= UINT32_MAX ? realloc(f->buf, new_cap) : NULL;

        if (grown == NULL)
            return false;
        f->buf = grown;
        f->cap = (uint32_t)new_cap;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += (uint32_t)len;
    f->out_end = f->len;
    return true;
}

/* How many bytes may be spliced now, without looking at them. */
static uint64_t splice_limit(const struct flow *f)
{
    switch (f->framing) {
    case FRAME_RAW:
        return UINT64_MAX;
    case FRAME_LENGTH:
        return f->left;
    case FRAME_CHUNKED:
        return dj_chunked_data_left(&f->chunked);
    default:
        return 0;
    }
}

static void account_spliced(struct flow *f, uint64_t n)
{
    f->forwarded += n;
    if (f->framing == FRAME_LENGTH) {
        f->left -= n;
        if (f->left == 0)
            f->framing = FRAME_DONE;
    } else if (f->framing == FRAME_CHUNKED) {
        dj_chunked_skip(&f->chunked, n);
    }
}

/* Forwards unforwarded buffered bytes as the framing allows. True when something changed. */
static bool consume(struct flow *f)
{
    uint32_t unparsed = flow_unparsed(f);
    size_t used = 0;
    uint64_t take;

    if (unparsed == 0)
        return false;
    switch (f->framing) {
    case FRAME_RAW:
        flow_forward(f, unparsed);
        return true;
    case FRAME_LENGTH:
        take = f->left < unparsed ? f->left : unparsed;
        flow_forward(f, (uint32_t)take);
        f->left -= take;
        if (f->left == 0)
            f->framing = FRAME_DONE;
        return true;
    case FRAME_CHUNKED:
        switch (dj_chunked_feed(&f->chunked, (const char *)f->buf + f->out_end, unparsed, &used)) {
        case DJ_CHUNKED_NEED_MORE:
            break;
        case DJ_CHUNKED_DONE:
            f->framing = FRAME_DONE;
            break;
        default:
            f->framing = FRAME_ERROR;
            break;
        }
        flow_forward(f, (uint32_t)used);
        return true;
    default:
        return false;
    }
}

static struct endpoint *flow_src(struct conn *c, const struct flow *f)
{
    return f == &c->up ? &c->client : &c->upstream;
}

static struct endpoint *flow_dst(struct conn *c, const struct flow *f)
{
    return f == &c->up ? &c->upstream : &c->client;
}

static bool endpoint_ready(const struct conn *c, const struct endpoint *e)
{
    return e->fd >= 0 && !(e == &c->upstream && c->connecting);
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

/* Writes [sent, out_end). Returns 1 on progress, 0 when blocked or nothing to do, -1 on a
 * dead destination. */
static int write_buffer(struct proxy *p, struct conn *c, struct flow *f, struct endpoint *dst)
{
    ssize_t n;

    if (f->sent == f->out_end || !dst->writable || f->dst_shut)
        return 0;
    do
        n = send(dst->fd, f->buf + f->sent, f->out_end - f->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) {
            dst->writable = false;
            return 0;
        }
        return -1;
    }
    f->sent += (uint32_t)n;
    c->last_active_ns = p->now_ns;
    if (f->sent == f->out_end) {
        if (f->out_end == f->len) {
            f->sent = f->out_end = f->len = 0;
            /* A relayed connection keeps no buffer while nothing waits in it (a quiet
             * connection costs its struct conn and sockets only; malloc is cheaper than
             * 8 KiB per idle connection). */
            if (f->framing == FRAME_RAW) {
                free(f->buf);
                f->buf = NULL;
                f->cap = 0;
            }
        } else {
            compact(f);
        }
    }
    return 1;
}

static int write_pipe(struct proxy *p, struct conn *c, struct flow *f, struct endpoint *dst)
{
    ssize_t n;

    if (f->pipe_len == 0 || f->sent != f->out_end || !dst->writable || f->dst_shut)
        return 0;
    do
        n = splice(f->pipe_rd, NULL, dst->fd, NULL, f->pipe_len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) {
            /* The pipe has bytes, so it is the socket that is full. */
            dst->writable = false;
            return 0;
        }
        return -1;
    }
    f->pipe_len -= (uint32_t)n;
    f->pipe_maybe_full = false;
    c->last_active_ns = p->now_ns;
    return n > 0 ? 1 : 0;
}

static int read_splice(struct proxy *p, struct conn *c, struct flow *f, struct endpoint *src,
                       uint64_t limit)
{
    size_t want = limit < SPLICE_CHUNK ? (size_t)limit : SPLICE_CHUNK;
    ssize_t n;

    if (f->pipe_maybe_full)
        return 0;
    do
        n = splice(src->fd, NULL, f->pipe_wr, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) {
            /* Either the socket is empty or the pipe is full; with bytes in the pipe we cannot
             * tell, so wait until some leave it. */
            if (f->pipe_len > 0)
                f->pipe_maybe_full = true;
            else
                src->readable = false;
            return 0;
        }
        return -1;
    }
    if (n == 0) {
        f->src_eof = true;
        return 1;
    }
    f->pipe_len += (uint32_t)n;
    account_spliced(f, (uint64_t)n);
    c->last_active_ns = p->now_ns;
    /* A bulk transfer: a larger pipe means fewer splice calls per byte (about 1.5x the
     * throughput on loopback). Refused when the user's pipe budget is spent; that is fine. */
    f->pipe_spliced += (uint64_t)n;
    if (!f->pipe_grown && f->pipe_spliced >= PROXY_PIPE_GROW_AFTER) {
        f->pipe_grown = true;
        fcntl(f->pipe_wr, F_SETPIPE_SZ, PROXY_PIPE_BULK_SIZE);
    }
    return 1;
}

static int read_buffer(struct proxy *p, struct conn *c, struct flow *f, struct endpoint *src)
{
    size_t room;
    ssize_t n;

    if (f->pipe_len > 0 || !make_room(f))
        return 0;
    room = f->cap - f->len;
    do
        n = recv(src->fd, f->buf + f->len, room, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (would_block(errno)) {
            src->readable = false;
            return 0;
        }
        return -1;
    }
    if (n == 0) {
        f->src_eof = true;
        return 1;
    }
    f->len += (uint32_t)n;
    if ((size_t)n < room) {
        /* Drained. After the FIN nothing more comes, and no edge would say so again. */
        if (src->rdhup)
            f->src_eof = true;
        else
            src->readable = false; /* epoll says when more comes */
    }
    c->last_active_ns = p->now_ns;
    return 1;
}

int flow_pump(struct proxy *p, struct conn *c, struct flow *f)
{
    struct endpoint *src = flow_src(c, f);
    struct endpoint *dst = flow_dst(c, f);
    bool dst_ok = endpoint_ready(c, dst);
    int progress = 0, r;

    if (dst_ok) {
        if ((r = write_buffer(p, c, f, dst)) < 0)
            return -1;
        progress += r;
        if ((r = write_pipe(p, c, f, dst)) < 0)
            return -1;
        progress += r;
    }
    if (consume(f))
        progress++;
    if (dst_ok && f->src_eof && f->eof_forward && !f->dst_shut && flow_flushed(f) &&
        flow_unparsed(f) == 0) {
        const struct flow *other = f == &c->up ? &c->down : &c->up;

        /* When the other direction is finished too, the connection is closed next and
         * close() sends the FIN (everything from that socket has been read: no reset). */
        if (!(other->src_eof && other->dst_shut))
            shutdown(dst->fd, SHUT_WR);
        f->dst_shut = true;
        progress++;
    }
    if (!f->src_eof && endpoint_ready(c, src) && src->readable) {
        uint64_t limit = splice_limit(f);

        /* The first bytes of a flow go through the buffer: short exchanges never need a
         * pipe, and a short read there shows the end of the data (see read_buffer). */
        if (limit > 0 && flow_unparsed(f) == 0 && f->forwarded >= PROXY_SPLICE_AFTER &&
            pipe_get(p, f))
            r = read_splice(p, c, f, src, limit);
        else
            r = read_buffer(p, c, f, src);
        if (r < 0)
            return -1;
        progress += r;
    }
    return progress;
}

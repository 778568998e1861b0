#!/bin/bash
# proxy-bench.sh: dnsjail-proxy's TLS path on loopback, in one run, in a network namespace of
# its own (so fixed ports, port 443 included, clash with nothing):
#
#   bulk   throughput of one connection, upload and download, through the proxy and straight
#          to the upstream (the issue asks for at least 90% of direct)
#   rate   small requests: connections per second, each one a ClientHello routed by its SNI to
#          an upstream that answers 100 bytes and closes, through dnsjail-proxy, nginx
#          `stream` with `ssl_preread`, and haproxy routing on `req_ssl_sni` (the issue asks
#          for at least as many as both), and straight to the upstream for reference
#   memory the proxy's resident memory idle, with N relayed idle connections, per connection
#
# Every proxy runs on one CPU (dnsjail-proxy is one thread; nginx gets worker_processes 1,
# haproxy nbthread 1) pinned to CPU 1; the load generator and the upstreams share CPU 0. The
# rate rounds rotate the order of the proxies; medians are reported, with each proxy's CPU time
# (connections per CPU-second is the figure other jobs on the machine disturb least).
# The upstreams and the load generator are one small C program (written out and compiled by
# this script): no TLS is done at all, since all three proxies only read the ClientHello.
#
# Usage: bench/proxy-bench.sh [ROUNDS] [SECONDS] [HOLD]   (defaults 3, 3, 10000)
# Env: PROXY=path to dnsjail-proxy (default $top_builddir/proxy/dnsjail-proxy), BULK_BYTES
#      (default 1073741824; the 2026-11-22 figures used 4294967296), CONCURRENCY (default 32).
# Needs: root, cc, python3, dnsmasq, nginx with the stream module (Debian: libnginx-mod-stream),
#        haproxy, taskset, unshare.

set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BENCH_NAME=proxy-bench.sh
PROXY=${PROXY:-$top_builddir/proxy/dnsjail-proxy}
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-3}
HOLD=${3:-10000}
BULK_BYTES=${BULK_BYTES:-1073741824}
CONCURRENCY=${CONCURRENCY:-32}
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so

[ "$(id -u)" = 0 ] || die "needs root (a network namespace of its own, port 443)"
bench_need cc python3 dnsmasq nginx haproxy taskset unshare
[ -f "$NGINX_STREAM" ] || die "nginx has no stream module ($NGINX_STREAM; Debian: libnginx-mod-stream)"
[ -x "$PROXY" ] || die "$PROXY is not built (set PROXY= or top_builddir=)"

if [ -z "${DJ_PROXY_BENCH_NETNS:-}" ]; then
    export DJ_PROXY_BENCH_NETNS=1
    exec unshare --net -- "$0" "$@"
fi
ip link set lo up || die "cannot bring up loopback"
sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
# Every process here gets the hard limit; holding HOLD relayed connections takes a proxy two
# sockets each (no pipes while idle). dnsjail-proxy keeps 1888 descriptors for other uses
# (RESERVED_FDS in proxy/main.c: watched pidfds, control connections, listeners, the pipe
# pool) and lowers --max-connections to what is left: that is the binding limit, so HOLD is
# cut to it. The clients (one process) and the upstreams need one descriptor per connection.
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=1048576
ulimit -n "$HARD" || die "cannot raise the descriptor limit to $HARD"
if [ "$HOLD" -gt $(((HARD - 1888) / 2)) ]; then
    echo "# the hard descriptor limit ($HARD, no CAP_SYS_RESOURCE to raise it) lets dnsjail-proxy hold at most $(((HARD - 1888) / 2)) relayed connections, not $HOLD"
    HOLD=$(((HARD - 1888) / 2))
fi

bench_init proxy-bench
PROXY_CPU=$SERVER_CPU
LOAD_CPU=$CLIENT_CPU

# ---- the load generator and upstreams ------------------------------------------------------
cat >"$WORK/pb.c" <<'EOF'
/* pb: upstreams and load generator for proxy-bench.sh. Upstreams (one epoll loop, port 443):
 * 127.0.0.11 sink (reads to EOF, answers the byte count), .12 source (after the first bytes,
 * sends SOURCE bytes and closes), .13 reply (after one whole TLS record, 100 bytes and close),
 * .14 hold (after one whole record, "!" and keeps the connection until EOF). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG (1 << 20)
static char buf[BIG];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = malloc(65536);
    if (f == NULL || data == NULL)
        fail(path);
    *len = fread(data, 1, 65536, f);
    fclose(f);
    return data;
}

static void addr_of(const char *host, int port, struct sockaddr_in *sin)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        fail(host);
}

static int dial(const char *host, int port, int nonblock)
{
    struct sockaddr_in sin;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    addr_of(host, port, &sin);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("write");
        p += n;
        len -= (size_t)n;
    }
}

/* ---- upstreams ---- */
enum kind { SINK, SOURCE, REPLY, HOLDER };
struct up {
    enum kind kind;
    int fd;
    uint64_t count;  /* sink: bytes read; source: bytes left to send */
    size_t have;     /* reply/hold: bytes of the first record */
    unsigned char head[5];
    int answered;
};

static void upstreams(uint64_t source_bytes)
{
    const char *addrs[4] = {"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"};
    int listeners[4], ep = epoll_create1(0), one = 1;
    struct epoll_event evs[256];
    static char reply[100];

    memset(reply, 'r', sizeof(reply));
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 4; i++) {
        struct sockaddr_in sin;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        listeners[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        setsockopt(listeners[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        addr_of(addrs[i], 443, &sin);
        if (bind(listeners[i], (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
            listen(listeners[i], 4096) < 0)
            fail("listen");
        epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &ev);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct up *u;
            if (evs[i].data.u64 < 4) {
                int k = (int)evs[i].data.u64, fd;
                while ((fd = accept4(listeners[k], NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event ev = {.events = EPOLLIN};
                    u = calloc(1, sizeof(*u));
                    u->kind = (enum kind)k;
                    u->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    ev.data.ptr = u;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            u = evs[i].data.ptr;
            if (u->kind == SOURCE && u->answered) {
                while (u->count > 0) {
                    ssize_t w = write(u->fd, buf, u->count < BIG ? u->count : BIG);
                    if (w <= 0)
                        break;
                    u->count -= (uint64_t)w;
                }
                if (u->count == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(u->fd);
                    free(u);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(u->fd, buf, BIG);
                if (r > 0) {
                    if (u->kind == SINK) {
                        u->count += (uint64_t)r;
                        continue;
                    }
                    if (u->kind == SOURCE) {
                        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = u};
                        u->answered = 1;
                        u->count = source_bytes;
                        epoll_ctl(ep, EPOLL_CTL_MOD, u->fd, &ev);
                        break;
                    }
                    /* reply and hold: wait for one whole TLS record */
                    for (ssize_t k = 0; k < r && u->have < 5; k++)
                        u->head[u->have++] = (unsigned char)buf[k];
                    if (u->have >= 5)
                        u->count += (uint64_t)r;
                    if (!u->answered && u->have == 5 &&
                        u->count >= 5u + ((unsigned)u->head[3] << 8 | u->head[4])) {
                        u->answered = 1;
                        if (u->kind == REPLY) {
                            write(u->fd, reply, sizeof(reply));
                            close(u->fd);
                            free(u);
                            break;
                        }
                        write(u->fd, "!", 1);
                    }
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (u->kind == SINK) {
                    char text[32];
                    int len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)u->count);
                    write(u->fd, text, (size_t)len);
                }
                close(u->fd);
                free(u);
                break;
            }
        }
    }
}

/* ---- clients ---- */
static void bulk_up(const char *host, int port, const char *hello_path, uint64_t bytes)
{
    size_t hello_len;
    char *hello = slurp(hello_path, &hello_len);
    int fd = dial(host, port, 0);
    double start;
    char answer[64] = "";
    ssize_t r;
    uint64_t left = bytes;

    if (fd < 0)
        fail("connect");
    write_all(fd, hello, hello_len);
    start = now();
    while (left > 0) {
        size_t k = left < BIG ? left : BIG;
        write_all(fd, buf, k);
        left -= k;
    }
    shutdown(fd, SHUT_WR);
    r = read(fd, answer, sizeof(answer) - 1);
    if (r <= 0 || strtoull(answer, NULL, 10) != bytes + hello_len) {
        fprintf(stderr, "sink counted %s instead of %llu\n", answer,
                (unsigned long long)(bytes + hello_len));
        exit(1);
    }
    printf("%.3f\n", bytes * 8 / (now() - start) / 1e9);
}

static void bulk_down(const char *host, int port, const char *hello_path, uint64_t bytes)
{
    size_t hello_len;
    char *hello = slurp(hello_path, &hello_len);
    int fd = dial(host, port, 0);
    uint64_t got = 0;
    double start;
    ssize_t r;

    if (fd < 0)
        fail("connect");
    start = now();
    write_all(fd, hello, hello_len);
    while ((r = read(fd, buf, BIG)) > 0)
        got += (uint64_t)r;
    if (got != bytes) {
        fprintf(stderr, "got %llu bytes instead of %llu\n", (unsigned long long)got,
                (unsigned long long)bytes);
        exit(1);
    }
    printf("%.3f\n", bytes * 8 / (now() - start) / 1e9);
}

struct conn {
    int fd;
    int sent;
    size_t got;
};

/* Keeps CONCURRENCY connections busy for SECONDS: connect, ClientHello, read to EOF, close. */
static void rate(const char *host, int port, const char *hello_path, double seconds, int conc)
{
    size_t hello_len;
    char *hello = slurp(hello_path, &hello_len);
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)conc, sizeof(*cs));
    struct epoll_event evs[256];
    unsigned long done = 0, errors = 0, short_answers = 0;
    double start = now(), end = start + seconds;

    for (int i = 0; i < conc; i++) {
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
        cs[i].fd = dial(host, port, 1);
        if (cs[i].fd < 0)
            fail("connect");
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    while (now() < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            int finished = 0;
            if (!c->sent) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0 || write(c->fd, hello, hello_len) != (ssize_t)hello_len) {
                    errors++;
                    finished = 1;
                } else {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                    c->sent = 1;
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            } else {
                for (;;) {
                    ssize_t r = read(c->fd, buf, 4096);
                    if (r > 0) {
                        c->got += (size_t)r;
                        continue;
                    }
                    if (r < 0 && errno == EAGAIN)
                        break;
                    if (c->got == 100)
                        done++;
                    else if (r == 0)
                        short_answers++;
                    else
                        errors++;
                    finished = 1;
                    break;
                }
            }
            if (finished) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = evs[i].data.u32};
                close(c->fd);
                c->fd = dial(host, port, 1);
                c->sent = 0;
                c->got = 0;
                if (c->fd < 0)
                    fail("connect");
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
        }
    }
    printf("%.0f %lu %lu\n", done / (now() - start), errors, short_answers);
}

/* Opens COUNT connections, each relayed to the hold upstream (answer "!" seen), then waits. */
static void hold(const char *host, int port, const char *hello_path, int count)
{
    size_t hello_len;
    char *hello = slurp(hello_path, &hello_len);
    int held = 0;

    for (int i = 0; i < count; i++) {
        int fd = dial(host, port, 0);
        char c;
        if (fd < 0)
            fail("connect");
        write_all(fd, hello, hello_len);
        if (read(fd, &c, 1) != 1 || c != '!') {
            fprintf(stderr, "connection %d was not relayed\n", i);
            exit(1);
        }
        held++;
    }
    printf("held %d\n", held);
    fflush(stdout);
    pause();
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "upstreams") == 0)
        upstreams(strtoull(argv[2], NULL, 10));
    else if (argc == 6 && strcmp(argv[1], "up") == 0)
        bulk_up(argv[2], atoi(argv[3]), argv[4], strtoull(argv[5], NULL, 10));
    else if (argc == 6 && strcmp(argv[1], "down") == 0)
        bulk_down(argv[2], atoi(argv[3]), argv[4], strtoull(argv[5], NULL, 10));
    else if (argc == 7 && strcmp(argv[1], "rate") == 0)
        rate(argv[2], atoi(argv[3]), argv[4], atof(argv[5]), atoi(argv[6]));
    else if (argc == 6 && strcmp(argv[1], "hold") == 0)
        hold(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]));
    else
        return 2;
    return 0;
}
EOF
cc -O2 -Wall -o "$WORK/pb" "$WORK/pb.c" || die "cannot build the load generator"

python3 - "$WORK" <<'EOF' || die "cannot make ClientHellos"
import ssl, sys
for name in ("sink", "source", "reply", "hold"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name + ".test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    open("%s/hello-%s.bin" % (sys.argv[1], name), "wb").write(out.read())
EOF

# ---- servers -------------------------------------------------------------------------------
for i in 11 12 13 14; do ip addr add "127.0.0.$i/32" dev lo 2>/dev/null; done
dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port=53 --local=/test/ \
    --address=/sink.test/127.0.0.11 --address=/source.test/127.0.0.12 \
    --address=/reply.test/127.0.0.13 --address=/hold.test/127.0.0.14 \
    --pid-file="$WORK/dnsmasq.pid" 2>"$WORK/dnsmasq.err" &
PIDS+=($!)
$LOAD_CPU "$WORK/pb" upstreams "$BULK_BYTES" >"$WORK/upstreams.out" 2>&1 &
PIDS+=($!)

$PROXY_CPU "$PROXY" --user nobody --container-id bench --listen-tls 127.0.0.1:8443 \
    --allow "sink.test source.test reply.test hold.test" --resolver 127.0.0.1 \
    --upstream-allow 127.0.0.0/8 --log-file "$WORK/proxy.log" \
    --max-connections $((HOLD + 64)) 2>"$WORK/proxy.err" &
DJ_PID=$!
PIDS+=("$DJ_PID")

cat >"$WORK/nginx.conf" <<EOF
load_module $NGINX_STREAM;
worker_processes 1;
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
worker_rlimit_nofile $HARD;
events { worker_connections $((HOLD * 2 + 256)); }
stream {
    map \$ssl_preread_server_name \$backend {
        sink.test 127.0.0.11:443;
        source.test 127.0.0.12:443;
        reply.test 127.0.0.13:443;
        hold.test 127.0.0.14:443;
        default 127.0.0.1:9;
    }
    server {
        listen 127.0.0.1:8444 backlog=4096;
        ssl_preread on;
        proxy_half_close on;
        proxy_pass \$backend;
    }
}
EOF
$PROXY_CPU nginx -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/nginx.stderr" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $((HOLD + 64))
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend sni
    bind 127.0.0.1:8445
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
    use_backend sink if { req_ssl_sni -i sink.test }
    use_backend source if { req_ssl_sni -i source.test }
    use_backend reply if { req_ssl_sni -i reply.test }
    use_backend hold if { req_ssl_sni -i hold.test }
backend sink
    server s 127.0.0.11:443
backend source
    server s 127.0.0.12:443
backend reply
    server s 127.0.0.13:443
backend hold
    server s 127.0.0.14:443
EOF
$PROXY_CPU haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.out" 2>&1 &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")

sleep 1
grep -q ready "$WORK/upstreams.out" || die "upstreams did not start: $(cat "$WORK/upstreams.out")"
for pid in "$DJ_PID" "$NGINX_PID" "$HAPROXY_PID"; do
    kill -0 "$pid" 2>/dev/null || die "a proxy did not start: $(cat "$WORK"/*.err "$WORK"/*.stderr "$WORK/haproxy.out" 2>/dev/null)"
done

port_of() { case $1 in dnsjail) echo 8443 ;; nginx) echo 8444 ;; haproxy) echo 8445 ;; esac; }
pid_of() { case $1 in dnsjail) echo "$DJ_PID" ;; nginx) echo "$NGINX_PID" ;; haproxy) echo "$HAPROXY_PID" ;; esac; }
pb() { $LOAD_CPU "$WORK/pb" "$@"; }

bench_machine
echo "# proxy-bench: $ROUNDS rounds, $SECONDS_PER_RUN s per rate run, bulk $BULK_BYTES bytes, concurrency $CONCURRENCY"
echo "# $(uname -r), $(nproc) CPUs, $(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3)"

# ---- bulk ----------------------------------------------------------------------------------
# Twice: "free", the client not pinned (three busy processes on two CPUs when a proxy is in
# the path, two when not), and "pinned", the client on CPU 0 with the upstream, so that with
# or without a proxy the endpoints have one CPU and the proxy (on CPU 1) is the only thing
# that differs: there, below 100% means the proxy cannot keep up with its own CPU.
declare -A BULK
for r in $(seq "$ROUNDS"); do
    for pin in free pinned; do
        if [ "$pin" = pinned ]; then client=($LOAD_CPU "$WORK/pb"); else client=("$WORK/pb"); fi
        for dir in up down; do
            if [ "$dir" = up ]; then host=127.0.0.11; name=sink; else host=127.0.0.12; name=source; fi
            for via in direct dnsjail nginx haproxy; do
                if [ "$via" = direct ]; then
                    out=$("${client[@]}" "$dir" "$host" 443 "$WORK/hello-$name.bin" "$BULK_BYTES")
                else
                    out=$("${client[@]}" "$dir" 127.0.0.1 "$(port_of "$via")" "$WORK/hello-$name.bin" "$BULK_BYTES")
                fi
                BULK[$pin-$dir-$via]+="${out:-0} "
            done
        done
    done
done
echo
echo "bulk, one connection, Gbit/s (median of $ROUNDS; all rounds)"
for pin in free pinned; do
    for dir in up down; do
        d=$(tr ' ' '\n' <<<"${BULK[$pin-$dir-direct]}" | grep . | median)
        for via in direct dnsjail nginx haproxy; do
            m=$(tr ' ' '\n' <<<"${BULK[$pin-$dir-$via]}" | grep . | median)
            printf '  %-6s %-5s %-8s %8s  (%s of direct)  [%s]\n' "$pin" "$dir" "$via" "$m" \
                "$(awk -v a="$m" -v b="$d" 'BEGIN{printf "%.0f%%", 100*a/b}')" "${BULK[$pin-$dir-$via]% }"
            bench_record "proxy.$via.bulk_$pin.$dir.gbit" "$m"
        done
    done
done

# ---- rate ----------------------------------------------------------------------------------
declare -A RATE CPS ERR
order=(dnsjail nginx haproxy)
for r in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
        via=${order[$(((k + r) % 3))]}
        pid=$(pid_of "$via")
        before=$(cpu_ticks "$pid")
        read -r cps errors short < <(pb rate 127.0.0.1 "$(port_of "$via")" "$WORK/hello-reply.bin" "$SECONDS_PER_RUN" "$CONCURRENCY")
        after=$(cpu_ticks "$pid")
        RATE[$via]+="$cps "
        CPS[$via]+="$(awk -v c="$cps" -v s="$SECONDS_PER_RUN" -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN{ if (t > 0) printf "%.0f", c*s/(t/hz); else print 0 }') "
        ERR[$via]+="$errors/$short "
    done
    read -r cps errors short < <(pb rate 127.0.0.13 443 "$WORK/hello-reply.bin" "$SECONDS_PER_RUN" "$CONCURRENCY")
    RATE[direct]+="$cps "
done
echo
echo "rate: connections/s (ClientHello, 100-byte answer, close), concurrency $CONCURRENCY, median of $ROUNDS"
for via in direct dnsjail nginx haproxy; do
    printf '  %-8s %8s conn/s' "$via" "$(tr ' ' '\n' <<<"${RATE[$via]}" | grep . | median)"
    bench_record "proxy.$via.rate.conn_per_s" "$(tr ' ' '\n' <<<"${RATE[$via]}" | grep . | median)"
    if [ "$via" != direct ]; then
        printf '  %8s conn per proxy CPU-second  errors/short %s' \
            "$(tr ' ' '\n' <<<"${CPS[$via]}" | grep . | median)" "${ERR[$via]% }"
    fi
    printf '  [%s]\n' "${RATE[$via]% }"
done

# ---- memory --------------------------------------------------------------------------------
sock_pages() { awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i+1)}' /proc/net/sockstat; }
echo
echo "memory with $HOLD idle relayed TLS connections (RSS in KiB; TCP buffer pages are the whole kernel's)"
for via in dnsjail nginx haproxy; do
    pid=$(pid_of "$via")
    [ "$via" = nginx ] && pid=$(cat "$WORK/nginx.pid" 2>/dev/null || echo "$NGINX_PID")
    idle=$(rss_kib "$pid")
    pages_before=$(sock_pages)
    "$WORK/pb" hold 127.0.0.1 "$(port_of "$via")" "$WORK/hello-hold.bin" "$HOLD" >"$WORK/hold.out" 2>&1 &
    holder=$!
    for i in $(seq 1200); do
        grep -q held "$WORK/hold.out" && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    if grep -q held "$WORK/hold.out"; then
        busy=$(rss_kib "$pid")
        printf '  %-8s idle %7s  with %d: %8s (Pss %s)  per connection %6s bytes  (TCP pages %s -> %s)\n' \
            "$via" "$idle" "$HOLD" "$busy" "$(pss_kib "$pid")" "$(((busy - idle) * 1024 / HOLD))" "$pages_before" "$(sock_pages)"
        [ "$via" = dnsjail ] && echo "           by mapping (RSS/PSS KiB): $(smaps_breakdown "$pid")"
        bench_record "proxy.$via.held_connections" "$HOLD"
        bench_record "proxy.$via.bytes_per_held_connection" "$(((busy - idle) * 1024 / HOLD))"
    else
        printf '  %-8s could not hold %d connections: %s\n' "$via" "$HOLD" "$(tail -n1 "$WORK/hold.out")"
    fi
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    sleep 2
done
echo
echo "dnsjail-proxy log: $(wc -l <"$WORK/proxy.log") lines (default limit 200/s, burst 400)"

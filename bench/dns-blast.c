/* dns-blast: a small batched UDP DNS load generator for bench/dns-sinkhole.sh.
 *
 * dnsperf sends and receives one datagram per system call, so on a small machine it runs out
 * of CPU before a fast server does. This tool keeps WINDOW queries in flight and moves them
 * with sendmmsg/recvmmsg in batches, so it can saturate the server and measure its capacity.
 * Names are random labels under a test domain; only loopback makes sense as a target.
 *
 * Usage: dns-blast ADDR PORT SECONDS [WINDOW [NAMES]]
 * NAMES: use only that many distinct names (each query's label drawn from a fixed set), so a
 * caching server answers them from its cache (bench/forward-cache.sh); default: 4096 random.
 * Prints: "sent N answered N noerror N lost N qps X". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define QUERY_POOL 4096
#define QUERY_MAX 64
#define STALL_NS 20000000ull /* no answer for this long: count the window as lost */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "<12 random chars>.bench.example" A IN, id patched in at send time. */
static size_t make_query(uint8_t *out, unsigned *seed)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static const uint8_t header[] = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    static const uint8_t tail[] = {5,   'b', 'e', 'n', 'c', 'h', 7, 'e', 'x', 'a',
                                   'm', 'p', 'l', 'e', 0,   0,   1, 0,   1};
    size_t n = 0;

    memcpy(out, header, sizeof(header));
    n += sizeof(header);
    out[n++] = 12;
    for (int i = 0; i < 12; i++)
        out[n++] = (uint8_t)alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
    memcpy(out + n, tail, sizeof(tail));
    return n + sizeof(tail);
}

int main(int argc, char **argv)
{
    static uint8_t pool[QUERY_POOL][QUERY_MAX];
    static size_t pool_len[QUERY_POOL];
    static uint8_t send_buf[BATCH][QUERY_MAX];
    static uint8_t recv_buf[BATCH][512];
    struct mmsghdr out[BATCH], in[BATCH];
    struct iovec out_iov[BATCH], in_iov[BATCH];
    struct sockaddr_in server;
    unsigned long sent = 0, answered = 0, noerror = 0, lost = 0;
    unsigned seed = 12345, window, names;
    uint64_t start, end, last_progress;
    double seconds;
    size_t next = 0;
    uint16_t id = 0;
    int fd, buf_size = 4 << 20;

    if (argc < 4) {
        fprintf(stderr, "usage: %s ADDR PORT SECONDS [WINDOW [NAMES]]\n", argv[0]);
        return 2;
    }
    memset(&server, 0, sizeof(server));
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    seconds = atof(argv[3]);
    window = argc > 4 ? (unsigned)atoi(argv[4]) : 256;
    names = argc > 5 ? (unsigned)atoi(argv[5]) : 0;
    for (size_t i = 0; i < QUERY_POOL; i++) {
        if (names > 0)
            seed = 12345 + (unsigned)(i % names); /* the same few names over and over */
        pool_len[i] = make_query(pool[i], &seed);
    }

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_size, sizeof(buf_size));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf_size, sizeof(buf_size));
    memset(out, 0, sizeof(out));
    memset(in, 0, sizeof(in));
    for (int i = 0; i < BATCH; i++) {
        out_iov[i].iov_base = send_buf[i];
        out[i].msg_hdr.msg_iov = &out_iov[i];
        out[i].msg_hdr.msg_iovlen = 1;
        in_iov[i].iov_base = recv_buf[i];
        in_iov[i].iov_len = sizeof(recv_buf[i]);
        in[i].msg_hdr.msg_iov = &in_iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }

    start = last_progress = now_ns();
    end = start + (uint64_t)(seconds * 1e9);
    for (;;) {
        uint64_t now = now_ns();
        /* Late answers to a window written off as lost can make this negative. */
        long in_flight = (long)(sent - answered - lost);
        struct pollfd pfd = {fd, POLLIN, 0};
        int n;

        if (now >= end)
            break;
        if (in_flight > 0 && now - last_progress > STALL_NS) {
            lost += in_flight; /* dropped somewhere: start a fresh window */
            last_progress = now;
            continue;
        }
        if (in_flight < 0)
            in_flight = 0;
        if (in_flight + BATCH <= (long)window) {
            int count = 0;

            while (count < BATCH && in_flight + count < (long)window) {
                memcpy(send_buf[count], pool[next], pool_len[next]);
                send_buf[count][0] = (uint8_t)(id >> 8);
                send_buf[count][1] = (uint8_t)id;
                out_iov[count].iov_len = pool_len[next];
                next = (next + 1) % QUERY_POOL;
                id++;
                count++;
            }
            n = sendmmsg(fd, out, (unsigned)count, 0);
            if (n > 0)
                sent += (unsigned long)n;
        }
        n = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
        if (n > 0) {
            for (int i = 0; i < n; i++) {
                if (in[i].msg_len >= 12 && (recv_buf[i][2] & 0x80) && (recv_buf[i][3] & 0x0F) == 0)
                    noerror++;
            }
            answered += (unsigned long)n;
            last_progress = now;
        } else if (in_flight + BATCH > (long)window) {
            poll(&pfd, 1, 1);
        }
    }
    seconds = (double)(now_ns() - start) / 1e9;
    printf("sent %lu answered %lu noerror %lu lost %lu qps %.0f\n", sent, answered, noerror, lost,
           (double)answered / seconds);
    close(fd);
    return 0;
}

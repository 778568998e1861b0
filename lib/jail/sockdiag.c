/* sockdiag.c: a namespace's servers from sock_diag netlink, and who holds them.
 *
 * The dump is the one `ss -ltu` asks for: inet_diag_req_v2 per family and protocol, states
 * LISTEN for TCP and CLOSE for UDP (an unconnected socket; connected ones only talk to their
 * peer). The netlink socket belongs to the namespace of the thread that opens it, so the list
 * is of the caller's namespace. Replies are read with memcpy, never through casts of the
 * buffer: they are kernel input, and the fuzzer feeds them unaligned. */
#include "config.h"

#include "jail/sockdiag.h"

#include "base/cleanup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

/* Values of idiag_state (include/net/tcp_states.h, not exported to user space). */
#define STATE_CLOSE 7
#define STATE_LISTEN 10

/* The kernel fills a dump buffer up to 32 KiB; room for more, and MSG_TRUNC says if not. */
#define DUMP_BUFFER_SIZE (64 * 1024)
#define REPLY_TIMEOUT_SECONDS 5

void dj_sockdiag_list_free(struct dj_sockdiag_list *list)
{
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

static int list_append(struct dj_sockdiag_list *list, const struct dj_sockdiag_socket *s,
                       dj_error_t *err)
{
    if (list->n == list->cap) {
        size_t cap = list->cap == 0 ? 16 : 2 * list->cap;
        struct dj_sockdiag_socket *v;

        if (list->n >= DJ_SOCKDIAG_MAX_SOCKETS)
            return dj_error_make(err, 0,
                                 "the network namespace has more than %d listening sockets, "
                                 "more than dnsjail checks",
                                 DJ_SOCKDIAG_MAX_SOCKETS);
        v = realloc(list->v, cap * sizeof(*v));
        if (v == NULL)
            return dj_error_make(err, ENOMEM, "listing the namespace's sockets");
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = *s;
    return 0;
}

bool dj_sockdiag_any_address(const struct dj_sockdiag_socket *s)
{
    static const uint8_t zero[16] = {0};

    return memcmp(s->addr, zero, s->family == AF_INET6 ? 16 : 4) == 0;
}

/* ---- the reply parser -------------------------------------------------------------------- */

/* The attributes after an inet_diag_msg: only INET_DIAG_SKV6ONLY matters. */
static int parse_attributes(const uint8_t *p, size_t len, struct dj_sockdiag_socket *s,
                            dj_error_t *err)
{
    while (len > 0) {
        struct nlattr nla;
        size_t step;

        if (len < sizeof(nla))
            return dj_error_make(err, EBADMSG, "sock_diag: truncated attribute");
        memcpy(&nla, p, sizeof(nla));
        if (nla.nla_len < NLA_HDRLEN || nla.nla_len > len)
            return dj_error_make(err, EBADMSG, "sock_diag: attribute length %u out of bounds",
                                 (unsigned)nla.nla_len);
        if ((nla.nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY && nla.nla_len > NLA_HDRLEN)
            s->v6only = p[NLA_HDRLEN] != 0;
        step = NLA_ALIGN(nla.nla_len);
        if (step > len)
            step = len; /* the last attribute need not be padded */
        p += step;
        len -= step;
    }
    return 0;
}

static int parse_diag_msg(const uint8_t *payload, size_t len, uint8_t protocol,
                          struct dj_sockdiag_list *out, dj_error_t *err)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct inet_diag_msg msg;
    struct dj_sockdiag_socket s;
    size_t head = NLMSG_ALIGN(sizeof(msg));

    if (len < sizeof(msg))
        return dj_error_make(err, EBADMSG, "sock_diag: socket record of %zu bytes is too short",
                             len);
    memcpy(&msg, payload, sizeof(msg));
    memset(&s, 0, sizeof(s));
    if (head < len && parse_attributes(payload + head, len - head, &s, err) < 0)
        return -1;
    if (msg.idiag_state != (protocol == IPPROTO_TCP ? STATE_LISTEN : STATE_CLOSE))
        return 0; /* not a server (the request asked for these states only) */
    s.protocol = protocol;
    s.port = ntohs(msg.id.idiag_sport);
    s.inode = msg.idiag_inode;
    if (msg.idiag_family == AF_INET) {
        s.family = AF_INET;
        memcpy(s.addr, msg.id.idiag_src, 4);
    } else if (msg.idiag_family == AF_INET6) {
        s.family = AF_INET6;
        memcpy(s.addr, msg.id.idiag_src, 16);
        /* An IPv4-mapped address takes IPv4 traffic only: the jail matches it as IPv4. */
        if (memcmp(s.addr, v4mapped, sizeof(v4mapped)) == 0) {
            s.family = AF_INET;
            memmove(s.addr, s.addr + 12, 4);
            memset(s.addr + 4, 0, 12);
        }
    } else {
        return dj_error_make(err, EBADMSG, "sock_diag: socket of address family %u",
                             (unsigned)msg.idiag_family);
    }
    if (s.port == 0)
        return 0; /* not bound to a port: nothing can be sent to it */
    return list_append(out, &s, err);
}

int dj_sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol,
                      struct dj_sockdiag_list *out, bool *done, dj_error_t *err)
{
    const uint8_t *p = buf;

    *done = false;
    while (len > 0) {
        struct nlmsghdr nlh;
        size_t step;

        if (len < sizeof(nlh))
            return dj_error_make(err, EBADMSG, "sock_diag: truncated message header");
        memcpy(&nlh, p, sizeof(nlh));
        if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len)
            return dj_error_make(err, EBADMSG, "sock_diag: message length %u out of bounds",
                                 (unsigned)nlh.nlmsg_len);
        if (nlh.nlmsg_seq == seq) {
            if (nlh.nlmsg_type == NLMSG_DONE) {
                *done = true;
                return 0;
            }
            if (nlh.nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr e;

                if (nlh.nlmsg_len < NLMSG_HDRLEN + sizeof(e))
                    return dj_error_make(err, EBADMSG, "sock_diag: truncated error message");
                memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
                /* Only a negative errno is an error; 0 would be an acknowledgement, which a
                 * dump does not get. */
                return dj_error_make(err, e.error < 0 && e.error > -4096 ? -e.error : EPROTO,
                                     "sock_diag: the kernel refused the %s dump",
                                     protocol == IPPROTO_TCP ? "TCP" : "UDP");
            }
            if (nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
                parse_diag_msg(p + NLMSG_HDRLEN, nlh.nlmsg_len - NLMSG_HDRLEN, protocol, out, err) <
                    0)
                return -1;
        }
        step = NLMSG_ALIGN(nlh.nlmsg_len);
        if (step > len)
            step = len;
        p += step;
        len -= step;
    }
    return 0;
}

/* ---- the dump ------------------------------------------------------------------------------ */

static int dump_one(int fd, uint8_t family, uint8_t protocol, uint32_t seq, uint8_t *buf,
                    struct dj_sockdiag_list *out, dj_error_t *err)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } request;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    bool done = false;

    memset(&request, 0, sizeof(request));
    request.nlh.nlmsg_len = sizeof(request);
    request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    request.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.nlh.nlmsg_seq = seq;
    request.req.sdiag_family = family;
    request.req.sdiag_protocol = protocol;
    request.req.idiag_states = 1U << (protocol == IPPROTO_TCP ? STATE_LISTEN : STATE_CLOSE);
    if (sendto(fd, &request, sizeof(request), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return dj_error_make(err, errno, "sock_diag: cannot send the dump request");
    while (!done) {
        struct iovec iov = {buf, DUMP_BUFFER_SIZE};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(fd, &mh, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dj_error_make(err, errno == EAGAIN ? ETIMEDOUT : errno,
                                 "sock_diag: no complete answer from the kernel");
        if (mh.msg_flags & MSG_TRUNC)
            return dj_error_make(err, EMSGSIZE, "sock_diag: reply larger than the buffer");
        if (n == 0)
            return dj_error_make(err, EPROTO, "sock_diag: the dump ended without its end mark");
        if (dj_sockdiag_parse(buf, (size_t)n, seq, protocol, out, &done, err) < 0)
            return -1;
    }
    return 0;
}

int dj_sockdiag_list_servers(struct dj_sockdiag_list *out, dj_error_t *err)
{
    static const uint8_t families[] = {AF_INET, AF_INET6};
    static const uint8_t protocols[] = {IPPROTO_TCP, IPPROTO_UDP};
    struct timeval timeout = {.tv_sec = REPLY_TIMEOUT_SECONDS};
    cleanup_free uint8_t *buf = malloc(DUMP_BUFFER_SIZE);
    cleanup_close int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    uint32_t seq = (uint32_t)time(NULL);

    memset(out, 0, sizeof(*out));
    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "sock_diag buffer");
    if (fd < 0)
        return dj_error_make(err, errno, "sock_diag: cannot open a NETLINK_SOCK_DIAG socket");
    /* Never hang the hook, and with it the container's start, on a silent kernel. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
        return dj_error_make(err, errno, "sock_diag: cannot set a receive timeout");
    for (size_t f = 0; f < sizeof(families); f++) {
        for (size_t p = 0; p < sizeof(protocols); p++) {
            if (dump_one(fd, families[f], protocols[p], ++seq, buf, out, err) < 0) {
                dj_sockdiag_list_free(out);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- holders ----------------------------------------------------------------------------- */

struct inode_index {
    uint64_t inode;
    size_t at; /* in the list */
};

static int compare_inode(const void *a, const void *b)
{
    uint64_t x = ((const struct inode_index *)a)->inode;
    uint64_t y = ((const struct inode_index *)b)->inode;

    return x < y ? -1 : x > y;
}

/* The inode of a "socket:[N]" link; 0 for anything else. */
static uint64_t socket_inode_of(const char *link)
{
    uint64_t inode = 0;
    const char *p;

    if (strncmp(link, "socket:[", 8) != 0)
        return 0;
    for (p = link + 8; *p >= '0' && *p <= '9'; p++) {
        if (inode > (UINT64_MAX - 9) / 10)
            return 0;
        inode = inode * 10 + (uint64_t)(*p - '0');
    }
    return p[0] == ']' && p[1] == '\0' ? inode : 0;
}

/* The process's name, printable (it chooses it itself). */
static void read_comm(int pid_dir, char comm[16])
{
    cleanup_close int fd = openat(pid_dir, "comm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, comm, 15) : -1;

    if (n <= 0) {
        strcpy(comm, "?");
        return;
    }
    comm[n] = '\0';
    if (n > 0 && comm[n - 1] == '\n')
        comm[n - 1] = '\0';
    for (char *c = comm; *c != '\0'; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
}

static bool pid_is_ours(pid_t pid, const pid_t *ours, size_t n_ours)
{
    for (size_t i = 0; i < n_ours; i++)
        if (ours[i] == pid)
            return true;
    return false;
}

/* Marks the sockets of INDEX that process PID (its /proc directory PID_DIR) holds; returns how
 * many it settled: those it is the first inside holder of, or, outside, the first holder of
 * that has none inside. */
static size_t scan_process(int pid_dir, pid_t pid, bool inside, const struct inode_index *index,
                           size_t n_index, struct dj_sockdiag_list *list)
{
    size_t settled = 0;
    int fd_dir_fd = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *fds;
    struct dirent *de;

    if (fd_dir_fd < 0)
        return 0; /* gone, or not ours to read: it holds nothing we can see */
    fds = fdopendir(fd_dir_fd);
    if (fds == NULL) {
        close(fd_dir_fd);
        return 0;
    }
    while ((de = readdir(fds)) != NULL) {
        char link[64];
        ssize_t n = readlinkat(dirfd(fds), de->d_name, link, sizeof(link) - 1);
        struct inode_index key, *hit;

        if (n <= 0)
            continue;
        link[n] = '\0';
        key.inode = socket_inode_of(link);
        if (key.inode == 0)
            continue;
        hit = bsearch(&key, index, n_index, sizeof(*index), compare_inode);
        if (hit == NULL)
            continue;
        if (inside) {
            settled += !list->v[hit->at].held_inside;
            list->v[hit->at].held_inside = true;
        } else if (list->v[hit->at].outside_pid == 0) {
            settled += !list->v[hit->at].held_inside;
            list->v[hit->at].outside_pid = pid;
            read_comm(pid_dir, list->v[hit->at].outside_comm);
        }
    }
    closedir(fds);
    return settled;
}

int dj_sockdiag_find_holders(struct dj_sockdiag_list *list, const char *proc, dev_t ns_dev,
                             ino_t ns_ino, const pid_t *ours, size_t n_ours, dj_error_t *err)
{
    cleanup_free struct inode_index *index = NULL;
    size_t n_index = 0, unsettled;
    DIR *dir;
    struct dirent *de;

    for (size_t i = 0; i < list->n; i++) {
        list->v[i].held_inside = false;
        list->v[i].outside_pid = 0;
        strcpy(list->v[i].outside_comm, "");
    }
    if (list->n == 0)
        return 0;
    index = calloc(list->n, sizeof(*index));
    if (index == NULL)
        return dj_error_make(err, ENOMEM, "socket holders");
    for (size_t i = 0; i < list->n; i++)
        if (list->v[i].inode != 0)
            index[n_index++] = (struct inode_index){list->v[i].inode, i};
    qsort(index, n_index, sizeof(*index), compare_inode);

    dir = opendir(proc);
    if (dir == NULL)
        return dj_error_make(err, errno, "cannot read %s to find who holds the sockets", proc);
    /* Ours first, then the namespace's own processes (one fstatat each tells them): most
     * starts end there, a pod member's join with sockets the jail's daemons and the pod hold.
     * Only what no inside holder took costs the walk through every other process's
     * descriptors, to name a holder. */
    unsettled = n_index;
    for (size_t i = 0; i < n_ours && unsettled > 0; i++) {
        char name[24];
        cleanup_close int pid_dir = -1;

        snprintf(name, sizeof(name), "%d", (int)ours[i]);
        pid_dir = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_dir >= 0)
            unsettled -= scan_process(pid_dir, ours[i], true, index, n_index, list);
    }
    for (int inside_pass = 1; inside_pass >= 0 && unsettled > 0; inside_pass--) {
        rewinddir(dir);
        while (unsettled > 0 && (de = readdir(dir)) != NULL) {
            char *end;
            long pid = strtol(de->d_name, &end, 10);
            cleanup_close int pid_dir = -1;
            struct stat st;
            bool inside;

            if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end != '\0' || pid <= 0)
                continue;
            pid_dir = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (pid_dir < 0)
                continue;
            /* The process's namespace is its main thread's: a daemon with one thread parked in
             * the container's namespace (as dockerd does to create its socket) is outside. */
            inside = (fstatat(pid_dir, "ns/net", &st, 0) == 0 && st.st_dev == ns_dev &&
                      st.st_ino == ns_ino) ||
                     pid_is_ours((pid_t)pid, ours, n_ours);
            if (inside == (inside_pass == 1))
                unsettled -= scan_process(pid_dir, (pid_t)pid, inside, index, n_index, list);
        }
    }
    closedir(dir);
    return 0;
}

/* ---- text ------------------------------------------------------------------------------------ */

void dj_sockdiag_format(const struct dj_sockdiag_socket *s, char buf[DJ_SOCKDIAG_ENDPOINT_TEXT])
{
    char addr[INET6_ADDRSTRLEN];
    const char *proto = s->protocol == IPPROTO_TCP ? "tcp" : "udp";

    if (inet_ntop(s->family, s->addr, addr, sizeof(addr)) == NULL)
        strcpy(addr, "?");
    snprintf(buf, DJ_SOCKDIAG_ENDPOINT_TEXT, s->family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s",
             addr, (unsigned)s->port, proto);
}

bool dj_sockdiag_parse_endpoint(const char *text, int *family, uint8_t addr[16], uint16_t *port)
{
    char host[INET6_ADDRSTRLEN];
    const char *colon, *start = text;
    size_t host_len;
    unsigned long value = 0;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':')
            return false;
        start = text + 1;
        host_len = (size_t)(close - start);
        colon = close + 1;
        *family = AF_INET6;
    } else {
        colon = strchr(text, ':');
        if (colon == NULL || strchr(colon + 1, ':') != NULL)
            return false;
        host_len = (size_t)(colon - text);
        *family = AF_INET;
    }
    if (host_len == 0 || host_len >= sizeof(host))
        return false;
    memcpy(host, start, host_len);
    host[host_len] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(*family, host, addr) != 1)
        return false;
    if (colon[1] == '\0')
        return false;
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > 65535)
            return false;
    }
    if (value == 0)
        return false;
    *port = (uint16_t)value;
    return true;
}

bool dj_sockdiag_listed(const char *list, const struct dj_sockdiag_socket *s)
{
    const char *p = list;

    if (list == NULL)
        return false;
    while (*p != '\0') {
        char item[DJ_SOCKDIAG_ENDPOINT_TEXT];
        uint8_t addr[16];
        uint16_t port;
        int family;
        size_t len;

        p += strspn(p, ", \t");
        len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (dj_sockdiag_parse_endpoint(item, &family, addr, &port) && family == s->family &&
                port == s->port && memcmp(addr, s->addr, family == AF_INET6 ? 16 : 4) == 0)
                return true;
        }
        p += len;
    }
    return false;
}

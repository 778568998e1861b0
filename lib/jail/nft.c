/* nft.c: the `inet dnsjail` nftables table, built with libnftnl and sent with libmnl.
 *
 * Every change goes to the kernel as one nfnetlink batch, so the kernel commits all of it or
 * none of it: a container is never left with half a jail. Each message in a batch asks for an
 * acknowledgement, so a failure names the message the kernel refused. The netlink socket is
 * opened per call: it belongs to the network namespace of the thread that opens it, which is
 * how these functions act "in the namespace the calling thread is in".
 * Owns: building, replacing, probing and deleting that table. */
#include "config.h"

#include "jail/nft.h"

#include "base/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

#include "jail/nft-internal.h"

/* Room for the whole batch: a rule message is under 300 bytes. Netlink takes a datagram up to
 * the socket's send buffer (212992 bytes by default), which this stays below. */
#define BATCH_BUFFER_SIZE (160 * 1024)

/* The kernel answers synchronously while we send, so a missing reply means something is badly
 * wrong; never hang the hook (and with it the container start) on it. */
#define REPLY_TIMEOUT_SECONDS 5

/* ---- the netlink socket ---------------------------------------------------------------- */

static void close_mnl_socket(struct mnl_socket **nl)
{
    if (*nl != NULL)
        mnl_socket_close(*nl);
}

static struct mnl_socket *open_nft_socket(dj_error_t *err)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    struct timeval timeout = {.tv_sec = REPLY_TIMEOUT_SECONDS};
    int rcvbuf = 4 * 1024 * 1024;
    int on = 1;

    if (nl == NULL) {
        dj_error_make(err, errno, "nftables: cannot open a netfilter netlink socket");
        return NULL;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        dj_error_make(err, errno, "nftables: cannot bind the netfilter netlink socket");
        mnl_socket_close(nl);
        return NULL;
    }
    /* One acknowledgement per message queues up while the kernel works through a large
     * batch; each costs far more buffer than its bytes. Ask for room for all of them (FORCE
     * needs CAP_NET_ADMIN, which the hook has; without it the default must do). */
    if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0) {
        dj_error_make(err, errno, "nftables: cannot set a receive timeout on the netlink socket");
        mnl_socket_close(nl);
        return NULL;
    }
    /* Error replies then carry only the header of the refused message, not all of it. */
    (void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &on, sizeof(on));
    return nl;
}

/* ---- the batch --------------------------------------------------------------------------- */

static void nft_batch_free(struct nft_batch *b)
{
    if (b->batch != NULL)
        mnl_nlmsg_batch_stop(b->batch);
    free(b->buf);
    b->batch = NULL;
    b->buf = NULL;
}

int nft_batch_next_message(struct nft_batch *b, const char *what, dj_error_t *err)
{
    if (b->count >= MAX_BATCH_MESSAGES || !mnl_nlmsg_batch_next(b->batch))
        return dj_error_make(err, 0, "nftables: batch too large at \"%s\"", what);
    b->what[b->count++] = what;
    return 0;
}

void *nft_batch_slot(struct nft_batch *b)
{
    return mnl_nlmsg_batch_current(b->batch);
}

uint32_t nft_batch_seq(const struct nft_batch *b)
{
    return b->first_seq + b->count;
}

static int nft_batch_begin(struct nft_batch *b, dj_error_t *err)
{
    memset(b, 0, sizeof(*b));
    /* mnl_nlmsg_batch_start wants a buffer twice its limit: a message is written before
     * the batch knows whether it still fits. Zeroed because libmnl before 1.0.5 leaves the
     * alignment padding after short attributes unwritten. */
    b->buf = calloc(2, BATCH_BUFFER_SIZE);
    if (b->buf == NULL)
        return dj_error_make(err, ENOMEM, "nftables: cannot allocate the batch");
    b->batch = mnl_nlmsg_batch_start(b->buf, BATCH_BUFFER_SIZE);
    if (b->batch == NULL) {
        nft_batch_free(b);
        return dj_error_make(err, ENOMEM, "nftables: cannot allocate the batch");
    }
    b->first_seq = (uint32_t)time(NULL);
    nftnl_batch_begin(nft_batch_slot(b), nft_batch_seq(b));
    return nft_batch_next_message(b, "begin batch", err);
}

static int nft_batch_end(struct nft_batch *b, dj_error_t *err)
{
    nftnl_batch_end(nft_batch_slot(b), nft_batch_seq(b));
    return nft_batch_next_message(b, "end batch", err);
}

static struct nftnl_table *dnsjail_table_new(uint32_t family)
{
    struct nftnl_table *t = nftnl_table_alloc();

    if (t == NULL)
        return NULL;
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
    if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, DJ_NFT_TABLE) < 0) {
        nftnl_table_free(t);
        return NULL;
    }
    return t;
}

/* Table dnsjail of FAMILY (inet, or netdev for the raw-frame policing). */
int nft_batch_put_family_table(struct nft_batch *b, uint32_t family, uint16_t type, uint16_t flags,
                               const char *what, dj_error_t *err)
{
    struct nftnl_table *t = dnsjail_table_new(family);
    struct nlmsghdr *nlh;

    if (t == NULL)
        return dj_error_make(err, ENOMEM, "nftables: %s", what);
    nlh = nftnl_table_nlmsg_build_hdr(nft_batch_slot(b), type, (uint16_t)family, flags | NLM_F_ACK,
                                      nft_batch_seq(b));
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    return nft_batch_next_message(b, what, err);
}

int nft_batch_put_table(struct nft_batch *b, uint16_t type, uint16_t flags, const char *what,
                        dj_error_t *err)
{
    return nft_batch_put_family_table(b, NFPROTO_INET, type, flags, what, err);
}

/* A base chain of table dnsjail in FAMILY on HOOKNUM; DEVICES (NULL-terminated) only for
 * netdev chains. */
int nft_batch_put_hooked_chain(struct nft_batch *b, uint32_t family, const char *name,
                               const char *type, uint32_t hooknum, int32_t priority,
                               uint32_t policy, const char **devices, const char *what,
                               dj_error_t *err)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct nlmsghdr *nlh;

    if (c == NULL || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, DJ_NFT_TABLE) < 0 ||
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0 ||
        (devices != NULL && nftnl_chain_set_array(c, NFTNL_CHAIN_DEVICES, devices) < 0)) {
        if (c != NULL)
            nftnl_chain_free(c);
        return dj_error_make(err, ENOMEM, "nftables: %s", what);
    }
    nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hooknum);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, priority);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, policy);
    nlh = nftnl_chain_nlmsg_build_hdr(nft_batch_slot(b), NFT_MSG_NEWCHAIN, (uint16_t)family,
                                      NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, nft_batch_seq(b));
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    return nft_batch_next_message(b, what, err);
}

int nft_batch_put_base_chain_at(struct nft_batch *b, const char *name, const char *type,
                                uint32_t hooknum, int32_t priority, uint32_t policy,
                                const char *what, dj_error_t *err)
{
    return nft_batch_put_hooked_chain(b, NFPROTO_INET, name, type, hooknum, priority, policy, NULL,
                                      what, err);
}

int nft_batch_put_base_chain(struct nft_batch *b, const char *name, const char *type,
                             int32_t priority, uint32_t policy, const char *what, dj_error_t *err)
{
    return nft_batch_put_base_chain_at(b, name, type, NF_INET_LOCAL_OUT, priority, policy, what,
                                       err);
}

/* ---- sending a batch and reading every acknowledgement ----------------------------------- */

struct batch_replies {
    const struct nft_batch *batch;
    uint32_t acked;           /* messages (between BEGIN and END) the kernel has answered */
    bool whole_batch_refused; /* the kernel answered the BEGIN message: all of it failed */
    int failed_errno;         /* first refusal, 0 when none */
    uint32_t failed_index;
};

static int on_netlink_error(const struct nlmsghdr *nlh, void *data)
{
    struct batch_replies *replies = data;
    const struct nlmsgerr *reply = mnl_nlmsg_get_payload(nlh);
    uint32_t index = nlh->nlmsg_seq - replies->batch->first_seq;

    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*reply))) {
        errno = EBADMSG;
        return MNL_CB_ERROR;
    }
    /* Not ours (sequence numbers out of this batch): nothing to account for. */
    if (index >= replies->batch->count)
        return MNL_CB_OK;
    if (reply->error != 0 && replies->failed_errno == 0) {
        replies->failed_errno = -reply->error;
        replies->failed_index = index;
    }
    if (index == 0) {
        /* Refused as a whole (no permission, nf_tables missing) or the commit failed. */
        replies->whole_batch_refused = true;
        return MNL_CB_STOP;
    }
    replies->acked++;
    return MNL_CB_OK;
}

/* Sends the batch and reads one acknowledgement per message. Returns 0 when the kernel
 * committed it; otherwise -1 with *failed_errno set to the kernel's errno (0 when the failure
 * was ours, e.g. the socket) and *err naming the refused message. */
static int nft_batch_send(struct mnl_socket *nl, struct nft_batch *b, int *failed_errno,
                          dj_error_t *err)
{
    mnl_cb_t control_callbacks[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = on_netlink_error};
    struct batch_replies replies = {.batch = b};
    uint32_t portid = mnl_socket_get_portid(nl);
    uint32_t expected = b->count - 2; /* BEGIN and END are not acknowledged */
    cleanup_free char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);

    *failed_errno = 0;
    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "nftables: cannot allocate the reply buffer");
    if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b->batch), mnl_nlmsg_batch_size(b->batch)) < 0)
        return dj_error_make(err, errno, "nftables: cannot send the batch to the kernel");

    while (replies.acked < expected && !replies.whole_batch_refused) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return dj_error_make(err, 0,
                                     "nftables: the kernel acknowledged %u of %u messages and "
                                     "then went silent",
                                     replies.acked, expected);
            return dj_error_make(err, errno, "nftables: cannot read the kernel's reply");
        }
        if (mnl_cb_run2(buf, (size_t)n, 0, portid, NULL, &replies, control_callbacks,
                        MNL_ARRAY_SIZE(control_callbacks)) < 0)
            return dj_error_make(err, errno, "nftables: malformed reply from the kernel");
    }
    if (replies.failed_errno != 0) {
        *failed_errno = replies.failed_errno;
        if (replies.failed_index == 0)
            return dj_error_make(err, replies.failed_errno,
                                 "nftables: the kernel refused the batch as a whole (no "
                                 "CAP_NET_ADMIN here, nf_tables missing, or the commit failed)");
        return dj_error_make(err, replies.failed_errno,
                             "nftables: the kernel refused \"%s\" (message %u of the batch), "
                             "nothing was changed",
                             b->what[replies.failed_index], replies.failed_index);
    }
    return 0;
}

/* ---- the public functions ---------------------------------------------------------------- */

/* ---- the conntrack flush ------------------------------------------------------------------ */

/* Whether nf_conntrack is loaded (built in, it is always). Asked before the table goes in,
 * whose ct expressions load it: if it was not, no conntrack entry can predate the table.
 * Known only when sysfs answers: /sys/module lists every loaded module and every built-in
 * one with parameters, as nf_conntrack has. */
static bool conntrack_surely_absent(void)
{
    return access("/sys/module", F_OK) == 0 && access("/sys/module/nf_conntrack", F_OK) < 0 &&
           errno == ENOENT;
}

/* IPCTNL_MSG_CT_DELETE without a tuple: ctnetlink deletes every entry of FAMILY in the
 * namespace of the socket. */
static int flush_conntrack_family(struct mnl_socket *nl, uint8_t family, dj_error_t *err)
{
    cleanup_free char *buf = calloc(1, MNL_SOCKET_BUFFER_SIZE); /* zeroed: see nft_batch_begin */
    uint32_t seq = (uint32_t)time(NULL) + family;
    uint32_t portid = mnl_socket_get_portid(nl);
    struct nlmsghdr *nlh;
    struct nfgenmsg *nfh;
    int r;

    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "conntrack: cannot allocate the flush");
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = seq;
    nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfh));
    nfh->nfgen_family = family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return dj_error_make(err, errno, "conntrack: cannot send the flush to the kernel");
    do {
        ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);

        if (n < 0)
            return dj_error_make(err, errno == EAGAIN ? ETIMEDOUT : errno,
                                 "conntrack: no answer to the flush");
        r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
    } while (r > MNL_CB_STOP);
    if (r < 0)
        return dj_error_make(err, errno,
                             "conntrack: the kernel refused to flush the %s connection tracking "
                             "table (is nf_conntrack_netlink available?)",
                             family == AF_INET ? "IPv4" : "IPv6");
    return 0;
}

static int flush_conntrack(bool surely_empty, dj_error_t *err)
{
    __attribute__((cleanup(close_mnl_socket))) struct mnl_socket *nl = open_nft_socket(err);

    if (nl == NULL || flush_conntrack_family(nl, AF_INET, err) < 0 ||
        flush_conntrack_family(nl, AF_INET6, err) < 0) {
        if (!surely_empty)
            return dj_error_wrap(err, "cannot drop the flows that predate table inet %s",
                                 DJ_NFT_TABLE);
        dj_error_release(err);
    }
    return 0;
}

int dj_nft_networks_from_rules(const struct dj_allow_rule *rules, size_t n_rules,
                               struct dj_nft_network **networks, size_t *n_networks,
                               dj_error_t *err)
{
    struct dj_nft_network *out;
    size_t n = 0;

    *networks = NULL;
    *n_networks = 0;
    for (size_t i = 0; i < n_rules; i++)
        n += rules[i].kind == DJ_RULE_CIDR;
    if (n == 0)
        return 0;
    if (n > DJ_NFT_MAX_NETWORKS)
        return dj_error_make(err, 0,
                             "io.dnsjail.allow has %zu address rules, more than the %d the jail "
                             "takes; allow wider networks",
                             n, DJ_NFT_MAX_NETWORKS);
    out = calloc(n, sizeof(*out));
    if (out == NULL)
        return dj_error_make(err, ENOMEM, "address rules");
    n = 0;
    for (size_t i = 0; i < n_rules; i++) {
        if (rules[i].kind != DJ_RULE_CIDR)
            continue;
        out[n].family = rules[i].family;
        memcpy(out[n].addr, rules[i].addr, sizeof(out[n].addr));
        out[n].prefix = rules[i].prefix;
        out[n].port = rules[i].port;
        n++;
    }
    *networks = out;
    *n_networks = n;
    return 0;
}

/* No GETTABLE probe first: the first batch only creates (NLM_F_EXCL), which is all a namespace
 * the runtime just made needs, in one round trip. A namespace that already holds the table (a
 * pod's next member, a repair, a table left behind) makes the kernel refuse that batch as a
 * whole with EEXIST, nothing changed; then KEEP leaves the table as it is, otherwise a second
 * batch replaces it ("add, delete, add", atomic). Not "add, delete, add" from the start: a
 * delete in a batch costs an RCU grace period when the socket closes, which a fresh namespace
 * would pay for nothing. *INSTALLED: whether a batch was committed. */
static int install(const struct dj_nft_spec *spec, bool keep, bool *installed, dj_error_t *err)
{
    __attribute__((cleanup(close_mnl_socket))) struct mnl_socket *nl = NULL;
    struct nft_batch batch;
    unsigned int loopback_ifindex;
    bool replace = false;
    bool no_conntrack_before = conntrack_surely_absent();
    int failed_errno = 0;
    int r = -1;

    *installed = false;
    if (spec == NULL || spec->dns_port == 0)
        return dj_error_make(err, EINVAL, "nftables: no DNS port to redirect to");
    if (spec->n_networks > DJ_NFT_MAX_NETWORKS)
        return dj_error_make(err, 0,
                             "%zu address rules are more than the %d the jail takes; allow "
                             "wider networks",
                             spec->n_networks, DJ_NFT_MAX_NETWORKS);
    /* Resolved through a socket of the calling thread, so in the right namespace (it is 1
     * in every namespace today, but the name is what the rule means). */
    loopback_ifindex = if_nametoindex("lo");
    if (loopback_ifindex == 0)
        return dj_error_make(err, errno, "nftables: no loopback interface \"lo\" here");

    nl = open_nft_socket(err);
    if (nl == NULL)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (nft_batch_begin(&batch, err) < 0)
            return -1;
        r = nft_build_install_batch(&batch, spec, loopback_ifindex, replace, err);
        if (r == 0)
            r = nft_batch_end(&batch, err);
        if (r == 0)
            r = nft_batch_send(nl, &batch, &failed_errno, err);
        nft_batch_free(&batch);
        if (r < 0 && !replace && failed_errno == EEXIST) {
            dj_error_release(err);
            if (keep)
                return 0;
            replace = true;
            continue;
        }
        break;
    }
    if (r < 0)
        return dj_error_wrap(err, "cannot install table inet %s", DJ_NFT_TABLE);
    *installed = true;
    /* After the table, not before: whatever is tracked from now on met our rules. */
    return flush_conntrack(no_conntrack_before, err);
}

int dj_nft_install(const struct dj_nft_spec *spec, dj_error_t *err)
{
    bool installed;

    return install(spec, false, &installed, err);
}

int dj_nft_ensure(const struct dj_nft_spec *spec, bool *installed, dj_error_t *err)
{
    return install(spec, true, installed, err);
}

/* "add, delete": removes table netdev dnsjail whether or not it exists, in any batch. */
static int put_raw_table_removal(struct nft_batch *b, dj_error_t *err)
{
    if (nft_batch_put_family_table(b, NFPROTO_NETDEV, NFT_MSG_NEWTABLE, NLM_F_CREATE,
                                   "add table netdev " DJ_NFT_TABLE, err) < 0)
        return -1;
    return nft_batch_put_family_table(b, NFPROTO_NETDEV, NFT_MSG_DELTABLE, 0,
                                      "delete table netdev " DJ_NFT_TABLE, err);
}

/* One batch of what BUILD puts between its begin and its end, sent on NL. */
static int send_batch(struct mnl_socket *nl, int (*build)(struct nft_batch *, dj_error_t *),
                      dj_error_t *err)
{
    struct nft_batch batch;
    int failed_errno = 0;
    int r;

    if (nft_batch_begin(&batch, err) < 0)
        return -1;
    r = build(&batch, err);
    if (r == 0)
        r = nft_batch_end(&batch, err);
    if (r == 0)
        r = nft_batch_send(nl, &batch, &failed_errno, err);
    nft_batch_free(&batch);
    return r;
}

static int remove_raw_table(struct mnl_socket *nl, dj_error_t *err)
{
    if (send_batch(nl, put_raw_table_removal, err) < 0)
        return dj_error_wrap(err, "cannot remove table netdev %s", DJ_NFT_TABLE);
    return 0;
}

int dj_nft_keeper_install(dj_error_t *err)
{
    __attribute__((cleanup(close_mnl_socket))) struct mnl_socket *nl = open_nft_socket(err);

    if (nl == NULL)
        return -1;
    if (send_batch(nl, nft_build_keeper_batch, err) < 0)
        return dj_error_wrap(err, "cannot install the keeper's table");
    return 0;
}

int dj_nft_raw_prepare(struct dj_nft_raw *raw, dj_error_t *err)
{
    struct if_nameindex *ifs;

    memset(raw, 0, sizeof(*raw));
    if (getrandom(&raw->mark, sizeof(raw->mark), 0) != sizeof(raw->mark) ||
        getrandom(&raw->priority, sizeof(raw->priority), 0) != sizeof(raw->priority))
        return dj_error_make(err, errno, "raw-frame policing: no random secret");
    /* Through a socket of the calling thread, so the namespace it is in. */
    ifs = if_nameindex();
    if (ifs == NULL)
        return dj_error_make(err, errno, "raw-frame policing: cannot list the interfaces");
    for (struct if_nameindex *i = ifs; i->if_index != 0; i++) {
        if (strcmp(i->if_name, "lo") == 0)
            continue;
        if (raw->n_devices == DJ_NFT_RAW_MAX_DEVICES || strlen(i->if_name) >= IFNAMSIZ) {
            if_freenameindex(ifs);
            return dj_error_make(err, 0,
                                 "raw-frame policing takes at most %d interfaces with names "
                                 "under %d bytes; this namespace has more",
                                 DJ_NFT_RAW_MAX_DEVICES, IFNAMSIZ);
        }
        memcpy(raw->devices[raw->n_devices++], i->if_name, strlen(i->if_name) + 1);
    }
    if_freenameindex(ifs);
    return 0;
}

bool dj_nft_af_xdp_available(void)
{
    int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);

    if (fd >= 0) {
        close(fd);
        return true;
    }
    return errno != EAFNOSUPPORT;
}

int dj_nft_remove(dj_error_t *err)
{
    return dj_nft_remove_keep(NULL, err);
}

int dj_nft_remove_keep(int *held, dj_error_t *err)
{
    __attribute__((cleanup(close_mnl_socket))) struct mnl_socket *nl = NULL;
    struct nft_batch batch;
    int failed_errno = 0;
    int r;

    if (held != NULL)
        *held = -1;
    nl = open_nft_socket(err);
    if (nl == NULL)
        return -1;
    if (nft_batch_begin(&batch, err) < 0)
        return -1;
    r = put_raw_table_removal(&batch, err);
    if (r == 0)
        r = nft_batch_put_table(&batch, NFT_MSG_DELTABLE, 0, "delete table inet " DJ_NFT_TABLE,
                                err);
    if (r == 0)
        r = nft_batch_end(&batch, err);
    if (r == 0)
        r = nft_batch_send(nl, &batch, &failed_errno, err);
    nft_batch_free(&batch);
    if (r < 0 && failed_errno == ENOENT) {
        /* Already gone: that is the state the caller asked for (the netdev table, which never
         * stays without it, once more on its own). */
        dj_error_release(err);
        return remove_raw_table(nl, err);
    }
    if (r < 0)
        return dj_error_wrap(err, "cannot remove table inet %s", DJ_NFT_TABLE);
    /* The delete is committed (acknowledged) by now; a second reference keeps the close below
     * from being the last one, which is the one that waits for the destruction work. */
    if (held != NULL)
        *held = fcntl(mnl_socket_get_fd(nl), F_DUPFD_CLOEXEC, 3);
    return 0;
}

/* How long the closer waits for the hook's own exit to be collected before it exits anyway. */
#define CLOSER_REAP_WAIT_MS 30000

/* The closer's whole life, after the fork: fd 0 is the hook's sync pipe, fd 1 the netlink
 * socket, fd 2 a pidfd of the hook (or nothing). Only async-signal-safe calls: the hook may
 * have threads. */
static long ms_left(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* The closer's whole life, after the fork: fd 0 is the hook's sync pipe, fd 1 the netlink
 * socket, fd 2 a pidfd of the hook (or nothing). Only async-signal-safe calls: the hook may
 * have threads. */
static void __attribute__((noreturn)) run_closer(bool wait_for_reap)
{
    const struct timespec tick = {0, 1000000};
    struct pollfd hook_exit = {2, POLLIN, 0};
    struct timespec deadline;
    char byte;
    long left;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += CLOSER_REAP_WAIT_MS / 1000;
    /* Wait until the hook has dropped its reference, so that ours is the last. */
    while (read(0, &byte, 1) < 0 && errno == EINTR)
        ;
    close(0);
    close(1);
    if (!wait_for_reap || fcntl(2, F_GETFD) < 0)
        _exit(0);
    /* A subreaper runtime (crun or runc run in the foreground) has adopted this process. crun
     * waits for a hook with sigtimedwait and takes only a SIGCHLD from the hook's pid: a
     * SIGCHLD of ours still pending when the hook's comes swallows it (a pending signal is
     * not queued twice), and crun waits out its 10 s hook timeout. So this process exits only
     * once the hook has been reaped: its pidfd says when it exited, and signal 0 fails once
     * it is gone. */
    while ((left = ms_left(&deadline)) > 0 && hook_exit.revents == 0)
        if (poll(&hook_exit, 1, (int)left) < 0 && errno != EINTR)
            _exit(0);
    while (ms_left(&deadline) > 0 && syscall(SYS_pidfd_send_signal, 2, 0, NULL, 0) == 0)
        nanosleep(&tick, NULL);
    _exit(0);
}

void dj_nft_close_in_background(int fd)
{
    int sync[2];
    int hook_pidfd;
    pid_t middle;
    int wstatus;

    if (fd < 0)
        return;
    if (pipe2(sync, O_CLOEXEC) < 0) {
        close(fd);
        return;
    }
    hook_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    /* The closer is a grandchild: the middle exits at once and is reaped here, so the only
     * child of ours the runtime ever sees exit is the hook itself (see run_closer). Nothing
     * of the caller's is kept, above all not its standard streams, whose EOF a runtime
     * waits for. */
    middle = fork();
    if (middle == 0) {
        pid_t closer = fork();

        if (closer > 0)
            _exit(0);
        if (dup2(sync[0], 0) < 0 || dup2(fd, 1) < 0)
            _exit(1);
        if (hook_pidfd < 0 || dup2(hook_pidfd, 2) < 0)
            close(2);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        /* Without a grandchild the middle closes, and the caller waits for it. */
        run_closer(closer == 0);
    }
    close(sync[0]);
    /* Without a child the close waits here: slower, but the socket is closed either way. */
    close(fd);
    close(sync[1]);
    if (hook_pidfd >= 0)
        close(hook_pidfd);
    if (middle > 0)
        while (waitpid(middle, &wstatus, 0) < 0 && errno == EINTR)
            ;
}

static int on_table_reply(const struct nlmsghdr *nlh, void *data)
{
    bool *found = data;
    struct nftnl_table *t = nftnl_table_alloc();

    if (t == NULL) {
        errno = ENOMEM;
        return MNL_CB_ERROR;
    }
    if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
        nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
        nftnl_table_is_set(t, NFTNL_TABLE_NAME) &&
        strcmp(nftnl_table_get_str(t, NFTNL_TABLE_NAME), DJ_NFT_TABLE) == 0)
        *found = true;
    nftnl_table_free(t);
    return MNL_CB_OK;
}

int dj_nft_table_exists(bool *exists, dj_error_t *err)
{
    __attribute__((cleanup(close_mnl_socket))) struct mnl_socket *nl = NULL;
    cleanup_free char *buf = NULL;
    struct nftnl_table *t;
    struct nlmsghdr *nlh;
    uint32_t seq = (uint32_t)time(NULL);
    uint32_t portid;
    bool found = false;
    int r;

    *exists = false;
    nl = open_nft_socket(err);
    if (nl == NULL)
        return -1;
    portid = mnl_socket_get_portid(nl);
    buf = calloc(1, MNL_SOCKET_BUFFER_SIZE); /* zeroed: see nft_batch_begin */
    t = dnsjail_table_new(NFPROTO_INET);
    if (buf == NULL || t == NULL) {
        if (t != NULL)
            nftnl_table_free(t);
        return dj_error_make(err, ENOMEM, "nftables: cannot look up table inet %s", DJ_NFT_TABLE);
    }
    nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return dj_error_make(err, errno, "nftables: cannot ask the kernel for table inet %s",
                             DJ_NFT_TABLE);

    /* The table (if any), then the acknowledgement, which ends the loop (MNL_CB_STOP). */
    do {
        ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);

        if (n < 0)
            return dj_error_make(err, errno == EAGAIN ? ETIMEDOUT : errno,
                                 "nftables: no answer about table inet %s", DJ_NFT_TABLE);
        r = mnl_cb_run(buf, (size_t)n, seq, portid, on_table_reply, &found);
    } while (r > MNL_CB_STOP);
    if (r < 0) {
        if (errno == ENOENT)
            return 0;
        return dj_error_make(err, errno, "nftables: cannot look up table inet %s", DJ_NFT_TABLE);
    }
    *exists = found;
    return 0;
}

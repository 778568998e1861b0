/* nft-rules.c: the ruleset of the `inet dnsjail` table (and the `netdev dnsjail` table that
 * polices raw frames) as libnftnl rules put into a batch: the expressions, one function per
 * kind of rule, and nft_build_install_batch() that puts them in order. Sending the batch is
 * nft.c's; the shape is described in nft.h and docs/DESIGN.md. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
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

#define NAT_CHAIN "nat_out"
#define FILTER_CHAIN "filter_out"
#define RAW_MARK_CHAIN "raw_mark" /* inet: writes the secret */
#define RAW_EGRESS_CHAIN "egress" /* netdev: checks it */
#define INBOUND_CHAIN "mark_in"
#define ADMIT_CHAIN "admit"

/* Our redirects must bind a flow's destination before anyone else's: the nat core runs the
 * nat chains of a hook in priority order and stops at the first that sets a destination, and
 * the usual destination NAT (iptables' nat OUTPUT, Docker's 127.0.0.11) sits at -100. */
#define NAT_PRIORITY (-150)

/* ---- rule expressions -------------------------------------------------------------------
 * Each put_* appends expressions to RULE and returns false only when memory ran out; the
 * rule owns what was appended, so the caller frees nothing but the rule. */

static struct nftnl_expr *append_expr(struct nftnl_rule *rule, const char *name)
{
    struct nftnl_expr *e = nftnl_expr_alloc(name);

    if (e != NULL)
        nftnl_rule_add_expr(rule, e);
    return e;
}

static bool put_meta_load(struct nftnl_rule *rule, uint32_t key)
{
    struct nftnl_expr *e = append_expr(rule, "meta");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    return true;
}

static bool put_cmp(struct nftnl_rule *rule, enum nft_cmp_ops op, const void *data, uint32_t len)
{
    struct nftnl_expr *e = append_expr(rule, "cmp");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    return nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) == 0;
}

/* meta l4proto PROTO */
static bool put_l4proto_is(struct nftnl_rule *rule, uint8_t proto)
{
    return put_meta_load(rule, NFT_META_L4PROTO) && put_cmp(rule, NFT_CMP_EQ, &proto, 1);
}

/* th dport PORT: the destination port sits at offset 2 in both the UDP and the TCP header. */
static bool put_dport_is(struct nftnl_rule *rule, uint16_t port)
{
    struct nftnl_expr *e = append_expr(rule, "payload");
    uint16_t port_be = htons(port);

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, sizeof(port_be));
    return put_cmp(rule, NFT_CMP_EQ, &port_be, sizeof(port_be));
}

/* LEN bytes at OFFSET from header BASE, compared with OP */
static bool put_header_cmp(struct nftnl_rule *rule, uint32_t base, uint32_t offset,
                           enum nft_cmp_ops op, const void *data, uint32_t len)
{
    struct nftnl_expr *e = append_expr(rule, "payload");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    return put_cmp(rule, op, data, len);
}

/* register 1 = (register 1 & MASK) ^ XOR, LEN bytes */
static bool put_bitwise(struct nftnl_rule *rule, const void *mask, const void * xor, uint32_t len)
{
    struct nftnl_expr *bitwise = append_expr(rule, "bitwise");

    if (bitwise == NULL)
        return false;
    nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(bitwise, NFTNL_EXPR_BITWISE_LEN, len);
    return nftnl_expr_set(bitwise, NFTNL_EXPR_BITWISE_MASK, mask, len) == 0 &&
           nftnl_expr_set(bitwise, NFTNL_EXPR_BITWISE_XOR, xor, len) == 0;
}

/* register 1 = (ct KEY & MASK) ^ XOR, KEY being one of the 32-bit ct keys */
static bool put_ct_load_masked(struct nftnl_rule *rule, uint32_t key, uint32_t mask, uint32_t xor)
{
    struct nftnl_expr *ct = append_expr(rule, "ct");

    if (ct == NULL)
        return false;
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    return put_bitwise(rule, &mask, &xor, sizeof(mask));
}

/* ct KEY & BITS != 0 (KEY is the 32-bit ct state, status or mark) */
static bool put_ct_has_any(struct nftnl_rule *rule, uint32_t key, uint32_t bits)
{
    uint32_t zero = 0;

    return put_ct_load_masked(rule, key, bits, 0) &&
           put_cmp(rule, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static bool put_daddr_cmp(struct nftnl_rule *rule, const struct dj_nft_network *net,
                          enum nft_cmp_ops op);

/* meta nfproto ipv4|ipv6; ip[6] daddr & mask == network */
static bool put_daddr_in(struct nftnl_rule *rule, const struct dj_nft_network *net)
{
    return put_daddr_cmp(rule, net, NFT_CMP_EQ);
}

/* meta nfproto ipv4|ipv6; ip[6] daddr & mask OP network */
static bool put_daddr_cmp(struct nftnl_rule *rule, const struct dj_nft_network *net,
                          enum nft_cmp_ops op)
{
    uint8_t nfproto = net->family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
    uint32_t len = net->family == AF_INET6 ? 16 : 4;
    uint32_t offset = net->family == AF_INET6 ? 24 : 16; /* daddr in the IPv6 / IPv4 header */
    uint8_t mask[16] = {0}, zero[16] = {0};
    struct nftnl_expr *payload;

    for (uint32_t bit = 0; bit < net->prefix && bit < len * 8; bit++)
        mask[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
    if (!put_meta_load(rule, NFT_META_NFPROTO) || !put_cmp(rule, NFT_CMP_EQ, &nfproto, 1))
        return false;
    payload = append_expr(rule, "payload");
    if (payload == NULL)
        return false;
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_LEN, len);
    if (net->prefix < len * 8 && !put_bitwise(rule, mask, zero, len))
        return false;
    return put_cmp(rule, op, net->addr, len);
}

static bool put_accept(struct nftnl_rule *rule)
{
    struct nftnl_expr *e = append_expr(rule, "immediate");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
    return true;
}

/* redirect to :PORT (the local address of the output interface, i.e. loopback here) */
static bool put_redirect(struct nftnl_rule *rule, uint16_t port)
{
    struct nftnl_expr *imm = append_expr(rule, "immediate");
    struct nftnl_expr *redir;
    uint16_t port_be = htons(port);

    if (imm == NULL)
        return false;
    nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
    if (nftnl_expr_set(imm, NFTNL_EXPR_IMM_DATA, &port_be, sizeof(port_be)) < 0)
        return false;
    redir = append_expr(rule, "redir");
    if (redir == NULL)
        return false;
    nftnl_expr_set_u32(redir, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
    nftnl_expr_set_u32(redir, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
    return true;
}

static bool put_reject(struct nftnl_rule *rule, uint32_t type, uint8_t code)
{
    struct nftnl_expr *e = append_expr(rule, "reject");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
    nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
    return true;
}

/* ct mark set ct mark | BITS: the other bits of the mark are someone else's and survive. */
static bool put_ct_mark_set_bits(struct nftnl_rule *rule, uint32_t bits)
{
    struct nftnl_expr *store;

    /* (mark & ~BITS) ^ BITS == mark | BITS */
    if (!put_ct_load_masked(rule, NFT_CT_MARK, ~bits, bits))
        return false;
    store = append_expr(rule, "ct");
    if (store == NULL)
        return false;
    nftnl_expr_set_u32(store, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
    nftnl_expr_set_u32(store, NFTNL_EXPR_CT_SREG, NFT_REG_1);
    return true;
}

/* An accept in filter_out admits the flow: `goto admit`, whose chain marks it (the mark is
 * what lets its later packets and its replies through, docs/DESIGN.md "The ruleset") and
 * accepts. */
static bool put_admit(struct nftnl_rule *rule)
{
    struct nftnl_expr *e = append_expr(rule, "immediate");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_GOTO);
    return nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, ADMIT_CHAIN) == 0;
}

static bool put_accept_in(struct nftnl_rule *rule, const char *chain)
{
    return strcmp(chain, FILTER_CHAIN) == 0 ? put_admit(rule) : put_accept(rule);
}

/* ct direction original|reply */
static bool put_ct_direction_is(struct nftnl_rule *rule, uint8_t dir)
{
    struct nftnl_expr *ct = append_expr(rule, "ct");

    if (ct == NULL)
        return false;
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, NFT_CT_DIRECTION);
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    return put_cmp(rule, NFT_CMP_EQ, &dir, sizeof(dir));
}

/* meta l4proto tcp tcp flags & MASK == VALUE (the flags byte sits at offset 13) */
static bool put_tcp_flags_are(struct nftnl_rule *rule, uint8_t mask, uint8_t value)
{
    struct nftnl_expr *payload;
    uint8_t zero = 0;

    if (!put_l4proto_is(rule, IPPROTO_TCP))
        return false;
    payload = append_expr(rule, "payload");
    if (payload == NULL)
        return false;
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_OFFSET, 13);
    nftnl_expr_set_u32(payload, NFTNL_EXPR_PAYLOAD_LEN, 1);
    return put_bitwise(rule, &mask, &zero, 1) && put_cmp(rule, NFT_CMP_EQ, &value, 1);
}

static struct nftnl_rule *family_rule_new(uint32_t family, const char *chain)
{
    struct nftnl_rule *rule = nftnl_rule_alloc();

    if (rule == NULL)
        return NULL;
    nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, family);
    if (nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, DJ_NFT_TABLE) < 0 ||
        nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain) < 0) {
        nftnl_rule_free(rule);
        return NULL;
    }
    return rule;
}

static struct nftnl_rule *dnsjail_rule_new(const char *chain)
{
    return family_rule_new(NFPROTO_INET, chain);
}

/* Appends RULE (built == false: its expressions could not all be allocated) and frees it. */
static int nft_batch_put_rule(struct nft_batch *b, struct nftnl_rule *rule, bool built,
                              const char *what, dj_error_t *err)
{
    struct nlmsghdr *nlh;

    if (rule == NULL || !built) {
        if (rule != NULL)
            nftnl_rule_free(rule);
        return dj_error_make(err, ENOMEM, "nftables: %s", what);
    }
    nlh = nftnl_rule_nlmsg_build_hdr(nft_batch_slot(b), NFT_MSG_NEWRULE,
                                     (uint16_t)nftnl_rule_get_u32(rule, NFTNL_RULE_FAMILY),
                                     NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, nft_batch_seq(b));
    nftnl_rule_nlmsg_build_payload(nlh, rule);
    nftnl_rule_free(rule);
    return nft_batch_next_message(b, what, err);
}

static int put_redirect_rule(struct nft_batch *b, uint8_t l4proto, uint16_t dport, uint16_t to_port,
                             const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(NAT_CHAIN);
    bool built = rule != NULL && put_l4proto_is(rule, l4proto) && put_dport_is(rule, dport) &&
                 put_redirect(rule, to_port);

    return nft_batch_put_rule(b, rule, built, what, err);
}

static int put_oif_accept_rule(struct nft_batch *b, const char *chain, uint32_t ifindex,
                               const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(chain);
    bool built = rule != NULL && put_meta_load(rule, NFT_META_OIF) &&
                 put_cmp(rule, NFT_CMP_EQ, &ifindex, sizeof(ifindex)) && put_accept_in(rule, chain);

    return nft_batch_put_rule(b, rule, built, what, err);
}

/* CHAIN: ip[6] daddr NET tcp dport PORT accept */
static int put_network_accept_rule(struct nft_batch *b, const char *chain,
                                   const struct dj_nft_network *net, uint16_t port,
                                   const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(chain);
    bool built = rule != NULL && put_daddr_in(rule, net) && put_l4proto_is(rule, IPPROTO_TCP) &&
                 put_dport_is(rule, port) && put_accept_in(rule, chain);

    return nft_batch_put_rule(b, rule, built, what, err);
}

/* The ports an address rule opens: its own, or 80 and 443. */
static size_t network_ports(const struct dj_nft_network *net, uint16_t ports[2])
{
    if (net->port != 0) {
        ports[0] = net->port;
        return 1;
    }
    ports[0] = 80;
    ports[1] = 443;
    return 2;
}

/* NAT_CHAIN: ip[6] daddr POOL meta l4proto tcp redirect to :PORT */
static int put_virtual_rules(struct nft_batch *b, const struct dj_nft_spec *spec, dj_error_t *err)
{
    if (spec->virtual_port == 0)
        return 0;
    if (spec->n_virtual_pools > DJ_NFT_MAX_VIRTUAL_POOLS)
        return dj_error_make(err, EINVAL, "nftables: more than %d virtual pools",
                             DJ_NFT_MAX_VIRTUAL_POOLS);
    for (size_t i = 0; i < spec->n_virtual_pools; i++) {
        struct nftnl_rule *rule = dnsjail_rule_new(NAT_CHAIN);
        bool built = rule != NULL && put_daddr_in(rule, &spec->virtual_pools[i]) &&
                     put_l4proto_is(rule, IPPROTO_TCP) && put_redirect(rule, spec->virtual_port);

        if (nft_batch_put_rule(b, rule, built,
                               NAT_CHAIN ": tcp to a virtual pool redirect to the virtual port",
                               err) < 0)
            return -1;
    }
    return 0;
}

static int put_network_rules(struct nft_batch *b, const struct dj_nft_spec *spec, const char *chain,
                             bool redirected_ports_only, dj_error_t *err)
{
    for (size_t i = 0; i < spec->n_networks; i++) {
        uint16_t ports[2];
        size_t n = network_ports(&spec->networks[i], ports);

        for (size_t p = 0; p < n; p++) {
            /* In nat_out only 80 and 443 need exempting from the redirect. */
            if (redirected_ports_only && ports[p] != 80 && ports[p] != 443)
                continue;
            if (put_network_accept_rule(b, chain, &spec->networks[i], ports[p],
                                        redirected_ports_only
                                            ? NAT_CHAIN ": address rule accept (no redirect)"
                                            : FILTER_CHAIN ": address rule accept",
                                        err) < 0)
                return -1;
        }
    }
    return 0;
}

/* FILTER_CHAIN: IPv6 neighbour discovery (router and neighbour solicitations and
 * advertisements, hop limit 255) to link-scope destinations only. Conntrack does not track it,
 * so without this IPv6 never resolves the next hop of an address rule; link scope keeps a
 * hand-made one (CAP_NET_RAW) from being routed on with data in it. */
static int put_nd_accept_rules(struct nft_batch *b, dj_error_t *err)
{
    static const struct dj_nft_network link_scope[] = {
        {.family = AF_INET6, .addr = {0xfe, 0x80}, .prefix = 10},
        {.family = AF_INET6, .addr = {0xff, 0x02}, .prefix = 16},
    };
    static const uint8_t first_type = 133, last_type = 136, hop_limit = 255;

    for (size_t i = 0; i < sizeof(link_scope) / sizeof(link_scope[0]); i++) {
        struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
        bool built =
            rule != NULL && put_daddr_in(rule, &link_scope[i]) &&
            put_l4proto_is(rule, IPPROTO_ICMPV6) &&
            put_header_cmp(rule, NFT_PAYLOAD_NETWORK_HEADER, 7, NFT_CMP_EQ, &hop_limit, 1) &&
            put_header_cmp(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, NFT_CMP_GTE, &first_type, 1) &&
            put_header_cmp(rule, NFT_PAYLOAD_TRANSPORT_HEADER, 0, NFT_CMP_LTE, &last_type, 1) &&
            put_accept(rule);

        if (nft_batch_put_rule(b, rule, built,
                               FILTER_CHAIN ": IPv6 neighbour discovery on the link accept",
                               err) < 0)
            return -1;
    }
    return 0;
}

static int put_tcp_reset_rule(struct nft_batch *b, const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
    bool built = rule != NULL && put_l4proto_is(rule, IPPROTO_TCP) &&
                 put_reject(rule, NFT_REJECT_TCP_RST, 0);

    return nft_batch_put_rule(b, rule, built, what, err);
}

/* Audit mode's end of the filter chain: let everything else out, counted. */
static int put_counted_accept_rule(struct nft_batch *b, const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
    bool built = rule != NULL && append_expr(rule, "counter") != NULL && put_admit(rule);

    return nft_batch_put_rule(b, rule, built, what, err);
}

/* Audit mode's end of the nat chain: every other TCP connection leaving the container goes to
 * the proxy's virtual listener, which relays it to its original destination and logs it.
 * Loopback stays local (a service inside the container is no egress). */
static int put_audit_tcp_rules(struct nft_batch *b, const struct dj_nft_spec *spec,
                               uint32_t loopback_ifindex, dj_error_t *err)
{
    struct nftnl_rule *rule;
    bool built;

    if (!spec->audit)
        return 0;
    if (spec->virtual_port == 0)
        return dj_error_make(err, EINVAL, "nftables: audit mode needs the virtual port");
    if (put_oif_accept_rule(b, NAT_CHAIN, loopback_ifindex, NAT_CHAIN ": oif lo accept", err) < 0)
        return -1;
    rule = dnsjail_rule_new(NAT_CHAIN);
    built =
        rule != NULL && put_l4proto_is(rule, IPPROTO_TCP) && put_redirect(rule, spec->virtual_port);
    return nft_batch_put_rule(
        b, rule, built, NAT_CHAIN ": audit: meta l4proto tcp redirect to the virtual port", err);
}

static int put_reject_rule(struct nft_batch *b, const char *what, dj_error_t *err)
{
    struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
    bool built = rule != NULL &&
                 put_reject(rule, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);

    return nft_batch_put_rule(b, rule, built, what, err);
}

/* fib daddr type local: the destination is an address of this namespace. */
static bool put_daddr_is_local(struct nftnl_rule *rule)
{
    struct nftnl_expr *e = append_expr(rule, "fib");
    uint32_t local = RTN_LOCAL;

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
    return put_cmp(rule, NFT_CMP_EQ, &local, sizeof(local));
}

/* FILTER_CHAIN, first: [meta nfproto F] ip[6] daddr ADDR | fib daddr type local, meta l4proto P
 * th dport PORT, reject (a TCP reset, or ICMP administratively prohibited). First, because
 * nothing accepted later (established flows, DNAT, loopback) may reach a server that something
 * outside the container serves from inside its namespace. */
static int put_blocked_rules(struct nft_batch *b, const struct dj_nft_spec *spec, dj_error_t *err)
{
    if (spec->n_blocked > DJ_NFT_MAX_BLOCKED)
        return dj_error_make(err, EINVAL, "nftables: more than %d blocked servers",
                             DJ_NFT_MAX_BLOCKED);
    for (size_t i = 0; i < spec->n_blocked; i++) {
        const struct dj_nft_endpoint *e = &spec->blocked[i];
        struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
        bool built = rule != NULL;

        if (built && e->any_local) {
            uint8_t nfproto = e->family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

            if (e->family != AF_UNSPEC)
                built =
                    put_meta_load(rule, NFT_META_NFPROTO) && put_cmp(rule, NFT_CMP_EQ, &nfproto, 1);
            built = built && put_daddr_is_local(rule);
        } else if (built) {
            struct dj_nft_network host = {.family = e->family,
                                          .prefix = e->family == AF_INET6 ? 128 : 32};

            memcpy(host.addr, e->addr, sizeof(host.addr));
            built = put_daddr_in(rule, &host);
        }
        built = built && put_l4proto_is(rule, e->l4proto) && put_dport_is(rule, e->port) &&
                (e->l4proto == IPPROTO_TCP ? put_reject(rule, NFT_REJECT_TCP_RST, 0)
                                           : put_reject(rule, NFT_REJECT_ICMPX_UNREACH,
                                                        NFT_REJECT_ICMPX_ADMIN_PROHIBITED));
        if (nft_batch_put_rule(b, rule, built, FILTER_CHAIN ": reject a foreign server", err) < 0)
            return -1;
    }
    return 0;
}

/* ---- admitted flows ----------------------------------------------------------------------
 * filter_out passes a packet of an established flow only when the flow carries one of our
 * conntrack marks: EGRESS, set by the rule that admitted its first packet, or INBOUND, set in
 * mark_in when someone outside opened it. Flows that predate the table carry neither (the
 * conntrack flush after the install sees to that), so they meet the rejects. */

/* ADMIT_CHAIN (regular): ct state new ct mark set ct mark | EGRESS; accept. Only a flow's
 * first packets mark it: the RST and the ICMP error our own rejects send back to a local
 * socket leave through loopback as reply or related packets of the refused flow, and
 * must not admit it on their way. */
static int put_admit_chain(struct nft_batch *b, dj_error_t *err)
{
    struct nftnl_chain *c = nftnl_chain_alloc();
    struct nftnl_rule *rule;
    struct nlmsghdr *nlh;
    bool built;

    if (c == NULL || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, DJ_NFT_TABLE) < 0 ||
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, ADMIT_CHAIN) < 0) {
        if (c != NULL)
            nftnl_chain_free(c);
        return dj_error_make(err, ENOMEM, "nftables: add chain " ADMIT_CHAIN);
    }
    nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    nlh = nftnl_chain_nlmsg_build_hdr(nft_batch_slot(b), NFT_MSG_NEWCHAIN, NFPROTO_INET,
                                      NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, nft_batch_seq(b));
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    if (nft_batch_next_message(b, "add chain " ADMIT_CHAIN, err) < 0)
        return -1;
    rule = dnsjail_rule_new(ADMIT_CHAIN);
    built = rule != NULL && put_ct_has_any(rule, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW)) &&
            put_ct_mark_set_bits(rule, DJ_NFT_CT_MARK_EGRESS);
    if (nft_batch_put_rule(b, rule, built, ADMIT_CHAIN ": ct state new ct mark set egress", err) <
        0)
        return -1;
    rule = dnsjail_rule_new(ADMIT_CHAIN);
    built = rule != NULL && put_accept(rule);
    return nft_batch_put_rule(b, rule, built, ADMIT_CHAIN ": accept", err);
}

/* FILTER_CHAIN: ct state established,related ct mark & EGRESS != 0 accept */
static int put_admitted_rule(struct nft_batch *b, dj_error_t *err)
{
    const uint32_t established_or_related =
        NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
    struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
    bool built = rule != NULL && put_ct_has_any(rule, NFT_CT_STATE, established_or_related) &&
                 put_ct_has_any(rule, NFT_CT_MARK, DJ_NFT_CT_MARK_EGRESS) && put_accept(rule);

    return nft_batch_put_rule(
        b, rule, built, FILTER_CHAIN ": ct state established,related ct mark admitted accept", err);
}

enum inbound_reply { REPLY_ASSURED_TCP, REPLY_SYNACK, REPLY_RST, REPLY_UDP };

/* FILTER_CHAIN: ct direction reply ct mark & INBOUND != 0 ... accept. A TCP reply passes only
 * from a socket that answered the SYN with a SYN-ACK (a listener) and after the handshake
 * completed (conntrack's "assured"): a socket that predates the jail, reached by a SYN from
 * outside on its own addresses, answers with an ACK that conntrack ignores, never assures. */
static int put_inbound_reply_rule(struct nft_batch *b, enum inbound_reply kind, dj_error_t *err)
{
    static const char *const what[] = {
        [REPLY_ASSURED_TCP] = FILTER_CHAIN ": inbound tcp ct status assured accept",
        [REPLY_SYNACK] = FILTER_CHAIN ": inbound tcp syn-ack accept",
        [REPLY_RST] = FILTER_CHAIN ": inbound tcp rst accept",
        [REPLY_UDP] = FILTER_CHAIN ": inbound udp accept (allow-inbound-udp)",
    };
    const uint8_t fin_syn_rst_ack = 0x01 | 0x02 | 0x04 | 0x10;
    struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
    bool built = rule != NULL && put_ct_direction_is(rule, IP_CT_DIR_REPLY) &&
                 put_ct_has_any(rule, NFT_CT_MARK, DJ_NFT_CT_MARK_INBOUND);

    switch (kind) {
    case REPLY_ASSURED_TCP:
        built = built && put_l4proto_is(rule, IPPROTO_TCP) &&
                put_ct_has_any(rule, NFT_CT_STATUS, IPS_ASSURED);
        break;
    case REPLY_SYNACK:
        built = built && put_tcp_flags_are(rule, fin_syn_rst_ack, 0x02 | 0x10);
        break;
    case REPLY_RST:
        built = built && put_tcp_flags_are(rule, 0x04, 0x04);
        break;
    case REPLY_UDP:
        built = built && put_l4proto_is(rule, IPPROTO_UDP);
        break;
    }
    built = built && put_accept(rule);
    return nft_batch_put_rule(b, rule, built, what[kind], err);
}

static int put_inbound_reply_rules(struct nft_batch *b, const struct dj_nft_spec *spec,
                                   dj_error_t *err)
{
    if (put_inbound_reply_rule(b, REPLY_ASSURED_TCP, err) < 0 ||
        put_inbound_reply_rule(b, REPLY_SYNACK, err) < 0 ||
        put_inbound_reply_rule(b, REPLY_RST, err) < 0)
        return -1;
    return spec->inbound_udp ? put_inbound_reply_rule(b, REPLY_UDP, err) : 0;
}

/* INBOUND_CHAIN (filter, input, policy accept): it only marks. A flow opened from outside
 * gets INBOUND on its first packet: a bare SYN (a packet picked up mid-stream never does), or
 * any UDP datagram when the admin allows UDP replies. */
static int put_inbound_chain(struct nft_batch *b, const struct dj_nft_spec *spec, dj_error_t *err)
{
    const uint8_t fin_syn_rst_ack = 0x01 | 0x02 | 0x04 | 0x10;
    struct nftnl_rule *rule;
    bool built;

    if (nft_batch_put_base_chain_at(b, INBOUND_CHAIN, "filter", NF_INET_LOCAL_IN, 0, NF_ACCEPT,
                                    "add chain " INBOUND_CHAIN " (filter, input, 0)", err) < 0)
        return -1;
    rule = dnsjail_rule_new(INBOUND_CHAIN);
    built = rule != NULL && put_ct_has_any(rule, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW)) &&
            put_tcp_flags_are(rule, fin_syn_rst_ack, 0x02) &&
            put_ct_mark_set_bits(rule, DJ_NFT_CT_MARK_INBOUND);
    if (nft_batch_put_rule(b, rule, built,
                           INBOUND_CHAIN ": ct state new tcp flags syn ct mark set inbound",
                           err) < 0)
        return -1;
    if (!spec->inbound_udp)
        return 0;
    rule = dnsjail_rule_new(INBOUND_CHAIN);
    built = rule != NULL && put_ct_has_any(rule, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW)) &&
            put_l4proto_is(rule, IPPROTO_UDP) && put_ct_mark_set_bits(rule, DJ_NFT_CT_MARK_INBOUND);
    return nft_batch_put_rule(b, rule, built,
                              INBOUND_CHAIN ": ct state new udp ct mark set inbound", err);
}

/* FILTER_CHAIN: ip daddr 127.0.0.1 PROTO dport PORT admit, and the same for ::1. This is how
 * our redirected flows pass: the nat chain has rewritten the destination by now (though not
 * the output interface), and a destination NAT of anyone else's does not lead here. */
static int put_listener_rules(struct nft_batch *b, const struct dj_nft_spec *spec, dj_error_t *err)
{
    struct dj_nft_network loopback[2] = {{.family = AF_INET, .prefix = 32},
                                         {.family = AF_INET6, .prefix = 128}};
    const struct {
        uint8_t l4proto;
        uint16_t port;
    } listeners[] = {
        {IPPROTO_UDP, spec->dns_port},     {IPPROTO_TCP, spec->dns_port},
        {IPPROTO_TCP, spec->http_port},    {IPPROTO_TCP, spec->tls_port},
        {IPPROTO_TCP, spec->virtual_port},
    };

    loopback[0].addr[0] = 127;
    loopback[0].addr[3] = 1;
    loopback[1].addr[15] = 1;
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
            struct nftnl_rule *rule;
            bool built;

            if (listeners[i].port == 0)
                continue;
            rule = dnsjail_rule_new(FILTER_CHAIN);
            built = rule != NULL && put_daddr_in(rule, &loopback[f]) &&
                    put_l4proto_is(rule, listeners[i].l4proto) &&
                    put_dport_is(rule, listeners[i].port) && put_admit(rule);
            if (nft_batch_put_rule(b, rule, built,
                                   FILTER_CHAIN ": daddr our listener dport our port accept",
                                   err) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- raw-frame policing (docs/DESIGN.md "Raw frames") --------------------------------------
 * Frames from packet sockets pass no inet hook; the only per-packet state they cannot choose
 * freely is a secret they do not know. Nothing in the netdev family can read conntrack or the
 * route (the kernel refuses `ct` and `rt` there), and SO_MARK and SO_PRIORITY take any value
 * with CAP_NET_RAW alone: hence 64 random bits over both fields. */

/* reg1 = VALUE */
static bool put_imm_u32(struct nftnl_rule *rule, uint32_t value)
{
    struct nftnl_expr *e = append_expr(rule, "immediate");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
    return nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &value, sizeof(value)) == 0;
}

/* meta KEY set reg1 */
static bool put_meta_set(struct nftnl_rule *rule, uint32_t key)
{
    struct nftnl_expr *e = append_expr(rule, "meta");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
    return true;
}

/* meta KEY == VALUE */
static bool put_meta_is(struct nftnl_rule *rule, uint32_t key, uint32_t value)
{
    return put_meta_load(rule, key) && put_cmp(rule, NFT_CMP_EQ, &value, sizeof(value));
}

/* The frame's bytes at OFFSET from the start of the Ethernet header, as sent: a packet
 * socket's frame says what it likes in skb->protocol, so only the bytes count. */
static bool put_frame_cmp(struct nftnl_rule *rule, uint32_t offset, enum nft_cmp_ops op,
                          const void *data, uint32_t len)
{
    return put_header_cmp(rule, NFT_PAYLOAD_LL_HEADER, offset, op, data, len);
}

static bool put_frame_u16_is(struct nftnl_rule *rule, uint32_t offset, uint16_t value)
{
    uint16_t be = htons(value);

    return put_frame_cmp(rule, offset, NFT_CMP_EQ, &be, sizeof(be));
}

/* fib daddr type TYPE */
static bool put_fib_daddr_type_is(struct nftnl_rule *rule, uint32_t type)
{
    struct nftnl_expr *e = append_expr(rule, "fib");

    if (e == NULL)
        return false;
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
    return put_cmp(rule, NFT_CMP_EQ, &type, sizeof(type));
}

/* RAW_MARK_CHAIN: what is not marked. Loopback stays in the namespace, and redirected flows go
 * to our listeners over loopback (their oif is still the original interface here). Multicast
 * and broadcast are looped back to local sockets and packet taps, where SO_RCVMARK or a socket
 * filter would read the secret. */
static int put_raw_unmarked_rules(struct nft_batch *b, uint32_t loopback_ifindex, dj_error_t *err)
{
    static const struct dj_nft_network looped[] = {
        {.family = AF_INET, .addr = {224}, .prefix = 4},
        {.family = AF_INET, .addr = {255, 255, 255, 255}, .prefix = 32},
        {.family = AF_INET6, .addr = {0xff}, .prefix = 8},
    };
    struct nftnl_rule *rule;
    bool built;

    if (put_oif_accept_rule(b, RAW_MARK_CHAIN, loopback_ifindex, RAW_MARK_CHAIN ": oif lo accept",
                            err) < 0)
        return -1;
    rule = dnsjail_rule_new(RAW_MARK_CHAIN);
    built = rule != NULL && put_ct_has_any(rule, NFT_CT_STATUS, IPS_DST_NAT) && put_accept(rule);
    if (nft_batch_put_rule(b, rule, built, RAW_MARK_CHAIN ": ct status dnat accept", err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(looped) / sizeof(looped[0]); i++) {
        rule = dnsjail_rule_new(RAW_MARK_CHAIN);
        built = rule != NULL && put_daddr_in(rule, &looped[i]) && put_accept(rule);
        if (nft_batch_put_rule(b, rule, built, RAW_MARK_CHAIN ": multicast or broadcast accept",
                               err) < 0)
            return -1;
    }
    rule = dnsjail_rule_new(RAW_MARK_CHAIN);
    built = rule != NULL && put_fib_daddr_type_is(rule, RTN_BROADCAST) && put_accept(rule);
    return nft_batch_put_rule(b, rule, built, RAW_MARK_CHAIN ": fib daddr type broadcast accept",
                              err);
}

static int put_raw_mark_chain(struct nft_batch *b, const struct dj_nft_raw *raw,
                              uint32_t loopback_ifindex, dj_error_t *err)
{
    struct nftnl_rule *rule;
    bool built;

    /* Last on the output hook: a packet that gets here was accepted by every other chain. */
    if (nft_batch_put_hooked_chain(
            b, NFPROTO_INET, RAW_MARK_CHAIN, "filter", NF_INET_LOCAL_OUT, DJ_NFT_RAW_MARK_PRIORITY,
            NF_ACCEPT, NULL, "add chain " RAW_MARK_CHAIN " (filter, output, last)", err) < 0 ||
        put_raw_unmarked_rules(b, loopback_ifindex, err) < 0)
        return -1;
    rule = dnsjail_rule_new(RAW_MARK_CHAIN);
    built = rule != NULL && put_imm_u32(rule, raw->mark) && put_meta_set(rule, NFT_META_MARK) &&
            put_imm_u32(rule, raw->priority) && put_meta_set(rule, NFT_META_PRIORITY);
    return nft_batch_put_rule(b, rule, built,
                              RAW_MARK_CHAIN ": meta mark and priority set the secret", err);
}

/* Table netdev dnsjail; with REPLACE a leftover one goes in the same batch, as for the inet
 * table. */
static int put_raw_egress_table(struct nft_batch *b, const struct dj_nft_raw *raw, bool audit,
                                bool replace, dj_error_t *err)
{
    /* IPv6 header at 14: next header 58 (ICMPv6) and hop limit 255 at 20, destination at 38,
     * the ICMPv6 type at 54 (no extension headers: the kernel's own ND has none). */
    static const uint8_t nd_types_min = 133, nd_types_max = 136;
    const char *devices[DJ_NFT_RAW_MAX_DEVICES + 1] = {NULL};
    struct nftnl_rule *rule;
    bool built;

    for (size_t i = 0; i < raw->n_devices && i < DJ_NFT_RAW_MAX_DEVICES; i++)
        devices[i] = raw->devices[i];
    if (replace && (nft_batch_put_family_table(b, NFPROTO_NETDEV, NFT_MSG_NEWTABLE, NLM_F_CREATE,
                                               "add table netdev " DJ_NFT_TABLE, err) < 0 ||
                    nft_batch_put_family_table(b, NFPROTO_NETDEV, NFT_MSG_DELTABLE, 0,
                                               "delete table netdev " DJ_NFT_TABLE, err) < 0))
        return -1;
    if (nft_batch_put_family_table(b, NFPROTO_NETDEV, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL,
                                   "create table netdev " DJ_NFT_TABLE, err) < 0 ||
        nft_batch_put_hooked_chain(b, NFPROTO_NETDEV, RAW_EGRESS_CHAIN, "filter", NF_NETDEV_EGRESS,
                                   0, audit ? NF_ACCEPT : NF_DROP, devices,
                                   "add chain netdev " DJ_NFT_TABLE " " RAW_EGRESS_CHAIN
                                   " (filter, egress: needs Linux 5.17 with netfilter egress)",
                                   err) < 0)
        return -1;

    /* Cleared before the frame reaches the packet taps, which could read it with a filter. */
    rule = family_rule_new(NFPROTO_NETDEV, RAW_EGRESS_CHAIN);
    built = rule != NULL && put_meta_is(rule, NFT_META_MARK, raw->mark) &&
            put_meta_is(rule, NFT_META_PRIORITY, raw->priority) && put_imm_u32(rule, 0) &&
            put_meta_set(rule, NFT_META_MARK) && put_meta_set(rule, NFT_META_PRIORITY) &&
            put_accept(rule);
    if (nft_batch_put_rule(b, rule, built, RAW_EGRESS_CHAIN ": the secret: clear it, accept", err) <
        0)
        return -1;
    /* The kernel's ARP passes no inet hook. */
    rule = family_rule_new(NFPROTO_NETDEV, RAW_EGRESS_CHAIN);
    built = rule != NULL && put_frame_u16_is(rule, 12, ETH_P_ARP) && put_accept(rule);
    if (nft_batch_put_rule(b, rule, built, RAW_EGRESS_CHAIN ": ether type arp accept", err) < 0)
        return -1;
    /* Neighbour discovery to link-scope multicast (left unmarked, see put_raw_unmarked_rules):
     * hop limit 255 and ff02::/16 keep it on the link; a router forwards neither. */
    rule = family_rule_new(NFPROTO_NETDEV, RAW_EGRESS_CHAIN);
    built = rule != NULL && put_frame_u16_is(rule, 12, ETH_P_IPV6) &&
            put_frame_u16_is(rule, 20, (IPPROTO_ICMPV6 << 8) | 255) &&
            put_frame_u16_is(rule, 38, 0xff02) &&
            put_frame_cmp(rule, 54, NFT_CMP_GTE, &nd_types_min, 1) &&
            put_frame_cmp(rule, 54, NFT_CMP_LTE, &nd_types_max, 1) && put_accept(rule);
    if (nft_batch_put_rule(b, rule, built, RAW_EGRESS_CHAIN ": IPv6 neighbour discovery accept",
                           err) < 0)
        return -1;
    /* Counted either way: audit mode lets it go, the policy drops it. */
    rule = family_rule_new(NFPROTO_NETDEV, RAW_EGRESS_CHAIN);
    built = rule != NULL && append_expr(rule, "counter") != NULL;
    return nft_batch_put_rule(b, rule, built, RAW_EGRESS_CHAIN ": counter", err);
}

static int put_raw_policing(struct nft_batch *b, const struct dj_nft_spec *spec,
                            uint32_t loopback_ifindex, bool replace, dj_error_t *err)
{
    if (spec->raw == NULL)
        return 0;
    if (spec->raw->n_devices > DJ_NFT_RAW_MAX_DEVICES)
        return dj_error_make(err, EINVAL, "nftables: more than %d interfaces to police",
                             DJ_NFT_RAW_MAX_DEVICES);
    if (put_raw_mark_chain(b, spec->raw, loopback_ifindex, err) < 0)
        return -1;
    /* Only loopback: no frame can leave, and a netdev chain needs a device. */
    if (spec->raw->n_devices == 0)
        return 0;
    return put_raw_egress_table(b, spec->raw, spec->audit, replace, err);
}

/* ---- container DNS and container networks ------------------------------------------------ */

/* ct original KEY (in the original direction) into register 1 */
static bool put_ct_original_load(struct nftnl_rule *rule, uint32_t key)
{
    struct nftnl_expr *ct = append_expr(rule, "ct");

    if (ct == NULL)
        return false;
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u8(ct, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    return true;
}

/* NAT_CHAIN, first: meta mark CDNS ip[6] daddr ADDR udp dport 53 accept (no redirect; a DNAT
 * of the engine's own, at a later priority, still applies). */
static int put_cdns_nat_rule(struct nft_batch *b, const struct dj_nft_spec *spec, dj_error_t *err)
{
    struct nftnl_rule *rule;
    bool built;

    if (spec->cdns == NULL)
        return 0;
    rule = dnsjail_rule_new(NAT_CHAIN);
    built = rule != NULL && put_meta_is(rule, NFT_META_MARK, DJ_NFT_CDNS_MARK) &&
            put_daddr_in(rule, spec->cdns) && put_l4proto_is(rule, IPPROTO_UDP) &&
            put_dport_is(rule, 53) && put_accept(rule);
    return nft_batch_put_rule(b, rule, built, NAT_CHAIN ": container DNS: marked, not redirected",
                              err);
}

/* FILTER_CHAIN, first (before the foreign-server rejects): meta mark CDNS meta l4proto udp
 * ct original ip[6] daddr ADDR ct original proto-dst 53 goto admit. By the original
 * destination: after the engine's DNAT the packet goes to its resolver's real port, which
 * stays closed to the container's own processes (they cannot set the mark). */
static int put_cdns_filter_rule(struct nft_batch *b, const struct dj_nft_spec *spec,
                                dj_error_t *err)
{
    uint16_t port_be = htons(53);
    bool v6 = spec->cdns != NULL && spec->cdns->family == AF_INET6;
    uint8_t nfproto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
    struct nftnl_rule *rule;
    bool built;

    if (spec->cdns == NULL)
        return 0;
    rule = dnsjail_rule_new(FILTER_CHAIN);
    built = rule != NULL && put_meta_is(rule, NFT_META_MARK, DJ_NFT_CDNS_MARK) &&
            put_meta_load(rule, NFT_META_NFPROTO) && put_cmp(rule, NFT_CMP_EQ, &nfproto, 1) &&
            put_l4proto_is(rule, IPPROTO_UDP) &&
            put_ct_original_load(rule, v6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP) &&
            put_cmp(rule, NFT_CMP_EQ, spec->cdns->addr, v6 ? 16 : 4) &&
            put_ct_original_load(rule, NFT_CT_PROTO_DST) &&
            put_cmp(rule, NFT_CMP_EQ, &port_be, sizeof(port_be)) && put_admit(rule);
    return nft_batch_put_rule(
        b, rule, built, FILTER_CHAIN ": container DNS: marked, to the engine's resolver", err);
}

/* NAT_CHAIN, after the DNS redirects: per container network, ip[6] daddr != GATEWAY...
 * ip[6] daddr NET meta l4proto tcp accept (not redirected to the proxy: a service's own
 * port 80 or 443 is reached directly). */
static int put_container_net_nat_rules(struct nft_batch *b, const struct dj_nft_spec *spec,
                                       dj_error_t *err)
{
    if (spec->n_container_networks > DJ_NFT_MAX_CONTAINER_NETS ||
        spec->n_gateways > DJ_NFT_MAX_CONTAINER_NETS)
        return dj_error_make(err, EINVAL, "nftables: more than %d container networks or gateways",
                             DJ_NFT_MAX_CONTAINER_NETS);
    for (size_t i = 0; i < spec->n_container_networks; i++) {
        const struct dj_nft_network *net = &spec->container_networks[i];
        struct nftnl_rule *rule = dnsjail_rule_new(NAT_CHAIN);
        bool built = rule != NULL;

        for (size_t g = 0; built && g < spec->n_gateways; g++)
            if (spec->gateways[g].family == net->family)
                built = put_daddr_cmp(rule, &spec->gateways[g], NFT_CMP_NEQ);
        built = built && put_daddr_in(rule, net) && put_l4proto_is(rule, IPPROTO_TCP) &&
                put_accept(rule);
        if (nft_batch_put_rule(b, rule, built, NAT_CHAIN ": container network: not redirected",
                               err) < 0)
            return -1;
    }
    return 0;
}

/* FILTER_CHAIN, after the address rules: ip[6] daddr GATEWAY reject, per gateway; then
 * ip[6] daddr NET goto admit, per container network. */
static int put_container_net_filter_rules(struct nft_batch *b, const struct dj_nft_spec *spec,
                                          dj_error_t *err)
{
    for (size_t g = 0; g < spec->n_gateways; g++) {
        struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
        bool built = rule != NULL && put_daddr_in(rule, &spec->gateways[g]) &&
                     put_reject(rule, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);

        if (nft_batch_put_rule(b, rule, built, FILTER_CHAIN ": container network: gateway reject",
                               err) < 0)
            return -1;
    }
    for (size_t i = 0; i < spec->n_container_networks; i++) {
        struct nftnl_rule *rule = dnsjail_rule_new(FILTER_CHAIN);
        bool built =
            rule != NULL && put_daddr_in(rule, &spec->container_networks[i]) && put_admit(rule);

        if (nft_batch_put_rule(b, rule, built, FILTER_CHAIN ": container network accept", err) < 0)
            return -1;
    }
    return 0;
}

int nft_build_install_batch(struct nft_batch *b, const struct dj_nft_spec *spec,
                            uint32_t loopback_ifindex, bool replace, dj_error_t *err)
{
    /* REPLACE, for a table left behind: "add, delete, add", the first add making the delete
     * valid whether or not the table still exists, all applied as one transaction. Otherwise
     * only "create": a delete in the batch costs an RCU grace period when the socket closes
     * (about 10 ms here, most of what the hook adds to a container's start), and the create's
     * NLM_F_EXCL still fails the batch if a table appeared in between. */
    if (replace &&
        (nft_batch_put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table inet " DJ_NFT_TABLE,
                             err) < 0 ||
         nft_batch_put_table(b, NFT_MSG_DELTABLE, 0, "delete table inet " DJ_NFT_TABLE, err) < 0))
        return -1;
    if (nft_batch_put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL,
                            "create table inet " DJ_NFT_TABLE, err) < 0 ||
        put_raw_policing(b, spec, loopback_ifindex, replace, err) < 0)
        return -1;

    if (nft_batch_put_base_chain(b, NAT_CHAIN, "nat", NAT_PRIORITY, NF_ACCEPT,
                                 "add chain " NAT_CHAIN " (nat, output, -150)", err) < 0 ||
        put_cdns_nat_rule(b, spec, err) < 0 ||
        put_network_rules(b, spec, NAT_CHAIN, true, err) < 0 ||
        put_redirect_rule(b, IPPROTO_UDP, 53, spec->dns_port,
                          NAT_CHAIN ": udp dport 53 redirect to the DNS port", err) < 0 ||
        put_redirect_rule(b, IPPROTO_TCP, 53, spec->dns_port,
                          NAT_CHAIN ": tcp dport 53 redirect to the DNS port", err) < 0 ||
        put_container_net_nat_rules(b, spec, err) < 0)
        return -1;
    if (spec->http_port != 0 &&
        put_redirect_rule(b, IPPROTO_TCP, 80, spec->http_port,
                          NAT_CHAIN ": tcp dport 80 redirect to the HTTP port", err) < 0)
        return -1;
    if (spec->tls_port != 0 &&
        put_redirect_rule(b, IPPROTO_TCP, 443, spec->tls_port,
                          NAT_CHAIN ": tcp dport 443 redirect to the TLS port", err) < 0)
        return -1;
    /* After 80 and 443: HTTP and TLS to a virtual address still face the Host/SNI checks. */
    if (put_virtual_rules(b, spec, err) < 0 ||
        put_audit_tcp_rules(b, spec, loopback_ifindex, err) < 0)
        return -1;

    /* Order matters: redirected flows leave with the original output interface (the nat
     * chain reroutes them only after that was chosen), so they are admitted by their new
     * destination, our listeners, and the rejects come last. */
    if (put_admit_chain(b, err) < 0 ||
        nft_batch_put_base_chain(b, FILTER_CHAIN, "filter", 0, NF_DROP,
                                 "add chain " FILTER_CHAIN " (filter, output, 0, policy drop)",
                                 err) < 0 ||
        put_cdns_filter_rule(b, spec, err) < 0 || put_blocked_rules(b, spec, err) < 0 ||
        put_admitted_rule(b, err) < 0 || put_inbound_reply_rules(b, spec, err) < 0 ||
        put_listener_rules(b, spec, err) < 0 ||
        put_oif_accept_rule(b, FILTER_CHAIN, loopback_ifindex, FILTER_CHAIN ": oif lo accept",
                            err) < 0 ||
        put_nd_accept_rules(b, err) < 0 ||
        put_network_rules(b, spec, FILTER_CHAIN, false, err) < 0 ||
        put_container_net_filter_rules(b, spec, err) < 0 || put_inbound_chain(b, spec, err) < 0)
        return -1;
    /* Audit mode lets the rest out (UDP other than 53, ICMP, ...) with a counter only: the
     * limit of what it records (docs/DESIGN.md). */
    if (spec->audit)
        return put_counted_accept_rule(b, FILTER_CHAIN ": audit: counter accept", err);
    if (put_tcp_reset_rule(b, FILTER_CHAIN ": meta l4proto tcp reject with tcp reset", err) < 0 ||
        put_reject_rule(b, FILTER_CHAIN ": reject with icmpx admin-prohibited", err) < 0)
        return -1;
    return 0;
}

int nft_build_keeper_batch(struct nft_batch *b, dj_error_t *err)
{
    /* The jail's hook points with the jail's chain types, all accepting and empty: what keeps
     * the kernel's hook static keys on, nothing that would change a packet. */
    if (nft_batch_put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL,
                            "create table inet " DJ_NFT_TABLE " (keeper)", err) < 0 ||
        nft_batch_put_base_chain(b, NAT_CHAIN, "nat", NAT_PRIORITY, NF_ACCEPT,
                                 "add chain " NAT_CHAIN " (keeper: nat, output, -150)", err) < 0 ||
        nft_batch_put_base_chain(b, FILTER_CHAIN, "filter", 0, NF_ACCEPT,
                                 "add chain " FILTER_CHAIN " (keeper: filter, output, 0)",
                                 err) < 0 ||
        nft_batch_put_base_chain_at(b, INBOUND_CHAIN, "filter", NF_INET_LOCAL_IN, 0, NF_ACCEPT,
                                    "add chain " INBOUND_CHAIN " (keeper: filter, input, 0)",
                                    err) < 0)
        return -1;
    return 0;
}

/* nft.h: the `inet dnsjail` nftables table, built with libnftnl and sent with libmnl in one
 * netlink batch, in the network namespace the calling thread is in.
 *
 * Shape (IPv4 and IPv6; docs/DESIGN.md has it as nft text):
 *   chain nat_out    (nat, output, -150):  udp/tcp dport 53 redirect to :dns_port
 *                                          tcp dport 80  redirect to :http_port  (if set)
 *                                          tcp dport 443 redirect to :tls_port   (if set)
 *                                          ip[6] daddr POOL meta l4proto tcp redirect to
 *                                              :virtual_port (each virtual pool, if set)
 *   chain filter_out (filter, output, 0, policy drop):
 *        [foreign servers: reject;]
 *        ct state established,related with our EGRESS mark accept;
 *        replies of flows with our INBOUND mark: TCP syn-ack, rst, assured (+ UDP if allowed);
 *        daddr 127.0.0.1/::1 with one of our listener ports, oif lo: mark EGRESS, accept;
 *        IPv6 neighbour discovery on the link accept;
 *        tcp -> reject with tcp reset; everything else -> reject with icmpx admin-prohibited
 *   chain mark_in    (filter, input, 0): new inbound TCP SYN (and UDP if allowed): mark INBOUND
 * Address rules (io.dnsjail.allow CIDRs) bypass the proxy: for each, `ip[6] daddr NET tcp
 * dport PORT accept` goes first in nat_out (so 80/443 are not redirected) and before the
 * rejects in filter_out (marking EGRESS there).
 * Owns: building, replacing, probing and deleting that table. */
#ifndef DNSJAIL_NFT_H
#define DNSJAIL_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "jail/policy.h"

#define DJ_NFT_TABLE "dnsjail"

/* Conntrack mark bits the table sets, each with a bitwise OR so that the other bits of the
 * mark (which other software may use) survive; only these bits are ever tested.
 * EGRESS: the flow was admitted leaving the container (to our listeners, on loopback, to an
 * address rule); its later packets and its replies pass.
 * INBOUND: the flow was opened from outside with a TCP SYN (or, with allow-inbound-udp, by a
 * UDP datagram); the container's replies on it pass (docs/POLICY.md says which). */
#define DJ_NFT_CT_MARK_EGRESS 0x00400000U
#define DJ_NFT_CT_MARK_INBOUND 0x00800000U

/* Address rules cost two kernel rules per port; more than this many fit no single batch.
 * Users with more should allow wider networks. */
#define DJ_NFT_MAX_NETWORKS 64
#define DJ_NFT_MAX_VIRTUAL_POOLS 2 /* one IPv4, one IPv6 */
#define DJ_NFT_MAX_BLOCKED 32      /* foreign servers closed off; more refuse the container */
/* The packet mark of the hook's container-DNS sockets ("dj", then 53). Setting it takes
 * CAP_NET_ADMIN, or CAP_NET_RAW since Linux 5.17: container-dns refuses allow-cap-net-raw. */
#define DJ_NFT_CDNS_MARK 0x646a0035U
#define DJ_NFT_MAX_CONTAINER_NETS 16 /* allow-container-networks: subnets, and gateways */

struct dj_nft_network {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, host bits zero */
    uint8_t prefix;   /* prefix length */
    uint16_t port;    /* 0: ports 80 and 443 */
};

/* A server in the namespace that the jail closes off (a socket held from outside it). */
struct dj_nft_endpoint {
    int family;       /* AF_INET or AF_INET6; AF_UNSPEC (with any_local): both */
    uint8_t addr[16]; /* the bound address, unless any_local */
    bool any_local;   /* bound to the wildcard: every local address of the family */
    uint8_t l4proto;  /* IPPROTO_TCP or IPPROTO_UDP */
    uint16_t port;
};

struct dj_nft_spec {
    uint16_t dns_port;                          /* required */
    uint16_t http_port;                         /* 0: no proxy, port 80 stays rejected */
    uint16_t tls_port;                          /* 0: no proxy, port 443 stays rejected */
    const struct dj_nft_network *networks;      /* reachable directly, without the proxy */
    size_t n_networks;                          /* at most DJ_NFT_MAX_NETWORKS */
    uint16_t virtual_port;                      /* 0: no virtual addresses */
    const struct dj_nft_network *virtual_pools; /* TCP to these (any port) goes to virtual_port */
    size_t n_virtual_pools;                     /* at most DJ_NFT_MAX_VIRTUAL_POOLS */
    /* Audit mode: every other TCP connection goes to virtual_port (required then), and what
     * is left (UDP other than 53, ICMP) is accepted and counted instead of rejected. */
    bool audit;
    /* Raw-frame policing (allow-cap-net-raw), or NULL for none: see struct dj_nft_raw. */
    const struct dj_nft_raw *raw;
    /* Rejected first in filter_out, before anything is accepted: traffic to these servers,
     * after any DNAT (the filter sees the rewritten destination). */
    const struct dj_nft_endpoint *blocked;
    size_t n_blocked; /* at most DJ_NFT_MAX_BLOCKED */
    /* allow-inbound-udp: the container may answer UDP conversations opened from outside. */
    bool inbound_udp;
    /* container-dns: the engine resolver's address (a host network: /32 or /128), or NULL.
     * UDP to it on port 53 from packets marked DJ_NFT_CDNS_MARK skips the redirect in nat_out
     * and is admitted first in filter_out, by the flow's original destination (the engine may
     * DNAT port 53 to its resolver's real port, which the foreign-server rejects close to
     * everyone else). */
    const struct dj_nft_network *cdns;
    /* allow-container-networks: these subnets are reached directly, any protocol and port
     * (TCP not redirected to the proxy), but for the gateways, which stay rejected. */
    const struct dj_nft_network *container_networks;
    size_t n_container_networks; /* at most DJ_NFT_MAX_CONTAINER_NETS */
    const struct dj_nft_network *gateways;
    size_t n_gateways; /* at most DJ_NFT_MAX_CONTAINER_NETS */
};

/* Raw-frame policing. Frames a process with CAP_NET_RAW sends through a packet socket never
 * pass the inet hooks, and everything the inet table sees can be forged into them (SO_MARK and
 * SO_PRIORITY need only CAP_NET_RAW). So the inet table's last output chain (`raw_mark`,
 * priority DJ_NFT_RAW_MARK_PRIORITY) writes a per-jail secret into the mark and the priority of
 * every packet it lets leave through an interface, and the table `netdev dnsjail` checks it on
 * egress of each DEVICE and clears it again before anything in the namespace could read it:
 *   chain raw_mark (filter, output, last):  oif lo accept; ct status dnat accept;
 *        ip daddr {224.0.0.0/4, 255.255.255.255}, fib daddr type broadcast, ip6 daddr ff00::/8
 *        accept (their loopback copies would show the secret); meta mark set MARK meta
 *        priority set PRIORITY
 *   table netdev dnsjail, chain egress (filter, egress, devices DEVICES, policy drop):
 *        meta mark MARK meta priority PRIORITY meta mark set 0 meta priority set 0 accept;
 *        ether type arp accept; IPv6 neighbour discovery (ICMPv6 133-136, hop limit 255) to
 *        ff02::/16 accept; counter drop   (audit: counter accept)
 * docs/DESIGN.md says what this leaves open (AF_XDP, ARP and ND on the link). */
#define DJ_NFT_RAW_MAX_DEVICES 32
#define DJ_NFT_RAW_MARK_PRIORITY 2147483647 /* after every other output chain */

struct dj_nft_raw {
    uint32_t mark; /* the secret, 64 bits in all: a sender must guess both */
    uint32_t priority;
    char devices[DJ_NFT_RAW_MAX_DEVICES][16]; /* IFNAMSIZ */
    size_t n_devices;                         /* 0: no netdev table (only loopback here) */
};

/* Fills RAW for the network namespace the calling thread is in: every interface but lo, and
 * a fresh secret from getrandom. More interfaces than DJ_NFT_RAW_MAX_DEVICES is an error. */
int dj_nft_raw_prepare(struct dj_nft_raw *raw, dj_error_t *err);

/* Whether this kernel lets a process with CAP_NET_RAW open AF_XDP sockets, whose frames leave
 * below the netdev egress hook (tested on Linux 6.18): false when socket(AF_XDP) says the
 * family does not exist. */
bool dj_nft_af_xdp_available(void);

/* Collects the address (CIDR) rules of an allow list into a malloc'd array for the spec;
 * more than DJ_NFT_MAX_NETWORKS is an error that says so. */
int dj_nft_networks_from_rules(const struct dj_allow_rule *rules, size_t n_rules,
                               struct dj_nft_network **networks, size_t *n_networks,
                               dj_error_t *err);

/* Creates the table, or atomically replaces one that exists (without asking first: a create
 * the kernel refuses with EEXIST changes nothing, and a second batch replaces); then flushes
 * the namespace's conntrack table (IPv4 and IPv6), so that no flow that predates the table
 * keeps a mark it did not get from us. A flush that fails is an error (the table stays,
 * closed), unless nf_conntrack was not loaded before the table: then no entry can predate it. */
int dj_nft_install(const struct dj_nft_spec *spec, dj_error_t *err);

/* dj_nft_install for a namespace whose table, if it has one, stays as it is (a pod's next
 * member): creates it when missing, and *INSTALLED says whether it did (then the conntrack
 * flush ran too). */
int dj_nft_ensure(const struct dj_nft_spec *spec, bool *installed, dj_error_t *err);

/* Creates the keeper's table (lib/jail/keeper.h) in the calling thread's namespace: table inet
 * dnsjail with chains nat_out, filter_out and mark_in on the jail's hooks, accepting, empty. */
int dj_nft_keeper_install(dj_error_t *err);

/* Sets *exists to whether table inet dnsjail exists. */
int dj_nft_table_exists(bool *exists, dj_error_t *err);

/* Deletes the table (and table netdev dnsjail with it); a missing table is not an error. */
int dj_nft_remove(dj_error_t *err);

/* dj_nft_remove, and when the table was deleted, *HELD gets a second descriptor of the netlink
 * socket (-1 otherwise). The last close of a socket whose batch deleted a table waits for the
 * kernel's destruction work, an RCU grace period (several ms): with HELD that wait moves to
 * whoever closes *HELD, e.g. dj_nft_close_in_background. The table is gone either way. */
int dj_nft_remove_keep(int *held, dj_error_t *err);

/* Closes FD in a short-lived child that holds the last reference, so the caller does not wait
 * for that close (see dj_nft_remove_keep). Falls back to a plain close. */
void dj_nft_close_in_background(int fd);

#endif

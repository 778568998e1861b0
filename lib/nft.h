/* nft.h: the `inet dnsjail` nftables table, built with libnftnl and sent with libmnl in one
 * netlink batch, in the network namespace the calling thread is in.
 *
 * Shape (IPv4 and IPv6; docs/DESIGN.md has it as nft text):
 *   chain nat_out    (nat, output, -100):  udp/tcp dport 53 redirect to :dns_port
 *                                          tcp dport 80  redirect to :http_port  (if set)
 *                                          tcp dport 443 redirect to :tls_port   (if set)
 *   chain filter_out (filter, output, 0, policy drop):
 *        ct state established,related accept; ct status dnat accept; oif lo accept;
 *        tcp -> reject with tcp reset; everything else -> reject with icmpx admin-prohibited
 * Owns: building, replacing, probing and deleting that table. */
#ifndef DNSJAIL_NFT_H
#define DNSJAIL_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define DJ_NFT_TABLE "dnsjail"

struct dj_nft_spec {
    uint16_t dns_port;  /* required */
    uint16_t http_port; /* 0: no proxy, port 80 stays rejected */
    uint16_t tls_port;  /* 0: no proxy, port 443 stays rejected */
};

/* Creates the table, or atomically replaces one that exists, in a single batch. */
int dj_nft_install(const struct dj_nft_spec *spec, dj_error_t *err);

/* Sets *exists to whether table inet dnsjail exists. */
int dj_nft_table_exists(bool *exists, dj_error_t *err);

/* Deletes the table; a missing table is not an error. */
int dj_nft_remove(dj_error_t *err);

#endif

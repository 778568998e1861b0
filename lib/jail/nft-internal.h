/* nft-internal.h: what lib/jail/nft.c (the netlink batch: building its messages, sending it,
 * reading every acknowledgement; the public functions) and nft-rules.c (the ruleset that goes
 * into an install batch) share. Not for other callers. */
#ifndef DNSJAIL_NFT_INTERNAL_H
#define DNSJAIL_NFT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "base/error.h"
#include "jail/nft.h"

/* Begin + three table messages + four chains + at most four nat, two admit, two inbound and
 * twenty-one filter rules (four for inbound replies, ten for our listeners, two for neighbour
 * discovery) + end is 38; raw-frame policing adds under twenty; each address rule adds up to
 * two nat and two filter rules, each blocked server one filter rule. */
#define MAX_BATCH_MESSAGES (64 + 4 * DJ_NFT_MAX_NETWORKS + DJ_NFT_MAX_BLOCKED)

struct nft_batch {
    struct mnl_nlmsg_batch *batch;
    char *buf;
    uint32_t first_seq;                   /* sequence number of the BATCH_BEGIN message */
    uint32_t count;                       /* messages in the batch, BEGIN and END included */
    const char *what[MAX_BATCH_MESSAGES]; /* per message, by seq - first_seq, for errors */
};

int nft_batch_next_message(struct nft_batch *b, const char *what, dj_error_t *err);
uint32_t nft_batch_seq(const struct nft_batch *b);
void *nft_batch_slot(struct nft_batch *b);
int nft_batch_put_family_table(struct nft_batch *b, uint32_t family, uint16_t type, uint16_t flags,
                               const char *what, dj_error_t *err);
int nft_batch_put_table(struct nft_batch *b, uint16_t type, uint16_t flags, const char *what,
                        dj_error_t *err);
int nft_batch_put_hooked_chain(struct nft_batch *b, uint32_t family, const char *name,
                               const char *type, uint32_t hooknum, int32_t priority,
                               uint32_t policy, const char **devices, const char *what,
                               dj_error_t *err);
int nft_batch_put_base_chain_at(struct nft_batch *b, const char *name, const char *type,
                                uint32_t hooknum, int32_t priority, uint32_t policy,
                                const char *what, dj_error_t *err);
int nft_batch_put_base_chain(struct nft_batch *b, const char *name, const char *type,
                             int32_t priority, uint32_t policy, const char *what, dj_error_t *err);

/* nft-rules.c: everything between the begin and the end of an install batch: the table
 * (after "add, delete" when REPLACE, for a table left behind), its chains and rules. */
int nft_build_install_batch(struct nft_batch *b, const struct dj_nft_spec *spec,
                            uint32_t loopback_ifindex, bool replace, dj_error_t *err);

/* nft-rules.c: the keeper's table (lib/jail/keeper.h): the jail's base chains, empty. */
int nft_build_keeper_batch(struct nft_batch *b, dj_error_t *err);

#endif

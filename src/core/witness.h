/* The witness (§4): before a successor that missed too many pings is declared dead, the other
 * peers that hear from it are asked when they last did.  Lost datagrams on our path must not
 * kill a live peer. */
#ifndef CDHT_WITNESS_H
#define CDHT_WITNESS_H

#include "node.h"

typedef struct cdht_witness {
  struct {                     /* a verdict on successor slot i waiting for the witnesses' word */
    bool active;
    cdht_peer witness[2];      /* asked; none once it answered or proved unreachable */
    uint32_t qid;
    uint64_t deadline_ms;      /* absolute: no vouching answer by then means dead */
  } suspect[2];
} cdht_witness;

/* Forgets the verdict pending on successor slot |i| (the peer answered, or the slot changed). */
void cdht_witness_cancel(cdht_node *n, int i);

/* Whether the verdict on slot |i| is due now; asks the witnesses first if there are any. */
bool cdht_witness_verdict_due(cdht_node *n, uint64_t now, int i);

int cdht_witness_on_query(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_witness_on_reply(cdht_node *n, uint64_t now, const cdht_msg *m);
/* A TCP message to |peer| could not be delivered: a witness that is gone cannot vouch. */
void cdht_witness_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer);
uint64_t cdht_witness_next_deadline(const cdht_node *n);

#endif

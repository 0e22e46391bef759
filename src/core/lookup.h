/* Lookups (§3, §9): our file requests and stores in flight, with their retries and timeouts,
 * and the routing of everyone's requests and stores: answered here, accepted here, or passed
 * to our first successor. */
#ifndef CDHT_LOOKUP_H
#define CDHT_LOOKUP_H

#include "node.h"

typedef struct cdht_pending_req {
  bool used;
  bool store;             /* a store (else a file request) */
  bool accepted;          /* store: a peer took it; waiting for its confirmation */
  cdht_name name;         /* the file's name (valid under the ring's rule) */
  uint32_t id;            /* request id, echoed by the answer */
  uint64_t retry_ms;      /* absolute: resend if still unanswered */
  uint64_t deadline_ms;   /* absolute: give up and say so */
} cdht_pending_req;

typedef struct cdht_lookup {
  cdht_pending_req reqs[CDHT_MAX_PENDING];
} cdht_lookup;

/* A console `request` or `store` of |name| (borrowed).  Returns 0, CDHT_ERR_INVAL (not a name
 * under the ring's rule) or CDHT_ERR_BUSY. */
int cdht_lookup_start(cdht_node *n, uint64_t now, const cdht_name *name, bool store);
/* Our pending request with id |id|, or NULL. */
cdht_pending_req *cdht_lookup_find(cdht_node *n, uint32_t id);
/* Our first successor is now |first|: requests that may have gone to a dead peer go again. */
void cdht_lookup_on_new_first(cdht_node *n, uint64_t now, cdht_peer first);

int cdht_lookup_on_request(cdht_node *n, uint64_t now, const cdht_msg *m);   /* FILE_REQ, STORE_REQ */
int cdht_lookup_on_response(cdht_node *n, const cdht_msg *m);                /* FILE_RESP */
int cdht_lookup_on_store_answer(cdht_node *n, uint64_t now, const cdht_msg *m); /* STORE_ACCEPT, _DONE */
void cdht_lookup_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_lookup_next_deadline(const cdht_node *n);

#endif

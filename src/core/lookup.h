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
  cdht_peer to;           /* the peer it was last sent to */
  uint64_t retry_ms;      /* absolute: resend if still unanswered */
  uint64_t deadline_ms;   /* absolute: give up and say so */
} cdht_pending_req;

/* A request or store we passed on, kept a while so that it can take another route if the hop
 * we chose refuses the connection (with fingers, that hop may be a peer that has gone). */
#define CDHT_FWD_LOG 8
typedef struct cdht_fwd {
  uint64_t t_ms;          /* when it was passed on (0: free) */
  cdht_peer to;           /* to whom */
  cdht_msg_type type;     /* FILE_REQ or STORE_REQ */
  cdht_peer origin;
  uint32_t seq;
  uint16_t hops;          /* as received */
  cdht_name name;
} cdht_fwd;

typedef struct cdht_lookup {
  cdht_pending_req *reqs; /* CDHT_MAX_PENDING entries, allocated at the first request (most peers of a big ring
                           * never make one) */
  cdht_fwd *fwd;          /* CDHT_FWD_LOG entries, allocated at the first request passed on with fingers */
  unsigned fwd_next;
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
/* A TCP message to |peer| could not be delivered: our requests and the ones we passed on that
 * went to it go again by the next best route (fingers only: the classic route has one hop). */
void cdht_lookup_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer);
/* Frees the tables (cdht_node_del). */
void cdht_lookup_clear(cdht_node *n);
void cdht_lookup_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_lookup_next_deadline(const cdht_node *n);

#endif

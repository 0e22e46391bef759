/* Graceful departure (§6), both sides.  The leaver tells its predecessors who follows it
 * (DEPART), waits for their confirmations, hands its keys and whatever reaches it meanwhile to
 * its first successor (KEYS_OFFER / KEYS_GRANT, then CDHT_EV_HANDOVER), and leaves.  A
 * predecessor applies a successor's departure once the peer at its address confirms it; a
 * successor grants a leaving predecessor a token for its keys. */
#ifndef CDHT_LEAVE_H
#define CDHT_LEAVE_H

#include "node.h"

#define CDHT_LEAVE_HO_MAX 8 /* handovers a leaving node runs or retries at once: its own keys, and what
                             * reaches it while it leaves (stores it accepted, a neighbour's keys) */

typedef struct cdht_leave_ho { /* a handover of a leaving node: under way, or waiting to be retried */
  bool used, running;
  bool granting;             /* running, but waiting for the successor's KEYS_GRANT */
  bool own;                  /* our own keys: the quit says how many went, even none */
  uint32_t id;
  cdht_id lo, hi;            /* keys in (lo, hi] */
  uint64_t retry_ms;         /* !running: try again then, with our successor of that time */
} cdht_leave_ho;

typedef struct cdht_leave {
  struct { cdht_peer peer; bool waiting; } confirm[2]; /* quit: the predecessors who must confirm */
  uint64_t deadline_ms;        /* quit: leave by then, confirmed or not */
  cdht_leave_ho ho[CDHT_LEAVE_HO_MAX];
  bool pass_all;               /* content reached us while leaving with every slot busy: once one is
                                * free, everything still here goes (a range of the whole ring) */
  /* A leaving node's "N files handed over" message waits for its predecessors' confirmations,
   * so that a successor that is also a predecessor hears of the departure first (§6). */
  struct cdht_keys_done_later { cdht_peer peer; uint32_t count; uint64_t token; } keys_done_later[CDHT_LEAVE_HO_MAX];
  unsigned nkeys_done_later;
  /* A successor's departure (DEPART) is applied only once the peer at its address confirms it
   * with our token (DEPART_CONFIRM), one per successor slot. */
  struct { cdht_peer peer, succ[2]; uint64_t token, until_ms; } depart_wait[2];
  cdht_peer departed;          /* last successor whose departure we applied */
} cdht_leave;

void cdht_leave_init(cdht_node *n);
/* The console's `quit`. */
void cdht_leave_start(cdht_node *n, uint64_t now);
/* The node is done (a quit completed, or a join failed): CDHT_EV_LEFT. */
void cdht_leave_finish(cdht_node *n);
/* Our first successor answers for the keys (lo, hi] from now on: hands them over (or returns NULL
 * when every slot is busy). */
cdht_leave_ho *cdht_leave_start_handover(cdht_node *n, uint64_t now, cdht_id lo, cdht_id hi);

int cdht_leave_on_depart(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_leave_on_depart_ack(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_leave_on_depart_confirm(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_leave_on_keys_offer(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_leave_on_keys_grant(cdht_node *n, uint64_t now, const cdht_msg *m);
/* A TCP message to |peer| could not be delivered: a predecessor we wait for is gone. */
void cdht_leave_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer);
/* LEAVING only: retries, and the deadline. */
void cdht_leave_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_leave_next_deadline(const cdht_node *n);

#endif

/* Membership: our two successors and the pings that watch them (one failure detector per slot,
 * fd.h), our predecessors as their pings name them, and the peers we know are gone (§4, §8). */
#ifndef CDHT_SUCC_H
#define CDHT_SUCC_H

#include "fd.h"
#include "node.h"

#define CDHT_FORMER_PREDS 4 /* predecessors displaced lately: a leaving one may still offer us its keys */
#define CDHT_DEAD_LOG 32 /* peers recently declared dead or departed, never re-adopted on hearsay: as many as a
                          * successor list can lose at once */

typedef struct cdht_succ {
  cdht_peer id[2];             /* no peer: second successor pending a repair */
  cdht_peer more[CDHT_SUCC_MAX - 2]; /* the successor list past the first two (cfg.successors − 2 at most), in
                                      * ring order beyond id[1]: learned through stabilization, never pinged,
                                      * taken up at once when a successor before them dies */
  uint8_t nmore;
  cdht_fd fd[2];               /* failure detector of each successor slot */
  uint64_t heard_ms[2];        /* when each successor last answered a ping (CDHT_NEVER: never) */
  cdht_peer pred[2];           /* learned from pings; no peer until one arrives */
  uint64_t pred_heard_ms[2];   /* when that predecessor last pinged us */
  cdht_peer pred_was2;         /* the last peer another second predecessor displaced (or none) */
  uint64_t pred_was2_ms;       /* when it last pinged us as second */
  cdht_peer pred_was1;         /* the last first predecessor another pinger displaced (or none) */
  uint64_t pred_was1_ms;       /* when it last pinged us as first */
  struct { cdht_peer peer; uint64_t heard_ms; } former[CDHT_FORMER_PREDS]; /* predecessors displaced lately,
                                                                           * when each last pinged us */
  unsigned nformer;
  uint64_t next_ping_ms;       /* absolute */
  uint64_t started_ms;         /* when this node started (its start successors may start later) */
  struct { cdht_id id; uint64_t t_ms; } dead_log[CDHT_DEAD_LOG]; /* when we declared each gone */
  unsigned ndead;
} cdht_succ;

/* Sets up successors |a|, |b| at |now| (the first pings go at once). */
void cdht_succ_init(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b);

/* Installs new successors, keeping each surviving peer's failure-detector history. */
void cdht_succ_set(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b);
/* Installs the successors a joiner or a predecessor was told, asking for a missing second. */
void cdht_succ_take(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b, cdht_peer avoid1, cdht_peer avoid2);
/* Takes our first successor's list |list| (|k| entries, its first successor first) for the
 * entries past our first two: each must lie further round the ring than the one before, and
 * none may be a peer we recently declared gone.  Emits CDHT_EV_SUCC_LIST if it changed. */
void cdht_succ_learn(cdht_node *n, uint64_t now, const cdht_peer *list, size_t k);
/* The first entry past our first two that we do not know to be gone, or no peer. */
cdht_peer cdht_succ_next_live(const cdht_node *n, uint64_t now);
/* Forgets the record |p| (id and address) wherever it is in the list past the first two (it
 * refused a connection).  Only that very record: a refusal at an address someone named with a
 * list entry's id says nothing of the peer at its own address.  Returns whether it was there. */
bool cdht_succ_forget(cdht_node *n, cdht_peer p);
/* Copies the whole list (the first two, then the rest) into |out|; returns its length. */
size_t cdht_succ_list(const cdht_node *n, cdht_peer *out);
/* Emits CDHT_EV_SUCCESSORS with the successors we have now. */
void cdht_succ_emit(cdht_node *n);

/* Our record of |p| if it was one of our predecessors, displaced by another pinger, and pinged us
 * within |window_ms| of |now|; else no peer.  (Neighbours leaving together make the slots change
 * hands several times while a leaving peer's key offer is on its way.) */
cdht_peer cdht_succ_former_pred(const cdht_node *n, uint64_t now, cdht_peer p, uint64_t window_ms);
/* Whether predecessor |i| still pings us (only then is it trusted for routing). */
bool cdht_succ_pred_fresh(const cdht_node *n, int i, uint64_t now);
/* Whether |id| is one of our successors or predecessors. */
bool cdht_succ_is_neighbour(const cdht_node *n, cdht_id id);
/* Our record of peer |id| if it is one of our neighbours (an address to answer at), else none. */
cdht_peer cdht_succ_known(const cdht_node *n, cdht_id id);

void cdht_succ_log_gone(cdht_node *n, cdht_id id, uint64_t now);
bool cdht_succ_maybe_gone(const cdht_node *n, cdht_id id, uint64_t heard_ms);

/* The ring admitted |joiner| right before us (we are handing it its keys): it is our first
 * predecessor from now on, as its first ping would make it, so that keys now its own no longer
 * count as ours if that ping is lost. */
void cdht_succ_admitted(cdht_node *n, uint64_t now, cdht_peer joiner);
int cdht_succ_on_ping(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_succ_on_pong(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_succ_on_query(cdht_node *n, uint64_t now, const cdht_msg *m);

/* Judges the pings whose deadlines passed: probes after a loss, a witness or a verdict at the
 * miss limit.  The node calls it first in its timer, so that a death moves pending requests to
 * the new successor before their own retries are looked at. */
void cdht_succ_judge(cdht_node *n, uint64_t now);
/* Sends the pings that are due.  The node calls it last in its timer. */
void cdht_succ_on_timer(cdht_node *n, uint64_t now);
/* The next ping, or the earliest ping deadline. */
uint64_t cdht_succ_next_deadline(const cdht_node *n);

#endif

/* Stabilization (§8): our first successor is asked for its first predecessor and successors
 * every stabilize_ms, so that joiners, restarted peers and peers wrongly declared dead are
 * taken back, and our second successor follows our first one's first. */
#ifndef CDHT_STABILIZE_H
#define CDHT_STABILIZE_H

#include "node.h"

typedef struct cdht_stabilize {
  uint64_t next_ms;            /* absolute: next stabilization question */
  uint32_t qid;                /* the question in flight (0: none) */
} cdht_stabilize;

/* Asks our first successor now (a successor list entry just took its place: is it there, and what
 * follows it?).  The next round is one interval from now. */
void cdht_stabilize_now(cdht_node *n, uint64_t now);
int cdht_stabilize_on_query(cdht_node *n, uint64_t now, const cdht_msg *m);
int cdht_stabilize_on_reply(cdht_node *n, uint64_t now, const cdht_msg *m);
void cdht_stabilize_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_stabilize_next_deadline(const cdht_node *n);

#endif

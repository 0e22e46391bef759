/* Kill repair (§5): a successor is declared dead; the second moves up and our (new) first
 * successor is asked for its first successor until it names one we may adopt. */
#ifndef CDHT_REPAIR_H
#define CDHT_REPAIR_H

#include "node.h"

typedef struct cdht_repair {
  bool active;
  cdht_peer avoid[2];            /* dead peers that must never be adopted */
  uint32_t first_qid;          /* replies to older queries are stale */
  uint64_t started_ms;         /* when the repair began */
  uint64_t next_ms;            /* absolute: ask again if no acceptable answer by then */
  cdht_peer unheard;           /* the successor whose death began it, if it never answered; else none */
} cdht_repair;

/* Starts a repair (or widens the one under way) that never adopts |dead|. */
void cdht_repair_start(cdht_node *n, uint64_t now, cdht_peer dead);
/* Ends the repair under way: the successors came from elsewhere (a departure, a joiner). */
void cdht_repair_stop(cdht_node *n);
/* The successor in |slot| is dead: says so and repairs. */
void cdht_repair_successor_dead(cdht_node *n, uint64_t now, int slot);
int cdht_repair_on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m);
void cdht_repair_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_repair_next_deadline(const cdht_node *n);

#endif

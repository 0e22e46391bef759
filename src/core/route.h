/* Routing (§3): the next hop for a key.  Without fingers (the classic forms) every request goes
 * to the first successor, as the classic lines say.  With fingers, a key of our first successor
 * goes to it, flagged final; any other key goes to the closest peer we know that precedes it
 * (Chord's closest preceding finger, over the fingers and the successor list), which halves the
 * distance left at every hop.  Only a peer's own first successor is ever flagged final: the rest
 * of a list can be a round behind a join (§11). */
#ifndef CDHT_ROUTE_H
#define CDHT_ROUTE_H

#include <stdbool.h>

#include "node.h"

typedef struct cdht_hop {
  cdht_peer to;  /* the next hop (no peer: we know no successor yet) */
  bool final;    /* |to| is responsible for the key */
  bool finger;   /* |to| is not our first successor */
} cdht_hop;

/* The next hop from us towards the peer responsible for |key|. */
cdht_hop cdht_route_next(const cdht_node *n, uint64_t key);

/* The entry of our successor list responsible for |key| as the list has it, or no peer (|key|
 * is past the list).  Good enough for a finger (a hint: routing never calls it final), not for
 * a final hop. */
cdht_peer cdht_route_list_owner(const cdht_node *n, uint64_t key);

/* The closest peer we know (fingers and successor list) in (self, key), or our first successor
 * if we know none: where a join for id |key| goes, since the peer that precedes it accepts it. */
cdht_peer cdht_route_preceding(const cdht_node *n, uint64_t key);

#endif

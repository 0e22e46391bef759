/* The finger table (Chord §4.3): finger i is the peer responsible for self + 2^i (mod 2^bits).
 * One finger is refreshed every fix_fingers_ms by a lookup of its point (FIND_REQ, routed like a
 * request; the responsible peer answers with FIND_RESP); fingers whose points fall within our
 * successor list are read off the list, and one answer fills every finger whose point it is
 * also responsible for, so a table of 64 entries costs about log2 N lookups a round.  A finger
 * that is declared dead or refuses a connection is forgotten at once. */
#ifndef CDHT_FINGERS_H
#define CDHT_FINGERS_H

#include "node.h"

typedef struct cdht_fingers {
  cdht_peer *f;           /* bits entries (allocated with the node when fingers are on), else NULL */
  unsigned count;         /* entries in f: cfg.bits with fingers on, else 0 */
  unsigned next;          /* the finger the next refresh looks at */
  unsigned asked;         /* the finger the lookup in flight is for */
  uint32_t qid;           /* that lookup's id (0: none in flight) */
  uint64_t next_ms;       /* absolute: the next refresh */
} cdht_fingers;

/* Sets the table up for |n| (allocates it when fingers are on).  Returns 0 or CDHT_ERR_NOMEM. */
int cdht_fingers_init(cdht_node *n, uint64_t now);
void cdht_fingers_clear(cdht_node *n);

/* The point of finger |i|: self + 2^i on our ring. */
uint64_t cdht_fingers_point(const cdht_node *n, unsigned i);

/* Forgets peer |p| (by id) in every finger: it was declared dead. */
void cdht_fingers_forget(cdht_node *n, cdht_peer p);
/* Forgets the record |p| (id and address) in every finger: a connection to it was refused.  Not
 * by id: anyone can make us answer a record with a finger's id at an address that refuses. */
void cdht_fingers_forget_record(cdht_node *n, cdht_peer p);

int cdht_fingers_on_find(cdht_node *n, uint64_t now, const cdht_msg *m);   /* FIND_REQ */
int cdht_fingers_on_found(cdht_node *n, uint64_t now, const cdht_msg *m);  /* FIND_RESP */
void cdht_fingers_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_fingers_next_deadline(const cdht_node *n);

#endif

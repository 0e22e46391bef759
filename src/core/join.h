/* Joining (§8), from every side: our own join through a known peer; the peer a joiner lands
 * after (JOIN_REQ, JOIN_ACK); that peer's predecessor (SUCC_CHANGE, checked by asking); and the
 * joiner's successor, which hands it keys once the ring admitted it (KEYS_REQ, checked by
 * asking). */
#ifndef CDHT_JOIN_H
#define CDHT_JOIN_H

#include "node.h"

typedef struct cdht_join {
  uint32_t seq;                /* our join request's id */
  uint64_t deadline_ms;        /* JOINING: give up then */
  /* A joiner we accepted, adopted only once it echoes our token from its own address (§8): a
   * join request for a peer nobody runs changes nothing. */
  struct { cdht_peer peer; uint32_t seq; uint64_t token, until_ms; } joiner;
  /* A SUCC_CHANGE is applied only once our first successor, asked at its address, names the
   * joiner as its first successor (§8). */
  struct { cdht_peer peer, succ[2]; uint32_t qid; uint64_t until_ms; } change_wait;
  /* A joiner's KEYS_REQ, served once the peer it names as its predecessor, asked at its address,
   * names it as its first successor: only a joiner the ring admitted gets our keys (§9). */
  struct { cdht_peer peer, about; uint64_t token; uint32_t qid; uint64_t next_ms, until_ms; } keys_wait;
  /* Our own KEYS_REQ as a joiner (with lists or fingers): asked again every stabilization round,
   * naming our first predecessor as we know it then, until our successor's KEYS_DONE.  The peer
   * that accepted us may not be our predecessor (a peer between it and us that it did not know
   * yet): our successor, not knowing it, refused the request, and our keys stayed with it. */
  struct { cdht_peer to, about; uint64_t token, next_ms, until_ms; } keys_ask;
} cdht_join;

void cdht_join_init(cdht_node *n);
/* Sends our join request through cfg.join_via (the node is JOINING). */
void cdht_join_start(cdht_node *n, uint64_t now);

int cdht_join_on_request(cdht_node *n, uint64_t now, const cdht_msg *m);     /* JOIN_REQ */
int cdht_join_on_answer(cdht_node *n, uint64_t now, const cdht_msg *m);      /* JOIN_ACCEPT, _REJECT */
int cdht_join_on_ack(cdht_node *n, uint64_t now, const cdht_msg *m);         /* JOIN_ACK */
int cdht_join_on_succ_change(cdht_node *n, uint64_t now, const cdht_msg *m); /* SUCC_CHANGE */
int cdht_join_on_keys_request(cdht_node *n, uint64_t now, const cdht_msg *m); /* KEYS_REQ */
/* A SUCC_REPLY: returns 1 if it answered one of our join questions (handled), 0 if not. */
int cdht_join_on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m);
void cdht_join_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer);
/* JOINING: the join deadline; RUNNING: a joiner's KEYS_REQ asked about again or given up. */
void cdht_join_on_timer(cdht_node *n, uint64_t now);
uint64_t cdht_join_next_deadline(const cdht_node *n);

#endif

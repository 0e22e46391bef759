/* What the node's modules share (not a public header: the I/O layer, the simulator, tests and
 * fuzzers use node.h).
 *
 * A peer is a set of mechanisms, each a module with its own state, message handlers and timer
 * (the way ngtcp2 splits its connection; docs/architecture.md lists them).  struct cdht_node
 * holds one state struct per module plus what they all use: the config, the node's state, the
 * queues, the counters, and the secret-keyed source of ids and tokens.  node.c routes each
 * decoded message to the module that owns its type, fans the timer out and takes the minimum
 * of the modules' deadlines.  Modules reach each other's state through the node: a field
 * another module only reads is read in place; a change that has consequences goes through the
 * owning module's function. */
#ifndef CDHT_NODE_INTERNAL_H
#define CDHT_NODE_INTERNAL_H

#include "node.h"
#include "ratelim.h"

#include "fingers.h"
#include "handover.h"
#include "join.h"
#include "leave.h"
#include "lookup.h"
#include "repair.h"
#include "route.h"
#include "stabilize.h"
#include "store.h"
#include "succ.h"
#include "witness.h"

enum cdht_node_state { CDHT_JOINING, CDHT_RUNNING, CDHT_LEAVING, CDHT_LEFT };

/* One queued output: the message's bytes are in the node's output arena (outbuf). */
typedef struct cdht_queued {
  cdht_transport transport;
  cdht_peer to;
  size_t off, len;
} cdht_queued;

struct cdht_node {
  cdht_config cfg;
  cdht_mem mem;
  cdht_peer self;              /* our own record (cfg.self at cfg.addr) */
  uint64_t mask;               /* 2^bits − 1 */
  enum cdht_node_state state;
  uint32_t next_qid;           /* question ids that need no secrecy (repair, witness, stabilization) */
  uint64_t nonce;              /* counts the ids and tokens derived from cfg.secret */

  cdht_succ succ;              /* successors, their pings, predecessors (succ.c) */
  cdht_witness witness;        /* verdicts waiting for a witness (witness.c) */
  cdht_repair repair;          /* kill repair (repair.c) */
  cdht_lookup lookup;          /* our pending requests and stores (lookup.c) */
  cdht_store store;            /* what we hold and the stores that depend on it (store.c) */
  cdht_handover handover;      /* handover tokens and handovers to joiners (handover.c) */
  cdht_leave leave;            /* our quit, and our successors' (leave.c) */
  cdht_join join;              /* our join, and the joiners we meet (join.c) */
  cdht_stabilize stabilize;    /* stabilization (stabilize.c) */
  cdht_fingers fingers;        /* the finger table (fingers.c) */

  cdht_ratelim udp_limit;      /* per-source datagram budget (§2) */
  cdht_stats stats;
  cdht_queued *outq;           /* the queued outputs: grown on demand up to CDHT_OUTQ_CAP (node.h), like evq */
  size_t out_head, out_count, out_cap;
  uint8_t *outbuf;             /* the queued messages' bytes: grown on demand, emptied with the queue */
  size_t outbuf_len, outbuf_cap;
  cdht_event *evq;             /* the queued events: grown on demand up to CDHT_EVQ_CAP (node.h) */
  size_t ev_head, ev_count, ev_cap;
};

/* ---- shared helpers (node.c) ---- */

/* Counts an input refused for |why|. */
void cdht_node_drop(cdht_node *n, cdht_drop why);

/* Queues |ev|; a full queue drops it (counted as CDHT_DROP_QUEUE; the bound in node.h says why
 * it never is). */
void cdht_node_emit(cdht_node *n, cdht_event ev);
/* Queues |ev| unless an event of its kind is queued already, which it then replaces: for events
 * that only say "read the state again" (CDHT_EV_SUCC_LIST), once per input is enough. */
void cdht_node_emit_once(cdht_node *n, cdht_event ev);
void cdht_node_emit_peer(cdht_node *n, cdht_event_kind kind, cdht_peer peer, const cdht_name *name);

/* Encodes |m| from us (sets m->from: our record of |to|'s address family) and queues it for
 * |to| over |t|.  A peer we have no address of that family for is out of reach: counted, not
 * sent. */
void cdht_node_send(cdht_node *n, cdht_transport t, cdht_peer to, cdht_msg *m);


/* A value nobody without cfg.secret can predict, never 0 (§9). */
uint64_t cdht_node_unguessable(cdht_node *n);

bool cdht_node_valid_id(const cdht_node *n, cdht_id id);

/* Peers are compared by id (ids are unique in a ring; a peer may be known at an address of
 * either family): both "no peer", or both peers with the same id. */
static inline bool cdht_same(cdht_peer a, cdht_peer b) {
  return cdht_peer_known(&a) == cdht_peer_known(&b) && (!cdht_peer_known(&a) || a.id == b.id);
}
static inline bool cdht_known(cdht_peer p) { return cdht_peer_known(&p); }
/* Whether |a| and |b| are the same record: the same id at the same address.  An answer to a
 * question we sent to a record must come from that very record (the answer comes back over the
 * family we asked on, from the peer's own address of it), and a record that only shares a
 * neighbour's id, at an address of someone else's choosing, is not that neighbour. */
static inline bool cdht_exact(cdht_peer a, cdht_peer b) { return cdht_peer_eq(&a, &b); }
static inline bool cdht_is_self(const cdht_node *n, cdht_peer p) { return cdht_same(p, n->self); }
/* Whether |x| lies in (a, b] on our ring (the ids of three known peers, or keys). */
static inline bool cdht_node_between(const cdht_node *n, cdht_id a, cdht_id x, cdht_id b) {
  return cdht_ring_between(a, x, b, n->mask);
}

/* How long a dead successor takes to be declared dead: misses * interval + timeout. */
uint64_t cdht_node_detect_ms(const cdht_node *n);

/* The ring key of |name| (one the ring's rule accepts: checked where it came in). */
uint64_t cdht_node_key_of(const cdht_node *n, const cdht_name *name);

/* The hop count an answer carries: one more than the request's, which any sender may have set to
 * the largest value (it saturates rather than wrap to 0). */
static inline uint16_t cdht_hops_after(uint16_t hops) { return hops < UINT16_MAX ? (uint16_t)(hops + 1) : UINT16_MAX; }

static inline uint64_t cdht_min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

#endif

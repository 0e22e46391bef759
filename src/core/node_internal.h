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

#include "handover.h"
#include "join.h"
#include "leave.h"
#include "lookup.h"
#include "repair.h"
#include "stabilize.h"
#include "store.h"
#include "succ.h"
#include "witness.h"

enum cdht_node_state { CDHT_JOINING, CDHT_RUNNING, CDHT_LEAVING, CDHT_LEFT };

struct cdht_node {
  cdht_config cfg;
  cdht_mem mem;
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

  cdht_ratelim udp_limit;      /* per-source datagram budget (§2) */
  cdht_stats stats;
  cdht_output outq[CDHT_OUTQ_CAP];
  size_t out_head, out_count;
  cdht_event evq[CDHT_EVQ_CAP];
  size_t ev_head, ev_count;
};

/* ---- shared helpers (node.c) ---- */

/* Counts an input refused for |why|. */
void cdht_node_drop(cdht_node *n, cdht_drop why);

/* Queues |ev|; a full queue drops it (counted as CDHT_DROP_QUEUE; the bound in node.h says why
 * it never is). */
void cdht_node_emit(cdht_node *n, cdht_event ev);
void cdht_node_emit_peer(cdht_node *n, cdht_event_kind kind, cdht_id peer, uint16_t file);

/* Encodes |m| from us (sets m->from) and queues it for |to| over |t|. */
void cdht_node_send(cdht_node *n, cdht_transport t, cdht_id to, cdht_msg *m);

/* A value nobody without cfg.secret can predict, never 0 (§9). */
uint64_t cdht_node_unguessable(cdht_node *n);

bool cdht_node_valid_id(const cdht_node *n, cdht_id id);

/* How long a dead successor takes to be declared dead: misses * interval + timeout. */
uint64_t cdht_node_detect_ms(const cdht_node *n);

/* The ring key of |file|. */
uint64_t cdht_node_key_of(const cdht_node *n, uint16_t file);

static inline uint64_t cdht_min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

#endif

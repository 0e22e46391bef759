/* The simulator's agenda: a binary min-heap of events ordered by (time, insertion number), so
 * two events at the same microsecond always run in the order they were scheduled. */
#ifndef CDHT_SCHED_H
#define CDHT_SCHED_H

#include <stddef.h>
#include <stdint.h>


typedef enum sim_ev_kind {
  SIM_START,       /* a peer process starts */
  SIM_TIMER,       /* a peer's node deadline (a = peer index; stale if the deadline moved) */
  SIM_DELIVER,     /* a message arrives (a = from index, b = to index) */
  SIM_UNREACHABLE, /* a TCP message to b could not be delivered; a = sender index */
  SIM_ACTION,      /* a scheduled or random fault or command (a = action index) */
  SIM_CHECK,       /* the network should have settled: check the invariants */
  SIM_LOOKUPS,     /* issue a batch of lookups */
  SIM_XFER,        /* a step of a content transfer (a = giver index, b = receiver index, buf = its state) */
} sim_ev_kind;

#define SIM_EV_STATE 64 /* bytes of an event's own state (a transfer's, an action's argument) */

typedef struct sim_ev {
  uint64_t t_us;            /* when, in simulated microseconds */
  uint64_t seq;             /* tie-breaker: insertion order */
  uint8_t kind;             /* sim_ev_kind */
  uint8_t transport;        /* SIM_DELIVER: cdht_transport */
  uint32_t a, b;            /* see the kind */
  size_t len;               /* SIM_DELIVER: bytes at msg (a size_t: no message length truncates) */
  uint8_t *msg;             /* SIM_DELIVER: the message, a heap copy the event owns: whoever pops the
                             * event frees it (sim_sched_clear frees those never popped) */
  uint8_t buf[SIM_EV_STATE]; /* the kind's state */
} sim_ev;

/* The heap orders small keys, (time, seq, body slot): 24 bytes moved per level instead of the
 * whole event, and an event's body is copied in once and out once.  At 10^4 peers the heap
 * holds about 10^5 events, 17 levels deep. */
typedef struct sim_key {
  uint64_t t_us, seq;
  uint32_t body;            /* index into bodies */
  uint32_t peer;            /* the peer the event is for (b of a delivery, else a): the caller prefetches it */
} sim_key;

typedef struct sim_sched {
  sim_key *heap;
  size_t len, cap;
  sim_ev *bodies;           /* event bodies; the free ones are chained through free_next */
  uint32_t *free_next;      /* for each free body, the next free one (UINT32_MAX: none) */
  uint32_t free_head;       /* first free body (UINT32_MAX: none) */
  size_t nbodies;           /* bodies allocated */
  uint64_t next_seq;
} sim_sched;

void sim_sched_init(sim_sched *s);
void sim_sched_clear(sim_sched *s);
/* Copies |ev| in, stamping its seq.  Returns 0 or -1 when out of memory. */
int sim_sched_push(sim_sched *s, const sim_ev *ev);
/* Pops the earliest event into |out|.  Returns 1, or 0 when empty. */
int sim_sched_pop(sim_sched *s, sim_ev *out);
/* The peer index (sim_key.peer) of the earliest event, or UINT32_MAX when empty. */
uint32_t sim_sched_next_peer(const sim_sched *s);

#endif

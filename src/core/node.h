/* The cdht peer as a sans-I/O state machine (docs/protocol.md §3–§6).
 *
 * A node is fed inputs — a datagram, a TCP frame, a console command, "the time is now T" —
 * each with the current time in milliseconds from a monotonic clock.  Everything it wants
 * done comes back as queued outputs (bytes to send to a peer over UDP or TCP) and typed
 * events (ping received, successor changed, ...), and it says when it next wants to be
 * woken.  It never reads a clock, sleeps, prints or touches a socket, so the same code runs
 * in the `cdht` program and in the simulator.  None of these functions may be called from
 * inside another of them (there are no callbacks). */
#ifndef CDHT_NODE_H
#define CDHT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"
#include "ring.h"
#include "wire/msg.h"

#define CDHT_NEVER UINT64_MAX /* "no deadline" */
#define CDHT_NAMES_MAX 100000 /* default bound of the names a node holds (cfg.max_names) */
#define CDHT_MAX_PENDING 32   /* file requests a node may have in flight at once */
#define CDHT_SUCC_MAX 32      /* the longest successor list (cfg.successors): one wire list (CDHT_LIST_MAX) */
/* The queues are drained after every input, so each holds what one input can cause:
 *  - per pending request (CDHT_MAX_PENDING), at most 2 outputs and 2 events.  One input changes
 *    the first successor at most twice (a timer or an unreachable witness judges both slots
 *    dead: the first death resends every request to the second successor, 1 output and 1
 *    REQUEST_RETRIED each; the second leaves the peer alone, 1 FILE_HERE each, no output, or with
 *    a successor list resends them again to the next live entry, 1 output and 1 event each), and
 *    the timer's own pass over the requests adds 1 retry (1 output, 1 event) or 1 failure
 *    (1 event), and only to a request the deaths did not end or move (a request whose deadline
 *    has come is not resent at a death: it fails in that pass);
 *  - besides those, at most 16 outputs (timer: 2 pings, 2 probes, 4 witness queries, 2 repair
 *    queries, 1 stabilization question; a message handler: at most 3, e.g. a join's accept and
 *    successor change) and 16 events (2 PEER_DEAD, 1 RING_BROKEN or NEVER_ANSWERED, 1 SUCCESSORS, 1 PINGS_SENT;
 *    a message handler: at most 4, e.g. DEPARTING, RING_BROKEN, SUCCESSORS); with fingers, an
 *    unreachable hop re-routes the requests we passed to it (CDHT_FWD_LOG = 8: 8 outputs, 8
 *    events), and the list's changes are one SUCC_LIST per input (cdht_node_emit_once).
 * Hence 2 * 32 + 16 = 80 each (tests/unit/test_node.c provokes the requests' worst case).  An
 * event carries a name (256 bytes), so the event queue is allocated on demand and grows up to
 * its capacity, as the output arena does: an idle node holds none, a busy one what an input
 * caused. */
#define CDHT_QUEUE_OTHER 16
#define CDHT_OUTQ_CAP (2 * CDHT_MAX_PENDING + CDHT_QUEUE_OTHER) /* queued outputs */
#define CDHT_EVQ_CAP (2 * CDHT_MAX_PENDING + CDHT_QUEUE_OTHER)  /* queued events */

typedef struct cdht_config {
  cdht_id self;                 /* this peer's id, below 2^bits */
  cdht_addr addr;               /* where this peer listens (UDP and TCP) */
  cdht_addr alt;                /* and its address of the other family, if it has one (else family NONE):
                                 * a peer that speaks both reaches peers of either (§1) */
  cdht_peer succ[2];            /* first and second successor at start (our own record: alone) */
  uint8_t successors;           /* R, the successor list's length, 2..CDHT_SUCC_MAX (default 2, the classic
                                 * two): the first two are pinged and watched, the rest learned through
                                 * stabilization and taken up at once when one before them dies */
  bool fingers;                 /* route by a finger table (default false: the classic forms pass every
                                 * request to the first successor, as their lines say) */
  uint32_t fix_fingers_ms;      /* with fingers: one finger refreshed this often (0: every stabilize_ms) */
  uint8_t bits;                 /* the ring has 2^bits ids, 1..64 (default 8: the classic 0..255) */
  uint8_t keys;                 /* a name's key: CDHT_KEYS_NUMBERS (default) or CDHT_KEYS_BLAKE2B (§1) */
  bool classic;                 /* the classic forms (default): peer i is at host:base_port+i, and a record
                                 * that says otherwise is refused as spoofed; else addresses come only
                                 * from messages */
  uint32_t host;                /* classic: every peer's IPv4 address, host order (default 127.0.0.1) */
  uint16_t base_port;           /* classic: peer i listens on base_port + i (default 50000) */
  uint32_t ping_interval_ms;    /* time between two pings to a successor (default 1000) */
  uint32_t ping_timeout_ms;     /* a ping unanswered this long is a miss (default 500) */
  uint32_t misses;              /* dead at this many consecutive misses (default 4) */
  uint32_t requery_ms;          /* kill repair: wait before asking again (default 250) */
  uint32_t request_timeout_ms;  /* a file request with no answer fails after this (default 10000) */
  uint32_t leave_timeout_ms;    /* quit: longest wait for the predecessors' confirmations (3000) */
  uint32_t udp_rate;            /* datagrams per second accepted from one source (default 200; 0 = any) */
  bool classic_detector;        /* only the classic rule: no probes, no witness (for comparison) */
  cdht_addr join_via;           /* join through the peer at this address instead of starting with succ[]
                                 * (family CDHT_AF_NONE: no join) */
  uint32_t join_timeout_ms;     /* a join not accepted by then fails (default 5000) */
  uint32_t stabilize_ms;        /* ask the first successor for its predecessor this often (3000; 0 = off) */
  uint32_t transfer_timeout_ms; /* a store whose content is not confirmed by then fails (600000) */
  bool round_events;            /* emit CDHT_EV_PINGS_SENT at each ping round (the 2020 form prints it; false) */
  uint32_t max_names;           /* names whose content this peer may hold at once (CDHT_NAMES_MAX); past
                                 * it a store's content is refused and counted (stats.names_refused) */
  uint8_t secret[16];           /* keys the request ids and content tokens this peer hands out, so that
                                 * nobody else can guess them (§9); the program fills it from
                                 * randombytes, the simulator from its seed */
} cdht_config;

/* Fills |cfg| with the defaults above; self, its address and the successors are left 0. */
void cdht_config_default(cdht_config *cfg);

/* Returns 0 if |cfg| is usable, or CDHT_ERR_INVAL (ids outside the ring, no address, S1 = S2 !=
 * self, S1 = self != S2, our own id at another address, a zero interval or miss count, bits
 * outside 1..64, on the classic forms ports past 65535 or a record off the rule). */
int cdht_config_check(const cdht_config *cfg);

/* Returns the classic address of peer |id|: host:base_port+id. */
cdht_addr cdht_config_addr(const cdht_config *cfg, cdht_id id);

/* Returns the classic record of peer |id|: |id| at cdht_config_addr. */
cdht_peer cdht_config_peer(const cdht_config *cfg, cdht_id id);

/* The classic form `cdht ID S1 S2`: sets self, addr and succ from the rule. */
void cdht_config_classic(cdht_config *cfg, cdht_id self, cdht_id s1, cdht_id s2);

/* Returns this peer's own record under |cfg|. */
cdht_peer cdht_config_self(const cdht_config *cfg);

/* Optional allocator; NULL means libc.  Tests use it to fail an allocation. */
typedef struct cdht_mem {
  void *(*alloc)(void *ctx, size_t size);
  void (*free)(void *ctx, void *p);
  void *ctx;
} cdht_mem;

typedef enum cdht_transport { CDHT_UDP, CDHT_TCP } cdht_transport;

/* Bytes to send.  The caller copies out what it needs before the next node call. */
typedef struct cdht_output {
  cdht_transport transport;
  cdht_peer to;               /* the destination peer and its address (a join's first message: id 0) */
  size_t len;                 /* bytes in buf */
  uint8_t buf[CDHT_MSG_MAX];  /* one encoded message (a TCP frame or a datagram) */
} cdht_output;

typedef enum cdht_event_kind {
  CDHT_EV_PING_REQUEST,    /* peer: a ping request arrived from it */
  CDHT_EV_PING_RESPONSE,   /* peer: a ping response arrived from it */
  CDHT_EV_REQUEST_SENT,    /* name: our request went to our first successor */
  CDHT_EV_REQUEST_FORWARDED, /* name: not ours, passed to our first successor */
  CDHT_EV_FILE_HERE,       /* name: we are responsible for it */
  CDHT_EV_RESPONSE_SENT,   /* name, peer: we answered requester |peer| */
  CDHT_EV_RESPONSE_RECEIVED, /* name, peer: |peer| answered our request */
  CDHT_EV_REQUEST_RETRIED, /* name, peer: resent to our (new) first successor |peer| */
  CDHT_EV_STORE_RETRIED,   /* name, peer: a store resent to our (new) first successor |peer| */
  CDHT_EV_REQUEST_FAILED,  /* name, ms, seq: no answer within ms */
  CDHT_EV_DEPARTING,       /* peer: our successor |peer| is leaving the ring */
  CDHT_EV_SUCCESSORS,      /* succ[0], succ[1]: our successors are now these */
  CDHT_EV_PEER_DEAD,       /* peer: our successor |peer| missed too many pings */
  CDHT_EV_RING_BROKEN,     /* peer: both successors died before a repair finished; |peer| was the last */
  CDHT_EV_NEVER_ANSWERED,  /* succ[0], succ[1] = peer: both declared dead without ever having answered a ping, so
                              this peer stands alone (it was started before, or without, its successors) */
  CDHT_EV_LEAVE_UNCONFIRMED, /* peer: quit went ahead without |peer|'s confirmation */
  CDHT_EV_LEFT,            /* quit is complete (or a join failed): the caller may exit */
  CDHT_EV_JOIN_FORWARDED,  /* peer: a join request of |peer| passed on to our successor */
  CDHT_EV_JOIN_RECEIVED,   /* peer: |peer| joins right after us (our successor lines follow) */
  CDHT_EV_SUCC_CHANGE,     /* our first successor accepted a joiner (our successor lines follow) */
  CDHT_EV_JOIN_ACCEPTED,   /* we are in the ring (our successor lines follow) */
  CDHT_EV_JOIN_FAILED,     /* peer, reason (and for CDHT_JOIN_PARAMS the ring's bits and keys): the join
                              failed; CDHT_EV_LEFT follows */
  CDHT_EV_STORE_FORWARDED, /* name: a store request passed on to our successor */
  CDHT_EV_STORE_ACCEPTED,  /* name, peer, seq: we are responsible; |peer| will send the content */
  CDHT_EV_STORE_UPLOAD,    /* name, peer, seq: send the content of |name| to |peer| now */
  CDHT_EV_STORED,          /* name, peer: the ring holds our file, at |peer|, verified */
  CDHT_EV_STORE_FAILED,    /* name, ms, seq: no peer took the file within ms; content: a peer had
                              accepted it (its upload was started, STORE_UPLOAD) */
  CDHT_EV_HANDOVER,        /* peer, seq = handover id, lo, hi, token: give |peer| the files
                              with keys in (lo, hi], each transfer carrying |token|; the I/O layer reports each
                              file with cdht_node_on_file_handed() and the end with cdht_node_on_handover_done() */
  CDHT_EV_HANDED_OVER,     /* peer, seq = count: our files went to |peer| */
  CDHT_EV_KEYS_RECEIVED,   /* peer, seq = count: |peer| handed us its files */
  CDHT_EV_PINGS_SENT,      /* succ[0], succ[1]: a ping round went to these (no peer: no second);
                              only with cfg.round_events */
  CDHT_EV_SUCC_LIST,       /* seq = entries: the successor list changed past its first two entries
                              (cdht_node_successor_list has it); no line, as the classic output promises */
  CDHT_EV_COUNT
} cdht_event_kind;

typedef struct cdht_event {
  cdht_event_kind kind;
  cdht_peer peer;     /* see the kind */
  cdht_peer succ[2];  /* CDHT_EV_SUCCESSORS */
  cdht_id lo, hi;     /* CDHT_EV_HANDOVER: the keys (lo, hi] */
  uint32_t ms;        /* CDHT_EV_REQUEST_FAILED: the timeout that expired */
  uint8_t reason;     /* CDHT_EV_JOIN_FAILED: cdht_join_failure */
  uint8_t bits, keys; /* CDHT_EV_JOIN_FAILED with CDHT_JOIN_PARAMS: the ring's */
  uint8_t our_bits, our_keys; /* ... and ours */
  bool addr_only;     /* JOIN_FAILED: |peer| is known only by its address (a join through HOST:PORT) */
  bool content;       /* RESPONSE_SENT / _RECEIVED: the file's content follows in a transfer; STORE_FAILED: it
                         had been accepted; FILE_HERE with own: this peer holds the content */
  bool own;           /* FILE_HERE: the request was this peer's own (no response follows) */
  uint32_t seq;       /* REQUEST_SENT / _FAILED, STORE_ACCEPTED / _UPLOAD / _FAILED, RESPONSE_SENT / _RECEIVED:
                         the request's id; HANDOVER: the handover's id */
  uint64_t token;     /* RESPONSE_SENT / _RECEIVED, STORE_ACCEPTED / _UPLOAD, HANDOVER: the token its content carries */
  uint16_t hops;      /* RESPONSE_RECEIVED, STORE_UPLOAD (from a peer): messages the request took to reach the
                         responsible peer; FILE_HERE, STORE_ACCEPTED, RESPONSE_SENT: how many reached us;
                         REQUEST_FORWARDED, STORE_FORWARDED: messages so far, this one included (0 where
                         a request was answered or accepted where it was made) */
  bool finger;        /* REQUEST_FORWARDED, STORE_FORWARDED, JOIN_FORWARDED, REQUEST_SENT: the next hop |peer| is not our
                         first successor (a finger or a later entry of the successor list) */
  cdht_name name;     /* the kinds marked "name": the file's name, valid under the ring's rule (§1) */
} cdht_event;

typedef enum cdht_join_failure {
  CDHT_JOIN_ID_TAKEN = 1,   /* a peer with our id is already in the ring */
  CDHT_JOIN_NO_ANSWER,      /* the known peer refused the connection */
  CDHT_JOIN_TIMEOUT,        /* no answer within join_timeout_ms */
  CDHT_JOIN_PARAMS,         /* the ring's parameters (bits, keys) differ from ours */
} cdht_join_failure;

typedef enum cdht_command_kind { CDHT_CMD_REQUEST, CDHT_CMD_QUIT, CDHT_CMD_STORE } cdht_command_kind;

typedef struct cdht_command {
  cdht_command_kind kind;
  cdht_name name; /* CDHT_CMD_REQUEST, CDHT_CMD_STORE: the file's name, valid under the ring's rule (§1) */
} cdht_command;

/* Why inputs were dropped, counted per reason: every refusal is visible in `status`. */
#define CDHT_DROPS(X)                                                                    \
  X(MALFORMED, "malformed")                                                              \
  X(VERSION, "bad version")                                                              \
  X(TYPE, "bad type")                                                                    \
  X(TRANSPORT, "wrong transport")                                                        \
  X(SPOOFED, "spoofed sender")                                                           \
  X(BADID, "id outside ring")                                                            \
  X(STALE, "stale")                                                                      \
  X(ROLE, "wrong role")                                                                  \
  X(LOOP, "hop limit")                                                                   \
  X(QUEUE, "queue full")                                                                 \
  X(RATE, "rate limited")                                                                \
  X(UNASKED, "not asked for")                                                            \
  X(TOKEN, "wrong token")

typedef enum cdht_drop {
#define CDHT_DROP_ENUM(name, text) CDHT_DROP_##name,
  CDHT_DROPS(CDHT_DROP_ENUM)
#undef CDHT_DROP_ENUM
  CDHT_DROP_COUNT
} cdht_drop;

typedef struct cdht_stats {
  uint64_t pings_sent;        /* ping requests sent (probes included) */
  uint64_t probes_sent;       /* extra pings sent after a lost one (§4) */
  uint64_t witness_queries;   /* verdicts referred to a witness (§4) */
  uint64_t vouched;           /* ... that the witness overturned: false detections avoided */
  uint64_t pongs_received;    /* ping responses received */
  uint64_t pings_received;    /* ping requests received (and answered) */
  uint64_t requests_handled;  /* file requests received */
  uint64_t unroutable;        /* messages not sent: to a peer of an address family we have no address of */
  uint64_t names_refused;     /* names not marked held: cfg.max_names were held already */
  uint64_t answers;           /* our requests answered by the ring (a response received) */
  uint64_t answer_hops;       /* ... and the messages they took in all (status: the mean) */
  uint64_t finger_lookups;    /* finger refreshes sent */
  uint64_t dropped[CDHT_DROP_COUNT]; /* inputs dropped, by reason */
} cdht_stats;

typedef struct cdht_node cdht_node;

/* Allocates a node for |cfg| (copied) at time |now_ms|, using |mem| (copied; NULL for libc).
 * Returns 0 and sets *out, CDHT_ERR_INVAL for a bad config, or CDHT_ERR_NOMEM. */
int cdht_node_new(cdht_node **out, const cdht_config *cfg, const cdht_mem *mem, uint64_t now_ms);
void cdht_node_del(cdht_node *node);

/* Feeds one UDP datagram from |from| (copied); |buf| is borrowed for the call.  Returns 0, or
 * a negative CDHT_ERR_* if it was dropped (the reason is counted in the stats). */
int cdht_node_on_datagram(cdht_node *node, uint64_t now_ms, const cdht_addr *from,
                          const uint8_t *buf, size_t len);

/* Feeds one complete TCP frame (see frame.h); same contract as _on_datagram, but returns
 * CDHT_ANSWERED for a question (SUCC_QUERY, STAB_QUERY, WITNESS_QUERY) from a peer that is none
 * of our neighbours: answered, yet nothing that makes the connection it came on worth keeping
 * (the I/O layer's idle rule, §7). */
#define CDHT_ANSWERED 1
int cdht_node_on_frame(cdht_node *node, uint64_t now_ms, const cdht_addr *from,
                       const uint8_t *buf, size_t len);

/* Tells the node that a TCP message to |peer| could not be delivered (connection refused or
 * reset).  Returns 0. */
int cdht_node_on_unreachable(cdht_node *node, uint64_t now_ms, cdht_peer peer);

/* Marks whether this peer holds the content of |name| (borrowed; the I/O layer, from its data
 * directory).  A response to a request for a held name announces the content.  Returns 0,
 * CDHT_ERR_INVAL for a name not valid under the ring's rule (§1), CDHT_ERR_BUSY when
 * cfg.max_names are held already (counted in stats.names_refused), or CDHT_ERR_NOMEM (the node
 * goes on: the name is only not marked).  Unmarking never fails. */
int cdht_node_set_stored(cdht_node *node, const cdht_name *name, bool stored);
bool cdht_node_is_stored(const cdht_node *node, const cdht_name *name);
/* How many names this peer holds. */
size_t cdht_node_stored_count(const cdht_node *node);

/* The I/O layer received and verified the content of |name| (borrowed) that peer |origin|
 * stored with request |seq| (after CDHT_EV_STORE_ACCEPTED): marks it held and confirms to the
 * storer.  A leaving node passes it on to its successor first and confirms once that one holds
 * it (§6).  Returns 0, CDHT_ERR_INVAL, or an error of cdht_node_set_stored (not confirmed: the
 * storer reports a failed store). */
int cdht_node_on_stored(cdht_node *node, uint64_t now_ms, const cdht_name *name, cdht_peer origin, uint32_t seq);

/* The content of our store |seq| of |file|, accepted by a peer (CDHT_EV_STORE_UPLOAD), could not
 * be delivered (refused, cut, not kept): forgets the request at once instead of at the transfer
 * timeout, so failed uploads do not fill the pending table (§7).  No event: the I/O layer has
 * said why.  Returns 0, or CDHT_ERR_STALE if no such accepted store is pending. */
int cdht_node_on_upload_failed(cdht_node *node, uint64_t now_ms, const cdht_name *name, uint32_t seq);

/* A handover file (CDHT_XFER_HANDOVER) from |from| has arrived and been verified: marks it held.
 * A leaving node passes it on to its successor before it leaves.  Returns 0, or an error of
 * cdht_node_set_stored. */
int cdht_node_on_taken_over(cdht_node *node, uint64_t now_ms, const cdht_name *name, cdht_peer from);

/* One file of a handover reached |peer|, which kept it, and the I/O layer removed exactly that
 * content here: marks it no longer held, and confirms stores that waited for it. */
int cdht_node_on_file_handed(cdht_node *node, uint64_t now_ms, const cdht_name *name, cdht_peer peer);

/* The handover |id| to |peer| asked for by CDHT_EV_HANDOVER is over: |count| files went and
 * |failed| could not be handed over (kept here).  A leaving node tries those again with its
 * current successor until its leave deadline, and leaves only after this (and its
 * predecessors' confirmations). */
int cdht_node_on_handover_done(cdht_node *node, uint64_t now_ms, cdht_peer peer, uint32_t id, uint32_t count,
                               uint32_t failed);

typedef enum cdht_handover_verdict {
  CDHT_HANDOVER_REFUSE = 0, /* not from a peer we gave a token, or not a key it may hand us */
  CDHT_HANDOVER_TAKE,       /* take it: it replaces what is held here */
  CDHT_HANDOVER_OLDER,      /* content stored here since we gave the token is newer: take the
                             * transfer (the giver may drop its copy) but keep ours */
} cdht_handover_verdict;

/* Whether a handover transfer of |file| from |from| carrying |token| may be taken (§9): the
 * token must be one this node gave |from| — in its KEYS_REQ (then for the keys it asked for) or
 * in a KEYS_GRANT after |from| offered its keys (then for keys that are not ours already).
 * |stored_ms| is when a store's content last landed here under that name (0: never): if after
 * the token was given, the store is newer than anything |from| held then; and so is any store's
 * content here when the giver marks its copy |superseded| (it passed a store of that name on to
 * us while leaving, cdht_node_superseded).  A refusal is counted. */
cdht_handover_verdict cdht_node_handover_allowed(cdht_node *node, uint64_t now_ms, cdht_peer from, const cdht_name *name,
                                                 uint64_t token, uint64_t stored_ms, bool superseded);

/* Whether this leaving node passed a store of |file| on to its successor: the copy it hands
 * over is older than that store's content (the transfer header says so). */
bool cdht_node_superseded(const cdht_node *node, const cdht_name *name);

/* Runs a console command.  Returns 0, CDHT_ERR_BUSY when too many requests are pending,
 * CDHT_ERR_NOMEM when the table of pending requests (allocated at the first one) could not be,
 * CDHT_ERR_LEAVING after quit, CDHT_ERR_UNEXPECTED while still joining, or CDHT_ERR_INVAL for
 * a name not valid under the ring's rule (§1: on a CDHT_KEYS_NUMBERS ring, four digits). */
int cdht_node_on_command(cdht_node *node, uint64_t now_ms, const cdht_command *cmd);

/* Does whatever is due by |now_ms|: pings, miss accounting, retries, timeouts.  Returns 0. */
int cdht_node_on_timer(cdht_node *node, uint64_t now_ms);

/* Returns when the node next wants _on_timer, in absolute ms, or CDHT_NEVER. */
uint64_t cdht_node_next_deadline(const cdht_node *node);

/* Pops the oldest queued output into |out|.  Returns 1 if it got one, 0 if the queue is empty. */
int cdht_node_next_output(cdht_node *node, cdht_output *out);

/* Pops the oldest queued event into |ev|.  Returns 1 if it got one, 0 if none. */
int cdht_node_next_event(cdht_node *node, cdht_event *ev);

/* Read-only views for `status` and tests. */
const cdht_config *cdht_node_config(const cdht_node *node);
cdht_peer cdht_node_successor(const cdht_node *node, int i);   /* i is 0 or 1 (asserted); no peer if pending */
cdht_peer cdht_node_predecessor(const cdht_node *node, int i); /* i is 0 or 1 (asserted); no peer if unknown */
/* Copies our successor list, first successor first, into |out| (at most |cap| entries) and
 * returns how many entries it has (pending entries are "no peer"; at most cfg.successors). */
size_t cdht_node_successor_list(const cdht_node *node, cdht_peer *out, size_t cap);
/* Finger |i| (0..bits−1): the peer last found responsible for self + 2^i; no peer if unknown or
 * fingers are off. */
cdht_peer cdht_node_finger(const cdht_node *node, unsigned i);
/* The ring's mask, 2^bits − 1. */
uint64_t cdht_node_mask(const cdht_node *node);
/* Whether |name| (borrowed) is a name under the ring's rule (§1): CDHT_KEYS_NUMBERS, four
 * digits; CDHT_KEYS_BLAKE2B, any valid name. */
bool cdht_node_name_ok(const cdht_node *node, const cdht_name *name);
/* The key of |name| under the ring's rule: NNNN mod 2^bits, or the first 8 bytes of
 * BLAKE2b-256(name) mod 2^bits.  A name the rule refuses has key 0. */
cdht_id cdht_node_name_key(const cdht_node *node, const cdht_name *name);
const cdht_stats *cdht_node_stats(const cdht_node *node);
bool cdht_node_has_left(const cdht_node *node);
size_t cdht_node_size(void); /* bytes one node occupies (the simulator reports memory per peer) */

/* Returns the short text of drop reason |d| ("malformed", ...). */
const char *cdht_drop_name(cdht_drop d);

#endif

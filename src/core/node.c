/* The peer's state machine.  Rules cite docs/protocol.md. */
#include "node.h"

#include <sodium.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cdht/err.h"
#include "fd.h"
#include "ratelim.h"

enum node_state { JOINING, RUNNING, LEAVING, LEFT };
#define DEAD_LOG 4 /* peers recently declared dead or departed, never re-adopted on hearsay */
#define GRANTS 8       /* handover tokens a node keeps in each direction: givers at once, a few */
#define LEAVE_HO_MAX 8 /* handovers a leaving node runs or retries at once: its own keys, and what
                        * reaches it while it leaves (stores it accepted, a neighbour's keys) */

typedef struct pending_req {
  bool used;
  bool store;             /* a store (else a file request) */
  bool accepted;          /* store: a peer took it; waiting for its confirmation */
  uint16_t file;          /* 0..9999 */
  uint32_t id;            /* request id, echoed by the answer */
  uint64_t retry_ms;      /* absolute: resend if still unanswered */
  uint64_t deadline_ms;   /* absolute: give up and say so */
} pending_req;

struct cdht_node {
  cdht_config cfg;
  cdht_mem mem;
  enum node_state state;
  cdht_id succ[2];             /* CDHT_ID_NONE: second successor pending a repair */
  cdht_fd fd[2];               /* failure detector of each successor slot */
  uint64_t heard_ms[2];        /* when each successor last answered a ping (CDHT_NEVER: never) */
  struct {                     /* a verdict waiting for the witnesses' word (§4) */
    bool active;
    cdht_id witness[2];        /* asked; CDHT_ID_NONE once it answered or proved unreachable */
    uint32_t qid;
    uint64_t deadline_ms;      /* absolute: no vouching answer by then means dead */
  } suspect[2];
  cdht_id pred[2];             /* learned from pings; CDHT_ID_NONE until one arrives */
  uint64_t pred_heard_ms[2];   /* when that predecessor last pinged us */
  cdht_id pred_was2;           /* the last peer another second predecessor displaced (CDHT_ID_NONE) */
  uint64_t pred_was2_ms;       /* when it last pinged us as second */
  cdht_id pred_was1;           /* the last first predecessor another pinger displaced (CDHT_ID_NONE) */
  uint64_t pred_was1_ms;       /* when it last pinged us as first */
  uint64_t next_ping_ms;       /* absolute */

  struct {                     /* kill repair (§5): asking succ[0] for its first successor */
    bool active;
    cdht_id avoid[2];          /* dead peers that must never be adopted */
    uint32_t first_qid;        /* replies to older queries are stale */
    uint64_t started_ms;       /* when the repair began */
    uint64_t next_ms;          /* absolute: ask again if no acceptable answer by then */
    cdht_id unheard;           /* the successor whose death began it, if it never answered; else NONE */
  } repair;
  uint32_t next_qid;

  pending_req reqs[CDHT_MAX_PENDING];
  uint64_t nonce;              /* counts the ids and tokens derived from cfg.secret */

  /* Stores that reached us while leaving: confirmed to their storer only once our successor
   * holds the content (§6), so that "stored at peer P" is never said of a file about to leave
   * with us. */
  struct { bool used; uint16_t file; cdht_id origin; uint32_t seq; } acks[CDHT_MAX_PENDING];
  /* Stores we accepted whose content has not arrived: a quit waits for them (until its
   * deadline), so that content on its way to us is passed on, not cut off. */
  struct { bool used; cdht_id origin; uint32_t seq; uint64_t until_ms; } awaiting[CDHT_MAX_PENDING];
  uint32_t next_ho;            /* handover ids (CDHT_EV_HANDOVER's seq) */
  struct leave_ho {            /* a handover of a leaving node: under way, or waiting to be retried */
    bool used, running;
    bool granting;             /* running, but waiting for the successor's KEYS_GRANT */
    bool own;                  /* our own keys: the quit says how many went, even none */
    uint32_t id;
    cdht_id lo, hi;            /* keys in (lo, hi] */
    uint64_t retry_ms;         /* !running: try again then, with our successor of that time */
  } leave_ho[LEAVE_HO_MAX];
  bool pass_all;               /* content reached us while leaving with every slot busy: once one is
                                * free, everything still here goes (a range of the whole ring) */
  /* A joiner's KEYS_REQ, served once the peer it names as its predecessor, asked at its address,
   * names it as its first successor: only a joiner the ring admitted gets our keys (§9). */
  struct { cdht_id peer, about; uint64_t token; uint32_t qid; uint64_t next_ms, until_ms; } keys_wait;
  /* Handover tokens (§9).  A peer that may receive keys hands a token to the giver's address (in
   * KEYS_REQ, or KEYS_GRANT after a KEYS_OFFER); the giver's transfers and KEYS_DONE carry it, so
   * nobody else can hand it keys in the giver's name. */
  struct grant_in {            /* tokens we gave: whose keys we take */
    cdht_id peer;              /* CDHT_ID_NONE: free */
    cdht_id about;             /* joined: we asked for (about, self]; else the giver's keys, not ours */
    bool joined;
    uint64_t token, until_ms;
    uint64_t granted_ms;       /* when: content a store brought here since is newer than the giver's */
  } grants_in[GRANTS];
  struct { cdht_id peer, about; bool leave; uint64_t token, until_ms, since_ms; } grants_out[GRANTS]; /* tokens we were given:
                                * leave = for our keys (KEYS_GRANT), else for a joiner's (its KEYS_REQ) */
  unsigned other_ho;           /* handovers to a joiner under way: a quit waits for them too */
  /* Names whose store we passed on to our successor while leaving: the copy we hand over is
   * older than that store's content, and says so (§6). */
  uint16_t superseded[CDHT_MAX_PENDING];
  unsigned nsuperseded;
  /* A leaving node's "N files handed over" message waits for its predecessors' confirmations,
   * so that a successor that is also a predecessor hears of the departure first (§6). */
  struct { cdht_id peer; uint32_t count; uint64_t token; } keys_done_later[LEAVE_HO_MAX];
  unsigned nkeys_done_later;

  /* A joiner we accepted, adopted only once it echoes our token from its own address (§8): a
   * join request for a peer nobody runs changes nothing. */
  struct { cdht_id peer; uint32_t seq; uint64_t token, until_ms; } joiner;
  /* A successor's departure (DEPART) is applied only once the peer at its address confirms it
   * with our token (DEPART_CONFIRM), one per successor slot (§6). */
  struct { cdht_id peer, succ[2]; uint64_t token, until_ms; } depart_wait[2];
  /* A SUCC_CHANGE is applied only once our first successor, asked at its address, names the
   * joiner as its first successor (§8). */
  struct { cdht_id peer, succ[2]; uint32_t qid; uint64_t until_ms; } change_wait;

  struct { cdht_id peer; bool waiting; } leave[2]; /* quit (§6): who must confirm */
  uint64_t leave_deadline_ms;
  cdht_id departed;            /* last successor whose departure we applied */
  struct { cdht_id id; uint64_t t_ms; } dead_log[DEAD_LOG]; /* when we declared each gone */
  unsigned ndead;
  uint32_t join_seq;           /* our join request's id */
  uint64_t join_deadline_ms;   /* JOINING: give up then */
  uint64_t next_stab_ms;       /* absolute: next stabilization question */
  uint32_t stab_qid;           /* the question in flight (0: none) */

  cdht_ratelim udp_limit;      /* per-source datagram budget (§2) */
  uint8_t stored[(CDHT_FILE_MAX + 8) / 8]; /* files whose content this peer holds (§9) */
  cdht_stats stats;
  cdht_output outq[CDHT_OUTQ_CAP];
  size_t out_head, out_count;
  cdht_event evq[CDHT_EVQ_CAP];
  size_t ev_head, ev_count;
};

/* ---- configuration ---- */

void cdht_config_default(cdht_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->ring_size = 256;
  cfg->host = 0x7f000001u;
  cfg->base_port = 50000;
  /* Detection takes at most misses * interval + timeout = 4 * 1000 + 500 = 4.5 s after the
   * last answered ping, so a kill is detected and repaired within 5 s. */
  cfg->ping_interval_ms = 1000;
  cfg->ping_timeout_ms = 500;
  cfg->misses = 4;
  cfg->requery_ms = 250;
  cfg->request_timeout_ms = 10000;
  cfg->leave_timeout_ms = 3000;
  /* A predecessor sends about 2 pings a second, more with a fast profile and probes; 200/s
   * with a burst of 400 never touches honest traffic and caps what one source can cost. */
  cfg->udp_rate = 200;
  cfg->join_via = CDHT_ID_NONE;
  cfg->join_timeout_ms = 5000;
  cfg->stabilize_ms = 3000;
  cfg->transfer_timeout_ms = 600000;
}

int cdht_config_check(const cdht_config *c) {
  if (c->ring_size == 0 || c->ring_size > (uint64_t)1 << 62) return CDHT_ERR_INVAL;
  if (c->self >= c->ring_size || c->succ[0] >= c->ring_size || c->succ[1] >= c->ring_size)
    return CDHT_ERR_INVAL;
  if (c->join_via != CDHT_ID_NONE && (c->join_via >= c->ring_size || c->join_via == c->self || !c->join_timeout_ms))
    return CDHT_ERR_INVAL;
  if (c->succ[0] == c->succ[1] && c->succ[0] != c->self) return CDHT_ERR_INVAL; /* S1 = S2 != ID */
  if (c->succ[0] == c->self && c->succ[1] != c->self) return CDHT_ERR_INVAL;   /* S1 = ID only alone */
  if ((uint64_t)c->base_port + c->ring_size - 1 > 65535) return CDHT_ERR_INVAL;
  if (c->ping_interval_ms == 0 || c->ping_timeout_ms == 0 || c->misses == 0) return CDHT_ERR_INVAL;
  if (c->ping_timeout_ms > (uint64_t)c->ping_interval_ms * (CDHT_FD_WINDOW - 1)) return CDHT_ERR_INVAL;
  if (c->requery_ms == 0 || c->request_timeout_ms == 0 || c->leave_timeout_ms == 0)
    return CDHT_ERR_INVAL;
  return 0;
}

cdht_addr cdht_config_addr(const cdht_config *cfg, cdht_id id) {
  cdht_addr a = { cfg->host, (uint16_t)(cfg->base_port + id) };
  return a;
}

/* ---- queues ---- */

static void drop(cdht_node *n, cdht_drop why) { n->stats.dropped[why]++; }

static void emit(cdht_node *n, cdht_event ev) {
  if (n->ev_count == CDHT_EVQ_CAP) { drop(n, CDHT_DROP_QUEUE); return; }
  n->evq[(n->ev_head + n->ev_count++) % CDHT_EVQ_CAP] = ev;
}

static void emit_peer(cdht_node *n, cdht_event_kind kind, cdht_id peer, uint16_t file) {
  cdht_event ev = { .kind = kind, .peer = peer, .file = file };
  emit(n, ev);
}

/* A value nobody without cfg.secret can predict: SipHash-2-4 of a counter (§9).  Request ids
 * and content tokens come from here, so that a party that sees none of our messages cannot
 * answer for a peer it is not. */
static uint64_t unguessable(cdht_node *n) {
  uint8_t in[8], out[crypto_shorthash_BYTES];
  uint64_t c = ++n->nonce;
  for (int i = 0; i < 8; i++) in[i] = (uint8_t)(c >> (8 * i));
  crypto_shorthash(out, in, sizeof in, n->cfg.secret);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | out[i];
  return v ? v : 1; /* 0 means "no token" */
}

/* ---- handover tokens (§9) ---- */

/* A token for |peer| to hand us keys with; replaces its older one, else a free or the oldest slot. */
static uint64_t grant_in(cdht_node *n, uint64_t now, cdht_id peer, bool joined, cdht_id about) {
  struct grant_in *g = NULL;
  for (int i = 0; i < GRANTS && !g; i++)
    if (n->grants_in[i].peer == peer && n->grants_in[i].joined == joined) g = &n->grants_in[i];
  /* Offered again (its first try failed): the same token, and the same time — stores that came
   * here since the first offer are newer than anything it holds. */
  if (g && !joined && now < g->until_ms && g->about == about) return g->token;
  for (int i = 0; i < GRANTS && !g; i++)
    if (n->grants_in[i].peer == CDHT_ID_NONE || now >= n->grants_in[i].until_ms) g = &n->grants_in[i];
  for (int i = 0; i < GRANTS; i++)
    if (!g || n->grants_in[i].until_ms < g->until_ms) g = &n->grants_in[i];
  *g = (struct grant_in){ .peer = peer, .about = about, .joined = joined, .token = unguessable(n),
                          .until_ms = now + n->cfg.transfer_timeout_ms, .granted_ms = now };
  return g->token;
}

static const struct grant_in *find_grant_in(const cdht_node *n, uint64_t now, cdht_id peer, uint64_t token) {
  for (int i = 0; i < GRANTS; i++)
    if (n->grants_in[i].peer == peer && n->grants_in[i].token == token && now < n->grants_in[i].until_ms)
      return &n->grants_in[i];
  return NULL;
}

static void grant_out(cdht_node *n, uint64_t now, cdht_id peer, bool leave, uint64_t token) {
  int k = 0;
  for (int i = 0; i < GRANTS; i++) {
    if (n->grants_out[i].peer == peer && n->grants_out[i].leave == leave) { k = i; break; }
    if (n->grants_out[i].until_ms < n->grants_out[k].until_ms) k = i;
  }
  n->grants_out[k].peer = peer;
  n->grants_out[k].leave = leave;
  n->grants_out[k].token = token;
  n->grants_out[k].until_ms = token ? now + n->cfg.transfer_timeout_ms : 0;
  n->grants_out[k].since_ms = now;
}

/* The token |peer| gave us to hand it keys (ours when |leave|, else the keys it asked for), or 0. */
static uint64_t token_for(const cdht_node *n, uint64_t now, cdht_id peer, bool leave) {
  for (int i = 0; i < GRANTS; i++)
    if (n->grants_out[i].peer == peer && n->grants_out[i].leave == leave && now < n->grants_out[i].until_ms)
      return n->grants_out[i].token;
  return 0;
}

/* Our own request ends here: we are responsible for |file|.  Says whether we hold it. */
static void emit_own_here(cdht_node *n, uint16_t file) {
  cdht_event ev = { .kind = CDHT_EV_FILE_HERE, .peer = n->cfg.self, .file = file, .own = true,
                    .content = cdht_node_is_stored(n, file) };
  emit(n, ev);
}

static void send_msg(cdht_node *n, cdht_transport t, cdht_id to, cdht_msg *m) {
  if (n->out_count == CDHT_OUTQ_CAP) { drop(n, CDHT_DROP_QUEUE); return; }
  cdht_output *o = &n->outq[(n->out_head + n->out_count) % CDHT_OUTQ_CAP];
  m->from = n->cfg.self;
  cdht_ssize len = cdht_msg_encode(o->buf, sizeof o->buf, m);
  if (len < 0) return; /* cannot happen: every type fits CDHT_MSG_MAX (tested) */
  o->transport = t;
  o->to = to;
  o->addr = cdht_config_addr(&n->cfg, to);
  o->len = (size_t)len;
  n->out_count++;
}

/* ---- helpers ---- */

static bool valid_id(const cdht_node *n, cdht_id id) { return id < n->cfg.ring_size; }

static uint64_t detect_ms(const cdht_node *n) {
  return (uint64_t)n->cfg.misses * n->cfg.ping_interval_ms + n->cfg.ping_timeout_ms;
}

/* A predecessor is trusted for routing only while it keeps pinging us. */
static bool pred_fresh(const cdht_node *n, int i, uint64_t now) {
  return n->pred[i] != CDHT_ID_NONE && now - n->pred_heard_ms[i] <= detect_ms(n);
}

static void emit_successors(cdht_node *n) {
  cdht_event ev = { .kind = CDHT_EV_SUCCESSORS, .succ = { n->succ[0], n->succ[1] } };
  emit(n, ev);
}

static void send_request(cdht_node *n, pending_req *r) {
  cdht_id key = cdht_ring_key(r->file, n->cfg.ring_size);
  cdht_msg m = { .type = r->store ? CDHT_MSG_STORE_REQ : CDHT_MSG_FILE_REQ, .origin = n->cfg.self, .seq = r->id,
                 .file = r->file };
  if (cdht_ring_between(n->cfg.self, key, n->succ[0], n->cfg.ring_size)) m.flags = CDHT_REQ_FINAL;
  send_msg(n, CDHT_TCP, n->succ[0], &m);
}

/* Installs new successors, keeping each surviving peer's failure-detector history, and resends
 * pending requests when the first successor changed (they may have gone to a dead peer).  A
 * peer left alone holds every key (§1), so it answers them itself instead. */
static void set_successors(cdht_node *n, uint64_t now, cdht_id a, cdht_id b) {
  cdht_id old[2] = { n->succ[0], n->succ[1] };
  cdht_fd oldfd[2] = { n->fd[0], n->fd[1] };
  cdht_id now_succ[2] = { a, b };
  uint64_t oldheard[2] = { n->heard_ms[0], n->heard_ms[1] };
  for (int i = 0; i < 2; i++) {
    cdht_fd_reset(&n->fd[i]);
    n->heard_ms[i] = CDHT_NEVER;
    n->suspect[i].active = false;
    for (int j = 0; j < 2; j++)
      if (now_succ[i] != CDHT_ID_NONE && now_succ[i] == old[j]) {
        n->fd[i] = oldfd[j];
        n->heard_ms[i] = oldheard[j];
      }
  }
  n->succ[0] = a;
  n->succ[1] = b;
  /* A departed peer that is our successor again has rejoined: its next departure is new. */
  if (n->departed == a || n->departed == b) n->departed = CDHT_ID_NONE;
  if (a != old[0]) {
    for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
      pending_req *r = &n->reqs[i];
      if (!r->used || r->accepted) continue;
      if (a == n->cfg.self && r->store) continue; /* the timer reports it: no one to hold it */
      if (a == n->cfg.self) {
        /* Not resent: that would address ourselves, the message would be dropped as from
         * ourselves, and the request would end in a failure for a key we hold. */
        r->used = false;
        emit_own_here(n, r->file);
        continue;
      }
      send_request(n, r);
      r->retry_ms = now + n->cfg.request_timeout_ms / 2;
      emit_peer(n, r->store ? CDHT_EV_STORE_RETRIED : CDHT_EV_REQUEST_RETRIED, a, r->file);
    }
  }
}

/* ---- peers we know are gone (§8) ---- */

static void log_gone(cdht_node *n, cdht_id id, uint64_t now) {
  n->dead_log[n->ndead % DEAD_LOG].id = id;
  n->dead_log[n->ndead % DEAD_LOG].t_ms = now;
  n->ndead++;
}

/* Whether |id| may be gone: we declared it dead (or saw it depart) after, or less than a ping
 * interval before, |heard_ms|, the last time anyone says they heard from it.  The interval
 * covers a ping still in flight when a peer decided to leave. */
static bool maybe_gone(const cdht_node *n, cdht_id id, uint64_t heard_ms) {
  unsigned k = n->ndead < DEAD_LOG ? n->ndead : DEAD_LOG;
  for (unsigned i = 0; i < k; i++)
    if (n->dead_log[i].id == id && n->dead_log[i].t_ms + n->cfg.ping_interval_ms >= heard_ms) return true;
  return false;
}

/* ---- kill repair (§5) ---- */

static void send_query(cdht_node *n, uint64_t now) {
  cdht_msg m = { .type = CDHT_MSG_SUCC_QUERY, .seq = ++n->next_qid };
  send_msg(n, CDHT_TCP, n->succ[0], &m);
  n->repair.next_ms = now + n->cfg.requery_ms;
}

static void start_repair(cdht_node *n, uint64_t now, cdht_id dead) {
  if (!n->repair.active) {
    n->repair.active = true;
    n->repair.avoid[0] = n->repair.avoid[1] = CDHT_ID_NONE;
    n->repair.first_qid = n->next_qid + 1;
    n->repair.started_ms = now;
    n->repair.unheard = CDHT_ID_NONE;
  }
  n->repair.avoid[n->repair.avoid[0] == CDHT_ID_NONE ? 0 : 1] = dead;
  send_query(n, now);
}

static void successor_dead(cdht_node *n, uint64_t now, int slot) {
  cdht_id dead = n->succ[slot];
  bool never = n->heard_ms[slot] == CDHT_NEVER; /* it never answered a ping of ours */
  emit_peer(n, CDHT_EV_PEER_DEAD, dead, 0);
  log_gone(n, dead, now);
  if (slot == 0) {
    if (n->succ[1] == CDHT_ID_NONE) {
      /* Both successors lost before the repair finished: with two successors the ring
       * cannot be mended from here (§5).  Say so and carry on as a ring of one.  If neither
       * ever answered, they did not die: they were never there (a peer started alone). */
      if (never && n->repair.active && n->repair.unheard != CDHT_ID_NONE) {
        cdht_event ev = { .kind = CDHT_EV_NEVER_ANSWERED, .peer = dead, .succ = { n->repair.unheard, dead } };
        emit(n, ev);
      } else {
        emit_peer(n, CDHT_EV_RING_BROKEN, dead, 0);
      }
      n->repair.active = false;
      set_successors(n, now, n->cfg.self, n->cfg.self);
      emit_successors(n);
      return;
    }
    if (n->succ[1] == n->cfg.self) { /* a two-peer ring loses its other peer */
      n->repair.active = false;
      set_successors(n, now, n->cfg.self, n->cfg.self);
      emit_successors(n);
      return;
    }
    set_successors(n, now, n->succ[1], CDHT_ID_NONE); /* move the second successor up */
  } else {
    set_successors(n, now, n->succ[0], CDHT_ID_NONE);
  }
  bool fresh = !n->repair.active;
  start_repair(n, now, dead);
  if (fresh && never) n->repair.unheard = dead;
  else if (!never) n->repair.unheard = CDHT_ID_NONE;
}

static int on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (!n->repair.active || m->from != n->succ[0] || (int32_t)(m->seq - n->repair.first_qid) < 0) {
    drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  cdht_id a = m->succ[0];
  if (!valid_id(n, a)) { drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  /* Never adopt a dead peer: a first successor that has not repaired yet names it, and its
   * own name as its successor means it has not caught up either; ask again later.  But a
   * successor that still names the peer a whole detection period later has kept hearing from
   * it: the peer is alive and our verdict was a false one (lost pings), so take it back. */
  bool vouched = now - n->repair.started_ms > detect_ms(n) + n->cfg.ping_interval_ms;
  if (a == n->succ[0] || ((a == n->repair.avoid[0] || a == n->repair.avoid[1]) && !vouched)) return 0;
  n->repair.active = false;
  set_successors(n, now, n->succ[0], a);
  emit_successors(n);
  return 0;
}

/* Installs the successors a joiner or a predecessor was told.  A pair naming the same peer
 * twice means the sender did not know the second one (it was repairing): ask for it, never
 * accepting the peers in |avoid1| and |avoid2| (gone, as far as the sender or we know). */
static void take_successors(cdht_node *n, uint64_t now, cdht_id a, cdht_id b, cdht_id avoid1, cdht_id avoid2) {
  if (a == n->cfg.self) b = a;
  if (b == a && a != n->cfg.self) {
    set_successors(n, now, a, CDHT_ID_NONE);
    start_repair(n, now, avoid1);
    if (avoid2 != CDHT_ID_NONE) start_repair(n, now, avoid2);
    return;
  }
  set_successors(n, now, a, b);
  emit_successors(n);
}

/* ---- quit (§6) ---- */

static void finish_leave(cdht_node *n) {
  n->state = LEFT;
  emit_peer(n, CDHT_EV_LEFT, CDHT_ID_NONE, 0);
}

static bool handing_over(const cdht_node *n) {
  for (int i = 0; i < LEAVE_HO_MAX; i++)
    if (n->leave_ho[i].used) return true;
  return n->other_ho > 0;
}

/* Content of a store we accepted is still on its way (and our leave deadline has not passed). */
static bool awaiting_content(const cdht_node *n) {
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++)
    if (n->awaiting[i].used && n->awaiting[i].until_ms > n->leave_deadline_ms - n->cfg.leave_timeout_ms) return true;
  return false;
}

static void send_keys_done(cdht_node *n, cdht_id peer, uint32_t count, uint64_t token) {
  cdht_msg done = { .type = CDHT_MSG_KEYS_DONE, .seq = count, .token = token };
  send_msg(n, CDHT_TCP, peer, &done);
}

static void check_leave_done(cdht_node *n) {
  if (n->state == LEAVING && !n->leave[0].waiting && !n->leave[1].waiting) {
    for (unsigned i = 0; i < n->nkeys_done_later; i++)
      send_keys_done(n, n->keys_done_later[i].peer, n->keys_done_later[i].count, n->keys_done_later[i].token);
    n->nkeys_done_later = 0;
  }
  if (n->state == LEAVING && !n->leave[0].waiting && !n->leave[1].waiting && !handing_over(n) &&
      !awaiting_content(n))
    finish_leave(n);
}

/* Runs handover |h| to our first successor: at once with the token it gave us, else once it
 * grants one (KEYS_OFFER, then KEYS_GRANT to our address; on_keys_grant). */
static void run_leave_handover(cdht_node *n, uint64_t now, struct leave_ho *h) {
  h->running = true;
  h->id = ++n->next_ho;
  uint64_t token = token_for(n, now, n->succ[0], true);
  if (!token) {
    h->granting = true;
    h->retry_ms = now + 4 * n->cfg.requery_ms;
    cdht_msg offer = { .type = CDHT_MSG_KEYS_OFFER, .about = h->lo };
    send_msg(n, CDHT_TCP, n->succ[0], &offer);
    return;
  }
  h->granting = false;
  cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = n->succ[0], .seq = h->id, .succ = { h->lo, h->hi },
                    .token = token };
  emit(n, ev);
}

/* Our first successor answers for the keys (lo, hi] from now on (§9).  Ranges already on their
 * way are not sent twice: the I/O layer sends again a file that changed while it was sent. */
static struct leave_ho *start_leave_handover(cdht_node *n, uint64_t now, cdht_id lo, cdht_id hi) {
  struct leave_ho *free_slot = NULL;
  for (int i = 0; i < LEAVE_HO_MAX; i++) {
    struct leave_ho *h = &n->leave_ho[i];
    if (h->used && !h->running && h->lo == lo && h->hi == hi) return h; /* a retry will take it */
    if (!h->used && !free_slot) free_slot = h;
  }
  if (!free_slot) return NULL; /* more than we can follow: the files stay in the data directory */
  *free_slot = (struct leave_ho){ .used = true, .lo = lo, .hi = hi };
  run_leave_handover(n, now, free_slot);
  return free_slot;
}

static void start_leave(cdht_node *n, uint64_t now) {
  cdht_id self = n->cfg.self;
  cdht_id s1 = n->succ[0], s2 = n->succ[1];
  if (s2 == CDHT_ID_NONE || s2 == self) s2 = s1;       /* a repair in flight, or a two-peer ring */
  /* Only predecessors that still ping us: a stale entry may name a peer long gone. */
  cdht_id p1 = pred_fresh(n, 0, now) ? n->pred[0] : CDHT_ID_NONE;
  cdht_id p2 = pred_fresh(n, 1, now) ? n->pred[1] : CDHT_ID_NONE;
  n->state = LEAVING;
  n->leave[0].waiting = n->leave[1].waiting = false;
  n->leave_deadline_ms = now + n->cfg.leave_timeout_ms;
  if (s1 != self) {
    /* Everything we hold goes, not only (p1, self]: content we hold for a key before p1 (a
     * predecessor we do not know yet, a race) would otherwise leave with us (simulator seed
     * 4424, fast profile with --store-races).  Our successor is the best holder left. */
    (void)p1;
    struct leave_ho *h = start_leave_handover(n, now, self, self);
    if (h) h->own = true;
  }
  if (p1 != CDHT_ID_NONE && p1 != self) {
    /* The first predecessor takes our successors.  If it is our own first successor, the
     * ring is just the two of us and it stays alone. */
    cdht_msg m = { .type = CDHT_MSG_DEPART, .succ = { s1, s2 } };
    if (s1 == p1) m.succ[1] = p1;
    send_msg(n, CDHT_TCP, p1, &m);
    n->leave[0].peer = p1;
    n->leave[0].waiting = true;
  }
  if (p2 != CDHT_ID_NONE && p2 != self && p2 != p1) {
    if (p1 != CDHT_ID_NONE && p1 != self) {
      /* The second predecessor keeps its first successor (our first predecessor). */
      cdht_msg m = { .type = CDHT_MSG_DEPART, .succ = { p1, s1 } };
      send_msg(n, CDHT_TCP, p2, &m);
      n->leave[1].peer = p2;
      n->leave[1].waiting = true;
    } else {
      emit_peer(n, CDHT_EV_LEAVE_UNCONFIRMED, p2, 0);
    }
  }
  check_leave_done(n);
}

static void leave_target_gone(cdht_node *n, cdht_id peer) {
  for (int i = 0; i < 2; i++) {
    if (n->leave[i].waiting && n->leave[i].peer == peer) {
      n->leave[i].waiting = false;
      emit_peer(n, CDHT_EV_LEAVE_UNCONFIRMED, peer, 0);
    }
  }
  check_leave_done(n);
}

static void apply_departure(cdht_node *n, uint64_t now, cdht_id from, cdht_id a, cdht_id b);

/* A successor says it leaves: answered with a token that only the peer at its address sees; the
 * departure counts once it echoes it (a DEPART in the name of a peer that stays changes
 * nothing). */
static int on_depart(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };
  if (m->from == n->departed) { /* a repeat: acknowledge again, change nothing */
    send_msg(n, CDHT_TCP, m->from, &ack);
    return 0;
  }
  if (m->from != n->succ[0] && m->from != n->succ[1]) { drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  cdht_id a = m->succ[0], b = m->succ[1];
  if (!valid_id(n, a) || !valid_id(n, b) || a == m->from || b == m->from) {
    drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  int slot = n->depart_wait[0].peer == m->from ? 0 : n->depart_wait[1].peer == m->from ? 1 : -1;
  for (int i = 0; i < 2 && slot < 0; i++)
    if (n->depart_wait[i].peer == CDHT_ID_NONE || now >= n->depart_wait[i].until_ms) slot = i;
  if (slot < 0) slot = m->from == n->succ[0] ? 0 : 1; /* both taken: ours are at most two successors */
  n->depart_wait[slot].peer = m->from;
  n->depart_wait[slot].succ[0] = a;
  n->depart_wait[slot].succ[1] = b;
  n->depart_wait[slot].token = ack.token = unguessable(n);
  n->depart_wait[slot].until_ms = now + n->cfg.leave_timeout_ms;
  send_msg(n, CDHT_TCP, m->from, &ack);
  return 0;
}

static int on_depart_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (n->depart_wait[i].peer != m->from || now >= n->depart_wait[i].until_ms) continue;
    if (m->token != n->depart_wait[i].token) { drop(n, CDHT_DROP_TOKEN); return CDHT_ERR_STALE; }
    n->depart_wait[i].peer = CDHT_ID_NONE;
    if (m->from != n->succ[0] && m->from != n->succ[1]) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
    apply_departure(n, now, m->from, n->depart_wait[i].succ[0], n->depart_wait[i].succ[1]);
    return 0;
  }
  drop(n, CDHT_DROP_UNASKED);
  return CDHT_ERR_STALE;
}

static void apply_departure(cdht_node *n, uint64_t now, cdht_id from, cdht_id a, cdht_id b) {
  if (a == n->cfg.self) b = n->cfg.self; /* alone now */
  emit_peer(n, CDHT_EV_DEPARTING, from, 0);
  n->departed = from;
  log_gone(n, from, now);
  n->repair.active = false;
  for (int i = 0; i < 2; i++)
    if (n->pred[i] == from) n->pred[i] = CDHT_ID_NONE; /* it precedes us too: a small ring */
  /* Neighbours leaving at once hand on each other: never take a peer we know has just gone. */
  uint64_t recent = now > 2 * detect_ms(n) ? now - 2 * detect_ms(n) : 0;
  cdht_id gone = CDHT_ID_NONE;
  if (a != n->cfg.self && maybe_gone(n, a, recent)) { gone = a; a = b; b = CDHT_ID_NONE; }
  if (b != n->cfg.self && b != CDHT_ID_NONE && maybe_gone(n, b, recent)) { gone = b; b = CDHT_ID_NONE; }
  if (a == CDHT_ID_NONE || (a != n->cfg.self && maybe_gone(n, a, recent))) {
    emit_peer(n, CDHT_EV_RING_BROKEN, from, 0);
    a = b = n->cfg.self;
  }
  take_successors(n, now, a, b == CDHT_ID_NONE ? a : b, from, gone);
}

/* ---- file requests (§3) ---- */

static pending_req *find_request(cdht_node *n, uint32_t id) {
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++)
    if (n->reqs[i].used && n->reqs[i].id == id) return &n->reqs[i];
  return NULL;
}

static uint64_t key_of(const cdht_node *n, uint16_t file) { return cdht_ring_key(file, n->cfg.ring_size); }


static int start_request(cdht_node *n, uint64_t now, uint16_t file, bool store) {
  if (file > CDHT_FILE_MAX) return CDHT_ERR_INVAL;
  cdht_id self = n->cfg.self, key = cdht_ring_key(file, n->cfg.ring_size);
  bool ours = n->succ[0] == self || (pred_fresh(n, 0, now) && cdht_ring_between(n->pred[0], key, self, n->cfg.ring_size));
  if (ours && !store) {
    emit_own_here(n, file); /* ours: answered locally, nothing sent */
    return 0;
  }
  pending_req *r = NULL;
  for (size_t i = 0; i < CDHT_MAX_PENDING && !r; i++)
    if (!n->reqs[i].used) r = &n->reqs[i];
  if (!r) return CDHT_ERR_BUSY;
  memset(r, 0, sizeof *r);
  r->used = true;
  r->store = store;
  r->file = file;
  do r->id = (uint32_t)unguessable(n); /* an answer must come from someone who saw the request */
  while (r->id == 0 || find_request(n, r->id) != r);
  r->retry_ms = now + n->cfg.request_timeout_ms / 2;
  r->deadline_ms = now + n->cfg.request_timeout_ms;
  if (ours) { /* a store for a key we hold: accept it from ourselves */
    /* Nothing comes back from the ring for it: the I/O layer copies the file here and says
     * STORED itself (cdht_node_on_stored), or that it failed.  Holding a slot until the
     * transfer timeout would only let failed local copies fill the table (§7). */
    r->used = false;
    cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = self, .file = file, .seq = r->id };
    emit(n, ev);
    ev.kind = CDHT_EV_STORE_UPLOAD;
    emit(n, ev);
    return 0;
  }
  send_request(n, r);
  if (!store) {
    cdht_event ev = { .kind = CDHT_EV_REQUEST_SENT, .peer = n->succ[0], .file = file, .seq = r->id };
    emit(n, ev);
  }
  return 0;
}

static int on_file_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
  cdht_id self = n->cfg.self;
  if (!valid_id(n, m->origin)) { drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  n->stats.requests_handled++;
  bool store = m->type == CDHT_MSG_STORE_REQ;
  bool last = (m->flags & CDHT_REQ_FINAL) || n->succ[0] == self;
  /* A leaving peer's keys are its successor's from now on (§6): a store goes there, and so does a
   * request for a file this peer no longer holds. */
  bool passing = n->state == LEAVING && n->succ[0] != self && n->succ[0] != CDHT_ID_NONE && m->origin != self &&
                 (store || !cdht_node_is_stored(n, m->file));
  if (last && store && n->state == LEAVING && !passing) { /* leaving alone: nobody will hold it */
    drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_LEAVING;
  }
  if (last && !passing) {
    if (m->origin == self) { /* our own request came round to us: we hold the file */
      pending_req *r = find_request(n, m->seq);
      if (!r || r->store != store || r->accepted) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; } /* a retry's copy */
      if (store) {
        r->used = false; /* copied here by the I/O layer: nothing more to wait for (see start_request) */
        cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = self, .file = m->file, .seq = m->seq };
        emit(n, ev);
        ev.kind = CDHT_EV_STORE_UPLOAD;
        emit(n, ev);
        return 0;
      }
      r->used = false;
      emit_own_here(n, m->file);
      return 0;
    }
    if (store) { /* the storer's content must carry this token (§9) */
      for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
        if (n->awaiting[i].used && now < n->awaiting[i].until_ms) continue;
        n->awaiting[i].used = true;
        n->awaiting[i].origin = m->origin;
        n->awaiting[i].seq = m->seq;
        /* A quit waits for it only while its upload may still start: a forged or failed store
         * does not hold quits for a transfer's time. */
        n->awaiting[i].until_ms = now + n->cfg.request_timeout_ms;
        break;
      }
      cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = m->origin, .file = m->file, .seq = m->seq,
                        .token = unguessable(n) };
      emit(n, ev);
      cdht_msg yes = { .type = CDHT_MSG_STORE_ACCEPT, .seq = m->seq, .file = m->file, .token = ev.token };
      send_msg(n, CDHT_TCP, m->origin, &yes);
      return 0;
    }
    bool content = cdht_node_is_stored(n, m->file);
    emit_peer(n, CDHT_EV_FILE_HERE, self, m->file);
    cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = m->seq, .file = m->file,
                      .flags = content ? CDHT_RESP_CONTENT : 0, .token = content ? unguessable(n) : 0 };
    send_msg(n, CDHT_TCP, m->origin, &resp);
    cdht_event ev = { .kind = CDHT_EV_RESPONSE_SENT, .peer = m->origin, .file = m->file, .content = content,
                      .seq = m->seq, .token = resp.token };
    emit(n, ev);
    return 0;
  }
  /* A request that is back at its origin without having found its peer, or that has passed
   * more peers than the ring holds, is circling an inconsistent ring: stop it. */
  if (m->origin == self || m->hops >= n->cfg.ring_size || m->hops == UINT16_MAX) {
    drop(n, CDHT_DROP_LOOP);
    return CDHT_ERR_LOOP;
  }
  cdht_msg fwd = *m;
  fwd.hops++;
  if (last && passing && store && n->nsuperseded < CDHT_MAX_PENDING) n->superseded[n->nsuperseded++] = m->file;
  /* Passed on because we leave: our successor holds our keys now.  Else the usual rule. */
  fwd.flags = (last && passing) || cdht_ring_between(self, key_of(n, m->file), n->succ[0], n->cfg.ring_size)
                  ? CDHT_REQ_FINAL
                  : 0;
  send_msg(n, CDHT_TCP, n->succ[0], &fwd);
  emit_peer(n, store ? CDHT_EV_STORE_FORWARDED : CDHT_EV_REQUEST_FORWARDED, n->succ[0], m->file);
  return 0;
}

static int on_file_response(cdht_node *n, const cdht_msg *m) {
  pending_req *r = find_request(n, m->seq);
  if (!r || r->store || r->file != m->file) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  r->used = false;
  cdht_event ev = { .kind = CDHT_EV_RESPONSE_RECEIVED, .peer = m->from, .file = m->file,
                    .content = (m->flags & CDHT_RESP_CONTENT) != 0, .seq = m->seq, .token = m->token };
  emit(n, ev);
  return 0;
}

/* ---- store (§9) ---- */

static int on_store_answer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  pending_req *r = find_request(n, m->seq);
  if (!r || !r->store || r->file != m->file || (m->type == CDHT_MSG_STORE_ACCEPT) == r->accepted) {
    drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  if (m->type == CDHT_MSG_STORE_ACCEPT) { /* now the content goes, straight to that peer */
    r->accepted = true;
    r->deadline_ms = now + n->cfg.transfer_timeout_ms;
    cdht_event ev = { .kind = CDHT_EV_STORE_UPLOAD, .peer = m->from, .file = m->file, .seq = m->seq,
                      .token = m->token };
    emit(n, ev);
    return 0;
  }
  /* The peer that accepted may have passed the content on while it left: |about| holds it now. */
  cdht_id holder = m->about;
  if (!valid_id(n, holder) || holder == n->cfg.self) holder = m->from;
  r->used = false;
  emit_peer(n, CDHT_EV_STORED, holder, m->file);
  return 0;
}

int cdht_node_on_upload_failed(cdht_node *n, uint64_t now, uint16_t file, uint32_t seq) {
  (void)now;
  pending_req *r = find_request(n, seq);
  if (!r || !r->store || !r->accepted || r->file != file) return CDHT_ERR_STALE;
  r->used = false; /* the I/O layer said why; no STORE_DONE can come for content that never arrived */
  return 0;
}

void cdht_node_set_stored(cdht_node *n, uint16_t file, bool stored) {
  if (file > CDHT_FILE_MAX) return;
  if (stored) n->stored[file / 8] |= (uint8_t)(1u << (file % 8));
  else n->stored[file / 8] &= (uint8_t)~(1u << (file % 8));
}

bool cdht_node_is_stored(const cdht_node *n, uint16_t file) {
  return file <= CDHT_FILE_MAX && (n->stored[file / 8] >> (file % 8)) & 1;
}

/* Tells a storer that the ring holds its file, at |holder|. */
static void confirm_store(cdht_node *n, uint16_t file, cdht_id origin, uint32_t seq, cdht_id holder) {
  if (origin == n->cfg.self) { /* our own store of a key we hold */
    pending_req *r = find_request(n, seq);
    if (r && r->store) r->used = false;
    emit_peer(n, CDHT_EV_STORED, holder, file);
    return;
  }
  cdht_msg done = { .type = CDHT_MSG_STORE_DONE, .seq = seq, .file = file, .about = holder };
  send_msg(n, CDHT_TCP, origin, &done);
}

static struct leave_ho *start_leave_handover(cdht_node *n, uint64_t now, cdht_id lo, cdht_id hi);
static void hand_keys_to_joiner(cdht_node *n, uint64_t now, cdht_id joiner, cdht_id about, uint64_t token);
static void ask_about_joiner(cdht_node *n, uint64_t now);

/* Content that reached a leaving node goes on to its successor before the node leaves. */
static bool pass_on_if_leaving(cdht_node *n, uint64_t now, uint16_t file) {
  if (n->state != LEAVING || n->succ[0] == n->cfg.self || n->succ[0] == CDHT_ID_NONE) return false;
  uint64_t key = key_of(n, file);
  if (!start_leave_handover(n, now, (key + n->cfg.ring_size - 1) % n->cfg.ring_size, key))
    n->pass_all = true; /* found by the simulator: two neighbours quitting at once, seed 119 with --store-races */
  return true;
}

/* Content that reached us for a key a joiner took meanwhile (the store was accepted before the
 * join, its content came after the join's handover) goes on to that joiner, our first
 * predecessor: the ring must hold it where requests will look for it. */
static bool pass_back_if_joined(cdht_node *n, uint64_t now, uint16_t file) {
  uint64_t key = key_of(n, file), size = n->cfg.ring_size;
  if (n->state != RUNNING) return false;
  /* A joiner whose KEYS_REQ is being checked: this file goes with its keys, if it is one of
   * the keys it asked for, (about, joiner]. */
  if (n->keys_wait.peer != CDHT_ID_NONE && now < n->keys_wait.until_ms &&
      cdht_ring_between(n->keys_wait.about, key, n->keys_wait.peer, size))
    return true;
  /* A recent joiner we handed keys to (a store accepted before its join has its upload start
   * within the request timeout), for the keys it asked for; with the token it gave us then.
   * Not its pings: the first one may be lost, and a second comes an interval later. */
  cdht_id p = CDHT_ID_NONE;
  uint64_t token = 0;
  for (int i = 0; i < GRANTS; i++)
    if (n->grants_out[i].peer != CDHT_ID_NONE && !n->grants_out[i].leave && now < n->grants_out[i].until_ms &&
        now - n->grants_out[i].since_ms <= n->cfg.request_timeout_ms &&
        cdht_ring_between(n->grants_out[i].about, key, n->grants_out[i].peer, size)) {
      p = n->grants_out[i].peer;
      token = n->grants_out[i].token;
    }
  if (!token || p == n->cfg.self) return false;
  /* It offered us its keys since: it is leaving, and the content is ours to keep. */
  for (int i = 0; i < GRANTS; i++)
    if (n->grants_in[i].peer == p && !n->grants_in[i].joined && now < n->grants_in[i].until_ms) return false;
  cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = p, .seq = ++n->next_ho,
                    .succ = { (key + size - 1) % size, key }, .token = token };
  emit(n, ev);
  n->other_ho++;
  return true;
}

int cdht_node_on_stored(cdht_node *n, uint64_t now, uint16_t file, cdht_id origin, uint32_t seq) {
  if (file > CDHT_FILE_MAX || !valid_id(n, origin)) return CDHT_ERR_INVAL;
  cdht_node_set_stored(n, file, true);
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++)
    if (n->awaiting[i].used && n->awaiting[i].origin == origin && n->awaiting[i].seq == seq) n->awaiting[i].used = false;
  if (pass_on_if_leaving(n, now, file) || pass_back_if_joined(n, now, file)) {
    for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
      if (n->acks[i].used) continue;
      n->acks[i].used = true;
      n->acks[i].file = file;
      n->acks[i].origin = origin;
      n->acks[i].seq = seq;
      return 0;
    }
    return 0; /* too many to follow: the storer hears nothing and reports a failed store */
  }
  confirm_store(n, file, origin, seq, n->cfg.self);
  return 0;
}

bool cdht_node_superseded(const cdht_node *n, uint16_t file) {
  for (unsigned i = 0; i < n->nsuperseded; i++)
    if (n->superseded[i] == file) return true;
  return false;
}

int cdht_node_on_taken_over(cdht_node *n, uint64_t now, uint16_t file, cdht_id from) {
  (void)from;
  if (file > CDHT_FILE_MAX) return CDHT_ERR_INVAL;
  cdht_node_set_stored(n, file, true);
  pass_on_if_leaving(n, now, file);
  return 0;
}

int cdht_node_on_file_handed(cdht_node *n, uint64_t now, uint16_t file, cdht_id peer) {
  (void)now;
  if (file > CDHT_FILE_MAX || !valid_id(n, peer)) return CDHT_ERR_INVAL;
  cdht_node_set_stored(n, file, false);
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
    if (!n->acks[i].used || n->acks[i].file != file) continue;
    n->acks[i].used = false;
    confirm_store(n, file, n->acks[i].origin, n->acks[i].seq, peer);
  }
  return 0;
}

/* ---- pings (§4) ---- */

/* Whether |x|, pinging us as first successor, may be our first predecessor (§4, §8).  Chord
 * keeps the closest predecessor, not the latest pinger: a restarted peer and the peer before it
 * both ping us as their first successor until stabilization tells the one before, and if the
 * slot followed every ping, that peer's question could always meet its own name.  So the slot
 * takes a peer closer to us than the one it holds, or the same one again.  A first predecessor
 * that died or left must still make way at once: its own predecessor, which pinged us as second
 * (our second predecessor now, or until another just displaced it), pings us as first only
 * once it has lost its first successor, so it moves up.  Failing that, any peer takes the slot
 * when the one it holds has not pinged for a detection period (gone, and no longer trusted). */
static bool takes_first_slot(const cdht_node *n, cdht_id x, uint64_t now) {
  cdht_id cur = n->pred[0];
  if (cur == CDHT_ID_NONE || cur == x || !pred_fresh(n, 0, now) || n->pred[1] == x) return true;
  if (n->pred_was2 == x && now - n->pred_was2_ms <= detect_ms(n)) return true;
  return cdht_ring_between(cur, x, n->cfg.self, n->cfg.ring_size); /* closer to us */
}

static int on_ping(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id x = m->from;
  if (m->role != CDHT_ROLE_FIRST) { /* the second slot follows its latest pinger */
    if (n->pred[1] != CDHT_ID_NONE && n->pred[1] != x) {
      n->pred_was2 = n->pred[1];
      n->pred_was2_ms = n->pred_heard_ms[1];
    }
    if (n->pred[0] == x) n->pred[0] = CDHT_ID_NONE; /* it took a closer first successor */
    n->pred[1] = x;
    n->pred_heard_ms[1] = now;
  } else if (takes_first_slot(n, x, now)) { /* else answered, but not our predecessor */
    if (n->pred[0] != x && n->pred[0] != CDHT_ID_NONE) { /* it may be leaving, its keys still on their way */
      n->pred_was1 = n->pred[0];
      n->pred_was1_ms = n->pred_heard_ms[0];
    }
    if (n->pred[1] == x) n->pred[1] = CDHT_ID_NONE;
    if (n->pred_was2 == x) n->pred_was2 = CDHT_ID_NONE;
    n->pred[0] = x;
    n->pred_heard_ms[0] = now;
  }
  n->stats.pings_received++;
  emit_peer(n, CDHT_EV_PING_REQUEST, m->from, 0);
  cdht_msg pong = { .type = CDHT_MSG_PONG, .seq = m->seq };
  send_msg(n, CDHT_UDP, m->from, &pong);
  return 0;
}

static int on_pong(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (n->succ[i] != m->from) continue;
    if (cdht_fd_on_ack(&n->fd[i], m->seq) < 0) break;
    n->heard_ms[i] = now;
    n->stats.pongs_received++;
    emit_peer(n, CDHT_EV_PING_RESPONSE, m->from, 0);
    return 0;
  }
  drop(n, CDHT_DROP_STALE); /* from a former successor, or a number we never sent */
  return CDHT_ERR_STALE;
}

static void send_ping(cdht_node *n, int i, uint64_t now, bool probe) {
  cdht_msg m = { .type = CDHT_MSG_PING, .role = (uint8_t)(i + 1) };
  m.seq = probe ? cdht_fd_on_probe(&n->fd[i], now, n->cfg.ping_timeout_ms)
                : cdht_fd_on_send(&n->fd[i], now, n->cfg.ping_timeout_ms);
  send_msg(n, CDHT_UDP, n->succ[i], &m);
  n->stats.pings_sent++;
  if (probe) n->stats.probes_sent++;
}

static void send_pings(cdht_node *n, uint64_t now) {
  cdht_event ev = { .kind = CDHT_EV_PINGS_SENT, .peer = CDHT_ID_NONE, .succ = { CDHT_ID_NONE, CDHT_ID_NONE } };
  int sent = 0;
  for (int i = 0; i < 2; i++) {
    cdht_id s = n->succ[i];
    if (s == CDHT_ID_NONE || s == n->cfg.self || (i == 1 && s == n->succ[0])) continue;
    send_ping(n, i, now, false);
    ev.succ[sent++] = s;
  }
  if (n->cfg.round_events && sent > 0) emit(n, ev); /* the 2020 form's "Ping requests sent to ..." */
}

/* ---- join (§8) ---- */

static void join_failed(cdht_node *n, cdht_id peer, cdht_join_failure why) {
  cdht_event ev = { .kind = CDHT_EV_JOIN_FAILED, .peer = peer, .reason = (uint8_t)why };
  emit(n, ev);
  finish_leave(n);
}


static int on_join_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id self = n->cfg.self, j = m->origin, s1 = n->succ[0], s2 = n->succ[1];
  /* A joiner with our id cannot even bind our port: such a request is forged or confused, and a
   * rejection would be addressed to ourselves. */
  if (!valid_id(n, j) || j == self) { drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  if (j == s1 || j == s2) { /* that id is taken: tell the joiner, not the ring */
    cdht_msg no = { .type = CDHT_MSG_JOIN_REJECT, .seq = m->seq };
    send_msg(n, CDHT_TCP, j, &no);
    return 0;
  }
  if (!cdht_ring_between(self, j, s1, n->cfg.ring_size)) {
    if (m->hops >= n->cfg.ring_size || m->hops == UINT16_MAX) { drop(n, CDHT_DROP_LOOP); return CDHT_ERR_LOOP; }
    cdht_msg fwd = *m;
    fwd.hops++;
    send_msg(n, CDHT_TCP, s1, &fwd);
    emit_peer(n, CDHT_EV_JOIN_FORWARDED, j, 0);
    return 0;
  }
  /* The joiner lands between us and our first successor: it takes our successors, and once it
   * has answered from its own address we take it and our old first successor, and our first
   * predecessor takes us and the joiner.  One joiner at a time: another waits for its own
   * join to time out and tries again. */
  if (n->joiner.peer != CDHT_ID_NONE && n->joiner.peer != j && now < n->joiner.until_ms) {
    drop(n, CDHT_DROP_QUEUE);
    return CDHT_ERR_BUSY;
  }
  cdht_msg yes = { .type = CDHT_MSG_JOIN_ACCEPT, .seq = m->seq, .succ = { s1, s2 },
                   .about = n->repair.active ? n->repair.avoid[0] : CDHT_ID_NONE, .token = unguessable(n) };
  if (s1 == self) yes.succ[1] = j;                               /* we were alone */
  else if (s2 == self || s2 == CDHT_ID_NONE) yes.succ[1] = s2 == self ? self : s1;
  n->joiner.peer = j;
  n->joiner.seq = m->seq;
  n->joiner.token = yes.token;
  n->joiner.until_ms = now + n->cfg.join_timeout_ms;
  send_msg(n, CDHT_TCP, j, &yes);
  return 0;
}

static int on_join_ack(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id self = n->cfg.self, j = m->from, s1 = n->succ[0];
  if (j != n->joiner.peer || m->seq != n->joiner.seq || now >= n->joiner.until_ms) {
    drop(n, CDHT_DROP_UNASKED);
    return CDHT_ERR_STALE;
  }
  if (m->token != n->joiner.token) { drop(n, CDHT_DROP_TOKEN); return CDHT_ERR_STALE; }
  n->joiner.peer = CDHT_ID_NONE;
  if (j == s1) return 0; /* taken already (stabilization met it first) */
  emit_peer(n, CDHT_EV_JOIN_RECEIVED, j, 0);
  set_successors(n, now, j, s1 == self ? self : s1);
  emit_successors(n);
  if (n->keys_wait.peer == j && n->keys_wait.about == self) ask_about_joiner(n, now); /* its KEYS_REQ came first */
  cdht_id q = n->pred[0];
  if (pred_fresh(n, 0, now) && q != j && q != self) {
    cdht_msg change = { .type = CDHT_MSG_SUCC_CHANGE, .succ = { self, j } };
    send_msg(n, CDHT_TCP, q, &change);
  }
  return 0;
}

static int on_join_answer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->state != JOINING || m->seq != n->join_seq) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  if (m->type == CDHT_MSG_JOIN_REJECT) {
    join_failed(n, m->from, CDHT_JOIN_ID_TAKEN);
    return 0;
  }
  if (!valid_id(n, m->succ[0]) || !valid_id(n, m->succ[1])) { drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  cdht_msg ack = { .type = CDHT_MSG_JOIN_ACK, .seq = m->seq, .token = m->token }; /* we are really here */
  send_msg(n, CDHT_TCP, m->from, &ack);
  n->state = RUNNING;
  emit_peer(n, CDHT_EV_JOIN_ACCEPTED, m->from, 0);
  take_successors(n, now, m->succ[0], m->succ[1], valid_id(n, m->about) ? m->about : CDHT_ID_NONE, CDHT_ID_NONE);
  if (n->succ[0] != n->cfg.self) { /* the keys (accepter, us] were our successor's until now */
    cdht_msg keys = { .type = CDHT_MSG_KEYS_REQ, .about = m->from,
                      .token = grant_in(n, now, n->succ[0], true, m->from) };
    send_msg(n, CDHT_TCP, n->succ[0], &keys);
  }
  n->next_ping_ms = now;
  n->next_stab_ms = now + n->cfg.stabilize_ms;
  return 0;
}

/* Our first successor says it took a joiner: we ask it, at its address, for its first
 * successor, and take (it, the joiner) once it names the joiner (a SUCC_CHANGE in its name from
 * anyone else changes nothing). */
static int on_succ_change(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (m->from != n->succ[0]) { drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  if (!valid_id(n, m->succ[0]) || !valid_id(n, m->succ[1]) || m->succ[0] != m->from) {
    drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  n->change_wait.peer = m->from;
  n->change_wait.succ[0] = m->succ[0];
  n->change_wait.succ[1] = m->succ[1];
  do n->change_wait.qid = (uint32_t)unguessable(n);
  while (n->change_wait.qid == 0);
  n->change_wait.until_ms = now + n->cfg.leave_timeout_ms;
  cdht_msg q = { .type = CDHT_MSG_SUCC_QUERY, .seq = n->change_wait.qid };
  send_msg(n, CDHT_TCP, m->from, &q);
  return 0;
}

/* The answer to that question: returns 1 if it was one (handled), 0 if not. */
static int on_change_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->change_wait.peer == CDHT_ID_NONE || m->seq != n->change_wait.qid || m->from != n->change_wait.peer)
    return 0;
  n->change_wait.peer = CDHT_ID_NONE;
  if (now >= n->change_wait.until_ms || m->from != n->succ[0] || m->succ[0] != n->change_wait.succ[1]) {
    drop(n, CDHT_DROP_STALE); /* it does not say so, or too late */
    return 1;
  }
  emit_peer(n, CDHT_EV_SUCC_CHANGE, m->from, 0);
  n->repair.active = false;
  take_successors(n, now, n->change_wait.succ[0], n->change_wait.succ[1], CDHT_ID_NONE, CDHT_ID_NONE);
  return 1;
}

static void hand_keys_to_joiner(cdht_node *n, uint64_t now, cdht_id joiner, cdht_id about, uint64_t token) {
  grant_out(n, now, joiner, false, token);
  for (int i = 0; i < GRANTS; i++)
    if (n->grants_out[i].peer == joiner && !n->grants_out[i].leave) n->grants_out[i].about = about;
  for (int i = 0; i < GRANTS; i++) /* it left once and is back: what it offered then is over */
    if (n->grants_in[i].peer == joiner && !n->grants_in[i].joined) n->grants_in[i].peer = CDHT_ID_NONE;
  cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = joiner, .seq = ++n->next_ho, .succ = { about, joiner },
                    .token = token };
  emit(n, ev);
  n->other_ho++;
  n->keys_wait.peer = CDHT_ID_NONE;
}

static void ask_about_joiner(cdht_node *n, uint64_t now) {
  n->keys_wait.next_ms = now + n->cfg.requery_ms;
  if (n->keys_wait.about == n->cfg.self) { /* we admit it ourselves: its JOIN_ACK may come later */
    if (n->succ[0] == n->keys_wait.peer)
      hand_keys_to_joiner(n, now, n->keys_wait.peer, n->keys_wait.about, n->keys_wait.token);
    return;
  }
  do n->keys_wait.qid = (uint32_t)unguessable(n);
  while (n->keys_wait.qid == 0);
  n->keys_wait.next_ms = now + n->cfg.requery_ms;
  cdht_msg q = { .type = CDHT_MSG_SUCC_QUERY, .seq = n->keys_wait.qid };
  send_msg(n, CDHT_TCP, n->keys_wait.about, &q);
}

/* A joiner between |about| and us takes the keys (about, joiner] that were ours (§9) — but only
 * a joiner the ring admitted: |about|, asked at its address, must name it as its first
 * successor (it took it once the joiner answered at its own address, §8).  Its JOIN_ACK and
 * this request travel on different connections, so the question is asked again for a while. */
static int on_keys_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id self = n->cfg.self;
  /* |about| is the joiner's predecessor: us too, if we were alone. */
  if (n->state != RUNNING || !valid_id(n, m->about) || !cdht_ring_between(m->about, m->from, self, n->cfg.ring_size) ||
      m->from == self || m->token == 0) {
    drop(n, CDHT_DROP_ROLE);
    return CDHT_ERR_ROLE;
  }
  if (n->keys_wait.peer != CDHT_ID_NONE && now < n->keys_wait.until_ms) drop(n, CDHT_DROP_UNASKED); /* replaced */
  n->keys_wait.peer = m->from;
  n->keys_wait.about = m->about;
  n->keys_wait.token = m->token;
  n->keys_wait.until_ms = now + detect_ms(n);
  ask_about_joiner(n, now);
  return 0;
}

/* The admitting peer's answer: returns 1 if it was one (handled), 0 if not. */
static int on_joiner_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->keys_wait.peer == CDHT_ID_NONE || m->seq != n->keys_wait.qid || m->from != n->keys_wait.about) return 0;
  if (now < n->keys_wait.until_ms && m->succ[0] == n->keys_wait.peer && n->state == RUNNING)
    hand_keys_to_joiner(n, now, n->keys_wait.peer, n->keys_wait.about, n->keys_wait.token);
  return 1; /* otherwise asked again at next_ms, until the deadline */
}

/* A giver offers us its keys: a token to its address if it is a neighbour handing over (our
 * predecessor pinging us, or one that just departed); its transfers must carry it. */
static int on_keys_offer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  /* A leaving predecessor stops pinging when it starts to leave, and may offer again (a retry)
   * up to its leave timeout later. */
  uint64_t window = detect_ms(n) + n->cfg.leave_timeout_ms;
  bool pred = false;
  for (int i = 0; i < 2; i++)
    pred = pred || (n->pred[i] == m->from && now - n->pred_heard_ms[i] <= window);
  /* A predecessor that quits tells its own predecessors too, whose pings may take its slot
   * before its offer arrives (found by the simulator: seed 47, and seed 125 with --store-races):
   * a displaced one still offers for a detection period after its last ping. */
  pred = pred || (n->pred_was1 == m->from && now - n->pred_was1_ms <= detect_ms(n)) ||
         (n->pred_was2 == m->from && now - n->pred_was2_ms <= detect_ms(n));
  if (!pred && m->from != n->departed) { drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  cdht_msg yes = { .type = CDHT_MSG_KEYS_GRANT, .token = grant_in(n, now, m->from, false, m->about) };
  send_msg(n, CDHT_TCP, m->from, &yes);
  return 0;
}

/* Our successor's token: our handovers waiting for it go now. */
static int on_keys_grant(cdht_node *n, uint64_t now, const cdht_msg *m) {
  bool waited = false;
  for (int i = 0; i < LEAVE_HO_MAX; i++) {
    struct leave_ho *h = &n->leave_ho[i];
    if (!h->used || !h->running || !h->granting || m->from != n->succ[0]) continue;
    if (!waited) grant_out(n, now, m->from, true, m->token);
    waited = true;
    h->granting = false;
    cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = m->from, .seq = h->id, .succ = { h->lo, h->hi },
                      .token = m->token };
    emit(n, ev);
  }
  if (!waited) { drop(n, CDHT_DROP_UNASKED); return CDHT_ERR_STALE; }
  return 0;
}

cdht_handover_verdict cdht_node_handover_allowed(cdht_node *n, uint64_t now, cdht_id from, uint16_t file,
                                                 uint64_t token, uint64_t stored_ms, bool superseded) {
  cdht_id self = n->cfg.self;
  uint64_t key = key_of(n, file), size = n->cfg.ring_size;
  const struct grant_in *g = find_grant_in(n, now, from, token);
  if (!g) { drop(n, token ? CDHT_DROP_TOKEN : CDHT_DROP_UNASKED); return CDHT_HANDOVER_REFUSE; }
  /* From the successor we asked: the keys we asked for.  From a giver: keys not ours already. */
  if (!(g->joined ? cdht_ring_between(g->about, key, self, size) : !cdht_ring_between(from, key, self, size))) {
    drop(n, CDHT_DROP_ROLE);
    return CDHT_HANDOVER_REFUSE;
  }
  /* Once we gave the token, stores of these keys come to us (the giver passes them on, or the
   * ring routes them here): their content is newer than what the giver held (§6, §9). */
  /* A giver leaving: stores of its keys that reached us while it left — the ring routed them
   * here once its predecessor knew, maybe before it could offer us anything (its successor was
   * leaving too) — are newer than its copy.  A leave lasts at most leave_timeout after the
   * detection of a lost neighbour, so that is how far back "while it left" reaches. */
  if (!cdht_node_is_stored(n, file)) stored_ms = 0; /* handed away meanwhile: nothing newer is here */
  bool recent = stored_ms && !g->joined && stored_ms + n->cfg.leave_timeout_ms + detect_ms(n) > now;
  /* After a join, stores come to the joiner: while its join is recent (a store's upload starts
   * within the request timeout), they are newer than what its successor passes back. */
  bool since = stored_ms > g->granted_ms && (!g->joined || now - g->granted_ms <= n->cfg.request_timeout_ms);
  return since || (superseded && stored_ms) || recent ? CDHT_HANDOVER_OLDER : CDHT_HANDOVER_TAKE;
}

int cdht_node_on_handover_done(cdht_node *n, uint64_t now, cdht_id peer, uint32_t id, uint32_t count,
                               uint32_t failed) {
  if (!valid_id(n, peer) || peer == n->cfg.self) return CDHT_ERR_INVAL;
  struct leave_ho *h = NULL;
  for (int i = 0; i < LEAVE_HO_MAX && !h; i++)
    if (n->leave_ho[i].used && n->leave_ho[i].running && n->leave_ho[i].id == id) h = &n->leave_ho[i];
  /* A quit always says how many went (the classic "0 files handed over"); the rest only when
   * there were some. */
  if ((h && h->own) || count > 0) {
    bool confirming = n->state == LEAVING && (n->leave[0].waiting || n->leave[1].waiting);
    if (!confirming || n->nkeys_done_later == LEAVE_HO_MAX) {
      send_keys_done(n, peer, count, token_for(n, now, peer, h != NULL));
    } else {
      n->keys_done_later[n->nkeys_done_later].token = token_for(n, now, peer, h != NULL);
      n->keys_done_later[n->nkeys_done_later].peer = peer;
      n->keys_done_later[n->nkeys_done_later++].count = count;
    }
    cdht_event ev = { .kind = CDHT_EV_HANDED_OVER, .peer = peer, .seq = count };
    emit(n, ev);
  }
  if (!h) {
    if (n->other_ho > 0) n->other_ho--;
    if (failed > 0) grant_out(n, now, peer, false, 0); /* its token was refused: a new life, or none */
    /* A file passed back to a joiner that did not take it stays here: the ring holds it. */
    for (size_t i = 0; i < CDHT_MAX_PENDING && n->state == RUNNING; i++) {
      if (!n->acks[i].used || !cdht_node_is_stored(n, n->acks[i].file)) continue;
      n->acks[i].used = false;
      confirm_store(n, n->acks[i].file, n->acks[i].origin, n->acks[i].seq, n->cfg.self);
    }
    return 0;
  }
  if (failed > 0) grant_out(n, now, peer, true, 0); /* refused, maybe for our token: ask for a new one */
  if (failed > 0 && now < n->leave_deadline_ms) {
    /* Kept here: try again, with whoever is our successor then (a neighbour leaving at the same
     * time refuses, or is gone, and its departure names our next successor). */
    h->running = false;
    h->own = false; /* its line is said */
    h->retry_ms = n->succ[0] != peer ? now : now + n->cfg.requery_ms;
  } else {
    h->used = false;
  }
  if (n->pass_all && !h->used && n->state == LEAVING && now < n->leave_deadline_ms) {
    n->pass_all = false; /* the I/O layer skips files already on their way */
    start_leave_handover(n, now, n->cfg.self, n->cfg.self);
  }
  check_leave_done(n);
  return 0;
}

/* "N files received" only from a peer whose keys we expect: the successor we asked, or a
 * predecessor handing us its keys. */
static int on_keys_done(cdht_node *n, uint64_t now, const cdht_msg *m) {
  /* The grant stays: a leaving peer may hand on, after its own keys, content that reached it
   * while it left (§6). */
  if (!find_grant_in(n, now, m->from, m->token)) {
    drop(n, m->token ? CDHT_DROP_TOKEN : CDHT_DROP_UNASKED);
    return CDHT_ERR_ROLE;
  }
  cdht_event ev = { .kind = CDHT_EV_KEYS_RECEIVED, .peer = m->from, .seq = m->seq };
  emit(n, ev);
  return 0;
}

/* ---- stabilization (§8) ---- */

static void stabilize(cdht_node *n, uint64_t now) {
  n->next_stab_ms = now + n->cfg.stabilize_ms;
  if (n->succ[0] == n->cfg.self && pred_fresh(n, 0, now) && n->pred[0] != n->cfg.self &&
      !maybe_gone(n, n->pred[0], n->pred_heard_ms[0])) {
    /* Alone, yet someone pings us as its first successor: the ring has two peers again. */
    set_successors(n, now, n->pred[0], n->cfg.self);
    emit_successors(n);
    return;
  }
  if (n->repair.active || n->succ[0] == n->cfg.self || n->succ[0] == CDHT_ID_NONE) return;
  cdht_msg q = { .type = CDHT_MSG_STAB_QUERY, .seq = n->stab_qid = ++n->next_qid };
  send_msg(n, CDHT_TCP, n->succ[0], &q);
}

static int on_stab_query(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg r = { .type = CDHT_MSG_STAB_REPLY, .seq = m->seq, .succ = { n->succ[0], n->succ[1] },
                 .about = CDHT_ID_NONE, .age_ms = CDHT_AGE_NEVER };
  if (pred_fresh(n, 0, now)) {
    r.about = n->pred[0];
    r.age_ms = (uint32_t)(now - n->pred_heard_ms[0]);
  }
  send_msg(n, CDHT_TCP, m->from, &r);
  return 0;
}

/* Chord's stabilize: a peer that pings our first successor as its first successor, and stands
 * between us, is our new first successor (a joiner, a restarted peer, a peer we wrongly
 * declared dead).  Otherwise our second successor is our first successor's first. */
static int on_stab_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (m->seq == 0 || m->from != n->succ[0] || m->seq != n->stab_qid || n->repair.active || n->state != RUNNING) {
    drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  n->stab_qid = 0;
  cdht_id self = n->cfg.self, s1 = n->succ[0], x = m->about, y = m->succ[0];
  uint64_t heard = m->age_ms == CDHT_AGE_NEVER || m->age_ms > now ? 0 : now - m->age_ms;
  if (valid_id(n, x) && x != self && x != s1 && cdht_ring_between(self, x, s1, n->cfg.ring_size) &&
      m->age_ms <= 2ull * n->cfg.ping_interval_ms && !maybe_gone(n, x, heard)) {
    set_successors(n, now, x, s1);
    emit_successors(n);
    return 0;
  }
  if (!valid_id(n, y) || y == s1 || y == n->succ[1] || maybe_gone(n, y, now > detect_ms(n) ? now - detect_ms(n) : 0))
    return 0;
  if (y == self && n->succ[1] != self) { /* our successor's successor is us: a ring of two */
    set_successors(n, now, s1, self);
    emit_successors(n);
  } else if (y != self) {
    set_successors(n, now, s1, y);
    emit_successors(n);
  }
  return 0;
}

/* ---- the witness (§4) ---- */

/* Who can say when our successor in slot |i| was last heard from: the other peer that pings
 * it (for our first successor, our first predecessor; for our second successor, our first
 * successor) and, for our first successor, the peer it pings as its first successor (our
 * second successor).  Unknown or unusable slots are CDHT_ID_NONE. */
static void witnesses_for(const cdht_node *n, int i, uint64_t now, cdht_id w[2]) {
  cdht_id self = n->cfg.self, k = n->succ[i];
  w[0] = i == 0 ? (pred_fresh(n, 0, now) ? n->pred[0] : CDHT_ID_NONE) : n->succ[0];
  w[1] = i == 0 ? n->succ[1] : CDHT_ID_NONE;
  for (int j = 0; j < 2; j++)
    if (w[j] == self || w[j] == k) w[j] = CDHT_ID_NONE;
  if (w[1] == w[0]) w[1] = CDHT_ID_NONE;
}

/* Called when the successor in slot |i| has missed enough pings.  Before a verdict, the
 * witnesses are asked when they last heard from that peer: lost datagrams on our path must
 * not kill a live peer.  Returns true when the verdict is due now: no witness, no vouching
 * answer in time, or every witness answered that it has not heard from the peer either. */
static bool verdict_due(cdht_node *n, uint64_t now, int i) {
  if (n->suspect[i].active) return now >= n->suspect[i].deadline_ms;
  cdht_id w[2] = { CDHT_ID_NONE, CDHT_ID_NONE };
  if (!n->cfg.classic_detector) witnesses_for(n, i, now, w);
  if (w[0] == CDHT_ID_NONE && w[1] == CDHT_ID_NONE) return true;
  n->suspect[i].active = true;
  n->suspect[i].qid = ++n->next_qid;
  n->suspect[i].deadline_ms = now + n->cfg.ping_interval_ms;
  for (int j = 0; j < 2; j++) {
    n->suspect[i].witness[j] = w[j];
    if (w[j] == CDHT_ID_NONE) continue;
    cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = n->suspect[i].qid, .about = n->succ[i] };
    send_msg(n, CDHT_TCP, w[j], &q);
    n->stats.witness_queries++;
  }
  return false;
}

/* A witness answers from the freshest thing it knows: the last answer to its own pings (the
 * peer is its successor) or the last ping it got from it (the peer is its predecessor). */
static int on_witness_query(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg reply = { .type = CDHT_MSG_WITNESS_REPLY, .seq = m->seq, .about = m->about, .age_ms = CDHT_AGE_NEVER };
  uint64_t last = CDHT_NEVER;
  for (int i = 0; i < 2; i++) {
    if (n->succ[i] == m->about && n->heard_ms[i] != CDHT_NEVER && (last == CDHT_NEVER || n->heard_ms[i] > last))
      last = n->heard_ms[i];
    if (n->pred[i] == m->about && (last == CDHT_NEVER || n->pred_heard_ms[i] > last)) last = n->pred_heard_ms[i];
  }
  if (last != CDHT_NEVER) {
    uint64_t age = now - last;
    reply.age_ms = age >= CDHT_AGE_NEVER ? CDHT_AGE_NEVER - 1 : (uint32_t)age;
  }
  send_msg(n, CDHT_TCP, m->from, &reply);
  return 0;
}

/* A peer a witness heard from was alive then: our pings sent before that were lost on our
 * path, and only the misses since still count.  If fewer than `misses` remain, the verdict is
 * off.  One such witness is enough; otherwise the verdict waits for every witness asked, or
 * for the deadline. */
static int on_witness_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (!n->suspect[i].active || n->suspect[i].qid != m->seq || n->succ[i] != m->about) continue;
    int j = n->suspect[i].witness[0] == m->from ? 0 : n->suspect[i].witness[1] == m->from ? 1 : -1;
    if (j < 0) continue;
    n->suspect[i].witness[j] = CDHT_ID_NONE;
    if (m->age_ms != CDHT_AGE_NEVER && m->age_ms <= now &&
        cdht_fd_vouch(&n->fd[i], now - m->age_ms) < n->cfg.misses) {
      n->suspect[i].active = false;
      n->stats.vouched++;
    } else if (n->suspect[i].witness[0] == CDHT_ID_NONE && n->suspect[i].witness[1] == CDHT_ID_NONE) {
      n->suspect[i].active = false;
      successor_dead(n, now, i);
    }
    return 0;
  }
  drop(n, CDHT_DROP_STALE);
  return CDHT_ERR_STALE;
}

/* ---- entry points ---- */

static int count_decode_error(cdht_node *n, cdht_ssize rc) {
  drop(n, rc == CDHT_ERR_VERSION ? CDHT_DROP_VERSION
          : rc == CDHT_ERR_TYPE  ? CDHT_DROP_TYPE
                                 : CDHT_DROP_MALFORMED);
  return (int)rc;
}

static int dispatch(cdht_node *n, uint64_t now, cdht_transport t, const cdht_addr *from,
                    const uint8_t *buf, size_t len) {
  if (n->state == LEFT) return CDHT_ERR_LEAVING;
  cdht_msg m;
  cdht_ssize rc = cdht_msg_decode(&m, buf, len);
  if (rc < 0) return count_decode_error(n, rc);
  if ((size_t)rc != len) return count_decode_error(n, CDHT_ERR_MALFORMED); /* trailing bytes */
  bool udp_type = m.type == CDHT_MSG_PING || m.type == CDHT_MSG_PONG;
  if (udp_type != (t == CDHT_UDP)) { drop(n, CDHT_DROP_TRANSPORT); return CDHT_ERR_UNEXPECTED; }
  if (!valid_id(n, m.from) || m.from == n->cfg.self) { drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  if (t == CDHT_UDP) {
    /* A datagram comes from the sender's own bound socket, so its source must be the address
     * of the id it claims (§4).  TCP sources are ephemeral ports and are judged by role. */
    cdht_addr want = cdht_config_addr(&n->cfg, m.from);
    if (from->ip != want.ip || from->port != want.port) { drop(n, CDHT_DROP_SPOOFED); return CDHT_ERR_SPOOFED; }
  }
  if (n->state == JOINING && m.type != CDHT_MSG_JOIN_ACCEPT && m.type != CDHT_MSG_JOIN_REJECT) {
    drop(n, CDHT_DROP_STALE); /* not in the ring yet */
    return CDHT_ERR_UNEXPECTED;
  }
  switch (m.type) {
  case CDHT_MSG_PING: return on_ping(n, now, &m);
  case CDHT_MSG_PONG: return on_pong(n, now, &m);
  case CDHT_MSG_FILE_REQ:
  case CDHT_MSG_STORE_REQ: return on_file_request(n, now, &m);
  case CDHT_MSG_STORE_ACCEPT:
  case CDHT_MSG_STORE_DONE: return on_store_answer(n, now, &m);
  case CDHT_MSG_FILE_RESP: return on_file_response(n, &m);
  case CDHT_MSG_DEPART: return on_depart(n, now, &m);
  case CDHT_MSG_DEPART_ACK:
    if (n->state != LEAVING || !((n->leave[0].waiting && n->leave[0].peer == m.from) ||
                                 (n->leave[1].waiting && n->leave[1].peer == m.from))) {
      drop(n, CDHT_DROP_STALE);
      return CDHT_ERR_STALE;
    }
    for (int i = 0; i < 2; i++)
      if (n->leave[i].peer == m.from) n->leave[i].waiting = false;
    if (m.token) { /* it is really us leaving: the predecessor applies the departure now */
      cdht_msg yes = { .type = CDHT_MSG_DEPART_CONFIRM, .token = m.token };
      send_msg(n, CDHT_TCP, m.from, &yes);
    }
    check_leave_done(n);
    return 0;
  case CDHT_MSG_DEPART_CONFIRM: return on_depart_confirm(n, now, &m);
  case CDHT_MSG_SUCC_QUERY: {
    cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = m.seq, .succ = { n->succ[0], n->succ[1] } };
    send_msg(n, CDHT_TCP, m.from, &reply);
    return 0;
  }
  case CDHT_MSG_SUCC_REPLY:
    return on_change_confirm(n, now, &m) || on_joiner_confirm(n, now, &m) ? 0 : on_succ_reply(n, now, &m);
  case CDHT_MSG_KEYS_OFFER:
    if (n->state != RUNNING) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return on_keys_offer(n, now, &m);
  case CDHT_MSG_KEYS_GRANT: return on_keys_grant(n, now, &m);
  case CDHT_MSG_WITNESS_QUERY: return on_witness_query(n, now, &m);
  case CDHT_MSG_WITNESS_REPLY: return on_witness_reply(n, now, &m);
  case CDHT_MSG_JOIN_REQ:
    if (n->state != RUNNING) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return on_join_request(n, now, &m);
  case CDHT_MSG_JOIN_ACCEPT:
  case CDHT_MSG_JOIN_REJECT: return on_join_answer(n, now, &m);
  case CDHT_MSG_SUCC_CHANGE: return on_succ_change(n, now, &m);
  case CDHT_MSG_JOIN_ACK:
    if (n->state != RUNNING) { drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return on_join_ack(n, now, &m);
  case CDHT_MSG_STAB_QUERY: return on_stab_query(n, now, &m);
  case CDHT_MSG_KEYS_REQ: return on_keys_request(n, now, &m);
  case CDHT_MSG_KEYS_DONE: return on_keys_done(n, now, &m);
  case CDHT_MSG_STAB_REPLY: return on_stab_reply(n, now, &m);
  default: return count_decode_error(n, CDHT_ERR_TYPE); /* unreachable: decode checked */
  }
}

int cdht_node_on_datagram(cdht_node *n, uint64_t now, const cdht_addr *from, const uint8_t *buf, size_t len) {
  /* The cheap filter first: a flooding source is refused before its bytes are looked at. */
  if (!cdht_ratelim_allow(&n->udp_limit, ((uint64_t)from->ip << 16) | from->port, now)) {
    drop(n, CDHT_DROP_RATE);
    return CDHT_ERR_BUSY;
  }
  return dispatch(n, now, CDHT_UDP, from, buf, len);
}

int cdht_node_on_frame(cdht_node *n, uint64_t now, const cdht_addr *from, const uint8_t *buf, size_t len) {
  int rc = dispatch(n, now, CDHT_TCP, from, buf, len);
  if (rc != 0 || len < CDHT_HDR_LEN + 8) return rc;
  uint8_t type = buf[1];
  if (type != CDHT_MSG_SUCC_QUERY && type != CDHT_MSG_STAB_QUERY && type != CDHT_MSG_WITNESS_QUERY) return rc;
  cdht_id who = 0;
  for (int i = 0; i < 8; i++) who = (who << 8) | buf[CDHT_HDR_LEN + i]; /* `from`, the body's first field */
  bool neighbour = who == n->succ[0] || who == n->succ[1] || who == n->pred[0] || who == n->pred[1];
  return neighbour ? 0 : CDHT_ANSWERED;
}

int cdht_node_on_unreachable(cdht_node *n, uint64_t now, cdht_id peer) {
  if (n->state == JOINING && peer == n->cfg.join_via) join_failed(n, peer, CDHT_JOIN_NO_ANSWER);
  if (n->state == LEAVING) leave_target_gone(n, peer);
  for (int i = 0; i < 2; i++) { /* a witness that is gone cannot vouch: judge without it */
    if (!n->suspect[i].active || n->state != RUNNING) continue;
    for (int j = 0; j < 2; j++)
      if (n->suspect[i].witness[j] == peer) n->suspect[i].witness[j] = CDHT_ID_NONE;
    if (n->suspect[i].witness[0] == CDHT_ID_NONE && n->suspect[i].witness[1] == CDHT_ID_NONE) {
      n->suspect[i].active = false;
      successor_dead(n, now, i);
      i = -1; /* the slots may have moved */
    }
  }
  return 0; /* requests and repairs have their own retry timers */
}

int cdht_node_on_command(cdht_node *n, uint64_t now, const cdht_command *cmd) {
  if (n->state == JOINING && cmd->kind == CDHT_CMD_QUIT) { finish_leave(n); return 0; } /* not in yet */
  if (n->state == JOINING) return CDHT_ERR_UNEXPECTED;
  if (n->state != RUNNING) return CDHT_ERR_LEAVING;
  switch (cmd->kind) {
  case CDHT_CMD_REQUEST: return start_request(n, now, cmd->file, false);
  case CDHT_CMD_STORE: return start_request(n, now, cmd->file, true);
  case CDHT_CMD_QUIT: start_leave(n, now); return 0;
  }
  return CDHT_ERR_INVAL;
}

int cdht_node_on_timer(cdht_node *n, uint64_t now) {
  if (n->state == LEFT) return 0;
  if (n->state == JOINING) {
    if (now >= n->join_deadline_ms) join_failed(n, n->cfg.join_via, CDHT_JOIN_TIMEOUT);
    return 0;
  }
  if (n->state == LEAVING) {
    for (int i = 0; i < LEAVE_HO_MAX; i++) {
      struct leave_ho *h = &n->leave_ho[i];
      if (!h->used || h->running) continue;
      if (now >= n->leave_deadline_ms || n->succ[0] == n->cfg.self || n->succ[0] == CDHT_ID_NONE)
        h->used = false; /* given up: the files stay in our data directory */
      else if (now >= h->retry_ms)
        run_leave_handover(n, now, h);
    }
    for (int i = 0; i < LEAVE_HO_MAX; i++) { /* no grant yet: offer again (our successor may have changed) */
      struct leave_ho *h = &n->leave_ho[i];
      if (!h->used || !h->running || !h->granting) continue;
      if (now >= n->leave_deadline_ms) h->used = false;
      else if (now >= h->retry_ms) run_leave_handover(n, now, h);
    }
    if (now >= n->leave_deadline_ms) {
      for (size_t i = 0; i < CDHT_MAX_PENDING; i++) n->awaiting[i].used = false; /* too late: the storer is told it failed */
      for (int i = 0; i < 2; i++)
        if (n->leave[i].waiting) leave_target_gone(n, n->leave[i].peer);
    }
    /* The content may take longer than the confirmations: its transfers end on their own. */
    check_leave_done(n);
    return 0;
  }
  for (int i = 0; i < 2; i++) {
    if (n->succ[i] == CDHT_ID_NONE || n->succ[i] == n->cfg.self) continue;
    uint64_t lost = n->fd[i].lost;
    uint32_t misses = cdht_fd_on_timer(&n->fd[i], now);
    if (misses < n->cfg.misses) n->suspect[i].active = false; /* it answered after all */
    if (misses >= n->cfg.misses && !verdict_due(n, now, i)) continue;
    if (misses >= n->cfg.misses) {
      successor_dead(n, now, i);
      i = -1; /* the slots moved: judge both again (a second death is judged by its own fd) */
    } else if (misses > 0 && n->fd[i].lost > lost && n->next_ping_ms >= now + n->cfg.ping_timeout_ms &&
               !n->cfg.classic_detector) {
      /* A ping went unanswered: probe again now rather than at the next tick.  The verdict
       * still waits for `misses` regular pings, but every probe in between must be lost too,
       * which turns 4 lost round trips into 7 with the defaults (§4). */
      send_ping(n, i, now, true);
    }
  }
  if (n->repair.active && now >= n->repair.next_ms) send_query(n, now);
  if (n->cfg.stabilize_ms && now >= n->next_stab_ms) stabilize(n, now);
  if (n->keys_wait.peer != CDHT_ID_NONE) { /* a joiner's KEYS_REQ not confirmed yet */
    if (now >= n->keys_wait.until_ms) {
      n->keys_wait.peer = CDHT_ID_NONE; /* nobody admitted it: nothing handed over */
      drop(n, CDHT_DROP_UNASKED);
    } else if (now >= n->keys_wait.next_ms) {
      ask_about_joiner(n, now);
    }
  }
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
    pending_req *r = &n->reqs[i];
    if (!r->used) continue;
    if (now >= r->deadline_ms) {
      r->used = false;
      cdht_event ev = { .kind = r->store ? CDHT_EV_STORE_FAILED : CDHT_EV_REQUEST_FAILED, .file = r->file,
                        .ms = r->accepted ? n->cfg.transfer_timeout_ms : n->cfg.request_timeout_ms,
                        .content = r->accepted, .seq = r->id };
      emit(n, ev);
    } else if (now >= r->retry_ms && !r->accepted) {
      r->retry_ms = r->deadline_ms;
      send_request(n, r);
      emit_peer(n, r->store ? CDHT_EV_STORE_RETRIED : CDHT_EV_REQUEST_RETRIED, n->succ[0], r->file);
    }
  }
  if (now >= n->next_ping_ms) {
    send_pings(n, now);
    n->next_ping_ms += n->cfg.ping_interval_ms;
    if (n->next_ping_ms <= now) n->next_ping_ms = now + n->cfg.ping_interval_ms; /* we slept */
  }
  return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t cdht_node_next_deadline(const cdht_node *n) {
  if (n->state == LEFT) return CDHT_NEVER;
  if (n->state == LEAVING) {
    uint64_t t = n->leave[0].waiting || n->leave[1].waiting || awaiting_content(n) ? n->leave_deadline_ms : CDHT_NEVER;
    for (int i = 0; i < LEAVE_HO_MAX; i++)
      if (n->leave_ho[i].used && (!n->leave_ho[i].running || n->leave_ho[i].granting))
        t = min_u64(t, min_u64(n->leave_ho[i].retry_ms, n->leave_deadline_ms));
    return t;
  }
  if (n->state == JOINING) return n->join_deadline_ms;
  uint64_t t = n->next_ping_ms;
  if (n->cfg.stabilize_ms) t = min_u64(t, n->next_stab_ms);
  for (int i = 0; i < 2; i++) {
    t = min_u64(t, cdht_fd_next_deadline(&n->fd[i]));
    if (n->suspect[i].active) t = min_u64(t, n->suspect[i].deadline_ms);
  }
  if (n->repair.active) t = min_u64(t, n->repair.next_ms);
  if (n->keys_wait.peer != CDHT_ID_NONE) t = min_u64(t, min_u64(n->keys_wait.next_ms, n->keys_wait.until_ms));
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++)
    if (n->reqs[i].used)
      t = min_u64(t, n->reqs[i].accepted ? n->reqs[i].deadline_ms : min_u64(n->reqs[i].retry_ms, n->reqs[i].deadline_ms));
  return t;
}

int cdht_node_next_output(cdht_node *n, cdht_output *out) {
  if (n->out_count == 0) return 0;
  *out = n->outq[n->out_head];
  n->out_head = (n->out_head + 1) % CDHT_OUTQ_CAP;
  n->out_count--;
  return 1;
}

int cdht_node_next_event(cdht_node *n, cdht_event *ev) {
  if (n->ev_count == 0) return 0;
  *ev = n->evq[n->ev_head];
  n->ev_head = (n->ev_head + 1) % CDHT_EVQ_CAP;
  n->ev_count--;
  return 1;
}

static void *libc_alloc(void *ctx, size_t size) { (void)ctx; return calloc(1, size); }
static void libc_free(void *ctx, void *p) { (void)ctx; free(p); }

int cdht_node_new(cdht_node **out, const cdht_config *cfg, const cdht_mem *mem, uint64_t now) {
  *out = NULL;
  if (cdht_config_check(cfg) < 0) return CDHT_ERR_INVAL;
  cdht_mem m = mem ? *mem : (cdht_mem){ libc_alloc, libc_free, NULL };
  cdht_node *n = m.alloc(m.ctx, sizeof *n);
  if (!n) return CDHT_ERR_NOMEM;
  memset(n, 0, sizeof *n);
  n->cfg = *cfg;
  n->mem = m;
  n->state = RUNNING;
  n->succ[0] = cfg->succ[0];
  n->succ[1] = cfg->succ[1];
  n->pred[0] = n->pred[1] = n->pred_was2 = n->pred_was1 = CDHT_ID_NONE;
  n->heard_ms[0] = n->heard_ms[1] = CDHT_NEVER;
  cdht_ratelim_init(&n->udp_limit, cfg->udp_rate, cfg->udp_rate * 2);
  n->departed = CDHT_ID_NONE;
  n->keys_wait.peer = n->joiner.peer = CDHT_ID_NONE;
  for (int i = 0; i < GRANTS; i++) n->grants_in[i].peer = n->grants_out[i].peer = CDHT_ID_NONE;
  n->depart_wait[0].peer = n->depart_wait[1].peer = n->change_wait.peer = CDHT_ID_NONE;
  n->next_ping_ms = now; /* ping at once: predecessors learn who we are without delay */
  n->next_stab_ms = now + cfg->stabilize_ms;
  if (cfg->join_via != CDHT_ID_NONE) {
    /* One request, no resend: TCP delivers it or the connection is refused, and a second copy
     * could meet the first one's success and be refused as a duplicate id. */
    n->state = JOINING;
    n->succ[0] = n->succ[1] = CDHT_ID_NONE;
    n->join_seq = 1;
    n->join_deadline_ms = now + cfg->join_timeout_ms;
    cdht_msg req = { .type = CDHT_MSG_JOIN_REQ, .origin = cfg->self, .seq = n->join_seq };
    send_msg(n, CDHT_TCP, cfg->join_via, &req);
  }
  *out = n;
  return 0;
}

void cdht_node_del(cdht_node *n) {
  if (n) n->mem.free(n->mem.ctx, n);
}

const cdht_config *cdht_node_config(const cdht_node *n) { return &n->cfg; }
cdht_id cdht_node_successor(const cdht_node *n, int i) {
  assert(i == 0 || i == 1);
  return n->succ[i];
}
cdht_id cdht_node_predecessor(const cdht_node *n, int i) {
  assert(i == 0 || i == 1);
  return n->pred[i];
}
const cdht_stats *cdht_node_stats(const cdht_node *n) { return &n->stats; }
bool cdht_node_has_left(const cdht_node *n) { return n->state == LEFT; }
size_t cdht_node_size(void) { return sizeof(cdht_node); }

const char *cdht_drop_name(cdht_drop d) {
  static const char *names[] = {
#define CDHT_DROP_NAME(name, text) text,
    CDHT_DROPS(CDHT_DROP_NAME)
#undef CDHT_DROP_NAME
  };
  return d < CDHT_DROP_COUNT ? names[d] : "?";
}

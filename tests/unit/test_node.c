/* Scenario tests of the node state machine (src/core/node.c and its modules), driven with
 * explicit time, on wire version 2.
 *
 * Single-node tests feed hand-made messages "from peer k" and read what the node queued.
 * Ring tests run several nodes in one in-memory network (struct net below) that hands every
 * queued output to its destination at once, so the classic ring 1 3 4 5 8 10 12 15 runs here
 * with no sockets, no clock and no sleeps.  Every node uses a 1000 ms ping interval, a 500 ms
 * ping timeout and 4 misses, so a kill is detected at most 4 * 1000 + 500 ms after the last
 * answered ping.
 *
 * Peers are records (id and address).  The classic tests name them by id: P(id) is the classic
 * record of peer id (127.0.0.1:50000+id), and what the node reports is compared by id, with the
 * test-local NOPEER for "no peer" and ANY as a wildcard.  Both are ids past the classic rings'
 * 2^8; the 64-bit ring tests, where every value is an id, compare records instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cdht/err.h"
#include "wire/msg.h"
#include "node.h"

#define INTERVAL 1000u
#define TIMEOUT 500u
#define MISSES 4u
#define DETECT_MS (MISSES * INTERVAL + TIMEOUT) /* worst case after the last answered ping */

#define NOPEER UINT64_MAX      /* "no peer", as an id (classic rings only) */
#define ANY (UINT64_MAX - 1)   /* wildcard peer in event searches (classic rings only) */
#define ANY_FILE 0xffffu       /* wildcard file */

/* TCP frames come from an ephemeral port of the sender's host: the node must judge them by the
 * host alone (§2). */
static const cdht_addr tcp_src = { .family = CDHT_AF_INET, .port = 40001, .ip = { 127, 0, 0, 1 } };

/* The classic record of peer |id|: 127.0.0.1:50000+id (any id: one past the ring is how the
 * hostile tests name a peer outside it). */
static cdht_peer P(cdht_id id) {
  cdht_config c;
  cdht_config_default(&c);
  return cdht_config_peer(&c, id);
}

/* A peer's id, or NOPEER for "no peer". */
static cdht_id idof(cdht_peer p) { return cdht_peer_known(&p) ? p.id : NOPEER; }

/* Whether |p| is a peer with id |id| (never true of "no peer", whatever |id| is). */
static bool is_id(cdht_peer p, cdht_id id) { return cdht_peer_known(&p) && p.id == id; }

static void assert_peer_id(cdht_peer p, cdht_id id) {
  if (!is_id(p, id))
    fail_msg("peer %s%llu, want %llu", cdht_peer_known(&p) ? "" : "(none) ", (unsigned long long)p.id,
             (unsigned long long)id);
}

/* Messages that carry a file name. */
static bool named(uint8_t type) {
  return type == CDHT_MSG_FILE_REQ || type == CDHT_MSG_FILE_RESP || type == CDHT_MSG_STORE_REQ ||
         type == CDHT_MSG_STORE_ACCEPT || type == CDHT_MSG_STORE_DONE || type == CDHT_MSG_XFER;
}

/* The classic name of file |f| (0..9999): an initializer, and a pointer to one. */
#define NM4(f)                                                                                                \
  {                                                                                                           \
    .len = 4, .s = { (uint8_t)('0' + (f) / 1000 % 10), (uint8_t)('0' + (f) / 100 % 10),                      \
                     (uint8_t)('0' + (f) / 10 % 10), (uint8_t)('0' + (f) % 10) }                              \
  }
#define NMP(f) (&(cdht_name)NM4(f))

/* The number of a classic name; 0 for none (the events that carry no name), 0xfffe for a name
 * that is no number. */
static unsigned name_number(const cdht_name *n) {
  int v = cdht_name_number(n);
  return n->len == 0 ? 0 : v < 0 ? 0xfffeu : (unsigned)v;
}

/* ---- one node ---- */

static cdht_config make_cfg(cdht_id self, cdht_id s1, cdht_id s2) {
  cdht_config c;
  cdht_config_default(&c);
  cdht_config_classic(&c, self, s1, s2);
  c.ping_interval_ms = INTERVAL;
  c.ping_timeout_ms = TIMEOUT;
  c.misses = MISSES;
  c.stabilize_ms = 0; /* the classic scenarios count every message; stabilization has its own tests */
  return c;
}

static cdht_node *new_node(cdht_id self, cdht_id s1, cdht_id s2, uint64_t now) {
  cdht_config c = make_cfg(self, s1, s2);
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  assert_non_null(n);
  return n;
}

/* One queued output and its decoded message. */
typedef struct sent {
  cdht_output o;
  cdht_msg m;
  uint16_t file; /* a named message's classic name as a number */
} sent;

/* Decodes an output. */
static cdht_msg decode(const cdht_output *o) {
  cdht_msg m;
  assert_int_equal(cdht_msg_decode(&m, o->buf, o->len), (cdht_ssize)o->len);
  assert_true(named(m.type) == (m.name.len > 0));
  return m;
}

/* What every output of |n| must be, whatever the scenario: addressed to a peer (never to "no
 * peer"), sent from our own record of the destination's address family (that is where the
 * answer goes, and what the receiver compares with the datagram's source), and on the classic
 * forms to the classic record of its id. */
static void check_output(const cdht_node *n, const cdht_output *o, const cdht_msg *m) {
  const cdht_config *c = cdht_node_config(n);
  assert_true(cdht_peer_known(&o->to));
  assert_true(m->from.id == c->self);
  const cdht_addr *mine = o->to.addr.family == c->addr.family ? &c->addr : &c->alt;
  assert_true(cdht_addr_eq(&m->from.addr, mine));
  if (c->classic) {
    cdht_peer want = cdht_config_peer(c, o->to.id);
    assert_true(cdht_peer_eq(&o->to, &want));
  }
}

#define OUT_CAP 128
#define EV_CAP 128

static size_t drain_out(cdht_node *n, sent *out, size_t cap) {
  size_t k = 0;
  cdht_output o;
  while (cdht_node_next_output(n, &o)) {
    assert_true(k < cap);
    out[k].o = o;
    out[k].m = decode(&o);
    out[k].file = (uint16_t)name_number(&out[k].m.name);
    check_output(n, &out[k].o, &out[k].m);
    k++;
  }
  return k;
}


static size_t drain_ev(cdht_node *n, cdht_event *ev, size_t cap) {
  size_t k = 0;
  while (k < cap && cdht_node_next_event(n, &ev[k])) k++;
  assert_true(k < cap);
  return k;
}

static void drain_all(cdht_node *n) {
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  drain_out(n, out, OUT_CAP);
  drain_ev(n, ev, EV_CAP);
}

/* Delivers |m| to |n| as sent by the peer |from| from source address |src| (a datagram) or from
 * a connection whose source is |src| (a frame).  Returns what the node returned. */
static int deliver_as(cdht_node *n, uint64_t now, cdht_transport t, cdht_peer from, const cdht_addr *src,
                      cdht_msg m) {
  uint8_t buf[CDHT_MSG_MAX];
  m.from = from;
  cdht_ssize len = cdht_msg_encode(buf, sizeof buf, &m);
  assert_true(len > 0);
  if (t == CDHT_UDP) return cdht_node_on_datagram(n, now, src, buf, (size_t)len);
  return cdht_node_on_frame(n, now, src, buf, (size_t)len);
}

/* Delivers |m| to |n| as if classic peer |from| sent it: a datagram from that peer's own
 * address, or a TCP frame from an ephemeral port of its host.  Returns what the node returned. */
static int deliver(cdht_node *n, uint64_t now, cdht_transport t, cdht_id from, cdht_msg m) {
  cdht_peer p = P(from);
  return deliver_as(n, now, t, p, t == CDHT_UDP ? &p.addr : &tcp_src, m);
}

/* Delivers a DEPART from |from| as the real leaving peer would follow it up: it answers our
 * DEPART_ACK's token with DEPART_CONFIRM, and only then is the departure applied (§6). */
static int deliver_depart(cdht_node *n, uint64_t now, cdht_id from, cdht_msg dep) {
  int rc = deliver(n, now, CDHT_TCP, from, dep);
  if (rc < 0) return rc;
  sent out[OUT_CAP];
  size_t o = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < o; i++) {
    if (out[i].m.type != CDHT_MSG_DEPART_ACK || out[i].o.to.id != from) continue;
    cdht_msg yes = { .type = CDHT_MSG_DEPART_CONFIRM, .token = out[i].m.token };
    return deliver(n, now, CDHT_TCP, from, yes);
  }
  fail_msg("no DEPART_ACK to %llu", (unsigned long long)from);
  return -1;
}

static int ping_from(cdht_node *n, uint64_t now, cdht_id from, uint8_t role, uint32_t seq) {
  cdht_msg m = { .type = CDHT_MSG_PING, .role = role, .seq = seq };
  return deliver(n, now, CDHT_UDP, from, m);
}

static int pong_from(cdht_node *n, uint64_t now, cdht_id from, uint32_t seq) {
  cdht_msg m = { .type = CDHT_MSG_PONG, .seq = seq };
  return deliver(n, now, CDHT_UDP, from, m);
}

/* Runs the timer and checks the one promise every caller relies on: the next deadline is in
 * the future (a deadline at or before now would make the io loop spin). */
static void timer(cdht_node *n, uint64_t now) {
  assert_int_equal(cdht_node_on_timer(n, now), 0);
  assert_true(cdht_node_next_deadline(n) > now);
}

/* Drains the outputs, answering every ping with a pong from its destination (as live
 * successors would); the other outputs are returned in |rest|. */
static size_t answer_pings(cdht_node *n, uint64_t now, sent *rest, size_t cap) {
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP), r = 0;
  for (size_t i = 0; i < k; i++) {
    if (out[i].m.type == CDHT_MSG_PING) {
      assert_int_equal(pong_from(n, now, out[i].o.to.id, out[i].m.seq), 0);
    } else {
      assert_true(r < cap);
      rest[r++] = out[i];
    }
  }
  return r;
}

static size_t count_type(const sent *s, size_t k, uint8_t type) {
  size_t c = 0;
  for (size_t i = 0; i < k; i++) c += s[i].m.type == type;
  return c;
}

static int find_type(const sent *s, size_t k, uint8_t type) {
  for (size_t i = 0; i < k; i++)
    if (s[i].m.type == type) return (int)i;
  return -1;
}

static bool ev_is(const cdht_event *e, cdht_event_kind kind, cdht_id peer, unsigned file) {
  return e->kind == kind && (peer == ANY || idof(e->peer) == peer) && (file == ANY_FILE || name_number(&e->name) == file);
}

/* Index of the first event at or after |from| that matches, or -1. */
static int ev_find(const cdht_event *ev, size_t k, size_t from, cdht_event_kind kind, cdht_id peer,
                   unsigned file) {
  for (size_t i = from; i < k; i++)
    if (ev_is(&ev[i], kind, peer, file)) return (int)i;
  return -1;
}

static int ev_find_succ(const cdht_event *ev, size_t k, size_t from, cdht_id a, cdht_id b) {
  for (size_t i = from; i < k; i++)
    if (ev[i].kind == CDHT_EV_SUCCESSORS && idof(ev[i].succ[0]) == a && idof(ev[i].succ[1]) == b) return (int)i;
  return -1;
}

static size_t ev_count(const cdht_event *ev, size_t k, cdht_event_kind kind) {
  size_t c = 0;
  for (size_t i = 0; i < k; i++) c += ev[i].kind == kind;
  return c;
}

static uint64_t drops_total(const cdht_node *n) {
  uint64_t t = 0;
  for (int d = 0; d < CDHT_DROP_COUNT; d++) t += cdht_node_stats(n)->dropped[d];
  return t;
}

static cdht_id succ_of(const cdht_node *n, int i) { return idof(cdht_node_successor(n, i)); }
static cdht_id pred_of(const cdht_node *n, int i) { return idof(cdht_node_predecessor(n, i)); }

static void assert_succ(const cdht_node *n, cdht_id a, cdht_id b) {
  assert_int_equal(succ_of(n, 0), a);
  assert_int_equal(succ_of(n, 1), b);
}

static int command(cdht_node *n, uint64_t now, cdht_command_kind kind, uint16_t file) {
  cdht_command c = { .kind = kind, .name = NM4(file) };
  return cdht_node_on_command(n, now, &c);
}

/* ---- an in-memory network of nodes ---- */

#define NET_MAX 16
#define LOG_CAP 2048
#define TRACE_CAP 32768

typedef struct peer {
  cdht_id id;
  cdht_node *n;
  bool dead;               /* killed: nothing reaches it, nothing leaves it, no timers */
  cdht_event log[LOG_CAP]; /* every event it emitted, in order */
  uint64_t at[LOG_CAP];    /* ms: when log[i] was emitted */
  size_t nlog;
  cdht_id gone[8];         /* peers it saw die or depart: never its successors again */
  size_t ngone;
} peer;

/* One delivery attempt, for assertions about the path a message took. */
typedef struct trace {
  uint64_t at;   /* ms */
  cdht_id to;
  cdht_transport t;
  cdht_msg m;    /* m.from is the sender */
  bool lost;     /* the destination was dead or gone */
  int rc;        /* what the destination returned */
} trace;

typedef struct net {
  uint64_t now; /* ms */
  peer p[NET_MAX];
  size_t np;
  trace tr[TRACE_CAP];
  size_t ntr;
} net;

static net *net_new(void) {
  net *w = calloc(1, sizeof *w);
  assert_non_null(w);
  return w;
}

static void net_del(net *w) {
  for (size_t i = 0; i < w->np; i++) cdht_node_del(w->p[i].n);
  free(w);
}

static peer *net_find(net *w, cdht_id id) {
  for (size_t i = 0; i < w->np; i++)
    if (w->p[i].id == id) return &w->p[i];
  return NULL;
}

/* The network's peer |id| (it must exist). */
static peer *NP(net *w, cdht_id id) {
  peer *p = net_find(w, id);
  assert_non_null(p);
  return p;
}

static bool live(const peer *p) { return !p->dead && !cdht_node_has_left(p->n); }

/* Starts a peer with config |c| at the network's current time. */
static peer *net_add_cfg(net *w, const cdht_config *c) {
  assert_true(w->np < NET_MAX);
  assert_null(net_find(w, c->self));
  peer *p = &w->p[w->np++];
  p->id = c->self;
  assert_int_equal(cdht_node_new(&p->n, c, NULL, w->now), 0);
  return p;
}

/* Starts classic peer |id| with successors |s1| and |s2| at the network's current time. */
static peer *net_add(net *w, cdht_id id, cdht_id s1, cdht_id s2) {
  cdht_config c = make_cfg(id, s1, s2);
  return net_add_cfg(w, &c);
}

/* Starts the ring |ids| (sorted), each peer with its next two as successors. */
static void net_ring(net *w, const cdht_id *ids, size_t k) {
  for (size_t i = 0; i < k; i++) {
    if (k == 1) net_add(w, ids[0], ids[0], ids[0]);
    else if (k == 2) net_add(w, ids[i], ids[1 - i], ids[i]);
    else net_add(w, ids[i], ids[(i + 1) % k], ids[(i + 2) % k]);
  }
}

/* Moves |p|'s events into its log and checks that it never takes back a peer it saw go. */
static void net_collect(net *w, peer *p) {
  cdht_event ev;
  while (cdht_node_next_event(p->n, &ev)) {
    assert_true(p->nlog < LOG_CAP);
    p->at[p->nlog] = w->now;
    p->log[p->nlog++] = ev;
    if ((ev.kind == CDHT_EV_PEER_DEAD || ev.kind == CDHT_EV_DEPARTING) && p->ngone < 8) {
      assert_true(cdht_peer_known(&ev.peer));
      p->gone[p->ngone++] = ev.peer.id;
    }
    if (ev.kind == CDHT_EV_HANDOVER) /* as the I/O layer would: no files held here */
      assert_int_equal(cdht_node_on_handover_done(p->n, w->now, ev.peer, ev.seq, 0, 0), 0);
  }
  for (size_t g = 0; g < p->ngone; g++) {
    assert_false(is_id(cdht_node_successor(p->n, 0), p->gone[g]));
    assert_false(is_id(cdht_node_successor(p->n, 1), p->gone[g]));
  }
}

/* The address |c|'s peer speaks from to an address of |family|. */
static cdht_addr own_addr(const cdht_config *c, uint8_t family) {
  return c->addr.family == family ? c->addr : c->alt;
}

static void net_route(net *w, peer *src, const cdht_output *o) {
  cdht_msg m = decode(o);
  const cdht_config *sc = cdht_node_config(src->n);
  check_output(src->n, o, &m);
  assert_true(m.from.id == src->id);
  assert_true(o->to.id != src->id); /* a node never addresses itself */
  assert_true(w->ntr < TRACE_CAP);
  trace *t = &w->tr[w->ntr++];
  *t = (trace){ .at = w->now, .to = o->to.id, .t = o->transport, .m = m };
  peer *dst = net_find(w, o->to.id);
  if (dst) { /* whoever told the sender of |dst| gave it one of |dst|'s own addresses */
    const cdht_config *dc = cdht_node_config(dst->n);
    assert_true(cdht_addr_eq(&o->to.addr, &dc->addr) || cdht_addr_eq(&o->to.addr, &dc->alt));
  }
  if (!dst || !live(dst)) {
    /* A datagram to a dead peer is lost; a TCP connection to it is refused. */
    t->lost = true;
    if (o->transport == CDHT_TCP) cdht_node_on_unreachable(src->n, w->now, o->to);
    net_collect(w, src);
    return;
  }
  /* A datagram comes from the sender's bound address of the destination's family; a
   * connection from an ephemeral port of that host. */
  cdht_addr from = own_addr(sc, o->to.addr.family);
  if (o->transport == CDHT_UDP) {
    t->rc = cdht_node_on_datagram(dst->n, w->now, &from, o->buf, o->len);
  } else {
    from.port = 40001;
    t->rc = cdht_node_on_frame(dst->n, w->now, &from, o->buf, o->len);
  }
  net_collect(w, dst);
}

/* Delivers every queued output, and everything that causes, with no delay. */
static void net_flush(net *w) {
  for (int guard = 0;; guard++) {
    assert_true(guard < 10000);
    bool any = false;
    for (size_t i = 0; i < w->np; i++) {
      peer *p = &w->p[i];
      cdht_output o;
      while (cdht_node_next_output(p->n, &o)) {
        any = true;
        if (!p->dead) net_route(w, p, &o); /* a killed peer's last words are lost */
      }
      net_collect(w, p);
    }
    if (!any) return;
  }
}

/* Runs every timer due by |t| in time order, delivering after each step; ends at |t|. */
static void net_run_until(net *w, uint64_t t) {
  for (int guard = 0;; guard++) {
    assert_true(guard < 1000000);
    uint64_t next = CDHT_NEVER;
    for (size_t i = 0; i < w->np; i++)
      if (live(&w->p[i])) {
        uint64_t d = cdht_node_next_deadline(w->p[i].n);
        if (d < next) next = d;
      }
    if (next > t) break;
    if (next > w->now) w->now = next;
    for (size_t i = 0; i < w->np; i++) {
      peer *p = &w->p[i];
      if (!live(p) || cdht_node_next_deadline(p->n) > w->now) continue;
      timer(p->n, w->now);
      net_collect(w, p);
    }
    net_flush(w);
  }
  if (t > w->now) w->now = t;
}

static void net_advance(net *w, uint64_t ms) { net_run_until(w, w->now + ms); }

static int net_cmd(net *w, cdht_id id, cdht_command_kind kind, uint16_t file) {
  peer *p = NP(w, id);
  int rc = command(p->n, w->now, kind, file);
  net_collect(w, p);
  net_flush(w);
  return rc;
}

static void net_kill(net *w, cdht_id id) {
  peer *p = NP(w, id);
  p->dead = true;
  drain_all(p->n);
}

/* Checks that every live peer has the successors and predecessors the live set implies (by
 * record, so that it holds on a 64-bit ring too). */
static void net_check_ring(net *w) {
  cdht_id ids[NET_MAX];
  size_t k = 0;
  for (size_t i = 0; i < w->np; i++)
    if (live(&w->p[i])) ids[k++] = w->p[i].id;
  for (size_t i = 1; i < k; i++) /* insertion sort: peers may have been added out of order */
    for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      cdht_id x = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = x;
    }
  for (size_t i = 0; i < k; i++) {
    cdht_node *n = NP(w, ids[i])->n;
    if (k == 1) {
      assert_peer_id(cdht_node_successor(n, 0), ids[0]);
      assert_peer_id(cdht_node_successor(n, 1), ids[0]);
    } else if (k == 2) {
      assert_peer_id(cdht_node_successor(n, 0), ids[1 - i]);
      assert_peer_id(cdht_node_successor(n, 1), ids[i]);
      assert_peer_id(cdht_node_predecessor(n, 0), ids[1 - i]);
    } else {
      assert_peer_id(cdht_node_successor(n, 0), ids[(i + 1) % k]);
      assert_peer_id(cdht_node_successor(n, 1), ids[(i + 2) % k]);
      assert_peer_id(cdht_node_predecessor(n, 0), ids[(i + k - 1) % k]);
      assert_peer_id(cdht_node_predecessor(n, 1), ids[(i + k - 2) % k]);
    }
  }
}

/* Honest peers never send anything another honest peer must refuse for its form or origin.
 * (Stale is allowed: a pong may race a successor change.) */
static void net_check_honest(net *w) {
  static const cdht_drop bad[] = { CDHT_DROP_MALFORMED, CDHT_DROP_VERSION, CDHT_DROP_TYPE,
                                   CDHT_DROP_TRANSPORT, CDHT_DROP_SPOOFED, CDHT_DROP_BADID,
                                   CDHT_DROP_ROLE,      CDHT_DROP_LOOP,    CDHT_DROP_QUEUE };
  for (size_t i = 0; i < w->np; i++) {
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++)
      assert_int_equal(cdht_node_stats(w->p[i].n)->dropped[bad[j]], 0);
    assert_int_equal(cdht_node_stats(w->p[i].n)->unroutable, 0);
  }
}

/* Index of the first trace entry at or after |from| of |type| from |src| to |dst| (ANY for
 * either), or -1. */
static int tr_find(const net *w, size_t from, uint8_t type, cdht_id src, cdht_id dst) {
  for (size_t i = from; i < w->ntr; i++) {
    const trace *t = &w->tr[i];
    if (t->m.type == type && (src == ANY || t->m.from.id == src) && (dst == ANY || t->to == dst))
      return (int)i;
  }
  return -1;
}

static size_t tr_count(const net *w, size_t from, uint8_t type, cdht_id src, cdht_id dst) {
  size_t c = 0;
  for (size_t i = from; i < w->ntr; i++) {
    const trace *t = &w->tr[i];
    c += t->m.type == type && (src == ANY || t->m.from.id == src) && (dst == ANY || t->to == dst);
  }
  return c;
}

static int log_find(const peer *p, size_t from, cdht_event_kind kind, cdht_id peer_id, unsigned file) {
  return ev_find(p->log, p->nlog, from, kind, peer_id, file);
}

static int log_find_succ(const peer *p, size_t from, cdht_id a, cdht_id b) {
  return ev_find_succ(p->log, p->nlog, from, a, b);
}

/* Quiet: nothing but pings, and the key handover every quit ends with (its successor hears
 * "0 files received"; the classic lines are checked elsewhere). */
static bool log_quiet(const peer *p, size_t from) {
  for (size_t i = from; i < p->nlog; i++) {
    cdht_event_kind k = p->log[i].kind;
    if (k != CDHT_EV_PING_REQUEST && k != CDHT_EV_PING_RESPONSE && k != CDHT_EV_KEYS_RECEIVED &&
        k != CDHT_EV_HANDOVER && k != CDHT_EV_HANDED_OVER)
      return false;
  }
  return true;
}

static const cdht_id classic[] = { 1, 3, 4, 5, 8, 10, 12, 15 };
#define NCLASSIC (sizeof classic / sizeof classic[0])

/* ---- 1. pings ---- */

static void test_node_pings(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];

  /* At start: role 1 to the first successor, role 2 to the second, over UDP. */
  timer(n, now);
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 2);
  assert_int_equal(out[0].m.type, CDHT_MSG_PING);
  assert_int_equal(out[0].o.transport, CDHT_UDP);
  assert_int_equal(out[0].o.to.id, 5);
  assert_int_equal(out[0].o.to.addr.port, 50005);
  assert_int_equal(cdht_addr_ipv4(&out[0].o.to.addr), 0x7f000001u);
  assert_int_equal(out[0].m.role, CDHT_ROLE_FIRST);
  assert_int_equal(out[0].m.from.id, 4);
  assert_int_equal(out[1].m.type, CDHT_MSG_PING);
  assert_int_equal(out[1].o.transport, CDHT_UDP);
  assert_int_equal(out[1].o.to.id, 8);
  assert_int_equal(out[1].o.to.addr.port, 50008);
  assert_int_equal(out[1].m.role, CDHT_ROLE_SECOND);
  assert_int_equal(cdht_node_stats(n)->pings_sent, 2);

  /* The responses: one event each, counted. */
  assert_int_equal(pong_from(n, now, 5, out[0].m.seq), 0);
  assert_int_equal(pong_from(n, now, 8, out[1].m.seq), 0);
  k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 2);
  assert_true(ev_is(&ev[0], CDHT_EV_PING_RESPONSE, 5, 0));
  assert_true(ev_is(&ev[1], CDHT_EV_PING_RESPONSE, 8, 0));
  assert_int_equal(cdht_node_stats(n)->pongs_received, 2);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0); /* a pong is not answered */

  /* Then exactly two pings every interval, none in between, each with a fresh number. */
  uint32_t last_seq = out[0].m.seq;
  for (int round = 1; round <= 5; round++) {
    now += INTERVAL / 2;
    timer(n, now);
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    now += INTERVAL / 2;
    timer(n, now);
    k = drain_out(n, out, OUT_CAP);
    assert_int_equal(k, 2);
    assert_true(out[0].o.to.id == 5 && out[0].m.role == CDHT_ROLE_FIRST);
    assert_true(out[1].o.to.id == 8 && out[1].m.role == CDHT_ROLE_SECOND);
    assert_true(out[0].m.seq != last_seq);
    last_seq = out[0].m.seq;
    assert_int_equal(pong_from(n, now, 5, out[0].m.seq), 0);
    assert_int_equal(pong_from(n, now, 8, out[1].m.seq), 0);
  }
  assert_int_equal(cdht_node_stats(n)->pings_sent, 12);
  assert_int_equal(cdht_node_stats(n)->pongs_received, 12);
  drain_ev(n, ev, EV_CAP);

  /* A ping in role 1 makes its sender the first predecessor and is answered with its seq. */
  assert_int_equal(pred_of(n, 0), NOPEER);
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_FIRST, 4242), 0);
  assert_int_equal(pred_of(n, 0), 3);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_PONG);
  assert_int_equal(out[0].o.transport, CDHT_UDP);
  assert_int_equal(out[0].o.to.id, 3);
  assert_int_equal(out[0].o.to.addr.port, 50003);
  assert_int_equal(out[0].m.seq, 4242);
  assert_int_equal(out[0].m.from.id, 4);
  k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_true(ev_is(&ev[0], CDHT_EV_PING_REQUEST, 3, 0));

  /* Role 2 sets the second predecessor. */
  assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_SECOND, 7), 0);
  assert_int_equal(pred_of(n, 1), 1);
  assert_int_equal(pred_of(n, 0), 3);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_true(out[0].m.type == CDHT_MSG_PONG && out[0].o.to.id == 1 && out[0].m.seq == 7);
  assert_int_equal(cdht_node_stats(n)->pings_received, 2);

  /* A peer that changes role leaves the other slot: it cannot be both predecessors. */
  assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_FIRST, 8), 0);
  assert_int_equal(pred_of(n, 0), 1);
  assert_int_equal(pred_of(n, 1), NOPEER);
  drain_all(n);
  cdht_node_del(n);
}

/* ---- 2. the canonical demo on the classic ring ---- */

static void test_node_classic_demo(void **state) {
  (void)state;
  net *w = net_new();
  net_ring(w, classic, NCLASSIC);

  /* Pings settle in one round: every peer knows its two predecessors. */
  net_run_until(w, 2500);
  net_check_ring(w);
  assert_int_equal(pred_of(NP(w, 1)->n, 0), 15);
  assert_int_equal(pred_of(NP(w, 1)->n, 1), 12);
  assert_int_equal(pred_of(NP(w, 10)->n, 0), 8);
  assert_int_equal(pred_of(NP(w, 10)->n, 1), 5);
  for (size_t i = 0; i < NCLASSIC; i++) {
    peer *p = NP(w, classic[i]);
    assert_true(log_find(p, 0, CDHT_EV_PING_REQUEST, ANY, 0) >= 0);
    assert_true(log_find(p, 0, CDHT_EV_PING_RESPONSE, ANY, 0) >= 0);
  }

  /* request 2012 at 8: key 2012 mod 256 = 220, held by 1 (the first id >= 220, wrapping). */
  size_t mark[16] = { 0 };
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = NP(w, classic[i])->nlog;
  size_t tmark = w->ntr;
  assert_int_equal(net_cmd(w, 8, CDHT_CMD_REQUEST, 2012), 0);
  assert_true(log_find(NP(w, 8), mark[4], CDHT_EV_REQUEST_SENT, 10, 2012) >= 0);
  assert_true(log_find(NP(w, 10), mark[5], CDHT_EV_REQUEST_FORWARDED, 12, 2012) >= 0);
  assert_true(log_find(NP(w, 12), mark[6], CDHT_EV_REQUEST_FORWARDED, 15, 2012) >= 0);
  assert_true(log_find(NP(w, 15), mark[7], CDHT_EV_REQUEST_FORWARDED, 1, 2012) >= 0);
  int here = log_find(NP(w, 1), mark[0], CDHT_EV_FILE_HERE, 1, 2012);
  int resp = log_find(NP(w, 1), mark[0], CDHT_EV_RESPONSE_SENT, 8, 2012);
  assert_true(here >= 0 && resp > here);
  assert_true(log_find(NP(w, 8), mark[4], CDHT_EV_RESPONSE_RECEIVED, 1, 2012) >= 0);
  for (size_t i = 1; i <= 3; i++) assert_true(log_quiet(NP(w, classic[i]), mark[i])); /* 3 4 5 */
  /* The path: successor to successor over TCP, the last hop marked final, and the answer
   * straight back to the requester. */
  int h1 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 8, 10), h2 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 10, 12);
  int h3 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 12, 15), h4 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 15, 1);
  int h5 = tr_find(w, tmark, CDHT_MSG_FILE_RESP, 1, 8);
  assert_true(h1 >= 0 && h1 < h2 && h2 < h3 && h3 < h4 && h4 < h5);
  assert_int_equal(w->tr[h1].t, CDHT_TCP);
  assert_int_equal(w->tr[h1].m.flags, 0);
  assert_int_equal(w->tr[h4].m.flags, CDHT_REQ_FINAL);
  assert_int_equal(w->tr[h4].m.origin.id, 8);
  assert_int_equal(w->tr[h5].m.seq, w->tr[h1].m.seq);
  assert_int_equal(tr_count(w, tmark, CDHT_MSG_FILE_REQ, ANY, ANY), 4);

  /* quit at 10: its predecessors 8 and 5 take its successors, confirm, and 10 is gone. */
  net_advance(w, 500);
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = NP(w, classic[i])->nlog;
  tmark = w->ntr;
  assert_int_equal(net_cmd(w, 10, CDHT_CMD_QUIT, 0), 0);
  int dep = log_find(NP(w, 8), mark[4], CDHT_EV_DEPARTING, 10, ANY_FILE);
  assert_true(dep >= 0 && log_find_succ(NP(w, 8), (size_t)dep, 12, 15) > dep);
  dep = log_find(NP(w, 5), mark[3], CDHT_EV_DEPARTING, 10, ANY_FILE);
  assert_true(dep >= 0 && log_find_succ(NP(w, 5), (size_t)dep, 8, 12) > dep);
  assert_true(log_find(NP(w, 10), mark[5], CDHT_EV_LEFT, ANY, ANY_FILE) >= 0);
  assert_true(cdht_node_has_left(NP(w, 10)->n));
  assert_int_equal(cdht_node_next_deadline(NP(w, 10)->n), CDHT_NEVER);
  assert_true(tr_find(w, tmark, CDHT_MSG_DEPART_ACK, 8, 10) >= 0);
  assert_true(tr_find(w, tmark, CDHT_MSG_DEPART_ACK, 5, 10) >= 0);
  assert_int_equal(log_find(NP(w, 10), mark[5], CDHT_EV_LEAVE_UNCONFIRMED, ANY, ANY_FILE), -1);
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 5 && classic[i] != 8 && classic[i] != 10)
      assert_true(log_quiet(NP(w, classic[i]), mark[i]));
  net_advance(w, 2 * INTERVAL); /* the new predecessors ping */
  net_check_ring(w);

  /* request 0010 at 4: key 10, now held by 12, reached through 5 and 8. */
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = NP(w, classic[i])->nlog;
  tmark = w->ntr;
  assert_int_equal(net_cmd(w, 4, CDHT_CMD_REQUEST, 10), 0);
  assert_true(log_find(NP(w, 4), mark[2], CDHT_EV_REQUEST_SENT, 5, 10) >= 0);
  assert_true(log_find(NP(w, 5), mark[3], CDHT_EV_REQUEST_FORWARDED, 8, 10) >= 0);
  assert_true(log_find(NP(w, 8), mark[4], CDHT_EV_REQUEST_FORWARDED, 12, 10) >= 0);
  assert_true(log_find(NP(w, 12), mark[6], CDHT_EV_FILE_HERE, 12, 10) >= 0);
  assert_true(log_find(NP(w, 12), mark[6], CDHT_EV_RESPONSE_SENT, 4, 10) >= 0);
  assert_true(log_find(NP(w, 4), mark[2], CDHT_EV_RESPONSE_RECEIVED, 12, 10) >= 0);
  assert_int_equal(tr_count(w, tmark, CDHT_MSG_FILE_REQ, ANY, ANY), 3);
  assert_true(tr_find(w, tmark, CDHT_MSG_FILE_RESP, 12, 4) >= 0);
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 4 && classic[i] != 5 && classic[i] != 8 && classic[i] != 12)
      assert_true(log_quiet(NP(w, classic[i]), mark[i]));

  /* kill 5 just after a ping round: 4 (first predecessor) and 3 (second) find out. */
  net_run_until(w, 8100);
  uint64_t killed = w->now;
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = NP(w, classic[i])->nlog;
  tmark = w->ntr;
  net_kill(w, 5);
  net_advance(w, 10 * INTERVAL);
  peer *p4 = NP(w, 4), *p3 = NP(w, 3);
  int d4 = log_find(p4, mark[2], CDHT_EV_PEER_DEAD, 5, ANY_FILE);
  int d3 = log_find(p3, mark[1], CDHT_EV_PEER_DEAD, 5, ANY_FILE);
  assert_true(d4 >= 0 && d3 >= 0);
  int s4 = log_find_succ(p4, mark[2], 8, 12), s3 = log_find_succ(p3, mark[1], 4, 8);
  assert_true(s4 > d4 && s3 > d3);
  /* Detection: at most misses * interval + timeout after the last answered ping, which is at
   * most one interval before the kill. */
  assert_true(p4->at[d4] <= killed + DETECT_MS + INTERVAL);
  assert_true(p3->at[d3] <= killed + DETECT_MS + INTERVAL);
  assert_true(p4->at[d4] > killed && p3->at[d3] > killed);
  /* No other successor change at 3 or 4, and 3 never adopted 5 (net_collect checks that after
   * every step too). */
  for (size_t i = mark[1]; i < p3->nlog; i++)
    if (p3->log[i].kind == CDHT_EV_SUCCESSORS) {
      assert_int_not_equal(idof(p3->log[i].succ[0]), 5);
      assert_int_not_equal(idof(p3->log[i].succ[1]), 5);
    }
  assert_int_equal(ev_count(p3->log + mark[1], p3->nlog - mark[1], CDHT_EV_SUCCESSORS), 1);
  assert_int_equal(ev_count(p4->log + mark[2], p4->nlog - mark[2], CDHT_EV_SUCCESSORS), 1);
  assert_true(tr_find(w, tmark, CDHT_MSG_SUCC_QUERY, 4, 8) >= 0);
  assert_true(tr_find(w, tmark, CDHT_MSG_SUCC_QUERY, 3, 4) >= 0);
  /* Nobody else noticed anything. */
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 3 && classic[i] != 4 && classic[i] != 5)
      assert_true(log_quiet(NP(w, classic[i]), mark[i]));
  net_check_ring(w);
  net_check_honest(w);

  /* The repaired ring still routes: 2012 from 4 reaches 1 through 8, 12 and 15. */
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = NP(w, classic[i])->nlog;
  assert_int_equal(net_cmd(w, 4, CDHT_CMD_REQUEST, 2012), 0);
  assert_true(log_find(p4, mark[2], CDHT_EV_RESPONSE_RECEIVED, 1, 2012) >= 0);
  net_del(w);
}

/* ---- 3. kill repair ordering ---- */

/* One node, every message by hand: 3 (successors 4 and 5) finds 5 dead before 4 does. */
static void test_node_kill_repair_requery(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 4, 5, now);
  sent out[OUT_CAP], rest[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t nev = 0;

  /* 4 answers every ping, 5 none: misses at 500, 1500, 2500, 3500. */
  for (; now <= 3000; now += INTERVAL / 2) {
    timer(n, now);
    size_t k = drain_out(n, out, OUT_CAP);
    for (size_t i = 0; i < k; i++)
      if (out[i].o.to.id == 4) assert_int_equal(pong_from(n, now, 4, out[i].m.seq), 0);
    nev += drain_ev(n, ev + nev, EV_CAP - nev);
    assert_int_equal(ev_find(ev, nev, 0, CDHT_EV_PEER_DEAD, ANY, ANY_FILE), -1);
  }
  assert_int_equal(now, 3500);
  timer(n, now);
  /* Before the verdict, 4 (which pings 5 as its first successor) is asked as a witness; it has
   * not heard from 5 for 3 s, so 5 is dead. */
  size_t k = answer_pings(n, now, rest, OUT_CAP);
  int wq = find_type(rest, k, CDHT_MSG_WITNESS_QUERY);
  assert_true(wq >= 0);
  assert_int_equal(rest[wq].o.to.id, 4);
  assert_true(idof(rest[wq].m.about) == 5);
  nev += drain_ev(n, ev + nev, EV_CAP - nev);
  assert_int_equal(ev_find(ev, nev, 0, CDHT_EV_PEER_DEAD, ANY, ANY_FILE), -1);
  cdht_msg wr = { .type = CDHT_MSG_WITNESS_REPLY, .seq = rest[wq].m.seq, .about = P(5), .age_ms = CDHT_AGE_NEVER };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, wr), 0);
  nev += drain_ev(n, ev + nev, EV_CAP - nev);
  assert_true(ev_find(ev, nev, 0, CDHT_EV_PEER_DEAD, 5, 0) >= 0);
  assert_succ(n, 4, NOPEER); /* pending the repair */
  k = answer_pings(n, now, rest, OUT_CAP);
  int q = find_type(rest, k, CDHT_MSG_SUCC_QUERY);
  assert_true(q >= 0);
  assert_int_equal(rest[q].o.to.id, 4);
  assert_int_equal(rest[q].o.transport, CDHT_TCP);
  uint32_t q1 = rest[q].m.seq;

  /* 4 has not noticed yet and still names 5: not adopted, nothing changes. */
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = q1, .nsucc = 2, .succ = { P(5), P(8) } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  assert_succ(n, 4, NOPEER);
  nev = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_find(ev, nev, 0, CDHT_EV_SUCCESSORS, ANY, ANY_FILE), -1);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0); /* and it does not ask again at once */

  /* It asks again requery_ms later, not before. */
  uint64_t requery = cdht_node_config(n)->requery_ms;
  assert_true(cdht_node_next_deadline(n) <= now + requery);
  timer(n, now + requery - 1);
  k = answer_pings(n, now + requery - 1, rest, OUT_CAP);
  assert_int_equal(count_type(rest, k, CDHT_MSG_SUCC_QUERY), 0);
  now += requery;
  timer(n, now);
  k = answer_pings(n, now, rest, OUT_CAP);
  q = find_type(rest, k, CDHT_MSG_SUCC_QUERY);
  assert_true(q >= 0);
  assert_int_equal(rest[q].o.to.id, 4);
  uint32_t q2 = rest[q].m.seq;
  assert_true(q2 != q1);

  /* Still naming 5, or naming itself (4 mid-repair), are both refused. */
  reply.seq = q2;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  reply.succ[0] = P(4);
  reply.succ[1] = cdht_peer_none();
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  assert_succ(n, 4, NOPEER);
  /* A reply from a peer that is not our first successor is stale, whatever it says. */
  reply.succ[0] = P(8);
  assert_int_equal(deliver(n, now, CDHT_TCP, 8, reply), CDHT_ERR_STALE);
  assert_succ(n, 4, NOPEER);

  /* 4 has repaired: its answer, even to the older query, is adopted. */
  reply.seq = q1;
  reply.succ[0] = P(8);
  reply.succ[1] = P(12);
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  assert_succ(n, 4, 8);
  nev = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find_succ(ev, nev, 0, 4, 8) >= 0);
  /* The repair is over: no more queries, and a late reply is stale. */
  reply.seq = q2;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), CDHT_ERR_STALE);
  for (int i = 0; i < 3; i++) {
    now += INTERVAL;
    timer(n, now);
    k = answer_pings(n, now, rest, OUT_CAP);
    assert_int_equal(count_type(rest, k, CDHT_MSG_SUCC_QUERY), 0);
  }
  /* And 8 is now pinged in role 2. */
  now += INTERVAL;
  timer(n, now);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 2);
  assert_true(out[1].o.to.id == 8 && out[1].m.role == CDHT_ROLE_SECOND);
  cdht_node_del(n);
}

/* The same race in the ring: 4 starts 700 ms after the others, so 3 finds 5 dead 700 ms
 * before 4 does and must keep asking 4 until 4 has repaired. */
static void test_node_kill_repair_ordering(void **state) {
  (void)state;
  net *w = net_new();
  net_add(w, 1, 3, 4);
  net_add(w, 3, 4, 5);
  net_add(w, 5, 8, 10);
  net_add(w, 8, 10, 12);
  net_add(w, 10, 12, 15);
  net_add(w, 12, 15, 1);
  net_add(w, 15, 1, 3);
  net_run_until(w, 700);
  net_add(w, 4, 5, 8);
  net_run_until(w, 2800); /* 3 pinged at 2000, 4 at 2700, both answered */
  net_check_ring(w);
  uint64_t killed = w->now;
  size_t m3 = NP(w, 3)->nlog, m4 = NP(w, 4)->nlog, tmark = w->ntr;
  net_kill(w, 5);
  net_advance(w, 10 * INTERVAL);

  peer *p3 = NP(w, 3), *p4 = NP(w, 4);
  int d3 = log_find(p3, m3, CDHT_EV_PEER_DEAD, 5, 0), d4 = log_find(p4, m4, CDHT_EV_PEER_DEAD, 5, 0);
  assert_true(d3 >= 0 && d4 >= 0);
  assert_true(p3->at[d3] < p4->at[d4]); /* the second predecessor detected first */
  assert_true(p4->at[d4] <= killed + DETECT_MS + INTERVAL);
  int s3 = log_find_succ(p3, m3, 4, 8), s4 = log_find_succ(p4, m4, 8, 10);
  assert_true(s3 > d3 && s4 > d4);
  assert_true(p3->at[s3] >= p4->at[s4]); /* 3 took 8 only once 4 had */

  /* 3 asked 4, got 5 back at least once, and asked again requery_ms later. */
  uint64_t requery = cdht_node_config(p3->n)->requery_ms;
  int q1 = tr_find(w, tmark, CDHT_MSG_SUCC_QUERY, 3, 4);
  assert_true(q1 >= 0);
  int q2 = tr_find(w, (size_t)q1 + 1, CDHT_MSG_SUCC_QUERY, 3, 4);
  assert_true(q2 >= 0);
  assert_int_equal(w->tr[q2].at - w->tr[q1].at, requery);
  int r1 = tr_find(w, tmark, CDHT_MSG_SUCC_REPLY, 4, 3);
  assert_true(r1 >= 0);
  assert_int_equal(idof(w->tr[r1].m.succ[0]), 5);
  /* Every query was answered, and the repair stopped with the first acceptable answer. */
  size_t nq = tr_count(w, tmark, CDHT_MSG_SUCC_QUERY, 3, 4);
  assert_int_equal(tr_count(w, tmark, CDHT_MSG_SUCC_REPLY, 4, 3), nq);
  assert_true(nq >= 2);
  assert_int_equal(nq, (p4->at[d4] - p3->at[d3] + requery - 1) / requery + 1);
  net_check_ring(w);
  net_check_honest(w);
  net_del(w);
}

/* ---- 4. small rings ---- */

static void test_node_ring_of_one(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(1, 1, 1, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  timer(n, now);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0); /* it pings nobody */
  assert_int_equal(cdht_node_next_deadline(n), now + INTERVAL);
  /* Alone, it holds every key. */
  static const uint16_t files[] = { 0, 1, 2012, 10, 255, 9999 };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    assert_int_equal(command(n, now, CDHT_CMD_REQUEST, files[i]), 0);
    size_t k = drain_ev(n, ev, EV_CAP);
    assert_int_equal(k, 1);
    assert_true(ev_is(&ev[0], CDHT_EV_FILE_HERE, 1, files[i]));
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  }
  for (int i = 0; i < 10; i++) {
    now += INTERVAL;
    timer(n, now);
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  }
  assert_succ(n, 1, 1);
  /* Quit: no one to tell, so it is done at once. */
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(ev[0].kind, CDHT_EV_LEFT);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_true(cdht_node_has_left(n));
  cdht_node_del(n);
}

static void test_node_two_peer_ring(void **state) {
  (void)state;
  static const cdht_id ids[] = { 1, 2 };
  net *w = net_new();
  net_ring(w, ids, 2);
  peer *p1 = NP(w, 1), *p2 = NP(w, 2);
  assert_succ(p1->n, 2, 1);
  assert_succ(p2->n, 1, 2);
  net_run_until(w, 1500);
  /* Each pings the other once a round, in role 1 only. */
  assert_int_equal(tr_count(w, 0, CDHT_MSG_PING, 1, 2), 2);
  assert_int_equal(tr_count(w, 0, CDHT_MSG_PING, 2, 1), 2);
  assert_int_equal(tr_count(w, 0, CDHT_MSG_PONG, ANY, ANY), 4);
  int ping = tr_find(w, 0, CDHT_MSG_PING, 1, 2);
  assert_int_equal(w->tr[ping].m.role, CDHT_ROLE_FIRST);
  net_check_ring(w);

  /* Requests both ways: key 2 is 2's, key 0 (file 256) wraps round to 1. */
  size_t m1 = p1->nlog, m2 = p2->nlog;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0);
  assert_true(log_find(p2, m2, CDHT_EV_FILE_HERE, 2, 2) >= 0);
  assert_true(log_find(p1, m1, CDHT_EV_RESPONSE_RECEIVED, 2, 2) >= 0);
  assert_int_equal(net_cmd(w, 2, CDHT_CMD_REQUEST, 256), 0);
  assert_true(log_find(p1, m1, CDHT_EV_FILE_HERE, 1, 256) >= 0);
  assert_true(log_find(p2, m2, CDHT_EV_RESPONSE_RECEIVED, 1, 256) >= 0);
  size_t tmark = w->ntr;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 1), 0); /* its own key, predecessor fresh */
  assert_true(log_find(p1, m1, CDHT_EV_FILE_HERE, 1, 1) >= 0);
  assert_int_equal(w->ntr, tmark);

  /* quit at 2: 1 is alone. */
  m1 = p1->nlog;
  assert_int_equal(net_cmd(w, 2, CDHT_CMD_QUIT, 0), 0);
  int dep = log_find(p1, m1, CDHT_EV_DEPARTING, 2, 0);
  assert_true(dep >= 0 && log_find_succ(p1, (size_t)dep, 1, 1) > dep);
  assert_true(log_find(p2, 0, CDHT_EV_LEFT, ANY, ANY_FILE) >= 0);
  assert_true(cdht_node_has_left(p2->n));
  net_advance(w, 3 * INTERVAL);
  net_check_ring(w);
  assert_true(log_quiet(p1, (size_t)dep + 2));
  tmark = w->ntr;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0);
  assert_true(log_find(p1, m1, CDHT_EV_FILE_HERE, 1, 2) >= 0);
  assert_int_equal(w->ntr, tmark);
  net_check_honest(w);
  net_del(w);
}

static void test_node_two_peer_ring_kill(void **state) {
  (void)state;
  static const cdht_id ids[] = { 1, 2 };
  net *w = net_new();
  net_ring(w, ids, 2);
  net_run_until(w, 2100);
  uint64_t killed = w->now;
  peer *p1 = NP(w, 1);
  size_t m1 = p1->nlog;
  net_kill(w, 2);
  net_advance(w, 10 * INTERVAL);
  int d = log_find(p1, m1, CDHT_EV_PEER_DEAD, 2, 0);
  assert_true(d >= 0 && p1->at[d] <= killed + DETECT_MS + INTERVAL);
  assert_int_equal(log_find_succ(p1, m1, 1, 1), d + 1);
  assert_int_equal(log_find(p1, m1, CDHT_EV_RING_BROKEN, ANY, ANY_FILE), -1);
  net_check_ring(w);
  size_t tmark = w->ntr;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0);
  assert_true(log_find(p1, m1, CDHT_EV_FILE_HERE, 1, 2) >= 0);
  assert_int_equal(w->ntr, tmark);
  net_check_honest(w);
  net_del(w);
}

/* A request in flight when a two-peer ring loses its other peer: the survivor now holds every
 * key, so the request ends with FILE_HERE, and nothing is ever sent to itself. */
static void test_node_two_peer_ring_kill_pending_request(void **state) {
  (void)state;
  static const cdht_id ids[] = { 1, 2 };
  net *w = net_new();
  net_ring(w, ids, 2);
  net_run_until(w, 2100);
  peer *p1 = NP(w, 1);
  net_kill(w, 2);
  size_t m1 = p1->nlog;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0); /* lost with 2 */
  assert_true(log_find(p1, m1, CDHT_EV_REQUEST_SENT, 2, 2) >= 0);
  net_advance(w, 20 * INTERVAL); /* past the request timeout; net_route checks no self-send */
  int d = log_find(p1, m1, CDHT_EV_PEER_DEAD, 2, 0);
  assert_true(d >= 0);
  assert_true(log_find(p1, (size_t)d, CDHT_EV_FILE_HERE, 1, 2) > d);
  assert_int_equal(log_find(p1, m1, CDHT_EV_REQUEST_FAILED, ANY, ANY_FILE), -1);
  assert_int_equal(log_find(p1, m1, CDHT_EV_REQUEST_RETRIED, ANY, ANY_FILE), -1);
  net_del(w);
}

/* The same when the other peer quits: a request it never answered is ours now. */
static void test_node_two_peer_ring_quit_pending_request(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(1, 2, 1, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  timer(n, now);
  answer_pings(n, now, out, OUT_CAP);
  assert_int_equal(ping_from(n, now, 2, CDHT_ROLE_FIRST, 0), 0);
  drain_all(n);
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 2), 0);
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_FILE_REQ && out[0].o.to.id == 2);
  drain_all(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(1), P(1) } };
  now += 100;
  assert_int_equal(deliver_depart(n, now, 2, dep), 0);
  assert_succ(n, 1, 1);
  size_t nev = drain_ev(n, ev, EV_CAP);
  int d = ev_find(ev, nev, 0, CDHT_EV_DEPARTING, 2, 0);
  assert_true(d >= 0);
  assert_true(ev_find(ev, nev, (size_t)d, CDHT_EV_FILE_HERE, 1, 2) > d);
  assert_true(ev_find_succ(ev, nev, (size_t)d, 1, 1) > d);
  k = drain_out(n, out, OUT_CAP); /* the DEPART_ACK went before the confirmation */
  assert_int_equal(k, 0);
  for (int i = 0; i < 15; i++) {
    now += INTERVAL;
    timer(n, now);
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  }
  cdht_node_del(n);
}

static void test_node_three_peer_ring_quit(void **state) {
  (void)state;
  static const cdht_id ids[] = { 1, 2, 3 };
  net *w = net_new();
  net_ring(w, ids, 3);
  net_run_until(w, 1500);
  net_check_ring(w);
  peer *p1 = NP(w, 1), *p3 = NP(w, 3);
  size_t m1 = p1->nlog, m3 = p3->nlog;
  assert_int_equal(net_cmd(w, 2, CDHT_CMD_QUIT, 0), 0);
  /* 1 (first predecessor) takes 2's successors: 3, then itself; 3 keeps 1 and then itself. */
  int dep = log_find(p1, m1, CDHT_EV_DEPARTING, 2, 0);
  assert_true(dep >= 0 && log_find_succ(p1, (size_t)dep, 3, 1) > dep);
  dep = log_find(p3, m3, CDHT_EV_DEPARTING, 2, 0);
  assert_true(dep >= 0 && log_find_succ(p3, (size_t)dep, 1, 3) > dep);
  assert_true(cdht_node_has_left(NP(w, 2)->n));
  net_advance(w, 3 * INTERVAL);
  net_check_ring(w);
  /* It still answers requests: key 2 is now 3's. */
  m1 = p1->nlog;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0);
  assert_true(log_find(p1, m1, CDHT_EV_RESPONSE_RECEIVED, 3, 2) >= 0);
  net_check_honest(w);
  net_del(w);
}

static void test_node_three_peer_ring_kill(void **state) {
  (void)state;
  static const cdht_id ids[] = { 1, 2, 3 };
  net *w = net_new();
  net_ring(w, ids, 3);
  net_run_until(w, 2100);
  peer *p1 = NP(w, 1), *p3 = NP(w, 3);
  size_t m1 = p1->nlog, m3 = p3->nlog;
  net_kill(w, 2);
  net_advance(w, 10 * INTERVAL);
  int d1 = log_find(p1, m1, CDHT_EV_PEER_DEAD, 2, 0), d3 = log_find(p3, m3, CDHT_EV_PEER_DEAD, 2, 0);
  assert_true(d1 >= 0 && d3 >= 0);
  assert_true(log_find_succ(p1, (size_t)d1, 3, 1) > d1);
  assert_true(log_find_succ(p3, (size_t)d3, 1, 3) > d3);
  net_check_ring(w);
  m1 = p1->nlog;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_REQUEST, 2), 0);
  assert_true(log_find(p1, m1, CDHT_EV_RESPONSE_RECEIVED, 3, 2) >= 0);
  net_check_honest(w);
  net_del(w);
}

/* ---- 5. a request for our own key ---- */

static void test_node_request_own_key(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(5, 8, 10, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  timer(n, now);
  drain_all(n);
  assert_int_equal(ping_from(n, now, 4, CDHT_ROLE_FIRST, 0), 0);
  drain_all(n);
  /* Key 5 (file 5, and file 261 = 256 + 5) lies in (4, 5]: ours. */
  static const uint16_t mine[] = { 5, 261 };
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(command(n, now, CDHT_CMD_REQUEST, mine[i]), 0);
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    size_t k = drain_ev(n, ev, EV_CAP);
    assert_int_equal(k, 1);
    assert_true(ev_is(&ev[0], CDHT_EV_FILE_HERE, 5, mine[i]));
  }
  /* Key 4 is not: it goes to the first successor. */
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 4), 0);
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_true(out[0].m.type == CDHT_MSG_FILE_REQ && out[0].o.to.id == 8 && out[0].o.transport == CDHT_TCP);
  assert_int_equal(out[0].m.origin.id, 5);
  assert_int_equal(out[0].file, 4);
  assert_int_equal(out[0].m.flags, 0);
  k = drain_ev(n, ev, EV_CAP);
  assert_true(k == 1 && ev_is(&ev[0], CDHT_EV_REQUEST_SENT, 8, 4));
  /* Once the predecessor has been silent past the detection time it is no longer trusted:
   * the request goes round the ring instead of being answered on its word. */
  now += DETECT_MS + 1;
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 5), 0);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(count_type(out, k, CDHT_MSG_FILE_REQ), 1);
  k = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find(ev, k, 0, CDHT_EV_REQUEST_SENT, 8, 5) >= 0);
  assert_int_equal(ev_find(ev, k, 0, CDHT_EV_FILE_HERE, ANY, ANY_FILE), -1);
  cdht_node_del(n);
}

/* ---- 6. a request with no answer ---- */

static void test_node_request_timeout(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(8, 10, 12, now);
  const cdht_config *cfg = cdht_node_config(n);
  sent rest[OUT_CAP];
  cdht_event ev[EV_CAP];
  timer(n, now);
  answer_pings(n, now, rest, OUT_CAP);
  drain_ev(n, ev, EV_CAP);

  now = 100;
  uint64_t started = now;
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 2012), 0);
  size_t k = answer_pings(n, now, rest, OUT_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(rest[0].m.type, CDHT_MSG_FILE_REQ);
  assert_int_equal(rest[0].o.to.id, 10);
  uint32_t id = rest[0].m.seq;
  size_t nev = drain_ev(n, ev, EV_CAP);
  assert_true(nev == 1 && ev_is(&ev[0], CDHT_EV_REQUEST_SENT, 10, 2012));

  /* The successors stay alive (pings answered); nobody answers the request.  It is resent once
   * at half the timeout and given up at the timeout, never earlier. */
  size_t resent = 0;
  uint64_t retried_at = 0, failed_at = 0;
  uint32_t failed_ms = 0;
  for (now = started + 50; now <= started + cfg->request_timeout_ms + 2 * INTERVAL; now += 50) {
    timer(n, now);
    k = answer_pings(n, now, rest, OUT_CAP);
    for (size_t i = 0; i < k; i++) {
      assert_int_equal(rest[i].m.type, CDHT_MSG_FILE_REQ);
      assert_int_equal(rest[i].m.seq, id);
      assert_int_equal(rest[i].o.to.id, 10);
      resent++;
    }
    nev = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < nev; i++) {
      if (ev[i].kind == CDHT_EV_REQUEST_RETRIED) {
        assert_true(ev_is(&ev[i], CDHT_EV_REQUEST_RETRIED, 10, 2012));
        assert_int_equal(retried_at, 0);
        retried_at = now;
      } else if (ev[i].kind == CDHT_EV_REQUEST_FAILED) {
        assert_int_equal(failed_at, 0);
        assert_int_equal(name_number(&ev[i].name), 2012);
        failed_at = now;
        failed_ms = ev[i].ms;
      } else {
        assert_int_equal(ev[i].kind, CDHT_EV_PING_RESPONSE);
      }
    }
  }
  assert_int_equal(resent, 1);
  assert_int_equal(retried_at, started + cfg->request_timeout_ms / 2);
  assert_int_equal(failed_at, started + cfg->request_timeout_ms);
  assert_int_equal(failed_ms, cfg->request_timeout_ms);
  assert_succ(n, 10, 12);

  /* The answer arrives after all: stale, dropped, no event. */
  uint64_t stale = cdht_node_stats(n)->dropped[CDHT_DROP_STALE];
  cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = id, .name = NM4(2012) };
  assert_int_equal(deliver(n, now, CDHT_TCP, 1, resp), CDHT_ERR_STALE);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_STALE], stale + 1);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);

  /* An answered request: the duplicate answer is stale too. */
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 2012), 0);
  k = answer_pings(n, now, rest, OUT_CAP);
  assert_int_equal(k, 1);
  resp.seq = rest[0].m.seq;
  assert_int_equal(deliver(n, now, CDHT_TCP, 1, resp), 0);
  nev = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find(ev, nev, 0, CDHT_EV_RESPONSE_RECEIVED, 1, 2012) >= 0);
  assert_int_equal(deliver(n, now, CDHT_TCP, 1, resp), CDHT_ERR_STALE);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_STALE], stale + 2);
  /* An answer for another file with a live id is not ours either. */
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 2012), 0);
  k = answer_pings(n, now, rest, OUT_CAP);
  resp.seq = rest[0].m.seq;
  resp.name = (cdht_name)NM4(2013);
  assert_int_equal(deliver(n, now, CDHT_TCP, 1, resp), CDHT_ERR_STALE);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 1); /* REQUEST_SENT only */

  /* Too many requests at once: refused, not queued without bound. */
  int busy = 0;
  for (int i = 0; i < CDHT_MAX_PENDING + 1; i++) {
    int rc = command(n, now, CDHT_CMD_REQUEST, 2012);
    if (rc == CDHT_ERR_BUSY) busy++;
    else assert_int_equal(rc, 0);
    answer_pings(n, now, rest, OUT_CAP);
  }
  assert_int_equal(busy, 2); /* one was still pending from above */
  /* On a classic ring a name is four digits: anything else is refused. */
  static const char *const not_numbers[] = { "10000", "201", "report-2026.pdf", "20a2" };
  for (size_t i = 0; i < sizeof not_numbers / sizeof not_numbers[0]; i++) {
    cdht_command bad = { .kind = CDHT_CMD_REQUEST };
    assert_int_equal(cdht_name_set(&bad.name, not_numbers[i], strlen(not_numbers[i])), 0);
    assert_int_equal(cdht_node_on_command(n, now, &bad), CDHT_ERR_INVAL);
  }
  drain_all(n);
  cdht_node_del(n);
}

/* Every pending store gives its slot back (§7): refused or unanswered ones at the request timeout
 * (STORE_FAILED says which request, and that nobody had accepted it), accepted ones whose upload
 * failed at once, and our own stores of our own keys never hold one. */
static void test_node_failed_stores_free_their_slots(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(1, 200, 1, now); /* 200 holds (1, 200] */
  drain_all(n);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  /* A full table of accepted stores whose uploads then fail: free again at once. */
  for (int round = 0; round < 2; round++) {
    for (uint16_t f = 2; f < 2 + CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_STORE, f), 0);
    assert_int_equal(command(n, now, CDHT_CMD_STORE, 100), CDHT_ERR_BUSY);
    size_t k = drain_out(n, out, OUT_CAP);
    drain_all(n);
    for (size_t i = 0; i < k; i++) {
      if (out[i].m.type != CDHT_MSG_STORE_REQ) continue;
      cdht_msg yes = { .type = CDHT_MSG_STORE_ACCEPT, .seq = out[i].m.seq, .name = NM4(out[i].file) };
      assert_int_equal(deliver(n, now, CDHT_TCP, 200, yes), 0);
      size_t nev = drain_ev(n, ev, EV_CAP);
      assert_true(nev == 1 && ev[0].kind == CDHT_EV_STORE_UPLOAD && ev[0].seq == out[i].m.seq);
      assert_int_equal(cdht_node_on_upload_failed(n, now, &out[i].m.name, out[i].m.seq), 0);
      assert_int_equal(cdht_node_on_upload_failed(n, now, &out[i].m.name, out[i].m.seq), CDHT_ERR_STALE);
    }
  }
  /* Unanswered stores fail at the request timeout, naming their request. */
  uint32_t seqs[CDHT_MAX_PENDING];
  for (uint16_t f = 2; f < 2 + CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_STORE, f), 0);
  size_t k = drain_out(n, out, OUT_CAP), ns = 0;
  for (size_t i = 0; i < k; i++)
    if (out[i].m.type == CDHT_MSG_STORE_REQ) seqs[ns++] = out[i].m.seq;
  assert_int_equal(ns, CDHT_MAX_PENDING);
  drain_all(n);
  now += cdht_node_config(n)->request_timeout_ms;
  timer(n, now);
  drain_out(n, out, OUT_CAP);
  size_t nev = drain_ev(n, ev, EV_CAP), failed = 0;
  for (size_t i = 0; i < nev; i++) {
    if (ev[i].kind != CDHT_EV_STORE_FAILED) continue;
    assert_false(ev[i].content);
    assert_int_equal(ev[i].seq, seqs[failed]);
    failed++;
  }
  assert_int_equal(failed, CDHT_MAX_PENDING);
  /* Our own keys: accepted and uploaded to ourselves, no slot held while the copy runs. */
  assert_int_equal(ping_from(n, now, 200, CDHT_ROLE_FIRST, 0), 0); /* 200 precedes us: (200, 1] is ours */
  drain_all(n);
  for (int i = 0; i < CDHT_MAX_PENDING + 1; i++) assert_int_equal(command(n, now, CDHT_CMD_STORE, 1), 0);
  assert_int_equal(command(n, now, CDHT_CMD_STORE, 2), 0);
  drain_all(n);
  cdht_node_del(n);
}

/* ---- 7. quit ---- */

/* 10 with successors 12, 15 and predecessors 8 (first) and 5 (second). */
static cdht_node *leaver(uint64_t now) {
  cdht_node *n = new_node(10, 12, 15, now);
  timer(n, now);
  sent rest[OUT_CAP];
  answer_pings(n, now, rest, OUT_CAP);
  assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_FIRST, 0), 0);
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_SECOND, 0), 0);
  drain_all(n);
  return n;
}

/* A leaving peer hands its keys to its first successor (§9) once that one grants a token for
 * them: one event, with the token. */
static void expect_handover(cdht_node *n) {
  cdht_event ev[EV_CAP];
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  cdht_msg grant = { .type = CDHT_MSG_KEYS_GRANT, .token = 0xabcdef };
  assert_int_equal(deliver(n, 0, CDHT_TCP, succ_of(n, 0), grant), 0);
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(ev[0].kind, CDHT_EV_HANDOVER);
  assert_true(ev[0].token == 0xabcdef);
  assert_true(idof(ev[0].peer) == succ_of(n, 0));
  assert_true(ev[0].hi == cdht_node_config(n)->self); /* the keys (lo, self] */
  /* The I/O layer had no files to send: it says so; the successor is told "0 files" once the
   * predecessors have confirmed (expect_keys_done), so that it hears of the departure first. */
  assert_int_equal(cdht_node_on_handover_done(n, 0, ev[0].peer, ev[0].seq, 0, 0), 0);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  k = drain_ev(n, ev, EV_CAP);
  assert_true(k == 1 && ev[0].kind == CDHT_EV_HANDED_OVER && ev[0].seq == 0);
}

static void expect_departs(cdht_node *n) {
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 3);
  /* First the offer of our keys to our first successor (§9), then the departures. */
  assert_true(out[0].m.type == CDHT_MSG_KEYS_OFFER && out[0].o.to.id == 12);
  assert_true(out[1].m.type == CDHT_MSG_DEPART && out[1].o.to.id == 8 && out[1].o.transport == CDHT_TCP);
  assert_true(idof(out[1].m.succ[0]) == 12 && idof(out[1].m.succ[1]) == 15);
  assert_true(out[2].m.type == CDHT_MSG_DEPART && out[2].o.to.id == 5 && out[2].o.transport == CDHT_TCP);
  assert_true(idof(out[2].m.succ[0]) == 8 && idof(out[2].m.succ[1]) == 12);
}

static void test_node_quit_waits_for_acks(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = leaver(now);
  cdht_event ev[EV_CAP];
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };

  now += 100;
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
  expect_departs(n);
  expect_handover(n);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_false(cdht_node_has_left(n));
  assert_int_equal(cdht_node_next_deadline(n), now + cdht_node_config(n)->leave_timeout_ms);
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 1), CDHT_ERR_LEAVING);
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), CDHT_ERR_LEAVING);
  /* No pings while leaving. */
  now += INTERVAL;
  timer(n, now);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);

  /* An ack from a peer that was not asked is stale; one of two is not enough. */
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, ack), CDHT_ERR_STALE);
  assert_int_equal(deliver(n, now, CDHT_TCP, 8, ack), 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_false(cdht_node_has_left(n));
  assert_int_equal(deliver(n, now, CDHT_TCP, 8, ack), CDHT_ERR_STALE); /* a repeat */
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, ack), 0);
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(ev[0].kind, CDHT_EV_LEFT);
  assert_true(cdht_node_has_left(n));
  assert_int_equal(cdht_node_next_deadline(n), CDHT_NEVER);
  /* The "0 files" message went once both had confirmed, after their confirmations. */
  size_t o = drain_out(n, out, OUT_CAP);
  assert_int_equal(o, 1);
  assert_true(out[0].m.type == CDHT_MSG_KEYS_DONE && out[0].m.seq == 0 && out[0].o.to.id == 12);
  /* Gone: it takes no more input. */
  assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_FIRST, 9), CDHT_ERR_LEAVING);
  timer(n, now + 10 * INTERVAL);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  cdht_node_del(n);
}

/* An allocator that knows the bytes live (each block carries its size), and can refuse. */
typedef struct sized_mem { size_t live, refuse; } sized_mem; /* refuse: blocks of this size or more (0: none) */
static void *s_alloc(void *ctx, size_t size) {
  sized_mem *m = ctx;
  if (m->refuse && size >= m->refuse) return NULL;
  size_t *b = calloc(1, sizeof(size_t) + size);
  if (!b) return NULL;
  *b = size;
  m->live += size;
  return b + 1;
}
static void s_free(void *ctx, void *p) {
  sized_mem *m = ctx;
  size_t *b = (size_t *)p - 1;
  m->live -= *b;
  free(b);
}

/* Issue 11: a leaving node's table of stores confirmed only once passed on (a name each) exists
 * only while it has one: allocated when content reaches it while leaving, freed when the last
 * is confirmed.  Without memory for it the node goes on, and that storer hears nothing. */
static void test_node_leaving_store_table_exists_only_while_used(void **state) {
  (void)state;
  for (int fail = 0; fail < 2; fail++) {
    uint64_t now = 0;
    cdht_config c = make_cfg(10, 12, 15);
    sized_mem sm = { 0 };
    cdht_mem mem = { s_alloc, s_free, &sm };
    cdht_node *n = NULL;
    assert_int_equal(cdht_node_new(&n, &c, &mem, now), 0);
    timer(n, now);
    sent out[OUT_CAP];
    answer_pings(n, now, out, OUT_CAP);
    assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_FIRST, 0), 0);
    assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_SECOND, 0), 0);
    drain_all(n);
    assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
    expect_departs(n);
    expect_handover(n);
    size_t before = sm.live;
    sm.refuse = fail ? CDHT_MAX_PENDING * sizeof(cdht_name) : 0; /* the table, not the held name */
    assert_int_equal(cdht_node_on_stored(n, now, NMP(9), P(7), 42), 0);
    assert_true(cdht_node_is_stored(n, NMP(9)));
    assert_true(fail ? sm.live < before + 1024 : sm.live >= before + CDHT_MAX_PENDING * sizeof(cdht_name));
    sm.refuse = 0;
    drain_all(n);
    assert_int_equal(cdht_node_on_file_handed(n, now, NMP(9), P(12)), 0);
    size_t k = drain_out(n, out, OUT_CAP), done = 0;
    for (size_t i = 0; i < k; i++) done += out[i].m.type == CDHT_MSG_STORE_DONE && out[i].o.to.id == 7;
    assert_int_equal(done, fail ? 0 : 1);
    assert_true(sm.live < before + 1024); /* gone again (the held set's array stays) */
    cdht_node_del(n);
    assert_int_equal(sm.live, 0);
  }
}

static void test_node_quit_predecessor_unreachable(void **state) {
  (void)state;
  cdht_event ev[EV_CAP];
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };
  for (int order = 0; order < 2; order++) {
    uint64_t now = 0;
    cdht_node *n = leaver(now);
    now += 100;
    assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
    expect_departs(n);
    expect_handover(n);
    if (order == 0) {
      /* 5 is gone (connection refused), then 8 confirms. */
      assert_int_equal(cdht_node_on_unreachable(n, now, P(5)), 0);
      size_t k = drain_ev(n, ev, EV_CAP);
      assert_true(k == 1 && ev_is(&ev[0], CDHT_EV_LEAVE_UNCONFIRMED, 5, 0));
      assert_false(cdht_node_has_left(n));
      assert_int_equal(deliver(n, now, CDHT_TCP, 8, ack), 0);
      k = drain_ev(n, ev, EV_CAP);
      assert_true(k == 1 && ev[0].kind == CDHT_EV_LEFT);
    } else {
      /* 8 confirms, then 5 turns out to be gone. */
      assert_int_equal(deliver(n, now, CDHT_TCP, 8, ack), 0);
      assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
      assert_int_equal(cdht_node_on_unreachable(n, now, P(12)), 0); /* not asked: no effect */
      assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
      assert_int_equal(cdht_node_on_unreachable(n, now, P(5)), 0);
      size_t k = drain_ev(n, ev, EV_CAP);
      assert_int_equal(k, 2);
      assert_true(ev_is(&ev[0], CDHT_EV_LEAVE_UNCONFIRMED, 5, 0));
      assert_int_equal(ev[1].kind, CDHT_EV_LEFT);
    }
    assert_true(cdht_node_has_left(n));
    cdht_node_del(n);
  }
}

static void test_node_quit_timeout(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = leaver(now);
  cdht_event ev[EV_CAP];
  uint64_t leave_ms = cdht_node_config(n)->leave_timeout_ms;
  now += 100;
  uint64_t started = now;
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
  expect_departs(n);
  expect_handover(n);
  for (now = started + 100; now < started + leave_ms; now += 100) {
    timer(n, now);
    assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
    assert_false(cdht_node_has_left(n));
  }
  now = started + leave_ms;
  assert_int_equal(cdht_node_next_deadline(n), now);
  assert_int_equal(cdht_node_on_timer(n, now), 0);
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 3);
  assert_true(ev_is(&ev[0], CDHT_EV_LEAVE_UNCONFIRMED, 8, 0));
  assert_true(ev_is(&ev[1], CDHT_EV_LEAVE_UNCONFIRMED, 5, 0));
  assert_int_equal(ev[2].kind, CDHT_EV_LEFT);
  assert_true(cdht_node_has_left(n));
  assert_int_equal(cdht_node_next_deadline(n), CDHT_NEVER);
  cdht_node_del(n);
}

/* ---- 8. hostile input ---- */

static void test_node_hostile_input(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  timer(n, now);
  answer_pings(n, now, out, OUT_CAP);
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_FIRST, 0), 0);
  assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_SECOND, 0), 0);
  drain_all(n);
  const cdht_stats *st = cdht_node_stats(n);
  uint8_t buf[CDHT_MSG_MAX];
  uint64_t total = drops_total(n);
#define EXPECT_DROP(call, err, why)                                      \
  do {                                                                   \
    uint64_t before_ = st->dropped[why];                                 \
    assert_int_equal((call), (err));                                     \
    assert_int_equal(st->dropped[why], before_ + 1);                     \
    total++;                                                             \
  } while (0)

  /* A ping claiming to be 3 from another port, or another host: spoofed. */
  cdht_msg ping = { .type = CDHT_MSG_PING, .from = P(3), .role = CDHT_ROLE_FIRST, .seq = 1 };
  size_t len = (size_t)cdht_msg_encode(buf, sizeof buf, &ping);
  cdht_addr wrong_port = cdht_addr_v4(0x7f000001u, 50002), wrong_host = cdht_addr_v4(0x7f000002u, 50003);
  EXPECT_DROP(cdht_node_on_datagram(n, now, &wrong_port, buf, len), CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED);
  EXPECT_DROP(cdht_node_on_datagram(n, now, &wrong_host, buf, len), CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED);
  /* A ping over TCP, and a TCP-only message over UDP: wrong transport. */
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, ping), CDHT_ERR_UNEXPECTED, CDHT_DROP_TRANSPORT);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(9), P(10) } };
  EXPECT_DROP(deliver(n, now, CDHT_UDP, 5, dep), CDHT_ERR_UNEXPECTED, CDHT_DROP_TRANSPORT);
  /* Ids outside the ring, or our own: bad id. */
  EXPECT_DROP(ping_from(n, now, 256, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  EXPECT_DROP(ping_from(n, now, UINT64_MAX, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  EXPECT_DROP(ping_from(n, now, 4, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  cdht_msg req = { .type = CDHT_MSG_FILE_REQ, .origin = P(300), .seq = 1, .name = NM4(7) };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_BADID, CDHT_DROP_BADID);
  /* A departure from a peer that is not our successor: ignored. */
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 12, dep), CDHT_ERR_ROLE, CDHT_DROP_ROLE);
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, dep), CDHT_ERR_ROLE, CDHT_DROP_ROLE);
  /* A departure from a successor naming ids outside the ring, or itself: bad id. */
  cdht_msg bad_dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(8), P(999) } };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, bad_dep), CDHT_ERR_BADID, CDHT_DROP_BADID);
  bad_dep.succ[0] = P(5);
  bad_dep.succ[1] = P(8);
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, bad_dep), CDHT_ERR_BADID, CDHT_DROP_BADID);
  /* Pongs with a number never sent, or from a peer we do not ping: stale. */
  EXPECT_DROP(pong_from(n, now, 5, 77), CDHT_ERR_STALE, CDHT_DROP_STALE);
  EXPECT_DROP(pong_from(n, now, 5, 1), CDHT_ERR_STALE, CDHT_DROP_STALE); /* only 0 was sent */
  EXPECT_DROP(pong_from(n, now, 5, UINT32_MAX), CDHT_ERR_STALE, CDHT_DROP_STALE);
  EXPECT_DROP(pong_from(n, now, 12, 0), CDHT_ERR_STALE, CDHT_DROP_STALE);
  /* Answers to questions we never asked: stale. */
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = 1, .nsucc = 2, .succ = { P(12), P(15) } };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, reply), CDHT_ERR_STALE, CDHT_DROP_STALE);
  cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = 1, .name = NM4(7) };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 12, resp), CDHT_ERR_STALE, CDHT_DROP_STALE);
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, ack), CDHT_ERR_STALE, CDHT_DROP_STALE);
  /* A request that has passed more peers than the ring holds, or came back to its origin
   * unanswered: a loop. */
  req.origin = P(1);
  req.hops = 256;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_LOOP, CDHT_DROP_LOOP);
  req.hops = UINT16_MAX;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_LOOP, CDHT_DROP_LOOP);
  req.origin = P(4);
  req.hops = 3;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_LOOP, CDHT_DROP_LOOP);
  /* Trailing bytes after a valid message. */
  uint8_t big[CDHT_MSG_MAX + 8] = { 0 };
  memcpy(big, buf, len);
  cdht_addr from3 = cdht_config_addr(cdht_node_config(n), 3);
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, big, len + 1), CDHT_ERR_MALFORMED, CDHT_DROP_MALFORMED);
  /* Valid headers with a bad field: role 3, a file past 9999, unknown flags. */
  uint8_t mut[CDHT_MSG_MAX];
  memcpy(mut, buf, len);
  mut[len - 1] = 3; /* the role is the ping's last byte */
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_MALFORMED, CDHT_DROP_MALFORMED);
  /* A name that is valid on the wire but no four-digit file number (until the node keeps any
   * name, issue 10 §4): malformed for this node. */
  static const char *not_files[] = { "abc", "99999", "123", "12a4", "0x12" };
  for (size_t i = 0; i < sizeof not_files / sizeof not_files[0]; i++) {
    cdht_msg q = { .type = CDHT_MSG_FILE_REQ, .origin = P(1), .seq = 1 };
    assert_int_equal(cdht_name_set(&q.name, not_files[i], strlen(not_files[i])), 0);
    EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, q), CDHT_ERR_MALFORMED, CDHT_DROP_MALFORMED);
  }
  /* A datagram whose sender is "no peer" (family 0): the decoder refuses it. */
  const uint8_t pong_none[] = { CDHT_WIRE_V2, CDHT_MSG_PONG, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, pong_none, sizeof pong_none), CDHT_ERR_MALFORMED,
              CDHT_DROP_MALFORMED);
  mut[0] = 1; /* a version-1 peer */
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_VERSION, CDHT_DROP_VERSION);
  mut[0] = CDHT_WIRE_V2;
  mut[1] = CDHT_MSG_COUNT;
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_TYPE, CDHT_DROP_TYPE);
  mut[1] = 0;
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_TYPE, CDHT_DROP_TYPE);

  /* Garbage of every length 0..CDHT_MSG_MAX, over both transports, three shapes: random bytes,
   * random bytes behind a valid version and type, and a valid header whose body length is the
   * bytes that follow (capped at the type's largest body) with a random body.  None may crash,
   * all are refused, every refusal is counted. */
  uint32_t x = 0x9e3779b9u; /* xorshift32, fixed seed: the same garbage every run */
  for (int shape = 0; shape < 3; shape++) {
    for (size_t glen = 0; glen <= CDHT_MSG_MAX; glen++) {
      for (int t = 0; t < 2; t++) {
        uint8_t *g = malloc(glen ? glen : 1); /* exact size, so ASan sees any overread */
        assert_non_null(g);
        for (size_t i = 0; i < glen; i++) {
          x ^= x << 13;
          x ^= x >> 17;
          x ^= x << 5;
          g[i] = (uint8_t)x;
        }
        uint8_t type = (uint8_t)(1 + glen % (CDHT_MSG_COUNT - 1));
        if (shape >= 1 && glen >= 1) g[0] = CDHT_WIRE_V2;
        if (shape >= 1 && glen >= 2) g[1] = type;
        if (shape == 2 && glen >= 4) {
          size_t body = glen - CDHT_HDR_LEN;
          if (body > (size_t)cdht_msg_body_max(type)) body = (size_t)cdht_msg_body_max(type);
          g[2] = (uint8_t)(body >> 8);
          g[3] = (uint8_t)body;
        }
        uint64_t before = drops_total(n);
        int rc = t == 0 ? cdht_node_on_datagram(n, now, &from3, g, glen) : cdht_node_on_frame(n, now, &tcp_src, g, glen);
        assert_true(rc < 0);
        assert_int_equal(drops_total(n), before + 1);
        total++;
        free(g);
      }
    }
  }
  /* And every type with a valid header, its largest body length and a random body (its sender
   * record is then malformed, or its id far outside the ring), over both transports. */
  for (uint8_t type = 1; type < CDHT_MSG_COUNT; type++) {
    for (int seed = 0; seed < 8; seed++) {
      for (int t = 0; t < 2; t++) {
        size_t glen = CDHT_HDR_LEN + (size_t)cdht_msg_body_max(type);
        uint8_t *g = malloc(glen);
        assert_non_null(g);
        for (size_t i = 0; i < glen; i++) {
          x ^= x << 13;
          x ^= x >> 17;
          x ^= x << 5;
          g[i] = (uint8_t)x;
        }
        g[0] = CDHT_WIRE_V2;
        g[1] = type;
        g[2] = (uint8_t)((glen - CDHT_HDR_LEN) >> 8);
        g[3] = (uint8_t)(glen - CDHT_HDR_LEN);
        uint64_t before = drops_total(n);
        int rc = t == 0 ? cdht_node_on_datagram(n, now, &from3, g, glen) : cdht_node_on_frame(n, now, &tcp_src, g, glen);
        assert_true(rc < 0);
        assert_int_equal(drops_total(n), before + 1);
        total++;
        free(g);
      }
    }
  }
  assert_int_equal(drops_total(n), total);
#undef EXPECT_DROP

  /* None of it changed anything or made the node say or send anything. */
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_succ(n, 5, 8);
  assert_int_equal(pred_of(n, 0), 3);
  assert_int_equal(pred_of(n, 1), 1);
  assert_int_equal(st->pings_received, 2);
  assert_int_equal(st->pongs_received, 2);
  assert_int_equal(st->requests_handled, 3); /* the looping ones were received, then dropped */
  /* And it still works: the real 5 answers the next ping, a real departure is applied. */
  now += INTERVAL;
  timer(n, now);
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 2);
  assert_int_equal(pong_from(n, now, 5, out[0].m.seq), 0);
  dep.succ[0] = P(8);
  dep.succ[1] = P(10);
  assert_int_equal(deliver_depart(n, now, 5, dep), 0);
  assert_succ(n, 8, 10);
  /* The same departure again is only confirmed again. */
  drain_all(n);
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, dep), 0);
  k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_DEPART_ACK && out[0].o.to.id == 5);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_succ(n, 8, 10);
  cdht_node_del(n);
}

/* ---- 9. configuration and allocation ---- */

/* ---- peers off the classic rule (wire v2): any id of a 64-bit ring, at 198.18.0.h (IPv4) or
 * fd00:cd47::h (IPv6), port 4000 ---- */

#define V2_PORT 4000
#define V2_TOP UINT64_MAX /* the largest id of a 64-bit ring: a real peer, not "no peer" */

static cdht_addr v4addr(unsigned h, uint16_t port) { return cdht_addr_v4(0xc6120000u | (h & 0xffu), port); }

static cdht_addr v6addr(unsigned h, uint16_t port) {
  uint8_t ip[16] = { 0xfd, 0x00, 0xcd, 0x47 };
  ip[14] = (uint8_t)(h >> 8);
  ip[15] = (uint8_t)h;
  return cdht_addr_v6(ip, port);
}

static cdht_peer V4(cdht_id id, unsigned h) { return cdht_peer_make(id, v4addr(h, V2_PORT)); }
static cdht_peer V6(cdht_id id, unsigned h) { return cdht_peer_make(id, v6addr(h, V2_PORT)); }

/* A config off the classic rule: a 64-bit ring, peer |self| at host |h| with an IPv4 address
 * and an IPv6 one (alt), successors |s1| and |s2|. */
static cdht_config v2_cfg(cdht_id self, unsigned h, cdht_peer s1, cdht_peer s2) {
  cdht_config c;
  cdht_config_default(&c);
  c.classic = false;
  c.bits = 64;
  c.self = self;
  c.addr = v4addr(h, V2_PORT);
  c.alt = v6addr(h, V2_PORT);
  c.succ[0] = s1;
  c.succ[1] = s2;
  c.ping_interval_ms = INTERVAL;
  c.ping_timeout_ms = TIMEOUT;
  c.misses = MISSES;
  c.stabilize_ms = 0;
  return c;
}


static void test_node_config_check(void **state) {
  (void)state;
  cdht_config c = make_cfg(1, 3, 4);
  assert_int_equal(cdht_config_check(&c), 0);
  c = make_cfg(1, 1, 1); /* alone */
  assert_int_equal(cdht_config_check(&c), 0);
  c = make_cfg(1, 2, 1); /* two peers */
  assert_int_equal(cdht_config_check(&c), 0);
  c = make_cfg(255, 0, 1);
  assert_int_equal(cdht_config_check(&c), 0);
  c = make_cfg(0, 0, 0);
  c.bits = 1; /* the smallest ring: ids 0 and 1 */
  cdht_config_classic(&c, 1, 0, 1);
  assert_int_equal(cdht_config_check(&c), 0);
  c = v2_cfg(V2_TOP, 4, V6(3, 1), V4(UINT64_C(1) << 63, 2)); /* a 64-bit ring, both families */
  assert_int_equal(cdht_config_check(&c), 0);
  c = v2_cfg(V2_TOP, 4, V6(V2_TOP, 4), V6(V2_TOP, 4)); /* alone, named at our IPv6 address */
  assert_int_equal(cdht_config_check(&c), 0);
  c = make_cfg(5, 5, 5);
  c.join_via = cdht_config_addr(&c, 1); /* joining: no successors needed */
  c.succ[0] = c.succ[1] = cdht_peer_none();
  assert_int_equal(cdht_config_check(&c), 0);

  struct { cdht_config c; const char *why; } bad[48];
  size_t nb = 0;
  /* Each case starts from a good config |c| of its kind and breaks one thing. */
#define BAD_FROM(base, change)                 \
  do {                                         \
    assert_true(nb < sizeof bad / sizeof bad[0]); \
    cdht_config c_ = (base);                   \
    assert_int_equal(cdht_config_check(&c_), 0); \
    { cdht_config *cc = &c_; change; }         \
    bad[nb].c = c_;                            \
    bad[nb].why = #change;                     \
    nb++;                                      \
  } while (0)
#define BAD(change) BAD_FROM(make_cfg(1, 3, 4), change)
  BAD((cc->self = 256, cc->addr = cdht_config_addr(cc, 256)));  /* outside the 8-bit ring */
  BAD(cc->succ[0] = P(256));
  BAD(cc->succ[1] = P(1000));
  BAD(cc->succ[1] = P(3));  /* S1 = S2 != self */
  BAD(cc->succ[0] = P(1));  /* S1 = self != S2 */
  BAD(cc->succ[0] = cdht_peer_none());
  BAD(cc->succ[1] = cdht_peer_none());
  BAD(cc->bits = 0);
  BAD(cc->bits = 65);
  BAD(cc->keys = CDHT_KEYS_BLAKE2B + 1);
  BAD(cc->base_port = 65400); /* peer 255 would need port 65655 */
  BAD(cc->bits = 16);         /* peer 65535 would need port 115535 */
  BAD(cc->addr = (cdht_addr){ 0 });
  BAD(cc->addr.port = 50002);  /* classic: our own address off the rule */
  BAD(cc->succ[0].addr.port = 50004); /* classic: 3's record off the rule */
  BAD(cc->succ[1].addr = cdht_addr_v4(0x7f000002u, 50004));
  BAD(cc->alt = v6addr(1, 50001)); /* the classic forms are IPv4 alone */
  BAD(cc->join_via = cc->addr);     /* joining through ourselves */
  BAD(cc->ping_interval_ms = 0);
  BAD(cc->ping_timeout_ms = 0);
  BAD(cc->ping_timeout_ms = 16 * INTERVAL); /* more pings in flight than the detector tracks */
  BAD(cc->misses = 0);
  BAD(cc->requery_ms = 0);
  BAD(cc->request_timeout_ms = 0);
  BAD(cc->leave_timeout_ms = 0);
#undef BAD
#define BAD(change) BAD_FROM(v2_cfg(V2_TOP, 4, V6(3, 1), V4(UINT64_C(1) << 63, 2)), change)
  BAD(cc->alt = v4addr(9, 4000));          /* alt of the same family as addr */
  BAD(cc->alt.port = 0);
  BAD(cc->addr.port = 0);
  BAD(cc->bits = 8);                       /* the ids no longer fit */
  BAD((cc->succ[0] = cc->succ[1] = V6(V2_TOP, 9))); /* alone, but our own id at another address */
  BAD((cc->succ[0] = cc->succ[1] = V4(V2_TOP, 9)));
  BAD(cc->succ[1] = cdht_peer_none());
#undef BAD
#undef BAD_FROM
  for (size_t i = 0; i < nb; i++) {
    if (cdht_config_check(&bad[i].c) != CDHT_ERR_INVAL) fail_msg("accepted %s", bad[i].why);
    cdht_node *n = (cdht_node *)&n; /* not NULL: _new must clear it */
    assert_int_equal(cdht_node_new(&n, &bad[i].c, NULL, 0), CDHT_ERR_INVAL);
    assert_null(n);
  }
  /* The defaults are the classic ones. */
  cdht_config_default(&c);
  assert_int_equal(c.bits, 8);
  assert_int_equal(c.keys, CDHT_KEYS_NUMBERS);
  assert_true(c.classic);
  assert_int_equal(c.base_port, 50000);
  assert_int_equal(c.host, 0x7f000001u);
  assert_int_equal(c.alt.family, CDHT_AF_NONE);
  assert_int_equal(c.join_via.family, CDHT_AF_NONE);
  cdht_addr a = cdht_config_addr(&c, 15);
  assert_int_equal(a.family, CDHT_AF_INET);
  assert_int_equal(a.port, 50015);
  assert_int_equal(cdht_addr_ipv4(&a), 0x7f000001u);
  cdht_peer p = cdht_config_peer(&c, 15);
  assert_true(p.id == 15 && cdht_addr_eq(&p.addr, &a));
  cdht_config_classic(&c, 4, 5, 8);
  assert_true(c.self == 4 && c.addr.port == 50004 && c.succ[0].id == 5 && c.succ[1].addr.port == 50008);
  p = cdht_config_self(&c);
  assert_true(p.id == 4 && cdht_addr_eq(&p.addr, &c.addr));
}

typedef struct counting_mem {
  int fail;   /* refuse every allocation ... */
  int pass;   /* ... but the next |pass| ones */
  int allocs; /* successful allocations */
  int frees;
} counting_mem;

static void *t_alloc(void *ctx, size_t size) {
  counting_mem *m = ctx;
  if (m->fail && m->pass == 0) return NULL;
  if (m->fail) m->pass--;
  m->allocs++;
  return calloc(1, size);
}

static void t_free(void *ctx, void *p) {
  counting_mem *m = ctx;
  m->frees++;
  free(p);
}

static void test_node_new_nomem(void **state) {
  (void)state;
  cdht_config c = make_cfg(1, 3, 4);
  counting_mem cm = { .fail = 1 };
  cdht_mem mem = { t_alloc, t_free, &cm };
  cdht_node *n = (cdht_node *)&n;
  assert_int_equal(cdht_node_new(&n, &c, &mem, 0), CDHT_ERR_NOMEM);
  assert_null(n);
  assert_int_equal(cm.frees, 0);
  /* The same allocator that succeeds is used for the node and for freeing it. */
  cm.fail = 0;
  assert_int_equal(cdht_node_new(&n, &c, &mem, 0), 0);
  assert_non_null(n);
  assert_int_equal(cm.allocs, 1);
  cdht_node_del(n);
  assert_int_equal(cm.frees, 1);
  cdht_node_del(NULL);
  /* With fingers the table is a second allocation: its failure frees the node. */
  c.fingers = true;
  cm = (counting_mem){ .fail = 1, .pass = 1 };
  n = (cdht_node *)&n;
  assert_int_equal(cdht_node_new(&n, &c, &mem, 0), CDHT_ERR_NOMEM);
  assert_null(n);
  assert_int_equal(cm.allocs, 1);
  assert_int_equal(cm.frees, 1);
  cm = (counting_mem){ 0 };
  assert_int_equal(cdht_node_new(&n, &c, &mem, 0), 0);
  assert_int_equal(cm.allocs, 2);
  cdht_node_del(n);
  assert_int_equal(cm.frees, 2);
}

/* ---- 10. deadlines ---- */

static void test_node_next_deadline(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  sent rest[OUT_CAP];
  assert_int_equal(cdht_node_next_deadline(n), 0); /* ping at once */
  timer(n, now);
  answer_pings(n, now, rest, OUT_CAP);
  assert_int_equal(cdht_node_next_deadline(n), now + TIMEOUT); /* the pings' deadline */
  now += TIMEOUT;
  timer(n, now);
  /* Idle, successors answering: the next thing to do is the next ping. */
  assert_int_equal(cdht_node_next_deadline(n), INTERVAL);
  now = INTERVAL;
  timer(n, now);
  answer_pings(n, now, rest, OUT_CAP);
  now += TIMEOUT;
  timer(n, now);
  assert_int_equal(cdht_node_next_deadline(n), 2 * INTERVAL);

  /* Woken early, late, very late, at odd times, with a request pending and successors
   * silent or answering: never a deadline at or before now. */
  uint32_t x = 12345;
  for (int i = 0; i < 2000; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    uint64_t d = cdht_node_next_deadline(n);
    assert_true(d > now);
    switch (x % 5) {
    case 0: now = d; break;                 /* on time */
    case 1: now = d + x % 3000; break;      /* late: the process was stopped */
    case 2: now += 1 + x % 97; break;       /* spurious wake-ups */
    case 3: now = d - 1 > now ? d - 1 : now; break;
    default: now = d + 1; break;
    }
    timer(n, now);
    if (x % 7 == 0) command(n, now, CDHT_CMD_REQUEST, (uint16_t)(x % 10000));
    if (x % 3 != 0) answer_pings(n, now, rest, OUT_CAP); /* otherwise left unanswered */
    else drain_all(n);
    drain_all(n);
    assert_true(cdht_node_next_deadline(n) > now);
  }
  cdht_node_del(n);

  /* Alone: only the ping tick, one interval on. */
  now = 0;
  n = new_node(1, 1, 1, now);
  timer(n, now);
  assert_int_equal(cdht_node_next_deadline(n), INTERVAL);
  now = 5 * INTERVAL + 123; /* a long sleep: the tick restarts from now rather than catching up */
  timer(n, now);
  assert_int_equal(cdht_node_next_deadline(n), now + INTERVAL);
  cdht_node_del(n);
}


/* A peer that quits while repairing its own second successor does not know it, and tells its
 * first predecessor (s1, s1): the predecessor learns its second successor by asking, as in a
 * kill repair, and prints both lines only then. */
static void test_node_depart_during_repair(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 4, 5, now);
  drain_all(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(5), P(5) } };
  assert_int_equal(deliver_depart(n, now, 4, dep), 0);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t k = drain_out(n, out, OUT_CAP), e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_DEPARTING), 1);
  assert_int_equal(ev_count(ev, e, CDHT_EV_SUCCESSORS), 0);
  assert_succ(n, 5, NOPEER);
  int q = find_type(out, k, CDHT_MSG_SUCC_QUERY);
  assert_true(q >= 0);
  assert_int_equal(out[q].o.to.id, 5);
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[q].m.seq, .nsucc = 2, .succ = { P(8), P(10) } };
  now += 10;
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, reply), 0);
  e = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find_succ(ev, e, 0, 5, 8) >= 0);
  assert_succ(n, 5, 8);
  cdht_node_del(n);
}


/* A witness that heard from the suspect recently overturns the verdict: lost pings on our
 * path alone never kill a live peer.  Without an answer the verdict comes one interval later. */
static void test_node_witness_vouches_or_times_out(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 4, 5, now);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  int queries = 0;
  uint32_t qid = 0;
  /* 4 answers, 5 never does; the witness vouches for 5 each time it is asked. */
  for (; now <= 20000; now += 100) {
    timer(n, now);
    size_t k = drain_out(n, out, OUT_CAP);
    for (size_t i = 0; i < k; i++) {
      if (out[i].m.type == CDHT_MSG_PING && out[i].o.to.id == 4) pong_from(n, now, 4, out[i].m.seq);
      if (out[i].m.type == CDHT_MSG_WITNESS_QUERY) {
        queries++;
        cdht_msg wr = { .type = CDHT_MSG_WITNESS_REPLY, .seq = out[i].m.seq, .about = P(5), .age_ms = 300 };
        assert_int_equal(deliver(n, now, CDHT_TCP, 4, wr), 0);
      }
    }
    size_t e = drain_ev(n, ev, EV_CAP); /* only PEER_DEAD matters here */
    assert_int_equal(ev_find(ev, e, 0, CDHT_EV_PEER_DEAD, ANY, ANY_FILE), -1);
  }
  assert_true(queries >= 3);
  assert_true(cdht_node_stats(n)->vouched == (uint64_t)queries);
  assert_true(cdht_node_stats(n)->probes_sent > 0); /* lost pings were followed by probes */
  assert_succ(n, 4, 5);
  /* Now the witness stays silent: dead one interval after the question. */
  uint64_t asked = 0;
  bool dead = false;
  for (; now <= 40000 && !dead; now += 100) {
    timer(n, now);
    size_t k = drain_out(n, out, OUT_CAP);
    for (size_t i = 0; i < k; i++) {
      if (out[i].m.type == CDHT_MSG_PING && out[i].o.to.id == 4) pong_from(n, now, 4, out[i].m.seq);
      if (out[i].m.type == CDHT_MSG_WITNESS_QUERY) { asked = now; qid = out[i].m.seq; }
    }
    size_t e = drain_ev(n, ev, EV_CAP);
    if (ev_find(ev, e, 0, CDHT_EV_PEER_DEAD, 5, 0) >= 0) {
      dead = true;
      assert_true(asked > 0 && now - asked >= INTERVAL && now - asked <= INTERVAL + 100);
    }
  }
  assert_true(dead);
  /* A late or forged witness reply changes nothing now. */
  cdht_msg late = { .type = CDHT_MSG_WITNESS_REPLY, .seq = qid, .about = P(5), .age_ms = 1 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, late), CDHT_ERR_STALE);
  cdht_node_del(n);
}

/* A witness answers from what it heard of its own successors. */
static void test_node_witness_answers(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  sent out[OUT_CAP];
  timer(n, now);
  size_t k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++)
    if (out[i].o.to.id == 5) pong_from(n, now, 5, out[i].m.seq);
  drain_all(n);
  now += 700;
  /* 3 is no neighbour of ours yet: answered all the same (CDHT_ANSWERED, §7). */
  cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = 77, .about = P(5) };
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  q.about = P(8); /* never answered */
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  q.about = P(12); /* not a successor */
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 3);
  assert_int_equal(out[0].m.type, CDHT_MSG_WITNESS_REPLY);
  assert_int_equal(out[0].o.to.id, 3);
  assert_int_equal(out[0].m.seq, 77);
  assert_int_equal(out[0].m.age_ms, 700);
  assert_int_equal(out[1].m.age_ms, CDHT_AGE_NEVER);
  assert_int_equal(out[2].m.age_ms, CDHT_AGE_NEVER);
  cdht_node_del(n);
}


/* A peer that departed, rejoined and departs again is heard the second time too (found by the
 * lossy soak: the repeat guard swallowed the second departure, and the ring had to detect it). */
/* Answers the JOIN_ACCEPT |n| just sent to |j| as the joiner at its address would: with its token. */
static void accept_joiner(cdht_node *n, uint64_t now, cdht_id j) {
  sent out[OUT_CAP];
  size_t o = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < o; i++) {
    if (out[i].m.type != CDHT_MSG_JOIN_ACCEPT || out[i].o.to.id != j) continue;
    cdht_msg ack = { .type = CDHT_MSG_JOIN_ACK, .seq = out[i].m.seq, .token = out[i].m.token };
    assert_int_equal(deliver(n, now, CDHT_TCP, j, ack), 0);
    return;
  }
  fail_msg("no JOIN_ACCEPT to %llu", (unsigned long long)j);
}

/* A join request for a peer nobody runs (issue 9, §4): accepted on the wire, but the ring does
 * not change until the joiner echoes the token from its own address, and a wrong token or a
 * made-up acknowledgement changes nothing. */
static void test_node_adopts_a_joiner_only_once_it_answers(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 5, 8, now);
  drain_all(n);
  cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = P(4), .seq = 9, .bits = 8, .keys = CDHT_KEYS_NUMBERS };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, join), 0);
  assert_succ(n, 5, 8);
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_find(ev, e, 0, CDHT_EV_JOIN_RECEIVED, 4, 0), -1);
  sent out[OUT_CAP];
  size_t o = drain_out(n, out, OUT_CAP);
  assert_int_equal(o, 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_JOIN_ACCEPT);
  cdht_msg bad = { .type = CDHT_MSG_JOIN_ACK, .seq = 9, .token = out[0].m.token ^ 1 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, bad), CDHT_ERR_STALE);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_TOKEN], 1);
  cdht_msg other = { .type = CDHT_MSG_JOIN_ACK, .seq = 9, .token = out[0].m.token };
  assert_int_equal(deliver(n, now, CDHT_TCP, 6, other), CDHT_ERR_STALE); /* not the joiner */
  assert_succ(n, 5, 8);
  cdht_msg good = { .type = CDHT_MSG_JOIN_ACK, .seq = 9, .token = out[0].m.token };
  assert_int_equal(deliver(n, now + 10, CDHT_TCP, 4, good), 0);
  assert_succ(n, 4, 5);
  e = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find(ev, e, 0, CDHT_EV_JOIN_RECEIVED, 4, 0) >= 0);
  cdht_node_del(n);
}

/* A DEPART in the name of our successor changes nothing until the peer at its address echoes
 * our token (issue 9, §4): a forged one, or a confirmation with another token, is refused. */
static void test_node_departure_needs_the_leaving_peers_confirmation(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 4, 5, now);
  drain_all(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(5), P(8) } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, dep), 0);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_DEPART_ACK && out[0].o.to.id == 4 && out[0].m.token != 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0); /* no "will depart" line yet */
  assert_succ(n, 4, 5);
  cdht_msg wrong = { .type = CDHT_MSG_DEPART_CONFIRM, .token = out[0].m.token + 1 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, wrong), CDHT_ERR_STALE);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_TOKEN], 1);
  cdht_msg other = { .type = CDHT_MSG_DEPART_CONFIRM, .token = out[0].m.token };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, other), CDHT_ERR_STALE); /* not the one leaving */
  assert_succ(n, 4, 5);
  /* Past the leave timeout the question is over: a late confirmation changes nothing. */
  cdht_msg late = { .type = CDHT_MSG_DEPART_CONFIRM, .token = out[0].m.token };
  assert_int_equal(deliver(n, now + cdht_node_config(n)->leave_timeout_ms, CDHT_TCP, 4, late), CDHT_ERR_STALE);
  assert_succ(n, 4, 5);
  assert_int_equal(deliver_depart(n, now + 10, 4, dep), 0);
  assert_succ(n, 5, 8);
  cdht_node_del(n);
}

/* A SUCC_CHANGE in our first successor's name is applied only once that peer, asked at its
 * address, names the joiner as its first successor. */
static void test_node_successor_change_is_checked_with_the_successor(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 5, 8, now);
  drain_all(n);
  cdht_msg change = { .type = CDHT_MSG_SUCC_CHANGE, .nsucc = 2, .succ = { P(5), P(4) } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, change), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_SUCC_QUERY && out[0].o.to.id == 5);
  assert_succ(n, 5, 8);
  /* 5 says its first successor is 8: nobody joined, nothing changes. */
  cdht_msg no = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[0].m.seq, .nsucc = 2, .succ = { P(8), P(10) } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, no), 0);
  assert_succ(n, 5, 8);
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_SUCC_CHANGE), 0);
  /* Asked again, it names the joiner: taken. */
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, change), 0);
  k = drain_out(n, out, OUT_CAP);
  cdht_msg yes = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[0].m.seq, .nsucc = 2, .succ = { P(4), P(8) } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, yes), 0);
  assert_succ(n, 5, 4);
  e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_SUCC_CHANGE), 1);
  cdht_node_del(n);
}

static void test_node_departs_again_after_rejoining(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(3, 4, 5, now);
  drain_all(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(5), P(8) } };
  assert_int_equal(deliver_depart(n, now, 4, dep), 0);
  assert_succ(n, 5, 8);
  drain_all(n);
  /* 4 joins again between us and 5: we accept it (a join request from 4 lands here). */
  cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = P(4), .seq = 1, .bits = 8, .keys = CDHT_KEYS_NUMBERS };
  now += 1000;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, join), 0);
  accept_joiner(n, now, 4);
  assert_succ(n, 4, 5);
  drain_all(n);
  now += 1000;
  dep.succ[0] = P(5);
  dep.succ[1] = P(8);
  assert_int_equal(deliver_depart(n, now, 4, dep), 0);
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  assert_true(ev_find(ev, e, 0, CDHT_EV_DEPARTING, 4, 0) >= 0);
  assert_succ(n, 5, 8);
  cdht_node_del(n);
}


/* ---- content handed on around quits and joins (found by cdht-sim with content-carrying stores) ---- */

/* Delivers KEYS_OFFER{about} from |from| and returns the token |n| granted it (0: refused). */
static uint64_t offer_from(cdht_node *n, uint64_t now, cdht_id from, cdht_id about) {
  cdht_msg offer = { .type = CDHT_MSG_KEYS_OFFER, .key = about };
  if (deliver(n, now, CDHT_TCP, from, offer) < 0) return 0;
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++)
    if (out[i].m.type == CDHT_MSG_KEYS_GRANT && out[i].o.to.id == from) return out[i].m.token;
  return 0;
}

/* 8, our first predecessor, quits: it tells 5 first, whose ping as our first can overtake 8's
 * offer.  8 still gets a grant for a detection period after its last ping (seed 47); a
 * predecessor displaced from the second slot likewise (seed 125, --store-races).  Its transfers
 * are taken only with that token, for keys not ours already. */
static void test_node_handover_from_a_just_displaced_predecessor_is_taken(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = leaver(now); /* 10, predecessors 8 and 5 */
  now += 10;
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 1), 0);
  drain_all(n);
  assert_true(pred_of(n, 0) == 5);
  uint64_t t8 = offer_from(n, now + 5, 8, 5);
  assert_true(t8 != 0);
  assert_true(cdht_node_handover_allowed(n, now + 5, P(8), NMP(7), t8, 0, false));      /* key 7: 8's, not ours */
  assert_false(cdht_node_handover_allowed(n, now + 5, P(8), NMP(7), t8 + 1, 0, false)); /* not our token */
  assert_false(cdht_node_handover_allowed(n, now + 5, P(9), NMP(7), t8, 0, false));     /* never offered */
  assert_false(cdht_node_handover_allowed(n, now + 5, P(8), NMP(9), t8, 0, false));     /* key 9 is ours already */
  assert_true(offer_from(n, now + 5, 9, 5) == 0);                     /* never a predecessor */
  cdht_node_del(n);

  now = 0;
  n = leaver(now);
  now += 10;
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_SECOND, 1), 0); /* 5 displaced from the second slot */
  drain_all(n);
  uint64_t t5 = offer_from(n, now + 5, 5, 3);
  assert_true(t5 != 0 && cdht_node_handover_allowed(n, now + 5, P(5), NMP(4), t5, 0, false));
  cdht_node_del(n);

  /* Long after its last ping it is nobody's word. */
  now = 0;
  n = leaver(now);
  assert_int_equal(ping_from(n, now + 10, 3, CDHT_ROLE_SECOND, 1), 0);
  drain_all(n);
  assert_true(offer_from(n, now + 60000, 5, 3) == 0);
  cdht_node_del(n);
}

/* A joiner takes, after its keys, content its successor passes back: the store was accepted
 * just before the join and its content came after the join's handover (seed 3, --store-races). */
static void test_node_joiner_takes_content_passed_back_after_its_keys(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = make_cfg(10, 10, 10);
  c.join_via = cdht_config_addr(&c, 5);
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_JOIN_REQ);
  cdht_msg yes = { .type = CDHT_MSG_JOIN_ACCEPT, .seq = out[0].m.seq, .nsucc = 2, .succ = { P(12), P(15) }, .about = cdht_peer_none() };
  now += 10;
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, yes), 0);
  k = drain_out(n, out, OUT_CAP);
  uint64_t token = 0;
  for (size_t i = 0; i < k; i++)
    if (out[i].m.type == CDHT_MSG_KEYS_REQ && out[i].o.to.id == 12) token = out[i].m.token;
  assert_true(token != 0);
  drain_all(n);
  now += 10;
  assert_true(cdht_node_handover_allowed(n, now, P(12), NMP(7), token, 0, false)); /* key 7 of (5, 10] */
  assert_false(cdht_node_handover_allowed(n, now, P(12), NMP(7), 0, 0, false));    /* without our token */
  cdht_msg forged = { .type = CDHT_MSG_KEYS_DONE, .seq = 1 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, forged), CDHT_ERR_ROLE);
  cdht_msg done = { .type = CDHT_MSG_KEYS_DONE, .seq = 1, .token = token };
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, done), 0);
  drain_all(n);
  now += 500;
  assert_true(cdht_node_handover_allowed(n, now, P(12), NMP(8), token, 0, false));  /* passed back later */
  assert_false(cdht_node_handover_allowed(n, now, P(12), NMP(11), token, 0, false)); /* not a key we asked for */
  /* A store's content that landed here after we asked is newer than the giver's: kept (while
   * it is here: a file handed away meanwhile leaves nothing newer behind). */
  assert_int_equal(cdht_node_handover_allowed(n, now, P(12), NMP(8), token, now - 100, false), CDHT_HANDOVER_TAKE);
  cdht_node_set_stored(n, NMP(8), true);
  assert_int_equal(cdht_node_handover_allowed(n, now, P(12), NMP(8), token, now - 100, false), CDHT_HANDOVER_OLDER);
  assert_int_equal(cdht_node_handover_allowed(n, now, P(12), NMP(8), token, 5, false), CDHT_HANDOVER_TAKE); /* before: older */
  assert_int_equal(cdht_node_handover_allowed(n, now, P(12), NMP(8), token, 5, true), CDHT_HANDOVER_OLDER); /* the giver says a newer store came */
  cdht_node_del(n);
}

/* A leaving peer that takes over more files than it can follow handovers at once still passes
 * every one on: once a handover is through, whatever is still here goes (seed 119, two
 * neighbours quitting at once with --store-races). */
static void test_node_leaving_peer_passes_on_more_files_than_it_has_handovers(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = leaver(now);
  now += 100;
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
  drain_out(n, (sent[OUT_CAP]){ 0 }, OUT_CAP);
  cdht_msg grant = { .type = CDHT_MSG_KEYS_GRANT, .token = 99 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, grant), 0);
  cdht_event ev[EV_CAP];
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_true(k == 1 && ev[0].kind == CDHT_EV_HANDOVER && ev[0].token == 99);
  uint32_t own = ev[0].seq;
  unsigned handovers = 0;
  for (uint16_t f = 100; f < 120; f++) { /* 20 files from a predecessor leaving at the same time */
    assert_int_equal(cdht_node_on_taken_over(n, now, NMP(f), P(8)), 0);
    k = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < k; i++) handovers += ev[i].kind == CDHT_EV_HANDOVER;
  }
  assert_true(handovers < 20); /* the slots ran out */
  assert_int_equal(cdht_node_on_handover_done(n, now + 50, P(12), own, 0, 0), 0);
  drain_out(n, (sent[OUT_CAP]){ 0 }, OUT_CAP);
  k = drain_ev(n, ev, EV_CAP);
  ssize_t all = -1;
  for (size_t i = 0; i < k; i++)
    if (ev[i].kind == CDHT_EV_HANDOVER) all = (ssize_t)i;
  assert_true(all >= 0);
  assert_true(idof(ev[all].peer) == 12 && ev[all].lo == 10 && ev[all].hi == 10); /* the whole ring */
  assert_false(cdht_node_has_left(n));
  cdht_node_del(n);
}

/* Runs |n| from |*now| to |until| in 50 ms steps, answering every ping; events are dropped. */
static void run_answering(cdht_node *n, uint64_t *now, uint64_t until) {
  sent rest[OUT_CAP];
  cdht_event ev[EV_CAP];
  for (; *now < until; *now += 50) {
    timer(n, *now);
    answer_pings(n, *now, rest, OUT_CAP);
    drain_ev(n, ev, EV_CAP);
  }
}

/* The queues hold the worst one input can cause (node.h): 32 pending requests, and both
 * successors declared dead in the same timer call.  The first death resends every request to
 * the second successor; the second leaves the peer alone, which answers every request itself. */
static void test_node_worst_case_fits_the_queues(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = make_cfg(8, 10, 12);
  c.classic_detector = true; /* both successors miss the same pings and die in the same call */
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  run_answering(n, &now, 3000);
  for (uint16_t f = 0; f < CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 20 + f), 0);
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 60), CDHT_ERR_BUSY);
  drain_all(n);
  /* Nobody answers any more. */
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t k = 0, nout = 0;
  for (now += 50; now < 3000 + 2 * DETECT_MS; now += 50) {
    timer(n, now);
    nout = drain_out(n, out, OUT_CAP);
    k = drain_ev(n, ev, EV_CAP);
    if (ev_count(ev, k, CDHT_EV_PEER_DEAD) > 0) break;
  }
  assert_int_equal(ev_count(ev, k, CDHT_EV_PEER_DEAD), 2);
  assert_int_equal(ev_count(ev, k, CDHT_EV_REQUEST_RETRIED), CDHT_MAX_PENDING);
  assert_int_equal(count_type(out, nout, CDHT_MSG_FILE_REQ), CDHT_MAX_PENDING);
  assert_int_equal(ev_count(ev, k, CDHT_EV_FILE_HERE), CDHT_MAX_PENDING);
  assert_int_equal(ev_count(ev, k, CDHT_EV_RING_BROKEN), 1); /* they did answer once */
  assert_true(ev_find_succ(ev, k, 0, 8, 8) >= 0);
  assert_true(k > 64); /* more than the old 64-entry queue held */
  for (size_t i = 0; i < k; i++)
    if (ev[i].kind == CDHT_EV_FILE_HERE) assert_true(ev[i].own && !ev[i].content);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 0);
  cdht_node_del(n);
}

/* A peer started alone (cdht 1 3 4 with neither running): its successors never answered, and
 * the event says so instead of "both successors died before the repair finished". */
static void test_node_successors_that_never_answered(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(1, 3, 4, now);
  cdht_event ev[EV_CAP];
  size_t never = 0, broken = 0;
  cdht_event got = { 0 };
  for (; now < 4 * DETECT_MS; now += 50) {
    timer(n, now);
    { sent o[OUT_CAP]; drain_out(n, o, OUT_CAP); }
    size_t k = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < k; i++) {
      if (ev[i].kind == CDHT_EV_NEVER_ANSWERED) { never++; got = ev[i]; }
      broken += ev[i].kind == CDHT_EV_RING_BROKEN;
    }
  }
  assert_int_equal(never, 1);
  assert_int_equal(broken, 0);
  assert_true((idof(got.succ[0]) == 3 && idof(got.succ[1]) == 4) || (idof(got.succ[0]) == 4 && idof(got.succ[1]) == 3));
  assert_succ(n, 1, 1);
  cdht_node_del(n);
}

/* A store that gets no answer is retried as a store: its event is not a request's. */
static void test_node_store_retry_is_a_store(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(8, 10, 12, now);
  run_answering(n, &now, 2000);
  assert_int_equal(command(n, now, CDHT_CMD_STORE, 20), 0);
  sent rest[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t store_retried = 0, request_retried = 0;
  for (uint64_t end = now + cdht_node_config(n)->request_timeout_ms * 3 / 4; now < end; now += 50) {
    timer(n, now);
    answer_pings(n, now, rest, OUT_CAP);
    size_t k = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < k; i++) {
      if (ev[i].kind == CDHT_EV_STORE_RETRIED) {
        assert_true(ev_is(&ev[i], CDHT_EV_STORE_RETRIED, 10, 20));
        store_retried++;
      }
      request_retried += ev[i].kind == CDHT_EV_REQUEST_RETRIED;
    }
  }
  assert_int_equal(store_retried, 1);
  assert_int_equal(request_retried, 0);
  cdht_node_del(n);
}

/* ---- the first predecessor is the closest one (§4, §8; issue 9) ---- */

/* What node |n| answers a stabilization question from |from|: its first predecessor. */
static cdht_id stab_answer(cdht_node *n, uint64_t now, cdht_id from) {
  cdht_msg q = { .type = CDHT_MSG_STAB_QUERY, .seq = 77 };
  assert_true(deliver(n, now, CDHT_TCP, from, q) >= 0); /* answered, from a neighbour or not */
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  int r = find_type(out, k, CDHT_MSG_STAB_REPLY);
  assert_true(r >= 0);
  return idof(out[r].m.about);
}

/* 1 restarted as `cdht 1 2 3` and 5 (which declared it dead and went on to 2) both ping 2 as
 * first successor.  2 keeps 1, the closer, however the pings interleave, so 5's stabilization
 * question always hears of 1 (it used to hear its own name when its ping came just before). */
static void test_node_first_predecessor_is_the_closest_pinger(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(2, 3, 4, now);
  drain_all(n);
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(ping_from(n, now, 4, CDHT_ROLE_SECOND, 1), 0);
  assert_int_equal(pred_of(n, 0), 5);
  drain_all(n);
  for (int round = 0; round < 5; round++) {
    now += INTERVAL / 2;
    assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_FIRST, (uint32_t)round), 0); /* the restarted peer */
    assert_int_equal(pred_of(n, 0), 1);
    now += INTERVAL / 2;
    assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, (uint32_t)round + 2), 0);
    assert_int_equal(pred_of(n, 0), 1);       /* not the latest pinger */
    assert_int_equal(pred_of(n, 1), 4);
    sent out[OUT_CAP];
    size_t k = drain_out(n, out, OUT_CAP);                   /* 5 is answered all the same */
    assert_int_equal(k, 2);
    assert_true(out[1].m.type == CDHT_MSG_PONG && out[1].o.to.id == 5 && out[1].m.seq == (uint32_t)round + 2);
    assert_int_equal(stab_answer(n, now, 5), 1);
  }
  cdht_event ev[EV_CAP];
  assert_int_equal(ev_count(ev, drain_ev(n, ev, EV_CAP), CDHT_EV_PING_REQUEST), 10); /* every ping printed */
  /* 1 dies: once it has been silent for a detection period, 5 takes the slot again. */
  uint64_t last1 = now - INTERVAL / 2;
  now = last1 + DETECT_MS;
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 50), 0);
  assert_int_equal(pred_of(n, 0), 1);
  now = last1 + DETECT_MS + 1;
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 51), 0);
  assert_int_equal(pred_of(n, 0), 5);
  drain_all(n);
  cdht_node_del(n);
}

/* A first predecessor that died or left is replaced at once by its own predecessor, which
 * pinged us as second and now pings us as first (it moved us up), even when the peer behind it
 * has already taken the second slot.  A peer that never was our second predecessor, and is
 * farther than a first predecessor still pinging, does not take the slot. */
static void test_node_first_predecessor_moves_up_when_its_successor_is_gone(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(12, 15, 1, now);
  drain_all(n);
  assert_int_equal(ping_from(n, now, 10, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_SECOND, 1), 0);
  now += 100; /* 10 left: 8 pings us as first; 8 first, or 5 (now pinging (8, 12)) first */
  assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_FIRST, 2), 0);
  assert_int_equal(pred_of(n, 0), 8);
  assert_int_equal(pred_of(n, 1), NOPEER);
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_SECOND, 2), 0);
  assert_int_equal(pred_of(n, 1), 5);

  cdht_node *m = new_node(12, 15, 1, now);
  drain_all(m);
  assert_int_equal(ping_from(m, now, 10, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_SECOND, 1), 0);
  now += 100;
  assert_int_equal(ping_from(m, now, 5, CDHT_ROLE_SECOND, 2), 0);
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 2), 0);
  assert_int_equal(pred_of(m, 0), 8);
  assert_int_equal(pred_of(m, 1), 5);
  /* 3 was never our second predecessor and 8 keeps pinging: 3 is answered, not adopted. */
  assert_int_equal(ping_from(m, now, 3, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(pred_of(m, 0), 8);
  /* Nor is 5 once the second slot moved on for longer than a detection period: 5 pinging us
   * as first while 8 still pings is stale news. */
  now += DETECT_MS + 1;
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 3), 0);
  assert_int_equal(ping_from(m, now, 4, CDHT_ROLE_SECOND, 3), 0); /* 5 displaced from the second slot */
  now += DETECT_MS + 1;
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 4), 0);
  assert_int_equal(ping_from(m, now, 5, CDHT_ROLE_FIRST, 4), 0);
  assert_int_equal(pred_of(m, 0), 8);
  drain_all(n);
  drain_all(m);
  cdht_node_del(n);
  cdht_node_del(m);
}

/* The 2020 form prints each ping round: one PINGS_SENT per round, naming the successors pinged,
 * and only when asked for (the classic forms' events stay as they were). */
static void test_node_ping_round_event_only_when_asked(void **state) {
  (void)state;
  for (int asked = 0; asked < 2; asked++) {
    cdht_config c = make_cfg(2, 4, 5);
    c.round_events = asked;
    cdht_node *n = NULL;
    uint64_t now = 0;
    assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
    for (int round = 0; round < 3; round++, now += INTERVAL) {
      timer(n, now);
      cdht_event ev[EV_CAP];
      size_t k = drain_ev(n, ev, EV_CAP);
      int at = ev_find(ev, k, 0, CDHT_EV_PINGS_SENT, NOPEER, 0);
      assert_int_equal(ev_count(ev, k, CDHT_EV_PINGS_SENT), asked ? 1u : 0u);
      if (asked) {
        assert_true(at >= 0);
        assert_int_equal(idof(ev[at].succ[0]), 4);
        assert_int_equal(idof(ev[at].succ[1]), 5);
      }
      drain_all(n);
    }
    cdht_node_del(n);
  }
  /* A ring of two pings one successor: the event names it alone. */
  cdht_config c = make_cfg(2, 4, 2);
  c.round_events = true;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, 0), 0);
  timer(n, 0);
  cdht_event ev[EV_CAP];
  size_t k = drain_ev(n, ev, EV_CAP);
  int at = ev_find(ev, k, 0, CDHT_EV_PINGS_SENT, NOPEER, 0);
  assert_true(at >= 0);
  assert_int_equal(idof(ev[at].succ[0]), 4);
  assert_int_equal(idof(ev[at].succ[1]), NOPEER);
  cdht_node_del(n);
}

/* ---- wire v2: peer records, address checks, ring parameters, both families ---- */

/* Delivers |m| claiming to come from record |from|, from source |src|; the same contract as
 * deliver(). */
static int deliver_from(cdht_node *n, uint64_t now, cdht_transport t, cdht_peer from, cdht_addr src, cdht_msg m) {
  return deliver_as(n, now, t, from, &src, m);
}

/* A datagram's source must be exactly its sender record's address (its own bound port); a TCP
 * connection must come from the sender's host, any port (§2).  Every refusal is counted as
 * spoofed and changes nothing. */
static void test_node_source_must_match_the_sender_record(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  drain_all(n);
  const cdht_stats *st = cdht_node_stats(n);
  cdht_msg ping = { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 1 };
  /* UDP: another port, another host, the right port of another host. */
  static const struct { uint32_t ip; uint16_t port; } wrong[] = {
    { 0x7f000001u, 50002 }, { 0x7f000001u, 40001 }, { 0x7f000002u, 50003 }, { 0x0a000001u, 50003 } };
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
    assert_int_equal(deliver_from(n, now, CDHT_UDP, P(3), cdht_addr_v4(wrong[i].ip, wrong[i].port), ping),
                     CDHT_ERR_SPOOFED);
  /* The same bytes from an IPv6 source (the same last bytes): another host. */
  assert_int_equal(deliver_from(n, now, CDHT_UDP, P(3), v6addr(1, 50003), ping), CDHT_ERR_SPOOFED);
  assert_int_equal(st->dropped[CDHT_DROP_SPOOFED], 5);
  assert_int_equal(pred_of(n, 0), NOPEER);
  assert_int_equal(st->pings_received, 0);
  /* TCP: another host is refused; the sender's host from any port is fine. */
  cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = 3, .about = P(5) };
  assert_int_equal(deliver_from(n, now, CDHT_TCP, P(3), cdht_addr_v4(0x7f000002u, 40001), q), CDHT_ERR_SPOOFED);
  assert_int_equal(deliver_from(n, now, CDHT_TCP, P(3), v6addr(1, 40001), q), CDHT_ERR_SPOOFED);
  assert_int_equal(st->dropped[CDHT_DROP_SPOOFED], 7);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(deliver_from(n, now, CDHT_TCP, P(3), cdht_addr_v4(0x7f000001u, 61234), q), CDHT_ANSWERED);
  assert_int_equal(deliver_from(n, now, CDHT_TCP, P(3), P(3).addr, q), CDHT_ANSWERED);
  assert_int_equal(drain_out(n, out, OUT_CAP), 2);
  assert_true(out[0].m.type == CDHT_MSG_WITNESS_REPLY && out[0].o.to.id == 3);
  /* And the right source for UDP. */
  assert_int_equal(deliver_from(n, now, CDHT_UDP, P(3), P(3).addr, ping), 0);
  assert_int_equal(pred_of(n, 0), 3);
  assert_int_equal(st->dropped[CDHT_DROP_SPOOFED], 7);
  drain_all(n);
  cdht_node_del(n);
}

/* On the classic forms every record a message carries must be its id's classic record: the
 * sender, the origin, the peer a message is about, and every entry of a successor list.  A
 * record off the rule speaks for someone else (spoofed); an id outside 2^bits is a bad id.
 * Checked before any module sees the message, so nothing changes. */
static void test_node_classic_records_off_the_rule_are_refused(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(4, 5, 8, now);
  timer(n, now);
  sent out[OUT_CAP];
  answer_pings(n, now, out, OUT_CAP);
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_FIRST, 0), 0);
  drain_all(n);
  const cdht_stats *st = cdht_node_stats(n);
  cdht_peer off_port = cdht_peer_make(10, cdht_addr_v4(0x7f000001u, 50011));
  cdht_peer off_host = cdht_peer_make(1, cdht_addr_v4(0x7f000002u, 50001));
  cdht_peer off_family = V6(12, 12);
  struct { const char *why; cdht_transport t; cdht_peer from; cdht_msg m; int err; cdht_drop drop; } bad[] = {
    /* the sender itself, datagram from exactly the address it claims */
    { "from off the rule", CDHT_UDP, cdht_peer_make(3, cdht_addr_v4(0x7f000001u, 50099)),
      { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 5 }, CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    { "from IPv6", CDHT_UDP, V6(3, 3), { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 5 },
      CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    /* a successor list with one entry off the rule */
    { "succ[1] off the rule", CDHT_TCP, P(5), { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(8), off_port } },
      CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    { "succ[0] on another host", CDHT_TCP, P(5),
      { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { off_host, P(8) } }, CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    { "a third entry off the rule", CDHT_TCP, P(5),
      { .type = CDHT_MSG_DEPART, .nsucc = 3, .succ = { P(8), P(10), off_family } }, CDHT_ERR_SPOOFED,
      CDHT_DROP_SPOOFED },
    /* about */
    { "about off the rule", CDHT_TCP, P(3), { .type = CDHT_MSG_WITNESS_QUERY, .seq = 1, .about = off_port },
      CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    /* origin */
    { "origin off the rule", CDHT_TCP, P(3), { .type = CDHT_MSG_FILE_REQ, .origin = off_host, .seq = 1, .name = NM4(7) },
      CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    { "origin IPv6", CDHT_TCP, P(3), { .type = CDHT_MSG_STORE_REQ, .origin = off_family, .seq = 1, .name = NM4(7) },
      CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED },
    /* ids outside 2^8, even at "their" classic address */
    { "about 256", CDHT_TCP, P(3), { .type = CDHT_MSG_WITNESS_QUERY, .seq = 1, .about = P(256) }, CDHT_ERR_BADID,
      CDHT_DROP_BADID },
    { "succ 300", CDHT_TCP, P(5), { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(8), P(300) } }, CDHT_ERR_BADID,
      CDHT_DROP_BADID },
    { "origin 2^64 - 1", CDHT_TCP, P(3),
      { .type = CDHT_MSG_FILE_REQ, .origin = P(UINT64_MAX), .seq = 1, .name = NM4(7) }, CDHT_ERR_BADID, CDHT_DROP_BADID },
    { "from 1000", CDHT_UDP, P(1000), { .type = CDHT_MSG_PONG, .seq = 0 }, CDHT_ERR_BADID, CDHT_DROP_BADID },
  };
  uint64_t total = drops_total(n);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t before = st->dropped[bad[i].drop];
    cdht_addr src = bad[i].t == CDHT_UDP ? bad[i].from.addr : tcp_src;
    if (bad[i].t == CDHT_TCP && bad[i].from.addr.family == CDHT_AF_INET6) src = bad[i].from.addr;
    int rc = deliver_from(n, now, bad[i].t, bad[i].from, src, bad[i].m);
    if (rc != bad[i].err) fail_msg("%s: got %d, want %d", bad[i].why, rc, bad[i].err);
    assert_int_equal(st->dropped[bad[i].drop], before + 1);
  }
  assert_int_equal(drops_total(n), total + sizeof bad / sizeof bad[0]);
  cdht_event ev[EV_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_succ(n, 5, 8);
  assert_int_equal(pred_of(n, 0), 3);
  assert_int_equal(st->requests_handled, 0);
  /* The same departure with classic records is taken: the refusals were the records'. */
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(8), P(10) } };
  assert_int_equal(deliver_depart(n, now, 5, dep), 0);
  assert_succ(n, 8, 10);
  cdht_node_del(n);
}

/* Off the classic forms records carry any address, but ids must still be inside 2^bits. */
static void test_node_ids_outside_the_ring_are_bad_ids(void **state) {
  (void)state;
  cdht_config c = v2_cfg(100, 1, V4(200, 2), V6(300, 3));
  c.bits = 16;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, 0), 0);
  drain_all(n);
  cdht_msg ping = { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 1 };
  assert_int_equal(deliver_from(n, 0, CDHT_UDP, V4(65536, 9), v4addr(9, V2_PORT), ping), CDHT_ERR_BADID);
  assert_int_equal(deliver_from(n, 0, CDHT_UDP, V6(UINT64_MAX, 9), v6addr(9, V2_PORT), ping), CDHT_ERR_BADID);
  cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = 1, .about = V4(70000, 2) };
  assert_int_equal(deliver_from(n, 0, CDHT_TCP, V4(65535, 9), v4addr(9, 1), q), CDHT_ERR_BADID);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_BADID], 3);
  /* 65535 is the ring's largest id, at any address: a peer like any other. */
  assert_int_equal(deliver_from(n, 0, CDHT_UDP, V4(65535, 9), v4addr(9, V2_PORT), ping), 0);
  assert_true(is_id(cdht_node_predecessor(n, 0), 65535));
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 1);
  assert_true(cdht_peer_eq(&out[0].o.to, &(cdht_peer){ 65535, v4addr(9, V2_PORT) }));
  drain_all(n);
  cdht_node_del(n);
}

/* A joiner whose ring parameters (bits, keys) differ from the ring's is refused with reason
 * PARAMS and the ring's own parameters, so that it can say what to run instead (§8); the ring
 * does not change.  The joiner reports JOIN_FAILED with CDHT_JOIN_PARAMS and those values, and
 * leaves. */
static void test_node_join_with_other_ring_parameters_is_refused(void **state) {
  (void)state;
  static const struct { uint8_t bits, keys; } other[] = {
    { 16, CDHT_KEYS_NUMBERS }, { 8, CDHT_KEYS_BLAKE2B }, { 64, CDHT_KEYS_BLAKE2B }, { 1, CDHT_KEYS_NUMBERS } };
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
    uint64_t now = 0;
    cdht_node *n = new_node(3, 5, 8, now);
    drain_all(n);
    cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = P(4), .seq = 9, .bits = other[i].bits, .keys = other[i].keys };
    assert_int_equal(deliver(n, now, CDHT_TCP, 4, join), 0);
    sent out[OUT_CAP];
    size_t k = drain_out(n, out, OUT_CAP);
    assert_int_equal(k, 1);
    assert_int_equal(out[0].m.type, CDHT_MSG_JOIN_REJECT);
    assert_int_equal(out[0].o.to.id, 4);
    assert_int_equal(out[0].o.transport, CDHT_TCP);
    assert_int_equal(out[0].m.seq, 9);
    assert_int_equal(out[0].m.reason, CDHT_REJECT_PARAMS);
    assert_int_equal(out[0].m.bits, 8);
    assert_int_equal(out[0].m.keys, CDHT_KEYS_NUMBERS);
    assert_succ(n, 5, 8);
    cdht_event ev[EV_CAP];
    assert_int_equal(ev_count(ev, drain_ev(n, ev, EV_CAP), CDHT_EV_JOIN_RECEIVED), 0);
    /* Even when it lands right after us: parameters come first. */
    cdht_msg ack = { .type = CDHT_MSG_JOIN_ACK, .seq = 9, .token = 0 };
    assert_int_equal(deliver(n, now, CDHT_TCP, 4, ack), CDHT_ERR_STALE);
    assert_succ(n, 5, 8);
    cdht_node_del(n);
  }
  /* The same parameters are accepted (the control: the refusal above is the parameters'). */
  cdht_node *n = new_node(3, 5, 8, 0);
  drain_all(n);
  cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = P(4), .seq = 9, .bits = 8, .keys = CDHT_KEYS_NUMBERS };
  assert_int_equal(deliver(n, 0, CDHT_TCP, 4, join), 0);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_JOIN_ACCEPT);
  cdht_node_del(n);

  /* The joiner's side: its request carries its parameters; a PARAMS refusal ends the join. */
  for (int reason = CDHT_REJECT_TAKEN; reason <= CDHT_REJECT_PARAMS; reason++) {
    uint64_t now = 0;
    cdht_config c = make_cfg(10, 10, 10);
    c.join_via = cdht_config_addr(&c, 5);
    c.succ[0] = c.succ[1] = cdht_peer_none();
    n = NULL;
    assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
    size_t k = drain_out(n, out, OUT_CAP);
    assert_int_equal(k, 1);
    assert_int_equal(out[0].m.type, CDHT_MSG_JOIN_REQ);
    assert_int_equal(out[0].o.to.id, 5);
    assert_int_equal(out[0].m.bits, 8);
    assert_int_equal(out[0].m.keys, CDHT_KEYS_NUMBERS);
    assert_int_equal(out[0].m.origin.id, 10);
    cdht_msg no = { .type = CDHT_MSG_JOIN_REJECT, .seq = out[0].m.seq, .reason = (uint8_t)reason, .bits = 16,
                    .keys = CDHT_KEYS_BLAKE2B };
    now += 10;
    assert_int_equal(deliver(n, now, CDHT_TCP, 5, no), 0);
    cdht_event ev[EV_CAP];
    size_t e = drain_ev(n, ev, EV_CAP);
    int f = ev_find(ev, e, 0, CDHT_EV_JOIN_FAILED, 5, ANY_FILE);
    assert_true(f >= 0);
    if (reason == CDHT_REJECT_PARAMS) {
      assert_int_equal(ev[f].reason, CDHT_JOIN_PARAMS);
      assert_int_equal(ev[f].bits, 16);
      assert_int_equal(ev[f].keys, CDHT_KEYS_BLAKE2B);
    } else {
      assert_int_equal(ev[f].reason, CDHT_JOIN_ID_TAKEN);
    }
    assert_true(ev_find(ev, e, (size_t)f, CDHT_EV_LEFT, ANY, ANY_FILE) > f);
    assert_true(cdht_node_has_left(n));
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    cdht_node_del(n);
  }
}

/* A peer with an IPv4 address and an IPv6 one speaks to each peer from its address of that
 * peer's family: the datagram's source and the encoded sender record are that address (the
 * receiver checks one against the other, §2), and an IPv6 peer is answered over IPv6. */
static void test_node_answers_an_ipv6_peer_from_its_ipv6_address(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V6(30, 3));
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  timer(n, now);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 2);
  assert_true(cdht_peer_eq(&out[0].o.to, &(cdht_peer){ 20, v4addr(2, V2_PORT) }));
  assert_true(cdht_addr_eq(&out[0].m.from.addr, &c.addr));
  assert_true(cdht_peer_eq(&out[1].o.to, &(cdht_peer){ 30, v6addr(3, V2_PORT) }));
  assert_true(cdht_addr_eq(&out[1].m.from.addr, &c.alt));
  assert_int_equal(out[1].m.from.addr.family, CDHT_AF_INET6);
  /* Answers come back to those addresses, from the successors' own. */
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V4(20, 2), v4addr(2, V2_PORT), (cdht_msg){ .type = CDHT_MSG_PONG, .seq = out[0].m.seq }), 0);
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V6(30, 3), v6addr(3, V2_PORT), (cdht_msg){ .type = CDHT_MSG_PONG, .seq = out[1].m.seq }), 0);
  assert_int_equal(cdht_node_stats(n)->pongs_received, 2);
  /* An IPv6 predecessor pings: the pong goes to its IPv6 record, from ours. */
  cdht_msg ping = { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 42 };
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V6(5, 7), v6addr(7, V2_PORT), ping), 0);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_PONG);
  assert_true(cdht_peer_eq(&out[0].o.to, &(cdht_peer){ 5, v6addr(7, V2_PORT) }));
  assert_true(cdht_addr_eq(&out[0].m.from.addr, &c.alt));
  /* and the encoded bytes say so: family 6 and our IPv6 address right after the id */
  assert_int_equal(out[0].o.buf[CDHT_HDR_LEN + 8], CDHT_AF_INET6);
  assert_memory_equal(out[0].o.buf + CDHT_HDR_LEN + 9, c.alt.ip, 16);
  assert_true(is_id(cdht_node_predecessor(n, 0), 5));
  assert_int_equal(cdht_node_predecessor(n, 0).addr.family, CDHT_AF_INET6);
  /* A question over TCP from its host (an ephemeral port) is answered over IPv6 too; its STAB
   * reply names the predecessor by the record we know. */
  cdht_msg q = { .type = CDHT_MSG_STAB_QUERY, .seq = 8 };
  assert_true(deliver_from(n, now, CDHT_TCP, V6(5, 7), v6addr(7, 51000), q) >= 0);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_STAB_REPLY);
  assert_true(cdht_addr_eq(&out[0].m.from.addr, &c.alt));
  assert_true(cdht_peer_eq(&out[0].m.about, &(cdht_peer){ 5, v6addr(7, V2_PORT) }));
  assert_true(cdht_peer_eq(&out[0].m.succ[0], &(cdht_peer){ 20, v4addr(2, V2_PORT) }));
  assert_true(cdht_peer_eq(&out[0].m.succ[1], &(cdht_peer){ 30, v6addr(3, V2_PORT) }));
  /* The same peer's record at its IPv6 address, arriving from its IPv4 one (or another IPv6
   * host), is spoofed: the source must be the record's own address. */
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V6(5, 7), v4addr(7, V2_PORT), ping), CDHT_ERR_SPOOFED);
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V6(5, 7), v6addr(8, V2_PORT), ping), CDHT_ERR_SPOOFED);
  assert_int_equal(deliver_from(n, now, CDHT_TCP, V6(5, 7), v6addr(8, 51000), q), CDHT_ERR_SPOOFED);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_SPOOFED], 3);
  assert_int_equal(cdht_node_stats(n)->unroutable, 0);
  drain_all(n);
  cdht_node_del(n);
}

/* A peer with only an IPv4 address cannot reach a peer known only by an IPv6 record: nothing is
 * queued for it (an output the I/O layer could not send), and each attempt is counted. */
static void test_node_ipv4_only_does_not_send_to_an_ipv6_record(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V6(30, 3));
  c.alt = (cdht_addr){ 0 }; /* IPv4 only */
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  const cdht_stats *st = cdht_node_stats(n);
  sent out[OUT_CAP];
  for (int round = 1; round <= 3; round++, now += INTERVAL) {
    timer(n, now);
    size_t k = drain_out(n, out, OUT_CAP);
    assert_int_equal(k, 1); /* the IPv4 successor only */
    assert_true(out[0].m.type == CDHT_MSG_PING && out[0].o.to.id == 20);
    assert_int_equal(out[0].o.to.addr.family, CDHT_AF_INET);
    assert_int_equal(st->unroutable, (uint64_t)round);
    assert_int_equal(deliver_from(n, now, CDHT_UDP, V4(20, 2), v4addr(2, V2_PORT),
                                  (cdht_msg){ .type = CDHT_MSG_PONG, .seq = out[0].m.seq }), 0);
    drain_all(n);
  }
  assert_int_equal(cdht_node_stats(n)->pings_received, 0);
  /* An answer to an IPv6-only requester: not queued either, counted. */
  cdht_msg req = { .type = CDHT_MSG_FILE_REQ, .origin = V6(40, 4), .seq = 5, .name = NM4(10), .flags = CDHT_REQ_FINAL };
  assert_int_equal(deliver_from(n, now, CDHT_TCP, V4(5, 5), v4addr(5, 40001), req), 0);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(st->unroutable, 4);
  cdht_event ev[EV_CAP];
  assert_true(ev_find(ev, drain_ev(n, ev, EV_CAP), 0, CDHT_EV_FILE_HERE, 10, 10) >= 0); /* it did handle it */
  cdht_node_del(n);
}

/* Four peers off the classic rule on a 64-bit ring (ids 2^62, 2^63, 2^64 - 3 and 2^64 - 1, the
 * last two next to the wrap), every peer with both families and each knowing its successors by
 * one or the other: pings settle, requests go to the closest successor of their BLAKE2b keys
 * (spread over the whole ring, so that a quarter of them wrap past 2^64 - 1 to 2^62), and a quit
 * and a kill are repaired, all with no refusal and nothing unroutable. */
/* The 64-bit ring 2^62, 2^63, 2^64 - 3, 2^64 - 1 on hosts 1..4, names keyed by BLAKE2b, each
 * peer's first successor by IPv6 for even i, IPv4 for odd, the second the other way; settled. */
static const cdht_id ring64_ids[] = { UINT64_C(1) << 62, UINT64_C(1) << 63, UINT64_MAX - 2, UINT64_MAX };

static net *ring64_new(void) {
  const cdht_id *ids = ring64_ids;
  const unsigned hosts[] = { 1, 2, 3, 4 };
  net *w = net_new();
  for (size_t i = 0; i < 4; i++) {
    size_t a = (i + 1) % 4, b = (i + 2) % 4;
    cdht_peer s1 = i % 2 ? V4(ids[a], hosts[a]) : V6(ids[a], hosts[a]);
    cdht_peer s2 = i % 2 ? V6(ids[b], hosts[b]) : V4(ids[b], hosts[b]);
    cdht_config c = v2_cfg(ids[i], hosts[i], s1, s2);
    c.keys = CDHT_KEYS_BLAKE2B;
    net_add_cfg(w, &c);
  }
  net_run_until(w, 2500);
  net_check_ring(w);
  return w;
}

static void test_node_ring_of_64_bit_ids_off_the_classic_rule(void **state) {
  (void)state;
  const cdht_id *ids = ring64_ids;
  net *w = ring64_new();
  net_check_honest(w);
  for (size_t i = 0; i < 4; i++) {
    peer *p = NP(w, ids[i]);
    assert_true(log_find(p, 0, CDHT_EV_PING_REQUEST, ANY, 0) >= 0);
    assert_true(log_find(p, 0, CDHT_EV_PING_RESPONSE, ANY, 0) >= 0);
  }
  /* 2^64 - 1's first predecessor is 2^64 - 3, known by the family 2^64 - 3 pings it over. */
  cdht_peer pred = cdht_node_predecessor(NP(w, UINT64_MAX)->n, 0);
  assert_true(is_id(pred, UINT64_MAX - 2));
  assert_int_equal(pred.addr.family, CDHT_AF_INET6); /* i = 2: first successor by IPv6 */

  /* Requests: the responsible peer is the closest successor of the key on the 64-bit ring. */
  size_t wrapped = 0;
  for (uint16_t f = 0; f < 40; f++) {
    cdht_id from = ids[f % 4];
    cdht_id key = cdht_node_name_key(NP(w, from)->n, NMP(f));
    cdht_id owner = cdht_ring_closest_successor(ids, 4, key, UINT64_MAX);
    wrapped += owner == ids[0]; /* (2^64 - 1, 2^62]: past the largest id, round to the smallest */
    size_t mark[4];
    for (size_t i = 0; i < 4; i++) mark[i] = NP(w, ids[i])->nlog;
    assert_int_equal(net_cmd(w, from, CDHT_CMD_REQUEST, f), 0);
    peer *o = NP(w, owner), *r = NP(w, from);
    size_t oi = 0;
    while (ids[oi] != owner) oi++;
    int here = ev_find(o->log, o->nlog, mark[oi], CDHT_EV_FILE_HERE, ANY, f);
    assert_true(here >= 0);
    assert_true(is_id(o->log[here].peer, owner));
    if (owner != from) {
      size_t ri = 0;
      while (ids[ri] != from) ri++;
      int got = ev_find(r->log, r->nlog, mark[ri], CDHT_EV_RESPONSE_RECEIVED, ANY, f);
      assert_true(got >= 0);
      assert_true(is_id(r->log[got].peer, owner));
    }
    for (size_t i = 0; i < 4; i++) /* nobody else said it was theirs */
      if (ids[i] != owner) assert_int_equal(ev_find(NP(w, ids[i])->log, NP(w, ids[i])->nlog, mark[i], CDHT_EV_FILE_HERE, ANY, f), -1);
  }
  assert_true(wrapped > 0 && wrapped < 40);
  net_check_honest(w);

  /* quit at 2^64 - 1: 2^64 - 3 and 2^63 take its successors. */
  size_t m2 = NP(w, UINT64_MAX - 2)->nlog;
  assert_int_equal(net_cmd(w, UINT64_MAX, CDHT_CMD_QUIT, 0), 0);
  assert_true(cdht_node_has_left(NP(w, UINT64_MAX)->n));
  peer *p2 = NP(w, UINT64_MAX - 2);
  int dep = ev_find(p2->log, p2->nlog, m2, CDHT_EV_DEPARTING, ANY, ANY_FILE);
  assert_true(dep >= 0 && is_id(p2->log[dep].peer, UINT64_MAX));
  net_advance(w, 3 * INTERVAL);
  net_check_ring(w);
  /* kill 2^63: 2^62 and 2^64 - 3 repair round it, into a ring of two across the wrap */
  net_kill(w, UINT64_C(1) << 63);
  net_advance(w, 10 * INTERVAL);
  net_check_ring(w);
  assert_true(is_id(cdht_node_successor(NP(w, ids[0])->n, 0), UINT64_MAX - 2));
  assert_true(is_id(cdht_node_successor(NP(w, UINT64_MAX - 2)->n, 0), ids[0]));
  /* and still routes: every key is one of the two's */
  for (uint16_t f = 100; f < 110; f++) {
    cdht_id key = cdht_node_name_key(NP(w, ids[0])->n, NMP(f));
    cdht_id owner = cdht_ring_between(ids[0], key, UINT64_MAX - 2, UINT64_MAX) ? UINT64_MAX - 2 : ids[0];
    peer *o = NP(w, owner);
    size_t mark = o->nlog;
    assert_int_equal(net_cmd(w, ids[0], CDHT_CMD_REQUEST, f), 0);
    assert_true(ev_find(o->log, o->nlog, mark, CDHT_EV_FILE_HERE, ANY, f) >= 0);
  }
  net_check_honest(w);
  net_del(w);
}

/* The output queue keeps each message's bytes in an arena that grows with what one input
 * causes: 32 requests queued at once, with IPv6 records, overflow its first 1 KiB and must come
 * out intact and in order; an arena that cannot grow drops the message (counted)
 * and the node goes on.  The node itself stays small: the bytes are not inside it. */
static void test_node_output_arena_grows_and_the_node_stays_small(void **state) {
  (void)state;
  assert_true(cdht_node_size() < CDHT_OUTQ_CAP * CDHT_MSG_MAX / 2);
  counting_mem cm = { 0 };
  cdht_mem mem = { t_alloc, t_free, &cm };
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V6(20, 2), V6(30, 3));
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, &mem, now), 0);
  assert_int_equal(cm.allocs, 1); /* the node; no arena until something is sent */
  for (int round = 0; round < 2; round++) {
    uint32_t seqs[CDHT_MAX_PENDING];
    for (uint16_t f = 0; f < CDHT_MAX_PENDING; f++)
      assert_int_equal(command(n, now, CDHT_CMD_REQUEST, (uint16_t)(1000 + f)), 0);
    sent out[OUT_CAP];
    size_t k = drain_out(n, out, OUT_CAP), total = 0;
    assert_int_equal(k, CDHT_MAX_PENDING);
    for (size_t i = 0; i < k; i++) {
      assert_int_equal(out[i].m.type, CDHT_MSG_FILE_REQ);
      assert_int_equal(out[i].file, 1000 + i); /* in order, each its own bytes */
      assert_true(cdht_peer_eq(&out[i].o.to, &c.succ[0]));
      seqs[i] = out[i].m.seq;
      for (size_t j = 0; j < i; j++) assert_true(seqs[j] != seqs[i]);
      total += out[i].o.len;
    }
    assert_true(total > 1024); /* past the arena's first 1 KiB: it had to grow */
    assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 0);
    /* Answer them all, so that the next round starts with an empty table. */
    for (size_t i = 0; i < k; i++) {
      cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = seqs[i], .name = NM4((uint16_t)(1000 + i)) };
      assert_int_equal(deliver_from(n, now, CDHT_TCP, V6(20, 2), v6addr(2, 40001), resp), 0);
    }
    drain_all(n);
  }
  int grown = cm.allocs;
  assert_true(grown >= 3); /* the node and at least two arenas */
  /* The arena is kept for reuse: the same load again allocates nothing. */
  for (uint16_t f = 0; f < CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_REQUEST, f), 0);
  drain_all(n);
  assert_int_equal(cm.allocs, grown);
  /* A node whose arena cannot grow: the messages that do not fit are dropped and counted, the
   * ones that fit still go, and nothing leaks (ASan). */
  cdht_node_del(n);
  assert_int_equal(cm.frees, cm.allocs);
  cm = (counting_mem){ 0 };
  n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, &mem, now), 0);
  cm.fail = 1;
  /* The table of pending requests is allocated at the first request: without it, a clear refusal
   * and nothing queued. */
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 7), CDHT_ERR_NOMEM);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 0);
  cm.pass = 1; /* the table, then nothing */
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 7), 0);
  /* The message and its event: the event queue grows on demand too (node.h). */
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 2);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  cdht_event ev0;
  assert_int_equal(cdht_node_next_event(n, &ev0), 0);
  cm.fail = 0;
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 8), 0);
  assert_int_equal(drain_out(n, out, OUT_CAP), 1);
  assert_int_equal(out[0].file, 8);
  drain_all(n);
  cdht_node_del(n);
  assert_int_equal(cm.frees, cm.allocs);
}

/* ---- names (docs/protocol.md §1) ---- */

static cdht_name name_of(const char *s, size_t len) {
  cdht_name n;
  assert_int_equal(cdht_name_set(&n, s, len), 0);
  return n;
}

/* On a CDHT_KEYS_BLAKE2B ring any name is a key: the first 8 bytes of BLAKE2b-256(name) mod
 * 2^bits, and the request reaches that key's closest successor, whose FILE_HERE and the
 * requester's RESPONSE_RECEIVED carry the name. */
static void test_node_blake2b_ring_routes_any_name_by_its_key(void **state) {
  (void)state;
  const cdht_id *ids = ring64_ids;
  net *w = ring64_new();
  char longest[CDHT_NAME_MAX];
  memset(longest, 'L', sizeof longest);
  const struct { const char *s; size_t len; } names[] = {
    { "report-2026.pdf", 15 }, { "..", 2 }, { "caf%C3%A9", 9 }, { "\xc3\xbcn\xc3\xaf" "code", 9 },
    { longest, sizeof longest }, { "0042", 4 }, { "a", 1 }, { "%%", 2 },
  };
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    cdht_name nm = name_of(names[k].s, names[k].len);
    cdht_id from = ids[k % 4];
    cdht_node *fn = NP(w, from)->n;
    assert_true(cdht_node_name_ok(fn, &nm));
    cdht_id key = cdht_node_name_key(fn, &nm);
    assert_true(key == cdht_ring_name_key(nm.s, nm.len, UINT64_MAX));
    cdht_id owner = cdht_ring_closest_successor(ids, 4, key, UINT64_MAX);
    size_t mark[4];
    for (size_t i = 0; i < 4; i++) mark[i] = NP(w, ids[i])->nlog;
    cdht_command cmd = { .kind = CDHT_CMD_REQUEST, .name = nm };
    assert_int_equal(cdht_node_on_command(fn, w->now, &cmd), 0);
    net_collect(w, NP(w, from));
    net_flush(w);
    for (size_t i = 0; i < 4; i++) {
      peer *p = NP(w, ids[i]);
      bool here = false;
      for (size_t e = mark[i]; e < p->nlog; e++)
        if (p->log[e].kind == CDHT_EV_FILE_HERE) {
          assert_true(cdht_name_eq(&p->log[e].name, &nm));
          here = true;
        }
      assert_true(here == (ids[i] == owner));
    }
    if (owner != from) {
      peer *r = NP(w, from);
      int got = -1;
      for (size_t e = mark[k % 4]; e < r->nlog && got < 0; e++)
        if (r->log[e].kind == CDHT_EV_RESPONSE_RECEIVED) got = (int)e;
      assert_true(got >= 0);
      assert_true(cdht_name_eq(&r->log[got].name, &nm));
      assert_true(is_id(r->log[got].peer, owner));
    }
  }
  net_check_honest(w);
  net_del(w);
}

/* A classic ring's names are four digits: any other name is refused, from the console and from
 * the wire (dropped as malformed, counted), and no held mark is made of it. */
static void test_node_classic_node_refuses_other_names(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(5, 7, 9, now);
  cdht_name word = name_of("report-2026.pdf", 15);
  assert_false(cdht_node_name_ok(n, &word));
  cdht_command cmd = { .kind = CDHT_CMD_STORE, .name = word };
  assert_int_equal(cdht_node_on_command(n, now, &cmd), CDHT_ERR_INVAL);
  cmd.kind = CDHT_CMD_REQUEST;
  assert_int_equal(cdht_node_on_command(n, now, &cmd), CDHT_ERR_INVAL);
  assert_int_equal(cdht_node_set_stored(n, &word, true), CDHT_ERR_INVAL);
  assert_false(cdht_node_is_stored(n, &word));
  uint64_t before = cdht_node_stats(n)->dropped[CDHT_DROP_MALFORMED];
  cdht_msg req = { .type = CDHT_MSG_FILE_REQ, .origin = P(7), .seq = 1, .name = word };
  assert_int_equal(deliver(n, now, CDHT_TCP, 7, req), CDHT_ERR_MALFORMED);
  req.type = CDHT_MSG_STORE_REQ;
  assert_int_equal(deliver(n, now, CDHT_TCP, 7, req), CDHT_ERR_MALFORMED);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_MALFORMED], before + 2);
  /* The same name is a key on a BLAKE2b ring. */
  cdht_config c = make_cfg(5, 7, 9);
  c.keys = CDHT_KEYS_BLAKE2B;
  cdht_node *b = NULL;
  assert_int_equal(cdht_node_new(&b, &c, NULL, now), 0);
  assert_true(cdht_node_name_ok(b, &word));
  assert_int_equal(cdht_node_name_key(b, &word), cdht_ring_name_key(word.s, word.len, 255));
  assert_int_equal(cdht_node_name_key(n, NMP(2012)), 2012 & 255);
  drain_all(n);
  cdht_node_del(n);
  cdht_node_del(b);
}

/* The held set: names of any length in and out, in any order; the bound refuses and counts;
 * failed allocations leave the set as it was; everything is freed (ASan). */
static void test_node_store_index_holds_names_up_to_its_bound(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = make_cfg(5, 7, 9);
  c.keys = CDHT_KEYS_BLAKE2B;
  c.max_names = 3000;
  counting_mem cm = { 0 };
  cdht_mem mem = { t_alloc, t_free, &cm };
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, &mem, now), 0);
  char buf[CDHT_NAME_MAX];
  /* 3000 names, inserted out of order, of lengths 1..255. */
  for (unsigned i = 0; i < 3000; i++) {
    unsigned v = (i * 7919u) % 3000u;
    size_t len = 1 + v % CDHT_NAME_MAX;
    memset(buf, 'a' + (int)(v % 26), len);
    int k = snprintf(buf, sizeof buf, "%u", v);
    buf[k] = len > (size_t)k ? '-' : buf[k];
    cdht_name nm = name_of(buf, len > (size_t)k ? len : (size_t)k);
    assert_int_equal(cdht_node_set_stored(n, &nm, true), 0);
    assert_int_equal(cdht_node_set_stored(n, &nm, true), 0); /* twice: one entry */
  }
  assert_int_equal(cdht_node_stored_count(n), 3000);
  /* At the bound: refused and counted, nothing held. */
  cdht_name extra = name_of("one-too-many", 12);
  assert_int_equal(cdht_node_set_stored(n, &extra, true), CDHT_ERR_BUSY);
  assert_int_equal(cdht_node_stats(n)->names_refused, 1);
  assert_false(cdht_node_is_stored(n, &extra));
  /* A store's content past the bound is not confirmed: the storer hears nothing. */
  assert_int_equal(cdht_node_on_stored(n, now, &extra, P(7), 42), CDHT_ERR_BUSY);
  assert_int_equal(cdht_node_on_taken_over(n, now, &extra, P(7)), CDHT_ERR_BUSY);
  sent out[OUT_CAP];
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(cdht_node_stats(n)->names_refused, 3);
  /* Every name is found; removing the even ones leaves the odd ones. */
  for (unsigned v = 0; v < 3000; v++) {
    size_t len = 1 + v % CDHT_NAME_MAX;
    memset(buf, 'a' + (int)(v % 26), len);
    int k = snprintf(buf, sizeof buf, "%u", v);
    buf[k] = len > (size_t)k ? '-' : buf[k];
    cdht_name nm = name_of(buf, len > (size_t)k ? len : (size_t)k);
    assert_true(cdht_node_is_stored(n, &nm));
    if (v % 2 == 0) assert_int_equal(cdht_node_set_stored(n, &nm, false), 0);
    assert_int_equal(cdht_node_is_stored(n, &nm), v % 2 == 1);
  }
  assert_int_equal(cdht_node_stored_count(n), 1500);
  /* Room again; and an allocation that fails refuses the name without losing the others. */
  assert_int_equal(cdht_node_set_stored(n, &extra, true), 0);
  assert_true(cdht_node_is_stored(n, &extra));
  cm.fail = 1;
  cdht_name more = name_of("no-memory", 9);
  assert_int_equal(cdht_node_set_stored(n, &more, true), CDHT_ERR_NOMEM);
  cm.fail = 0;
  assert_false(cdht_node_is_stored(n, &more));
  assert_int_equal(cdht_node_stored_count(n), 1501);
  assert_int_equal(cdht_node_set_stored(n, &more, false), 0); /* not held: nothing to do */
  drain_all(n);
  cdht_node_del(n);
  assert_int_equal(cm.frees, cm.allocs);
}

/* --listen form: a peer is an id and an address, and the sender check only ties a message to
 * the record it carries.  A party on another host that claims a neighbour's *id* at its own
 * address must not be taken for that neighbour: answers to our questions count only from the
 * record we asked, and a challenge (a token, a question) for a neighbour goes to the record we
 * hold, never to the address the claim names.  Host 9 is the outsider. */
static bool to_host(const sent *s, unsigned h) {
  cdht_addr a = v4addr(h, 0);
  return s->o.to.addr.family == CDHT_AF_INET && memcmp(s->o.to.addr.ip, a.ip, 4) == 0;
}

static void test_node_a_neighbours_id_from_another_host_is_not_that_neighbour(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V4(30, 3));
  c.stabilize_ms = 3000;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  const cdht_stats *st = cdht_node_stats(n);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  /* 5 at host 5 pings us: our first predecessor. */
  cdht_msg ping = { .type = CDHT_MSG_PING, .role = CDHT_ROLE_FIRST, .seq = 0 };
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V4(5, 5), v4addr(5, V2_PORT), ping), 0);
  drain_all(n);

  /* 1. PONG: our ping to 20 (host 2) answered from host 9 in 20's name, right sequence number. */
  timer(n, now);
  size_t k = drain_out(n, out, OUT_CAP);
  uint32_t seq = 0;
  for (size_t i = 0; i < k; i++) if (out[i].m.type == CDHT_MSG_PING && out[i].o.to.id == 20) seq = out[i].m.seq;
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V4(20, 9), v4addr(9, V2_PORT),
                                (cdht_msg){ .type = CDHT_MSG_PONG, .seq = seq }), CDHT_ERR_STALE);
  assert_int_equal(st->pongs_received, 0);
  drain_all(n);

  /* 2. DEPART in 20's name from host 9: the acknowledgement's token must not go to host 9, and a
   * confirmation from there changes nothing. */
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { V4(66, 9), V4(67, 9) } };
  deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001), dep);
  k = drain_out(n, out, OUT_CAP);
  uint64_t tok = 0;
  for (size_t i = 0; i < k; i++) {
    assert_false(to_host(&out[i], 9));
    if (out[i].m.type == CDHT_MSG_DEPART_ACK && to_host(&out[i], 9)) tok = out[i].m.token;
  }
  deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001), (cdht_msg){ .type = CDHT_MSG_DEPART_CONFIRM, .token = tok });
  drain_all(n);
  { cdht_peer s0 = cdht_node_successor(n, 0), want = V4(20, 2); assert_true(cdht_peer_eq(&s0, &want)); }
  assert_int_equal(cdht_node_successor(n, 1).id, 30);

  /* 3. SUCC_CHANGE in 20's name from host 9: the check goes to 20 at host 2, not to host 9. */
  cdht_msg chg = { .type = CDHT_MSG_SUCC_CHANGE, .nsucc = 2, .succ = { V4(20, 9), V4(15, 9) } };
  deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001), chg);
  k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++) {
    assert_false(to_host(&out[i], 9));
    if (out[i].m.type == CDHT_MSG_SUCC_QUERY && to_host(&out[i], 9)) /* as the outsider would answer */
      deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001),
                   (cdht_msg){ .type = CDHT_MSG_SUCC_REPLY, .seq = out[i].m.seq, .nsucc = 2, .succ = { V4(15, 9), V4(20, 9) } });
  }
  drain_all(n);
  { cdht_peer s0 = cdht_node_successor(n, 0), want = V4(20, 2); assert_true(cdht_peer_eq(&s0, &want)); }
  assert_int_equal(cdht_node_successor(n, 1).id, 30);

  /* 4. KEYS_REQ from a new id 8 at host 9, naming our predecessor 5 at host 9: the question
   * whether 5 admitted it goes to 5 at host 5, so no keys go to host 9. */
  cdht_msg kr = { .type = CDHT_MSG_KEYS_REQ, .about = V4(5, 9), .token = 77 };
  deliver_from(n, now, CDHT_TCP, V4(8, 9), v4addr(9, 40001), kr);
  k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++) {
    assert_false(to_host(&out[i], 9));
    if (out[i].m.type == CDHT_MSG_SUCC_QUERY && to_host(&out[i], 9))
      deliver_from(n, now, CDHT_TCP, V4(5, 9), v4addr(9, 40001),
                   (cdht_msg){ .type = CDHT_MSG_SUCC_REPLY, .seq = out[i].m.seq, .nsucc = 2, .succ = { V4(8, 9), V4(10, 1) } });
  }
  size_t e = drain_ev(n, ev, EV_CAP);
  for (size_t i = 0; i < e; i++) assert_false(ev[i].kind == CDHT_EV_HANDOVER);
  drain_all(n);

  /* 5. KEYS_OFFER in our predecessor 5's name from host 9: its grant token goes to host 5. */
  deliver_from(n, now, CDHT_TCP, V4(5, 9), v4addr(9, 40001), (cdht_msg){ .type = CDHT_MSG_KEYS_OFFER, .key = 5 });
  k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++) assert_false(to_host(&out[i], 9));
  drain_all(n);

  /* 6. STAB_REPLY in 20's name from host 9, for our question's id, naming a closer peer 15 at
   * host 9: not the peer we asked, so nothing is adopted. */
  now = 3000;
  assert_int_equal(deliver_from(n, now, CDHT_UDP, V4(5, 5), v4addr(5, V2_PORT), ping), 0); /* keep 5 fresh */
  timer(n, now);
  k = drain_out(n, out, OUT_CAP);
  uint32_t q = 0;
  for (size_t i = 0; i < k; i++) if (out[i].m.type == CDHT_MSG_STAB_QUERY) q = out[i].m.seq;
  assert_true(q != 0);
  cdht_msg sr = { .type = CDHT_MSG_STAB_REPLY, .seq = q, .nsucc = 2, .succ = { V4(30, 3), V4(40, 4) }, .about = V4(15, 9), .age_ms = 0 };
  assert_true(deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001), sr) < 0);
  drain_all(n);
  { cdht_peer s0 = cdht_node_successor(n, 0), want = V4(20, 2); assert_true(cdht_peer_eq(&s0, &want)); }
  assert_true(st->dropped[CDHT_DROP_STALE] > 0);
  cdht_node_del(n);
}

/* A joiner takes an answer to its JOIN_REQ from whichever peer of the ring admits it, so the
 * request's id is all that ties an answer to it: a stranger that guesses it (v2 always sent 1)
 * could hand the joiner a ring of its choosing, or end its join with a refusal.  Host 9 is the
 * stranger; it never saw the request. */
static void test_node_a_stranger_cannot_answer_a_join(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    uint64_t now = 0;
    cdht_config c = v2_cfg(10, 1, cdht_peer_none(), cdht_peer_none());
    c.join_via = v4addr(2, V2_PORT);
    cdht_node *n = NULL;
    assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
    sent out[OUT_CAP];
    assert_int_equal(drain_out(n, out, OUT_CAP), 1);
    assert_int_equal(out[0].m.type, CDHT_MSG_JOIN_REQ);
    cdht_msg m = { .type = kind == 0 ? CDHT_MSG_JOIN_ACCEPT : CDHT_MSG_JOIN_REJECT, .seq = 1 };
    if (kind == 0) { m.nsucc = 2; m.succ[0] = V4(77, 9); m.succ[1] = V4(78, 9); m.token = 5; }
    else { m.reason = kind == 1 ? CDHT_REJECT_TAKEN : CDHT_REJECT_PARAMS; m.bits = kind == 1 ? 64 : 32; m.keys = CDHT_KEYS_NUMBERS; }
    assert_int_equal(deliver_from(n, now, CDHT_TCP, V4(77, 9), v4addr(9, 40001), m), CDHT_ERR_STALE);
    assert_false(cdht_node_has_left(n));
    assert_false(cdht_peer_known(&(cdht_peer){ cdht_node_successor(n, 0).id, cdht_node_successor(n, 0).addr }));
    cdht_event ev[EV_CAP];
    size_t e = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < e; i++) assert_true(ev[i].kind != CDHT_EV_JOIN_ACCEPTED && ev[i].kind != CDHT_EV_JOIN_FAILED);
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
    /* the real answer, with the request's id, still counts */
    m.seq = out[0].m.seq;
    assert_int_equal(deliver_from(n, now, CDHT_TCP, V4(20, 2), v4addr(2, 40001), m), 0);
    assert_true(kind == 0 ? !cdht_node_has_left(n) && cdht_node_successor(n, 0).id == 77 : cdht_node_has_left(n));
    drain_all(n);
    cdht_node_del(n);
  }
}

/* A record is where we send: one that names no single host (a wildcard, which is "this host" to
 * the sender, a multicast or broadcast group, an IPv4-mapped IPv6 address our IPv6-only sockets
 * cannot send to) is refused before any module sees it, wherever it stands in a message. */
static void test_node_records_that_name_no_host_are_refused(void **state) {
  (void)state;
  static const uint8_t any6[16] = { 0 }, mc6[16] = { 0xff, 0x02, [15] = 1 },
                       mapped[16] = { [10] = 0xff, [11] = 0xff, 198, 18, 0, 9 };
  const cdht_addr bad[] = { cdht_addr_v4(0, V2_PORT), cdht_addr_v4(0xe0000001u, V2_PORT), cdht_addr_v4(0xffffffffu, V2_PORT),
                            cdht_addr_v6(any6, V2_PORT), cdht_addr_v6(mc6, V2_PORT), cdht_addr_v6(mapped, V2_PORT) };
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V4(30, 3));
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  drain_all(n);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    /* as the origin of a request (the answer would go there) */
    cdht_msg req = { .type = CDHT_MSG_FILE_REQ, .origin = cdht_peer_make(40, bad[i]), .seq = 5, .name = name_of("0010", 4),
                     .flags = CDHT_REQ_FINAL };
    assert_true(deliver_from(n, now, CDHT_TCP, V4(5, 5), v4addr(5, 40001), req) < 0);
    /* as a joiner */
    cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = cdht_peer_make(15, bad[i]), .seq = 9, .bits = 64, .keys = CDHT_KEYS_NUMBERS };
    assert_true(deliver_from(n, now, CDHT_TCP, V4(5, 5), v4addr(5, 40001), join) < 0);
    sent out[OUT_CAP];
    assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  }
  drain_all(n);
  cdht_node_del(n);
}

/* A leaving peer offers its keys to its successor and waits for a grant: a grant in the
 * successor's name from another host must not send our files there. */
static void test_node_a_grant_in_the_successors_name_sends_no_files_elsewhere(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V4(30, 3));
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  drain_all(n);
  assert_int_equal(command(n, now, CDHT_CMD_QUIT, 0), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  bool offered = false;
  for (size_t i = 0; i < k; i++) offered = offered || (out[i].m.type == CDHT_MSG_KEYS_OFFER && out[i].o.to.id == 20);
  assert_true(offered);
  drain_all(n);
  deliver_from(n, now, CDHT_TCP, V4(20, 9), v4addr(9, 40001), (cdht_msg){ .type = CDHT_MSG_KEYS_GRANT, .token = 99 });
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  for (size_t i = 0; i < e; i++)
    if (ev[i].kind == CDHT_EV_HANDOVER) {
      cdht_peer want = V4(20, 2);
      assert_true(cdht_peer_eq(&ev[i].peer, &want));
    }
  drain_all(n);
  cdht_node_del(n);
}


/* ---- successor lists and fingers (issue 11) ---- */

/* The live peers of |w| in ring order, sorted. */
static size_t live_sorted(net *w, cdht_id *ids) {
  size_t k = 0;
  for (size_t i = 0; i < w->np; i++)
    if (live(&w->p[i])) ids[k++] = w->p[i].id;
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      cdht_id x = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = x;
    }
  return k;
}

/* Every live peer's list is the |r| live peers that follow it (fewer if the ring is smaller). */
static void net_check_lists(net *w, size_t r) {
  cdht_id ids[NET_MAX];
  size_t k = live_sorted(w, ids);
  for (size_t i = 0; i < k; i++) {
    cdht_peer list[CDHT_SUCC_MAX];
    size_t m = cdht_node_successor_list(NP(w, ids[i])->n, list, CDHT_SUCC_MAX);
    size_t want = r < k - 1 ? r : k - 1;
    if (m != want) fail_msg("peer %llu has %zu entries, want %zu", (unsigned long long)ids[i], m, want);
    for (size_t j = 0; j < want; j++) assert_peer_id(list[j], ids[(i + 1 + j) % k]);
  }
}

/* A classic-ring peer with a list of |r| and stabilization every 3 s. */
static peer *net_add_list(net *w, cdht_id id, cdht_id s1, cdht_id s2, uint8_t r) {
  cdht_config c = make_cfg(id, s1, s2);
  c.successors = r;
  c.stabilize_ms = 3000;
  return net_add_cfg(w, &c);
}

static const cdht_id list_ids[] = { 1, 3, 4, 5, 8, 10, 12, 15, 20, 30, 40, 50 };
#define LIST_N (sizeof list_ids / sizeof list_ids[0])

static net *list_ring_new(uint8_t r) {
  net *w = net_new();
  for (size_t i = 0; i < LIST_N; i++)
    net_add_list(w, list_ids[i], list_ids[(i + 1) % LIST_N], list_ids[(i + 2) % LIST_N], r);
  net_run_until(w, (uint64_t)(r + 2) * 3000); /* a round per entry learned */
  net_check_ring(w);
  net_check_lists(w, r);
  return w;
}

static void test_node_successor_lists_fill_through_stabilization(void **state) {
  (void)state;
  net *w = list_ring_new(6);
  net_check_honest(w);
  /* Only the first two are pinged: the rest are learned, and their change is an event, not a
   * SUCCESSORS line. */
  peer *p = NP(w, 1);
  assert_true(log_find(p, 0, CDHT_EV_SUCC_LIST, ANY, 0) >= 0);
  assert_int_equal(log_find(p, 0, CDHT_EV_SUCCESSORS, ANY, 0), -1);
  assert_int_equal(tr_count(w, 0, CDHT_MSG_PING, 1, 5), 0);
  net_del(w);
}

/* R − 2 adjacent kills: the list still holds a live entry for both places, so nobody asks a
 * question (no SUCC_QUERY at all), and the predecessor's lines end on the right pair. */
static void test_node_list_takes_up_entries_without_asking(void **state) {
  (void)state;
  net *w = list_ring_new(4);
  size_t mark = w->ntr;
  uint64_t t0 = w->now;
  net_kill(w, 5);
  net_kill(w, 8);
  net_run_until(w, t0 + DETECT_MS + 3000 + 1000);
  net_check_ring(w);
  assert_int_equal(tr_count(w, mark, CDHT_MSG_SUCC_QUERY, ANY, ANY), 0);
  net_del(w);
}

static void test_node_classic_lists_stay_two(void **state) {
  (void)state;
  net *w = list_ring_new(2);
  for (size_t i = 0; i < LIST_N; i++) assert_int_equal(log_find(&w->p[i], 0, CDHT_EV_SUCC_LIST, ANY, 0), -1);
  net_del(w);
}

/* R - 1 = 3 adjacent peers killed at the same instant: the next live entry takes their place,
 * with no question to ask, and the ring is whole within a detection period and a stabilization
 * round; requests are answered by the responsible live peer. */
static void test_node_list_survives_r_minus_one_adjacent_kills(void **state) {
  (void)state;
  net *w = list_ring_new(4);
  uint64_t t0 = w->now;
  size_t mark = w->ntr;
  net_kill(w, 5);
  net_kill(w, 8);
  net_kill(w, 10);
  net_run_until(w, t0 + DETECT_MS + 3000 + 1000);
  net_check_ring(w);
  /* The rest of each list follows one stabilization round per entry. */
  net_advance(w, 4 * 3000);
  net_check_lists(w, 4);
  /* Only the last live entry was left: its second came from a question to it, the one case the
   * list cannot answer by itself. */
  assert_true(tr_count(w, mark, CDHT_MSG_SUCC_QUERY, 4, ANY) <= 1);
  for (size_t i = 0; i < LIST_N; i++) {
    assert_int_equal(log_find(&w->p[i], 0, CDHT_EV_RING_BROKEN, ANY, 0), -1);
    assert_int_equal(log_find(&w->p[i], 0, CDHT_EV_NEVER_ANSWERED, ANY, 0), -1);
  }
  peer *p = NP(w, 4); /* the predecessor: each death said, and the last successor lines 12, 15 */
  assert_true(log_find(p, 0, CDHT_EV_PEER_DEAD, 5, 0) >= 0);
  assert_true(log_find(p, 0, CDHT_EV_PEER_DEAD, 8, 0) >= 0);
  int last = -1;
  for (size_t i = 0; i < p->nlog; i++)
    if (p->log[i].kind == CDHT_EV_SUCCESSORS) last = (int)i;
  assert_true(last >= 0);
  assert_peer_id(p->log[last].succ[0], 12);
  assert_peer_id(p->log[last].succ[1], 15);
  for (uint16_t f = 0; f < 60; f += 7) {
    cdht_id from = list_ids[f % LIST_N];
    if (from == 5 || from == 8 || from == 10) continue;
    size_t at = NP(w, from)->nlog;
    int rc = net_cmd(w, from, CDHT_CMD_REQUEST, f);
    assert_int_equal(rc, 0);
    cdht_id ids[NET_MAX];
    size_t k = live_sorted(w, ids);
    cdht_id owner = cdht_ring_closest_successor(ids, k, f % 256, 255);
    if (owner == from) assert_true(log_find(NP(w, from), at, CDHT_EV_FILE_HERE, from, f) >= 0);
    else assert_true(log_find(NP(w, from), at, CDHT_EV_RESPONSE_RECEIVED, owner, f) >= 0);
  }
  net_del(w);
}

/* A 16-peer ring of 64-bit ids with fingers: once built, finger i is the responsible peer of
 * self + 2^i, and every request takes at most log2 16 + 2 messages, through fingers. */
static void test_node_fingers_route_in_log_hops(void **state) {
  (void)state;
  net *w = net_new();
  cdht_id ids[16];
  for (size_t i = 0; i < 16; i++) ids[i] = (UINT64_C(0x9e3779b97f4a7c15) * (i + 1)) | 1; /* spread, distinct */
  for (size_t i = 1; i < 16; i++)
    for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      cdht_id x = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = x;
    }
  for (size_t i = 0; i < 16; i++) {
    size_t a = (i + 1) % 16, b = (i + 2) % 16;
    cdht_config c = v2_cfg(ids[i], (unsigned)(i + 1), V4(ids[a], (unsigned)(a + 1)), V4(ids[b], (unsigned)(b + 1)));
    c.keys = CDHT_KEYS_BLAKE2B;
    c.successors = 4;
    c.fingers = true;
    c.stabilize_ms = 1000;
    net_add_cfg(w, &c);
  }
  net_run_until(w, 60000);
  net_check_ring(w);
  net_check_lists(w, 4);
  net_check_honest(w);
  for (size_t i = 0; i < 16; i++) {
    cdht_node *n = NP(w, ids[i])->n;
    for (unsigned f = 0; f < 64; f++) {
      cdht_id point = ids[i] + (UINT64_C(1) << f);
      assert_peer_id(cdht_node_finger(n, f), cdht_ring_closest_successor(ids, 16, point, UINT64_MAX));
    }
  }
  unsigned fingered = 0, max_hops = 0;
  for (uint16_t f = 0; f < 200; f++) {
    cdht_id from = ids[f % 16];
    peer *p = NP(w, from);
    size_t at = p->nlog;
    assert_int_equal(net_cmd(w, from, CDHT_CMD_REQUEST, f), 0);
    cdht_id owner = cdht_ring_closest_successor(ids, 16, cdht_node_name_key(p->n, NMP(f)), UINT64_MAX);
    if (owner == from) continue;
    int got = log_find(p, at, CDHT_EV_RESPONSE_RECEIVED, owner, f);
    assert_true(got >= 0);
    unsigned hops = p->log[got].hops;
    assert_true(hops >= 1 && hops <= 4 + 2);
    if (hops > max_hops) max_hops = hops;
    int first = log_find(p, at, CDHT_EV_REQUEST_SENT, ANY, f);
    assert_true(first >= 0);
    fingered += p->log[first].finger;
  }
  assert_true(fingered > 0);
  assert_true(max_hops >= 2); /* some keys are far: not all answered by a list entry */
  /* A request whose first hop has died goes again by the next best route at once: no wait for
   * the retry timer (the harness delivers instantly, so the answer comes at the same instant). */
  {
    peer *a = NP(w, ids[0]);
    cdht_node *n = a->n;
    cdht_id victim = 0;
    uint16_t file = 0;
    for (uint16_t f = 1000; f < 3000 && !victim; f++) { /* a name whose first hop is a finger that is not responsible */
      cdht_id key = cdht_node_name_key(n, NMP(f));
      cdht_id owner = cdht_ring_closest_successor(ids, 16, key, UINT64_MAX);
      for (unsigned i = 63; i > 0 && !victim; i--) {
        cdht_peer fp = cdht_node_finger(n, i);
        if (!cdht_peer_known(&fp) || fp.id == owner || fp.id == ids[1] || fp.id == ids[2]) continue;
        if (cdht_ring_distance(ids[0], fp.id, UINT64_MAX) < cdht_ring_distance(ids[0], key, UINT64_MAX)) {
          victim = fp.id;
          file = f;
        }
      }
    }
    assert_true(victim != 0);
    net_kill(w, victim);
    size_t at = a->nlog;
    uint64_t t = w->now;
    assert_int_equal(net_cmd(w, ids[0], CDHT_CMD_REQUEST, file), 0);
    cdht_id owner = cdht_ring_closest_successor(ids, 16, cdht_node_name_key(n, NMP(file)), UINT64_MAX);
    assert_true(log_find(a, at, CDHT_EV_REQUEST_RETRIED, ANY, file) >= 0);
    int got = log_find(a, at, CDHT_EV_RESPONSE_RECEIVED, owner, file);
    assert_true(got >= 0);
    assert_true(a->at[got] == t);
    for (unsigned i = 0; i < 64; i++) assert_false(is_id(cdht_node_finger(n, i), victim)); /* forgotten */
    NP(w, victim)->dead = false; /* back for the rest of the test, as if restarted in place */
  }
  /* A finger that dies is dropped at the first refused connection, and requests still reach
   * the responsible live peer.  (A successor that answered a ping within the last interval is not
   * judged by a refusal, which may be of a connection tried before it started: the requests come
   * an interval after the kill.) */
  net_kill(w, ids[8]);
  net_advance(w, INTERVAL + 100);
  for (uint16_t f = 0; f < 100; f++) {
    cdht_id from = ids[f % 16];
    if (from == ids[8]) continue;
    peer *p = NP(w, from);
    size_t at = p->nlog;
    assert_int_equal(net_cmd(w, from, CDHT_CMD_REQUEST, f), 0);
    cdht_id live_ids[16];
    size_t k = live_sorted(w, live_ids);
    cdht_id owner = cdht_ring_closest_successor(live_ids, k, cdht_node_name_key(p->n, NMP(f)), UINT64_MAX);
    cdht_id key_owner_all = cdht_ring_closest_successor(ids, 16, cdht_node_name_key(p->n, NMP(f)), UINT64_MAX);
    if (owner == from || key_owner_all == ids[8]) continue; /* the dead peer's keys wait for its death to be seen */
    assert_true(log_find(p, at, CDHT_EV_RESPONSE_RECEIVED, owner, f) >= 0);
  }
  net_del(w);
}

/* The 16-peer, 64-bit ring of test_node_fingers_route_in_log_hops, lists of 4 and fingers, built. */
static net *finger_ring_new(cdht_id *ids) {
  net *w = net_new();
  for (size_t i = 0; i < 16; i++) ids[i] = (UINT64_C(0x9e3779b97f4a7c15) * (i + 1)) | 1;
  for (size_t i = 1; i < 16; i++)
    for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      cdht_id x = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = x;
    }
  for (size_t i = 0; i < 16; i++) {
    size_t a = (i + 1) % 16, b = (i + 2) % 16;
    cdht_config c = v2_cfg(ids[i], (unsigned)(i + 1), V4(ids[a], (unsigned)(a + 1)), V4(ids[b], (unsigned)(b + 1)));
    c.keys = CDHT_KEYS_BLAKE2B;
    c.successors = 4;
    c.fingers = true;
    c.stabilize_ms = 1000;
    net_add_cfg(w, &c);
  }
  net_run_until(w, 60000);
  net_check_ring(w);
  net_check_lists(w, 4);
  return w;
}

/* A stranger names, as the origin of a request flagged final, a record with the id of one of our
 * list entries or fingers but an address of its own host that refuses connections.  Our answer
 * is refused: that says the record at that address is gone, not the peer with that id at its
 * own address.  Our list entries and fingers stay (an outsider must not be able to strip them,
 * one refused connection each, and keep their ids in the log of the dead). */
static void test_node_a_refused_answer_to_a_made_up_record_forgets_no_real_peer(void **state) {
  (void)state;
  cdht_id ids[16];
  net *w = finger_ring_new(ids);
  peer *a = NP(w, ids[0]);
  cdht_node *n = a->n;
  cdht_peer before[CDHT_SUCC_MAX], fbefore[64];
  size_t k = cdht_node_successor_list(n, before, CDHT_SUCC_MAX);
  assert_int_equal(k, 4);
  for (unsigned i = 0; i < 64; i++) fbefore[i] = cdht_node_finger(n, i);
  cdht_peer stranger = V4(12345, 99);
  cdht_addr src = v4addr(99, 40001);
  cdht_id targets[4] = { before[2].id, before[3].id, cdht_node_finger(n, 63).id, cdht_node_finger(n, 62).id };
  for (size_t t = 0; t < 4; t++) {
    for (int kind = 0; kind < 2; kind++) {
      cdht_msg m = kind == 0 ? (cdht_msg){ .type = CDHT_MSG_FIND_REQ, .origin = V4(targets[t], 99), .seq = 7,
                                           .key = ids[0], .flags = CDHT_REQ_FINAL }
                             : (cdht_msg){ .type = CDHT_MSG_FILE_REQ, .origin = V4(targets[t], 99), .seq = 7,
                                           .name = NM4(1), .flags = CDHT_REQ_FINAL };
      assert_int_equal(deliver_from(n, w->now, CDHT_TCP, stranger, src, m), 0);
      cdht_output o;
      size_t refused = 0;
      while (cdht_node_next_output(n, &o)) /* the stranger's host refuses every connection */
        if (o.transport == CDHT_TCP && cdht_addr_same_host(&o.to.addr, &src)) {
          assert_int_equal(cdht_node_on_unreachable(n, w->now, o.to), 0);
          refused++;
        }
      assert_int_equal(refused, 1);
      net_collect(w, a);
    }
  }
  cdht_peer after[CDHT_SUCC_MAX];
  assert_int_equal(cdht_node_successor_list(n, after, CDHT_SUCC_MAX), k);
  for (size_t i = 0; i < k; i++) assert_true(cdht_peer_eq(&after[i], &before[i]));
  for (unsigned i = 0; i < 64; i++) {
    cdht_peer f = cdht_node_finger(n, i);
    assert_true(cdht_peer_eq(&f, &fbefore[i]));
  }
  /* Nor are they taken for dead: stabilization keeps the list whole. */
  net_advance(w, 5000);
  net_check_lists(w, 4);
  net_del(w);
}

/* With a successor list, both successors declared dead in one timer call each move every request
 * on (2 outputs and 2 events each, as node.h bounds it).  A request whose deadline is that very
 * call fails there: it must not be resent twice as well, or the events no longer fit the queue
 * and some failures are never said. */
static uint64_t list_node_until_deaths(uint64_t ask_at, cdht_event *ev, size_t *nev, cdht_node **out) {
  uint64_t now = 0;
  cdht_config c = make_cfg(8, 10, 12);
  c.classic_detector = true; /* both successors miss the same pings and die in the same call */
  c.successors = 5;
  c.stabilize_ms = 3000;
  c.request_timeout_ms = 4000;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent rest[OUT_CAP];
  for (;; now += 50) {
    assert_true(now < 60000);
    if (now == ask_at)
      for (uint16_t f = 0; f < CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 20 + f), 0);
    timer(n, now);
    if (now < 5000) { /* both answer until 5 s, and 10 tells its list */
      size_t r = answer_pings(n, now, rest, OUT_CAP);
      for (size_t i = 0; i < r; i++)
        if (rest[i].m.type == CDHT_MSG_STAB_QUERY) {
          cdht_msg rep = { .type = CDHT_MSG_STAB_REPLY, .seq = rest[i].m.seq, .age_ms = CDHT_AGE_NEVER, .nsucc = 4,
                           .succ = { P(12), P(15), P(20), P(30) } };
          assert_int_equal(deliver(n, now, CDHT_TCP, 10, rep), 0);
        }
      drain_out(n, rest, OUT_CAP);
    } else {
      drain_out(n, rest, OUT_CAP);
    }
    *nev = drain_ev(n, ev, EV_CAP);
    if (ev_count(ev, *nev, CDHT_EV_PEER_DEAD) > 0) break;
  }
  *out = n;
  return now;
}

static void test_node_list_deaths_and_deadlines_fit_the_queues(void **state) {
  (void)state;
  cdht_event ev[EV_CAP];
  size_t k = 0;
  cdht_node *n = NULL;
  uint64_t died = list_node_until_deaths(UINT64_MAX, ev, &k, &n);
  assert_int_equal(ev_count(ev, k, CDHT_EV_PEER_DEAD), 2);
  assert_succ(n, 15, 20);
  cdht_node_del(n);
  uint64_t ask_at = died - 4000; /* every request's deadline is the call that judges both dead */
  assert_true(ask_at > 3000 && ask_at % 50 == 0);
  assert_int_equal(list_node_until_deaths(ask_at, ev, &k, &n), died);
  assert_int_equal(ev_count(ev, k, CDHT_EV_PEER_DEAD), 2);
  assert_int_equal(ev_count(ev, k, CDHT_EV_REQUEST_FAILED), CDHT_MAX_PENDING);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 0);
  cdht_node_del(n);
}

/* Fingers with the classic two successors (cdht 1 3 4 --fingers): a refused connection to our
 * first successor does not make it dead (pings alone decide, §4), so the next best route for a
 * key it is responsible for is that same peer.  The request must not be sent to it again at
 * once, refused again, and so on without end (one REQUEST_RETRIED line and one connection each
 * time, for as long as the request lives): it waits for its retry, or for the verdict. */
static void test_node_a_refused_hop_that_is_still_the_route_is_not_retried_at_once(void **state) {
  (void)state;
  net *w = net_new();
  for (size_t i = 0; i < NCLASSIC; i++) {
    cdht_config c = make_cfg(classic[i], classic[(i + 1) % NCLASSIC], classic[(i + 2) % NCLASSIC]);
    c.fingers = true;
    c.stabilize_ms = 1000;
    net_add_cfg(w, &c);
  }
  net_run_until(w, 20000);
  net_check_ring(w);
  net_kill(w, 5); /* 4's first successor */
  peer *p = NP(w, 4);
  size_t at = p->nlog, mark = w->ntr;
  assert_int_equal(net_cmd(w, 4, CDHT_CMD_REQUEST, 5), 0); /* key 5: 5's own, final to 5 */
  assert_true(ev_count(p->log + at, p->nlog - at, CDHT_EV_REQUEST_RETRIED) <= 1);
  assert_true(tr_count(w, mark, CDHT_MSG_FILE_REQ, 4, 5) <= 2);
  /* And once 5 is found dead, the request reaches its new owner, 8. */
  net_advance(w, DETECT_MS + 2000);
  assert_true(log_find(p, at, CDHT_EV_RESPONSE_RECEIVED, 8, 5) >= 0);
  net_del(w);
}

/* A finger answer whose sender lies before the point it answers for cannot be the responsible
 * peer (that one is at or past the point).  Taken, it became that finger and, since every later
 * point lies within "up to its id" counted the long way round, every later finger too: one
 * answer from a peer on the lookup's path (it saw the id) took over the upper half of the table. */
static void test_node_a_finger_answer_from_before_its_point_is_refused(void **state) {
  (void)state;
  cdht_id ids[16];
  net *w = finger_ring_new(ids);
  peer *a = NP(w, ids[0]);
  cdht_node *n = a->n;
  cdht_peer fbefore[64];
  for (unsigned i = 0; i < 64; i++) fbefore[i] = cdht_node_finger(n, i);
  cdht_msg q = { 0 };
  uint64_t t = w->now;
  for (int guard = 0; q.type != CDHT_MSG_FIND_REQ; guard++) { /* A's own timer, until it looks a finger up */
    assert_true(guard < 1000);
    t = cdht_node_next_deadline(n);
    w->now = t;
    timer(n, t);
    cdht_output o;
    while (cdht_node_next_output(n, &o)) {
      cdht_msg m = decode(&o);
      if (m.type == CDHT_MSG_FIND_REQ) q = m;
    }
    net_collect(w, a);
  }
  assert_true(cdht_ring_distance(ids[0], q.key, UINT64_MAX) > 1);
  cdht_id before_point = q.key - 1; /* in (self, key): not responsible for key */
  cdht_msg resp = { .type = CDHT_MSG_FIND_RESP, .seq = q.seq, .key = q.key, .hops = 1 };
  assert_true(deliver_from(n, t, CDHT_TCP, V4(before_point, 77), v4addr(77, 40001), resp) < 0);
  net_collect(w, a);
  for (unsigned i = 0; i < 64; i++) {
    cdht_peer f = cdht_node_finger(n, i);
    assert_true(cdht_peer_eq(&f, &fbefore[i]));
  }
  net_del(w);
}

/* A request flagged final with the largest hop count: the answer says 65535, not 0. */
static void test_node_hop_counts_saturate(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_node *n = new_node(8, 10, 12, now);
  drain_all(n);
  cdht_msg m = { .type = CDHT_MSG_FILE_REQ, .origin = P(1), .seq = 9, .name = NM4(3), .hops = UINT16_MAX,
                 .flags = CDHT_REQ_FINAL };
  assert_int_equal(deliver(n, now, CDHT_TCP, 1, m), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  int r = find_type(out, k, CDHT_MSG_FILE_RESP);
  assert_true(r >= 0);
  assert_int_equal(out[r].m.hops, UINT16_MAX);
  drain_all(n);
  cdht_node_del(n);
}

/* The smallest rings with lists longer than the ring and fingers: 2^1 and 2^2 ids, every id a
 * peer.  Lists stop at the peer itself, every finger point is someone's, and every key is
 * answered by its owner. */
static void test_node_tiny_rings_with_lists_and_fingers(void **state) {
  (void)state;
  for (uint8_t bits = 1; bits <= 2; bits++) {
    net *w = net_new();
    cdht_id k = (cdht_id)1 << bits;
    for (cdht_id i = 0; i < k; i++) {
      cdht_config c;
      cdht_config_default(&c);
      c.bits = bits;
      cdht_config_classic(&c, i, (i + 1) % k, (i + 2) % k);
      c.ping_interval_ms = INTERVAL;
      c.ping_timeout_ms = TIMEOUT;
      c.misses = MISSES;
      c.stabilize_ms = 1000;
      c.successors = 4;
      c.fingers = true;
      net_add_cfg(w, &c);
    }
    net_run_until(w, 20000);
    net_check_ring(w);
    if (k > 2) net_check_lists(w, 4); /* a ring of two: the second successor is the peer itself */
    net_check_honest(w);
    for (cdht_id i = 0; i < k; i++)
      for (unsigned f = 0; f < bits; f++) assert_peer_id(cdht_node_finger(NP(w, i)->n, f), (i + ((cdht_id)1 << f)) % k);
    for (uint16_t f = 0; f < 16; f++) {
      cdht_id from = f % k, owner = cdht_node_name_key(NP(w, from)->n, NMP(f)); /* every id is a peer's */
      peer *p = NP(w, from);
      size_t at = p->nlog;
      assert_int_equal(net_cmd(w, from, CDHT_CMD_REQUEST, f), 0);
      if (owner == from) assert_true(log_find(p, at, CDHT_EV_FILE_HERE, from, f) >= 0);
      else assert_true(log_find(p, at, CDHT_EV_RESPONSE_RECEIVED, owner, f) >= 0);
    }
    net_kill(w, k - 1);
    net_advance(w, DETECT_MS + 3000);
    net_check_ring(w);
    net_del(w);
  }
}

/* The worst one refused connection can cause with a list and fingers (node.h): our first
 * successor is suspect and its witness, our second, refuses the question.  That is the first
 * death (every request resent), and the refused peer is now our first successor, so a second
 * (every request resent again), and the 8 requests we passed to it go again by the next route. */
static void test_node_a_refused_witness_with_lists_and_fingers_fits_the_queues(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = make_cfg(8, 10, 12);
  c.successors = 5;
  c.fingers = true;
  c.stabilize_ms = 3000;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  bool asked = false;
  size_t nout = 0, k = 0;
  for (;; now += 50) {
    assert_true(now < 30000);
    if (now == 5000) {
      for (uint16_t f = 0; f < CDHT_MAX_PENDING; f++) assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 40 + f), 0);
      for (uint32_t i = 0; i < 8; i++) { /* the forward log holds 8 (lookup.h); key 13: 15's, by 12 */
        cdht_msg m = { .type = CDHT_MSG_FILE_REQ, .origin = P(1), .seq = 100 + i, .name = NM4(13) };
        assert_int_equal(deliver(n, now, CDHT_TCP, 1, m), 0);
      }
    }
    timer(n, now);
    nout = drain_out(n, out, OUT_CAP);
    for (size_t i = 0; i < nout; i++) {
      if (out[i].m.type == CDHT_MSG_PING && (now < 5000 || out[i].o.to.id == 12))
        assert_int_equal(pong_from(n, now, out[i].o.to.id, out[i].m.seq), 0); /* 10 falls silent at 5 s */
      if (out[i].m.type == CDHT_MSG_STAB_QUERY && now < 5000) {
        cdht_msg rep = { .type = CDHT_MSG_STAB_REPLY, .seq = out[i].m.seq, .age_ms = CDHT_AGE_NEVER, .nsucc = 4,
                         .succ = { P(12), P(15), P(20), P(30) } };
        assert_int_equal(deliver(n, now, CDHT_TCP, 10, rep), 0);
      }
      asked = asked || (out[i].m.type == CDHT_MSG_WITNESS_QUERY && out[i].o.to.id == 12);
    }
    drain_all(n);
    if (asked) break;
  }
  /* 12's refusal comes an interval after its last answer (a refusal right after an answer may be
   * of a connection tried before it started, and does not judge it). */
  now += INTERVAL;
  assert_int_equal(cdht_node_on_unreachable(n, now, P(12)), 0);
  nout = drain_out(n, out, OUT_CAP);
  k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, k, CDHT_EV_PEER_DEAD), 2);
  assert_succ(n, 15, 20);
  assert_int_equal(ev_count(ev, k, CDHT_EV_REQUEST_RETRIED), 2 * CDHT_MAX_PENDING);
  assert_int_equal(ev_count(ev, k, CDHT_EV_REQUEST_FORWARDED), 8);
  assert_true(nout <= CDHT_OUTQ_CAP && k <= CDHT_EVQ_CAP);
  assert_int_equal(cdht_node_stats(n)->dropped[CDHT_DROP_QUEUE], 0);
  cdht_node_del(n);
}

/* Whatever pair a successor installs, the list past the first two lies beyond both, in ring
 * order, without duplicates: a departing successor (confirmed, so the real one) that names its
 * successors out of order must not leave its first one in the list a second time, to be taken up
 * as its own successor at the next death. */
static void assert_list_sane(const cdht_node *n) {
  cdht_peer l[CDHT_SUCC_MAX];
  size_t k = cdht_node_successor_list(n, l, CDHT_SUCC_MAX);
  cdht_id self = cdht_node_config(n)->self;
  uint64_t mask = cdht_node_mask(n), floor = 0;
  for (size_t i = 0; i < 2; i++)
    if (cdht_peer_known(&l[i]) && cdht_ring_distance(self, l[i].id, mask) > floor) floor = cdht_ring_distance(self, l[i].id, mask);
  for (size_t i = 2; i < k; i++) {
    assert_true(cdht_peer_known(&l[i]) && l[i].id != self);
    uint64_t d = cdht_ring_distance(self, l[i].id, mask);
    if (d <= floor) fail_msg("entry %zu (%llu) is not beyond the ones before it", i, (unsigned long long)l[i].id);
    floor = d;
  }
}

static void test_node_list_past_an_out_of_order_pair_stays_in_order(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = make_cfg(8, 10, 12);
  c.successors = 6;
  c.stabilize_ms = 3000;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent rest[OUT_CAP];
  for (; now < 4000; now += 50) {
    timer(n, now);
    size_t r = answer_pings(n, now, rest, OUT_CAP);
    for (size_t i = 0; i < r; i++)
      if (rest[i].m.type == CDHT_MSG_STAB_QUERY) {
        cdht_msg rep = { .type = CDHT_MSG_STAB_REPLY, .seq = rest[i].m.seq, .age_ms = CDHT_AGE_NEVER, .nsucc = 5,
                         .succ = { P(12), P(15), P(20), P(30), P(40) } };
        assert_int_equal(deliver(n, now, CDHT_TCP, 10, rep), 0);
      }
    drain_all(n);
  }
  cdht_peer l[CDHT_SUCC_MAX];
  assert_int_equal(cdht_node_successor_list(n, l, CDHT_SUCC_MAX), 6);
  assert_list_sane(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { P(30), P(15) } }; /* 10 leaves, naming 30 first */
  assert_int_equal(deliver_depart(n, now, 10, dep), 0);
  drain_all(n);
  assert_list_sane(n);
  cdht_node_del(n);
}

/* A witness is the record we asked: a refused answer to a record with its id at another address
 * (a stranger's request named it as the origin) is no word from the witness, and a suspect
 * successor is not judged without it. */
static void test_node_a_refused_record_with_a_witness_id_is_not_the_witness(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_config c = v2_cfg(10, 1, V4(20, 2), V4(30, 3));
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent out[OUT_CAP];
  bool asked = false;
  for (; !asked; now += 50) {
    assert_true(now < 20000);
    timer(n, now);
    size_t k = drain_out(n, out, OUT_CAP);
    for (size_t i = 0; i < k; i++) {
      if (out[i].m.type == CDHT_MSG_PING && (now < 3000 || out[i].o.to.id == 30)) { /* 20 falls silent at 3 s */
        cdht_msg pong = { .type = CDHT_MSG_PONG, .seq = out[i].m.seq };
        assert_int_equal(deliver_from(n, now, CDHT_UDP, out[i].o.to, out[i].o.to.addr, pong), 0);
      }
      asked = asked || (out[i].m.type == CDHT_MSG_WITNESS_QUERY && out[i].o.to.id == 30);
    }
    drain_all(n);
  }
  cdht_msg m = { .type = CDHT_MSG_FILE_REQ, .origin = V4(30, 99), .seq = 5, .name = NM4(7), .flags = CDHT_REQ_FINAL };
  assert_int_equal(deliver_from(n, now, CDHT_TCP, V4(12345, 99), v4addr(99, 40001), m), 0);
  size_t k = drain_out(n, out, OUT_CAP);
  int r = find_type(out, k, CDHT_MSG_FILE_RESP);
  assert_true(r >= 0);
  assert_int_equal(cdht_node_on_unreachable(n, now, out[r].o.to), 0);
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_PEER_DEAD), 0);
  assert_int_equal(succ_of(n, 0), 20);
  cdht_node_del(n);
}

/* A store sent straight to a list entry while the list is a round behind a join: the entry is
 * told "final", but a peer that joined just before it is responsible for the key now.  The store
 * must end at the responsible peer (the joiner), where every later request for it goes: one
 * acknowledged at the entry would be found by nobody whose list is up to date. */
static void test_node_a_final_hop_from_a_stale_list_reaches_the_responsible_peer(void **state) {
  (void)state;
  net *w = net_new();
  for (size_t i = 0; i < NCLASSIC; i++) {
    cdht_config c = make_cfg(classic[i], classic[(i + 1) % NCLASSIC], classic[(i + 2) % NCLASSIC]);
    c.successors = 4;
    c.fingers = true;
    c.stabilize_ms = 3000;
    net_add_cfg(w, &c);
  }
  net_run_until(w, 30000);
  net_check_ring(w);
  net_check_lists(w, 4);
  { /* 7 joins between 5 and 8, through 5 */
    cdht_config c = make_cfg(7, 7, 7);
    c.join_via = cdht_config_addr(&c, 5);
    c.succ[0] = c.succ[1] = cdht_peer_none();
    c.successors = 4;
    c.fingers = true;
    c.stabilize_ms = 3000;
    net_add_cfg(w, &c);
  }
  peer *j = NP(w, 7);
  for (int guard = 0; log_find(j, 0, CDHT_EV_JOIN_ACCEPTED, ANY, 0) < 0; guard++) {
    assert_true(guard < 100);
    net_advance(w, 10);
  }
  net_advance(w, 1000); /* 5 has taken 7; 1's list still says 3 4 5 8 */
  cdht_peer l[CDHT_SUCC_MAX];
  size_t k = cdht_node_successor_list(NP(w, 1)->n, l, CDHT_SUCC_MAX);
  assert_int_equal(k, 4);
  assert_peer_id(l[3], 8);
  assert_int_equal(succ_of(NP(w, 5)->n, 0), 7);
  size_t at8 = NP(w, 8)->nlog, at7 = j->nlog;
  assert_int_equal(net_cmd(w, 1, CDHT_CMD_STORE, 6), 0); /* key 6: 7's */
  assert_int_equal(log_find(NP(w, 8), at8, CDHT_EV_STORE_ACCEPTED, ANY, 6), -1);
  assert_true(log_find(j, at7, CDHT_EV_STORE_ACCEPTED, ANY, 6) >= 0);
  net_del(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_node_ping_round_event_only_when_asked),
    cmocka_unit_test(test_node_pings),
    cmocka_unit_test(test_node_classic_demo),
    cmocka_unit_test(test_node_kill_repair_requery),
    cmocka_unit_test(test_node_kill_repair_ordering),
    cmocka_unit_test(test_node_ring_of_one),
    cmocka_unit_test(test_node_two_peer_ring),
    cmocka_unit_test(test_node_two_peer_ring_kill),
    cmocka_unit_test(test_node_two_peer_ring_kill_pending_request),
    cmocka_unit_test(test_node_two_peer_ring_quit_pending_request),
    cmocka_unit_test(test_node_three_peer_ring_quit),
    cmocka_unit_test(test_node_three_peer_ring_kill),
    cmocka_unit_test(test_node_request_own_key),
    cmocka_unit_test(test_node_request_timeout),
    cmocka_unit_test(test_node_quit_waits_for_acks),
    cmocka_unit_test(test_node_leaving_store_table_exists_only_while_used),
    cmocka_unit_test(test_node_quit_predecessor_unreachable),
    cmocka_unit_test(test_node_quit_timeout),
    cmocka_unit_test(test_node_hostile_input),
    cmocka_unit_test(test_node_config_check),
    cmocka_unit_test(test_node_new_nomem),
    cmocka_unit_test(test_node_next_deadline),
    cmocka_unit_test(test_node_depart_during_repair),
    cmocka_unit_test(test_node_witness_vouches_or_times_out),
    cmocka_unit_test(test_node_witness_answers),
    cmocka_unit_test(test_node_departs_again_after_rejoining),
    cmocka_unit_test(test_node_adopts_a_joiner_only_once_it_answers),
    cmocka_unit_test(test_node_departure_needs_the_leaving_peers_confirmation),
    cmocka_unit_test(test_node_successor_change_is_checked_with_the_successor),
    cmocka_unit_test(test_node_handover_from_a_just_displaced_predecessor_is_taken),
    cmocka_unit_test(test_node_joiner_takes_content_passed_back_after_its_keys),
    cmocka_unit_test(test_node_leaving_peer_passes_on_more_files_than_it_has_handovers),
    cmocka_unit_test(test_node_failed_stores_free_their_slots),
    cmocka_unit_test(test_node_worst_case_fits_the_queues),
    cmocka_unit_test(test_node_successors_that_never_answered),
    cmocka_unit_test(test_node_store_retry_is_a_store),
    cmocka_unit_test(test_node_first_predecessor_is_the_closest_pinger),
    cmocka_unit_test(test_node_first_predecessor_moves_up_when_its_successor_is_gone),
    cmocka_unit_test(test_node_source_must_match_the_sender_record),
    cmocka_unit_test(test_node_classic_records_off_the_rule_are_refused),
    cmocka_unit_test(test_node_ids_outside_the_ring_are_bad_ids),
    cmocka_unit_test(test_node_join_with_other_ring_parameters_is_refused),
    cmocka_unit_test(test_node_answers_an_ipv6_peer_from_its_ipv6_address),
    cmocka_unit_test(test_node_ipv4_only_does_not_send_to_an_ipv6_record),
    cmocka_unit_test(test_node_ring_of_64_bit_ids_off_the_classic_rule),
    cmocka_unit_test(test_node_blake2b_ring_routes_any_name_by_its_key),
    cmocka_unit_test(test_node_classic_node_refuses_other_names),
    cmocka_unit_test(test_node_store_index_holds_names_up_to_its_bound),
    cmocka_unit_test(test_node_output_arena_grows_and_the_node_stays_small),
    cmocka_unit_test(test_node_a_neighbours_id_from_another_host_is_not_that_neighbour),
    cmocka_unit_test(test_node_a_stranger_cannot_answer_a_join),
    cmocka_unit_test(test_node_records_that_name_no_host_are_refused),
    cmocka_unit_test(test_node_a_grant_in_the_successors_name_sends_no_files_elsewhere),
    cmocka_unit_test(test_node_successor_lists_fill_through_stabilization),
    cmocka_unit_test(test_node_classic_lists_stay_two),
    cmocka_unit_test(test_node_list_takes_up_entries_without_asking),
    cmocka_unit_test(test_node_list_survives_r_minus_one_adjacent_kills),
    cmocka_unit_test(test_node_fingers_route_in_log_hops),
    cmocka_unit_test(test_node_a_refused_answer_to_a_made_up_record_forgets_no_real_peer),
    cmocka_unit_test(test_node_list_deaths_and_deadlines_fit_the_queues),
    cmocka_unit_test(test_node_a_refused_hop_that_is_still_the_route_is_not_retried_at_once),
    cmocka_unit_test(test_node_a_finger_answer_from_before_its_point_is_refused),
    cmocka_unit_test(test_node_hop_counts_saturate),
    cmocka_unit_test(test_node_tiny_rings_with_lists_and_fingers),
    cmocka_unit_test(test_node_a_refused_witness_with_lists_and_fingers_fits_the_queues),
    cmocka_unit_test(test_node_list_past_an_out_of_order_pair_stays_in_order),
    cmocka_unit_test(test_node_a_refused_record_with_a_witness_id_is_not_the_witness),
    cmocka_unit_test(test_node_a_final_hop_from_a_stale_list_reaches_the_responsible_peer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

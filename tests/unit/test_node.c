/* Scenario tests of the node state machine (src/core/node.c), driven with explicit time.
 *
 * Single-node tests feed hand-made messages "from peer k" and read what the node queued.
 * Ring tests run several nodes in one in-memory network (struct net below) that hands every
 * queued output to its destination at once, so the classic ring 1 3 4 5 8 10 12 15 runs here
 * with no sockets, no clock and no sleeps.  Every node uses a 1000 ms ping interval, a 500 ms
 * ping timeout and 4 misses, so a kill is detected at most 4 * 1000 + 500 ms after the last
 * answered ping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cdht/err.h"
#include "msg.h"
#include "node.h"

#define INTERVAL 1000u
#define TIMEOUT 500u
#define MISSES 4u
#define DETECT_MS (MISSES * INTERVAL + TIMEOUT) /* worst case after the last answered ping */

#define ANY (CDHT_ID_NONE - 1) /* wildcard peer in event searches */
#define ANY_FILE 0xffffu       /* wildcard file */

/* TCP frames come from an ephemeral port: the node must not judge them by address. */
static const cdht_addr tcp_src = { 0x7f000001u, 40001 };

/* ---- one node ---- */

static cdht_config make_cfg(cdht_id self, cdht_id s1, cdht_id s2) {
  cdht_config c;
  cdht_config_default(&c);
  c.self = self;
  c.succ[0] = s1;
  c.succ[1] = s2;
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
} sent;

static cdht_msg decode(const cdht_output *o) {
  cdht_msg m;
  assert_int_equal(cdht_msg_decode(&m, o->buf, o->len), (cdht_ssize)o->len);
  return m;
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

/* Delivers |m| to |n| as if peer |from| sent it: a datagram from that peer's own address, or a
 * TCP frame from an ephemeral port.  Returns what the node returned. */
static int deliver(cdht_node *n, uint64_t now, cdht_transport t, cdht_id from, cdht_msg m) {
  uint8_t buf[CDHT_MSG_MAX];
  m.from = from;
  cdht_ssize len = cdht_msg_encode(buf, sizeof buf, &m);
  assert_true(len > 0);
  if (t == CDHT_UDP) {
    cdht_addr a = cdht_config_addr(cdht_node_config(n), from);
    return cdht_node_on_datagram(n, now, &a, buf, (size_t)len);
  }
  return cdht_node_on_frame(n, now, &tcp_src, buf, (size_t)len);
}

/* Delivers a DEPART from |from| as the real leaving peer would follow it up: it answers our
 * DEPART_ACK's token with DEPART_CONFIRM, and only then is the departure applied (§6). */
static int deliver_depart(cdht_node *n, uint64_t now, cdht_id from, cdht_msg dep) {
  int rc = deliver(n, now, CDHT_TCP, from, dep);
  if (rc < 0) return rc;
  sent out[OUT_CAP];
  size_t o = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < o; i++) {
    if (out[i].m.type != CDHT_MSG_DEPART_ACK || out[i].o.to != from) continue;
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
      assert_int_equal(pong_from(n, now, out[i].o.to, out[i].m.seq), 0);
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
  return e->kind == kind && (peer == ANY || e->peer == peer) && (file == ANY_FILE || e->file == file);
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
    if (ev[i].kind == CDHT_EV_SUCCESSORS && ev[i].succ[0] == a && ev[i].succ[1] == b) return (int)i;
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

static void assert_succ(const cdht_node *n, cdht_id a, cdht_id b) {
  assert_int_equal(cdht_node_successor(n, 0), a);
  assert_int_equal(cdht_node_successor(n, 1), b);
}

static int command(cdht_node *n, uint64_t now, cdht_command_kind kind, uint16_t file) {
  cdht_command c = { .kind = kind, .file = file };
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

static peer *P(net *w, cdht_id id) {
  peer *p = net_find(w, id);
  assert_non_null(p);
  return p;
}

static bool live(const peer *p) { return !p->dead && !cdht_node_has_left(p->n); }

/* Starts peer |id| with successors |s1| and |s2| at the network's current time. */
static peer *net_add(net *w, cdht_id id, cdht_id s1, cdht_id s2) {
  assert_true(w->np < NET_MAX);
  peer *p = &w->p[w->np++];
  p->id = id;
  p->n = new_node(id, s1, s2, w->now);
  return p;
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
    if ((ev.kind == CDHT_EV_PEER_DEAD || ev.kind == CDHT_EV_DEPARTING) && p->ngone < 8)
      p->gone[p->ngone++] = ev.peer;
    if (ev.kind == CDHT_EV_HANDOVER) /* as the I/O layer would: no files held here */
      assert_int_equal(cdht_node_on_handover_done(p->n, w->now, ev.peer, ev.seq, 0, 0), 0);
  }
  for (size_t g = 0; g < p->ngone; g++) {
    assert_int_not_equal(cdht_node_successor(p->n, 0), p->gone[g]);
    assert_int_not_equal(cdht_node_successor(p->n, 1), p->gone[g]);
  }
}

static void net_route(net *w, peer *src, const cdht_output *o) {
  cdht_msg m = decode(o);
  assert_int_equal(m.from, src->id);
  assert_int_not_equal(o->to, src->id); /* a node never addresses itself */
  cdht_addr want = cdht_config_addr(cdht_node_config(src->n), o->to);
  assert_int_equal(o->addr.ip, want.ip);
  assert_int_equal(o->addr.port, want.port);
  assert_true(w->ntr < TRACE_CAP);
  trace *t = &w->tr[w->ntr++];
  *t = (trace){ .at = w->now, .to = o->to, .t = o->transport, .m = m };
  peer *dst = net_find(w, o->to);
  if (!dst || !live(dst)) {
    /* A datagram to a dead peer is lost; a TCP connection to it is refused. */
    t->lost = true;
    if (o->transport == CDHT_TCP) cdht_node_on_unreachable(src->n, w->now, o->to);
    net_collect(w, src);
    return;
  }
  if (o->transport == CDHT_UDP) {
    cdht_addr from = cdht_config_addr(cdht_node_config(src->n), src->id);
    t->rc = cdht_node_on_datagram(dst->n, w->now, &from, o->buf, o->len);
  } else {
    t->rc = cdht_node_on_frame(dst->n, w->now, &tcp_src, o->buf, o->len);
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
  peer *p = P(w, id);
  int rc = command(p->n, w->now, kind, file);
  net_collect(w, p);
  net_flush(w);
  return rc;
}

static void net_kill(net *w, cdht_id id) {
  peer *p = P(w, id);
  p->dead = true;
  drain_all(p->n);
}

/* Checks that every live peer has the successors and predecessors the live set implies. */
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
    cdht_node *n = P(w, ids[i])->n;
    if (k == 1) {
      assert_succ(n, ids[0], ids[0]);
    } else if (k == 2) {
      assert_succ(n, ids[1 - i], ids[i]);
      assert_int_equal(cdht_node_predecessor(n, 0), ids[1 - i]);
    } else {
      assert_succ(n, ids[(i + 1) % k], ids[(i + 2) % k]);
      assert_int_equal(cdht_node_predecessor(n, 0), ids[(i + k - 1) % k]);
      assert_int_equal(cdht_node_predecessor(n, 1), ids[(i + k - 2) % k]);
    }
  }
}

/* Honest peers never send anything another honest peer must refuse for its form or origin.
 * (Stale is allowed: a pong may race a successor change.) */
static void net_check_honest(net *w) {
  static const cdht_drop bad[] = { CDHT_DROP_MALFORMED, CDHT_DROP_VERSION, CDHT_DROP_TYPE,
                                   CDHT_DROP_TRANSPORT, CDHT_DROP_SPOOFED, CDHT_DROP_BADID,
                                   CDHT_DROP_ROLE,      CDHT_DROP_LOOP,    CDHT_DROP_QUEUE };
  for (size_t i = 0; i < w->np; i++)
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++)
      assert_int_equal(cdht_node_stats(w->p[i].n)->dropped[bad[j]], 0);
}

/* Index of the first trace entry at or after |from| of |type| from |src| to |dst| (ANY for
 * either), or -1. */
static int tr_find(const net *w, size_t from, uint8_t type, cdht_id src, cdht_id dst) {
  for (size_t i = from; i < w->ntr; i++) {
    const trace *t = &w->tr[i];
    if (t->m.type == type && (src == ANY || t->m.from == src) && (dst == ANY || t->to == dst))
      return (int)i;
  }
  return -1;
}

static size_t tr_count(const net *w, size_t from, uint8_t type, cdht_id src, cdht_id dst) {
  size_t c = 0;
  for (size_t i = from; i < w->ntr; i++) {
    const trace *t = &w->tr[i];
    c += t->m.type == type && (src == ANY || t->m.from == src) && (dst == ANY || t->to == dst);
  }
  return c;
}

static int log_find(const peer *p, size_t from, cdht_event_kind kind, cdht_id peer_id, unsigned file) {
  return ev_find(p->log, p->nlog, from, kind, peer_id, file);
}

static int log_find_succ(const peer *p, size_t from, cdht_id a, cdht_id b) {
  return ev_find_succ(p->log, p->nlog, from, a, b);
}

/* Whether |p| emitted anything but ping events since |from|. */
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
  assert_int_equal(out[0].o.to, 5);
  assert_int_equal(out[0].o.addr.port, 50005);
  assert_int_equal(out[0].o.addr.ip, 0x7f000001u);
  assert_int_equal(out[0].m.role, CDHT_ROLE_FIRST);
  assert_int_equal(out[0].m.from, 4);
  assert_int_equal(out[1].m.type, CDHT_MSG_PING);
  assert_int_equal(out[1].o.transport, CDHT_UDP);
  assert_int_equal(out[1].o.to, 8);
  assert_int_equal(out[1].o.addr.port, 50008);
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
    assert_true(out[0].o.to == 5 && out[0].m.role == CDHT_ROLE_FIRST);
    assert_true(out[1].o.to == 8 && out[1].m.role == CDHT_ROLE_SECOND);
    assert_true(out[0].m.seq != last_seq);
    last_seq = out[0].m.seq;
    assert_int_equal(pong_from(n, now, 5, out[0].m.seq), 0);
    assert_int_equal(pong_from(n, now, 8, out[1].m.seq), 0);
  }
  assert_int_equal(cdht_node_stats(n)->pings_sent, 12);
  assert_int_equal(cdht_node_stats(n)->pongs_received, 12);
  drain_ev(n, ev, EV_CAP);

  /* A ping in role 1 makes its sender the first predecessor and is answered with its seq. */
  assert_int_equal(cdht_node_predecessor(n, 0), CDHT_ID_NONE);
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_FIRST, 4242), 0);
  assert_int_equal(cdht_node_predecessor(n, 0), 3);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].m.type, CDHT_MSG_PONG);
  assert_int_equal(out[0].o.transport, CDHT_UDP);
  assert_int_equal(out[0].o.to, 3);
  assert_int_equal(out[0].o.addr.port, 50003);
  assert_int_equal(out[0].m.seq, 4242);
  assert_int_equal(out[0].m.from, 4);
  k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_true(ev_is(&ev[0], CDHT_EV_PING_REQUEST, 3, 0));

  /* Role 2 sets the second predecessor. */
  assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_SECOND, 7), 0);
  assert_int_equal(cdht_node_predecessor(n, 1), 1);
  assert_int_equal(cdht_node_predecessor(n, 0), 3);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 1);
  assert_true(out[0].m.type == CDHT_MSG_PONG && out[0].o.to == 1 && out[0].m.seq == 7);
  assert_int_equal(cdht_node_stats(n)->pings_received, 2);

  /* A peer that changes role leaves the other slot: it cannot be both predecessors. */
  assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_FIRST, 8), 0);
  assert_int_equal(cdht_node_predecessor(n, 0), 1);
  assert_int_equal(cdht_node_predecessor(n, 1), CDHT_ID_NONE);
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
  assert_int_equal(cdht_node_predecessor(P(w, 1)->n, 0), 15);
  assert_int_equal(cdht_node_predecessor(P(w, 1)->n, 1), 12);
  assert_int_equal(cdht_node_predecessor(P(w, 10)->n, 0), 8);
  assert_int_equal(cdht_node_predecessor(P(w, 10)->n, 1), 5);
  for (size_t i = 0; i < NCLASSIC; i++) {
    peer *p = P(w, classic[i]);
    assert_true(log_find(p, 0, CDHT_EV_PING_REQUEST, ANY, 0) >= 0);
    assert_true(log_find(p, 0, CDHT_EV_PING_RESPONSE, ANY, 0) >= 0);
  }

  /* request 2012 at 8: key 2012 mod 256 = 220, held by 1 (the first id >= 220, wrapping). */
  size_t mark[16] = { 0 };
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = P(w, classic[i])->nlog;
  size_t tmark = w->ntr;
  assert_int_equal(net_cmd(w, 8, CDHT_CMD_REQUEST, 2012), 0);
  assert_true(log_find(P(w, 8), mark[4], CDHT_EV_REQUEST_SENT, 10, 2012) >= 0);
  assert_true(log_find(P(w, 10), mark[5], CDHT_EV_REQUEST_FORWARDED, 12, 2012) >= 0);
  assert_true(log_find(P(w, 12), mark[6], CDHT_EV_REQUEST_FORWARDED, 15, 2012) >= 0);
  assert_true(log_find(P(w, 15), mark[7], CDHT_EV_REQUEST_FORWARDED, 1, 2012) >= 0);
  int here = log_find(P(w, 1), mark[0], CDHT_EV_FILE_HERE, 1, 2012);
  int resp = log_find(P(w, 1), mark[0], CDHT_EV_RESPONSE_SENT, 8, 2012);
  assert_true(here >= 0 && resp > here);
  assert_true(log_find(P(w, 8), mark[4], CDHT_EV_RESPONSE_RECEIVED, 1, 2012) >= 0);
  for (size_t i = 1; i <= 3; i++) assert_true(log_quiet(P(w, classic[i]), mark[i])); /* 3 4 5 */
  /* The path: successor to successor over TCP, the last hop marked final, and the answer
   * straight back to the requester. */
  int h1 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 8, 10), h2 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 10, 12);
  int h3 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 12, 15), h4 = tr_find(w, tmark, CDHT_MSG_FILE_REQ, 15, 1);
  int h5 = tr_find(w, tmark, CDHT_MSG_FILE_RESP, 1, 8);
  assert_true(h1 >= 0 && h1 < h2 && h2 < h3 && h3 < h4 && h4 < h5);
  assert_int_equal(w->tr[h1].t, CDHT_TCP);
  assert_int_equal(w->tr[h1].m.flags, 0);
  assert_int_equal(w->tr[h4].m.flags, CDHT_REQ_FINAL);
  assert_int_equal(w->tr[h4].m.origin, 8);
  assert_int_equal(w->tr[h5].m.seq, w->tr[h1].m.seq);
  assert_int_equal(tr_count(w, tmark, CDHT_MSG_FILE_REQ, ANY, ANY), 4);

  /* quit at 10: its predecessors 8 and 5 take its successors, confirm, and 10 is gone. */
  net_advance(w, 500);
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = P(w, classic[i])->nlog;
  tmark = w->ntr;
  assert_int_equal(net_cmd(w, 10, CDHT_CMD_QUIT, 0), 0);
  int dep = log_find(P(w, 8), mark[4], CDHT_EV_DEPARTING, 10, ANY_FILE);
  assert_true(dep >= 0 && log_find_succ(P(w, 8), (size_t)dep, 12, 15) > dep);
  dep = log_find(P(w, 5), mark[3], CDHT_EV_DEPARTING, 10, ANY_FILE);
  assert_true(dep >= 0 && log_find_succ(P(w, 5), (size_t)dep, 8, 12) > dep);
  assert_true(log_find(P(w, 10), mark[5], CDHT_EV_LEFT, ANY, ANY_FILE) >= 0);
  assert_true(cdht_node_has_left(P(w, 10)->n));
  assert_int_equal(cdht_node_next_deadline(P(w, 10)->n), CDHT_NEVER);
  assert_true(tr_find(w, tmark, CDHT_MSG_DEPART_ACK, 8, 10) >= 0);
  assert_true(tr_find(w, tmark, CDHT_MSG_DEPART_ACK, 5, 10) >= 0);
  assert_int_equal(log_find(P(w, 10), mark[5], CDHT_EV_LEAVE_UNCONFIRMED, ANY, ANY_FILE), -1);
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 5 && classic[i] != 8 && classic[i] != 10)
      assert_true(log_quiet(P(w, classic[i]), mark[i]));
  net_advance(w, 2 * INTERVAL); /* the new predecessors ping */
  net_check_ring(w);

  /* request 0010 at 4: key 10, now held by 12, reached through 5 and 8. */
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = P(w, classic[i])->nlog;
  tmark = w->ntr;
  assert_int_equal(net_cmd(w, 4, CDHT_CMD_REQUEST, 10), 0);
  assert_true(log_find(P(w, 4), mark[2], CDHT_EV_REQUEST_SENT, 5, 10) >= 0);
  assert_true(log_find(P(w, 5), mark[3], CDHT_EV_REQUEST_FORWARDED, 8, 10) >= 0);
  assert_true(log_find(P(w, 8), mark[4], CDHT_EV_REQUEST_FORWARDED, 12, 10) >= 0);
  assert_true(log_find(P(w, 12), mark[6], CDHT_EV_FILE_HERE, 12, 10) >= 0);
  assert_true(log_find(P(w, 12), mark[6], CDHT_EV_RESPONSE_SENT, 4, 10) >= 0);
  assert_true(log_find(P(w, 4), mark[2], CDHT_EV_RESPONSE_RECEIVED, 12, 10) >= 0);
  assert_int_equal(tr_count(w, tmark, CDHT_MSG_FILE_REQ, ANY, ANY), 3);
  assert_true(tr_find(w, tmark, CDHT_MSG_FILE_RESP, 12, 4) >= 0);
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 4 && classic[i] != 5 && classic[i] != 8 && classic[i] != 12)
      assert_true(log_quiet(P(w, classic[i]), mark[i]));

  /* kill 5 just after a ping round: 4 (first predecessor) and 3 (second) find out. */
  net_run_until(w, 8100);
  uint64_t killed = w->now;
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = P(w, classic[i])->nlog;
  tmark = w->ntr;
  net_kill(w, 5);
  net_advance(w, 10 * INTERVAL);
  peer *p4 = P(w, 4), *p3 = P(w, 3);
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
      assert_int_not_equal(p3->log[i].succ[0], 5);
      assert_int_not_equal(p3->log[i].succ[1], 5);
    }
  assert_int_equal(ev_count(p3->log + mark[1], p3->nlog - mark[1], CDHT_EV_SUCCESSORS), 1);
  assert_int_equal(ev_count(p4->log + mark[2], p4->nlog - mark[2], CDHT_EV_SUCCESSORS), 1);
  assert_true(tr_find(w, tmark, CDHT_MSG_SUCC_QUERY, 4, 8) >= 0);
  assert_true(tr_find(w, tmark, CDHT_MSG_SUCC_QUERY, 3, 4) >= 0);
  /* Nobody else noticed anything. */
  for (size_t i = 0; i < NCLASSIC; i++)
    if (classic[i] != 3 && classic[i] != 4 && classic[i] != 5)
      assert_true(log_quiet(P(w, classic[i]), mark[i]));
  net_check_ring(w);
  net_check_honest(w);

  /* The repaired ring still routes: 2012 from 4 reaches 1 through 8, 12 and 15. */
  for (size_t i = 0; i < NCLASSIC; i++) mark[i] = P(w, classic[i])->nlog;
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
      if (out[i].o.to == 4) assert_int_equal(pong_from(n, now, 4, out[i].m.seq), 0);
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
  assert_int_equal(rest[wq].o.to, 4);
  assert_true(rest[wq].m.about == 5);
  nev += drain_ev(n, ev + nev, EV_CAP - nev);
  assert_int_equal(ev_find(ev, nev, 0, CDHT_EV_PEER_DEAD, ANY, ANY_FILE), -1);
  cdht_msg wr = { .type = CDHT_MSG_WITNESS_REPLY, .seq = rest[wq].m.seq, .about = 5, .age_ms = CDHT_AGE_NEVER };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, wr), 0);
  nev += drain_ev(n, ev + nev, EV_CAP - nev);
  assert_true(ev_find(ev, nev, 0, CDHT_EV_PEER_DEAD, 5, 0) >= 0);
  assert_succ(n, 4, CDHT_ID_NONE); /* pending the repair */
  k = answer_pings(n, now, rest, OUT_CAP);
  int q = find_type(rest, k, CDHT_MSG_SUCC_QUERY);
  assert_true(q >= 0);
  assert_int_equal(rest[q].o.to, 4);
  assert_int_equal(rest[q].o.transport, CDHT_TCP);
  uint32_t q1 = rest[q].m.seq;

  /* 4 has not noticed yet and still names 5: not adopted, nothing changes. */
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = q1, .succ = { 5, 8 } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  assert_succ(n, 4, CDHT_ID_NONE);
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
  assert_int_equal(rest[q].o.to, 4);
  uint32_t q2 = rest[q].m.seq;
  assert_true(q2 != q1);

  /* Still naming 5, or naming itself (4 mid-repair), are both refused. */
  reply.seq = q2;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  reply.succ[0] = 4;
  reply.succ[1] = CDHT_ID_NONE;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, reply), 0);
  assert_succ(n, 4, CDHT_ID_NONE);
  /* A reply from a peer that is not our first successor is stale, whatever it says. */
  reply.succ[0] = 8;
  assert_int_equal(deliver(n, now, CDHT_TCP, 8, reply), CDHT_ERR_STALE);
  assert_succ(n, 4, CDHT_ID_NONE);

  /* 4 has repaired: its answer, even to the older query, is adopted. */
  reply.seq = q1;
  reply.succ[0] = 8;
  reply.succ[1] = 12;
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
  assert_true(out[1].o.to == 8 && out[1].m.role == CDHT_ROLE_SECOND);
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
  size_t m3 = P(w, 3)->nlog, m4 = P(w, 4)->nlog, tmark = w->ntr;
  net_kill(w, 5);
  net_advance(w, 10 * INTERVAL);

  peer *p3 = P(w, 3), *p4 = P(w, 4);
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
  assert_int_equal(w->tr[r1].m.succ[0], 5);
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
  peer *p1 = P(w, 1), *p2 = P(w, 2);
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
  peer *p1 = P(w, 1);
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
  peer *p1 = P(w, 1);
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
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_FILE_REQ && out[0].o.to == 2);
  drain_all(n);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .succ = { 1, 1 } };
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
  peer *p1 = P(w, 1), *p3 = P(w, 3);
  size_t m1 = p1->nlog, m3 = p3->nlog;
  assert_int_equal(net_cmd(w, 2, CDHT_CMD_QUIT, 0), 0);
  /* 1 (first predecessor) takes 2's successors: 3, then itself; 3 keeps 1 and then itself. */
  int dep = log_find(p1, m1, CDHT_EV_DEPARTING, 2, 0);
  assert_true(dep >= 0 && log_find_succ(p1, (size_t)dep, 3, 1) > dep);
  dep = log_find(p3, m3, CDHT_EV_DEPARTING, 2, 0);
  assert_true(dep >= 0 && log_find_succ(p3, (size_t)dep, 1, 3) > dep);
  assert_true(cdht_node_has_left(P(w, 2)->n));
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
  peer *p1 = P(w, 1), *p3 = P(w, 3);
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
  assert_true(out[0].m.type == CDHT_MSG_FILE_REQ && out[0].o.to == 8 && out[0].o.transport == CDHT_TCP);
  assert_int_equal(out[0].m.origin, 5);
  assert_int_equal(out[0].m.file, 4);
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
  assert_int_equal(rest[0].o.to, 10);
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
      assert_int_equal(rest[i].o.to, 10);
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
        assert_int_equal(ev[i].file, 2012);
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
  cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = id, .file = 2012 };
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
  resp.file = 2013;
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
  assert_int_equal(command(n, now, CDHT_CMD_REQUEST, 10000), CDHT_ERR_INVAL);
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
      cdht_msg yes = { .type = CDHT_MSG_STORE_ACCEPT, .seq = out[i].m.seq, .file = out[i].m.file };
      assert_int_equal(deliver(n, now, CDHT_TCP, 200, yes), 0);
      size_t nev = drain_ev(n, ev, EV_CAP);
      assert_true(nev == 1 && ev[0].kind == CDHT_EV_STORE_UPLOAD && ev[0].seq == out[i].m.seq);
      assert_int_equal(cdht_node_on_upload_failed(n, now, out[i].m.file, out[i].m.seq), 0);
      assert_int_equal(cdht_node_on_upload_failed(n, now, out[i].m.file, out[i].m.seq), CDHT_ERR_STALE);
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
  assert_int_equal(deliver(n, 0, CDHT_TCP, cdht_node_successor(n, 0), grant), 0);
  size_t k = drain_ev(n, ev, EV_CAP);
  assert_int_equal(k, 1);
  assert_int_equal(ev[0].kind, CDHT_EV_HANDOVER);
  assert_true(ev[0].token == 0xabcdef);
  assert_true(ev[0].peer == cdht_node_successor(n, 0));
  assert_true(ev[0].succ[1] == cdht_node_config(n)->self);
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
  assert_true(out[0].m.type == CDHT_MSG_KEYS_OFFER && out[0].o.to == 12);
  assert_true(out[1].m.type == CDHT_MSG_DEPART && out[1].o.to == 8 && out[1].o.transport == CDHT_TCP);
  assert_true(out[1].m.succ[0] == 12 && out[1].m.succ[1] == 15);
  assert_true(out[2].m.type == CDHT_MSG_DEPART && out[2].o.to == 5 && out[2].o.transport == CDHT_TCP);
  assert_true(out[2].m.succ[0] == 8 && out[2].m.succ[1] == 12);
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
  assert_true(out[0].m.type == CDHT_MSG_KEYS_DONE && out[0].m.seq == 0 && out[0].o.to == 12);
  /* Gone: it takes no more input. */
  assert_int_equal(ping_from(n, now, 8, CDHT_ROLE_FIRST, 9), CDHT_ERR_LEAVING);
  timer(n, now + 10 * INTERVAL);
  assert_int_equal(drain_out(n, out, OUT_CAP), 0);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  cdht_node_del(n);
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
      assert_int_equal(cdht_node_on_unreachable(n, now, 5), 0);
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
      assert_int_equal(cdht_node_on_unreachable(n, now, 12), 0); /* not asked: no effect */
      assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
      assert_int_equal(cdht_node_on_unreachable(n, now, 5), 0);
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
  cdht_msg ping = { .type = CDHT_MSG_PING, .from = 3, .role = CDHT_ROLE_FIRST, .seq = 1 };
  size_t len = (size_t)cdht_msg_encode(buf, sizeof buf, &ping);
  cdht_addr wrong_port = { 0x7f000001u, 50002 }, wrong_host = { 0x7f000002u, 50003 };
  EXPECT_DROP(cdht_node_on_datagram(n, now, &wrong_port, buf, len), CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED);
  EXPECT_DROP(cdht_node_on_datagram(n, now, &wrong_host, buf, len), CDHT_ERR_SPOOFED, CDHT_DROP_SPOOFED);
  /* A ping over TCP, and a TCP-only message over UDP: wrong transport. */
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, ping), CDHT_ERR_UNEXPECTED, CDHT_DROP_TRANSPORT);
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .succ = { 9, 10 } };
  EXPECT_DROP(deliver(n, now, CDHT_UDP, 5, dep), CDHT_ERR_UNEXPECTED, CDHT_DROP_TRANSPORT);
  /* Ids outside the ring, or our own: bad id. */
  EXPECT_DROP(ping_from(n, now, 256, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  EXPECT_DROP(ping_from(n, now, CDHT_ID_NONE, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  EXPECT_DROP(ping_from(n, now, 4, CDHT_ROLE_FIRST, 2), CDHT_ERR_BADID, CDHT_DROP_BADID);
  cdht_msg req = { .type = CDHT_MSG_FILE_REQ, .origin = 300, .seq = 1, .file = 7 };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_BADID, CDHT_DROP_BADID);
  /* A departure from a peer that is not our successor: ignored. */
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 12, dep), CDHT_ERR_ROLE, CDHT_DROP_ROLE);
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, dep), CDHT_ERR_ROLE, CDHT_DROP_ROLE);
  /* A departure from a successor naming ids outside the ring, or itself: bad id. */
  cdht_msg bad_dep = { .type = CDHT_MSG_DEPART, .succ = { 8, 999 } };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, bad_dep), CDHT_ERR_BADID, CDHT_DROP_BADID);
  bad_dep.succ[0] = 5;
  bad_dep.succ[1] = 8;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, bad_dep), CDHT_ERR_BADID, CDHT_DROP_BADID);
  /* Pongs with a number never sent, or from a peer we do not ping: stale. */
  EXPECT_DROP(pong_from(n, now, 5, 77), CDHT_ERR_STALE, CDHT_DROP_STALE);
  EXPECT_DROP(pong_from(n, now, 5, 1), CDHT_ERR_STALE, CDHT_DROP_STALE); /* only 0 was sent */
  EXPECT_DROP(pong_from(n, now, 5, UINT32_MAX), CDHT_ERR_STALE, CDHT_DROP_STALE);
  EXPECT_DROP(pong_from(n, now, 12, 0), CDHT_ERR_STALE, CDHT_DROP_STALE);
  /* Answers to questions we never asked: stale. */
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = 1, .succ = { 12, 15 } };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 5, reply), CDHT_ERR_STALE, CDHT_DROP_STALE);
  cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = 1, .file = 7 };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 12, resp), CDHT_ERR_STALE, CDHT_DROP_STALE);
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, ack), CDHT_ERR_STALE, CDHT_DROP_STALE);
  /* A request that has passed more peers than the ring holds, or came back to its origin
   * unanswered: a loop. */
  req.origin = 1;
  req.hops = 256;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_LOOP, CDHT_DROP_LOOP);
  req.hops = UINT16_MAX;
  EXPECT_DROP(deliver(n, now, CDHT_TCP, 3, req), CDHT_ERR_LOOP, CDHT_DROP_LOOP);
  req.origin = 4;
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
  mut[0] = 2;
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_VERSION, CDHT_DROP_VERSION);
  mut[0] = CDHT_WIRE_V1;
  mut[1] = CDHT_MSG_COUNT;
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_TYPE, CDHT_DROP_TYPE);
  mut[1] = 0;
  EXPECT_DROP(cdht_node_on_datagram(n, now, &from3, mut, len), CDHT_ERR_TYPE, CDHT_DROP_TYPE);

  /* Garbage of every length 0..64, over both transports, three shapes: random bytes, random
   * bytes behind a valid version and type, and a valid header with the right body length
   * and a random body.  None may crash, all are refused, every refusal is counted. */
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
        if (shape >= 1 && glen >= 1) g[0] = CDHT_WIRE_V1;
        if (shape >= 1 && glen >= 2) g[1] = type;
        if (shape == 2 && glen >= 4) {
          int body = cdht_msg_body_len(type);
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
  /* And every type with a valid header, the exact body length and a random body (its sender
   * id is then far outside the ring), over both transports. */
  for (uint8_t type = 1; type < CDHT_MSG_COUNT; type++) {
    for (int seed = 0; seed < 8; seed++) {
      for (int t = 0; t < 2; t++) {
        size_t glen = CDHT_HDR_LEN + (size_t)cdht_msg_body_len(type);
        uint8_t *g = malloc(glen);
        assert_non_null(g);
        for (size_t i = 0; i < glen; i++) {
          x ^= x << 13;
          x ^= x >> 17;
          x ^= x << 5;
          g[i] = (uint8_t)x;
        }
        g[0] = CDHT_WIRE_V1;
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
  assert_int_equal(cdht_node_predecessor(n, 0), 3);
  assert_int_equal(cdht_node_predecessor(n, 1), 1);
  assert_int_equal(st->pings_received, 2);
  assert_int_equal(st->pongs_received, 2);
  assert_int_equal(st->requests_handled, 3); /* the looping ones were received, then dropped */
  /* And it still works: the real 5 answers the next ping, a real departure is applied. */
  now += INTERVAL;
  timer(n, now);
  size_t k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 2);
  assert_int_equal(pong_from(n, now, 5, out[0].m.seq), 0);
  dep.succ[0] = 8;
  dep.succ[1] = 10;
  assert_int_equal(deliver_depart(n, now, 5, dep), 0);
  assert_succ(n, 8, 10);
  /* The same departure again is only confirmed again. */
  drain_all(n);
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, dep), 0);
  k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_DEPART_ACK && out[0].o.to == 5);
  assert_int_equal(drain_ev(n, ev, EV_CAP), 0);
  assert_succ(n, 8, 10);
  cdht_node_del(n);
}

/* ---- 9. configuration and allocation ---- */

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

  struct { cdht_config c; const char *why; } bad[16];
  size_t nb = 0;
#define BAD(field, value)                      \
  do {                                         \
    bad[nb].c = make_cfg(1, 3, 4);             \
    bad[nb].c.field = (value);                 \
    bad[nb].why = #field " = " #value;         \
    nb++;                                      \
  } while (0)
  BAD(self, 256);
  BAD(succ[0], 256);
  BAD(succ[1], 1000);
  BAD(succ[1], 3);  /* S1 = S2 != self */
  BAD(succ[0], 1);  /* S1 = self != S2 */
  BAD(ring_size, 0);
  BAD(base_port, 65400); /* peer 255 would need port 65655 */
  BAD(ping_interval_ms, 0);
  BAD(ping_timeout_ms, 0);
  BAD(ping_timeout_ms, 16 * INTERVAL); /* more pings in flight than the detector tracks */
  BAD(misses, 0);
  BAD(requery_ms, 0);
  BAD(request_timeout_ms, 0);
  BAD(leave_timeout_ms, 0);
#undef BAD
  for (size_t i = 0; i < nb; i++) {
    if (cdht_config_check(&bad[i].c) != CDHT_ERR_INVAL) fail_msg("accepted %s", bad[i].why);
    cdht_node *n = (cdht_node *)&n; /* not NULL: _new must clear it */
    assert_int_equal(cdht_node_new(&n, &bad[i].c, NULL, 0), CDHT_ERR_INVAL);
    assert_null(n);
  }
  /* The defaults are the classic ones. */
  cdht_config_default(&c);
  assert_int_equal(c.ring_size, 256);
  assert_int_equal(c.base_port, 50000);
  assert_int_equal(c.host, 0x7f000001u);
  cdht_addr a = cdht_config_addr(&c, 15);
  assert_int_equal(a.port, 50015);
  assert_int_equal(a.ip, 0x7f000001u);
}

typedef struct counting_mem {
  int fail;   /* refuse every allocation */
  int allocs; /* successful allocations */
  int frees;
} counting_mem;

static void *t_alloc(void *ctx, size_t size) {
  counting_mem *m = ctx;
  if (m->fail) return NULL;
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
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .succ = { 5, 5 } };
  assert_int_equal(deliver_depart(n, now, 4, dep), 0);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t k = drain_out(n, out, OUT_CAP), e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_DEPARTING), 1);
  assert_int_equal(ev_count(ev, e, CDHT_EV_SUCCESSORS), 0);
  assert_succ(n, 5, CDHT_ID_NONE);
  int q = find_type(out, k, CDHT_MSG_SUCC_QUERY);
  assert_true(q >= 0);
  assert_int_equal(out[q].o.to, 5);
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[q].m.seq, .succ = { 8, 10 } };
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
      if (out[i].m.type == CDHT_MSG_PING && out[i].o.to == 4) pong_from(n, now, 4, out[i].m.seq);
      if (out[i].m.type == CDHT_MSG_WITNESS_QUERY) {
        queries++;
        cdht_msg wr = { .type = CDHT_MSG_WITNESS_REPLY, .seq = out[i].m.seq, .about = 5, .age_ms = 300 };
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
      if (out[i].m.type == CDHT_MSG_PING && out[i].o.to == 4) pong_from(n, now, 4, out[i].m.seq);
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
  cdht_msg late = { .type = CDHT_MSG_WITNESS_REPLY, .seq = qid, .about = 5, .age_ms = 1 };
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
    if (out[i].o.to == 5) pong_from(n, now, 5, out[i].m.seq);
  drain_all(n);
  now += 700;
  /* 3 is no neighbour of ours yet: answered all the same (CDHT_ANSWERED, §7). */
  cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = 77, .about = 5 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  q.about = 8; /* never answered */
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  q.about = 12; /* not a successor */
  assert_int_equal(deliver(n, now, CDHT_TCP, 3, q), CDHT_ANSWERED);
  k = drain_out(n, out, OUT_CAP);
  assert_int_equal(k, 3);
  assert_int_equal(out[0].m.type, CDHT_MSG_WITNESS_REPLY);
  assert_int_equal(out[0].o.to, 3);
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
    if (out[i].m.type != CDHT_MSG_JOIN_ACCEPT || out[i].o.to != j) continue;
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
  cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = 4, .seq = 9 };
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
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .succ = { 5, 8 } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, dep), 0);
  sent out[OUT_CAP];
  cdht_event ev[EV_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_DEPART_ACK && out[0].o.to == 4 && out[0].m.token != 0);
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
  cdht_msg change = { .type = CDHT_MSG_SUCC_CHANGE, .succ = { 5, 4 } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, change), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_SUCC_QUERY && out[0].o.to == 5);
  assert_succ(n, 5, 8);
  /* 5 says its first successor is 8: nobody joined, nothing changes. */
  cdht_msg no = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[0].m.seq, .succ = { 8, 10 } };
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, no), 0);
  assert_succ(n, 5, 8);
  cdht_event ev[EV_CAP];
  size_t e = drain_ev(n, ev, EV_CAP);
  assert_int_equal(ev_count(ev, e, CDHT_EV_SUCC_CHANGE), 0);
  /* Asked again, it names the joiner: taken. */
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, change), 0);
  k = drain_out(n, out, OUT_CAP);
  cdht_msg yes = { .type = CDHT_MSG_SUCC_REPLY, .seq = out[0].m.seq, .succ = { 4, 8 } };
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
  cdht_msg dep = { .type = CDHT_MSG_DEPART, .succ = { 5, 8 } };
  assert_int_equal(deliver_depart(n, now, 4, dep), 0);
  assert_succ(n, 5, 8);
  drain_all(n);
  /* 4 joins again between us and 5: we accept it (a join request from 4 lands here). */
  cdht_msg join = { .type = CDHT_MSG_JOIN_REQ, .origin = 4, .seq = 1 };
  now += 1000;
  assert_int_equal(deliver(n, now, CDHT_TCP, 4, join), 0);
  accept_joiner(n, now, 4);
  assert_succ(n, 4, 5);
  drain_all(n);
  now += 1000;
  dep.succ[0] = 5;
  dep.succ[1] = 8;
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
  cdht_msg offer = { .type = CDHT_MSG_KEYS_OFFER, .about = about };
  if (deliver(n, now, CDHT_TCP, from, offer) < 0) return 0;
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  for (size_t i = 0; i < k; i++)
    if (out[i].m.type == CDHT_MSG_KEYS_GRANT && out[i].o.to == from) return out[i].m.token;
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
  assert_true(cdht_node_predecessor(n, 0) == 5);
  uint64_t t8 = offer_from(n, now + 5, 8, 5);
  assert_true(t8 != 0);
  assert_true(cdht_node_handover_allowed(n, now + 5, 8, 7, t8, 0, false));      /* key 7: 8's, not ours */
  assert_false(cdht_node_handover_allowed(n, now + 5, 8, 7, t8 + 1, 0, false)); /* not our token */
  assert_false(cdht_node_handover_allowed(n, now + 5, 9, 7, t8, 0, false));     /* never offered */
  assert_false(cdht_node_handover_allowed(n, now + 5, 8, 9, t8, 0, false));     /* key 9 is ours already */
  assert_true(offer_from(n, now + 5, 9, 5) == 0);                     /* never a predecessor */
  cdht_node_del(n);

  now = 0;
  n = leaver(now);
  now += 10;
  assert_int_equal(ping_from(n, now, 3, CDHT_ROLE_SECOND, 1), 0); /* 5 displaced from the second slot */
  drain_all(n);
  uint64_t t5 = offer_from(n, now + 5, 5, 3);
  assert_true(t5 != 0 && cdht_node_handover_allowed(n, now + 5, 5, 4, t5, 0, false));
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
  c.join_via = 5;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, now), 0);
  sent out[OUT_CAP];
  size_t k = drain_out(n, out, OUT_CAP);
  assert_true(k == 1 && out[0].m.type == CDHT_MSG_JOIN_REQ);
  cdht_msg yes = { .type = CDHT_MSG_JOIN_ACCEPT, .seq = out[0].m.seq, .succ = { 12, 15 }, .about = CDHT_ID_NONE };
  now += 10;
  assert_int_equal(deliver(n, now, CDHT_TCP, 5, yes), 0);
  k = drain_out(n, out, OUT_CAP);
  uint64_t token = 0;
  for (size_t i = 0; i < k; i++)
    if (out[i].m.type == CDHT_MSG_KEYS_REQ && out[i].o.to == 12) token = out[i].m.token;
  assert_true(token != 0);
  drain_all(n);
  now += 10;
  assert_true(cdht_node_handover_allowed(n, now, 12, 7, token, 0, false)); /* key 7 of (5, 10] */
  assert_false(cdht_node_handover_allowed(n, now, 12, 7, 0, 0, false));    /* without our token */
  cdht_msg forged = { .type = CDHT_MSG_KEYS_DONE, .seq = 1 };
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, forged), CDHT_ERR_ROLE);
  cdht_msg done = { .type = CDHT_MSG_KEYS_DONE, .seq = 1, .token = token };
  assert_int_equal(deliver(n, now, CDHT_TCP, 12, done), 0);
  drain_all(n);
  now += 500;
  assert_true(cdht_node_handover_allowed(n, now, 12, 8, token, 0, false));  /* passed back later */
  assert_false(cdht_node_handover_allowed(n, now, 12, 11, token, 0, false)); /* not a key we asked for */
  /* A store's content that landed here after we asked is newer than the giver's: kept (while
   * it is here: a file handed away meanwhile leaves nothing newer behind). */
  assert_int_equal(cdht_node_handover_allowed(n, now, 12, 8, token, now - 100, false), CDHT_HANDOVER_TAKE);
  cdht_node_set_stored(n, 8, true);
  assert_int_equal(cdht_node_handover_allowed(n, now, 12, 8, token, now - 100, false), CDHT_HANDOVER_OLDER);
  assert_int_equal(cdht_node_handover_allowed(n, now, 12, 8, token, 5, false), CDHT_HANDOVER_TAKE); /* before: older */
  assert_int_equal(cdht_node_handover_allowed(n, now, 12, 8, token, 5, true), CDHT_HANDOVER_OLDER); /* the giver says a newer store came */
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
    assert_int_equal(cdht_node_on_taken_over(n, now, f, 8), 0);
    k = drain_ev(n, ev, EV_CAP);
    for (size_t i = 0; i < k; i++) handovers += ev[i].kind == CDHT_EV_HANDOVER;
  }
  assert_true(handovers < 20); /* the slots ran out */
  assert_int_equal(cdht_node_on_handover_done(n, now + 50, 12, own, 0, 0), 0);
  drain_out(n, (sent[OUT_CAP]){ 0 }, OUT_CAP);
  k = drain_ev(n, ev, EV_CAP);
  ssize_t all = -1;
  for (size_t i = 0; i < k; i++)
    if (ev[i].kind == CDHT_EV_HANDOVER) all = (ssize_t)i;
  assert_true(all >= 0);
  assert_true(ev[all].peer == 12 && ev[all].succ[0] == 10 && ev[all].succ[1] == 10); /* the whole ring */
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
  assert_true((got.succ[0] == 3 && got.succ[1] == 4) || (got.succ[0] == 4 && got.succ[1] == 3));
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
  return out[r].m.about;
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
  assert_int_equal(cdht_node_predecessor(n, 0), 5);
  drain_all(n);
  for (int round = 0; round < 5; round++) {
    now += INTERVAL / 2;
    assert_int_equal(ping_from(n, now, 1, CDHT_ROLE_FIRST, (uint32_t)round), 0); /* the restarted peer */
    assert_int_equal(cdht_node_predecessor(n, 0), 1);
    now += INTERVAL / 2;
    assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, (uint32_t)round + 2), 0);
    assert_int_equal(cdht_node_predecessor(n, 0), 1);       /* not the latest pinger */
    assert_int_equal(cdht_node_predecessor(n, 1), 4);
    sent out[OUT_CAP];
    size_t k = drain_out(n, out, OUT_CAP);                   /* 5 is answered all the same */
    assert_int_equal(k, 2);
    assert_true(out[1].m.type == CDHT_MSG_PONG && out[1].o.to == 5 && out[1].m.seq == (uint32_t)round + 2);
    assert_int_equal(stab_answer(n, now, 5), 1);
  }
  cdht_event ev[EV_CAP];
  assert_int_equal(ev_count(ev, drain_ev(n, ev, EV_CAP), CDHT_EV_PING_REQUEST), 10); /* every ping printed */
  /* 1 dies: once it has been silent for a detection period, 5 takes the slot again. */
  uint64_t last1 = now - INTERVAL / 2;
  now = last1 + DETECT_MS;
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 50), 0);
  assert_int_equal(cdht_node_predecessor(n, 0), 1);
  now = last1 + DETECT_MS + 1;
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_FIRST, 51), 0);
  assert_int_equal(cdht_node_predecessor(n, 0), 5);
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
  assert_int_equal(cdht_node_predecessor(n, 0), 8);
  assert_int_equal(cdht_node_predecessor(n, 1), CDHT_ID_NONE);
  assert_int_equal(ping_from(n, now, 5, CDHT_ROLE_SECOND, 2), 0);
  assert_int_equal(cdht_node_predecessor(n, 1), 5);

  cdht_node *m = new_node(12, 15, 1, now);
  drain_all(m);
  assert_int_equal(ping_from(m, now, 10, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_SECOND, 1), 0);
  now += 100;
  assert_int_equal(ping_from(m, now, 5, CDHT_ROLE_SECOND, 2), 0);
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 2), 0);
  assert_int_equal(cdht_node_predecessor(m, 0), 8);
  assert_int_equal(cdht_node_predecessor(m, 1), 5);
  /* 3 was never our second predecessor and 8 keeps pinging: 3 is answered, not adopted. */
  assert_int_equal(ping_from(m, now, 3, CDHT_ROLE_FIRST, 1), 0);
  assert_int_equal(cdht_node_predecessor(m, 0), 8);
  /* Nor is 5 once the second slot moved on for longer than a detection period: 5 pinging us
   * as first while 8 still pings is stale news. */
  now += DETECT_MS + 1;
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 3), 0);
  assert_int_equal(ping_from(m, now, 4, CDHT_ROLE_SECOND, 3), 0); /* 5 displaced from the second slot */
  now += DETECT_MS + 1;
  assert_int_equal(ping_from(m, now, 8, CDHT_ROLE_FIRST, 4), 0);
  assert_int_equal(ping_from(m, now, 5, CDHT_ROLE_FIRST, 4), 0);
  assert_int_equal(cdht_node_predecessor(m, 0), 8);
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
      int at = ev_find(ev, k, 0, CDHT_EV_PINGS_SENT, CDHT_ID_NONE, 0);
      assert_int_equal(ev_count(ev, k, CDHT_EV_PINGS_SENT), asked ? 1u : 0u);
      if (asked) {
        assert_true(at >= 0);
        assert_int_equal(ev[at].succ[0], 4);
        assert_int_equal(ev[at].succ[1], 5);
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
  int at = ev_find(ev, k, 0, CDHT_EV_PINGS_SENT, CDHT_ID_NONE, 0);
  assert_true(at >= 0);
  assert_int_equal(ev[at].succ[0], 4);
  assert_int_equal(ev[at].succ[1], CDHT_ID_NONE);
  cdht_node_del(n);
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

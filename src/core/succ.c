/* Membership (§4, §8): our successors and the pings that watch them, our predecessors as their
 * pings name them, and the peers we know are gone.  The verdict on a successor that stops
 * answering is reached here (cdht_succ_judge), with the witness's word (witness.c); what
 * follows a death is kill repair (repair.c). */
#include "node_internal.h"

#include <string.h>

#include "cdht/err.h"

void cdht_succ_init(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b) {
  n->succ.id[0] = a;
  n->succ.id[1] = b;
  n->succ.pred[0] = n->succ.pred[1] = n->succ.pred_was2 = n->succ.pred_was1 = cdht_peer_none();
  n->succ.heard_ms[0] = n->succ.heard_ms[1] = CDHT_NEVER;
  n->succ.next_ping_ms = now; /* ping at once: predecessors learn who we are without delay */
  n->succ.started_ms = now;
}

/* A predecessor is trusted for routing only while it keeps pinging us. */
bool cdht_succ_pred_fresh(const cdht_node *n, int i, uint64_t now) {
  return cdht_known(n->succ.pred[i]) && now - n->succ.pred_heard_ms[i] <= cdht_node_detect_ms(n);
}

cdht_peer cdht_succ_known(const cdht_node *n, cdht_id id) {
  const cdht_peer *all[4] = { &n->succ.id[0], &n->succ.id[1], &n->succ.pred[0], &n->succ.pred[1] };
  for (int i = 0; i < 4; i++)
    if (cdht_peer_known(all[i]) && all[i]->id == id) return *all[i];
  return cdht_peer_none();
}

bool cdht_succ_is_neighbour(const cdht_node *n, cdht_id id) {
  cdht_peer p = cdht_succ_known(n, id);
  return cdht_known(p);
}

void cdht_succ_emit(cdht_node *n) {
  cdht_event ev = { .kind = CDHT_EV_SUCCESSORS, .succ = { n->succ.id[0], n->succ.id[1] } };
  cdht_node_emit(n, ev);
}

/* ---- the successor list ---- */

/* How far round the ring from us |p| lies (0 for us). */
static uint64_t dist(const cdht_node *n, cdht_peer p) { return (p.id - n->cfg.self) & n->mask; }

static size_t more_cap(const cdht_node *n) { return (size_t)n->cfg.successors - 2; }

size_t cdht_succ_list(const cdht_node *n, cdht_peer *out) {
  out[0] = n->succ.id[0];
  out[1] = n->succ.id[1];
  for (size_t i = 0; i < n->succ.nmore; i++) out[2 + i] = n->succ.more[i];
  return 2 + (size_t)n->succ.nmore;
}

/* Replaces the entries past the first two, and says so if they changed. */
static void set_more(cdht_node *n, const cdht_peer *list, size_t k) {
  bool changed = k != n->succ.nmore;
  for (size_t i = 0; i < k && !changed; i++) changed = !cdht_exact(list[i], n->succ.more[i]);
  if (!changed) return;
  for (size_t i = 0; i < k; i++) n->succ.more[i] = list[i];
  n->succ.nmore = (uint8_t)k;
  cdht_event ev = { .kind = CDHT_EV_SUCC_LIST, .seq = (uint32_t)(2 + k) };
  cdht_node_emit_once(n, ev); /* one per input: the list is read after it, and deaths change it twice each */
}

/* Keeps of |list| (|k| entries) what may follow |last| in our list: further round the ring each
 * one than the one before, never us, never a peer we know is gone; at most more_cap entries. */
static size_t keep_beyond(const cdht_node *n, uint64_t now, cdht_peer last, const cdht_peer *list, size_t k,
                          cdht_peer *out) {
  uint64_t recent = now > cdht_node_detect_ms(n) ? now - cdht_node_detect_ms(n) : 0;
  uint64_t floor = cdht_known(last) ? dist(n, last) : 0;
  if (cdht_known(n->succ.id[0]) && dist(n, n->succ.id[0]) > floor) floor = dist(n, n->succ.id[0]); /* a pair out of order */
  size_t m = 0;
  for (size_t i = 0; i < k && m < more_cap(n); i++) {
    cdht_peer e = list[i];
    if (!cdht_known(e) || cdht_is_self(n, e)) break; /* the list came round to us: the ring is that small */
    if (dist(n, e) <= floor) break;                 /* out of order: the rest is not to be trusted */
    if (cdht_succ_maybe_gone(n, e.id, recent)) continue;
    out[m++] = e;
    floor = dist(n, e);
  }
  return m;
}

void cdht_succ_learn(cdht_node *n, uint64_t now, const cdht_peer *list, size_t k) {
  cdht_peer last = cdht_known(n->succ.id[1]) && !cdht_is_self(n, n->succ.id[1]) ? n->succ.id[1] : cdht_peer_none();
  if (!cdht_known(last)) return; /* no list past a pending or absent second successor */
  cdht_peer keep[CDHT_SUCC_MAX];
  set_more(n, keep, keep_beyond(n, now, last, list, k, keep));
}

cdht_peer cdht_succ_next_live(const cdht_node *n, uint64_t now) {
  for (size_t i = 0; i < n->succ.nmore; i++)
    if (!cdht_succ_maybe_gone(n, n->succ.more[i].id, now > cdht_node_detect_ms(n) ? now - cdht_node_detect_ms(n) : 0))
      return n->succ.more[i];
  return cdht_peer_none();
}

bool cdht_succ_forget(cdht_node *n, cdht_peer p) {
  cdht_peer keep[CDHT_SUCC_MAX];
  size_t m = 0;
  for (size_t i = 0; i < n->succ.nmore; i++)
    if (!cdht_exact(n->succ.more[i], p)) keep[m++] = n->succ.more[i];
  if (m == n->succ.nmore) return false;
  set_more(n, keep, m);
  return true;
}

/* Installs new successors, keeping each surviving peer's failure-detector history; a new first
 * successor takes the pending requests (cdht_lookup_on_new_first).  The rest of the list keeps
 * the entries that lie beyond the new second successor (a joiner before them pushes one out; a
 * dead one before them is passed over). */
void cdht_succ_set(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b) {
  cdht_peer old[2] = { n->succ.id[0], n->succ.id[1] };
  if (more_cap(n) > 0) {
    cdht_peer all[CDHT_SUCC_MAX], keep[CDHT_SUCC_MAX];
    size_t k = cdht_succ_list(n, all), m = 0;
    cdht_peer last = cdht_known(b) && !cdht_is_self(n, b) ? b : cdht_peer_none();
    if (cdht_known(last) && !cdht_is_self(n, a)) {
      /* Beyond both: a pair named out of order (a successor's DEPART may say anything) must not
       * leave the first of it in the list a second time. */
      uint64_t floor = dist(n, last) > dist(n, a) ? dist(n, last) : dist(n, a);
      for (size_t i = 0; i < k && m < more_cap(n); i++)
        if (cdht_known(all[i]) && !cdht_is_self(n, all[i]) && dist(n, all[i]) > floor) keep[m++] = all[i];
    }
    set_more(n, keep, m);
  }
  cdht_fd oldfd[2] = { n->succ.fd[0], n->succ.fd[1] };
  cdht_peer now_succ[2] = { a, b };
  uint64_t oldheard[2] = { n->succ.heard_ms[0], n->succ.heard_ms[1] };
  for (int i = 0; i < 2; i++) {
    cdht_fd_reset(&n->succ.fd[i]);
    n->succ.heard_ms[i] = CDHT_NEVER;
    cdht_witness_cancel(n, i);
    for (int j = 0; j < 2; j++)
      if (cdht_known(now_succ[i]) && cdht_same(now_succ[i], old[j])) {
        n->succ.fd[i] = oldfd[j];
        n->succ.heard_ms[i] = oldheard[j];
      }
  }
  n->succ.id[0] = a;
  n->succ.id[1] = b;
  /* A departed peer that is our successor again has rejoined: its next departure is new. */
  if (cdht_known(n->leave.departed) && (cdht_same(n->leave.departed, a) || cdht_same(n->leave.departed, b)))
    n->leave.departed = cdht_peer_none();
  if (!cdht_same(a, old[0])) cdht_lookup_on_new_first(n, now, a);
}

/* Installs the successors a joiner or a predecessor was told.  A pair naming the same peer
 * twice means the sender did not know the second one (it was repairing): ask for it, never
 * accepting the peers in |avoid1| and |avoid2| (gone, as far as the sender or we know). */
void cdht_succ_take(cdht_node *n, uint64_t now, cdht_peer a, cdht_peer b, cdht_peer avoid1, cdht_peer avoid2) {
  if (cdht_is_self(n, a)) b = a = n->self;
  if (cdht_same(b, a) && !cdht_is_self(n, a)) {
    cdht_succ_set(n, now, a, cdht_peer_none());
    cdht_repair_start(n, now, avoid1);
    if (cdht_known(avoid2)) cdht_repair_start(n, now, avoid2);
    return;
  }
  cdht_succ_set(n, now, a, b);
  cdht_succ_emit(n);
}

/* ---- peers we know are gone (§8) ---- */

void cdht_succ_log_gone(cdht_node *n, cdht_id id, uint64_t now) { /* by id: the same peer at any address */
  n->succ.dead_log[n->succ.ndead % CDHT_DEAD_LOG].id = id;
  n->succ.dead_log[n->succ.ndead % CDHT_DEAD_LOG].t_ms = now;
  n->succ.ndead++;
}

/* Whether |id| may be gone: we declared it dead (or saw it depart) after, or less than a ping
 * interval before, |heard_ms|, the last time anyone says they heard from it.  The interval
 * covers a ping still in flight when a peer decided to leave. */
bool cdht_succ_maybe_gone(const cdht_node *n, cdht_id id, uint64_t heard_ms) {
  unsigned k = n->succ.ndead < CDHT_DEAD_LOG ? n->succ.ndead : CDHT_DEAD_LOG;
  for (unsigned i = 0; i < k; i++)
    if (n->succ.dead_log[i].id == id && n->succ.dead_log[i].t_ms + n->cfg.ping_interval_ms >= heard_ms) return true;
  return false;
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
static bool takes_first_slot(const cdht_node *n, cdht_peer x, uint64_t now) {
  cdht_peer cur = n->succ.pred[0];
  if (!cdht_known(cur) || cdht_same(cur, x) || !cdht_succ_pred_fresh(n, 0, now) || cdht_same(n->succ.pred[1], x))
    return true;
  if (cdht_same(n->succ.pred_was2, x) && now - n->succ.pred_was2_ms <= cdht_node_detect_ms(n)) return true;
  return cdht_node_between(n, cur.id, x.id, n->cfg.self); /* closer to us */
}

static void note_former(cdht_node *n, cdht_peer p, uint64_t heard_ms) {
  n->succ.former[n->succ.nformer % CDHT_FORMER_PREDS].peer = p;
  n->succ.former[n->succ.nformer % CDHT_FORMER_PREDS].heard_ms = heard_ms;
  n->succ.nformer++;
}

cdht_peer cdht_succ_former_pred(const cdht_node *n, uint64_t now, cdht_peer p, uint64_t window_ms) {
  unsigned k = n->succ.nformer < CDHT_FORMER_PREDS ? n->succ.nformer : CDHT_FORMER_PREDS;
  for (unsigned i = 0; i < k; i++)
    if (cdht_same(n->succ.former[i].peer, p) && now - n->succ.former[i].heard_ms <= window_ms) return n->succ.former[i].peer;
  return cdht_peer_none();
}

static void take_first_predecessor(cdht_node *n, uint64_t now, cdht_peer x) {
  if (!cdht_same(n->succ.pred[0], x) && cdht_known(n->succ.pred[0])) { /* it may be leaving, its keys still on their way */
    n->succ.pred_was1 = n->succ.pred[0];
    n->succ.pred_was1_ms = n->succ.pred_heard_ms[0];
    note_former(n, n->succ.pred[0], n->succ.pred_heard_ms[0]);
  }
  if (cdht_same(n->succ.pred[1], x)) n->succ.pred[1] = cdht_peer_none();
  if (cdht_same(n->succ.pred_was2, x)) n->succ.pred_was2 = cdht_peer_none();
  n->succ.pred[0] = x;
  n->succ.pred_heard_ms[0] = now;
}

void cdht_succ_admitted(cdht_node *n, uint64_t now, cdht_peer joiner) {
  if (takes_first_slot(n, joiner, now)) take_first_predecessor(n, now, joiner);
}

int cdht_succ_on_ping(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_peer x = m->from;
  if (m->role != CDHT_ROLE_FIRST) { /* the second slot follows its latest pinger */
    if (cdht_known(n->succ.pred[1]) && !cdht_same(n->succ.pred[1], x)) {
      n->succ.pred_was2 = n->succ.pred[1];
      n->succ.pred_was2_ms = n->succ.pred_heard_ms[1];
      note_former(n, n->succ.pred[1], n->succ.pred_heard_ms[1]);
    }
    if (cdht_same(n->succ.pred[0], x)) n->succ.pred[0] = cdht_peer_none(); /* it took a closer first successor */
    n->succ.pred[1] = x;
    n->succ.pred_heard_ms[1] = now;
  } else if (takes_first_slot(n, x, now)) { /* else answered, but not our predecessor */
    take_first_predecessor(n, now, x);
  }
  n->stats.pings_received++;
  cdht_node_emit_peer(n, CDHT_EV_PING_REQUEST, m->from, NULL);
  cdht_msg pong = { .type = CDHT_MSG_PONG, .seq = m->seq };
  cdht_node_send(n, CDHT_UDP, m->from, &pong);
  return 0;
}

int cdht_succ_on_pong(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (!cdht_exact(n->succ.id[i], m->from)) continue; /* from where we pinged, not just its id */
    if (cdht_fd_on_ack(&n->succ.fd[i], m->seq) < 0) break;
    n->succ.heard_ms[i] = now;
    n->stats.pongs_received++;
    cdht_node_emit_peer(n, CDHT_EV_PING_RESPONSE, m->from, NULL);
    return 0;
  }
  cdht_node_drop(n, CDHT_DROP_STALE); /* from a former successor, or a number we never sent */
  return CDHT_ERR_STALE;
}

/* Anyone may ask for our successors: kill repair, a joiner's successor and a SUCC_CHANGE check
 * ask this (§5, §8). */
int cdht_succ_on_query(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
  cdht_msg reply = { .type = CDHT_MSG_SUCC_REPLY, .seq = m->seq };
  reply.nsucc = (uint8_t)cdht_succ_list(n, reply.succ);
  cdht_node_send(n, CDHT_TCP, m->from, &reply);
  return 0;
}

static void send_ping(cdht_node *n, int i, uint64_t now, bool probe) {
  cdht_msg m = { .type = CDHT_MSG_PING, .role = (uint8_t)(i + 1) };
  m.seq = probe ? cdht_fd_on_probe(&n->succ.fd[i], now, n->cfg.ping_timeout_ms)
                : cdht_fd_on_send(&n->succ.fd[i], now, n->cfg.ping_timeout_ms);
  cdht_node_send(n, CDHT_UDP, n->succ.id[i], &m);
  n->stats.pings_sent++;
  if (probe) n->stats.probes_sent++;
}

static void send_pings(cdht_node *n, uint64_t now) {
  cdht_event ev = { .kind = CDHT_EV_PINGS_SENT };
  int sent = 0;
  for (int i = 0; i < 2; i++) {
    cdht_peer s = n->succ.id[i];
    if (!cdht_known(s) || cdht_is_self(n, s) || (i == 1 && cdht_same(s, n->succ.id[0]))) continue;
    send_ping(n, i, now, false);
    ev.succ[sent++] = s;
  }
  if (n->cfg.round_events && sent > 0) cdht_node_emit(n, ev); /* the 2020 form's "Ping requests sent to ..." */
}

void cdht_succ_judge(cdht_node *n, uint64_t now) {
  for (int i = 0; i < 2; i++) {
    if (!cdht_known(n->succ.id[i]) || cdht_is_self(n, n->succ.id[i])) continue;
    uint64_t lost = n->succ.fd[i].lost;
    uint32_t misses = cdht_fd_on_timer(&n->succ.fd[i], now);
    if (misses < n->cfg.misses) cdht_witness_cancel(n, i); /* it answered after all */
    if (misses >= n->cfg.misses && !cdht_witness_verdict_due(n, now, i)) continue;
    if (misses >= n->cfg.misses) {
      cdht_repair_successor_dead(n, now, i);
      i = -1; /* the slots moved: judge both again (a second death is judged by its own fd) */
    } else if (misses > 0 && n->succ.fd[i].lost > lost && n->succ.next_ping_ms >= now + n->cfg.ping_timeout_ms &&
               !n->cfg.classic_detector) {
      /* A ping went unanswered: probe again now rather than at the next tick.  The verdict
       * still waits for `misses` regular pings, but every probe in between must be lost too,
       * which turns 4 lost round trips into 7 with the defaults (§4). */
      send_ping(n, i, now, true);
    }
  }
}

void cdht_succ_on_timer(cdht_node *n, uint64_t now) {
  if (now >= n->succ.next_ping_ms) {
    send_pings(n, now);
    n->succ.next_ping_ms += n->cfg.ping_interval_ms;
    if (n->succ.next_ping_ms <= now) n->succ.next_ping_ms = now + n->cfg.ping_interval_ms; /* we slept */
  }
}

uint64_t cdht_succ_next_deadline(const cdht_node *n) {
  uint64_t t = n->succ.next_ping_ms;
  for (int i = 0; i < 2; i++) t = cdht_min_u64(t, cdht_fd_next_deadline(&n->succ.fd[i]));
  return t;
}

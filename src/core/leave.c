/* Graceful departure (§6), the leaver's side and its neighbours'; see leave.h. */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_leave_init(cdht_node *n) {
  n->leave.departed = cdht_peer_none();
  n->leave.depart_wait[0].peer = n->leave.depart_wait[1].peer = cdht_peer_none();
}

void cdht_leave_finish(cdht_node *n) {
  n->state = CDHT_LEFT;
  cdht_node_emit_peer(n, CDHT_EV_LEFT, cdht_peer_none(), NULL);
}

static bool handing_over(const cdht_node *n) {
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++)
    if (n->leave.ho[i].used) return true;
  return n->handover.to_joiners > 0;
}

static void send_keys_done(cdht_node *n, cdht_peer peer, uint32_t count, uint64_t token) {
  cdht_msg done = { .type = CDHT_MSG_KEYS_DONE, .seq = count, .token = token };
  cdht_node_send(n, CDHT_TCP, peer, &done);
}

static void check_leave_done(cdht_node *n) {
  if (n->state == CDHT_LEAVING && !n->leave.confirm[0].waiting && !n->leave.confirm[1].waiting) {
    for (unsigned i = 0; i < n->leave.nkeys_done_later; i++) {
      const struct cdht_keys_done_later *k = &n->leave.keys_done_later[i];
      send_keys_done(n, k->peer, k->count, k->token);
    }
    n->leave.nkeys_done_later = 0;
  }
  if (n->state == CDHT_LEAVING && !n->leave.confirm[0].waiting && !n->leave.confirm[1].waiting && !handing_over(n) &&
      !cdht_store_awaiting_content(n))
    cdht_leave_finish(n);
}

/* Runs handover |h| to our first successor: at once with the token it gave us, else once it
 * grants one (KEYS_OFFER, then KEYS_GRANT to our address; cdht_leave_on_keys_grant). */
static void run_leave_handover(cdht_node *n, uint64_t now, cdht_leave_ho *h) {
  h->running = true;
  h->id = ++n->handover.next_id;
  uint64_t token = cdht_handover_token_for(n, now, n->succ.id[0], true);
  if (!token) {
    h->granting = true;
    h->retry_ms = now + 4 * n->cfg.requery_ms;
    cdht_msg offer = { .type = CDHT_MSG_KEYS_OFFER, .key = h->lo };
    cdht_node_send(n, CDHT_TCP, n->succ.id[0], &offer);
    return;
  }
  h->granting = false;
  cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = n->succ.id[0], .seq = h->id, .lo = h->lo, .hi = h->hi,
                    .token = token };
  cdht_node_emit(n, ev);
}

/* Our first successor answers for the keys (lo, hi] from now on (§9).  Ranges already on their
 * way are not sent twice: the I/O layer sends again a file that changed while it was sent. */
cdht_leave_ho *cdht_leave_start_handover(cdht_node *n, uint64_t now, cdht_id lo, cdht_id hi) {
  cdht_leave_ho *free_slot = NULL;
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++) {
    cdht_leave_ho *h = &n->leave.ho[i];
    if (h->used && !h->running && h->lo == lo && h->hi == hi) return h; /* a retry will take it */
    if (!h->used && !free_slot) free_slot = h;
  }
  if (!free_slot) return NULL; /* more than we can follow: the files stay in the data directory */
  *free_slot = (cdht_leave_ho){ .used = true, .lo = lo, .hi = hi };
  run_leave_handover(n, now, free_slot);
  return free_slot;
}

void cdht_leave_start(cdht_node *n, uint64_t now) {
  cdht_id self = n->cfg.self;
  cdht_peer s1 = n->succ.id[0], s2 = n->succ.id[1];
  if (!cdht_known(s2) || cdht_is_self(n, s2)) s2 = s1;  /* a repair in flight, or a two-peer ring */
  /* Only predecessors that still ping us: a stale entry may name a peer long gone. */
  cdht_peer p1 = cdht_succ_pred_fresh(n, 0, now) ? n->succ.pred[0] : cdht_peer_none();
  cdht_peer p2 = cdht_succ_pred_fresh(n, 1, now) ? n->succ.pred[1] : cdht_peer_none();
  n->state = CDHT_LEAVING;
  n->leave.confirm[0].waiting = n->leave.confirm[1].waiting = false;
  n->leave.deadline_ms = now + n->cfg.leave_timeout_ms;
  if (!cdht_is_self(n, s1)) {
    /* Everything we hold goes, not only (p1, self]: content we hold for a key before p1 (a
     * predecessor we do not know yet, a race) would otherwise leave with us (simulator seed
     * 4424, fast profile with --store-races).  Our successor is the best holder left. */
    (void)p1;
    cdht_leave_ho *h = cdht_leave_start_handover(n, now, self, self);
    if (h) h->own = true;
  }
  bool has_p1 = cdht_known(p1) && !cdht_is_self(n, p1);
  if (has_p1) {
    /* The first predecessor takes our successors.  If it is our own first successor, the
     * ring is just the two of us and it stays alone. */
    cdht_msg m = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { s1, s2 } };
    if (cdht_same(s1, p1)) m.succ[1] = p1;
    cdht_node_send(n, CDHT_TCP, p1, &m);
    n->leave.confirm[0].peer = p1;
    n->leave.confirm[0].waiting = true;
  }
  if (cdht_known(p2) && !cdht_is_self(n, p2) && !cdht_same(p2, p1)) {
    if (has_p1) {
      /* The second predecessor keeps its first successor (our first predecessor). */
      cdht_msg m = { .type = CDHT_MSG_DEPART, .nsucc = 2, .succ = { p1, s1 } };
      cdht_node_send(n, CDHT_TCP, p2, &m);
      n->leave.confirm[1].peer = p2;
      n->leave.confirm[1].waiting = true;
    } else {
      cdht_node_emit_peer(n, CDHT_EV_LEAVE_UNCONFIRMED, p2, NULL);
    }
  }
  check_leave_done(n);
}

static void leave_target_gone(cdht_node *n, cdht_peer peer) {
  for (int i = 0; i < 2; i++) {
    if (n->leave.confirm[i].waiting && cdht_exact(n->leave.confirm[i].peer, peer)) { /* the record we told */
      n->leave.confirm[i].waiting = false;
      cdht_node_emit_peer(n, CDHT_EV_LEAVE_UNCONFIRMED, peer, NULL);
    }
  }
  check_leave_done(n);
}

/* A predecessor we told of our departure confirms it (§6). */
int cdht_leave_on_depart_ack(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
  /* By id: the predecessor answers at the record it holds of us, maybe of the other family than
   * ours of it.  The confirmation goes to our record of it, so whoever sent this in its name
   * learns nothing. */
  if (n->state != CDHT_LEAVING || !((n->leave.confirm[0].waiting && cdht_same(n->leave.confirm[0].peer, m->from)) ||
                                    (n->leave.confirm[1].waiting && cdht_same(n->leave.confirm[1].peer, m->from)))) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  cdht_peer to = cdht_peer_none();
  for (int i = 0; i < 2; i++)
    if (cdht_same(n->leave.confirm[i].peer, m->from)) {
      n->leave.confirm[i].waiting = false;
      to = n->leave.confirm[i].peer;
    }
  if (m->token) { /* it is really us leaving: the predecessor applies the departure now */
    cdht_msg yes = { .type = CDHT_MSG_DEPART_CONFIRM, .token = m->token };
    cdht_node_send(n, CDHT_TCP, to, &yes);
  }
  check_leave_done(n);
  return 0;
}

void cdht_leave_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer) {
  (void)now;
  if (n->state == CDHT_LEAVING && cdht_known(peer)) leave_target_gone(n, peer);
}

static void apply_departure(cdht_node *n, uint64_t now, cdht_peer from, cdht_peer a, cdht_peer b);

/* A successor says it leaves: answered with a token that only the peer at its address sees; the
 * departure counts once it echoes it (a DEPART in the name of a peer that stays changes
 * nothing). */
int cdht_leave_on_depart(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg ack = { .type = CDHT_MSG_DEPART_ACK };
  if (cdht_same(m->from, n->leave.departed)) { /* a repeat: acknowledge again, change nothing */
    cdht_node_send(n, CDHT_TCP, n->leave.departed, &ack);
    return 0;
  }
  if (!cdht_same(m->from, n->succ.id[0]) && !cdht_same(m->from, n->succ.id[1])) {
    cdht_node_drop(n, CDHT_DROP_ROLE);
    return CDHT_ERR_ROLE;
  }
  /* The token goes to the successor as we know it, not to the address this message names: a
   * party that only claims its id never sees it, so cannot confirm in its name. */
  cdht_peer s = cdht_same(m->from, n->succ.id[0]) ? n->succ.id[0] : n->succ.id[1];
  cdht_peer a = m->nsucc >= 1 ? m->succ[0] : cdht_peer_none(), b = m->nsucc >= 2 ? m->succ[1] : cdht_peer_none();
  if (!cdht_known(a) || !cdht_known(b) || cdht_same(a, m->from) || cdht_same(b, m->from)) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  int slot = cdht_same(n->leave.depart_wait[0].peer, m->from)   ? 0
           : cdht_same(n->leave.depart_wait[1].peer, m->from) ? 1
                                                               : -1;
  for (int i = 0; i < 2 && slot < 0; i++)
    if (!cdht_known(n->leave.depart_wait[i].peer) || now >= n->leave.depart_wait[i].until_ms) slot = i;
  if (slot < 0) slot = cdht_same(m->from, n->succ.id[0]) ? 0 : 1; /* both taken: ours are at most two successors */
  n->leave.depart_wait[slot].peer = m->from;
  n->leave.depart_wait[slot].succ[0] = a;
  n->leave.depart_wait[slot].succ[1] = b;
  n->leave.depart_wait[slot].token = ack.token = cdht_node_unguessable(n);
  n->leave.depart_wait[slot].until_ms = now + n->cfg.leave_timeout_ms;
  cdht_node_send(n, CDHT_TCP, s, &ack);
  return 0;
}

int cdht_leave_on_depart_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (!cdht_same(n->leave.depart_wait[i].peer, m->from) || now >= n->leave.depart_wait[i].until_ms) continue;
    if (m->token != n->leave.depart_wait[i].token) { cdht_node_drop(n, CDHT_DROP_TOKEN); return CDHT_ERR_STALE; }
    n->leave.depart_wait[i].peer = cdht_peer_none();
    if (!cdht_same(m->from, n->succ.id[0]) && !cdht_same(m->from, n->succ.id[1])) {
      cdht_node_drop(n, CDHT_DROP_STALE);
      return CDHT_ERR_STALE;
    }
    apply_departure(n, now, m->from, n->leave.depart_wait[i].succ[0], n->leave.depart_wait[i].succ[1]);
    return 0;
  }
  cdht_node_drop(n, CDHT_DROP_UNASKED);
  return CDHT_ERR_STALE;
}

static void apply_departure(cdht_node *n, uint64_t now, cdht_peer from, cdht_peer a, cdht_peer b) {
  if (cdht_is_self(n, a)) b = n->self; /* alone now */
  cdht_node_emit_peer(n, CDHT_EV_DEPARTING, from, NULL);
  n->leave.departed = from;
  cdht_succ_log_gone(n, from.id, now);
  cdht_repair_stop(n);
  for (int i = 0; i < 2; i++)
    if (cdht_same(n->succ.pred[i], from)) n->succ.pred[i] = cdht_peer_none(); /* it precedes us too: a small ring */
  /* Neighbours leaving at once hand on each other: never take a peer we know has just gone. */
  uint64_t recent = now > 2 * cdht_node_detect_ms(n) ? now - 2 * cdht_node_detect_ms(n) : 0;
  cdht_peer gone = cdht_peer_none();
  if (!cdht_is_self(n, a) && cdht_succ_maybe_gone(n, a.id, recent)) { gone = a; a = b; b = cdht_peer_none(); }
  if (!cdht_is_self(n, b) && cdht_known(b) && cdht_succ_maybe_gone(n, b.id, recent)) { gone = b; b = cdht_peer_none(); }
  if (!cdht_known(a) || (!cdht_is_self(n, a) && cdht_succ_maybe_gone(n, a.id, recent))) {
    cdht_node_emit_peer(n, CDHT_EV_RING_BROKEN, from, NULL);
    a = b = n->self;
  }
  cdht_succ_take(n, now, a, !cdht_known(b) ? a : b, from, gone);
}

/* A giver offers us its keys: a token to its address if it is a neighbour handing over (our
 * predecessor pinging us, or one that just departed); its transfers must carry it. */
int cdht_leave_on_keys_offer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  /* A leaving predecessor stops pinging when it starts to leave, and may offer again (a retry)
   * up to its leave timeout later. */
  uint64_t window = cdht_node_detect_ms(n) + n->cfg.leave_timeout_ms;
  bool pred = false;
  cdht_peer to = cdht_peer_none(); /* the record we hold: the grant goes there, not to m->from */
  for (int i = 0; i < 2; i++)
    if (!pred && cdht_same(n->succ.pred[i], m->from) && now - n->succ.pred_heard_ms[i] <= window) {
      pred = true;
      to = n->succ.pred[i];
    }
  /* A predecessor that quits tells its own predecessors too, whose pings may take its slot
   * before its offer arrives (found by the simulator: seed 47, and seed 125 with --store-races):
   * a displaced one still offers for a detection period after its last ping. */
  if (!pred && cdht_same(n->succ.pred_was1, m->from) && now - n->succ.pred_was1_ms <= cdht_node_detect_ms(n)) {
    pred = true;
    to = n->succ.pred_was1;
  }
  if (!pred && cdht_same(n->succ.pred_was2, m->from) && now - n->succ.pred_was2_ms <= cdht_node_detect_ms(n)) {
    pred = true;
    to = n->succ.pred_was2;
  }
  if (!pred && cdht_same(m->from, n->leave.departed)) {
    pred = true;
    to = n->leave.departed;
  }
  /* Neighbours that leave together make our predecessor slots change hands more than once while
   * an offer is on its way (simulator seed 449, --store-races with lists and fingers): any
   * predecessor displaced within the window may offer. */
  if (!pred) {
    to = cdht_succ_former_pred(n, now, m->from, window);
    pred = cdht_known(to);
  }
  if (!pred) { cdht_node_drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  cdht_msg yes = { .type = CDHT_MSG_KEYS_GRANT, .token = cdht_handover_grant_in(n, now, to, false, m->key) };
  cdht_node_send(n, CDHT_TCP, to, &yes);
  return 0;
}

/* Our successor's token: our handovers waiting for it go now. */
int cdht_leave_on_keys_grant(cdht_node *n, uint64_t now, const cdht_msg *m) {
  bool waited = false;
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++) {
    cdht_leave_ho *h = &n->leave.ho[i];
    /* By id: our successor answers at its record of us, maybe of the other family than ours of
     * it.  The files go to our record of it, never to the address this message names. */
    if (!h->used || !h->running || !h->granting || !cdht_same(m->from, n->succ.id[0])) continue;
    if (!waited) cdht_handover_grant_out(n, now, n->succ.id[0], true, m->token);
    waited = true;
    h->granting = false;
    cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = n->succ.id[0], .seq = h->id, .lo = h->lo, .hi = h->hi,
                      .token = m->token };
    cdht_node_emit(n, ev);
  }
  if (!waited) { cdht_node_drop(n, CDHT_DROP_UNASKED); return CDHT_ERR_STALE; }
  return 0;
}

int cdht_node_on_handover_done(cdht_node *n, uint64_t now, cdht_peer peer, uint32_t id, uint32_t count,
                               uint32_t failed) {
  if (!cdht_known(peer) || !cdht_node_valid_id(n, peer.id) || cdht_is_self(n, peer)) return CDHT_ERR_INVAL;
  cdht_leave_ho *h = NULL;
  for (int i = 0; i < CDHT_LEAVE_HO_MAX && !h; i++)
    if (n->leave.ho[i].used && n->leave.ho[i].running && n->leave.ho[i].id == id) h = &n->leave.ho[i];
  /* A quit always says how many went (the classic "0 files handed over"); the rest only when
   * there were some. */
  if ((h && h->own) || count > 0) {
    bool confirming = n->state == CDHT_LEAVING && (n->leave.confirm[0].waiting || n->leave.confirm[1].waiting);
    if (!confirming || n->leave.nkeys_done_later == CDHT_LEAVE_HO_MAX) {
      send_keys_done(n, peer, count, cdht_handover_token_for(n, now, peer, h != NULL));
    } else {
      n->leave.keys_done_later[n->leave.nkeys_done_later].token = cdht_handover_token_for(n, now, peer, h != NULL);
      n->leave.keys_done_later[n->leave.nkeys_done_later].peer = peer;
      n->leave.keys_done_later[n->leave.nkeys_done_later++].count = count;
    }
    cdht_event ev = { .kind = CDHT_EV_HANDED_OVER, .peer = peer, .seq = count };
    cdht_node_emit(n, ev);
  }
  if (!h) {
    cdht_handover_to_joiner_done(n, now, peer, failed);
    return 0;
  }
  if (failed > 0) cdht_handover_grant_out(n, now, peer, true, 0); /* refused, maybe for our token: ask for a new one */
  if (failed > 0 && now < n->leave.deadline_ms) {
    /* Kept here: try again, with whoever is our successor then (a neighbour leaving at the same
     * time refuses, or is gone, and its departure names our next successor). */
    h->running = false;
    h->own = false; /* its line is said */
    h->retry_ms = !cdht_same(n->succ.id[0], peer) ? now : now + n->cfg.requery_ms;
  } else {
    h->used = false;
  }
  if (n->leave.pass_all && !h->used && n->state == CDHT_LEAVING && now < n->leave.deadline_ms) {
    n->leave.pass_all = false; /* the I/O layer skips files already on their way */
    cdht_leave_start_handover(n, now, n->cfg.self, n->cfg.self);
  }
  check_leave_done(n);
  return 0;
}

void cdht_leave_on_timer(cdht_node *n, uint64_t now) {
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++) {
    cdht_leave_ho *h = &n->leave.ho[i];
    if (!h->used || h->running) continue;
    if (now >= n->leave.deadline_ms || cdht_is_self(n, n->succ.id[0]) || !cdht_known(n->succ.id[0]))
      h->used = false; /* given up: the files stay in our data directory */
    else if (now >= h->retry_ms)
      run_leave_handover(n, now, h);
  }
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++) { /* no grant yet: offer again (our successor may have changed) */
    cdht_leave_ho *h = &n->leave.ho[i];
    if (!h->used || !h->running || !h->granting) continue;
    if (now >= n->leave.deadline_ms) h->used = false;
    else if (now >= h->retry_ms) run_leave_handover(n, now, h);
  }
  if (now >= n->leave.deadline_ms) {
    cdht_store_stop_awaiting(n); /* too late: the storer is told it failed */
    for (int i = 0; i < 2; i++)
      if (n->leave.confirm[i].waiting) leave_target_gone(n, n->leave.confirm[i].peer);
  }
  /* The content may take longer than the confirmations: its transfers end on their own. */
  check_leave_done(n);
}

uint64_t cdht_leave_next_deadline(const cdht_node *n) {
  bool waiting = n->leave.confirm[0].waiting || n->leave.confirm[1].waiting || cdht_store_awaiting_content(n);
  uint64_t t = waiting ? n->leave.deadline_ms : CDHT_NEVER;
  for (int i = 0; i < CDHT_LEAVE_HO_MAX; i++)
    if (n->leave.ho[i].used && (!n->leave.ho[i].running || n->leave.ho[i].granting))
      t = cdht_min_u64(t, cdht_min_u64(n->leave.ho[i].retry_ms, n->leave.deadline_ms));
  return t;
}

/* Kill repair (§5). */
#include "node_internal.h"

#include "cdht/err.h"

static void send_query(cdht_node *n, uint64_t now) {
  cdht_msg m = { .type = CDHT_MSG_SUCC_QUERY, .seq = ++n->next_qid };
  cdht_node_send(n, CDHT_TCP, n->succ.id[0], &m);
  n->repair.next_ms = now + n->cfg.requery_ms;
}

void cdht_repair_start(cdht_node *n, uint64_t now, cdht_peer dead) {
  if (!n->repair.active) {
    n->repair.active = true;
    n->repair.avoid[0] = n->repair.avoid[1] = cdht_peer_none();
    n->repair.first_qid = n->next_qid + 1;
    n->repair.started_ms = now;
    n->repair.unheard = cdht_peer_none();
  }
  n->repair.avoid[cdht_known(n->repair.avoid[0]) ? 1 : 0] = dead;
  send_query(n, now);
}

void cdht_repair_successor_dead(cdht_node *n, uint64_t now, int slot) {
  cdht_peer dead = n->succ.id[slot];
  bool never = n->succ.heard_ms[slot] == CDHT_NEVER; /* it never answered a ping of ours */
  cdht_node_emit_peer(n, CDHT_EV_PEER_DEAD, dead, NULL);
  cdht_succ_log_gone(n, dead.id, now);
  cdht_fingers_forget(n, dead);
  /* With a successor list, the next live entry takes the place at once: nothing to ask.  Our new
   * first successor is asked for its list straight away (it may have died with the one before it;
   * a refused connection says so without waiting for its pings). */
  cdht_peer next = cdht_succ_next_live(n, now);
  if (cdht_known(next)) {
    cdht_peer keep = n->succ.id[slot == 0 ? 1 : 0];
    if (slot == 0 && !cdht_known(keep)) { /* the second was pending: the list gives both */
      cdht_peer first = next;
      cdht_succ_forget(n, first);
      cdht_peer second = cdht_succ_next_live(n, now);
      n->repair.active = false;
      cdht_succ_set(n, now, first, cdht_known(second) ? second : cdht_peer_none());
      cdht_succ_emit(n);
      if (!cdht_known(second)) cdht_repair_start(n, now, dead);
      else cdht_stabilize_now(n, now);
      return;
    }
    if (!cdht_is_self(n, keep)) {
      cdht_succ_set(n, now, slot == 0 ? keep : n->succ.id[0], next);
      cdht_succ_emit(n);
      if (slot == 0 && !n->repair.active) cdht_stabilize_now(n, now);
      return;
    }
  }
  if (slot == 0) {
    if (!cdht_known(n->succ.id[1])) {
      /* Both successors lost before the repair finished: with two successors the ring
       * cannot be mended from here (§5).  Say so and carry on as a ring of one.  If neither
       * ever answered, they did not die: they were never there (a peer started alone). */
      if (never && n->repair.active && cdht_known(n->repair.unheard)) {
        cdht_event ev = { .kind = CDHT_EV_NEVER_ANSWERED, .peer = dead, .succ = { n->repair.unheard, dead } };
        cdht_node_emit(n, ev);
      } else {
        cdht_node_emit_peer(n, CDHT_EV_RING_BROKEN, dead, NULL);
      }
      n->repair.active = false;
      cdht_succ_set(n, now, n->self, n->self);
      cdht_succ_emit(n);
      return;
    }
    if (cdht_is_self(n, n->succ.id[1])) { /* a two-peer ring loses its other peer */
      n->repair.active = false;
      cdht_succ_set(n, now, n->self, n->self);
      cdht_succ_emit(n);
      return;
    }
    cdht_succ_set(n, now, n->succ.id[1], cdht_peer_none()); /* move the second successor up */
  } else {
    cdht_succ_set(n, now, n->succ.id[0], cdht_peer_none());
  }
  bool fresh = !n->repair.active;
  cdht_repair_start(n, now, dead);
  if (fresh && never) n->repair.unheard = dead;
  else if (!never) n->repair.unheard = cdht_peer_none();
}

int cdht_repair_on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (!n->repair.active || !cdht_exact(m->from, n->succ.id[0]) || (int32_t)(m->seq - n->repair.first_qid) < 0) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  cdht_peer a = m->nsucc ? m->succ[0] : cdht_peer_none();
  if (!cdht_known(a)) { cdht_node_drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  /* Never adopt a dead peer: a first successor that has not repaired yet names it, and its
   * own name as its successor means it has not caught up either; ask again later.  But a
   * successor that still names the peer a whole detection period later has kept hearing from
   * it: the peer is alive and our verdict was a false one (lost pings), so take it back. */
  bool vouched = now - n->repair.started_ms > cdht_node_detect_ms(n) + n->cfg.ping_interval_ms;
  /* Nor one we declared dead a little earlier: with a successor list a refused connection tells us
   * of a death before the pings of the peer we ask have. */
  uint64_t recent = now > cdht_node_detect_ms(n) ? now - cdht_node_detect_ms(n) : 0;
  bool gone = cdht_same(a, n->repair.avoid[0]) || cdht_same(a, n->repair.avoid[1]) ||
              cdht_succ_maybe_gone(n, a.id, recent);
  if (cdht_same(a, n->succ.id[0]) || (gone && !vouched)) return 0;
  n->repair.active = false;
  cdht_succ_set(n, now, n->succ.id[0], a);
  cdht_succ_emit(n);
  return 0;
}

void cdht_repair_stop(cdht_node *n) { n->repair.active = false; }

void cdht_repair_on_timer(cdht_node *n, uint64_t now) {
  if (n->repair.active && now >= n->repair.next_ms) send_query(n, now);
}

uint64_t cdht_repair_next_deadline(const cdht_node *n) {
  return n->repair.active ? n->repair.next_ms : CDHT_NEVER;
}

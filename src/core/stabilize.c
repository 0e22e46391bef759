/* Stabilization (§8). */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_stabilize_now(cdht_node *n, uint64_t now) {
  n->stabilize.next_ms = now + n->cfg.stabilize_ms;
  if (cdht_is_self(n, n->succ.id[0]) && cdht_succ_pred_fresh(n, 0, now) && !cdht_is_self(n, n->succ.pred[0]) &&
      !cdht_succ_maybe_gone(n, n->succ.pred[0].id, n->succ.pred_heard_ms[0])) {
    /* Alone, yet someone pings us as its first successor: the ring has two peers again. */
    cdht_succ_set(n, now, n->succ.pred[0], n->self);
    cdht_succ_emit(n);
    return;
  }
  if (n->repair.active || cdht_is_self(n, n->succ.id[0]) || !cdht_known(n->succ.id[0])) return;
  cdht_msg q = { .type = CDHT_MSG_STAB_QUERY, .seq = n->stabilize.qid = ++n->next_qid };
  cdht_node_send(n, CDHT_TCP, n->succ.id[0], &q);
}

int cdht_stabilize_on_query(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg r = { .type = CDHT_MSG_STAB_REPLY, .seq = m->seq, .age_ms = CDHT_AGE_NEVER };
  r.nsucc = (uint8_t)cdht_succ_list(n, r.succ); /* the whole list: our predecessors build theirs from it */
  if (cdht_succ_pred_fresh(n, 0, now)) {
    r.about = n->succ.pred[0];
    r.age_ms = (uint32_t)(now - n->succ.pred_heard_ms[0]);
  }
  cdht_node_send(n, CDHT_TCP, m->from, &r);
  return 0;
}

/* Chord's stabilize: a peer that pings our first successor as its first successor, and stands
 * between us, is our new first successor (a joiner, a restarted peer, a peer we wrongly
 * declared dead).  Otherwise our second successor is our first successor's first. */
int cdht_stabilize_on_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (m->seq == 0 || !cdht_exact(m->from, n->succ.id[0]) || m->seq != n->stabilize.qid || n->repair.active ||
      n->state != CDHT_RUNNING) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  n->stabilize.qid = 0;
  cdht_peer s1 = n->succ.id[0], x = m->about, y = m->nsucc ? m->succ[0] : cdht_peer_none();
  uint64_t heard = m->age_ms == CDHT_AGE_NEVER || m->age_ms > now ? 0 : now - m->age_ms;
  if (cdht_known(x) && !cdht_is_self(n, x) && !cdht_same(x, s1) && cdht_node_between(n, n->cfg.self, x.id, s1.id) &&
      m->age_ms <= 2ull * n->cfg.ping_interval_ms && !cdht_succ_maybe_gone(n, x.id, heard)) {
    cdht_succ_set(n, now, x, s1);
    cdht_succ_emit(n);
    cdht_succ_learn(n, now, m->succ, m->nsucc); /* what follows s1 is its list */
    return 0;
  }
  uint64_t recent = now > cdht_node_detect_ms(n) ? now - cdht_node_detect_ms(n) : 0;
  if (!cdht_known(y) || cdht_same(y, s1) || cdht_succ_maybe_gone(n, y.id, recent)) return 0;
  if (cdht_same(y, n->succ.id[1])) {
    if (m->nsucc > 1) cdht_succ_learn(n, now, m->succ + 1, m->nsucc - 1u); /* the rest follows y */
    return 0;
  }
  if (cdht_is_self(n, y) && !cdht_is_self(n, n->succ.id[1])) { /* our successor's successor is us: a ring of two */
    cdht_succ_set(n, now, s1, n->self);
    cdht_succ_emit(n);
  } else if (!cdht_is_self(n, y)) {
    cdht_succ_set(n, now, s1, y);
    cdht_succ_emit(n);
    if (m->nsucc > 1) cdht_succ_learn(n, now, m->succ + 1, m->nsucc - 1u);
  }
  return 0;
}

void cdht_stabilize_on_timer(cdht_node *n, uint64_t now) {
  if (n->cfg.stabilize_ms && now >= n->stabilize.next_ms) cdht_stabilize_now(n, now);
}

uint64_t cdht_stabilize_next_deadline(const cdht_node *n) {
  return n->cfg.stabilize_ms ? n->stabilize.next_ms : CDHT_NEVER;
}

/* The witness (§4): a successor at the miss limit is judged with the word of the peers that
 * also hear from it, so that our path's losses do not kill a live peer. */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_witness_cancel(cdht_node *n, int i) { n->witness.suspect[i].active = false; }

/* Who can say when our successor in slot |i| was last heard from: the other peer that pings
 * it (for our first successor, our first predecessor; for our second successor, our first
 * successor) and, for our first successor, the peer it pings as its first successor (our
 * second successor).  Unknown or unusable slots are none. */
static void witnesses_for(const cdht_node *n, int i, uint64_t now, cdht_peer w[2]) {
  cdht_peer k = n->succ.id[i];
  w[0] = i == 0 ? (cdht_succ_pred_fresh(n, 0, now) ? n->succ.pred[0] : cdht_peer_none()) : n->succ.id[0];
  w[1] = i == 0 ? n->succ.id[1] : cdht_peer_none();
  for (int j = 0; j < 2; j++)
    if (cdht_is_self(n, w[j]) || cdht_same(w[j], k)) w[j] = cdht_peer_none();
  if (cdht_same(w[1], w[0])) w[1] = cdht_peer_none();
}

/* Called when the successor in slot |i| has missed enough pings.  Before a verdict, the
 * witnesses are asked when they last heard from that peer: lost datagrams on our path must
 * not kill a live peer.  Returns true when the verdict is due now: no witness, no vouching
 * answer in time, or every witness answered that it has not heard from the peer either. */
bool cdht_witness_verdict_due(cdht_node *n, uint64_t now, int i) {
  if (n->witness.suspect[i].active) return now >= n->witness.suspect[i].deadline_ms;
  cdht_peer w[2] = { cdht_peer_none(), cdht_peer_none() };
  if (!n->cfg.classic_detector) witnesses_for(n, i, now, w);
  if (!cdht_known(w[0]) && !cdht_known(w[1])) return true;
  n->witness.suspect[i].active = true;
  n->witness.suspect[i].qid = ++n->next_qid;
  n->witness.suspect[i].deadline_ms = now + n->cfg.ping_interval_ms;
  for (int j = 0; j < 2; j++) {
    n->witness.suspect[i].witness[j] = w[j];
    if (!cdht_known(w[j])) continue;
    cdht_msg q = { .type = CDHT_MSG_WITNESS_QUERY, .seq = n->witness.suspect[i].qid, .about = n->succ.id[i] };
    cdht_node_send(n, CDHT_TCP, w[j], &q);
    n->stats.witness_queries++;
  }
  return false;
}

/* A witness answers from the freshest thing it knows: the last answer to its own pings (the
 * peer is its successor) or the last ping it got from it (the peer is its predecessor). */
int cdht_witness_on_query(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_msg reply = { .type = CDHT_MSG_WITNESS_REPLY, .seq = m->seq, .about = m->about, .age_ms = CDHT_AGE_NEVER };
  uint64_t last = CDHT_NEVER;
  for (int i = 0; i < 2; i++) {
    if (cdht_known(m->about) && cdht_same(n->succ.id[i], m->about) && n->succ.heard_ms[i] != CDHT_NEVER &&
        (last == CDHT_NEVER || n->succ.heard_ms[i] > last))
      last = n->succ.heard_ms[i];
    if (cdht_known(m->about) && cdht_same(n->succ.pred[i], m->about) &&
        (last == CDHT_NEVER || n->succ.pred_heard_ms[i] > last))
      last = n->succ.pred_heard_ms[i];
  }
  if (last != CDHT_NEVER) {
    uint64_t age = now - last;
    reply.age_ms = age >= CDHT_AGE_NEVER ? CDHT_AGE_NEVER - 1 : (uint32_t)age;
  }
  cdht_node_send(n, CDHT_TCP, m->from, &reply);
  return 0;
}

/* A peer a witness heard from was alive then: our pings sent before that were lost on our
 * path, and only the misses since still count.  If fewer than `misses` remain, the verdict is
 * off.  One such witness is enough; otherwise the verdict waits for every witness asked, or
 * for the deadline. */
int cdht_witness_on_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  for (int i = 0; i < 2; i++) {
    if (!n->witness.suspect[i].active || n->witness.suspect[i].qid != m->seq || !cdht_same(n->succ.id[i], m->about))
      continue;
    int j = cdht_exact(n->witness.suspect[i].witness[0], m->from)   ? 0
          : cdht_exact(n->witness.suspect[i].witness[1], m->from) ? 1
                                                                  : -1;
    if (j < 0) continue;
    n->witness.suspect[i].witness[j] = cdht_peer_none();
    if (m->age_ms != CDHT_AGE_NEVER && m->age_ms <= now &&
        cdht_fd_vouch(&n->succ.fd[i], now - m->age_ms) < n->cfg.misses) {
      n->witness.suspect[i].active = false;
      n->stats.vouched++;
    } else if (!cdht_known(n->witness.suspect[i].witness[0]) && !cdht_known(n->witness.suspect[i].witness[1])) {
      n->witness.suspect[i].active = false;
      cdht_repair_successor_dead(n, now, i);
    }
    return 0;
  }
  cdht_node_drop(n, CDHT_DROP_STALE);
  return CDHT_ERR_STALE;
}

void cdht_witness_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer) {
  for (int i = 0; i < 2; i++) { /* a witness that is gone cannot vouch: judge without it */
    if (!n->witness.suspect[i].active || n->state != CDHT_RUNNING) continue;
    for (int j = 0; j < 2; j++)
      if (cdht_known(peer) && cdht_exact(n->witness.suspect[i].witness[j], peer)) /* the record we asked */
        n->witness.suspect[i].witness[j] = cdht_peer_none();
    if (!cdht_known(n->witness.suspect[i].witness[0]) && !cdht_known(n->witness.suspect[i].witness[1])) {
      n->witness.suspect[i].active = false;
      cdht_repair_successor_dead(n, now, i);
      i = -1; /* the slots may have moved */
    }
  }
}

uint64_t cdht_witness_next_deadline(const cdht_node *n) {
  uint64_t t = CDHT_NEVER;
  for (int i = 0; i < 2; i++)
    if (n->witness.suspect[i].active) t = cdht_min_u64(t, n->witness.suspect[i].deadline_ms);
  return t;
}

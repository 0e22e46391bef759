/* Joining (§8, §9), from every side; see join.h. */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_join_init(cdht_node *n) {
  n->join.keys_wait.peer = n->join.joiner.peer = n->join.change_wait.peer = cdht_peer_none();
}

/* The peer we join through: on the classic forms the peer of the rule at that address; else we
 * know only its address (its record says id 0 until it answers). */
static cdht_peer join_target(const cdht_node *n) {
  const cdht_config *c = &n->cfg;
  if (c->classic && c->join_via.family == CDHT_AF_INET && cdht_addr_ipv4(&c->join_via) == c->host &&
      c->join_via.port >= c->base_port)
    return cdht_config_peer(c, (cdht_id)(c->join_via.port - c->base_port));
  return cdht_peer_make(0, c->join_via);
}

void cdht_join_start(cdht_node *n, uint64_t now) {
  /* One request, no resend: TCP delivers it or the connection is refused, and a second copy
   * could meet the first one's success and be refused as a duplicate id. */
  n->succ.id[0] = n->succ.id[1] = cdht_peer_none(); /* none until the ring answers */
  /* Any peer of the ring may answer (the one that admits us), so this id is all that ties an
   * answer to our request: unguessable, or a stranger could answer for the ring (§2). */
  do n->join.seq = (uint32_t)cdht_node_unguessable(n);
  while (n->join.seq == 0);
  n->join.deadline_ms = now + n->cfg.join_timeout_ms;
  cdht_msg req = { .type = CDHT_MSG_JOIN_REQ, .origin = n->self, .seq = n->join.seq, .bits = n->cfg.bits,
                   .keys = n->cfg.keys };
  cdht_node_send(n, CDHT_TCP, join_target(n), &req);
}

static void join_failed(cdht_node *n, cdht_peer peer, cdht_join_failure why, uint8_t bits, uint8_t keys) {
  cdht_event ev = { .kind = CDHT_EV_JOIN_FAILED, .peer = peer, .reason = (uint8_t)why, .bits = bits, .keys = keys,
                    .our_bits = n->cfg.bits, .our_keys = n->cfg.keys,
                    .addr_only = !n->cfg.classic && (why == CDHT_JOIN_NO_ANSWER || why == CDHT_JOIN_TIMEOUT) };
  cdht_node_emit(n, ev);
  cdht_leave_finish(n);
}

void cdht_join_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer) {
  (void)now;
  if (n->state == CDHT_JOINING && cdht_addr_eq(&peer.addr, &n->cfg.join_via))
    join_failed(n, join_target(n), CDHT_JOIN_NO_ANSWER, 0, 0);
}

static void ask_about_joiner(cdht_node *n, uint64_t now);

int cdht_join_on_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_peer j = m->origin, s1 = n->succ.id[0], s2 = n->succ.id[1];
  /* A joiner with our id cannot even bind our port: such a request is forged or confused, and a
   * rejection would be addressed to ourselves. */
  if (cdht_is_self(n, j)) { cdht_node_drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  if (m->bits != n->cfg.bits || m->keys != n->cfg.keys) { /* another kind of ring: it cannot join ours */
    cdht_msg no = { .type = CDHT_MSG_JOIN_REJECT, .seq = m->seq, .reason = CDHT_REJECT_PARAMS, .bits = n->cfg.bits,
                    .keys = n->cfg.keys };
    cdht_node_send(n, CDHT_TCP, j, &no);
    return 0;
  }
  if (cdht_same(j, s1) || cdht_same(j, s2)) { /* that id is taken: tell the joiner, not the ring */
    cdht_msg no = { .type = CDHT_MSG_JOIN_REJECT, .seq = m->seq, .reason = CDHT_REJECT_TAKEN, .bits = n->cfg.bits,
                    .keys = n->cfg.keys };
    cdht_node_send(n, CDHT_TCP, j, &no);
    return 0;
  }
  if (!cdht_node_between(n, n->cfg.self, j.id, s1.id)) {
    if ((uint64_t)m->hops > n->mask || m->hops == UINT16_MAX) {
      cdht_node_drop(n, CDHT_DROP_LOOP);
      return CDHT_ERR_LOOP;
    }
    cdht_msg fwd = *m;
    fwd.hops++;
    /* With fingers, straight to the closest peer we know before the joiner's id. */
    cdht_peer to = n->cfg.fingers ? cdht_route_preceding(n, j.id) : s1;
    cdht_node_send(n, CDHT_TCP, to, &fwd);
    cdht_event ev = { .kind = CDHT_EV_JOIN_FORWARDED, .peer = j, .finger = !cdht_same(to, s1), .succ = { to } };
    cdht_node_emit(n, ev);
    return 0;
  }
  /* The joiner lands between us and our first successor: it takes our successors, and once it
   * has answered from its own address we take it and our old first successor, and our first
   * predecessor takes us and the joiner.  One joiner at a time: another waits for its own
   * join to time out and tries again. */
  if (cdht_known(n->join.joiner.peer) && !cdht_same(n->join.joiner.peer, j) && now < n->join.joiner.until_ms) {
    cdht_node_drop(n, CDHT_DROP_QUEUE);
    return CDHT_ERR_BUSY;
  }
  cdht_msg yes = { .type = CDHT_MSG_JOIN_ACCEPT, .seq = m->seq, .nsucc = 2, .succ = { s1, s2 },
                   .about = n->repair.active ? n->repair.avoid[0] : cdht_peer_none(), .token = cdht_node_unguessable(n) };
  if (cdht_is_self(n, s1)) yes.succ[1] = j;                      /* we were alone */
  else if (cdht_is_self(n, s2) || !cdht_known(s2)) yes.succ[1] = cdht_is_self(n, s2) ? n->self : s1;
  n->join.joiner.peer = j;
  n->join.joiner.seq = m->seq;
  n->join.joiner.token = yes.token;
  n->join.joiner.until_ms = now + n->cfg.join_timeout_ms;
  cdht_node_send(n, CDHT_TCP, j, &yes);
  return 0;
}

int cdht_join_on_ack(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_peer j = m->from, s1 = n->succ.id[0];
  if (!cdht_same(j, n->join.joiner.peer) || m->seq != n->join.joiner.seq || now >= n->join.joiner.until_ms) {
    cdht_node_drop(n, CDHT_DROP_UNASKED);
    return CDHT_ERR_STALE;
  }
  if (m->token != n->join.joiner.token) { cdht_node_drop(n, CDHT_DROP_TOKEN); return CDHT_ERR_STALE; }
  n->join.joiner.peer = cdht_peer_none();
  if (cdht_same(j, s1)) return 0; /* taken already (stabilization met it first) */
  cdht_node_emit_peer(n, CDHT_EV_JOIN_RECEIVED, j, NULL);
  cdht_succ_set(n, now, j, cdht_is_self(n, s1) ? n->self : s1);
  cdht_succ_emit(n);
  if (cdht_same(n->join.keys_wait.peer, j) && cdht_is_self(n, n->join.keys_wait.about))
    ask_about_joiner(n, now); /* its KEYS_REQ came first */
  cdht_peer q = n->succ.pred[0];
  if (cdht_succ_pred_fresh(n, 0, now) && !cdht_same(q, j) && !cdht_is_self(n, q)) {
    cdht_msg change = { .type = CDHT_MSG_SUCC_CHANGE, .nsucc = 2, .succ = { n->self, j } };
    cdht_node_send(n, CDHT_TCP, q, &change);
  }
  return 0;
}

int cdht_join_on_answer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->state != CDHT_JOINING || m->seq != n->join.seq) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  if (m->type == CDHT_MSG_JOIN_REJECT) {
    join_failed(n, m->from, m->reason == CDHT_REJECT_PARAMS ? CDHT_JOIN_PARAMS : CDHT_JOIN_ID_TAKEN, m->bits, m->keys);
    return 0;
  }
  if (m->nsucc < 2 || !cdht_known(m->succ[0]) || !cdht_known(m->succ[1])) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  cdht_msg ack = { .type = CDHT_MSG_JOIN_ACK, .seq = m->seq, .token = m->token }; /* we are really here */
  cdht_node_send(n, CDHT_TCP, m->from, &ack);
  n->state = CDHT_RUNNING;
  cdht_node_emit_peer(n, CDHT_EV_JOIN_ACCEPTED, m->from, NULL);
  cdht_succ_take(n, now, m->succ[0], m->succ[1], m->about, cdht_peer_none());
  if (!cdht_is_self(n, n->succ.id[0])) { /* the keys (accepter, us] were our successor's until now */
    cdht_msg keys = { .type = CDHT_MSG_KEYS_REQ, .about = m->from,
                      .token = cdht_handover_grant_in(n, now, n->succ.id[0], true, m->from.id) };
    cdht_node_send(n, CDHT_TCP, n->succ.id[0], &keys);
  }
  n->succ.next_ping_ms = now;
  n->stabilize.next_ms = now + n->cfg.stabilize_ms;
  return 0;
}

/* Our first successor says it took a joiner: we ask it, at its address, for its first
 * successor, and take (it, the joiner) once it names the joiner (a SUCC_CHANGE in its name from
 * anyone else changes nothing). */
int cdht_join_on_succ_change(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (!cdht_same(m->from, n->succ.id[0])) { cdht_node_drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  if (m->nsucc < 2 || !cdht_known(m->succ[0]) || !cdht_known(m->succ[1]) || !cdht_same(m->succ[0], m->from)) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  /* Asked at the record we hold, not at the address this message names: a party that only
   * claims our successor's id never sees the question. */
  n->join.change_wait.peer = n->succ.id[0];
  n->join.change_wait.succ[0] = n->succ.id[0];
  n->join.change_wait.succ[1] = m->succ[1];
  do n->join.change_wait.qid = (uint32_t)cdht_node_unguessable(n);
  while (n->join.change_wait.qid == 0);
  n->join.change_wait.until_ms = now + n->cfg.leave_timeout_ms;
  cdht_msg q = { .type = CDHT_MSG_SUCC_QUERY, .seq = n->join.change_wait.qid };
  cdht_node_send(n, CDHT_TCP, n->join.change_wait.peer, &q);
  return 0;
}

/* The answer to that question: returns 1 if it was one (handled), 0 if not. */
static int on_change_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (!cdht_known(n->join.change_wait.peer) || m->seq != n->join.change_wait.qid ||
      !cdht_exact(m->from, n->join.change_wait.peer))
    return 0;
  n->join.change_wait.peer = cdht_peer_none();
  if (now >= n->join.change_wait.until_ms || !cdht_same(m->from, n->succ.id[0]) || m->nsucc < 1 ||
      !cdht_same(m->succ[0], n->join.change_wait.succ[1])) {
    cdht_node_drop(n, CDHT_DROP_STALE); /* it does not say so, or too late */
    return 1;
  }
  cdht_node_emit_peer(n, CDHT_EV_SUCC_CHANGE, m->from, NULL);
  cdht_repair_stop(n);
  /* The joiner as our successor knows it (it answered it at that address), not as the change said. */
  cdht_succ_take(n, now, n->join.change_wait.succ[0], m->succ[0], cdht_peer_none(), cdht_peer_none());
  return 1;
}

/* The joiner is admitted: its keys go to it, and its KEYS_REQ is served. */
static void give_keys(cdht_node *n, uint64_t now, cdht_peer joiner, cdht_peer about, uint64_t token) {
  cdht_succ_admitted(n, now, joiner);
  cdht_handover_give_joiner_keys(n, now, joiner, about, token);
  n->join.keys_wait.peer = cdht_peer_none();
}

static void ask_about_joiner(cdht_node *n, uint64_t now) {
  n->join.keys_wait.next_ms = now + n->cfg.requery_ms;
  if (cdht_is_self(n, n->join.keys_wait.about)) { /* we admit it ourselves: its JOIN_ACK may come later */
    if (cdht_same(n->succ.id[0], n->join.keys_wait.peer))
      give_keys(n, now, n->join.keys_wait.peer, n->join.keys_wait.about, n->join.keys_wait.token);
    return;
  }
  do n->join.keys_wait.qid = (uint32_t)cdht_node_unguessable(n);
  while (n->join.keys_wait.qid == 0);
  n->join.keys_wait.next_ms = now + n->cfg.requery_ms;
  cdht_msg q = { .type = CDHT_MSG_SUCC_QUERY, .seq = n->join.keys_wait.qid };
  cdht_node_send(n, CDHT_TCP, n->join.keys_wait.about, &q);
}

/* A joiner between |about| and us takes the keys (about, joiner] that were ours (§9) — but only
 * a joiner the ring admitted: |about|, asked at its address, must name it as its first
 * successor (it took it once the joiner answered at its own address, §8).  Its JOIN_ACK and
 * this request travel on different connections, so the question is asked again for a while. */
int cdht_join_on_keys_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  /* |about| is the joiner's predecessor: us too, if we were alone. */
  if (n->state != CDHT_RUNNING || !cdht_known(m->about) ||
      !cdht_node_between(n, m->about.id, m->from.id, n->cfg.self) || m->token == 0) {
    cdht_node_drop(n, CDHT_DROP_ROLE);
    return CDHT_ERR_ROLE;
  }
  /* |about| is asked at the record we hold of it (one of our predecessors, or us): a request
   * naming it at another address would have us ask whoever is there. */
  cdht_peer about = cdht_is_self(n, m->about) ? n->self : cdht_peer_none();
  /* the joiner's pings may have displaced it from our first slot already */
  const cdht_peer known[4] = { n->succ.pred[0], n->succ.pred[1], n->succ.pred_was1, n->succ.pred_was2 };
  for (int i = 0; i < 4 && !cdht_known(about); i++)
    if (cdht_same(known[i], m->about)) about = known[i];
  if (!cdht_known(about)) { cdht_node_drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  if (cdht_known(n->join.keys_wait.peer) && now < n->join.keys_wait.until_ms)
    cdht_node_drop(n, CDHT_DROP_UNASKED); /* replaced */
  n->join.keys_wait.peer = m->from;
  n->join.keys_wait.about = about;
  n->join.keys_wait.token = m->token;
  n->join.keys_wait.until_ms = now + cdht_node_detect_ms(n);
  ask_about_joiner(n, now);
  return 0;
}

/* The admitting peer's answer: returns 1 if it was one (handled), 0 if not. */
static int on_joiner_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (!cdht_known(n->join.keys_wait.peer) || m->seq != n->join.keys_wait.qid ||
      !cdht_exact(m->from, n->join.keys_wait.about))
    return 0;
  if (now < n->join.keys_wait.until_ms && m->nsucc >= 1 && cdht_same(m->succ[0], n->join.keys_wait.peer) &&
      n->state == CDHT_RUNNING)
    give_keys(n, now, n->join.keys_wait.peer, n->join.keys_wait.about, n->join.keys_wait.token);
  return 1; /* otherwise asked again at next_ms, until the deadline */
}

int cdht_join_on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  return on_change_confirm(n, now, m) || on_joiner_confirm(n, now, m);
}

void cdht_join_on_timer(cdht_node *n, uint64_t now) {
  if (n->state == CDHT_JOINING) {
    if (now >= n->join.deadline_ms) join_failed(n, join_target(n), CDHT_JOIN_TIMEOUT, 0, 0);
    return;
  }
  if (cdht_known(n->join.keys_wait.peer)) { /* a joiner's KEYS_REQ not confirmed yet */
    if (now >= n->join.keys_wait.until_ms) {
      n->join.keys_wait.peer = cdht_peer_none(); /* nobody admitted it: nothing handed over */
      cdht_node_drop(n, CDHT_DROP_UNASKED);
    } else if (now >= n->join.keys_wait.next_ms) {
      ask_about_joiner(n, now);
    }
  }
}

uint64_t cdht_join_next_deadline(const cdht_node *n) {
  if (n->state == CDHT_JOINING) return n->join.deadline_ms;
  if (!cdht_known(n->join.keys_wait.peer)) return CDHT_NEVER;
  return cdht_min_u64(n->join.keys_wait.next_ms, n->join.keys_wait.until_ms);
}

/* Joining (§8, §9), from every side; see join.h. */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_join_init(cdht_node *n) {
  n->join.keys_wait.peer = n->join.joiner.peer = n->join.change_wait.peer = CDHT_ID_NONE;
}

void cdht_join_start(cdht_node *n, uint64_t now) {
  /* One request, no resend: TCP delivers it or the connection is refused, and a second copy
   * could meet the first one's success and be refused as a duplicate id. */
  n->succ.id[0] = n->succ.id[1] = CDHT_ID_NONE; /* none until the ring answers */
  n->join.seq = 1;
  n->join.deadline_ms = now + n->cfg.join_timeout_ms;
  cdht_msg req = { .type = CDHT_MSG_JOIN_REQ, .origin = n->cfg.self, .seq = n->join.seq };
  cdht_node_send(n, CDHT_TCP, n->cfg.join_via, &req);
}

static void join_failed(cdht_node *n, cdht_id peer, cdht_join_failure why) {
  cdht_event ev = { .kind = CDHT_EV_JOIN_FAILED, .peer = peer, .reason = (uint8_t)why };
  cdht_node_emit(n, ev);
  cdht_leave_finish(n);
}

void cdht_join_on_unreachable(cdht_node *n, uint64_t now, cdht_id peer) {
  (void)now;
  if (n->state == CDHT_JOINING && peer == n->cfg.join_via) join_failed(n, peer, CDHT_JOIN_NO_ANSWER);
}

static void ask_about_joiner(cdht_node *n, uint64_t now);

int cdht_join_on_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id self = n->cfg.self, j = m->origin, s1 = n->succ.id[0], s2 = n->succ.id[1];
  /* A joiner with our id cannot even bind our port: such a request is forged or confused, and a
   * rejection would be addressed to ourselves. */
  if (!cdht_node_valid_id(n, j) || j == self) { cdht_node_drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  if (j == s1 || j == s2) { /* that id is taken: tell the joiner, not the ring */
    cdht_msg no = { .type = CDHT_MSG_JOIN_REJECT, .seq = m->seq };
    cdht_node_send(n, CDHT_TCP, j, &no);
    return 0;
  }
  if (!cdht_ring_between(self, j, s1, n->cfg.ring_size)) {
    if (m->hops >= n->cfg.ring_size || m->hops == UINT16_MAX) {
      cdht_node_drop(n, CDHT_DROP_LOOP);
      return CDHT_ERR_LOOP;
    }
    cdht_msg fwd = *m;
    fwd.hops++;
    cdht_node_send(n, CDHT_TCP, s1, &fwd);
    cdht_node_emit_peer(n, CDHT_EV_JOIN_FORWARDED, j, 0);
    return 0;
  }
  /* The joiner lands between us and our first successor: it takes our successors, and once it
   * has answered from its own address we take it and our old first successor, and our first
   * predecessor takes us and the joiner.  One joiner at a time: another waits for its own
   * join to time out and tries again. */
  if (n->join.joiner.peer != CDHT_ID_NONE && n->join.joiner.peer != j && now < n->join.joiner.until_ms) {
    cdht_node_drop(n, CDHT_DROP_QUEUE);
    return CDHT_ERR_BUSY;
  }
  cdht_msg yes = { .type = CDHT_MSG_JOIN_ACCEPT, .seq = m->seq, .succ = { s1, s2 },
                   .about = n->repair.active ? n->repair.avoid[0] : CDHT_ID_NONE, .token = cdht_node_unguessable(n) };
  if (s1 == self) yes.succ[1] = j;                               /* we were alone */
  else if (s2 == self || s2 == CDHT_ID_NONE) yes.succ[1] = s2 == self ? self : s1;
  n->join.joiner.peer = j;
  n->join.joiner.seq = m->seq;
  n->join.joiner.token = yes.token;
  n->join.joiner.until_ms = now + n->cfg.join_timeout_ms;
  cdht_node_send(n, CDHT_TCP, j, &yes);
  return 0;
}

int cdht_join_on_ack(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_id self = n->cfg.self, j = m->from, s1 = n->succ.id[0];
  if (j != n->join.joiner.peer || m->seq != n->join.joiner.seq || now >= n->join.joiner.until_ms) {
    cdht_node_drop(n, CDHT_DROP_UNASKED);
    return CDHT_ERR_STALE;
  }
  if (m->token != n->join.joiner.token) { cdht_node_drop(n, CDHT_DROP_TOKEN); return CDHT_ERR_STALE; }
  n->join.joiner.peer = CDHT_ID_NONE;
  if (j == s1) return 0; /* taken already (stabilization met it first) */
  cdht_node_emit_peer(n, CDHT_EV_JOIN_RECEIVED, j, 0);
  cdht_succ_set(n, now, j, s1 == self ? self : s1);
  cdht_succ_emit(n);
  if (n->join.keys_wait.peer == j && n->join.keys_wait.about == self)
    ask_about_joiner(n, now); /* its KEYS_REQ came first */
  cdht_id q = n->succ.pred[0];
  if (cdht_succ_pred_fresh(n, 0, now) && q != j && q != self) {
    cdht_msg change = { .type = CDHT_MSG_SUCC_CHANGE, .succ = { self, j } };
    cdht_node_send(n, CDHT_TCP, q, &change);
  }
  return 0;
}

int cdht_join_on_answer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->state != CDHT_JOINING || m->seq != n->join.seq) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  if (m->type == CDHT_MSG_JOIN_REJECT) {
    join_failed(n, m->from, CDHT_JOIN_ID_TAKEN);
    return 0;
  }
  if (!cdht_node_valid_id(n, m->succ[0]) || !cdht_node_valid_id(n, m->succ[1])) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  cdht_msg ack = { .type = CDHT_MSG_JOIN_ACK, .seq = m->seq, .token = m->token }; /* we are really here */
  cdht_node_send(n, CDHT_TCP, m->from, &ack);
  n->state = CDHT_RUNNING;
  cdht_node_emit_peer(n, CDHT_EV_JOIN_ACCEPTED, m->from, 0);
  cdht_id avoid = cdht_node_valid_id(n, m->about) ? m->about : CDHT_ID_NONE;
  cdht_succ_take(n, now, m->succ[0], m->succ[1], avoid, CDHT_ID_NONE);
  if (n->succ.id[0] != n->cfg.self) { /* the keys (accepter, us] were our successor's until now */
    cdht_msg keys = { .type = CDHT_MSG_KEYS_REQ, .about = m->from,
                      .token = cdht_handover_grant_in(n, now, n->succ.id[0], true, m->from) };
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
  if (m->from != n->succ.id[0]) { cdht_node_drop(n, CDHT_DROP_ROLE); return CDHT_ERR_ROLE; }
  if (!cdht_node_valid_id(n, m->succ[0]) || !cdht_node_valid_id(n, m->succ[1]) || m->succ[0] != m->from) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  n->join.change_wait.peer = m->from;
  n->join.change_wait.succ[0] = m->succ[0];
  n->join.change_wait.succ[1] = m->succ[1];
  do n->join.change_wait.qid = (uint32_t)cdht_node_unguessable(n);
  while (n->join.change_wait.qid == 0);
  n->join.change_wait.until_ms = now + n->cfg.leave_timeout_ms;
  cdht_msg q = { .type = CDHT_MSG_SUCC_QUERY, .seq = n->join.change_wait.qid };
  cdht_node_send(n, CDHT_TCP, m->from, &q);
  return 0;
}

/* The answer to that question: returns 1 if it was one (handled), 0 if not. */
static int on_change_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->join.change_wait.peer == CDHT_ID_NONE || m->seq != n->join.change_wait.qid ||
      m->from != n->join.change_wait.peer)
    return 0;
  n->join.change_wait.peer = CDHT_ID_NONE;
  if (now >= n->join.change_wait.until_ms || m->from != n->succ.id[0] || m->succ[0] != n->join.change_wait.succ[1]) {
    cdht_node_drop(n, CDHT_DROP_STALE); /* it does not say so, or too late */
    return 1;
  }
  cdht_node_emit_peer(n, CDHT_EV_SUCC_CHANGE, m->from, 0);
  cdht_repair_stop(n);
  cdht_succ_take(n, now, n->join.change_wait.succ[0], n->join.change_wait.succ[1], CDHT_ID_NONE, CDHT_ID_NONE);
  return 1;
}

/* The joiner is admitted: its keys go to it, and its KEYS_REQ is served. */
static void give_keys(cdht_node *n, uint64_t now, cdht_id joiner, cdht_id about, uint64_t token) {
  cdht_handover_give_joiner_keys(n, now, joiner, about, token);
  n->join.keys_wait.peer = CDHT_ID_NONE;
}

static void ask_about_joiner(cdht_node *n, uint64_t now) {
  n->join.keys_wait.next_ms = now + n->cfg.requery_ms;
  if (n->join.keys_wait.about == n->cfg.self) { /* we admit it ourselves: its JOIN_ACK may come later */
    if (n->succ.id[0] == n->join.keys_wait.peer)
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
  cdht_id self = n->cfg.self;
  /* |about| is the joiner's predecessor: us too, if we were alone. */
  if (n->state != CDHT_RUNNING || !cdht_node_valid_id(n, m->about) ||
      !cdht_ring_between(m->about, m->from, self, n->cfg.ring_size) ||
      m->from == self || m->token == 0) {
    cdht_node_drop(n, CDHT_DROP_ROLE);
    return CDHT_ERR_ROLE;
  }
  if (n->join.keys_wait.peer != CDHT_ID_NONE && now < n->join.keys_wait.until_ms)
    cdht_node_drop(n, CDHT_DROP_UNASKED); /* replaced */
  n->join.keys_wait.peer = m->from;
  n->join.keys_wait.about = m->about;
  n->join.keys_wait.token = m->token;
  n->join.keys_wait.until_ms = now + cdht_node_detect_ms(n);
  ask_about_joiner(n, now);
  return 0;
}

/* The admitting peer's answer: returns 1 if it was one (handled), 0 if not. */
static int on_joiner_confirm(cdht_node *n, uint64_t now, const cdht_msg *m) {
  if (n->join.keys_wait.peer == CDHT_ID_NONE || m->seq != n->join.keys_wait.qid || m->from != n->join.keys_wait.about)
    return 0;
  if (now < n->join.keys_wait.until_ms && m->succ[0] == n->join.keys_wait.peer && n->state == CDHT_RUNNING)
    give_keys(n, now, n->join.keys_wait.peer, n->join.keys_wait.about, n->join.keys_wait.token);
  return 1; /* otherwise asked again at next_ms, until the deadline */
}

int cdht_join_on_succ_reply(cdht_node *n, uint64_t now, const cdht_msg *m) {
  return on_change_confirm(n, now, m) || on_joiner_confirm(n, now, m);
}

void cdht_join_on_timer(cdht_node *n, uint64_t now) {
  if (n->state == CDHT_JOINING) {
    if (now >= n->join.deadline_ms) join_failed(n, n->cfg.join_via, CDHT_JOIN_TIMEOUT);
    return;
  }
  if (n->join.keys_wait.peer != CDHT_ID_NONE) { /* a joiner's KEYS_REQ not confirmed yet */
    if (now >= n->join.keys_wait.until_ms) {
      n->join.keys_wait.peer = CDHT_ID_NONE; /* nobody admitted it: nothing handed over */
      cdht_node_drop(n, CDHT_DROP_UNASKED);
    } else if (now >= n->join.keys_wait.next_ms) {
      ask_about_joiner(n, now);
    }
  }
}

uint64_t cdht_join_next_deadline(const cdht_node *n) {
  if (n->state == CDHT_JOINING) return n->join.deadline_ms;
  if (n->join.keys_wait.peer == CDHT_ID_NONE) return CDHT_NEVER;
  return cdht_min_u64(n->join.keys_wait.next_ms, n->join.keys_wait.until_ms);
}

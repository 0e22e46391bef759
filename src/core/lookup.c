/* Lookups (§3, §9): our requests and stores in flight, and the routing of everyone's. */
#include "node_internal.h"

#include <string.h>

#include "cdht/err.h"

/* Our own request ends here: we are responsible for |name|.  Says whether we hold it. */
static void emit_own_here(cdht_node *n, const cdht_name *name) {
  cdht_event ev = { .kind = CDHT_EV_FILE_HERE, .peer = n->self, .name = *name, .own = true,
                    .content = cdht_node_is_stored(n, name) };
  cdht_node_emit(n, ev);
}

/* Sends |r| by the route for its key (our first successor on the classic forms). */
static cdht_hop send_request(cdht_node *n, cdht_pending_req *r) {
  cdht_hop h = cdht_route_next(n, cdht_node_key_of(n, &r->name));
  cdht_msg m = { .type = r->store ? CDHT_MSG_STORE_REQ : CDHT_MSG_FILE_REQ, .origin = n->self, .seq = r->id,
                 .name = r->name, .flags = h.final ? CDHT_REQ_FINAL : 0 };
  cdht_node_send(n, CDHT_TCP, h.to, &m);
  r->to = h.to;
  return h;
}

/* Sends |r| again, and says so. */
static void resend(cdht_node *n, cdht_pending_req *r) {
  cdht_hop h = send_request(n, r);
  cdht_node_emit_peer(n, r->store ? CDHT_EV_STORE_RETRIED : CDHT_EV_REQUEST_RETRIED, h.to, &r->name);
}

/* Our first successor changed: a request may have gone to a dead peer, so it goes again.  A
 * peer left alone holds every key (§1), so it answers them itself instead. */
void cdht_lookup_on_new_first(cdht_node *n, uint64_t now, cdht_peer a) {
  for (size_t i = 0; n->lookup.reqs && i < CDHT_MAX_PENDING; i++) {
    cdht_pending_req *r = &n->lookup.reqs[i];
    if (!r->used || r->accepted) continue;
    if (!cdht_known(a)) continue; /* pending a repair: resent when a successor is known */
    if (cdht_is_self(n, a) && r->store) continue; /* the timer reports it: no one to hold it */
    if (cdht_is_self(n, a)) {
      /* Not resent: that would address ourselves, the message would be dropped as from
       * ourselves, and the request would end in a failure for a key we hold. */
      r->used = false;
      emit_own_here(n, &r->name);
      continue;
    }
    /* One whose time is up fails in the timer's pass (lookup_on_timer, at once): resent too, by
     * each of two deaths in one call, it would cost 3 events, past what node.h bounds. */
    if (now >= r->deadline_ms) continue;
    r->retry_ms = now + n->cfg.request_timeout_ms / 2;
    resend(n, r);
  }
}

cdht_pending_req *cdht_lookup_find(cdht_node *n, uint32_t id) {
  for (size_t i = 0; n->lookup.reqs && i < CDHT_MAX_PENDING; i++)
    if (n->lookup.reqs[i].used && n->lookup.reqs[i].id == id) return &n->lookup.reqs[i];
  return NULL;
}

int cdht_lookup_start(cdht_node *n, uint64_t now, const cdht_name *name, bool store) {
  if (!cdht_node_name_ok(n, name)) return CDHT_ERR_INVAL;
  cdht_id key = cdht_node_key_of(n, name);
  bool ours = cdht_is_self(n, n->succ.id[0]) ||
              (cdht_succ_pred_fresh(n, 0, now) && cdht_node_between(n, n->succ.pred[0].id, key, n->cfg.self));
  if (ours && !store) {
    emit_own_here(n, name); /* ours: answered locally, nothing sent */
    return 0;
  }
  if (!n->lookup.reqs) {
    n->lookup.reqs = n->mem.alloc(n->mem.ctx, CDHT_MAX_PENDING * sizeof *n->lookup.reqs);
    if (!n->lookup.reqs) return CDHT_ERR_NOMEM;
    memset(n->lookup.reqs, 0, CDHT_MAX_PENDING * sizeof *n->lookup.reqs);
  }
  cdht_pending_req *r = NULL;
  for (size_t i = 0; i < CDHT_MAX_PENDING && !r; i++)
    if (!n->lookup.reqs[i].used) r = &n->lookup.reqs[i];
  if (!r) return CDHT_ERR_BUSY;
  memset(r, 0, sizeof *r);
  r->used = true;
  r->store = store;
  r->name = *name;
  do r->id = (uint32_t)cdht_node_unguessable(n); /* an answer must come from someone who saw the request */
  while (r->id == 0 || cdht_lookup_find(n, r->id) != r);
  r->retry_ms = now + n->cfg.request_timeout_ms / 2;
  r->deadline_ms = now + n->cfg.request_timeout_ms;
  if (ours) { /* a store for a key we hold: accept it from ourselves */
    /* Nothing comes back from the ring for it: the I/O layer copies the file here and says
     * STORED itself (cdht_node_on_stored), or that it failed.  Holding a slot until the
     * transfer timeout would only let failed local copies fill the table (§7). */
    r->used = false;
    cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = n->self, .name = *name, .seq = r->id };
    cdht_node_emit(n, ev);
    ev.kind = CDHT_EV_STORE_UPLOAD;
    cdht_node_emit(n, ev);
    return 0;
  }
  cdht_hop h = send_request(n, r);
  if (!store) {
    cdht_event ev = { .kind = CDHT_EV_REQUEST_SENT, .peer = h.to, .name = *name, .seq = r->id, .finger = h.finger,
                      .hops = 1 };
    cdht_node_emit(n, ev);
  }
  return 0;
}

/* Passes request |m| on to |h|, remembering it (with fingers) in case |h| refuses the connection. */
static void forward(cdht_node *n, uint64_t now, const cdht_msg *m, cdht_hop h) {
  bool store = m->type == CDHT_MSG_STORE_REQ;
  cdht_msg fwd = { .type = m->type, .origin = m->origin, .seq = m->seq, .name = m->name,
                   .hops = (uint16_t)(m->hops + 1), .flags = h.final ? CDHT_REQ_FINAL : 0 };
  cdht_node_send(n, CDHT_TCP, h.to, &fwd);
  cdht_event ev = { .kind = store ? CDHT_EV_STORE_FORWARDED : CDHT_EV_REQUEST_FORWARDED, .peer = h.to,
                    .name = m->name, .finger = h.finger, .hops = (uint16_t)(fwd.hops + 1) };
  cdht_node_emit(n, ev);
  if (!n->cfg.fingers) return; /* one route only: nothing else to try */
  if (!n->lookup.fwd) {
    n->lookup.fwd = n->mem.alloc(n->mem.ctx, CDHT_FWD_LOG * sizeof *n->lookup.fwd);
    if (!n->lookup.fwd) return; /* then a refused hop is retried by the requester, later */
    memset(n->lookup.fwd, 0, CDHT_FWD_LOG * sizeof *n->lookup.fwd);
  }
  cdht_fwd *f = &n->lookup.fwd[n->lookup.fwd_next++ % CDHT_FWD_LOG];
  *f = (cdht_fwd){ .t_ms = now ? now : 1, .to = h.to, .type = (cdht_msg_type)m->type, .origin = m->origin,
                   .seq = m->seq, .hops = m->hops, .name = m->name };
}

void cdht_lookup_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer) {
  if (!n->cfg.fingers || n->state != CDHT_RUNNING || !cdht_known(n->succ.id[0]) || cdht_is_self(n, n->succ.id[0]))
    return;
  /* A hop that is still the route after the refusal (a successor with the classic two: its pings
   * decide, §4) is not tried again now: refused again, it would bring us back here without end.
   * The request's retry, or the verdict on that successor, moves it. */
  for (size_t i = 0; n->lookup.reqs && i < CDHT_MAX_PENDING; i++) {
    cdht_pending_req *r = &n->lookup.reqs[i];
    if (r->used && !r->accepted && now < r->deadline_ms && cdht_exact(r->to, peer) &&
        !cdht_exact(cdht_route_next(n, cdht_node_key_of(n, &r->name)).to, peer))
      resend(n, r);
  }
  for (size_t i = 0; n->lookup.fwd && i < CDHT_FWD_LOG; i++) {
    cdht_fwd *f = &n->lookup.fwd[i];
    if (!f->t_ms || !cdht_exact(f->to, peer)) continue;
    cdht_fwd was = *f;
    f->t_ms = 0;
    if (now - was.t_ms > n->cfg.request_timeout_ms) continue; /* its requester has given up */
    cdht_hop h = cdht_route_next(n, cdht_node_key_of(n, &was.name));
    if (cdht_exact(h.to, peer)) continue; /* as above: its requester retries */
    cdht_msg m = { .type = (uint8_t)was.type, .origin = was.origin, .seq = was.seq, .hops = was.hops, .name = was.name };
    forward(n, now, &m, h);
  }
}

void cdht_lookup_clear(cdht_node *n) {
  if (n->lookup.reqs) n->mem.free(n->mem.ctx, n->lookup.reqs);
  if (n->lookup.fwd) n->mem.free(n->mem.ctx, n->lookup.fwd);
  n->lookup.reqs = NULL;
  n->lookup.fwd = NULL;
}

int cdht_lookup_on_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  n->stats.requests_handled++;
  bool store = m->type == CDHT_MSG_STORE_REQ;
  bool own = cdht_is_self(n, m->origin);
  bool last = (m->flags & CDHT_REQ_FINAL) || cdht_is_self(n, n->succ.id[0]);
  /* A leaving peer's keys are its successor's from now on (§6): a store goes there, and so does a
   * request for a file this peer no longer holds. */
  bool passing = n->state == CDHT_LEAVING && !cdht_is_self(n, n->succ.id[0]) && cdht_known(n->succ.id[0]) && !own &&
                 (store || !cdht_node_is_stored(n, &m->name));
  if (last && store && n->state == CDHT_LEAVING && !passing) { /* leaving alone: nobody will hold it */
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_LEAVING;
  }
  if (last && !passing) {
    if (own) { /* our own request came round to us: we hold the file */
      cdht_pending_req *r = cdht_lookup_find(n, m->seq);
      if (!r || r->store != store || r->accepted) { /* a retry's copy */
        cdht_node_drop(n, CDHT_DROP_STALE);
        return CDHT_ERR_STALE;
      }
      if (store) {
        r->used = false; /* copied here by the I/O layer: nothing more to wait for (see cdht_lookup_start) */
        cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = n->self, .name = m->name, .seq = m->seq };
        cdht_node_emit(n, ev);
        ev.kind = CDHT_EV_STORE_UPLOAD;
        cdht_node_emit(n, ev);
        return 0;
      }
      r->used = false;
      emit_own_here(n, &m->name);
      return 0;
    }
    if (store) { /* the storer's content must carry this token (§9) */
      cdht_store_await(n, now, m->origin, m->seq);
      cdht_event ev = { .kind = CDHT_EV_STORE_ACCEPTED, .peer = m->origin, .name = m->name, .seq = m->seq,
                        .token = cdht_node_unguessable(n), .hops = cdht_hops_after(m->hops) };
      cdht_node_emit(n, ev);
      cdht_msg yes = { .type = CDHT_MSG_STORE_ACCEPT, .seq = m->seq, .name = m->name, .token = ev.token,
                       .hops = ev.hops };
      cdht_node_send(n, CDHT_TCP, m->origin, &yes);
      return 0;
    }
    bool content = cdht_node_is_stored(n, &m->name);
    uint16_t hops = cdht_hops_after(m->hops); /* the messages it took, this one included */
    cdht_event here = { .kind = CDHT_EV_FILE_HERE, .peer = n->self, .name = m->name, .hops = hops };
    cdht_node_emit(n, here);
    cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = m->seq, .name = m->name, .hops = hops,
                      .flags = content ? CDHT_RESP_CONTENT : 0, .token = content ? cdht_node_unguessable(n) : 0 };
    cdht_node_send(n, CDHT_TCP, m->origin, &resp);
    cdht_event ev = { .kind = CDHT_EV_RESPONSE_SENT, .peer = m->origin, .name = m->name, .content = content,
                      .seq = m->seq, .token = resp.token, .hops = hops };
    cdht_node_emit(n, ev);
    return 0;
  }
  /* A request that is back at its origin without having found its peer, or that has passed
   * more peers than the ring holds, is circling an inconsistent ring: stop it. */
  if (own || (uint64_t)m->hops > n->mask || m->hops >= UINT16_MAX - 1) {
    cdht_node_drop(n, CDHT_DROP_LOOP);
    return CDHT_ERR_LOOP;
  }
  if (last && passing && store) cdht_store_note_superseded(n, &m->name);
  if (!cdht_known(n->succ.id[0])) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; } /* joining */
  /* Passed on because we leave: our successor holds our keys now.  Else the route for the key. */
  cdht_hop h = last && passing ? (cdht_hop){ .to = n->succ.id[0], .final = true }
                               : cdht_route_next(n, cdht_node_key_of(n, &m->name));
  forward(n, now, m, h);
  return 0;
}

int cdht_lookup_on_response(cdht_node *n, const cdht_msg *m) {
  cdht_pending_req *r = cdht_lookup_find(n, m->seq);
  if (!r || r->store || !cdht_name_eq(&r->name, &m->name)) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  r->used = false;
  n->stats.answers++;
  n->stats.answer_hops += m->hops;
  cdht_event ev = { .kind = CDHT_EV_RESPONSE_RECEIVED, .peer = m->from, .name = m->name, .hops = m->hops,
                    .content = (m->flags & CDHT_RESP_CONTENT) != 0, .seq = m->seq, .token = m->token };
  cdht_node_emit(n, ev);
  return 0;
}

int cdht_lookup_on_store_answer(cdht_node *n, uint64_t now, const cdht_msg *m) {
  cdht_pending_req *r = cdht_lookup_find(n, m->seq);
  if (!r || !r->store || !cdht_name_eq(&r->name, &m->name) || (m->type == CDHT_MSG_STORE_ACCEPT) == r->accepted) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  if (m->type == CDHT_MSG_STORE_ACCEPT) { /* now the content goes, straight to that peer */
    r->accepted = true;
    r->deadline_ms = now + n->cfg.transfer_timeout_ms;
    cdht_event ev = { .kind = CDHT_EV_STORE_UPLOAD, .peer = m->from, .name = m->name, .seq = m->seq,
                      .token = m->token, .hops = m->hops };
    cdht_node_emit(n, ev);
    return 0;
  }
  /* The peer that accepted may have passed the content on while it left: |about| holds it now. */
  cdht_peer holder = m->about;
  if (!cdht_known(holder) || cdht_is_self(n, holder)) holder = m->from;
  r->used = false;
  cdht_node_emit_peer(n, CDHT_EV_STORED, holder, &m->name);
  return 0;
}

int cdht_node_on_upload_failed(cdht_node *n, uint64_t now, const cdht_name *name, uint32_t seq) {
  (void)now;
  cdht_pending_req *r = cdht_lookup_find(n, seq);
  if (!r || !r->store || !r->accepted || !cdht_name_eq(&r->name, name)) return CDHT_ERR_STALE;
  r->used = false; /* the I/O layer said why; no STORE_DONE can come for content that never arrived */
  return 0;
}

void cdht_lookup_on_timer(cdht_node *n, uint64_t now) {
  for (size_t i = 0; n->lookup.reqs && i < CDHT_MAX_PENDING; i++) {
    cdht_pending_req *r = &n->lookup.reqs[i];
    if (!r->used) continue;
    if (now >= r->deadline_ms) {
      r->used = false;
      cdht_event ev = { .kind = r->store ? CDHT_EV_STORE_FAILED : CDHT_EV_REQUEST_FAILED, .name = r->name,
                        .ms = r->accepted ? n->cfg.transfer_timeout_ms : n->cfg.request_timeout_ms,
                        .content = r->accepted, .seq = r->id };
      cdht_node_emit(n, ev);
    } else if (now >= r->retry_ms && !r->accepted) {
      r->retry_ms = r->deadline_ms;
      resend(n, r);
    }
  }
}

uint64_t cdht_lookup_next_deadline(const cdht_node *n) {
  uint64_t t = CDHT_NEVER;
  for (size_t i = 0; n->lookup.reqs && i < CDHT_MAX_PENDING; i++) {
    const cdht_pending_req *r = &n->lookup.reqs[i];
    if (r->used) t = cdht_min_u64(t, r->accepted ? r->deadline_ms : cdht_min_u64(r->retry_ms, r->deadline_ms));
  }
  return t;
}

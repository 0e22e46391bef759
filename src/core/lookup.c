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

static void send_request(cdht_node *n, cdht_pending_req *r) {
  cdht_id key = cdht_node_key_of(n, &r->name);
  cdht_msg m = { .type = r->store ? CDHT_MSG_STORE_REQ : CDHT_MSG_FILE_REQ, .origin = n->self, .seq = r->id,
                 .name = r->name };
  if (cdht_node_between(n, n->cfg.self, key, n->succ.id[0].id)) m.flags = CDHT_REQ_FINAL;
  cdht_node_send(n, CDHT_TCP, n->succ.id[0], &m);
}

/* Sends |r| again, to our first successor, and says so. */
static void resend(cdht_node *n, cdht_pending_req *r) {
  send_request(n, r);
  cdht_node_emit_peer(n, r->store ? CDHT_EV_STORE_RETRIED : CDHT_EV_REQUEST_RETRIED, n->succ.id[0], &r->name);
}

/* Our first successor changed: a request may have gone to a dead peer, so it goes again.  A
 * peer left alone holds every key (§1), so it answers them itself instead. */
void cdht_lookup_on_new_first(cdht_node *n, uint64_t now, cdht_peer a) {
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
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
    r->retry_ms = now + n->cfg.request_timeout_ms / 2;
    resend(n, r);
  }
}

cdht_pending_req *cdht_lookup_find(cdht_node *n, uint32_t id) {
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++)
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
  send_request(n, r);
  if (!store) {
    cdht_event ev = { .kind = CDHT_EV_REQUEST_SENT, .peer = n->succ.id[0], .name = *name, .seq = r->id };
    cdht_node_emit(n, ev);
  }
  return 0;
}

int cdht_lookup_on_request(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
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
                        .token = cdht_node_unguessable(n) };
      cdht_node_emit(n, ev);
      cdht_msg yes = { .type = CDHT_MSG_STORE_ACCEPT, .seq = m->seq, .name = m->name, .token = ev.token };
      cdht_node_send(n, CDHT_TCP, m->origin, &yes);
      return 0;
    }
    bool content = cdht_node_is_stored(n, &m->name);
    cdht_node_emit_peer(n, CDHT_EV_FILE_HERE, n->self, &m->name);
    cdht_msg resp = { .type = CDHT_MSG_FILE_RESP, .seq = m->seq, .name = m->name,
                      .flags = content ? CDHT_RESP_CONTENT : 0, .token = content ? cdht_node_unguessable(n) : 0 };
    cdht_node_send(n, CDHT_TCP, m->origin, &resp);
    cdht_event ev = { .kind = CDHT_EV_RESPONSE_SENT, .peer = m->origin, .name = m->name, .content = content,
                      .seq = m->seq, .token = resp.token };
    cdht_node_emit(n, ev);
    return 0;
  }
  /* A request that is back at its origin without having found its peer, or that has passed
   * more peers than the ring holds, is circling an inconsistent ring: stop it. */
  if (own || (uint64_t)m->hops > n->mask || m->hops == UINT16_MAX) {
    cdht_node_drop(n, CDHT_DROP_LOOP);
    return CDHT_ERR_LOOP;
  }
  cdht_msg fwd = *m;
  fwd.hops++;
  if (last && passing && store) cdht_store_note_superseded(n, &m->name);
  /* Passed on because we leave: our successor holds our keys now.  Else the usual rule. */
  uint64_t key = cdht_node_key_of(n, &m->name);
  if (!cdht_known(n->succ.id[0])) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; } /* joining */
  bool final = (last && passing) || cdht_node_between(n, n->cfg.self, key, n->succ.id[0].id);
  fwd.flags = final ? CDHT_REQ_FINAL : 0;
  cdht_node_send(n, CDHT_TCP, n->succ.id[0], &fwd);
  cdht_node_emit_peer(n, store ? CDHT_EV_STORE_FORWARDED : CDHT_EV_REQUEST_FORWARDED, n->succ.id[0], &m->name);
  return 0;
}

int cdht_lookup_on_response(cdht_node *n, const cdht_msg *m) {
  cdht_pending_req *r = cdht_lookup_find(n, m->seq);
  if (!r || r->store || !cdht_name_eq(&r->name, &m->name)) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_STALE; }
  r->used = false;
  cdht_event ev = { .kind = CDHT_EV_RESPONSE_RECEIVED, .peer = m->from, .name = m->name,
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
                      .token = m->token };
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
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
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
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
    const cdht_pending_req *r = &n->lookup.reqs[i];
    if (r->used) t = cdht_min_u64(t, r->accepted ? r->deadline_ms : cdht_min_u64(r->retry_ms, r->deadline_ms));
  }
  return t;
}

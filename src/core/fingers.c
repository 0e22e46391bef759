/* The finger table (Chord §4.3). */
#include "node_internal.h"

#include "cdht/err.h"

int cdht_fingers_init(cdht_node *n, uint64_t now) {
  n->fingers = (cdht_fingers){ .next_ms = now + (n->cfg.fix_fingers_ms ? n->cfg.fix_fingers_ms : n->cfg.stabilize_ms) };
  if (!n->cfg.fingers) return 0;
  n->fingers.f = n->mem.alloc(n->mem.ctx, (size_t)n->cfg.bits * sizeof *n->fingers.f);
  if (!n->fingers.f) return CDHT_ERR_NOMEM;
  for (unsigned i = 0; i < n->cfg.bits; i++) n->fingers.f[i] = cdht_peer_none();
  n->fingers.count = n->cfg.bits;
  return 0;
}

void cdht_fingers_clear(cdht_node *n) {
  if (n->fingers.f) n->mem.free(n->mem.ctx, n->fingers.f);
  n->fingers.f = NULL;
  n->fingers.count = 0;
}

static uint64_t interval(const cdht_node *n) {
  uint32_t ms = n->cfg.fix_fingers_ms ? n->cfg.fix_fingers_ms : n->cfg.stabilize_ms;
  return ms ? ms : CDHT_NEVER; /* neither: fingers stay as the list gives them */
}

uint64_t cdht_fingers_point(const cdht_node *n, unsigned i) {
  return (n->cfg.self + (UINT64_C(1) << i)) & n->mask;
}

void cdht_fingers_forget(cdht_node *n, cdht_peer p) {
  for (unsigned i = 0; i < n->fingers.count; i++)
    if (cdht_known(n->fingers.f[i]) && cdht_same(n->fingers.f[i], p)) n->fingers.f[i] = cdht_peer_none();
}

void cdht_fingers_forget_record(cdht_node *n, cdht_peer p) {
  for (unsigned i = 0; i < n->fingers.count; i++)
    if (cdht_known(n->fingers.f[i]) && cdht_exact(n->fingers.f[i], p)) n->fingers.f[i] = cdht_peer_none();
}

/* Refreshes fingers from fingers.next on: those whose point our successor list covers are read
 * off it; the first that lies beyond it is looked up, and the round waits for that answer. */
static void refresh(cdht_node *n, uint64_t now) {
  uint64_t every = interval(n);
  n->fingers.next_ms = every == CDHT_NEVER ? CDHT_NEVER : now + every;
  n->fingers.qid = 0; /* an unanswered lookup is given up: its finger keeps what it had */
  if (!cdht_known(n->succ.id[0]) || cdht_is_self(n, n->succ.id[0])) {
    for (unsigned i = 0; i < n->fingers.count; i++) n->fingers.f[i] = cdht_peer_none(); /* alone */
    return;
  }
  for (unsigned step = 0; step < n->fingers.count; step++) {
    unsigned i = n->fingers.next;
    n->fingers.next = (i + 1) % n->fingers.count;
    uint64_t point = cdht_fingers_point(n, i);
    if (cdht_succ_pred_fresh(n, 0, now) && cdht_node_between(n, n->succ.pred[0].id, point, n->cfg.self)) {
      n->fingers.f[i] = n->self; /* the point is ours (a small ring): no lookup would come back */
      continue;
    }
    cdht_peer owner = cdht_route_list_owner(n, point);
    if (cdht_known(owner)) { n->fingers.f[i] = owner; continue; }
    cdht_hop h = cdht_route_next(n, point);
    do n->fingers.qid = (uint32_t)cdht_node_unguessable(n); /* only a peer that saw the lookup answers it */
    while (n->fingers.qid == 0);
    n->fingers.asked = i;
    cdht_msg q = { .type = CDHT_MSG_FIND_REQ, .origin = n->self, .seq = n->fingers.qid, .key = point };
    cdht_node_send(n, CDHT_TCP, h.to, &q);
    n->stats.finger_lookups++;
    return;
  }
}

int cdht_fingers_on_find(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
  if (n->state != CDHT_RUNNING || !cdht_known(n->succ.id[0]) || m->key > n->mask) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  bool own = cdht_is_self(n, m->origin);
  if ((m->flags & CDHT_REQ_FINAL) || cdht_is_self(n, n->succ.id[0])) {
    if (own) { /* our own lookup came round to us: the point is ours (our predecessor was not known yet) */
      cdht_msg found = *m;
      found.from = n->self;
      return cdht_fingers_on_found(n, now, &found);
    }
    cdht_msg r = { .type = CDHT_MSG_FIND_RESP, .seq = m->seq, .key = m->key, .hops = cdht_hops_after(m->hops) };
    cdht_node_send(n, CDHT_TCP, m->origin, &r);
    return 0;
  }
  if (own || (uint64_t)m->hops >= n->mask || m->hops >= UINT16_MAX - 1) { /* circling an inconsistent ring */
    cdht_node_drop(n, CDHT_DROP_LOOP);
    return CDHT_ERR_LOOP;
  }
  cdht_hop h = cdht_route_next(n, m->key);
  cdht_msg fwd = *m;
  fwd.hops++;
  fwd.flags = h.final ? CDHT_REQ_FINAL : 0;
  cdht_node_send(n, CDHT_TCP, h.to, &fwd);
  return 0;
}

int cdht_fingers_on_found(cdht_node *n, uint64_t now, const cdht_msg *m) {
  (void)now;
  unsigned i = n->fingers.asked;
  if (n->fingers.qid == 0 || m->seq != n->fingers.qid || i >= n->fingers.count ||
      m->key != cdht_fingers_point(n, i)) {
    cdht_node_drop(n, CDHT_DROP_STALE);
    return CDHT_ERR_STALE;
  }
  cdht_peer x = m->from;
  /* The responsible peer is at or past the point.  One before it (between us and the point) is
   * not, and taking it would also hand it every later finger: the fill below counts "up to its
   * id" the long way round.  The lookup stays open for the real answer. */
  if (x.id != m->key && cdht_node_between(n, n->cfg.self, x.id, m->key)) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  n->fingers.qid = 0;
  n->fingers.f[i] = x;
  /* x is responsible for every later point up to its own id as well: those need no lookup. */
  uint64_t reach = cdht_ring_distance(m->key, x.id, n->mask);
  unsigned j = i + 1;
  for (; j < n->fingers.count && cdht_ring_distance(m->key, cdht_fingers_point(n, j), n->mask) <= reach; j++)
    n->fingers.f[j] = x;
  n->fingers.next = j % n->fingers.count;
  return 0;
}

void cdht_fingers_on_timer(cdht_node *n, uint64_t now) {
  if (n->fingers.count && now >= n->fingers.next_ms) refresh(n, now);
}

uint64_t cdht_fingers_next_deadline(const cdht_node *n) {
  return n->fingers.count ? n->fingers.next_ms : CDHT_NEVER;
}

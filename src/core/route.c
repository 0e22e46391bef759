/* Routing (§3). */
#include "node_internal.h"

static uint64_t dist(const cdht_node *n, uint64_t from, uint64_t to) { return (to - from) & n->mask; }

cdht_peer cdht_route_preceding(const cdht_node *n, uint64_t key) {
  cdht_peer best = n->succ.id[0];
  uint64_t want = dist(n, n->cfg.self, key), got = cdht_known(best) ? dist(n, n->cfg.self, best.id) : 0;
  if (got >= want) got = 0; /* the first successor is not before the key: any preceding peer is better */
  cdht_peer list[CDHT_SUCC_MAX];
  size_t k = cdht_succ_list(n, list);
  for (size_t i = 0; i < k + n->fingers.count; i++) {
    cdht_peer c = i < k ? list[i] : n->fingers.f[i - k];
    if (!cdht_known(c) || cdht_is_self(n, c)) continue;
    uint64_t d = dist(n, n->cfg.self, c.id);
    if (d < want && d > got) { best = c; got = d; }
  }
  return best;
}

cdht_hop cdht_route_next(const cdht_node *n, uint64_t key) {
  cdht_peer s1 = n->succ.id[0];
  cdht_hop h = { .to = s1 };
  if (!cdht_known(s1)) return h;
  if (!n->cfg.fingers) {
    h.final = cdht_node_between(n, n->cfg.self, key, s1.id);
    return h;
  }
  /* Final only for our first successor, the one peer we ping.  A key further on goes to the
   * closest peer before it, which decides with its own first successor: a list entry is not
   * told "final", since a peer that joined just before it is known to the peer it joined after
   * at once but to us only a stabilization round per entry later, and the entry would answer,
   * or accept a store, for a key that is the joiner's (§11). */
  if (cdht_node_between(n, n->cfg.self, key, s1.id)) {
    h.final = true;
    return h;
  }
  h.to = cdht_route_preceding(n, key);
  h.finger = !cdht_same(h.to, s1);
  return h;
}

cdht_peer cdht_route_list_owner(const cdht_node *n, uint64_t key) {
  cdht_peer list[CDHT_SUCC_MAX];
  size_t k = cdht_succ_list(n, list);
  uint64_t prev = n->cfg.self;
  for (size_t i = 0; i < k; i++) {
    if (!cdht_known(list[i]) || cdht_is_self(n, list[i])) break;
    if (cdht_node_between(n, prev, key, list[i].id)) return list[i];
    prev = list[i].id;
  }
  return cdht_peer_none();
}

/* Handover tokens (§9) and the handovers a node counts; see handover.h. */
#include "node_internal.h"

#include "cdht/err.h"

void cdht_handover_init(cdht_node *n) {
  for (int i = 0; i < CDHT_GRANTS; i++) n->handover.grants_in[i].peer = n->handover.grants_out[i].peer = cdht_peer_none();
}

/* A token for |peer| to hand us keys with; replaces its older one, else a free or the oldest slot. */
uint64_t cdht_handover_grant_in(cdht_node *n, uint64_t now, cdht_peer peer, bool joined, cdht_id about) {
  cdht_grant_in *in = n->handover.grants_in, *g = NULL;
  for (int i = 0; i < CDHT_GRANTS && !g; i++)
    if (cdht_known(in[i].peer) && cdht_same(in[i].peer, peer) && in[i].joined == joined) g = &in[i];
  /* Offered again (its first try failed): the same token, and the same time — stores that came
   * here since the first offer are newer than anything it holds. */
  if (g && !joined && now < g->until_ms && g->about == about) return g->token;
  for (int i = 0; i < CDHT_GRANTS && !g; i++)
    if (!cdht_known(in[i].peer) || now >= in[i].until_ms) g = &in[i];
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (!g || in[i].until_ms < g->until_ms) g = &in[i];
  *g = (cdht_grant_in){ .peer = peer, .about = about, .joined = joined, .token = cdht_node_unguessable(n),
                        .until_ms = now + n->cfg.transfer_timeout_ms, .granted_ms = now };
  return g->token;
}

const cdht_grant_in *cdht_handover_find_grant(const cdht_node *n, uint64_t now, cdht_peer peer, uint64_t token) {
  const cdht_grant_in *in = n->handover.grants_in;
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (cdht_known(in[i].peer) && cdht_same(in[i].peer, peer) && in[i].token == token && now < in[i].until_ms)
      return &in[i];
  return NULL;
}

void cdht_handover_grant_out(cdht_node *n, uint64_t now, cdht_peer peer, bool leave, uint64_t token) {
  cdht_grant_out *out = n->handover.grants_out;
  int k = 0;
  for (int i = 0; i < CDHT_GRANTS; i++) {
    if (cdht_known(out[i].peer) && cdht_same(out[i].peer, peer) && out[i].leave == leave) { k = i; break; }
    if (out[i].until_ms < out[k].until_ms) k = i;
  }
  out[k].peer = peer;
  out[k].leave = leave;
  out[k].token = token;
  out[k].until_ms = token ? now + n->cfg.transfer_timeout_ms : 0;
  out[k].since_ms = now;
}

/* The token |peer| gave us to hand it keys (ours when |leave|, else the keys it asked for), or 0. */
uint64_t cdht_handover_token_for(const cdht_node *n, uint64_t now, cdht_peer peer, bool leave) {
  const cdht_grant_out *out = n->handover.grants_out;
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (cdht_known(out[i].peer) && cdht_same(out[i].peer, peer) && out[i].leave == leave && now < out[i].until_ms)
      return out[i].token;
  return 0;
}

/* A joiner we handed keys to within the request timeout (a store accepted before its join has
 * its upload start by then), whose asked-for keys hold |key|, and that has not offered us its
 * keys since (it would be leaving, and the content ours to keep).  Sets *token to the token it
 * gave us; none if there is none. */
cdht_peer cdht_handover_recent_joiner(const cdht_node *n, uint64_t now, uint64_t key, uint64_t *token) {
  const cdht_grant_out *out = n->handover.grants_out;
  const cdht_grant_in *in = n->handover.grants_in;
  cdht_peer p = cdht_peer_none();
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (cdht_known(out[i].peer) && !out[i].leave && now < out[i].until_ms &&
        now - out[i].since_ms <= n->cfg.request_timeout_ms && cdht_node_between(n, out[i].about, key, out[i].peer.id)) {
      p = out[i].peer;
      *token = out[i].token;
    }
  if (!*token) return cdht_peer_none();
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (cdht_known(in[i].peer) && cdht_same(in[i].peer, p) && !in[i].joined && now < in[i].until_ms)
      return cdht_peer_none();
  return p;
}

void cdht_handover_give_joiner_keys(cdht_node *n, uint64_t now, cdht_peer joiner, cdht_peer about, uint64_t token) {
  cdht_grant_out *out = n->handover.grants_out;
  cdht_grant_in *in = n->handover.grants_in;
  cdht_handover_grant_out(n, now, joiner, false, token);
  for (int i = 0; i < CDHT_GRANTS; i++)
    if (cdht_known(out[i].peer) && cdht_same(out[i].peer, joiner) && !out[i].leave) out[i].about = about.id;
  for (int i = 0; i < CDHT_GRANTS; i++) /* it left once and is back: what it offered then is over */
    if (cdht_known(in[i].peer) && cdht_same(in[i].peer, joiner) && !in[i].joined) in[i].peer = cdht_peer_none();
  cdht_handover_to_joiner(n, joiner, about.id, joiner.id, token);
}

void cdht_handover_to_joiner(cdht_node *n, cdht_peer peer, cdht_id lo, cdht_id hi, uint64_t token) {
  cdht_event ev = { .kind = CDHT_EV_HANDOVER, .peer = peer, .seq = ++n->handover.next_id, .lo = lo, .hi = hi,
                    .token = token };
  cdht_node_emit(n, ev);
  n->handover.to_joiners++;
}

void cdht_handover_to_joiner_done(cdht_node *n, uint64_t now, cdht_peer peer, uint32_t failed) {
  if (n->handover.to_joiners > 0) n->handover.to_joiners--;
  if (failed > 0) cdht_handover_grant_out(n, now, peer, false, 0); /* its token was refused: a new life, or none */
  cdht_store_confirm_kept(n);
}

/* "N files received" only from a peer whose keys we expect: the successor we asked, or a
 * predecessor handing us its keys. */
int cdht_handover_on_keys_done(cdht_node *n, uint64_t now, const cdht_msg *m) {
  /* The grant stays: a leaving peer may hand on, after its own keys, content that reached it
   * while it left (§6). */
  if (!cdht_handover_find_grant(n, now, m->from, m->token)) {
    cdht_node_drop(n, m->token ? CDHT_DROP_TOKEN : CDHT_DROP_UNASKED);
    return CDHT_ERR_ROLE;
  }
  if (cdht_same(m->from, n->join.keys_ask.to)) n->join.keys_ask.to = cdht_peer_none(); /* served */
  cdht_event ev = { .kind = CDHT_EV_KEYS_RECEIVED, .peer = m->from, .seq = m->seq };
  cdht_node_emit(n, ev);
  return 0;
}

/* What the node knows about files (§6, §9); see store.h. */
#include "node_internal.h"

#include "cdht/err.h"

#include <string.h>

/* ---- the held set ---- */

/* Orders a held entry (length byte, bytes) against |name|, as cdht_name_cmp. */
static int held_cmp(const uint8_t *e, const cdht_name *name) {
  int c = memcmp(e + 1, name->s, e[0] < name->len ? e[0] : name->len);
  return c ? c : (int)e[0] - (int)name->len;
}

/* The index of |name| in the held array, or where it would go; *found says which. */
static size_t held_find(const cdht_store *st, const cdht_name *name, bool *found) {
  size_t lo = 0, hi = st->nheld;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (held_cmp(st->held[mid], name) < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = lo < st->nheld && held_cmp(st->held[lo], name) == 0;
  return lo;
}

static int held_add(cdht_node *n, const cdht_name *name) {
  cdht_store *st = &n->store;
  bool found;
  size_t at = held_find(st, name, &found);
  if (found) return 0;
  if (st->nheld >= n->cfg.max_names) { n->stats.names_refused++; return CDHT_ERR_BUSY; }
  if (st->nheld == st->held_cap) {
    size_t cap = st->held_cap ? st->held_cap * 2 : 16;
    uint8_t **a = n->mem.alloc(n->mem.ctx, cap * sizeof *a);
    if (!a) return CDHT_ERR_NOMEM;
    if (st->nheld) memcpy(a, st->held, st->nheld * sizeof *a);
    if (st->held) n->mem.free(n->mem.ctx, st->held);
    st->held = a;
    st->held_cap = cap;
  }
  uint8_t *e = n->mem.alloc(n->mem.ctx, 1u + name->len);
  if (!e) return CDHT_ERR_NOMEM;
  e[0] = name->len;
  memcpy(e + 1, name->s, name->len);
  memmove(st->held + at + 1, st->held + at, (st->nheld - at) * sizeof *st->held);
  st->held[at] = e;
  st->nheld++;
  return 0;
}

static void held_remove(cdht_node *n, const cdht_name *name) {
  cdht_store *st = &n->store;
  bool found;
  size_t at = held_find(st, name, &found);
  if (!found) return;
  n->mem.free(n->mem.ctx, st->held[at]);
  memmove(st->held + at, st->held + at + 1, (st->nheld - at - 1) * sizeof *st->held);
  st->nheld--;
}

/* ---- the tables allocated on demand (store.h says why) ---- */

/* A zeroed table of |size| bytes through the node's allocator, or NULL. */
static void *table_new(cdht_node *n, size_t size) {
  void *t = n->mem.alloc(n->mem.ctx, size);
  if (t) memset(t, 0, size);
  return t;
}

static void table_free(cdht_node *n, void *t) {
  if (t) n->mem.free(n->mem.ctx, t);
}

/* The last store waiting to be confirmed was: the table goes until the next leave. */
static void acks_release_if_empty(cdht_node *n) {
  if (n->store.nacks) return;
  table_free(n, n->store.acks);
  n->store.acks = NULL;
}

void cdht_store_clear(cdht_node *n) {
  for (size_t i = 0; i < n->store.nheld; i++) n->mem.free(n->mem.ctx, n->store.held[i]);
  if (n->store.held) n->mem.free(n->mem.ctx, n->store.held);
  n->store.held = NULL;
  n->store.nheld = n->store.held_cap = 0;
  table_free(n, n->store.acks);
  table_free(n, n->store.awaiting);
  table_free(n, n->store.superseded);
  n->store.acks = NULL;
  n->store.awaiting = NULL;
  n->store.superseded = NULL;
  n->store.nacks = n->store.nsuperseded = 0;
}

int cdht_node_set_stored(cdht_node *n, const cdht_name *name, bool stored) {
  if (!stored) { held_remove(n, name); return 0; }
  if (!cdht_node_name_ok(n, name)) return CDHT_ERR_INVAL;
  return held_add(n, name);
}

bool cdht_node_is_stored(const cdht_node *n, const cdht_name *name) {
  bool found;
  held_find(&n->store, name, &found);
  return found;
}

size_t cdht_node_stored_count(const cdht_node *n) { return n->store.nheld; }

void cdht_store_await(cdht_node *n, uint64_t now, cdht_peer origin, uint32_t seq) {
  if (!n->store.awaiting && !(n->store.awaiting = table_new(n, CDHT_MAX_PENDING * sizeof *n->store.awaiting)))
    return; /* out of memory: a quit will not wait for this content (as when all slots are busy) */
  for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
    if (n->store.awaiting[i].used && now < n->store.awaiting[i].until_ms) continue;
    n->store.awaiting[i].used = true;
    n->store.awaiting[i].origin = origin;
    n->store.awaiting[i].seq = seq;
    /* A quit waits for it only while its upload may still start: a forged or failed store
     * does not hold quits for a transfer's time. */
    n->store.awaiting[i].until_ms = now + n->cfg.request_timeout_ms;
    break;
  }
}

/* Content of a store we accepted is still on its way (and our leave deadline has not passed). */
bool cdht_store_awaiting_content(const cdht_node *n) {
  for (size_t i = 0; i < CDHT_MAX_PENDING && n->store.awaiting; i++)
    if (n->store.awaiting[i].used && n->store.awaiting[i].until_ms > n->leave.deadline_ms - n->cfg.leave_timeout_ms)
      return true;
  return false;
}

void cdht_store_stop_awaiting(cdht_node *n) {
  for (size_t i = 0; i < CDHT_MAX_PENDING && n->store.awaiting; i++) n->store.awaiting[i].used = false;
}

void cdht_store_note_superseded(cdht_node *n, const cdht_name *name) {
  if (!n->store.superseded && !(n->store.superseded = table_new(n, CDHT_MAX_PENDING * sizeof *n->store.superseded)))
    return; /* out of memory: the copy handed over is not marked older, as when the table is full */
  if (n->store.nsuperseded < CDHT_MAX_PENDING) n->store.superseded[n->store.nsuperseded++] = *name;
}

/* Tells a storer that the ring holds its file, at |holder|. */
static void confirm_store(cdht_node *n, const cdht_name *name, cdht_peer origin, uint32_t seq, cdht_peer holder) {
  if (cdht_is_self(n, origin)) { /* our own store of a key we hold */
    cdht_pending_req *r = cdht_lookup_find(n, seq);
    if (r && r->store) r->used = false;
    cdht_node_emit_peer(n, CDHT_EV_STORED, holder, name);
    return;
  }
  cdht_msg done = { .type = CDHT_MSG_STORE_DONE, .seq = seq, .name = *name, .about = holder };
  cdht_node_send(n, CDHT_TCP, origin, &done);
}

/* Content that reached a leaving node goes on to its successor before the node leaves. */
static bool pass_on_if_leaving(cdht_node *n, uint64_t now, const cdht_name *name) {
  if (n->state != CDHT_LEAVING || cdht_is_self(n, n->succ.id[0]) || !cdht_known(n->succ.id[0])) return false;
  uint64_t key = cdht_node_key_of(n, name);
  if (!cdht_leave_start_handover(n, now, (key - 1) & n->mask, key))
    n->leave.pass_all = true; /* found by the simulator: two neighbours quitting at once, seed 119 with --store-races */
  return true;
}

/* Content that reached us for a key a joiner took meanwhile (the store was accepted before the
 * join, its content came after the join's handover) goes on to that joiner, our first
 * predecessor: the ring must hold it where requests will look for it. */
static bool pass_back_if_joined(cdht_node *n, uint64_t now, const cdht_name *name) {
  uint64_t key = cdht_node_key_of(n, name);
  if (n->state != CDHT_RUNNING) return false;
  /* A joiner whose KEYS_REQ is being checked: this file goes with its keys, if it is one of
   * the keys it asked for, (about, joiner]. */
  if (cdht_known(n->join.keys_wait.peer) && now < n->join.keys_wait.until_ms &&
      cdht_node_between(n, n->join.keys_wait.about.id, key, n->join.keys_wait.peer.id))
    return true;
  /* A recent joiner we handed keys to, for the keys it asked for, with the token it gave us. */
  uint64_t token = 0;
  cdht_peer p = cdht_handover_recent_joiner(n, now, key, &token);
  if (!cdht_known(p) || cdht_is_self(n, p)) return false;
  cdht_handover_to_joiner(n, p, (key - 1) & n->mask, key, token);
  return true;
}

int cdht_node_on_stored(cdht_node *n, uint64_t now, const cdht_name *name, cdht_peer origin, uint32_t seq) {
  if (!cdht_known(origin) || !cdht_node_valid_id(n, origin.id)) return CDHT_ERR_INVAL;
  int rc = cdht_node_set_stored(n, name, true);
  if (rc < 0) return rc;
  for (size_t i = 0; i < CDHT_MAX_PENDING && n->store.awaiting; i++)
    if (n->store.awaiting[i].used && cdht_same(n->store.awaiting[i].origin, origin) && n->store.awaiting[i].seq == seq)
      n->store.awaiting[i].used = false;
  if (pass_on_if_leaving(n, now, name) || pass_back_if_joined(n, now, name)) {
    /* Too many to follow, or no memory for the table: the storer hears nothing and reports a
     * failed store. */
    if (!n->store.acks && !(n->store.acks = table_new(n, CDHT_MAX_PENDING * sizeof *n->store.acks))) return 0;
    for (size_t i = 0; i < CDHT_MAX_PENDING; i++) {
      if (n->store.acks[i].used) continue;
      n->store.acks[i].used = true;
      n->store.acks[i].name = *name;
      n->store.acks[i].origin = origin;
      n->store.acks[i].seq = seq;
      n->store.nacks++;
      return 0;
    }
    return 0;
  }
  confirm_store(n, name, origin, seq, n->self);
  return 0;
}

bool cdht_node_superseded(const cdht_node *n, const cdht_name *name) {
  for (unsigned i = 0; i < n->store.nsuperseded; i++) /* nsuperseded > 0: the table exists */
    if (cdht_name_eq(&n->store.superseded[i], name)) return true;
  return false;
}

int cdht_node_on_taken_over(cdht_node *n, uint64_t now, const cdht_name *name, cdht_peer from) {
  (void)from;
  int rc = cdht_node_set_stored(n, name, true);
  if (rc < 0) return rc;
  pass_on_if_leaving(n, now, name);
  return 0;
}

int cdht_node_on_file_handed(cdht_node *n, uint64_t now, const cdht_name *name, cdht_peer peer) {
  (void)now;
  if (!cdht_node_name_ok(n, name) || !cdht_known(peer) || !cdht_node_valid_id(n, peer.id)) return CDHT_ERR_INVAL;
  cdht_node_set_stored(n, name, false);
  for (size_t i = 0; i < CDHT_MAX_PENDING && n->store.acks; i++) {
    if (!n->store.acks[i].used || !cdht_name_eq(&n->store.acks[i].name, name)) continue;
    n->store.acks[i].used = false;
    n->store.nacks--;
    confirm_store(n, name, n->store.acks[i].origin, n->store.acks[i].seq, peer);
  }
  acks_release_if_empty(n);
  return 0;
}

void cdht_store_confirm_kept(cdht_node *n) {
  /* A file passed back to a joiner that did not take it stays here: the ring holds it. */
  for (size_t i = 0; i < CDHT_MAX_PENDING && n->state == CDHT_RUNNING && n->store.acks; i++) {
    if (!n->store.acks[i].used || !cdht_node_is_stored(n, &n->store.acks[i].name)) continue;
    n->store.acks[i].used = false;
    n->store.nacks--;
    confirm_store(n, &n->store.acks[i].name, n->store.acks[i].origin, n->store.acks[i].seq, n->self);
  }
  acks_release_if_empty(n);
}

cdht_handover_verdict cdht_node_handover_allowed(cdht_node *n, uint64_t now, cdht_peer from, const cdht_name *name,
                                                 uint64_t token, uint64_t stored_ms, bool superseded) {
  cdht_id self = n->cfg.self;
  if (!cdht_node_name_ok(n, name)) { cdht_node_drop(n, CDHT_DROP_MALFORMED); return CDHT_HANDOVER_REFUSE; }
  uint64_t key = cdht_node_key_of(n, name);
  const cdht_grant_in *g = cdht_handover_find_grant(n, now, from, token);
  if (!g) { cdht_node_drop(n, token ? CDHT_DROP_TOKEN : CDHT_DROP_UNASKED); return CDHT_HANDOVER_REFUSE; }
  /* From the successor we asked: the keys we asked for.  From a giver: keys not ours already. */
  if (!(g->joined ? cdht_node_between(n, g->about, key, self) : !cdht_node_between(n, from.id, key, self))) {
    cdht_node_drop(n, CDHT_DROP_ROLE);
    return CDHT_HANDOVER_REFUSE;
  }
  /* Once we gave the token, stores of these keys come to us (the giver passes them on, or the
   * ring routes them here): their content is newer than what the giver held (§6, §9). */
  /* A giver leaving: stores of its keys that reached us while it left — the ring routed them
   * here once its predecessor knew, maybe before it could offer us anything (its successor was
   * leaving too) — are newer than its copy.  A leave lasts at most leave_timeout after the
   * detection of a lost neighbour, so that is how far back "while it left" reaches. */
  if (!cdht_node_is_stored(n, name)) stored_ms = 0; /* handed away meanwhile: nothing newer is here */
  bool recent = stored_ms && !g->joined && stored_ms + n->cfg.leave_timeout_ms + cdht_node_detect_ms(n) > now;
  /* After a join, stores come to the joiner: while its join is recent (a store's upload starts
   * within the request timeout), they are newer than what its successor passes back. */
  bool since = stored_ms > g->granted_ms && (!g->joined || now - g->granted_ms <= n->cfg.request_timeout_ms);
  return since || (superseded && stored_ms) || recent ? CDHT_HANDOVER_OLDER : CDHT_HANDOVER_TAKE;
}

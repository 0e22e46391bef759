/* The node: the queues, the helpers every module uses, and the entry points of node.h, which
 * decode and route each message to the module that owns it and fan the timer out to the
 * modules (node_internal.h).  Rules cite docs/protocol.md. */
#include "node_internal.h"

#include <sodium.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdht/err.h"

/* ---- configuration ---- */

void cdht_config_default(cdht_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->bits = 8;
  cfg->keys = CDHT_KEYS_NUMBERS;
  cfg->classic = true;
  cfg->host = 0x7f000001u;
  cfg->base_port = 50000;
  /* Detection takes at most misses * interval + timeout = 4 * 1000 + 500 = 4.5 s after the
   * last answered ping, so a kill is detected and repaired within 5 s. */
  cfg->ping_interval_ms = 1000;
  cfg->ping_timeout_ms = 500;
  cfg->misses = 4;
  cfg->requery_ms = 250;
  cfg->request_timeout_ms = 10000;
  cfg->leave_timeout_ms = 3000;
  /* A predecessor sends about 2 pings a second, more with a fast profile and probes; 200/s
   * with a burst of 400 never touches honest traffic and caps what one source can cost. */
  cfg->udp_rate = 200;
  cfg->join_timeout_ms = 5000;
  cfg->stabilize_ms = 3000;
  cfg->transfer_timeout_ms = 600000;
  cfg->max_names = CDHT_NAMES_MAX;
  cfg->successors = 2;
}

/* A record usable as a successor at start: a peer of our ring, on the classic forms at its
 * rule's address, and not our own id elsewhere than at our address. */
static bool start_peer_ok(const cdht_config *c, cdht_peer p, uint64_t mask) {
  if (!cdht_peer_known(&p) || p.id > mask) return false;
  if (c->classic) {
    cdht_peer want = cdht_config_peer(c, p.id);
    if (!cdht_peer_eq(&p, &want)) return false;
  }
  return p.id != c->self || cdht_addr_eq(&p.addr, &c->addr) || cdht_addr_eq(&p.addr, &c->alt);
}

int cdht_config_check(const cdht_config *c) {
  if (c->bits < 1 || c->bits > 64 || c->keys > CDHT_KEYS_BLAKE2B) return CDHT_ERR_INVAL;
  uint64_t mask = cdht_ring_mask(c->bits);
  if (c->self > mask || c->addr.family == CDHT_AF_NONE || c->addr.port == 0) return CDHT_ERR_INVAL;
  if (c->alt.family != CDHT_AF_NONE && (c->alt.family == c->addr.family || c->alt.port == 0)) return CDHT_ERR_INVAL;
  if (c->classic && (uint64_t)c->base_port + mask > 65535) return CDHT_ERR_INVAL;
  if (c->classic) {
    cdht_addr want = cdht_config_addr(c, c->self);
    if (!cdht_addr_eq(&c->addr, &want) || c->alt.family != CDHT_AF_NONE) return CDHT_ERR_INVAL;
  }
  bool joining = c->join_via.family != CDHT_AF_NONE;
  if (joining && (!c->join_timeout_ms || cdht_addr_eq(&c->join_via, &c->addr) || c->join_via.port == 0))
    return CDHT_ERR_INVAL;
  if (!joining) {
    if (!start_peer_ok(c, c->succ[0], mask) || !start_peer_ok(c, c->succ[1], mask)) return CDHT_ERR_INVAL;
    bool s1_self = c->succ[0].id == c->self, s2_self = c->succ[1].id == c->self;
    if (c->succ[0].id == c->succ[1].id && !s1_self) return CDHT_ERR_INVAL; /* S1 = S2 != ID */
    if (s1_self && !s2_self) return CDHT_ERR_INVAL;                        /* S1 = ID only alone */
  }
  if (c->ping_interval_ms == 0 || c->ping_timeout_ms == 0 || c->misses == 0) return CDHT_ERR_INVAL;
  if (c->ping_timeout_ms > (uint64_t)c->ping_interval_ms * (CDHT_FD_WINDOW - 1)) return CDHT_ERR_INVAL;
  if (c->requery_ms == 0 || c->request_timeout_ms == 0 || c->leave_timeout_ms == 0)
    return CDHT_ERR_INVAL;
  if (c->successors < 2 || c->successors > CDHT_SUCC_MAX) return CDHT_ERR_INVAL;
  return 0;
}

cdht_addr cdht_config_addr(const cdht_config *cfg, cdht_id id) {
  return cdht_addr_v4(cfg->host, (uint16_t)(cfg->base_port + id));
}

cdht_peer cdht_config_peer(const cdht_config *cfg, cdht_id id) { return cdht_peer_make(id, cdht_config_addr(cfg, id)); }

void cdht_config_classic(cdht_config *cfg, cdht_id self, cdht_id s1, cdht_id s2) {
  cfg->self = self;
  cfg->addr = cdht_config_addr(cfg, self);
  cfg->succ[0] = cdht_config_peer(cfg, s1);
  cfg->succ[1] = cdht_config_peer(cfg, s2);
}

cdht_peer cdht_config_self(const cdht_config *cfg) { return cdht_peer_make(cfg->self, cfg->addr); }

/* ---- queues and shared helpers ---- */

void cdht_node_drop(cdht_node *n, cdht_drop why) { n->stats.dropped[why]++; }

/* Doubles the event queue (from 4, up to CDHT_EVQ_CAP), its events kept in order: most inputs
 * cause a few events, and the simulator holds thousands of nodes. */
static bool evq_grow(cdht_node *n) {
  if (n->ev_cap == CDHT_EVQ_CAP) return false;
  size_t cap = n->ev_cap ? n->ev_cap * 2 : 4;
  if (cap > CDHT_EVQ_CAP) cap = CDHT_EVQ_CAP;
  cdht_event *q = n->mem.alloc(n->mem.ctx, cap * sizeof *q);
  if (!q) return false;
  for (size_t i = 0; i < n->ev_count; i++) q[i] = n->evq[(n->ev_head + i) % n->ev_cap];
  if (n->evq) n->mem.free(n->mem.ctx, n->evq);
  n->evq = q;
  n->ev_cap = cap;
  n->ev_head = 0;
  return true;
}

void cdht_node_emit(cdht_node *n, cdht_event ev) {
  if (n->ev_count == n->ev_cap && !evq_grow(n)) { cdht_node_drop(n, CDHT_DROP_QUEUE); return; }
  n->evq[(n->ev_head + n->ev_count++) % n->ev_cap] = ev;
}

void cdht_node_emit_once(cdht_node *n, cdht_event ev) {
  for (size_t i = 0; i < n->ev_count; i++) {
    cdht_event *q = &n->evq[(n->ev_head + i) % n->ev_cap];
    if (q->kind == ev.kind) { *q = ev; return; }
  }
  cdht_node_emit(n, ev);
}

void cdht_node_emit_peer(cdht_node *n, cdht_event_kind kind, cdht_peer peer, const cdht_name *name) {
  cdht_event ev = { .kind = kind, .peer = peer };
  if (name) ev.name = *name;
  cdht_node_emit(n, ev);
}

/* A value nobody without cfg.secret can predict: SipHash-2-4 of a counter (§9).  Request ids
 * and content tokens come from here, so that a party that sees none of our messages cannot
 * answer for a peer it is not. */
uint64_t cdht_node_unguessable(cdht_node *n) {
  uint8_t in[8], out[crypto_shorthash_BYTES];
  uint64_t c = ++n->nonce;
  for (int i = 0; i < 8; i++) in[i] = (uint8_t)(c >> (8 * i));
  crypto_shorthash(out, in, sizeof in, n->cfg.secret);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | out[i];
  return v ? v : 1; /* 0 means "no token" */
}

/* Makes room for |need| more bytes in the output arena.  It grows with what one input causes
 * and is emptied when the queue is (the I/O layer drains it after every input), so an idle node
 * holds next to nothing. */
static bool outbuf_room(cdht_node *n, size_t need) {
  if (n->outbuf_cap - n->outbuf_len >= need) return true;
  size_t cap = n->outbuf_cap ? n->outbuf_cap : 1024;
  while (cap - n->outbuf_len < need) cap *= 2;
  uint8_t *b = n->mem.alloc(n->mem.ctx, cap);
  if (!b) return false;
  if (n->outbuf_len) memcpy(b, n->outbuf, n->outbuf_len);
  if (n->outbuf) n->mem.free(n->mem.ctx, n->outbuf);
  n->outbuf = b;
  n->outbuf_cap = cap;
  return true;
}

/* Doubles the output queue (from 4, up to CDHT_OUTQ_CAP), as evq_grow does for events: an idle
 * peer queues two pings at a time, and a simulated ring holds a million nodes. */
static bool outq_grow(cdht_node *n) {
  if (n->out_cap == CDHT_OUTQ_CAP) return false;
  size_t cap = n->out_cap ? n->out_cap * 2 : 4;
  if (cap > CDHT_OUTQ_CAP) cap = CDHT_OUTQ_CAP;
  cdht_queued *q = n->mem.alloc(n->mem.ctx, cap * sizeof *q);
  if (!q) return false;
  for (size_t i = 0; i < n->out_count; i++) q[i] = n->outq[(n->out_head + i) % n->out_cap];
  if (n->outq) n->mem.free(n->mem.ctx, n->outq);
  n->outq = q;
  n->out_cap = cap;
  n->out_head = 0;
  return true;
}

void cdht_node_send(cdht_node *n, cdht_transport t, cdht_peer to, cdht_msg *m) {
  if (n->out_count == n->out_cap && !outq_grow(n)) { cdht_node_drop(n, CDHT_DROP_QUEUE); return; }
  /* We speak to a peer from our address of its family: that is where its answer goes, and
   * what its spoofing check compares with the datagram's source (§2). */
  cdht_addr from = to.addr.family == n->cfg.addr.family ? n->cfg.addr
                 : to.addr.family == n->cfg.alt.family   ? n->cfg.alt
                                                          : (cdht_addr){ 0 };
  if (from.family == CDHT_AF_NONE) { n->stats.unroutable++; return; }
  m->from = cdht_peer_make(n->cfg.self, from);
  uint8_t tmp[CDHT_MSG_MAX];
  cdht_ssize len = cdht_msg_encode(tmp, sizeof tmp, m);
  if (len < 0) { n->stats.unroutable++; return; } /* cannot happen: every message fits (tested) */
  if (!outbuf_room(n, (size_t)len)) { cdht_node_drop(n, CDHT_DROP_QUEUE); return; }
  memcpy(n->outbuf + n->outbuf_len, tmp, (size_t)len);
  cdht_queued *o = &n->outq[(n->out_head + n->out_count) % n->out_cap];
  *o = (cdht_queued){ .transport = t, .to = to, .off = n->outbuf_len, .len = (size_t)len };
  n->outbuf_len += (size_t)len;
  n->out_count++;
}

bool cdht_node_valid_id(const cdht_node *n, cdht_id id) { return id <= n->mask; }

uint64_t cdht_node_detect_ms(const cdht_node *n) {
  return (uint64_t)n->cfg.misses * n->cfg.ping_interval_ms + n->cfg.ping_timeout_ms;
}

bool cdht_node_name_ok(const cdht_node *n, const cdht_name *name) {
  if (!cdht_name_valid(name->s, name->len)) return false;
  return n->cfg.keys != CDHT_KEYS_NUMBERS || cdht_name_number(name) >= 0;
}

uint64_t cdht_node_key_of(const cdht_node *n, const cdht_name *name) {
  if (n->cfg.keys == CDHT_KEYS_BLAKE2B) return cdht_ring_name_key(name->s, name->len, n->mask);
  int number = cdht_name_number(name);
  return number < 0 ? 0 : cdht_ring_key((unsigned)number, n->mask);
}

uint64_t cdht_node_mask(const cdht_node *n) { return n->mask; }

cdht_id cdht_node_name_key(const cdht_node *n, const cdht_name *name) {
  return cdht_node_name_ok(n, name) ? cdht_node_key_of(n, name) : 0;
}

/* ---- entry points ---- */

static int count_decode_error(cdht_node *n, cdht_ssize rc) {
  cdht_node_drop(n, rc == CDHT_ERR_VERSION ? CDHT_DROP_VERSION
          : rc == CDHT_ERR_TYPE  ? CDHT_DROP_TYPE
                                 : CDHT_DROP_MALFORMED);
  return (int)rc;
}

/* Every peer a message names must be a peer of our ring, and on the classic forms at its
 * rule's address: a record that says otherwise speaks for someone else. */
static int check_record(cdht_node *n, const cdht_peer *p) {
  if (!cdht_peer_known(p)) return 0;
  if (p->id > n->mask) { cdht_node_drop(n, CDHT_DROP_BADID); return CDHT_ERR_BADID; }
  /* a record is where we would send: one that names no single host speaks for nobody */
  if (!cdht_addr_unicast(&p->addr)) { cdht_node_drop(n, CDHT_DROP_SPOOFED); return CDHT_ERR_SPOOFED; }
  if (n->cfg.classic) {
    cdht_peer want = cdht_config_peer(&n->cfg, p->id);
    if (!cdht_peer_eq(p, &want)) { cdht_node_drop(n, CDHT_DROP_SPOOFED); return CDHT_ERR_SPOOFED; }
  }
  return 0;
}

static int check_records(cdht_node *n, const cdht_msg *m) {
  /* A refusal for other ring parameters comes from a ring of another size: its sender's id may
   * be past ours, and is only reported (the address is still checked below). */
  int rc = m->type == CDHT_MSG_JOIN_REJECT && m->reason == CDHT_REJECT_PARAMS ? 0 : check_record(n, &m->from);
  if (!rc) rc = check_record(n, &m->origin);
  if (!rc) rc = check_record(n, &m->about);
  for (unsigned i = 0; i < m->nsucc && !rc; i++) rc = check_record(n, &m->succ[i]);
  return rc;
}

/* Decodes, applies the checks every message passes (transport, records, sender, spoofing,
 * state), and hands the message to the module that owns its type. */
static int dispatch(cdht_node *n, uint64_t now, cdht_transport t, const cdht_addr *src,
                    const uint8_t *buf, size_t len) {
  if (n->state == CDHT_LEFT) return CDHT_ERR_LEAVING;
  cdht_msg m;
  cdht_ssize rc = cdht_msg_decode(&m, buf, len);
  if (rc < 0) return count_decode_error(n, rc);
  if ((size_t)rc != len) return count_decode_error(n, CDHT_ERR_MALFORMED); /* trailing bytes */
  bool udp_type = m.type == CDHT_MSG_PING || m.type == CDHT_MSG_PONG;
  if (udp_type != (t == CDHT_UDP)) { cdht_node_drop(n, CDHT_DROP_TRANSPORT); return CDHT_ERR_UNEXPECTED; }
  int bad = check_records(n, &m);
  if (bad) return bad;
  if (m.from.id == n->cfg.self) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  /* A datagram comes from the sender's own bound socket, so its source is exactly the address
   * its record claims; a TCP connection comes from an ephemeral port of the sender's host (§2). */
  if (t == CDHT_UDP ? !cdht_addr_eq(src, &m.from.addr) : !cdht_addr_same_host(src, &m.from.addr)) {
    cdht_node_drop(n, CDHT_DROP_SPOOFED);
    return CDHT_ERR_SPOOFED;
  }
  if (n->state == CDHT_JOINING && m.type != CDHT_MSG_JOIN_ACCEPT && m.type != CDHT_MSG_JOIN_REJECT) {
    cdht_node_drop(n, CDHT_DROP_STALE); /* not in the ring yet */
    return CDHT_ERR_UNEXPECTED;
  }
  /* A name must be one of the ring's (§1): on a CDHT_KEYS_NUMBERS ring, four digits. */
  bool named = m.type == CDHT_MSG_FILE_REQ || m.type == CDHT_MSG_FILE_RESP || m.type == CDHT_MSG_STORE_REQ ||
               m.type == CDHT_MSG_STORE_ACCEPT || m.type == CDHT_MSG_STORE_DONE;
  if (named && !cdht_node_name_ok(n, &m.name)) return count_decode_error(n, CDHT_ERR_MALFORMED);
  switch (m.type) {  case CDHT_MSG_PING: return cdht_succ_on_ping(n, now, &m);
  case CDHT_MSG_PONG: return cdht_succ_on_pong(n, now, &m);
  case CDHT_MSG_FILE_REQ:
  case CDHT_MSG_STORE_REQ: return cdht_lookup_on_request(n, now, &m);
  case CDHT_MSG_STORE_ACCEPT:
  case CDHT_MSG_STORE_DONE: return cdht_lookup_on_store_answer(n, now, &m);
  case CDHT_MSG_FILE_RESP: return cdht_lookup_on_response(n, &m);
  case CDHT_MSG_DEPART: return cdht_leave_on_depart(n, now, &m);
  case CDHT_MSG_DEPART_ACK: return cdht_leave_on_depart_ack(n, now, &m);
  case CDHT_MSG_DEPART_CONFIRM: return cdht_leave_on_depart_confirm(n, now, &m);
  case CDHT_MSG_SUCC_QUERY: return cdht_succ_on_query(n, now, &m);
  case CDHT_MSG_SUCC_REPLY:
    return cdht_join_on_succ_reply(n, now, &m) ? 0 : cdht_repair_on_succ_reply(n, now, &m);
  case CDHT_MSG_KEYS_OFFER:
    if (n->state != CDHT_RUNNING) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return cdht_leave_on_keys_offer(n, now, &m);
  case CDHT_MSG_KEYS_GRANT: return cdht_leave_on_keys_grant(n, now, &m);
  case CDHT_MSG_WITNESS_QUERY: return cdht_witness_on_query(n, now, &m);
  case CDHT_MSG_WITNESS_REPLY: return cdht_witness_on_reply(n, now, &m);
  case CDHT_MSG_JOIN_REQ:
    if (n->state != CDHT_RUNNING) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return cdht_join_on_request(n, now, &m);
  case CDHT_MSG_JOIN_ACCEPT:
  case CDHT_MSG_JOIN_REJECT: return cdht_join_on_answer(n, now, &m);
  case CDHT_MSG_SUCC_CHANGE: return cdht_join_on_succ_change(n, now, &m);
  case CDHT_MSG_JOIN_ACK:
    if (n->state != CDHT_RUNNING) { cdht_node_drop(n, CDHT_DROP_STALE); return CDHT_ERR_LEAVING; }
    return cdht_join_on_ack(n, now, &m);
  case CDHT_MSG_STAB_QUERY: return cdht_stabilize_on_query(n, now, &m);
  case CDHT_MSG_KEYS_REQ: return cdht_join_on_keys_request(n, now, &m);
  case CDHT_MSG_KEYS_DONE: return cdht_handover_on_keys_done(n, now, &m);
  case CDHT_MSG_STAB_REPLY: return cdht_stabilize_on_reply(n, now, &m);
  case CDHT_MSG_FIND_REQ: return cdht_fingers_on_find(n, now, &m);
  case CDHT_MSG_FIND_RESP: return cdht_fingers_on_found(n, now, &m);
  default: return count_decode_error(n, CDHT_ERR_TYPE); /* unreachable: decode checked */
  }
}

/* The rate limiter's key of a source: an IPv4 address and port as they are, an IPv6 one hashed
 * under our secret (a sender cannot choose its bucket). */
static uint64_t source_key(const cdht_node *n, const cdht_addr *a) {
  if (a->family == CDHT_AF_INET) return (uint64_t)cdht_addr_ipv4(a) << 16 | a->port;
  uint8_t in[18], out[crypto_shorthash_BYTES];
  memcpy(in, a->ip, 16);
  in[16] = (uint8_t)(a->port >> 8), in[17] = (uint8_t)a->port;
  crypto_shorthash(out, in, sizeof in, n->cfg.secret);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | out[i];
  return v | UINT64_C(1) << 63; /* never an IPv4 key */
}

int cdht_node_on_datagram(cdht_node *n, uint64_t now, const cdht_addr *from, const uint8_t *buf, size_t len) {
  /* The cheap filter first: a flooding source is refused before its bytes are looked at. */
  if (!cdht_ratelim_allow(&n->udp_limit, source_key(n, from), now)) {
    cdht_node_drop(n, CDHT_DROP_RATE);
    return CDHT_ERR_BUSY;
  }
  return dispatch(n, now, CDHT_UDP, from, buf, len);
}

int cdht_node_on_frame(cdht_node *n, uint64_t now, const cdht_addr *from, const uint8_t *buf, size_t len) {
  int rc = dispatch(n, now, CDHT_TCP, from, buf, len);
  if (rc != 0 || len < CDHT_HDR_LEN + 8) return rc;
  uint8_t type = buf[1];
  if (type != CDHT_MSG_SUCC_QUERY && type != CDHT_MSG_STAB_QUERY && type != CDHT_MSG_WITNESS_QUERY) return rc;
  cdht_id who = 0;
  for (int i = 0; i < 8; i++) who = (who << 8) | buf[CDHT_HDR_LEN + i]; /* `from`, the body's first field */
  return cdht_succ_is_neighbour(n, who) ? 0 : CDHT_ANSWERED;
}

int cdht_node_on_unreachable(cdht_node *n, uint64_t now, cdht_peer peer) {
  cdht_join_on_unreachable(n, now, peer);
  cdht_leave_on_unreachable(n, now, peer);
  cdht_witness_on_unreachable(n, now, peer);
  if (n->state == CDHT_RUNNING && n->cfg.successors > 2) {
    /* With a successor list, a successor that refuses a connection is gone (its process is): the
     * next entry takes its place now rather than after its pings time out.  Not, in our first
     * detection period, one we were given at start and have never heard from (it may not have
     * started yet: a ring started peer by peer), nor one that answered a ping within the last
     * interval (the refusal is of a connection tried before it started); there its pings decide,
     * as on the classic forms. */
    for (int i = 0; i < 2; i++) {
      cdht_peer s = n->succ.id[i];
      uint64_t heard = n->succ.heard_ms[i];
      bool unproven = heard == CDHT_NEVER && now - n->succ.started_ms < cdht_node_detect_ms(n) &&
                      (cdht_exact(s, n->cfg.succ[0]) || cdht_exact(s, n->cfg.succ[1]));
      bool lately = heard != CDHT_NEVER && now - heard < n->cfg.ping_interval_ms;
      if (cdht_known(s) && !cdht_is_self(n, s) && cdht_exact(s, peer) && !unproven && !lately) {
        cdht_repair_successor_dead(n, now, i);
        break;
      }
    }
    /* That very record only (succ_forget): the id of a peer is logged gone only when the record
     * we hold of it refused. */
    if (cdht_succ_forget(n, peer)) cdht_succ_log_gone(n, peer.id, now);
  }
  cdht_fingers_forget_record(n, peer);
  cdht_lookup_on_unreachable(n, now, peer); /* what went to it goes by the next best route */
  return 0;
}

int cdht_node_on_command(cdht_node *n, uint64_t now, const cdht_command *cmd) {
  if (n->state == CDHT_JOINING && cmd->kind == CDHT_CMD_QUIT) { cdht_leave_finish(n); return 0; } /* not in yet */
  if (n->state == CDHT_JOINING) return CDHT_ERR_UNEXPECTED;
  if (n->state != CDHT_RUNNING) return CDHT_ERR_LEAVING;
  switch (cmd->kind) {
  case CDHT_CMD_REQUEST: return cdht_lookup_start(n, now, &cmd->name, false);
  case CDHT_CMD_STORE: return cdht_lookup_start(n, now, &cmd->name, true);
  case CDHT_CMD_QUIT: cdht_leave_start(n, now); return 0;
  }
  return CDHT_ERR_INVAL;
}

/* The modules' timers, in an order that is part of the behaviour: a successor's death (judged
 * first) moves pending requests to the new successor before their own retries are looked at,
 * and the pings go last, after everything that may have changed the successors.  A joining or
 * leaving node runs only that mechanism. */
int cdht_node_on_timer(cdht_node *n, uint64_t now) {
  switch (n->state) {
  case CDHT_LEFT: return 0;
  case CDHT_JOINING: cdht_join_on_timer(n, now); return 0;
  case CDHT_LEAVING: cdht_leave_on_timer(n, now); return 0;
  case CDHT_RUNNING: break;
  }
  cdht_succ_judge(n, now);
  cdht_repair_on_timer(n, now);
  cdht_stabilize_on_timer(n, now);
  cdht_join_on_timer(n, now);
  cdht_lookup_on_timer(n, now);
  cdht_fingers_on_timer(n, now);
  cdht_succ_on_timer(n, now);
  return 0;
}

uint64_t cdht_node_next_deadline(const cdht_node *n) {
  switch (n->state) {
  case CDHT_LEFT: return CDHT_NEVER;
  case CDHT_JOINING: return cdht_join_next_deadline(n);
  case CDHT_LEAVING: return cdht_leave_next_deadline(n);
  case CDHT_RUNNING: break;
  }
  uint64_t t = cdht_succ_next_deadline(n);
  t = cdht_min_u64(t, cdht_witness_next_deadline(n));
  t = cdht_min_u64(t, cdht_repair_next_deadline(n));
  t = cdht_min_u64(t, cdht_stabilize_next_deadline(n));
  t = cdht_min_u64(t, cdht_join_next_deadline(n));
  t = cdht_min_u64(t, cdht_fingers_next_deadline(n));
  return cdht_min_u64(t, cdht_lookup_next_deadline(n));
}

int cdht_node_next_output(cdht_node *n, cdht_output *out) {
  if (n->out_count == 0) return 0;
  const cdht_queued *q = &n->outq[n->out_head];
  out->transport = q->transport;
  out->to = q->to;
  out->len = q->len;
  memcpy(out->buf, n->outbuf + q->off, q->len);
  n->out_head = (n->out_head + 1) % n->out_cap;
  if (--n->out_count == 0) n->outbuf_len = 0;
  return 1;
}

int cdht_node_next_event(cdht_node *n, cdht_event *ev) {
  if (n->ev_count == 0) return 0;
  *ev = n->evq[n->ev_head];
  n->ev_head = (n->ev_head + 1) % n->ev_cap;
  n->ev_count--;
  return 1;
}

static void *libc_alloc(void *ctx, size_t size) { (void)ctx; return calloc(1, size); }

static void libc_free(void *ctx, void *p) { (void)ctx; free(p); }

int cdht_node_new(cdht_node **out, const cdht_config *cfg, const cdht_mem *mem, uint64_t now) {
  *out = NULL;
  if (cdht_config_check(cfg) < 0) return CDHT_ERR_INVAL;
  cdht_mem m = mem ? *mem : (cdht_mem){ libc_alloc, libc_free, NULL };
  cdht_node *n = m.alloc(m.ctx, sizeof *n);
  if (!n) return CDHT_ERR_NOMEM;
  memset(n, 0, sizeof *n);
  n->cfg = *cfg;
  n->mem = m;
  n->self = cdht_config_self(cfg);
  n->mask = cdht_ring_mask(cfg->bits);
  n->state = CDHT_RUNNING;
  cdht_ratelim_init(&n->udp_limit, cfg->udp_rate, cfg->udp_rate * 2);
  cdht_succ_init(n, now, cfg->succ[0], cfg->succ[1]);
  cdht_leave_init(n);
  cdht_join_init(n);
  cdht_handover_init(n);
  n->stabilize.next_ms = now + cfg->stabilize_ms;
  if (cdht_fingers_init(n, now) < 0) {
    m.free(m.ctx, n);
    return CDHT_ERR_NOMEM;
  }
  if (cfg->join_via.family != CDHT_AF_NONE) {
    n->state = CDHT_JOINING;
    cdht_join_start(n, now);
  }
  *out = n;
  return 0;
}

void cdht_node_del(cdht_node *n) {
  if (!n) return;
  cdht_store_clear(n);
  cdht_lookup_clear(n);
  cdht_fingers_clear(n);
  if (n->evq) n->mem.free(n->mem.ctx, n->evq);
  if (n->outq) n->mem.free(n->mem.ctx, n->outq);
  if (n->outbuf) n->mem.free(n->mem.ctx, n->outbuf);
  n->mem.free(n->mem.ctx, n);
}

const cdht_config *cdht_node_config(const cdht_node *n) { return &n->cfg; }

cdht_peer cdht_node_successor(const cdht_node *n, int i) {
  assert(i == 0 || i == 1);
  return n->succ.id[i];
}

size_t cdht_node_successor_list(const cdht_node *n, cdht_peer *out, size_t cap) {
  cdht_peer all[CDHT_SUCC_MAX];
  size_t k = cdht_succ_list(n, all);
  for (size_t i = 0; i < k && i < cap; i++) out[i] = all[i];
  return k;
}

cdht_peer cdht_node_finger(const cdht_node *n, unsigned i) {
  return i < n->fingers.count ? n->fingers.f[i] : cdht_peer_none();
}

cdht_peer cdht_node_predecessor(const cdht_node *n, int i) {
  assert(i == 0 || i == 1);
  return n->succ.pred[i];
}

const cdht_stats *cdht_node_stats(const cdht_node *n) { return &n->stats; }

bool cdht_node_has_left(const cdht_node *n) { return n->state == CDHT_LEFT; }

size_t cdht_node_size(void) { return sizeof(cdht_node); }

const char *cdht_drop_name(cdht_drop d) {
  static const char *names[] = {
#define CDHT_DROP_NAME(name, text) text,
    CDHT_DROPS(CDHT_DROP_NAME)
#undef CDHT_DROP_NAME
  };
  return d < CDHT_DROP_COUNT ? names[d] : "?";
}

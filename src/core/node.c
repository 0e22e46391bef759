/* The node: the queues, the helpers every module uses, and the entry points of node.h, which
 * decode and route each message to the module that owns it and fan the timer out to the
 * modules (node_internal.h).  Rules cite docs/protocol.md. */
#include "node_internal.h"

#include <sodium.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cdht/err.h"

/* ---- configuration ---- */

void cdht_config_default(cdht_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->ring_size = 256;
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
  cfg->join_via = CDHT_ID_NONE;
  cfg->join_timeout_ms = 5000;
  cfg->stabilize_ms = 3000;
  cfg->transfer_timeout_ms = 600000;
}

int cdht_config_check(const cdht_config *c) {
  if (c->ring_size == 0 || c->ring_size > (uint64_t)1 << 62) return CDHT_ERR_INVAL;
  if (c->self >= c->ring_size || c->succ[0] >= c->ring_size || c->succ[1] >= c->ring_size)
    return CDHT_ERR_INVAL;
  if (c->join_via != CDHT_ID_NONE && (c->join_via >= c->ring_size || c->join_via == c->self || !c->join_timeout_ms))
    return CDHT_ERR_INVAL;
  if (c->succ[0] == c->succ[1] && c->succ[0] != c->self) return CDHT_ERR_INVAL; /* S1 = S2 != ID */
  if (c->succ[0] == c->self && c->succ[1] != c->self) return CDHT_ERR_INVAL;   /* S1 = ID only alone */
  if ((uint64_t)c->base_port + c->ring_size - 1 > 65535) return CDHT_ERR_INVAL;
  if (c->ping_interval_ms == 0 || c->ping_timeout_ms == 0 || c->misses == 0) return CDHT_ERR_INVAL;
  if (c->ping_timeout_ms > (uint64_t)c->ping_interval_ms * (CDHT_FD_WINDOW - 1)) return CDHT_ERR_INVAL;
  if (c->requery_ms == 0 || c->request_timeout_ms == 0 || c->leave_timeout_ms == 0)
    return CDHT_ERR_INVAL;
  return 0;
}

cdht_addr cdht_config_addr(const cdht_config *cfg, cdht_id id) {
  cdht_addr a = { cfg->host, (uint16_t)(cfg->base_port + id) };
  return a;
}

/* ---- queues and shared helpers ---- */

void cdht_node_drop(cdht_node *n, cdht_drop why) { n->stats.dropped[why]++; }

void cdht_node_emit(cdht_node *n, cdht_event ev) {
  if (n->ev_count == CDHT_EVQ_CAP) { cdht_node_drop(n, CDHT_DROP_QUEUE); return; }
  n->evq[(n->ev_head + n->ev_count++) % CDHT_EVQ_CAP] = ev;
}

void cdht_node_emit_peer(cdht_node *n, cdht_event_kind kind, cdht_id peer, uint16_t file) {
  cdht_event ev = { .kind = kind, .peer = peer, .file = file };
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

void cdht_node_send(cdht_node *n, cdht_transport t, cdht_id to, cdht_msg *m) {
  if (n->out_count == CDHT_OUTQ_CAP) { cdht_node_drop(n, CDHT_DROP_QUEUE); return; }
  cdht_output *o = &n->outq[(n->out_head + n->out_count) % CDHT_OUTQ_CAP];
  m->from = n->cfg.self;
  cdht_ssize len = cdht_msg_encode(o->buf, sizeof o->buf, m);
  if (len < 0) return; /* cannot happen: every type fits CDHT_MSG_MAX (tested) */
  o->transport = t;
  o->to = to;
  o->addr = cdht_config_addr(&n->cfg, to);
  o->len = (size_t)len;
  n->out_count++;
}

bool cdht_node_valid_id(const cdht_node *n, cdht_id id) { return id < n->cfg.ring_size; }

uint64_t cdht_node_detect_ms(const cdht_node *n) {
  return (uint64_t)n->cfg.misses * n->cfg.ping_interval_ms + n->cfg.ping_timeout_ms;
}

uint64_t cdht_node_key_of(const cdht_node *n, uint16_t file) { return cdht_ring_key(file, n->cfg.ring_size); }

/* ---- entry points ---- */

static int count_decode_error(cdht_node *n, cdht_ssize rc) {
  cdht_node_drop(n, rc == CDHT_ERR_VERSION ? CDHT_DROP_VERSION
          : rc == CDHT_ERR_TYPE  ? CDHT_DROP_TYPE
                                 : CDHT_DROP_MALFORMED);
  return (int)rc;
}

/* Decodes, applies the checks every message passes (transport, sender, spoofing, state), and
 * hands the message to the module that owns its type. */
static int dispatch(cdht_node *n, uint64_t now, cdht_transport t, const cdht_addr *from,
                    const uint8_t *buf, size_t len) {
  if (n->state == CDHT_LEFT) return CDHT_ERR_LEAVING;
  cdht_msg m;
  cdht_ssize rc = cdht_msg_decode(&m, buf, len);
  if (rc < 0) return count_decode_error(n, rc);
  if ((size_t)rc != len) return count_decode_error(n, CDHT_ERR_MALFORMED); /* trailing bytes */
  bool udp_type = m.type == CDHT_MSG_PING || m.type == CDHT_MSG_PONG;
  if (udp_type != (t == CDHT_UDP)) { cdht_node_drop(n, CDHT_DROP_TRANSPORT); return CDHT_ERR_UNEXPECTED; }
  if (!cdht_node_valid_id(n, m.from) || m.from == n->cfg.self) {
    cdht_node_drop(n, CDHT_DROP_BADID);
    return CDHT_ERR_BADID;
  }
  if (t == CDHT_UDP) {
    /* A datagram comes from the sender's own bound socket, so its source must be the address
     * of the id it claims (§4).  TCP sources are ephemeral ports and are judged by role. */
    cdht_addr want = cdht_config_addr(&n->cfg, m.from);
    if (from->ip != want.ip || from->port != want.port) {
      cdht_node_drop(n, CDHT_DROP_SPOOFED);
      return CDHT_ERR_SPOOFED;
    }
  }
  if (n->state == CDHT_JOINING && m.type != CDHT_MSG_JOIN_ACCEPT && m.type != CDHT_MSG_JOIN_REJECT) {
    cdht_node_drop(n, CDHT_DROP_STALE); /* not in the ring yet */
    return CDHT_ERR_UNEXPECTED;
  }
  switch (m.type) {
  case CDHT_MSG_PING: return cdht_succ_on_ping(n, now, &m);
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
  default: return count_decode_error(n, CDHT_ERR_TYPE); /* unreachable: decode checked */
  }
}

int cdht_node_on_datagram(cdht_node *n, uint64_t now, const cdht_addr *from, const uint8_t *buf, size_t len) {
  /* The cheap filter first: a flooding source is refused before its bytes are looked at. */
  if (!cdht_ratelim_allow(&n->udp_limit, ((uint64_t)from->ip << 16) | from->port, now)) {
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

int cdht_node_on_unreachable(cdht_node *n, uint64_t now, cdht_id peer) {
  cdht_join_on_unreachable(n, now, peer);
  cdht_leave_on_unreachable(n, now, peer);
  cdht_witness_on_unreachable(n, now, peer);
  return 0; /* requests and repairs have their own retry timers */
}

int cdht_node_on_command(cdht_node *n, uint64_t now, const cdht_command *cmd) {
  if (n->state == CDHT_JOINING && cmd->kind == CDHT_CMD_QUIT) { cdht_leave_finish(n); return 0; } /* not in yet */
  if (n->state == CDHT_JOINING) return CDHT_ERR_UNEXPECTED;
  if (n->state != CDHT_RUNNING) return CDHT_ERR_LEAVING;
  switch (cmd->kind) {
  case CDHT_CMD_REQUEST: return cdht_lookup_start(n, now, cmd->file, false);
  case CDHT_CMD_STORE: return cdht_lookup_start(n, now, cmd->file, true);
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
  return cdht_min_u64(t, cdht_lookup_next_deadline(n));
}

int cdht_node_next_output(cdht_node *n, cdht_output *out) {
  if (n->out_count == 0) return 0;
  *out = n->outq[n->out_head];
  n->out_head = (n->out_head + 1) % CDHT_OUTQ_CAP;
  n->out_count--;
  return 1;
}

int cdht_node_next_event(cdht_node *n, cdht_event *ev) {
  if (n->ev_count == 0) return 0;
  *ev = n->evq[n->ev_head];
  n->ev_head = (n->ev_head + 1) % CDHT_EVQ_CAP;
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
  n->state = CDHT_RUNNING;
  cdht_ratelim_init(&n->udp_limit, cfg->udp_rate, cfg->udp_rate * 2);
  cdht_succ_init(n, now, cfg->succ[0], cfg->succ[1]);
  cdht_leave_init(n);
  cdht_join_init(n);
  cdht_handover_init(n);
  n->stabilize.next_ms = now + cfg->stabilize_ms;
  if (cfg->join_via != CDHT_ID_NONE) {
    n->state = CDHT_JOINING;
    cdht_join_start(n, now);
  }
  *out = n;
  return 0;
}

void cdht_node_del(cdht_node *n) {
  if (n) n->mem.free(n->mem.ctx, n);
}

const cdht_config *cdht_node_config(const cdht_node *n) { return &n->cfg; }

cdht_id cdht_node_successor(const cdht_node *n, int i) {
  assert(i == 0 || i == 1);
  return n->succ.id[i];
}

cdht_id cdht_node_predecessor(const cdht_node *n, int i) {
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

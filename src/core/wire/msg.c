#include "msg.h"

#include <string.h>

#include "cdht/err.h"

/* Bounded reader: the error flag sticks, so a decoder checks it once at the end. */
typedef struct { const uint8_t *p; size_t len, off; int bad; } rd;
/* Bounded writer, same idea. */
typedef struct { uint8_t *p; size_t cap, off; int bad; } wr;

static uint64_t rd_uint(rd *r, size_t n) {
  if (r->bad || r->len - r->off < n) { r->bad = 1; return 0; } /* subtract, never add */
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | r->p[r->off + i];
  r->off += n;
  return v;
}
static uint8_t rd_u8(rd *r) { return (uint8_t)rd_uint(r, 1); }
static uint16_t rd_u16(rd *r) { return (uint16_t)rd_uint(r, 2); }
static uint32_t rd_u32(rd *r) { return (uint32_t)rd_uint(r, 4); }
static uint64_t rd_u64(rd *r) { return rd_uint(r, 8); }
static void rd_bytes(rd *r, void *dst, size_t n) {
  if (r->bad || r->len - r->off < n) { r->bad = 1; return; }
  memcpy(dst, r->p + r->off, n);
  r->off += n;
}

static void wr_uint(wr *w, uint64_t v, size_t n) {
  if (w->bad || w->cap - w->off < n) { w->bad = 1; return; }
  for (size_t i = 0; i < n; i++) w->p[w->off + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  w->off += n;
}
static void wr_bytes(wr *w, const void *src, size_t n) {
  if (w->bad || w->cap - w->off < n) { w->bad = 1; return; }
  memcpy(w->p + w->off, src, n);
  w->off += n;
}

static size_t ip_len(uint8_t family) { return family == CDHT_AF_INET ? 4 : family == CDHT_AF_INET6 ? 16 : 0; }

/* A peer record: id u64, family u8 (0 none, 4, 6), then for 4 and 6 the address (4 or 16
 * bytes) and the port u16.  "No peer" is id 0 and family 0, nine bytes. */
static void wr_peer(wr *w, const cdht_peer *p) {
  if (!cdht_peer_known(p)) { wr_uint(w, 0, 8); wr_uint(w, CDHT_AF_NONE, 1); return; }
  if (p->addr.family != CDHT_AF_INET && p->addr.family != CDHT_AF_INET6) { w->bad = 1; return; }
  wr_uint(w, p->id, 8);
  wr_uint(w, p->addr.family, 1);
  wr_bytes(w, p->addr.ip, ip_len(p->addr.family));
  wr_uint(w, p->addr.port, 2);
}

static cdht_peer rd_peer(rd *r) {
  cdht_peer p = cdht_peer_none();
  uint64_t id = rd_u64(r);
  uint8_t family = rd_u8(r);
  if (family == CDHT_AF_NONE) {
    if (id != 0) r->bad = 1; /* one encoding per value */
    return p;
  }
  if (family != CDHT_AF_INET && family != CDHT_AF_INET6) { r->bad = 1; return p; }
  p.id = id;
  p.addr.family = family;
  rd_bytes(r, p.addr.ip, ip_len(family));
  p.addr.port = rd_u16(r);
  if (p.addr.port == 0) r->bad = 1; /* nobody listens on port 0 */
  if (r->bad) return cdht_peer_none();
  return p;
}

bool cdht_name_valid(const uint8_t *s, size_t len) {
  if (len == 0 || len > CDHT_NAME_MAX) return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] <= ' ' || s[i] == 0x7f || s[i] == '/') return false;
  return true;
}

int cdht_name_set(cdht_name *n, const void *s, size_t len) {
  if (!cdht_name_valid(s, len)) return CDHT_ERR_INVAL;
  n->len = (uint8_t)len;
  memcpy(n->s, s, len);
  return 0;
}

bool cdht_name_eq(const cdht_name *a, const cdht_name *b) {
  return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

int cdht_name_cmp(const cdht_name *a, const cdht_name *b) {
  int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
  return c ? c : (int)a->len - (int)b->len;
}

int cdht_name_number(const cdht_name *n) {
  if (n->len != 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; i++) {
    if (n->s[i] < '0' || n->s[i] > '9') return -1;
    v = v * 10 + (n->s[i] - '0');
  }
  return v;
}

void cdht_name_of_number(cdht_name *n, unsigned number) {
  number %= 10000;
  n->len = 4;
  for (int i = 3; i >= 0; i--, number /= 10) n->s[i] = (uint8_t)('0' + number % 10);
}

/* Body layouts, in field order.  One table, so encode, decode and the maximum lengths agree. */
enum { F_FROM = 1, F_SEQ = 2, F_ROLE = 4, F_NAME = 8, F_ORIGIN = 16, F_HOPS = 32, F_FLAGS = 64,
       F_SUCC = 128, F_ABOUT = 256, F_AGE = 512, F_SIZE = 1024, F_DIGEST = 2048, F_EXT = 4096,
       F_TOKEN = 8192, F_PARAMS = 16384, F_REASON = 32768, F_KEY = 65536 };
static const struct { const char *name; unsigned fields; } layouts[CDHT_MSG_COUNT] = {
  [CDHT_MSG_PING] = { "ping", F_FROM | F_SEQ | F_ROLE },
  [CDHT_MSG_PONG] = { "pong", F_FROM | F_SEQ },
  [CDHT_MSG_FILE_REQ] = { "file-request", F_FROM | F_ORIGIN | F_SEQ | F_NAME | F_HOPS | F_FLAGS },
  [CDHT_MSG_FILE_RESP] = { "file-response", F_FROM | F_SEQ | F_NAME | F_HOPS | F_FLAGS | F_TOKEN },
  [CDHT_MSG_DEPART] = { "depart", F_FROM | F_SUCC },
  [CDHT_MSG_DEPART_ACK] = { "depart-ack", F_FROM | F_TOKEN },
  [CDHT_MSG_SUCC_QUERY] = { "successor-query", F_FROM | F_SEQ },
  [CDHT_MSG_SUCC_REPLY] = { "successor-reply", F_FROM | F_SEQ | F_SUCC },
  [CDHT_MSG_WITNESS_QUERY] = { "witness-query", F_FROM | F_SEQ | F_ABOUT },
  [CDHT_MSG_WITNESS_REPLY] = { "witness-reply", F_FROM | F_SEQ | F_ABOUT | F_AGE },
  [CDHT_MSG_JOIN_REQ] = { "join-request", F_FROM | F_ORIGIN | F_SEQ | F_HOPS | F_PARAMS },
  [CDHT_MSG_JOIN_ACCEPT] = { "join-accept", F_FROM | F_SEQ | F_SUCC | F_ABOUT | F_TOKEN },
  [CDHT_MSG_JOIN_REJECT] = { "join-reject", F_FROM | F_SEQ | F_REASON | F_PARAMS },
  [CDHT_MSG_SUCC_CHANGE] = { "successor-change", F_FROM | F_SUCC },
  [CDHT_MSG_STAB_QUERY] = { "stabilize-query", F_FROM | F_SEQ },
  [CDHT_MSG_STAB_REPLY] = { "stabilize-reply", F_FROM | F_SEQ | F_SUCC | F_ABOUT | F_AGE },
  [CDHT_MSG_STORE_REQ] = { "store-request", F_FROM | F_ORIGIN | F_SEQ | F_NAME | F_HOPS | F_FLAGS },
  [CDHT_MSG_STORE_ACCEPT] = { "store-accept", F_FROM | F_SEQ | F_NAME | F_HOPS | F_TOKEN },
  [CDHT_MSG_STORE_DONE] = { "store-done", F_FROM | F_SEQ | F_NAME | F_ABOUT },
  [CDHT_MSG_XFER] = { "transfer", F_FROM | F_SEQ | F_NAME | F_FLAGS | F_SIZE | F_DIGEST | F_EXT | F_TOKEN },
  [CDHT_MSG_KEYS_REQ] = { "keys-request", F_FROM | F_ABOUT | F_TOKEN },
  [CDHT_MSG_KEYS_DONE] = { "keys-done", F_FROM | F_SEQ | F_TOKEN },
  [CDHT_MSG_JOIN_ACK] = { "join-ack", F_FROM | F_SEQ | F_TOKEN },
  [CDHT_MSG_DEPART_CONFIRM] = { "depart-confirm", F_FROM | F_TOKEN },
  [CDHT_MSG_KEYS_OFFER] = { "keys-offer", F_FROM | F_KEY },
  [CDHT_MSG_KEYS_GRANT] = { "keys-grant", F_FROM | F_TOKEN },
  [CDHT_MSG_FIND_REQ] = { "find-request", F_FROM | F_ORIGIN | F_SEQ | F_HOPS | F_FLAGS | F_KEY },
  [CDHT_MSG_FIND_RESP] = { "find-response", F_FROM | F_SEQ | F_HOPS | F_KEY },
};

static bool known(uint8_t type) { return type > 0 && type < CDHT_MSG_COUNT; }

/* The flag bits each type with a flags byte (other than a transfer's kind) may set: each type
 * its own, even where two share a value (CDHT_REQ_FINAL and CDHT_RESP_CONTENT are both 0x01). */
static unsigned allowed_flags(uint8_t type) {
  switch (type) {
  case CDHT_MSG_FILE_REQ:
  case CDHT_MSG_STORE_REQ:
  case CDHT_MSG_FIND_REQ: return CDHT_REQ_FINAL;
  case CDHT_MSG_FILE_RESP: return CDHT_RESP_CONTENT;
  default: return 0;
  }
}

int cdht_msg_body_max(uint8_t type) {
  if (!known(type)) return -1;
  unsigned f = layouts[type].fields;
  return CDHT_PEER_WIRE_MAX * (!!(f & F_FROM) + !!(f & F_ORIGIN) + !!(f & F_ABOUT)) + 4 * !!(f & F_SEQ) +
         1 * !!(f & F_ROLE) + (1 + CDHT_NAME_MAX) * !!(f & F_NAME) + 2 * !!(f & F_HOPS) + 1 * !!(f & F_FLAGS) +
         (1 + CDHT_LIST_MAX * CDHT_PEER_WIRE_MAX) * !!(f & F_SUCC) + 4 * !!(f & F_AGE) + 8 * !!(f & F_SIZE) +
         CDHT_DIGEST_LEN * !!(f & F_DIGEST) + CDHT_EXT_LEN * !!(f & F_EXT) + 8 * !!(f & F_TOKEN) + 2 * !!(f & F_PARAMS) + 1 * !!(f & F_REASON) + 8 * !!(f & F_KEY);
}

const char *cdht_msg_name(uint8_t type) { return known(type) ? layouts[type].name : "?"; }

/* An extension: letters and digits, then NUL padding, so that it is safe in a file name. */
static bool ext_valid(const char ext[CDHT_EXT_LEN]) {
  bool ended = false;
  for (size_t i = 0; i < CDHT_EXT_LEN; i++) {
    char c = ext[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == 0) ended = true;
    else if (ended || !ok) return false;
  }
  return true;
}

/* The checks of field values both sides make: what the encoder refuses to write, the decoder
 * refuses to read. */
static bool fields_valid(const cdht_msg *m, unsigned f) {
  if ((f & F_FROM) && !cdht_peer_known(&m->from)) return false;
  if ((f & F_ORIGIN) && !cdht_peer_known(&m->origin)) return false;
  if ((f & F_ROLE) && m->role != CDHT_ROLE_FIRST && m->role != CDHT_ROLE_SECOND) return false;
  if ((f & F_NAME) && !cdht_name_valid(m->name.s, m->name.len)) return false;
  if ((f & F_SUCC) && m->nsucc > CDHT_LIST_MAX) return false;
  if ((f & F_FLAGS) && m->type == CDHT_MSG_XFER && m->flags > CDHT_XFER_HANDOVER) return false;
  if ((f & F_FLAGS) && m->type != CDHT_MSG_XFER && (m->flags & ~allowed_flags(m->type))) return false;
  if ((f & F_EXT) && !ext_valid(m->ext)) return false;
  if ((f & F_PARAMS) && (m->bits < 1 || m->bits > 64 || m->keys > CDHT_KEYS_BLAKE2B)) return false;
  if ((f & F_REASON) && m->reason != CDHT_REJECT_TAKEN && m->reason != CDHT_REJECT_PARAMS) return false;
  return true;
}

cdht_ssize cdht_msg_encode(uint8_t *dst, size_t cap, const cdht_msg *m) {
  if (!known(m->type)) return CDHT_ERR_TYPE;
  unsigned f = layouts[m->type].fields;
  if (!fields_valid(m, f)) return CDHT_ERR_INVAL;
  wr w = { dst, cap, 0, 0 };
  wr_uint(&w, CDHT_WIRE_V2, 1);
  wr_uint(&w, m->type, 1);
  wr_uint(&w, 0, 2); /* the body length, filled in below */
  if (f & F_FROM) wr_peer(&w, &m->from);
  if (f & F_ORIGIN) wr_peer(&w, &m->origin);
  if (f & F_SEQ) wr_uint(&w, m->seq, 4);
  if (f & F_ROLE) wr_uint(&w, m->role, 1);
  if (f & F_NAME) { wr_uint(&w, m->name.len, 1); wr_bytes(&w, m->name.s, m->name.len); }
  if (f & F_HOPS) wr_uint(&w, m->hops, 2);
  if (f & F_FLAGS) wr_uint(&w, m->flags, 1);
  if (f & F_SUCC) {
    wr_uint(&w, m->nsucc, 1);
    for (size_t i = 0; i < m->nsucc; i++) wr_peer(&w, &m->succ[i]);
  }
  if (f & F_ABOUT) wr_peer(&w, &m->about);
  if (f & F_AGE) wr_uint(&w, m->age_ms, 4);
  if (f & F_SIZE) wr_uint(&w, m->size, 8);
  if (f & F_DIGEST) wr_bytes(&w, m->digest, CDHT_DIGEST_LEN);
  if (f & F_EXT) wr_bytes(&w, m->ext, CDHT_EXT_LEN);
  if (f & F_TOKEN) wr_uint(&w, m->token, 8);
  if (f & F_REASON) wr_uint(&w, m->reason, 1);
  if (f & F_KEY) wr_uint(&w, m->key, 8);
  if (f & F_PARAMS) { wr_uint(&w, m->bits, 1); wr_uint(&w, m->keys, 1); }
  if (w.bad) return CDHT_ERR_NOBUF;
  size_t body = w.off - CDHT_HDR_LEN; /* at most cdht_msg_body_max(type) < 2^16 */
  dst[2] = (uint8_t)(body >> 8);
  dst[3] = (uint8_t)body;
  return (cdht_ssize)w.off;
}

cdht_ssize cdht_msg_decode(cdht_msg *m, const uint8_t *buf, size_t len) {
  memset(m, 0, sizeof *m);
  if (len < CDHT_HDR_LEN) return CDHT_ERR_MALFORMED;
  if (buf[0] != CDHT_WIRE_V2) return CDHT_ERR_VERSION;
  uint8_t type = buf[1];
  if (!known(type)) return CDHT_ERR_TYPE;
  size_t body = (size_t)buf[2] << 8 | buf[3]; /* a length the sender claims */
  if (body > len - CDHT_HDR_LEN || body > (size_t)cdht_msg_body_max(type)) return CDHT_ERR_MALFORMED;
  /* The reader ends where the claimed body ends: a field cannot run into the next message. */
  rd r = { buf, CDHT_HDR_LEN + body, CDHT_HDR_LEN, 0 };
  unsigned f = layouts[type].fields;
  m->type = type;
  if (f & F_FROM) m->from = rd_peer(&r);
  if (f & F_ORIGIN) m->origin = rd_peer(&r);
  if (f & F_SEQ) m->seq = rd_u32(&r);
  if (f & F_ROLE) m->role = rd_u8(&r);
  if (f & F_NAME) {
    m->name.len = rd_u8(&r);
    rd_bytes(&r, m->name.s, m->name.len);
  }
  if (f & F_HOPS) m->hops = rd_u16(&r);
  if (f & F_FLAGS) m->flags = rd_u8(&r);
  if (f & F_SUCC) {
    size_t n = rd_u8(&r); /* a count the peer claims: against the maximum and the bytes left */
    if (n > CDHT_LIST_MAX || n > (r.len - r.off) / 9) return CDHT_ERR_MALFORMED;
    for (m->nsucc = 0; m->nsucc < n && !r.bad; m->nsucc++) m->succ[m->nsucc] = rd_peer(&r);
  }
  if (f & F_ABOUT) m->about = rd_peer(&r);
  if (f & F_AGE) m->age_ms = rd_u32(&r);
  if (f & F_SIZE) m->size = rd_u64(&r);
  if (f & F_DIGEST) rd_bytes(&r, m->digest, CDHT_DIGEST_LEN);
  if (f & F_EXT) rd_bytes(&r, m->ext, CDHT_EXT_LEN);
  if (f & F_TOKEN) m->token = rd_u64(&r);
  if (f & F_REASON) m->reason = rd_u8(&r);
  if (f & F_KEY) m->key = rd_u64(&r);
  if (f & F_PARAMS) { m->bits = rd_u8(&r); m->keys = rd_u8(&r); }
  if (r.bad || r.off != r.len || !fields_valid(m, f)) return CDHT_ERR_MALFORMED;
  return (cdht_ssize)r.off;
}

#include "msg.h"

#include <stdbool.h>
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

static void wr_uint(wr *w, uint64_t v, size_t n) {
  if (w->bad || w->cap - w->off < n) { w->bad = 1; return; }
  for (size_t i = 0; i < n; i++) w->p[w->off + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  w->off += n;
}

/* Body layouts, in field order.  One table, so encode, decode and the lengths agree. */
enum { F_FROM = 1, F_SEQ = 2, F_ROLE = 4, F_FILE = 8, F_ORIGIN = 16, F_HOPS = 32, F_FLAGS = 64,
       F_SUCC = 128, F_ABOUT = 256, F_AGE = 512, F_SIZE = 1024, F_DIGEST = 2048, F_EXT = 4096,
       F_TOKEN = 8192 };
static const struct { const char *name; unsigned fields; } layouts[CDHT_MSG_COUNT] = {
  [CDHT_MSG_PING] = { "ping", F_FROM | F_SEQ | F_ROLE },
  [CDHT_MSG_PONG] = { "pong", F_FROM | F_SEQ },
  [CDHT_MSG_FILE_REQ] = { "file-request", F_FROM | F_ORIGIN | F_SEQ | F_FILE | F_HOPS | F_FLAGS },
  [CDHT_MSG_FILE_RESP] = { "file-response", F_FROM | F_SEQ | F_FILE | F_FLAGS | F_TOKEN },
  [CDHT_MSG_DEPART] = { "depart", F_FROM | F_SUCC },
  [CDHT_MSG_DEPART_ACK] = { "depart-ack", F_FROM | F_TOKEN },
  [CDHT_MSG_SUCC_QUERY] = { "successor-query", F_FROM | F_SEQ },
  [CDHT_MSG_SUCC_REPLY] = { "successor-reply", F_FROM | F_SEQ | F_SUCC },
  [CDHT_MSG_WITNESS_QUERY] = { "witness-query", F_FROM | F_SEQ | F_ABOUT },
  [CDHT_MSG_WITNESS_REPLY] = { "witness-reply", F_FROM | F_SEQ | F_ABOUT | F_AGE },
  [CDHT_MSG_JOIN_REQ] = { "join-request", F_FROM | F_ORIGIN | F_SEQ | F_HOPS },
  [CDHT_MSG_JOIN_ACCEPT] = { "join-accept", F_FROM | F_SEQ | F_SUCC | F_ABOUT | F_TOKEN },
  [CDHT_MSG_JOIN_REJECT] = { "join-reject", F_FROM | F_SEQ },
  [CDHT_MSG_SUCC_CHANGE] = { "successor-change", F_FROM | F_SUCC },
  [CDHT_MSG_STAB_QUERY] = { "stabilize-query", F_FROM | F_SEQ },
  [CDHT_MSG_STAB_REPLY] = { "stabilize-reply", F_FROM | F_SEQ | F_SUCC | F_ABOUT | F_AGE },
  [CDHT_MSG_STORE_REQ] = { "store-request", F_FROM | F_ORIGIN | F_SEQ | F_FILE | F_HOPS | F_FLAGS },
  [CDHT_MSG_STORE_ACCEPT] = { "store-accept", F_FROM | F_SEQ | F_FILE | F_TOKEN },
  [CDHT_MSG_STORE_DONE] = { "store-done", F_FROM | F_SEQ | F_FILE | F_ABOUT },
  [CDHT_MSG_XFER] = { "transfer", F_FROM | F_SEQ | F_FILE | F_FLAGS | F_SIZE | F_DIGEST | F_EXT | F_TOKEN },
  [CDHT_MSG_KEYS_REQ] = { "keys-request", F_FROM | F_ABOUT | F_TOKEN },
  [CDHT_MSG_KEYS_DONE] = { "keys-done", F_FROM | F_SEQ | F_TOKEN },
  [CDHT_MSG_JOIN_ACK] = { "join-ack", F_FROM | F_SEQ | F_TOKEN },
  [CDHT_MSG_DEPART_CONFIRM] = { "depart-confirm", F_FROM | F_TOKEN },
  [CDHT_MSG_KEYS_OFFER] = { "keys-offer", F_FROM | F_ABOUT },
  [CDHT_MSG_KEYS_GRANT] = { "keys-grant", F_FROM | F_TOKEN },
};

static int known(uint8_t type) { return type > 0 && type < CDHT_MSG_COUNT; }

/* The flag bits each type with a flags byte (other than a transfer's kind) may set: each type
 * its own, even where two share a value (CDHT_REQ_FINAL and CDHT_RESP_CONTENT are both 0x01). */
static unsigned request_flags(uint8_t type) {
  switch (type) {
  case CDHT_MSG_FILE_REQ:
  case CDHT_MSG_STORE_REQ: return CDHT_REQ_FINAL;
  case CDHT_MSG_FILE_RESP: return CDHT_RESP_CONTENT;
  default: return 0;
  }
}

int cdht_msg_body_len(uint8_t type) {
  if (!known(type)) return -1;
  unsigned f = layouts[type].fields;
  return 8 * !!(f & F_FROM) + 8 * !!(f & F_ORIGIN) + 4 * !!(f & F_SEQ) + 1 * !!(f & F_ROLE) +
         2 * !!(f & F_FILE) + 2 * !!(f & F_HOPS) + 1 * !!(f & F_FLAGS) + 16 * !!(f & F_SUCC) +
         8 * !!(f & F_ABOUT) + 4 * !!(f & F_AGE) + 8 * !!(f & F_SIZE) + CDHT_DIGEST_LEN * !!(f & F_DIGEST) +
         CDHT_EXT_LEN * !!(f & F_EXT) + 8 * !!(f & F_TOKEN);
}

const char *cdht_msg_name(uint8_t type) { return known(type) ? layouts[type].name : "?"; }

cdht_ssize cdht_msg_encode(uint8_t *dst, size_t cap, const cdht_msg *m) {
  if (!known(m->type)) return CDHT_ERR_TYPE;
  unsigned f = layouts[m->type].fields;
  wr w = { dst, cap, 0, 0 };
  wr_uint(&w, CDHT_WIRE_V1, 1);
  wr_uint(&w, m->type, 1);
  wr_uint(&w, (uint64_t)cdht_msg_body_len(m->type), 2);
  if (f & F_FROM) wr_uint(&w, m->from, 8);
  if (f & F_ORIGIN) wr_uint(&w, m->origin, 8);
  if (f & F_SEQ) wr_uint(&w, m->seq, 4);
  if (f & F_ROLE) wr_uint(&w, m->role, 1);
  if (f & F_FILE) wr_uint(&w, m->file, 2);
  if (f & F_HOPS) wr_uint(&w, m->hops, 2);
  if (f & F_FLAGS) wr_uint(&w, m->flags, 1);
  if (f & F_SUCC) { wr_uint(&w, m->succ[0], 8); wr_uint(&w, m->succ[1], 8); }
  if (f & F_ABOUT) wr_uint(&w, m->about, 8);
  if (f & F_AGE) wr_uint(&w, m->age_ms, 4);
  if (f & F_SIZE) wr_uint(&w, m->size, 8);
  for (size_t i = 0; (f & F_DIGEST) && i < CDHT_DIGEST_LEN; i++) wr_uint(&w, m->digest[i], 1);
  for (size_t i = 0; (f & F_EXT) && i < CDHT_EXT_LEN; i++) wr_uint(&w, (uint8_t)m->ext[i], 1);
  if (f & F_TOKEN) wr_uint(&w, m->token, 8);
  return w.bad ? CDHT_ERR_NOBUF : (cdht_ssize)w.off;
}

cdht_ssize cdht_msg_decode(cdht_msg *m, const uint8_t *buf, size_t len) {
  rd r = { buf, len, 0, 0 };
  memset(m, 0, sizeof *m);
  if (len < CDHT_HDR_LEN) return CDHT_ERR_MALFORMED;
  if (rd_u8(&r) != CDHT_WIRE_V1) return CDHT_ERR_VERSION;
  uint8_t type = rd_u8(&r);
  if (!known(type)) return CDHT_ERR_TYPE;
  size_t body = rd_u16(&r); /* a length the sender claims: checked against the type and the buffer */
  if (body != (size_t)cdht_msg_body_len(type) || body > r.len - r.off) return CDHT_ERR_MALFORMED;
  unsigned f = layouts[type].fields;
  m->type = type;
  if (f & F_FROM) m->from = rd_u64(&r);
  if (f & F_ORIGIN) m->origin = rd_u64(&r);
  if (f & F_SEQ) m->seq = rd_u32(&r);
  if (f & F_ROLE) m->role = rd_u8(&r);
  if (f & F_FILE) m->file = rd_u16(&r);
  if (f & F_HOPS) m->hops = rd_u16(&r);
  if (f & F_FLAGS) m->flags = rd_u8(&r);
  if (f & F_SUCC) { m->succ[0] = rd_u64(&r); m->succ[1] = rd_u64(&r); }
  if (f & F_ABOUT) m->about = rd_u64(&r);
  if (f & F_AGE) m->age_ms = rd_u32(&r);
  if (f & F_SIZE) m->size = rd_u64(&r);
  for (size_t i = 0; (f & F_DIGEST) && i < CDHT_DIGEST_LEN; i++) m->digest[i] = rd_u8(&r);
  for (size_t i = 0; (f & F_EXT) && i < CDHT_EXT_LEN; i++) m->ext[i] = (char)rd_u8(&r);
  if (f & F_TOKEN) m->token = rd_u64(&r);
  if (r.bad) return CDHT_ERR_MALFORMED;
  if ((f & F_ROLE) && m->role != CDHT_ROLE_FIRST && m->role != CDHT_ROLE_SECOND)
    return CDHT_ERR_MALFORMED;
  if ((f & F_FILE) && m->file > CDHT_FILE_MAX) return CDHT_ERR_MALFORMED;
  if ((f & F_FLAGS) && type == CDHT_MSG_XFER && m->flags > CDHT_XFER_HANDOVER) return CDHT_ERR_MALFORMED;
  if ((f & F_FLAGS) && type != CDHT_MSG_XFER && (m->flags & ~request_flags(type))) return CDHT_ERR_MALFORMED;
  if (f & F_EXT) { /* letters and digits, then NUL padding: safe in a file name */
    bool ended = false;
    for (size_t i = 0; i < CDHT_EXT_LEN; i++) {
      char c = m->ext[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (c == 0) ended = true;
      else if (ended || !ok) return CDHT_ERR_MALFORMED;
    }
  }
  return (cdht_ssize)r.off;
}

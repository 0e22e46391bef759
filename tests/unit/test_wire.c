/* Unit tests for src/core/wire/msg.h: the wire codec, version 2 (docs/protocol.md §2).  Every
 * input handed to the decoder is an exact-size heap copy, so AddressSanitizer catches any
 * over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdht/err.h"
#include "core/wire/msg.h"

static cdht_peer v4(cdht_id id, uint32_t ip, uint16_t port) { return cdht_peer_make(id, cdht_addr_v4(ip, port)); }
static cdht_peer v6(cdht_id id, uint8_t last, uint16_t port) {
  uint8_t ip[16] = { 0xfd, 0x00, 0xcd, 0x47 };
  ip[15] = last;
  return cdht_peer_make(id, cdht_addr_v6(ip, port));
}

static void set_name(cdht_name *n, const char *s) { assert_int_equal(cdht_name_set(n, s, strlen(s)), 0); }

/* A message of |type| with every field the type carries set to a distinctive value (IPv4 or
 * IPv6 peers by |wide|, full lists and the longest name when |wide|), every other field zero. */
static cdht_msg sample(uint8_t type, bool wide) {
  cdht_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.from = wide ? v6(UINT64_MAX, 0xff, 65535) : v4(0x0102030405060708ull, 0xc6120001, 4000);
  cdht_peer other = wide ? v6(0, 2, 1) : v4(7, 0x7f000001, 50007);
  if (wide) {
    m.name.len = CDHT_NAME_MAX;
    for (int i = 0; i < CDHT_NAME_MAX; i++) m.name.s[i] = (uint8_t)(0x21 + i % 14 == '/' ? 'x' : 0x80 + i % 100);
  } else {
    set_name(&m.name, "2012");
  }
  switch ((cdht_msg_type)type) {
  case CDHT_MSG_PING: m.seq = 0xa1b2c3d4u; m.role = CDHT_ROLE_SECOND; break;
  case CDHT_MSG_PONG: m.seq = 0xdeadbeefu; break;
  case CDHT_MSG_FILE_REQ:
  case CDHT_MSG_STORE_REQ: m.origin = other; m.seq = 77; m.hops = 0xfedc; m.flags = CDHT_REQ_FINAL; break;
  case CDHT_MSG_FILE_RESP: m.seq = 0x01020304u; m.hops = 17; m.flags = CDHT_RESP_CONTENT; m.token = 0xa0a1a2a3a4a5a6a7ull; break;
  case CDHT_MSG_DEPART:
  case CDHT_MSG_SUCC_CHANGE:
  case CDHT_MSG_SUCC_REPLY:
  case CDHT_MSG_JOIN_ACCEPT:
  case CDHT_MSG_STAB_REPLY:
    m.seq = type == CDHT_MSG_DEPART || type == CDHT_MSG_SUCC_CHANGE ? 0 : 0xffffffffu;
    m.nsucc = wide ? CDHT_LIST_MAX : 2;
    for (int i = 0; i < m.nsucc; i++) m.succ[i] = wide ? v6((cdht_id)i << 56, (uint8_t)i, (uint16_t)(1000 + i)) : v4(40 + (cdht_id)i, 0x7f000001, (uint16_t)(50040 + i));
    if (!wide) m.succ[1] = cdht_peer_none(); /* pending */
    if (type == CDHT_MSG_JOIN_ACCEPT) { m.about = other; m.token = 99; }
    if (type == CDHT_MSG_STAB_REPLY) { m.about = other; m.age_ms = 250; }
    break;
  case CDHT_MSG_DEPART_ACK: m.token = 5; break;
  case CDHT_MSG_SUCC_QUERY:
  case CDHT_MSG_STAB_QUERY: m.seq = 5; break;
  case CDHT_MSG_JOIN_REJECT: m.seq = 5; m.reason = CDHT_REJECT_PARAMS; m.bits = wide ? 64 : 1; m.keys = CDHT_KEYS_BLAKE2B; break;
  case CDHT_MSG_WITNESS_QUERY: m.seq = 9; m.about = other; break;
  case CDHT_MSG_WITNESS_REPLY: m.seq = 10; m.about = other; m.age_ms = CDHT_AGE_NEVER; break;
  case CDHT_MSG_JOIN_REQ: m.origin = other; m.seq = 4; m.hops = 2; m.bits = 8; m.keys = CDHT_KEYS_NUMBERS; break;
  case CDHT_MSG_STORE_ACCEPT: m.seq = 5; m.hops = 3; m.token = UINT64_MAX; break;
  case CDHT_MSG_STORE_DONE: m.seq = 5; m.about = other; break;
  case CDHT_MSG_XFER:
    m.seq = 6;
    m.flags = CDHT_XFER_HANDOVER;
    m.size = 0x0102030405060708ull;
    for (int i = 0; i < CDHT_DIGEST_LEN; i++) m.digest[i] = (uint8_t)(i * 7);
    memcpy(m.ext, wide ? "ABCdef09" : "pdf", wide ? 8 : 3);
    m.token = 0x0807060504030201ull;
    break;
  case CDHT_MSG_KEYS_REQ: m.about = other; m.token = 5; break;
  case CDHT_MSG_KEYS_DONE: m.seq = 3; m.token = 6; break;
  case CDHT_MSG_JOIN_ACK: m.seq = 4; m.token = 0x1122334455667788ull; break;
  case CDHT_MSG_DEPART_CONFIRM: m.token = 12345; break;
  case CDHT_MSG_KEYS_OFFER: m.key = wide ? UINT64_MAX : 3; break;
  case CDHT_MSG_KEYS_GRANT: m.token = 777; break;
  case CDHT_MSG_FIND_REQ: m.origin = other; m.seq = 8; m.hops = 5; m.flags = CDHT_REQ_FINAL; m.key = wide ? UINT64_MAX : 200; break;
  case CDHT_MSG_FIND_RESP: m.seq = 8; m.hops = 6; m.key = wide ? UINT64_MAX - 1 : 200; break;
  case CDHT_MSG_COUNT: break;
  }
  bool named = type == CDHT_MSG_FILE_REQ || type == CDHT_MSG_FILE_RESP || type == CDHT_MSG_STORE_REQ ||
               type == CDHT_MSG_STORE_ACCEPT || type == CDHT_MSG_STORE_DONE || type == CDHT_MSG_XFER;
  if (!named) memset(&m.name, 0, sizeof m.name);
  return m;
}

static void assert_peer_equal(const cdht_peer *a, const cdht_peer *b) {
  assert_true(cdht_peer_eq(a, b));
  assert_true(a->id == b->id);
}

static void assert_msg_equal(const cdht_msg *a, const cdht_msg *b) {
  assert_int_equal(a->type, b->type);
  assert_peer_equal(&a->from, &b->from);
  assert_int_equal(a->seq, b->seq);
  assert_int_equal(a->role, b->role);
  assert_true(cdht_name_eq(&a->name, &b->name));
  assert_peer_equal(&a->origin, &b->origin);
  assert_int_equal(a->hops, b->hops);
  assert_int_equal(a->flags, b->flags);
  assert_int_equal(a->nsucc, b->nsucc);
  for (int i = 0; i < a->nsucc; i++) assert_peer_equal(&a->succ[i], &b->succ[i]);
  assert_peer_equal(&a->about, &b->about);
  assert_int_equal(a->age_ms, b->age_ms);
  assert_true(a->size == b->size);
  assert_memory_equal(a->digest, b->digest, CDHT_DIGEST_LEN);
  assert_memory_equal(a->ext, b->ext, CDHT_EXT_LEN);
  assert_true(a->token == b->token);
  assert_int_equal(a->bits, b->bits);
  assert_int_equal(a->keys, b->keys);
  assert_int_equal(a->reason, b->reason);
  assert_true(a->key == b->key);
}

/* Encodes |m| into a fresh heap buffer of exactly its length; sets *len. */
static uint8_t *encode_exact(const cdht_msg *m, size_t *len) {
  uint8_t tmp[CDHT_MSG_MAX];
  cdht_ssize n = cdht_msg_encode(tmp, sizeof tmp, m);
  assert_true(n > 0);
  uint8_t *p = malloc((size_t)n);
  assert_non_null(p);
  memcpy(p, tmp, (size_t)n);
  *len = (size_t)n;
  return p;
}

static cdht_ssize decode_copy(cdht_msg *m, const uint8_t *src, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  if (len) memcpy(p, src, len);
  cdht_ssize rc = cdht_msg_decode(m, p, len);
  free(p);
  return rc;
}

static void test_wire_round_trip_every_type(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    for (int wide = 0; wide < 2; wide++) {
      cdht_msg in = sample((uint8_t)t, wide), out;
      size_t len;
      uint8_t *buf = encode_exact(&in, &len);
      assert_int_equal(buf[0], CDHT_WIRE_V2);
      assert_int_equal(buf[1], t);
      assert_int_equal((size_t)(buf[2] << 8 | buf[3]), len - CDHT_HDR_LEN);
      assert_true((int)(len - CDHT_HDR_LEN) <= cdht_msg_body_max((uint8_t)t));
      memset(&out, 0xa5, sizeof out); /* the decoder must clear what the type does not carry */
      assert_int_equal(decode_copy(&out, buf, len), (cdht_ssize)len);
      assert_msg_equal(&in, &out);
      free(buf);
    }
  }
}

/* The largest values every numeric field can hold survive a round trip (from test_msg.c of
 * wire version 1): ids of a 64-bit ring, u32 ids and ages, u16 hops, u64 tokens, sizes, keys. */
static void test_wire_round_trip_extreme_values(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    for (int low = 0; low < 2; low++) {
      cdht_msg in = sample((uint8_t)t, false), out;
      in.from = v4(low ? 0 : UINT64_MAX, low ? 1 : UINT32_MAX, low ? 1 : UINT16_MAX);
      if (cdht_peer_known(&in.origin)) in.origin = v6(low ? 0 : UINT64_MAX, low ? 0 : 0xff, low ? 1 : UINT16_MAX);
      if (cdht_peer_known(&in.about)) in.about = v4(low ? 0 : UINT64_MAX, 0, 1);
      if (in.seq) in.seq = low ? 0 : UINT32_MAX;
      if (in.hops) in.hops = low ? 0 : UINT16_MAX;
      if (in.age_ms) in.age_ms = low ? 0 : UINT32_MAX;
      if (in.token) in.token = low ? 0 : UINT64_MAX;
      if (in.size) in.size = low ? 0 : UINT64_MAX;
      if (in.key) in.key = low ? 0 : UINT64_MAX;
      for (int i = 0; i < in.nsucc; i++) in.succ[i] = v4(low ? 0 : UINT64_MAX - (cdht_id)i, 0xffffffffu, 65535);
      size_t len;
      uint8_t *buf = encode_exact(&in, &len);
      assert_int_equal(decode_copy(&out, buf, len), (cdht_ssize)len);
      assert_msg_equal(&in, &out);
      free(buf);
    }
  }
}

/* Fields a type does not carry are not encoded: setting them changes nothing on the wire, and
 * decoding gives them back as zero ("no peer" for records). */
static void test_wire_encode_ignores_fields_the_type_lacks(void **state) {
  (void)state;
  /* the layouts of docs/protocol.md §2, by field */
  enum { SEQ = 1, ROLE = 2, NAME = 4, ORIGIN = 8, HOPS = 16, FLAGS = 32, SUCC = 64, ABOUT = 128, AGE = 256,
         XFERF = 512, TOKEN = 1024, PARAMS = 2048, REASON = 4096, KEY = 8192 };
  static const unsigned has[CDHT_MSG_COUNT] = {
    [CDHT_MSG_PING] = SEQ | ROLE,
    [CDHT_MSG_PONG] = SEQ,
    [CDHT_MSG_FILE_REQ] = ORIGIN | SEQ | NAME | HOPS | FLAGS,
    [CDHT_MSG_FILE_RESP] = SEQ | NAME | HOPS | FLAGS | TOKEN,
    [CDHT_MSG_DEPART] = SUCC,
    [CDHT_MSG_DEPART_ACK] = TOKEN,
    [CDHT_MSG_SUCC_QUERY] = SEQ,
    [CDHT_MSG_SUCC_REPLY] = SEQ | SUCC,
    [CDHT_MSG_WITNESS_QUERY] = SEQ | ABOUT,
    [CDHT_MSG_WITNESS_REPLY] = SEQ | ABOUT | AGE,
    [CDHT_MSG_JOIN_REQ] = ORIGIN | SEQ | HOPS | PARAMS,
    [CDHT_MSG_JOIN_ACCEPT] = SEQ | SUCC | ABOUT | TOKEN,
    [CDHT_MSG_JOIN_REJECT] = SEQ | REASON | PARAMS,
    [CDHT_MSG_SUCC_CHANGE] = SUCC,
    [CDHT_MSG_STAB_QUERY] = SEQ,
    [CDHT_MSG_STAB_REPLY] = SEQ | SUCC | ABOUT | AGE,
    [CDHT_MSG_STORE_REQ] = ORIGIN | SEQ | NAME | HOPS | FLAGS,
    [CDHT_MSG_STORE_ACCEPT] = SEQ | NAME | HOPS | TOKEN,
    [CDHT_MSG_STORE_DONE] = SEQ | NAME | ABOUT,
    [CDHT_MSG_XFER] = SEQ | NAME | FLAGS | XFERF | TOKEN,
    [CDHT_MSG_KEYS_REQ] = ABOUT | TOKEN,
    [CDHT_MSG_KEYS_DONE] = SEQ | TOKEN,
    [CDHT_MSG_JOIN_ACK] = SEQ | TOKEN,
    [CDHT_MSG_DEPART_CONFIRM] = TOKEN,
    [CDHT_MSG_KEYS_OFFER] = KEY,
    [CDHT_MSG_KEYS_GRANT] = TOKEN,
    [CDHT_MSG_FIND_REQ] = ORIGIN | SEQ | HOPS | FLAGS | KEY,
    [CDHT_MSG_FIND_RESP] = SEQ | HOPS | KEY,
  };
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg clean = sample((uint8_t)t, false), noisy = clean, out;
    unsigned f = has[t];
    if (!(f & SEQ)) noisy.seq = 1234;
    if (!(f & ROLE)) noisy.role = 7; /* not even a valid role: never looked at */
    if (!(f & NAME)) set_name(&noisy.name, "noise");
    if (!(f & ORIGIN)) noisy.origin = v4(99, 0x01020304, 9);
    if (!(f & HOPS)) noisy.hops = 3;
    if (!(f & FLAGS)) noisy.flags = 0xff;
    if (!(f & SUCC)) { noisy.nsucc = 200; noisy.succ[0] = v4(1, 1, 1); } /* a count past the maximum */
    if (!(f & ABOUT)) noisy.about = v6(77, 7, 7);
    if (!(f & AGE)) noisy.age_ms = 5;
    if (!(f & XFERF)) { noisy.size = 9; noisy.digest[0] = 1; noisy.ext[0] = '.'; }
    if (!(f & TOKEN)) noisy.token = 0x5151;
    if (!(f & PARAMS)) { noisy.bits = 200; noisy.keys = 9; }
    if (!(f & REASON)) noisy.reason = 77;
    if (!(f & KEY)) noisy.key = 0x4242;
    uint8_t a[CDHT_MSG_MAX], b[CDHT_MSG_MAX];
    cdht_ssize na = cdht_msg_encode(a, sizeof a, &clean), nb = cdht_msg_encode(b, sizeof b, &noisy);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(decode_copy(&out, b, (size_t)nb), nb);
    assert_msg_equal(&clean, &out);
  }
}

/* The largest message of every type fits CDHT_MSG_MAX, and so a frame. */
static void test_wire_largest_messages_fit(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    assert_true(CDHT_HDR_LEN + cdht_msg_body_max((uint8_t)t) <= CDHT_MSG_MAX);
    assert_true(CDHT_MSG_MAX <= CDHT_FRAME_MAX);
  }
  int largest = 0; /* docs/protocol.md §2 states it */
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++)
    if (cdht_msg_body_max((uint8_t)t) > largest) largest = cdht_msg_body_max((uint8_t)t);
  assert_int_equal(CDHT_HDR_LEN + largest, 935);
  assert_int_equal(cdht_msg_body_max(0), -1);
  assert_int_equal(cdht_msg_body_max(CDHT_MSG_COUNT), -1);
  assert_string_equal(cdht_msg_name(CDHT_MSG_KEYS_GRANT), "keys-grant");
  assert_string_equal(cdht_msg_name(0), "?");
}

/* Every type has a name of its own for diagnostics; unknown types are "?". */
static void test_wire_name_of_every_type(void **state) {
  (void)state;
  assert_string_equal(cdht_msg_name(CDHT_MSG_PING), "ping");
  assert_string_equal(cdht_msg_name(CDHT_MSG_PONG), "pong");
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    assert_non_null(cdht_msg_name((uint8_t)t));
    assert_string_not_equal(cdht_msg_name((uint8_t)t), "?");
    for (unsigned u = 1; u < t; u++) assert_string_not_equal(cdht_msg_name((uint8_t)t), cdht_msg_name((uint8_t)u));
  }
  assert_string_equal(cdht_msg_name(CDHT_MSG_COUNT), "?");
  assert_string_equal(cdht_msg_name(255), "?");
}

/* The bytes of a ping, pinned so that the format cannot drift unnoticed. */
static void test_wire_ping_encoding_is_pinned(void **state) {
  (void)state;
  cdht_msg m = { .type = CDHT_MSG_PING, .from = v4(3, 0x7f000001, 50003), .seq = 0x01020304, .role = CDHT_ROLE_FIRST };
  uint8_t buf[CDHT_MSG_MAX];
  const uint8_t want[] = { 2, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 3, 4, 127, 0, 0, 1, 0xc3, 0x53, 1, 2, 3, 4, 1 };
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), sizeof want);
  assert_memory_equal(buf, want, sizeof want);
  cdht_msg r = { .type = CDHT_MSG_SUCC_REPLY, .from = v6(1, 1, 4000), .seq = 1, .nsucc = 1 };
  const uint8_t want6[] = { 2, 8, 0, 41, 0, 0, 0, 0, 0, 0, 0, 1, 6, 0xfd, 0, 0xcd, 0x47, 0, 0, 0, 0, 0, 0, 0, 0,
                            0, 0, 0, 1, 0x0f, 0xa0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &r), sizeof want6);
  assert_memory_equal(buf, want6, sizeof want6);
}

/* A file request pinned the same way: two peer records, a name, hops and flags.  The bytes are
 * those of tests/system/cdht_wire.py's encoder, an implementation of its own. */
static void test_wire_file_request_encoding_is_pinned(void **state) {
  (void)state;
  cdht_msg m = { .type = CDHT_MSG_FILE_REQ, .from = v4(3, 0x7f000001, 50003),
                 .origin = v4(0x0102030405060708ull, 0xc6120001, 4000), .seq = 0x11223344u, .hops = 0x0506,
                 .flags = CDHT_REQ_FINAL };
  set_name(&m.name, "2012");
  static const uint8_t want[] = {
    0x02, 0x03, 0x00, 0x2a,                                           /* version 2, FILE_REQ, body 42 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x04, 0x7f, 0x00, 0x00, 0x01, 0xc3, 0x53, /* from 3, 127.0.0.1:50003 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x04, 0xc6, 0x12, 0x00, 0x01, 0x0f, 0xa0, /* origin, 198.18.0.1:4000 */
    0x11, 0x22, 0x33, 0x44,                                           /* id */
    0x04, '2', '0', '1', '2',                                         /* name */
    0x05, 0x06,                                                       /* hops */
    0x01,                                                             /* flags: final */
  };
  uint8_t buf[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), (cdht_ssize)sizeof want);
  assert_memory_equal(buf, want, sizeof want);
  cdht_msg out;
  assert_int_equal(decode_copy(&out, want, sizeof want), (cdht_ssize)sizeof want);
  assert_msg_equal(&m, &out);
}

/* Every prefix of every message, and every body length that lies (shorter or longer than the
 * fields, with or without the bytes present), is refused. */
static void test_wire_every_truncation_and_length_lie_is_malformed(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    for (int wide = 0; wide < 2; wide++) {
      cdht_msg in = sample((uint8_t)t, wide), out;
      size_t len;
      uint8_t *buf = encode_exact(&in, &len);
      for (size_t cut = 0; cut < len; cut++) assert_int_equal(decode_copy(&out, buf, cut), CDHT_ERR_MALFORMED);
      uint8_t *big = calloc(1, len + 64);
      assert_non_null(big);
      memcpy(big, buf, len);
      size_t body = len - CDHT_HDR_LEN;
      for (size_t claim = 0; claim <= body + 64; claim++) {
        if (claim == body) continue;
        big[2] = (uint8_t)(claim >> 8), big[3] = (uint8_t)claim;
        assert_int_equal(decode_copy(&out, big, len + 64), CDHT_ERR_MALFORMED);
      }
      free(big);
      free(buf);
    }
  }
}

/* A message followed by another decodes alone, leaving the rest to the caller. */
static void test_wire_back_to_back(void **state) {
  (void)state;
  cdht_msg a = sample(CDHT_MSG_STAB_REPLY, true), b = sample(CDHT_MSG_PING, false), out;
  uint8_t stream[2 * CDHT_MSG_MAX];
  cdht_ssize n1 = cdht_msg_encode(stream, sizeof stream, &a);
  assert_true(n1 > 0);
  cdht_ssize n2 = cdht_msg_encode(stream + n1, sizeof stream - (size_t)n1, &b);
  assert_true(n2 > 0);
  assert_int_equal(decode_copy(&out, stream, (size_t)(n1 + n2)), n1);
  assert_msg_equal(&a, &out);
  assert_int_equal(decode_copy(&out, stream + n1, (size_t)n2), n2);
  assert_msg_equal(&b, &out);
}

static void test_wire_bad_version_and_type(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_PONG, false), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  for (unsigned v = 0; v < 256; v++) {
    if (v == CDHT_WIRE_V2) continue;
    buf[0] = (uint8_t)v;
    assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_VERSION);
  }
  buf[0] = CDHT_WIRE_V2;
  const unsigned types[] = { 0, CDHT_MSG_COUNT, 200, 255 };
  for (size_t i = 0; i < 4; i++) {
    buf[1] = (uint8_t)types[i];
    assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_TYPE);
  }
  cdht_msg bad = { .type = CDHT_MSG_COUNT };
  uint8_t tmp[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &bad), CDHT_ERR_TYPE);
  free(buf);
}

/* Offsets in a ping from an IPv4 peer: header 4, id 8, family 1, address 4, port 2, seq 4, role 1. */
#define PING_FAMILY 12
#define PING_PORT 17
#define PING_ROLE 23

static void test_wire_bad_peer_records(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_PING, false), out;
  in.role = CDHT_ROLE_FIRST;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  assert_int_equal(buf[PING_FAMILY], CDHT_AF_INET);
  for (unsigned f = 0; f < 256; f++) { /* unknown families; 0 and 6 change the length, so are short or long */
    if (f == CDHT_AF_INET) continue;
    buf[PING_FAMILY] = (uint8_t)f;
    assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_MALFORMED);
  }
  buf[PING_FAMILY] = CDHT_AF_INET;
  buf[PING_PORT] = 0, buf[PING_PORT + 1] = 0;
  assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_MALFORMED); /* port 0 */
  buf[PING_PORT + 1] = 1;
  for (unsigned r = 0; r < 256; r++) {
    buf[PING_ROLE] = (uint8_t)r;
    assert_int_equal(decode_copy(&out, buf, len), r == 1 || r == 2 ? (cdht_ssize)len : CDHT_ERR_MALFORMED);
  }
  free(buf);
  /* The sender and the origin must be peers; "no peer" is id 0 and nothing else. */
  cdht_msg none_from = sample(CDHT_MSG_PONG, false);
  none_from.from = cdht_peer_none();
  uint8_t tmp[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &none_from), CDHT_ERR_INVAL);
  const uint8_t pong_none[] = { 2, 2, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  assert_int_equal(decode_copy(&out, pong_none, sizeof pong_none), CDHT_ERR_MALFORMED);
  cdht_msg keys = sample(CDHT_MSG_WITNESS_QUERY, false); /* about: none, nine bytes at the end */
  keys.about = cdht_peer_none();
  buf = encode_exact(&keys, &len);
  assert_int_equal(decode_copy(&out, buf, len), (cdht_ssize)len);
  buf[len - 2] = 1; /* "no peer" with an id */
  assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_MALFORMED);
  free(buf);
}

/* Offsets in a file request from and for IPv4 peers: header 4, from 15, origin 15, seq 4, name. */
#define REQ_NAME_LEN 38

static void test_wire_bad_names(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_FILE_REQ, false), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  assert_int_equal(buf[REQ_NAME_LEN], 4);
  assert_memory_equal(buf + REQ_NAME_LEN + 1, "2012", 4);
  for (unsigned c = 0; c < 256; c++) {
    buf[REQ_NAME_LEN + 2] = (uint8_t)c;
    bool ok = c > ' ' && c != 0x7f && c != '/';
    assert_int_equal(decode_copy(&out, buf, len), ok ? (cdht_ssize)len : CDHT_ERR_MALFORMED);
  }
  buf[REQ_NAME_LEN + 2] = '0';
  for (unsigned l = 0; l < 256; l++) { /* a name length that lies, the body length kept */
    if (l == 4) continue;
    buf[REQ_NAME_LEN] = (uint8_t)l;
    assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_MALFORMED);
  }
  free(buf);
  cdht_name n;
  assert_int_equal(cdht_name_set(&n, "", 0), CDHT_ERR_INVAL);
  assert_int_equal(cdht_name_set(&n, "a/b", 3), CDHT_ERR_INVAL);
  assert_int_equal(cdht_name_set(&n, "a b", 3), CDHT_ERR_INVAL);
  assert_int_equal(cdht_name_set(&n, "..%\xc3\xa9", 5), 0); /* dots, percent, UTF-8: a name's own business */
  char longest[CDHT_NAME_MAX + 1];
  memset(longest, 'n', sizeof longest);
  assert_int_equal(cdht_name_set(&n, longest, CDHT_NAME_MAX), 0);
  assert_int_equal(cdht_name_set(&n, longest, CDHT_NAME_MAX + 1), CDHT_ERR_INVAL);
  cdht_msg empty = sample(CDHT_MSG_STORE_ACCEPT, false);
  empty.name.len = 0;
  uint8_t tmp[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &empty), CDHT_ERR_INVAL);
}

/* Offsets in a depart from an IPv4 peer: header 4, from 15, then the count. */
#define DEPART_COUNT 19

static void test_wire_bad_lists(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_DEPART, false), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  assert_int_equal(buf[DEPART_COUNT], 2);
  for (unsigned c = 0; c < 256; c++) { /* a count that lies, the body length kept */
    if (c == 2) continue;
    buf[DEPART_COUNT] = (uint8_t)c;
    assert_int_equal(decode_copy(&out, buf, len), CDHT_ERR_MALFORMED);
  }
  free(buf);
  /* A count beyond the maximum is refused even when the bytes are there. */
  cdht_msg full = sample(CDHT_MSG_DEPART, false);
  full.nsucc = CDHT_LIST_MAX;
  for (int i = 0; i < CDHT_LIST_MAX; i++) full.succ[i] = cdht_peer_none(); /* 9 bytes each */
  buf = encode_exact(&full, &len);
  uint8_t *more = calloc(1, len + 9);
  assert_non_null(more);
  memcpy(more, buf, len);
  more[DEPART_COUNT] = CDHT_LIST_MAX + 1;
  size_t body = len + 9 - CDHT_HDR_LEN;
  more[2] = (uint8_t)(body >> 8), more[3] = (uint8_t)body;
  assert_int_equal(decode_copy(&out, more, len + 9), CDHT_ERR_MALFORMED);
  free(more);
  free(buf);
  full.nsucc = CDHT_LIST_MAX + 1;
  uint8_t tmp[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &full), CDHT_ERR_INVAL);
}

static void test_wire_flags_and_extension(void **state) {
  (void)state;
  uint8_t tmp[CDHT_MSG_MAX];
  cdht_msg m = sample(CDHT_MSG_FILE_REQ, false);
  m.flags = 0x02;
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &m), CDHT_ERR_INVAL);
  m = sample(CDHT_MSG_XFER, false);
  m.flags = CDHT_XFER_HANDOVER + 1;
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &m), CDHT_ERR_INVAL);
  m = sample(CDHT_MSG_XFER, false);
  memcpy(m.ext, "p.f", 3);
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &m), CDHT_ERR_INVAL);
  m = sample(CDHT_MSG_XFER, false);
  memcpy(m.ext, "p\0f", 3); /* a letter after the padding */
  assert_int_equal(cdht_msg_encode(tmp, sizeof tmp, &m), CDHT_ERR_INVAL);
}

/* A join's ring parameters and a refusal's reason take only the values the protocol defines:
 * the last three bytes of a JOIN_REJECT are reason, bits, keys. */
static void test_wire_join_parameters(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_JOIN_REJECT, false), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  for (unsigned v = 0; v < 256; v++) {
    buf[len - 3] = (uint8_t)v;
    assert_int_equal(decode_copy(&out, buf, len), v == 1 || v == 2 ? (cdht_ssize)len : CDHT_ERR_MALFORMED);
  }
  buf[len - 3] = CDHT_REJECT_TAKEN;
  for (unsigned v = 0; v < 256; v++) {
    buf[len - 2] = (uint8_t)v;
    assert_int_equal(decode_copy(&out, buf, len), v >= 1 && v <= 64 ? (cdht_ssize)len : CDHT_ERR_MALFORMED);
  }
  buf[len - 2] = 64;
  for (unsigned v = 0; v < 256; v++) {
    buf[len - 1] = (uint8_t)v;
    assert_int_equal(decode_copy(&out, buf, len), v <= 1 ? (cdht_ssize)len : CDHT_ERR_MALFORMED);
  }
  free(buf);
}

static void test_wire_encode_too_small_buffer(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg m = sample((uint8_t)t, true);
    uint8_t tmp[CDHT_MSG_MAX];
    cdht_ssize n = cdht_msg_encode(tmp, sizeof tmp, &m);
    assert_true(n > 0);
    for (size_t cap = 0; cap < (size_t)n; cap++) assert_int_equal(cdht_msg_encode(tmp, cap, &m), CDHT_ERR_NOBUF);
  }
}

/* Every single-byte change of every message decodes to something valid or is refused: never a
 * read past the buffer (ASan) nor a value the decoder promises not to return. */
static void test_wire_every_byte_corruption_is_safe(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t, t % 2), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    for (size_t i = 0; i < len; i++) {
      uint8_t keep = buf[i];
      for (unsigned v = 0; v < 256; v += 7) {
        buf[i] = (uint8_t)v;
        cdht_ssize rc = decode_copy(&out, buf, len);
        if (rc > 0) {
          assert_true(cdht_peer_known(&out.from));
          assert_true(out.nsucc <= CDHT_LIST_MAX);
          uint8_t again[CDHT_MSG_MAX]; /* what decodes, encodes back to the same bytes */
          assert_int_equal(cdht_msg_encode(again, sizeof again, &out), rc);
          assert_memory_equal(again, buf, (size_t)rc);
        }
      }
      buf[i] = keep;
    }
    free(buf);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_wire_round_trip_every_type),
    cmocka_unit_test(test_wire_round_trip_extreme_values),
    cmocka_unit_test(test_wire_encode_ignores_fields_the_type_lacks),
    cmocka_unit_test(test_wire_largest_messages_fit),
    cmocka_unit_test(test_wire_name_of_every_type),
    cmocka_unit_test(test_wire_ping_encoding_is_pinned),
    cmocka_unit_test(test_wire_file_request_encoding_is_pinned),
    cmocka_unit_test(test_wire_every_truncation_and_length_lie_is_malformed),
    cmocka_unit_test(test_wire_back_to_back),
    cmocka_unit_test(test_wire_bad_version_and_type),
    cmocka_unit_test(test_wire_bad_peer_records),
    cmocka_unit_test(test_wire_bad_names),
    cmocka_unit_test(test_wire_bad_lists),
    cmocka_unit_test(test_wire_flags_and_extension),
    cmocka_unit_test(test_wire_join_parameters),
    cmocka_unit_test(test_wire_encode_too_small_buffer),
    cmocka_unit_test(test_wire_every_byte_corruption_is_safe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

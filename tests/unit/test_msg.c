/* Unit tests for src/core/msg.h: the wire codec (docs/protocol.md §2).  Every input handed to
 * the decoder is an exact-size heap copy, so AddressSanitizer catches any over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdht/err.h"
#include "core/msg.h"

/* Offsets of single-byte or two-byte fields, fixed by the wire format (header 4 bytes). */
#define OFF_VERSION 0
#define OFF_TYPE 1
#define OFF_BODYLEN 2
#define OFF_PING_ROLE (CDHT_HDR_LEN + 8 + 4)              /* from, seq, role */
#define OFF_REQ_FILE (CDHT_HDR_LEN + 8 + 8 + 4)           /* from, origin, seq, file */
#define OFF_REQ_FLAGS (CDHT_HDR_LEN + 8 + 8 + 4 + 2 + 2)  /* ..., hops, flags */
#define OFF_RESP_FILE (CDHT_HDR_LEN + 8 + 4)              /* from, seq, file */

/* A message of |type| with every field the type carries set to a distinctive value, and every
 * other field zero (as the decoder leaves them). */
static cdht_msg sample(uint8_t type) {
  cdht_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.from = 0x0102030405060708ull;
  switch ((cdht_msg_type)type) {
  case CDHT_MSG_PING: m.seq = 0xa1b2c3d4u; m.role = CDHT_ROLE_SECOND; break;
  case CDHT_MSG_PONG: m.seq = 0xdeadbeefu; break;
  case CDHT_MSG_FILE_REQ:
    m.origin = 0x1112131415161718ull;
    m.seq = 77;
    m.file = 2012;
    m.hops = 0xfedc;
    m.flags = CDHT_REQ_FINAL;
    break;
  case CDHT_MSG_FILE_RESP: m.seq = 0x01020304u; m.file = 9999; m.token = 0xa0a1a2a3a4a5a6a7ull; break;
  case CDHT_MSG_DEPART: m.succ[0] = 0x2122232425262728ull; m.succ[1] = 0x3132333435363738ull; break;
  case CDHT_MSG_DEPART_ACK: break;
  case CDHT_MSG_SUCC_QUERY: m.seq = 5; break;
  case CDHT_MSG_SUCC_REPLY:
    m.seq = 0xffffffffu;
    m.succ[0] = 12;
    m.succ[1] = UINT64_MAX;
    break;
  case CDHT_MSG_WITNESS_QUERY: m.seq = 9; m.about = 0x4142434445464748ull; break;
  case CDHT_MSG_WITNESS_REPLY: m.seq = 10; m.about = 15; m.age_ms = CDHT_AGE_NEVER; break;
  case CDHT_MSG_JOIN_REQ: m.origin = 33; m.seq = 4; m.hops = 2; break;
  case CDHT_MSG_JOIN_ACCEPT: m.seq = 4; m.succ[0] = 40; m.succ[1] = 41; m.token = 99; break;
  case CDHT_MSG_JOIN_REJECT: m.seq = 4; break;
  case CDHT_MSG_SUCC_CHANGE: m.succ[0] = 50; m.succ[1] = 51; break;
  case CDHT_MSG_STAB_QUERY: m.seq = 8; break;
  case CDHT_MSG_STAB_REPLY: m.seq = 8; m.succ[0] = 60; m.succ[1] = 61; m.about = 59; m.age_ms = 250; break;
  case CDHT_MSG_STORE_REQ: m.origin = 3; m.seq = 5; m.file = 2067; m.hops = 1; m.flags = CDHT_REQ_FINAL; break;
  case CDHT_MSG_STORE_ACCEPT: m.seq = 5; m.file = 2067; m.token = UINT64_MAX; break;
  case CDHT_MSG_STORE_DONE: m.seq = 5; m.file = 2067; m.about = 4; break;
  case CDHT_MSG_XFER:
    m.seq = 6;
    m.file = 2012;
    m.flags = CDHT_XFER_GET;
    m.size = 0x0102030405060708ull;
    for (int i = 0; i < CDHT_DIGEST_LEN; i++) m.digest[i] = (uint8_t)(i * 7);
    memcpy(m.ext, "pdf", 3);
    m.token = 0x0807060504030201ull;
    break;
  case CDHT_MSG_KEYS_REQ: m.about = 77; m.token = 5; break;
  case CDHT_MSG_KEYS_DONE: m.seq = 3; m.token = 6; break;
  case CDHT_MSG_JOIN_ACK: m.seq = 4; m.token = 0x1122334455667788ull; break;
  case CDHT_MSG_DEPART_CONFIRM: m.token = 12345; break;
  case CDHT_MSG_KEYS_OFFER: m.about = 3; break;
  case CDHT_MSG_KEYS_GRANT: m.token = 777; break;
  case CDHT_MSG_COUNT: break;
  }
  return m;
}

static void assert_msg_equal(const cdht_msg *a, const cdht_msg *b) {
  assert_int_equal(a->type, b->type);
  assert_true(a->from == b->from);
  assert_int_equal(a->seq, b->seq);
  assert_int_equal(a->role, b->role);
  assert_int_equal(a->file, b->file);
  assert_true(a->origin == b->origin);
  assert_int_equal(a->hops, b->hops);
  assert_int_equal(a->flags, b->flags);
  assert_true(a->succ[0] == b->succ[0]);
  assert_true(a->succ[1] == b->succ[1]);
  assert_true(a->about == b->about);
  assert_int_equal(a->age_ms, b->age_ms);
  assert_true(a->size == b->size);
  assert_memory_equal(a->digest, b->digest, CDHT_DIGEST_LEN);
  assert_memory_equal(a->ext, b->ext, CDHT_EXT_LEN);
  assert_true(a->token == b->token);
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

/* Decodes an exact-size heap copy of |len| bytes of |src| (a zero-length input is a one-byte
 * allocation passed with len 0). */
static cdht_ssize decode_copy(cdht_msg *m, const uint8_t *src, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  if (len) memcpy(p, src, len);
  cdht_ssize rc = cdht_msg_decode(m, p, len);
  free(p);
  return rc;
}

/* ---- round trips and lengths ---- */

static void test_msg_body_len_of_every_type(void **state) {
  (void)state;
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_PING), 13);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_PONG), 12);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_FILE_REQ), 25);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_FILE_RESP), 23); /* + the content token */
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_DEPART), 24);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_DEPART_ACK), 16); /* + the token to confirm */
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_SUCC_QUERY), 12);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_SUCC_REPLY), 28);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_STORE_REQ), 25);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_XFER), 8 + 4 + 2 + 1 + 8 + 32 + 8 + 8);
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) assert_true(CDHT_HDR_LEN + cdht_msg_body_len((uint8_t)t) <= CDHT_MSG_MAX);
  assert_int_equal(cdht_msg_body_len(0), -1);
  assert_int_equal(cdht_msg_body_len(CDHT_MSG_COUNT), -1);
  assert_int_equal(cdht_msg_body_len(255), -1);
}

static void test_msg_name_of_every_type(void **state) {
  (void)state;
  assert_string_equal(cdht_msg_name(CDHT_MSG_PING), "ping");
  assert_string_equal(cdht_msg_name(CDHT_MSG_PONG), "pong");
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    assert_non_null(cdht_msg_name((uint8_t)t));
    assert_string_not_equal(cdht_msg_name((uint8_t)t), "?");
  }
  assert_string_equal(cdht_msg_name(0), "?");
  assert_string_equal(cdht_msg_name(CDHT_MSG_COUNT), "?");
  assert_string_equal(cdht_msg_name(255), "?");
}

static void test_msg_round_trip_every_type(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    assert_int_equal(len, CDHT_HDR_LEN + (size_t)cdht_msg_body_len((uint8_t)t));
    assert_true(len <= CDHT_MSG_MAX);
    assert_int_equal(buf[OFF_VERSION], CDHT_WIRE_V1);
    assert_int_equal(buf[OFF_TYPE], t);
    assert_int_equal((buf[OFF_BODYLEN] << 8) | buf[OFF_BODYLEN + 1], cdht_msg_body_len((uint8_t)t));
    memset(&out, 0xa5, sizeof out); /* the decoder must clear what the type does not carry */
    cdht_ssize rc = cdht_msg_decode(&out, buf, len);
    assert_int_equal(rc, (cdht_ssize)len);
    assert_msg_equal(&in, &out);
    free(buf);
  }
}

static void test_msg_round_trip_extreme_values(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in, out;
    memset(&in, 0, sizeof in);
    in.type = (uint8_t)t;
    in.from = UINT64_MAX;
    uint8_t *buf;
    size_t len;
    switch (t) {
    case CDHT_MSG_PING: in.seq = UINT32_MAX; in.role = CDHT_ROLE_FIRST; break;
    case CDHT_MSG_PONG: case CDHT_MSG_SUCC_QUERY: in.seq = UINT32_MAX; break;
    case CDHT_MSG_FILE_REQ:
      in.origin = UINT64_MAX; in.seq = UINT32_MAX; in.file = CDHT_FILE_MAX; in.hops = UINT16_MAX;
      break;
    case CDHT_MSG_FILE_RESP: in.seq = UINT32_MAX; in.file = 0; break;
    case CDHT_MSG_DEPART: in.succ[0] = 0; in.succ[1] = UINT64_MAX; break;
    case CDHT_MSG_SUCC_REPLY: in.seq = 0; in.succ[0] = UINT64_MAX; in.succ[1] = 0; break;
    default: break;
    }
    buf = encode_exact(&in, &len);
    assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
    assert_msg_equal(&in, &out);
    free(buf);
  }
}

/* Fields a type does not carry are not encoded: setting them changes nothing on the wire. */
static void test_msg_encode_ignores_fields_the_type_lacks(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg clean = sample((uint8_t)t), noisy = clean, out;
    bool has_succ = t == CDHT_MSG_DEPART || t == CDHT_MSG_SUCC_REPLY || t == CDHT_MSG_JOIN_ACCEPT ||
                    t == CDHT_MSG_SUCC_CHANGE || t == CDHT_MSG_STAB_REPLY;
    bool has_about = t == CDHT_MSG_WITNESS_QUERY || t == CDHT_MSG_WITNESS_REPLY || t == CDHT_MSG_STAB_REPLY ||
                     t == CDHT_MSG_JOIN_ACCEPT || t == CDHT_MSG_KEYS_REQ || t == CDHT_MSG_STORE_DONE ||
                     t == CDHT_MSG_KEYS_OFFER;
    bool has_token = t == CDHT_MSG_FILE_RESP || t == CDHT_MSG_STORE_ACCEPT || t == CDHT_MSG_XFER ||
                     t == CDHT_MSG_JOIN_ACCEPT || t == CDHT_MSG_JOIN_ACK || t == CDHT_MSG_DEPART_ACK ||
                     t == CDHT_MSG_DEPART_CONFIRM || t == CDHT_MSG_KEYS_REQ || t == CDHT_MSG_KEYS_DONE ||
                     t == CDHT_MSG_KEYS_GRANT;
    bool has_age = t == CDHT_MSG_WITNESS_REPLY || t == CDHT_MSG_STAB_REPLY;
    bool has_flags = t == CDHT_MSG_FILE_REQ || t == CDHT_MSG_FILE_RESP || t == CDHT_MSG_STORE_REQ || t == CDHT_MSG_XFER;
    if (t != CDHT_MSG_FILE_REQ && t != CDHT_MSG_JOIN_REQ && t != CDHT_MSG_STORE_REQ) { noisy.origin = 99; noisy.hops = 3; }
    if (!has_flags) noisy.flags = CDHT_REQ_FINAL;
    if (t != CDHT_MSG_XFER) { noisy.size = 9; noisy.digest[0] = 1; noisy.ext[0] = 'x'; }
    if (t != CDHT_MSG_PING) noisy.role = CDHT_ROLE_FIRST;
    if (t != CDHT_MSG_FILE_REQ && t != CDHT_MSG_FILE_RESP && t != CDHT_MSG_STORE_REQ && t != CDHT_MSG_STORE_ACCEPT &&
        t != CDHT_MSG_STORE_DONE && t != CDHT_MSG_XFER)
      noisy.file = 42;
    if (!has_succ) { noisy.succ[0] = 1; noisy.succ[1] = 2; }
    if (!has_about) noisy.about = 77;
    if (!has_age) noisy.age_ms = 5;
    if (!has_token) noisy.token = 0x5151;
    if (t == CDHT_MSG_DEPART || t == CDHT_MSG_DEPART_ACK || t == CDHT_MSG_SUCC_CHANGE || t == CDHT_MSG_KEYS_REQ ||
        t == CDHT_MSG_DEPART_CONFIRM || t == CDHT_MSG_KEYS_OFFER || t == CDHT_MSG_KEYS_GRANT)
      noisy.seq = 1234;
    uint8_t a[CDHT_MSG_MAX], b[CDHT_MSG_MAX];
    cdht_ssize na = cdht_msg_encode(a, sizeof a, &clean), nb = cdht_msg_encode(b, sizeof b, &noisy);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na);
    assert_int_equal(decode_copy(&out, b, (size_t)nb), nb);
    assert_msg_equal(&clean, &out);
  }
}

/* The wire format is pinned byte for byte: a change to it must be deliberate. */
static void test_msg_ping_encoding_is_pinned(void **state) {
  (void)state;
  cdht_msg m = { .type = CDHT_MSG_PING, .from = 0x0102030405060708ull, .seq = 0x0a0b0c0du,
                 .role = CDHT_ROLE_SECOND };
  static const uint8_t want[] = {
    0x01, 0x01, 0x00, 0x0d,                         /* version 1, type PING, body 13 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* from, u64 big-endian */
    0x0a, 0x0b, 0x0c, 0x0d,                         /* seq, u32 big-endian */
    0x02,                                           /* role: second successor */
  };
  uint8_t *buf = malloc(sizeof want);
  assert_non_null(buf);
  assert_int_equal(cdht_msg_encode(buf, sizeof want, &m), (cdht_ssize)sizeof want);
  assert_memory_equal(buf, want, sizeof want);
  free(buf);

  cdht_msg out;
  assert_int_equal(decode_copy(&out, want, sizeof want), (cdht_ssize)sizeof want);
  assert_msg_equal(&m, &out);
}

static void test_msg_file_request_encoding_is_pinned(void **state) {
  (void)state;
  cdht_msg m = { .type = CDHT_MSG_FILE_REQ, .from = 3, .origin = 0x0102030405060708ull,
                 .seq = 0x11223344u, .file = 2012, .hops = 0x0506, .flags = CDHT_REQ_FINAL };
  static const uint8_t want[] = {
    0x01, 0x03, 0x00, 0x19,                         /* version 1, type FILE_REQ, body 25 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* from */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* origin */
    0x11, 0x22, 0x33, 0x44,                         /* seq */
    0x07, 0xdc,                                     /* file 2012 */
    0x05, 0x06,                                     /* hops */
    0x01,                                           /* flags: final */
  };
  uint8_t buf[CDHT_MSG_MAX];
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), (cdht_ssize)sizeof want);
  assert_memory_equal(buf, want, sizeof want);
}

/* ---- refusals ---- */

static void test_msg_decode_every_truncation_is_malformed(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    for (size_t cut = 0; cut < len; cut++) {
      cdht_ssize rc = decode_copy(&out, buf, cut);
      if (rc != CDHT_ERR_MALFORMED)
        fail_msg("type %u cut to %zu of %zu bytes: got %zd, want MALFORMED", t, cut, len, rc);
    }
    free(buf);
  }
}

static void test_msg_decode_bad_version(void **state) {
  (void)state;
  static const uint8_t versions[] = { 0, 2, 0x81, 0xff };
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    for (size_t v = 0; v < sizeof versions; v++) {
      buf[OFF_VERSION] = versions[v];
      assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_VERSION);
    }
    free(buf);
  }
  /* A bare header with a bad version is judged on its version. */
  static const uint8_t hdr[] = { 0x02, 0x01, 0x00, 0x0d };
  cdht_msg out;
  assert_int_equal(decode_copy(&out, hdr, sizeof hdr), CDHT_ERR_VERSION);
}

static void test_msg_decode_unknown_type(void **state) {
  (void)state;
  const uint8_t types[] = { 0, CDHT_MSG_COUNT, CDHT_MSG_COUNT + 1, 0x7f, 0xff };
  cdht_msg in = sample(CDHT_MSG_PING), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  for (size_t i = 0; i < sizeof types; i++) {
    buf[OFF_TYPE] = types[i];
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_TYPE);
  }
  free(buf);
  /* A header alone (body length 0) with an unknown type. */
  const uint8_t hdr[] = { 0x01, 0x00, 0x00, 0x00 }, hdr2[] = { 0x01, CDHT_MSG_COUNT, 0x00, 0x00 };
  assert_int_equal(decode_copy(&out, hdr, sizeof hdr), CDHT_ERR_TYPE);
  assert_int_equal(decode_copy(&out, hdr2, sizeof hdr2), CDHT_ERR_TYPE);
}

static void test_msg_encode_unknown_type(void **state) {
  (void)state;
  uint8_t buf[CDHT_MSG_MAX];
  cdht_msg m = sample(CDHT_MSG_PING);
  m.type = 0;
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), CDHT_ERR_TYPE);
  m.type = CDHT_MSG_COUNT;
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), CDHT_ERR_TYPE);
  m.type = 0xff;
  assert_int_equal(cdht_msg_encode(buf, sizeof buf, &m), CDHT_ERR_TYPE);
}

/* A body length that does not match the type is refused, even when the bytes are there. */
static void test_msg_decode_wrong_body_length(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *enc = encode_exact(&in, &len);
    /* One spare byte, so a claim one longer than the type's length is satisfiable. */
    uint8_t *buf = calloc(len + 1, 1);
    assert_non_null(buf);
    memcpy(buf, enc, len);
    const unsigned body = (unsigned)cdht_msg_body_len((uint8_t)t);
    const unsigned claims[] = { 0, body - 1, body + 1, 0x100 + body, 0xffff };
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
      buf[OFF_BODYLEN] = (uint8_t)(claims[i] >> 8);
      buf[OFF_BODYLEN + 1] = (uint8_t)claims[i];
      assert_int_equal(cdht_msg_decode(&out, buf, len + 1), CDHT_ERR_MALFORMED);
      assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
    }
    free(buf);
    free(enc);
  }
}

static void test_msg_decode_bad_ping_role(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_PING), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  const uint8_t bad[] = { 0, 3, 4, 0x81, 0xff };
  for (size_t i = 0; i < sizeof bad; i++) {
    buf[OFF_PING_ROLE] = bad[i];
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
  }
  buf[OFF_PING_ROLE] = CDHT_ROLE_FIRST;
  assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
  assert_int_equal(out.role, CDHT_ROLE_FIRST);
  buf[OFF_PING_ROLE] = CDHT_ROLE_SECOND;
  assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
  assert_int_equal(out.role, CDHT_ROLE_SECOND);
  free(buf);
}

static void put_file(uint8_t *p, unsigned file) {
  p[0] = (uint8_t)(file >> 8);
  p[1] = (uint8_t)file;
}

static void test_msg_decode_file_out_of_range(void **state) {
  (void)state;
  const struct { uint8_t type; size_t off; } cases[] = {
    { CDHT_MSG_FILE_REQ, OFF_REQ_FILE },
    { CDHT_MSG_FILE_RESP, OFF_RESP_FILE },
  };
  for (size_t c = 0; c < 2; c++) {
    cdht_msg in = sample(cases[c].type), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    put_file(buf + cases[c].off, 10000);
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
    put_file(buf + cases[c].off, 0xffff);
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
    put_file(buf + cases[c].off, 9999);
    assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
    assert_int_equal(out.file, 9999);
    put_file(buf + cases[c].off, 0);
    assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
    assert_int_equal(out.file, 0);
    free(buf);
  }
}

static void test_msg_decode_unknown_flag_bits(void **state) {
  (void)state;
  cdht_msg in = sample(CDHT_MSG_FILE_REQ), out;
  size_t len;
  uint8_t *buf = encode_exact(&in, &len);
  for (unsigned bit = 1; bit < 8; bit++) {
    buf[OFF_REQ_FLAGS] = (uint8_t)(1u << bit);
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
    buf[OFF_REQ_FLAGS] = (uint8_t)((1u << bit) | CDHT_REQ_FINAL);
    assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
  }
  buf[OFF_REQ_FLAGS] = 0xff;
  assert_int_equal(cdht_msg_decode(&out, buf, len), CDHT_ERR_MALFORMED);
  buf[OFF_REQ_FLAGS] = 0;
  assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
  assert_int_equal(out.flags, 0);
  buf[OFF_REQ_FLAGS] = CDHT_REQ_FINAL;
  assert_int_equal(cdht_msg_decode(&out, buf, len), (cdht_ssize)len);
  assert_int_equal(out.flags, CDHT_REQ_FINAL);
  free(buf);
}

static void test_msg_encode_too_small_buffer(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg m = sample((uint8_t)t);
    const size_t len = CDHT_HDR_LEN + (size_t)cdht_msg_body_len((uint8_t)t);
    for (size_t cap = 0; cap < len; cap++) {
      uint8_t *buf = malloc(cap ? cap : 1); /* exact size: ASan catches a write past cap */
      assert_non_null(buf);
      assert_int_equal(cdht_msg_encode(buf, cap, &m), CDHT_ERR_NOBUF);
      free(buf);
    }
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(cdht_msg_encode(buf, len, &m), (cdht_ssize)len);
    free(buf);
  }
}

/* Decode consumes one message and leaves what follows to the caller. */
static void test_msg_decode_leaves_trailing_bytes(void **state) {
  (void)state;
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *enc = encode_exact(&in, &len);
    const size_t extra = 3;
    uint8_t *buf = malloc(len + extra);
    assert_non_null(buf);
    memcpy(buf, enc, len);
    memset(buf + len, 0xee, extra);
    cdht_ssize rc = cdht_msg_decode(&out, buf, len + extra);
    assert_int_equal(rc, (cdht_ssize)len);
    assert_true((size_t)rc < len + extra);
    assert_msg_equal(&in, &out);
    free(buf);
    free(enc);
  }
}

/* Two messages back to back decode one after the other. */
static void test_msg_decode_back_to_back(void **state) {
  (void)state;
  cdht_msg a = sample(CDHT_MSG_FILE_REQ), b = sample(CDHT_MSG_DEPART_ACK), out;
  uint8_t stream[2 * CDHT_MSG_MAX];
  cdht_ssize na = cdht_msg_encode(stream, sizeof stream, &a);
  assert_true(na > 0);
  cdht_ssize nb = cdht_msg_encode(stream + na, sizeof stream - (size_t)na, &b);
  assert_true(nb > 0);
  uint8_t *buf = malloc((size_t)(na + nb));
  assert_non_null(buf);
  memcpy(buf, stream, (size_t)(na + nb));
  assert_int_equal(cdht_msg_decode(&out, buf, (size_t)(na + nb)), na);
  assert_msg_equal(&a, &out);
  assert_int_equal(cdht_msg_decode(&out, buf + na, (size_t)nb), nb);
  assert_msg_equal(&b, &out);
  free(buf);
}

/* Every single-byte corruption of every message either decodes to the full length or is
 * refused with one of the three decode errors: never a crash, never an over-read. */
static void test_msg_decode_every_byte_corruption_is_safe(void **state) {
  (void)state;
  const uint8_t values[] = { 0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xfe, 0xff };
  for (unsigned t = 1; t < CDHT_MSG_COUNT; t++) {
    cdht_msg in = sample((uint8_t)t), out;
    size_t len;
    uint8_t *buf = encode_exact(&in, &len);
    for (size_t i = 0; i < len; i++) {
      uint8_t keep = buf[i];
      for (size_t v = 0; v < sizeof values; v++) {
        buf[i] = values[v];
        cdht_ssize rc = cdht_msg_decode(&out, buf, len);
        assert_true(rc == (cdht_ssize)len || rc == CDHT_ERR_MALFORMED || rc == CDHT_ERR_VERSION ||
                    rc == CDHT_ERR_TYPE);
      }
      buf[i] = keep;
    }
    free(buf);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_msg_body_len_of_every_type),
    cmocka_unit_test(test_msg_name_of_every_type),
    cmocka_unit_test(test_msg_round_trip_every_type),
    cmocka_unit_test(test_msg_round_trip_extreme_values),
    cmocka_unit_test(test_msg_encode_ignores_fields_the_type_lacks),
    cmocka_unit_test(test_msg_ping_encoding_is_pinned),
    cmocka_unit_test(test_msg_file_request_encoding_is_pinned),
    cmocka_unit_test(test_msg_decode_every_truncation_is_malformed),
    cmocka_unit_test(test_msg_decode_bad_version),
    cmocka_unit_test(test_msg_decode_unknown_type),
    cmocka_unit_test(test_msg_encode_unknown_type),
    cmocka_unit_test(test_msg_decode_wrong_body_length),
    cmocka_unit_test(test_msg_decode_bad_ping_role),
    cmocka_unit_test(test_msg_decode_file_out_of_range),
    cmocka_unit_test(test_msg_decode_unknown_flag_bits),
    cmocka_unit_test(test_msg_encode_too_small_buffer),
    cmocka_unit_test(test_msg_decode_leaves_trailing_bytes),
    cmocka_unit_test(test_msg_decode_back_to_back),
    cmocka_unit_test(test_msg_decode_every_byte_corruption_is_safe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

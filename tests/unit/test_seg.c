/* Unit tests for src/io/seg.h: the 2019 transfer segments (docs/protocol.md §10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/seg.h"

static const uint8_t DATA[5] = { 'h', 'e', 'l', 'l', 'o' };

/* The second of three segments of a 12-byte file at MSS 5: bytes 5..9, seq 6. */
static cdht_seg data_seg(void) {
  return (cdht_seg){ .type = CDHT_SEG_DATA, .mss = 5, .seq = 6, .ack = 0, .token = 0x1122334455667788ull,
                     .size = 12, .file = 2012, .len = 5, .data = DATA };
}

static cdht_seg ack_seg(void) {
  return (cdht_seg){ .type = CDHT_SEG_ACK, .mss = 5, .seq = 0, .ack = 11, .token = 0x1122334455667788ull,
                     .file = 2012 };
}

static int encode(uint8_t *buf, size_t cap, cdht_seg s) { return cdht_seg_encode(buf, cap, &s); }

static void test_seg_data_round_trip_and_layout(void **state) {
  (void)state;
  uint8_t buf[64];
  assert_int_equal(encode(buf, sizeof buf, data_seg()), CDHT_SEG_HDR + 5);
  static const uint8_t want[CDHT_SEG_HDR] = { 0x19, 1, 0, 5, 0, 0, 0, 6, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44,
                                              0x55, 0x66, 0x77, 0x88, 0, 0, 0, 12, 0x07, 0xdc, 0, 5 };
  assert_memory_equal(buf, want, sizeof want);
  assert_memory_equal(buf + CDHT_SEG_HDR, "hello", 5);
  cdht_seg s;
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_HDR + 5, &s), CDHT_SEG_OK);
  assert_int_equal(s.type, CDHT_SEG_DATA);
  assert_int_equal(s.mss, 5);
  assert_int_equal(s.seq, 6);
  assert_int_equal(s.ack, 0);
  assert_true(s.token == 0x1122334455667788ull);
  assert_int_equal(s.size, 12);
  assert_int_equal(s.file, 2012);
  assert_int_equal(s.len, 5);
  assert_ptr_equal(s.data, buf + CDHT_SEG_HDR);
}

static void test_seg_ack_round_trip(void **state) {
  (void)state;
  uint8_t buf[64];
  assert_int_equal(encode(buf, sizeof buf, ack_seg()), CDHT_SEG_HDR);
  cdht_seg s;
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_HDR, &s), CDHT_SEG_OK);
  assert_int_equal(s.type, CDHT_SEG_ACK);
  assert_int_equal(s.ack, 11);
  assert_int_equal(s.mss, 5);
  assert_int_equal(s.len, 0);
}

/* The last segment is short, an empty file is one empty segment, and MSS may reach its maximum. */
static void test_seg_edges_accepted(void **state) {
  (void)state;
  uint8_t buf[CDHT_SEG_MAX];
  cdht_seg s = data_seg(), d;
  s.seq = 11;
  s.len = 2;
  assert_int_equal(cdht_seg_encode(buf, sizeof buf, &s), CDHT_SEG_HDR + 2);
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_HDR + 2, &d), CDHT_SEG_OK);
  s = (cdht_seg){ .type = CDHT_SEG_DATA, .mss = 300, .seq = 1, .size = 0, .file = 9999, .len = 0 };
  assert_int_equal(cdht_seg_encode(buf, sizeof buf, &s), CDHT_SEG_HDR);
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_HDR, &d), CDHT_SEG_OK);
  static uint8_t big[CDHT_SEG_MSS_MAX];
  s = (cdht_seg){ .type = CDHT_SEG_DATA, .mss = CDHT_SEG_MSS_MAX, .seq = 1, .size = CDHT_SEG_SIZE_MAX, .file = 1,
                  .len = CDHT_SEG_MSS_MAX, .data = big };
  assert_int_equal(cdht_seg_encode(buf, sizeof buf, &s), CDHT_SEG_MAX);
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_MAX, &d), CDHT_SEG_OK);
  /* The last byte of the largest file. */
  s.seq = CDHT_SEG_SIZE_MAX;
  s.len = 1;
  assert_int_equal(cdht_seg_encode(buf, sizeof buf, &s), CDHT_SEG_HDR + 1);
  assert_int_equal(cdht_seg_decode(buf, CDHT_SEG_HDR + 1, &d), CDHT_SEG_OK);
}

/* Every prefix of a valid segment is refused as short, and a byte more as long, on the heap
 * at its exact size so that ASan sees any read past it. */
static void test_seg_every_truncation_refused(void **state) {
  (void)state;
  uint8_t full[64];
  cdht_seg kinds[2] = { data_seg(), ack_seg() };
  for (int k = 0; k < 2; k++) {
    int n = cdht_seg_encode(full, sizeof full, &kinds[k]);
    for (int len = 0; len < n; len++) {
      uint8_t *copy = malloc(len ? (size_t)len : 1);
      memcpy(copy, full, (size_t)len);
      cdht_seg s;
      assert_int_equal(cdht_seg_decode(copy, (size_t)len, &s), CDHT_SEG_SHORT);
      free(copy);
    }
    uint8_t *longer = malloc((size_t)n + 1);
    memcpy(longer, full, (size_t)n);
    longer[n] = 0;
    cdht_seg s;
    assert_int_equal(cdht_seg_decode(longer, (size_t)n + 1, &s), CDHT_SEG_LONG);
    free(longer);
  }
}

static int decode_mutated(cdht_seg s, size_t off, uint8_t value) {
  uint8_t buf[64];
  int n = cdht_seg_encode(buf, sizeof buf, &s);
  buf[off] = value;
  cdht_seg d;
  return cdht_seg_decode(buf, (size_t)n, &d);
}

static int decode_seg(cdht_seg s) {
  uint8_t buf[64];
  int n = cdht_seg_encode(buf, sizeof buf, &s);
  cdht_seg d;
  return cdht_seg_decode(buf, (size_t)n, &d);
}

static void test_seg_bad_magic_and_type(void **state) {
  (void)state;
  assert_int_equal(decode_mutated(data_seg(), 0, 1), CDHT_SEG_MAGIC_BAD); /* a node message's version */
  assert_int_equal(decode_mutated(data_seg(), 0, 0x18), CDHT_SEG_MAGIC_BAD);
  assert_int_equal(decode_mutated(data_seg(), 1, 0), CDHT_SEG_TYPE_BAD);
  assert_int_equal(decode_mutated(data_seg(), 1, 3), CDHT_SEG_TYPE_BAD);
  assert_int_equal(decode_mutated(ack_seg(), 1, 0xff), CDHT_SEG_TYPE_BAD);
}

/* |base| with the changes after it (to s_) is refused as a bad field. */
#define ASSERT_BAD_FIELD(base, ...)                                                                  \
  do {                                                                                               \
    cdht_seg s_ = base();                                                                            \
    __VA_ARGS__;                                                                                     \
    assert_int_equal(decode_seg(s_), CDHT_SEG_FIELD);                                                \
  } while (0)

static void test_seg_bad_fields(void **state) {
  (void)state;
  ASSERT_BAD_FIELD(data_seg, s_.mss = 0);
  ASSERT_BAD_FIELD(data_seg, s_.file = 10000);
  ASSERT_BAD_FIELD(data_seg, s_.seq = 0);                 /* data starts at 1 */
  ASSERT_BAD_FIELD(data_seg, s_.ack = 7);                 /* data carries ack 0 */
  ASSERT_BAD_FIELD(data_seg, s_.seq = 13, s_.len = 0);    /* past the end */
  ASSERT_BAD_FIELD(data_seg, s_.len = 4);                 /* not the last segment, so it must be full */
  ASSERT_BAD_FIELD(data_seg, s_.seq = 11, s_.len = 3);    /* the last carries exactly what is left (2) */
  ASSERT_BAD_FIELD(data_seg, s_.mss = 4);                 /* more data than the MSS */
  ASSERT_BAD_FIELD(data_seg, s_.size = 0xffffffffu);      /* past 32-bit sequence numbers */
  ASSERT_BAD_FIELD(ack_seg, s_.seq = 1);                  /* an ACK's seq is 0 */
  ASSERT_BAD_FIELD(ack_seg, s_.ack = 0);
  ASSERT_BAD_FIELD(ack_seg, s_.size = 3);
  ASSERT_BAD_FIELD(ack_seg, s_.len = 2, s_.data = DATA);  /* an ACK carries no data */
  /* The MSS field above the largest datagram's room: 0xff05 > 65479. */
  assert_int_equal(decode_mutated(data_seg(), 2, 0xff), CDHT_SEG_FIELD);
}

static void test_seg_encode_needs_room(void **state) {
  (void)state;
  uint8_t buf[64];
  cdht_seg s = data_seg();
  assert_int_equal(cdht_seg_encode(buf, CDHT_SEG_HDR + 4, &s), -1);
  assert_int_equal(cdht_seg_encode(buf, CDHT_SEG_HDR - 1, &s), -1);
  assert_int_equal(cdht_seg_encode(buf, CDHT_SEG_HDR + 5, &s), CDHT_SEG_HDR + 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_seg_data_round_trip_and_layout),
    cmocka_unit_test(test_seg_ack_round_trip),
    cmocka_unit_test(test_seg_edges_accepted),
    cmocka_unit_test(test_seg_every_truncation_refused),
    cmocka_unit_test(test_seg_bad_magic_and_type),
    cmocka_unit_test(test_seg_bad_fields),
    cmocka_unit_test(test_seg_encode_needs_room),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/core/ring.h: the interval test, keys, distances and the
 * closest-successor rule (docs/protocol.md §1).  Every function takes the ring's mask,
 * 2^bits - 1, so the classic 256-id ring is mask 255 and a 64-bit ring needs no wider type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ring.h"

#define RING 255u /* the classic ring: 8 bits, ids 0..255 */
#define M16 15u   /* a 16-id ring, small enough to check exhaustively */
#define M64 UINT64_MAX

/* The ring of the classic examples. */
static const cdht_id classic[] = { 1, 3, 4, 5, 8, 10, 12, 15 };
#define NCLASSIC (sizeof classic / sizeof classic[0])

/* ---- cdht_ring_between ---- */

static void test_ring_between_plain_interval(void **state) {
  (void)state;
  assert_true(cdht_ring_between(3, 4, 8, RING));
  assert_true(cdht_ring_between(3, 7, 8, RING));
  assert_false(cdht_ring_between(3, 2, 8, RING));
  assert_false(cdht_ring_between(3, 9, 8, RING));
  assert_false(cdht_ring_between(3, 255, 8, RING));
  assert_false(cdht_ring_between(3, 0, 8, RING));
}

static void test_ring_between_excludes_a_includes_b(void **state) {
  (void)state;
  assert_false(cdht_ring_between(3, 3, 8, RING));
  assert_true(cdht_ring_between(3, 8, 8, RING));
  /* Adjacent ids: (a, a+1] holds exactly a+1. */
  assert_true(cdht_ring_between(7, 8, 8, RING));
  assert_false(cdht_ring_between(7, 7, 8, RING));
  assert_false(cdht_ring_between(7, 9, 8, RING));
}

static void test_ring_between_wraps_around(void **state) {
  (void)state;
  /* (250, 5] = 251..255, 0..5 */
  assert_true(cdht_ring_between(250, 251, 5, RING));
  assert_true(cdht_ring_between(250, 255, 5, RING));
  assert_true(cdht_ring_between(250, 0, 5, RING));
  assert_true(cdht_ring_between(250, 5, 5, RING));
  assert_false(cdht_ring_between(250, 250, 5, RING));
  assert_false(cdht_ring_between(250, 6, 5, RING));
  assert_false(cdht_ring_between(250, 128, 5, RING));
  assert_false(cdht_ring_between(250, 249, 5, RING));
  /* (15, 1] on the classic ring: the key of file 2012 (220) belongs to peer 1. */
  assert_true(cdht_ring_between(15, 220, 1, RING));
  assert_true(cdht_ring_between(15, 0, 1, RING));
  assert_true(cdht_ring_between(15, 1, 1, RING));
  assert_false(cdht_ring_between(15, 2, 1, RING));
  assert_false(cdht_ring_between(15, 15, 1, RING));
  /* b = mask and a = mask (the largest id). */
  assert_true(cdht_ring_between(254, 255, 255, RING));
  assert_true(cdht_ring_between(255, 0, 0, RING));
  assert_false(cdht_ring_between(255, 255, 0, RING));
}

static void test_ring_between_a_equals_b_is_whole_ring(void **state) {
  (void)state;
  /* (a, a] is every id, a itself included: a peer alone owns every key. */
  for (cdht_id x = 0; x <= RING; x++) {
    assert_true(cdht_ring_between(7, x, 7, RING));
    assert_true(cdht_ring_between(0, x, 0, RING));
    assert_true(cdht_ring_between(255, x, 255, RING));
  }
}

/* The smallest ring cdht_config_check allows: 1 bit, ids 0 and 1 (mask 1).  (A ring of one id
 * has mask 0: still well defined.) */
static void test_ring_between_one_bit_ring(void **state) {
  (void)state;
  const uint64_t m = cdht_ring_mask(1);
  assert_int_equal(m, 1);
  assert_true(cdht_ring_between(0, 1, 1, m));
  assert_false(cdht_ring_between(0, 0, 1, m));
  assert_true(cdht_ring_between(1, 0, 0, m)); /* wraps */
  assert_false(cdht_ring_between(1, 1, 0, m));
  for (cdht_id x = 0; x <= 1; x++) assert_true(cdht_ring_between(1, x, 1, m)); /* alone: everything */
  assert_int_equal(cdht_ring_distance(1, 0, m), 1);
  assert_int_equal(cdht_ring_distance(0, 1, m), 1);
  assert_int_equal(cdht_ring_key(9999, m), 1);
  assert_int_equal(cdht_ring_key(2012, m), 0);
  const cdht_id both[] = { 0, 1 }, one[] = { 1 };
  assert_int_equal(cdht_ring_closest_successor(both, 2, 0, m), 0);
  assert_int_equal(cdht_ring_closest_successor(both, 2, 1, m), 1);
  assert_int_equal(cdht_ring_closest_successor(one, 1, 0, m), 1);
  assert_true(cdht_ring_between(0, 0, 0, 0)); /* mask 0: one id */
}

static void test_ring_between_large_ring(void **state) {
  (void)state;
  const uint64_t mask = cdht_ring_mask(62);
  const cdht_id top = mask;
  assert_true(cdht_ring_between(top - 1, top, 2, mask));
  assert_true(cdht_ring_between(top - 1, 0, 2, mask));
  assert_true(cdht_ring_between(top - 1, 2, 2, mask));
  assert_false(cdht_ring_between(top - 1, 3, 2, mask));
  assert_false(cdht_ring_between(top - 1, top - 1, 2, mask));
  assert_false(cdht_ring_between(top - 1, mask / 2, 2, mask));
  assert_true(cdht_ring_between(0, top, top, mask));
  assert_false(cdht_ring_between(1, 0, top, mask));
}

/* The full 64-bit ring (mask 2^64 - 1): its size does not fit 64 bits, and the arithmetic must
 * wrap at 2^64 with no special case (a size-based formula would divide by zero or overflow). */
static void test_ring_between_64_bit_ring_wraps_at_2_64(void **state) {
  (void)state;
  const uint64_t m = cdht_ring_mask(64);
  assert_true(m == UINT64_MAX);
  const cdht_id top = UINT64_MAX;
  /* (top - 1, 2] = top, 0, 1, 2 */
  assert_true(cdht_ring_between(top - 1, top, 2, m));
  assert_true(cdht_ring_between(top - 1, 0, 2, m));
  assert_true(cdht_ring_between(top - 1, 1, 2, m));
  assert_true(cdht_ring_between(top - 1, 2, 2, m));
  assert_false(cdht_ring_between(top - 1, top - 1, 2, m));
  assert_false(cdht_ring_between(top - 1, 3, 2, m));
  assert_false(cdht_ring_between(top - 1, top / 2, 2, m));
  /* (top, 0] holds 0 only; (0, top] everything but 0. */
  assert_true(cdht_ring_between(top, 0, 0, m));
  assert_false(cdht_ring_between(top, top, 0, m));
  assert_false(cdht_ring_between(top, 1, 0, m));
  assert_true(cdht_ring_between(0, top, top, m));
  assert_true(cdht_ring_between(0, 1, top, m));
  assert_false(cdht_ring_between(0, 0, top, m));
  /* (a, a] is the whole ring here too. */
  assert_true(cdht_ring_between(top, top, top, m));
  assert_true(cdht_ring_between(top, 0, top, m));
  assert_true(cdht_ring_between(top, top / 2, top, m));
  /* Half-ring intervals either side of the wrap. */
  const cdht_id half = UINT64_C(1) << 63;
  assert_true(cdht_ring_between(half, top, 0, m));
  assert_true(cdht_ring_between(half, 0, 0, m));
  assert_false(cdht_ring_between(half, half - 1, 0, m));
  assert_true(cdht_ring_between(half - 1, half, half, m));
  /* Distances wrap at 2^64. */
  assert_true(cdht_ring_distance(top, 0, m) == 1);
  assert_true(cdht_ring_distance(0, top, m) == top);
  assert_true(cdht_ring_distance(top - 1, 1, m) == 3);
  assert_true(cdht_ring_distance(1, top - 1, m) == top - 2);
  assert_true(cdht_ring_distance(half, half - 1, m) == top);
}

/* The same rule, checked against a walk, for ids within a few steps of 2^64 and of 0. */
static void test_ring_between_64_bit_near_the_top_matches_walk(void **state) {
  (void)state;
  const uint64_t m = M64;
  cdht_id near[12];
  for (int i = 0; i < 6; i++) {
    near[i] = UINT64_MAX - (cdht_id)i;
    near[6 + i] = (cdht_id)i;
  }
  for (int a = 0; a < 12; a++)
    for (int x = 0; x < 12; x++)
      for (int b = 0; b < 12; b++) {
        /* the definition itself, in unsigned 64-bit arithmetic (mod 2^64): x is in (a, b] when
         * it is reached first, 1..dist(a, b) steps clockwise from a */
        cdht_id A = near[a], X = near[x], B = near[b];
        bool want;
        if (A == B) {
          want = true;
        } else {
          uint64_t dx = X - A, db = B - A; /* unsigned: mod 2^64 */
          want = dx != 0 && dx <= db;
        }
        if (cdht_ring_between(A, X, B, m) != want)
          fail_msg("between(%llu, %llu, %llu) should be %d", (unsigned long long)A, (unsigned long long)X,
                   (unsigned long long)B, want);
      }
}

/* Walks clockwise from a, one step at a time, up to and including b. */
static bool naive_between(cdht_id a, cdht_id x, cdht_id b, uint64_t mask) {
  cdht_id i = a;
  do {
    i = (i + 1) & mask;
    if (i == x) return true;
  } while (i != b);
  return false;
}

static void test_ring_between_matches_naive_walk(void **state) {
  (void)state;
  /* every width from 1 to 4 bits, exhaustively */
  for (unsigned bits = 1; bits <= 4; bits++) {
    const uint64_t mask = cdht_ring_mask(bits);
    for (cdht_id a = 0; a <= mask; a++)
      for (cdht_id x = 0; x <= mask; x++)
        for (cdht_id b = 0; b <= mask; b++) {
          bool want = naive_between(a, x, b, mask);
          if (cdht_ring_between(a, x, b, mask) != want)
            fail_msg("between(%u, %u, %u, mask %u) should be %d", (unsigned)a, (unsigned)x, (unsigned)b,
                     (unsigned)mask, want);
        }
  }
}

/* ---- cdht_ring_key ---- */

/* The four-digit key: the number mod 2^bits, i.e. masked. */
static void test_ring_key_is_file_mod_size(void **state) {
  (void)state;
  assert_int_equal(cdht_ring_key(2012, RING), 220);
  assert_int_equal(cdht_ring_key(0, RING), 0);
  assert_int_equal(cdht_ring_key(10, RING), 10);
  assert_int_equal(cdht_ring_key(255, RING), 255);
  assert_int_equal(cdht_ring_key(256, RING), 0);
  assert_int_equal(cdht_ring_key(9999, RING), 9999 % 256);
  assert_int_equal(cdht_ring_key(9999, M16), 15);
  assert_int_equal(cdht_ring_key(9999, cdht_ring_mask(1)), 1);  /* 9999 is odd */
  assert_int_equal(cdht_ring_key(9998, cdht_ring_mask(1)), 0);
  assert_int_equal(cdht_ring_key(9999, cdht_ring_mask(17)), 9999); /* 2^17 > 9999: the number itself */
  assert_int_equal(cdht_ring_key(9999, cdht_ring_mask(13)), 9999 % 8192);
  assert_int_equal(cdht_ring_key(9999, cdht_ring_mask(14)), 9999);
  assert_true(cdht_ring_key(9999, M64) == 9999);
  assert_true(cdht_ring_key(0, M64) == 0);
  /* every four-digit number under every width: key = number mod 2^bits */
  for (unsigned bits = 1; bits <= 64; bits++)
    for (unsigned f = 0; f <= 9999; f += 7)
      assert_true(cdht_ring_key(f, cdht_ring_mask(bits)) == (bits >= 14 ? f : f % (1u << bits)));
}

/* ---- cdht_ring_distance ---- */

static void test_ring_distance_clockwise(void **state) {
  (void)state;
  assert_int_equal(cdht_ring_distance(1, 3, RING), 2);
  assert_int_equal(cdht_ring_distance(3, 1, RING), 254);
  assert_int_equal(cdht_ring_distance(5, 5, RING), 0);
  assert_int_equal(cdht_ring_distance(0, 255, RING), 255);
  assert_int_equal(cdht_ring_distance(255, 0, RING), 1);
  assert_int_equal(cdht_ring_distance(15, 1, M16), 2);
  assert_int_equal(cdht_ring_distance(0, 0, 0), 0);
}

static void test_ring_distance_large_ring_no_overflow(void **state) {
  (void)state;
  const uint64_t mask = cdht_ring_mask(62), size = mask + 1;
  assert_true(cdht_ring_distance(size - 1, 0, mask) == 1);
  assert_true(cdht_ring_distance(0, size - 1, mask) == size - 1);
  assert_true(cdht_ring_distance(size - 1, size - 2, mask) == size - 1);
}

static void test_ring_distance_there_and_back_is_size(void **state) {
  (void)state;
  for (cdht_id a = 0; a < 16; a++)
    for (cdht_id b = 0; b < 16; b++) {
      uint64_t sum = cdht_ring_distance(a, b, M16) + cdht_ring_distance(b, a, M16);
      assert_int_equal(sum, a == b ? 0 : 16);
    }
  /* On the 64-bit ring the sum is 2^64, i.e. 0 mod 2^64: there and back wraps exactly. */
  const cdht_id ids[] = { 0, 1, UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 63, 12345 };
  for (size_t i = 0; i < 6; i++)
    for (size_t j = 0; j < 6; j++) {
      uint64_t there = cdht_ring_distance(ids[i], ids[j], M64), back = cdht_ring_distance(ids[j], ids[i], M64);
      assert_true(there + back == 0);
      assert_true((there == 0) == (i == j));
    }
}

/* ---- cdht_ring_closest_successor ---- */

static void test_ring_closest_successor_classic_examples(void **state) {
  (void)state;
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, cdht_ring_key(2012, RING), RING), 1);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 10, RING), 10);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 6, RING), 8);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 210, RING), 1);
  /* Every key equal to a peer's id belongs to that peer. */
  for (size_t i = 0; i < NCLASSIC; i++)
    assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, classic[i], RING), classic[i]);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 0, RING), 1);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 2, RING), 3);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 13, RING), 15);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 16, RING), 1);
  assert_int_equal(cdht_ring_closest_successor(classic, NCLASSIC, 255, RING), 1);
}

static void test_ring_closest_successor_any_order(void **state) {
  (void)state;
  const cdht_id shuffled[] = { 12, 1, 15, 5, 10, 3, 8, 4 };
  for (cdht_id key = 0; key <= RING; key++)
    assert_int_equal(cdht_ring_closest_successor(shuffled, 8, key, RING),
                     cdht_ring_closest_successor(classic, NCLASSIC, key, RING));
}

static void test_ring_closest_successor_ring_of_one(void **state) {
  (void)state;
  const cdht_id alone[] = { 7 };
  for (cdht_id key = 0; key <= RING; key++)
    assert_int_equal(cdht_ring_closest_successor(alone, 1, key, RING), 7);
}

/* With no ids there is no answer: the function returns the key itself and the caller checks
 * n (ring.h); "no peer" is a record of its own now, no id is reserved for it. */
static void test_ring_closest_successor_empty_is_the_key(void **state) {
  (void)state;
  assert_true(cdht_ring_closest_successor(NULL, 0, 5, RING) == 5);
  assert_true(cdht_ring_closest_successor(classic, 0, 7, RING) == 7);
  assert_true(cdht_ring_closest_successor(NULL, 0, UINT64_MAX, M64) == UINT64_MAX);
}

/* On the 64-bit ring: a key just past the largest id wraps round to the smallest, a key at
 * 2^64 - 1 belongs to a peer at 2^64 - 1, and a key 0 to the first id at or after 0. */
static void test_ring_closest_successor_64_bit(void **state) {
  (void)state;
  const cdht_id ids[] = { UINT64_MAX, 5, UINT64_C(1) << 63, UINT64_MAX - 10 };
  assert_true(cdht_ring_closest_successor(ids, 4, UINT64_MAX, M64) == UINT64_MAX);
  assert_true(cdht_ring_closest_successor(ids, 4, UINT64_MAX - 1, M64) == UINT64_MAX);
  assert_true(cdht_ring_closest_successor(ids, 4, UINT64_MAX - 10, M64) == UINT64_MAX - 10);
  assert_true(cdht_ring_closest_successor(ids, 4, UINT64_MAX - 11, M64) == UINT64_MAX - 10);
  assert_true(cdht_ring_closest_successor(ids, 4, 0, M64) == 5);
  assert_true(cdht_ring_closest_successor(ids, 4, 6, M64) == UINT64_C(1) << 63);
  assert_true(cdht_ring_closest_successor(ids, 4, (UINT64_C(1) << 63) + 1, M64) == UINT64_MAX - 10);
  /* without the top id, keys above the largest id wrap to 5 */
  const cdht_id low[] = { 5, UINT64_C(1) << 63 };
  assert_true(cdht_ring_closest_successor(low, 2, UINT64_MAX, M64) == 5);
  assert_true(cdht_ring_closest_successor(low, 2, (UINT64_C(1) << 63) + 1, M64) == 5);
  /* and the rule agrees with between() for keys round the wrap */
  const cdht_id keys[] = { 0, 1, 4, 5, 6, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 10, UINT64_MAX - 11,
                           UINT64_C(1) << 63, (UINT64_C(1) << 63) - 1 };
  const cdht_id sorted[] = { 5, UINT64_C(1) << 63, UINT64_MAX - 10, UINT64_MAX };
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    cdht_id got = cdht_ring_closest_successor(ids, 4, keys[k], M64);
    size_t i = 0;
    while (i < 4 && sorted[i] != got) i++;
    assert_true(i < 4);
    assert_true(cdht_ring_between(sorted[(i + 3) % 4], keys[k], got, M64));
  }
}

/* The responsible peer p for key k is the one with k in (pred(p), p]: check the rule against
 * cdht_ring_between for every key and every subset of a 16-id ring. */
static void test_ring_closest_successor_agrees_with_between(void **state) {
  (void)state;
  const uint64_t size = 16;
  for (unsigned set = 1; set < (1u << size); set += 37) { /* a spread of subsets */
    cdht_id ids[16];
    size_t n = 0;
    for (cdht_id i = 0; i < size; i++)
      if (set & (1u << i)) ids[n++] = i;
    for (cdht_id key = 0; key < size; key++) {
      cdht_id got = cdht_ring_closest_successor(ids, n, key, M16);
      size_t k = 0;
      while (k < n && ids[k] != got) k++;
      assert_true(k < n);
      cdht_id pred = ids[(k + n - 1) % n];
      assert_true(cdht_ring_between(pred, key, got, M16));
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ring_between_plain_interval),
    cmocka_unit_test(test_ring_between_excludes_a_includes_b),
    cmocka_unit_test(test_ring_between_wraps_around),
    cmocka_unit_test(test_ring_between_a_equals_b_is_whole_ring),
    cmocka_unit_test(test_ring_between_one_bit_ring),
    cmocka_unit_test(test_ring_between_large_ring),
    cmocka_unit_test(test_ring_between_64_bit_ring_wraps_at_2_64),
    cmocka_unit_test(test_ring_between_64_bit_near_the_top_matches_walk),
    cmocka_unit_test(test_ring_between_matches_naive_walk),
    cmocka_unit_test(test_ring_key_is_file_mod_size),
    cmocka_unit_test(test_ring_distance_clockwise),
    cmocka_unit_test(test_ring_distance_large_ring_no_overflow),
    cmocka_unit_test(test_ring_distance_there_and_back_is_size),
    cmocka_unit_test(test_ring_closest_successor_classic_examples),
    cmocka_unit_test(test_ring_closest_successor_any_order),
    cmocka_unit_test(test_ring_closest_successor_ring_of_one),
    cmocka_unit_test(test_ring_closest_successor_empty_is_the_key),
    cmocka_unit_test(test_ring_closest_successor_64_bit),
    cmocka_unit_test(test_ring_closest_successor_agrees_with_between),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

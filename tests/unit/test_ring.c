/* Unit tests for src/core/ring.h: the interval test, keys, distances and the
 * closest-successor rule (docs/protocol.md §1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ring.h"

#define RING 256

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
  /* b = size - 1 and a = size - 1. */
  assert_true(cdht_ring_between(254, 255, 255, RING));
  assert_true(cdht_ring_between(255, 0, 0, RING));
  assert_false(cdht_ring_between(255, 255, 0, RING));
}

static void test_ring_between_a_equals_b_is_whole_ring(void **state) {
  (void)state;
  /* (a, a] is every id, a itself included: a peer alone owns every key. */
  for (cdht_id x = 0; x < RING; x++) {
    assert_true(cdht_ring_between(7, x, 7, RING));
    assert_true(cdht_ring_between(0, x, 0, RING));
    assert_true(cdht_ring_between(255, x, 255, RING));
  }
}

static void test_ring_between_ring_of_size_one(void **state) {
  (void)state;
  assert_true(cdht_ring_between(0, 0, 0, 1));
}

static void test_ring_between_large_ring(void **state) {
  (void)state;
  const uint64_t size = (uint64_t)1 << 62; /* the largest ring cdht_config_check allows */
  const cdht_id top = size - 1;
  assert_true(cdht_ring_between(top - 1, top, 2, size));
  assert_true(cdht_ring_between(top - 1, 0, 2, size));
  assert_true(cdht_ring_between(top - 1, 2, 2, size));
  assert_false(cdht_ring_between(top - 1, 3, 2, size));
  assert_false(cdht_ring_between(top - 1, top - 1, 2, size));
  assert_false(cdht_ring_between(top - 1, size / 2, 2, size));
  assert_true(cdht_ring_between(0, top, top, size));
  assert_false(cdht_ring_between(1, 0, top, size));
}

/* Walks clockwise from a, one step at a time, up to and including b. */
static bool naive_between(cdht_id a, cdht_id x, cdht_id b, uint64_t size) {
  cdht_id i = a;
  do {
    i = (i + 1) % size;
    if (i == x) return true;
  } while (i != b);
  return false;
}

static void test_ring_between_matches_naive_walk(void **state) {
  (void)state;
  const uint64_t size = 16;
  for (cdht_id a = 0; a < size; a++)
    for (cdht_id x = 0; x < size; x++)
      for (cdht_id b = 0; b < size; b++) {
        bool want = naive_between(a, x, b, size);
        if (cdht_ring_between(a, x, b, size) != want)
          fail_msg("between(%u, %u, %u, 16) should be %d", (unsigned)a, (unsigned)x, (unsigned)b, want);
      }
}

/* ---- cdht_ring_key ---- */

static void test_ring_key_is_file_mod_size(void **state) {
  (void)state;
  assert_int_equal(cdht_ring_key(2012, RING), 220);
  assert_int_equal(cdht_ring_key(0, RING), 0);
  assert_int_equal(cdht_ring_key(10, RING), 10);
  assert_int_equal(cdht_ring_key(255, RING), 255);
  assert_int_equal(cdht_ring_key(256, RING), 0);
  assert_int_equal(cdht_ring_key(9999, RING), 9999 % 256);
  assert_int_equal(cdht_ring_key(9999, 16), 15);
  assert_int_equal(cdht_ring_key(9999, 1), 0);
  assert_int_equal(cdht_ring_key(9999, 100000), 9999);
}

/* ---- cdht_ring_distance ---- */

static void test_ring_distance_clockwise(void **state) {
  (void)state;
  assert_int_equal(cdht_ring_distance(1, 3, RING), 2);
  assert_int_equal(cdht_ring_distance(3, 1, RING), 254);
  assert_int_equal(cdht_ring_distance(5, 5, RING), 0);
  assert_int_equal(cdht_ring_distance(0, 255, RING), 255);
  assert_int_equal(cdht_ring_distance(255, 0, RING), 1);
  assert_int_equal(cdht_ring_distance(15, 1, 16), 2);
  assert_int_equal(cdht_ring_distance(0, 0, 1), 0);
}

static void test_ring_distance_large_ring_no_overflow(void **state) {
  (void)state;
  const uint64_t size = (uint64_t)1 << 62;
  assert_true(cdht_ring_distance(size - 1, 0, size) == 1);
  assert_true(cdht_ring_distance(0, size - 1, size) == size - 1);
  assert_true(cdht_ring_distance(size - 1, size - 2, size) == size - 1);
}

static void test_ring_distance_there_and_back_is_size(void **state) {
  (void)state;
  for (cdht_id a = 0; a < 16; a++)
    for (cdht_id b = 0; b < 16; b++) {
      uint64_t sum = cdht_ring_distance(a, b, 16) + cdht_ring_distance(b, a, 16);
      assert_int_equal(sum, a == b ? 0 : 16);
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
  for (cdht_id key = 0; key < RING; key++)
    assert_int_equal(cdht_ring_closest_successor(shuffled, 8, key, RING),
                     cdht_ring_closest_successor(classic, NCLASSIC, key, RING));
}

static void test_ring_closest_successor_ring_of_one(void **state) {
  (void)state;
  const cdht_id alone[] = { 7 };
  for (cdht_id key = 0; key < RING; key++)
    assert_int_equal(cdht_ring_closest_successor(alone, 1, key, RING), 7);
}

static void test_ring_closest_successor_empty_is_none(void **state) {
  (void)state;
  assert_true(cdht_ring_closest_successor(NULL, 0, 5, RING) == CDHT_ID_NONE);
  assert_true(cdht_ring_closest_successor(classic, 0, 5, RING) == CDHT_ID_NONE);
}

/* The responsible peer p for key k is the one with k in (pred(p), p]: check the rule against
 * cdht_ring_between for every key and every subset of a 16-id ring. */
static void test_ring_closest_successor_agrees_with_between(void **state) {
  (void)state;
  const uint64_t size = 16;
  for (unsigned mask = 1; mask < (1u << size); mask += 37) { /* a spread of subsets */
    cdht_id ids[16];
    size_t n = 0;
    for (cdht_id i = 0; i < size; i++)
      if (mask & (1u << i)) ids[n++] = i;
    for (cdht_id key = 0; key < size; key++) {
      cdht_id got = cdht_ring_closest_successor(ids, n, key, size);
      size_t k = 0;
      while (k < n && ids[k] != got) k++;
      assert_true(k < n);
      cdht_id pred = ids[(k + n - 1) % n];
      assert_true(cdht_ring_between(pred, key, got, size));
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ring_between_plain_interval),
    cmocka_unit_test(test_ring_between_excludes_a_includes_b),
    cmocka_unit_test(test_ring_between_wraps_around),
    cmocka_unit_test(test_ring_between_a_equals_b_is_whole_ring),
    cmocka_unit_test(test_ring_between_ring_of_size_one),
    cmocka_unit_test(test_ring_between_large_ring),
    cmocka_unit_test(test_ring_between_matches_naive_walk),
    cmocka_unit_test(test_ring_key_is_file_mod_size),
    cmocka_unit_test(test_ring_distance_clockwise),
    cmocka_unit_test(test_ring_distance_large_ring_no_overflow),
    cmocka_unit_test(test_ring_distance_there_and_back_is_size),
    cmocka_unit_test(test_ring_closest_successor_classic_examples),
    cmocka_unit_test(test_ring_closest_successor_any_order),
    cmocka_unit_test(test_ring_closest_successor_ring_of_one),
    cmocka_unit_test(test_ring_closest_successor_empty_is_none),
    cmocka_unit_test(test_ring_closest_successor_agrees_with_between),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

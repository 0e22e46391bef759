#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ratelim.h"

static void test_ratelim_burst_then_rate(void **state) {
  (void)state;
  cdht_ratelim rl;
  cdht_ratelim_init(&rl, 10, 20);
  uint64_t now = 0;
  int passed = 0;
  for (int i = 0; i < 100; i++) passed += cdht_ratelim_allow(&rl, 42, now);
  assert_int_equal(passed, 20); /* the burst */
  now += 1000;                  /* one second refills 10 */
  passed = 0;
  for (int i = 0; i < 100; i++) passed += cdht_ratelim_allow(&rl, 42, now);
  assert_int_equal(passed, 10);
  now += 100000; /* a long silence refills no more than the burst */
  passed = 0;
  for (int i = 0; i < 100; i++) passed += cdht_ratelim_allow(&rl, 42, now);
  assert_int_equal(passed, 20);
}

static void test_ratelim_sources_are_separate(void **state) {
  (void)state;
  cdht_ratelim rl;
  cdht_ratelim_init(&rl, 10, 5);
  for (int i = 0; i < 100; i++) cdht_ratelim_allow(&rl, 1000, 0);
  assert_false(cdht_ratelim_allow(&rl, 1000, 0));
  assert_true(cdht_ratelim_allow(&rl, 2000, 0)); /* another source still passes */
  /* Neighbouring ports are neighbouring peers (50000 + id): a flood from one leaves the other. */
  uint64_t p50002 = (0x7f000001ull << 16) | 50002, p50003 = p50002 + 1;
  for (int i = 0; i < 100; i++) cdht_ratelim_allow(&rl, p50002, 0);
  assert_false(cdht_ratelim_allow(&rl, p50002, 0));
  assert_true(cdht_ratelim_allow(&rl, p50003, 0));
}

static void test_ratelim_many_sources_do_not_crash_or_starve(void **state) {
  (void)state;
  cdht_ratelim rl;
  cdht_ratelim_init(&rl, 10, 5);
  uint64_t now = 0;
  for (uint64_t k = 1; k < 100000; k++) {
    now += 1;
    cdht_ratelim_allow(&rl, k * 7919, now);
  }
  assert_true(cdht_ratelim_allow(&rl, 123456789, now)); /* a new source gets a fresh bucket */
}

static void test_ratelim_zero_rate_is_unlimited(void **state) {
  (void)state;
  cdht_ratelim rl;
  cdht_ratelim_init(&rl, 0, 0);
  for (int i = 0; i < 10000; i++) assert_true(cdht_ratelim_allow(&rl, 5, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ratelim_burst_then_rate),
    cmocka_unit_test(test_ratelim_sources_are_separate),
    cmocka_unit_test(test_ratelim_many_sources_do_not_crash_or_starve),
    cmocka_unit_test(test_ratelim_zero_rate_is_unlimited),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/rng.h"
#include "sim/sched.h"

static void test_sched_pops_in_time_order(void **state) {
  (void)state;
  sim_sched s;
  sim_sched_init(&s);
  cdht_rng r;
  cdht_rng_seed(&r, 3);
  for (uint32_t i = 0; i < 5000; i++) {
    sim_ev e = { .t_us = cdht_rng_below(&r, 1000), .a = i };
    assert_int_equal(sim_sched_push(&s, &e), 0);
  }
  sim_ev e, prev = { 0 };
  int n = 0;
  while (sim_sched_pop(&s, &e)) {
    if (n++) {
      assert_true(e.t_us > prev.t_us || (e.t_us == prev.t_us && e.seq > prev.seq));
    }
    prev = e;
  }
  assert_int_equal(n, 5000);
  assert_int_equal(sim_sched_pop(&s, &e), 0);
  sim_sched_clear(&s);
}

/* Events at the same microsecond run in the order they were scheduled: determinism must not
 * depend on the heap's internal layout. */
static void test_sched_ties_keep_insertion_order(void **state) {
  (void)state;
  sim_sched s;
  sim_sched_init(&s);
  for (uint32_t i = 0; i < 100; i++) {
    sim_ev e = { .t_us = 5, .a = i };
    sim_sched_push(&s, &e);
    sim_ev early = { .t_us = 1, .a = 1000 + i };
    sim_sched_push(&s, &early);
  }
  sim_ev e;
  for (uint32_t i = 0; i < 100; i++) {
    assert_int_equal(sim_sched_pop(&s, &e), 1);
    assert_int_equal(e.a, 1000 + i);
  }
  for (uint32_t i = 0; i < 100; i++) {
    assert_int_equal(sim_sched_pop(&s, &e), 1);
    assert_int_equal(e.a, i);
  }
  sim_sched_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sched_pops_in_time_order),
    cmocka_unit_test(test_sched_ties_keep_insertion_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/core/fd.h: the per-successor failure detector (docs/protocol.md §4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cdht/err.h"
#include "core/fd.h"

#define TIMEOUT 500   /* ms: the default ping timeout */
#define LONG 100000   /* ms: a timeout no test reaches */

static void test_fd_sequence_numbers_count_from_zero(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (uint32_t i = 0; i < 40; i++) { /* past the window: numbering goes on */
    assert_int_equal(cdht_fd_on_send(&fd, now, TIMEOUT), i);
    now += 1000;
  }
}

static void test_fd_fresh_has_no_deadline_and_no_misses(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX);
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

/* An unanswered ping is a miss only once its deadline (sent + timeout) has passed. */
static void test_fd_miss_counted_only_at_deadline(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  cdht_fd_on_send(&fd, now, 2000); /* deadline 2000 */
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000; /* exactly the deadline: judged */
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
  now += 1000; /* judged once only */
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
}

static void test_fd_unanswered_pings_count_consecutive_misses(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (uint32_t i = 1; i <= 6; i++) {
    cdht_fd_on_send(&fd, now, TIMEOUT);
    now += 1000;
    assert_int_equal(cdht_fd_on_timer(&fd, now), i);
  }
}

/* A timer that runs late judges every deadline it has passed, in one call. */
static void test_fd_late_timer_judges_every_passed_deadline(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  cdht_fd_on_send(&fd, now, TIMEOUT); /* deadline 500 */
  now += 1000;
  cdht_fd_on_send(&fd, now, TIMEOUT); /* deadline 1500 */
  now += 1000;
  cdht_fd_on_send(&fd, now, TIMEOUT); /* deadline 2500 */
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2);
  assert_true(cdht_fd_next_deadline(&fd) == 2500);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 3);
}

static void test_fd_ack_resets_misses(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (int i = 0; i < 3; i++) {
    cdht_fd_on_send(&fd, now, TIMEOUT);
    now += 1000;
    cdht_fd_on_timer(&fd, now);
  }
  assert_int_equal(fd.misses, 3);
  uint32_t seq = cdht_fd_on_send(&fd, now, TIMEOUT);
  assert_int_equal(cdht_fd_on_ack(&fd, seq), 0); /* in time */
  assert_int_equal(fd.misses, 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0); /* the answered ping is no miss */
  /* Misses count from zero again. */
  cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
}

/* A response that arrives after its ping's deadline was judged still proves the peer alive. */
static void test_fd_late_ack_after_deadline_still_resets(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  uint32_t s0 = cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
  uint32_t s1 = cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2);
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX); /* both judged */
  assert_int_equal(cdht_fd_on_ack(&fd, s0), 0);
  assert_int_equal(fd.misses, 0);
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  assert_int_equal(cdht_fd_on_ack(&fd, s1), 0);
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

/* A response that arrives after the deadline but before the timer judged it: no miss. */
static void test_fd_late_ack_before_timer_is_no_miss(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  uint32_t seq = cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_ack(&fd, seq), 0);
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

static void test_fd_ack_never_sent_is_stale(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  /* Nothing sent yet: every number is stale. */
  assert_int_equal(cdht_fd_on_ack(&fd, 0), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, 1), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, UINT32_MAX), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, 0x80000000u), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, 0x80000001u), CDHT_ERR_STALE);
  assert_false(fd.any_acked);

  /* Pings 0 and 1 go unanswered. */
  cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  cdht_fd_on_timer(&fd, now);
  cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2);
  /* Numbers never sent (ahead of next_seq, or far behind it) do not revive the peer. */
  const uint32_t forged[] = { 2, 3, 100, 0x7fffffffu, 0x80000000u, 0x80000002u, 0x80000003u,
                              UINT32_MAX - 1, UINT32_MAX };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    if (cdht_fd_on_ack(&fd, forged[i]) != CDHT_ERR_STALE) fail_msg("ack %u accepted", forged[i]);
    assert_int_equal(fd.misses, 2);
  }
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2);
  /* The numbers that were sent are accepted. */
  assert_int_equal(cdht_fd_on_ack(&fd, 1), 0);
  assert_int_equal(cdht_fd_on_ack(&fd, 0), 0);
  assert_int_equal(fd.misses, 0);
}

/* A duplicate response is harmless: accepted again, nothing changes for the worse. */
static void test_fd_duplicate_ack_accepted(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  uint32_t seq = cdht_fd_on_send(&fd, now, TIMEOUT);
  assert_int_equal(cdht_fd_on_ack(&fd, seq), 0);
  assert_int_equal(cdht_fd_on_ack(&fd, seq), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

/* Answering ping n proves the peer alive at n: every earlier ping is covered. */
static void test_fd_later_ack_covers_earlier_pings(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  cdht_fd_on_send(&fd, now, 2500);                /* 0: deadline 2500 */
  now += 1000;
  cdht_fd_on_send(&fd, now, 2500);                /* 1: deadline 3500 */
  now += 1000;
  uint32_t s2 = cdht_fd_on_send(&fd, now, 2500);  /* 2: deadline 4500 */
  assert_int_equal(cdht_fd_on_ack(&fd, s2), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0); /* 0 judged: covered by 2 */
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0); /* 1 judged: covered by 2 */
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0); /* 2 judged: answered */
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX);
}

/* ... but answering an earlier ping does not cover a later one. */
static void test_fd_earlier_ack_does_not_cover_later_pings(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  uint32_t s0 = cdht_fd_on_send(&fd, now, 2500);
  now += 1000;
  cdht_fd_on_send(&fd, now, 2500);
  now += 1000;
  cdht_fd_on_send(&fd, now, 2500);
  assert_int_equal(cdht_fd_on_ack(&fd, s0), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2);
  /* A late duplicate of the old ack still proves the peer alive now. */
  assert_int_equal(cdht_fd_on_ack(&fd, s0), 0);
  assert_int_equal(fd.acked, s0);
  assert_int_equal(fd.misses, 0);
}

static void test_fd_next_deadline_is_oldest_pending(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX);
  cdht_fd_on_send(&fd, now, 2500);
  assert_true(cdht_fd_next_deadline(&fd) == 2500);
  now += 1000;
  cdht_fd_on_send(&fd, now, 2500);
  assert_true(cdht_fd_next_deadline(&fd) == 2500); /* still the first */
  now += 1000;
  cdht_fd_on_timer(&fd, now);                      /* nothing due yet */
  assert_true(cdht_fd_next_deadline(&fd) == 2500);
  now += 1000;
  cdht_fd_on_timer(&fd, now);                      /* the first is judged */
  assert_true(cdht_fd_next_deadline(&fd) == 3500);
  now += 1000;
  cdht_fd_on_timer(&fd, now);
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX);
  /* An ack removes no deadline: the ping is still judged (as answered) when it falls due. */
  uint32_t seq = cdht_fd_on_send(&fd, now, 2500);
  assert_int_equal(cdht_fd_on_ack(&fd, seq), 0);
  assert_true(cdht_fd_next_deadline(&fd) == now + 2500);
}

/* With CDHT_FD_WINDOW pings outstanding, the next send judges the oldest before its deadline. */
static void test_fd_window_full_judges_oldest_early(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (uint32_t i = 0; i < CDHT_FD_WINDOW; i++) {
    assert_int_equal(cdht_fd_on_send(&fd, now, LONG), i);
    now += 1000;
    assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  }
  assert_int_equal(fd.count, CDHT_FD_WINDOW);
  assert_true(cdht_fd_next_deadline(&fd) == LONG);
  /* Ping 16 pushes out ping 0, unanswered: a miss although its deadline is far off. */
  assert_int_equal(cdht_fd_on_send(&fd, now, LONG), CDHT_FD_WINDOW);
  assert_int_equal(fd.count, CDHT_FD_WINDOW);
  assert_int_equal(fd.misses, 1);
  assert_true(cdht_fd_next_deadline(&fd) == LONG + 1000); /* ping 1's */
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);
  /* Ping 17 pushes out ping 1. */
  cdht_fd_on_send(&fd, now, LONG);
  assert_int_equal(fd.misses, 2);
  /* The pushed-out pings can still be answered late. */
  assert_int_equal(cdht_fd_on_ack(&fd, 0), 0);
  assert_int_equal(fd.misses, 0);
}

static void test_fd_window_full_answered_oldest_is_no_miss(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (uint32_t i = 0; i < CDHT_FD_WINDOW; i++) {
    cdht_fd_on_send(&fd, now, LONG);
    now += 1000;
  }
  assert_int_equal(cdht_fd_on_ack(&fd, 0), 0);
  cdht_fd_on_send(&fd, now, LONG); /* pushes out ping 0, answered */
  assert_int_equal(fd.misses, 0);
  cdht_fd_on_send(&fd, now, LONG); /* pushes out ping 1, unanswered */
  assert_int_equal(fd.misses, 1);
  /* Deadlines still fall due in order afterwards. */
  now = LONG + 2 * 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 2); /* ping 2 */
}

static void test_fd_reset_forgets_everything(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  for (int i = 0; i < 5; i++) {
    cdht_fd_on_send(&fd, now, TIMEOUT);
    now += 1000;
    cdht_fd_on_timer(&fd, now);
  }
  cdht_fd_on_send(&fd, now, TIMEOUT);
  assert_int_equal(cdht_fd_on_ack(&fd, 5), 0);
  assert_int_equal(fd.misses, 0);
  cdht_fd_on_send(&fd, now, TIMEOUT);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);

  cdht_fd_reset(&fd);
  assert_int_equal(fd.misses, 0);
  assert_false(fd.any_acked);
  assert_true(cdht_fd_next_deadline(&fd) == UINT64_MAX);
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  /* Responses to pings from before the reset are refused. */
  assert_int_equal(cdht_fd_on_ack(&fd, 5), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, 0), CDHT_ERR_STALE);
  assert_false(fd.any_acked);
  /* Numbering starts again at 0. */
  assert_int_equal(cdht_fd_on_send(&fd, now, TIMEOUT), 0);
  assert_int_equal(cdht_fd_on_ack(&fd, 1), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, 0), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

/* Sequence numbers wrap from UINT32_MAX to 0 without losing track of what was answered. */
static void test_fd_sequence_wraps_around(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  fd.next_seq = UINT32_MAX - 1;
  assert_int_equal(cdht_fd_on_send(&fd, now, 2500), UINT32_MAX - 1); /* deadline 2500 */
  now += 1000;
  assert_int_equal(cdht_fd_on_send(&fd, now, 2500), UINT32_MAX);     /* deadline 3500 */
  now += 1000;
  assert_int_equal(cdht_fd_on_send(&fd, now, 2500), 0);              /* deadline 4500 */
  assert_int_equal(fd.next_seq, 1);
  /* 1 is not sent yet; the number before the first one sent never was. */
  assert_int_equal(cdht_fd_on_ack(&fd, 1), CDHT_ERR_STALE);
  assert_int_equal(cdht_fd_on_ack(&fd, UINT32_MAX - 2), CDHT_ERR_STALE);
  /* The ack of 0 (after the wrap) covers UINT32_MAX - 1 and UINT32_MAX (before it). */
  assert_int_equal(cdht_fd_on_ack(&fd, 0), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  /* An older ack after the wrap does not move the high-water mark back. */
  assert_int_equal(cdht_fd_on_ack(&fd, UINT32_MAX), 0);
  assert_int_equal(fd.acked, 0);
}

static void test_fd_sequence_wrap_ack_before_wrap_does_not_cover_after(void **state) {
  (void)state;
  uint64_t now = 0;
  cdht_fd fd;
  cdht_fd_reset(&fd);
  fd.next_seq = UINT32_MAX;
  uint32_t last = cdht_fd_on_send(&fd, now, TIMEOUT); /* UINT32_MAX, deadline 500 */
  assert_int_equal(last, UINT32_MAX);
  assert_int_equal(cdht_fd_on_ack(&fd, last), 0);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
  assert_int_equal(cdht_fd_on_send(&fd, now, TIMEOUT), 0); /* deadline 1500 */
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 1);         /* 0 was not answered */
  assert_int_equal(cdht_fd_on_send(&fd, now, TIMEOUT), 1);
  assert_int_equal(cdht_fd_on_ack(&fd, 1), 0);
  assert_int_equal(fd.acked, 1);
  now += 1000;
  assert_int_equal(cdht_fd_on_timer(&fd, now), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fd_sequence_numbers_count_from_zero),
    cmocka_unit_test(test_fd_fresh_has_no_deadline_and_no_misses),
    cmocka_unit_test(test_fd_miss_counted_only_at_deadline),
    cmocka_unit_test(test_fd_unanswered_pings_count_consecutive_misses),
    cmocka_unit_test(test_fd_late_timer_judges_every_passed_deadline),
    cmocka_unit_test(test_fd_ack_resets_misses),
    cmocka_unit_test(test_fd_late_ack_after_deadline_still_resets),
    cmocka_unit_test(test_fd_late_ack_before_timer_is_no_miss),
    cmocka_unit_test(test_fd_ack_never_sent_is_stale),
    cmocka_unit_test(test_fd_duplicate_ack_accepted),
    cmocka_unit_test(test_fd_later_ack_covers_earlier_pings),
    cmocka_unit_test(test_fd_earlier_ack_does_not_cover_later_pings),
    cmocka_unit_test(test_fd_next_deadline_is_oldest_pending),
    cmocka_unit_test(test_fd_window_full_judges_oldest_early),
    cmocka_unit_test(test_fd_window_full_answered_oldest_is_no_miss),
    cmocka_unit_test(test_fd_reset_forgets_everything),
    cmocka_unit_test(test_fd_sequence_wraps_around),
    cmocka_unit_test(test_fd_sequence_wrap_ack_before_wrap_does_not_cover_after),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Routing, fingers and the successor list (src/core/route.c, fingers.c, succ.c), white box: a node
 * is made with a config and its tables are set directly, then the choices are read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>

#include "node_internal.h"

static cdht_peer R4(cdht_id id) { return cdht_peer_make(id, cdht_addr_v4(0x0a000000u | (uint32_t)(id & 0xffff), 4000)); }

/* A node |self| on a 2^bits ring, not classic, with a list of |r| and fingers |fingers|, whose
 * successors are |s1| and |s2|. */
static cdht_node *make(uint8_t bits, cdht_id self, cdht_id s1, cdht_id s2, uint8_t r, bool fingers) {
  cdht_config c;
  cdht_config_default(&c);
  c.classic = false;
  c.bits = bits;
  c.self = self;
  c.addr = R4(self).addr;
  c.succ[0] = R4(s1);
  c.succ[1] = R4(s2);
  c.successors = r;
  c.fingers = fingers;
  c.keys = CDHT_KEYS_BLAKE2B;
  cdht_node *n = NULL;
  assert_int_equal(cdht_node_new(&n, &c, NULL, 0), 0);
  return n;
}

static void drain(cdht_node *n) {
  cdht_output o;
  cdht_event ev;
  while (cdht_node_next_output(n, &o)) {}
  while (cdht_node_next_event(n, &ev)) {}
}

static void test_route_finger_points_at_every_width(void **state) {
  (void)state;
  cdht_node *n = make(1, 0, 1, 0, 2, true); /* a ring of two: 1, then us */
  assert_int_equal(n->fingers.count, 1);
  assert_int_equal(cdht_fingers_point(n, 0), 1);
  cdht_node_del(n);
  n = make(1, 1, 0, 1, 2, true);
  assert_int_equal(cdht_fingers_point(n, 0), 0); /* 1 + 1 wraps to 0 */
  cdht_node_del(n);
  n = make(8, 250, 251, 252, 2, true);
  assert_int_equal(n->fingers.count, 8);
  assert_int_equal(cdht_fingers_point(n, 0), 251);
  assert_int_equal(cdht_fingers_point(n, 3), 2);   /* 258 mod 256 */
  assert_int_equal(cdht_fingers_point(n, 7), 122); /* 378 mod 256 */
  cdht_node_del(n);
  n = make(64, UINT64_MAX - 1, UINT64_MAX, 5, 2, true);
  assert_int_equal(n->fingers.count, 64);
  assert_true(cdht_fingers_point(n, 0) == UINT64_MAX);
  assert_true(cdht_fingers_point(n, 1) == 0);
  assert_true(cdht_fingers_point(n, 63) == (UINT64_C(1) << 63) - 2);
  cdht_node_del(n);
  n = make(8, 250, 251, 252, 2, false); /* fingers off: no table at all */
  assert_int_equal(n->fingers.count, 0);
  assert_null(n->fingers.f);
  assert_false(cdht_peer_known((cdht_peer[]){ cdht_node_finger(n, 0) }));
  cdht_node_del(n);
}

/* Peer 10 of an 8-bit ring: list 20 30 40, fingers 20 (points 11..18), 30 (26), 50 (42), 80 (74), 140 (138). */
static cdht_node *routed(bool fingers) {
  cdht_node *n = make(8, 10, 20, 30, 4, fingers);
  const cdht_peer more[] = { R4(40) };
  memcpy(n->succ.more, more, sizeof more);
  n->succ.nmore = 1;
  const cdht_id f[8] = { 20, 20, 20, 20, 30, 50, 80, 140 };
  for (unsigned i = 0; i < n->fingers.count; i++) n->fingers.f[i] = R4(f[i]);
  return n;
}

static void test_route_closest_preceding_finger(void **state) {
  (void)state;
  cdht_node *n = routed(true);
  cdht_hop h = cdht_route_next(n, 15); /* (10, 20]: the first successor, responsible */
  assert_true(h.to.id == 20 && h.final && !h.finger);
  /* A key of a later list entry goes to the entry before it, not final: only that one pings the
   * responsible peer, and knows of a peer that joined just before it (§11). */
  h = cdht_route_next(n, 25); /* (20, 30]: to 20, which decides */
  assert_true(h.to.id == 20 && !h.final && !h.finger);
  h = cdht_route_next(n, 40); /* (30, 40]: to 30 */
  assert_true(h.to.id == 30 && !h.final && h.finger);
  assert_int_equal(cdht_route_list_owner(n, 40).id, 40); /* what the list says, for fingers */
  assert_int_equal(cdht_route_list_owner(n, 25).id, 30);
  assert_false(cdht_peer_known((cdht_peer[]){ cdht_route_list_owner(n, 45) }));
  h = cdht_route_next(n, 45); /* past the list: 40 is the closest before it (the finger 50 is past) */
  assert_true(h.to.id == 40 && !h.final);
  h = cdht_route_next(n, 100); /* 80 precedes 100; 140 does not */
  assert_true(h.to.id == 80 && !h.final && h.finger);
  h = cdht_route_next(n, 5); /* wraps: the farthest one before 5 is 140 */
  assert_true(h.to.id == 140 && !h.final);
  h = cdht_route_next(n, 80); /* a key that is a finger's id: the one before it, never the finger itself */
  assert_true(h.to.id == 50 && !h.final);
  /* A finger forgotten: the next best route. */
  cdht_fingers_forget(n, R4(80));
  h = cdht_route_next(n, 100);
  assert_true(h.to.id == 50 && !h.final);
  /* Joins go to the peer that precedes the id. */
  assert_int_equal(cdht_route_preceding(n, 35).id, 30);
  assert_int_equal(cdht_route_preceding(n, 15).id, 20); /* none before it: the first successor */
  cdht_node_del(n);
  /* Without fingers every key goes to the first successor, final only for its own keys. */
  n = routed(false);
  h = cdht_route_next(n, 100);
  assert_true(h.to.id == 20 && !h.final && !h.finger);
  h = cdht_route_next(n, 25);
  assert_true(h.to.id == 20 && !h.final);
  h = cdht_route_next(n, 20);
  assert_true(h.to.id == 20 && h.final);
  cdht_node_del(n);
}

static void test_route_64_bit_wrap(void **state) {
  (void)state;
  cdht_node *n = make(64, UINT64_MAX - 10, UINT64_MAX, 7, 2, true);
  for (unsigned i = 0; i < 64; i++) n->fingers.f[i] = R4(i < 4 ? UINT64_MAX : i < 60 ? 7 : UINT64_C(1) << 62);
  cdht_hop h = cdht_route_next(n, 3); /* (max, 7]: the second successor's, past the wrap: to the first */
  assert_true(h.to.id == UINT64_MAX && !h.final);
  assert_true(cdht_route_list_owner(n, 3).id == 7);
  h = cdht_route_next(n, UINT64_MAX); /* the first successor's own id: final */
  assert_true(h.to.id == UINT64_MAX && h.final);
  h = cdht_route_next(n, UINT64_C(1) << 63); /* 2^62 precedes it */
  assert_true(h.to.id == (UINT64_C(1) << 62) && !h.final);
  cdht_node_del(n);
}

static cdht_id ids_of(const cdht_node *n, cdht_id *out) {
  cdht_peer list[CDHT_SUCC_MAX];
  size_t k = cdht_succ_list(n, list);
  for (size_t i = 0; i < k; i++) out[i] = list[i].id;
  return k;
}

static void test_route_list_merging(void **state) {
  (void)state;
  cdht_node *n = make(8, 10, 20, 30, 5, false);
  cdht_id got[CDHT_SUCC_MAX];
  /* Our first successor 20 says: 30 40 50 60 70.  We keep 40 50 60 past 30 (five in all). */
  cdht_peer theirs[] = { R4(30), R4(40), R4(50), R4(60), R4(70) };
  cdht_succ_learn(n, 1000, theirs + 1, 4);
  assert_int_equal(ids_of(n, got), 5);
  assert_true(got[0] == 20 && got[1] == 30 && got[2] == 40 && got[3] == 50 && got[4] == 60);
  drain(n);
  /* A list that comes round to us ends there; one out of ring order is cut where it turns. */
  cdht_peer small[] = { R4(40), R4(10), R4(50) };
  cdht_succ_learn(n, 2000, small, 3);
  assert_int_equal(ids_of(n, got), 3);
  assert_true(got[2] == 40);
  cdht_peer twisted[] = { R4(40), R4(35), R4(50) };
  cdht_succ_learn(n, 2000, twisted, 3);
  assert_int_equal(ids_of(n, got), 3);
  /* A joiner between us and our first successor pushes the last entry out. */
  cdht_succ_learn(n, 2000, theirs + 1, 4);
  assert_int_equal(ids_of(n, got), 5);
  cdht_succ_set(n, 2000, R4(15), R4(20));
  assert_int_equal(ids_of(n, got), 5);
  assert_true(got[0] == 15 && got[1] == 20 && got[2] == 30 && got[3] == 40 && got[4] == 50);
  cdht_node_del(n);
}

static void test_route_list_never_adopts_the_dead(void **state) {
  (void)state;
  cdht_node *n = make(8, 10, 20, 30, 5, false);
  cdht_id got[CDHT_SUCC_MAX];
  cdht_succ_log_gone(n, 50, 1000); /* we declared 50 dead */
  cdht_peer theirs[] = { R4(40), R4(50), R4(60) };
  cdht_succ_learn(n, 2000, theirs, 3); /* its successor has not heard yet */
  assert_int_equal(ids_of(n, got), 4);
  assert_true(got[2] == 40 && got[3] == 60);
  /* And the next live entry taken up at a death skips one declared since it was learned. */
  cdht_succ_log_gone(n, 40, 2500);
  assert_int_equal(cdht_succ_next_live(n, 3000).id, 60);
  cdht_repair_successor_dead(n, 3000, 0); /* 20 dies: 30 moves up, 60 follows it (40 is gone) */
  assert_true(cdht_node_successor(n, 0).id == 30 && cdht_node_successor(n, 1).id == 60);
  assert_false(n->repair.active); /* no question asked */
  cdht_node_del(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_route_finger_points_at_every_width),
    cmocka_unit_test(test_route_closest_preceding_finger),
    cmocka_unit_test(test_route_64_bit_wrap),
    cmocka_unit_test(test_route_list_merging),
    cmocka_unit_test(test_route_list_never_adopts_the_dead),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/core/peer.h (addresses and peer records) and the ring's bit widths and
 * name keys (src/core/ring.h, docs/protocol.md §1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cdht/err.h"
#include "core/peer.h"
#include "core/ring.h"

static void assert_round_trip(const char *text) {
  cdht_addr a;
  char out[CDHT_ADDR_STRLEN];
  assert_int_equal(cdht_addr_parse(&a, text), 0);
  assert_string_equal(cdht_addr_format(out, sizeof out, &a), text);
}

static void test_addr_parse_and_format(void **state) {
  (void)state;
  assert_round_trip("127.0.0.1:50001");
  assert_round_trip("198.18.0.7:4000");
  assert_round_trip("[fd00:cd47::3]:4000");
  assert_round_trip("[::1]:1");
  assert_round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  cdht_addr a;
  assert_int_equal(cdht_addr_parse(&a, "10.1.2.3:65535"), 0);
  assert_int_equal(a.family, CDHT_AF_INET);
  assert_int_equal(a.port, 65535);
  assert_int_equal(cdht_addr_ipv4(&a), 0x0a010203);
  assert_int_equal(cdht_addr_parse(&a, "[fd00:cd47::1]:7"), 0);
  assert_int_equal(a.family, CDHT_AF_INET6);
  assert_int_equal(a.ip[0], 0xfd);
  assert_int_equal(a.ip[15], 1);
  assert_int_equal(cdht_addr_ipv4(&a), 0);
}

static void test_addr_parse_refuses_bad_forms(void **state) {
  (void)state;
  static const char *bad[] = {
    "", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:99999999999", "1.2.3.4:-1",
    "1.2.3.4:+5", "1.2.3.4: 5", "1.2.3.4:5 ", "1.2.3.4:5x", "1.2.3:5", "127.1:5", "256.0.0.1:5",
    "fd00::1:5", "[fd00::1]", "[fd00::1]5", "[fd00::1]:", "[fd00::1:5", "[]:5", "[1.2.3.4]:5",
    "[fe80::1%eth0]:5", "localhost:5", "[fd00::1]:0", " 1.2.3.4:5",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cdht_addr a = cdht_addr_v4(0x01020304, 9);
    assert_int_equal(cdht_addr_parse(&a, bad[i]), CDHT_ERR_INVAL);
    assert_int_equal(a.port, 9); /* untouched on refusal */
  }
}

static void test_addr_equality(void **state) {
  (void)state;
  cdht_addr a = cdht_addr_v4(0x7f000001, 50001), b = cdht_addr_v4(0x7f000001, 50002);
  assert_false(cdht_addr_eq(&a, &b));
  assert_true(cdht_addr_same_host(&a, &b));
  b.port = 50001;
  assert_true(cdht_addr_eq(&a, &b));
  uint8_t v6[16] = { 0 };
  v6[12] = 0x7f, v6[15] = 1; /* the same bytes in an IPv6 address are another host */
  cdht_addr c = cdht_addr_v6(v6, 50001);
  assert_false(cdht_addr_same_host(&a, &c));
  char out[CDHT_ADDR_STRLEN];
  cdht_addr none = { 0 };
  assert_string_equal(cdht_addr_format(out, sizeof out, &none), "-");
  assert_int_equal(cdht_addr_parse(&c, "[fd00:cd47::1]:4000"), 0);
  assert_string_equal(cdht_addr_format(out, 5, &c), "[fd0"); /* cut, still terminated */
}

static void test_peer_none_takes_no_id(void **state) {
  (void)state;
  cdht_peer none = cdht_peer_none();
  assert_false(cdht_peer_known(&none));
  /* every id, the largest of a 64-bit ring included, names a real peer */
  cdht_peer top = cdht_peer_make(UINT64_MAX, cdht_addr_v4(0xc6120001, 4000));
  cdht_peer zero = cdht_peer_make(0, cdht_addr_v4(0xc6120001, 4000));
  assert_true(cdht_peer_known(&top));
  assert_true(cdht_peer_known(&zero));
  assert_false(cdht_peer_eq(&top, &none));
  assert_false(cdht_peer_eq(&zero, &none));
  assert_false(cdht_peer_eq(&top, &zero));
  cdht_peer none2 = cdht_peer_none();
  assert_true(cdht_peer_eq(&none, &none2));
  cdht_peer moved = cdht_peer_make(UINT64_MAX, cdht_addr_v4(0xc6120002, 4000));
  assert_false(cdht_peer_eq(&top, &moved)); /* same id, another address: not the same peer */
}

static void test_ring_masks_every_width(void **state) {
  (void)state;
  assert_true(cdht_ring_mask(1) == 1);
  assert_true(cdht_ring_mask(8) == 255);
  assert_true(cdht_ring_mask(32) == UINT32_MAX);
  assert_true(cdht_ring_mask(63) == INT64_MAX);
  assert_true(cdht_ring_mask(64) == UINT64_MAX);
}

/* Known answers from Python: int.from_bytes(hashlib.blake2b(name, digest_size=32).digest()[:8], "big") */
static void test_ring_name_key_known_answers(void **state) {
  (void)state;
  assert_true(cdht_ring_name_key("report-2026.pdf", 15, cdht_ring_mask(64)) == UINT64_C(2925254032126234745));
  assert_true(cdht_ring_name_key("a", 1, cdht_ring_mask(64)) == UINT64_C(9883337288099092606));
  assert_true(cdht_ring_name_key("0003", 4, cdht_ring_mask(64)) == UINT64_C(2269050223122645007));
  assert_true(cdht_ring_name_key("0003", 4, cdht_ring_mask(8)) == (UINT64_C(2269050223122645007) & 255));
  assert_true(cdht_ring_name_key("a", 1, cdht_ring_mask(1)) == (UINT64_C(9883337288099092606) & 1));
  assert_true(cdht_ring_name_key("a", 1, cdht_ring_mask(32)) == (UINT64_C(9883337288099092606) & UINT32_MAX));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_addr_parse_and_format),
    cmocka_unit_test(test_addr_parse_refuses_bad_forms),
    cmocka_unit_test(test_addr_equality),
    cmocka_unit_test(test_peer_none_takes_no_id),
    cmocka_unit_test(test_ring_masks_every_width),
    cmocka_unit_test(test_ring_name_key_known_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/cli/args.h: `cdht [OPTIONS] ID S1 S2`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/args.h"

#define ERR_CAP 256

/* Parses a NULL-terminated argv (the parser only reads it); err is cleared first. */
static int parse_argv(cdht_args *a, char *err, const char **argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  memset(err, 0, ERR_CAP);
  return cdht_args_parse(a, argc, (char *const *)argv, err, ERR_CAP);
}
#define PARSE(a, err, ...) parse_argv((a), (err), (const char *[]){ "cdht", __VA_ARGS__, NULL })

/* A usage error: -1, a non-empty one-line message of printable ASCII (no raw control bytes). */
static void assert_usage_error(int rc, const char *err) {
  assert_int_equal(rc, -1);
  assert_true(strlen(err) > 0);
  for (const char *p = err; *p; p++)
    if (!(*p >= 32 && *p < 127)) fail_msg("byte 0x%02x in error message '%s'", (unsigned char)*p, err);
}

#define ASSERT_REFUSED(contains, ...)                                 \
  do {                                                                \
    cdht_args a_;                                                     \
    char e_[ERR_CAP];                                                 \
    int rc_ = PARSE(&a_, e_, __VA_ARGS__);                            \
    assert_usage_error(rc_, e_);                                      \
    if (!strstr(e_, (contains)))                                      \
      fail_msg("error '%s' should mention '%s'", e_, (contains));     \
  } while (0)

/* ---- the normal form ---- */

static void test_args_defaults(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "1", "3", "4"), 0);
  assert_int_equal(a.action, CDHT_RUN);
  assert_int_equal(a.cfg.self, 1);
  assert_int_equal(a.cfg.succ[0].id, 3);
  assert_int_equal(a.cfg.succ[1].id, 4);
  assert_int_equal(a.cfg.ping_interval_ms, 1000);
  assert_int_equal(a.cfg.ping_timeout_ms, 500);
  assert_int_equal(a.cfg.misses, 4);
  assert_int_equal(a.cfg.bits, 8);
  assert_true(a.cfg.classic);
  assert_int_equal(a.cfg.keys, CDHT_KEYS_NUMBERS);
  assert_int_equal(a.cfg.addr.port, 50001); /* the classic rule: peer i at 127.0.0.1:50000+i */
  assert_int_equal(cdht_addr_ipv4(&a.cfg.addr), 0x7f000001u);
  assert_int_equal(a.cfg.succ[1].addr.port, 50004);
  assert_int_equal(a.cfg.alt.family, CDHT_AF_NONE);
  assert_int_equal(a.cfg.base_port, 50000);
  assert_int_equal(a.cfg.host, 0x7f000001u);
  assert_int_equal(a.cfg.request_timeout_ms, 10000);
  assert_int_equal(a.cfg.leave_timeout_ms, 3000);
  assert_int_equal(a.cfg.requery_ms, 250);
  assert_int_equal(cdht_config_check(&a.cfg), 0);
}

static void test_args_id_range_edges(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "0", "255", "254"), 0);
  assert_int_equal(a.cfg.self, 0);
  assert_int_equal(a.cfg.succ[0].id, 255);
  assert_int_equal(a.cfg.succ[1].id, 254);
  assert_int_equal(PARSE(&a, err, "255", "0", "1"), 0);
  assert_int_equal(a.cfg.self, 255);
}

static void test_args_options_with_space(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--ping-interval", "2", "--ping-timeout", "0.25", "--misses", "7",
                         "--request-timeout", "30", "--leave-timeout", "1.5", "1", "3", "4"),
                   0);
  assert_int_equal(a.action, CDHT_RUN);
  assert_int_equal(a.cfg.ping_interval_ms, 2000);
  assert_int_equal(a.cfg.ping_timeout_ms, 250);
  assert_int_equal(a.cfg.misses, 7);
  assert_int_equal(a.cfg.request_timeout_ms, 30000);
  assert_int_equal(a.cfg.leave_timeout_ms, 1500);
  assert_int_equal(a.cfg.self, 1);
  assert_int_equal(a.cfg.succ[0].id, 3);
  assert_int_equal(a.cfg.succ[1].id, 4);
}

static void test_args_options_with_equals(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--ping-interval=2", "--ping-timeout=0.25", "--misses=7",
                         "--request-timeout=30", "--leave-timeout=1.5", "1", "3", "4"),
                   0);
  assert_int_equal(a.cfg.ping_interval_ms, 2000);
  assert_int_equal(a.cfg.ping_timeout_ms, 250);
  assert_int_equal(a.cfg.misses, 7);
  assert_int_equal(a.cfg.request_timeout_ms, 30000);
  assert_int_equal(a.cfg.leave_timeout_ms, 1500);
}

static void test_args_options_anywhere_last_wins(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "1", "--misses", "3", "3", "--misses=5", "4", "--ping-timeout", "0.2"), 0);
  assert_int_equal(a.cfg.self, 1);
  assert_int_equal(a.cfg.succ[0].id, 3);
  assert_int_equal(a.cfg.succ[1].id, 4);
  assert_int_equal(a.cfg.misses, 5);
  assert_int_equal(a.cfg.ping_timeout_ms, 200);
}

static void test_args_double_dash_ends_options(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.self, 1);
  /* After "--" an option-looking word is an argument, and so not an id. */
  ASSERT_REFUSED("second successor", "1", "3", "--", "--misses");
}

static void test_args_ping_interval_tenth_of_a_second(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--ping-interval", "0.1", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.ping_interval_ms, 100);
  assert_int_equal(a.cfg.requery_ms, 25); /* a quarter interval */
}

static void test_args_requery_is_clamped(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--ping-interval", "0.02", "--ping-timeout", "0.1", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.requery_ms, 10);
  assert_int_equal(PARSE(&a, err, "--ping-interval", "10", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.requery_ms, 250);
}

static void test_args_seconds_accepts_decimals(void **state) {
  (void)state;
  const struct { const char *s; uint32_t ms; } ok[] = {
    { "1", 1000 },      { "2", 2000 },     { "0.5", 500 },     { "0.25", 250 },
    { "0.125", 125 },   { "1.5", 1500 },   { "1.05", 1050 },   { "0.001", 1 },
    { "1.0000", 1000 }, { "0.0010", 1 },   { "007", 7000 },    { ".5", 500 },
    { "3600", 3600000 }, { "3599.999", 3599999 }, { "3600.000", 3600000 },
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    uint32_t ms = 0;
    if (cdht_args_seconds(ok[i].s, 3600, &ms) != 0) fail_msg("'%s' refused", ok[i].s);
    if (ms != ok[i].ms) fail_msg("'%s' gave %u ms, want %u", ok[i].s, ms, ok[i].ms);
  }
}

static void test_args_seconds_refuses_bad_values(void **state) {
  (void)state;
  const char *bad[] = { "",     "abc",  "-1",   "0",     "0.0",   "0.000", "1.",    ".",
                        "0.0001", "1.0005", "1e3", " 1",  "1 ",    "+1",    "1,5",   "0x10",
                        "3600.001", "3601", "99999999999999999999999999", "1..5", "1.5.", "\x01" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t ms = 12345;
    if (cdht_args_seconds(bad[i], 3600, &ms) != -1) fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(ms, 12345); /* untouched */
  }
  uint32_t ms;
  assert_int_equal(cdht_args_seconds("86400", 86400, &ms), 0);
  assert_int_equal(ms, 86400000);
  assert_int_equal(cdht_args_seconds("86401", 86400, &ms), -1);
}

static void test_args_bad_seconds_refused(void **state) {
  (void)state;
  const char *bad[] = { "", "abc", "-1", "0", "1.", "0.0001", "3601" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_REFUSED("--ping-interval", "--ping-interval", bad[i], "1", "3", "4");
    ASSERT_REFUSED("--ping-timeout", "--ping-timeout", bad[i], "1", "3", "4");
    ASSERT_REFUSED("--leave-timeout", "--leave-timeout", bad[i], "1", "3", "4");
  }
  ASSERT_REFUSED("--request-timeout", "--request-timeout", "86401", "1", "3", "4");
  ASSERT_REFUSED("--request-timeout", "--request-timeout=0", "1", "3", "4");
  ASSERT_REFUSED("--ping-interval", "--ping-interval=", "1", "3", "4");
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--request-timeout", "86400", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.request_timeout_ms, 86400000u);
  assert_int_equal(PARSE(&a, err, "--ping-interval", ".5", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.ping_interval_ms, 500);
}

static void test_args_ping_timeout_at_most_15_intervals(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--ping-interval", "0.1", "--ping-timeout", "1.5", "1", "3", "4"), 0);
  ASSERT_REFUSED("15", "--ping-interval", "0.1", "--ping-timeout", "1.501", "1", "3", "4");
  /* The default timeout (0.5 s) is too long for an interval under 1/30 s. */
  ASSERT_REFUSED("--ping-timeout", "--ping-interval", "0.02", "1", "3", "4");
}

static void test_args_misses_range(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--misses", "1", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.misses, 1);
  assert_int_equal(PARSE(&a, err, "--misses", "100", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.misses, 100);
  ASSERT_REFUSED("--misses", "--misses", "0", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses", "101", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses", "-1", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses", "abc", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses", "2.5", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses=", "1", "3", "4");
  ASSERT_REFUSED("--misses", "--misses", "99999999999999999999999", "1", "3", "4");
}

/* ---- actions ---- */

static void test_args_help_and_version_actions(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--help"), 0);
  assert_int_equal(a.action, CDHT_HELP);
  assert_int_equal(PARSE(&a, err, "-h"), 0);
  assert_int_equal(a.action, CDHT_HELP);
  assert_int_equal(PARSE(&a, err, "--version"), 0);
  assert_int_equal(a.action, CDHT_VERSION);
  /* They win over arguments that would not parse. */
  assert_int_equal(PARSE(&a, err, "999", "--help"), 0);
  assert_int_equal(a.action, CDHT_HELP);
  assert_int_equal(PARSE(&a, err, "1", "3", "4", "--version"), 0);
  assert_int_equal(a.action, CDHT_VERSION);
  ASSERT_REFUSED("takes no value", "--help=yes");
  ASSERT_REFUSED("takes no value", "--version=1");
  assert_non_null(strstr(cdht_usage, "usage: cdht"));
}

static void test_args_unknown_option(void **state) {
  (void)state;
  ASSERT_REFUSED("unknown option '--bogus'", "--bogus", "1", "3", "4");
  ASSERT_REFUSED("unknown option '-x'", "-x", "1", "3", "4");
  ASSERT_REFUSED("unknown option", "--ping", "1", "1", "3", "4");          /* no prefixes */
  ASSERT_REFUSED("unknown option", "--ping-intervals=1", "1", "3", "4");
  ASSERT_REFUSED("unknown option", "--PING-INTERVAL", "1", "1", "3", "4"); /* case matters */
  ASSERT_REFUSED("unknown option", "---", "1", "3", "4");
  ASSERT_REFUSED("unknown option", "--=1", "1", "3", "4");
}

static void test_args_missing_option_value(void **state) {
  (void)state;
  ASSERT_REFUSED("--misses needs a value", "1", "3", "4", "--misses");
  ASSERT_REFUSED("--ping-interval needs a value", "1", "3", "4", "--ping-interval");
  ASSERT_REFUSED("--leave-timeout needs a value", "1", "3", "4", "--leave-timeout");
}

/* ---- ids and their number ---- */

static void test_args_bad_ids(void **state) {
  (void)state;
  const char *bad[] = { "256", "-1", "a", "", "1a", " 1", "1.0", "+1", "0x1", "99999999999999999999999" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_REFUSED("peer id", bad[i], "3", "4");
    ASSERT_REFUSED("first successor", "1", bad[i], "4");
    ASSERT_REFUSED("second successor", "1", "3", bad[i]);
  }
  ASSERT_REFUSED("0..255", "256", "3", "4");
}

static void test_args_wrong_argument_count(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_usage_error(parse_argv(&a, err, (const char *[]){ "cdht", NULL }), err);
  assert_non_null(strstr(err, "got 0"));
  ASSERT_REFUSED("got 1", "1");
  ASSERT_REFUSED("got 2", "1", "3");
  ASSERT_REFUSED("got 4", "1", "3", "4", "5");
  ASSERT_REFUSED("got 6", "1", "3", "4", "5", "6", "7");
  ASSERT_REFUSED("too many arguments", "1", "2", "3", "4", "5", "6", "7", "8", "9");
}

/* The 2019 form: ID S1 S2 MSS DROP, classic ports and lines, the 1 s retransmission timeout. */
static void test_args_2019_form(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "1", "3", "4", "400", "0.1"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_2019);
  assert_int_equal(a.cfg.self, 1);
  assert_int_equal(a.cfg.succ[0].id, 3);
  assert_int_equal(a.cfg.succ[1].id, 4);
  assert_int_equal(a.mss, 400);
  assert_true(a.saw_drop > 0.0999 && a.saw_drop < 0.1001);
  assert_int_equal(a.rto_ms, 1000);
  assert_int_equal(a.cfg.base_port, 50000);
  assert_false(a.cfg.round_events);
  assert_int_equal(PARSE(&a, err, "--misses", "3", "1", "3", "4", "300", "0.3"), 0);
  assert_int_equal(a.cfg.misses, 3);
  assert_int_equal(a.mss, 300);
  /* The edges: MSS 1 and the largest, DROP 0 and 1 in every spelling. */
  static const char *const drops[] = { "0", "1", "0.0", "1.0", "1.000000000", ".5", "0.123456789" };
  for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++)
    assert_int_equal(PARSE(&a, err, "1", "3", "4", "1", drops[i]), 0);
  assert_true(a.saw_drop > 0.1234567 && a.saw_drop < 0.1234568);
  assert_int_equal(PARSE(&a, err, "1", "3", "4", "65479", "1"), 0);
  assert_int_equal(a.mss, 65479);
  assert_true(a.saw_drop == 1.0);
  /* The hidden test option shortens the timeout, only in this form. */
  assert_int_equal(PARSE(&a, err, "--rtx-timeout", "0.05", "1", "3", "4", "300", "0.9"), 0);
  assert_int_equal(a.rto_ms, 50);
  /* The classic forms stay what they were. */
  assert_int_equal(PARSE(&a, err, "1", "3", "4"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_CLASSIC);
}

static void test_args_2019_bad_mss_and_drop(void **state) {
  (void)state;
  static const char *const bad_mss[] = { "0", "-1", "65480", "1.5", "abc", "", "99999999999999999999999" };
  for (size_t i = 0; i < sizeof bad_mss / sizeof bad_mss[0]; i++)
    ASSERT_REFUSED("MSS", "1", "3", "4", bad_mss[i], "0.1");
  ASSERT_REFUSED("integer 1..65479", "1", "3", "4", "0", "0.1");
  static const char *const bad_drop[] = { "1.1", "2", "-0.1", "0.1.2", "nan", "inf", "1e-1", ".", "0.", "",
                                          "0.1234567891", "+0.5", "0x1", "0,5" };
  for (size_t i = 0; i < sizeof bad_drop / sizeof bad_drop[0]; i++)
    ASSERT_REFUSED("probability between 0 and 1", "1", "3", "4", "300", bad_drop[i]);
  ASSERT_REFUSED("peer id", "x", "3", "4", "300", "0.1");
  ASSERT_REFUSED("must differ", "1", "3", "3", "300", "0.1");
  ASSERT_REFUSED("--rtx-timeout", "--rtx-timeout", "0", "1", "3", "4", "300", "0.1");
  ASSERT_REFUSED("only to the 2019 form", "--rtx-timeout", "0.5", "1", "3", "4");
  ASSERT_REFUSED("only to the 2019 form", "--rtx-timeout", "0.5", "init", "1", "3", "4", "30");
}

/* The 2020 forms: their ports, the round lines, the interval required. */
static void test_args_2020_forms(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "init", "2", "4", "5", "30"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_2020);
  assert_int_equal(a.cfg.self, 2);
  assert_int_equal(a.cfg.succ[0].id, 4);
  assert_int_equal(a.cfg.succ[1].id, 5);
  assert_int_equal(a.cfg.ping_interval_ms, 30000);
  assert_int_equal(a.cfg.base_port, 12000);
  assert_true(a.cfg.round_events);
  assert_int_equal(a.cfg.join_via.family, CDHT_AF_NONE);
  assert_int_equal(a.cfg.addr.port, 12002); /* the 2020 ports */
  assert_int_equal(a.cfg.succ[0].addr.port, 12004);
  assert_int_equal(PARSE(&a, err, "--ping-timeout", "0.2", "join", "15", "4", "0.2"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_2020);
  assert_int_equal(a.cfg.self, 15);
  assert_int_equal(a.cfg.join_via.port, 12004);
  assert_int_equal(a.cfg.succ[0].id, 15);
  assert_int_equal(a.cfg.ping_interval_ms, 200);
  assert_int_equal(a.cfg.ping_timeout_ms, 200);
  assert_int_equal(a.cfg.base_port, 12000);
  ASSERT_REFUSED("expected 'init ID S1 S2 PING_INTERVAL', got 3", "init", "2", "4", "5");
  ASSERT_REFUSED("expected 'init ID S1 S2 PING_INTERVAL', got 5", "init", "2", "4", "5", "30", "1");
  ASSERT_REFUSED("expected 'join ID KNOWN PING_INTERVAL', got 2", "join", "15", "4");
  ASSERT_REFUSED("expected 'join ID KNOWN PING_INTERVAL'", "join", "15", "4", "5", "30");
  ASSERT_REFUSED("PING_INTERVAL", "init", "2", "4", "5", "0");
  ASSERT_REFUSED("PING_INTERVAL", "join", "15", "4", "x");
  ASSERT_REFUSED("a peer cannot join through itself", "join", "4", "4", "30");
  ASSERT_REFUSED("--join does not go with the 2020 forms", "--join", "3", "init", "2", "4", "5", "30");
  ASSERT_REFUSED("first successor", "init", "2", "x", "5", "30");
  ASSERT_REFUSED("ring of one", "init", "2", "2", "5", "30");
  /* `cdht ID --join KNOWN` is still the classic form. */
  assert_int_equal(PARSE(&a, err, "6", "--join", "1"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_CLASSIC);
  assert_int_equal(a.cfg.base_port, 50000);
  assert_false(a.cfg.round_events);
}

static void test_args_successor_rules(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  /* S1 = S2 != ID */
  ASSERT_REFUSED("must differ", "1", "3", "3");
  /* S1 = ID != S2 */
  ASSERT_REFUSED("ring of one", "1", "1", "3");
  /* S1 = ID = S2: a ring of one. */
  assert_int_equal(PARSE(&a, err, "1", "1", "1"), 0);
  assert_int_equal(a.cfg.self, 1);
  assert_int_equal(a.cfg.succ[0].id, 1);
  assert_int_equal(a.cfg.succ[1].id, 1);
  /* S2 = ID != S1: a two-peer ring. */
  assert_int_equal(PARSE(&a, err, "1", "2", "1"), 0);
  assert_int_equal(a.cfg.succ[0].id, 2);
  assert_int_equal(a.cfg.succ[1].id, 1);
  /* Successors need not be larger than ID (wrap-around). */
  assert_int_equal(PARSE(&a, err, "15", "1", "3"), 0);
}

/* ---- error messages ---- */

static void test_args_error_messages_have_no_control_bytes(void **state) {
  (void)state;
  const char *nasty[] = { "\x1b[31mred", "a\nb", "a\rb", "\t", "\x7f", "\xff\xfe", "\x01", "caf\xc3\xa9" };
  for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++) {
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", nasty[i]);
    ASSERT_REFUSED("unknown option", opt, "1", "3", "4");
    ASSERT_REFUSED("peer id", nasty[i], "3", "4");
    ASSERT_REFUSED("--misses", "--misses", nasty[i], "1", "3", "4");
    ASSERT_REFUSED("--ping-interval", "--ping-interval", nasty[i], "1", "3", "4");
    snprintf(opt, sizeof opt, "--ping-timeout=%s", nasty[i]);
    ASSERT_REFUSED("--ping-timeout", opt, "1", "3", "4");
  }
}

static void test_args_error_message_long_value_is_cut(void **state) {
  (void)state;
  char *big = malloc(5001);
  assert_non_null(big);
  memset(big, '7', 5000);
  big[5000] = '\0';
  cdht_args a;
  char err[ERR_CAP];
  assert_usage_error(PARSE(&a, err, big, "3", "4"), err);
  assert_true(strlen(err) < 150);
  big[0] = '-';
  big[1] = '-';
  assert_usage_error(PARSE(&a, err, big, "1", "3", "4"), err);
  assert_true(strlen(err) < 150);
  free(big);
}

/* A short error buffer gets a cut, NUL-terminated message and nothing past its end. */
static void test_args_small_error_buffer(void **state) {
  (void)state;
  char *argv[] = { "cdht", "--bogus-option-with-a-long-name", "1", "3", "4", NULL };
  for (size_t cap = 1; cap < 24; cap++) {
    char *err = malloc(cap);
    assert_non_null(err);
    cdht_args a;
    assert_int_equal(cdht_args_parse(&a, 5, argv, err, cap), -1);
    assert_true(strlen(err) == cap - 1);
    free(err);
  }
}


/* ---- the --listen form (issue 10 §3) ---- */

static void test_args_listen_form(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  assert_int_equal(PARSE(&a, err, "--listen", "198.18.0.3:4000"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_LISTEN);
  assert_false(a.cfg.classic);
  assert_int_equal(a.cfg.bits, 64);
  assert_int_equal(a.cfg.keys, CDHT_KEYS_BLAKE2B);
  assert_int_equal(cdht_addr_ipv4(&a.cfg.addr), 0xc6120003u);
  assert_int_equal(a.cfg.addr.port, 4000);
  /* The id comes from the address: BLAKE2b-256("198.18.0.3:4000")[0..8), as Python computes it. */
  assert_true(a.cfg.self == cdht_ring_name_key("198.18.0.3:4000", 15, UINT64_MAX));
  assert_true(a.cfg.succ[0].id == a.cfg.self && a.cfg.succ[1].id == a.cfg.self); /* a ring of one */
  assert_int_equal(a.cfg.join_via.family, CDHT_AF_NONE);
  /* Two hosts, one port: two ids. */
  cdht_id other_host = cdht_ring_name_key("198.18.0.4:4000", 15, UINT64_MAX);
  assert_true(other_host != a.cfg.self);

  assert_int_equal(PARSE(&a, err, "--listen", "[fd00:cd47::3]:4000", "--listen", "198.18.0.3:4000", "--id",
                         "18446744073709551615", "--join", "[fd00:cd47::1]:4000"), 0);
  assert_int_equal(a.cfg.addr.family, CDHT_AF_INET6);
  assert_int_equal(a.cfg.alt.family, CDHT_AF_INET);
  assert_true(a.cfg.self == UINT64_MAX); /* every id of a 64-bit ring is a peer's */
  assert_int_equal(a.cfg.join_via.family, CDHT_AF_INET6);
  assert_int_equal(a.cfg.join_via.port, 4000);

  assert_int_equal(PARSE(&a, err, "--listen", "10.0.0.1:4000", "--bits", "16", "--id", "65535"), 0);
  assert_int_equal(a.cfg.bits, 16);
  assert_int_equal(a.cfg.self, 65535);
  /* A name resolved once, at start. */
  assert_int_equal(PARSE(&a, err, "--listen", "localhost:4000"), 0);
  assert_int_equal(a.cfg.addr.port, 4000);
  assert_true(a.cfg.addr.family == CDHT_AF_INET || a.cfg.addr.family == CDHT_AF_INET6);
}

static void test_args_listen_errors(void **state) {
  (void)state;
  ASSERT_REFUSED("--listen '198.18.0.3': expected HOST:PORT", "--listen", "198.18.0.3");
  ASSERT_REFUSED("the port must be an integer 1..65535", "--listen", "no-such-host.invalid:0");
  ASSERT_REFUSED("the host name does not resolve", "--listen", "no-such-host.invalid:4000");
  ASSERT_REFUSED("--listen '[fd00::1]4000'", "--listen", "[fd00::1]4000");
  ASSERT_REFUSED("--bits: expected an integer 1..64, got '0'", "--listen", "10.0.0.1:4000", "--bits", "0");
  ASSERT_REFUSED("--bits: expected an integer 1..64, got '65'", "--listen", "10.0.0.1:4000", "--bits", "65");
  ASSERT_REFUSED("--id '256' is not an integer 0..255 (the ring has 8-bit ids)", "--listen", "10.0.0.1:4000",
                 "--bits", "8", "--id", "256");
  ASSERT_REFUSED("--id goes with --listen", "--id", "5", "1", "3", "4");
  ASSERT_REFUSED("--bits goes with --listen", "--bits", "16", "1", "3", "4");
  ASSERT_REFUSED("--listen takes no ID S1 S2", "--listen", "10.0.0.1:4000", "1", "3", "4");
  ASSERT_REFUSED("one IPv4 and one IPv6 address", "--listen", "10.0.0.1:4000", "--listen", "10.0.0.2:4000");
  ASSERT_REFUSED("both addresses on the same port", "--listen", "10.0.0.1:4000", "--listen", "[fd00::1]:4001");
  ASSERT_REFUSED("at most two addresses", "--listen", "10.0.0.1:4000", "--listen", "[fd00::1]:4000", "--listen",
                 "10.0.0.2:4000");
  ASSERT_REFUSED("is an IPv6 address, and this peer has no --listen address of that family", "--listen",
                 "10.0.0.1:4000", "--join", "[fd00::1]:4000");
  ASSERT_REFUSED("a peer cannot join through itself", "--listen", "10.0.0.1:4000", "--join", "10.0.0.1:4000");
  ASSERT_REFUSED("--join 'x': expected HOST:PORT", "--listen", "10.0.0.1:4000", "--join", "x");
  /* The listen address is the peer's record: every peer sends to it.  A wildcard (0.0.0.0 is
   * "this host" to whoever sends there), a multicast or broadcast address names nobody. */
  ASSERT_REFUSED("not a single host's address", "--listen", "0.0.0.0:4000");
  ASSERT_REFUSED("not a single host's address", "--listen", "[::]:4000");
  ASSERT_REFUSED("not a single host's address", "--listen", "224.0.0.1:4000");
  ASSERT_REFUSED("not a single host's address", "--listen", "[ff02::1]:4000");
  ASSERT_REFUSED("not a single host's address", "--listen", "255.255.255.255:4000");
  ASSERT_REFUSED("not a single host's address", "--listen", "10.0.0.1:4000", "--join", "0.0.0.0:4000");
}

/* ---- successor lists and fingers (issue 11) ---- */

static void test_args_routing_defaults_follow_the_form(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  /* The classic forms: the classic two successors, every request to the first successor. */
  assert_int_equal(PARSE(&a, err, "1", "3", "4"), 0);
  assert_int_equal(a.cfg.successors, 2);
  assert_false(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 0);
  assert_int_equal(PARSE(&a, err, "1", "--join", "3"), 0);
  assert_int_equal(a.cfg.successors, 2);
  assert_false(a.cfg.fingers);
  assert_int_equal(PARSE(&a, err, "1", "3", "4", "300", "0.3"), 0);
  assert_int_equal(a.cfg.successors, 2);
  assert_false(a.cfg.fingers);
  assert_int_equal(PARSE(&a, err, "init", "2", "4", "5", "30"), 0);
  assert_int_equal(a.cfg.successors, 2);
  assert_false(a.cfg.fingers);
  /* --listen: 8 successors, fingers refreshed once per stabilization round. */
  assert_int_equal(PARSE(&a, err, "--listen", "10.0.0.1:4000"), 0);
  assert_int_equal(a.cfg.successors, CDHT_LISTEN_SUCCESSORS);
  assert_int_equal(a.cfg.successors, 8);
  assert_true(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 3000);
  assert_int_equal(PARSE(&a, err, "--stabilize-interval", "0.5", "--listen", "10.0.0.1:4000"), 0);
  assert_int_equal(a.cfg.fix_fingers_ms, 500);
  /* Without stabilization, fingers are still refreshed, at its default pace. */
  assert_int_equal(PARSE(&a, err, "--stabilize-interval", "0", "--listen", "10.0.0.1:4000"), 0);
  assert_int_equal(a.cfg.fix_fingers_ms, CDHT_FIX_FINGERS_MS);
  assert_int_equal(a.cfg.fix_fingers_ms, 3000);
}

static void test_args_routing_options(void **state) {
  (void)state;
  cdht_args a;
  char err[ERR_CAP];
  /* The classic form keeps its lines and ports; only the list grows. */
  assert_int_equal(PARSE(&a, err, "1", "3", "4", "--successors", "4"), 0);
  assert_int_equal(a.variant, CDHT_VARIANT_CLASSIC);
  assert_int_equal(a.cfg.successors, 4);
  assert_false(a.cfg.fingers);
  assert_int_equal(a.cfg.addr.port, 50001);
  assert_int_equal(PARSE(&a, err, "--successors=2", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.successors, 2);
  assert_int_equal(PARSE(&a, err, "--successors", "32", "1", "3", "4"), 0);
  assert_int_equal(a.cfg.successors, 32);
  assert_int_equal(PARSE(&a, err, "--successors", "3", "init", "2", "4", "5", "30"), 0);
  assert_int_equal(a.cfg.successors, 3);
  assert_int_equal(PARSE(&a, err, "--successors", "16", "--listen", "10.0.0.1:4000"), 0);
  assert_int_equal(a.cfg.successors, 16);
  /* Fingers on a classic ring, with their own interval; the last of --fingers / --no-fingers wins. */
  assert_int_equal(PARSE(&a, err, "--fingers", "--fix-fingers-interval", "0.25", "1", "3", "4"), 0);
  assert_true(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 250);
  assert_int_equal(PARSE(&a, err, "--fingers", "1", "3", "4"), 0);
  assert_true(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 3000); /* the stabilization interval */
  assert_int_equal(PARSE(&a, err, "--fingers", "--no-fingers", "1", "3", "4"), 0);
  assert_false(a.cfg.fingers);
  assert_int_equal(PARSE(&a, err, "--no-fingers", "--listen", "10.0.0.1:4000"), 0);
  assert_false(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 0);
  assert_int_equal(PARSE(&a, err, "--no-fingers", "--fingers", "--listen", "10.0.0.1:4000",
                         "--fix-fingers-interval=2"), 0);
  assert_true(a.cfg.fingers);
  assert_int_equal(a.cfg.fix_fingers_ms, 2000);
  assert_int_equal(cdht_config_check(&a.cfg), 0);
}

static void test_args_routing_errors(void **state) {
  (void)state;
  const char *bad[] = { "0", "1", "33", "x", "", "-2", "4.0", "99999999999999999999999" };
  char want[128];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(want, sizeof want, "--successors: expected an integer 2..32, got '%s'", bad[i]);
    ASSERT_REFUSED(want, "--successors", bad[i], "1", "3", "4");
    ASSERT_REFUSED(want, "--listen", "10.0.0.1:4000", "--successors", bad[i]);
  }
  ASSERT_REFUSED("option --successors needs a value", "1", "3", "4", "--successors");
  const char *bad_s[] = { "0", "garbage", "", "-1", "1.", "0.0001", "3601" };
  for (size_t i = 0; i < sizeof bad_s / sizeof bad_s[0]; i++) {
    snprintf(want, sizeof want, "--fix-fingers-interval: expected seconds between 0.001 and 3600 (e.g. 0.5), got '%s'",
             bad_s[i]);
    ASSERT_REFUSED(want, "--listen", "10.0.0.1:4000", "--fix-fingers-interval", bad_s[i]);
  }
  ASSERT_REFUSED("--fix-fingers-interval applies only with fingers (on with --listen, or --fingers)",
                 "--fix-fingers-interval", "1", "1", "3", "4");
  ASSERT_REFUSED("--fix-fingers-interval applies only with fingers", "--listen", "10.0.0.1:4000", "--no-fingers",
                 "--fix-fingers-interval", "1");
  ASSERT_REFUSED("option --fingers takes no value", "--fingers=yes", "1", "3", "4");
  ASSERT_REFUSED("option --no-fingers takes no value", "--no-fingers=1", "1", "3", "4");
}

/* Every option is in --help. */
static void test_args_usage_names_the_routing_options(void **state) {
  (void)state;
  assert_non_null(strstr(cdht_usage, "  --successors R "));
  assert_non_null(strstr(cdht_usage, "  --fingers, --no-fingers "));
  assert_non_null(strstr(cdht_usage, "  --fix-fingers-interval SECONDS "));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_args_defaults),
    cmocka_unit_test(test_args_id_range_edges),
    cmocka_unit_test(test_args_options_with_space),
    cmocka_unit_test(test_args_options_with_equals),
    cmocka_unit_test(test_args_options_anywhere_last_wins),
    cmocka_unit_test(test_args_double_dash_ends_options),
    cmocka_unit_test(test_args_ping_interval_tenth_of_a_second),
    cmocka_unit_test(test_args_requery_is_clamped),
    cmocka_unit_test(test_args_seconds_accepts_decimals),
    cmocka_unit_test(test_args_seconds_refuses_bad_values),
    cmocka_unit_test(test_args_bad_seconds_refused),
    cmocka_unit_test(test_args_ping_timeout_at_most_15_intervals),
    cmocka_unit_test(test_args_misses_range),
    cmocka_unit_test(test_args_help_and_version_actions),
    cmocka_unit_test(test_args_unknown_option),
    cmocka_unit_test(test_args_missing_option_value),
    cmocka_unit_test(test_args_bad_ids),
    cmocka_unit_test(test_args_wrong_argument_count),
    cmocka_unit_test(test_args_2019_form),
    cmocka_unit_test(test_args_2019_bad_mss_and_drop),
    cmocka_unit_test(test_args_2020_forms),
    cmocka_unit_test(test_args_listen_form),
    cmocka_unit_test(test_args_listen_errors),
    cmocka_unit_test(test_args_successor_rules),
    cmocka_unit_test(test_args_error_messages_have_no_control_bytes),
    cmocka_unit_test(test_args_error_message_long_value_is_cut),
    cmocka_unit_test(test_args_small_error_buffer),
    cmocka_unit_test(test_args_routing_defaults_follow_the_form),
    cmocka_unit_test(test_args_routing_options),
    cmocka_unit_test(test_args_routing_errors),
    cmocka_unit_test(test_args_usage_names_the_routing_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/cli/commands.h: console lines.  Every line is handed over as an
 * exact-size heap copy without a terminating NUL, so AddressSanitizer catches over-reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/commands.h"

static bool as_listen; /* parse as with --listen (any name); the classic forms otherwise */

static int parse_bytes(cdht_line *out, const char *s, size_t len) {
  char *p = malloc(len ? len : 1);
  assert_non_null(p);
  if (len) memcpy(p, s, len);
  memset(out, 0x5a, sizeof *out); /* the parser must fill everything */
  int rc = cdht_line_parse(out, p, len, as_listen);
  free(p);
  return rc;
}

static int parse(cdht_line *out, const char *s) { return parse_bytes(out, s, strlen(s)); }

/* Runs before each test: the classic forms, unless the test says otherwise. */
static int classic(void **state) {
  (void)state;
  as_listen = false;
  return 0;
}

static void assert_error_line(const cdht_line *l, int rc) {
  assert_int_equal(rc, -1);
  assert_int_equal(l->kind, CDHT_LINE_ERROR);
  size_t n = strnlen(l->error, sizeof l->error);
  assert_true(n > 0);
  assert_true(n < sizeof l->error);
  for (size_t i = 0; i < n; i++)
    if (!(l->error[i] >= 32 && l->error[i] < 127))
      fail_msg("byte 0x%02x in error '%s'", (unsigned char)l->error[i], l->error);
}

#define ASSERT_KIND(line, want_kind)                        \
  do {                                                      \
    cdht_line l_;                                           \
    int rc_ = parse(&l_, (line));                           \
    if (rc_ != 0 || l_.kind != (want_kind))                 \
      fail_msg("'%s': kind %d rc %d", (line), l_.kind, rc_); \
  } while (0)

#define ASSERT_ERROR(line, contains)                                      \
  do {                                                                    \
    cdht_line l_;                                                         \
    int rc_ = parse(&l_, (line));                                         \
    assert_error_line(&l_, rc_);                                          \
    if (!strstr(l_.error, (contains)))                                    \
      fail_msg("'%s': error '%s' lacks '%s'", (line), l_.error, (contains)); \
  } while (0)

static void assert_request(const char *line, unsigned file) {
  cdht_line l;
  int rc = parse(&l, line);
  if (rc != 0 || l.kind != CDHT_LINE_REQUEST) fail_msg("'%s' is not a request", line);
  assert_int_equal(cdht_name_number(&l.name), file);
}

/* ---- request ---- */

static void test_commands_request_four_digits(void **state) {
  (void)state;
  assert_request("request 2012", 2012);
  assert_request("request 0010", 10);
  assert_request("request 0000", 0);
  assert_request("request 9999", 9999);
  assert_request("request 1000", 1000);
}

static void test_commands_request_bad_file_names(void **state) {
  (void)state;
  ASSERT_ERROR("request 12a", "four digits");
  ASSERT_ERROR("request 12345", "four digits");
  ASSERT_ERROR("request 201", "four digits");
  ASSERT_ERROR("request 10", "four digits");
  ASSERT_ERROR("request -123", "four digits");
  ASSERT_ERROR("request +123", "four digits");
  ASSERT_ERROR("request 12.3", "four digits");
  ASSERT_ERROR("request abcd", "four digits");
  ASSERT_ERROR("request 0x10", "four digits");
  ASSERT_ERROR("request 12a4", "12a4"); /* the message shows what was typed */
}

static void test_commands_request_wrong_argument_count(void **state) {
  (void)state;
  ASSERT_ERROR("request", "usage: request NNNN");
  ASSERT_ERROR("request 1 2", "usage: request NNNN");
  ASSERT_ERROR("request 2012 2013", "usage: request NNNN");
  ASSERT_ERROR("request 2012 2013 2014 2015 2016 2017", "usage: request NNNN");
}

static void test_commands_unknown_command(void **state) {
  (void)state;
  ASSERT_ERROR("reqest 2012", "unknown command 'reqest'");
  ASSERT_ERROR("requests 2012", "unknown command");
  ASSERT_ERROR("2012", "unknown command");
  ASSERT_ERROR("exit", "unknown command");
  ASSERT_ERROR("q", "unknown command");
  ASSERT_ERROR("a b c d e f g h", "unknown command 'a'");
}

/* ---- blank lines ---- */

static void test_commands_empty_and_blank_lines(void **state) {
  (void)state;
  const char *blank[] = { "", " ", "   ", "\t", " \t \t ", "\t\t\t" };
  for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++) {
    cdht_line l;
    assert_int_equal(parse(&l, blank[i]), 0);
    assert_int_equal(l.kind, CDHT_LINE_EMPTY);
  }
}

/* ---- the other commands ---- */

static void test_commands_quit_status_help(void **state) {
  (void)state;
  ASSERT_KIND("quit", CDHT_LINE_QUIT);
  ASSERT_KIND("status", CDHT_LINE_STATUS);
  ASSERT_KIND("help", CDHT_LINE_HELP);
  ASSERT_ERROR("quit now", "usage: quit");
  ASSERT_ERROR("status all", "usage: status");
  ASSERT_ERROR("help request", "usage: help");
}

static void test_commands_names_ignore_case(void **state) {
  (void)state;
  ASSERT_KIND("QUIT", CDHT_LINE_QUIT);
  ASSERT_KIND("Quit", CDHT_LINE_QUIT);
  ASSERT_KIND("Status", CDHT_LINE_STATUS);
  ASSERT_KIND("HELP", CDHT_LINE_HELP);
  ASSERT_KIND("PINGS OFF", CDHT_LINE_PINGS_OFF);
  ASSERT_KIND("Pings On", CDHT_LINE_PINGS_ON);
  assert_request("Request 2012", 2012);
  assert_request("REQUEST 0010", 10);
  assert_request("rEqUeSt 9999", 9999);
}

static void test_commands_pings_on_off(void **state) {
  (void)state;
  ASSERT_KIND("pings off", CDHT_LINE_PINGS_OFF);
  ASSERT_KIND("pings on", CDHT_LINE_PINGS_ON);
  ASSERT_ERROR("pings maybe", "'maybe'");
  ASSERT_ERROR("pings", "usage: pings off|on");
  ASSERT_ERROR("pings on off", "usage: pings off|on");
  ASSERT_ERROR("pings 1", "expected 'on' or 'off'");
}

static void test_commands_surrounding_blanks(void **state) {
  (void)state;
  assert_request("  request 2012", 2012);
  assert_request("request 2012   ", 2012);
  assert_request("\trequest\t2012\t", 2012);
  assert_request(" \t request \t\t  0010 \t ", 10);
  ASSERT_KIND("   quit   ", CDHT_LINE_QUIT);
  ASSERT_KIND("\tquit\t", CDHT_LINE_QUIT);
  ASSERT_KIND("\tpings\t\toff ", CDHT_LINE_PINGS_OFF);
}

/* Only space and tab separate words: other bytes are part of a word and shown as '?'. */
static void test_commands_control_and_nul_bytes(void **state) {
  (void)state;
  cdht_line l;
  static const char quit_nul[] = { 'q', 'u', 'i', 't', '\0' };
  assert_error_line(&l, parse_bytes(&l, quit_nul, sizeof quit_nul));
  assert_non_null(strstr(l.error, "quit?"));

  static const char req_nul[] = { 'r', 'e', 'q', 'u', 'e', 's', 't', ' ', '2', '0', '\0', '1', '2' };
  assert_error_line(&l, parse_bytes(&l, req_nul, sizeof req_nul));

  static const char nul_only[] = { '\0', '\0' };
  assert_error_line(&l, parse_bytes(&l, nul_only, sizeof nul_only));

  ASSERT_ERROR("\x1b[2Jquit", "unknown command");
  ASSERT_ERROR("re\x01quest 2012", "'re?quest'");
  ASSERT_ERROR("request 20\x7f" "1", "four digits");
  ASSERT_ERROR("request 2012\r", "four digits");
  ASSERT_ERROR("quit\r", "unknown command");
  ASSERT_ERROR("\xff\xfe", "unknown command");
  ASSERT_ERROR("request \xc3\xa9\xc3\xa9", "four digits");
  ASSERT_ERROR("\vquit", "unknown command");
}

/* The length, not a NUL, ends the line: bytes past |len| are never read. */
static void test_commands_length_bounds_the_line(void **state) {
  (void)state;
  cdht_line l;
  assert_int_equal(parse_bytes(&l, "request 2012 extra", 12), 0);
  assert_int_equal(l.kind, CDHT_LINE_REQUEST);
  assert_int_equal(cdht_name_number(&l.name), 2012);
  assert_int_equal(parse_bytes(&l, "quitting", 4), 0);
  assert_int_equal(l.kind, CDHT_LINE_QUIT);
  assert_int_equal(parse_bytes(&l, "quit", 0), 0);
  assert_int_equal(l.kind, CDHT_LINE_EMPTY);
}

static void test_commands_very_long_line(void **state) {
  (void)state;
  const size_t n = 100000;
  char *s = malloc(n);
  assert_non_null(s);
  cdht_line l;

  /* One huge word. */
  memset(s, 'x', n);
  assert_error_line(&l, parse_bytes(&l, s, n));
  assert_non_null(strstr(l.error, "unknown command"));

  /* A huge file name. */
  memcpy(s, "request ", 8);
  memset(s + 8, '1', n - 8);
  assert_error_line(&l, parse_bytes(&l, s, n));

  /* A valid command lost in blanks. */
  memset(s, ' ', n);
  memcpy(s + n / 2, "request", 7);
  memcpy(s + n - 10, "2012", 4);
  assert_int_equal(parse_bytes(&l, s, n), 0);
  assert_int_equal(l.kind, CDHT_LINE_REQUEST);
  assert_int_equal(cdht_name_number(&l.name), 2012);

  /* Thousands of words. */
  for (size_t i = 0; i < n; i++) s[i] = (i % 2) ? ' ' : 'w';
  assert_error_line(&l, parse_bytes(&l, s, n));
  for (size_t i = 0; i < n; i++) s[i] = (i % 2) ? '\t' : 'q';
  memcpy(s, "request", 7);
  assert_error_line(&l, parse_bytes(&l, s, n));
  assert_non_null(strstr(l.error, "usage: request NNNN"));
  free(s);
}

static void test_commands_help_lists_every_command(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  cdht_commands_help(f, false);
  assert_int_equal(fclose(f), 0);
  assert_non_null(text);
  const char *names[] = { "request NNNN", "quit", "status", "pings off|on", "help" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strstr(text, names[i])) fail_msg("help lacks '%s':\n%s", names[i], text);
  assert_true(len > 0 && text[len - 1] == '\n');
  free(text);
  f = open_memstream(&text, &len);
  assert_non_null(f);
  cdht_commands_help(f, true);
  assert_int_equal(fclose(f), 0);
  assert_non_null(strstr(text, "request NAME"));
  assert_non_null(strstr(text, "store NAME [PATH]"));
  assert_null(strstr(text, "NNNN"));
  free(text);
}

/* ---- names (--listen) ---- */

static void assert_named(const char *line, cdht_line_kind kind, const char *name, size_t len, const char *path) {
  cdht_line l;
  int rc = parse(&l, line);
  if (rc != 0 || l.kind != kind) fail_msg("'%s': kind %d rc %d (%s)", line, l.kind, rc, rc ? l.error : "");
  assert_int_equal(l.name.len, len);
  assert_memory_equal(l.name.s, name, len);
  assert_string_equal(l.path, path);
}

static void test_commands_names_any_name(void **state) {
  (void)state;
  as_listen = true;
  assert_named("request report-2026.pdf", CDHT_LINE_REQUEST, "report-2026.pdf", 15, "");
  assert_named("REQUEST 0042", CDHT_LINE_REQUEST, "0042", 4, "");
  assert_named("request ..", CDHT_LINE_REQUEST, "..", 2, "");
  assert_named("request caf%C3%A9", CDHT_LINE_REQUEST, "caf%C3%A9", 9, "");
  assert_named("request \xc3\xbc" "n\xc3\xaf" "code", CDHT_LINE_REQUEST, "\xc3\xbc" "n\xc3\xaf" "code", 9, ""); /* UTF-8 as it is */
  assert_named("store notes", CDHT_LINE_STORE, "notes", 5, "");
  assert_named("store notes /tmp/a.txt", CDHT_LINE_STORE, "notes", 5, "/tmp/a.txt");
  /* A name of 255 bytes is one; 256 is not. */
  char line[400];
  memcpy(line, "request ", 8);
  memset(line + 8, 'n', 255);
  line[8 + 255] = '\0';
  assert_named(line, CDHT_LINE_REQUEST, line + 8, 255, "");
  line[8 + 255] = 'n';
  line[8 + 256] = '\0';
  ASSERT_ERROR(line, "1 to 255 bytes");
  /* No '/', no control byte, no DEL: the errors show them as '?'. */
  ASSERT_ERROR("request ../../etc/passwd", "request: a name is 1 to 255 bytes");
  ASSERT_ERROR("store a/b", "store: a name is 1 to 255 bytes");
  ASSERT_ERROR("request a\x01z", "got 'a?z'");
  ASSERT_ERROR("request a\x7fz", "got 'a?z'");
  ASSERT_ERROR("request \xc3\xa9\x01", "got '?" "?" "?'"); /* errors are plain ASCII */
  ASSERT_ERROR("request", "usage: request NAME");
  ASSERT_ERROR("store", "usage: store NAME [PATH]");
}

static void test_commands_names_quotes(void **state) {
  (void)state;
  as_listen = true;
  assert_named("store notes \"my notes.txt\"", CDHT_LINE_STORE, "notes", 5, "my notes.txt");
  assert_named("store notes \"/tmp/two  spaces\tand tab\"", CDHT_LINE_STORE, "notes", 5, "/tmp/two  spaces\tand tab");
  assert_named("store notes my\" \"notes.txt", CDHT_LINE_STORE, "notes", 5, "my notes.txt"); /* quotes inside a word */
  assert_named("store \"notes\" x", CDHT_LINE_STORE, "notes", 5, "x");
  assert_named("store notes \"\"", CDHT_LINE_STORE, "notes", 5, ""); /* an empty path: the default */
  ASSERT_ERROR("store notes \"my notes.txt", "unterminated quote");
  ASSERT_ERROR("store \"notes", "unterminated quote");
  ASSERT_ERROR("\"", "unterminated quote");
  ASSERT_ERROR("store \"two words\"", "got 'two words'"); /* a name has no blank, quoted or not */
  ASSERT_ERROR("store notes my notes.txt", "expected 1 to 2 arguments (usage: store NAME [PATH])");
  /* The classic forms have no quotes: the same line is three words there, as before. */
  as_listen = false;
  ASSERT_ERROR("store 0042 \"my notes.txt\"", "expected 1 to 2 arguments (usage: store NNNN [PATH])");
  ASSERT_ERROR("store notes", "four digits");
  ASSERT_ERROR("request report-2026.pdf", "four digits");
}

/* A long quoted path fits with --listen (the console takes lines of CDHT_LINE_MAX_NAMES). */
static void test_commands_names_long_path(void **state) {
  (void)state;
  as_listen = true;
  char line[1100], path[900];
  memset(path, 'p', sizeof path - 1);
  path[0] = '/';
  path[sizeof path - 1] = '\0';
  snprintf(line, sizeof line, "store x \"%s\"", path);
  assert_named(line, CDHT_LINE_STORE, "x", 1, path);
}


int main(void) {
  struct CMUnitTest tests[] = {
    cmocka_unit_test(test_commands_request_four_digits),
    cmocka_unit_test(test_commands_request_bad_file_names),
    cmocka_unit_test(test_commands_request_wrong_argument_count),
    cmocka_unit_test(test_commands_unknown_command),
    cmocka_unit_test(test_commands_empty_and_blank_lines),
    cmocka_unit_test(test_commands_quit_status_help),
    cmocka_unit_test(test_commands_names_ignore_case),
    cmocka_unit_test(test_commands_pings_on_off),
    cmocka_unit_test(test_commands_surrounding_blanks),
    cmocka_unit_test(test_commands_control_and_nul_bytes),
    cmocka_unit_test(test_commands_length_bounds_the_line),
    cmocka_unit_test(test_commands_very_long_line),
    cmocka_unit_test(test_commands_help_lists_every_command),
    cmocka_unit_test(test_commands_names_any_name),
    cmocka_unit_test(test_commands_names_quotes),
    cmocka_unit_test(test_commands_names_long_path),
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) tests[i].setup_func = classic;
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/cli/lines.h: the printed sentences.  The stdout lines are the classic
 * program's public contract, so they are compared byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/lines.h"

#define BUF_CAP 512

/* A peer's record by id (the address plays no part in a line); NOPE: no peer. */
#define NOPE UINT64_MAX
static cdht_peer P(uint64_t id) {
  return id == NOPE ? cdht_peer_none() : cdht_peer_make(id, cdht_addr_v4(0x7f000001u, 4000));
}

/* The classic name of file |f| (0..9999). */
static cdht_name nm(unsigned f) {
  cdht_name n;
  cdht_name_of_number(&n, f);
  return n;
}

static cdht_event ev_peer(cdht_event_kind kind, uint64_t peer, uint16_t file) {
  cdht_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = kind;
  ev.peer = P(peer);
  ev.name = nm(file);
  return ev;
}

/* Formats |ev| into a buffer pre-filled with junk and checks the stream and the exact text. */
static void assert_line(const cdht_event *ev, cdht_stream want_stream, const char *want) {
  char buf[BUF_CAP];
  memset(buf, '#', sizeof buf);
  cdht_stream s = cdht_lines_format(buf, sizeof buf, ev);
  assert_int_equal(s, want_stream);
  assert_string_equal(buf, want);
}

/* ---- stdout: the classic lines ---- */

static void test_lines_ping_request(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_PING_REQUEST, 5, 0);
  assert_line(&ev, CDHT_STDOUT, "A ping request message was received from Peer 5.\n");
  ev.peer = P(255);
  assert_line(&ev, CDHT_STDOUT, "A ping request message was received from Peer 255.\n");
  ev.peer = P(0);
  assert_line(&ev, CDHT_STDOUT, "A ping request message was received from Peer 0.\n");
}

static void test_lines_ping_response(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_PING_RESPONSE, 8, 0);
  assert_line(&ev, CDHT_STDOUT, "A ping response message was received from Peer 8.\n");
}

static void test_lines_request_sent(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_REQUEST_SENT, 0, 2012);
  assert_line(&ev, CDHT_STDOUT, "File request message for 2012 has been sent to my successor.\n");
}

static void test_lines_request_forwarded_is_two_lines(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_REQUEST_FORWARDED, 0, 2012);
  assert_line(&ev, CDHT_STDOUT,
              "File 2012 is not stored here.\nFile request message has been forwarded to my successor.\n");
}

static void test_lines_file_here(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_FILE_HERE, 1, 2012);
  assert_line(&ev, CDHT_STDOUT, "File 2012 is here.\n");
}

static void test_lines_response_sent(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_RESPONSE_SENT, 4, 2012);
  assert_line(&ev, CDHT_STDOUT, "A response message, destined for peer 4, has been sent.\n");
}

static void test_lines_response_received(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_RESPONSE_RECEIVED, 1, 2012);
  assert_line(&ev, CDHT_STDOUT, "Received a response message from peer 1, which has the file 2012.\n");
}

static void test_lines_departing(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_DEPARTING, 10, 0);
  assert_line(&ev, CDHT_STDOUT, "Peer 10 will depart from the network.\n");
}

static void test_lines_successors_is_two_lines(void **state) {
  (void)state;
  cdht_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = CDHT_EV_SUCCESSORS;
  ev.succ[0] = P(12);
  ev.succ[1] = P(15);
  assert_line(&ev, CDHT_STDOUT, "My first successor is now peer 12.\nMy second successor is now peer 15.\n");
  ev.succ[0] = P(1);
  ev.succ[1] = P(1);
  assert_line(&ev, CDHT_STDOUT, "My first successor is now peer 1.\nMy second successor is now peer 1.\n");
}

static void test_lines_peer_dead(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_PEER_DEAD, 5, 0);
  assert_line(&ev, CDHT_STDOUT, "Peer 5 is no longer alive.\n");
}

/* File names are always four digits, leading zeros kept. */
static void test_lines_files_keep_four_digits(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_FILE_HERE, 0, 10);
  assert_line(&ev, CDHT_STDOUT, "File 0010 is here.\n");
  ev.name = nm(0);
  assert_line(&ev, CDHT_STDOUT, "File 0000 is here.\n");
  ev.name = nm(9999);
  assert_line(&ev, CDHT_STDOUT, "File 9999 is here.\n");
  ev = ev_peer(CDHT_EV_REQUEST_SENT, 0, 7);
  assert_line(&ev, CDHT_STDOUT, "File request message for 0007 has been sent to my successor.\n");
  ev = ev_peer(CDHT_EV_REQUEST_FORWARDED, 0, 210);
  assert_line(&ev, CDHT_STDOUT,
              "File 0210 is not stored here.\nFile request message has been forwarded to my successor.\n");
  ev = ev_peer(CDHT_EV_RESPONSE_RECEIVED, 8, 10);
  assert_line(&ev, CDHT_STDOUT, "Received a response message from peer 8, which has the file 0010.\n");
}

/* With names, the name is printed where the classic lines print NNNN, byte for byte (UTF-8 as
 * it is), up to 255 bytes; the JSON event escapes '"' and '\'. */
static void test_lines_print_any_name(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_FILE_HERE, 0, 0);
  assert_int_equal(cdht_name_set(&ev.name, "report-2026.pdf", 15), 0);
  assert_line(&ev, CDHT_STDOUT, "File report-2026.pdf is here.\n");
  ev = ev_peer(CDHT_EV_RESPONSE_RECEIVED, 8, 0);
  assert_int_equal(cdht_name_set(&ev.name, "report-2026.pdf", 15), 0);
  assert_line(&ev, CDHT_STDOUT, "Received a response message from peer 8, which has the file report-2026.pdf.\n");
  assert_int_equal(cdht_name_set(&ev.name, "\xc3\xbc" "n", 3), 0);
  assert_line(&ev, CDHT_STDOUT, "Received a response message from peer 8, which has the file \xc3\xbc" "n.\n");
  char longest[CDHT_NAME_MAX], want[BUF_CAP];
  memset(longest, 'n', sizeof longest);
  ev = ev_peer(CDHT_EV_STORED, 3, 0);
  assert_int_equal(cdht_name_set(&ev.name, longest, sizeof longest), 0);
  snprintf(want, sizeof want, "File %.255s has been stored at peer 3.\n", longest);
  assert_line(&ev, CDHT_STDOUT, want);
  char buf[BUF_CAP], nb[CDHT_NAME_MAX + 1];
  assert_int_equal(strlen(cdht_lines_name(nb, &ev.name)), 255); /* NUL-terminated, whole */
  ev = (cdht_event){ .kind = CDHT_EV_FILE_HERE, .peer = P(2) };
  assert_int_equal(cdht_name_set(&ev.name, "a\"b\\c", 5), 0);
  cdht_lines_json(buf, sizeof buf, 1, 2, &ev);
  assert_string_equal(buf, "{\"t_us\":1,\"self\":2,\"event\":\"file_here\",\"peer\":2,\"file\":\"a\\\"b\\\\c\",\"hops\":0}\n");
  cdht_lines_transfer_as(buf, sizeof buf, CDHT_VARIANT_2020, CDHT_LINE_RECEIVED, &ev.name, 9);
  assert_string_equal(buf, "File a\"b\\c received\n");
}

/* Every stdout event: one or two complete lines, and nothing else. */
static void test_lines_every_stdout_kind_ends_in_newline(void **state) {
  (void)state;
  const cdht_event_kind out[] = { CDHT_EV_PING_REQUEST, CDHT_EV_PING_RESPONSE, CDHT_EV_REQUEST_SENT,
                                  CDHT_EV_REQUEST_FORWARDED, CDHT_EV_FILE_HERE, CDHT_EV_RESPONSE_SENT,
                                  CDHT_EV_RESPONSE_RECEIVED, CDHT_EV_DEPARTING, CDHT_EV_SUCCESSORS,
                                  CDHT_EV_PEER_DEAD };
  for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
    cdht_event ev = ev_peer(out[i], 3, 2012);
    char buf[BUF_CAP];
    assert_int_equal(cdht_lines_format(buf, sizeof buf, &ev), CDHT_STDOUT);
    size_t n = strlen(buf);
    assert_true(n > 1);
    assert_int_equal(buf[n - 1], '\n');
    assert_true(buf[n - 2] == '.'); /* every classic sentence ends with a full stop */
  }
}

/* ---- stderr: diagnostics ---- */

static void test_lines_diagnostics_go_to_stderr(void **state) {
  (void)state;
  const cdht_event_kind diag[] = { CDHT_EV_REQUEST_RETRIED, CDHT_EV_REQUEST_FAILED, CDHT_EV_RING_BROKEN,
                                   CDHT_EV_LEAVE_UNCONFIRMED };
  for (size_t i = 0; i < sizeof diag / sizeof diag[0]; i++) {
    cdht_event ev = ev_peer(diag[i], 3, 10);
    ev.ms = 10000;
    char buf[BUF_CAP];
    assert_int_equal(cdht_lines_format(buf, sizeof buf, &ev), CDHT_STDERR);
    size_t n = strlen(buf);
    assert_true(n > 0);
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1)); /* one line */
  }
}

static void test_lines_request_retried(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_REQUEST_RETRIED, 8, 10);
  assert_line(&ev, CDHT_STDERR, "request 0010: no answer yet, sent again to peer 8\n");
}

static void test_lines_request_failed_seconds(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_REQUEST_FAILED, 0, 2012);
  ev.ms = 10000;
  assert_line(&ev, CDHT_STDERR, "request 2012 failed: no answer from the ring within 10 s\n");
  ev.ms = 2500;
  assert_line(&ev, CDHT_STDERR, "request 2012 failed: no answer from the ring within 2.5 s\n");
  ev.name = nm(10);
  ev.ms = 125;
  assert_line(&ev, CDHT_STDERR, "request 0010 failed: no answer from the ring within 0.125 s\n");
  ev.ms = 1;
  assert_line(&ev, CDHT_STDERR, "request 0010 failed: no answer from the ring within 0.001 s\n");
  ev.ms = 1050;
  assert_line(&ev, CDHT_STDERR, "request 0010 failed: no answer from the ring within 1.05 s\n");
  ev.ms = 86400000;
  assert_line(&ev, CDHT_STDERR, "request 0010 failed: no answer from the ring within 86400 s\n");
  ev.ms = UINT32_MAX;
  assert_line(&ev, CDHT_STDERR, "request 0010 failed: no answer from the ring within 4294967.295 s\n");
}

static void test_lines_ring_broken_and_leave_unconfirmed(void **state) {
  (void)state;
  char buf[BUF_CAP];
  cdht_event ev = ev_peer(CDHT_EV_RING_BROKEN, 5, 0);
  assert_int_equal(cdht_lines_format(buf, sizeof buf, &ev), CDHT_STDERR);
  assert_non_null(strstr(buf, "peer 5"));
  ev = ev_peer(CDHT_EV_LEAVE_UNCONFIRMED, 4, 0);
  assert_line(&ev, CDHT_STDERR, "warning: peer 4 did not confirm the departure; leaving without it\n");
}

/* ---- silent ---- */

static void test_lines_left_is_silent(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_LEFT, 1, 0);
  assert_line(&ev, CDHT_SILENT, "");
  ev.kind = CDHT_EV_COUNT;
  assert_line(&ev, CDHT_SILENT, "");
}

/* ---- buffer limits ---- */

/* A short buffer gets a cut, NUL-terminated text and nothing past its end. */
static void test_lines_short_buffer_is_cut_safely(void **state) {
  (void)state;
  cdht_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = CDHT_EV_SUCCESSORS;
  ev.succ[0] = P(3);
  ev.succ[1] = P(4);
  for (size_t cap = 1; cap < 40; cap++) {
    char *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(cdht_lines_format(buf, cap, &ev), CDHT_STDOUT);
    assert_int_equal(strlen(buf), cap - 1);
    assert_memory_equal(buf, "My first successor is now peer 3.\nMy second successor is now peer 4.\n", cap - 1);
    free(buf);
  }
}

/* The longest text (two lines with the largest ids) fits a 256-byte buffer. */
static void test_lines_longest_fits(void **state) {
  (void)state;
  for (int k = 0; k < CDHT_EV_COUNT; k++) {
    cdht_event ev = ev_peer((cdht_event_kind)k, UINT64_MAX - 1, 9999);
    ev.succ[0] = ev.succ[1] = P(UINT64_MAX - 1);
    ev.ms = UINT32_MAX;
    char buf[BUF_CAP];
    cdht_lines_format(buf, sizeof buf, &ev);
    assert_true(strlen(buf) < 256);
  }
}

/* The --events output: one JSON object per event, with the fields its kind carries. */
static void test_lines_json_fields_follow_the_kind(void **state) {
  (void)state;
  char buf[512];
  cdht_event ev = { .kind = CDHT_EV_RESPONSE_RECEIVED, .peer = P(1), .name = nm(2012) };
  cdht_lines_json(buf, sizeof buf, 77, 8, &ev);
  assert_string_equal(buf, "{\"t_us\":77,\"self\":8,\"event\":\"response_received\",\"peer\":1,\"file\":\"2012\",\"hops\":0}\n");
  ev = (cdht_event){ .kind = CDHT_EV_SUCCESSORS, .succ = { P(12), P(15) } };
  cdht_lines_json(buf, sizeof buf, 1, 10, &ev);
  assert_string_equal(buf, "{\"t_us\":1,\"self\":10,\"event\":\"successors\",\"succ\":[12,15]}\n");
  ev = (cdht_event){ .kind = CDHT_EV_STORE_FAILED, .peer = P(NOPE), .name = nm(6), .ms = 10000 };
  cdht_lines_json(buf, sizeof buf, 2, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":2,\"self\":3,\"event\":\"store_failed\",\"file\":\"0006\",\"ms\":10000}\n");
  ev = (cdht_event){ .kind = CDHT_EV_KEYS_RECEIVED, .peer = P(8), .seq = 3 };
  cdht_lines_json(buf, sizeof buf, 4, 6, &ev);
  assert_string_equal(buf, "{\"t_us\":4,\"self\":6,\"event\":\"keys_received\",\"peer\":8,\"count\":3}\n");
  for (int k = 0; k < CDHT_EV_COUNT; k++) assert_string_not_equal(cdht_event_name((cdht_event_kind)k), "?");
}

/* An internal sentinel (NOPE) never reaches a line or a JSON event: "?" or null instead. */
static void test_lines_never_print_the_sentinel(void **state) {
  (void)state;
  for (int k = 0; k < CDHT_EV_COUNT; k++) {
    cdht_event ev = ev_peer((cdht_event_kind)k, NOPE, 10);
    ev.succ[0] = ev.succ[1] = P(NOPE);
    char buf[BUF_CAP];
    cdht_lines_format(buf, sizeof buf, &ev);
    assert_null(strstr(buf, "18446744073709551615"));
    cdht_lines_no_content(buf, sizeof buf, &ev);
    assert_null(strstr(buf, "18446744073709551615"));
    cdht_lines_json(buf, sizeof buf, 1, 2, &ev);
    assert_null(strstr(buf, "18446744073709551615"));
  }
  cdht_event ev = ev_peer(CDHT_EV_REQUEST_RETRIED, NOPE, 10);
  assert_line(&ev, CDHT_STDERR, "request 0010: no answer yet, sent again to peer ?\n");
  ev = (cdht_event){ .kind = CDHT_EV_SUCCESSORS, .succ = { P(12), P(NOPE) } };
  char buf[BUF_CAP];
  cdht_lines_json(buf, sizeof buf, 1, 10, &ev);
  assert_string_equal(buf, "{\"t_us\":1,\"self\":10,\"event\":\"successors\",\"succ\":[12,null]}\n");
}

/* A store's retry says "store", not "request". */
static void test_lines_store_retried(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_STORE_RETRIED, 8, 10);
  assert_line(&ev, CDHT_STDERR, "store 0010: no answer yet, sent again to peer 8\n");
  char buf[BUF_CAP];
  cdht_lines_json(buf, sizeof buf, 5, 4, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":4,\"event\":\"store_retried\",\"peer\":8,\"file\":\"0010\"}\n");
}

/* Successors that never answered did not "die before the repair finished": they were never there. */
static void test_lines_never_answered(void **state) {
  (void)state;
  cdht_event ev = { .kind = CDHT_EV_NEVER_ANSWERED, .peer = P(4), .succ = { P(3), P(4) } };
  assert_line(&ev, CDHT_STDERR,
              "warning: successors 3 and 4 never answered a ping (are they running?); this peer now stands alone\n");
  char buf[BUF_CAP];
  cdht_lines_json(buf, sizeof buf, 5, 1, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":1,\"event\":\"never_answered\",\"succ\":[3,4]}\n");
}

/* The notes after a classic line that announced no content (stderr; the classic line is unchanged). */
static void test_lines_no_content_notes(void **state) {
  (void)state;
  char buf[BUF_CAP];
  cdht_event ev = ev_peer(CDHT_EV_RESPONSE_RECEIVED, 1, 2012);
  assert_int_equal(cdht_lines_no_content(buf, sizeof buf, &ev), CDHT_STDERR);
  assert_string_equal(buf, "peer 1 is responsible for file 2012 but holds no content for it\n");
  ev.content = true;
  assert_int_equal(cdht_lines_no_content(buf, sizeof buf, &ev), CDHT_SILENT);
  assert_string_equal(buf, "");
  ev = ev_peer(CDHT_EV_FILE_HERE, 5, 7);
  ev.own = true;
  assert_int_equal(cdht_lines_no_content(buf, sizeof buf, &ev), CDHT_STDERR);
  assert_string_equal(buf, "file 0007 is this peer's, and no content for it is held here\n");
  ev.content = true;
  assert_int_equal(cdht_lines_no_content(buf, sizeof buf, &ev), CDHT_SILENT);
  ev = ev_peer(CDHT_EV_FILE_HERE, 5, 7); /* answering someone else's request: the response says it */
  assert_int_equal(cdht_lines_no_content(buf, sizeof buf, &ev), CDHT_SILENT);
}

/* ---- the 2020 wording (the init / join forms) ---- */

static void assert_2020(const cdht_event *ev, bool joined, cdht_stream want_stream, const char *want) {
  char buf[BUF_CAP];
  memset(buf, '#', sizeof buf);
  assert_int_equal(cdht_lines_format_as(buf, sizeof buf, ev, CDHT_VARIANT_2020, joined), want_stream);
  assert_string_equal(buf, want);
}

static void test_lines_2020_wording(void **state) {
  (void)state;
  cdht_event ev = { .kind = CDHT_EV_PINGS_SENT, .succ = { P(4), P(5) } };
  assert_2020(&ev, false, CDHT_STDOUT, "Ping requests sent to Peers 4 and 5\n");
  ev.succ[1] = P(NOPE);
  assert_2020(&ev, false, CDHT_STDOUT, "Ping requests sent to Peer 4\n");
  assert_line(&ev, CDHT_SILENT, ""); /* the classic forms print no round */
  ev = ev_peer(CDHT_EV_PING_REQUEST, 9, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Ping request message received from Peer 9\n");
  ev = ev_peer(CDHT_EV_PING_RESPONSE, 14, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Ping response received from Peer 14\n");
  ev = ev_peer(CDHT_EV_REQUEST_SENT, 14, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "File request for 2067 has been sent to my successor\n");
  ev = ev_peer(CDHT_EV_REQUEST_FORWARDED, 15, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "Request for File 2067 has been received, but the file is not stored here\n");
  ev = ev_peer(CDHT_EV_FILE_HERE, 19, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "File 2067 is stored here\n");
  ev = ev_peer(CDHT_EV_RESPONSE_SENT, 9, 2067);
  assert_2020(&ev, false, CDHT_SILENT, ""); /* the transfer's "Sending file ..." says it */
  ev = ev_peer(CDHT_EV_RESPONSE_RECEIVED, 19, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 19 had File 2067\n");
  ev = ev_peer(CDHT_EV_DEPARTING, 8, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 8 will depart from the network\n");
  ev = (cdht_event){ .kind = CDHT_EV_SUCCESSORS, .succ = { P(9), P(14) } };
  assert_2020(&ev, false, CDHT_STDOUT, "My new first successor is Peer 9\nMy new second successor is Peer 14\n");
  assert_2020(&ev, true, CDHT_STDOUT, "My first successor is Peer 9\nMy second successor is Peer 14\n");
  ev = ev_peer(CDHT_EV_PEER_DEAD, 14, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 14 is no longer alive\n");
  ev = ev_peer(CDHT_EV_JOIN_FORWARDED, 15, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 15 Join request forwarded to my successor\n");
  ev = ev_peer(CDHT_EV_JOIN_RECEIVED, 15, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 15 Join request received\n");
  ev = ev_peer(CDHT_EV_SUCC_CHANGE, 14, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Successor Change request received\n");
  ev = ev_peer(CDHT_EV_JOIN_ACCEPTED, 14, 0);
  assert_2020(&ev, false, CDHT_STDOUT, "Join request has been accepted\n");
  ev = ev_peer(CDHT_EV_STORE_FORWARDED, 5, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "Store 2067 request forwarded to my successor\n");
  ev = ev_peer(CDHT_EV_STORE_ACCEPTED, 4, 2067);
  assert_2020(&ev, false, CDHT_STDOUT, "Store 2067 request accepted\n");
  /* Lines the 2020 table does not have go to stderr; diagnostics stay as they are. */
  ev = ev_peer(CDHT_EV_STORED, 19, 2067);
  assert_2020(&ev, false, CDHT_STDERR, "file 2067 has been stored at peer 19\n");
  ev = ev_peer(CDHT_EV_HANDED_OVER, 9, 0);
  assert_2020(&ev, false, CDHT_STDERR, "0 files handed over to peer 9\n");
  ev = ev_peer(CDHT_EV_KEYS_RECEIVED, 8, 0);
  ev.seq = 2;
  assert_2020(&ev, false, CDHT_STDERR, "2 files received from peer 8\n");
  ev = ev_peer(CDHT_EV_REQUEST_RETRIED, 5, 10);
  assert_2020(&ev, false, CDHT_STDERR, "request 0010: no answer yet, sent again to peer 5\n");
  /* No 2020 stdout line ends in a full stop. */
  for (int k = 0; k < CDHT_EV_COUNT; k++) {
    cdht_event e = ev_peer((cdht_event_kind)k, 3, 7);
    e.succ[0] = P(4);
    e.succ[1] = P(5);
    char buf[BUF_CAP];
    if (cdht_lines_format_as(buf, sizeof buf, &e, CDHT_VARIANT_2020, false) != CDHT_STDOUT) continue;
    for (char *nl = strchr(buf, '\n'); nl; nl = strchr(nl + 1, '\n')) assert_true(nl[-1] != '.');
  }
}

static void test_lines_transfer_wording(void **state) {
  (void)state;
  char buf[BUF_CAP];
  static const char *const classic[] = { "We now start sending the file .........\n", "The file is sent.\n",
                                         "We now start receiving the file .........\n", "The file is received.\n" };
  static const char *const y2020[] = { "Sending file 2067 to Peer 9\n", "The file has been sent\n",
                                       "Receiving File 2067 from Peer 9\n", "File 2067 received\n" };
  for (int w = CDHT_LINE_SENDING; w <= CDHT_LINE_RECEIVED; w++) {
    for (int v = CDHT_VARIANT_CLASSIC; v <= CDHT_VARIANT_2019; v++) {
      cdht_lines_transfer_as(buf, sizeof buf, (cdht_variant)v, (cdht_transfer_line)w, &(cdht_name){ .len = 4, .s = "2067" }, 9);
      assert_string_equal(buf, classic[w]);
    }
    cdht_lines_transfer_as(buf, sizeof buf, CDHT_VARIANT_2020, (cdht_transfer_line)w, &(cdht_name){ .len = 4, .s = "2067" }, 9);
    assert_string_equal(buf, y2020[w]);
  }
}


/* Why a join failed, in words: the id taken, nobody at the address (a --listen join names the
 * address, its peer's id unknown), no answer, or another kind of ring. */
static void test_lines_join_failures(void **state) {
  (void)state;
  cdht_event ev = ev_peer(CDHT_EV_JOIN_FAILED, 7, 0);
  ev.reason = CDHT_JOIN_ID_TAKEN;
  assert_line(&ev, CDHT_STDERR, "join failed: a peer with this id is already in the ring (told by peer 7)\n");
  ev.reason = CDHT_JOIN_NO_ANSWER;
  assert_line(&ev, CDHT_STDERR, "join failed: peer 7 does not answer (connection refused)\n");
  ev.addr_only = true;
  ev.peer = cdht_peer_make(0, cdht_addr_v4(0xc6120001u, 4000));
  assert_line(&ev, CDHT_STDERR, "join failed: peer at 198.18.0.1:4000 does not answer (connection refused)\n");
  ev.reason = CDHT_JOIN_TIMEOUT;
  assert_line(&ev, CDHT_STDERR, "join failed: no answer from the ring through peer at 198.18.0.1:4000 in time\n");
  ev.addr_only = false;
  ev.reason = CDHT_JOIN_PARAMS;
  ev.bits = 64, ev.our_bits = 32, ev.keys = ev.our_keys = CDHT_KEYS_BLAKE2B;
  assert_line(&ev, CDHT_STDERR, "join failed: the ring uses 64-bit ids, this peer 32\n");
  ev.bits = 8, ev.our_bits = 8, ev.keys = CDHT_KEYS_NUMBERS;
  assert_line(&ev, CDHT_STDERR, "join failed: the ring's keys are four-digit numbers, this peer's names hashed "
                                "with BLAKE2b\n");
  /* A peer of a 64-bit ring may have the largest id: it is printed like any other. */
  ev = ev_peer(CDHT_EV_PING_REQUEST, UINT64_MAX - 0, 0);
  ev.peer = cdht_peer_make(UINT64_MAX, cdht_addr_v4(0xc6120001u, 4000));
  assert_line(&ev, CDHT_STDOUT, "A ping request message was received from Peer 18446744073709551615.\n");
}

/* ---- successor lists and fingers (issue 11) ---- */

static void assert_as(const cdht_event *ev, cdht_variant variant, cdht_stream want_stream, const char *want) {
  char buf[BUF_CAP];
  memset(buf, '#', sizeof buf);
  assert_int_equal(cdht_lines_format_as(buf, sizeof buf, ev, variant, false), want_stream);
  assert_string_equal(buf, want);
}

/* A hop through a finger names the peer it went to, on every form that prints the classic lines. */
static void test_lines_finger_hops_name_the_peer(void **state) {
  (void)state;
  const cdht_variant classic_wording[] = { CDHT_VARIANT_CLASSIC, CDHT_VARIANT_2019, CDHT_VARIANT_LISTEN };
  for (size_t v = 0; v < sizeof classic_wording / sizeof classic_wording[0]; v++) {
    cdht_variant var = classic_wording[v];
    cdht_event ev = ev_peer(CDHT_EV_REQUEST_FORWARDED, 40, 2012);
    ev.finger = true;
    ev.hops = 2;
    assert_as(&ev, var, CDHT_STDOUT, "File 2012 is not stored here.\nFile request message has been forwarded to peer 40.\n");
    ev = ev_peer(CDHT_EV_REQUEST_SENT, 200, 9);
    ev.finger = true;
    assert_as(&ev, var, CDHT_STDOUT, "File request message for 0009 has been sent to peer 200.\n");
    ev = ev_peer(CDHT_EV_STORE_FORWARDED, 12, 42);
    ev.finger = true;
    assert_as(&ev, var, CDHT_STDOUT, "Store 0042 request forwarded to peer 12.\n");
    ev = ev_peer(CDHT_EV_JOIN_FORWARDED, 15, 0); /* the joiner is |peer|, the next hop succ[0] */
    ev.succ[0] = P(8);
    ev.finger = true;
    assert_as(&ev, var, CDHT_STDOUT, "Peer 15 Join request forwarded to peer 8.\n");
    ev.succ[0] = P(NOPE);
    assert_as(&ev, var, CDHT_STDOUT, "Peer 15 Join request forwarded to peer ?.\n");
  }
  /* Any name, as the --listen lines print it. */
  cdht_event ev = { .kind = CDHT_EV_REQUEST_FORWARDED, .peer = P(18446744073709551614ull), .finger = true };
  assert_int_equal(cdht_name_set(&ev.name, "report-2026.pdf", 15), 0);
  assert_as(&ev, CDHT_VARIANT_LISTEN, CDHT_STDOUT,
            "File report-2026.pdf is not stored here.\n"
            "File request message has been forwarded to peer 18446744073709551614.\n");
  /* The 2020 wording: "Peer", no full stop; its not-stored line names no next hop and stays. */
  ev = ev_peer(CDHT_EV_REQUEST_SENT, 14, 2067);
  ev.finger = true;
  assert_2020(&ev, false, CDHT_STDOUT, "File request for 2067 has been sent to Peer 14\n");
  ev = ev_peer(CDHT_EV_REQUEST_FORWARDED, 14, 2067);
  ev.finger = true;
  assert_2020(&ev, false, CDHT_STDOUT, "Request for File 2067 has been received, but the file is not stored here\n");
  ev = ev_peer(CDHT_EV_STORE_FORWARDED, 19, 2067);
  ev.finger = true;
  assert_2020(&ev, false, CDHT_STDOUT, "Store 2067 request forwarded to Peer 19\n");
  ev = ev_peer(CDHT_EV_JOIN_FORWARDED, 15, 0);
  ev.succ[0] = P(9);
  ev.finger = true;
  assert_2020(&ev, false, CDHT_STDOUT, "Peer 15 Join request forwarded to Peer 9\n");
}

/* Without finger the lines are the classic ones byte for byte, whatever the hop count; and finger
 * on a kind that has no next hop changes nothing. */
static void test_lines_without_finger_the_classic_lines_stay(void **state) {
  (void)state;
  static const struct { cdht_event_kind kind; const char *classic, *y2020; } rows[] = {
    { CDHT_EV_REQUEST_SENT, "File request message for 2012 has been sent to my successor.\n",
      "File request for 2012 has been sent to my successor\n" },
    { CDHT_EV_REQUEST_FORWARDED, "File 2012 is not stored here.\nFile request message has been forwarded to my successor.\n",
      "Request for File 2012 has been received, but the file is not stored here\n" },
    { CDHT_EV_STORE_FORWARDED, "Store 2012 request forwarded to my successor.\n",
      "Store 2012 request forwarded to my successor\n" },
    { CDHT_EV_JOIN_FORWARDED, "Peer 6 Join request forwarded to my successor.\n",
      "Peer 6 Join request forwarded to my successor\n" },
    { CDHT_EV_FILE_HERE, "File 2012 is here.\n", "File 2012 is stored here\n" },
    { CDHT_EV_RESPONSE_RECEIVED, "Received a response message from peer 6, which has the file 2012.\n",
      "Peer 6 had File 2012\n" },
    { CDHT_EV_STORE_ACCEPTED, "Store 2012 request accepted.\n", "Store 2012 request accepted\n" },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    cdht_event ev = ev_peer(rows[i].kind, 6, 2012);
    ev.succ[0] = P(7);
    for (unsigned hops = 0; hops < 3; hops++) {
      ev.hops = (uint16_t)(hops * 7);
      ev.finger = false;
      assert_line(&ev, CDHT_STDOUT, rows[i].classic);
      assert_as(&ev, CDHT_VARIANT_2019, CDHT_STDOUT, rows[i].classic);
      assert_as(&ev, CDHT_VARIANT_LISTEN, CDHT_STDOUT, rows[i].classic);
      assert_2020(&ev, false, CDHT_STDOUT, rows[i].y2020);
    }
    if (rows[i].kind == CDHT_EV_FILE_HERE || rows[i].kind == CDHT_EV_RESPONSE_RECEIVED ||
        rows[i].kind == CDHT_EV_STORE_ACCEPTED) {
      ev.finger = true;
      assert_line(&ev, CDHT_STDOUT, rows[i].classic);
      assert_2020(&ev, false, CDHT_STDOUT, rows[i].y2020);
    }
  }
  /* The list's own event prints nothing: stdout stays the classic lines. */
  cdht_event ev = { .kind = CDHT_EV_SUCC_LIST, .seq = 4 };
  assert_line(&ev, CDHT_SILENT, "");
  assert_2020(&ev, false, CDHT_SILENT, "");
}

/* --events: hops on the kinds a request's journey has, finger on those that may skip ahead, and
 * the successor list on its own event. */
static void test_lines_json_hops_finger_and_list(void **state) {
  (void)state;
  char buf[1024];
  cdht_event ev = { .kind = CDHT_EV_RESPONSE_RECEIVED, .peer = P(40), .name = nm(2012), .hops = 3 };
  cdht_lines_json(buf, sizeof buf, 5, 8, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":8,\"event\":\"response_received\",\"peer\":40,\"file\":\"2012\",\"hops\":3}\n");
  ev = (cdht_event){ .kind = CDHT_EV_REQUEST_FORWARDED, .peer = P(40), .name = nm(2012), .hops = 2, .finger = true };
  cdht_lines_json(buf, sizeof buf, 5, 8, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":8,\"event\":\"request_forwarded\",\"peer\":40,\"file\":\"2012\",\"hops\":2,"
                           "\"finger\":true}\n");
  ev.finger = false;
  cdht_lines_json(buf, sizeof buf, 5, 8, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":8,\"event\":\"request_forwarded\",\"peer\":40,\"file\":\"2012\",\"hops\":2,"
                           "\"finger\":false}\n");
  ev = (cdht_event){ .kind = CDHT_EV_REQUEST_SENT, .peer = P(40), .name = nm(7), .finger = true };
  cdht_lines_json(buf, sizeof buf, 5, 8, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":8,\"event\":\"request_sent\",\"peer\":40,\"file\":\"0007\",\"finger\":true}\n");
  ev = (cdht_event){ .kind = CDHT_EV_FILE_HERE, .peer = P(8), .name = nm(7), .hops = 4 };
  cdht_lines_json(buf, sizeof buf, 5, 40, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":40,\"event\":\"file_here\",\"peer\":8,\"file\":\"0007\",\"hops\":4}\n");
  ev = (cdht_event){ .kind = CDHT_EV_RESPONSE_SENT, .peer = P(8), .name = nm(7), .hops = 4 };
  cdht_lines_json(buf, sizeof buf, 5, 40, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":40,\"event\":\"response_sent\",\"peer\":8,\"file\":\"0007\",\"hops\":4}\n");
  ev = (cdht_event){ .kind = CDHT_EV_STORE_FORWARDED, .peer = P(12), .name = nm(42), .hops = 1, .finger = true };
  cdht_lines_json(buf, sizeof buf, 5, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"store_forwarded\",\"peer\":12,\"file\":\"0042\",\"hops\":1,"
                           "\"finger\":true}\n");
  ev = (cdht_event){ .kind = CDHT_EV_STORE_ACCEPTED, .peer = P(3), .name = nm(42), .hops = 2 };
  cdht_lines_json(buf, sizeof buf, 5, 12, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":12,\"event\":\"store_accepted\",\"peer\":3,\"file\":\"0042\",\"hops\":2}\n");
  ev = (cdht_event){ .kind = CDHT_EV_STORE_UPLOAD, .peer = P(12), .name = nm(42), .hops = 2 };
  cdht_lines_json(buf, sizeof buf, 5, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"store_upload\",\"peer\":12,\"file\":\"0042\",\"hops\":2}\n");
  ev = (cdht_event){ .kind = CDHT_EV_JOIN_FORWARDED, .peer = P(15), .succ = { P(8), P(NOPE) }, .finger = true };
  cdht_lines_json(buf, sizeof buf, 5, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"join_forwarded\",\"peer\":15,\"finger\":true,\"to\":8}\n");
  ev.finger = false;
  cdht_lines_json(buf, sizeof buf, 5, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"join_forwarded\",\"peer\":15,\"finger\":false}\n");
  /* Kinds without hops carry none. */
  ev = (cdht_event){ .kind = CDHT_EV_PEER_DEAD, .peer = P(5), .hops = 9, .finger = true };
  cdht_lines_json(buf, sizeof buf, 5, 3, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"peer_dead\",\"peer\":5}\n");
  /* The successor list, a pending entry as null; without a list, the count alone. */
  cdht_peer list[4] = { P(12), P(15), P(20), P(NOPE) };
  ev = (cdht_event){ .kind = CDHT_EV_SUCC_LIST, .seq = 4 };
  cdht_lines_json_list(buf, sizeof buf, 5, 10, &ev, list, 4);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":10,\"event\":\"successor_list\",\"count\":4,\"list\":[12,15,20,null]}\n");
  /* The list is read after the input that changed it: its length is the count (not the event's). */
  cdht_lines_json_list(buf, sizeof buf, 5, 10, &ev, list, 3);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":10,\"event\":\"successor_list\",\"count\":3,\"list\":[12,15,20]}\n");
  cdht_lines_json_list(buf, sizeof buf, 5, 10, &ev, list, 0);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":10,\"event\":\"successor_list\",\"count\":0,\"list\":[]}\n");
  cdht_lines_json(buf, sizeof buf, 5, 10, &ev);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":10,\"event\":\"successor_list\",\"count\":4}\n");
  /* Another kind ignores a list. */
  ev = (cdht_event){ .kind = CDHT_EV_PEER_DEAD, .peer = P(5) };
  cdht_lines_json_list(buf, sizeof buf, 5, 3, &ev, list, 4);
  assert_string_equal(buf, "{\"t_us\":5,\"self\":3,\"event\":\"peer_dead\",\"peer\":5}\n");
  /* The longest list of 64-bit ids fits the program's buffer (cli/main.c: 2048). */
  cdht_peer longest[CDHT_SUCC_MAX];
  for (int i = 0; i < CDHT_SUCC_MAX; i++) longest[i] = P(18446744073709551614ull);
  ev = (cdht_event){ .kind = CDHT_EV_SUCC_LIST, .seq = CDHT_SUCC_MAX };
  char big[2048];
  cdht_lines_json_list(big, sizeof big, UINT64_MAX, UINT64_MAX, &ev, longest, CDHT_SUCC_MAX);
  assert_true(strlen(big) < sizeof big - 1);
  assert_string_equal(big + strlen(big) - 24, ",18446744073709551614]}\n");
}

static void test_lines_status_successor_list(void **state) {
  (void)state;
  char buf[CDHT_LINES_STATUS_MAX];
  cdht_peer list[4] = { cdht_peer_make(12, cdht_addr_v4(0x7f000001u, 50012)),
                        cdht_peer_make(15, cdht_addr_v4(0x7f000001u, 50015)), P(NOPE),
                        cdht_peer_make(20, cdht_addr_v4(0xc6120003u, 4000)) };
  cdht_lines_status_successors(buf, sizeof buf, list, 4, 4);
  assert_string_equal(buf, "successor list (4 of 4): 12 127.0.0.1:50012, 15 127.0.0.1:50015, ? -, 20 198.18.0.3:4000\n");
  cdht_lines_status_successors(buf, sizeof buf, list, 2, 8);
  assert_string_equal(buf, "successor list (2 of 8): 12 127.0.0.1:50012, 15 127.0.0.1:50015\n");
  cdht_lines_status_successors(buf, sizeof buf, list, 0, 2);
  assert_string_equal(buf, "successor list (0 of 2):\n");
  /* The longest: 32 entries of 64-bit ids at IPv6 addresses. */
  uint8_t v6[16];
  memset(v6, 0xff, sizeof v6);
  cdht_peer longest[CDHT_SUCC_MAX];
  for (int i = 0; i < CDHT_SUCC_MAX; i++) longest[i] = cdht_peer_make(18446744073709551614ull, cdht_addr_v6(v6, 65535));
  cdht_lines_status_successors(buf, sizeof buf, longest, CDHT_SUCC_MAX, CDHT_SUCC_MAX);
  assert_true(strlen(buf) < sizeof buf - 1);
  assert_string_equal(buf + strlen(buf) - 3, "35\n");
  /* A short buffer is cut and stays terminated. */
  char small[20];
  cdht_lines_status_successors(small, sizeof small, list, 4, 4);
  assert_string_equal(small, "successor list (4 o");
}

static void test_lines_status_fingers(void **state) {
  (void)state;
  char buf[CDHT_LINES_STATUS_MAX];
  cdht_peer f[8] = { P(12), P(12), P(12), P(12), P(12), P(12), P(40), P(NOPE) };
  cdht_lines_status_fingers(buf, sizeof buf, f, 8, true);
  assert_string_equal(buf, "fingers: 0-5 -> 12, 6 -> 40, 7 -> ?\n");
  cdht_lines_status_fingers(buf, sizeof buf, f, 8, false);
  assert_string_equal(buf, "fingers: off\n");
  cdht_peer g[4] = { P(NOPE), P(NOPE), P(3), P(0) };
  cdht_lines_status_fingers(buf, sizeof buf, g, 4, true);
  assert_string_equal(buf, "fingers: 0-1 -> ?, 2 -> 3, 3 -> 0\n");
  cdht_lines_status_fingers(buf, sizeof buf, g, 1, true);
  assert_string_equal(buf, "fingers: 0 -> ?\n");
  /* 64 fingers, all different, of the largest ids: it fits. */
  cdht_peer big[64];
  for (int i = 0; i < 64; i++) big[i] = P(18446744073709551614ull - (uint64_t)i);
  cdht_lines_status_fingers(buf, sizeof buf, big, 64, true);
  assert_true(strlen(buf) < sizeof buf - 1);
  assert_string_equal(buf + strlen(buf) - 29, ", 63 -> 18446744073709551551\n");
}

static void test_lines_status_lookups(void **state) {
  (void)state;
  char buf[CDHT_LINES_STATUS_MAX];
  cdht_stats st;
  memset(&st, 0, sizeof st);
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 0, mean hops -; finger refreshes: 0\n");
  st.answers = 3;
  st.answer_hops = 7;
  st.finger_lookups = 12;
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 3, mean hops 2.33; finger refreshes: 12\n");
  st.answers = 8;
  st.answer_hops = 21; /* 2.625: half up */
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 8, mean hops 2.63; finger refreshes: 12\n");
  st.answers = 3;
  st.answer_hops = 5; /* 1.666... */
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 3, mean hops 1.67; finger refreshes: 12\n");
  st.answers = 200;
  st.answer_hops = 399; /* 1.995 rounds up into the whole */
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 200, mean hops 2.00; finger refreshes: 12\n");
  st.answers = 1;
  st.answer_hops = 0;
  cdht_lines_status_lookups(buf, sizeof buf, &st);
  assert_string_equal(buf, "requests answered: 1, mean hops 0.00; finger refreshes: 12\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lines_join_failures),
    cmocka_unit_test(test_lines_2020_wording),
    cmocka_unit_test(test_lines_transfer_wording),
    cmocka_unit_test(test_lines_ping_request),
    cmocka_unit_test(test_lines_ping_response),
    cmocka_unit_test(test_lines_request_sent),
    cmocka_unit_test(test_lines_request_forwarded_is_two_lines),
    cmocka_unit_test(test_lines_file_here),
    cmocka_unit_test(test_lines_response_sent),
    cmocka_unit_test(test_lines_response_received),
    cmocka_unit_test(test_lines_departing),
    cmocka_unit_test(test_lines_successors_is_two_lines),
    cmocka_unit_test(test_lines_peer_dead),
    cmocka_unit_test(test_lines_files_keep_four_digits),
    cmocka_unit_test(test_lines_print_any_name),
    cmocka_unit_test(test_lines_every_stdout_kind_ends_in_newline),
    cmocka_unit_test(test_lines_diagnostics_go_to_stderr),
    cmocka_unit_test(test_lines_request_retried),
    cmocka_unit_test(test_lines_request_failed_seconds),
    cmocka_unit_test(test_lines_ring_broken_and_leave_unconfirmed),
    cmocka_unit_test(test_lines_left_is_silent),
    cmocka_unit_test(test_lines_short_buffer_is_cut_safely),
    cmocka_unit_test(test_lines_longest_fits),
    cmocka_unit_test(test_lines_json_fields_follow_the_kind),
    cmocka_unit_test(test_lines_never_print_the_sentinel),
    cmocka_unit_test(test_lines_store_retried),
    cmocka_unit_test(test_lines_never_answered),
    cmocka_unit_test(test_lines_no_content_notes),
    cmocka_unit_test(test_lines_finger_hops_name_the_peer),
    cmocka_unit_test(test_lines_without_finger_the_classic_lines_stay),
    cmocka_unit_test(test_lines_json_hops_finger_and_list),
    cmocka_unit_test(test_lines_status_successor_list),
    cmocka_unit_test(test_lines_status_fingers),
    cmocka_unit_test(test_lines_status_lookups),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

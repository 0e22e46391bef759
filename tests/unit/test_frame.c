/* Unit tests for src/core/frame.h: TCP frame reassembly (docs/protocol.md §2).  Every chunk
 * handed to the framer is an exact-size heap copy, so AddressSanitizer catches over-reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdht/err.h"
#include "core/frame.h"
#include "core/wire/msg.h"

#define MAX_FRAMES 16
#define STREAM_MAX (4 * CDHT_FRAME_MAX)

/* Records every frame the framer delivers; can stop the feed at the Nth frame. */
typedef struct {
  size_t n;                          /* frames delivered */
  size_t len[MAX_FRAMES];            /* their lengths */
  uint8_t data[MAX_FRAMES][CDHT_FRAME_MAX];
  size_t stop_at;                    /* return stop_rc when frame number stop_at arrives (1-based); 0 = never */
  int stop_rc;
} recorder;

static int record(void *ctx, const uint8_t *frame, size_t len) {
  recorder *r = ctx;
  assert_true(r->n < MAX_FRAMES);
  assert_true(len >= CDHT_HDR_LEN && len <= CDHT_FRAME_MAX);
  memcpy(r->data[r->n], frame, len);
  r->len[r->n] = len;
  r->n++;
  return r->stop_at && r->n == r->stop_at ? r->stop_rc : 0;
}

/* A stream of frames laid end to end. */
typedef struct {
  uint8_t bytes[STREAM_MAX];
  size_t len;
  size_t nframes;
  size_t start[MAX_FRAMES], flen[MAX_FRAMES];
} stream;

static void add_msg(stream *s, const cdht_msg *m) {
  cdht_ssize n = cdht_msg_encode(s->bytes + s->len, sizeof s->bytes - s->len, m);
  assert_true(n > 0);
  s->start[s->nframes] = s->len;
  s->flen[s->nframes++] = (size_t)n;
  s->len += (size_t)n;
}

/* A frame the framer accepts but the decoder need not: version 2, any type, |body| bytes. */
static void add_raw(stream *s, uint8_t type, size_t body, uint8_t fill) {
  assert_true(s->len + CDHT_HDR_LEN + body <= sizeof s->bytes);
  uint8_t *p = s->bytes + s->len;
  p[0] = CDHT_WIRE_V2;
  p[1] = type;
  p[2] = (uint8_t)(body >> 8);
  p[3] = (uint8_t)body;
  memset(p + CDHT_HDR_LEN, fill, body);
  s->start[s->nframes] = s->len;
  s->flen[s->nframes++] = CDHT_HDR_LEN + body;
  s->len += CDHT_HDR_LEN + body;
}

/* Peer |id| of the classic forms: 127.0.0.1:50000+id. */
static cdht_peer classic_peer(cdht_id id) { return cdht_peer_make(id, cdht_addr_v4(0x7f000001u, (uint16_t)(50000 + id))); }

/* Three v2 messages of different lengths: a named request, a bare token, a successor list (one
 * record IPv6, so that the frames differ in their records' lengths too). */
static void three_messages(stream *s) {
  memset(s, 0, sizeof *s);
  cdht_msg a = { .type = CDHT_MSG_FILE_REQ, .from = classic_peer(3), .origin = classic_peer(1), .seq = 9, .hops = 2 };
  assert_int_equal(cdht_name_set(&a.name, "2012", 4), 0);
  cdht_msg b = { .type = CDHT_MSG_DEPART_ACK, .from = classic_peer(4) };
  static const uint8_t v6[16] = { 0xfd, 0x00, 0xcd, 0x47, [15] = 10 };
  cdht_msg c = { .type = CDHT_MSG_SUCC_REPLY, .from = classic_peer(5), .seq = 7, .nsucc = 2,
                 .succ = { classic_peer(8), cdht_peer_make(10, cdht_addr_v6(v6, 4000)) } };
  add_msg(s, &a);
  add_msg(s, &b);
  add_msg(s, &c);
}

/* Feeds bytes [from, to) of |s| as one exact-size heap chunk. */
static int feed_range(cdht_framer *f, const stream *s, size_t from, size_t to, recorder *r) {
  size_t n = to - from;
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  if (n) memcpy(p, s->bytes + from, n);
  int rc = cdht_framer_feed(f, p, n, record, r);
  free(p);
  return rc;
}

static void assert_got_frames(const recorder *r, const stream *s) {
  assert_int_equal(r->n, s->nframes);
  for (size_t i = 0; i < s->nframes; i++) {
    assert_int_equal(r->len[i], s->flen[i]);
    assert_memory_equal(r->data[i], s->bytes + s->start[i], s->flen[i]);
  }
}

static void test_frame_whole_frames_one_feed_each(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  for (size_t i = 0; i < s.nframes; i++) {
    assert_int_equal(feed_range(&f, &s, s.start[i], s.start[i] + s.flen[i], r), 0);
    assert_int_equal(r->n, i + 1);
    assert_int_equal(f.len, 0);
  }
  assert_got_frames(r, &s);
  free(r);
}

static void test_frame_several_frames_in_one_chunk(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  assert_int_equal(feed_range(&f, &s, 0, s.len, r), 0);
  assert_got_frames(r, &s);
  assert_int_equal(f.len, 0);
  free(r);
}

static void test_frame_byte_by_byte(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  for (size_t i = 0; i < s.len; i++) {
    assert_int_equal(feed_range(&f, &s, i, i + 1, r), 0);
    /* A frame comes out exactly when its last byte goes in. */
    size_t done = 0;
    while (done < s.nframes && s.start[done] + s.flen[done] <= i + 1) done++;
    assert_int_equal(r->n, done);
  }
  assert_got_frames(r, &s);
  assert_int_equal(f.len, 0);
  free(r);
}

static void test_frame_empty_feed_does_nothing(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  assert_int_equal(feed_range(&f, &s, 0, 0, r), 0);
  assert_int_equal(r->n, 0);
  assert_int_equal(feed_range(&f, &s, 0, 2, r), 0);
  assert_int_equal(feed_range(&f, &s, 2, 2, r), 0);
  assert_int_equal(feed_range(&f, &s, 2, s.len, r), 0);
  assert_got_frames(r, &s);
  free(r);
}

static void test_frame_every_split_of_two_frames(void **state) {
  (void)state;
  stream s;
  memset(&s, 0, sizeof s);
  cdht_msg a = { .type = CDHT_MSG_PING, .from = classic_peer(1), .seq = 2, .role = CDHT_ROLE_FIRST };
  cdht_msg b = { .type = CDHT_MSG_FILE_RESP, .from = classic_peer(8), .seq = 3 };
  assert_int_equal(cdht_name_set(&b.name, "0010", 4), 0);
  add_msg(&s, &a);
  add_msg(&s, &b);
  recorder *r = malloc(sizeof *r);
  assert_non_null(r);
  for (size_t cut = 0; cut <= s.len; cut++) {
    memset(r, 0, sizeof *r);
    cdht_framer f;
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, cut, r), 0);
    assert_int_equal(r->n, (size_t)(cut >= s.flen[0]) + (size_t)(cut == s.len));
    assert_int_equal(feed_range(&f, &s, cut, s.len, r), 0);
    assert_got_frames(r, &s);
    assert_int_equal(f.len, 0);
  }
  free(r);
}

static void test_frame_every_three_way_split(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  recorder *r = malloc(sizeof *r);
  assert_non_null(r);
  for (size_t i = 0; i <= s.len; i++)
    for (size_t j = i; j <= s.len; j++) {
      memset(r, 0, sizeof *r);
      cdht_framer f;
      cdht_framer_init(&f);
      assert_int_equal(feed_range(&f, &s, 0, i, r), 0);
      assert_int_equal(feed_range(&f, &s, i, j, r), 0);
      assert_int_equal(feed_range(&f, &s, j, s.len, r), 0);
      assert_got_frames(r, &s);
    }
  free(r);
}

/* The framer only cuts frames; judging the type and body is the decoder's job. */
static void test_frame_passes_header_only_and_unknown_types(void **state) {
  (void)state;
  stream s;
  memset(&s, 0, sizeof s);
  add_raw(&s, 0, 0, 0);         /* a bare header */
  add_raw(&s, 0xee, 5, 0x5a);   /* unknown type */
  add_raw(&s, CDHT_MSG_PING, 0, 0);
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    cdht_framer f;
    cdht_framer_init(&f);
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    if (bytewise)
      for (size_t i = 0; i < s.len; i++) assert_int_equal(feed_range(&f, &s, i, i + 1, r), 0);
    else
      assert_int_equal(feed_range(&f, &s, 0, s.len, r), 0);
    assert_got_frames(r, &s);
    free(r);
  }
}

/* The largest frame the framer buffers is CDHT_FRAME_MAX bytes, header included. */
static void test_frame_largest_frame_accepted(void **state) {
  (void)state;
  stream *s = calloc(1, sizeof *s);
  assert_non_null(s);
  add_raw(s, CDHT_MSG_PING, CDHT_FRAME_MAX - CDHT_HDR_LEN, 0x77);
  for (size_t cut = 0; cut <= s->len; cut += 97) {
    cdht_framer f;
    cdht_framer_init(&f);
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(feed_range(&f, s, 0, cut, r), 0);
    assert_int_equal(feed_range(&f, s, cut, s->len, r), 0);
    assert_got_frames(r, s);
    free(r);
  }
  free(s);
}

static void test_frame_too_big_header(void **state) {
  (void)state;
  const unsigned claims[] = { CDHT_FRAME_MAX - CDHT_HDR_LEN + 1, CDHT_FRAME_MAX, 0xffff };
  for (size_t c = 0; c < sizeof claims / sizeof claims[0]; c++) {
    stream s;
    memset(&s, 0, sizeof s);
    const uint8_t hdr[] = { CDHT_WIRE_V2, CDHT_MSG_PING, (uint8_t)(claims[c] >> 8), (uint8_t)claims[c] };
    memcpy(s.bytes, hdr, sizeof hdr);
    s.len = sizeof hdr + 8; /* some of the body too */
    /* Whole header in one chunk (fast path). */
    cdht_framer f;
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, s.len, r), CDHT_ERR_TOOBIG);
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, CDHT_HDR_LEN, r), CDHT_ERR_TOOBIG);
    /* Header split (slow path): refused as soon as the header is complete. */
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, 2, r), 0);
    assert_int_equal(feed_range(&f, &s, 2, s.len, r), CDHT_ERR_TOOBIG);
    cdht_framer_init(&f);
    for (size_t i = 0; i + 1 < CDHT_HDR_LEN; i++) assert_int_equal(feed_range(&f, &s, i, i + 1, r), 0);
    assert_int_equal(feed_range(&f, &s, CDHT_HDR_LEN - 1, CDHT_HDR_LEN, r), CDHT_ERR_TOOBIG);
    assert_int_equal(r->n, 0);
    free(r);
  }
}

/* A good frame first, then a bad header: the good one is delivered, then the error. */
static void test_frame_too_big_after_good_frame(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  const size_t good = s.flen[0];
  const uint8_t hdr[] = { CDHT_WIRE_V2, CDHT_MSG_PING, 0xff, 0xff };
  memcpy(s.bytes + good, hdr, sizeof hdr);
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  assert_int_equal(feed_range(&f, &s, 0, good + sizeof hdr, r), CDHT_ERR_TOOBIG);
  assert_int_equal(r->n, 1);
  assert_memory_equal(r->data[0], s.bytes, good);
  free(r);
}

static void test_frame_bad_version(void **state) {
  (void)state;
  const uint8_t versions[] = { 0, 1, 3, 0xff }; /* 1: a version-1 peer is refused, not misread */
  for (size_t v = 0; v < sizeof versions; v++) {
    stream s;
    three_messages(&s);
    s.bytes[0] = versions[v];
    cdht_framer f;
    recorder *r = calloc(1, sizeof *r);
    assert_non_null(r);
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, s.len, r), CDHT_ERR_VERSION);
    cdht_framer_init(&f);
    for (size_t i = 0; i + 1 < CDHT_HDR_LEN; i++) assert_int_equal(feed_range(&f, &s, i, i + 1, r), 0);
    assert_int_equal(feed_range(&f, &s, CDHT_HDR_LEN - 1, CDHT_HDR_LEN, r), CDHT_ERR_VERSION);
    assert_int_equal(r->n, 0);

    /* The second frame's version is bad, whether it arrives with the first or on its own. */
    three_messages(&s);
    s.bytes[s.start[1]] = versions[v];
    memset(r, 0, sizeof *r);
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, s.len, r), CDHT_ERR_VERSION);
    assert_int_equal(r->n, 1);
    memset(r, 0, sizeof *r);
    cdht_framer_init(&f);
    assert_int_equal(feed_range(&f, &s, 0, s.start[1] + 1, r), 0);
    assert_int_equal(r->n, 1);
    assert_int_equal(feed_range(&f, &s, s.start[1] + 1, s.len, r), CDHT_ERR_VERSION);
    assert_int_equal(r->n, 1);
    free(r);
  }
}

static void test_frame_callback_return_stops_feed(void **state) {
  (void)state;
  stream s;
  three_messages(&s);
  /* One chunk: frame 2's callback says stop; frame 3 is not delivered. */
  cdht_framer f;
  cdht_framer_init(&f);
  recorder *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->stop_at = 2;
  r->stop_rc = 7;
  assert_int_equal(feed_range(&f, &s, 0, s.len, r), 7);
  assert_int_equal(r->n, 2);
  assert_memory_equal(r->data[1], s.bytes + s.start[1], s.flen[1]);

  /* Byte by byte (the buffered path): the feed that completes frame 1 returns the value. */
  memset(r, 0, sizeof *r);
  r->stop_at = 1;
  r->stop_rc = -42;
  cdht_framer_init(&f);
  for (size_t i = 0; i + 1 < s.flen[0]; i++) assert_int_equal(feed_range(&f, &s, i, i + 1, r), 0);
  assert_int_equal(feed_range(&f, &s, s.flen[0] - 1, s.len, r), -42);
  assert_int_equal(r->n, 1);
  assert_memory_equal(r->data[0], s.bytes, s.flen[0]);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_frame_whole_frames_one_feed_each),
    cmocka_unit_test(test_frame_several_frames_in_one_chunk),
    cmocka_unit_test(test_frame_byte_by_byte),
    cmocka_unit_test(test_frame_empty_feed_does_nothing),
    cmocka_unit_test(test_frame_every_split_of_two_frames),
    cmocka_unit_test(test_frame_every_three_way_split),
    cmocka_unit_test(test_frame_passes_header_only_and_unknown_types),
    cmocka_unit_test(test_frame_largest_frame_accepted),
    cmocka_unit_test(test_frame_too_big_header),
    cmocka_unit_test(test_frame_too_big_after_good_frame),
    cmocka_unit_test(test_frame_bad_version),
    cmocka_unit_test(test_frame_callback_return_stops_feed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

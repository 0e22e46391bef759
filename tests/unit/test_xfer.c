/* Unit tests for src/io/xfer.h: the content digest (docs/protocol.md §9) and the sink, both in
 * one go and on a real libuv loop whose thread pool writes and hashes the leaves.  Everything
 * runs twice: with libcrypto's BLAKE2b, then with libsodium's, which must agree to the bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include "core/rng.h"
#include "io/blake2b.h"
#include "io/xfer.h"

#define LEAF CDHT_XFER_LEAF

static char dir[] = "/tmp/cdht-test-xfer-XXXXXX";

static void path_in_dir(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", dir, name); }

static uint8_t *pattern(size_t n, uint64_t seed) {
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  cdht_rng r;
  cdht_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)cdht_rng_next(&r);
  return p;
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n > 0) assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void assert_file_is(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *got = malloc(n + 1);
  assert_int_equal(fread(got, 1, n + 1, f), n);
  fclose(f);
  if (n > 0) assert_memory_equal(got, p, n);
  free(got);
}

/* Nothing but |keep| (or nothing) is left in the directory: no temporary file survives. */
static void assert_dir_holds_only(const char *keep) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (keep && !strcmp(e->d_name, keep)) continue;
    fail_msg("left behind: %s", e->d_name);
  }
  closedir(d);
}

static void digest_of(const uint8_t *p, size_t n, uint8_t out[CDHT_DIGEST_LEN]) {
  char src[512], err[256];
  path_in_dir(src, sizeof src, "src");
  write_file(src, p, n);
  uint64_t size = 0;
  assert_int_equal(cdht_xfer_digest_file(src, &size, out, err, sizeof err), 0);
  assert_int_equal(size, n);
  unlink(src);
}

static void hex(const uint8_t d[CDHT_DIGEST_LEN], char out[2 * CDHT_DIGEST_LEN + 1]) {
  for (int i = 0; i < CDHT_DIGEST_LEN; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Pins the format written in docs/protocol.md; the values come from Python's hashlib.blake2b. */
static void test_digest_known_answers(void **state) {
  (void)state;
  uint8_t d[CDHT_DIGEST_LEN];
  char h[2 * CDHT_DIGEST_LEN + 1];
  digest_of(NULL, 0, d);
  hex(d, h);
  assert_string_equal(h, "e6af4ee4458c7a51a060f9231a942fb98fa29831ca26b1159a4e31ab11d1497a");
  digest_of((const uint8_t *)"abc", 3, d);
  hex(d, h);
  assert_string_equal(h, "78cf2165df7377a9e4228e4f7b850240d7df26d292453250925fd08948cb240f");
  size_t n = LEAF + 5;
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7);
  digest_of(p, n, d);
  hex(d, h);
  assert_string_equal(h, "3b047a9ca1079a3f94b33eadc1995085134437e1a790044d7b8824b3c5fb7a99");
  free(p);
}

static void test_digest_tells_a_prefix_and_a_swap_apart(void **state) {
  (void)state;
  size_t n = 2 * LEAF;
  uint8_t *p = pattern(n, 1), *q = malloc(n);
  uint8_t whole[CDHT_DIGEST_LEN], prefix[CDHT_DIGEST_LEN], swapped[CDHT_DIGEST_LEN];
  digest_of(p, n, whole);
  digest_of(p, n - 1, prefix);
  memcpy(q, p + LEAF, LEAF); /* the two leaves in the other order */
  memcpy(q + LEAF, p, LEAF);
  digest_of(q, n, swapped);
  assert_memory_not_equal(whole, prefix, CDHT_DIGEST_LEN);
  assert_memory_not_equal(whole, swapped, CDHT_DIGEST_LEN);
  free(p);
  free(q);
}

static const size_t sizes[] = { 0, 1, LEAF - 1, LEAF, LEAF + 1, 3 * LEAF + 5, 9 * LEAF };

static void test_sink_in_one_go(void **state) {
  (void)state;
  char dst[512], err[256];
  path_in_dir(dst, sizeof dst, "dst");
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    uint8_t *p = pattern(n, k), d[CDHT_DIGEST_LEN];
    digest_of(p, n, d);
    cdht_xfer_sink *s;
    assert_int_equal(cdht_xfer_sink_open(&s, dst, n, d, err, sizeof err), 0);
    int rc = n == 0 ? 1 : 0;
    for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 + 1) {
      if (step > n - off) step = n - off;
      rc = cdht_xfer_sink_write(s, p + off, step);
      assert_int_equal(rc, off + step == n ? 1 : 0);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(cdht_xfer_sink_finish(s, err, sizeof err), 0);
    assert_file_is(dst, p, n);
    assert_dir_holds_only("dst");
    unlink(dst);
    free(p);
  }
}

/* ---- on a loop ---- */

typedef struct {
  int calls, status;
  int rooms;
  char err[512];
} outcome;

static void on_done(void *ctx, int status, const char *err) {
  outcome *o = ctx;
  o->calls++;
  o->status = status;
  snprintf(o->err, sizeof o->err, "%s", err);
}

static void on_room(void *ctx) { ((outcome *)ctx)->rooms++; }

/* Feeds |p| the way the network does: the first bytes copied in after the header, the rest
 * received straight into the sink's space, in uneven pieces, waiting for room when it is full.
 * Returns the last rc. */
static int feed(uv_loop_t *loop, cdht_xfer_sink *s, outcome *o, const uint8_t *p, size_t n) {
  size_t first = n < 1000 ? n : 1000;
  int rc = cdht_xfer_sink_put(s, p, first);
  size_t off = first, piece = 4096;
  while (off < n && rc == 0) {
    size_t room;
    uint8_t *dst = cdht_xfer_sink_space(s, &room);
    if (!dst) {
      int before = o->rooms;
      while (o->rooms == before && o->calls == 0) uv_run(loop, UV_RUN_ONCE);
      if (o->calls) return -1;
      continue;
    }
    size_t k = piece < room ? piece : room;
    if (k > n - off) k = n - off;
    memcpy(dst, p + off, k);
    rc = cdht_xfer_sink_received(s, k);
    off += k;
    piece = piece * 5 % 300007 + 1;
  }
  return rc;
}

/* A sink on |loop| for |n| bytes that must hash to |d|, saved as "dst" in the test directory. */
static cdht_xfer_sink *sink_on_loop(uv_loop_t *loop, outcome *o, size_t n, const uint8_t d[CDHT_DIGEST_LEN]) {
  char dst[512], err[256];
  path_in_dir(dst, sizeof dst, "dst");
  cdht_xfer_sink *s;
  assert_int_equal(cdht_xfer_sink_open(&s, dst, n, d, err, sizeof err), 0);
  cdht_xfer_sink_on_loop(s, loop, on_done, on_room, o);
  return s;
}

static void test_sink_on_a_loop(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char dst[512];
  path_in_dir(dst, sizeof dst, "dst");
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    uint8_t *p = pattern(n, 100 + k), d[CDHT_DIGEST_LEN];
    digest_of(p, n, d);
    outcome o = { 0 };
    cdht_xfer_sink *s = sink_on_loop(&loop, &o, n, d);
    assert_int_equal(feed(&loop, s, &o, p, n), 1);
    assert_int_equal(o.calls, 0); /* never from inside a call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, 0);
    assert_file_is(dst, p, n);
    assert_dir_holds_only("dst");
    unlink(dst);
    free(p);
  }
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sink_on_a_loop_refuses_a_changed_byte(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  size_t n = 5 * LEAF + 17;
  uint8_t *p = pattern(n, 7), d[CDHT_DIGEST_LEN];
  digest_of(p, n, d);
  p[3 * LEAF + 2] ^= 1;
  outcome o = { 0 };
  cdht_xfer_sink *s = sink_on_loop(&loop, &o, n, d);
  assert_int_equal(feed(&loop, s, &o, p, n), 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, -1);
  assert_non_null(strstr(o.err, "does not match its digest"));
  assert_dir_holds_only(NULL);
  free(p);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sink_on_a_loop_refuses_extra_bytes_and_aborts_cleanly(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  size_t n = 2 * LEAF;
  uint8_t *p = pattern(n + 10, 9), d[CDHT_DIGEST_LEN];
  digest_of(p, n, d);
  outcome o = { 0 };
  cdht_xfer_sink *s = sink_on_loop(&loop, &o, n, d);
  assert_int_equal(feed(&loop, s, &o, p, LEAF + 3), 0); /* a leaf is on the pool now */
  assert_int_equal(cdht_xfer_sink_put(s, p, LEAF), -1);  /* more than the size announced */
  cdht_xfer_sink_abort(s);                               /* with work in flight */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 0); /* no word after an abort */
  assert_dir_holds_only(NULL);
  free(p);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- whole-file jobs on the pool ---- */

typedef struct {
  int calls, status, fd;
  cdht_xfer_stamp st;
  char err[512];
} job_outcome;

static void on_job(void *ctx, int status, int fd, const cdht_xfer_stamp *st, const char *err) {
  job_outcome *o = ctx;
  o->calls++;
  o->status = status;
  o->fd = fd;
  o->st = *st;
  snprintf(o->err, sizeof o->err, "%s", err);
}

static void test_hash_job_reports_from_the_loop_with_the_file_open(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char src[512], err[256];
  path_in_dir(src, sizeof src, "src");
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    uint8_t *p = pattern(n, 200 + k), d[CDHT_DIGEST_LEN];
    digest_of(p, n, d);
    write_file(src, p, n);
    struct stat sb;
    assert_int_equal(stat(src, &sb), 0);
    job_outcome o = { 0 };
    cdht_xfer_job *j;
    assert_int_equal(cdht_xfer_hash(&j, &loop, src, on_job, &o, err, sizeof err), 0);
    assert_int_equal(o.calls, 0); /* never from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.st.size, n);
    assert_true(o.st.mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    assert_memory_equal(o.st.digest, d, CDHT_DIGEST_LEN);
    assert_true(o.fd >= 0);
    uint8_t first = 0; /* the file itself, open for reading */
    assert_int_equal(pread(o.fd, &first, 1, 0), n > 0 ? 1 : 0);
    if (n > 0) assert_int_equal(first, p[0]);
    close(o.fd);
    unlink(src);
    free(p);
  }
  job_outcome o = { 0 };
  cdht_xfer_job *j;
  assert_int_equal(cdht_xfer_hash(&j, &loop, src, on_job, &o, err, sizeof err), 0); /* gone now */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, -1);
  assert_int_equal(o.fd, -1);
  assert_non_null(strstr(o.err, "open "));
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_copy_job_copies_hashes_and_makes_the_copy_private(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char src[512], dst[512], err[256];
  path_in_dir(src, sizeof src, "src");
  path_in_dir(dst, sizeof dst, "dst");
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    uint8_t *p = pattern(n, 300 + k), d[CDHT_DIGEST_LEN];
    digest_of(p, n, d);
    write_file(src, p, n);
    assert_int_equal(chmod(src, 0644), 0);
    job_outcome o = { 0 };
    cdht_xfer_job *j;
    assert_int_equal(cdht_xfer_copy(&j, &loop, src, dst, on_job, &o, err, sizeof err), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.fd, -1);
    assert_int_equal(o.st.size, n);
    assert_memory_equal(o.st.digest, d, CDHT_DIGEST_LEN);
    struct stat sb;
    assert_int_equal(stat(dst, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_true(o.st.mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec); /* the copy's */
    assert_file_is(dst, p, n);
    unlink(src);
    assert_dir_holds_only("dst");
    unlink(dst);
    free(p);
  }
  job_outcome o = { 0 };
  cdht_xfer_job *j;
  assert_int_equal(cdht_xfer_copy(&j, &loop, src, dst, on_job, &o, err, sizeof err), 0); /* no source */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.status, -1);
  assert_dir_holds_only(NULL);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_a_cancelled_copy_reports_and_leaves_nothing(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char src[512], dst[512], err[256];
  path_in_dir(src, sizeof src, "src");
  path_in_dir(dst, sizeof dst, "dst");
  int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, 256 << 20), 0); /* sparse: cheap to make, a while to copy */
  close(fd);
  job_outcome o = { 0 };
  cdht_xfer_job *j;
  assert_int_equal(cdht_xfer_copy(&j, &loop, src, dst, on_job, &o, err, sizeof err), 0);
  cdht_xfer_job_cancel(j);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.status, -1);
  assert_string_equal(o.err, "cancelled");
  unlink(src);
  assert_dir_holds_only(NULL);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- digest records ---- */

static void test_records_round_trip_and_refuse_anything_else(void **state) {
  (void)state;
  char path[512], rec[600], want[600];
  path_in_dir(path, sizeof path, "2012.pdf");
  assert_int_equal(cdht_xfer_record_path(path, rec, sizeof rec), 0);
  path_in_dir(want, sizeof want, ".2012.pdf.digest");
  assert_string_equal(rec, want);
  assert_int_equal(cdht_xfer_record_path("0007", rec, sizeof rec), 0);
  assert_string_equal(rec, ".0007.digest");
  assert_int_equal(cdht_xfer_record_path(path, rec, 10), -1);

  cdht_xfer_stamp st = { .size = 3ull << 30, .mtime_ns = 1700000000123456789 }, got;
  for (int i = 0; i < CDHT_DIGEST_LEN; i++) st.digest[i] = (uint8_t)(i * 37 + 1);
  assert_int_equal(cdht_xfer_record_load(path, &got), -1); /* none yet */
  assert_int_equal(cdht_xfer_record_save(path, &st), 0);
  memset(&got, 0, sizeof got);
  assert_int_equal(cdht_xfer_record_load(path, &got), 0);
  assert_true(got.size == st.size && got.mtime_ns == st.mtime_ns);
  assert_memory_equal(got.digest, st.digest, CDHT_DIGEST_LEN);
  path_in_dir(rec, sizeof rec, ".2012.pdf.digest");
  struct stat sb;
  assert_int_equal(stat(rec, &sb), 0);
  assert_int_equal(sb.st_mode & 07777, 0600);
  assert_dir_holds_only(".2012.pdf.digest"); /* no temporary left */

  /* A record is a cache: anything but one well-formed line is no record. */
  static const char *bad[] = {
    "",
    "cdht-digest 1 10 20 ",
    "cdht-digest 2 10 20 0000000000000000000000000000000000000000000000000000000000000000\n",
    "cdht-digest 1 10 20 000000000000000000000000000000000000000000000000000000000000000\n",
    "cdht-digest 1 10 20 0000000000000000000000000000000000000000000000000000000000000000",
    "cdht-digest 1 10 20 0000000000000000000000000000000000000000000000000000000000000000\nx",
    "cdht-digest 1 10 20 000000000000000000000000000000000000000000000000000000000000000G\n",
    "cdht-digest 1 -10 20 0000000000000000000000000000000000000000000000000000000000000000\n",
    "cdht-digest 1 99999999999999999999 20 0000000000000000000000000000000000000000000000000000000000000000\n",
    "cdht-digest 1 10  20 0000000000000000000000000000000000000000000000000000000000000000\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(rec, (const uint8_t *)bad[i], strlen(bad[i]));
    assert_int_equal(cdht_xfer_record_load(path, &got), -1);
  }
  const char *good = "cdht-digest 1 10 20 00000000000000000000000000000000000000000000000000000000000000ff\n";
  write_file(rec, (const uint8_t *)good, strlen(good));
  assert_int_equal(cdht_xfer_record_load(path, &got), 0);
  assert_true(got.size == 10 && got.mtime_ns == 20 && got.digest[CDHT_DIGEST_LEN - 1] == 0xff);
  unlink(rec);
}

static int setup(void **state) {
  (void)state;
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return rmdir(dir);
}

static int use_libsodium(void **state) {
  (void)state;
  cdht_blake2b_force_libsodium(true);
  return strcmp(cdht_blake2b_library(), "libsodium") == 0 ? setup(state) : -1;
}

static int use_libcrypto(void **state) {
  (void)state;
  cdht_blake2b_force_libsodium(false);
  /* setup.sh installs libssl-dev, and with it libcrypto: it must have been found */
  return strcmp(cdht_blake2b_library(), "libcrypto") == 0 ? setup(state) : -1;
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_digest_known_answers),
    cmocka_unit_test(test_digest_tells_a_prefix_and_a_swap_apart),
    cmocka_unit_test(test_sink_in_one_go),
    cmocka_unit_test(test_sink_on_a_loop),
    cmocka_unit_test(test_sink_on_a_loop_refuses_a_changed_byte),
    cmocka_unit_test(test_sink_on_a_loop_refuses_extra_bytes_and_aborts_cleanly),
    cmocka_unit_test(test_hash_job_reports_from_the_loop_with_the_file_open),
    cmocka_unit_test(test_copy_job_copies_hashes_and_makes_the_copy_private),
    cmocka_unit_test(test_a_cancelled_copy_reports_and_leaves_nothing),
    cmocka_unit_test(test_records_round_trip_and_refuse_anything_else),
  };
  int failed = cmocka_run_group_tests_name("libcrypto", tests, use_libcrypto, teardown);
  strcpy(dir, "/tmp/cdht-test-xfer-XXXXXX");
  return failed + cmocka_run_group_tests_name("libsodium", tests, use_libsodium, teardown);
}

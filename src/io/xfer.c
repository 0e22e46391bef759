#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/blake2b.h"

#define LEAF CDHT_XFER_LEAF
#define SLOTS 4 /* leaf buffers per transfer on a loop: enough to keep both cores hashing */

/* ---- the digest: a tree of BLAKE2b-512 hashes, each cut to 256 bits ----
 *
 * leaf i = BLAKE2b-512(0x00 || i as u64 LE || its bytes)[0..32)
 * root   = BLAKE2b-512(0x01 || size as u64 LE || leaf 0 || leaf 1 || ...)[0..32)
 *
 * The first byte keeps a leaf from passing for a root (as in RFC 6962's Merkle trees), the index
 * keeps leaves in place, the size keeps a file from passing for its own prefix.  BLAKE2b-512 is
 * what both libcrypto and libsodium compute at full length (blake2b.h says which runs). */

typedef cdht_blake2b hasher;

static bool h_begin(hasher *h, uint8_t tag, uint64_t v) {
  uint8_t head[9] = { tag };
  for (int i = 0; i < 8; i++) head[1 + i] = (uint8_t)(v >> (8 * i));
  return cdht_blake2b_init(h) && cdht_blake2b_update(h, head, sizeof head);
}

static bool h_update(hasher *h, const uint8_t *p, size_t n) { return cdht_blake2b_update(h, p, n); }

static bool h_end(hasher *h, uint8_t out[CDHT_DIGEST_LEN]) {
  uint8_t full[CDHT_BLAKE2B_LEN];
  if (!cdht_blake2b_final(h, full)) return false;
  memcpy(out, full, CDHT_DIGEST_LEN);
  return true;
}

static uint64_t leaf_count(uint64_t size) { return size / LEAF + (size % LEAF != 0); }

static size_t leaf_len(uint64_t size, uint64_t idx) {
  uint64_t left = size - idx * LEAF;
  return left < LEAF ? (size_t)left : LEAF;
}

/* The same digest, computed as the bytes stream by, on one thread. */
typedef struct tree {
  hasher *root, *leaf;
  uint64_t idx;
  size_t fill;
  bool ok;                    /* every hash call succeeded */
} tree;

static bool tree_init(tree *t, uint64_t size) {
  t->root = cdht_blake2b_new();
  t->leaf = cdht_blake2b_new();
  t->idx = 0;
  t->fill = 0;
  t->ok = t->root && t->leaf && h_begin(t->root, 1, size) && h_begin(t->leaf, 0, 0);
  return t->ok;
}

static void tree_free(tree *t) {
  cdht_blake2b_free(t->root);
  cdht_blake2b_free(t->leaf);
  t->root = t->leaf = NULL;
}

static void tree_fold_leaf(tree *t) {
  uint8_t d[CDHT_DIGEST_LEN];
  t->ok = t->ok && h_end(t->leaf, d) && h_update(t->root, d, sizeof d) && h_begin(t->leaf, 0, ++t->idx);
  t->fill = 0;
}

static void tree_update(tree *t, const uint8_t *p, size_t n) {
  while (n > 0) {
    size_t k = n < LEAF - t->fill ? n : LEAF - t->fill;
    t->ok = t->ok && h_update(t->leaf, p, k);
    t->fill += k;
    p += k;
    n -= k;
    if (t->fill == LEAF) tree_fold_leaf(t);
  }
}

static bool tree_final(tree *t, uint8_t out[CDHT_DIGEST_LEN]) {
  if (t->fill > 0) tree_fold_leaf(t);
  return t->ok && h_end(t->root, out);
}

static int64_t stat_mtime_ns(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Temporary names must differ between the jobs on the pool's threads as well. */
static atomic_uint tmp_counter;

#define CHUNK (1u << 20) /* bytes read at once by a whole-file job; it checks |stop| between them */

/* Hashes the open file |fd| (named |name| in messages) from its start, and copies each chunk to
 * |out| if it is not -1.  A file whose size or mtime moves while it is read fails: its digest
 * would describe no version of it.  Fills |st| (the size and mtime of |fd|).  Returns 0, or -1
 * with a message in |err|.  Runs on any thread; touches nothing shared. */
static int hash_fd(int fd, const char *name, int out, const char *out_name, atomic_bool *stop, cdht_xfer_stamp *st,
                   char *err, size_t errlen) {
  struct stat before, after;
  if (fstat(fd, &before) < 0) {
    snprintf(err, errlen, "stat %s: %s", name, strerror(errno));
    return -1;
  }
  uint8_t *buf = malloc(CHUNK);
  tree t;
  bool ready = tree_init(&t, (uint64_t)before.st_size); /* the root starts with the size */
  if (!buf || !ready) {
    snprintf(err, errlen, "hash %s: out of memory", name);
    goto fail;
  }
  uint64_t total = 0;
  for (;;) {
    if (stop && atomic_load(stop)) {
      snprintf(err, errlen, "cancelled");
      goto fail;
    }
    ssize_t n = pread(fd, buf, CHUNK, (off_t)total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "read %s: %s", name, strerror(errno));
      goto fail;
    }
    if (n == 0) break;
    tree_update(&t, buf, (size_t)n);
    if (out >= 0 && !write_all(out, buf, (size_t)n)) {
      snprintf(err, errlen, "write %s: %s", out_name, strerror(errno ? errno : EIO));
      goto fail;
    }
    total += (uint64_t)n;
    if (total > (uint64_t)before.st_size) break; /* it grew */
  }
  if (fstat(fd, &after) < 0 || total != (uint64_t)before.st_size || after.st_size != before.st_size ||
      stat_mtime_ns(&after) != stat_mtime_ns(&before)) {
    snprintf(err, errlen, "%s changed while it was read", name);
    goto fail;
  }
  if (!tree_final(&t, st->digest)) {
    snprintf(err, errlen, "hash %s: BLAKE2b failed", name);
    goto fail;
  }
  st->size = total;
  st->mtime_ns = stat_mtime_ns(&before);
  tree_free(&t);
  free(buf);
  return 0;
fail:
  tree_free(&t);
  free(buf);
  return -1;
}

int cdht_xfer_digest_file(const char *path, uint64_t *size, uint8_t digest[CDHT_DIGEST_LEN], char *err,
                          size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "open %s: %s", path, strerror(errno));
    return -1;
  }
  cdht_xfer_stamp st;
  int rc = hash_fd(fd, path, -1, NULL, NULL, &st, err, errlen);
  close(fd);
  if (rc < 0) return -1;
  *size = st.size;
  memcpy(digest, st.digest, CDHT_DIGEST_LEN);
  return 0;
}

/* ---- whole-file jobs on the pool ---- */

struct cdht_xfer_job {
  uv_work_t work;
  atomic_bool stop;             /* set by the loop (cancel), read by the pool */
  cdht_xfer_job_fn fn;
  void *ctx;
  bool copy;                    /* else a hash */
  int fd;                       /* a hash: the file, handed over on success */
  int status;
  cdht_xfer_stamp st;
  char err[8600];              /* room for two paths and a reason */
  char src[4096], dst[4096], tmp[4200];
};

static void hash_work(uv_work_t *w) {
  cdht_xfer_job *j = w->data;
  j->fd = open(j->src, O_RDONLY | O_CLOEXEC);
  if (j->fd < 0) {
    snprintf(j->err, sizeof j->err, "open %s: %s", j->src, strerror(errno));
    j->status = -1;
    return;
  }
  j->status = hash_fd(j->fd, j->src, -1, NULL, &j->stop, &j->st, j->err, sizeof j->err);
  if (j->status < 0) {
    close(j->fd);
    j->fd = -1;
  }
}

static void copy_work(uv_work_t *w) {
  cdht_xfer_job *j = w->data;
  j->status = -1;
  int in = open(j->src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    snprintf(j->err, sizeof j->err, "open %s: %s", j->src, strerror(errno));
    return;
  }
  /* 0600 whatever the source's mode: what a peer holds is its own (umask may only narrow it). */
  int out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    snprintf(j->err, sizeof j->err, "create %s: %s", j->tmp, strerror(errno));
    close(in);
    return;
  }
  struct stat st;
  if (hash_fd(in, j->src, out, j->tmp, &j->stop, &j->st, j->err, sizeof j->err) == 0) {
    if (fstat(out, &st) < 0 || close(out) < 0) {
      snprintf(j->err, sizeof j->err, "write %s: %s", j->tmp, strerror(errno));
    } else if (rename(j->tmp, j->dst) < 0) {
      snprintf(j->err, sizeof j->err, "rename %s to %s: %s", j->tmp, j->dst, strerror(errno));
    } else {
      j->st.mtime_ns = stat_mtime_ns(&st); /* the copy's own; rename keeps it */
      j->status = 0;
    }
    out = -1;
  }
  if (out >= 0) close(out);
  if (j->status < 0) unlink(j->tmp);
  close(in);
}

static void job_after(uv_work_t *w, int status) {
  cdht_xfer_job *j = w->data;
  if (status < 0 && j->status == 0) { /* never ran (uv_cancel is not used, but be safe) */
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    j->status = -1;
    snprintf(j->err, sizeof j->err, "cancelled");
  }
  j->fn(j->ctx, j->status, j->status == 0 ? j->fd : -1, &j->st, j->err);
  free(j);
}

static cdht_xfer_job *job_new(const char *src, cdht_xfer_job_fn fn, void *ctx, char *err, size_t errlen) {
  cdht_xfer_job *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if ((size_t)snprintf(j->src, sizeof j->src, "%s", src) >= sizeof j->src) {
    snprintf(err, errlen, "path too long: %.200s", src);
    free(j);
    return NULL;
  }
  atomic_init(&j->stop, false);
  j->fn = fn;
  j->ctx = ctx;
  j->fd = -1;
  j->work.data = j;
  return j;
}

/* uv_queue_work fails only without a work callback, which these always have. */
int cdht_xfer_hash(cdht_xfer_job **out, uv_loop_t *loop, const char *path, cdht_xfer_job_fn fn, void *ctx,
                   char *err, size_t errlen) {
  cdht_xfer_job *j = job_new(path, fn, ctx, err, errlen);
  *out = j;
  if (!j) return -1;
  (void)uv_queue_work(loop, &j->work, hash_work, job_after);
  return 0;
}

int cdht_xfer_copy(cdht_xfer_job **out, uv_loop_t *loop, const char *src, const char *dst, cdht_xfer_job_fn fn,
                   void *ctx, char *err, size_t errlen) {
  cdht_xfer_job *j = job_new(src, fn, ctx, err, errlen);
  *out = NULL;
  if (!j) return -1;
  if ((size_t)snprintf(j->dst, sizeof j->dst, "%s", dst) >= sizeof j->dst ||
      (size_t)snprintf(j->tmp, sizeof j->tmp, "%s.part-%ld-%u", dst, (long)getpid(), atomic_fetch_add(&tmp_counter, 1)) >=
          sizeof j->tmp) {
    snprintf(err, errlen, "path too long: %.200s", dst);
    free(j);
    return -1;
  }
  j->copy = true;
  *out = j;
  (void)uv_queue_work(loop, &j->work, copy_work, job_after);
  return 0;
}

void cdht_xfer_job_cancel(cdht_xfer_job *j) {
  if (j) atomic_store(&j->stop, true);
}

/* ---- digest records ---- */

#define RECORD_MAGIC "cdht-digest 1 "

int cdht_xfer_record_path(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  int dir = slash ? (int)(slash - path + 1) : 0; /* with its slash */
  int n = snprintf(out, cap, "%.*s.%s.digest", dir, path, path + dir);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int cdht_xfer_record_save(const char *path, const cdht_xfer_stamp *st) {
  char rec[4200], tmp[4300], line[160];
  if (cdht_xfer_record_path(path, rec, sizeof rec) < 0 ||
      (size_t)snprintf(tmp, sizeof tmp, "%s.part-%ld-%u", rec, (long)getpid(), atomic_fetch_add(&tmp_counter, 1)) >=
          sizeof tmp)
    return -1;
  int n = snprintf(line, sizeof line, RECORD_MAGIC "%llu %lld ", (unsigned long long)st->size, (long long)st->mtime_ns);
  for (int i = 0; i < CDHT_DIGEST_LEN; i++) n += snprintf(line + n, sizeof line - (size_t)n, "%02x", st->digest[i]);
  line[n++] = '\n';
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  bool ok = write_all(fd, (const uint8_t *)line, (size_t)n);
  if (close(fd) < 0 || !ok || rename(tmp, rec) < 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static int hex_nibble(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* Reads a decimal number of at most 19 digits (it fits in int64) ending at a space. */
static bool parse_dec(const char **p, uint64_t *v) {
  const char *s = *p;
  size_t n = strspn(s, "0123456789");
  if (n == 0 || n > 19 || s[n] != ' ') return false;
  *v = 0;
  for (size_t i = 0; i < n; i++) *v = *v * 10 + (uint64_t)(s[i] - '0');
  *p = s + n + 1;
  return true;
}

int cdht_xfer_record_load(const char *path, cdht_xfer_stamp *st) {
  char rec[4200], buf[160];
  if (cdht_xfer_record_path(path, rec, sizeof rec) < 0) return -1;
  int fd = open(rec, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  for (;;) { /* the whole record, which is shorter than |buf|; a longer file is not one */
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof buf - 1) break;
  }
  close(fd);
  buf[len] = '\0';
  const size_t magic = sizeof RECORD_MAGIC - 1;
  const char *p = buf + magic;
  uint64_t size, mtime;
  if (len < magic || memcmp(buf, RECORD_MAGIC, magic) != 0 || !parse_dec(&p, &size) || !parse_dec(&p, &mtime) ||
      (size_t)(buf + len - p) != 2 * CDHT_DIGEST_LEN + 1 || p[2 * CDHT_DIGEST_LEN] != '\n')
    return -1;
  for (int i = 0; i < CDHT_DIGEST_LEN; i++) {
    int hi = hex_nibble(p[2 * i]), lo = hex_nibble(p[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    st->digest[i] = (uint8_t)(hi << 4 | lo);
  }
  st->size = size;
  st->mtime_ns = (int64_t)mtime;
  return 0;
}

/* ---- the sink ---- */

typedef struct slot {         /* one leaf: filled by the loop, then written and hashed on the pool */
  uv_work_t work;
  struct cdht_xfer_sink *s;
  uint8_t *buf;               /* LEAF bytes, kept for the next leaf */
  hasher *hash;               /* with the buffer */
  uint64_t idx;
  size_t fill;
  enum { SLOT_FREE, SLOT_FILLING, SLOT_BUSY, SLOT_HASHED } state;
  int err;                    /* errno of a failed write (or ENOMEM from the hash), set on the pool */
  uint8_t digest[CDHT_DIGEST_LEN];
} slot;

struct cdht_xfer_sink {
  int fd;
  uint64_t size, done;
  uint8_t digest[CDHT_DIGEST_LEN]; /* announced */
  tree tree;                  /* in one go */
  uv_loop_t *loop;            /* on a loop (NULL: in one go) */
  cdht_xfer_done_fn on_done;
  cdht_xfer_room_fn on_room;
  void *ctx;
  hasher *root;               /* leaf digests folded in order */
  slot slots[SLOTS];
  int filling;                /* slot being filled, or -1 */
  uint64_t next_leaf, next_fold;
  int busy;                   /* work items on the pool */
  int err;                    /* the first write error */
  bool aborted, wants_room, empty_queued;
  uv_work_t empty;            /* an empty file completes from the pool's callback like any other */
  char tmp[4096], final[4096];
};

int cdht_xfer_sink_open(cdht_xfer_sink **out, const char *final_path, uint64_t size,
                        const uint8_t digest[CDHT_DIGEST_LEN], char *err, size_t errlen) {
  *out = NULL;
  cdht_xfer_sink *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if ((size_t)snprintf(s->final, sizeof s->final, "%s", final_path) >= sizeof s->final ||
      (size_t)snprintf(s->tmp, sizeof s->tmp, "%s.part-%ld-%u", final_path, (long)getpid(),
                       atomic_fetch_add(&tmp_counter, 1)) >= sizeof s->tmp) {
    snprintf(err, errlen, "path too long: %s", final_path);
    free(s);
    return -1;
  }
  /* 0600 whatever the sender's mode: what a peer holds or downloads is its own. */
  s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (s->fd < 0) {
    snprintf(err, errlen, "create %s: %s", s->tmp, strerror(errno));
    free(s);
    return -1;
  }
  s->size = size;
  memcpy(s->digest, digest, CDHT_DIGEST_LEN);
  s->root = cdht_blake2b_new();
  if (!tree_init(&s->tree, size) || !s->root || !h_begin(s->root, 1, size)) {
    snprintf(err, errlen, "out of memory");
    close(s->fd);
    unlink(s->tmp);
    tree_free(&s->tree);
    cdht_blake2b_free(s->root);
    free(s);
    return -1;
  }
  s->filling = -1;
  for (int i = 0; i < SLOTS; i++) s->slots[i].s = s;
  *out = s;
  return 0;
}

uint64_t cdht_xfer_sink_done(const cdht_xfer_sink *s) { return s->done; }
uint64_t cdht_xfer_sink_size(const cdht_xfer_sink *s) { return s->size; }

static void sink_free(cdht_xfer_sink *s) {
  for (int i = 0; i < SLOTS; i++) {
    free(s->slots[i].buf);
    cdht_blake2b_free(s->slots[i].hash);
  }
  tree_free(&s->tree);
  cdht_blake2b_free(s->root);
  free(s);
}

static void discard(cdht_xfer_sink *s) {
  close(s->fd);
  unlink(s->tmp);
  sink_free(s);
}

void cdht_xfer_sink_abort(cdht_xfer_sink *s) {
  if (!s) return;
  s->aborted = true;
  if (s->busy == 0) discard(s); /* else the last pool callback does */
}

/* Checks the digest and renames into place (or removes the temporary file); does not free. */
static int conclude(cdht_xfer_sink *s, const uint8_t got[CDHT_DIGEST_LEN], char *err, size_t errlen) {
  if (s->done != s->size || sodium_memcmp(got, s->digest, CDHT_DIGEST_LEN) != 0) {
    snprintf(err, errlen, "%s: content does not match its digest (%llu of %llu bytes)", s->final,
             (unsigned long long)s->done, (unsigned long long)s->size);
    close(s->fd);
    unlink(s->tmp);
    return -1;
  }
  /* No fsync: the rename makes the file appear whole or not at all to every reader, which is
   * what a transfer promises; surviving a power cut as well would cost the disk's write time
   * (seconds for large files), which no plain copy pays either. */
  if (close(s->fd) < 0) {
    snprintf(err, errlen, "write %s: %s", s->tmp, strerror(errno));
    unlink(s->tmp);
    return -1;
  }
  if (rename(s->tmp, s->final) < 0) {
    snprintf(err, errlen, "rename %s to %s: %s", s->tmp, s->final, strerror(errno));
    unlink(s->tmp);
    return -1;
  }
  return 0;
}

/* ---- in one go ---- */

int cdht_xfer_sink_write(cdht_xfer_sink *s, const uint8_t *p, size_t n) {
  if (n > s->size - s->done) return -1; /* more than announced: the sender is confused or hostile */
  tree_update(&s->tree, p, n);
  while (n > 0) {
    ssize_t w = write(s->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
    s->done += (uint64_t)w;
  }
  return s->done == s->size ? 1 : 0;
}

int cdht_xfer_sink_finish(cdht_xfer_sink *s, char *err, size_t errlen) {
  uint8_t got[CDHT_DIGEST_LEN] = { 0 };
  if (!tree_final(&s->tree, got)) snprintf(err, errlen, "BLAKE2b failed");
  int rc = conclude(s, got, err, errlen); /* a failed hash cannot match */
  sink_free(s);
  return rc;
}

/* ---- on a loop ---- */

void cdht_xfer_sink_on_loop(cdht_xfer_sink *s, uv_loop_t *loop, cdht_xfer_done_fn done, cdht_xfer_room_fn room,
                            void *ctx) {
  s->loop = loop;
  s->on_done = done;
  s->on_room = room;
  s->ctx = ctx;
}

static void leaf_work(uv_work_t *w) { /* on the pool: touches only its own slot and the fd */
  slot *sl = w->data;
  off_t off = (off_t)(sl->idx * LEAF);
  for (size_t k = 0; k < sl->fill;) {
    ssize_t m = pwrite(sl->s->fd, sl->buf + k, sl->fill - k, off + (off_t)k);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) {
      sl->err = m < 0 ? errno : EIO;
      return;
    }
    k += (size_t)m;
  }
  if (!h_begin(sl->hash, 0, sl->idx) || !h_update(sl->hash, sl->buf, sl->fill) || !h_end(sl->hash, sl->digest))
    sl->err = ENOMEM;
}

static void nothing_work(uv_work_t *w) { (void)w; }

/* After any pool work: fold finished leaves in order, then finish, fail, or make room. */
static void settle(cdht_xfer_sink *s) {
  if (s->aborted) {
    if (s->busy == 0) discard(s);
    return;
  }
  for (bool folded = true; folded;) {
    folded = false;
    for (int i = 0; i < SLOTS; i++) {
      slot *sl = &s->slots[i];
      if (sl->state == SLOT_HASHED && sl->idx == s->next_fold) {
        if (!h_update(s->root, sl->digest, CDHT_DIGEST_LEN) && !s->err) s->err = ENOMEM;
        s->next_fold++;
        sl->state = SLOT_FREE;
        folded = true;
      }
    }
  }
  char err[sizeof s->tmp + 256];
  if (s->err && s->busy == 0) {
    snprintf(err, sizeof err, "write %s: %s", s->tmp, strerror(s->err));
    close(s->fd);
    unlink(s->tmp);
    s->on_done(s->ctx, -1, err);
    sink_free(s);
  } else if (!s->err && s->done == s->size && s->next_fold == leaf_count(s->size) && s->busy == 0) {
    uint8_t got[CDHT_DIGEST_LEN] = { 0 };
    err[0] = '\0';
    if (!h_end(s->root, got)) snprintf(err, sizeof err, "BLAKE2b failed");
    int rc = conclude(s, got, err, sizeof err);
    s->on_done(s->ctx, rc, err);
    sink_free(s);
  } else if (!s->err && s->wants_room) {
    for (int i = 0; i < SLOTS; i++)
      if (s->slots[i].state == SLOT_FREE) {
        s->wants_room = false;
        s->on_room(s->ctx);
        break;
      }
  }
}

static void leaf_after(uv_work_t *w, int status) {
  slot *sl = w->data;
  cdht_xfer_sink *s = sl->s;
  s->busy--;
  if (status < 0 && !sl->err) sl->err = ECANCELED;
  if (sl->err && !s->err) s->err = sl->err;
  sl->state = SLOT_HASHED;
  settle(s);
}

static void empty_after(uv_work_t *w, int status) {
  (void)status;
  cdht_xfer_sink *s = w->data;
  s->busy--;
  settle(s);
}

/* uv_queue_work fails only without a work callback, which these always have. */
static void submit(cdht_xfer_sink *s, slot *sl) {
  sl->state = SLOT_BUSY;
  sl->err = 0;
  sl->work.data = sl;
  s->busy++;
  (void)uv_queue_work(s->loop, &sl->work, leaf_work, leaf_after);
}

static bool slot_ready(slot *sl) { /* its buffer and hash state, made on first use */
  if (!sl->buf) sl->buf = malloc(sl->s->size < LEAF ? (size_t)sl->s->size : LEAF); /* a small file, a small buffer */
  if (!sl->hash) sl->hash = cdht_blake2b_new();
  return sl->buf && sl->hash;
}

uint8_t *cdht_xfer_sink_space(cdht_xfer_sink *s, size_t *len) {
  *len = 0;
  if (s->filling < 0) {
    if (s->err || s->next_leaf >= leaf_count(s->size)) return NULL;
    int i = 0;
    while (i < SLOTS && (s->slots[i].state != SLOT_FREE || !slot_ready(&s->slots[i]))) i++;
    if (i == SLOTS) { /* all busy, or no memory for another buffer: wait for one to return */
      s->wants_room = true;
      return NULL;
    }
    slot *sl = &s->slots[i];
    sl->idx = s->next_leaf++;
    sl->fill = 0;
    sl->state = SLOT_FILLING;
    s->filling = i;
  }
  slot *sl = &s->slots[s->filling];
  *len = leaf_len(s->size, sl->idx) - sl->fill;
  return sl->buf + sl->fill;
}

int cdht_xfer_sink_received(cdht_xfer_sink *s, size_t n) {
  if (s->err || s->aborted || n > s->size - s->done) return -1;
  if (n > 0) {
    if (s->filling < 0) return -1;
    slot *sl = &s->slots[s->filling];
    size_t want = leaf_len(s->size, sl->idx);
    if (n > want - sl->fill) return -1;
    sl->fill += n;
    s->done += n;
    if (sl->fill == want) {
      s->filling = -1;
      submit(s, sl);
    }
  } else if (s->size == 0 && !s->empty_queued) {
    s->empty_queued = true;
    s->empty.data = s;
    s->busy++;
    (void)uv_queue_work(s->loop, &s->empty, nothing_work, empty_after);
  }
  return s->done == s->size ? 1 : 0;
}

int cdht_xfer_sink_put(cdht_xfer_sink *s, const uint8_t *p, size_t n) {
  int rc = cdht_xfer_sink_received(s, 0);
  while (n > 0 && rc == 0) {
    size_t room;
    uint8_t *dst = cdht_xfer_sink_space(s, &room);
    if (!dst) return -1;
    size_t k = n < room ? n : room;
    memcpy(dst, p, k);
    rc = cdht_xfer_sink_received(s, k);
    p += k;
    n -= k;
  }
  return n > 0 ? -1 : rc;
}

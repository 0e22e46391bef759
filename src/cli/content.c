#include "content.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/lines.h"
#include "io/xfer.h"

#define EXPECT_MAX 64  /* transfers this peer waits for at once (each announced by the protocol) */
#define STORE_MAX 32   /* stores in flight (as many as the node has pending requests) */
#define HANDOVER_MAX 8    /* handovers in progress at once (one per joiner, one for our quit) */
#define HANDOVER_WINDOW 8 /* transfers of one handover under way at once: a peer may hold 10,000 files,
                           * far more than the net lets out at once */

typedef struct expect {
  bool used;
  uint8_t kind;      /* CDHT_XFER_PUT or _GET */
  uint16_t file;
  cdht_id from;      /* the only peer it may come from; CDHT_ID_NONE: any (a request's holder) */
  uint32_t seq;      /* and for that request */
  /* GET only: the content may overtake the response that announces it (two connections), so
   * the lines wait until both are there, and keep their order. */
  bool responded;    /* "Received a response message ..." was printed */
  bool started;      /* the transfer's header arrived (and no verdict yet) */
  bool said_start;   /* "We now start receiving the file" was printed */
  bool finished;     /* the transfer ended */
  int status;        /* how it ended */
  char note[600];    /* what to say on stderr when it ended */
} expect;

struct cdht_content {
  cdht_node *node;
  cdht_net *net;
  char data_dir[2048], download_dir[2048];
  char (*ext)[CDHT_EXT_LEN + 1]; /* per file held: its extension ("" for none) */
  struct digest_cache {          /* per file held: its digest, while size and mtime still match */
    bool valid;
    uint64_t size;
    int64_t mtime_ns;
    uint8_t digest[CDHT_DIGEST_LEN];
  } *dig;
  expect expects[EXPECT_MAX];
  struct { bool used; uint16_t file; char path[1024]; } stores[STORE_MAX];
  struct local_store {         /* our own store of a key we hold: copied and hashed on the pool */
    struct cdht_content *c;
    cdht_xfer_job *job;        /* NULL: the slot is free */
    uint16_t file;
    uint32_t seq;
    char ext[CDHT_EXT_LEN + 1];
    char dst[4096];
  } locals[STORE_MAX];
  bool stopped;                /* cdht_content_stop(): jobs that end now change nothing */
  struct handover {            /* keys in (lo, hi] going to |peer|, a few files at a time */
    bool used;
    cdht_id peer, lo, hi;
    unsigned next_file;        /* the next file number to look at */
    unsigned inflight, done;   /* transfers under way; kept by the receiver */
  } handovers[HANDOVER_MAX];
  uint16_t handing[CDHT_FILE_MAX + 1]; /* per file being handed over: 1 + its handovers[] slot */
  /* Keys coming to us, per giver: its KEYS_DONE travels on another connection than the files
   * and may overtake their last bytes or their digest check, so "N files received" waits for
   * the files themselves (keys_check). */
  struct keys_in {
    bool used, announced;
    cdht_id peer;
    unsigned expected, arrived, ok, inflight; /* announced; verdicts and refusals; whole; under way */
    uint64_t since_ms;                        /* last news from |peer| */
  } keys_in[HANDOVER_MAX];
  uv_loop_t *loop;
  uv_timer_t keys_timer;       /* sweeps keys_in while it is not empty (keys_sweep) */
  bool keys_timer_open;
};

/* "2012.pdf" -> 2012 and "pdf"; -1 for any other name. */
static int parse_name(const char *name, char ext[CDHT_EXT_LEN + 1]) {
  if (strlen(name) < 4 || strspn(name, "0123456789") < 4) return -1;
  int file = (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 + (name[3] - '0');
  ext[0] = '\0';
  if (name[4] == '\0') return file;
  if (name[4] != '.') return -1;
  size_t n = strlen(name + 5);
  if (n == 0 || n > CDHT_EXT_LEN) return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = name[5 + i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) return -1;
  }
  memcpy(ext, name + 5, n + 1);
  return file;
}

/* The extension a path's base name carries, if it is one the protocol can carry. */
static void path_ext(const char *path, char ext[CDHT_EXT_LEN + 1]) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  ext[0] = '\0';
  if (!dot || dot == base || strlen(dot + 1) == 0 || strlen(dot + 1) > CDHT_EXT_LEN) return;
  for (const char *p = dot + 1; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return;
  snprintf(ext, CDHT_EXT_LEN + 1, "%s", dot + 1);
}

static void held_path(const cdht_content *c, uint16_t file, const char *ext, char *out, size_t cap) {
  snprintf(out, cap, "%s/%04u%s%s", c->data_dir, file, ext[0] ? "." : "", ext);
}

static int64_t mtime_ns(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec; }

/* Keeps a held file's digest, in memory and in its record next to it (xfer.h), so that neither
 * a second send nor a restart hashes it again while its size and mtime stay those of |st|. */
static void remember(cdht_content *c, uint16_t file, const cdht_xfer_stamp *st) {
  char path[4096];
  c->dig[file].valid = true;
  c->dig[file].size = st->size;
  c->dig[file].mtime_ns = st->mtime_ns;
  memcpy(c->dig[file].digest, st->digest, CDHT_DIGEST_LEN);
  held_path(c, file, c->ext[file], path, sizeof path);
  if (cdht_xfer_record_save(path, st) < 0) /* only a cache: it is hashed again after a restart */
    fprintf(stderr, "cdht: could not save the digest of %s: %s\n", path, strerror(errno));
}

/* A held file's digest was just checked (it arrived, or was stored here): keep it. */
static void remember_digest(cdht_content *c, uint16_t file, const uint8_t digest[CDHT_DIGEST_LEN]) {
  char path[4096];
  struct stat st;
  held_path(c, file, c->ext[file], path, sizeof path);
  if (stat(path, &st) < 0) return;
  cdht_xfer_stamp stamp = { .size = (uint64_t)st.st_size, .mtime_ns = mtime_ns(&st) };
  memcpy(stamp.digest, digest, CDHT_DIGEST_LEN);
  remember(c, file, &stamp);
}

/* The known digest of a held file (from memory, or from its record after a restart), if the
 * file is unchanged since; else NULL (it is computed then, on the pool). */
static const uint8_t *known_digest(cdht_content *c, uint16_t file, const char *path, uint64_t *size) {
  struct stat st;
  struct digest_cache *d = &c->dig[file];
  if (stat(path, &st) < 0) return NULL;
  if (!d->valid || (uint64_t)st.st_size != d->size || mtime_ns(&st) != d->mtime_ns) {
    cdht_xfer_stamp rec;
    if (cdht_xfer_record_load(path, &rec) < 0 || rec.size != (uint64_t)st.st_size || rec.mtime_ns != mtime_ns(&st))
      return NULL;
    *d = (struct digest_cache){ .valid = true, .size = rec.size, .mtime_ns = rec.mtime_ns };
    memcpy(d->digest, rec.digest, CDHT_DIGEST_LEN);
  }
  *size = d->size;
  return d->digest;
}

/* A held file goes, with its digest record (first: a file without a record is only hashed
 * again; a record left without its file is removed at the next start). */
static void forget_path(const char *path) {
  char rec[4200];
  if (cdht_xfer_record_path(path, rec, sizeof rec) == 0) unlink(rec);
  unlink(path);
}

static void forget_file(cdht_content *c, uint16_t file) {
  char path[4096];
  held_path(c, file, c->ext[file], path, sizeof path);
  forget_path(path);
  c->dig[file].valid = false;
}

static int mkdirs(const char *path, char *err, size_t errlen) {
  char tmp[2048];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST) goto fail; /* private: what a peer holds is its own */
    *p = '/';
  }
  if (mkdir(tmp, 0700) < 0 && errno != EEXIST) goto fail;
  return 0;
fail:
  snprintf(err, errlen, "mkdir %s: %s", tmp, strerror(errno));
  return -1;
}

static void add_expect(cdht_content *c, uint8_t kind, uint16_t file, cdht_id from, uint32_t seq) {
  for (int i = 0; i < EXPECT_MAX; i++) { /* a retried request accepted twice is awaited once */
    const expect *e = &c->expects[i];
    if (e->used && e->kind == kind && e->file == file && e->from == from && e->seq == seq) return;
  }
  for (int i = 0; i < EXPECT_MAX; i++) {
    if (c->expects[i].used) continue;
    memset(&c->expects[i], 0, sizeof c->expects[i]);
    c->expects[i] = (expect){ .used = true, .kind = kind, .file = file, .from = from, .seq = seq };
    return;
  }
  fprintf(stderr, "cdht: too many transfers awaited; file %04u from peer %llu will be refused\n", file,
          (unsigned long long)from);
}

/* ---- transfer hooks ---- */

static expect *find_get(cdht_content *c, uint32_t seq, uint16_t file) {
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (e->used && e->kind == CDHT_XFER_GET && e->seq == seq && e->file == file) return e;
  }
  return NULL;
}

/* Prints what a GET can print now, in order; frees the expectation when all is said. */
static void advance_get(expect *e) {
  if (!e->responded) return;
  if (e->started && !e->said_start) {
    fputs(cdht_lines_transfer(CDHT_LINE_RECEIVING), stdout);
    e->said_start = true;
  }
  if (!e->finished) return;
  if (e->status == 0) fputs(cdht_lines_transfer(CDHT_LINE_RECEIVED), stdout);
  fputs(e->note, stderr);
  e->used = false;
}

#define KEYS_QUIET_MS 5000 /* a giver's handover with nothing under way for this long is over */

static void keys_sweep(uv_timer_t *t);

static struct keys_in *keys_from(cdht_content *c, cdht_id peer) {
  struct keys_in *k = NULL;
  for (int i = 0; i < HANDOVER_MAX && !k; i++)
    if (c->keys_in[i].used && c->keys_in[i].peer == peer) k = &c->keys_in[i];
  for (int i = 0; i < HANDOVER_MAX && !k; i++)
    if (!c->keys_in[i].used) {
      k = &c->keys_in[i];
      *k = (struct keys_in){ .used = true, .peer = peer };
    }
  if (!k) return NULL; /* too many givers at once: their lines are not held back */
  k->since_ms = uv_now(c->loop);
  if (c->keys_timer_open && !uv_is_active((uv_handle_t *)&c->keys_timer))
    uv_timer_start(&c->keys_timer, keys_sweep, 1000, 1000);
  return k;
}

static void print_keys_received(cdht_id peer, unsigned count) {
  char line[128];
  cdht_event ev = { .kind = CDHT_EV_KEYS_RECEIVED, .peer = peer, .seq = count };
  if (cdht_lines_format(line, sizeof line, &ev) == CDHT_STDOUT) fputs(line, stdout);
}

/* Prints "N files received from peer G." once G announced its handover and every file it
 * announced has arrived here and got its verdict (N: those that arrived whole). */
static void keys_check(struct keys_in *k) {
  if (!k || !k->announced || k->arrived < k->expected || k->inflight > 0) return;
  print_keys_received(k->peer, k->ok);
  k->used = false;
}

/* The giver counts the files we confirmed, so the counts agree unless a confirmation was lost on
 * its way or a header came from someone claiming to be a giver: after a quiet spell the line
 * says what did arrive, and an entry nobody announced is forgotten. */
static void keys_sweep(uv_timer_t *t) {
  cdht_content *c = t->data;
  uint64_t now = uv_now(c->loop);
  bool left = false;
  for (int i = 0; i < HANDOVER_MAX; i++) {
    struct keys_in *k = &c->keys_in[i];
    if (!k->used) continue;
    if (k->inflight == 0 && now - k->since_ms >= KEYS_QUIET_MS) {
      if (k->announced) print_keys_received(k->peer, k->ok);
      k->used = false;
    } else {
      left = true;
    }
  }
  if (!left) uv_timer_stop(t);
}

static void keys_started(cdht_content *c, cdht_id peer) {
  struct keys_in *k = keys_from(c, peer);
  if (k) k->inflight++;
}

/* A handover file from |peer| got its verdict. */
static void keys_arrived(cdht_content *c, cdht_id peer, bool whole) {
  struct keys_in *k = keys_from(c, peer);
  if (!k) return;
  if (k->inflight > 0) k->inflight--;
  k->arrived++;
  k->ok += whole;
  keys_check(k);
}

void cdht_content_keys_announced(cdht_content *c, cdht_id peer, unsigned count) {
  struct keys_in *k = keys_from(c, peer);
  if (!k) {
    print_keys_received(peer, count);
    return;
  }
  k->announced = true;
  k->expected = count;
  keys_check(k);
}

static int on_accept(void *ctx, const cdht_msg *h, char *path, size_t cap) {
  cdht_content *c = ctx;
  char ext[CDHT_EXT_LEN + 1] = { 0 };
  memcpy(ext, h->ext, CDHT_EXT_LEN);
  if (h->flags == CDHT_XFER_HANDOVER) {
    /* Keys move between neighbours, or to us when they are ours now (a leaving neighbour may
     * already have told us it is gone). */
    const cdht_config *cfg = cdht_node_config(c->node);
    cdht_id pred = cdht_node_predecessor(c->node, 0);
    bool neighbour = h->from == cdht_node_successor(c->node, 0) || h->from == pred;
    bool ours = pred == CDHT_ID_NONE ||
                cdht_ring_between(pred, cdht_ring_key(h->file, cfg->ring_size), cfg->self, cfg->ring_size);
    if (!neighbour && !ours) return -1; /* no verdict: the giver keeps it and does not count it */
    held_path(c, h->file, ext, path, cap);
    keys_started(c, h->from);
    return 0;
  }
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (!e->used || e->kind != h->flags || e->file != h->file || e->seq != h->seq) continue;
    if (e->from != CDHT_ID_NONE && e->from != h->from) continue;
    if (h->flags == CDHT_XFER_PUT) {
      e->used = false;
      held_path(c, h->file, ext, path, cap);
      return 0;
    }
    if (e->started || e->finished) continue; /* one transfer per request */
    e->from = h->from;
    e->started = true;
    snprintf(path, cap, "%s/received_%04u%s%s", c->download_dir, h->file, ext[0] ? "." : "", ext);
    advance_get(e);
    return 0;
  }
  return -1; /* nobody asked for it */
}

static void on_received(void *ctx, const cdht_msg *h, const char *path, int status, const char *err) {
  cdht_content *c = ctx;
  if (h->flags == CDHT_XFER_GET) {
    expect *e = find_get(c, h->seq, h->file);
    if (!e) return;
    if (status < 0) { /* say so now; the genuine content may still come for this request */
      fprintf(stderr, "receiving %04u from peer %llu failed: %s\n", h->file, (unsigned long long)h->from, err);
      e->started = false;
      if (!e->responded) e->from = CDHT_ID_NONE;
      return;
    }
    e->finished = true;
    e->status = status;
    if (status == 0)
      snprintf(e->note, sizeof e->note, "file %04u saved as %.400s (%llu bytes, digest checked)\n", h->file, path,
               (unsigned long long)h->size);
    else
      snprintf(e->note, sizeof e->note, "receiving %04u from peer %llu failed: %.400s\n", h->file,
               (unsigned long long)h->from, err);
    advance_get(e);
    return;
  }
  if (status < 0) {
    fprintf(stderr, "%s %04u from peer %llu failed: %s\n", h->flags == CDHT_XFER_HANDOVER ? "taking over" : "storing",
            h->file, (unsigned long long)h->from, err);
    if (h->flags == CDHT_XFER_HANDOVER) keys_arrived(c, h->from, false);
    return;
  }
  /* A second store of the same name replaces the first, whatever its extension was. */
  char ext[CDHT_EXT_LEN + 1] = { 0 }, old[4096];
  memcpy(ext, h->ext, CDHT_EXT_LEN);
  if (strcmp(c->ext[h->file], ext) != 0 && cdht_node_is_stored(c->node, h->file)) {
    held_path(c, h->file, c->ext[h->file], old, sizeof old);
    forget_path(old);
  }
  snprintf(c->ext[h->file], sizeof c->ext[h->file], "%s", ext);
  remember_digest(c, h->file, h->digest);
  if (h->flags == CDHT_XFER_HANDOVER) {
    cdht_node_set_stored(c->node, h->file, true);
    fprintf(stderr, "file %04u taken over from peer %llu\n", h->file, (unsigned long long)h->from);
    keys_arrived(c, h->from, true);
    return;
  }
  cdht_net_stored(c->net, h->file, h->from, h->seq);
}

static void on_progress(void *ctx, uint16_t file, int sending, uint64_t done, uint64_t total) {
  (void)ctx;
  fprintf(stderr, "%s %04u: %llu%% (%.1f of %.1f MiB)\n", sending ? "sending" : "receiving", file,
          (unsigned long long)(done * 100 / total), (double)done / 1048576.0, (double)total / 1048576.0);
}

/* A digest was computed before a send: a held file's is kept (remember). */
static void on_digested(void *ctx, uint8_t kind, uint16_t file, const char *path, const cdht_xfer_stamp *st) {
  cdht_content *c = ctx;
  char held[4096];
  struct stat sb;
  fprintf(stderr, "hashed %04u (%.1f MiB)\n", file, (double)st->size / 1048576.0);
  if (kind == CDHT_XFER_PUT) return; /* the user's own file, not one held here */
  held_path(c, file, c->ext[file], held, sizeof held);
  if (strcmp(held, path) != 0 || stat(held, &sb) < 0 || (uint64_t)sb.st_size != st->size ||
      mtime_ns(&sb) != st->mtime_ns)
    return; /* replaced meanwhile */
  remember(c, file, st);
}

static void on_sent(void *ctx, uint16_t file, int status, const char *err) {
  (void)ctx;
  if (status == 0) fputs(cdht_lines_transfer(CDHT_LINE_SENT), stdout);
  else fprintf(stderr, "sending %04u failed: %s\n", file, err);
}

/* Starts the next transfers of a handover, up to the window; when none is left under way and
 * none left to start, the node says how many went. */
static void on_handed(void *ctx, uint16_t file, int status, const char *err);

static void handover_pump(cdht_content *c, unsigned slot) {
  struct handover *ho = &c->handovers[slot];
  const cdht_config *cfg = cdht_node_config(c->node);
  char path[4096], err[512];
  while (ho->inflight < HANDOVER_WINDOW && ho->next_file <= CDHT_FILE_MAX) {
    uint16_t f = (uint16_t)ho->next_file++;
    if (!cdht_node_is_stored(c->node, f) || c->handing[f] ||
        !cdht_ring_between(ho->lo, cdht_ring_key(f, cfg->ring_size), ho->hi, cfg->ring_size))
      continue;
    held_path(c, f, c->ext[f], path, sizeof path);
    uint64_t size = 0;
    const uint8_t *dg = known_digest(c, f, path, &size);
    if (cdht_net_send_file(c->net, ho->peer, CDHT_XFER_HANDOVER, f, 0, path, c->ext[f], dg, size, on_handed, c, err,
                           sizeof err) < 0) {
      fprintf(stderr, "handing over %04u failed: %s (kept here)\n", f, err);
      continue;
    }
    c->handing[f] = (uint16_t)(slot + 1);
    ho->inflight++;
  }
  if (ho->inflight == 0 && ho->next_file > CDHT_FILE_MAX) {
    ho->used = false;
    cdht_net_handover_done(c->net, ho->peer, ho->done);
  }
}

/* A key handed over is the neighbour's now: one holder per key.  When the last file of a
 * handover is through, the node says how many went. */
static void on_handed(void *ctx, uint16_t file, int status, const char *err) {
  cdht_content *c = ctx;
  unsigned slot = c->handing[file] ? c->handing[file] - 1u : HANDOVER_MAX;
  c->handing[file] = 0;
  if (status < 0) {
    fprintf(stderr, "handing over %04u failed: %s (kept here)\n", file, err);
  } else {
    forget_file(c, file);
    cdht_node_set_stored(c->node, file, false);
    c->ext[file][0] = '\0';
  }
  if (slot >= HANDOVER_MAX || !c->handovers[slot].used) return;
  c->handovers[slot].inflight--;
  if (status == 0) c->handovers[slot].done++;
  handover_pump(c, slot);
}

static void on_uploaded(void *ctx, uint16_t file, int status, const char *err) {
  (void)ctx;
  if (status < 0) fprintf(stderr, "store %04u failed: %s\n", file, err);
}

/* ---- events ---- */

static const char *take_store_path(cdht_content *c, uint16_t file) {
  for (int i = 0; i < STORE_MAX; i++)
    if (c->stores[i].used && c->stores[i].file == file) {
      c->stores[i].used = false;
      return c->stores[i].path;
    }
  return NULL;
}

/* The copy of our own store is in place, or failed. */
static void local_stored(void *ctx, int status, int fd, const cdht_xfer_stamp *st, const char *err) {
  struct local_store *ls = ctx;
  cdht_content *c = ls->c;
  (void)fd; /* -1 for a copy */
  ls->job = NULL;
  if (c->stopped) return; /* in place or not, the next start finds what is there */
  if (status < 0) {
    fprintf(stderr, "store %04u failed: %s\n", ls->file, err);
    return;
  }
  fprintf(stderr, "hashed %04u (%.1f MiB) as it was copied in\n", ls->file, (double)st->size / 1048576.0);
  cdht_msg h = { .from = cdht_node_config(c->node)->self, .seq = ls->seq, .file = ls->file, .flags = CDHT_XFER_PUT };
  memcpy(h.ext, ls->ext, CDHT_EXT_LEN);
  memcpy(h.digest, st->digest, CDHT_DIGEST_LEN);
  on_received(c, &h, ls->dst, 0, "");
}

/* Our own store of a key we hold: copied into the data directory, atomically, and hashed as it
 * goes, on the pool (a large file takes seconds; the loop keeps answering pings). */
static void store_locally(cdht_content *c, uint16_t file, const char *src, uint32_t seq) {
  char err[512];
  struct local_store *ls = NULL;
  for (int i = 0; i < STORE_MAX && !ls; i++)
    if (!c->locals[i].job) ls = &c->locals[i];
  if (!ls) {
    fprintf(stderr, "store %04u failed: too many stores in flight\n", file);
    return;
  }
  *ls = (struct local_store){ .c = c, .file = file, .seq = seq };
  path_ext(src, ls->ext);
  held_path(c, file, ls->ext, ls->dst, sizeof ls->dst);
  if (cdht_xfer_copy(&ls->job, c->loop, src, ls->dst, local_stored, ls, err, sizeof err) < 0)
    fprintf(stderr, "store %04u failed: %s\n", file, err);
}

void cdht_content_on_event(cdht_content *c, const cdht_event *ev) {
  cdht_id self = cdht_node_config(c->node)->self;
  char err[512], path[4096];
  switch (ev->kind) {
  case CDHT_EV_STORE_ACCEPTED:
    if (ev->peer != self) add_expect(c, CDHT_XFER_PUT, ev->file, ev->peer, ev->seq);
    break;
  case CDHT_EV_STORE_UPLOAD: {
    const char *src = take_store_path(c, ev->file);
    if (!src) {
      fprintf(stderr, "store %04u: the file to send is no longer known\n", ev->file);
      break;
    }
    if (ev->peer == self) {
      store_locally(c, ev->file, src, ev->seq);
      break;
    }
    char ext[CDHT_EXT_LEN + 1];
    path_ext(src, ext);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_PUT, ev->file, ev->seq, src, ext, NULL, 0, on_uploaded, c,
                           err, sizeof err) < 0)
      fprintf(stderr, "store %04u failed: %s\n", ev->file, err);
    break;
  }
  case CDHT_EV_RESPONSE_SENT: {
    if (!ev->content) break;
    held_path(c, ev->file, c->ext[ev->file], path, sizeof path);
    fputs(cdht_lines_transfer(CDHT_LINE_SENDING), stdout);
    uint64_t size = 0;
    const uint8_t *dg = known_digest(c, ev->file, path, &size);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_GET, ev->file, ev->seq, path, c->ext[ev->file], dg, size,
                           on_sent, c, err, sizeof err) < 0)
      fprintf(stderr, "sending %04u failed: %s\n", ev->file, err);
    break;
  }
  case CDHT_EV_HANDOVER: {
    unsigned slot = 0;
    while (slot < HANDOVER_MAX && c->handovers[slot].used) slot++;
    if (slot == HANDOVER_MAX) { /* cannot track it: keep the files, and say none went */
      fprintf(stderr, "handover to peer %llu postponed: too many at once\n", (unsigned long long)ev->peer);
      cdht_net_handover_done(c->net, ev->peer, 0);
      break;
    }
    c->handovers[slot] = (struct handover){ .used = true, .peer = ev->peer, .lo = ev->succ[0], .hi = ev->succ[1] };
    handover_pump(c, slot);
    break;
  }
  case CDHT_EV_REQUEST_SENT: /* the content may come before the response: be ready for it */
    add_expect(c, CDHT_XFER_GET, ev->file, CDHT_ID_NONE, ev->seq);
    break;
  case CDHT_EV_RESPONSE_RECEIVED: {
    expect *e = find_get(c, ev->seq, ev->file);
    if (!e) break;
    if (!ev->content) { e->used = false; break; }
    e->responded = true;
    if (e->from != CDHT_ID_NONE && e->from != ev->peer) { /* someone else sent content: not ours */
      e->used = false;
      break;
    }
    e->from = ev->peer;
    advance_get(e);
    break;
  }
  case CDHT_EV_REQUEST_FAILED:
    for (int i = 0; i < EXPECT_MAX; i++)
      if (c->expects[i].used && c->expects[i].kind == CDHT_XFER_GET && c->expects[i].file == ev->file &&
          !c->expects[i].started)
        c->expects[i].used = false;
    break;
  default:
    break;
  }
}

int cdht_content_prepare_store(cdht_content *c, uint16_t file, const char *path, char *err, size_t errlen) {
  char cand[2][64];
  const char *tries[2];
  int ntries = 0;
  if (path && path[0]) {
    tries[ntries++] = path;
  } else {
    snprintf(cand[0], sizeof cand[0], "%04u", file);
    snprintf(cand[1], sizeof cand[1], "%04u.pdf", file);
    tries[ntries++] = cand[0];
    tries[ntries++] = cand[1];
  }
  for (int i = 0; i < ntries; i++) {
    struct stat st;
    if (stat(tries[i], &st) == 0 && S_ISREG(st.st_mode) && access(tries[i], R_OK) == 0) {
      char *abs = realpath(tries[i], NULL); /* the upload starts later, whatever the cwd then */
      if (!abs || strlen(abs) >= sizeof c->stores[0].path) {
        snprintf(err, errlen, "%.200s: %s", tries[i], abs ? "path too long" : strerror(errno));
        free(abs);
        return -1;
      }
      for (int k = 0; k < STORE_MAX; k++) {
        if (c->stores[k].used && c->stores[k].file != file) continue;
        c->stores[k].used = true;
        c->stores[k].file = file;
        snprintf(c->stores[k].path, sizeof c->stores[k].path, "%s", abs);
        free(abs);
        return 0;
      }
      free(abs);
      snprintf(err, errlen, "too many stores in flight");
      return -1;
    }
  }
  if (path && path[0]) snprintf(err, errlen, "no readable file '%.200s'", path);
  else snprintf(err, errlen, "no readable file %04u or %04u.pdf in the current directory", file, file);
  return -1;
}

int cdht_content_open(cdht_content **out, uv_loop_t *loop, cdht_node *node, cdht_net *net, const char *data_dir,
                      const char *download_dir, char *err, size_t errlen) {
  *out = NULL;
  cdht_content *c = calloc(1, sizeof *c);
  /* One block for both per-file tables: large enough that malloc maps it fresh from the
   * kernel, so only the pages of files actually held ever become resident. */
  size_t ext_bytes = ((CDHT_FILE_MAX + 1) * sizeof *c->ext + 15) / 16 * 16;
  char *block = c ? calloc(1, ext_bytes + (CDHT_FILE_MAX + 1) * sizeof *c->dig) : NULL;
  if (block) {
    c->ext = (void *)block;
    c->dig = (void *)(block + ext_bytes);
  }
  if (!c || !block) {
    free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  c->node = node;
  c->net = net;
  c->loop = loop;
  snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir);
  snprintf(c->download_dir, sizeof c->download_dir, "%s", download_dir);
  if (mkdirs(c->data_dir, err, errlen) < 0) goto fail;
  DIR *d = opendir(c->data_dir);
  if (!d) {
    snprintf(err, errlen, "open %s: %s", c->data_dir, strerror(errno));
    goto fail;
  }
  for (struct dirent *e; (e = readdir(d));) { /* a restarted peer serves what it held */
    char ext[CDHT_EXT_LEN + 1];
    if (strstr(e->d_name, ".part-")) { /* a transfer, copy or record a killed peer left halfway */
      unlinkat(dirfd(d), e->d_name, 0);
      continue;
    }
    int file = parse_name(e->d_name, ext);
    if (file < 0) continue;
    cdht_node_set_stored(node, (uint16_t)file, true);
    snprintf(c->ext[file], sizeof c->ext[file], "%s", ext);
  }
  rewinddir(d);
  for (struct dirent *e; (e = readdir(d));) { /* records of files no longer here (forget_path) */
    char name[256], ext[CDHT_EXT_LEN + 1];
    size_t n = strlen(e->d_name), tail = sizeof ".digest" - 1;
    if (e->d_name[0] != '.' || n <= 1 + tail || n - 1 - tail >= sizeof name ||
        strcmp(e->d_name + n - tail, ".digest") != 0)
      continue;
    memcpy(name, e->d_name + 1, n - 1 - tail);
    name[n - 1 - tail] = '\0';
    int file = parse_name(name, ext);
    if (file < 0 || !cdht_node_is_stored(node, (uint16_t)file) || strcmp(c->ext[file], ext) != 0)
      unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
  cdht_net_xfer_hooks hooks = { .accept = on_accept, .received = on_received, .progress = on_progress, .ctx = c,
                                .digested = on_digested };
  cdht_net_set_xfer_hooks(net, &hooks);
  uv_timer_init(loop, &c->keys_timer);
  c->keys_timer.data = c;
  c->keys_timer_open = true;
  *out = c;
  return 0;
fail:
  free(c->ext); /* the block */
  free(c);
  return -1;
}

void cdht_content_stop(cdht_content *c) {
  if (!c || !c->keys_timer_open) return;
  c->stopped = true;
  for (int i = 0; i < STORE_MAX; i++) cdht_xfer_job_cancel(c->locals[i].job); /* they end in the loop's last run */
  c->keys_timer_open = false;
  uv_close((uv_handle_t *)&c->keys_timer, NULL);
}

void cdht_content_close(cdht_content *c) {
  if (!c) return;
  free(c->ext); /* the block, with dig */
  free(c);
}

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

/* Bounded tables, each entry given back on success, failure and timeout (docs/protocol.md §7):
 * - an awaited transfer ends when it arrives, or its request fails, or — not started by then —
 *   one request timeout after it was announced (a PUT: the store was accepted; a GET: the
 *   response said the content follows).  An honest sender starts one round trip (and a hash)
 *   after the announcement, so anything older was forged or lost.  When the table is full, a new
 *   PUT takes the place of the oldest one not started: forged STORE_REQs can fill it, but not
 *   hold it against an honest store (whose upload starts at once).
 * - a store slot is held from the `store` command until its upload ends (or the store failed
 *   before any peer accepted it, or the node refused the command). */
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
  uint64_t token;    /* the token its header must carry (a GET's: from the response, or from content
                      * that overtook the response, checked when the response comes) */
  bool early;        /* GET: content began before the response: it lands under a hidden name and
                      * takes its real one only once the response vouches for its sender and token */
  bool vouched;      /* ... and the response did */
  char ext[CDHT_EXT_LEN + 1]; /* GET: the content's extension */
  /* GET only: the content may overtake the response that announces it (two connections), so
   * the lines wait until both are there, and keep their order. */
  bool responded;    /* "Received a response message ..." was printed */
  bool started;      /* the transfer's header arrived (and no verdict yet) */
  bool said_start;   /* "We now start receiving the file" was printed */
  bool finished;     /* the transfer ended */
  int status;        /* how it ended */
  uint64_t deadline_ms; /* uv_now ms: not started by then, it is given up; UINT64_MAX: no deadline */
  char note[600];    /* what to say on stderr when it ended */
} expect;

/* One `store` command, from the command until its upload ends. */
typedef struct store_slot {
  bool used;
  bool uploading;    /* STORE_UPLOAD came: |seq| is known and the upload is under way */
  uint16_t file;
  uint32_t seq;      /* the node's request id, once uploading */
  uint64_t order;    /* when prepared, in stores: slots of one file are taken oldest first */
  cdht_content *c;   /* the upload's callback gets the slot */
  char path[1024];
} store_slot;

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
  uv_timer_t expect_timer;     /* fires at the earliest expectation deadline (expect_sweep) */
  bool expect_timer_open;
  store_slot stores[STORE_MAX];
  uint64_t store_order;        /* stores prepared so far */
  cdht_content_stats stats;
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
    uint32_t id;               /* the node's handover id */
    uint64_t token;            /* the receiver's, carried by each transfer */
    cdht_id peer, lo, hi;
    unsigned next_file;        /* the next file number to look at */
    unsigned inflight, done, failed; /* transfers under way; kept by the receiver; kept here */
  } handovers[HANDOVER_MAX];
  uint16_t handing[CDHT_FILE_MAX + 1]; /* per file being handed over: 1 + its handovers[] slot */
  /* Per file: bumped each time new content lands under its name, so that a handover removes
   * exactly the content it handed over, never what arrived since (§6). */
  uint32_t ver[CDHT_FILE_MAX + 1];
  uint32_t handing_ver[CDHT_FILE_MAX + 1]; /* the version on its way */
  uint64_t put_ms[CDHT_FILE_MAX + 1];      /* when a store's content last landed under the name (uv_now) */
  unsigned staged;                         /* names of handover files on their way in */
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
  cdht_variant variant;        /* the wording of the transfer and handover lines */
  /* 2019: files in the working directory are served as well (cdht_content_serve_dir): per file,
   * whether one is there and its extension; NULL otherwise. */
  struct served { bool on; char ext[CDHT_EXT_LEN + 1]; } *served;
  char served_dir[2048];
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

static void expect_sweep(uv_timer_t *t);

/* Arms the timer for the earliest deadline of an expectation not started. */
static void expect_arm(cdht_content *c) {
  if (!c->expect_timer_open) return;
  uint64_t first = UINT64_MAX, now = uv_now(c->loop);
  for (int i = 0; i < EXPECT_MAX; i++)
    if (c->expects[i].used && !c->expects[i].started && c->expects[i].deadline_ms < first)
      first = c->expects[i].deadline_ms;
  if (first == UINT64_MAX) uv_timer_stop(&c->expect_timer);
  else uv_timer_start(&c->expect_timer, expect_sweep, first > now ? first - now : 0, 0);
}

/* How long an announced transfer may take to start: the request timeout (see the top). */
static uint64_t start_deadline(const cdht_content *c) {
  return uv_now(c->loop) + cdht_node_config(c->node)->request_timeout_ms;
}

static void expect_sweep(uv_timer_t *t) {
  cdht_content *c = t->data;
  uint64_t now = uv_now(c->loop);
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (!e->used || e->started || e->deadline_ms > now) continue;
    if (e->kind == CDHT_XFER_GET)
      fprintf(stderr, "receiving %04u from peer %llu failed: the content did not come in time\n", e->file,
              (unsigned long long)e->from);
    e->used = false;
    c->stats.awaited_expired++;
  }
  expect_arm(c);
}

static void add_expect(cdht_content *c, uint8_t kind, uint16_t file, cdht_id from, uint32_t seq, uint64_t token) {
  for (int i = 0; i < EXPECT_MAX; i++) { /* a retried request accepted twice is awaited once */
    expect *e = &c->expects[i];
    /* The storer acts on the first acceptance it gets, and they travel in order: keep its token. */
    if (e->used && e->kind == kind && e->file == file && e->from == from && e->seq == seq) return;
  }
  expect *slot = NULL;
  for (int i = 0; i < EXPECT_MAX && !slot; i++)
    if (!c->expects[i].used) slot = &c->expects[i];
  for (int i = 0; i < EXPECT_MAX && !slot && kind == CDHT_XFER_PUT; i++) { /* full: the oldest PUT goes */
    expect *e = &c->expects[i];
    if (e->kind == CDHT_XFER_PUT && !e->started && (!slot || e->deadline_ms < slot->deadline_ms)) slot = e;
  }
  if (!slot) {
    c->stats.awaited_refused++;
    if (from == CDHT_ID_NONE) /* a request's content may come from whichever peer holds it */
      fprintf(stderr, "cdht: too many transfers awaited; file %04u will be refused\n", file);
    else
      fprintf(stderr, "cdht: too many transfers awaited; file %04u from peer %llu will be refused\n", file,
              (unsigned long long)from);
    return;
  }
  if (slot->used) c->stats.awaited_taken++;
  memset(slot, 0, sizeof *slot);
  *slot = (expect){ .used = true, .kind = kind, .file = file, .from = from, .seq = seq, .token = token,
                    .deadline_ms = kind == CDHT_XFER_PUT ? start_deadline(c) : UINT64_MAX };
  expect_arm(c);
}

/* ---- transfer hooks ---- */

static void get_path(const cdht_content *c, const expect *e, char *out, size_t cap) {
  snprintf(out, cap, "%s/received_%04u%s%s", c->download_dir, e->file, e->ext[0] ? "." : "", e->ext);
}

static void early_path(const cdht_content *c, const expect *e, char *out, size_t cap) {
  snprintf(out, cap, "%s/.received_%04u.%016llx.early", c->download_dir, e->file, (unsigned long long)e->token);
}

/* The response settles content that overtook it: genuine content takes its real name; content
 * from anyone else is removed, and the genuine one may still come. */
static void early_to_final(cdht_content *c, expect *e) {
  char early[4096], final[4096];
  early_path(c, e, early, sizeof early);
  get_path(c, e, final, sizeof final);
  e->early = false;
  if (e->status == 0 && rename(early, final) < 0) {
    e->status = -1;
    snprintf(e->note, sizeof e->note, "receiving %04u failed: rename %.300s: %s\n", e->file, final, strerror(errno));
  }
}

static void settle_early(cdht_content *c, expect *e, cdht_id from, uint64_t token) {
  char early[4096];
  early_path(c, e, early, sizeof early);
  if (e->from == from && e->token == token) {
    e->vouched = true;
    if (e->finished) early_to_final(c, e);
    return;
  }
  fprintf(stderr, "content for file %04u from peer %llu refused: the response came from peer %llu\n", e->file,
          (unsigned long long)e->from, (unsigned long long)from);
  if (e->finished) unlink(early);
  e->early = e->started = e->finished = e->vouched = false;
  e->from = from;
  e->token = token;
}

static expect *find_get(cdht_content *c, uint32_t seq, uint16_t file) {
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (e->used && e->kind == CDHT_XFER_GET && e->seq == seq && e->file == file) return e;
  }
  return NULL;
}

/* Prints what a GET can print now, in order; frees the expectation when all is said. */
static void print_transfer(const cdht_content *c, cdht_transfer_line which, uint16_t file, cdht_id peer) {
  char line[128];
  cdht_lines_transfer_as(line, sizeof line, c->variant, which, file, peer);
  fputs(line, stdout);
}

static void advance_get(const cdht_content *c, expect *e) {
  if (!e->responded) return;
  if (e->started && !e->said_start) {
    print_transfer(c, CDHT_LINE_RECEIVING, e->file, e->from);
    e->said_start = true;
  }
  if (!e->finished) return;
  if (e->status == 0) print_transfer(c, CDHT_LINE_RECEIVED, e->file, e->from);
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

static void print_keys_received(const cdht_content *c, cdht_id peer, unsigned count) {
  char line[128];
  cdht_event ev = { .kind = CDHT_EV_KEYS_RECEIVED, .peer = peer, .seq = count };
  cdht_stream st = cdht_lines_format_as(line, sizeof line, &ev, c->variant, false);
  if (st != CDHT_SILENT) fputs(line, st == CDHT_STDOUT ? stdout : stderr);
}

/* Prints "N files received from peer G." once G announced its handover and every file it
 * announced has arrived here and got its verdict (N: those that arrived whole). */
static void keys_check(const cdht_content *c, struct keys_in *k) {
  if (!k || !k->announced || k->arrived < k->expected || k->inflight > 0) return;
  print_keys_received(c, k->peer, k->ok);
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
      if (k->announced) print_keys_received(c, k->peer, k->ok);
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
  keys_check(c, k);
}

void cdht_content_keys_announced(cdht_content *c, cdht_id peer, unsigned count) {
  struct keys_in *k = keys_from(c, peer);
  if (!k) {
    print_keys_received(c, peer, count);
    return;
  }
  k->announced = true;
  k->expected = count;
  keys_check(c, k);
}

static int on_accept(void *ctx, const cdht_msg *h, char *path, size_t cap) {
  cdht_content *c = ctx;
  char ext[CDHT_EXT_LEN + 1] = { 0 };
  memcpy(ext, h->ext, CDHT_EXT_LEN);
  if (h->flags == CDHT_XFER_HANDOVER) {
    /* Keys come only from the neighbour that gives them, for keys in its range (the node's rule). */
    uint64_t now = uv_now(c->loop);
    cdht_handover_verdict v = cdht_node_handover_allowed(c->node, now, h->from, h->file, h->token, c->put_ms[h->file],
                                                         h->seq & CDHT_XFER_SUPERSEDED);
    if (v == CDHT_HANDOVER_REFUSE) {
      fprintf(stderr, "handover of %04u from peer %llu refused: not a neighbour handing over its keys\n", h->file,
              (unsigned long long)h->from);
      return -1; /* no verdict: the giver keeps it and does not count it */
    }
    /* It lands under a hidden name and takes its real one on the loop (on_received), unless a
     * store's newer content came meanwhile: the name says when it was accepted, or that it is
     * older already. */
    snprintf(path, cap, "%s/.%s-%04u-%llu-%u", c->data_dir, v == CDHT_HANDOVER_OLDER ? "older" : "taking", h->file,
             (unsigned long long)now, c->staged++);
    keys_started(c, h->from);
    return 0;
  }
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (!e->used || e->kind != h->flags || e->file != h->file || e->seq != h->seq) continue;
    if (e->from != CDHT_ID_NONE && e->from != h->from) continue;
    if (h->flags == CDHT_XFER_PUT) {
      if (h->token != e->token) continue; /* only the storer saw the token we accepted it with */
      e->used = false;
      held_path(c, h->file, ext, path, cap);
      return 0;
    }
    if (e->started || e->finished) continue; /* one transfer per request */
    if (e->responded && h->token != e->token) continue; /* not the content the answer announced */
    e->from = h->from;
    e->started = true;
    snprintf(e->ext, sizeof e->ext, "%s", ext);
    if (!e->responded) { /* ahead of its response: held under a hidden name until it vouches */
      e->early = true;
      e->token = h->token;
      early_path(c, e, path, cap);
      return 0;
    }
    get_path(c, e, path, cap);
    advance_get(c, e);
    return 0;
  }
  return -1; /* nobody asked for it */
}

static void on_received(void *ctx, const cdht_msg *h, const char *path, int status, const char *err) {
  cdht_content *c = ctx;
  if (h->flags == CDHT_XFER_GET) {
    expect *e = find_get(c, h->seq, h->file);
    if (!e || !e->started || e->from != h->from || e->token != h->token) { /* refused on the way */
      if (status == 0) unlink(path);
      return;
    }
    if (status < 0) { /* say so now; the genuine content may still come for this request */
      fprintf(stderr, "receiving %04u from peer %llu failed: %s\n", h->file, (unsigned long long)h->from, err);
      e->started = e->early = e->vouched = false;
      if (e->responded) e->used = false; /* the responder's one transfer failed: nothing else comes */
      else e->from = CDHT_ID_NONE;
      return;
    }
    e->finished = true;
    e->status = status;
    char final[4096];
    get_path(c, e, final, sizeof final);
    if (status == 0)
      snprintf(e->note, sizeof e->note, "file %04u saved as %.400s (%llu bytes, digest checked)\n", h->file, final,
               (unsigned long long)h->size);
    else
      snprintf(e->note, sizeof e->note, "receiving %04u from peer %llu failed: %.400s\n", h->file,
               (unsigned long long)h->from, err);
    if (e->early && e->vouched) early_to_final(c, e);
    if (!e->early) advance_get(c, e); /* else its response settles it (settle_early) */
    return;
  }
  if (status < 0) {
    fprintf(stderr, "%s %04u from peer %llu failed: %s\n", h->flags == CDHT_XFER_HANDOVER ? "taking over" : "storing",
            h->file, (unsigned long long)h->from, err);
    if (h->flags == CDHT_XFER_HANDOVER) keys_arrived(c, h->from, false);
    return;
  }
  char ext[CDHT_EXT_LEN + 1] = { 0 }, old[4096];
  memcpy(ext, h->ext, CDHT_EXT_LEN);
  if (h->flags == CDHT_XFER_HANDOVER) { /* from its hidden name (on_accept) to its own, if still the newest */
    const char *base = strrchr(path, '/');
    unsigned long long accepted = 0;
    unsigned f = 0, k = 0;
    bool older = base && strncmp(base, "/.older-", 8) == 0;
    if (!older && (!base || sscanf(base, "/.taking-%4u-%llu-%u", &f, &accepted, &k) != 3)) return; /* not ours */
    if (older) accepted = UINT64_MAX;
    /* Judged when it landed: the newer content must still be here (it may have been handed on). */
    if ((older || c->put_ms[h->file] > accepted) && cdht_node_is_stored(c->node, h->file)) {
      unlink(path);
      fprintf(stderr, "file %04u from peer %llu dropped: a store brought newer content here\n", h->file,
              (unsigned long long)h->from);
      keys_arrived(c, h->from, true); /* the giver may drop its older copy */
      return;
    }
    held_path(c, h->file, ext, old, sizeof old);
    if (rename(path, old) < 0) {
      fprintf(stderr, "taking over %04u from peer %llu failed: rename %s: %s\n", h->file, (unsigned long long)h->from,
              old, strerror(errno));
      unlink(path);
      keys_arrived(c, h->from, false);
      return;
    }
  }
  /* A second store of the same name replaces the first, whatever its extension was. */
  if (strcmp(c->ext[h->file], ext) != 0 && cdht_node_is_stored(c->node, h->file)) {
    held_path(c, h->file, c->ext[h->file], old, sizeof old);
    forget_path(old);
  }
  snprintf(c->ext[h->file], sizeof c->ext[h->file], "%s", ext);
  remember_digest(c, h->file, h->digest);
  c->ver[h->file]++;
  if (h->flags != CDHT_XFER_HANDOVER) c->put_ms[h->file] = uv_now(c->loop) + 1; /* +1: never 0 */
  if (h->flags == CDHT_XFER_HANDOVER) {
    fprintf(stderr, "file %04u taken over from peer %llu\n", h->file, (unsigned long long)h->from);
    keys_arrived(c, h->from, true);
    cdht_net_taken_over(c->net, h->file, h->from);
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
  const cdht_content *c = ctx;
  if (status == 0) print_transfer(c, CDHT_LINE_SENT, file, CDHT_ID_NONE);
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
    struct stat sb;
    if (c->served && c->served[f].on && stat(path, &sb) < 0)
      continue; /* the user's file in the working directory stays there, and stays the user's */
    uint64_t size = 0;
    const uint8_t *dg = known_digest(c, f, path, &size);
    uint32_t marks = cdht_node_superseded(c->node, f) ? CDHT_XFER_SUPERSEDED : 0;
    if (cdht_net_send_file(c->net, ho->peer, CDHT_XFER_HANDOVER, f, marks, ho->token, path, c->ext[f], dg, size, on_handed, c,
                           err, sizeof err) < 0) {
      fprintf(stderr, "handing over %04u failed: %s (kept here)\n", f, err);
      ho->failed++;
      continue;
    }
    c->handing[f] = (uint16_t)(slot + 1);
    c->handing_ver[f] = c->ver[f];
    ho->inflight++;
  }
  if (ho->inflight == 0 && ho->next_file > CDHT_FILE_MAX) {
    ho->used = false;
    cdht_net_handover_done(c->net, ho->peer, ho->id, ho->done, ho->failed);
  }
}

/* A key handed over is the neighbour's now: one holder per key.  When the last file of a
 * handover is through, the node says how many went. */
static void on_handed(void *ctx, uint16_t file, int status, const char *err) {
  cdht_content *c = ctx;
  unsigned slot = c->handing[file] ? c->handing[file] - 1u : HANDOVER_MAX;
  bool live = slot < HANDOVER_MAX && c->handovers[slot].used;
  c->handing[file] = 0;
  char path[4096];
  held_path(c, file, c->ext[file], path, sizeof path);
  if (status == 0 && c->ver[file] != c->handing_ver[file] && cdht_node_is_stored(c->node, file) && live) {
    /* New content arrived while the old went: the receiver holds the old one, so the new one
     * follows it, and nothing is removed here until it is through. */
    struct handover *ho = &c->handovers[slot];
    char e2[512];
    uint64_t size = 0;
    const uint8_t *dg = known_digest(c, file, path, &size);
    uint32_t marks = cdht_node_superseded(c->node, file) ? CDHT_XFER_SUPERSEDED : 0;
    if (cdht_net_send_file(c->net, ho->peer, CDHT_XFER_HANDOVER, file, marks, ho->token, path, c->ext[file], dg, size, on_handed,
                           c, e2, sizeof e2) == 0) {
      c->handing[file] = (uint16_t)(slot + 1);
      c->handing_ver[file] = c->ver[file];
      return; /* still in flight for this handover */
    }
    fprintf(stderr, "handing over %04u failed: %s (kept here)\n", file, e2);
    status = -1;
  } else if (status < 0) {
    fprintf(stderr, "handing over %04u failed: %s (kept here)\n", file, err);
  } else if (c->ver[file] == c->handing_ver[file]) {
    /* Exactly the content that went is removed (with its digest record); newer content that
     * came since stays. */
    forget_file(c, file);
    c->ext[file][0] = '\0';
    c->put_ms[file] = 0;
    if (live) cdht_net_file_handed(c->net, file, c->handovers[slot].peer);
    else cdht_node_set_stored(c->node, file, false);
  }
  if (!live) return;
  c->handovers[slot].inflight--;
  if (status == 0) c->handovers[slot].done++;
  else c->handovers[slot].failed++;
  handover_pump(c, slot);
}

/* The upload of a store ended: its slot is free, and a failed one frees the node's request too. */
static void on_uploaded(void *ctx, uint16_t file, int status, const char *err) {
  store_slot *s = ctx;
  if (status < 0) {
    fprintf(stderr, "store %04u failed: %s\n", file, err);
    cdht_net_upload_failed(s->c->net, s->file, s->seq);
  }
  s->used = false;
}

/* ---- events ---- */

/* The oldest (or newest) store of |file| not uploading yet, or NULL. */
static store_slot *waiting_store(cdht_content *c, uint16_t file, bool newest) {
  store_slot *best = NULL;
  for (int i = 0; i < STORE_MAX; i++) {
    store_slot *s = &c->stores[i];
    if (!s->used || s->uploading || s->file != file) continue;
    if (!best || (newest ? s->order > best->order : s->order < best->order)) best = s;
  }
  return best;
}

/* Out of line, so that the compiler judges the messages that quote a path (store_locally) by any
 * path, as before, not by this buffer's size. */
__attribute__((noinline)) static const char *slot_path(const store_slot *s) { return s->path; }

void cdht_content_cancel_store(cdht_content *c, uint16_t file) {
  store_slot *s = waiting_store(c, file, true);
  if (s) s->used = false;
}

const cdht_content_stats *cdht_content_get_stats(const cdht_content *c) { return &c->stats; }

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
    if (ev->peer != self) add_expect(c, CDHT_XFER_PUT, ev->file, ev->peer, ev->seq, ev->token);
    break;
  case CDHT_EV_STORE_UPLOAD: {
    store_slot *slot = waiting_store(c, ev->file, false);
    if (!slot) {
      fprintf(stderr, "store %04u: the file to send is no longer known\n", ev->file);
      break;
    }
    const char *src = slot_path(slot);
    slot->uploading = true;
    slot->seq = ev->seq;
    if (ev->peer == self) { /* the node holds no request for it (node.c start_request) */
      store_locally(c, ev->file, src, ev->seq);
      slot->used = false;
      break;
    }
    char ext[CDHT_EXT_LEN + 1];
    path_ext(src, ext);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_PUT, ev->file, ev->seq, ev->token, src, ext, NULL, 0, on_uploaded, slot,
                           err, sizeof err) < 0)
      on_uploaded(slot, ev->file, -1, err);
    break;
  }
  case CDHT_EV_STORE_FAILED: /* not accepted by anyone: its slot is free (an accepted one's upload frees it) */
    if (!ev->content) cdht_content_cancel_store(c, ev->file);
    break;
  case CDHT_EV_RESPONSE_SENT: {
    if (!ev->content) break;
    held_path(c, ev->file, c->ext[ev->file], path, sizeof path);
    print_transfer(c, CDHT_LINE_SENDING, ev->file, ev->peer);
    uint64_t size = 0;
    const uint8_t *dg = known_digest(c, ev->file, path, &size);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_GET, ev->file, ev->seq, ev->token, path, c->ext[ev->file],
                           dg, size, on_sent, c, err, sizeof err) < 0)
      fprintf(stderr, "sending %04u failed: %s\n", ev->file, err);
    break;
  }
  case CDHT_EV_HANDOVER: {
    unsigned slot = 0;
    while (slot < HANDOVER_MAX && c->handovers[slot].used) slot++;
    if (slot == HANDOVER_MAX) { /* cannot track it: keep the files, and say none went */
      fprintf(stderr, "handover to peer %llu postponed: too many at once\n", (unsigned long long)ev->peer);
      cdht_net_handover_done(c->net, ev->peer, ev->seq, 0, 1);
      break;
    }
    c->handovers[slot] = (struct handover){ .used = true, .id = ev->seq, .token = ev->token, .peer = ev->peer,
                                            .lo = ev->succ[0], .hi = ev->succ[1] };
    handover_pump(c, slot);
    break;
  }
  case CDHT_EV_REQUEST_SENT: /* the content may come before the response: be ready for it */
    add_expect(c, CDHT_XFER_GET, ev->file, CDHT_ID_NONE, ev->seq, 0);
    break;
  case CDHT_EV_RESPONSE_RECEIVED: {
    expect *e = find_get(c, ev->seq, ev->file);
    if (!e) break;
    if (!ev->content) {
      if (e->early && e->finished) settle_early(c, e, CDHT_ID_NONE, 0); /* nobody sends content: remove it */
      e->used = false;
      break;
    }
    e->responded = true;
    if (e->early) settle_early(c, e, ev->peer, ev->token);
    e->from = ev->peer;
    e->token = ev->token;
    if (!e->started && !e->finished) { /* the content has one request timeout to start */
      e->deadline_ms = start_deadline(c);
      expect_arm(c);
    }
    advance_get(c, e);
    break;
  }
  case CDHT_EV_REQUEST_FAILED: /* that request's transfer can no longer be told apart from a forged one */
    for (int i = 0; i < EXPECT_MAX; i++) {
      expect *e = &c->expects[i];
      if (!e->used || e->kind != CDHT_XFER_GET || e->seq != ev->seq || e->file != ev->file) continue;
      if (e->early && e->finished) settle_early(c, e, CDHT_ID_NONE, 0); /* nobody vouched for it */
      e->used = false;
    }
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
        store_slot *s = &c->stores[k];
        if (s->used) continue;
        *s = (store_slot){ .used = true, .file = file, .order = ++c->store_order, .c = c };
        snprintf(s->path, sizeof s->path, "%s", abs);
        free(abs);
        return 0;
      }
      free(abs);
      snprintf(err, errlen, "too many stores in flight");
      return -1;
    }
  }
  struct stat st;
  if (path && path[0] && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(err, errlen, "'%.200s' is a directory, not a file", path);
  else if (path && path[0]) snprintf(err, errlen, "no readable file '%.200s'", path);
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
    if (strstr(e->d_name, ".part-") || strncmp(e->d_name, ".taking-", 8) == 0 || strncmp(e->d_name, ".older-", 7) == 0) {
      /* a transfer, copy or record a killed peer left halfway, or a handed-over file not yet in place */
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
  d = opendir(c->download_dir);
  for (struct dirent *e; d && (e = readdir(d));) { /* content that overtook a response nobody sent */
    unsigned file;
    char hex[17], tail[8];
    if (sscanf(e->d_name, ".received_%4u.%16[0-9a-f].%7s", &file, hex, tail) == 3 && strcmp(tail, "early") == 0 &&
        strlen(hex) == 16)
      unlinkat(dirfd(d), e->d_name, 0);
  }
  if (d) closedir(d);
  cdht_net_xfer_hooks hooks = { .accept = on_accept, .received = on_received, .progress = on_progress, .ctx = c,
                                .digested = on_digested };
  cdht_net_set_xfer_hooks(net, &hooks);
  uv_timer_init(loop, &c->keys_timer);
  c->keys_timer.data = c;
  c->keys_timer_open = true;
  uv_timer_init(loop, &c->expect_timer);
  c->expect_timer.data = c;
  c->expect_timer_open = true;
  *out = c;
  return 0;
fail:
  free(c->ext); /* the block */
  free(c);
  return -1;
}

void cdht_content_stop(cdht_content *c) {
  if (c && c->expect_timer_open) {
    c->expect_timer_open = false;
    uv_close((uv_handle_t *)&c->expect_timer, NULL);
  }
  if (!c || !c->keys_timer_open) return;
  c->stopped = true;
  for (int i = 0; i < STORE_MAX; i++) cdht_xfer_job_cancel(c->locals[i].job); /* they end in the loop's last run */
  c->keys_timer_open = false;
  uv_close((uv_handle_t *)&c->keys_timer, NULL);
}

void cdht_content_set_variant(cdht_content *c, cdht_variant variant) { c->variant = variant; }

int cdht_content_serve_dir(cdht_content *c, const char *dir, char *err, size_t errlen) {
  if (!c->served) c->served = calloc(CDHT_FILE_MAX + 1, sizeof *c->served);
  if (!c->served) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  snprintf(c->served_dir, sizeof c->served_dir, "%s", dir);
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
    return -1;
  }
  for (struct dirent *e; (e = readdir(d));) {
    char ext[CDHT_EXT_LEN + 1];
    int file = parse_name(e->d_name, ext);
    if (file < 0) continue;
    /* NNNN.pdf before NNNN.anything else, as `store` looks for it */
    if (c->served[file].on && strcmp(c->served[file].ext, "pdf") == 0) continue;
    c->served[file].on = true;
    snprintf(c->served[file].ext, sizeof c->served[file].ext, "%s", ext);
    cdht_node_set_stored(c->node, (uint16_t)file, true);
  }
  closedir(d);
  return 0;
}

int cdht_content_source(const cdht_content *c, uint16_t file, char *path, size_t cap) {
  struct stat sb;
  held_path(c, file, c->ext[file], path, cap);
  if (stat(path, &sb) == 0) return 0;
  if (!c->served || !c->served[file].on) return -1;
  snprintf(path, cap, "%s/%04u%s%s", c->served_dir, file, c->served[file].ext[0] ? "." : "", c->served[file].ext);
  return 0;
}

void cdht_content_close(cdht_content *c) {
  if (!c) return;
  free(c->served);
  free(c->ext); /* the block, with dig */
  free(c);
}

/* What is wrong with directory |dir| (NULL: nothing); |need| is the access(2) mode it must allow. */
static const char *dir_problem(const char *dir, int need) {
  struct stat st;
  if (stat(dir, &st) < 0) return strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  if (access(dir, need) < 0) return errno == EACCES || errno == EROFS ? "not writable" : strerror(errno);
  return NULL;
}

int cdht_content_check_dirs(const char *data_dir, bool data_dir_given, const char *download_dir, char *err,
                            size_t errlen) {
  const char *why = dir_problem(download_dir, W_OK | X_OK);
  if (why) {
    snprintf(err, errlen, "--download-dir %.300s: %s", download_dir, why);
    return -1;
  }
  struct stat st;
  if (stat(data_dir, &st) < 0 && errno == ENOENT) return 0; /* created by cdht_content_open */
  why = dir_problem(data_dir, R_OK | W_OK | X_OK);
  if (why) {
    snprintf(err, errlen, "%s %.300s: %s", data_dir_given ? "--data-dir" : "data directory", data_dir, why);
    return -1;
  }
  return 0;
}

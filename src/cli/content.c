#include "content.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdht/err.h"
#include "cli/lines.h"
#include "cli/names.h"
#include "io/xfer.h"

/* A name as text, for messages (a compound literal: it lives until the end of the statement's block). */
#define NM(name) cdht_lines_name((char[CDHT_NAME_MAX + 1]){ 0 }, (name))

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
  cdht_name name;
  cdht_peer from;    /* the only peer it may come from; no peer: any (a request's holder) */
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
  cdht_name name;
  uint32_t seq;      /* the node's request id, once uploading */
  uint64_t order;    /* when prepared, in stores: slots of one file are taken oldest first */
  cdht_content *c;   /* the upload's callback gets the slot */
  char path[1024];
} store_slot;

/* What this peer knows of one name: its content is held here, or served from the working
 * directory (2019), or on its way to a neighbour.  Kept while any of those holds (entry_release),
 * so the table is bounded by the node's held names (cfg.max_names) and the served directory. */
typedef struct entry {
  cdht_name name;
  char ext[CDHT_EXT_LEN + 1];  /* held: its extension ("" for none; always "" with names) */
  struct digest_cache {        /* held: its digest, while size and mtime still match */
    bool valid;
    uint64_t size;
    int64_t mtime_ns;
    uint8_t digest[CDHT_DIGEST_LEN];
  } dig;
  uint16_t handing;            /* being handed over: 1 + its handovers[] slot */
  /* Bumped each time new content lands under the name, so that a handover removes exactly the
   * content it handed over, never what arrived since (§6). */
  uint32_t ver;
  uint32_t handing_ver;        /* the version on its way */
  uint64_t put_ms;             /* when a store's content last landed under the name (uv_now) */
  bool served;                 /* 2019: a file of this name is in the working directory ... */
  char served_ext[CDHT_EXT_LEN + 1]; /* ... with this extension */
} entry;

struct cdht_content {
  cdht_node *node;
  cdht_net *net;
  char data_dir[2048], download_dir[2048];
  bool names;                  /* any name (--listen): files named by their encoding (names.h), no extension */
  entry **tab;                 /* what we know per name, sorted by name (entry_get) */
  size_t ntab, tabcap;
  expect expects[EXPECT_MAX];
  uv_timer_t expect_timer;     /* fires at the earliest expectation deadline (expect_sweep) */
  bool expect_timer_open;
  store_slot stores[STORE_MAX];
  uint64_t store_order;        /* stores prepared so far */
  cdht_content_stats stats;
  struct local_store {         /* our own store of a key we hold: copied and hashed on the pool */
    struct cdht_content *c;
    cdht_xfer_job *job;        /* NULL: the slot is free */
    cdht_name name;
    uint32_t seq;
    char ext[CDHT_EXT_LEN + 1];
    char dst[4096];
  } locals[STORE_MAX];
  bool stopped;                /* cdht_content_stop(): jobs that end now change nothing */
  struct handover {            /* keys in (lo, hi] going to |peer|, a few files at a time */
    bool used;
    uint32_t id;               /* the node's handover id */
    uint64_t token;            /* the receiver's, carried by each transfer */
    cdht_peer peer;
    cdht_id lo, hi;
    cdht_name next;            /* the last name looked at (begun): the next is the one after it */
    bool begun, end;           /* a name was looked at; every name was */
    unsigned inflight, done, failed; /* transfers under way; kept by the receiver; kept here */
  } handovers[HANDOVER_MAX];
  unsigned staged;                         /* names of handover files on their way in */
  /* Keys coming to us, per giver: its KEYS_DONE travels on another connection than the files
   * and may overtake their last bytes or their digest check, so "N files received" waits for
   * the files themselves (keys_check). */
  struct keys_in {
    bool used, announced;
    cdht_peer peer;
    unsigned expected, arrived, ok, inflight; /* announced; verdicts and refusals; whole; under way */
    uint64_t since_ms;                        /* last news from |peer| */
  } keys_in[HANDOVER_MAX];
  uv_loop_t *loop;
  uv_timer_t keys_timer;       /* sweeps keys_in while it is not empty (keys_sweep) */
  bool keys_timer_open;
  cdht_variant variant;        /* the wording of the transfer and handover lines */
  /* 2019: files in the working directory are served as well (cdht_content_serve_dir; entry.served). */
  char served_dir[2048];
};

/* ---- the table of names ---- */

/* The index of |name| in the table, or where it would go; *found says which. */
static size_t entry_index(const cdht_content *c, const cdht_name *name, bool *found) {
  size_t lo = 0, hi = c->ntab;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cdht_name_cmp(&c->tab[mid]->name, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = lo < c->ntab && cdht_name_eq(&c->tab[lo]->name, name);
  return lo;
}

static entry *entry_find(const cdht_content *c, const cdht_name *name) {
  bool found;
  size_t i = entry_index(c, name, &found);
  return found ? c->tab[i] : NULL;
}

/* The entry of |name|, made if there is none.  NULL: out of memory. */
static entry *entry_get(cdht_content *c, const cdht_name *name) {
  bool found;
  size_t i = entry_index(c, name, &found);
  if (found) return c->tab[i];
  if (c->ntab == c->tabcap) {
    size_t cap = c->tabcap ? c->tabcap * 2 : 64;
    entry **t = realloc(c->tab, cap * sizeof *t);
    if (!t) return NULL;
    c->tab = t;
    c->tabcap = cap;
  }
  entry *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->name = *name;
  memmove(c->tab + i + 1, c->tab + i, (c->ntab - i) * sizeof *c->tab);
  c->tab[i] = e;
  c->ntab++;
  return e;
}

/* Forgets |e| (NULL: nothing) once nothing is known of it: not held, not served, not on its way. */
static void entry_release(cdht_content *c, entry *e) {
  if (!e || e->served || e->handing || cdht_node_is_stored(c->node, &e->name)) return;
  bool found;
  size_t i = entry_index(c, &e->name, &found);
  if (!found) return;
  memmove(c->tab + i, c->tab + i + 1, (c->ntab - i - 1) * sizeof *c->tab);
  c->ntab--;
  free(e);
}

/* ---- file names ---- */

/* "2012.pdf" -> name "2012" and "pdf"; -1 for any other file name (the classic forms). */
static int parse_name(const char *file, cdht_name *name, char ext[CDHT_EXT_LEN + 1]) {
  if (strlen(file) < 4 || strspn(file, "0123456789") < 4) return -1;
  cdht_name_set(name, file, 4);
  ext[0] = '\0';
  if (file[4] == '\0') return 0;
  if (file[4] != '.') return -1;
  size_t n = strlen(file + 5);
  if (n == 0 || n > CDHT_EXT_LEN) return -1;
  for (size_t i = 0; i < n; i++) {
    char ch = file[5 + i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) return -1;
  }
  memcpy(ext, file + 5, n + 1);
  return 0;
}

/* The extension a path's base name carries, if it is one the protocol can carry; none with names
 * (a name is the whole file name: "report-2026.pdf"). */
static void path_ext(const cdht_content *c, const char *path, char ext[CDHT_EXT_LEN + 1]) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  ext[0] = '\0';
  if (c->names || !dot || dot == base || strlen(dot + 1) == 0 || strlen(dot + 1) > CDHT_EXT_LEN) return;
  for (const char *p = dot + 1; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return;
  snprintf(ext, CDHT_EXT_LEN + 1, "%s", dot + 1);
}

/* A transfer header's extension (NUL-padded, not terminated); none with names. */
static void header_ext(const cdht_content *c, const cdht_msg *h, char ext[CDHT_EXT_LEN + 1]) {
  memset(ext, 0, CDHT_EXT_LEN + 1);
  if (!c->names) memcpy(ext, h->ext, CDHT_EXT_LEN);
}

#define BASE_MAX (CDHT_FILE_NAME_MAX + CDHT_EXT_LEN + 2)

/* The file name of |name| in a directory: its encoding (names.h; a classic name, four digits, is
 * itself), and ".ext" if it has one (the classic forms only). */
static const char *base_name(char out[BASE_MAX], const cdht_name *name, const char *ext) {
  size_t n = cdht_name_to_file(out, name->s, name->len);
  if (ext[0]) snprintf(out + n, BASE_MAX - n, ".%s", ext);
  return out;
}

static void held_path(const cdht_content *c, const cdht_name *name, const char *ext, char *out, size_t cap) {
  char b[BASE_MAX];
  snprintf(out, cap, "%s/%s", c->data_dir, base_name(b, name, ext));
}

/* A name too long to encode is stored under its hash ("%%..."), so the name itself is kept
 * beside it, in ".%%....name", to be found again at the next start (name_of_file). */
static void name_record_path(const cdht_content *c, const char *base, char *out, size_t cap) {
  snprintf(out, cap, "%s/.%s.name", c->data_dir, base);
}

static void save_name_record(const cdht_content *c, const cdht_name *name) {
  char b[BASE_MAX], rec[4096];
  if (!cdht_name_file_hashed(base_name(b, name, ""))) return;
  name_record_path(c, b, rec, sizeof rec);
  FILE *f = fopen(rec, "wb");
  if (!f || fwrite(name->s, 1, name->len, f) != name->len || fclose(f) != 0) {
    fprintf(stderr, "cdht: could not save the name of %s: %s\n", b, strerror(errno));
    if (f) fclose(f);
  }
}

/* The name a file |file| of the data directory holds, and its extension.  Returns 0, or -1 if
 * it is no held file's name (a dot-file, a name we would not write, a hash without its name). */
static int name_of_file(const cdht_content *c, const char *file, cdht_name *name, char ext[CDHT_EXT_LEN + 1]) {
  if (!c->names) return parse_name(file, name, ext);
  ext[0] = '\0';
  if (file[0] == '.') return -1;
  uint8_t raw[CDHT_NAME_MAX];
  size_t n;
  if (cdht_name_file_hashed(file)) {
    char rec[4096];
    name_record_path(c, file, rec, sizeof rec);
    FILE *f = fopen(rec, "rb");
    if (!f) return -1;
    n = fread(raw, 1, sizeof raw, f);
    fclose(f);
  } else {
    n = cdht_name_from_file(raw, file);
  }
  char b[BASE_MAX];
  if (cdht_name_set(name, raw, n) < 0 || strcmp(base_name(b, name, ""), file) != 0) return -1; /* one form per name */
  return 0;
}

static int64_t mtime_ns(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec; }

/* Keeps a held file's digest, in memory and in its record next to it (xfer.h), so that neither
 * a second send nor a restart hashes it again while its size and mtime stay those of |st|. */
static void remember(cdht_content *c, entry *e, const cdht_xfer_stamp *st) {
  char path[4096];
  e->dig.valid = true;
  e->dig.size = st->size;
  e->dig.mtime_ns = st->mtime_ns;
  memcpy(e->dig.digest, st->digest, CDHT_DIGEST_LEN);
  held_path(c, &e->name, e->ext, path, sizeof path);
  if (cdht_xfer_record_save(path, st) < 0) /* only a cache: it is hashed again after a restart */
    fprintf(stderr, "cdht: could not save the digest of %s: %s\n", path, strerror(errno));
}

/* A held file's digest was just checked (it arrived, or was stored here): keep it. */
static void remember_digest(cdht_content *c, entry *e, const uint8_t digest[CDHT_DIGEST_LEN]) {
  char path[4096];
  struct stat st;
  held_path(c, &e->name, e->ext, path, sizeof path);
  if (stat(path, &st) < 0) return;
  cdht_xfer_stamp stamp = { .size = (uint64_t)st.st_size, .mtime_ns = mtime_ns(&st) };
  memcpy(stamp.digest, digest, CDHT_DIGEST_LEN);
  remember(c, e, &stamp);
}

/* The known digest of a held file (from memory, or from its record after a restart), if the
 * file is unchanged since; else NULL (it is computed then, on the pool). */
static const uint8_t *known_digest(entry *e, const char *path, uint64_t *size) {
  struct stat st;
  if (!e || stat(path, &st) < 0) return NULL;
  struct digest_cache *d = &e->dig;
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

/* Removes the held file of |e| (and a hashed name's record) and forgets its digest. */
static void forget_file(cdht_content *c, entry *e) {
  char path[4096], b[BASE_MAX];
  held_path(c, &e->name, e->ext, path, sizeof path);
  forget_path(path);
  if (cdht_name_file_hashed(base_name(b, &e->name, ""))) {
    name_record_path(c, b, path, sizeof path);
    unlink(path);
  }
  e->dig.valid = false;
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
      fprintf(stderr, "receiving %s from peer %llu failed: the content did not come in time\n", NM(&e->name),
              (unsigned long long)e->from.id);
    e->used = false;
    c->stats.awaited_expired++;
  }
  expect_arm(c);
}

/* The same peer: ids are unique in a ring (it may speak from an address of either family). */
static bool same_peer(cdht_peer a, cdht_peer b) {
  return cdht_peer_known(&a) && cdht_peer_known(&b) && a.id == b.id;
}

static void add_expect(cdht_content *c, uint8_t kind, const cdht_name *name, cdht_peer from, uint32_t seq,
                       uint64_t token) {
  for (int i = 0; i < EXPECT_MAX; i++) { /* a retried request accepted twice is awaited once */
    expect *e = &c->expects[i];
    /* The storer acts on the first acceptance it gets, and they travel in order: keep its token. */
    if (e->used && e->kind == kind && cdht_name_eq(&e->name, name) && cdht_peer_eq(&e->from, &from) && e->seq == seq)
      return;
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
    if (!cdht_peer_known(&from)) /* a request's content may come from whichever peer holds it */
      fprintf(stderr, "cdht: too many transfers awaited; file %s will be refused\n", NM(name));
    else
      fprintf(stderr, "cdht: too many transfers awaited; file %s from peer %llu will be refused\n", NM(name),
              (unsigned long long)from.id);
    return;
  }
  if (slot->used) c->stats.awaited_taken++;
  memset(slot, 0, sizeof *slot);
  *slot = (expect){ .used = true, .kind = kind, .name = *name, .from = from, .seq = seq, .token = token,
                    .deadline_ms = kind == CDHT_XFER_PUT ? start_deadline(c) : UINT64_MAX };
  expect_arm(c);
}

/* ---- transfer hooks ---- */

static void get_path(const cdht_content *c, const expect *e, char *out, size_t cap) {
  char b[BASE_MAX];
  snprintf(out, cap, "%s/received_%s", c->download_dir, base_name(b, &e->name, e->ext));
}

static void early_path(const cdht_content *c, const expect *e, char *out, size_t cap) {
  char b[BASE_MAX];
  snprintf(out, cap, "%s/.received_%s.%016llx.early", c->download_dir, base_name(b, &e->name, ""),
           (unsigned long long)e->token);
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
    snprintf(e->note, sizeof e->note, "receiving %s failed: rename %.300s: %s\n", NM(&e->name), final, strerror(errno));
  }
}

static void settle_early(cdht_content *c, expect *e, cdht_peer from, uint64_t token) {
  char early[4096];
  early_path(c, e, early, sizeof early);
  if (same_peer(e->from, from) && e->token == token) {
    e->vouched = true;
    if (e->finished) early_to_final(c, e);
    return;
  }
  fprintf(stderr, "content for file %s from peer %llu refused: the response came from peer %llu\n", NM(&e->name),
          (unsigned long long)e->from.id, (unsigned long long)from.id);
  if (e->finished) unlink(early);
  e->early = e->started = e->finished = e->vouched = false;
  e->from = from;
  e->token = token;
}

static expect *find_get(cdht_content *c, uint32_t seq, const cdht_name *name) {
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (e->used && e->kind == CDHT_XFER_GET && e->seq == seq && cdht_name_eq(&e->name, name)) return e;
  }
  return NULL;
}

/* Prints what a GET can print now, in order; frees the expectation when all is said. */
static void print_transfer(const cdht_content *c, cdht_transfer_line which, const cdht_name *name, cdht_id peer) {
  char line[512];
  cdht_lines_transfer_as(line, sizeof line, c->variant, which, name, peer);
  fputs(line, stdout);
}

static void advance_get(const cdht_content *c, expect *e) {
  if (!e->responded) return;
  if (e->started && !e->said_start) {
    print_transfer(c, CDHT_LINE_RECEIVING, &e->name, e->from.id);
    e->said_start = true;
  }
  if (!e->finished) return;
  if (e->status == 0) print_transfer(c, CDHT_LINE_RECEIVED, &e->name, e->from.id);
  fputs(e->note, stderr);
  e->used = false;
}

#define KEYS_QUIET_MS 5000 /* a giver's handover with nothing under way for this long is over */

static void keys_sweep(uv_timer_t *t);

static struct keys_in *keys_from(cdht_content *c, cdht_peer peer) {
  struct keys_in *k = NULL;
  for (int i = 0; i < HANDOVER_MAX && !k; i++)
    if (c->keys_in[i].used && same_peer(c->keys_in[i].peer, peer)) k = &c->keys_in[i];
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

static void print_keys_received(const cdht_content *c, cdht_peer peer, unsigned count) {
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

static void keys_started(cdht_content *c, cdht_peer peer) {
  struct keys_in *k = keys_from(c, peer);
  if (k) k->inflight++;
}

/* A handover file from |peer| got its verdict. */
static void keys_arrived(cdht_content *c, cdht_peer peer, bool whole) {
  struct keys_in *k = keys_from(c, peer);
  if (!k) return;
  if (k->inflight > 0) k->inflight--;
  k->arrived++;
  k->ok += whole;
  keys_check(c, k);
}

void cdht_content_keys_announced(cdht_content *c, cdht_peer peer, unsigned count) {
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
  char ext[CDHT_EXT_LEN + 1];
  header_ext(c, h, ext);
  if (h->flags == CDHT_XFER_HANDOVER) {
    /* Keys come only from the neighbour that gives them, for keys in its range (the node's rule). */
    uint64_t now = uv_now(c->loop);
    const entry *had = entry_find(c, &h->name);
    cdht_handover_verdict v = cdht_node_handover_allowed(c->node, now, h->from, &h->name, h->token,
                                                         had ? had->put_ms : 0, h->seq & CDHT_XFER_SUPERSEDED);
    if (v == CDHT_HANDOVER_REFUSE) {
      fprintf(stderr, "handover of %s from peer %llu refused: not a neighbour handing over its keys\n", NM(&h->name),
              (unsigned long long)h->from.id);
      return -1; /* no verdict: the giver keeps it and does not count it */
    }
    /* It lands under a hidden name and takes its real one on the loop (on_received), unless a
     * store's newer content came meanwhile: the name says when it was accepted, or that it is
     * older already. */
    char b[BASE_MAX];
    snprintf(path, cap, "%s/.%s-%llu-%u-%s", c->data_dir, v == CDHT_HANDOVER_OLDER ? "older" : "taking",
             (unsigned long long)now, c->staged++, base_name(b, &h->name, ""));
    keys_started(c, h->from);
    return 0;
  }
  for (int i = 0; i < EXPECT_MAX; i++) {
    expect *e = &c->expects[i];
    if (!e->used || e->kind != h->flags || !cdht_name_eq(&e->name, &h->name) || e->seq != h->seq) continue;
    if (cdht_peer_known(&e->from) && !same_peer(e->from, h->from)) continue;
    if (h->flags == CDHT_XFER_PUT) {
      if (h->token != e->token) continue; /* only the storer saw the token we accepted it with */
      e->used = false;
      held_path(c, &h->name, ext, path, cap);
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
    expect *e = find_get(c, h->seq, &h->name);
    if (!e || !e->started || !same_peer(e->from, h->from) || e->token != h->token) { /* refused on the way */
      if (status == 0) unlink(path);
      return;
    }
    if (status < 0) { /* say so now; the genuine content may still come for this request */
      fprintf(stderr, "receiving %s from peer %llu failed: %s\n", NM(&h->name), (unsigned long long)h->from.id, err);
      e->started = e->early = e->vouched = false;
      if (e->responded) e->used = false; /* the responder's one transfer failed: nothing else comes */
      else e->from = cdht_peer_none();
      return;
    }
    e->finished = true;
    e->status = status;
    char final[4096];
    get_path(c, e, final, sizeof final);
    if (status == 0)
      snprintf(e->note, sizeof e->note, "file %.255s saved as %.300s (%llu bytes, digest checked)\n", NM(&h->name), final,
               (unsigned long long)h->size);
    else
      snprintf(e->note, sizeof e->note, "receiving %.255s from peer %llu failed: %.300s\n", NM(&h->name),
               (unsigned long long)h->from.id, err);
    if (e->early && e->vouched) early_to_final(c, e);
    if (!e->early) advance_get(c, e); /* else its response settles it (settle_early) */
    return;
  }
  if (status < 0) {
    fprintf(stderr, "%s %s from peer %llu failed: %s\n", h->flags == CDHT_XFER_HANDOVER ? "taking over" : "storing",
            NM(&h->name), (unsigned long long)h->from.id, err);
    if (h->flags == CDHT_XFER_HANDOVER) keys_arrived(c, h->from, false);
    return;
  }
  char ext[CDHT_EXT_LEN + 1], old[4096];
  header_ext(c, h, ext);
  entry *e = entry_get(c, &h->name);
  if (!e) {
    fprintf(stderr, "%s %s from peer %llu failed: out of memory\n",
            h->flags == CDHT_XFER_HANDOVER ? "taking over" : "storing", NM(&h->name), (unsigned long long)h->from.id);
    unlink(path);
    if (h->flags == CDHT_XFER_HANDOVER) keys_arrived(c, h->from, false);
    return;
  }
  if (h->flags == CDHT_XFER_HANDOVER) { /* from its hidden name (on_accept) to its own, if still the newest */
    const char *base = strrchr(path, '/');
    unsigned long long accepted = 0;
    unsigned k = 0;
    bool older = base && strncmp(base, "/.older-", 8) == 0;
    if (!older && (!base || sscanf(base, "/.taking-%llu-%u-", &accepted, &k) != 2)) return; /* not ours */
    if (older) accepted = UINT64_MAX;
    /* Judged when it landed: the newer content must still be here (it may have been handed on). */
    if ((older || e->put_ms > accepted) && cdht_node_is_stored(c->node, &h->name)) {
      unlink(path);
      fprintf(stderr, "file %s from peer %llu dropped: a store brought newer content here\n", NM(&h->name),
              (unsigned long long)h->from.id);
      keys_arrived(c, h->from, true); /* the giver may drop its older copy */
      return;
    }
    held_path(c, &h->name, ext, old, sizeof old);
    if (rename(path, old) < 0) {
      fprintf(stderr, "taking over %s from peer %llu failed: rename %s: %s\n", NM(&h->name),
              (unsigned long long)h->from.id, old, strerror(errno));
      unlink(path);
      keys_arrived(c, h->from, false);
      entry_release(c, e);
      return;
    }
  }
  /* A second store of the same name replaces the first, whatever its extension was. */
  if (strcmp(e->ext, ext) != 0 && cdht_node_is_stored(c->node, &h->name)) {
    held_path(c, &h->name, e->ext, old, sizeof old);
    forget_path(old);
  }
  snprintf(e->ext, sizeof e->ext, "%s", ext);
  save_name_record(c, &h->name);
  remember_digest(c, e, h->digest);
  e->ver++;
  if (h->flags != CDHT_XFER_HANDOVER) e->put_ms = uv_now(c->loop) + 1; /* +1: never 0 */
  int rc;
  if (h->flags == CDHT_XFER_HANDOVER) {
    fprintf(stderr, "file %s taken over from peer %llu\n", NM(&h->name), (unsigned long long)h->from.id);
    keys_arrived(c, h->from, true);
    rc = cdht_net_taken_over(c->net, &h->name, h->from);
  } else {
    rc = cdht_net_stored(c->net, &h->name, h->from, h->seq);
  }
  if (rc < 0 && !cdht_node_is_stored(c->node, &h->name)) { /* the node holds as many names as it may */
    fprintf(stderr, "file %s from peer %llu not kept: %s\n", NM(&h->name), (unsigned long long)h->from.id,
            rc == CDHT_ERR_BUSY ? "this peer holds as many names as it may" : cdht_strerror(rc));
    forget_file(c, e);
    entry_release(c, e);
  }
}

static void on_progress(void *ctx, const cdht_name *name, int sending, uint64_t done, uint64_t total) {
  (void)ctx;
  fprintf(stderr, "%s %s: %llu%% (%.1f of %.1f MiB)\n", sending ? "sending" : "receiving", NM(name),
          (unsigned long long)(done * 100 / total), (double)done / 1048576.0, (double)total / 1048576.0);
}

/* A digest was computed before a send: a held file's is kept (remember). */
static void on_digested(void *ctx, uint8_t kind, const cdht_name *name, const char *path, const cdht_xfer_stamp *st) {
  cdht_content *c = ctx;
  char held[4096];
  struct stat sb;
  fprintf(stderr, "hashed %s (%.1f MiB)\n", NM(name), (double)st->size / 1048576.0);
  entry *e = entry_find(c, name);
  if (kind == CDHT_XFER_PUT || !e) return; /* the user's own file, not one held here */
  held_path(c, name, e->ext, held, sizeof held);
  if (strcmp(held, path) != 0 || stat(held, &sb) < 0 || (uint64_t)sb.st_size != st->size ||
      mtime_ns(&sb) != st->mtime_ns)
    return; /* replaced meanwhile */
  remember(c, e, st);
}

static void on_sent(void *ctx, const cdht_name *name, int status, const char *err) {
  const cdht_content *c = ctx;
  if (status == 0) print_transfer(c, CDHT_LINE_SENT, name, 0);
  else fprintf(stderr, "sending %s failed: %s\n", NM(name), err);
}

/* Starts the next transfers of a handover, up to the window; when none is left under way and
 * none left to start, the node says how many went. */
static void on_handed(void *ctx, const cdht_name *name, int status, const char *err);

/* Sends held |e| as part of handover |slot|.  Returns 0, or -1 (said why; kept here). */
static int hand_over(cdht_content *c, unsigned slot, entry *e, const char *path) {
  struct handover *ho = &c->handovers[slot];
  char err[512];
  uint64_t size = 0;
  const uint8_t *dg = known_digest(e, path, &size);
  uint32_t marks = cdht_node_superseded(c->node, &e->name) ? CDHT_XFER_SUPERSEDED : 0;
  if (cdht_net_send_file(c->net, ho->peer, CDHT_XFER_HANDOVER, &e->name, marks, ho->token, path, e->ext, dg, size,
                         on_handed, c, err, sizeof err) < 0) {
    fprintf(stderr, "handing over %s failed: %s (kept here)\n", NM(&e->name), err);
    return -1;
  }
  e->handing = (uint16_t)(slot + 1);
  e->handing_ver = e->ver;
  return 0;
}

static void handover_pump(cdht_content *c, unsigned slot) {
  struct handover *ho = &c->handovers[slot];
  char path[4096];
  while (ho->inflight < HANDOVER_WINDOW && !ho->end) {
    bool found = false;
    size_t i = ho->begun ? entry_index(c, &ho->next, &found) : 0;
    i += found; /* names in order: the one after the last looked at, wherever the table moved */
    if (i >= c->ntab) { ho->end = true; break; }
    entry *e = c->tab[i];
    ho->next = e->name;
    ho->begun = true;
    if (!cdht_node_is_stored(c->node, &e->name) || e->handing ||
        !cdht_ring_between(ho->lo, cdht_node_name_key(c->node, &e->name), ho->hi, cdht_node_mask(c->node)))
      continue;
    held_path(c, &e->name, e->ext, path, sizeof path);
    struct stat sb;
    if (e->served && stat(path, &sb) < 0)
      continue; /* the user's file in the working directory stays there, and stays the user's */
    if (hand_over(c, slot, e, path) < 0) ho->failed++;
    else ho->inflight++;
  }
  if (ho->inflight == 0 && ho->end) {
    ho->used = false;
    cdht_net_handover_done(c->net, ho->peer, ho->id, ho->done, ho->failed);
  }
}

/* A key handed over is the neighbour's now: one holder per key.  When the last file of a
 * handover is through, the node says how many went. */
static void on_handed(void *ctx, const cdht_name *name, int status, const char *err) {
  cdht_content *c = ctx;
  entry *e = entry_find(c, name);
  if (!e) return; /* cannot be: an entry on its way is kept */
  unsigned slot = e->handing ? e->handing - 1u : HANDOVER_MAX;
  bool live = slot < HANDOVER_MAX && c->handovers[slot].used;
  e->handing = 0;
  char path[4096];
  held_path(c, name, e->ext, path, sizeof path);
  if (status == 0 && e->ver != e->handing_ver && cdht_node_is_stored(c->node, name) && live) {
    /* New content arrived while the old went: the receiver holds the old one, so the new one
     * follows it, and nothing is removed here until it is through. */
    if (hand_over(c, slot, e, path) == 0) return; /* still in flight for this handover */
    status = -1;
  } else if (status < 0) {
    fprintf(stderr, "handing over %s failed: %s (kept here)\n", NM(name), err);
  } else if (e->ver == e->handing_ver) {
    /* Exactly the content that went is removed (with its digest record); newer content that
     * came since stays. */
    forget_file(c, e);
    e->ext[0] = '\0';
    e->put_ms = 0;
    if (live) cdht_net_file_handed(c->net, name, c->handovers[slot].peer);
    else cdht_node_set_stored(c->node, name, false);
  }
  if (live) {
    c->handovers[slot].inflight--;
    if (status == 0) c->handovers[slot].done++;
    else c->handovers[slot].failed++;
    handover_pump(c, slot);
  }
  entry_release(c, e);
}

/* The upload of a store ended: its slot is free, and a failed one frees the node's request too. */
static void on_uploaded(void *ctx, const cdht_name *name, int status, const char *err) {
  store_slot *s = ctx;
  if (status < 0) {
    fprintf(stderr, "store %s failed: %s\n", NM(name), err);
    cdht_net_upload_failed(s->c->net, &s->name, s->seq);
  }
  s->used = false;
}

/* ---- events ---- */

/* The oldest (or newest) store of |name| not uploading yet, or NULL. */
static store_slot *waiting_store(cdht_content *c, const cdht_name *name, bool newest) {
  store_slot *best = NULL;
  for (int i = 0; i < STORE_MAX; i++) {
    store_slot *s = &c->stores[i];
    if (!s->used || s->uploading || !cdht_name_eq(&s->name, name)) continue;
    if (!best || (newest ? s->order > best->order : s->order < best->order)) best = s;
  }
  return best;
}

/* Out of line, so that the compiler judges the messages that quote a path (store_locally) by any
 * path, as before, not by this buffer's size. */
__attribute__((noinline)) static const char *slot_path(const store_slot *s) { return s->path; }

void cdht_content_cancel_store(cdht_content *c, const cdht_name *name) {
  store_slot *s = waiting_store(c, name, true);
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
    fprintf(stderr, "store %s failed: %s\n", NM(&ls->name), err);
    return;
  }
  fprintf(stderr, "hashed %s (%.1f MiB) as it was copied in\n", NM(&ls->name), (double)st->size / 1048576.0);
  cdht_msg h = { .from = cdht_config_self(cdht_node_config(c->node)), .seq = ls->seq, .name = ls->name,
                 .flags = CDHT_XFER_PUT };
  memcpy(h.ext, ls->ext, CDHT_EXT_LEN);
  memcpy(h.digest, st->digest, CDHT_DIGEST_LEN);
  on_received(c, &h, ls->dst, 0, "");
}

/* Our own store of a key we hold: copied into the data directory, atomically, and hashed as it
 * goes, on the pool (a large file takes seconds; the loop keeps answering pings). */
static void store_locally(cdht_content *c, const cdht_name *name, const char *src, uint32_t seq) {
  char err[512];
  struct local_store *ls = NULL;
  for (int i = 0; i < STORE_MAX && !ls; i++)
    if (!c->locals[i].job) ls = &c->locals[i];
  if (!ls) {
    fprintf(stderr, "store %s failed: too many stores in flight\n", NM(name));
    return;
  }
  *ls = (struct local_store){ .c = c, .name = *name, .seq = seq };
  path_ext(c, src, ls->ext);
  held_path(c, name, ls->ext, ls->dst, sizeof ls->dst);
  if (cdht_xfer_copy(&ls->job, c->loop, src, ls->dst, local_stored, ls, err, sizeof err) < 0)
    fprintf(stderr, "store %s failed: %s\n", NM(name), err);
}

void cdht_content_on_event(cdht_content *c, const cdht_event *ev) {
  cdht_id self = cdht_node_config(c->node)->self;
  bool from_self = cdht_peer_known(&ev->peer) && ev->peer.id == self;
  char err[512], path[4096];
  switch (ev->kind) {
  case CDHT_EV_STORE_ACCEPTED:
    if (!from_self) add_expect(c, CDHT_XFER_PUT, &ev->name, ev->peer, ev->seq, ev->token);
    break;
  case CDHT_EV_STORE_UPLOAD: {
    store_slot *slot = waiting_store(c, &ev->name, false);
    if (!slot) {
      fprintf(stderr, "store %s: the file to send is no longer known\n", NM(&ev->name));
      break;
    }
    const char *src = slot_path(slot);
    slot->uploading = true;
    slot->seq = ev->seq;
    if (from_self) { /* the node holds no request for it (lookup.c cdht_lookup_start) */
      store_locally(c, &ev->name, src, ev->seq);
      slot->used = false;
      break;
    }
    char ext[CDHT_EXT_LEN + 1];
    path_ext(c, src, ext);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_PUT, &ev->name, ev->seq, ev->token, src, ext, NULL, 0, on_uploaded,
                           slot, err, sizeof err) < 0)
      on_uploaded(slot, &ev->name, -1, err);
    break;
  }
  case CDHT_EV_STORE_FAILED: /* not accepted by anyone: its slot is free (an accepted one's upload frees it) */
    if (!ev->content) cdht_content_cancel_store(c, &ev->name);
    break;
  case CDHT_EV_RESPONSE_SENT: {
    if (!ev->content) break;
    entry *e = entry_find(c, &ev->name);
    const char *ext = e ? e->ext : "";
    held_path(c, &ev->name, ext, path, sizeof path);
    print_transfer(c, CDHT_LINE_SENDING, &ev->name, ev->peer.id);
    uint64_t size = 0;
    const uint8_t *dg = known_digest(e, path, &size);
    if (cdht_net_send_file(c->net, ev->peer, CDHT_XFER_GET, &ev->name, ev->seq, ev->token, path, ext, dg, size, on_sent,
                           c, err, sizeof err) < 0)
      fprintf(stderr, "sending %s failed: %s\n", NM(&ev->name), err);
    break;
  }
  case CDHT_EV_HANDOVER: {
    unsigned slot = 0;
    while (slot < HANDOVER_MAX && c->handovers[slot].used) slot++;
    if (slot == HANDOVER_MAX) { /* cannot track it: keep the files, and say none went */
      fprintf(stderr, "handover to peer %llu postponed: too many at once\n", (unsigned long long)ev->peer.id);
      cdht_net_handover_done(c->net, ev->peer, ev->seq, 0, 1);
      break;
    }
    c->handovers[slot] = (struct handover){ .used = true, .id = ev->seq, .token = ev->token, .peer = ev->peer,
                                            .lo = ev->lo, .hi = ev->hi };
    handover_pump(c, slot);
    break;
  }
  case CDHT_EV_REQUEST_SENT: /* the content may come before the response: be ready for it */
    add_expect(c, CDHT_XFER_GET, &ev->name, cdht_peer_none(), ev->seq, 0);
    break;
  case CDHT_EV_RESPONSE_RECEIVED: {
    expect *e = find_get(c, ev->seq, &ev->name);
    if (!e) break;
    if (!ev->content) {
      if (e->early && e->finished) settle_early(c, e, cdht_peer_none(), 0); /* nobody sends content: remove it */
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
      if (!e->used || e->kind != CDHT_XFER_GET || e->seq != ev->seq || !cdht_name_eq(&e->name, &ev->name)) continue;
      if (e->early && e->finished) settle_early(c, e, cdht_peer_none(), 0); /* nobody vouched for it */
      e->used = false;
    }
    break;
  default:
    break;
  }
}

int cdht_content_prepare_store(cdht_content *c, const cdht_name *name, const char *path, char *err, size_t errlen) {
  char cand[2][CDHT_NAME_MAX + 8];
  const char *tries[2];
  int ntries = 0;
  if (path && path[0]) {
    tries[ntries++] = path;
  } else { /* NNNN or NNNN.pdf; with names, the name itself (it holds no '/': a file here) */
    snprintf(cand[0], sizeof cand[0], "%s", NM(name));
    snprintf(cand[1], sizeof cand[1], "%s.pdf", NM(name));
    tries[ntries++] = cand[0];
    if (!c->names) tries[ntries++] = cand[1];
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
        *s = (store_slot){ .used = true, .name = *name, .order = ++c->store_order, .c = c };
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
  else if (c->names) snprintf(err, errlen, "no readable file '%.200s' in the current directory", NM(name));
  else snprintf(err, errlen, "no readable file %s or %s.pdf in the current directory", NM(name), NM(name));
  return -1;
}

int cdht_content_open(cdht_content **out, uv_loop_t *loop, cdht_node *node, cdht_net *net, const char *data_dir,
                      const char *download_dir, char *err, size_t errlen) {
  *out = NULL;
  cdht_content *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  c->names = cdht_node_config(node)->keys != CDHT_KEYS_NUMBERS;
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
    cdht_name name;
    if (name_of_file(c, e->d_name, &name, ext) < 0) continue;
    int rc = cdht_node_set_stored(node, &name, true);
    entry *en = rc == 0 ? entry_get(c, &name) : NULL;
    if (!en) {
      if (rc == 0) cdht_node_set_stored(node, &name, false);
      fprintf(stderr, "cdht: %s/%s not served: %s\n", c->data_dir, e->d_name,
              rc == CDHT_ERR_BUSY ? "this peer holds as many names as it may" : "out of memory");
      continue;
    }
    snprintf(en->ext, sizeof en->ext, "%s", ext);
  }
  rewinddir(d);
  for (struct dirent *e; (e = readdir(d));) { /* records of files no longer here (forget_file) */
    static const char *const tails[] = { ".digest", ".name" };
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
      char file[256], ext[CDHT_EXT_LEN + 1];
      size_t n = strlen(e->d_name), tail = strlen(tails[t]);
      if (e->d_name[0] != '.' || n <= 1 + tail || n - 1 - tail >= sizeof file || strcmp(e->d_name + n - tail, tails[t]) != 0)
        continue;
      memcpy(file, e->d_name + 1, n - 1 - tail);
      file[n - 1 - tail] = '\0';
      cdht_name name;
      const entry *en = name_of_file(c, file, &name, ext) == 0 ? entry_find(c, &name) : NULL;
      if (!en || !cdht_node_is_stored(node, &name) || strcmp(en->ext, ext) != 0) unlinkat(dirfd(d), e->d_name, 0);
    }
  }
  closedir(d);
  d = opendir(c->download_dir);
  for (struct dirent *e; d && (e = readdir(d));) { /* content that overtook a response nobody sent */
    size_t n = strlen(e->d_name), pre = sizeof ".received_" - 1, tail = sizeof ".early" - 1;
    if (n > pre + 17 + tail && strncmp(e->d_name, ".received_", pre) == 0 && strcmp(e->d_name + n - tail, ".early") == 0 &&
        e->d_name[n - tail - 17] == '.' && strspn(e->d_name + n - tail - 16, "0123456789abcdef") == 16)
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
  snprintf(c->served_dir, sizeof c->served_dir, "%s", dir);
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
    return -1;
  }
  for (struct dirent *de; (de = readdir(d));) {
    char ext[CDHT_EXT_LEN + 1];
    cdht_name name;
    if (parse_name(de->d_name, &name, ext) < 0) continue;
    entry *e = entry_get(c, &name);
    if (!e) {
      closedir(d);
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    /* NNNN.pdf before NNNN.anything else, as `store` looks for it */
    if (e->served && strcmp(e->served_ext, "pdf") == 0) continue;
    e->served = true;
    snprintf(e->served_ext, sizeof e->served_ext, "%s", ext);
    cdht_node_set_stored(c->node, &name, true);
  }
  closedir(d);
  return 0;
}

int cdht_content_source(const cdht_content *c, const cdht_name *name, char *path, size_t cap) {
  struct stat sb;
  const entry *e = entry_find(c, name);
  held_path(c, name, e ? e->ext : "", path, cap);
  if (stat(path, &sb) == 0) return 0;
  if (!e || !e->served) return -1;
  char b[BASE_MAX];
  snprintf(path, cap, "%s/%s", c->served_dir, base_name(b, name, e->served_ext));
  return 0;
}

void cdht_content_close(cdht_content *c) {
  if (!c) return;
  for (size_t i = 0; i < c->ntab; i++) free(c->tab[i]);
  free(c->tab);
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

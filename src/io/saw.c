#include "saw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/seg.h"

/* What the one fs request of a transfer is doing (a transfer has at most one at a time). */
typedef enum stage { ST_OPEN, ST_STAT, ST_READ, ST_WRITE, ST_CLOSE, ST_RENAME } stage;

typedef struct xfer {
  struct cdht_saw *s;
  bool used;
  bool sending;        /* this peer is the responder */
  bool fs_busy;        /* |fs| is in flight */
  bool awaiting_ack;   /* sending: the current segment went out (or was dropped) and its timer runs */
  bool size_known;     /* receiving: a first segment said the size and the sender's MSS */
  bool held;           /* receiving: the first segment came while the file was still being opened */
  bool writing;        /* receiving: the segment at |next| is being written */
  bool all_in;         /* receiving: every byte is written: any segment now is a duplicate */
  bool linger;         /* receiving: the file is in place; duplicates are acknowledged again */
  stage st;
  uv_timer_t timer;    /* sending: retransmission; receiving: silence, then the linger */
  uv_fs_t fs;
  uv_file fd;          /* -1: none */
  cdht_id peer;
  cdht_addr addr;      /* the only address its segments may come from */
  uint16_t file;
  uint16_t mss;        /* sending: ours; receiving: the sender's */
  uint64_t token;
  uint32_t size;       /* the file's bytes */
  uint32_t next;       /* sending: seq of the current segment; receiving: the next seq expected */
  uint16_t len;        /* the current segment's data bytes (sent, or being written) */
  uint32_t tries;      /* sending: transmissions of the current segment, dropped ones included */
  uint8_t *buf;        /* one segment's data (owned) */
  char path[4096];     /* sending: the file; receiving: where it ends up */
  char part[4200];     /* receiving: where it is written until whole */
} xfer;

struct cdht_saw {
  uv_loop_t *loop;
  cdht_net *net;        /* borrowed */
  cdht_saw_opts o;
  char log_dir[4096];
  cdht_rng rng;
  cdht_saw_done_fn done;
  void *ctx;
  FILE *log[2];         /* [0] requesting_log.txt, [1] responding_log.txt; opened at first use */
  bool log_failed[2];   /* said once on stderr */
  bool stopped;
  int open_timers;
  cdht_saw_stats stats;
  xfer x[2 * CDHT_SAW_MAX];
  /* The first segment may overtake the response (UDP against TCP) that tells the requester to
   * expect it: one such segment is held until a cdht_saw_expect() vouches for its sender,
   * token and file, and dropped when another replaces it. */
  struct {
    bool used;
    cdht_addr from;
    size_t len;
    uint8_t buf[CDHT_SEG_MAX];
  } early;
  uint8_t out[CDHT_SEG_MAX]; /* one encoded segment */
};

static const char *const log_names[2] = { "requesting_log.txt", "responding_log.txt" };

/* <event> <time> <seq> <bytes> <ack>, tab-separated; time in seconds since the program started,
 * cut (not rounded) to two decimals, so that two events a timeout apart are at least that far
 * apart in the log too. */
static void log_line(cdht_saw *s, bool sending, const char *ev, uint32_t seq, uint32_t bytes, uint32_t ack) {
  FILE **f = &s->log[sending];
  if (!*f && !s->log_failed[sending]) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s->log_dir, log_names[sending]);
    *f = fopen(path, "w"); /* each run writes its own log */
    if (!*f) {
      s->log_failed[sending] = true;
      fprintf(stderr, "cannot write %s: %s (the transfer goes on without its log)\n", path, strerror(errno));
    }
  }
  if (!*f) return;
  uint64_t now = uv_now(s->loop), t = now > s->o.t0_ms ? now - s->o.t0_ms : 0;
  fprintf(*f, "%s\t%llu.%02llu\t%u\t%u\t%u\n", ev, (unsigned long long)(t / 1000), (unsigned long long)(t % 1000 / 10),
          seq, bytes, ack);
  fflush(*f);
}

static void on_fs(uv_fs_t *r);
static void on_timer(uv_timer_t *t);

/* Frees the slot now: closes the file, removes what a receiver wrote unless it is in place. */
static void release(xfer *x) {
  uv_timer_stop(&x->timer);
  if (x->fd >= 0) {
    close(x->fd); /* a read-only file, or a partial one about to be removed: nothing to flush */
    x->fd = -1;
  }
  if (!x->sending && !x->linger && x->part[0]) unlink(x->part);
  free(x->buf);
  x->buf = NULL;
  x->used = false;
}

static void finish(xfer *x, int status, const char *why) {
  cdht_saw *s = x->s;
  bool sending = x->sending;
  uint16_t file = x->file;
  cdht_id peer = x->peer;
  if (status == 0 && !sending) { /* in place: stay to acknowledge a last segment whose ACK was lost */
    x->linger = true;
    uv_timer_start(&x->timer, on_timer, (uint64_t)s->o.rto_ms * CDHT_SAW_LINGER_RTO, 0);
  } else {
    release(x);
  }
  s->done(s->ctx, sending, file, peer, status, why);
}

static void failf(xfer *x, const char *what, const char *detail) {
  char why[600];
  snprintf(why, sizeof why, "%s%s%s", what, detail[0] ? ": " : "", detail);
  finish(x, -1, why);
}

static void start_fs(xfer *x, stage st) {
  x->st = st;
  x->fs_busy = true;
  x->fs.data = x;
}

static void send_seg(xfer *x, const cdht_seg *seg) {
  int n = cdht_seg_encode(x->s->out, sizeof x->s->out, seg);
  if (n > 0) cdht_net_send_datagram(x->s->net, &x->addr, x->s->out, (size_t)n); /* a loss: retransmitted */
}

/* ---- sending ---- */

/* The specification's order: form the segment, start its timer, then draw whether it is lost. */
static void transmit(xfer *x, bool first) {
  cdht_saw *s = x->s;
  uv_timer_start(&x->timer, on_timer, s->o.rto_ms, 0);
  x->awaiting_ack = true;
  x->tries++;
  bool dropped = s->o.drop > 0 && cdht_rng_unit(&s->rng) < s->o.drop;
  if (!dropped) {
    cdht_seg seg = { .type = CDHT_SEG_DATA, .mss = x->mss, .seq = x->next, .token = x->token, .size = x->size,
                     .file = x->file, .len = x->len, .data = x->buf };
    send_seg(x, &seg);
  }
  log_line(s, true, dropped ? (first ? "drop" : "RTX/Drop") : (first ? "snd" : "RTX"), x->next, x->len, 0);
}

static void read_segment(xfer *x) {
  uint32_t off = x->next - 1, left = x->size - off;
  x->len = (uint16_t)(left < x->mss ? left : x->mss);
  x->tries = 0;
  if (x->len == 0) { /* an empty file: one empty segment says so */
    transmit(x, true);
    return;
  }
  start_fs(x, ST_READ);
  uv_buf_t b = uv_buf_init((char *)x->buf, x->len);
  uv_fs_read(x->s->loop, &x->fs, x->fd, &b, 1, off, on_fs);
}

static void on_ack(xfer *x, const cdht_seg *seg) {
  cdht_saw *s = x->s;
  if (seg->mss != x->mss) { s->stats.malformed++; return; }
  if (x->awaiting_ack && seg->ack == x->next + x->len) {
    log_line(s, true, "rcv", seg->seq, seg->mss, seg->ack);
    uv_timer_stop(&x->timer);
    x->awaiting_ack = false;
    x->next += x->len;
    if (x->next - 1 == x->size) finish(x, 0, "");
    else read_segment(x);
    return;
  }
  /* The ACK of the segment before, late or repeated (it answers a retransmission) */
  if (seg->ack == x->next && x->next > 1) {
    log_line(s, true, "rcv", seg->seq, seg->mss, seg->ack);
    return;
  }
  s->stats.out_of_window++;
}

/* ---- receiving ---- */

static void send_ack(xfer *x) {
  cdht_seg seg = { .type = CDHT_SEG_ACK, .mss = x->mss, .ack = x->next, .token = x->token, .file = x->file };
  send_seg(x, &seg);
  log_line(x->s, false, "snd", 0, x->mss, x->next);
}

static void write_current(xfer *x) {
  x->writing = true;
  if (x->len == 0) { /* the empty file */
    x->st = ST_WRITE;
    x->fs.fs_type = UV_FS_UNKNOWN; /* no request to clean up */
    x->fs.result = 0;
    x->fs_busy = true;
    x->fs.data = x;
    on_fs(&x->fs);
    return;
  }
  start_fs(x, ST_WRITE);
  uv_buf_t b = uv_buf_init((char *)x->buf, x->len);
  uv_fs_write(x->s->loop, &x->fs, x->fd, &b, 1, x->next - 1, on_fs);
}

/* A data segment from the expected peer for this transfer. */
static void on_data(xfer *x, const cdht_seg *seg) {
  cdht_saw *s = x->s;
  if (!x->size_known) {
    x->size = seg->size;
    x->mss = seg->mss;
    x->buf = malloc(x->mss);
    if (!x->buf) {
      failf(x, "out of memory", "");
      return;
    }
    x->size_known = true;
  } else if (seg->size != x->size || seg->mss != x->mss) {
    s->stats.malformed++; /* one transfer has one size and one MSS */
    return;
  }
  if (seg->seq > x->next) { /* stop-and-wait: nothing past the next byte was sent yet */
    s->stats.out_of_window++;
    return;
  }
  log_line(s, false, "rcv", seg->seq, seg->len, 0);
  if (x->all_in || seg->seq < x->next) { /* a retransmission: our ACK was lost or late */
    send_ack(x);
    return;
  }
  if (x->writing || x->held) return; /* a retransmission of the segment in hand: its ACK follows the write */
  memcpy(x->buf, seg->data, seg->len);
  x->len = seg->len;
  uv_timer_again(&x->timer); /* the peer is alive: the silence limit counts again */
  if (x->fd < 0) { /* still opening the file: written once it is open */
    x->held = true;
    return;
  }
  write_current(x);
}

/* ---- the fs requests ---- */

static void on_fs(uv_fs_t *r) {
  xfer *x = r->data;
  cdht_saw *s = x->s;
  ssize_t res = r->result;
  bool regular = r->fs_type == UV_FS_FSTAT && res == 0 && S_ISREG(r->statbuf.st_mode);
  uint64_t size = r->fs_type == UV_FS_FSTAT ? r->statbuf.st_size : 0;
  if (r->fs_type != UV_FS_UNKNOWN) uv_fs_req_cleanup(r);
  x->fs_busy = false;
  if (s->stopped) {
    if (x->st == ST_OPEN && res >= 0) x->fd = (uv_file)res;
    if (x->st == ST_CLOSE) x->fd = -1;
    release(x);
    return;
  }
  switch (x->st) {
  case ST_OPEN:
    if (res < 0) {
      failf(x, x->sending ? "cannot open the file" : "cannot create the file", uv_strerror((int)res));
      return;
    }
    x->fd = (uv_file)res;
    if (x->sending) {
      start_fs(x, ST_STAT);
      uv_fs_fstat(s->loop, &x->fs, x->fd, on_fs);
    } else if (x->held) {
      x->held = false;
      write_current(x);
    }
    return;
  case ST_STAT:
    if (res < 0 || !regular) {
      failf(x, "cannot read the file", res < 0 ? uv_strerror((int)res) : "not a regular file");
      return;
    }
    if (size > CDHT_SEG_SIZE_MAX) {
      failf(x, "the file is too large for 32-bit sequence numbers (4 GiB)", "");
      return;
    }
    x->size = (uint32_t)size;
    x->next = 1;
    read_segment(x);
    return;
  case ST_READ:
    if (res != x->len) {
      failf(x, "cannot read the file", res < 0 ? uv_strerror((int)res) : "it became shorter");
      return;
    }
    transmit(x, true);
    return;
  case ST_WRITE:
    x->writing = false;
    if (res != x->len) {
      failf(x, "cannot write the file", res < 0 ? uv_strerror((int)res) : "short write");
      return;
    }
    x->next += x->len;
    if (x->next - 1 == x->size) x->all_in = true;
    send_ack(x);
    if (x->all_in) {
      start_fs(x, ST_CLOSE);
      uv_fs_close(s->loop, &x->fs, x->fd, on_fs);
    }
    return;
  case ST_CLOSE:
    x->fd = -1;
    if (res < 0) {
      failf(x, "cannot write the file", uv_strerror((int)res));
      return;
    }
    start_fs(x, ST_RENAME);
    uv_fs_rename(s->loop, &x->fs, x->part, x->path, on_fs);
    return;
  case ST_RENAME:
    if (res < 0) {
      failf(x, "cannot put the file in place", uv_strerror((int)res));
      return;
    }
    x->part[0] = '\0';
    finish(x, 0, "");
    return;
  }
}

static void on_timer(uv_timer_t *t) {
  xfer *x = t->data;
  if (!x->used || x->s->stopped) return;
  if (!x->sending) {
    if (x->linger) { release(x); return; }
    if (x->fs_busy) { uv_timer_again(t); return; } /* our own disk is slow, not the peer */
    char why[128];
    snprintf(why, sizeof why, "no data from peer %llu for %u s", (unsigned long long)x->peer,
             (unsigned)(((uint64_t)x->s->o.rto_ms * (CDHT_SAW_TRIES + 1)) / 1000));
    finish(x, -1, why);
    return;
  }
  if (!x->awaiting_ack) return;
  if (x->tries >= CDHT_SAW_TRIES) {
    char why[128];
    snprintf(why, sizeof why, "peer %llu acknowledged none of %u transmissions of segment %u",
             (unsigned long long)x->peer, x->tries, x->next);
    finish(x, -1, why);
    return;
  }
  transmit(x, false);
}

/* ---- the API ---- */

int cdht_saw_open(cdht_saw **out, uv_loop_t *loop, cdht_net *net, const cdht_saw_opts *o, cdht_saw_done_fn done,
                  void *ctx) {
  cdht_saw *s = calloc(1, sizeof *s);
  if (!s) return -1;
  s->loop = loop;
  s->net = net;
  s->o = *o;
  snprintf(s->log_dir, sizeof s->log_dir, "%s", o->log_dir ? o->log_dir : ".");
  s->o.log_dir = s->log_dir;
  cdht_rng_seed(&s->rng, o->seed);
  s->done = done;
  s->ctx = ctx;
  for (int i = 0; i < 2 * CDHT_SAW_MAX; i++) {
    xfer *x = &s->x[i];
    x->s = s;
    x->fd = -1;
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    s->open_timers++;
  }
  *out = s;
  return 0;
}

/* A free slot for a transfer in direction |sending|; a receiver may take a lingering one's. */
static xfer *take_slot(cdht_saw *s, bool sending) {
  xfer *linger = NULL;
  for (int i = 0; i < CDHT_SAW_MAX; i++) {
    xfer *x = &s->x[(sending ? CDHT_SAW_MAX : 0) + i];
    if (!x->used) return x;
    if (x->linger && !x->fs_busy) linger = x;
  }
  if (linger) release(linger);
  return linger;
}

static xfer *setup(cdht_saw *s, bool sending, cdht_id peer, const cdht_addr *addr, uint16_t file, uint64_t token,
                   const char *path, char *err, size_t errlen) {
  if (s->stopped) {
    snprintf(err, errlen, "shutting down");
    return NULL;
  }
  if (strlen(path) >= sizeof s->x[0].path) {
    snprintf(err, errlen, "path too long");
    return NULL;
  }
  xfer *x = take_slot(s, sending);
  if (!x) {
    s->stats.refused++;
    snprintf(err, errlen, "%d transfers are under way already", CDHT_SAW_MAX);
    return NULL;
  }
  uv_timer_t timer = x->timer; /* the handle stays where it is, initialised (stopped by release) */
  *x = (xfer){ .s = s, .used = true, .sending = sending, .fd = -1, .peer = peer, .addr = *addr, .file = file,
               .token = token, .timer = timer };
  x->timer.data = x;
  snprintf(x->path, sizeof x->path, "%s", path);
  return x;
}

int cdht_saw_send(cdht_saw *s, cdht_id to, const cdht_addr *addr, uint16_t file, uint64_t token, const char *path,
                  char *err, size_t errlen) {
  xfer *x = setup(s, true, to, addr, file, token, path, err, errlen);
  if (!x) return -1;
  x->mss = s->o.mss;
  x->buf = malloc(x->mss);
  if (!x->buf) {
    release(x);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  start_fs(x, ST_OPEN);
  uv_fs_open(s->loop, &x->fs, x->path, O_RDONLY | O_CLOEXEC, 0, on_fs);
  return 0;
}

int cdht_saw_expect(cdht_saw *s, cdht_id from, const cdht_addr *addr, uint16_t file, uint64_t token,
                    const char *path, char *err, size_t errlen) {
  xfer *x = setup(s, false, from, addr, file, token, path, err, errlen);
  if (!x) return -1;
  x->next = 1; /* the first byte's seq */
  snprintf(x->part, sizeof x->part, "%s.part-%d-%d", x->path, (int)uv_os_getpid(), (int)(x - s->x));
  start_fs(x, ST_OPEN);
  uv_fs_open(s->loop, &x->fs, x->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600, on_fs);
  /* Silence this long means the responder is gone: it gives up after CDHT_SAW_TRIES timeouts. */
  uv_timer_start(&x->timer, on_timer, (uint64_t)s->o.rto_ms * (CDHT_SAW_TRIES + 1), (uint64_t)s->o.rto_ms * (CDHT_SAW_TRIES + 1));
  if (s->early.used) { /* it may have come already */
    s->early.used = false;
    cdht_saw_on_datagram(s, &s->early.from, s->early.buf, s->early.len);
  }
  return 0;
}

static xfer *find(cdht_saw *s, bool sending, uint64_t token, uint16_t file) {
  for (int i = 0; i < CDHT_SAW_MAX; i++) {
    xfer *x = &s->x[(sending ? CDHT_SAW_MAX : 0) + i];
    if (x->used && x->token == token && x->file == file) return x;
  }
  return NULL;
}

void cdht_saw_on_datagram(void *ctx, const cdht_addr *from, const uint8_t *buf, size_t len) {
  cdht_saw *s = ctx;
  if (s->stopped) return;
  cdht_seg seg;
  if (cdht_seg_decode(buf, len, &seg) != CDHT_SEG_OK) {
    s->stats.malformed++;
    return;
  }
  /* Data goes to a transfer we await, an ACK to one we send: each carries its FILE_RESP's token,
   * which nobody else has seen. */
  xfer *x = find(s, seg.type == CDHT_SEG_ACK, seg.token, seg.file);
  if (!x) {
    s->stats.unexpected++;
    if (seg.type == CDHT_SEG_DATA && seg.seq == 1 && buf != s->early.buf) { /* perhaps ahead of its response */
      s->early.used = true;
      s->early.from = *from;
      s->early.len = len;
      memcpy(s->early.buf, buf, len);
    }
    return;
  }
  if (from->ip != x->addr.ip || from->port != x->addr.port) {
    s->stats.wrong_source++;
    return;
  }
  if (seg.type == CDHT_SEG_ACK) on_ack(x, &seg);
  else on_data(x, &seg);
}

const cdht_saw_stats *cdht_saw_get_stats(const cdht_saw *s) { return &s->stats; }

static void timer_closed(uv_handle_t *h) {
  xfer *x = h->data;
  x->s->open_timers--;
}

void cdht_saw_stop(cdht_saw *s) {
  if (!s || s->stopped) return;
  s->stopped = true;
  for (int i = 0; i < 2 * CDHT_SAW_MAX; i++) {
    xfer *x = &s->x[i];
    if (x->used && !x->fs_busy) release(x); /* a busy one is released when its request ends */
    uv_close((uv_handle_t *)&x->timer, timer_closed);
  }
  for (int i = 0; i < 2; i++)
    if (s->log[i]) fclose(s->log[i]);
}

void cdht_saw_free(cdht_saw *s) { free(s); }

#include "console.h"

#include <stdlib.h>
#include <string.h>

enum kind { STREAM, FILE_READS };

struct cdht_console {
  union { uv_tty_t tty; uv_pipe_t pipe; uv_handle_t handle; } h; /* STREAM */
  uv_fs_t req;                   /* FILE_READS: one read in flight */
  enum kind kind;
  uv_loop_t *loop;
  int fd;
  bool open_handle;              /* h must be closed */
  bool reading;                  /* FILE_READS: req is in flight */
  bool closing;                  /* close requested: free when the last callback is done */
  cdht_console_fn fn;
  void *ctx;
  size_t max;                    /* bytes of the longest line taken (CDHT_LINE_MAX or _MAX_NAMES) */
  char line[CDHT_LINE_MAX_NAMES + 1]; /* the line being assembled */
  size_t len;                    /* bytes in line */
  bool overflow;                 /* the current line is too long: discard up to its newline */
  char chunk[4096];              /* FILE_READS buffer; streams allocate from here too */
};

static void feed(cdht_console *c, const char *p, size_t n) {
  for (size_t i = 0; i < n && !c->closing; i++) {
    char ch = p[i];
    if (ch == '\n') {
      if (c->len > 0 && c->line[c->len - 1] == '\r') c->len--;
      c->line[c->overflow ? 0 : c->len] = '\0';
      bool too_long = c->overflow;
      size_t len = too_long ? 0 : c->len;
      c->len = 0;
      c->overflow = false;
      c->fn(c->ctx, c->line, len, too_long);
    } else if (!c->overflow) {
      if (c->len == c->max) c->overflow = true;
      else c->line[c->len++] = ch;
    }
  }
}

/* A last line without a newline still counts. */
static void feed_eof(cdht_console *c) {
  if (c->len > 0 || c->overflow) feed(c, "\n", 1);
}

static void free_console(uv_handle_t *h) { free(h->data); }

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  cdht_console *c = h->data;
  *buf = uv_buf_init(c->chunk, sizeof c->chunk);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  cdht_console *c = s->data;
  if (nread > 0) feed(c, buf->base, (size_t)nread);
  else if (nread < 0) { /* end of input (or an error): stop reading, keep the peer running */
    feed_eof(c);
    uv_read_stop(s);
  }
}

static void start_file_read(cdht_console *c);

static void fs_read_cb(uv_fs_t *req) {
  cdht_console *c = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  /* |reading| stays set while the lines are handled: a line handler that closes the console
   * (quit) leaves the freeing to this callback, which still uses |c|. */
  if (!c->closing) {
    if (n > 0) feed(c, c->chunk, (size_t)n);
    else feed_eof(c);
  }
  c->reading = false;
  if (c->closing) {
    free(c);
    return;
  }
  if (n > 0) start_file_read(c);
}

static void start_file_read(cdht_console *c) {
  uv_buf_t b = uv_buf_init(c->chunk, sizeof c->chunk);
  c->req.data = c;
  if (uv_fs_read(c->loop, &c->req, c->fd, &b, 1, -1, fs_read_cb) == 0)
    c->reading = true;
}

int cdht_console_open(cdht_console **out, uv_loop_t *loop, int fd, size_t max, cdht_console_fn fn, void *ctx) {
  *out = NULL;
  cdht_console *c = calloc(1, sizeof *c);
  if (!c) return UV_ENOMEM;
  c->max = max < CDHT_LINE_MAX_NAMES ? max : CDHT_LINE_MAX_NAMES;
  c->loop = loop;
  c->fd = fd;
  c->fn = fn;
  c->ctx = ctx;
  int rc;
  switch (uv_guess_handle(fd)) {
  case UV_TTY:
    c->kind = STREAM;
    rc = uv_tty_init(loop, &c->h.tty, fd, 1);
    break;
  case UV_NAMED_PIPE:
    c->kind = STREAM;
    rc = uv_pipe_init(loop, &c->h.pipe, 0);
    if (rc == 0) {
      c->open_handle = true;
      rc = uv_pipe_open(&c->h.pipe, fd);
    }
    break;
  case UV_FILE:
    c->kind = FILE_READS;
    start_file_read(c);
    *out = c;
    return 0;
  default:
    free(c);
    return UV_EBADF; /* closed or unusable: run without a console */
  }
  if (rc == 0) c->open_handle = true;
  if (rc == 0) {
    c->h.handle.data = c;
    rc = uv_read_start((uv_stream_t *)&c->h.handle, alloc_cb, read_cb);
  }
  if (rc < 0) {
    if (c->open_handle) {
      c->h.handle.data = c;
      uv_close(&c->h.handle, free_console);
    } else {
      free(c);
    }
    return rc;
  }
  *out = c;
  return 0;
}

void cdht_console_close(cdht_console *c) {
  if (!c || c->closing) return;
  c->closing = true;
  if (c->kind == STREAM) {
    if (c->h.handle.type == UV_TTY) uv_tty_reset_mode();
    uv_close(&c->h.handle, free_console);
  } else if (c->reading) {
    uv_cancel((uv_req_t *)&c->req); /* fs_read_cb frees it, cancelled or not */
  } else {
    free(c);
  }
}

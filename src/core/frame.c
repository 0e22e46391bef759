#include "frame.h"

#include <string.h>

#include "cdht/err.h"

void cdht_framer_init(cdht_framer *f) { f->len = 0; }

/* Returns the total frame length announced by a complete header, or a negative error. */
static long frame_len(const uint8_t *hdr) {
  if (hdr[0] != CDHT_WIRE_V2) return CDHT_ERR_VERSION;
  size_t total = CDHT_HDR_LEN + (((size_t)hdr[2] << 8) | hdr[3]);
  if (total > CDHT_FRAME_MAX) return CDHT_ERR_TOOBIG; /* refuse before buffering anything */
  return (long)total;
}

int cdht_framer_feed(cdht_framer *f, const uint8_t *data, size_t len, cdht_frame_fn fn, void *ctx) {
  size_t consumed;
  return cdht_framer_feed_until(f, data, len, fn, ctx, &consumed);
}

int cdht_framer_feed_until(cdht_framer *f, const uint8_t *data, size_t len, cdht_frame_fn fn, void *ctx,
                           size_t *consumed) {
  const uint8_t *start = data;
  *consumed = 0;
  while (len > 0) {
    /* Fast path: whole frames straight from |data| when nothing is buffered. */
    if (f->len == 0 && len >= CDHT_HDR_LEN) {
      long total = frame_len(data);
      if (total < 0) return (int)total;
      if ((size_t)total <= len) {
        int rc = fn(ctx, data, (size_t)total);
        data += total;
        len -= (size_t)total;
        *consumed = (size_t)(data - start);
        if (rc) return rc;
        continue;
      }
    }
    /* Slow path: top the buffer up to a header, then to the whole frame. */
    size_t want = CDHT_HDR_LEN;
    if (f->len >= CDHT_HDR_LEN) {
      long total = frame_len(f->buf);
      if (total < 0) return (int)total;
      want = (size_t)total;
    }
    size_t n = want - f->len < len ? want - f->len : len;
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    data += n;
    len -= n;
    *consumed = (size_t)(data - start);
    if (f->len == CDHT_HDR_LEN) {
      long total = frame_len(f->buf);
      if (total < 0) return (int)total;
      want = (size_t)total;
    }
    if (f->len >= CDHT_HDR_LEN && f->len == want) {
      f->len = 0;
      int rc = fn(ctx, f->buf, want);
      if (rc) return rc;
    }
  }
  return 0;
}

/* TCP frame reassembly: bytes arrive in arbitrary pieces; complete messages come out.
 * The 4-byte message header doubles as the length prefix (docs/protocol.md §2). */
#ifndef CDHT_FRAME_H
#define CDHT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wire/msg.h"

typedef struct cdht_framer {
  uint8_t buf[CDHT_FRAME_MAX]; /* a partial frame, kept until the rest arrives */
  size_t len;                  /* bytes held in buf */
} cdht_framer;

/* Called once per complete frame (|frame| borrowed for the call).  A non-zero return stops
 * the feed and is passed back to the caller. */
typedef int (*cdht_frame_fn)(void *ctx, const uint8_t *frame, size_t len);

void cdht_framer_init(cdht_framer *f);

/* Feeds |len| bytes of a stream (|data| borrowed).  Calls |fn| for each complete frame, in
 * order.  Returns 0, the first non-zero value |fn| returned, or CDHT_ERR_VERSION /
 * CDHT_ERR_TOOBIG when a header is unusable: the stream cannot be resynchronised then and the
 * caller closes the connection. */
int cdht_framer_feed(cdht_framer *f, const uint8_t *data, size_t len, cdht_frame_fn fn, void *ctx);

#define CDHT_FRAME_STOP 1 /* returned by a cdht_frame_fn: the bytes after this frame are not frames */

/* Like cdht_framer_feed, and sets *consumed to the bytes of |data| used: all of them, or, when
 * |fn| returned CDHT_FRAME_STOP, those up to the end of that frame (the rest is the caller's,
 * e.g. the raw content after a transfer header). */
int cdht_framer_feed_until(cdht_framer *f, const uint8_t *data, size_t len, cdht_frame_fn fn, void *ctx,
                           size_t *consumed);

#endif

/* Fuzzes TCP frame reassembly (src/core/frame.c, docs/protocol.md §2).
 *
 * Input: one control byte, then the piece lengths, then the stream.
 *   byte 0, bits 0-2: how many piece lengths follow (0-7), one byte each (0 is an empty feed)
 *   byte 0, bits 4-7: the handler stops the feed (returns STOP) at that frame, 1-15; 0 never
 * The stream is fed three ways: whole, in the given pieces (the rest in one last piece), and one
 * byte at a time.  Frames cannot depend on how the bytes arrived, so each way must deliver the
 * same frames and end with the same result and the same number of buffered bytes.  Every frame
 * delivered is a whole message: a valid header whose length field matches, within
 * CDHT_FRAME_MAX. */
#include <string.h>

#include "cdht/err.h"
#include "core/frame.h"
#include "fuzz.h"

#define STOP 7 /* what the handler returns to stop a feed */

typedef struct record {
  uint8_t *bytes;    /* the frames delivered, back to back */
  size_t used, cap;  /* bytes */
  size_t *lens;      /* length of each frame */
  size_t nframes, maxframes;
  size_t stop_at;    /* stop at this frame (1-based); 0 never */
} record;

static int on_frame(void *ctx, const uint8_t *frame, size_t len) {
  record *r = ctx;
  FUZZ_CHECK(len >= CDHT_HDR_LEN && len <= CDHT_FRAME_MAX);
  FUZZ_CHECK(frame[0] == CDHT_WIRE_V2);
  FUZZ_CHECK(CDHT_HDR_LEN + (((size_t)frame[2] << 8) | frame[3]) == len);
  /* A frame is made of stream bytes, so the record never runs out of room. */
  FUZZ_CHECK(r->nframes < r->maxframes && r->cap - r->used >= len);
  memcpy(r->bytes + r->used, frame, len);
  r->used += len;
  r->lens[r->nframes++] = len;
  return r->nframes == r->stop_at ? STOP : 0;
}

typedef struct outcome { int rc; size_t buffered; } outcome;

/* Feeds |stream| in the pieces |lens| (|n| of them, each clamped to what is left), then the
 * rest in one piece, stopping at the first non-zero result as a caller would. */
static outcome feed(record *r, const uint8_t *stream, size_t size, const size_t *lens, size_t n) {
  cdht_framer f;
  cdht_framer_init(&f);
  outcome o = { 0, 0 };
  size_t off = 0;
  for (size_t i = 0; i <= n && o.rc == 0; i++) {
    size_t len = i < n ? lens[i] : size - off;
    if (len > size - off) len = size - off;
    /* An exact-size copy of each piece: ASan sees a read past it. */
    uint8_t *piece = malloc(len ? len : 1);
    FUZZ_CHECK(piece != NULL);
    if (len) memcpy(piece, stream + off, len);
    o.rc = cdht_framer_feed(&f, piece, len, on_frame, r);
    free(piece);
    off += len;
  }
  o.buffered = f.len;
  FUZZ_CHECK(o.rc == 0 || o.rc == STOP || o.rc == CDHT_ERR_VERSION || o.rc == CDHT_ERR_TOOBIG);
  FUZZ_CHECK(f.len < CDHT_FRAME_MAX);
  /* Nothing is lost: what was not delivered is still buffered. */
  if (o.rc == 0) FUZZ_CHECK(r->used + f.len == size);
  return o;
}

static void record_init(record *r, size_t size, size_t stop_at) {
  r->cap = size;
  r->bytes = malloc(size ? size : 1);
  r->maxframes = size / CDHT_HDR_LEN + 1;
  r->lens = malloc(r->maxframes * sizeof *r->lens);
  FUZZ_CHECK(r->bytes != NULL && r->lens != NULL);
  r->used = r->nframes = 0;
  r->stop_at = stop_at;
}

static void record_clear(record *r) {
  free(r->bytes);
  free(r->lens);
}

static void same(const record *a, outcome oa, const record *b, outcome ob) {
  FUZZ_CHECK(oa.rc == ob.rc);
  FUZZ_CHECK(a->nframes == b->nframes);
  FUZZ_CHECK(a->used == b->used);
  FUZZ_CHECK(memcmp(a->lens, b->lens, a->nframes * sizeof *a->lens) == 0);
  FUZZ_CHECK(a->used == 0 || memcmp(a->bytes, b->bytes, a->used) == 0);
  if (oa.rc == 0) FUZZ_CHECK(oa.buffered == ob.buffered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t npieces = data[0] & 7, stop_at = data[0] >> 4;
  if (size - 1 < npieces) return 0;
  size_t pieces[7];
  for (size_t i = 0; i < npieces; i++) pieces[i] = data[1 + i];
  const uint8_t *stream = data + 1 + npieces;
  size_t len = size - 1 - npieces;

  record whole, split, bytes;
  record_init(&whole, len, stop_at);
  record_init(&split, len, stop_at);
  record_init(&bytes, len, stop_at);
  outcome ow = feed(&whole, stream, len, NULL, 0);
  outcome os = feed(&split, stream, len, pieces, npieces);
  /* One byte at a time: as many pieces as bytes. */
  size_t *ones = malloc((len ? len : 1) * sizeof *ones);
  FUZZ_CHECK(ones != NULL);
  for (size_t i = 0; i < len; i++) ones[i] = 1;
  outcome ob = feed(&bytes, stream, len, ones, len);
  free(ones);

  same(&whole, ow, &split, os);
  same(&whole, ow, &bytes, ob);
  if (ow.rc == STOP) FUZZ_CHECK(whole.nframes == stop_at);
  record_clear(&whole);
  record_clear(&split);
  record_clear(&bytes);
  return 0;
}

/* Fuzzes the 2019 segment codec (src/io/seg.c, docs/protocol.md §10).
 *
 * Whatever the bytes, decode returns OK or one of its errors and reads only within them.  A
 * decoded segment keeps the promises the transfer engine relies on (data within the file and the
 * MSS, exactly what is left; an ACK past the first byte), survives a round trip byte for byte, and
 * every smaller output buffer is refused. */
#include <string.h>

#include "fuzz.h"
#include "io/seg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cdht_seg a, b;
  int rc = cdht_seg_decode(data, size, &a);
  if (rc != CDHT_SEG_OK) {
    FUZZ_CHECK(rc == CDHT_SEG_SHORT || rc == CDHT_SEG_MAGIC_BAD || rc == CDHT_SEG_TYPE_BAD || rc == CDHT_SEG_FIELD ||
               rc == CDHT_SEG_LONG);
    return 0;
  }
  FUZZ_CHECK(size == CDHT_SEG_HDR + (size_t)a.len && size <= CDHT_SEG_MAX);
  FUZZ_CHECK(a.mss >= 1 && a.mss <= CDHT_SEG_MSS_MAX && a.file <= 9999 && a.len <= a.mss);
  if (a.type == CDHT_SEG_DATA) {
    FUZZ_CHECK(a.seq >= 1 && a.ack == 0 && a.size <= CDHT_SEG_SIZE_MAX);
    FUZZ_CHECK((uint64_t)a.seq - 1 + a.len <= a.size);
  } else {
    FUZZ_CHECK(a.type == CDHT_SEG_ACK && a.seq == 0 && a.ack >= 1 && a.len == 0 && a.size == 0);
  }
  uint8_t *buf = malloc(size);
  FUZZ_CHECK(buf != NULL);
  FUZZ_CHECK(cdht_seg_encode(buf, size, &a) == (int)size);
  FUZZ_CHECK(memcmp(buf, data, size) == 0);
  FUZZ_CHECK(cdht_seg_decode(buf, size, &b) == CDHT_SEG_OK);
  FUZZ_CHECK(b.type == a.type && b.mss == a.mss && b.seq == a.seq && b.ack == a.ack && b.token == a.token &&
             b.size == a.size && b.file == a.file && b.len == a.len);
  free(buf);
  for (size_t cap = 0; cap < size; cap++) {
    uint8_t *small = malloc(cap ? cap : 1); /* exact size: ASan sees an overrun either way */
    FUZZ_CHECK(small != NULL);
    FUZZ_CHECK(cdht_seg_encode(small, cap, &a) == -1);
    free(small);
  }
  return 0;
}

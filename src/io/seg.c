#include "seg.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

/* offset: 0 magic, 1 type, 2 mss, 4 seq, 8 ack, 12 token, 20 size, 24 file, 26 len, 28 data */
int cdht_seg_encode(uint8_t *dst, size_t cap, const cdht_seg *s) {
  if (cap < CDHT_SEG_HDR || cap - CDHT_SEG_HDR < s->len) return -1;
  dst[0] = CDHT_SEG_MAGIC;
  dst[1] = s->type;
  put16(dst + 2, s->mss);
  put32(dst + 4, s->seq);
  put32(dst + 8, s->ack);
  put64(dst + 12, s->token);
  put32(dst + 20, s->size);
  put16(dst + 24, s->file);
  put16(dst + 26, s->len);
  if (s->len) memcpy(dst + CDHT_SEG_HDR, s->data, s->len);
  return CDHT_SEG_HDR + s->len;
}

int cdht_seg_decode(const uint8_t *buf, size_t len, cdht_seg *s) {
  if (len < CDHT_SEG_HDR) return CDHT_SEG_SHORT;
  if (buf[0] != CDHT_SEG_MAGIC) return CDHT_SEG_MAGIC_BAD;
  if (buf[1] != CDHT_SEG_DATA && buf[1] != CDHT_SEG_ACK) return CDHT_SEG_TYPE_BAD;
  s->type = buf[1];
  s->mss = get16(buf + 2);
  s->seq = get32(buf + 4);
  s->ack = get32(buf + 8);
  s->token = get64(buf + 12);
  s->size = get32(buf + 20);
  s->file = get16(buf + 24);
  s->len = get16(buf + 26);
  s->data = buf + CDHT_SEG_HDR;
  if (s->mss == 0 || s->mss > CDHT_SEG_MSS_MAX || s->file > 9999) return CDHT_SEG_FIELD;
  if (s->type == CDHT_SEG_ACK) {
    /* The ack is past the first byte; an empty file's one segment is acknowledged with 1. */
    if (s->seq != 0 || s->ack == 0 || s->size != 0 || s->len != 0) return CDHT_SEG_FIELD;
  } else {
    if (s->seq == 0 || s->ack != 0 || s->size > CDHT_SEG_SIZE_MAX) return CDHT_SEG_FIELD;
    uint64_t off = (uint64_t)s->seq - 1;
    if (off > s->size || (off == s->size && s->size != 0)) return CDHT_SEG_FIELD; /* past the end */
    uint64_t left = s->size - off;
    if (s->len != (left < s->mss ? left : s->mss)) return CDHT_SEG_FIELD; /* every segment is full but the last */
  }
  if (len - CDHT_SEG_HDR < s->len) return CDHT_SEG_SHORT;
  if (len - CDHT_SEG_HDR > s->len) return CDHT_SEG_LONG;
  return CDHT_SEG_OK;
}

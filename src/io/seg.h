/* The 2019 form's file-transfer segments (docs/protocol.md §10): a stop-and-wait transfer over
 * UDP from the responsible peer straight to the requester.  A codec only: encode into the
 * caller's buffer, decode with every field bounds-checked.  No I/O, no clock. */
#ifndef CDHT_SEG_H
#define CDHT_SEG_H

#include <stddef.h>
#include <stdint.h>

#define CDHT_SEG_MAGIC 0x19   /* byte 0: never a cdht message's version (1), so one socket serves both */
#define CDHT_SEG_HDR 28       /* header bytes */
#define CDHT_SEG_MAX 65507    /* the largest UDP payload over IPv4 */
#define CDHT_SEG_MSS_MAX (CDHT_SEG_MAX - CDHT_SEG_HDR)
#define CDHT_SEG_SIZE_MAX 0xfffffffeu /* largest file: seq (byte offset + 1) and ack stay within 32 bits */

typedef enum cdht_seg_type { CDHT_SEG_DATA = 1, CDHT_SEG_ACK = 2 } cdht_seg_type;

typedef struct cdht_seg {
  uint8_t type;          /* cdht_seg_type */
  uint16_t mss;          /* the responder's MSS, 1..CDHT_SEG_MSS_MAX; an ACK echoes it */
  uint32_t seq;          /* DATA: 1 + offset of its first byte; ACK: 0 */
  uint32_t ack;          /* DATA: 0; ACK: the next byte expected (seq + len of the data acknowledged) */
  uint64_t token;        /* the FILE_RESP's token: only the requester and the responder know it */
  uint32_t size;         /* DATA: the whole file's bytes (the end is known from any segment); ACK: 0 */
  uint16_t file;         /* 0..9999 */
  uint16_t len;          /* DATA: data bytes that follow, exactly min(mss, size - (seq - 1)); ACK: 0 */
  const uint8_t *data;   /* decode: borrowed from the buffer decoded (len bytes); encode: read from */
} cdht_seg;

/* Encodes |s| (and its len bytes at s->data) into |dst|.  Returns the length, or -1 if |cap|
 * is too small. */
int cdht_seg_encode(uint8_t *dst, size_t cap, const cdht_seg *s);

typedef enum cdht_seg_error {
  CDHT_SEG_OK = 0,
  CDHT_SEG_SHORT = -1,    /* fewer bytes than the header, or than its len announces */
  CDHT_SEG_MAGIC_BAD = -2,/* not a segment */
  CDHT_SEG_TYPE_BAD = -3,
  CDHT_SEG_FIELD = -4,    /* a field out of range or inconsistent with another (see cdht_seg) */
  CDHT_SEG_LONG = -5,     /* bytes beyond the data */
} cdht_seg_error;

/* Decodes the datagram |buf|, |len| bytes (borrowed; s->data points into it).  Returns
 * CDHT_SEG_OK, or the first problem found, checked in this order: length of the header,
 * magic, type, each field, length of the data. */
int cdht_seg_decode(const uint8_t *buf, size_t len, cdht_seg *s);

#endif

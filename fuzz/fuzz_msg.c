/* Fuzzes the wire codec (src/core/msg.c, docs/protocol.md §2).
 *
 * Whatever the bytes, decode returns a length or one of its three errors.  When it decodes,
 * the message survives a round trip: encoding it gives back exactly the bytes decode consumed,
 * and decoding those gives the same message.  No shorter prefix decodes (a message is never a
 * prefix of another), and every smaller output buffer is refused with CDHT_ERR_NOBUF. */
#include <string.h>

#include "cdht/err.h"
#include "core/wire/msg.h"
#include "fuzz.h"

static int same_msg(const cdht_msg *a, const cdht_msg *b) {
  return a->type == b->type && a->from == b->from && a->seq == b->seq && a->role == b->role &&
         a->file == b->file && a->origin == b->origin && a->hops == b->hops && a->flags == b->flags &&
         a->succ[0] == b->succ[0] && a->succ[1] == b->succ[1] && a->about == b->about && a->age_ms == b->age_ms &&
         a->size == b->size && memcmp(a->digest, b->digest, sizeof a->digest) == 0 &&
         memcmp(a->ext, b->ext, sizeof a->ext) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cdht_msg a, b;
  cdht_ssize n = cdht_msg_decode(&a, data, size);
  if (n < 0) {
    FUZZ_CHECK(n == CDHT_ERR_MALFORMED || n == CDHT_ERR_VERSION || n == CDHT_ERR_TYPE);
    return 0;
  }
  /* The consumed length is the header plus the body the type always has, within the input. */
  int body = cdht_msg_body_len(a.type);
  FUZZ_CHECK(body >= 0);
  FUZZ_CHECK((size_t)n == CDHT_HDR_LEN + (size_t)body);
  FUZZ_CHECK((size_t)n <= size && n <= CDHT_MSG_MAX);
  FUZZ_CHECK(strcmp(cdht_msg_name(a.type), "?") != 0);
  /* Field values the decoder promises. */
  if (a.type == CDHT_MSG_PING) FUZZ_CHECK(a.role == CDHT_ROLE_FIRST || a.role == CDHT_ROLE_SECOND);
  if (a.type == CDHT_MSG_FILE_REQ || a.type == CDHT_MSG_FILE_RESP) FUZZ_CHECK(a.file <= CDHT_FILE_MAX);
  if (a.type == CDHT_MSG_XFER) FUZZ_CHECK(a.flags <= CDHT_XFER_HANDOVER); /* the transfer's kind */
  else FUZZ_CHECK((a.flags & ~CDHT_REQ_FINAL) == 0);                     /* one bit, or none */

  uint8_t buf[CDHT_MSG_MAX];
  cdht_ssize e = cdht_msg_encode(buf, sizeof buf, &a);
  FUZZ_CHECK(e == n);
  FUZZ_CHECK(memcmp(buf, data, (size_t)n) == 0);
  FUZZ_CHECK(cdht_msg_decode(&b, buf, (size_t)e) == e);
  FUZZ_CHECK(same_msg(&a, &b));

  for (size_t cap = 0; cap < (size_t)n; cap++) {
    uint8_t *small = malloc(cap ? cap : 1); /* exact size: ASan sees an overrun either way */
    FUZZ_CHECK(small != NULL);
    FUZZ_CHECK(cdht_msg_encode(small, cap, &a) == CDHT_ERR_NOBUF);
    memcpy(small, buf, cap);
    FUZZ_CHECK(cdht_msg_decode(&b, small, cap) == CDHT_ERR_MALFORMED);
    free(small);
  }
  return 0;
}

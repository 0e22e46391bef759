/* Fuzzes the wire codec, version 2 (src/core/wire/msg.c, docs/protocol.md §2).
 *
 * Whatever the bytes, decode returns a length or one of its three errors.  When it decodes,
 * the message survives a round trip: encoding it gives back exactly the bytes decode consumed,
 * and decoding those gives the same message.  No shorter prefix decodes (a message is never a
 * prefix of another: its header states its length), and every smaller output buffer is refused
 * with CDHT_ERR_NOBUF.  What decodes keeps the promises the node relies on: its sender and
 * origin are peers, every record has a family it knows and a port, lists and names are within
 * their bounds and names hold only the bytes a name may hold. */
#include <string.h>

#include "cdht/err.h"
#include "core/wire/msg.h"
#include "fuzz.h"

static int same_peer(const cdht_peer *a, const cdht_peer *b) {
  return cdht_peer_eq(a, b) && a->id == b->id;
}

static int same_msg(const cdht_msg *a, const cdht_msg *b) {
  if (a->nsucc != b->nsucc) return 0;
  for (unsigned i = 0; i < a->nsucc; i++)
    if (!same_peer(&a->succ[i], &b->succ[i])) return 0;
  return a->type == b->type && same_peer(&a->from, &b->from) && a->seq == b->seq && a->role == b->role &&
         cdht_name_eq(&a->name, &b->name) && same_peer(&a->origin, &b->origin) && a->hops == b->hops &&
         a->flags == b->flags && same_peer(&a->about, &b->about) && a->age_ms == b->age_ms && a->size == b->size &&
         a->token == b->token && a->bits == b->bits && a->keys == b->keys && a->reason == b->reason &&
         a->key == b->key && memcmp(a->digest, b->digest, sizeof a->digest) == 0 &&
         memcmp(a->ext, b->ext, sizeof a->ext) == 0;
}

/* A record decode may return: "no peer" exactly as the encoding says (id 0), or an IPv4 or
 * IPv6 address with a port and nothing past its address bytes. */
static void check_peer(const cdht_peer *p) {
  if (!cdht_peer_known(p)) {
    FUZZ_CHECK(p->id == 0 && p->addr.port == 0);
    return;
  }
  FUZZ_CHECK(p->addr.family == CDHT_AF_INET || p->addr.family == CDHT_AF_INET6);
  FUZZ_CHECK(p->addr.port != 0);
  if (p->addr.family == CDHT_AF_INET)
    for (int i = 4; i < 16; i++) FUZZ_CHECK(p->addr.ip[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cdht_msg a, b;
  cdht_ssize n = cdht_msg_decode(&a, data, size);
  if (n < 0) {
    FUZZ_CHECK(n == CDHT_ERR_MALFORMED || n == CDHT_ERR_VERSION || n == CDHT_ERR_TYPE);
    return 0;
  }
  /* The consumed length is the header plus the body the header states, within the input and
   * within the type's largest body. */
  int body_max = cdht_msg_body_max(a.type);
  FUZZ_CHECK(body_max >= 0);
  FUZZ_CHECK((size_t)n == CDHT_HDR_LEN + ((size_t)data[2] << 8 | data[3]));
  FUZZ_CHECK((size_t)n <= CDHT_HDR_LEN + (size_t)body_max);
  FUZZ_CHECK((size_t)n <= size && n <= CDHT_MSG_MAX);
  FUZZ_CHECK(data[0] == CDHT_WIRE_V2 && data[1] == a.type);
  FUZZ_CHECK(strcmp(cdht_msg_name(a.type), "?") != 0);
  /* Peers, lists and names as promised. */
  FUZZ_CHECK(cdht_peer_known(&a.from));
  check_peer(&a.from);
  check_peer(&a.origin);
  check_peer(&a.about);
  if (a.type == CDHT_MSG_FILE_REQ || a.type == CDHT_MSG_STORE_REQ || a.type == CDHT_MSG_JOIN_REQ)
    FUZZ_CHECK(cdht_peer_known(&a.origin));
  FUZZ_CHECK(a.nsucc <= CDHT_LIST_MAX);
  for (unsigned i = 0; i < a.nsucc; i++) check_peer(&a.succ[i]);
  for (unsigned i = a.nsucc; i < CDHT_LIST_MAX; i++) FUZZ_CHECK(!cdht_peer_known(&a.succ[i]));
  if (a.name.len) FUZZ_CHECK(cdht_name_valid(a.name.s, a.name.len));
  bool named = a.type == CDHT_MSG_FILE_REQ || a.type == CDHT_MSG_FILE_RESP || a.type == CDHT_MSG_STORE_REQ ||
               a.type == CDHT_MSG_STORE_ACCEPT || a.type == CDHT_MSG_STORE_DONE || a.type == CDHT_MSG_XFER;
  FUZZ_CHECK(named == (a.name.len > 0));
  /* Field values the decoder promises. */
  if (a.type == CDHT_MSG_PING) FUZZ_CHECK(a.role == CDHT_ROLE_FIRST || a.role == CDHT_ROLE_SECOND);
  if (a.type == CDHT_MSG_XFER) FUZZ_CHECK(a.flags <= CDHT_XFER_HANDOVER); /* the transfer's kind */
  else FUZZ_CHECK((a.flags & ~CDHT_REQ_FINAL) == 0);                     /* one bit, or none */
  if (a.type == CDHT_MSG_JOIN_REQ || a.type == CDHT_MSG_JOIN_REJECT)
    FUZZ_CHECK(a.bits >= 1 && a.bits <= 64 && a.keys <= CDHT_KEYS_BLAKE2B);
  if (a.type == CDHT_MSG_JOIN_REJECT) FUZZ_CHECK(a.reason == CDHT_REJECT_TAKEN || a.reason == CDHT_REJECT_PARAMS);

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

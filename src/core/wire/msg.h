/* Wire codec, version 2 (docs/protocol.md §2): one binary, versioned, length-checked format for
 * UDP datagrams and TCP frames.  Every message is a 4-byte header — version, type, body length
 * (u16, big-endian) — and a body laid out by the type.  Bodies carry peer records (id and
 * address), lists of them and names, so their length varies: the header states it and the
 * decoder checks that the fields fill it exactly.  A TCP stream is a sequence of such messages;
 * the header's length field is the frame's length prefix. */
#ifndef CDHT_WIRE_MSG_H
#define CDHT_WIRE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../peer.h"

#define CDHT_WIRE_V2 2
#define CDHT_HDR_LEN 4
#define CDHT_LIST_MAX 32       /* peer records in one list: a successor list of up to 32 */
#define CDHT_NAME_MAX 255      /* bytes of a name */
#define CDHT_PEER_WIRE_MAX 27  /* id 8, family 1, IPv6 address 16, port 2 */
#define CDHT_MSG_MAX 1024      /* bytes: the largest encoded message, header included (tested) */
#define CDHT_FRAME_MAX 1024    /* bytes: a TCP frame claiming more is refused before buffering */

typedef ssize_t cdht_ssize;

typedef enum cdht_msg_type {
  CDHT_MSG_PING = 1,   /* UDP: ping request to a successor */
  CDHT_MSG_PONG,       /* UDP: ping response, echoes seq */
  CDHT_MSG_FILE_REQ,   /* TCP: file request, passed on towards the responsible peer */
  CDHT_MSG_FILE_RESP,  /* TCP: the responsible peer's answer, sent straight to the requester */
  CDHT_MSG_DEPART,     /* TCP: a leaving peer tells a predecessor its new successors */
  CDHT_MSG_DEPART_ACK, /* TCP: the predecessor confirms */
  CDHT_MSG_SUCC_QUERY, /* TCP: "who is your first successor?" (kill repair) */
  CDHT_MSG_SUCC_REPLY, /* TCP: the answer, with the sender's successors */
  CDHT_MSG_WITNESS_QUERY, /* TCP: "when did you last hear from your successor X?" (§4) */
  CDHT_MSG_WITNESS_REPLY, /* TCP: the answer: milliseconds since, or CDHT_AGE_NEVER */
  CDHT_MSG_JOIN_REQ,    /* TCP: origin wants to join; passed on to the peer that will precede it */
  CDHT_MSG_JOIN_ACCEPT, /* TCP: to the joiner: your successors (about: a dead peer to avoid) */
  CDHT_MSG_JOIN_REJECT, /* TCP: to the joiner: that id is already in the ring */
  CDHT_MSG_SUCC_CHANGE, /* TCP: to the accepting peer's first predecessor: your new successors */
  CDHT_MSG_STAB_QUERY,  /* TCP: stabilization: "who are your predecessor and successors?" */
  CDHT_MSG_STAB_REPLY,  /* TCP: the answer (about = first predecessor, age_ms since heard) */
  CDHT_MSG_STORE_REQ,   /* TCP: store request, routed like a file request */
  CDHT_MSG_STORE_ACCEPT, /* TCP: the responsible peer to the storer: send me the content */
  CDHT_MSG_STORE_DONE,  /* TCP: the responsible peer to the storer: stored and verified */
  CDHT_MSG_XFER,        /* TCP: a content transfer's header; the raw bytes follow (io/xfer) */
  CDHT_MSG_KEYS_REQ,    /* TCP: a joiner to its successor: hand me the keys after |about| */
  CDHT_MSG_KEYS_DONE,   /* TCP: a handover is complete: |seq| files were sent */
  CDHT_MSG_JOIN_ACK,    /* TCP: the joiner to the accepting peer: echoes JOIN_ACCEPT's token */
  CDHT_MSG_DEPART_CONFIRM, /* TCP: the leaving peer to a predecessor: echoes DEPART_ACK's token (§6) */
  CDHT_MSG_KEYS_OFFER,  /* TCP: a giver to its successor: I will hand you keys after |about| (§9) */
  CDHT_MSG_KEYS_GRANT,  /* TCP: the answer, to the giver's address: a token its handover must carry */
  CDHT_MSG_FIND_REQ,    /* TCP: "who is responsible for |key|?" routed like a file request (a finger's refresh) */
  CDHT_MSG_FIND_RESP,   /* TCP: the responsible peer's answer, straight to the origin: itself, for |key| */
  CDHT_MSG_COUNT
} cdht_msg_type;

#define CDHT_ROLE_FIRST 1  /* ping role: the receiver is the sender's first successor */
#define CDHT_ROLE_SECOND 2 /* ping role: the receiver is the sender's second successor */
#define CDHT_REQ_FINAL 0x01 /* file, store and find request flag: the receiver is the responsible peer */
#define CDHT_AGE_NEVER UINT32_MAX /* witness reply: not my successor, or never answered */
#define CDHT_RESP_CONTENT 0x01  /* file response flag: the content follows in a transfer */
#define CDHT_XFER_PUT 0         /* transfer kind: a stored file, to the responsible peer */
#define CDHT_XFER_GET 1         /* transfer kind: a requested file, to the requester */
#define CDHT_XFER_HANDOVER 2    /* transfer kind: a held file, to the neighbour now responsible */
#define CDHT_XFER_SUPERSEDED 0x1 /* a handover's seq bit: the giver passed on a newer store of this name */
#define CDHT_XFER_VERDICT_OK 0     /* the receiver's one-byte answer after the content: kept */
#define CDHT_XFER_VERDICT_FAILED 1 /* not kept (digest mismatch, write error) */
#define CDHT_KEYS_NUMBERS 0     /* ring parameter: names are four digits, key = NNNN mod 2^bits (classic) */
#define CDHT_KEYS_BLAKE2B 1     /* ring parameter: any name, key = BLAKE2b-256(name)[0..8) mod 2^bits */
#define CDHT_REJECT_TAKEN 1     /* join refused: the id is already in the ring */
#define CDHT_REJECT_PARAMS 2    /* join refused: the ring's parameters (bits, keys) differ from the joiner's */
#define CDHT_DIGEST_LEN 32      /* BLAKE2b-256 of a transfer's content */
#define CDHT_EXT_LEN 8          /* a file's extension, NUL-padded: "pdf" */

/* A name: 1..255 bytes, none of them a control byte, a space, DEL or '/' (bytes from 0x80 up
 * are allowed, so UTF-8 names pass).  Not NUL-terminated. */
typedef struct cdht_name {
  uint8_t len;
  uint8_t s[CDHT_NAME_MAX];
} cdht_name;

/* One decoded message.  Fields a type does not carry are zero (peers: "no peer"). */
typedef struct cdht_msg {
  uint8_t type;      /* cdht_msg_type */
  cdht_peer from;    /* the peer that sent this message (this hop); always a peer */
  uint32_t seq;      /* ping sequence number, request id or query id */
  uint8_t role;      /* PING: CDHT_ROLE_FIRST or CDHT_ROLE_SECOND */
  cdht_name name;    /* FILE_REQ, FILE_RESP, STORE_*, XFER: the file's name */
  cdht_peer origin;  /* FILE_REQ, STORE_REQ, JOIN_REQ: the requester, who gets the answer; always a peer */
  uint16_t hops;     /* FILE_REQ, STORE_REQ, JOIN_REQ, FIND_REQ: messages so far, this one excluded (loop guard);
                      * FILE_RESP, STORE_ACCEPT, FIND_RESP: the messages the request took */
  uint8_t flags;     /* FILE_REQ: CDHT_REQ_FINAL; FILE_RESP: CDHT_RESP_CONTENT; XFER: the kind */
  uint8_t nsucc;     /* entries in succ */
  cdht_peer succ[CDHT_LIST_MAX]; /* DEPART, SUCC_CHANGE, JOIN_ACCEPT: the receiver's new successors;
                                  * SUCC_REPLY, STAB_REPLY: the sender's; "no peer" = pending */
  cdht_peer about;   /* WITNESS_*: the suspect; STORE_DONE: the holder; KEYS_REQ: the joiner's predecessor;
                      * JOIN_ACCEPT: a dead peer to avoid; STAB_REPLY: first predecessor (may be none) */
  uint32_t age_ms;   /* WITNESS_REPLY, STAB_REPLY: ms since the sender last heard from it */
  uint64_t size;     /* XFER: content length in bytes */
  uint64_t token;    /* unguessable (docs/protocol.md §2): handed out or echoed */
  uint8_t bits;      /* JOIN_REQ: the joiner's ring has 2^bits ids; JOIN_REJECT: the ring's (1..64) */
  uint8_t keys;      /* JOIN_REQ, JOIN_REJECT: CDHT_KEYS_NUMBERS or CDHT_KEYS_BLAKE2B, as bits */
  uint8_t reason;    /* JOIN_REJECT: CDHT_REJECT_TAKEN or CDHT_REJECT_PARAMS */
  uint64_t key;      /* KEYS_OFFER: the giver hands over keys after this one; FIND_*: the key looked up */
  uint8_t digest[CDHT_DIGEST_LEN]; /* XFER: the content digest (docs/protocol.md §9) */
  char ext[CDHT_EXT_LEN];          /* XFER: extension, [A-Za-z0-9] then NULs */
} cdht_msg;

/* Encodes |m| into |dst| (capacity |cap| bytes, borrowed).  Returns the length written, or
 * CDHT_ERR_NOBUF if it does not fit, CDHT_ERR_TYPE for an unknown type, CDHT_ERR_INVAL for a
 * field the decoder would refuse (a list longer than CDHT_LIST_MAX, an empty or bad name, a
 * sender or origin that is "no peer"). */
cdht_ssize cdht_msg_encode(uint8_t *dst, size_t cap, const cdht_msg *m);

/* Decodes one message from the start of |buf| (|len| bytes, borrowed; |m| gets copies only).
 * Returns the bytes consumed, or CDHT_ERR_MALFORMED (short, body length not filled exactly by
 * the fields, a count beyond its maximum, a bad field value), CDHT_ERR_VERSION or
 * CDHT_ERR_TYPE.  Trailing bytes after the message are left to the caller: a datagram must be
 * consumed exactly. */
cdht_ssize cdht_msg_decode(cdht_msg *m, const uint8_t *buf, size_t len);

/* Returns the largest body |type| can have (every list full, every name and address at its
 * longest), or -1 for an unknown type. */
int cdht_msg_body_max(uint8_t type);

/* Returns a short lower-case name of |type| for diagnostics ("ping", ...), "?" if unknown. */
const char *cdht_msg_name(uint8_t type);

/* Returns whether the |len| bytes at |s| form a valid name (see cdht_name). */
bool cdht_name_valid(const uint8_t *s, size_t len);

/* Sets |n| to the |len| bytes at |s|.  Returns 0, or CDHT_ERR_INVAL if they are not a name. */
int cdht_name_set(cdht_name *n, const void *s, size_t len);

/* Returns whether |a| and |b| are the same name. */
bool cdht_name_eq(const cdht_name *a, const cdht_name *b);

/* Orders names: by their bytes, a prefix first.  Returns <0, 0 or >0, as memcmp.  Four-digit
 * names sort as their numbers. */
int cdht_name_cmp(const cdht_name *a, const cdht_name *b);

/* The classic names (docs/protocol.md §1): four decimal digits.  Returns the number 0..9999 of
 * |n|, or -1 if |n| is not four digits. */
int cdht_name_number(const cdht_name *n);

/* Sets |n| to the four digits of |number| (0..9999, taken mod 10000): 42 -> "0042". */
void cdht_name_of_number(cdht_name *n, unsigned number);

#endif

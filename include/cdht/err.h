/* Error codes shared by every cdht module: 0 is success, negative values are CDHT_ERR_*.
 * Codes below CDHT_ERR_FATAL stop a node; every other code means "this input was refused". */
#ifndef CDHT_ERR_H
#define CDHT_ERR_H

/* X(name, value, message) */
#define CDHT_ERRORS(X)                                                           \
  X(NOMEM, -1, "out of memory")                                                  \
  X(INTERNAL, -2, "internal error")                                              \
  X(FATAL, -3, "fatal error")                                                    \
  X(MALFORMED, -10, "malformed message")                                         \
  X(VERSION, -11, "unknown protocol version")                                    \
  X(TYPE, -12, "unknown message type")                                           \
  X(TOOBIG, -13, "message too large")                                            \
  X(NOBUF, -14, "buffer too small")                                              \
  X(SPOOFED, -15, "sender address does not match its claimed id")                \
  X(BADID, -16, "peer id outside the ring")                                      \
  X(UNEXPECTED, -17, "message not expected in this state")                       \
  X(STALE, -18, "stale or duplicate message")                                    \
  X(LOOP, -19, "request exceeded the hop limit")                                 \
  X(BUSY, -20, "too many requests pending")                                      \
  X(LEAVING, -21, "this peer is leaving the ring")                               \
  X(ROLE, -22, "sender is not in the role to send this message")                 \
  X(INVAL, -23, "invalid argument")

enum {
#define CDHT_ERR_ENUM(name, value, msg) CDHT_ERR_##name = (value),
  CDHT_ERRORS(CDHT_ERR_ENUM)
#undef CDHT_ERR_ENUM
};

/* Returns a static, human-readable message for |err| (never NULL). */
const char *cdht_strerror(int err);

#endif

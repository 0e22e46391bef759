#include "lines.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "10", "2.5", "0.125": milliseconds as seconds without trailing zeros. */
static void format_seconds(char *dst, size_t cap, uint32_t ms) {
  unsigned frac = ms % 1000;
  if (frac == 0) { snprintf(dst, cap, "%u", ms / 1000); return; }
  int digits = 3;
  while (frac % 10 == 0) { frac /= 10; digits--; }
  snprintf(dst, cap, "%u.%0*u", ms / 1000, digits, frac);
}

/* A peer's decimal id; "?" for no peer (status does the same). */
static const char *id_text(char *dst, size_t cap, cdht_peer p) {
  if (!cdht_peer_known(&p)) snprintf(dst, cap, "?");
  else snprintf(dst, cap, "%llu", (unsigned long long)p.id);
  return dst;
}

static const char *keys_text(uint8_t keys) {
  return keys == CDHT_KEYS_BLAKE2B ? "names hashed with BLAKE2b" : "four-digit numbers";
}

static const char *seconds_text(char *dst, size_t cap, uint32_t ms) {
  format_seconds(dst, cap, ms);
  return dst;
}

static const char *join_failure_text(char *dst, size_t cap, const cdht_event *ev, const char *p) {
  char ab[CDHT_ADDR_STRLEN + 8];
  uint8_t reason = ev->reason;
  if (ev->addr_only) { /* joined through HOST:PORT: the peer there never said who it is */
    snprintf(ab, sizeof ab, "at ");
    cdht_addr_format(ab + 3, sizeof ab - 3, &ev->peer.addr);
    p = ab;
  }
  if (reason == CDHT_JOIN_PARAMS && ev->bits != ev->our_bits)
    snprintf(dst, cap, "the ring uses %u-bit ids, this peer %u", ev->bits, ev->our_bits);
  else if (reason == CDHT_JOIN_PARAMS)
    snprintf(dst, cap, "the ring's keys are %s, this peer's %s", keys_text(ev->keys), keys_text(ev->our_keys));
  else if (reason == CDHT_JOIN_ID_TAKEN)
    snprintf(dst, cap, "a peer with this id is already in the ring (told by peer %s)", p);
  else if (reason == CDHT_JOIN_NO_ANSWER)
    snprintf(dst, cap, "peer %s does not answer (connection refused)", p);
  else
    snprintf(dst, cap, "no answer from the ring through peer %s in time", p);
  return dst;
}

/* Each event kind once: where its line goes, its --events (JSON) name, the JSON fields it carries
 * besides t_us, self and peer (or succ), and its line as a printf format and arguments.  In the
 * arguments, p is the peer, a and b the successors (each "?" if unknown), f the file, n the count,
 * SECS the event's ms in seconds, WHY a join failure's reason (both made only for their rows).
 * SILENT kinds have no line. */
/* J_SUCC: succ, not peer.  J_HOPS: the messages a request took (ev->hops); J_FINGER: whether the
 * next hop is not the first successor (ev->finger); J_LIST: the successor list, given by the
 * caller (cdht_lines_json_list). */
enum { J_FILE = 1, J_MS = 2, J_COUNT = 4, J_SUCC = 8, J_HOPS = 16, J_FINGER = 32, J_LIST = 64 };
#define CDHT_LINES(X)                                                                                          \
  /* The classic lines (stdout).  "Peer" is capitalised in the ping, depart and alive lines. */               \
  X(PING_REQUEST, STDOUT, "ping_request", 0, "A ping request message was received from Peer %s.\n", p)         \
  X(PING_RESPONSE, STDOUT, "ping_response", 0, "A ping response message was received from Peer %s.\n", p)      \
  X(REQUEST_SENT, STDOUT, "request_sent", J_FILE | J_FINGER, "File request message for %s has been sent to my successor.\n", f) \
  X(REQUEST_FORWARDED, STDOUT, "request_forwarded", J_FILE | J_HOPS | J_FINGER,                                                  \
    "File %s is not stored here.\nFile request message has been forwarded to my successor.\n", f)            \
  X(FILE_HERE, STDOUT, "file_here", J_FILE | J_HOPS, "File %s is here.\n", f)                                   \
  X(RESPONSE_SENT, STDOUT, "response_sent", J_FILE | J_HOPS, "A response message, destined for peer %s, has been sent.\n", p) \
  X(RESPONSE_RECEIVED, STDOUT, "response_received", J_FILE | J_HOPS,                                                  \
    "Received a response message from peer %s, which has the file %s.\n", p, f)                              \
  X(DEPARTING, STDOUT, "departing", 0, "Peer %s will depart from the network.\n", p)                           \
  X(SUCCESSORS, STDOUT, "successors", J_SUCC, "My first successor is now peer %s.\nMy second successor is now peer %s.\n", a, b) \
  X(PEER_DEAD, STDOUT, "peer_dead", 0, "Peer %s is no longer alive.\n", p)                                     \
  /* The join lines of the later variant, with full stops like the classic ones. */                          \
  X(JOIN_FORWARDED, STDOUT, "join_forwarded", J_FINGER, "Peer %s Join request forwarded to my successor.\n", p)       \
  X(JOIN_RECEIVED, STDOUT, "join_received", 0, "Peer %s Join request received.\n", p)                          \
  X(SUCC_CHANGE, STDOUT, "successor_change", 0, "%s", "Successor Change request received.\n")                  \
  X(JOIN_ACCEPTED, STDOUT, "join_accepted", 0, "%s", "Join request has been accepted.\n")                       \
  /* Store (the later variant's lines, with full stops). */                                                   \
  X(STORE_FORWARDED, STDOUT, "store_forwarded", J_FILE | J_HOPS | J_FINGER, "Store %s request forwarded to my successor.\n", f)   \
  X(STORE_ACCEPTED, STDOUT, "store_accepted", J_FILE | J_HOPS, "Store %s request accepted.\n", f)                     \
  X(STORED, STDOUT, "stored", J_FILE, "File %s has been stored at peer %s.\n", f, p)                         \
  X(HANDED_OVER, STDOUT, "handed_over", J_COUNT, "%u files handed over to peer %s.\n", n, p)                    \
  X(KEYS_RECEIVED, STDOUT, "keys_received", J_COUNT, "%u files received from peer %s.\n", n, p)                \
  /* Only the 2020 form prints a ping round (CDHT_LINES_2020). */                                             \
  X(PINGS_SENT, SILENT, "pings_sent", J_SUCC, "%s", "")                                                        \
  /* A change past the first two successors: status shows the list, stdout stays classic. */                \
  X(SUCC_LIST, SILENT, "successor_list", J_COUNT | J_LIST, "%s", "")                                                   \
  /* Actions for the I/O layer, and the end; not lines. */                                                    \
  X(STORE_UPLOAD, SILENT, "store_upload", J_FILE | J_HOPS, "%s", "")                                                    \
  X(HANDOVER, SILENT, "handover", 0, "%s", "")                                                                 \
  X(LEFT, SILENT, "left", 0, "%s", "")                                                                         \
  /* Diagnostics (stderr). */                                                                                 \
  X(STORE_FAILED, STDERR, "store_failed", J_FILE | J_MS, "store %s failed: the file was not stored within %s s\n", f, SECS) \
  X(JOIN_FAILED, STDERR, "join_failed", 0, "join failed: %s\n", WHY)                                           \
  X(REQUEST_RETRIED, STDERR, "request_retried", J_FILE, "request %s: no answer yet, sent again to peer %s\n", f, p) \
  X(STORE_RETRIED, STDERR, "store_retried", J_FILE, "store %s: no answer yet, sent again to peer %s\n", f, p) \
  X(REQUEST_FAILED, STDERR, "request_failed", J_FILE | J_MS,                                                    \
    "request %s failed: no answer from the ring within %s s\n", f, SECS)                                      \
  X(RING_BROKEN, STDERR, "ring_broken", 0,                                                                      \
    "warning: both successors died before the repair finished; peer %s and its successor are gone and this "  \
    "peer now stands alone (the ring is broken)\n", p)                                                          \
  X(NEVER_ANSWERED, STDERR, "never_answered", J_SUCC,                                                                \
    "warning: successors %s and %s never answered a ping (are they running?); this peer now stands alone\n", a, b) \
  X(LEAVE_UNCONFIRMED, STDERR, "leave_unconfirmed", 0,                                                          \
    "warning: peer %s did not confirm the departure; leaving without it\n", p)

/* Every kind has its row: the count of rows is the count of kinds. */
#define COUNT_ROW(kind, ...) +1
_Static_assert(0 CDHT_LINES(COUNT_ROW) == CDHT_EV_COUNT, "CDHT_LINES needs one row per cdht_event_kind");
#undef COUNT_ROW

/* The 2020 specification's wording (the `init` / `join` forms), for the kinds it words
 * differently; every other kind keeps its CDHT_LINES row.  No trailing full stops.  The
 * variants page (classic-variants.md §2, 2020) marks some readings as guesses ([G]); where it
 * does, the spec's own reading is taken:
 *  - a new predecessor of a joiner prints "My new first/second successor is Peer ..." like
 *    every other successor change (one implementation prints "My first successor is ..."
 *    there; the spec's table says "new"); only the joiner itself, which had no successors
 *    before, prints "My first successor is Peer A" (SUCCESSORS after JOIN_ACCEPTED);
 *  - "Peer K is no longer alive" without a full stop, like every 2020 line (some print one);
 *  - no "> " prefix (several implementations copy it from how the spec displayed lines);
 *  - the file moves over TCP and is saved as received_F.pdf (the practice of two
 *    implementations; the spec names no transport) — cli/content.c;
 *  - the peer that answers a request prints "Sending file F to Peer R" only when content
 *    follows (the transfer's first line, cdht_lines_transfer_as); an answer without content
 *    is noted on stderr;
 *  - lines the 2020 table does not have (a storer's "File F has been stored at peer P", the
 *    handover counts) go to stderr, so that stdout is the 2020 lines exactly;
 *  - a peer with a single successor says "Ping requests sent to Peer A" (the spec only shows
 *    rings of two successors).
 * Commands `Store F`, `Request F`, `Quit` are matched without regard to case (cli/commands.c). */
#define CDHT_LINES_2020(Y)                                                                                     \
  Y(PINGS_SENT, STDOUT, "Ping requests sent to Peers %s and %s\n", a, b)                                      \
  Y(PING_REQUEST, STDOUT, "Ping request message received from Peer %s\n", p)                                  \
  Y(PING_RESPONSE, STDOUT, "Ping response received from Peer %s\n", p)                                         \
  Y(REQUEST_SENT, STDOUT, "File request for %s has been sent to my successor\n", f)                         \
  Y(REQUEST_FORWARDED, STDOUT, "Request for File %s has been received, but the file is not stored here\n", f) \
  Y(FILE_HERE, STDOUT, "File %s is stored here\n", f)                                                        \
  Y(RESPONSE_SENT, SILENT, "%s", "")                                                                          \
  Y(RESPONSE_RECEIVED, STDOUT, "Peer %s had File %s\n", p, f)                                                \
  Y(DEPARTING, STDOUT, "Peer %s will depart from the network\n", p)                                            \
  Y(SUCCESSORS, STDOUT, "My new first successor is Peer %s\nMy new second successor is Peer %s\n", a, b)        \
  Y(PEER_DEAD, STDOUT, "Peer %s is no longer alive\n", p)                                                      \
  Y(JOIN_FORWARDED, STDOUT, "Peer %s Join request forwarded to my successor\n", p)                             \
  Y(JOIN_RECEIVED, STDOUT, "Peer %s Join request received\n", p)                                               \
  Y(SUCC_CHANGE, STDOUT, "%s", "Successor Change request received\n")                                         \
  Y(JOIN_ACCEPTED, STDOUT, "%s", "Join request has been accepted\n")                                          \
  Y(STORE_FORWARDED, STDOUT, "Store %s request forwarded to my successor\n", f)                              \
  Y(STORE_ACCEPTED, STDOUT, "Store %s request accepted\n", f)                                                \
  Y(STORED, STDERR, "file %s has been stored at peer %s\n", f, p)                                            \
  Y(HANDED_OVER, STDERR, "%u files handed over to peer %s\n", n, p)                                            \
  Y(KEYS_RECEIVED, STDERR, "%u files received from peer %s\n", n, p)

/* A hop that skips ahead (ev->finger: through a finger, or a later entry of the successor list)
 * names the peer it went to in place of "my successor", which would be false.  The classic
 * forms route by the first successor only, never set finger, and keep their lines exactly.
 * JOIN_FORWARDED's |peer| is the joiner, so its next hop is succ[0] (q below).  The 2020
 * "Request for File F has been received, but the file is not stored here" names no next hop
 * and stays as it is. */
#define CDHT_LINES_FINGER(Z)                                                                                   \
  Z(REQUEST_SENT, "File request message for %s has been sent to peer %s.\n", f, p)                             \
  Z(REQUEST_FORWARDED, "File %s is not stored here.\nFile request message has been forwarded to peer %s.\n", f, p) \
  Z(STORE_FORWARDED, "Store %s request forwarded to peer %s.\n", f, p)                                         \
  Z(JOIN_FORWARDED, "Peer %s Join request forwarded to peer %s.\n", p, q)
#define CDHT_LINES_FINGER_2020(Z)                                                                              \
  Z(REQUEST_SENT, "File request for %s has been sent to Peer %s\n", f, p)                                      \
  Z(STORE_FORWARDED, "Store %s request forwarded to Peer %s\n", f, p)                                          \
  Z(JOIN_FORWARDED, "Peer %s Join request forwarded to Peer %s\n", p, q)

cdht_stream cdht_lines_format(char *buf, size_t cap, const cdht_event *ev) {
  return cdht_lines_format_as(buf, cap, ev, CDHT_VARIANT_CLASSIC, false);
}

cdht_stream cdht_lines_format_as(char *buf, size_t cap, const cdht_event *ev, cdht_variant variant, bool joined) {
  char pb[24], ab[24], bb[24], sb[24], wb[160];
  const char *p = id_text(pb, sizeof pb, ev->peer), *a = id_text(ab, sizeof ab, ev->succ[0]),
             *b = id_text(bb, sizeof bb, ev->succ[1]);
  char fb[CDHT_NAME_MAX + 1];
  const char *f = cdht_lines_name(fb, &ev->name);
  unsigned n = ev->seq;
  buf[0] = '\0';
  if (ev->finger) {
    char qb[24];
    const char *q = id_text(qb, sizeof qb, ev->succ[0]);
#define FORMAT_FINGER(kind, ...)                                                                               \
  case CDHT_EV_##kind:                                                                                         \
    snprintf(buf, cap, __VA_ARGS__);                                                                           \
    return CDHT_STDOUT;
    if (variant == CDHT_VARIANT_2020) {
      switch (ev->kind) {
        CDHT_LINES_FINGER_2020(FORMAT_FINGER)
      default:
        break;
      }
    } else {
      switch (ev->kind) {
        CDHT_LINES_FINGER(FORMAT_FINGER)
      default:
        break;
      }
    }
#undef FORMAT_FINGER
  }
  if (variant == CDHT_VARIANT_2020) {
    if (ev->kind == CDHT_EV_SUCCESSORS && joined) {
      snprintf(buf, cap, "My first successor is Peer %s\nMy second successor is Peer %s\n", a, b);
      return CDHT_STDOUT;
    }
    if (ev->kind == CDHT_EV_PINGS_SENT && !cdht_peer_known(&ev->succ[1])) {
      snprintf(buf, cap, "Ping requests sent to Peer %s\n", a);
      return CDHT_STDOUT;
    }
    switch (ev->kind) {
#define FORMAT_2020(kind, stream, ...)                                                                         \
  case CDHT_EV_##kind:                                                                                         \
    snprintf(buf, cap, __VA_ARGS__);                                                                           \
    return CDHT_##stream;
      CDHT_LINES_2020(FORMAT_2020)
#undef FORMAT_2020
    default:
      break; /* worded as in CDHT_LINES */
    }
  }
#define SECS seconds_text(sb, sizeof sb, ev->ms)
#define WHY join_failure_text(wb, sizeof wb, ev, p)
  switch (ev->kind) {
#define FORMAT_ROW(kind, stream, name, fields, ...)                                                            \
  case CDHT_EV_##kind:                                                                                         \
    snprintf(buf, cap, __VA_ARGS__);                                                                           \
    return CDHT_##stream;
    CDHT_LINES(FORMAT_ROW)
#undef FORMAT_ROW
#undef SECS
#undef WHY
  case CDHT_EV_COUNT:
    break;
  }
  return CDHT_SILENT;
}

static const struct {
  const char *name;
  unsigned fields;
} events[CDHT_EV_COUNT] = {
#define JSON_ROW(kind, stream, name, fields, ...) [CDHT_EV_##kind] = { name, fields },
  CDHT_LINES(JSON_ROW)
#undef JSON_ROW
};

const char *cdht_event_name(cdht_event_kind kind) {
  return (unsigned)kind < CDHT_EV_COUNT && events[kind].name ? events[kind].name : "?";
}

const char *cdht_lines_name(char dst[CDHT_NAME_MAX + 1], const cdht_name *name) {
  memcpy(dst, name->s, name->len);
  dst[name->len] = '\0';
  return dst;
}

/* Writes |key| and |name| as a JSON string: '"' and '\\' escaped (a name holds no control
 * byte); bytes from 0x80 up as they are (a UTF-8 name stays itself).  Returns the bytes written
 * (0 if they did not fit). */
static size_t json_string(char *dst, size_t cap, const char *key, const cdht_name *name) {
  size_t n = strlen(key);
  if (n + 2 * (size_t)name->len + 3 > cap) return 0;
  memcpy(dst, key, n);
  dst[n++] = '"';
  for (size_t i = 0; i < name->len; i++) {
    if (name->s[i] == '"' || name->s[i] == '\\') dst[n++] = '\\';
    dst[n++] = (char)name->s[i];
  }
  dst[n++] = '"';
  dst[n] = '\0';
  return n;
}

/* A JSON id: the number, or null for no peer. */
static const char *json_id(char *dst, size_t cap, cdht_peer p) {
  if (!cdht_peer_known(&p)) snprintf(dst, cap, "null");
  else snprintf(dst, cap, "%llu", (unsigned long long)p.id);
  return dst;
}

void cdht_lines_json(char *buf, size_t cap, uint64_t t_us, cdht_id self, const cdht_event *ev) {
  cdht_lines_json_list(buf, cap, t_us, self, ev, NULL, 0);
}

void cdht_lines_json_list(char *buf, size_t cap, uint64_t t_us, cdht_id self, const cdht_event *ev,
                          const cdht_peer *list, size_t nlist) {
  char ab[24], bb[24];
  int n = snprintf(buf, cap, "{\"t_us\":%llu,\"self\":%llu,\"event\":\"%s\"", (unsigned long long)t_us,
                   (unsigned long long)self, cdht_event_name(ev->kind));
  size_t off = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
  unsigned fields = (unsigned)ev->kind < CDHT_EV_COUNT ? events[ev->kind].fields : 0;
  if (fields & J_SUCC)
    n = snprintf(buf + off, cap - off, ",\"succ\":[%s,%s]", json_id(ab, sizeof ab, ev->succ[0]),
                 json_id(bb, sizeof bb, ev->succ[1]));
  else if (cdht_peer_known(&ev->peer) && ev->kind != CDHT_EV_LEFT)
    n = snprintf(buf + off, cap - off, ",\"peer\":%llu", (unsigned long long)ev->peer.id);
  else
    n = 0;
  off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  if (fields & J_FILE) {
    off += json_string(buf + off, cap - off, ",\"file\":", &ev->name);
  }
  if (fields & J_MS) {
    n = snprintf(buf + off, cap - off, ",\"ms\":%u", ev->ms);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  if (fields & J_COUNT) {
    /* With the list, its own length: the list is read once the input that changed it has been
     * handled, and that input may have changed it again after the event was made (ev->seq). */
    unsigned count = (fields & J_LIST) && list ? (unsigned)nlist : ev->seq;
    n = snprintf(buf + off, cap - off, ",\"count\":%u", count);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  if (fields & J_HOPS) {
    n = snprintf(buf + off, cap - off, ",\"hops\":%u", (unsigned)ev->hops);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  if (fields & J_FINGER) { /* on every kind that may skip ahead, so that tools need no default */
    n = snprintf(buf + off, cap - off, ",\"finger\":%s", ev->finger ? "true" : "false");
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
    if (ev->finger && ev->kind == CDHT_EV_JOIN_FORWARDED) { /* |peer| is the joiner: name the next hop */
      n = snprintf(buf + off, cap - off, ",\"to\":%s", json_id(ab, sizeof ab, ev->succ[0]));
      off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
    }
  }
  if ((fields & J_LIST) && list) {
    n = snprintf(buf + off, cap - off, ",\"list\":[");
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
    for (size_t i = 0; i < nlist; i++) {
      n = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", json_id(ab, sizeof ab, list[i]));
      off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
    }
    n = snprintf(buf + off, cap - off, "]");
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  snprintf(buf + off, cap - off, "}\n");
}

void cdht_lines_transfer_as(char *buf, size_t cap, cdht_variant variant, cdht_transfer_line which,
                            const cdht_name *name, cdht_id peer) {
  char pb[24], fb[CDHT_NAME_MAX + 1];
  const char *file = cdht_lines_name(fb, name);
  if (variant != CDHT_VARIANT_2020) {
    snprintf(buf, cap, "%s", cdht_lines_transfer(which));
    return;
  }
  snprintf(pb, sizeof pb, "%llu", (unsigned long long)peer);
  const char *p = pb;
  switch (which) {
  case CDHT_LINE_SENDING: snprintf(buf, cap, "Sending file %s to Peer %s\n", file, p); return;
  case CDHT_LINE_SENT: snprintf(buf, cap, "The file has been sent\n"); return;
  case CDHT_LINE_RECEIVING: snprintf(buf, cap, "Receiving File %s from Peer %s\n", file, p); return;
  case CDHT_LINE_RECEIVED: snprintf(buf, cap, "File %s received\n", file); return;
  }
  buf[0] = '\0';
}

const char *cdht_lines_transfer(cdht_transfer_line which) {
  switch (which) {
  case CDHT_LINE_SENDING: return "We now start sending the file .........\n";
  case CDHT_LINE_SENT: return "The file is sent.\n";
  case CDHT_LINE_RECEIVING: return "We now start receiving the file .........\n";
  case CDHT_LINE_RECEIVED: return "The file is received.\n";
  }
  return "";
}

cdht_stream cdht_lines_no_content(char *buf, size_t cap, const cdht_event *ev) {
  buf[0] = '\0';
  char pb[24], fb[CDHT_NAME_MAX + 1];
  /* After the classic line, on stderr so that stdout stays the classic lines exactly.  The
   * classic line says the peer "has the file": it is responsible for it, content or not. */
  if (ev->kind == CDHT_EV_RESPONSE_RECEIVED && !ev->content)
    snprintf(buf, cap, "peer %s is responsible for file %s but holds no content for it\n",
             id_text(pb, sizeof pb, ev->peer), cdht_lines_name(fb, &ev->name));
  else if (ev->kind == CDHT_EV_FILE_HERE && ev->own && !ev->content)
    snprintf(buf, cap, "file %s is this peer's, and no content for it is held here\n", cdht_lines_name(fb, &ev->name));
  else
    return CDHT_SILENT;
  return CDHT_STDERR;
}

/* Appends with snprintf at *off, never past |cap| (a cut text stays NUL-terminated). */
static void append(char *buf, size_t cap, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *off, const char *fmt, ...) {
  if (*off + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *off, cap - *off, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  *off = (size_t)n < cap - *off ? *off + (size_t)n : cap - 1;
}

void cdht_lines_status_successors(char *buf, size_t cap, const cdht_peer *list, size_t n, unsigned r) {
  size_t off = 0;
  char ib[24], ab[CDHT_ADDR_STRLEN];
  buf[0] = '\0';
  append(buf, cap, &off, "successor list (%zu of %u):", n, r);
  for (size_t i = 0; i < n; i++)
    append(buf, cap, &off, "%s %s %s", i ? "," : "", id_text(ib, sizeof ib, list[i]),
           cdht_peer_known(&list[i]) ? cdht_addr_format(ab, sizeof ab, &list[i].addr) : "-");
  append(buf, cap, &off, "\n");
}

void cdht_lines_status_fingers(char *buf, size_t cap, const cdht_peer *fingers, unsigned bits, bool on) {
  size_t off = 0;
  char ib[24];
  buf[0] = '\0';
  if (!on || bits == 0) {
    append(buf, cap, &off, "fingers: off\n");
    return;
  }
  append(buf, cap, &off, "fingers:");
  /* Fingers i and i+1 usually name the same peer (on a ring of N peers, only about log2 N are
   * distinct), so a run of equal ones is one range. */
  for (unsigned i = 0; i < bits;) {
    unsigned j = i;
    while (j + 1 < bits && cdht_peer_known(&fingers[j + 1]) == cdht_peer_known(&fingers[i]) &&
           (!cdht_peer_known(&fingers[i]) || fingers[j + 1].id == fingers[i].id))
      j++;
    if (j == i) append(buf, cap, &off, "%s %u -> %s", i ? "," : "", i, id_text(ib, sizeof ib, fingers[i]));
    else append(buf, cap, &off, "%s %u-%u -> %s", i ? "," : "", i, j, id_text(ib, sizeof ib, fingers[i]));
    i = j + 1;
  }
  append(buf, cap, &off, "\n");
}

void cdht_lines_status_lookups(char *buf, size_t cap, const cdht_stats *st) {
  size_t off = 0;
  buf[0] = '\0';
  append(buf, cap, &off, "requests answered: %llu, mean hops ", (unsigned long long)st->answers);
  if (st->answers) { /* to hundredths, rounded half up, in integers: no locale's decimal comma */
    unsigned long long a = st->answers, whole = st->answer_hops / a, rem = st->answer_hops % a;
    unsigned long long frac = rem <= UINT64_MAX / 100 - a ? (rem * 100 + a / 2) / a : rem / (a / 100);
    if (frac >= 100) { whole++; frac -= 100; }
    append(buf, cap, &off, "%llu.%02llu", whole, frac);
  } else {
    append(buf, cap, &off, "-");
  }
  append(buf, cap, &off, "; finger refreshes: %llu\n", (unsigned long long)st->finger_lookups);
}

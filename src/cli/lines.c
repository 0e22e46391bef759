#include "lines.h"

#include <stdbool.h>
#include <stdio.h>

/* "10", "2.5", "0.125": milliseconds as seconds without trailing zeros. */
static void format_seconds(char *dst, size_t cap, uint32_t ms) {
  unsigned frac = ms % 1000;
  if (frac == 0) { snprintf(dst, cap, "%u", ms / 1000); return; }
  int digits = 3;
  while (frac % 10 == 0) { frac /= 10; digits--; }
  snprintf(dst, cap, "%u.%0*u", ms / 1000, digits, frac);
}

cdht_stream cdht_lines_format(char *buf, size_t cap, const cdht_event *ev) {
  unsigned long long p = ev->peer, a = ev->succ[0], b = ev->succ[1];
  unsigned f = ev->file;
  buf[0] = '\0';
  switch (ev->kind) {
  /* The classic lines (stdout).  "Peer" is capitalised in the ping, depart and alive lines. */
  case CDHT_EV_PING_REQUEST:
    snprintf(buf, cap, "A ping request message was received from Peer %llu.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_PING_RESPONSE:
    snprintf(buf, cap, "A ping response message was received from Peer %llu.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_REQUEST_SENT:
    snprintf(buf, cap, "File request message for %04u has been sent to my successor.\n", f);
    return CDHT_STDOUT;
  case CDHT_EV_REQUEST_FORWARDED:
    snprintf(buf, cap, "File %04u is not stored here.\nFile request message has been forwarded to my successor.\n", f);
    return CDHT_STDOUT;
  case CDHT_EV_FILE_HERE:
    snprintf(buf, cap, "File %04u is here.\n", f);
    return CDHT_STDOUT;
  case CDHT_EV_RESPONSE_SENT:
    snprintf(buf, cap, "A response message, destined for peer %llu, has been sent.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_RESPONSE_RECEIVED:
    snprintf(buf, cap, "Received a response message from peer %llu, which has the file %04u.\n", p, f);
    return CDHT_STDOUT;
  case CDHT_EV_DEPARTING:
    snprintf(buf, cap, "Peer %llu will depart from the network.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_SUCCESSORS:
    snprintf(buf, cap, "My first successor is now peer %llu.\nMy second successor is now peer %llu.\n", a, b);
    return CDHT_STDOUT;
  case CDHT_EV_PEER_DEAD:
    snprintf(buf, cap, "Peer %llu is no longer alive.\n", p);
    return CDHT_STDOUT;
  /* The join lines of the later variant, with full stops like the classic ones. */
  case CDHT_EV_JOIN_FORWARDED:
    snprintf(buf, cap, "Peer %llu Join request forwarded to my successor.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_JOIN_RECEIVED:
    snprintf(buf, cap, "Peer %llu Join request received.\n", p);
    return CDHT_STDOUT;
  case CDHT_EV_SUCC_CHANGE:
    snprintf(buf, cap, "Successor Change request received.\n");
    return CDHT_STDOUT;
  case CDHT_EV_JOIN_ACCEPTED:
    snprintf(buf, cap, "Join request has been accepted.\n");
    return CDHT_STDOUT;
  /* Store (the later variant's lines, with full stops). */
  case CDHT_EV_STORE_FORWARDED:
    snprintf(buf, cap, "Store %04u request forwarded to my successor.\n", f);
    return CDHT_STDOUT;
  case CDHT_EV_STORE_ACCEPTED:
    snprintf(buf, cap, "Store %04u request accepted.\n", f);
    return CDHT_STDOUT;
  case CDHT_EV_STORED:
    snprintf(buf, cap, "File %04u has been stored at peer %llu.\n", f, p);
    return CDHT_STDOUT;
  case CDHT_EV_HANDED_OVER:
    snprintf(buf, cap, "%u files handed over to peer %llu.\n", ev->seq, p);
    return CDHT_STDOUT;
  case CDHT_EV_KEYS_RECEIVED:
    snprintf(buf, cap, "%u files received from peer %llu.\n", ev->seq, p);
    return CDHT_STDOUT;
  case CDHT_EV_STORE_UPLOAD:
  case CDHT_EV_HANDOVER:
    break; /* actions for the I/O layer, not lines */
  /* Diagnostics (stderr). */
  case CDHT_EV_STORE_FAILED: {
    char secs[24];
    format_seconds(secs, sizeof secs, ev->ms);
    snprintf(buf, cap, "store %04u failed: the file was not stored within %s s\n", f, secs);
    return CDHT_STDERR;
  }
  case CDHT_EV_JOIN_FAILED:
    if (ev->reason == CDHT_JOIN_ID_TAKEN)
      snprintf(buf, cap, "join failed: a peer with this id is already in the ring (told by peer %llu)\n", p);
    else if (ev->reason == CDHT_JOIN_NO_ANSWER)
      snprintf(buf, cap, "join failed: peer %llu does not answer (connection refused)\n", p);
    else
      snprintf(buf, cap, "join failed: no answer from the ring through peer %llu in time\n", p);
    return CDHT_STDERR;
  case CDHT_EV_REQUEST_RETRIED:
    snprintf(buf, cap, "request %04u: no answer yet, sent again to peer %llu\n", f, p);
    return CDHT_STDERR;
  case CDHT_EV_REQUEST_FAILED: {
    char secs[24];
    format_seconds(secs, sizeof secs, ev->ms);
    snprintf(buf, cap, "request %04u failed: no answer from the ring within %s s\n", f, secs);
    return CDHT_STDERR;
  }
  case CDHT_EV_RING_BROKEN:
    snprintf(buf, cap, "warning: both successors died before the repair finished; peer %llu and its "
                       "successor are gone and this peer now stands alone (the ring is broken)\n", p);
    return CDHT_STDERR;
  case CDHT_EV_LEAVE_UNCONFIRMED:
    snprintf(buf, cap, "warning: peer %llu did not confirm the departure; leaving without it\n", p);
    return CDHT_STDERR;
  case CDHT_EV_LEFT:
  case CDHT_EV_COUNT:
    break;
  }
  return CDHT_SILENT;
}

/* Each event's JSON name and the fields it carries besides t_us, self and peer (or succ). */
enum { J_FILE = 1, J_MS = 2, J_COUNT = 4 };
static const struct {
  const char *name;
  unsigned fields;
} events[CDHT_EV_COUNT] = {
  [CDHT_EV_PING_REQUEST] = { "ping_request", 0 },
  [CDHT_EV_PING_RESPONSE] = { "ping_response", 0 },
  [CDHT_EV_REQUEST_SENT] = { "request_sent", J_FILE },
  [CDHT_EV_REQUEST_FORWARDED] = { "request_forwarded", J_FILE },
  [CDHT_EV_FILE_HERE] = { "file_here", J_FILE },
  [CDHT_EV_RESPONSE_SENT] = { "response_sent", J_FILE },
  [CDHT_EV_RESPONSE_RECEIVED] = { "response_received", J_FILE },
  [CDHT_EV_REQUEST_RETRIED] = { "request_retried", J_FILE },
  [CDHT_EV_REQUEST_FAILED] = { "request_failed", J_FILE | J_MS },
  [CDHT_EV_DEPARTING] = { "departing", 0 },
  [CDHT_EV_SUCCESSORS] = { "successors", 0 },
  [CDHT_EV_PEER_DEAD] = { "peer_dead", 0 },
  [CDHT_EV_RING_BROKEN] = { "ring_broken", 0 },
  [CDHT_EV_LEAVE_UNCONFIRMED] = { "leave_unconfirmed", 0 },
  [CDHT_EV_LEFT] = { "left", 0 },
  [CDHT_EV_JOIN_FORWARDED] = { "join_forwarded", 0 },
  [CDHT_EV_JOIN_RECEIVED] = { "join_received", 0 },
  [CDHT_EV_SUCC_CHANGE] = { "successor_change", 0 },
  [CDHT_EV_JOIN_ACCEPTED] = { "join_accepted", 0 },
  [CDHT_EV_JOIN_FAILED] = { "join_failed", 0 },
  [CDHT_EV_STORE_FORWARDED] = { "store_forwarded", J_FILE },
  [CDHT_EV_STORE_ACCEPTED] = { "store_accepted", J_FILE },
  [CDHT_EV_STORE_UPLOAD] = { "store_upload", J_FILE },
  [CDHT_EV_STORED] = { "stored", J_FILE },
  [CDHT_EV_STORE_FAILED] = { "store_failed", J_FILE | J_MS },
  [CDHT_EV_HANDOVER] = { "handover", 0 },
  [CDHT_EV_HANDED_OVER] = { "handed_over", J_COUNT },
  [CDHT_EV_KEYS_RECEIVED] = { "keys_received", J_COUNT },
};

const char *cdht_event_name(cdht_event_kind kind) {
  return (unsigned)kind < CDHT_EV_COUNT && events[kind].name ? events[kind].name : "?";
}

void cdht_lines_json(char *buf, size_t cap, uint64_t t_us, cdht_id self, const cdht_event *ev) {
  int n = snprintf(buf, cap, "{\"t_us\":%llu,\"self\":%llu,\"event\":\"%s\"", (unsigned long long)t_us,
                   (unsigned long long)self, cdht_event_name(ev->kind));
  size_t off = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
  unsigned fields = (unsigned)ev->kind < CDHT_EV_COUNT ? events[ev->kind].fields : 0;
  if (ev->kind == CDHT_EV_SUCCESSORS)
    n = snprintf(buf + off, cap - off, ",\"succ\":[%llu,%llu]", (unsigned long long)ev->succ[0],
                 (unsigned long long)ev->succ[1]);
  else if (ev->peer != CDHT_ID_NONE && ev->kind != CDHT_EV_LEFT)
    n = snprintf(buf + off, cap - off, ",\"peer\":%llu", (unsigned long long)ev->peer);
  else
    n = 0;
  off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  if (fields & J_FILE) {
    n = snprintf(buf + off, cap - off, ",\"file\":\"%04u\"", ev->file);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  if (fields & J_MS) {
    n = snprintf(buf + off, cap - off, ",\"ms\":%u", ev->ms);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  if (fields & J_COUNT) {
    n = snprintf(buf + off, cap - off, ",\"count\":%u", ev->seq);
    off += n > 0 && (size_t)n < cap - off ? (size_t)n : 0;
  }
  snprintf(buf + off, cap - off, "}\n");
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
  if (ev->kind != CDHT_EV_RESPONSE_RECEIVED || ev->content) return CDHT_SILENT;
  /* After the classic line, on stderr so that stdout stays the classic lines exactly. */
  snprintf(buf, cap, "Peer %llu has no content for file %04u.\n", (unsigned long long)ev->peer, ev->file);
  return CDHT_STDERR;
}

#include "lines.h"

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
  /* Diagnostics (stderr). */
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

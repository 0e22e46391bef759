#include "args.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/fd.h"

const char cdht_usage[] =
  "usage: cdht [OPTIONS] ID S1 S2\n"
  "       cdht [OPTIONS] ID --join KNOWN\n"
  "       cdht [OPTIONS] ID S1 S2 MSS DROP\n"
  "       cdht [OPTIONS] init ID S1 S2 PING_INTERVAL\n"
  "       cdht [OPTIONS] join ID KNOWN PING_INTERVAL\n"
  "       cdht [OPTIONS] --listen HOST:PORT [--id ID] [--join HOST:PORT]\n"
  "\n"
  "Start peer ID of a circular DHT with first successor S1 and second successor S2 (each an\n"
  "integer 0..255), or join a running ring through any peer KNOWN.  Peer i listens on\n"
  "127.0.0.1, UDP and TCP port 50000+i.  S2 may equal ID (a two-peer ring); S1 = S2 = ID is a\n"
  "ring of one.\n"
  "The 2019 form adds MSS (data bytes per segment, 1..65479) and DROP (0..1): a requested\n"
  "file travels over UDP, stop-and-wait, from the responsible peer to the requester, which\n"
  "saves it as received_file.pdf; both write a log (responding_log.txt, requesting_log.txt).\n"
  "The 2020 forms print the 2020 lines and use ports 12000+i; PING_INTERVAL is in seconds.\n"
  "With --listen the peer runs on any host: HOST is an IPv4 address, an IPv6 address in\n"
  "brackets ([fd00::1]:4000) or a name resolved once at start, and one PORT serves UDP and TCP.\n"
  "Without --join it starts a ring of one; with it, it joins through the peer at that address.\n"
  "Give --listen twice (an IPv4 and an IPv6 address) to reach peers of both families.\n"
  "\n"
  "Console commands: request NNNN, store NNNN [PATH], quit, status, pings off, pings on, help\n"
  "(the 2020 spellings Request, Store, Quit too).\n"
  "\n"
  "Options:\n"
  "  --ping-interval SECONDS    time between two pings to a successor (default 1; decimals allowed)\n"
  "  --ping-timeout SECONDS     a ping unanswered this long counts as lost (default 0.5)\n"
  "  --misses N                 a successor is dead at the Nth consecutive lost ping (default 4)\n"
  "  --request-timeout SECONDS  give up on an unanswered request after this long (default 10)\n"
  "  --leave-timeout SECONDS    quit: longest wait for the predecessors to confirm (default 3)\n"
  "  --join KNOWN               join the ring through peer KNOWN (then give only ID); with\n"
  "                             --listen, KNOWN is HOST:PORT\n"
  "  --listen HOST:PORT         run on this address (see above)\n"
  "  --id ID                    with --listen: this peer's id, below 2^B (default: derived from\n"
  "                             the listen address with BLAKE2b)\n"
  "  --bits B                   with --listen: the ring has 2^B ids, 1..64 (default 64; the\n"
  "                             classic forms use 8)\n"
  "  --stabilize-interval SECONDS  ask the first successor for a closer peer this often\n"
  "                             (default 3; 0 = never)\n"
  "  --successors R             keep a list of R successors, 2..32 (default 2 on the classic\n"
  "                             forms, 8 with --listen): the first two are pinged, the others\n"
  "                             learned by stabilization take over at once when one dies\n"
  "  --fingers, --no-fingers    route requests, stores and joins through a finger table (on by\n"
  "                             default with --listen, off on the classic forms, whose lines then\n"
  "                             name the peer a message skipped ahead to)\n"
  "  --fix-fingers-interval SECONDS  with fingers: refresh one finger this often (default: the\n"
  "                             stabilization interval, or 3 if that is 0)\n"
  "  --data-dir DIR             where this peer keeps the files it holds (default\n"
  "                             ./cdht-data/peer-ID; a restarted peer serves what is there)\n"
  "  --download-dir DIR         where requested files are saved as received_NNNN (default .)\n"
  "  --events FILE              append one JSON object per event to FILE, with a monotonic\n"
  "                             timestamp in microseconds (for tools and benchmarks)\n"
  "  --drop P                   drop this fraction (0..1) of this peer's outgoing UDP, for tests\n"
  "Limits on what other parties can make this peer spend:\n"
  "  --max-connections N        simultaneous inbound TCP connections (default 128)\n"
  "  --idle-timeout SECONDS     close an inbound connection with no accepted frame this long\n"
  "                             (default 10); a frame must complete within half of it, and a\n"
  "                             transfer bring 64 KiB/s over each such window\n"
  "  --udp-rate N               datagrams per second accepted from one source (default 200; 0 = any)\n"
  "  --version                  print the version and exit\n"
  "  --help                     print this help and exit\n"
  "\n"
  "Exit status: 0 after quit or SIGTERM, 1 on a runtime error (a port in use, a failed join),\n"
  "2 on a usage error.\n";

int cdht_args_decimal(const char *s, uint64_t max_whole, uint64_t *thousandths) {
  uint64_t whole = 0, frac = 0;
  size_t i = 0, fdigits = 0;
  if (!s[0]) return -1;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    whole = whole * 10 + (uint64_t)(s[i] - '0');
    if (whole > max_whole) return -1;
  }
  if (s[i] == '.') {
    for (i++; s[i] >= '0' && s[i] <= '9'; i++, fdigits++)
      if (fdigits < 3) frac = frac * 10 + (uint64_t)(s[i] - '0');
      else if (s[i] != '0') return -1; /* finer than a thousandth */
    if (fdigits == 0) return -1;
  } else if (i == 0) {
    return -1;
  }
  if (s[i] != '\0') return -1;
  for (; fdigits < 3; fdigits++) frac *= 10;
  uint64_t v = whole * 1000 + frac;
  if (v > max_whole * 1000) return -1;
  *thousandths = v;
  return 0;
}

int cdht_args_seconds(const char *s, uint32_t max_s, uint32_t *ms) {
  uint64_t v;
  if (cdht_args_decimal(s, max_s, &v) < 0 || v == 0) return -1;
  *ms = (uint32_t)v;
  return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (!s[0]) return -1;
  for (size_t i = 0; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 20) return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > max) return -1;
  }
  *out = v;
  return 0;
}

/* "0", "1", "0.3", ".25", "1.0": a probability in [0, 1], in plain decimal (no sign, exponent,
 * "nan" or locale), at most 9 decimals. */
static int parse_probability(const char *s, double *out) {
  size_t whole = strspn(s, "0123456789"), frac = 0;
  if (s[whole] == '.') frac = strspn(s + whole + 1, "0123456789");
  size_t len = whole + (s[whole] == '.' ? 1 + frac : 0);
  if (s[len] != '\0' || (whole == 0 && frac == 0) || (s[whole] == '.' && frac == 0) || whole > 9 || frac > 9)
    return -1;
  double v = 0, scale = 1;
  for (size_t i = 0; i < whole; i++) v = v * 10 + (s[i] - '0');
  for (size_t i = 0; i < frac; i++) {
    scale /= 10;
    v += (s[whole + 1 + i] - '0') * scale;
  }
  if (v > 1) return -1;
  *out = v;
  return 0;
}

/* "HOST:PORT": a literal (cdht_addr_parse) or a name resolved now, once (getaddrinfo; the first
 * answer of the family |want|, or of any family when |want| is CDHT_AF_NONE).  Returns 0, or -1
 * with the reason in |why|. */
static int parse_hostport(const char *s, uint8_t want, cdht_addr *out, const char **why) {
  if (cdht_addr_parse(out, s) == 0) return 0;
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || s[0] == '[' || strlen(s) > 300) {
    *why = "expected HOST:PORT (an IPv4 address, [IPv6] or a name, and a port 1..65535)";
    return -1;
  }
  char host[301];
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  cdht_addr probe;
  char lit[32];
  snprintf(lit, sizeof lit, "127.0.0.1:%s", colon + 1);
  if (strlen(colon + 1) > 5 || cdht_addr_parse(&probe, lit) < 0) {
    *why = "the port must be an integer 1..65535";
    return -1;
  }
  struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
                            .ai_family = want == CDHT_AF_INET ? AF_INET : want == CDHT_AF_INET6 ? AF_INET6 : AF_UNSPEC };
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
    *why = "the host name does not resolve";
    return -1;
  }
  if (res->ai_family == AF_INET)
    *out = cdht_addr_v4(ntohl(((const struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr), probe.port);
  else
    *out = cdht_addr_v6(((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr.s6_addr, probe.port);
  freeaddrinfo(res);
  return 0;
}

/* Prints |s| into a message safely: control bytes shown as '?', long values cut. */
static const char *shown(const char *s, char *buf, size_t cap) {
  size_t i = 0;
  for (; s[i] && i + 1 < cap && i < 40; i++) buf[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
  buf[i] = '\0';
  return buf;
}

enum opt { OPT_LISTEN, OPT_ID, OPT_BITS, OPT_RTO, OPT_INTERVAL, OPT_TIMEOUT, OPT_MISSES, OPT_REQUEST_TIMEOUT, OPT_LEAVE_TIMEOUT, OPT_JOIN, OPT_STABILIZE,
           OPT_SUCCESSORS, OPT_FINGERS, OPT_NO_FINGERS, OPT_FIX_FINGERS, OPT_EVENTS, OPT_DATA_DIR, OPT_DOWNLOAD_DIR, OPT_DROP, OPT_MAX_CONN, OPT_IDLE, OPT_UDP_RATE, OPT_VERSION, OPT_HELP };
static const struct { const char *name; enum opt opt; bool takes_value; } options[] = {
  { "ping-interval", OPT_INTERVAL, true },
  { "ping-timeout", OPT_TIMEOUT, true },
  { "misses", OPT_MISSES, true },
  { "request-timeout", OPT_REQUEST_TIMEOUT, true },
  { "leave-timeout", OPT_LEAVE_TIMEOUT, true },
  { "join", OPT_JOIN, true },
  { "listen", OPT_LISTEN, true },
  { "id", OPT_ID, true },
  { "bits", OPT_BITS, true },
  { "stabilize-interval", OPT_STABILIZE, true },
  { "successors", OPT_SUCCESSORS, true },
  { "fingers", OPT_FINGERS, false },
  { "no-fingers", OPT_NO_FINGERS, false },
  { "fix-fingers-interval", OPT_FIX_FINGERS, true },
  { "events", OPT_EVENTS, true },
  { "data-dir", OPT_DATA_DIR, true },
  { "download-dir", OPT_DOWNLOAD_DIR, true },
  { "drop", OPT_DROP, true },
  { "max-connections", OPT_MAX_CONN, true },
  { "idle-timeout", OPT_IDLE, true },
  { "udp-rate", OPT_UDP_RATE, true },
  { "version", OPT_VERSION, false },
  { "help", OPT_HELP, false },
  /* Not in the usage text: the 2019 retransmission timeout is the specification's 1 s.  Tests
   * shorten it for transfers at DROP 0.9, where each segment takes ten timeouts on average
   * (tests/system/test_variants.py; another test there checks the real 1 s). */
  { "rtx-timeout", OPT_RTO, true },
};

/* The routing options as given (0 / -1: not given), applied in finish() once the form is known,
 * because their defaults depend on it. */
typedef struct routing {
  unsigned successors; /* --successors R, or 0 */
  int fingers;         /* --fingers 1, --no-fingers 0, neither -1 (the last given wins) */
  uint32_t fix_ms;     /* --fix-fingers-interval in ms, or 0 */
} routing;

/* What every form checks last: the routing options, the timings against each other, and the
 * config as a whole. */
static int finish(cdht_args *a, const routing *rt, char *err, size_t errlen) {
  cdht_config *c = &a->cfg;
  bool listen = a->variant == CDHT_VARIANT_LISTEN;
  /* The classic forms keep the classic two successors and pass every request to the first
   * successor, as their lines say; a peer on a real network keeps more (it survives R - 1
   * adjacent failures) and routes in O(log N) hops. */
  c->successors = (uint8_t)(rt->successors ? rt->successors : listen ? CDHT_LISTEN_SUCCESSORS : 2);
  c->fingers = rt->fingers >= 0 ? rt->fingers == 1 : listen;
  if (rt->fix_ms && !c->fingers) {
    snprintf(err, errlen, "--fix-fingers-interval applies only with fingers (on with --listen, or --fingers)");
    return -1;
  }
  /* One finger per stabilization round by default; fingers are still refreshed when
   * stabilization is off, at its default pace. */
  if (c->fingers) c->fix_fingers_ms = rt->fix_ms ? rt->fix_ms : c->stabilize_ms ? c->stabilize_ms : CDHT_FIX_FINGERS_MS;
  /* The failure detector keeps CDHT_FD_WINDOW pings awaiting their deadline (core/fd.h). */
  if (c->ping_timeout_ms > c->ping_interval_ms * (CDHT_FD_WINDOW - 1ull)) {
    snprintf(err, errlen, "--ping-timeout (%u ms) may be at most %d ping intervals (%d x %u ms); "
             "give a shorter --ping-timeout", c->ping_timeout_ms, CDHT_FD_WINDOW - 1, CDHT_FD_WINDOW - 1,
             c->ping_interval_ms);
    return -1;
  }
  /* Kill repair asks again this often while the answer still names the dead peer. */
  c->requery_ms = c->ping_interval_ms / 4;
  if (c->requery_ms < 10) c->requery_ms = 10;
  if (c->requery_ms > 250) c->requery_ms = 250;
  if (cdht_config_check(c) < 0) {
    snprintf(err, errlen, "invalid configuration");
    return -1;
  }
  return 0;
}

/* `--listen HOST:PORT [--listen HOST:PORT] [--id ID] [--bits B] [--join HOST:PORT]`: a peer on
 * any host, addresses from messages, any name as a key (docs/protocol.md §1). */
static int listen_form(cdht_args *a, const routing *rt, const char *const listen[], int nlisten, const char *id_arg,
                       const char *bits_arg, const char *join, int npos, char *err, size_t errlen) {
  char sbuf[48];
  const char *why = NULL;
  cdht_config *c = &a->cfg;
  if (npos) {
    snprintf(err, errlen, "--listen takes no ID S1 S2: the peer joins with --join HOST:PORT, or starts a ring of one");
    return -1;
  }
  c->classic = false;
  c->keys = CDHT_KEYS_BLAKE2B;
  c->bits = 64;
  if (bits_arg) {
    uint64_t b;
    if (parse_uint(bits_arg, 64, &b) < 0 || b == 0) {
      snprintf(err, errlen, "--bits: expected an integer 1..64, got '%s'", shown(bits_arg, sbuf, sizeof sbuf));
      return -1;
    }
    c->bits = (uint8_t)b;
  }
  cdht_addr addrs[2];
  for (int i = 0; i < nlisten; i++) {
    if (parse_hostport(listen[i], i == 0 ? CDHT_AF_NONE : addrs[0].family == CDHT_AF_INET ? CDHT_AF_INET6 : CDHT_AF_INET,
                       &addrs[i], &why) < 0) {
      snprintf(err, errlen, "--listen '%s': %s", shown(listen[i], sbuf, sizeof sbuf), why);
      return -1;
    }
  }
  if (nlisten == 2 && addrs[0].family == addrs[1].family) {
    snprintf(err, errlen, "--listen twice: one IPv4 and one IPv6 address, not two of the same family");
    return -1;
  }
  if (nlisten == 2 && addrs[0].port != addrs[1].port) {
    snprintf(err, errlen, "--listen twice: both addresses on the same port (a peer record has one port)");
    return -1;
  }
  for (int i = 0; i < nlisten; i++)
    if (!cdht_addr_unicast(&addrs[i])) {
      snprintf(err, errlen, "--listen '%s': not a single host's address (a wildcard, multicast or broadcast address "
               "cannot be this peer's record: every peer sends to it)", shown(listen[i], sbuf, sizeof sbuf));
      return -1;
    }
  c->addr = addrs[0];
  if (nlisten == 2) c->alt = addrs[1];
  uint64_t mask = cdht_ring_mask(c->bits);
  if (id_arg) {
    uint64_t id;
    if (parse_uint(id_arg, mask, &id) < 0) {
      snprintf(err, errlen, "--id '%s' is not an integer 0..%llu (the ring has %u-bit ids)",
               shown(id_arg, sbuf, sizeof sbuf), (unsigned long long)mask, c->bits);
      return -1;
    }
    c->self = id;
  } else { /* peers on different hosts at the same port get different ids */
    char text[CDHT_ADDR_STRLEN];
    cdht_addr_format(text, sizeof text, &c->addr);
    c->self = cdht_ring_name_key(text, strlen(text), mask);
  }
  c->succ[0] = c->succ[1] = cdht_config_self(c);
  if (join) {
    if (parse_hostport(join, c->addr.family, &c->join_via, &why) < 0) {
      snprintf(err, errlen, "--join '%s': %s", shown(join, sbuf, sizeof sbuf), why);
      return -1;
    }
    if (!cdht_addr_unicast(&c->join_via)) {
      snprintf(err, errlen, "--join '%s': not a single host's address", shown(join, sbuf, sizeof sbuf));
      return -1;
    }
    if (c->join_via.family != c->addr.family && c->join_via.family != c->alt.family) {
      snprintf(err, errlen, "--join '%s' is an %s address, and this peer has no --listen address of that family",
               shown(join, sbuf, sizeof sbuf), c->join_via.family == CDHT_AF_INET ? "IPv4" : "IPv6");
      return -1;
    }
    if (cdht_addr_eq(&c->join_via, &c->addr) || cdht_addr_eq(&c->join_via, &c->alt)) {
      snprintf(err, errlen, "a peer cannot join through itself (--join is its own --listen address)");
      return -1;
    }
  }
  a->variant = CDHT_VARIANT_LISTEN;
  return finish(a, rt, err, errlen);
}

int cdht_args_parse(cdht_args *a, int argc, char *const *argv, char *err, size_t errlen) {
  char sbuf[48];
  const char *pos[8];
  int npos = 0;
  bool only_positional = false;
  const char *join_known = NULL, *listen[3] = { NULL, NULL, NULL }, *id_arg = NULL, *bits_arg = NULL;
  int nlisten = 0;
  routing rt = { 0, -1, 0 };
  memset(a, 0, sizeof *a);
  a->action = CDHT_RUN;
  cdht_config_default(&a->cfg);
  a->max_inbound = 128;
  a->idle_ms = 10000;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (only_positional || arg[0] != '-' || arg[1] == '\0' || (arg[1] >= '0' && arg[1] <= '9')) {
      if (npos == (int)(sizeof pos / sizeof pos[0])) {
        snprintf(err, errlen, "too many arguments");
        return -1;
      }
      pos[npos++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) { only_positional = true; continue; }
    if (arg[1] != '-') {
      if (strcmp(arg, "-h") == 0) { a->action = CDHT_HELP; return 0; }
      snprintf(err, errlen, "unknown option '%s'", shown(arg, sbuf, sizeof sbuf));
      return -1;
    }
    const char *name = arg + 2, *value = NULL;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    size_t k = 0, nopts = sizeof options / sizeof options[0];
    while (k < nopts && !(strlen(options[k].name) == name_len && strncmp(options[k].name, name, name_len) == 0)) k++;
    if (k == nopts) {
      snprintf(err, errlen, "unknown option '%s'", shown(arg, sbuf, sizeof sbuf));
      return -1;
    }
    if (options[k].takes_value) {
      if (eq) value = eq + 1;
      else if (i + 1 < argc) value = argv[++i];
      else {
        snprintf(err, errlen, "option --%s needs a value", options[k].name);
        return -1;
      }
    } else if (eq) {
      snprintf(err, errlen, "option --%s takes no value", options[k].name);
      return -1;
    }
    uint64_t n;
    cdht_config *c = &a->cfg;
    switch (options[k].opt) {
    case OPT_RTO:
      if (cdht_args_seconds(value, 60, &a->rto_ms) < 0) goto bad_seconds;
      break;
    case OPT_HELP: a->action = CDHT_HELP; return 0;
    case OPT_VERSION: a->action = CDHT_VERSION; return 0;
    case OPT_INTERVAL:
      if (cdht_args_seconds(value, 3600, &c->ping_interval_ms) < 0) goto bad_seconds;
      break;
    case OPT_TIMEOUT:
      if (cdht_args_seconds(value, 3600, &c->ping_timeout_ms) < 0) goto bad_seconds;
      break;
    case OPT_REQUEST_TIMEOUT:
      if (cdht_args_seconds(value, 86400, &c->request_timeout_ms) < 0) goto bad_seconds;
      break;
    case OPT_LEAVE_TIMEOUT:
      if (cdht_args_seconds(value, 3600, &c->leave_timeout_ms) < 0) goto bad_seconds;
      break;
    case OPT_JOIN:
      join_known = value;
      break;
    case OPT_LISTEN:
      if (nlisten == 2) {
        snprintf(err, errlen, "--listen: at most two addresses (one IPv4, one IPv6)");
        return -1;
      }
      listen[nlisten++] = value;
      break;
    case OPT_ID: id_arg = value; break;
    case OPT_BITS: bits_arg = value; break;
    case OPT_STABILIZE: {
      uint64_t t;
      if (cdht_args_decimal(value, 3600, &t) < 0) goto bad_seconds;
      c->stabilize_ms = (uint32_t)t;
      break;
    }
    case OPT_SUCCESSORS:
      if (parse_uint(value, CDHT_SUCC_MAX, &n) < 0 || n < 2) {
        snprintf(err, errlen, "--successors: expected an integer 2..%d, got '%s'", CDHT_SUCC_MAX,
                 shown(value, sbuf, sizeof sbuf));
        return -1;
      }
      rt.successors = (unsigned)n;
      break;
    case OPT_FINGERS: rt.fingers = 1; break;
    case OPT_NO_FINGERS: rt.fingers = 0; break;
    case OPT_FIX_FINGERS:
      if (cdht_args_seconds(value, 3600, &rt.fix_ms) < 0) goto bad_seconds;
      break;
    case OPT_DATA_DIR:
    case OPT_DOWNLOAD_DIR:
      if (!value[0] || strlen(value) > 1000) {
        snprintf(err, errlen, "--%s: expected a directory", options[k].name);
        return -1;
      }
      if (options[k].opt == OPT_DATA_DIR) a->data_dir = value;
      else a->download_dir = value;
      break;
    case OPT_EVENTS:
      if (!value[0]) {
        snprintf(err, errlen, "--events: expected a file name");
        return -1;
      }
      a->events_path = value;
      break;
    case OPT_DROP: {
      uint64_t t;
      if (cdht_args_decimal(value, 1, &t) < 0) {
        snprintf(err, errlen, "--drop: expected a probability between 0 and 1 (e.g. 0.05), got '%s'",
                 shown(value, sbuf, sizeof sbuf));
        return -1;
      }
      a->drop = (double)t / 1000;
      break;
    }
    case OPT_MAX_CONN:
      if (parse_uint(value, 100000, &n) < 0 || n == 0) {
        snprintf(err, errlen, "--max-connections: expected an integer 1..100000, got '%s'", shown(value, sbuf, sizeof sbuf));
        return -1;
      }
      a->max_inbound = (uint32_t)n;
      break;
    case OPT_IDLE:
      if (cdht_args_seconds(value, 3600, &a->idle_ms) < 0) goto bad_seconds;
      break;
    case OPT_UDP_RATE:
      if (parse_uint(value, 1000000, &n) < 0) {
        snprintf(err, errlen, "--udp-rate: expected an integer 0..1000000, got '%s'", shown(value, sbuf, sizeof sbuf));
        return -1;
      }
      c->udp_rate = (uint32_t)n;
      break;
    case OPT_MISSES:
      if (parse_uint(value, 100, &n) < 0 || n == 0) {
        snprintf(err, errlen, "--misses: expected an integer 1..100, got '%s'", shown(value, sbuf, sizeof sbuf));
        return -1;
      }
      c->misses = (uint32_t)n;
      break;
    }
    continue;
  bad_seconds:
    snprintf(err, errlen, "--%s: expected seconds between 0.001 and %s (e.g. 0.5), got '%s'", options[k].name,
             options[k].opt == OPT_REQUEST_TIMEOUT ? "86400" : options[k].opt == OPT_RTO ? "60" : "3600",
             shown(value, sbuf, sizeof sbuf));
    return -1;
  }
  if (!nlisten && (id_arg || bits_arg)) {
    snprintf(err, errlen, "--%s goes with --listen HOST:PORT (the classic forms take the id as an argument, "
             "on a ring of 8 bits)", id_arg ? "id" : "bits");
    return -1;
  }
  if (nlisten) return listen_form(a, &rt, listen, nlisten, id_arg, bits_arg, join_known, npos, err, errlen);
  /* The 2020 forms: `init ID S1 S2 PING_INTERVAL` and `join ID KNOWN PING_INTERVAL`, the interval
   * in seconds, on the 2020 ports, with the 2020 lines. */
  if (npos >= 1 && (strcmp(pos[0], "init") == 0 || strcmp(pos[0], "join") == 0)) {
    bool init = pos[0][0] == 'i';
    int want = init ? 5 : 4;
    if (npos != want) {
      snprintf(err, errlen, init ? "expected 'init ID S1 S2 PING_INTERVAL', got %d arguments after init"
                                 : "expected 'join ID KNOWN PING_INTERVAL', got %d arguments after join", npos - 1);
      return -1;
    }
    if (join_known) {
      snprintf(err, errlen, "--join does not go with the 2020 forms: use 'join ID KNOWN PING_INTERVAL'");
      return -1;
    }
    if (cdht_args_seconds(pos[want - 1], 3600, &a->cfg.ping_interval_ms) < 0) {
      snprintf(err, errlen, "PING_INTERVAL: expected seconds between 0.001 and 3600, got '%s'",
               shown(pos[want - 1], sbuf, sizeof sbuf));
      return -1;
    }
    for (int i = 1; i < want - 1; i++) pos[i - 1] = pos[i];
    npos = want - 2;
    if (!init) {
      join_known = pos[1];
      npos = 1;
    }
    a->variant = CDHT_VARIANT_2020;
    a->cfg.base_port = 12000; /* "UDP and TCP 12000 + i" (2020 specification) */
    a->cfg.round_events = true;
  }
  if (join_known && npos == 1) pos[npos++] = join_known; /* `cdht ID --join KNOWN` */
  /* The 2019 form: `ID S1 S2 MSS DROP`. */
  if (npos == 5 && !join_known) {
    uint64_t mss;
    if (parse_uint(pos[3], CDHT_SAW_MSS_MAX, &mss) < 0 || mss == 0) {
      snprintf(err, errlen, "MSS '%s': expected the bytes of data per segment, an integer 1..%u",
               shown(pos[3], sbuf, sizeof sbuf), CDHT_SAW_MSS_MAX);
      return -1;
    }
    if (parse_probability(pos[4], &a->saw_drop) < 0) {
      snprintf(err, errlen, "DROP '%s': expected a probability between 0 and 1 (e.g. 0.3)",
               shown(pos[4], sbuf, sizeof sbuf));
      return -1;
    }
    a->mss = (uint32_t)mss;
    a->variant = CDHT_VARIANT_2019;
    npos = 3;
  }
  if (a->rto_ms && a->variant != CDHT_VARIANT_2019) {
    snprintf(err, errlen, "--rtx-timeout applies only to the 2019 form 'ID S1 S2 MSS DROP'");
    return -1;
  }
  if (!a->rto_ms) a->rto_ms = CDHT_SAW_RTO_MS;
  if (join_known) {
    if (npos != 2) {
      snprintf(err, errlen, "--join KNOWN takes just the peer id: 'cdht ID --join KNOWN'");
      return -1;
    }
    uint64_t id, known, top = cdht_ring_mask(a->cfg.bits);
    if (parse_uint(pos[0], top, &id) < 0 || parse_uint(pos[1], top, &known) < 0) {
      char sbuf2[48];
      snprintf(err, errlen, "peer ids are integers 0..%llu, got '%s' and '%s'", (unsigned long long)top,
               shown(pos[0], sbuf, sizeof sbuf), shown(pos[1], sbuf2, sizeof sbuf2));
      return -1;
    }
    if (id == known) {
      snprintf(err, errlen, "a peer cannot join through itself (ID and KNOWN are both %llu)", (unsigned long long)id);
      return -1;
    }
    cdht_config_classic(&a->cfg, id, id, id);
    a->cfg.join_via = cdht_config_addr(&a->cfg, known);
  } else {
    if (npos != 3) {
      snprintf(err, errlen, "expected 3 arguments ID S1 S2, got %d", npos);
      return -1;
    }
    static const char *const what[3] = { "peer id", "first successor", "second successor" };
    cdht_id ids[3];
    for (int i = 0; i < 3; i++) {
      uint64_t v;
      if (parse_uint(pos[i], cdht_ring_mask(a->cfg.bits), &v) < 0) {
        snprintf(err, errlen, "%s '%s' is not an integer 0..%llu", what[i], shown(pos[i], sbuf, sizeof sbuf),
                 (unsigned long long)cdht_ring_mask(a->cfg.bits));
        return -1;
      }
      ids[i] = v;
    }
    cdht_config_classic(&a->cfg, ids[0], ids[1], ids[2]);
    if (ids[1] == ids[2] && ids[1] != ids[0]) {
      snprintf(err, errlen, "first and second successor are both %llu: they must differ unless both "
                            "equal ID (a ring of one)", (unsigned long long)ids[1]);
      return -1;
    }
    if (ids[1] == ids[0] && ids[2] != ids[0]) {
      snprintf(err, errlen, "the first successor may be the peer itself only in a ring of one (ID S1 S2 all equal)");
      return -1;
    }
  }
  return finish(a, &rt, err, errlen);
}

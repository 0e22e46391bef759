#include "peer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdht/err.h"

cdht_addr cdht_addr_v4(uint32_t ip, uint16_t port) {
  cdht_addr a = { .family = CDHT_AF_INET, .port = port };
  for (int i = 0; i < 4; i++) a.ip[i] = (uint8_t)(ip >> (24 - 8 * i));
  return a;
}

cdht_addr cdht_addr_v6(const uint8_t ip[16], uint16_t port) {
  cdht_addr a = { .family = CDHT_AF_INET6, .port = port };
  memcpy(a.ip, ip, 16);
  return a;
}

static size_t ip_len(uint8_t family) {
  return family == CDHT_AF_INET ? 4 : family == CDHT_AF_INET6 ? 16 : 0;
}

bool cdht_addr_same_host(const cdht_addr *a, const cdht_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, ip_len(a->family)) == 0;
}

bool cdht_addr_eq(const cdht_addr *a, const cdht_addr *b) {
  return cdht_addr_same_host(a, b) && (a->family == CDHT_AF_NONE || a->port == b->port);
}

bool cdht_addr_unicast(const cdht_addr *a) {
  if (a->port == 0) return false;
  if (a->family == CDHT_AF_INET) {
    uint32_t v = cdht_addr_ipv4(a);
    return v != 0 && (v >> 28) != 0xe && v != 0xffffffffu;
  }
  if (a->family != CDHT_AF_INET6) return false;
  static const uint8_t zero[16] = { 0 }, mapped[12] = { [10] = 0xff, [11] = 0xff };
  return memcmp(a->ip, zero, 16) != 0 && a->ip[0] != 0xff && memcmp(a->ip, mapped, 12) != 0;
}

uint32_t cdht_addr_ipv4(const cdht_addr *a) {
  if (a->family != CDHT_AF_INET) return 0;
  return (uint32_t)a->ip[0] << 24 | (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
}

char *cdht_addr_format(char *dst, size_t cap, const cdht_addr *a) {
  char host[INET6_ADDRSTRLEN] = "-";
  if (cap == 0) return dst;
  if (a->family == CDHT_AF_NONE || !inet_ntop(a->family == CDHT_AF_INET ? AF_INET : AF_INET6, a->ip, host,
                                              sizeof host)) {
    snprintf(dst, cap, "-");
    return dst;
  }
  snprintf(dst, cap, a->family == CDHT_AF_INET ? "%s:%u" : "[%s]:%u", host, (unsigned)a->port);
  return dst;
}

/* "PORT" at the end of an address: decimal 1..65535, nothing after it. */
static int parse_port(const char *s, uint16_t *port) {
  if (*s < '0' || *s > '9' || strlen(s) > 5) return CDHT_ERR_INVAL;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || v == 0 || v > 65535) return CDHT_ERR_INVAL;
  *port = (uint16_t)v;
  return 0;
}

int cdht_addr_parse(cdht_addr *a, const char *s) {
  char host[INET6_ADDRSTRLEN];
  const char *port;
  bool v6 = s[0] == '[';
  if (v6) {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) return CDHT_ERR_INVAL;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = 0;
    port = close + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return CDHT_ERR_INVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    port = colon + 1;
  }
  cdht_addr out = { .family = v6 ? CDHT_AF_INET6 : CDHT_AF_INET };
  /* inet_pton takes only the strict forms: no zone ids, no shortened IPv4 like "127.1" */
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host, out.ip) != 1) return CDHT_ERR_INVAL;
  if (parse_port(port, &out.port)) return CDHT_ERR_INVAL;
  *a = out;
  return 0;
}

cdht_peer cdht_peer_none(void) { return (cdht_peer){ 0 }; }

cdht_peer cdht_peer_make(cdht_id id, cdht_addr addr) { return (cdht_peer){ .id = id, .addr = addr }; }

bool cdht_peer_eq(const cdht_peer *a, const cdht_peer *b) {
  if (!cdht_peer_known(a) || !cdht_peer_known(b)) return cdht_peer_known(a) == cdht_peer_known(b);
  return a->id == b->id && cdht_addr_eq(&a->addr, &b->addr);
}

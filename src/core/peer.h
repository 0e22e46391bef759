/* A peer is an id and an address (docs/protocol.md §1).  Addresses come from messages, never
 * from a rule, except on the classic forms (127.0.0.1:50000+id, cdht_config_addr). */
#ifndef CDHT_PEER_H
#define CDHT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define CDHT_AF_NONE 0  /* no address: the "no peer" record */
#define CDHT_AF_INET 4
#define CDHT_AF_INET6 6
#define CDHT_ADDR_STRLEN 48 /* "[ffff:…:ffff]:65535" and its NUL fit */

/* An IPv4 or IPv6 address and port.  |ip| holds the address in network byte order: 4 bytes
 * for IPv4 (the rest zero), 16 for IPv6.  Compare with cdht_addr_eq, never memcmp of the
 * struct (padding). */
typedef struct cdht_addr {
  uint8_t family; /* CDHT_AF_NONE, CDHT_AF_INET or CDHT_AF_INET6 */
  uint16_t port;  /* host byte order; UDP and TCP share the number */
  uint8_t ip[16];
} cdht_addr;

/* A peer record.  "No peer" is the record whose address family is CDHT_AF_NONE (its id is 0):
 * every id of a 2^64 ring is a valid id, so none is spent on it. */
typedef struct cdht_peer {
  cdht_id id;
  cdht_addr addr;
} cdht_peer;

/* Returns the IPv4 address |ip| (host byte order, 0x7f000001 for 127.0.0.1) and |port|. */
cdht_addr cdht_addr_v4(uint32_t ip, uint16_t port);

/* Returns the IPv6 address |ip| (16 bytes, network order, borrowed) and |port|. */
cdht_addr cdht_addr_v6(const uint8_t ip[16], uint16_t port);

/* Returns whether |a| and |b| are the same family, address and port. */
bool cdht_addr_eq(const cdht_addr *a, const cdht_addr *b);

/* Returns whether |a| and |b| are the same family and address, whatever their ports (a TCP
 * message's sender must be on the connection's source host: its source port is ephemeral). */
bool cdht_addr_same_host(const cdht_addr *a, const cdht_addr *b);

/* Returns whether |a| can name one peer: an IPv4 or IPv6 address that is not a wildcard (0.0.0.0
 * and :: are "this host" to whoever sends there), not multicast, not the IPv4 broadcast, not an
 * IPv4-mapped IPv6 address (IPv6 sockets here are IPv6-only), and a port other than 0. */
bool cdht_addr_unicast(const cdht_addr *a);

/* Returns |a|'s IPv4 address in host byte order; 0 unless it is IPv4. */
uint32_t cdht_addr_ipv4(const cdht_addr *a);

/* Writes |a| as "198.18.0.1:4000" or "[fd00:cd47::1]:4000" ("-" for no address) into |dst|
 * (capacity |cap|, at least CDHT_ADDR_STRLEN for any address).  Returns |dst|. */
char *cdht_addr_format(char *dst, size_t cap, const cdht_addr *a);

/* Parses a literal "A.B.C.D:PORT" or "[IPV6]:PORT" (|s| borrowed, NUL-terminated; port
 * 1..65535, no names: the program resolves those).  Returns 0 and fills |a|, or
 * CDHT_ERR_INVAL. */
int cdht_addr_parse(cdht_addr *a, const char *s);

/* Returns the "no peer" record. */
cdht_peer cdht_peer_none(void);

/* Returns the record of peer |id| at |addr|. */
cdht_peer cdht_peer_make(cdht_id id, cdht_addr addr);

/* Returns whether |p| names a peer (it is not the "no peer" record). */
static inline bool cdht_peer_known(const cdht_peer *p) { return p->addr.family != CDHT_AF_NONE; }

/* Returns whether |a| and |b| are the same peer: both none, or the same id at the same address. */
bool cdht_peer_eq(const cdht_peer *a, const cdht_peer *b);

#endif

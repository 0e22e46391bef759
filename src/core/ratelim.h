/* Per-source token buckets for datagrams: a flood from one address is refused before it is
 * decoded, and cannot crowd out the pings of the others.  Sans-I/O: time is an argument. */
#ifndef CDHT_RATELIM_H
#define CDHT_RATELIM_H

#include <stdbool.h>
#include <stdint.h>

#define CDHT_RATELIM_SLOTS 64 /* sources tracked at once; the least recently seen is forgotten */

typedef struct cdht_ratelim_slot {
  uint64_t key;          /* address and port of the source; 0 = free slot */
  uint64_t tokens_milli; /* thousandths of a datagram */
  uint64_t last_ms;      /* last refill */
} cdht_ratelim_slot;

typedef struct cdht_ratelim {
  uint32_t rate;         /* datagrams per second allowed per source (0: no limit) */
  uint32_t burst;        /* bucket size, in datagrams */
  cdht_ratelim_slot slot[CDHT_RATELIM_SLOTS];
} cdht_ratelim;

void cdht_ratelim_init(cdht_ratelim *rl, uint32_t rate, uint32_t burst);

/* Takes one token for source |key| (any non-zero 64-bit name of it) at |now_ms|.  Returns true
 * if the datagram may pass. */
bool cdht_ratelim_allow(cdht_ratelim *rl, uint64_t key, uint64_t now_ms);

#endif

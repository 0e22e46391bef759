/* Ring arithmetic: ids, keys and the closest-successor rule (docs/protocol.md §1).  A ring has
 * 2^bits ids (bits 1..64); every function takes the ring's mask, 2^bits − 1 (cdht_ring_mask),
 * so that a 64-bit ring, whose size does not fit 64 bits, needs no special case. */
#ifndef CDHT_RING_H
#define CDHT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t cdht_id;

/* Returns 2^bits − 1 (|bits| 1..64). */
uint64_t cdht_ring_mask(unsigned bits);

/* Returns whether |x| lies in the half-open ring interval (a, b] of the ring with |mask|.
 * (a, a] is the whole ring: a peer that is its own successor owns every key.  All three ids
 * must be <= mask. */
bool cdht_ring_between(cdht_id a, cdht_id x, cdht_id b, uint64_t mask);

/* Returns the key of the four-digit file number |file| (0..9999): file mod 2^bits. */
cdht_id cdht_ring_key(unsigned file, uint64_t mask);

/* Returns the key of the name |s| (|len| bytes, borrowed): the first 8 bytes of
 * BLAKE2b-256(name), big-endian, mod 2^bits. */
cdht_id cdht_ring_name_key(const void *s, size_t len, uint64_t mask);

/* Returns the clockwise distance from |a| to |b| (0 when a == b). */
uint64_t cdht_ring_distance(cdht_id a, cdht_id b, uint64_t mask);

/* Returns the responsible peer for |key| among the |n| live ids in |ids| (any order): the
 * first id >= key, wrapping round to the smallest.  Returns |key| itself when n == 0 (the
 * caller checks n).  |ids| is borrowed.  Used by tests and the simulator as the ground truth. */
cdht_id cdht_ring_closest_successor(const cdht_id *ids, size_t n, cdht_id key, uint64_t mask);

#endif

/* Ring arithmetic: ids, keys and the closest-successor rule (docs/protocol.md §1). */
#ifndef CDHT_RING_H
#define CDHT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Peer ids are 64-bit so that a larger configured ring needs no rewrite. */
typedef uint64_t cdht_id;
#define CDHT_ID_NONE UINT64_MAX /* "no peer" (unknown predecessor, pending successor) */

/* Returns whether |x| lies in the half-open ring interval (a, b] of a ring of |size| ids.
 * (a, a] is the whole ring: a peer that is its own successor owns every key.
 * All three ids must be < size. */
bool cdht_ring_between(cdht_id a, cdht_id x, cdht_id b, uint64_t size);

/* Returns the key of the four-digit file number |file| (0..9999): file mod size. */
cdht_id cdht_ring_key(unsigned file, uint64_t size);

/* Returns the clockwise distance from |a| to |b| on a ring of |size| ids (0 when a == b). */
uint64_t cdht_ring_distance(cdht_id a, cdht_id b, uint64_t size);

/* Returns the responsible peer for |key| among the |n| live ids in |ids| (any order): the
 * first id >= key, wrapping round to the smallest.  Returns CDHT_ID_NONE when n == 0.
 * |ids| is borrowed.  Used by tests and the simulator as the ground truth. */
cdht_id cdht_ring_closest_successor(const cdht_id *ids, size_t n, cdht_id key, uint64_t size);

/* Returns 2^bits − 1, the mask of a ring of 2^bits ids (|bits| 1..64): ids and keys are taken
 * mod 2^bits by masking, so a 64-bit ring needs no 65-bit size. */
uint64_t cdht_ring_mask(unsigned bits);

/* Returns the key of the name |s| (|len| bytes, borrowed) on a ring of 2^bits ids: the first 8
 * bytes of BLAKE2b-256(name), big-endian, mod 2^bits (docs/protocol.md §1). */
cdht_id cdht_ring_name_key(const void *s, size_t len, unsigned bits);

#endif

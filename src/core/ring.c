#include "ring.h"

uint64_t cdht_ring_distance(cdht_id a, cdht_id b, uint64_t size) {
  return b >= a ? b - a : b + (size - a); /* no overflow: both < size */
}

bool cdht_ring_between(cdht_id a, cdht_id x, cdht_id b, uint64_t size) {
  if (a == b) return true;
  uint64_t dx = cdht_ring_distance(a, x, size);
  return dx != 0 && dx <= cdht_ring_distance(a, b, size);
}

cdht_id cdht_ring_key(unsigned file, uint64_t size) { return (cdht_id)file % size; }

cdht_id cdht_ring_closest_successor(const cdht_id *ids, size_t n, cdht_id key, uint64_t size) {
  cdht_id best = CDHT_ID_NONE;
  uint64_t best_d = UINT64_MAX;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = cdht_ring_distance(key, ids[i], size);
    if (d < best_d) { best_d = d; best = ids[i]; }
  }
  return best;
}

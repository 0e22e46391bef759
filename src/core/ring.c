#include "ring.h"

#include <sodium.h>

uint64_t cdht_ring_mask(unsigned bits) { return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1; }

uint64_t cdht_ring_distance(cdht_id a, cdht_id b, uint64_t mask) { return (b - a) & mask; }

bool cdht_ring_between(cdht_id a, cdht_id x, cdht_id b, uint64_t mask) {
  if (a == b) return true;
  uint64_t dx = cdht_ring_distance(a, x, mask);
  return dx != 0 && dx <= cdht_ring_distance(a, b, mask);
}

cdht_id cdht_ring_key(unsigned file, uint64_t mask) { return (cdht_id)file & mask; }

cdht_id cdht_ring_name_key(const void *s, size_t len, uint64_t mask) {
  uint8_t h[32]; /* BLAKE2b with a 32-byte output: BLAKE2b-256, not a cut BLAKE2b-512 */
  crypto_generichash(h, sizeof h, s, len, NULL, 0);
  uint64_t k = 0;
  for (int i = 0; i < 8; i++) k = k << 8 | h[i];
  return k & mask;
}

cdht_id cdht_ring_closest_successor(const cdht_id *ids, size_t n, cdht_id key, uint64_t mask) {
  cdht_id best = key;
  uint64_t best_d = UINT64_MAX;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = cdht_ring_distance(key, ids[i], mask);
    if (i == 0 || d < best_d) { best_d = d; best = ids[i]; }
  }
  return best;
}

#include "ratelim.h"

#include <string.h>

void cdht_ratelim_init(cdht_ratelim *rl, uint32_t rate, uint32_t burst) {
  memset(rl, 0, sizeof *rl);
  rl->rate = rate;
  rl->burst = burst ? burst : 1;
}

bool cdht_ratelim_allow(cdht_ratelim *rl, uint64_t key, uint64_t now_ms) {
  if (rl->rate == 0) return true;
  key += 1; /* never 0, which marks a free slot: the callers key on 48 bits (address, port) */
  /* Open addressing over a short window; the stalest slot in it is reused. */
  uint64_t h = key * 0x9e3779b97f4a7c15ull;
  size_t base = (size_t)(h >> 58), victim = base % CDHT_RATELIM_SLOTS;
  for (size_t k = 0; k < 8; k++) {
    size_t i = (base + k) % CDHT_RATELIM_SLOTS;
    if (rl->slot[i].key == key) { victim = i; goto found; }
    if (rl->slot[i].key == 0 || rl->slot[i].last_ms < rl->slot[victim].last_ms) victim = i;
  }
  rl->slot[victim].key = key;
  rl->slot[victim].tokens_milli = (uint64_t)rl->burst * 1000;
  rl->slot[victim].last_ms = now_ms;
found:;
  cdht_ratelim_slot *s = &rl->slot[victim];
  if (now_ms > s->last_ms) {
    uint64_t add = (now_ms - s->last_ms) * rl->rate; /* thousandths: rate per s = rate per ms * 1000 */
    uint64_t cap = (uint64_t)rl->burst * 1000;
    s->tokens_milli = add >= cap || s->tokens_milli + add >= cap ? cap : s->tokens_milli + add;
    s->last_ms = now_ms;
  }
  if (s->tokens_milli < 1000) return false;
  s->tokens_milli -= 1000;
  return true;
}

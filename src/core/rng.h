/* A small seeded random generator (xoshiro256** seeded through splitmix64): the same seed
 * gives the same sequence on every machine, which the simulator's determinism rests on. */
#ifndef CDHT_RNG_H
#define CDHT_RNG_H

#include <stdint.h>

typedef struct cdht_rng { uint64_t s[4]; } cdht_rng;

void cdht_rng_seed(cdht_rng *r, uint64_t seed);
uint64_t cdht_rng_next(cdht_rng *r);
/* Uniform in [0, n); n > 0.  Unbiased (rejection sampling). */
uint64_t cdht_rng_below(cdht_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. */
double cdht_rng_unit(cdht_rng *r);

#endif

/* BLAKE2b-512, from the fastest well-kept library at hand.
 *
 * OpenSSL's libcrypto hashes about 1390 MiB/s on this machine and Debian's libsodium about
 * 710 MiB/s; a loopback transfer is bound by the hash.  But linking libcrypto costs every peer,
 * idle or not, about 400 KiB of private memory and 1 MiB of RSS for its relocations (measured),
 * and most peers never transfer a byte.  So libcrypto is loaded (dlopen) the first time a hash is
 * needed, and libsodium, which computes the very same function, stands in when it cannot be. */
#ifndef CDHT_BLAKE2B_H
#define CDHT_BLAKE2B_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CDHT_BLAKE2B_LEN 64

typedef struct cdht_blake2b cdht_blake2b;

/* A new hash state (NULL when out of memory).  The first call picks the library; call it on
 * one thread before using states on others. */
cdht_blake2b *cdht_blake2b_new(void);
void cdht_blake2b_free(cdht_blake2b *h);

/* Start, feed, finish: false if the library failed (it does not, short of memory). */
bool cdht_blake2b_init(cdht_blake2b *h);
bool cdht_blake2b_update(cdht_blake2b *h, const uint8_t *p, size_t n);
bool cdht_blake2b_final(cdht_blake2b *h, uint8_t out[CDHT_BLAKE2B_LEN]);

/* "libcrypto" or "libsodium": the library states made from now on use. */
const char *cdht_blake2b_library(void);

/* For tests: makes states made from now on use libsodium (true) or the best library (false). */
void cdht_blake2b_force_libsodium(bool on);

#endif

/* File content for transfers: the digest of a file to send, and a sink that writes received
 * bytes to a temporary file, checks their length and BLAKE2b-256 digest (libsodium), and only
 * then renames it to its final name, so a transfer cut off halfway leaves nothing under it. */
#ifndef CDHT_XFER_H
#define CDHT_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Computes the size and digest of the file at |path|.  Returns 0, or -1 with a message
 * naming the operation in |err|.  Must be preceded by a successful sodium_init(). */
int cdht_xfer_digest_file(const char *path, uint64_t *size, uint8_t digest[CDHT_DIGEST_LEN], char *err,
                          size_t errlen);

typedef struct cdht_xfer_sink cdht_xfer_sink;

/* Opens a temporary file next to |final_path| for |size| bytes that must hash to |digest|.
 * Returns 0 and sets *out, or -1 with a message in |err|. */
int cdht_xfer_sink_open(cdht_xfer_sink **out, const char *final_path, uint64_t size,
                        const uint8_t digest[CDHT_DIGEST_LEN], char *err, size_t errlen);

/* Writes |n| bytes (borrowed).  Returns 0 while more are due, 1 when all |size| have arrived,
 * or -1 for more bytes than announced or a write error. */
int cdht_xfer_sink_write(cdht_xfer_sink *s, const uint8_t *p, size_t n);

/* Bytes written so far and in all. */
uint64_t cdht_xfer_sink_done(const cdht_xfer_sink *s);
uint64_t cdht_xfer_sink_size(const cdht_xfer_sink *s);

/* After all bytes arrived: checks the digest and renames the file into place, replacing an
 * older copy.  Returns 0, or -1 with a message in |err| (the temporary file is removed).
 * Frees |s| either way. */
int cdht_xfer_sink_finish(cdht_xfer_sink *s, char *err, size_t errlen);

/* Gives up: removes the temporary file and frees |s|. */
void cdht_xfer_sink_abort(cdht_xfer_sink *s);

#endif

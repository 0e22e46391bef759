/* File content for transfers: the digest of a file to send, and a sink that writes received
 * bytes to a temporary file, checks their length and digest, and only then renames it to its
 * final name, so a transfer cut off halfway leaves nothing under it.
 *
 * The digest is a tree of BLAKE2b hashes over 256 KiB leaves (xfer.c and docs/protocol.md say
 * exactly how).  Leaves are independent, so a sink on an event loop writes and hashes them on
 * libuv's thread pool, in parallel, while the loop thread only receives: one BLAKE2b stream is
 * slower than loopback TCP. */
#ifndef CDHT_XFER_H
#define CDHT_XFER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/wire/msg.h"

#define CDHT_XFER_LEAF (256u << 10)

/* Computes the size and digest of the file at |path|, on the calling thread (never call it on
 * an event loop: cdht_xfer_hash() is for that).  Returns 0, or -1 with a message naming the
 * operation in |err|. */
int cdht_xfer_digest_file(const char *path, uint64_t *size, uint8_t digest[CDHT_DIGEST_LEN], char *err,
                          size_t errlen);

/* A digest and the state of the file it belongs to: while the file's size and mtime are these,
 * the digest holds. */
typedef struct cdht_xfer_stamp {
  uint64_t size;                   /* bytes */
  int64_t mtime_ns;                /* modification time, ns since the epoch */
  uint8_t digest[CDHT_DIGEST_LEN];
} cdht_xfer_stamp;

/* ---- whole files on libuv's thread pool: the loop thread never reads or hashes content ---- */

typedef struct cdht_xfer_job cdht_xfer_job;

/* A job's outcome, reported once from a later loop iteration (never from inside the call that
 * started it); the job is freed after it returns.  status 0: |st| describes the file hashed or
 * the copy made, and |fd| is the hashed file open for reading (owned by the callee: close it;
 * -1 for a copy).  status -1: |err| says why (a cancelled job says "cancelled"), |fd| is -1. */
typedef void (*cdht_xfer_job_fn)(void *ctx, int status, int fd, const cdht_xfer_stamp *st, const char *err);

/* Opens |path| (copied) and computes its size, mtime and digest on the pool; a file that
 * changes while it is read fails.  Returns 0 and sets *out (borrowed: valid until |fn| runs), or
 * -1 with a message in |err| (nothing started, |fn| never runs). */
int cdht_xfer_hash(cdht_xfer_job **out, uv_loop_t *loop, const char *path, cdht_xfer_job_fn fn, void *ctx,
                   char *err, size_t errlen);

/* Copies |src| to |dst| (both copied) on the pool, hashing the bytes as they go, through a
 * temporary file (mode 0600) renamed into place only when the source did not change while it
 * was read.  |st| then describes |dst|.  Returns as cdht_xfer_hash(). */
int cdht_xfer_copy(cdht_xfer_job **out, uv_loop_t *loop, const char *src, const char *dst, cdht_xfer_job_fn fn,
                   void *ctx, char *err, size_t errlen);

/* Asks a job to stop early (the pool notices within one read); its callback still runs, with
 * status -1 unless it had already finished, and a copy leaves no temporary file. */
void cdht_xfer_job_cancel(cdht_xfer_job *j);

/* ---- digest records: a file's stamp kept next to it, so a restart needs no rehash ----
 *
 * The record of "DIR/NAME" is "DIR/.NAME.digest", one line: "cdht-digest 1 SIZE MTIME_NS HEX\n".
 * Its name starts with a dot, so it never passes for a held file NNNN[.ext]. */

/* Writes the record's path for the file at |path| into |out|.  Returns 0, or -1 if it does not
 * fit in |cap|. */
int cdht_xfer_record_path(const char *path, char *out, size_t cap);

/* Saves |st| as the record of |path|, atomically (a temporary "<record>.part-PID-N", mode 0600,
 * renamed into place).  Returns 0, or -1 (no record then; the digest is computed again later). */
int cdht_xfer_record_save(const char *path, const cdht_xfer_stamp *st);

/* Reads the record of |path| into |st|.  Returns 0, or -1 if there is none or it is not one
 * well-formed line (it is only a cache: a bad record is ignored).  Whether the file still has
 * that size and mtime is the caller's check. */
int cdht_xfer_record_load(const char *path, cdht_xfer_stamp *st);

typedef struct cdht_xfer_sink cdht_xfer_sink;

/* Opens a temporary file next to |final_path| for |size| bytes that must hash to |digest|.
 * Returns 0 and sets *out, or -1 with a message in |err|. */
int cdht_xfer_sink_open(cdht_xfer_sink **out, const char *final_path, uint64_t size,
                        const uint8_t digest[CDHT_DIGEST_LEN], char *err, size_t errlen);

/* Bytes received so far and in all. */
uint64_t cdht_xfer_sink_done(const cdht_xfer_sink *s);
uint64_t cdht_xfer_sink_size(const cdht_xfer_sink *s);

/* Gives up: removes the temporary file and frees |s| (once work on the thread pool, if any,
 * has returned).  No callback runs after this. */
void cdht_xfer_sink_abort(cdht_xfer_sink *s);

/* ---- in one go, on the calling thread ---- */

/* Writes |n| bytes (borrowed).  Returns 0 while more are due, 1 when all |size| have arrived,
 * or -1 for more bytes than announced or a write error. */
int cdht_xfer_sink_write(cdht_xfer_sink *s, const uint8_t *p, size_t n);

/* After all bytes arrived: checks the digest and renames the file into place, replacing an
 * older copy.  Returns 0, or -1 with a message in |err| (the temporary file is removed).
 * Frees |s| either way. */
int cdht_xfer_sink_finish(cdht_xfer_sink *s, char *err, size_t errlen);

/* ---- on an event loop: leaves hashed and written on the thread pool ---- */

/* |done| reports the outcome once (status 0, or -1 and a message), always from a later loop
 * iteration, never from inside a call below; |s| is freed after it returns.  |room| says that
 * space is free again after cdht_xfer_sink_space() returned NULL. */
typedef void (*cdht_xfer_done_fn)(void *ctx, int status, const char *err);
typedef void (*cdht_xfer_room_fn)(void *ctx);
void cdht_xfer_sink_on_loop(cdht_xfer_sink *s, uv_loop_t *loop, cdht_xfer_done_fn done, cdht_xfer_room_fn room,
                            void *ctx);

/* Where the next bytes may be received, and how many; NULL while every leaf buffer is busy
 * (at most 4, 1 MiB, per transfer): stop reading until |room|. */
uint8_t *cdht_xfer_sink_space(cdht_xfer_sink *s, size_t *len);

/* |n| bytes were received into the space last given (n = 0 is allowed, and completes an empty
 * file).  Returns 0 while more are due, 1 when all have arrived (|done| follows), -1 for more
 * than announced or an earlier failure (then abort). */
int cdht_xfer_sink_received(cdht_xfer_sink *s, size_t n);

/* Copies |n| bytes (borrowed) into the sink, as cdht_xfer_sink_received() would take them;
 * -1 also when there is no room (never the case for the first leaf's worth). */
int cdht_xfer_sink_put(cdht_xfer_sink *s, const uint8_t *p, size_t n);

#endif

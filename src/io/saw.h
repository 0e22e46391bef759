/* The 2019 form's file transfer (docs/protocol.md §10): the responsible peer sends a requested
 * file over UDP straight to the requester, stop-and-wait: one segment of at most MSS bytes at a
 * time, a retransmission timer per segment, drops simulated at the sender only and logged.
 * Both sides write the specification's log.  Files are read and written with libuv's fs
 * requests (the thread pool), one segment at a time, so the loop never waits on a file. */
#ifndef CDHT_SAW_H
#define CDHT_SAW_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/node.h"
#include "io/net.h"

#define CDHT_SAW_MAX 8          /* transfers at once in each direction; more are refused */
#define CDHT_SAW_TRIES 100      /* a segment not acknowledged after this many transmissions
                                 * (100 s at the 1 s timeout) ends the transfer: at DROP 0.9 an
                                 * honest transfer fails there with probability 0.9^100 = 3e-5
                                 * per segment, and a vanished requester is given up */
#define CDHT_SAW_LINGER_RTO 60  /* a requester re-acknowledges a finished transfer's segments for
                                 * this many timeouts: its last ACK may have been lost */

typedef struct cdht_saw_opts {
  uint16_t mss;          /* data bytes per segment this peer sends, 1..CDHT_SEG_MSS_MAX */
  double drop;           /* probability that a segment formed here is not sent (logged "drop") */
  uint32_t rto_ms;       /* retransmission timeout (the specification's 1000) */
  uint64_t t0_ms;        /* uv_now() at program start: the logs count seconds from there */
  uint64_t seed;         /* of the drop draws */
  const char *log_dir;   /* where responding_log.txt and requesting_log.txt go (copied) */
} cdht_saw_opts;

/* Segments refused, by reason (shown by `status`). */
typedef struct cdht_saw_stats {
  uint64_t malformed;     /* failed to decode, or changed size or MSS mid-transfer */
  uint64_t unexpected;    /* for no transfer of ours (wrong token, file or direction) */
  uint64_t wrong_source;  /* for one of our transfers, from another address than its peer's */
  uint64_t out_of_window; /* data past the next expected byte, or an ACK for no segment sent */
  uint64_t refused;       /* transfers refused: CDHT_SAW_MAX under way, or a log that cannot be opened */
} cdht_saw_stats;

/* A transfer ended.  |sending|: this peer was the responder.  |status| 0: the file is through
 * (sending: the last segment was acknowledged; receiving: it is at its final path); otherwise
 * |err| says why. */
typedef void (*cdht_saw_done_fn)(void *ctx, int sending, uint16_t file, cdht_id peer, int status, const char *err);

typedef struct cdht_saw cdht_saw;

/* Starts the engine on |loop|: segments go out through |net| (borrowed), which must hand the
 * segments it receives to cdht_saw_on_datagram (cdht_net_set_datagram_hook).  |o| is copied.
 * Returns 0 or -1 (out of memory). */
int cdht_saw_open(cdht_saw **out, uv_loop_t *loop, cdht_net *net, const cdht_saw_opts *o, cdht_saw_done_fn done,
                  void *ctx);

/* Sends the file at |path| (copied) to peer |to| at |addr| as the content of |file|, its
 * segments carrying |token| (the FILE_RESP's).  Returns 0 (|done| follows, also if the file
 * cannot be read), or -1 with a message in |err|. */
int cdht_saw_send(cdht_saw *s, cdht_id to, const cdht_addr *addr, uint16_t file, uint64_t token, const char *path,
                  char *err, size_t errlen);

/* Awaits |file| from peer |from| at |addr| with |token| (the FILE_RESP's), to be saved at
 * |path| (copied; written under a temporary name and renamed when whole).  Returns 0 (|done|
 * follows), or -1 with a message in |err|. */
int cdht_saw_expect(cdht_saw *s, cdht_id from, const cdht_addr *addr, uint16_t file, uint64_t token,
                    const char *path, char *err, size_t errlen);

/* A datagram that starts with CDHT_SEG_MAGIC (a cdht_net_datagram_fn; |ctx| is the saw). */
void cdht_saw_on_datagram(void *ctx, const cdht_addr *from, const uint8_t *buf, size_t len);

const cdht_saw_stats *cdht_saw_get_stats(const cdht_saw *s);

/* Ends every transfer (no |done|), removes partial files and closes the handles: call before
 * the loop's last run.  cdht_saw_free afterwards. */
void cdht_saw_stop(cdht_saw *s);
void cdht_saw_free(cdht_saw *s);

#endif

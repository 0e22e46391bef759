/* Failure detector for one successor (docs/protocol.md §4).  Each ping gets a sequence number
 * and a deadline (sent + ping timeout).  A regular ping whose deadline passes with no response
 * to it or to any later ping is a miss; a response to any ping clears the count.  The
 * successor is dead at the Nth consecutive miss.  Between regular pings the node may send
 * probes: they are not counted as misses, but any answer to them clears the count, so a
 * verdict needs every one of them lost too (docs/failure-detection.md). */
#ifndef CDHT_FD_H
#define CDHT_FD_H

#include <stdbool.h>
#include <stdint.h>

#define CDHT_FD_WINDOW 16 /* pings awaiting their deadline; enough for timeout <= 15 intervals */

typedef struct cdht_fd {
  uint32_t next_seq;                /* sequence number of the next ping */
  uint32_t sent;                    /* pings sent since the last reset (saturates at UINT32_MAX) */
  uint32_t acked;                   /* highest sequence number answered, valid if any_acked */
  bool any_acked;                   /* a response has arrived since the last reset */
  uint32_t misses;                  /* consecutive regular pings that went unanswered */
  uint64_t lost;                    /* pings (regular or probe) judged unanswered, ever */
  uint32_t head, count;             /* FIFO of pending deadlines in out[] */
  struct { uint32_t seq; bool counted; uint64_t sent_ms, deadline_ms; } out[CDHT_FD_WINDOW];
  uint64_t miss_sent_ms[CDHT_FD_WINDOW]; /* when the latest consecutive misses were sent (ring) */
} cdht_fd;

/* Forgets everything: the next ping has sequence number 0. */
void cdht_fd_reset(cdht_fd *fd);

/* Records a ping sent at |now_ms| that expires at |now_ms + timeout_ms|.  Returns its
 * sequence number.  When the window is full the oldest deadline is judged first. */
uint32_t cdht_fd_on_send(cdht_fd *fd, uint64_t now_ms, uint64_t timeout_ms);

/* Records a probe: like _on_send, but its loss is not counted as a miss. */
uint32_t cdht_fd_on_probe(cdht_fd *fd, uint64_t now_ms, uint64_t timeout_ms);

/* Records a response carrying |seq|.  Returns 0, or CDHT_ERR_STALE for a number that was never
 * sent (a forged or confused response, which must not revive a dead peer). */
int cdht_fd_on_ack(cdht_fd *fd, uint32_t seq);

/* Another peer heard from the successor at |heard_ms|: it was alive then, so misses of pings
 * sent before that were our path's losses, not its death.  Only later misses keep counting.
 * Returns the miss count afterwards. */
uint32_t cdht_fd_vouch(cdht_fd *fd, uint64_t heard_ms);

/* Judges every deadline that has passed by |now_ms|.  Returns the number of consecutive misses
 * afterwards. */
uint32_t cdht_fd_on_timer(cdht_fd *fd, uint64_t now_ms);

/* Returns the earliest pending deadline in absolute ms, or UINT64_MAX. */
uint64_t cdht_fd_next_deadline(const cdht_fd *fd);

#endif

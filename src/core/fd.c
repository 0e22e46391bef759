#include "fd.h"

#include <string.h>

#include "cdht/err.h"

void cdht_fd_reset(cdht_fd *fd) { memset(fd, 0, sizeof *fd); }

/* Pops the oldest deadline and counts it as a miss unless that ping, or a later one, was
 * answered: a late response still proves the peer alive. */
static void judge_oldest(cdht_fd *fd) {
  uint32_t seq = fd->out[fd->head].seq;
  bool counted = fd->out[fd->head].counted;
  uint64_t sent = fd->out[fd->head].sent_ms;
  fd->head = (fd->head + 1) % CDHT_FD_WINDOW;
  fd->count--;
  if (fd->any_acked && (int32_t)(fd->acked - seq) >= 0) return;
  fd->lost++;
  if (counted) fd->miss_sent_ms[fd->misses++ % CDHT_FD_WINDOW] = sent;
}

static uint32_t record(cdht_fd *fd, uint64_t now_ms, uint64_t timeout_ms, bool counted) {
  if (fd->count == CDHT_FD_WINDOW) judge_oldest(fd);
  uint32_t seq = fd->next_seq++;
  if (fd->sent < UINT32_MAX) fd->sent++;
  uint32_t slot = (fd->head + fd->count) % CDHT_FD_WINDOW;
  fd->out[slot].seq = seq;
  fd->out[slot].sent_ms = now_ms;
  fd->out[slot].deadline_ms = now_ms + timeout_ms;
  fd->out[slot].counted = counted;
  fd->count++;
  return seq;
}

uint32_t cdht_fd_on_send(cdht_fd *fd, uint64_t now_ms, uint64_t timeout_ms) {
  return record(fd, now_ms, timeout_ms, true);
}

uint32_t cdht_fd_on_probe(cdht_fd *fd, uint64_t now_ms, uint64_t timeout_ms) {
  return record(fd, now_ms, timeout_ms, false);
}

int cdht_fd_on_ack(cdht_fd *fd, uint32_t seq) {
  /* Only numbers already sent count: one of the last |sent| before next_seq.  Serial-number
   * arithmetic survives wrap-around; the |sent| bound refuses the half of the number space
   * "behind" next_seq that was never used (e.g. any number at all right after a reset). */
  if ((int32_t)(fd->next_seq - seq) <= 0 || fd->next_seq - seq > fd->sent) return CDHT_ERR_STALE;
  if (!fd->any_acked || (int32_t)(seq - fd->acked) > 0) fd->acked = seq;
  fd->any_acked = true;
  fd->misses = 0;
  return 0;
}

uint32_t cdht_fd_vouch(cdht_fd *fd, uint64_t heard_ms) {
  /* The stored send times are the last min(misses, window) misses, newest at misses - 1;
   * older misses (beyond the window) are forgotten, which only delays a verdict. */
  uint32_t keep = 0, k = fd->misses < CDHT_FD_WINDOW ? fd->misses : CDHT_FD_WINDOW;
  uint64_t kept[CDHT_FD_WINDOW];
  for (uint32_t i = fd->misses - k; i < fd->misses; i++) {
    uint64_t t = fd->miss_sent_ms[i % CDHT_FD_WINDOW];
    if (t > heard_ms) kept[keep++] = t;
  }
  for (uint32_t i = 0; i < keep; i++) fd->miss_sent_ms[i] = kept[i];
  fd->misses = keep;
  return keep;
}

uint32_t cdht_fd_on_timer(cdht_fd *fd, uint64_t now_ms) {
  while (fd->count > 0 && fd->out[fd->head].deadline_ms <= now_ms) judge_oldest(fd);
  return fd->misses;
}

uint64_t cdht_fd_next_deadline(const cdht_fd *fd) {
  return fd->count ? fd->out[fd->head].deadline_ms : UINT64_MAX;
}

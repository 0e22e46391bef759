#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cdht_xfer_sink {
  int fd;
  uint64_t size, done;
  uint8_t digest[CDHT_DIGEST_LEN];
  crypto_generichash_state hash;
  char tmp[4096], final[4096];
};

int cdht_xfer_digest_file(const char *path, uint64_t *size, uint8_t digest[CDHT_DIGEST_LEN], char *err,
                          size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "open %s: %s", path, strerror(errno));
    return -1;
  }
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, CDHT_DIGEST_LEN);
  static uint8_t buf[1 << 16];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "read %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    if (n == 0) break;
    crypto_generichash_update(&h, buf, (size_t)n);
    total += (uint64_t)n;
  }
  close(fd);
  crypto_generichash_final(&h, digest, CDHT_DIGEST_LEN);
  *size = total;
  return 0;
}

int cdht_xfer_sink_open(cdht_xfer_sink **out, const char *final_path, uint64_t size,
                        const uint8_t digest[CDHT_DIGEST_LEN], char *err, size_t errlen) {
  *out = NULL;
  cdht_xfer_sink *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  static unsigned counter;
  if ((size_t)snprintf(s->final, sizeof s->final, "%s", final_path) >= sizeof s->final ||
      (size_t)snprintf(s->tmp, sizeof s->tmp, "%s.part-%ld-%u", final_path, (long)getpid(), counter++) >= sizeof s->tmp) {
    snprintf(err, errlen, "path too long: %s", final_path);
    free(s);
    return -1;
  }
  s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (s->fd < 0) {
    snprintf(err, errlen, "create %s: %s", s->tmp, strerror(errno));
    free(s);
    return -1;
  }
  s->size = size;
  memcpy(s->digest, digest, CDHT_DIGEST_LEN);
  crypto_generichash_init(&s->hash, NULL, 0, CDHT_DIGEST_LEN);
  *out = s;
  return 0;
}

int cdht_xfer_sink_write(cdht_xfer_sink *s, const uint8_t *p, size_t n) {
  if (n > s->size - s->done) return -1; /* more than announced: the sender is confused or hostile */
  crypto_generichash_update(&s->hash, p, n);
  while (n > 0) {
    ssize_t w = write(s->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
    s->done += (uint64_t)w;
  }
  return s->done == s->size ? 1 : 0;
}

uint64_t cdht_xfer_sink_done(const cdht_xfer_sink *s) { return s->done; }
uint64_t cdht_xfer_sink_size(const cdht_xfer_sink *s) { return s->size; }

void cdht_xfer_sink_abort(cdht_xfer_sink *s) {
  if (!s) return;
  close(s->fd);
  unlink(s->tmp);
  free(s);
}

int cdht_xfer_sink_finish(cdht_xfer_sink *s, char *err, size_t errlen) {
  uint8_t got[CDHT_DIGEST_LEN];
  crypto_generichash_final(&s->hash, got, sizeof got);
  if (s->done != s->size || sodium_memcmp(got, s->digest, sizeof got) != 0) {
    snprintf(err, errlen, "%s: content does not match its digest (%llu of %llu bytes)", s->final,
             (unsigned long long)s->done, (unsigned long long)s->size);
    cdht_xfer_sink_abort(s);
    return -1;
  }
  /* No fsync: the rename makes the file appear whole or not at all to every reader, which is
   * what a transfer promises; surviving a power cut as well would cost the disk's write time
   * (seconds for large files), which no plain copy pays either. */
  if (close(s->fd) < 0) {
    snprintf(err, errlen, "write %s: %s", s->tmp, strerror(errno));
    unlink(s->tmp);
    free(s);
    return -1;
  }
  if (rename(s->tmp, s->final) < 0) {
    snprintf(err, errlen, "rename %s to %s: %s", s->tmp, s->final, strerror(errno));
    unlink(s->tmp);
    free(s);
    return -1;
  }
  free(s);
  return 0;
}

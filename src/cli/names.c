#include "names.h"

#include <sodium.h>
#include <string.h>

static bool plain(uint8_t c, size_t at) {
  if (c == '.') return at > 0; /* never a dot-file, never "." or ".." */
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static const char hex[] = "0123456789ABCDEF";

size_t cdht_name_to_file(char *dst, const uint8_t *name, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    size_t need = plain(name[i], i) ? 1 : 3;
    if (n + need > CDHT_FILE_NAME_MAX) goto hashed;
    if (need == 1) {
      dst[n++] = (char)name[i];
    } else {
      dst[n++] = '%';
      dst[n++] = hex[name[i] >> 4];
      dst[n++] = hex[name[i] & 15];
    }
  }
  dst[n] = 0;
  return n;
hashed:;
  uint8_t h[32];
  crypto_generichash(h, sizeof h, name, len, NULL, 0);
  dst[0] = dst[1] = '%';
  for (size_t i = 0; i < sizeof h; i++) {
    dst[2 + 2 * i] = (char)(hex[h[i] >> 4] | 0x20); /* lower case: never mistaken for %XX */
    dst[3 + 2 * i] = (char)(hex[h[i] & 15] | 0x20);
  }
  dst[2 + 2 * sizeof h] = 0;
  return 2 + 2 * sizeof h;
}

bool cdht_name_file_hashed(const char *file) { return file[0] == '%' && file[1] == '%'; }

static int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1; /* lower case is not ours: one encoding per name */
}

size_t cdht_name_from_file(uint8_t name[255], const char *file) {
  size_t n = 0;
  if (cdht_name_file_hashed(file)) return 0;
  for (size_t i = 0; file[i]; i++) {
    if (n == 255) return 0;
    uint8_t c = (uint8_t)file[i];
    if (c == '%') {
      int h = unhex(file[i + 1]), l = h < 0 ? -1 : unhex(file[i + 2]);
      if (l < 0) return 0;
      c = (uint8_t)(h << 4 | l);
      if (plain(c, n)) return 0; /* encoded where it need not be: not a form we write */
      i += 2;
    } else if (!plain(c, n)) {
      return 0;
    }
    name[n++] = c;
  }
  /* what we read must be a name we could have written (no control bytes, no '/') */
  for (size_t i = 0; i < n; i++)
    if (name[i] <= ' ' || name[i] == 0x7f || name[i] == '/') return 0;
  return n;
}

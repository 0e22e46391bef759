/* Replays a corpus through a fuzz target without libFuzzer, so the normal test run (and the
 * ASan+UBSan build) checks every saved input.  Usage: fuzz_replay_<target> DIR|FILE...
 * Files in a directory run in name order; names starting with '.' are skipped.  Each input is
 * handed over in an exact-size heap copy, so AddressSanitizer catches a read past its end.
 * Prints how many inputs ran; exits 1 if a path cannot be read or holds no input at all (a
 * corpus that silently went missing must not pass).  A failed check aborts. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) { fprintf(stderr, "replay: open %s: %s\n", path, strerror(errno)); return -1; }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  for (size_t n; buf && (n = fread(buf + len, 1, cap - len, fp)) > 0;) {
    len += n;
    if (len == cap) {
      uint8_t *bigger = realloc(buf, cap * 2);
      if (!bigger) { free(buf); buf = NULL; break; }
      buf = bigger;
      cap *= 2;
    }
  }
  int err = ferror(fp);
  fclose(fp);
  if (!buf || err) { fprintf(stderr, "replay: read %s failed\n", path); free(buf); return -1; }
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) { free(buf); return -1; }
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in |dir|.  Returns how many, or -1. */
static long run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) { fprintf(stderr, "replay: open %s: %s\n", dir, strerror(errno)); return -1; }
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **bigger = realloc(names, cap * sizeof *names);
      if (!bigger) break;
      names = bigger;
    }
    names[n] = strdup(e->d_name);
    if (names[n]) n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, by_name);
  long count = 0;
  for (size_t i = 0; i < n; i++) {
    size_t plen = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(plen);
    struct stat st;
    if (path) {
      snprintf(path, plen, "%s/%s", dir, names[i]);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        if (run_file(path) < 0) count = -1;
        else if (count >= 0) count++;
      }
    }
    free(path);
    free(names[i]);
  }
  free(names);
  return count;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]); return 2; }
  long total = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) { fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno)); return 1; }
    long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
    if (n <= 0) { fprintf(stderr, "replay: %s: no input could be run\n", argv[i]); return 1; }
    printf("%s: %ld input%s\n", argv[i], n, n == 1 ? "" : "s");
    total += n;
  }
  printf("replayed %ld input%s\n", total, total == 1 ? "" : "s");
  return 0;
}

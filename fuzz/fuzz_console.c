/* Fuzzes the console line parser (src/cli/commands.c).
 *
 * The input is one line of exactly |size| bytes, not NUL-terminated (the console hands the
 * parser a slice of its read buffer).  Whatever it holds, the result has a known kind; an
 * error line is a non-empty, NUL-terminated, printable, single line; a request or a store names
 * a file 0..9999 (a store's path is one printable word, and only a store has one); and the
 * return value agrees with the kind. */
#include <string.h>

#include "cli/commands.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cdht_line l;
  memset(&l, 0xa5, sizeof l); /* the parser must fill every field it reports */
  int rc = cdht_line_parse(&l, (const char *)data, size);
  FUZZ_CHECK(l.kind >= CDHT_LINE_EMPTY && l.kind <= CDHT_LINE_ERROR);
  FUZZ_CHECK(rc == (l.kind == CDHT_LINE_ERROR ? -1 : 0));
  if (l.kind == CDHT_LINE_ERROR) {
    const char *end = memchr(l.error, '\0', sizeof l.error);
    FUZZ_CHECK(end != NULL);
    FUZZ_CHECK(end > l.error);
    for (const char *p = l.error; p < end; p++) FUZZ_CHECK(*p >= 32 && *p < 127);
  } else {
    FUZZ_CHECK(l.error[0] == '\0');
  }
  if (l.kind == CDHT_LINE_REQUEST || l.kind == CDHT_LINE_STORE) {
    FUZZ_CHECK(l.file <= 9999);
    /* The canonical spelling of the same command parses to the same file (and path). */
    const char *path_end = memchr(l.path, '\0', sizeof l.path);
    FUZZ_CHECK(path_end != NULL);
    for (const char *p = l.path; p < path_end; p++) FUZZ_CHECK(*p > 32 && *p < 127);
    char canon[16 + sizeof l.path];
    int n = l.kind == CDHT_LINE_REQUEST ? snprintf(canon, sizeof canon, "request %04u", (unsigned)l.file)
                                        : snprintf(canon, sizeof canon, "store %04u %s", (unsigned)l.file, l.path);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof canon);
    cdht_line again;
    FUZZ_CHECK(cdht_line_parse(&again, canon, (size_t)n) == 0);
    FUZZ_CHECK(again.kind == l.kind && again.file == l.file);
    FUZZ_CHECK(strcmp(again.path, l.path) == 0);
  } else {
    FUZZ_CHECK(l.file == 0);
  }
  if (l.kind != CDHT_LINE_STORE) FUZZ_CHECK(l.path[0] == '\0');
  return 0;
}

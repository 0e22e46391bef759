/* Fuzzes the console line parser (src/cli/commands.c), in both forms.
 *
 * The input is one line of exactly |size| bytes, not NUL-terminated (the console hands the
 * parser a slice of its read buffer), parsed as on the classic forms and as with --listen.
 * Whatever it holds, the result has a known kind; an error line is a non-empty, NUL-terminated,
 * printable ASCII, single line; a request or a store names a valid name (classic: four digits; a
 * classic store's path is one printable word, and only a store has one); and the return value
 * agrees with the kind.  The canonical spelling of a request or store parses to the same. */
#include <string.h>

#include "cli/commands.h"
#include "fuzz.h"

static void check(const uint8_t *data, size_t size, bool names) {
  cdht_line l;
  memset(&l, 0xa5, sizeof l); /* the parser must fill every field it reports */
  int rc = cdht_line_parse(&l, (const char *)data, size, names);
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
    FUZZ_CHECK(cdht_name_valid(l.name.s, l.name.len));
    if (!names) FUZZ_CHECK(cdht_name_number(&l.name) >= 0);
    const char *path_end = memchr(l.path, '\0', sizeof l.path);
    FUZZ_CHECK(path_end != NULL);
    if (!names)
      for (const char *p = l.path; p < path_end; p++) FUZZ_CHECK(*p > 32 && *p < 127);
    char canon[32 + CDHT_NAME_MAX + sizeof l.path];
    size_t n = (size_t)snprintf(canon, sizeof canon, "%s ", l.kind == CDHT_LINE_REQUEST ? "request" : "store");
    memcpy(canon + n, l.name.s, l.name.len);
    n += l.name.len;
    if (l.path[0]) n += (size_t)snprintf(canon + n, sizeof canon - n, names ? " \"%s\"" : " %s", l.path);
    FUZZ_CHECK(n < sizeof canon);
    cdht_line again;
    FUZZ_CHECK(cdht_line_parse(&again, canon, n, names) == 0);
    FUZZ_CHECK(again.kind == l.kind && cdht_name_eq(&again.name, &l.name));
    FUZZ_CHECK(strcmp(again.path, l.path) == 0);
  } else {
    FUZZ_CHECK(l.name.len == 0);
  }
  if (l.kind != CDHT_LINE_STORE) FUZZ_CHECK(l.path[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check(data, size, false);
  check(data, size, true);
  return 0;
}

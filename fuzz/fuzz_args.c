/* Fuzzes the command-line parser (src/cli/args.c).
 *
 * The input is split on NUL bytes into the arguments after argv[0] (at most MAX_ARGS; a final
 * NUL ends the last argument rather than starting an empty one), each in an exact-size heap
 * copy.  On success a run configuration passes cdht_config_check, so cdht_node_new accepts it;
 * on failure the message is a non-empty, NUL-terminated, printable line. */
#include <string.h>

#include "cdht/err.h"
#include "cli/args.h"
#include "fuzz.h"

#define MAX_ARGS 16
#define ERRLEN 256 /* as in src/cli/main.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char prog[] = "cdht";
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = prog;
  size_t off = 0;
  while (off < size && argc < MAX_ARGS + 1) {
    const uint8_t *nul = memchr(data + off, 0, size - off);
    size_t len = nul ? (size_t)(nul - (data + off)) : size - off;
    char *arg = malloc(len + 1);
    FUZZ_CHECK(arg != NULL);
    memcpy(arg, data + off, len);
    arg[len] = '\0';
    argv[argc++] = arg;
    off += len + 1;
  }
  argv[argc] = NULL;

  cdht_args a;
  char *err = malloc(ERRLEN);
  FUZZ_CHECK(err != NULL);
  memset(err, 0xa5, ERRLEN);
  int rc = cdht_args_parse(&a, argc, argv, err, ERRLEN);
  FUZZ_CHECK(rc == 0 || rc == -1);
  if (rc == 0) {
    FUZZ_CHECK(a.action == CDHT_RUN || a.action == CDHT_HELP || a.action == CDHT_VERSION);
    if (a.action == CDHT_RUN) FUZZ_CHECK(cdht_config_check(&a.cfg) == 0);
  } else {
    const char *end = memchr(err, '\0', ERRLEN);
    FUZZ_CHECK(end != NULL && end > err);
    for (const char *p = err; p < end; p++) FUZZ_CHECK(*p >= 32 && *p < 127);
  }
  free(err);
  for (int i = 1; i < argc; i++) free(argv[i]);
  return 0;
}

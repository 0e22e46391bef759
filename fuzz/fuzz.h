/* Shared by the fuzz targets and the replay driver.  A target is one LLVMFuzzerTestOneInput:
 * libFuzzer calls it with generated inputs, replay.c with every file of fuzz/corpus/<target>/.
 * A broken invariant is reported with FUZZ_CHECK, which prints where and aborts: that is how a
 * fuzzer (and the replay test) notices it. */
#ifndef CDHT_FUZZ_H
#define CDHT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* |data| is borrowed for the call: |size| bytes, not NUL-terminated.  Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fflush(stdout);                                                                   \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);      \
      abort();                                                                          \
    }                                                                                   \
  } while (0)

#endif

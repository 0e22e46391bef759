/* Unit tests for src/cli/names.h: names as file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/names.h"

static void assert_file(const char *name, const char *want) {
  char f[CDHT_FILE_NAME_MAX + 1];
  assert_int_equal(cdht_name_to_file(f, (const uint8_t *)name, strlen(name)), strlen(want));
  assert_string_equal(f, want);
  uint8_t back[255];
  assert_int_equal(cdht_name_from_file(back, f), strlen(name));
  assert_memory_equal(back, name, strlen(name));
}

static void test_names_plain_and_escaped(void **state) {
  (void)state;
  assert_file("report-2026.pdf", "report-2026.pdf");
  assert_file("2012", "2012");
  assert_file("..", "%2E.");
  assert_file(".hidden", "%2Ehidden");
  assert_file("a%b", "a%25b");
  assert_file("caf\xc3\xa9", "caf%C3%A9");
  assert_file("x\\y:z*?\"<>|", "x%5Cy%3Az%2A%3F%22%3C%3E%7C");
  assert_file("%%", "%25%25"); /* never the hashed form */
}

static void test_names_long_are_hashed(void **state) {
  (void)state;
  uint8_t name[255];
  memset(name, 'a', sizeof name);
  char f[CDHT_FILE_NAME_MAX + 1], g[CDHT_FILE_NAME_MAX + 1];
  assert_int_equal(cdht_name_to_file(f, name, CDHT_FILE_NAME_MAX), CDHT_FILE_NAME_MAX); /* fits exactly */
  assert_int_equal(cdht_name_to_file(f, name, CDHT_FILE_NAME_MAX + 1), 66);
  assert_true(cdht_name_file_hashed(f));
  uint8_t back[255];
  assert_int_equal(cdht_name_from_file(back, f), 0);
  name[0] = 'b'; /* another name, another file */
  cdht_name_to_file(g, name, CDHT_FILE_NAME_MAX + 1);
  assert_string_not_equal(f, g);
  memset(name, 0xff, sizeof name); /* 67 escaped bytes pass the limit */
  assert_int_equal(cdht_name_to_file(f, name, 66), 198);
  assert_int_equal(cdht_name_to_file(f, name, 67), 66);
}

/* File names we never write are not names: our own dot-files, other escapes, stray bytes. */
static void test_names_foreign_files_are_not_names(void **state) {
  (void)state;
  static const char *foreign[] = { "", ".2012.digest", ".taking-2012-5-1", "a b", "a%2", "a%zz", "a%41", "%2e.",
                                   "a%2Fb", "a%00", "a%0A", "x%7F", "a%20b" };
  uint8_t back[255];
  for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) assert_int_equal(cdht_name_from_file(back, foreign[i]), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_names_plain_and_escaped),
    cmocka_unit_test(test_names_long_are_hashed),
    cmocka_unit_test(test_names_foreign_files_are_not_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Console lines: `request NNNN`, `quit`, `status`, `pings on|off`, `help`. */
#ifndef CDHT_COMMANDS_H
#define CDHT_COMMANDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cdht_line_kind {
  CDHT_LINE_EMPTY,     /* blank: ignored */
  CDHT_LINE_REQUEST,   /* file holds the number */
  CDHT_LINE_STORE,     /* file holds the number, path the file to store ("" for the default) */
  CDHT_LINE_QUIT,
  CDHT_LINE_STATUS,
  CDHT_LINE_PINGS_ON,
  CDHT_LINE_PINGS_OFF,
  CDHT_LINE_HELP,
  CDHT_LINE_ERROR      /* error holds a one-line message */
} cdht_line_kind;

typedef struct cdht_line {
  cdht_line_kind kind;
  uint16_t file;       /* CDHT_LINE_REQUEST, CDHT_LINE_STORE: 0..9999 */
  char path[256];      /* CDHT_LINE_STORE: the file's path, or empty */
  char error[160];     /* CDHT_LINE_ERROR: message without a newline */
} cdht_line;

/* Parses one console line of |len| bytes (borrowed; need not be NUL-terminated).  Command names
 * are matched without regard to case.  Always fills |out|; returns 0, or -1 for an error line. */
int cdht_line_parse(cdht_line *out, const char *s, size_t len);

/* Writes the command list, one line per command, to |f|. */
void cdht_commands_help(FILE *f);

#endif

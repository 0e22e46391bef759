/* Console lines: `request NAME`, `store NAME [PATH]`, `quit`, `status`, `pings on|off`, `help`.
 * On the classic forms a NAME is four digits NNNN; with --listen it is any name (docs/protocol.md
 * §1) and a word may be quoted ("my notes.txt"). */
#ifndef CDHT_COMMANDS_H
#define CDHT_COMMANDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/wire/msg.h"

typedef enum cdht_line_kind {
  CDHT_LINE_EMPTY,     /* blank: ignored */
  CDHT_LINE_REQUEST,   /* name holds the file's name */
  CDHT_LINE_STORE,     /* name holds the file's name, path the file to store ("" for the default) */
  CDHT_LINE_QUIT,
  CDHT_LINE_STATUS,
  CDHT_LINE_PINGS_ON,
  CDHT_LINE_PINGS_OFF,
  CDHT_LINE_HELP,
  CDHT_LINE_ERROR      /* error holds a one-line message */
} cdht_line_kind;

typedef struct cdht_line {
  cdht_line_kind kind;
  cdht_name name;      /* CDHT_LINE_REQUEST, CDHT_LINE_STORE: four digits, or with names any name */
  char path[1024];     /* CDHT_LINE_STORE: the file's path, or empty */
  char error[160];     /* CDHT_LINE_ERROR: message without a newline */
} cdht_line;

/* Parses one console line of |len| bytes (borrowed; need not be NUL-terminated).  Command names
 * are matched without regard to case.  |names|: the --listen form, where a name is any name of
 * 1..255 bytes without whitespace, control bytes or '/' (bytes from 0x80 up allowed) and a
 * word may be quoted with '"' (no escapes; an unterminated quote is an error); else names are
 * four digits and words are split on blanks only.  Always fills |out|; returns 0, or -1 for an
 * error line. */
int cdht_line_parse(cdht_line *out, const char *s, size_t len, bool names);

/* Writes the command list, one line per command, to |f| (|names|: as with --listen). */
void cdht_commands_help(FILE *f, bool names);

#endif

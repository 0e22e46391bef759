#include "commands.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MAX_WORDS 4
#define WORD_MAX 240 /* a path fits; the line itself is at most CDHT_LINE_MAX */

typedef struct { char w[MAX_WORDS][WORD_MAX + 1]; size_t n; bool overflow; } words;
typedef int (*parse_fn)(cdht_line *out, const words *w);

__attribute__((format(printf, 2, 3))) static int error(cdht_line *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  out->kind = CDHT_LINE_ERROR;
  vsnprintf(out->error, sizeof out->error, fmt, ap);
  va_end(ap);
  return -1;
}

static int parse_request(cdht_line *out, const words *w) {
  const char *f = w->w[1];
  if (strlen(f) != 4 || strspn(f, "0123456789") != 4)
    return error(out, "request: a file name is exactly four digits 0000-9999, got '%s'", f);
  out->kind = CDHT_LINE_REQUEST;
  out->file = (uint16_t)((f[0] - '0') * 1000 + (f[1] - '0') * 100 + (f[2] - '0') * 10 + (f[3] - '0'));
  return 0;
}

static int parse_store(cdht_line *out, const words *w) {
  if (parse_request(out, w) < 0) {
    snprintf(out->error, sizeof out->error, "store: a file name is exactly four digits 0000-9999, got '%.40s'", w->w[1]);
    return -1;
  }
  out->kind = CDHT_LINE_STORE;
  if (w->n > 2) snprintf(out->path, sizeof out->path, "%s", w->w[2]);
  return 0;
}

static int parse_pings(cdht_line *out, const words *w) {
  if (strcasecmp(w->w[1], "on") == 0) out->kind = CDHT_LINE_PINGS_ON;
  else if (strcasecmp(w->w[1], "off") == 0) out->kind = CDHT_LINE_PINGS_OFF;
  else return error(out, "pings: expected 'on' or 'off', got '%s'", w->w[1]);
  return 0;
}

static int parse_quit(cdht_line *out, const words *w) { (void)w; out->kind = CDHT_LINE_QUIT; return 0; }
static int parse_status(cdht_line *out, const words *w) { (void)w; out->kind = CDHT_LINE_STATUS; return 0; }
static int parse_help(cdht_line *out, const words *w) { (void)w; out->kind = CDHT_LINE_HELP; return 0; }

static const struct cmd {
  const char *name;
  size_t min, max; /* arguments after the name */
  parse_fn parse;
  const char *usage;
  const char *help;
} cmds[] = {
  /* name      min max parser         usage            help */
  { "request", 1, 1, parse_request, "request NNNN", "find the peer responsible for file NNNN (four digits)" },
  { "store",   1, 2, parse_store,   "store NNNN [PATH]", "store file PATH (default NNNN or NNNN.pdf) at its peer" },
  { "quit",    0, 0, parse_quit,    "quit",         "leave the ring gracefully and exit" },
  { "status",  0, 0, parse_status,  "status",       "show this peer's predecessors, successors and counters" },
  { "pings",   1, 1, parse_pings,   "pings off|on", "hide or show the ping lines (default on)" },
  { "help",    0, 0, parse_help,    "help",         "list the commands" },
};

/* Splits on blanks.  Words longer than WORD_MAX are cut (and shown cut in errors). */
static void split(words *w, const char *s, size_t len) {
  memset(w, 0, sizeof *w);
  size_t i = 0;
  while (i < len) {
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == len) break;
    if (w->n == MAX_WORDS) { w->overflow = true; break; }
    size_t k = 0;
    for (; i < len && s[i] != ' ' && s[i] != '\t'; i++)
      if (k < WORD_MAX) w->w[w->n][k++] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    w->n++;
  }
}

int cdht_line_parse(cdht_line *out, const char *s, size_t len) {
  memset(out, 0, sizeof *out);
  words w;
  split(&w, s, len);
  if (w.n == 0) { out->kind = CDHT_LINE_EMPTY; return 0; }
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const struct cmd *c = &cmds[i];
    if (strcasecmp(w.w[0], c->name) != 0) continue;
    size_t nargs = w.n - 1;
    if (w.overflow || nargs < c->min || nargs > c->max) {
      out->kind = CDHT_LINE_ERROR;
      if (c->min == c->max)
        snprintf(out->error, sizeof out->error, "%s: expected %zu argument%s (usage: %s)", c->name, c->max,
                 c->max == 1 ? "" : "s", c->usage);
      else
        snprintf(out->error, sizeof out->error, "%s: expected %zu to %zu arguments (usage: %s)", c->name, c->min,
                 c->max, c->usage);
      return -1;
    }
    return c->parse(out, &w);
  }
  return error(out, "unknown command '%s' (type 'help' for the list)", w.w[0]);
}

void cdht_commands_help(FILE *f) {
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %-17s %s\n", cmds[i].usage, cmds[i].help);
}

#include "commands.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MAX_WORDS 4
#define WORD_MAX 240        /* classic: a path fits; the line itself is at most CDHT_LINE_MAX */
#define WORD_MAX_NAMES 1023 /* --listen: a 255-byte name, a long path (console.h CDHT_LINE_MAX_NAMES) */

typedef struct {
  char w[MAX_WORDS][WORD_MAX_NAMES + 1];
  size_t len[MAX_WORDS]; /* bytes in each word (a name's bytes may be anything but NUL) */
  size_t n;
  bool overflow;
  bool names;            /* the --listen form */
  bool open_quote;       /* a '"' was not closed */
} words;
typedef int (*parse_fn)(cdht_line *out, const words *w);

__attribute__((format(printf, 2, 3))) static int error(cdht_line *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  out->kind = CDHT_LINE_ERROR;
  vsnprintf(out->error, sizeof out->error, fmt, ap);
  va_end(ap);
  return -1;
}

/* A word as it may appear in an error: bytes outside printable ASCII shown as '?', at most 40. */
static const char *shown(char dst[41], const words *w, size_t i) {
  size_t n = w->len[i] < 40 ? w->len[i] : 40;
  for (size_t k = 0; k < n; k++) {
    unsigned char ch = (unsigned char)w->w[i][k];
    dst[k] = ch < 32 || ch >= 127 ? '?' : (char)ch; /* errors are plain ASCII */
  }
  dst[n] = '\0';
  return dst;
}

/* The name in word 1, for command |cmd|: four digits, or with names any name (§1). */
static int parse_name(cdht_line *out, const words *w, const char *cmd) {
  const char *f = w->w[1];
  char b[41];
  if (w->names) {
    if (cdht_name_set(&out->name, f, w->len[1]) < 0)
      return error(out, "%s: a name is 1 to 255 bytes with no space, control character or '/', got '%s'%s", cmd,
                   shown(b, w, 1), w->len[1] > 40 ? "..." : "");
    return 0;
  }
  if (strlen(f) != 4 || strspn(f, "0123456789") != 4)
    return strcmp(cmd, "request") == 0
             ? error(out, "request: a file name is exactly four digits 0000-9999, got '%s'", f)
             : error(out, "store: a file name is exactly four digits 0000-9999, got '%.40s'", f);
  cdht_name_set(&out->name, f, 4);
  return 0;
}

static int parse_request(cdht_line *out, const words *w) {
  if (parse_name(out, w, "request") < 0) return -1;
  out->kind = CDHT_LINE_REQUEST;
  return 0;
}

static int parse_store(cdht_line *out, const words *w) {
  if (parse_name(out, w, "store") < 0) return -1;
  out->kind = CDHT_LINE_STORE;
  if (w->n > 2) snprintf(out->path, sizeof out->path, "%s", w->w[2]);
  return 0;
}

static int parse_pings(cdht_line *out, const words *w) {
  if (strcasecmp(w->w[1], "on") == 0) out->kind = CDHT_LINE_PINGS_ON;
  else if (strcasecmp(w->w[1], "off") == 0) out->kind = CDHT_LINE_PINGS_OFF;
  else {
    char b[41];
    return error(out, "pings: expected 'on' or 'off', got '%s'", w->names ? shown(b, w, 1) : w->w[1]);
  }
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
  const char *named_usage, *named_help; /* with --listen, where they differ (else NULL) */
} cmds[] = {
  /* name      min max parser         usage            help */
  { "request", 1, 1, parse_request, "request NNNN", "find the peer responsible for file NNNN (four digits)",
    "request NAME", "find the peer responsible for file NAME" },
  { "store",   1, 2, parse_store,   "store NNNN [PATH]", "store file PATH (default NNNN or NNNN.pdf) at its peer",
    "store NAME [PATH]", "store file PATH (default NAME; quote a PATH with spaces) at its peer" },
  { "quit",    0, 0, parse_quit,    "quit",         "leave the ring gracefully and exit", NULL, NULL },
  { "status",  0, 0, parse_status,  "status",       "show this peer's predecessors, successors and counters", NULL, NULL },
  { "pings",   1, 1, parse_pings,   "pings off|on", "hide or show the ping lines (default on)", NULL, NULL },
  { "help",    0, 0, parse_help,    "help",         "list the commands", NULL, NULL },
};

/* Splits on blanks.  Classic: words longer than WORD_MAX are cut (and shown cut in errors), and
 * bytes outside printable ASCII become '?'.  With names: bytes are kept as they are (a name may
 * be UTF-8), '"' quotes blanks into a word, and a word longer than WORD_MAX_NAMES is cut (a name
 * that long is refused anyway). */
static void split(words *w, const char *s, size_t len, bool names) {
  memset(w, 0, sizeof *w);
  w->names = names;
  size_t i = 0, max = names ? WORD_MAX_NAMES : WORD_MAX;
  while (i < len) {
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == len) break;
    if (w->n == MAX_WORDS) { w->overflow = true; break; }
    size_t k = 0;
    bool quoted = false;
    for (; i < len && (quoted || (s[i] != ' ' && s[i] != '\t')); i++) {
      if (names && s[i] == '"') { quoted = !quoted; continue; }
      char ch = names || (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
      if (k < max) w->w[w->n][k++] = ch;
    }
    if (quoted) w->open_quote = true;
    w->len[w->n++] = k;
  }
}

int cdht_line_parse(cdht_line *out, const char *s, size_t len, bool names) {
  memset(out, 0, sizeof *out);
  words w;
  split(&w, s, len, names);
  if (w.n == 0) { out->kind = CDHT_LINE_EMPTY; return 0; }
  if (w.open_quote) return error(out, "unterminated quote: a '\"' opens a word that no '\"' closes");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const struct cmd *c = &cmds[i];
    const char *usage = names && c->named_usage ? c->named_usage : c->usage;
    if (strcasecmp(w.w[0], c->name) != 0) continue;
    size_t nargs = w.n - 1;
    if (w.overflow || nargs < c->min || nargs > c->max) {
      out->kind = CDHT_LINE_ERROR;
      if (c->min == c->max)
        snprintf(out->error, sizeof out->error, "%s: expected %zu argument%s (usage: %s)", c->name, c->max,
                 c->max == 1 ? "" : "s", usage);
      else
        snprintf(out->error, sizeof out->error, "%s: expected %zu to %zu arguments (usage: %s)", c->name, c->min,
                 c->max, usage);
      return -1;
    }
    return c->parse(out, &w);
  }
  char b[41];
  return error(out, "unknown command '%s' (type 'help' for the list)", names ? shown(b, &w, 0) : w.w[0]);
}

void cdht_commands_help(FILE *f, bool names) {
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const struct cmd *c = &cmds[i];
    fprintf(f, "  %-17s %s\n", names && c->named_usage ? c->named_usage : c->usage,
            names && c->named_help ? c->named_help : c->help);
  }
}

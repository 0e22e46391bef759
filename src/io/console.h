/* Reads the console (standard input) line by line on the event loop, whatever it is: a
 * terminal, a pipe or a regular file.  End of input stops the reading, not the peer. */
#ifndef CDHT_CONSOLE_H
#define CDHT_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define CDHT_LINE_MAX 256        /* bytes: a longer console line is refused whole (classic forms) */
#define CDHT_LINE_MAX_NAMES 1024 /* ... with --listen: a 255-byte name and a long quoted path fit */

/* Called once per line, without its newline (|line| borrowed, NUL-terminated).  |too_long| is
 * set, and |line| empty, when the line exceeded the console's maximum and was discarded. */
typedef void (*cdht_console_fn)(void *ctx, const char *line, size_t len, bool too_long);

typedef struct cdht_console cdht_console;

/* Starts reading |fd| on |loop|, taking lines of at most |max| bytes (CDHT_LINE_MAX or
 * CDHT_LINE_MAX_NAMES; larger is cut to the latter).  Returns 0, or a negative libuv error (the caller may run
 * without a console then).  *out is owned by the caller until cdht_console_close(). */
int cdht_console_open(cdht_console **out, uv_loop_t *loop, int fd, size_t max, cdht_console_fn fn, void *ctx);

/* Stops reading and frees the console once libuv has closed its handle. */
void cdht_console_close(cdht_console *c);

#endif

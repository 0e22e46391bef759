/* The content side of a peer: its data directory (the files it holds), where received files
 * go, and the transfers that `store` and `request` start (docs/protocol.md §9). */
#ifndef CDHT_CONTENT_H
#define CDHT_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/lines.h"
#include "core/node.h"
#include "io/net.h"

typedef struct cdht_content cdht_content;

/* Creates |data_dir| if needed and marks every file in it that holds a name as held by |node|:
 * on the classic forms NNNN or NNNN.ext, with names (a CDHT_KEYS_BLAKE2B ring) the name's
 * encoding (names.h; a hashed one with its name kept beside it); received files go to
 * |download_dir| as received_NNNN[.ext] or received_ and the encoding.  Strings are copied.  Returns 0, or -1 with a
 * message naming the operation in |err|. */
int cdht_content_open(cdht_content **out, uv_loop_t *loop, cdht_node *node, cdht_net *net, const char *data_dir,
                      const char *download_dir, char *err, size_t errlen);

/* Checks at start, before anything is bound or opened, that |download_dir| is a directory this
 * process can write in, and that |data_dir| (given on the command line if |data_dir_given|) is
 * either missing (cdht_content_open creates it) or a directory it can read and write.  Returns 0,
 * or -1 with a message naming the directory and the reason in |err|. */
int cdht_content_check_dirs(const char *data_dir, bool data_dir_given, const char *download_dir, char *err,
                            size_t errlen);

/* Remembers which file `store NAME [PATH]` sends: PATH, or in the current directory NNNN or
 * NNNN.pdf (with names: NAME).  |name| is borrowed.  Returns 0, or -1 with a message in |err|
 * (no such readable file). */
int cdht_content_prepare_store(cdht_content *c, const cdht_name *name, const char *path, char *err, size_t errlen);

/* The `store` command for |name| just prepared was refused by the node: forgets its file. */
void cdht_content_cancel_store(cdht_content *c, const cdht_name *name);

/* Refusals and expiries of the bounded tables (docs/protocol.md §7), for `status`. */
typedef struct cdht_content_stats {
  uint64_t awaited_refused;  /* transfers announced while the table was full of GETs: not awaited */
  uint64_t awaited_taken;    /* awaited PUTs not started, replaced by a newer one when the table was full */
  uint64_t awaited_expired;  /* awaited transfers that did not start within the request timeout */
} cdht_content_stats;

const cdht_content_stats *cdht_content_get_stats(const cdht_content *c);

/* Acts on the node's events that move content (store accepted, upload, responses). */
void cdht_content_on_event(cdht_content *c, const cdht_event *ev);

/* |peer| says it handed us |count| files (KEYS_DONE): prints "N files received from peer P."
 * as soon as they have all arrived here, which may be before or after this call. */
void cdht_content_keys_announced(cdht_content *c, cdht_peer peer, unsigned count);

/* Closes its handle (a timer): call before the loop's last run. */
void cdht_content_stop(cdht_content *c);

void cdht_content_close(cdht_content *c);

/* The wording of the transfer and handover lines (default: classic). */
void cdht_content_set_variant(cdht_content *c, cdht_variant variant);

/* The 2019 form: marks every file NNNN or NNNN.ext in |dir| (copied; the working directory) as
 * held, so that this peer serves it when it is responsible, as the specification's peers serve
 * 2012.pdf from beside the program.  Such a file is never handed over or removed.  Returns 0, or
 * -1 with a message in |err|. */
int cdht_content_serve_dir(cdht_content *c, const char *dir, char *err, size_t errlen);

/* Writes into |path| the file to send as |name|'s content: the data directory's copy, else the
 * one in the served directory.  Returns 0, or -1 if there is neither. */
int cdht_content_source(const cdht_content *c, const cdht_name *name, char *path, size_t cap);

#endif

/* The 2019 form's requested files (docs/protocol.md §10): the responsible peer answers a request
 * as the classic form does, then sends the file over UDP, stop-and-wait (io/saw), straight to the
 * requester, which saves it as received_file.pdf.  This replaces the TCP transfer of a requested
 * file; stores and handovers keep theirs. */
#ifndef CDHT_UDPFILE_H
#define CDHT_UDPFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/content.h"
#include "io/saw.h"

typedef struct cdht_udpfile cdht_udpfile;

/* Starts the transfer engine with |o| (copied) on |net|'s socket; |node|, |net| and |content|
 * are borrowed.  Received files go to |download_dir| (copied).  Returns 0, or -1 with a message
 * in |err|. */
int cdht_udpfile_open(cdht_udpfile **out, uv_loop_t *loop, cdht_node *node, cdht_net *net, cdht_content *content,
                      const cdht_saw_opts *o, const char *download_dir, char *err, size_t errlen);

/* Acts on the events of a file request: returns true for those it handles (the content side must
 * then not see them), false for every other. */
bool cdht_udpfile_on_event(cdht_udpfile *u, const cdht_event *ev);

/* The refusals of segments, one line for `status`. */
void cdht_udpfile_status(const cdht_udpfile *u, FILE *f);

/* As cdht_saw_stop and cdht_saw_free; |u| may be NULL. */
void cdht_udpfile_stop(cdht_udpfile *u);
void cdht_udpfile_free(cdht_udpfile *u);

#endif

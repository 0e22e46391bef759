#include "udpfile.h"

#include <stdlib.h>
#include <string.h>

#include "cli/lines.h"
#include "io/seg.h"

struct cdht_udpfile {
  cdht_node *node;       /* borrowed */
  cdht_content *content; /* borrowed */
  cdht_saw *saw;
  char download_dir[2048];
};

/* The lines after the classic ones: "The file is sent." when the last segment is acknowledged,
 * "The file is received." when the file is whole and in place. */
static void on_done(void *ctx, int sending, uint16_t file, cdht_id peer, int status, const char *err) {
  cdht_udpfile *u = ctx;
  if (status == 0) {
    fputs(cdht_lines_transfer(sending ? CDHT_LINE_SENT : CDHT_LINE_RECEIVED), stdout);
    if (!sending) fprintf(stderr, "file %04u saved as %s/received_file.pdf\n", file, u->download_dir);
    return;
  }
  fprintf(stderr, "%s %04u %s peer %llu failed: %s\n", sending ? "sending" : "receiving", file,
          sending ? "to" : "from", (unsigned long long)peer, err);
}

int cdht_udpfile_open(cdht_udpfile **out, uv_loop_t *loop, cdht_node *node, cdht_net *net, cdht_content *content,
                      const cdht_saw_opts *o, const char *download_dir, char *err, size_t errlen) {
  *out = NULL;
  cdht_udpfile *u = calloc(1, sizeof *u);
  if (!u || cdht_saw_open(&u->saw, loop, net, o, on_done, u) < 0) {
    free(u);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* From here on the engine has handles on the loop: the caller stops it, runs the loop, frees it. */
  *out = u;
  u->node = node;
  u->content = content;
  snprintf(u->download_dir, sizeof u->download_dir, "%s", download_dir);
  if (cdht_net_set_datagram_hook(net, CDHT_SEG_MAGIC, CDHT_SEG_MAX, cdht_saw_on_datagram, u->saw) < 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* The specification's peers serve 2012.pdf from beside the program. */
  return cdht_content_serve_dir(content, ".", err, errlen);
}

bool cdht_udpfile_on_event(cdht_udpfile *u, const cdht_event *ev) {
  char err[512], path[4200];
  /* The 2019 form is classic: its names are four digits, and its segments carry the number. */
  int number = cdht_name_number(&ev->name);
  uint16_t file = number < 0 ? 0 : (uint16_t)number;
  switch (ev->kind) {
  case CDHT_EV_REQUEST_SENT: /* no TCP transfer to await: the content comes as segments */
  case CDHT_EV_REQUEST_FAILED:
    return true;
  case CDHT_EV_RESPONSE_SENT: {
    if (!ev->content) return true;
    cdht_addr to = ev->peer.addr; /* the 2019 form is classic: the rule's address, which the node checked */
    fputs(cdht_lines_transfer(CDHT_LINE_SENDING), stdout);
    if (cdht_content_source(u->content, &ev->name, path, sizeof path) < 0) {
      fprintf(stderr, "sending %04u failed: the file is no longer here\n", file);
      return true;
    }
    if (cdht_saw_send(u->saw, ev->peer.id, &to, file, ev->token, path, err, sizeof err) < 0)
      fprintf(stderr, "sending %04u failed: %s\n", file, err);
    return true;
  }
  case CDHT_EV_RESPONSE_RECEIVED: {
    if (!ev->content) return true;
    /* Segments count only from the peer that answered, at its own port, with its token. */
    cdht_addr from = ev->peer.addr;
    snprintf(path, sizeof path, "%s/received_file.pdf", u->download_dir);
    fputs(cdht_lines_transfer(CDHT_LINE_RECEIVING), stdout);
    if (cdht_saw_expect(u->saw, ev->peer.id, &from, file, ev->token, path, err, sizeof err) < 0)
      fprintf(stderr, "receiving %04u failed: %s\n", file, err);
    return true;
  }
  default:
    return false;
  }
}

void cdht_udpfile_status(const cdht_udpfile *u, FILE *f) {
  const cdht_saw_stats *st = cdht_saw_get_stats(u->saw);
  fprintf(f, "file segments refused: %llu malformed, %llu unexpected, %llu from a wrong source, %llu out of window, "
             "%llu transfers refused\n",
          (unsigned long long)st->malformed, (unsigned long long)st->unexpected,
          (unsigned long long)st->wrong_source, (unsigned long long)st->out_of_window,
          (unsigned long long)st->refused);
}

void cdht_udpfile_stop(cdht_udpfile *u) {
  if (u) cdht_saw_stop(u->saw);
}

void cdht_udpfile_free(cdht_udpfile *u) {
  if (!u) return;
  cdht_saw_free(u->saw);
  free(u);
}

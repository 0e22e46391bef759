/* The `cdht` program: arguments, console, printed lines and exit status around one node. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <uv.h>

#include "cdht/err.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/content.h"
#include "cli/lines.h"
#include "cli/udpfile.h"
#include "io/console.h"
#include "io/net.h"

#ifndef CDHT_VERSION_STRING
#define CDHT_VERSION_STRING "0.0.0"
#endif

typedef struct app {
  uv_loop_t *loop;
  cdht_node *node;
  cdht_net *net;
  cdht_console *console;
  cdht_content *content;    /* data directory and transfers */
  cdht_udpfile *udpfile;    /* the 2019 form: requested files over UDP, or NULL */
  cdht_variant variant;     /* which year's lines */
  bool names;               /* any name is a key (--listen, docs/protocol.md §1); else four digits */
  bool joined;              /* 2020: our JOIN_ACCEPTED was the last line: the joiner's successor lines follow */
  bool stored_here;         /* a store command was accepted by this peer itself (STORE_ACCEPTED for self) */
  uv_signal_t sigterm;
  FILE *events;             /* --events: one JSON object per event, or NULL */
  bool show_pings;          /* `pings off` hides the ping lines */
  bool unconfirmed;         /* quit went ahead without a predecessor's confirmation */
  bool join_failed;         /* exit status 1 */
  bool done;
} app;

static void shutdown_app(app *a) {
  if (a->done) return;
  a->done = true;
  cdht_console_close(a->console);
  a->console = NULL;
  cdht_net_close(a->net);
  cdht_content_stop(a->content);
  cdht_udpfile_stop(a->udpfile);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_event(void *ctx, const cdht_event *ev) {
  app *a = ctx;
  char buf[2048]; /* a line, or a JSON event with a 255-byte name (escaped) or a list of 32 ids */
  if (a->events) {
    cdht_peer list[CDHT_SUCC_MAX];
    size_t nlist = 0;
    if (ev->kind == CDHT_EV_SUCC_LIST) { /* the event says that the list changed; the node has it */
      nlist = cdht_node_successor_list(a->node, list, CDHT_SUCC_MAX);
      if (nlist > CDHT_SUCC_MAX) nlist = CDHT_SUCC_MAX;
    }
    cdht_lines_json_list(buf, sizeof buf, uv_hrtime() / 1000, cdht_node_config(a->node)->self, ev, list, nlist);
    fputs(buf, a->events);
  }
  if (ev->kind == CDHT_EV_LEFT) { shutdown_app(a); return; }
  if (ev->kind == CDHT_EV_LEAVE_UNCONFIRMED) a->unconfirmed = true;
  if (ev->kind == CDHT_EV_JOIN_FAILED) a->join_failed = true;
  if (!a->show_pings && (ev->kind == CDHT_EV_PING_REQUEST || ev->kind == CDHT_EV_PING_RESPONSE ||
                         ev->kind == CDHT_EV_PINGS_SENT))
    return;
  if (ev->kind == CDHT_EV_KEYS_RECEIVED && a->content) { /* the line waits for the files themselves */
    cdht_content_keys_announced(a->content, ev->peer, ev->seq);
    return;
  }
  cdht_stream s = cdht_lines_format_as(buf, sizeof buf, ev, a->variant, a->joined && ev->kind == CDHT_EV_SUCCESSORS);
  if (ev->kind == CDHT_EV_STORE_ACCEPTED && cdht_peer_known(&ev->peer) && ev->peer.id == cdht_node_config(a->node)->self)
    a->stored_here = true;
  if (ev->kind == CDHT_EV_JOIN_ACCEPTED) a->joined = true;
  else if (ev->kind == CDHT_EV_SUCCESSORS) a->joined = false;
  if (s == CDHT_STDOUT) fputs(buf, stdout);
  else if (s == CDHT_STDERR) fputs(buf, stderr);
  if (cdht_lines_no_content(buf, sizeof buf, ev) == CDHT_STDERR) fputs(buf, stderr);
  if (a->udpfile && cdht_udpfile_on_event(a->udpfile, ev)) return;
  if (a->content) cdht_content_on_event(a->content, ev);
}

static void print_id(FILE *f, cdht_peer p) {
  if (!cdht_peer_known(&p)) fputs("?", f);
  else fprintf(f, "%llu", (unsigned long long)p.id);
}

/* A neighbour's address in `status` ("-" when there is none). */
static void print_addr(FILE *f, cdht_peer p) {
  char addr[CDHT_ADDR_STRLEN];
  fputs(cdht_peer_known(&p) ? cdht_addr_format(addr, sizeof addr, &p.addr) : "-", f);
}

static void print_status(app *a) {
  const cdht_config *c = cdht_node_config(a->node);
  const cdht_stats *st = cdht_node_stats(a->node);
  const cdht_net_stats *ns = cdht_net_get_stats(a->net);
  fprintf(stderr, "peer %llu: predecessors ", (unsigned long long)c->self);
  print_id(stderr, cdht_node_predecessor(a->node, 0));
  fputc(' ', stderr);
  print_id(stderr, cdht_node_predecessor(a->node, 1));
  fputs(", successors ", stderr);
  print_id(stderr, cdht_node_successor(a->node, 0));
  fputc(' ', stderr);
  print_id(stderr, cdht_node_successor(a->node, 1));
  char self_addr[CDHT_ADDR_STRLEN];
  fprintf(stderr, "\naddresses: this peer %s", cdht_addr_format(self_addr, sizeof self_addr, &c->addr));
  if (c->alt.family != CDHT_AF_NONE) fprintf(stderr, " and %s", cdht_addr_format(self_addr, sizeof self_addr, &c->alt));
  fputs(", predecessors ", stderr);
  print_addr(stderr, cdht_node_predecessor(a->node, 0));
  fputc(' ', stderr);
  print_addr(stderr, cdht_node_predecessor(a->node, 1));
  fputs(", successors ", stderr);
  print_addr(stderr, cdht_node_successor(a->node, 0));
  fputc(' ', stderr);
  print_addr(stderr, cdht_node_successor(a->node, 1));
  fputc('\n', stderr);
  /* Issue 11: the whole successor list, the fingers, and how far our requests travelled. */
  char line[CDHT_LINES_STATUS_MAX];
  cdht_peer list[CDHT_SUCC_MAX], fingers[64];
  size_t nlist = cdht_node_successor_list(a->node, list, CDHT_SUCC_MAX);
  if (nlist > CDHT_SUCC_MAX) nlist = CDHT_SUCC_MAX;
  cdht_lines_status_successors(line, sizeof line, list, nlist, c->successors);
  fputs(line, stderr);
  for (unsigned i = 0; i < c->bits && i < 64; i++) fingers[i] = cdht_node_finger(a->node, i);
  cdht_lines_status_fingers(line, sizeof line, fingers, c->bits, c->fingers);
  fputs(line, stderr);
  cdht_lines_status_lookups(line, sizeof line, st);
  fputs(line, stderr);
  fprintf(stderr, "pings: %llu sent, %llu answered, %llu received; requests handled: %llu; ping lines %s\n",
          (unsigned long long)st->pings_sent, (unsigned long long)st->pongs_received,
          (unsigned long long)st->pings_received, (unsigned long long)st->requests_handled,
          a->show_pings ? "on" : "off");
  fputs("dropped:", stderr);
  for (int d = 0; d < CDHT_DROP_COUNT; d++)
    fprintf(stderr, " %s %llu%s", cdht_drop_name((cdht_drop)d), (unsigned long long)st->dropped[d],
            d + 1 < CDHT_DROP_COUNT ? "," : "");
  fprintf(stderr, "\nnetwork: %llu sends failed, %llu truncated datagrams, %llu connections refused, "
                  "%llu bad streams, %llu idle closed, %llu useless closed, %llu slow closed, "
                  "%llu datagrams dropped by --drop\n",
          (unsigned long long)ns->send_failed, (unsigned long long)ns->udp_partial,
          (unsigned long long)ns->tcp_refused, (unsigned long long)ns->tcp_bad_stream,
          (unsigned long long)ns->tcp_idle, (unsigned long long)ns->tcp_useless, (unsigned long long)ns->tcp_slow,
          (unsigned long long)ns->udp_dropped);
  fprintf(stderr, "transfers: %llu refused as unexpected, %llu cut below the minimum rate\n",
          (unsigned long long)ns->xfer_refused, (unsigned long long)ns->xfer_slow);
  fprintf(stderr, "names: %zu held, %llu refused at the limit of %u\n", cdht_node_stored_count(a->node),
          (unsigned long long)st->names_refused, c->max_names);
  if (a->content) {
    const cdht_content_stats *cs = cdht_content_get_stats(a->content);
    fprintf(stderr, "awaited: %llu refused at the limit, %llu taken over when full, %llu expired\n",
            (unsigned long long)cs->awaited_refused, (unsigned long long)cs->awaited_taken,
            (unsigned long long)cs->awaited_expired);
  }
  if (a->udpfile) cdht_udpfile_status(a->udpfile, stderr);
  fprintf(stderr, "sending: %llu timed out, %llu refused at the limit\n", (unsigned long long)ns->send_timeouts,
          (unsigned long long)ns->send_refused);
  fprintf(stderr, "failure detection: %llu probes, %llu witness questions, %llu verdicts overturned\n",
          (unsigned long long)st->probes_sent, (unsigned long long)st->witness_queries,
          (unsigned long long)st->vouched);
}

static int run_command(app *a, const cdht_command *cmd, const char *what) {
  int rc = cdht_net_command(a->net, cmd);
  if (rc < 0) fprintf(stderr, "%s: %s\n", what, cdht_strerror(rc));
  return rc;
}

static void on_line(void *ctx, const char *text, size_t len, bool too_long) {
  app *a = ctx;
  if (a->done) return;
  if (too_long) {
    fprintf(stderr, "error: line longer than %d characters ignored\n", CDHT_LINE_MAX);
    return;
  }
  cdht_line line;
  cdht_line_parse(&line, text, len, a->names);
  switch (line.kind) {
  case CDHT_LINE_EMPTY: break;
  case CDHT_LINE_ERROR: fprintf(stderr, "error: %s\n", line.error); break;
  case CDHT_LINE_HELP: fputs("commands:\n", stderr); cdht_commands_help(stderr, a->names); break;
  case CDHT_LINE_STATUS: print_status(a); break;
  case CDHT_LINE_PINGS_ON: a->show_pings = true; break;
  case CDHT_LINE_PINGS_OFF: a->show_pings = false; break;
  case CDHT_LINE_REQUEST: {
    cdht_command cmd = { .kind = CDHT_CMD_REQUEST, .name = line.name };
    run_command(a, &cmd, "request");
    break;
  }
  case CDHT_LINE_STORE: {
    char err[512];
    if (cdht_content_prepare_store(a->content, &line.name, line.path, err, sizeof err) < 0) {
      char nb[CDHT_NAME_MAX + 1];
      fprintf(stderr, "error: store %s: %s\n", cdht_lines_name(nb, &line.name), err);
      break;
    }
    cdht_command cmd = { .kind = CDHT_CMD_STORE, .name = line.name };
    a->stored_here = false;
    if (run_command(a, &cmd, "store") < 0) cdht_content_cancel_store(a->content, &line.name);
    /* The 2020 storer, not responsible itself, says that it passed the store on as every other
     * peer on the way does (the node has no event for a store it sends). */
    else if (a->variant == CDHT_VARIANT_2020 && !a->stored_here) {
      cdht_event ev = { .kind = CDHT_EV_STORE_FORWARDED, .name = line.name };
      char buf[128];
      if (cdht_lines_format_as(buf, sizeof buf, &ev, a->variant, false) == CDHT_STDOUT) fputs(buf, stdout);
    }
    break;
  }
  case CDHT_LINE_QUIT: {
    cdht_command cmd = { .kind = CDHT_CMD_QUIT };
    run_command(a, &cmd, "quit");
    break;
  }
  }
}

static void on_sigterm(uv_signal_t *s, int signum) {
  (void)signum;
  app *a = s->data;
  cdht_command cmd = { .kind = CDHT_CMD_QUIT };
  if (!a->done) cdht_net_command(a->net, &cmd); /* a second SIGTERM while leaving changes nothing */
}

int main(int argc, char **argv) {
  char err[256];
  cdht_args args;
  if (cdht_args_parse(&args, argc, argv, err, sizeof err) < 0) {
    fprintf(stderr, "cdht: %s\n\n%s", err, cdht_usage);
    return 2;
  }
  if (args.action == CDHT_HELP) { fputs(cdht_usage, stdout); return 0; }
  if (args.action == CDHT_VERSION) { puts("cdht " CDHT_VERSION_STRING); return 0; }

  setvbuf(stdout, NULL, _IOLBF, 0); /* each canonical line reaches a pipe as soon as it is made */
  signal(SIGPIPE, SIG_IGN);         /* a peer that vanished mid-write is an error code, not a death */
  /* Ctrl-C is the classic kill, even for a peer started from a script in the background, where
   * a non-interactive shell hands its children SIGINT already ignored. */
  signal(SIGINT, SIG_DFL);

  if (sodium_init() < 0) {
    fprintf(stderr, "cdht: libsodium could not start\n");
    return 1;
  }
  randombytes_buf(args.cfg.secret, sizeof args.cfg.secret); /* request ids and tokens nobody can guess */
  app a = { .loop = uv_default_loop(), .show_pings = true, .variant = args.variant,
            .names = args.cfg.keys == CDHT_KEYS_BLAKE2B };
  uint64_t t0 = uv_now(a.loop); /* the 2019 logs count seconds from the program's start */
  int rc = cdht_node_new(&a.node, &args.cfg, NULL, uv_now(a.loop));
  if (rc < 0) {
    fprintf(stderr, "cdht: %s\n", cdht_strerror(rc));
    return 1;
  }
  if (args.events_path) {
    a.events = fopen(args.events_path, "a");
    if (!a.events) {
      fprintf(stderr, "cdht: open %s: %s\n", args.events_path, uv_strerror(uv_translate_sys_error(errno)));
      cdht_node_del(a.node);
      return 1;
    }
    setvbuf(a.events, NULL, _IOLBF, 0);
  }
  char data_dir[1100];
  if (args.data_dir) snprintf(data_dir, sizeof data_dir, "%s", args.data_dir);
  else snprintf(data_dir, sizeof data_dir, "cdht-data/peer-%llu", (unsigned long long)args.cfg.self);
  const char *download_dir = args.download_dir ? args.download_dir : ".";
  if (cdht_content_check_dirs(data_dir, args.data_dir != NULL, download_dir, err, sizeof err) < 0) {
    fprintf(stderr, "cdht: %s\n", err); /* now, not at the first transfer */
    if (a.events) fclose(a.events);
    cdht_node_del(a.node);
    return 1;
  }
  cdht_net_opts nopts;
  cdht_net_opts_default(&nopts);
  nopts.max_inbound = args.max_inbound;
  nopts.idle_ms = args.idle_ms;
  nopts.frame_ms = args.idle_ms / 2 ? args.idle_ms / 2 : 1;
  nopts.drop = args.drop;
  rc = cdht_net_open(&a.net, a.loop, a.node, &nopts, on_event, &a, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "cdht: %s\n", err);
    uv_run(a.loop, UV_RUN_DEFAULT); /* let the closed handles finish */
    if (a.events) fclose(a.events);
    cdht_node_del(a.node);
    uv_loop_close(a.loop);
    return 1;
  }
  if (cdht_content_open(&a.content, a.loop, a.node, a.net, data_dir, download_dir, err,
                        sizeof err) < 0) {
    fprintf(stderr, "cdht: %s\n", err);
    cdht_net_close(a.net);
    uv_run(a.loop, UV_RUN_DEFAULT);
    if (a.events) fclose(a.events);
    cdht_node_del(a.node);
    uv_loop_close(a.loop);
    return 1;
  }
  cdht_content_set_variant(a.content, args.variant);
  if (args.variant == CDHT_VARIANT_2019) {
    cdht_saw_opts so = { .mss = (uint16_t)args.mss, .drop = args.saw_drop, .rto_ms = args.rto_ms, .t0_ms = t0,
                         .seed = ((uint64_t)randombytes_random() << 32) | randombytes_random(), .log_dir = "." };
    if (cdht_udpfile_open(&a.udpfile, a.loop, a.node, a.net, a.content, &so, download_dir, err, sizeof err) < 0) {
      fprintf(stderr, "cdht: %s\n", err);
      cdht_udpfile_stop(a.udpfile);
      cdht_content_stop(a.content);
      cdht_net_close(a.net);
      uv_run(a.loop, UV_RUN_DEFAULT);
      cdht_udpfile_free(a.udpfile);
      cdht_content_close(a.content);
      if (a.events) fclose(a.events);
      cdht_node_del(a.node);
      uv_loop_close(a.loop);
      return 1;
    }
  }
  uv_signal_init(a.loop, &a.sigterm);
  a.sigterm.data = &a;
  uv_signal_start(&a.sigterm, on_sigterm, SIGTERM);
  /* SIGINT keeps its default action: Ctrl-C kills the peer abruptly, the classic way. */
  if (cdht_console_open(&a.console, a.loop, 0, a.names ? CDHT_LINE_MAX_NAMES : CDHT_LINE_MAX, on_line, &a) < 0)
    fprintf(stderr, "cdht: no console on standard input; running without one\n");

  uv_run(a.loop, UV_RUN_DEFAULT);
  cdht_content_stop(a.content); /* if the loop ended another way than shutdown_app */
  cdht_udpfile_stop(a.udpfile);
  uv_run(a.loop, UV_RUN_DEFAULT);
  cdht_udpfile_free(a.udpfile);
  if (a.unconfirmed) fprintf(stderr, "cdht: left the ring without every predecessor's confirmation\n");
  cdht_content_close(a.content);
  cdht_node_del(a.node);
  uv_loop_close(a.loop);
  if (a.events) fclose(a.events);
  return a.join_failed ? 1 : 0;
}

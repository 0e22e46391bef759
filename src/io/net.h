/* The libuv glue between one cdht_node and the network: a UDP socket and a TCP listener on
 * the peer's port, one outgoing connection per TCP message, and the node's timer.  It holds
 * no protocol logic: bytes and time go into the node, queued outputs come out. */
#ifndef CDHT_NET_H
#define CDHT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/node.h"
#include "io/xfer.h"

#define CDHT_NET_SEND_MS 2000 /* an outgoing message not delivered by then counts as unreachable */
/* bytes/s: an inbound transfer must move at least this much per idle timeout (10 s: 640 KiB), or
 * all it has left, or it is cut.  A thousandth of a loopback transfer's speed, and far above a
 * trickle meant to hold a connection slot (docs/protocol.md §7). */
#define CDHT_NET_MIN_RATE (64u << 10)

/* Limits on what a remote party can make this peer spend (docs/protocol.md, "Bounds"). */
typedef struct cdht_net_opts {
  uint32_t max_inbound;   /* simultaneous inbound TCP connections; more are refused (128) */
  uint32_t idle_ms;       /* an inbound connection silent this long is closed (10000) */
  uint32_t frame_ms;      /* a frame begun must be complete this long after (idle / 2) */
  double drop;            /* fraction of outgoing datagrams dropped on purpose, for tests (0) */
  uint32_t max_outbound;  /* outgoing TCP messages in flight at once; more are refused (256) */
} cdht_net_opts;

void cdht_net_opts_default(cdht_net_opts *o);

typedef struct cdht_net_stats {
  uint64_t udp_partial;        /* datagrams truncated by the receive buffer, dropped */
  uint64_t udp_foreign;        /* datagrams from a non-IPv4 source, dropped */
  uint64_t tcp_refused;        /* inbound connections refused at the limit */
  uint64_t tcp_bad_stream;     /* inbound connections closed for an unusable frame header */
  uint64_t tcp_idle;           /* inbound connections closed for idleness (no frame for the idle timeout) */
  uint64_t tcp_useless;        /* ... of which frames did arrive, but the node refused every one */
  uint64_t tcp_slow;           /* inbound connections closed for a frame that never completed */
  uint64_t udp_dropped;        /* outgoing datagrams dropped on purpose (--drop) */
  uint64_t send_failed;        /* outgoing messages that could not be delivered */
  uint64_t send_timeouts;      /* ... of which the peer neither accepted nor refused in time */
  uint64_t send_refused;       /* outgoing messages refused at the in-flight limit */
  uint64_t xfer_refused;       /* transfers nobody expected, refused */
  uint64_t xfer_slow;          /* inbound transfers cut for staying below CDHT_NET_MIN_RATE */
} cdht_net_stats;

/* Called for each event the node queues (|ev| borrowed for the call).  It may feed the node
 * again (e.g. a console command) only through cdht_net_command(). */
typedef void (*cdht_net_event_fn)(void *ctx, const cdht_event *ev);

typedef struct cdht_net cdht_net;

/* Binds UDP and TCP on the node's own address and starts pinging.  |node| is borrowed and
 * must outlive the net; |opts| is copied (NULL: defaults).  On failure returns a negative libuv error and writes a message that
 * names the operation ("bind 127.0.0.1:50003: address already in use") into |err|. */
int cdht_net_open(cdht_net **out, uv_loop_t *loop, cdht_node *node, const cdht_net_opts *opts,
                  cdht_net_event_fn fn, void *ctx, char *err, size_t errlen);

/* Content transfers (docs/protocol.md §9): the CLI decides where a received file goes and
 * what is printed. */
typedef struct cdht_net_xfer_hooks {
  /* A transfer header |hdr| (borrowed) arrived: write the final path into |path| and return 0
   * to take it, or a negative value to refuse (the connection is closed). */
  int (*accept)(void *ctx, const cdht_msg *hdr, char *path, size_t cap);
  /* The transfer ended: |status| 0 = complete and verified at |path|; otherwise |err| says why. */
  void (*received)(void *ctx, const cdht_msg *hdr, const char *path, int status, const char *err);
  /* A large transfer moved on (called at most every 10%). */
  void (*progress)(void *ctx, const cdht_name *name, int sending, uint64_t done, uint64_t total);
  void *ctx;
  /* The digest of |path| (borrowed), sent as |name| (borrowed) with |kind|, was computed (on the pool)
   * because none was given to cdht_net_send_file: |st| (borrowed) says for which size and mtime.
   * May be NULL. */
  void (*digested)(void *ctx, uint8_t kind, const cdht_name *name, const char *path, const cdht_xfer_stamp *st);
} cdht_net_xfer_hooks;

void cdht_net_set_xfer_hooks(cdht_net *net, const cdht_net_xfer_hooks *hooks);

/* Called when a file sent with cdht_net_send_file as |name| (borrowed) is through (status 0) or
 * failed (<0, |err|). */
typedef void (*cdht_net_sent_fn)(void *ctx, const cdht_name *name, int status, const char *err);

/* Streams the file at |path| (copied) to peer |to| over a connection of its own: a XFER header
 * (kind CDHT_XFER_PUT, _GET or _HANDOVER, |name| (copied), |seq|, |token| — the one the receiver handed out
 * for this content, 0 for a handover —, |ext|, size and BLAKE2b digest), then the bytes.
 * |digest| (with |size|) is the file's known digest, or NULL to compute it first, on libuv's
 * thread pool (the connection opens once it is known; the hooks' |digested| hears of it).
 * Nothing here blocks on the file's content.  Returns 0 (|done| follows, also for a file that
 * cannot be opened or read then), or -1 with a message in |err| (nothing started). */
int cdht_net_send_file(cdht_net *net, cdht_peer to, uint8_t kind, const cdht_name *name, uint32_t seq, uint64_t token,
                       const char *path, const char *ext, const uint8_t *digest, uint64_t size, cdht_net_sent_fn done,
                       void *ctx, char *err, size_t errlen);

/* Tells the node that handover |id| to |peer| is over (|count| files went, |failed| stayed here),
 * and sends what it causes. */
int cdht_net_handover_done(cdht_net *net, cdht_peer peer, uint32_t id, uint32_t count, uint32_t failed);

/* Tells the node that |name| was handed to |peer| and removed here (cdht_node_on_file_handed). */
int cdht_net_file_handed(cdht_net *net, const cdht_name *name, cdht_peer peer);

/* Tells the node that a handover file from |from| arrived and was verified (cdht_node_on_taken_over). */
int cdht_net_taken_over(cdht_net *net, const cdht_name *name, cdht_peer from);

/* Tells the node that the upload of our store |seq| of |name| failed, so that it forgets the
 * request now (cdht_node_on_upload_failed).  Queues nothing: callable from any callback. */
int cdht_net_upload_failed(cdht_net *net, const cdht_name *name, uint32_t seq);

/* Tells the node that stored content arrived and was verified, and sends what it causes. */
int cdht_net_stored(cdht_net *net, const cdht_name *name, cdht_peer origin, uint32_t seq);

/* Runs a console command on the node and sends what it causes.  Returns the node's result. */
int cdht_net_command(cdht_net *net, const cdht_command *cmd);

const cdht_net_stats *cdht_net_get_stats(const cdht_net *net);

/* Called with each datagram whose first byte is the hook's magic (|from|, |buf| borrowed). */
typedef void (*cdht_net_datagram_fn)(void *ctx, const cdht_addr *from, const uint8_t *buf, size_t len);

/* Hands datagrams whose first byte is |magic| (never a node message's version) to |fn| instead
 * of the node — the 2019 form's transfer segments (docs/protocol.md §10) — and receives
 * datagrams of up to |max_len| bytes (others are still dropped past 2048 bytes, as without a
 * hook).  Returns 0 or UV_ENOMEM. */
int cdht_net_set_datagram_hook(cdht_net *net, uint8_t magic, size_t max_len, cdht_net_datagram_fn fn, void *ctx);

/* Sends one datagram (|buf| borrowed) from the peer's own port to |to|, at once and without
 * --drop (the 2019 transfer simulates its own drops, and logs them).  Returns 0, or a negative
 * libuv error (counted in send_failed): the datagram is lost. */
int cdht_net_send_datagram(cdht_net *net, const cdht_addr *to, const uint8_t *buf, size_t len);

/* Closes every handle; the loop ends once they are closed.  Frees |net| then. */
void cdht_net_close(cdht_net *net);

#endif

#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "io/xfer.h"
#include "core/rng.h"

struct cdht_net {
  uv_loop_t *loop;
  cdht_node *node;            /* borrowed */
  cdht_net_opts opts;
  cdht_rng rng;               /* for --drop only */
  cdht_net_event_fn fn;
  void *ctx;
  /* One UDP socket and one listener per address family the peer has: [0] at cfg.addr, [1] at
   * cfg.alt when it has one (a peer with both reaches peers of either family). */
  uv_udp_t udp[2];
  uv_tcp_t listener[2];
  int nsock;
  uv_timer_t timer;           /* re-armed to the node's next deadline */
  int open_handles;           /* handles of this struct still open: free at zero */
  bool closing;
  unsigned inbound;           /* open inbound connections */
  unsigned outbound;          /* outgoing messages in flight */
  struct conn_link *conns;    /* every open connection, in or out, to close with the net */
  cdht_net_stats stats;
  cdht_net_xfer_hooks xfer;   /* where received content goes (cdht_net_set_xfer_hooks) */
  char udp_buf[2048];         /* one datagram at a time; any valid one is far smaller (longer: dropped as truncated) */
  /* The 2019 form's transfer segments (cdht_net_set_datagram_hook): their own receive buffer. */
  uint8_t hook_magic;
  cdht_net_datagram_fn hook;
  void *hook_ctx;
  char *hook_buf;             /* owned; NULL without a hook */
  size_t hook_cap;
  uv_tcp_t spare;             /* takes a connection we cannot allocate for, only to close it */
  bool spare_busy;            /* spare is closing: the next such connection waits for it */
  bool accept_pending[2];     /* a connection waits in that listener for the spare */
};

/* Connections of either direction sit on one list so that closing the net closes them. */
typedef struct conn_link {
  struct conn_link *prev, *next;
  void (*close)(struct conn_link *);
  bool outbound;              /* an outgoing message: allowed to finish when the net closes */
} conn_link;

static void link_add(cdht_net *net, conn_link *l) {
  l->prev = NULL;
  l->next = net->conns;
  if (net->conns) net->conns->prev = l;
  net->conns = l;
}

/* The net is freed when its own handles and every connection are closed, in whatever order
 * libuv runs the close callbacks. */
static void maybe_free(cdht_net *net) {
  if (net->closing && net->open_handles == 0 && !net->conns) {
    free(net->hook_buf);
    free(net);
  }
}

static void link_remove(cdht_net *net, conn_link *l) {
  if (l->prev) l->prev->next = l->next;
  else net->conns = l->next;
  if (l->next) l->next->prev = l->prev;
  maybe_free(net);
}

typedef struct in_conn {      /* an accepted connection: frames in, nothing out */
  conn_link link;             /* first member: a conn_link * is an in_conn * */
  uv_tcp_t tcp;
  uv_timer_t idle;
  cdht_net *net;
  cdht_addr from;
  uint64_t last_taken_ms;     /* when the node last took a frame from it (or it opened) */
  bool refused;               /* the node refused a frame since then */
  uint64_t partial_since_ms;  /* when the frame now buffered began */
  uint64_t window_ms;         /* content: when the current rate window began */
  uint64_t window_done;       /* content: bytes in by then */
  int open_handles;
  bool closing;
  cdht_framer framer;
  struct in_content *content; /* after a XFER header: the raw content goes there */
  bool paused;                /* reading stopped until the content's sink has room */
  uv_write_t verdict_req;     /* the one byte a transfer's sender waits for */
  uint8_t verdict;
  char buf[16384];
} in_conn;

/* Content arriving on an in_conn, then checked on the thread pool: it may outlive the
 * connection, and sits on the net's list so that the net outlives it. */
typedef struct in_content {
  conn_link link;             /* first member */
  cdht_net *net;
  cdht_xfer_sink *sink;       /* NULL once given up or reported */
  in_conn *conn;              /* while bytes arrive, then to send the verdict on */
  bool all_in;                /* every byte arrived: only the verdict is awaited */
  unsigned progress_step;     /* tenths reported so far */
  cdht_msg hdr;               /* the XFER header */
  char path[4096];            /* where it ends up */
} in_content;

#define OUT_QUEUE 16      /* messages to one peer waiting or in flight; more are refused */
#define OUT_IDLE_MS 5000  /* a connection to a peer unused this long is closed */

struct out_conn;
typedef struct out_msg {      /* one message on its way */
  uv_write_t req;
  struct out_conn *c;
  bool busy;                  /* queued or being written */
  size_t len;
  uint8_t buf[CDHT_MSG_MAX];
} out_msg;

/* Messages to one peer share a connection while it is in use: a hop then costs a write, not a
 * connect and a close (about 10 us instead of 35-70 us on loopback). */
typedef struct out_conn {
  conn_link link;             /* first member */
  bool closing;
  bool open;                  /* connected: queued messages are written at once */
  bool failed;                /* unreachable already reported */
  int open_handles;           /* tcp and timer */
  uv_tcp_t tcp;
  uv_timer_t timer;           /* connect deadline, then idle deadline */
  uv_connect_t connect;
  cdht_net *net;
  cdht_peer to;
  unsigned writing;           /* writes in flight */
  unsigned waiting[OUT_QUEUE]; /* FIFO of slots to write once connected */
  unsigned head, count;
  out_msg q[OUT_QUEUE];
  char rbuf[64];              /* the peer never answers here; reading only notices it closing */
} out_conn;

/* Returns the length of the sockaddr written into |ss|. */
static socklen_t to_sockaddr(const cdht_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == CDHT_AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    memcpy(in6->sin6_addr.s6_addr, a->ip, 16);
    return sizeof *in6;
  }
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  in->sin_family = AF_INET;
  in->sin_port = htons(a->port);
  in->sin_addr.s_addr = htonl(cdht_addr_ipv4(a));
  return sizeof *in;
}

static bool from_sockaddr(const struct sockaddr *sa, cdht_addr *a) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    *a = cdht_addr_v4(ntohl(in->sin_addr.s_addr), ntohs(in->sin_port));
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *a = cdht_addr_v6(in6->sin6_addr.s6_addr, ntohs(in6->sin6_port));
    return true;
  }
  return false;
}

/* Our own address of |family| with port 0, for an outgoing connection to bind to before it
 * connects: a TCP message is checked against the host of the record it carries (§2), so it must
 * leave from the address we listen on, not from the source the kernel would choose (a secondary
 * address, an IPv6 temporary one).  Returns its length, or 0 when we have none of that family. */
static socklen_t own_source(cdht_net *net, uint8_t family, struct sockaddr_storage *ss) {
  const cdht_config *cfg = cdht_node_config(net->node);
  cdht_addr a = family == cfg->addr.family ? cfg->addr : family == cfg->alt.family ? cfg->alt : (cdht_addr){ 0 };
  if (a.family == CDHT_AF_NONE) return 0;
  a.port = 0;
  return to_sockaddr(&a, ss);
}

/* Binding before connect must not pick the port itself: bind(port 0) needs a port free for
 * every destination, so connections in TIME_WAIT would use up the ephemeral range after tens of
 * thousands of them; with IP_BIND_ADDRESS_NO_PORT the port is chosen at connect, per
 * destination, as without a bind (Linux 4.2; both families). */
static void bind_no_port(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
}

/* The UDP socket of |family|, or NULL when the peer has no address of it. */
static uv_udp_t *udp_for(cdht_net *net, uint8_t family) {
  const cdht_config *cfg = cdht_node_config(net->node);
  if (family == cfg->addr.family) return &net->udp[0];
  if (net->nsock == 2 && family == cfg->alt.family) return &net->udp[1];
  return NULL;
}

/* ---- draining the node ---- */

static void send_tcp(cdht_net *net, const cdht_output *o);
static void on_timer(uv_timer_t *t);

static void drain(cdht_net *net) {
  cdht_output o;
  cdht_event ev;
  for (;;) {
    bool any = false;
    /* Events first: a line the user sees ("File 2012 is here.") is printed before the message
     * it announces leaves, so lines across peers appear in causal order. */
    while (cdht_node_next_event(net->node, &ev)) {
      any = true;
      net->fn(net->ctx, &ev); /* may queue more through cdht_net_command */
    }
    while (cdht_node_next_output(net->node, &o)) {
      any = true;
      /* Closing: no more datagrams, but a last TCP message (a departure's acknowledgement, a
       * handover's count) still goes, on a connection that may finish on its own. */
      if (net->closing && o.transport == CDHT_UDP) continue;
      if (o.transport == CDHT_UDP) {
        struct sockaddr_storage sa;
        to_sockaddr(&o.to.addr, &sa);
        if (net->opts.drop > 0 && cdht_rng_unit(&net->rng) < net->opts.drop) {
          net->stats.udp_dropped++; /* --drop: a lossy link, on purpose */
          continue;
        }
        uv_buf_t b = uv_buf_init((char *)o.buf, (unsigned)o.len);
        uv_udp_t *u = udp_for(net, o.to.addr.family); /* the node sends only where it has an address */
        /* Loss is the failure detector's business: a datagram the kernel refuses is lost. */
        if (!u || uv_udp_try_send(u, &b, 1, (const struct sockaddr *)&sa) < 0) net->stats.send_failed++;
      } else {
        send_tcp(net, &o);
      }
    }
    if (!any) break;
  }
  if (net->closing) return;
  uint64_t deadline = cdht_node_next_deadline(net->node);
  if (deadline == CDHT_NEVER) {
    uv_timer_stop(&net->timer);
  } else {
    uint64_t now = uv_now(net->loop);
    uv_timer_start(&net->timer, on_timer, deadline > now ? deadline - now : 0, 0);
  }
}

static void on_timer(uv_timer_t *t) {
  cdht_net *net = t->data;
  cdht_node_on_timer(net->node, uv_now(net->loop));
  drain(net);
}


/* ---- outgoing TCP ---- */

static void out_closed(uv_handle_t *h) {
  out_conn *c = h->data;
  if (--c->open_handles > 0) return;
  c->net->outbound--;
  link_remove(c->net, &c->link); /* may free the net, never c */
  free(c);
}

static void out_close(out_conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, out_closed);
  uv_close((uv_handle_t *)&c->timer, out_closed);
}

static void out_failed(out_conn *c) {
  if (!c->failed && !c->closing && !c->net->closing) {
    c->failed = true;
    c->net->stats.send_failed++;
    cdht_node_on_unreachable(c->net->node, uv_now(c->net->loop), c->to);
    drain(c->net);
  }
  out_close(c);
}

/* A peer that is stopped (not dead) neither accepts nor refuses: connect would wait for the
 * kernel's SYN retries, minutes, holding a descriptor.  Give up after CDHT_NET_SEND_MS. */
static void out_timeout(uv_timer_t *t) {
  out_conn *c = t->data;
  if (c->open && c->writing == 0) { /* idle: nothing to say to this peer lately */
    out_close(c);
    return;
  }
  /* Not connected in time, or a write still pending since the last one was queued: the peer
   * does not read (stopped, or its buffers full).  Its queue would fill and stay full. */
  c->net->stats.send_timeouts++;
  out_failed(c);
}

static void out_close_link(conn_link *l) { out_close((out_conn *)l); }

static void out_written(uv_write_t *w, int status) {
  out_msg *m = w->data;
  out_conn *c = m->c;
  m->busy = false;
  c->writing--;
  if (status < 0) { out_failed(c); return; }
  if (c->net->closing && c->writing == 0) out_close(c); /* the last words of a leaving peer */
}

static void out_write(out_conn *c, out_msg *m) {
  uv_buf_t b = uv_buf_init((char *)m->buf, (unsigned)m->len);
  m->req.data = m;
  if (uv_write(&m->req, (uv_stream_t *)&c->tcp, &b, 1, out_written) < 0) {
    m->busy = false;
    out_failed(c);
    return;
  }
  c->writing++;
  uv_timer_start(&c->timer, out_timeout, OUT_IDLE_MS, 0);
}

static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  out_conn *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  if (nread < 0) out_close(s->data); /* the peer closed or died: the next message reconnects */
}

static void out_connected(uv_connect_t *req, int status) {
  out_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) { out_failed(c); return; }
  c->open = true;
  uv_read_start((uv_stream_t *)&c->tcp, out_alloc, out_read);
  while (c->count > 0 && !c->closing) {
    unsigned slot = c->waiting[c->head];
    c->head = (c->head + 1) % OUT_QUEUE;
    c->count--;
    out_write(c, &c->q[slot]);
  }
  if (!c->closing && c->writing == 0) {
    if (c->net->closing) out_close(c);
    else uv_timer_start(&c->timer, out_timeout, OUT_IDLE_MS, 0);
  }
}

/* One connection per destination address (and id: a restarted peer at the same address is
 * another process, but its connection would be refused and replaced anyway). */
static out_conn *find_out(cdht_net *net, const cdht_peer *to) {
  for (conn_link *l = net->conns; l; l = l->next) {
    if (l->close != out_close_link) continue;
    out_conn *c = (out_conn *)l;
    if (!c->closing && c->to.id == to->id && cdht_addr_eq(&c->to.addr, &to->addr)) return c;
  }
  return NULL;
}

static void send_tcp(cdht_net *net, const cdht_output *o) {
  out_conn *c = find_out(net, &o->to);
  if (!c) {
    if (net->outbound >= net->opts.max_outbound) {
      /* Anyone may ask us to answer a made-up peer: what that costs is bounded too. */
      net->stats.send_refused++;
      return;
    }
    c = calloc(1, sizeof *c);
    if (!c) { net->stats.send_failed++; return; }
    c->net = net;
    c->to = o->to;
    c->link.close = out_close_link;
    c->link.outbound = true;
    link_add(net, &c->link);
    net->outbound++;
    /* The socket now, not at bind: it must not pick its port at bind (bind_no_port). */
    uv_tcp_init_ex(net->loop, &c->tcp, o->to.addr.family == CDHT_AF_INET6 ? AF_INET6 : AF_INET);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) bind_no_port(fd);
    uv_timer_init(net->loop, &c->timer);
    c->open_handles = 2;
    c->timer.data = c->tcp.data = c;
    uv_timer_start(&c->timer, out_timeout, CDHT_NET_SEND_MS, 0);
    uv_tcp_nodelay(&c->tcp, 1);
    c->connect.data = c;
    struct sockaddr_storage sa, src;
    to_sockaddr(&o->to.addr, &sa);
    if ((own_source(net, o->to.addr.family, &src) &&
         uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, o->to.addr.family == CDHT_AF_INET6 ? UV_TCP_IPV6ONLY : 0) < 0) ||
        uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sa, out_connected) < 0) {
      out_failed(c);
      return;
    }
  }
  out_msg *m = NULL;
  for (unsigned i = 0; i < OUT_QUEUE && !m; i++)
    if (!c->q[i].busy) m = &c->q[i];
  if (!m) { net->stats.send_refused++; return; } /* that peer is not keeping up */
  m->busy = true;
  m->c = c;
  m->len = o->len;
  memcpy(m->buf, o->buf, o->len);
  if (c->open) {
    out_write(c, m);
  } else {
    c->waiting[(c->head + c->count) % OUT_QUEUE] = (unsigned)(m - c->q);
    c->count++;
  }
}

/* ---- outgoing content ---- */

typedef struct out_file {     /* a file streamed to a peer: header, then the content, then close */
  conn_link link;             /* first member */
  bool closing;
  bool connected;
  int open_handles;
  uv_poll_t poll;             /* our own socket: libuv streams cannot sendfile, and a copy through
                               * user space costs about as much as the network path itself */
  uv_timer_t timer;           /* connect deadline, then a stall deadline re-armed on progress */
  cdht_net *net;
  int sock;
  int fd;
  uint64_t size, sent;
  unsigned progress_step;
  int status;                 /* 0 until something fails */
  char err[256];
  cdht_net_sent_fn done;
  void *ctx;
  size_t hdr_len, hdr_sent;
  uint8_t hdr[CDHT_MSG_MAX];
  cdht_xfer_job *hashing;     /* the digest being computed on the pool, before anything else */
  cdht_msg m;                 /* the XFER header, until it is encoded */
  cdht_peer to;
  char path[4096];
} out_file;

#define FILE_SLICE (1u << 20) /* bytes handed to one sendfile(); a few per wakeup, then others run */

static void file_finish(out_file *f) { /* reports, and forgets it */
  if (f->fd >= 0) close(f->fd);
  if (f->done) f->done(f->ctx, &f->m.name, f->status, f->err);
  f->net->outbound--;
  link_remove(f->net, &f->link);
  free(f);
}

static void file_closed(uv_handle_t *h) {
  out_file *f = h->data;
  if (--f->open_handles > 0) return;
  close(f->sock); /* after the poll handle: whatever is queued still goes out, then a FIN */
  file_finish(f);
}

static void file_close(out_file *f, int status, const char *why) {
  if (f->closing) return;
  f->closing = true;
  if (status < 0 && f->status == 0) {
    f->status = status;
    snprintf(f->err, sizeof f->err, "%s", why);
  }
  if (f->hashing) { /* no handles yet: the pool's callback reports it (file_hashed) */
    cdht_xfer_job_cancel(f->hashing);
    return;
  }
  uv_close((uv_handle_t *)&f->poll, file_closed);
  uv_close((uv_handle_t *)&f->timer, file_closed);
}

static void file_close_link(conn_link *l) { file_close((out_file *)l, -1, "the peer is shutting down"); }

static void file_timeout(uv_timer_t *t) {
  out_file *f = t->data;
  file_close(f, -1, f->connected ? "the peer stopped reading" : "the peer did not accept the connection");
}

static bool would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

static void file_verdict(uv_poll_t *p, int status, int events);

static void file_no_verdict(uv_timer_t *t) { file_close(t->data, -1, "the peer did not say whether it kept it"); }

/* Sends what the socket takes now: the rest of the header, then content straight from the page
 * cache (sendfile).  Returns false when the transfer ended, successfully or not. */
static bool file_pump(out_file *f) {
  while (f->hdr_sent < f->hdr_len) {
    ssize_t n = send(f->sock, f->hdr + f->hdr_sent, f->hdr_len - f->hdr_sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block()) return true;
    if (n < 0) { file_close(f, -1, strerror(errno)); return false; }
    f->hdr_sent += (size_t)n;
  }
  cdht_net *net = f->net;
  for (int slices = 0; slices < 8 && f->sent < f->size; slices++) {
    off_t off = (off_t)f->sent;
    uint64_t left = f->size - f->sent;
    ssize_t n = sendfile(f->sock, f->fd, &off, left < FILE_SLICE ? (size_t)left : FILE_SLICE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block()) return true;
    if (n < 0) { file_close(f, -1, strerror(errno)); return false; }
    if (n == 0) { file_close(f, -1, "the file shrank while it was sent"); return false; }
    f->sent += (uint64_t)n;
    uv_timer_again(&f->timer);
    if (net->xfer.progress && f->size >= (16u << 20) && f->sent * 10 / f->size > f->progress_step) {
      f->progress_step = (unsigned)(f->sent * 10 / f->size);
      net->xfer.progress(net->xfer.ctx, &f->m.name, 1, f->sent, f->size);
    }
  }
  if (f->sent == f->size) { /* a file that grew: what we announced; now the receiver's word */
    uv_timer_start(&f->timer, file_no_verdict, net->opts.idle_ms, 0); /* its last bytes and leaves, then the byte */
    int rc = uv_poll_start(&f->poll, UV_READABLE, file_verdict);
    if (rc < 0) file_close(f, -1, uv_strerror(rc));
    return false;
  }
  return true;
}

/* The receiver answers one byte once the content is checked and in place (docs/protocol.md §9):
 * only then is a transfer done, and a handed-over key deleted here. */
static void file_verdict(uv_poll_t *p, int status, int events) {
  out_file *f = p->data;
  (void)events;
  if (f->closing) return;
  if (status < 0) { /* a reset: the socket has the reason */
    int e = 0;
    socklen_t len = sizeof e;
    getsockopt(f->sock, SOL_SOCKET, SO_ERROR, &e, &len);
    file_close(f, -1, e ? strerror(e) : uv_strerror(status));
    return;
  }
  uint8_t verdict;
  ssize_t n = recv(f->sock, &verdict, 1, 0);
  if (n < 0 && (errno == EINTR || would_block())) return;
  if (n < 0) file_close(f, -1, strerror(errno));
  else if (n == 0) file_close(f, -1, "the peer closed the transfer without taking it");
  else if (verdict != CDHT_XFER_VERDICT_OK) file_close(f, -1, "the peer could not keep it (a digest mismatch or a write error there)");
  else file_close(f, 0, "");
}

static void file_writable(uv_poll_t *p, int status, int events) {
  out_file *f = p->data;
  (void)events;
  if (f->closing) return;
  int e = 0; /* a refused connect or a reset: libuv reports it as UV_EBADF; the socket knows */
  socklen_t len = sizeof e;
  if (getsockopt(f->sock, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
  if (e == 0 && status < 0) { file_close(f, -1, uv_strerror(status)); return; }
  if (e && e != EINPROGRESS) { file_close(f, -1, strerror(e)); return; }
  if (!f->connected) {
    if (e == EINPROGRESS) return;
    f->connected = true;
    uv_timer_start(&f->timer, file_timeout, f->net->opts.idle_ms, f->net->opts.idle_ms);
  }
  file_pump(f);
}

/* Connects and starts streaming: the digest is known and |f->fd| open.  Returns 0 (|done|
 * follows), or -1 with a message in |err| (nothing started; |f| is the caller's still). */
static int file_start(out_file *f, char *err, size_t errlen) {
  cdht_net *net = f->net;
  cdht_ssize hl = cdht_msg_encode(f->hdr, sizeof f->hdr, &f->m);
  f->sock = hl < 0 ? -1 : socket(f->to.addr.family == CDHT_AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (f->sock < 0) {
    if (hl < 0) snprintf(err, errlen, "the transfer header for %s could not be encoded", f->path);
    else snprintf(err, errlen, "socket for %s: %s", f->path, strerror(errno));
    return -1;
  }
  struct sockaddr_storage sa, src;
  socklen_t salen = to_sockaddr(&f->to.addr, &sa), srclen = own_source(net, f->to.addr.family, &src);
  bind_no_port(f->sock);
  int rc = srclen && bind(f->sock, (const struct sockaddr *)&src, srclen) < 0 ? -1
         : connect(f->sock, (const struct sockaddr *)&sa, salen);
  if ((rc < 0 && errno != EINPROGRESS) || uv_poll_init_socket(net->loop, &f->poll, f->sock) < 0) {
    snprintf(err, errlen, "connect to peer %llu: %s", (unsigned long long)f->to.id, strerror(errno));
    close(f->sock);
    f->sock = -1;
    return -1;
  }
  f->hdr_len = (size_t)hl;
  f->size = f->m.size;
  uv_timer_init(net->loop, &f->timer);
  f->poll.data = f->timer.data = f;
  f->open_handles = 2;
  uv_timer_start(&f->timer, file_timeout, CDHT_NET_SEND_MS, 0);
  rc = uv_poll_start(&f->poll, UV_WRITABLE, file_writable);
  if (rc < 0) file_close(f, -1, uv_strerror(rc)); /* |done| reports it */
  return 0;
}

/* The digest computed on the pool: now the transfer can start, from the descriptor that was
 * hashed (a file replaced meanwhile under the same name is not what the header describes). */
static void file_hashed(void *ctx, int status, int fd, const cdht_xfer_stamp *st, const char *err) {
  out_file *f = ctx;
  cdht_net *net = f->net;
  f->hashing = NULL;
  f->fd = fd;
  if (f->closing) { /* given up meanwhile (the net closes): |f->err| says why */
    file_finish(f);
    return;
  }
  char why[sizeof f->err];
  if (status == 0) {
    f->m.size = st->size;
    memcpy(f->m.digest, st->digest, CDHT_DIGEST_LEN);
    if (net->xfer.digested && !net->closing) net->xfer.digested(net->xfer.ctx, f->m.flags, &f->m.name, f->path, st);
    if (file_start(f, why, sizeof why) == 0) return;
    err = why;
  }
  f->status = -1;
  snprintf(f->err, sizeof f->err, "%s", err);
  file_finish(f);
}

int cdht_net_send_file(cdht_net *net, cdht_peer to, uint8_t kind, const cdht_name *name, uint32_t seq, uint64_t token,
                       const char *path, const char *ext, const uint8_t *digest, uint64_t size, cdht_net_sent_fn done,
                       void *ctx, char *err, size_t errlen) {
  if (net->closing || net->outbound >= net->opts.max_outbound) {
    snprintf(err, errlen, "too many transfers at once");
    return -1;
  }
  out_file *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if ((size_t)snprintf(f->path, sizeof f->path, "%s", path) >= sizeof f->path) {
    snprintf(err, errlen, "path too long: %.200s", path);
    free(f);
    return -1;
  }
  /* From our address of the receiver's family: the one it knows us by, on the host it checks. */
  const cdht_config *cfg = cdht_node_config(net->node);
  cdht_addr from_addr = to.addr.family == cfg->addr.family ? cfg->addr : cfg->alt;
  if (from_addr.family != to.addr.family) {
    snprintf(err, errlen, "peer %llu has no address of a family this peer speaks", (unsigned long long)to.id);
    free(f);
    return -1;
  }
  f->m = (cdht_msg){ .type = CDHT_MSG_XFER, .from = cdht_peer_make(cfg->self, from_addr), .seq = seq, .name = *name,
                     .flags = kind, .token = token };
  for (size_t i = 0; ext && i < sizeof f->m.ext && ext[i]; i++) f->m.ext[i] = ext[i]; /* NUL-padded, not terminated */
  f->net = net;
  f->to = to;
  f->done = done;
  f->ctx = ctx;
  f->fd = -1;
  f->sock = -1;
  f->link.close = file_close_link;
  f->link.outbound = true; /* a transfer under way may finish when we leave */
  link_add(net, &f->link);
  net->outbound++;
  int rc;
  if (digest) { /* known already: no second pass over a large file */
    memcpy(f->m.digest, digest, CDHT_DIGEST_LEN);
    f->m.size = size;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) snprintf(err, errlen, "open %s: %s", path, strerror(errno));
    rc = f->fd < 0 ? -1 : file_start(f, err, errlen);
  } else {
    /* Hashing a large file takes seconds: on the pool, never here, so that pings are answered
     * meanwhile; the connection is made once the digest is known (file_hashed). */
    rc = cdht_xfer_hash(&f->hashing, net->loop, path, file_hashed, f, err, errlen);
  }
  if (rc < 0) { /* nothing started */
    if (f->fd >= 0) close(f->fd);
    net->outbound--;
    link_remove(net, &f->link);
    free(f);
    return -1;
  }
  return 0;
}

void cdht_net_set_xfer_hooks(cdht_net *net, const cdht_net_xfer_hooks *hooks) { net->xfer = *hooks; }

int cdht_net_handover_done(cdht_net *net, cdht_peer peer, uint32_t id, uint32_t count, uint32_t failed) {
  uv_update_time(net->loop);
  int rc = cdht_node_on_handover_done(net->node, uv_now(net->loop), peer, id, count, failed);
  drain(net);
  return rc;
}

int cdht_net_file_handed(cdht_net *net, const cdht_name *name, cdht_peer peer) {
  uv_update_time(net->loop);
  int rc = cdht_node_on_file_handed(net->node, uv_now(net->loop), name, peer);
  drain(net);
  return rc;
}

int cdht_net_taken_over(cdht_net *net, const cdht_name *name, cdht_peer from) {
  uv_update_time(net->loop);
  int rc = cdht_node_on_taken_over(net->node, uv_now(net->loop), name, from);
  drain(net);
  return rc;
}

int cdht_net_upload_failed(cdht_net *net, const cdht_name *name, uint32_t seq) {
  return cdht_node_on_upload_failed(net->node, uv_now(net->loop), name, seq);
}

int cdht_net_stored(cdht_net *net, const cdht_name *name, cdht_peer origin, uint32_t seq) {
  uv_update_time(net->loop);
  int rc = cdht_node_on_stored(net->node, uv_now(net->loop), name, origin, seq);
  drain(net);
  return rc;
}

/* ---- incoming TCP ---- */

static void in_close(in_conn *c);

/* The last word on a transfer: tells the CLI (unless we are leaving) and forgets it. */
static void content_report(in_content *ct, int status, const char *err) {
  cdht_net *net = ct->net;
  bool tell = net->xfer.received && !net->closing;
  cdht_net_xfer_hooks hooks = net->xfer;
  net->inbound--; /* its slot, held since its header (start_sink) */
  link_remove(net, &ct->link); /* first: the hook may close the net */
  if (tell) hooks.received(hooks.ctx, &ct->hdr, ct->path, status, err);
  free(ct);
}

/* Gives the content up while its bytes arrive (cut off, too many, or we are leaving):
 * nothing is left under the final name. */
static void content_drop(in_content *ct, bool report, const char *why) {
  cdht_xfer_sink_abort(ct->sink);
  ct->sink = NULL;
  if (ct->conn) ct->conn->content = NULL;
  ct->conn = NULL;
  if (report) {
    content_report(ct, -1, why);
  } else {
    ct->net->inbound--;
    link_remove(ct->net, &ct->link);
    free(ct);
  }
}

static void content_close_link(conn_link *l) { content_drop((in_content *)l, false, ""); }

static void verdict_written(uv_write_t *w, int status) {
  (void)status;
  in_close(w->data); /* the sender has its answer (or is gone) */
}

static void content_done(void *ctx, int status, const char *err) { /* the sink's verdict */
  in_content *ct = ctx;
  ct->sink = NULL;
  in_conn *c = ct->conn;
  if (c) { /* tell the sender, then close */
    c->content = NULL;
    ct->conn = NULL;
    uv_read_stop((uv_stream_t *)&c->tcp); /* a failed write ends it early: what follows is not frames */
    c->paused = false;
    c->verdict = status == 0 ? CDHT_XFER_VERDICT_OK : CDHT_XFER_VERDICT_FAILED;
    c->verdict_req.data = c;
    uv_buf_t b = uv_buf_init((char *)&c->verdict, 1);
    if (c->closing || uv_write(&c->verdict_req, (uv_stream_t *)&c->tcp, &b, 1, verdict_written) < 0) in_close(c);
  }
  content_report(ct, status, err);
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void content_room(void *ctx) {
  in_content *ct = ctx;
  in_conn *c = ct->conn;
  if (c && c->paused && !c->closing) {
    c->paused = false;
    if (uv_read_start((uv_stream_t *)&c->tcp, in_alloc, in_read) < 0) in_close(c);
  }
}

static void in_handle_closed(uv_handle_t *h) {
  in_conn *c = h->data;
  if (--c->open_handles == 0) {
    if (c->content && c->content->all_in) { /* the verdict goes nowhere; the content still lands */
      c->content->conn = NULL;
    } else if (c->content) {
      content_drop(c->content, !c->net->closing, "the connection closed before the end");
    }
    c->net->inbound--;
    link_remove(c->net, &c->link);
    free(c);
  }
}

static void in_close(in_conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, in_handle_closed);
  uv_close((uv_handle_t *)&c->idle, in_handle_closed);
}

static void in_close_link(conn_link *l) { in_close((in_conn *)l); }

/* A transfer must bring CDHT_NET_MIN_RATE bytes per second, measured over windows of one idle
 * timeout, or all it has left: any bytes at all are no proof of progress (a byte every second
 * would hold the slot, a file and buffers for ever).  Returns false if it was cut. */
static bool content_moving(in_conn *c, uint64_t now) {
  cdht_net *net = c->net;
  cdht_xfer_sink *sink = c->content->sink;
  uint64_t done = cdht_xfer_sink_done(sink), total = cdht_xfer_sink_size(sink);
  if (c->paused || c->content->all_in) { /* waiting on our own pool, not on the peer: a new window */
    c->window_ms = now;
    c->window_done = done;
    return true;
  }
  if (now - c->window_ms < net->opts.idle_ms) return true;
  uint64_t need = (uint64_t)CDHT_NET_MIN_RATE * net->opts.idle_ms / 1000, left = total - c->window_done;
  if (done - c->window_done < (need < left ? need : left)) {
    net->stats.xfer_slow++;
    content_drop(c->content, true, "it came slower than the minimum rate (64 KiB/s)");
    in_close(c);
    return false;
  }
  c->window_ms = now;
  c->window_done = done;
  return true;
}

/* Runs a few times per idle timeout: a connection that carried no frame the node took for the
 * idle timeout, a transfer below the minimum rate, or one that began a frame and never finished
 * it (a byte a minute), is cut off. */
static void in_check(uv_timer_t *t) {
  in_conn *c = t->data;
  uint64_t now = uv_now(c->net->loop);
  if (c->content) {
    content_moving(c, now);
    return;
  }
  if (now - c->last_taken_ms >= c->net->opts.idle_ms) {
    c->net->stats.tcp_idle++;
    if (c->refused) c->net->stats.tcp_useless++;
    in_close(c);
  } else if (c->framer.len > 0 && now - c->partial_since_ms >= c->net->opts.frame_ms) {
    c->net->stats.tcp_slow++;
    in_close(c);
  }
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  in_conn *c = h->data;
  if (c->content && !c->content->all_in) { /* straight into a leaf buffer of the sink; none free: UV_ENOBUFS, and we pause */
    size_t len;
    uint8_t *p = cdht_xfer_sink_space(c->content->sink, &len);
    *buf = uv_buf_init((char *)p, p ? (unsigned)len : 0);
  } else {
    *buf = uv_buf_init(c->buf, sizeof c->buf);
  }
}

/* A transfer's header, judged as the node judges a frame: decoded exactly, from a peer in the
 * ring that is not us, on the connection's host (on the classic forms at its rule's address),
 * for a name under the ring's rule (§1: four digits on a CDHT_KEYS_NUMBERS ring). */
static bool header_ok(cdht_net *net, const in_conn *c, cdht_msg *h, const uint8_t *frame, size_t len) {
  const cdht_config *cfg = cdht_node_config(net->node);
  if (cdht_msg_decode(h, frame, len) != (cdht_ssize)len) return false;
  if (h->from.id > cdht_ring_mask(cfg->bits) || h->from.id == cfg->self) return false;
  if (!cdht_addr_same_host(&h->from.addr, &c->from)) return false;
  cdht_peer rule = cdht_config_peer(cfg, h->from.id);
  if (cfg->classic && !cdht_peer_eq(&h->from, &rule)) return false;
  return cdht_node_name_ok(net->node, &h->name);
}

/* A transfer header turns the rest of the connection into raw content, if the CLI expects it. */
static int start_sink(in_conn *c, const uint8_t *frame, size_t len) {
  cdht_net *net = c->net;
  char err[256];
  in_content *ct = calloc(1, sizeof *ct);
  if (!ct) return -1;
  if (!header_ok(net, c, &ct->hdr, frame, len) || !net->xfer.accept ||
      net->xfer.accept(net->xfer.ctx, &ct->hdr, ct->path, sizeof ct->path) < 0) {
    net->stats.xfer_refused++;
    free(ct);
    return -1;
  }
  ct->net = net;
  ct->link.close = content_close_link;
  link_add(net, &ct->link);
  /* Until its verdict a content holds buffers, a file and pool work, also after its connection
   * closed: it counts against the connection limit, or a sender could pile them up. */
  net->inbound++;
  if (cdht_xfer_sink_open(&ct->sink, ct->path, ct->hdr.size, ct->hdr.digest, err, sizeof err) < 0) {
    content_report(ct, -1, err);
    return -1;
  }
  cdht_xfer_sink_on_loop(ct->sink, net->loop, content_done, content_room, ct);
  ct->conn = c;
  c->content = ct;
  c->window_ms = uv_now(net->loop); /* the minimum rate applies from here (content_moving) */
  c->window_done = 0;
  return CDHT_FRAME_STOP;
}

/* Only a frame the node takes keeps a connection open: refused ones (wrong transport, malformed,
 * stale, unexpected: counted by the node) do not refresh its idle clock, so a connection that
 * sends nothing else is closed at the idle timeout whatever it sends.  Not closed at the first
 * refusal: an honest peer's kept-open connection may carry a stale answer (a duplicate reply, a
 * burst of them from a peer that was stopped), followed by frames we do want; closing then would
 * lose those (a reset) and cost the peer a reconnect.  A stale answer costs it nothing here. */
static int in_frame(void *ctx, const uint8_t *frame, size_t len) {
  in_conn *c = ctx;
  if (len > 1 && frame[1] == CDHT_MSG_XFER) return start_sink(c, frame, len);
  if (c->closing || c->net->closing) return CDHT_FRAME_STOP; /* what a frame before caused closed it */
  uint64_t now = uv_now(c->net->loop);
  if (cdht_node_on_frame(c->net->node, now, &c->from, frame, len) == 0) {
    c->last_taken_ms = now;
    c->refused = false;
  } else {
    c->refused = true;
  }
  /* Each frame's outputs and events go before the next frame: one read may hold dozens of
   * frames, and their outputs together would overflow the node's queues (CDHT_OUTQ_CAP). */
  drain(c->net);
  return 0; /* the stream stays usable */
}

/* After content bytes reached the sink (rc from it): progress, or the end of the connection.
 * Once all bytes are in, the connection closes and the sink's verdict follows (content_done). */
static void content_took(in_conn *c, int rc) {
  in_content *ct = c->content;
  cdht_net *net = c->net;
  uint64_t total = cdht_xfer_sink_size(ct->sink), done = cdht_xfer_sink_done(ct->sink);
  if (rc == 0 && net->xfer.progress && total >= (16u << 20) && done * 10 / total > ct->progress_step) {
    ct->progress_step = (unsigned)(done * 10 / total);
    net->xfer.progress(net->xfer.ctx, &ct->hdr.name, 0, done, total);
  }
  if (rc == 0) return;
  if (rc > 0) { /* the check goes on in the pool; the connection waits to carry its verdict, and
                 * reads on meanwhile: a byte past the announced size refuses the transfer (in_read) */
    ct->all_in = true;
    return;
  }
  content_drop(ct, true, "more bytes than announced, or a write error");
  in_close(c);
}

static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  in_conn *c = s->data;
  if (nread == UV_ENOBUFS && c->content) { /* every leaf buffer is being hashed: wait for room */
    c->paused = true;
    uv_read_stop(s);
    return;
  }
  if (nread == UV_EOF && c->content && c->content->all_in) { /* a sender that shut its side: the verdict still goes */
    uv_read_stop(s);
    return;
  }
  if (nread < 0) { in_close(c); return; }
  if (nread == 0) return;
  if (c->net->closing) return;
  uint64_t now = uv_now(c->net->loop);
  if (c->content && c->content->all_in) { /* past the announced size, whatever the read boundaries */
    content_drop(c->content, true, "more bytes than announced");
    in_close(c);
    return;
  }
  if (c->content) {
    content_took(c, cdht_xfer_sink_received(c->content->sink, (size_t)nread));
    return;
  }
  bool was_partial = c->framer.len > 0;
  size_t used = 0;
  int rc = cdht_framer_feed_until(&c->framer, (const uint8_t *)buf->base, (size_t)nread, in_frame, c, &used);
  if (!was_partial || c->framer.len == 0) c->partial_since_ms = now;
  drain(c->net);
  if (rc == CDHT_FRAME_STOP && c->content) /* what followed the header (an empty file ends here) */
    content_took(c, cdht_xfer_sink_put(c->content->sink, (const uint8_t *)buf->base + used, (size_t)nread - used));
  else if (rc < 0) { c->net->stats.tcp_bad_stream++; in_close(c); }
}


static void refuse_pending_on(cdht_net *net, int which);

static void spare_closed(uv_handle_t *h) {
  cdht_net *net = h->data;
  net->spare_busy = false;
  net->open_handles--;
  for (int i = 0; i < net->nsock && !net->closing; i++)
    if (net->accept_pending[i]) {
      refuse_pending_on(net, i);
      break; /* the spare is busy again: its close comes back here for the other */
    }
  maybe_free(net);
}

/* Accepts the connection waiting in the listener into the spare handle and closes it.  Until a
 * connection is accepted, libuv stops watching the listener: returning without accepting would
 * stop every later connection too. */
static void refuse_pending_on(cdht_net *net, int which) {
  if (net->spare_busy) { net->accept_pending[which] = true; return; } /* spare_closed comes back here */
  net->accept_pending[which] = false;
  net->spare_busy = true;
  net->open_handles++;
  uv_tcp_init(net->loop, &net->spare);
  net->spare.data = net;
  uv_accept((uv_stream_t *)&net->listener[which], (uv_stream_t *)&net->spare);
  uv_close((uv_handle_t *)&net->spare, spare_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  cdht_net *net = server->data;
  if (status < 0 || net->closing) return;
  in_conn *c = calloc(1, sizeof *c);
  if (!c) { /* no memory for it: refuse it, and keep listening */
    net->stats.tcp_refused++;
    refuse_pending_on(net, server == (uv_stream_t *)&net->listener[0] ? 0 : 1);
    return;
  }
  c->net = net;
  c->link.close = in_close_link;
  link_add(net, &c->link);
  cdht_framer_init(&c->framer);
  uv_tcp_init(net->loop, &c->tcp);
  uv_timer_init(net->loop, &c->idle);
  c->tcp.data = c->idle.data = c;
  c->open_handles = 2;
  net->inbound++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) { in_close(c); return; }
  /* Full: the newcomer is refused, not an older connection evicted.  Connections that do
   * nothing useful give their slot back within an idle timeout (in_check), and eviction would
   * let a burst of connections push out the honest transfers under way. */
  if (net->inbound > net->opts.max_inbound) { net->stats.tcp_refused++; in_close(c); return; }
  struct sockaddr_storage ss;
  int sslen = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) < 0 ||
      !from_sockaddr((struct sockaddr *)&ss, &c->from)) {
    in_close(c);
    return;
  }
  c->last_taken_ms = c->partial_since_ms = uv_now(net->loop);
  uint64_t every = (net->opts.frame_ms < net->opts.idle_ms ? net->opts.frame_ms : net->opts.idle_ms) / 4;
  uv_timer_start(&c->idle, in_check, every ? every : 1, every ? every : 1);
  uv_read_start((uv_stream_t *)&c->tcp, in_alloc, in_read);
}

/* ---- UDP ---- */

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  cdht_net *net = h->data;
  if (net->hook_buf) *buf = uv_buf_init(net->hook_buf, (unsigned)net->hook_cap);
  else *buf = uv_buf_init(net->udp_buf, sizeof net->udp_buf);
}

static void udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags) {
  cdht_net *net = u->data;
  if (nread < 0 || (nread == 0 && !addr) || net->closing) return;
  if (flags & UV_UDP_PARTIAL) { net->stats.udp_partial++; return; }
  cdht_addr from;
  if (!from_sockaddr(addr, &from)) { net->stats.udp_foreign++; return; }
  if (net->hook && nread > 0 && (uint8_t)buf->base[0] == net->hook_magic) {
    /* Not a node message (their first byte is the version, 1): a transfer segment, which its
     * own code checks (who may send it, for what) before the per-source rate limit could cut a
     * transfer down to a segment per 5 ms. */
    net->hook(net->hook_ctx, &from, (const uint8_t *)buf->base, (size_t)nread);
    return;
  }
  if (net->hook_buf && (size_t)nread > sizeof net->udp_buf) { net->stats.udp_partial++; return; } /* as without the hook */
  cdht_node_on_datagram(net->node, uv_now(net->loop), &from, (const uint8_t *)buf->base, (size_t)nread);
  drain(net);
}

/* ---- life cycle ---- */

static void net_handle_closed(uv_handle_t *h) {
  cdht_net *net = h->data;
  net->open_handles--;
  maybe_free(net);
}

static int fail(cdht_net *net, int rc, const char *op, const cdht_addr *a, char *err, size_t errlen) {
  char where[CDHT_ADDR_STRLEN];
  cdht_addr_format(where, sizeof where, a);
  const char *why = rc == UV_EADDRINUSE ? "address already in use" : uv_strerror(rc);
  cdht_id self = cdht_node_config(net->node)->self;
  if (rc == UV_EADDRINUSE)
    snprintf(err, errlen, "%s %s: %s (is peer %llu already running?)", op, where, why, (unsigned long long)self);
  else
    snprintf(err, errlen, "%s %s: %s", op, where, why);
  cdht_net_close(net);
  return rc;
}

void cdht_net_opts_default(cdht_net_opts *o) {
  o->max_inbound = 128;
  o->idle_ms = 10000;
  o->frame_ms = 5000;
  o->drop = 0;
  o->max_outbound = 256;
}

int cdht_net_open(cdht_net **out, uv_loop_t *loop, cdht_node *node, const cdht_net_opts *opts,
                  cdht_net_event_fn fn, void *ctx, char *err, size_t errlen) {
  *out = NULL;
  cdht_net *net = calloc(1, sizeof *net);
  if (!net) { snprintf(err, errlen, "out of memory"); return UV_ENOMEM; }
  net->loop = loop;
  net->node = node;
  if (opts) net->opts = *opts;
  else cdht_net_opts_default(&net->opts);
  cdht_rng_seed(&net->rng, uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32));
  net->fn = fn;
  net->ctx = ctx;
  const cdht_config *cfg = cdht_node_config(node);
  net->nsock = cfg->alt.family != CDHT_AF_NONE ? 2 : 1;
  uv_timer_init(loop, &net->timer);
  net->timer.data = net;
  net->open_handles = 1;
  for (int i = 0; i < net->nsock; i++) {
    uv_udp_init(loop, &net->udp[i]);
    uv_tcp_init(loop, &net->listener[i]);
    net->udp[i].data = net->listener[i].data = net;
    net->open_handles += 2;
  }
  for (int i = 0; i < net->nsock; i++) {
    const cdht_addr *self = i == 0 ? &cfg->addr : &cfg->alt;
    struct sockaddr_storage sa;
    to_sockaddr(self, &sa);
    /* IPV6_V6ONLY: an IPv6 socket is only that family's (the other has its own, or none). */
    int rc = uv_udp_bind(&net->udp[i], (const struct sockaddr *)&sa, self->family == CDHT_AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    if (rc < 0) return fail(net, rc, "bind", self, err, errlen);
    /* libuv sets SO_REUSEADDR on TCP binds, so a restarted peer is not held off by TIME_WAIT. */
    rc = uv_tcp_bind(&net->listener[i], (const struct sockaddr *)&sa, self->family == CDHT_AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (rc < 0) return fail(net, rc, "bind", self, err, errlen);
    /* A deep backlog: a full accept queue makes a connecting peer wait a whole second for the
     * SYN retry. */
    rc = uv_listen((uv_stream_t *)&net->listener[i], 1024, on_connection);
    if (rc < 0) return fail(net, rc, "listen", self, err, errlen);
    rc = uv_udp_recv_start(&net->udp[i], udp_alloc, udp_recv);
    if (rc < 0) return fail(net, rc, "recv", self, err, errlen);
  }
  *out = net;
  cdht_node_on_timer(node, uv_now(loop));
  drain(net);
  return 0;
}

int cdht_net_command(cdht_net *net, const cdht_command *cmd) {
  uv_update_time(net->loop); /* a console line may arrive long after the loop last woke */
  int rc = cdht_node_on_command(net->node, uv_now(net->loop), cmd);
  drain(net);
  return rc;
}

const cdht_net_stats *cdht_net_get_stats(const cdht_net *net) { return &net->stats; }

int cdht_net_set_datagram_hook(cdht_net *net, uint8_t magic, size_t max_len, cdht_net_datagram_fn fn, void *ctx) {
  char *b = malloc(max_len);
  if (!b) return UV_ENOMEM;
  free(net->hook_buf);
  net->hook_buf = b;
  net->hook_cap = max_len;
  net->hook_magic = magic;
  net->hook = fn;
  net->hook_ctx = ctx;
  return 0;
}

int cdht_net_send_datagram(cdht_net *net, const cdht_addr *to, const uint8_t *buf, size_t len) {
  if (net->closing) return UV_ECANCELED;
  struct sockaddr_storage sa;
  to_sockaddr(to, &sa);
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  uv_udp_t *u = udp_for(net, to->family);
  int rc = u ? uv_udp_try_send(u, &b, 1, (const struct sockaddr *)&sa) : UV_EAFNOSUPPORT;
  if (rc < 0) net->stats.send_failed++;
  return rc < 0 ? rc : 0;
}

void cdht_net_close(cdht_net *net) {
  if (!net || net->closing) return;
  net->closing = true;
  /* Inbound connections go now; outgoing messages already handed over (a departure's last
   * acknowledgement, say) may finish, each within its own timer. */
  for (conn_link *l = net->conns, *next; l; l = next) {
    next = l->next;
    if (!l->outbound) l->close(l);
    else if (l->close == out_close_link && ((out_conn *)l)->open && ((out_conn *)l)->writing == 0) l->close(l);
  }
  for (int i = 0; i < net->nsock; i++) {
    uv_close((uv_handle_t *)&net->udp[i], net_handle_closed);
    uv_close((uv_handle_t *)&net->listener[i], net_handle_closed);
  }
  uv_close((uv_handle_t *)&net->timer, net_handle_closed);
}

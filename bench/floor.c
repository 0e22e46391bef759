/* cdht-floor: what loopback itself costs, the floor under every cdht figure.
 *
 * Measures, between two processes on 127.0.0.1 (forked children are the far sides):
 *   - a UDP round trip: a 16-byte datagram out and echoed back (what one ping costs);
 *   - a TCP hop: connect, send a 29-byte message (a FILE_REQ frame), close, timed from before
 *     connect() in the sender to the moment the receiver has read the whole message.  That is
 *     what cdht pays per forwarded request: src/io/net.c opens one connection per message;
 *   - the same message on a connection kept open (what a hop could cost with persistent
 *     connections to the neighbours).
 * The three are interleaved (one of each, COUNT times), so a machine busy with something else
 * weighs on all three alike.  Both ends read CLOCK_MONOTONIC, which is system-wide, so a
 * receiver's timestamp compares with the sender's.
 *
 * Prints one JSON object on stdout (microseconds):
 *   {"count":10000,"udp_rtt_us":{"median":..,"p99":..,"min":..,"max":..},"tcp_hop_us":{...},
 *    "tcp_open_hop_us":{...}}
 * Usage: cdht-floor [--count N] [--near IP --far IP --far-netns PATH]
 *   (default 10000 of each; 100 unrecorded warm-ups first).  With --far-netns the far sides live
 *   in that network namespace, bound to the --far address, and the near side binds --near (run
 *   it inside the near host): the floor between two hosts of bench/hosts (veth pairs and a
 *   bridge), not loopback.  Entering a namespace needs root.
 * Exit status: 0, 1 if a socket call fails (the message names it), 2 for a usage error. */
#define _GNU_SOURCE /* setns */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 100
#define TCP_MSG_LEN 29 /* a FILE_REQ frame: 4-byte header + 25-byte body (docs/protocol.md §2) */
#define UDP_MSG_LEN 16

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "cdht-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Reads exactly |len| bytes; returns 0, or -1 at end of stream or on an error. */
static int read_full(int fd, void *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = read(fd, (char *)buf + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    off += (size_t)n;
  }
  return 0;
}

/* Where the two sides live: loopback by default, else two hosts (see the usage above). */
static struct in_addr near_ip = { 0 }, far_ip = { 0 };
static int near_ns = -1, far_ns = -1; /* namespace descriptors, -1: stay where we are */

/* Creates the far sides' sockets in the far namespace: a socket belongs to the namespace it
 * was made in, whichever the process is in later. */
static void to_far(void) {
  if (far_ns >= 0 && setns(far_ns, CLONE_NEWNET) < 0) die("setns to --far-netns");
}
static void to_near(void) {
  if (near_ns >= 0 && setns(near_ns, CLONE_NEWNET) < 0) die("setns back");
}

static int bound_socket_at(int type, struct sockaddr_in *addr, struct in_addr ip) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) die("socket");
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr = ip;
  socklen_t len = sizeof *addr;
  if (bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0) die("bind");
  if (getsockname(fd, (struct sockaddr *)addr, &len) < 0) die("getsockname");
  return fd;
}

static int bound_socket(int type, struct sockaddr_in *addr) { return bound_socket_at(type, addr, near_ip); }
static int far_socket(int type, struct sockaddr_in *addr) {
  to_far();
  int fd = bound_socket_at(type, addr, far_ip);
  to_near();
  return fd;
}

static int tcp_connect(const struct sockaddr_in *to) {
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket tcp");
  /* Bound to the near address (between hosts: the near host's); its port is chosen at
   * connect, per destination, or 10,000 hops in TIME_WAIT would use up the ephemeral range. */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = near_ip };
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("bind tcp");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0) die("connect tcp");
  return fd;
}

static void send_stamp(int fd, uint64_t t) {
  if (write(fd, &t, sizeof t) != (ssize_t)sizeof t) _exit(1);
}

/* The three far sides.  Each is a child process; the parent keeps what it needs to reach it. */
typedef struct floor_ends {
  pid_t udp_pid, tcp_pid, open_pid;
  int udp_fd;                 /* connected to the echo child */
  struct sockaddr_in tcp_srv; /* the child accepting one connection per message */
  int tcp_ts;                 /* its timestamps: when each message was read in full (ns) */
  int open_fd;                /* the connection kept open */
  int open_ts;                /* its child's timestamps */
} floor_ends;

static void start_ends(floor_ends *e, size_t total) {
  struct sockaddr_in srv, me;
  int sfd = far_socket(SOCK_DGRAM, &srv);
  if ((e->udp_pid = fork()) < 0) die("fork");
  if (e->udp_pid == 0) { /* echo until the parent's "stop" datagram */
    char buf[64];
    struct sockaddr_in from;
    for (;;) {
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(sfd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (n == 4 && memcmp(buf, "stop", 4) == 0)) _exit(0);
      sendto(sfd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
  }
  close(sfd);
  e->udp_fd = bound_socket(SOCK_DGRAM, &me);
  if (connect(e->udp_fd, (struct sockaddr *)&srv, sizeof srv) < 0) die("connect udp");

  int lfd = far_socket(SOCK_STREAM, &e->tcp_srv), ts[2];
  if (listen(lfd, 128) < 0) die("listen");
  if (pipe(ts) < 0) die("pipe");
  if ((e->tcp_pid = fork()) < 0) die("fork");
  if (e->tcp_pid == 0) {
    close(ts[0]);
    close(e->udp_fd);
    char buf[TCP_MSG_LEN];
    for (size_t i = 0; i < total; i++) {
      int c;
      do c = accept(lfd, NULL, NULL); while (c < 0 && errno == EINTR);
      if (c < 0) _exit(1);
      send_stamp(ts[1], read_full(c, buf, sizeof buf) == 0 ? now_ns() : 0);
      char rest;
      while (read(c, &rest, 1) > 0) {} /* the sender's close */
      close(c);
    }
    _exit(0);
  }
  close(ts[1]);
  close(lfd);
  e->tcp_ts = ts[0];

  struct sockaddr_in osrv;
  lfd = far_socket(SOCK_STREAM, &osrv);
  if (listen(lfd, 1) < 0) die("listen");
  if (pipe(ts) < 0) die("pipe");
  if ((e->open_pid = fork()) < 0) die("fork");
  if (e->open_pid == 0) {
    close(ts[0]);
    close(e->udp_fd);
    close(e->tcp_ts);
    int c;
    do c = accept(lfd, NULL, NULL); while (c < 0 && errno == EINTR);
    if (c < 0) _exit(1);
    char buf[TCP_MSG_LEN];
    while (read_full(c, buf, sizeof buf) == 0) send_stamp(ts[1], now_ns());
    _exit(0);
  }
  close(ts[1]);
  close(lfd);
  e->open_ts = ts[0];
  e->open_fd = tcp_connect(&osrv);
}

static void stop_ends(floor_ends *e) {
  send(e->udp_fd, "stop", 4, 0);
  close(e->udp_fd);
  close(e->open_fd);
  close(e->tcp_ts);
  close(e->open_ts);
  waitpid(e->udp_pid, NULL, 0);
  waitpid(e->tcp_pid, NULL, 0);
  waitpid(e->open_pid, NULL, 0);
}

static uint64_t udp_rtt(floor_ends *e) {
  char msg[UDP_MSG_LEN] = "cdht-floor-ping", buf[64];
  uint64_t t0 = now_ns();
  if (send(e->udp_fd, msg, sizeof msg, 0) != (ssize_t)sizeof msg) die("send udp");
  ssize_t n;
  do n = recv(e->udp_fd, buf, sizeof buf, 0); while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof msg) die("recv udp");
  return now_ns() - t0;
}

static uint64_t tcp_hop(floor_ends *e) {
  char msg[TCP_MSG_LEN];
  memset(msg, 'r', sizeof msg);
  uint64_t t0 = now_ns(), t1;
  int fd = tcp_connect(&e->tcp_srv);
  if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg) die("write tcp");
  close(fd);
  if (read_full(e->tcp_ts, &t1, sizeof t1) < 0 || t1 == 0) die("receiver");
  return t1 - t0;
}

static uint64_t tcp_open_hop(floor_ends *e) {
  char msg[TCP_MSG_LEN];
  memset(msg, 'o', sizeof msg);
  uint64_t t0 = now_ns(), t1;
  if (write(e->open_fd, msg, sizeof msg) != (ssize_t)sizeof msg) die("write tcp");
  if (read_full(e->open_ts, &t1, sizeof t1) < 0) die("receiver");
  return t1 - t0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorts |v| and prints "name":{"median":..,"p99":..,"min":..,"max":..} in microseconds. */
static void print_stats(const char *name, uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
  size_t p99 = (n * 99 + 99) / 100; /* nearest rank: the ceil(0.99 n)-th smallest */
  double med = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
  printf("\"%s\":{\"median\":%.2f,\"p99\":%.2f,\"min\":%.2f,\"max\":%.2f}", name, med / 1000,
         (double)v[p99 - 1] / 1000, (double)v[0] / 1000, (double)v[n - 1] / 1000);
}

int main(int argc, char **argv) {
  size_t count = 10000;
  near_ip.s_addr = far_ip.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "--near") == 0 || strcmp(argv[i], "--far") == 0) && i + 1 < argc) {
      struct in_addr *ip = argv[i][2] == 'n' ? &near_ip : &far_ip;
      if (inet_pton(AF_INET, argv[++i], ip) != 1) { fprintf(stderr, "cdht-floor: bad address\n"); return 2; }
    } else if (strcmp(argv[i], "--far-netns") == 0 && i + 1 < argc) {
      far_ns = open(argv[++i], O_RDONLY | O_CLOEXEC);
      near_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      if (far_ns < 0 || near_ns < 0) die("open the network namespaces");
    } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 10000000) { fprintf(stderr, "cdht-floor: bad --count\n"); return 2; }
      count = (size_t)v;
    } else {
      fprintf(stderr, "usage: cdht-floor [--count N] [--near IP --far IP --far-netns PATH]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  uint64_t *udp = calloc(count, sizeof *udp), *tcp = calloc(count, sizeof *tcp),
           *open = calloc(count, sizeof *open);
  if (!udp || !tcp || !open) { fprintf(stderr, "cdht-floor: out of memory\n"); return 1; }
  floor_ends e;
  start_ends(&e, count + WARMUP);
  for (size_t i = 0; i < count + WARMUP; i++) {
    uint64_t u = udp_rtt(&e), t = tcp_hop(&e), o = tcp_open_hop(&e);
    if (i >= WARMUP) {
      udp[i - WARMUP] = u;
      tcp[i - WARMUP] = t;
      open[i - WARMUP] = o;
    }
  }
  stop_ends(&e);
  printf("{\"count\":%zu,", count);
  print_stats("udp_rtt_us", udp, count);
  putchar(',');
  print_stats("tcp_hop_us", tcp, count);
  putchar(',');
  print_stats("tcp_open_hop_us", open, count);
  puts("}");
  free(udp);
  free(tcp);
  free(open);
  return 0;
}

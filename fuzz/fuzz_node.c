/* Fuzzes the node state machine (src/core/node.c and its modules) with a script of steps.
 *
 * The node is peer 4 of the ring 1 3 4 5 8 (successors 5 and 8) with the default config and a
 * 1000 ms ping interval, created at time 0 with an allocator that can be told to fail.  The
 * input is a sequence of steps; each starts with an op byte (op % 8) and a step cut short
 * reads zeros:
 *   0 DGRAM k L payload   a UDP datagram from peer PEER(k); k & 8: from the wrong address
 *                         (another host); k & 16: the built message's records are off the
 *                         classic rule (another port), as a spoofer's would be
 *   1 FRAME k L payload   a TCP frame claiming to be from peer PEER(k); k & 8 and k & 16 as
 *                         for DGRAM (a frame's source port is ephemeral: only the host counts)
 *                         payload is L & 127 bytes: sent as they are, or, when L & 128, a
 *                         recipe for a valid wire v2 message (see build) so the fuzzer gets
 *                         past the codec and reaches deep states
 *   2 ADVANCE d16         d ms pass; the timer fires at every deadline on the way, as in io/
 *   3 SLEEP d16           d ms pass at once (a suspended process); the timer fires once
 *   4 REQUEST f16         console `request NNNN`: f % 10000, or 10000.. for f >= 0xfff0
 *   5 QUIT                console `quit`
 *   6 UNREACHABLE k       a TCP message to PEER(k) could not be delivered
 *   7 FAILALLOC           the next allocation fails: as the first step, cdht_node_new fails
 * d16 and f16 are big-endian.  After every step all outputs and events are drained and
 * checked, and so are the node's invariants (see check_node); then, as in io/, the timer fires
 * if the step made something due at once.
 *
 * fuzz_node_join.c builds this with FUZZ_NODE_JOIN: the node is then peer 6 joining that ring
 * through peer 5 (`cdht 6 --join 5`), so the steps also reach the joining state, and the
 * answers to a join request.  fuzz_node_lists.c builds it with FUZZ_NODE_LISTS: peer 4 with a
 * successor list of 4 and fingers (lists of four in the built messages, finger lookups answered
 * by id as the join is).
 *
 * Built with -DCDHT_FUZZ_TRACE, it prints every output and event line with the time, to see
 * what a corpus file does:  cc -DCDHT_FUZZ_TRACE -Iinclude -Isrc -Isrc/core fuzz/fuzz_node.c
 * fuzz/replay.c src/core/[a-z]*.c src/cli/lines.c -o trace && ./trace FILE */
#include <stdbool.h>
#include <string.h>

#include "cdht/err.h"
#include "cli/lines.h"
#include "core/wire/msg.h"
#include "core/node.h"
#include "fuzz.h"

enum { OP_DGRAM, OP_FRAME, OP_ADVANCE, OP_SLEEP, OP_REQUEST, OP_QUIT, OP_UNREACHABLE, OP_FAILALLOC };

/* Who a step's peer byte names: the other ring members 5 8 3 1, ourselves, 0 and 6 (not in the
 * ring, so they can join: 0 wraps round, 6 falls between 5 and 8), and 256 (outside the ring).
 * Joining as 6, ring member 4 (5's predecessor) takes 6's place. */
#ifdef FUZZ_NODE_JOIN
#define SELF 6
#define JOIN_VIA 5
static const cdht_id peers[8] = { 5, 8, 3, 1, SELF, 0, 4, 256 };
#else
#define SELF 4
static const cdht_id peers[8] = { 5, 8, 3, 1, SELF, 0, 6, 256 };
#endif
#define PEER(k) peers[(k) & 7]

/* ---- the allocator ---- */

typedef struct pool { bool fail_next; size_t live; } pool;

static void *pool_alloc(void *ctx, size_t size) {
  pool *p = ctx;
  if (p->fail_next) { p->fail_next = false; return NULL; }
  void *q = malloc(size);
  if (q) p->live++;
  return q;
}

static void pool_free(void *ctx, void *q) {
  pool *p = ctx;
  if (!q) return;
  FUZZ_CHECK(p->live > 0);
  p->live--;
  free(q);
}

/* ---- the script ---- */

typedef struct script { const uint8_t *p; size_t len, off; } script;

static uint8_t u8(script *s) { return s->off < s->len ? s->p[s->off++] : 0; }
static uint16_t u16(script *s) { uint16_t hi = u8(s); return (uint16_t)(hi << 8 | u8(s)); }

typedef struct fuzz {
  cdht_node *node;
  const cdht_config *cfg;
  uint64_t now;
  bool in_ring;  /* false while joining: from creation to CDHT_EV_JOIN_ACCEPTED */
} fuzz;

/* The classic record of peer |id| (127.0.0.1:50000+id); |off| moves it off the rule. */
static cdht_peer record(const cdht_config *cfg, cdht_id id, bool off) {
  cdht_peer p = cdht_config_peer(cfg, id);
  if (off) p.addr.port ^= 0x400;
  return p;
}

/* Builds a valid message from recipe bytes |r| (|n| of them; missing ones read 0) as if sent
 * by |from|, its records classic unless |off|.  Fields the type does not carry are ignored by
 * the encoder.  Numbers are small or drawn from the peer table, so that they can match what the
 * node expects; b[7]'s upper bits pick a join's ring parameters (mostly the node's own: 8 bits,
 * four-digit keys) and a refusal's reason. */
/* The id of the node's last JOIN_REQ (unguessable, §2): an answer numbered 1 gets it, as the
 * peer that admits the joiner would, so the steps still reach the states after a join. */
static uint32_t join_seq = 1;
/* Likewise the id of the node's last finger lookup (FIND_REQ): an answer numbered 1 gets it. */
static uint32_t find_seq = 1;

static size_t build(uint8_t *dst, size_t cap, const cdht_config *cfg, cdht_id from, bool off, const uint8_t *r,
                    size_t n) {
  uint8_t b[12] = { 0 };
  memcpy(b, r, n < sizeof b ? n : sizeof b);
  cdht_msg m = {
    .type = (uint8_t)(1 + b[0] % (CDHT_MSG_COUNT - 1)),
    .from = record(cfg, from, off),
    .seq = b[1],                /* pings, requests and queries are numbered from 0 or 1 */
    .role = (uint8_t)(CDHT_ROLE_FIRST + (b[2] & 1)),
    .origin = record(cfg, PEER(b[5]), off),
    .hops = b[6],
    .flags = (uint8_t)(b[7] & CDHT_REQ_FINAL),
#ifdef FUZZ_NODE_LISTS
    .nsucc = (uint8_t)(1 + b[8] % 4),
    .succ = { record(cfg, PEER(b[8] >> 2), off), record(cfg, PEER(b[9]), off), record(cfg, PEER(b[9] >> 3), off),
              record(cfg, PEER(b[8] >> 5), off) },
#else
    .nsucc = 2,
    .succ = { record(cfg, PEER(b[8]), off), record(cfg, PEER(b[9]), off) },
#endif
    .about = record(cfg, PEER(b[10]), off),
    .age_ms = b[11] == 255 ? CDHT_AGE_NEVER : b[11] * 100u, /* 0..25.4 s, either side of 3 s */
    .bits = (b[7] & 0x60) == 0x60 ? 16 : 8,
    .keys = (b[7] & 0x18) == 0x18 ? CDHT_KEYS_BLAKE2B : CDHT_KEYS_NUMBERS,
    .reason = (b[7] & 0x80) ? CDHT_REJECT_PARAMS : CDHT_REJECT_TAKEN,
    /* a peer's id, or one of our fingers' points (4 + 2^i) */
    .key = (b[10] & 0x80) ? (SELF + (1u << (b[10] & 7))) & 255 : PEER(b[10]),
  };
  if ((m.type == CDHT_MSG_JOIN_ACCEPT || m.type == CDHT_MSG_JOIN_REJECT) && m.seq == 1) m.seq = join_seq;
  if (m.type == CDHT_MSG_FIND_RESP && m.seq == 1) m.seq = find_seq;
  /* Four digits, or from 60000 up a name that is no number (a classic ring refuses it). */
  char name[16];
  unsigned v = (unsigned)b[3] << 8 | b[4];
  int nlen = v >= 60000 ? snprintf(name, sizeof name, "n%u", v - 60000) : snprintf(name, sizeof name, "%04u", v % 10000);
  FUZZ_CHECK(cdht_name_set(&m.name, name, (size_t)nlen) == 0);
  cdht_ssize len = cdht_msg_encode(dst, cap, &m);
  FUZZ_CHECK(len > 0);
  return (size_t)len;
}

static uint64_t total_drops(const cdht_node *n) {
  const cdht_stats *st = cdht_node_stats(n);
  uint64_t t = 0;
  for (int i = 0; i < CDHT_DROP_COUNT; i++) t += st->dropped[i];
  return t;
}

#ifdef CDHT_FUZZ_TRACE
#define TRACE(...) printf(__VA_ARGS__)
#else
#define TRACE(...) ((void)0)
#endif

static bool valid(cdht_id id) { return id < 256; }

/* A known peer of the ring: its id inside it and its record the classic one. */
static bool ring_peer(const cdht_config *cfg, cdht_peer p) {
  cdht_peer want = cdht_config_peer(cfg, p.id);
  return cdht_peer_known(&p) && valid(p.id) && cdht_peer_eq(&p, &want);
}

/* An input was taken (0) or refused with a reason that is counted; never a fatal code. */
static void check_input_rc(const fuzz *f, int rc, uint64_t drops_before) {
  FUZZ_CHECK(rc == 0 || rc == CDHT_ANSWERED || (rc <= CDHT_ERR_MALFORMED && rc >= CDHT_ERR_INVAL));
  if (rc < 0 && rc != CDHT_ERR_LEAVING) FUZZ_CHECK(total_drops(f->node) > drops_before);
}

static void drain(fuzz *f) {
  cdht_output o;
  while (cdht_node_next_output(f->node, &o)) {
    FUZZ_CHECK(o.len <= CDHT_MSG_MAX);
    cdht_msg m;
    FUZZ_CHECK(cdht_msg_decode(&m, o.buf, o.len) == (cdht_ssize)o.len);
    bool udp = m.type == CDHT_MSG_PING || m.type == CDHT_MSG_PONG;
    if (m.type == CDHT_MSG_JOIN_REQ && cdht_peer_eq(&m.origin, &(cdht_peer){ SELF, m.from.addr })) join_seq = m.seq;
    if (m.type == CDHT_MSG_FIND_REQ && m.origin.id == SELF) find_seq = m.seq;
    TRACE("%6llu  -> %llu %s %s seq %u\n", (unsigned long long)f->now, (unsigned long long)o.to.id,
          udp ? "udp" : "tcp", cdht_msg_name(m.type), (unsigned)m.seq);
    /* Only to peers of the ring at their classic records, never to ourselves, always from our
     * own record; every record it names is a classic one too. */
    FUZZ_CHECK(o.to.id != SELF && ring_peer(f->cfg, o.to));
    cdht_peer self = cdht_config_self(f->cfg);
    FUZZ_CHECK(cdht_peer_eq(&m.from, &self));
    FUZZ_CHECK(!cdht_peer_known(&m.origin) || ring_peer(f->cfg, m.origin));
    FUZZ_CHECK(!cdht_peer_known(&m.about) || ring_peer(f->cfg, m.about));
    for (unsigned i = 0; i < m.nsucc; i++) FUZZ_CHECK(!cdht_peer_known(&m.succ[i]) || ring_peer(f->cfg, m.succ[i]));
    FUZZ_CHECK(o.transport == (udp ? CDHT_UDP : CDHT_TCP));
  }
  cdht_event ev;
  while (cdht_node_next_event(f->node, &ev)) {
    FUZZ_CHECK(ev.kind >= CDHT_EV_PING_REQUEST && ev.kind < CDHT_EV_COUNT);
    if (ev.kind == CDHT_EV_JOIN_ACCEPTED) {
      FUZZ_CHECK(!f->in_ring);
      f->in_ring = true;
    }
    FUZZ_CHECK(ev.name.len == 0 || cdht_node_name_ok(f->node, &ev.name));
    /* Events name peers of our ring, except a refusal for other ring parameters: it comes from
     * a ring of another size, whose ids may be past ours (node.c, check_records). */
    if (!(ev.kind == CDHT_EV_JOIN_FAILED && ev.reason == CDHT_JOIN_PARAMS))
      FUZZ_CHECK(!cdht_peer_known(&ev.peer) || valid(ev.peer.id));
    char line[512];
    cdht_stream st = cdht_lines_format(line, sizeof line, &ev);
    size_t n = strlen(line);
    FUZZ_CHECK(n < sizeof line - 1); /* never cut */
    if (st == CDHT_SILENT) FUZZ_CHECK(n == 0);
    else FUZZ_CHECK((st == CDHT_STDOUT || st == CDHT_STDERR) && n > 0 && line[n - 1] == '\n');
    TRACE("%6llu  %s", (unsigned long long)f->now, n ? line : "(left)\n");
  }
}

/* After the timer has run at f->now, nothing is due any more (|due_ok| false); after an input,
 * something may be due at once (a witness found unreachable is judged at the next wake-up),
 * but never in the past. */
static void check_node(const fuzz *f, bool due_ok) {
  const cdht_node *n = f->node;
  uint64_t dl = cdht_node_next_deadline(n);
  FUZZ_CHECK(dl == CDHT_NEVER || dl > f->now || (due_ok && dl == f->now));
  if (cdht_node_has_left(n)) FUZZ_CHECK(dl == CDHT_NEVER);
  cdht_peer s0 = cdht_node_successor(n, 0), s1 = cdht_node_successor(n, 1);
  if (!f->in_ring) { /* joining, or the join failed: no successors yet */
    FUZZ_CHECK(!cdht_peer_known(&s0) && !cdht_peer_known(&s1));
    return;
  }
  FUZZ_CHECK(ring_peer(f->cfg, s0));              /* only the second slot may be pending */
  FUZZ_CHECK(!cdht_peer_known(&s1) || ring_peer(f->cfg, s1));
  FUZZ_CHECK(s0.id != SELF || (cdht_peer_known(&s1) && s1.id == SELF)); /* first successor self: a ring of one */
  FUZZ_CHECK(!cdht_peer_known(&s1) || s0.id != s1.id || s0.id == SELF);
  for (int i = 0; i < 2; i++) {
    cdht_peer p = cdht_node_predecessor(n, i);
    FUZZ_CHECK(!cdht_peer_known(&p) || (ring_peer(f->cfg, p) && p.id != SELF));
  }
}

/* Fires the timer at |now| and checks what it did. */
static void fire(fuzz *f) {
  FUZZ_CHECK(cdht_node_on_timer(f->node, f->now) == 0);
  drain(f);
  check_node(f, false);
}

static void deliver(fuzz *f, script *s, bool udp) {
  uint8_t k = u8(s), l = u8(s);
  size_t n = l & 127u;
  if (n > s->len - s->off) n = s->len - s->off;
  const uint8_t *payload = s->p + s->off;
  s->off += n;
  uint8_t msg[CDHT_MSG_MAX];
  size_t len = n;
  if (l & 128u) {
    len = build(msg, sizeof msg, f->cfg, PEER(k), (k & 16) != 0, payload, n);
    payload = msg;
  } else { /* raw bytes: a well-formed answer to a join numbered 1 gets the request's id too */
    cdht_msg m;
    if (cdht_msg_decode(&m, payload, n) == (cdht_ssize)n && m.seq == 1 &&
        (m.type == CDHT_MSG_JOIN_ACCEPT || m.type == CDHT_MSG_JOIN_REJECT)) {
      m.seq = join_seq;
      cdht_ssize e = cdht_msg_encode(msg, sizeof msg, &m);
      FUZZ_CHECK(e == (cdht_ssize)n); /* the codec is canonical: same length */
      payload = msg;
    }
  }
  uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees an over-read */
  FUZZ_CHECK(copy != NULL);
  if (len) memcpy(copy, payload, len);
  uint64_t drops = total_drops(f->node);
  int rc;
  /* The source: the peer's own address (the record's, off the rule or not, as a spoofer on
   * the peer's host could send from), a TCP connection from an ephemeral port of it; k & 8:
   * another host. */
  cdht_addr from = record(f->cfg, PEER(k), (k & 16) != 0).addr;
  if (k & 8) from.ip[3] ^= 1; /* someone else claiming to be that peer */
  if (udp) {
    rc = cdht_node_on_datagram(f->node, f->now, &from, copy, len);
  } else {
    from.port = 40001;
    rc = cdht_node_on_frame(f->node, f->now, &from, copy, len);
  }
  free(copy);
  TRACE("%6llu  <- %llu %s %zu bytes: %d\n", (unsigned long long)f->now, (unsigned long long)PEER(k),
        udp ? "udp" : "tcp", len, rc);
  check_input_rc(f, rc, drops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  script s = { data, size, 0 };
  pool p = { false, 0 };
  if (size > 0 && data[0] % 8 == OP_FAILALLOC) { p.fail_next = true; s.off = 1; }
  cdht_mem mem = { pool_alloc, pool_free, &p };
  cdht_config cfg;
  cdht_config_default(&cfg);
#ifdef FUZZ_NODE_JOIN
  cdht_config_classic(&cfg, SELF, SELF, SELF); /* as src/cli/args.c sets them for --join */
  cfg.join_via = cdht_config_addr(&cfg, JOIN_VIA);
  fuzz f = { NULL, NULL, 0, false };
#else
  cdht_config_classic(&cfg, SELF, 5, 8);
  fuzz f = { NULL, NULL, 0, true };
#endif
#ifdef FUZZ_NODE_LISTS
  cfg.successors = 4;
  cfg.fingers = true;
  cfg.fix_fingers_ms = 500;
#endif
  cfg.ping_interval_ms = 1000;
  join_seq = find_seq = 1;
  int rc = cdht_node_new(&f.node, &cfg, &mem, f.now);
  if (rc < 0) {
    FUZZ_CHECK(rc == CDHT_ERR_NOMEM && p.fail_next == false && f.node == NULL);
    return 0;
  }
  f.cfg = cdht_node_config(f.node);
  fire(&f); /* a new node wants the timer at once: it pings straight away */

  while (s.off < s.len) {
    uint8_t op = u8(&s) % 8;
    switch (op) {
    case OP_DGRAM: deliver(&f, &s, true); break;
    case OP_FRAME: deliver(&f, &s, false); break;
    case OP_ADVANCE: {
      uint64_t target = f.now + u16(&s);
      for (uint64_t dl; (dl = cdht_node_next_deadline(f.node)) <= target;) {
        f.now = dl; /* > f.now: check_node said so */
        fire(&f);
      }
      f.now = target;
      break;
    }
    case OP_SLEEP:
      f.now += u16(&s);
      fire(&f);
      break;
    case OP_REQUEST: {
      uint16_t v = u16(&s);
      /* Four digits, or past 0xfff0 a name no classic ring takes ("x0" .. "xf"). */
      cdht_command cmd = { .kind = CDHT_CMD_REQUEST };
      bool bad = v >= 0xfff0;
      if (bad) cdht_name_set(&cmd.name, (char[]){ 'x', (char)('0' + (v - 0xfff0)) }, 2);
      else cdht_name_of_number(&cmd.name, v % 10000);
      bool joining = !f.in_ring && !cdht_node_has_left(f.node);
      rc = cdht_node_on_command(f.node, f.now, &cmd);
      if (joining) FUZZ_CHECK(rc == CDHT_ERR_UNEXPECTED);
      else if (bad) FUZZ_CHECK(rc == CDHT_ERR_INVAL || rc == CDHT_ERR_LEAVING);
      else FUZZ_CHECK(rc == 0 || rc == CDHT_ERR_BUSY || rc == CDHT_ERR_LEAVING || rc == CDHT_ERR_NOMEM);
      break;
    }
    case OP_QUIT: {
      cdht_command cmd = { .kind = CDHT_CMD_QUIT };
      bool joining = !f.in_ring && !cdht_node_has_left(f.node);
      rc = cdht_node_on_command(f.node, f.now, &cmd);
      if (joining) FUZZ_CHECK(rc == 0 && cdht_node_has_left(f.node)); /* not in yet: gone at once */
      else FUZZ_CHECK(rc == 0 || rc == CDHT_ERR_LEAVING);
      break;
    }
    case OP_UNREACHABLE:
      FUZZ_CHECK(cdht_node_on_unreachable(f.node, f.now, cdht_config_peer(f.cfg, PEER(u8(&s)))) == 0);
      break;
    case OP_FAILALLOC:
      p.fail_next = true;
      break;
    }
    drain(&f);
    check_node(&f, true);
    /* As io/ does: the timer is re-armed to the deadline, so what is due now runs now. */
    if (cdht_node_next_deadline(f.node) <= f.now) fire(&f);
  }

  cdht_node_del(f.node);
  FUZZ_CHECK(p.live == 0);
  return 0;
}

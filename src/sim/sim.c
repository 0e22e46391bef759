#include "sim.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/lines.h"
#include "core/rng.h"
#include "sched.h"

/* ABSENT: an id kept for a later join; WAITING: about to start; JOINING: started with --join. */
enum pstate { P_WAITING, P_RUNNING, P_LEAVING, P_LEFT, P_DEAD, P_ABSENT, P_JOINING };

/* The simulator keeps the classic names: four digits, as numbers 0..9999, turned into names where
 * they meet the node. */
#define SIM_FILE_MAX 9999
#define FNAME(f) sim_name(&(cdht_name){ 0 }, (f))
/* The number of an event's name (0 for an event without one). */
#define EVF(ev) ((uint16_t)(cdht_name_number(&(ev)->name) < 0 ? 0 : cdht_name_number(&(ev)->name)))

static const cdht_name *sim_name(cdht_name *n, unsigned f) {
  cdht_name_of_number(n, f);
  return n;
}

#define RECENT 8      /* ring events kept per peer for violation reports */
#define LOOKUP_SPREAD_US 10000000ull /* the L lookups (--lookups) are issued evenly over 10 simulated s */
#define DECLARED 4    /* peers a node declared dead, remembered */
#define PEER_LOOKUPS 4

typedef struct lookup {
  bool used;
  bool counted;           /* one of the L lookups of --lookups (its hops and outcome are reported) */
  uint16_t file;
  cdht_id owner;          /* the responsible live peer when it was issued */
  bool settled;           /* issued in a settled ring */
  uint64_t churn_at_issue;
} lookup;

/* A ring event as a violation report prints it, without the 400-byte cdht_event (its name is
 * never needed: ring events carry none): peers by id, rebuilt into records when printed.  At
 * 10^6 peers the whole events took 3.3 GB. */
typedef struct recent_ev {
  uint64_t t_us;
  cdht_id peer, succ[2];             /* SIM_NOBODY: no peer */
  uint8_t kind, note;                /* cdht_event_kind, enum note */
  uint8_t reason, bits, keys, our_bits, our_keys; /* CDHT_EV_JOIN_FAILED's */
  bool addr_only;
} recent_ev;

typedef struct speer {
  cdht_id id;
  cdht_node *node;
  enum pstate state;
  uint8_t group;                     /* partition side */
  uint64_t scheduled_us;             /* pending timer event, UINT64_MAX if none */
  uint64_t gone_us;                  /* when it was killed or left */
  cdht_id declared[DECLARED];        /* peers this node declared dead */
  unsigned ndeclared;
  uint64_t repair_kill_us;           /* kill time of the successor being repaired, or 0 */
  cdht_id old_succ[2];               /* its successors when it was killed or quit */
  uint64_t restart_us;               /* restarted as `cdht ID S1 S2` then, not yet back (0: none) */
  uint64_t restart_churn;            /* churn count at that restart: later churn voids the check */
  recent_ev recent[RECENT];
  unsigned nrecent;
  lookup lk[PEER_LOOKUPS];
  struct pstore *ps;                 /* its data directory and handovers; NULL until it holds a file */
  uint32_t life;                     /* bumped at each start: a transfer to an older process fails */
} speer;

/* ---- content, as the I/O layer keeps it (src/cli/content.c) ----
 * A version is one store's content: numbered when it first lands at a peer, so a larger number
 * landed later.  Version v is older than version a's store if it landed before a's upload
 * began (v <= a's start_ver): a peer holding only v then has lost a.  Versions that landed
 * while a was on its way are concurrent with it, and either may rightly win. */
#define HO_WINDOW 8 /* content.c HANDOVER_WINDOW: transfers of one handover under way at once */
#define HO_MAX 8    /* content.c HANDOVER_MAX: handovers under way at one peer */

typedef struct hfile {
  uint16_t file;
  uint16_t slot;     /* 1 + the handover it is on its way in (content.c handing[]), 0: none */
  uint32_t ver;      /* the version held (content.c ver[], but the same number at every holder) */
  uint32_t sending;  /* the version on its way in that handover (content.c handing_ver[]) */
  uint64_t put_ms;   /* when a store's content last landed here (content.c put_ms[]), 0: never */
} hfile;

typedef struct sho {  /* content.c struct handover: keys in (lo, hi] going to |peer| */
  bool used;
  cdht_peer peer;
  cdht_id lo, hi;
  uint32_t id;        /* the node's handover id */
  uint64_t token;     /* the receiver's grant, carried by each transfer */
  uint32_t next_file; /* files below this were started or skipped */
  uint32_t inflight, done, failed;
} sho;

typedef struct pstore {
  hfile *f;           /* sorted by file */
  uint32_t n, cap;
  sho ho[HO_MAX];
} pstore;

typedef struct vrec {   /* one version: one store's content */
  cdht_id storer, holder; /* who uploaded it, where it landed first */
  uint32_t storer_life;
  uint32_t seq;           /* the store's request id */
  uint32_t start_ver;     /* the last version number given out when its upload began */
  uint64_t size_us;       /* one transfer of it takes this long */
  uint64_t land_us;       /* when it landed */
  uint16_t file;
  bool acked;             /* its storer was told STORED */
  bool lost_by_kill;      /* a kill took its last live copy (no replication yet) */
} vrec;

/* A transfer in flight, in a SIM_XFER event's buf (a = giver index, b = receiver index). */
enum { XF_PUT, XF_HANDOVER };
enum { XF_HEADER, XF_LANDED, XF_RESULT };
typedef struct xfer {
  uint8_t kind, phase;
  uint8_t ok;             /* XF_RESULT: the receiver kept it */
  uint8_t slot;           /* XF_HANDOVER: the giver's handover slot */
  uint16_t file;
  uint32_t ver;           /* XF_HANDOVER: the version sent; XF_PUT: numbered on landing */
  uint32_t life_a, life_b;
  uint32_t seq;           /* XF_PUT: the store's id; XF_HANDOVER: the handover id */
  uint32_t start_ver;     /* XF_PUT: the last version number when the upload began */
  uint64_t size_us;       /* XF_PUT: its transfer time */
  uint64_t token;         /* XF_HANDOVER: the receiver's grant (CDHT_EV_HANDOVER's token) */
  uint64_t accepted_ms;   /* XF_HANDOVER: when the receiver took its header */
} xfer;

_Static_assert(sizeof(xfer) <= SIM_EV_STATE, "a transfer's state travels in its event");
_Static_assert(sizeof(cdht_addr) + sizeof(cdht_peer) <= SIM_EV_STATE, "a delivery's source and record travel in its event");

typedef struct samples { double *v; size_t n, cap; } samples;

typedef struct world {
  const sim_opts *o;
  sim_result *r;
  FILE *report;
  cdht_rng rng;
  sim_sched sched;
  speer *p;
  uint32_t n;
  uint64_t now_us;
  uint64_t settle_us;
  uint64_t churn_count, last_churn_us; /* last_churn_us + settle_us: when the ring should have settled */
  bool partitioned, ever_partitioned;
  uint64_t partition_deaths;
  samples detect, repair, back;
  uint64_t back_bound_us;             /* a restarted peer is back in the ring by then (0: not judged) */
  bool broken_on_purpose;             /* --kill-adjacent ran: the violations from then on are expected */
  cdht_id recent_victims[4];
  uint64_t recent_victims_us[4];
  bool oom;
  uint32_t stored[SIM_FILE_MAX + 1]; /* the newest acknowledged version of each name (0: none) */
  uint64_t mask;                      /* the ring's: 2^bits - 1 */
  cdht_id key[SIM_FILE_MAX + 1];      /* each name's key, from cdht_node_name_key (the node's own rule) */
  samples hops;                       /* hops of the L lookups answered */
  uint32_t lk_left;                   /* of the L lookups, not issued yet */
  uint64_t lk_next_us;                /* when the next of them is due (NEVER_US: not started) */
  uint64_t kill_run_check_us;         /* a judged run of adjacent kills: the ring is whole by then (0: none) */
  uint64_t kill_run_churn;            /* ... unless more churn came first */
  size_t node_live, node_peak;        /* bytes the nodes allocated through their cdht_mem: now, at most */
  size_t msg_live, msg_peak;          /* bytes of messages in flight (the agenda's copies) */
  cdht_mem node_mem;                  /* node_alloc / node_free with this world */
  uint32_t unsettled;                 /* peers waiting to start, leaving or joining (settled() is O(1)) */
  size_t agenda_max;                  /* events in flight past this are a message storm: the run stops */
  bool storm;
  vrec *v;                            /* v[1..nver]: every version, in landing order */
  uint32_t nver, vcap;
} world;

static const uint64_t NEVER_US = UINT64_MAX;

/* The nodes' allocator: libc, with the bytes each block holds in front of it, so that what
 * the nodes allocate (held names, the output arena, the event queue, tables made on demand)
 * is counted in the memory per peer. */
typedef struct mem_hdr { size_t size; size_t pad; } mem_hdr; /* 16 bytes: keeps malloc's alignment */

static void *node_alloc(void *ctx, size_t size) {
  world *w = ctx;
  mem_hdr *h = malloc(sizeof *h + size);
  if (!h) return NULL;
  h->size = size;
  w->node_live += size;
  if (w->node_live > w->node_peak) w->node_peak = w->node_live;
  return h + 1;
}

static void node_free(void *ctx, void *p) {
  world *w = ctx;
  mem_hdr *h = (mem_hdr *)p - 1;
  w->node_live -= h->size;
  free(h);
}

/* ---- small helpers ---- */

static void add_sample(world *w, samples *s, double v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    double *nv = realloc(s->v, cap * sizeof *nv);
    if (!nv) { w->oom = true; return; }
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double mean(const samples *s) {
  double sum = 0;
  for (size_t i = 0; i < s->n; i++) sum += s->v[i];
  return s->n ? sum / (double)s->n : 0;
}

static double percentile(samples *s, double q) {
  if (s->n == 0) return 0;
  qsort(s->v, s->n, sizeof *s->v, cmp_double);
  size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
  return s->v[i < s->n ? i : s->n - 1];
}

static void mix(world *w, uint64_t v) { /* FNV-1a, 8 bytes at a time */
  for (int i = 0; i < 8; i++) {
    w->r->digest ^= (v >> (8 * i)) & 0xff;
    w->r->digest *= 0x100000001b3ull;
  }
}

static bool transitional(enum pstate s) { return s == P_WAITING || s == P_LEAVING || s == P_JOINING; }

/* Every change of a peer's state goes through here, which counts the peers in transition. */
static void set_state(world *w, speer *p, enum pstate s) {
  w->unsettled += transitional(s);
  w->unsettled -= transitional(p->state);
  p->state = s;
}

static bool alive(const speer *p) {
  return p->state == P_RUNNING || p->state == P_LEAVING || p->state == P_JOINING;
}

/* The id of |p| if it is a peer, else SIM_NOBODY (the simulator's own tables are keyed by id). */
static cdht_id pid(cdht_peer p) { return cdht_peer_known(&p) ? p.id : SIM_NOBODY; }

/* An id as a report prints it: the number, or "none" (ids of a 64-bit ring do not fit a signed
 * type).  Eight calls may share one printf. */
static const char *idt(cdht_id id) {
  static char buf[8][24];
  static unsigned next;
  char *b = buf[next++ % 8];
  if (id == SIM_NOBODY) snprintf(b, sizeof buf[0], "none");
  else snprintf(b, sizeof buf[0], "%llu", (unsigned long long)id);
  return b;
}

static speer *find(world *w, cdht_id id) {
  size_t lo = 0, hi = w->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (w->p[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < w->n && w->p[lo].id == id ? &w->p[lo] : NULL;
}

static uint32_t index_of(world *w, const speer *p) { return (uint32_t)(p - w->p); }

/* A simulated host per peer: peer index i is at 10.(i>>16).(i>>8).(i) and fd00:cd47::(i), port
 * 4000, the same port everywhere as on separate machines.  Every host has both families; even
 * indices speak IPv4 first, odd ones IPv6 first, so records of both kinds meet in every ring. */
#define SIM_PORT 4000
static cdht_addr host_addr(uint32_t i, uint8_t family) {
  if (family == CDHT_AF_INET) return cdht_addr_v4(0x0a000000u | (i & 0xffffffu), SIM_PORT);
  uint8_t ip[16] = { 0xfd, 0x00, 0xcd, 0x47 };
  for (int k = 0; k < 4; k++) ip[12 + k] = (uint8_t)(i >> (24 - 8 * k));
  return cdht_addr_v6(ip, SIM_PORT);
}
static uint8_t first_family(uint32_t i) { return i % 2 ? CDHT_AF_INET6 : CDHT_AF_INET; }
static cdht_peer record_of(world *w, const speer *p) {
  uint32_t i = index_of(w, p);
  return cdht_peer_make(p->id, host_addr(i, first_family(i)));
}
/* The peer whose host has address |a|, or NULL (nobody there). */
static speer *at(world *w, const cdht_addr *a) {
  uint32_t i;
  if (a->port != SIM_PORT) return NULL;
  if (a->family == CDHT_AF_INET) {
    if (a->ip[0] != 10) return NULL;
    i = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
  } else if (a->family == CDHT_AF_INET6) {
    i = (uint32_t)a->ip[12] << 24 | (uint32_t)a->ip[13] << 16 | (uint32_t)a->ip[14] << 8 | a->ip[15];
    cdht_addr want = host_addr(i, CDHT_AF_INET6);
    if (!cdht_addr_eq(a, &want)) return NULL;
  } else {
    return NULL;
  }
  return i < w->n ? &w->p[i] : NULL;
}

/* The entry of |f| in |p|'s data directory, or NULL. */
static hfile *held(const speer *p, unsigned f) {
  if (!p->ps) return NULL;
  uint32_t lo = 0, hi = p->ps->n;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (p->ps->f[mid].file < f) lo = mid + 1;
    else hi = mid;
  }
  return lo < p->ps->n && p->ps->f[lo].file == f ? &p->ps->f[lo] : NULL;
}

static uint32_t held_ver(const speer *p, unsigned f) {
  const hfile *h = held(p, f);
  return h ? h->ver : 0;
}

/* The first entry at or after file |f|, as an index (n: none). */
static uint32_t held_from(const pstore *ps, uint32_t f) {
  uint32_t lo = 0, hi = ps->n;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (ps->f[mid].file < f) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static pstore *store_of(world *w, speer *p) {
  if (!p->ps && !(p->ps = calloc(1, sizeof *p->ps))) w->oom = true;
  return p->ps;
}

/* Content |ver| of |f| lands in |p|'s data directory, replacing what was there (content.c
 * on_received: a second store of a name replaces the first). */
static void set_held(world *w, speer *p, unsigned f, uint32_t ver) {
  hfile *h = held(p, f);
  if (h) { h->ver = ver; return; }
  pstore *ps = store_of(w, p);
  if (!ps) return;
  if (ps->n == ps->cap) {
    uint32_t cap = ps->cap ? ps->cap * 2 : 8;
    hfile *nf = realloc(ps->f, cap * sizeof *nf);
    if (!nf) { w->oom = true; return; }
    ps->f = nf;
    ps->cap = cap;
  }
  uint32_t i = held_from(ps, f);
  memmove(&ps->f[i + 1], &ps->f[i], (ps->n - i) * sizeof *ps->f);
  ps->f[i] = (hfile){ .file = (uint16_t)f, .ver = ver };
  ps->n++;
}

static void drop_held(speer *p, unsigned f) {
  hfile *h = held(p, f);
  if (!h) return;
  uint32_t i = (uint32_t)(h - p->ps->f);
  memmove(&p->ps->f[i], &p->ps->f[i + 1], (p->ps->n - i - 1) * sizeof *p->ps->f);
  p->ps->n--;
}

static void clear_store(speer *p) {
  if (!p->ps) return;
  free(p->ps->f);
  free(p->ps);
  p->ps = NULL;
}

/* The process's peak resident size in bytes (VmHWM), or 0 where /proc does not say. */
static uint64_t peak_rss(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024;
}

static void violation(world *w, const char *what, const speer *a, const speer *b);

/* Events in flight grow with the peers (each has its timer, its pings and their answers, a few
 * requests: tens); past agenda_max something multiplies messages, and the run stops with a
 * violation instead of taking the machine's memory (found: a forwarded request resent on every
 * refused connection, sevenfold each round). */
static void check_storm(world *w, uint32_t sender) {
  if (w->storm || w->sched.len <= w->agenda_max) return;
  w->storm = true;
  char what[200];
  snprintf(what, sizeof what, "message storm: %zu events in flight (bound %zu), the last sent by peer %s; the run stops",
           w->sched.len, w->agenda_max, sender < w->n ? idt(w->p[sender].id) : "none");
  violation(w, what, sender < w->n ? &w->p[sender] : NULL, sender < w->n ? &w->p[sender] : NULL);
}

static void push(world *w, sim_ev *ev) {
  if (sim_sched_push(&w->sched, ev) < 0) w->oom = true;
  check_storm(w, ev->kind == SIM_UNREACHABLE ? ev->a : UINT32_MAX);
}

/* Pushes a delivery of the ev->len bytes at |bytes| (borrowed): each delivery its own copy. */
static void push_msg(world *w, sim_ev *ev, const uint8_t *bytes) {
  ev->msg = malloc(ev->len ? ev->len : 1);
  if (!ev->msg) { w->oom = true; return; }
  memcpy(ev->msg, bytes, ev->len);
  if (sim_sched_push(&w->sched, ev) < 0) { free(ev->msg); w->oom = true; ev->msg = NULL; return; }
  w->msg_live += ev->len;
  if (w->msg_live > w->msg_peak) w->msg_peak = w->msg_live;
  check_storm(w, ev->a);
  ev->msg = NULL;
}

static void print_time(FILE *f, uint64_t t_us) {
  fprintf(f, "%llu.%06llu", (unsigned long long)(t_us / 1000000), (unsigned long long)(t_us % 1000000));
}

/* Live peers in id order (running ones only: leaving peers are on their way out). */
static size_t live_ids(world *w, cdht_id *out, bool include_leaving) {
  size_t k = 0;
  for (uint32_t i = 0; i < w->n; i++)
    if (w->p[i].state == P_RUNNING || (include_leaving && w->p[i].state == P_LEAVING)) out[k++] = w->p[i].id;
  return k;
}

/* What the simulator itself did to a peer, kept among its ring events. */
enum note { NOTE_NONE, NOTE_KILLED, NOTE_STARTED, NOTE_JOINING, NOTE_QUIT };

/* The events that explain a broken ring: who a peer took as successor, who it saw die, depart
 * or join, and what the simulator did to it.  Pings and lookups would push them out. */
static bool ring_event(cdht_event_kind k) {
  switch (k) {
  case CDHT_EV_SUCCESSORS: case CDHT_EV_PEER_DEAD: case CDHT_EV_RING_BROKEN: case CDHT_EV_DEPARTING:
  case CDHT_EV_LEAVE_UNCONFIRMED: case CDHT_EV_LEFT: case CDHT_EV_JOIN_RECEIVED: case CDHT_EV_SUCC_CHANGE:
  case CDHT_EV_JOIN_ACCEPTED: case CDHT_EV_JOIN_FAILED:
    return true;
  default:
    return false;
  }
}

static void remember(world *w, speer *p, const cdht_event *ev, enum note note) {
  unsigned j = p->nrecent++ % RECENT;
  p->recent[j] = (recent_ev){ .t_us = w->now_us, .peer = pid(ev->peer), .succ = { pid(ev->succ[0]), pid(ev->succ[1]) },
                              .kind = (uint8_t)ev->kind, .note = (uint8_t)note, .reason = ev->reason, .bits = ev->bits,
                              .keys = ev->keys, .our_bits = ev->our_bits, .our_keys = ev->our_keys,
                              .addr_only = ev->addr_only };
}

/* The record of peer |id| as the node knew it (its host's first family), or no peer. */
static cdht_peer record_of_id(world *w, cdht_id id) {
  speer *q = id == SIM_NOBODY ? NULL : find(w, id);
  return q ? record_of(w, q) : cdht_peer_none();
}

/* The event a recent_ev was made from, for cdht_lines_format (no name: ring events have none). */
static cdht_event recent_event(world *w, const recent_ev *r) {
  return (cdht_event){ .kind = (cdht_event_kind)r->kind, .peer = record_of_id(w, r->peer),
                       .succ = { record_of_id(w, r->succ[0]), record_of_id(w, r->succ[1]) }, .reason = r->reason,
                       .bits = r->bits, .keys = r->keys, .our_bits = r->our_bits, .our_keys = r->our_keys,
                       .addr_only = r->addr_only };
}

static void print_recent(world *w, const speer *p) {
  if (!p) return;
  fprintf(w->report, "  last ring events of peer %llu (%s):\n", (unsigned long long)p->id,
          (const char *[]){ "not started", "running", "leaving", "left", "killed", "absent", "joining" }[p->state]);
  unsigned k = p->nrecent < RECENT ? p->nrecent : RECENT;
  for (unsigned i = 0; i < k; i++) {
    unsigned j = (p->nrecent - k + i) % RECENT;
    cdht_event rev = recent_event(w, &p->recent[j]);
    const cdht_event *ev = &rev;
    char buf[512];
    cdht_lines_format(buf, sizeof buf, ev);
    fputs("    ", w->report);
    print_time(w->report, p->recent[j].t_us);
    switch (p->recent[j].note) {
    case NOTE_KILLED: snprintf(buf, sizeof buf, "(killed)\n"); break;
    case NOTE_QUIT: snprintf(buf, sizeof buf, "(quit)\n"); break;
    case NOTE_STARTED:
      snprintf(buf, sizeof buf, "(started as `cdht %llu %llu %llu`)\n", (unsigned long long)p->id,
               (unsigned long long)pid(ev->succ[0]), (unsigned long long)pid(ev->succ[1]));
      break;
    case NOTE_JOINING:
      snprintf(buf, sizeof buf, "(started, joining through peer %llu)\n", (unsigned long long)pid(ev->peer));
      break;
    default: break;
    }
    if (!buf[0] && ev->kind == CDHT_EV_LEFT) snprintf(buf, sizeof buf, "(left the ring)\n");
    if (!buf[0]) snprintf(buf, sizeof buf, "(%s %llu)\n", cdht_event_name(ev->kind), (unsigned long long)pid(ev->peer));
    for (char *line = buf, *nl; *line; line = nl + 1) {
      nl = strchr(line, '\n');
      if (!nl) break;
      fprintf(w->report, "%s %.*s\n", line == buf ? "" : "             ", (int)(nl - line), line);
    }
  }
}

static void violation(world *w, const char *what, const speer *a, const speer *b) {
  w->r->violations++;
  if (!w->report) return;
  fprintf(w->report, "%sviolation: seed %llu, t=", w->broken_on_purpose ? "expected " : "", (unsigned long long)w->o->seed);
  print_time(w->report, w->now_us);
  fprintf(w->report, " s: %s\n", what);
  print_recent(w, a);
  if (b != a) print_recent(w, b);
}

/* ---- sending ---- */

static uint64_t delay(world *w) {
  const sim_opts *o = w->o;
  return o->delay_min_us + cdht_rng_below(&w->rng, (uint64_t)(o->delay_max_us - o->delay_min_us) + 1);
}

static bool cut(world *w, const speer *a, const speer *b) { return w->partitioned && a->group != b->group; }

static void route(world *w, speer *src, const cdht_output *out) {
  speer *dst = at(w, &out->to.addr);
  sim_ev ev = { .kind = SIM_DELIVER, .transport = (uint8_t)out->transport, .a = index_of(w, src),
                .len = out->len };
  cdht_addr source = host_addr(index_of(w, src), out->to.addr.family); /* the sender's socket of that family */
  memcpy(ev.buf, &source, sizeof source);
  memcpy(ev.buf + sizeof source, &out->to, sizeof out->to); /* the record it went to: a refusal names it */
  if (out->transport == CDHT_UDP) {
    if (!dst || cut(w, src, dst)) return;
    if (cdht_rng_unit(&w->rng) < w->o->loss) return;
    ev.b = index_of(w, dst);
    int copies = cdht_rng_unit(&w->rng) < w->o->dup ? 2 : 1;
    for (int c = 0; c < copies; c++) {
      uint64_t d = delay(w);
      if (cdht_rng_unit(&w->rng) < w->o->reorder) d += cdht_rng_below(&w->rng, 10ull * w->o->delay_max_us + 1);
      ev.t_us = w->now_us + d;
      push_msg(w, &ev, out->buf);
    }
    return;
  }
  /* TCP: reliable and ordered enough for one message per connection, which is opened first:
   * the message arrives after the handshake's round trip and its own one-way delay, so a
   * datagram sent at the same moment arrives first, as on a real network.  A peer that is not
   * listening refuses the connection, which the sender learns one delay after it arrives. */
  if (dst && cut(w, src, dst)) return; /* a partition swallows it: no answer at all */
  ev.t_us = w->now_us + 3 * delay(w);
  if (!dst) {
    ev.kind = SIM_UNREACHABLE;
    ev.b = (uint32_t)-1;
    memcpy(ev.buf, &out->to, sizeof out->to); /* the record it was sent to: the node is told so */
    push(w, &ev);
  } else {
    ev.b = index_of(w, dst);
    push_msg(w, &ev, out->buf);
  }
}

/* ---- content: versions, transfers, handovers ---- */

static void settle_node(world *w, speer *p);

static bool same_process(const world *w, uint32_t i, uint32_t life) {
  const speer *p = &w->p[i];
  return alive(p) && p->node && p->life == life;
}

/* Whether a peer holding version |v| holds the content of version |a|'s store, or content that
 * landed while |a| was on its way (concurrent with it, so either may win): not something older. */
static bool not_older(const world *w, uint32_t v, uint32_t a) { return v && v > w->v[a].start_ver; }

/* A live peer (running, leaving or joining) holding |f| at version |a| or not older. */
static speer *live_holder(world *w, unsigned f, uint32_t a) {
  for (uint32_t i = 0; i < w->n; i++) {
    speer *p = &w->p[i];
    if (p->ps && alive(p) && p->node && not_older(w, held_ver(p, f), a)) return p;
  }
  return NULL;
}

/* Version |ver| of |f| just left its last copy with a killed peer (no replication yet): what
 * only that peer held is lost, and the invariant excuses exactly that. */
static void note_kill_loss(world *w, unsigned f, uint32_t ver) {
  if (!ver || w->v[ver].lost_by_kill || live_holder(w, f, ver)) return;
  w->v[ver].lost_by_kill = true;
  w->r->lost_with_kills++;
}

/* Whether the loss of acknowledged version |a| of |f| is a kill's doing. */
static bool lost_by_kill(const world *w, unsigned f, uint32_t a) {
  for (uint32_t k = w->v[a].start_ver + 1; k <= w->nver; k++)
    if (w->v[k].file == f && w->v[k].lost_by_kill) return true;
  return false;
}

static uint32_t new_version(world *w, const speer *storer, const speer *holder, const xfer *x) {
  if (w->nver + 1 >= w->vcap) {
    uint32_t cap = w->vcap ? w->vcap * 2 : 256;
    vrec *nv = realloc(w->v, cap * sizeof *nv);
    if (!nv) { w->oom = true; return 0; }
    if (!w->vcap) memset(&nv[0], 0, sizeof nv[0]); /* version 0: nothing */
    w->v = nv;
    w->vcap = cap;
  }
  uint32_t k = ++w->nver;
  w->r->versions++;
  w->v[k] = (vrec){ .storer = storer->id, .storer_life = x->life_a, .holder = holder->id, .seq = x->seq,
                    .start_ver = x->start_ver, .size_us = x->size_us, .land_us = w->now_us, .file = x->file };
  return k;
}

/* How long one transfer of a new content takes: most files are small (a few ms to 50 ms), a
 * quarter are large (up to about a second), as the real transfers of real files. */
static uint64_t content_size_us(world *w) {
  if (cdht_rng_below(&w->rng, 4) == 0) return 50000 + cdht_rng_below(&w->rng, 950001);
  return 2000 + cdht_rng_below(&w->rng, 48001);
}

static void xfer_push(world *w, uint64_t t_us, uint32_t a, uint32_t b, const xfer *x) {
  sim_ev e = { .kind = SIM_XFER, .t_us = t_us, .a = a, .b = b };
  memcpy(e.buf, x, sizeof *x);
  push(w, &e);
}

/* A transfer opens a connection: the receiver judges the header one round trip and one delay
 * later (content.c on_accept), the content lands after its size's time (on_received), and the
 * giver learns the verdict one delay after that (on_handed, on_uploaded).  A receiver that is
 * unknown, cut off, refusing, dead or restarted fails it; a giver that died or left cuts it. */
static void xfer_start(world *w, speer *from, speer *to, xfer *x) {
  x->phase = XF_HEADER;
  x->life_a = from->life;
  x->life_b = to ? to->life : 0;
  uint32_t b = to && !cut(w, from, to) ? index_of(w, to) : UINT32_MAX;
  xfer_push(w, w->now_us + 3 * delay(w), index_of(w, from), b, x);
}

static void xfer_result(world *w, uint32_t a, uint32_t b, xfer x, bool ok) {
  x.phase = XF_RESULT;
  x.ok = ok;
  xfer_push(w, w->now_us + delay(w), a, b, &x);
}

static void xfer_trace(world *w, const speer *p, const char *what, const xfer *x, cdht_id other) {
  if (!w->o->trace) return;
  print_time(w->o->trace, w->now_us);
  fprintf(w->o->trace, " peer %llu: (%s %04u version %u, peer %llu)\n", (unsigned long long)p->id, what, x->file,
          x->ver, (unsigned long long)other);
}

/* Starts the next files of handover |slot| of |g|, up to the window, in file order (content.c
 * handover_pump); when none is under way and none is left, the node hears how many went. */
static void pump(world *w, speer *g, unsigned slot) {
  pstore *ps = g->ps;
  sho *ho = &ps->ho[slot];
  speer *to = find(w, ho->peer.id);
  uint64_t mask = w->mask;
  while (ho->inflight < HO_WINDOW && ho->next_file <= SIM_FILE_MAX) {
    uint32_t i = held_from(ps, ho->next_file);
    if (i == ps->n) { ho->next_file = SIM_FILE_MAX + 1; break; }
    hfile *h = &ps->f[i];
    ho->next_file = h->file + 1u;
    if (!cdht_node_is_stored(g->node, FNAME(h->file)) || h->slot ||
        !cdht_ring_between(ho->lo, w->key[h->file], ho->hi, mask))
      continue;
    xfer x = { .kind = XF_HANDOVER, .file = h->file, .ver = h->ver, .seq = ho->id, .slot = (uint8_t)slot,
               .token = ho->token };
    h->slot = (uint16_t)(slot + 1);
    h->sending = h->ver;
    ho->inflight++;
    xfer_trace(w, g, "hands over", &x, ho->peer.id);
    xfer_start(w, g, to, &x);
  }
  if (ho->inflight == 0 && ho->next_file > SIM_FILE_MAX) {
    ho->used = false;
    cdht_node_on_handover_done(g->node, w->now_us / 1000, ho->peer, ho->id, ho->done, ho->failed);
  }
}

/* CDHT_EV_HANDOVER at |g| (content.c): the files in (lo, hi] go to |peer|. */
static void start_handover(world *w, speer *g, const cdht_event *ev) {
  uint64_t now_ms = w->now_us / 1000;
  if (!g->ps || g->ps->n == 0) { /* nothing held: none went (no table for a peer without files) */
    cdht_node_on_handover_done(g->node, now_ms, ev->peer, ev->seq, 0, 0);
    return;
  }
  unsigned slot = 0;
  while (slot < HO_MAX && g->ps->ho[slot].used) slot++;
  if (slot == HO_MAX) { /* cannot follow it: the files stay, and none went */
    cdht_node_on_handover_done(g->node, now_ms, ev->peer, ev->seq, 0, 1);
    return;
  }
  g->ps->ho[slot] = (sho){ .used = true, .id = ev->seq, .peer = ev->peer, .lo = ev->lo, .hi = ev->hi,
                           .token = ev->token };
  pump(w, g, slot);
}

/* A handover file got its verdict at giver |g| (content.c on_handed).  Kept by the receiver:
 * the content removed here is exactly the version that went; if newer content landed
 * meanwhile, that follows in the same handover and stays here until it is through. */
static void handed(world *w, speer *g, uint32_t b, const xfer *x) {
  uint64_t now_ms = w->now_us / 1000;
  hfile *h = held(g, x->file);
  unsigned slot = h && h->slot ? h->slot - 1u : HO_MAX;
  bool live = slot < HO_MAX && g->ps->ho[slot].used;
  bool ok = x->ok;
  if (h) h->slot = 0;
  if (ok && h && h->ver != x->ver && live && cdht_node_is_stored(g->node, FNAME(x->file))) {
    xfer y = { .kind = XF_HANDOVER, .file = x->file, .ver = h->ver, .seq = x->seq, .slot = (uint8_t)slot,
               .token = x->token };
    h->slot = (uint16_t)(slot + 1);
    h->sending = h->ver;
    xfer_trace(w, g, "hands over the newer", &y, g->ps->ho[slot].peer.id);
    xfer_start(w, g, find(w, g->ps->ho[slot].peer.id), &y);
    return;
  }
  if (ok && h && h->ver == x->ver) {
    drop_held(g, x->file);
    /* The receiver may have been killed since it kept it: then it is lost with it. */
    if (b != UINT32_MAX && w->p[b].state == P_DEAD) note_kill_loss(w, x->file, x->ver);
    if (live) cdht_node_on_file_handed(g->node, now_ms, FNAME(x->file), g->ps->ho[slot].peer);
    else cdht_node_set_stored(g->node, FNAME(x->file), false);
  }
  if (live) {
    g->ps->ho[slot].inflight--;
    if (ok) g->ps->ho[slot].done++;
    else g->ps->ho[slot].failed++;
    pump(w, g, slot);
  }
  settle_node(w, g);
}

/* One step of a transfer (SIM_XFER). */
static void on_xfer(world *w, const sim_ev *ev) {
  xfer x;
  memcpy(&x, ev->buf, sizeof x);
  uint64_t now_ms = w->now_us / 1000;
  mix(w, w->now_us);
  mix(w, ((uint64_t)x.kind << 56) | ((uint64_t)x.phase << 48) | ((uint64_t)x.file << 32) | x.ver);
  if (!same_process(w, ev->a, x.life_a)) return; /* the giver died or left: its transfers are cut */
  speer *g = &w->p[ev->a];
  speer *r = ev->b == UINT32_MAX ? NULL : &w->p[ev->b];
  bool receiver = r && same_process(w, ev->b, x.life_b) && !cut(w, g, r);
  switch (x.phase) {
  case XF_HEADER: {
    if (receiver && x.kind == XF_HANDOVER) {
      const hfile *had = held(r, x.file);
      bool superseded = g->node && cdht_node_superseded(g->node, FNAME(x.file)); /* content.c: the header's mark */
      cdht_handover_verdict v =
          cdht_node_handover_allowed(r->node, now_ms, record_of(w, g), FNAME(x.file), x.token, had ? had->put_ms : 0, superseded);
      if (v == CDHT_HANDOVER_REFUSE) receiver = false; /* refused: the giver keeps it */
      x.ok = v == CDHT_HANDOVER_OLDER ? 2 : 0;          /* taken, but newer content stays (on landing) */
      x.accepted_ms = now_ms;
    }
    if (!receiver) {
      xfer_trace(w, g, "refused:", &x, r ? r->id : SIM_NOBODY);
      xfer_result(w, ev->a, ev->b, x, false);
      break;
    }
    x.phase = XF_LANDED;
    xfer_push(w, w->now_us + (x.kind == XF_PUT ? x.size_us : w->v[x.ver].size_us), ev->a, ev->b, &x);
    break;
  }
  case XF_LANDED:
    if (!receiver) { /* the connection was reset */
      xfer_trace(w, g, "cut off:", &x, r ? r->id : SIM_NOBODY);
      xfer_result(w, ev->a, ev->b, x, false);
      break;
    }
    if (x.kind == XF_PUT) {
      x.ver = new_version(w, g, r, &x);
      if (!x.ver) break;
      set_held(w, r, x.file, x.ver);
      held(r, x.file)->put_ms = now_ms + 1; /* as content.c: never 0, and after a header of the same ms */
      xfer_trace(w, r, "stored content lands:", &x, g->id);
      cdht_node_on_stored(r->node, now_ms, FNAME(x.file), record_of(w, g), x.seq);
    } else {
      uint32_t had = held_ver(r, x.file);
      bool stale = had && !not_older(w, x.ver, had);
      if (stale) { /* content.c replaces it all the same (its files carry no version) */
        w->r->stale_overwrites++;
        xfer_trace(w, r, w->o->keep_newer ? "older content refused:" : "older content replaces newer:", &x, g->id);
      }
      const hfile *had_h = held(r, x.file);
      if ((x.ok == 2 || (had_h && had_h->put_ms > x.accepted_ms)) && cdht_node_is_stored(r->node, FNAME(x.file))) {
        /* older than a store that landed here since the grant, or since its header (content.c
         * on_received): dropped, the newer content stays */
        xfer_trace(w, r, "older than a store here, dropped:", &x, g->id);
      } else {
        if (!stale || !w->o->keep_newer) set_held(w, r, x.file, x.ver);
        xfer_trace(w, r, "handed-over content lands:", &x, g->id);
        cdht_node_on_taken_over(r->node, now_ms, FNAME(x.file), record_of(w, g));
      }
    }
    settle_node(w, r);
    if (r != g) xfer_result(w, ev->a, ev->b, x, true); /* a local copy has no one to tell */
    break;
  case XF_RESULT:
    if (x.kind == XF_HANDOVER) {
      handed(w, g, ev->b, &x);
    } else if (!x.ok) {
      cdht_node_on_upload_failed(g->node, now_ms, FNAME(x.file), x.seq);
      settle_node(w, g);
    }
    break;
  }
}

/* ---- node events and the continuous invariants ---- */

static bool declared(const speer *p, cdht_id id) {
  unsigned k = p->ndeclared < DECLARED ? p->ndeclared : DECLARED;
  for (unsigned i = 0; i < k; i++)
    if (p->declared[i] == id) return true;
  return false;
}

/* The running peer responsible for |key|: the first at or after it, round the ring (the ground
 * truth, as cdht_ring_closest_successor over the running peers, without copying their ids). */
static speer *owner_of(world *w, cdht_id key) {
  size_t lo = 0, hi = w->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (w->p[mid].id < key) lo = mid + 1;
    else hi = mid;
  }
  for (uint32_t k = 0; k < w->n; k++) {
    speer *q = &w->p[(lo + k) % w->n];
    if (q->state == P_RUNNING) return q;
  }
  return NULL;
}

static void forget_declared(speer *p, cdht_id id) {
  for (unsigned i = 0; i < DECLARED; i++)
    if (p->declared[i] == id) p->declared[i] = SIM_NOBODY;
}

static void finish_lookup(world *w, speer *p, uint16_t file, cdht_id holder, bool failed, unsigned hops) {
  for (int i = 0; i < PEER_LOOKUPS; i++) {
    lookup *l = &p->lk[i];
    if (!l->used || l->file != file) continue;
    l->used = false;
    bool judged = l->settled && l->churn_at_issue == w->churn_count;
    if (l->counted) { /* one of the L: right if it reached the peer responsible then, or now (churn since) */
      const speer *now_owner = owner_of(w, w->key[file]);
      bool right = !failed && (holder == l->owner || (now_owner && holder == now_owner->id));
      if (right) add_sample(w, &w->hops, hops);
      else w->r->lk_failed++;
    }
    if (failed) {
      w->r->lookups_failed++;
      if (judged) violation(w, "a lookup in a settled ring got no answer", p, find(w, l->owner));
    } else if (holder != l->owner) {
      w->r->lookups_failed++;
      if (judged) {
        char what[160];
        snprintf(what, sizeof what, "lookup of %04u from peer %llu answered by peer %llu, but peer %llu is responsible",
                 file, (unsigned long long)p->id, (unsigned long long)holder, (unsigned long long)l->owner);
        violation(w, what, p, find(w, holder));
      }
    } else {
      w->r->lookups_ok++;
    }
    return;
  }
}

static void on_node_event(world *w, speer *p, const cdht_event *ev) {
  const sim_opts *o = w->o;
  sim_result *r = w->r;
  r->node_events++;
  mix(w, w->now_us);
  mix(w, p->id);
  mix(w, ((uint64_t)ev->kind << 32) | EVF(ev));
  mix(w, pid(ev->peer));
  if (ev->kind == CDHT_EV_SUCCESSORS) { mix(w, pid(ev->succ[0])); mix(w, pid(ev->succ[1])); }
  if (ring_event(ev->kind)) remember(w, p, ev, NOTE_NONE);

  if (o->trace || o->lines) {
    char buf[512];
    cdht_stream s = cdht_lines_format(buf, sizeof buf, ev);
    bool ping = ev->kind == CDHT_EV_PING_REQUEST || ev->kind == CDHT_EV_PING_RESPONSE;
    if (!buf[0] && ev->kind == CDHT_EV_LEFT) snprintf(buf, sizeof buf, "(left the ring)\n");
    for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
      if (o->trace) {
        print_time(o->trace, w->now_us);
        fprintf(o->trace, " peer %llu: %.*s\n", (unsigned long long)p->id, (int)(nl - line), line);
      }
      if (o->lines && s == CDHT_STDOUT && !ping)
        fprintf(o->lines, "peer %llu: %.*s\n", (unsigned long long)p->id, (int)(nl - line), line);
    }
  }

  switch (ev->kind) {
  case CDHT_EV_PEER_DEAD: {
    speer *k = find(w, pid(ev->peer));
    p->declared[p->ndeclared++ % DECLARED] = pid(ev->peer);
    if (w->partitioned) w->partition_deaths++;
    if (k && alive(k) && k->gone_us && w->now_us - k->gone_us <= w->settle_us) {
      /* Killed and restarted since: a verdict begun before the restart is about the killed
       * process (the witness heard nothing from the new one yet), and it is right. */
    } else if (k && alive(k)) {
      r->false_deaths++;
      if (!w->ever_partitioned) violation(w, "a live peer was declared dead (false detection)", p, k);
    } else if (k && k->state == P_DEAD) {
      add_sample(w, &w->detect, (double)(w->now_us - k->gone_us) / 1e6);
      p->repair_kill_us = k->gone_us;
    }
    break;
  }
  case CDHT_EV_DEPARTING: /* the node now knows that peer has left: adopting it later is wrong */
    p->declared[p->ndeclared++ % DECLARED] = pid(ev->peer);
    break;
  case CDHT_EV_SUCCESSORS:
    for (int i = 0; i < 2; i++) {
      cdht_id s = pid(ev->succ[i]);
      speer *q = find(w, s);
      if (s == p->id || !q) continue;
      if (alive(q)) { /* taking back a peer wrongly declared dead, or restarted since, is right */
        forget_declared(p, s); /* and the verdict is over: were it to die again, adopting it from a
                                * list before that is known is no stale verdict (seed 7400 with
                                * --successors 4 --fingers: 146 restarted, taken back, then killed
                                * with its predecessor; 97 took it up from its list) */
        continue;
      }
      if (declared(p, s)) violation(w, "a peer adopted a successor it had declared dead or seen depart", p, q);
      else if (w->now_us - q->gone_us > w->settle_us)
        violation(w, "a peer adopted a successor that was gone long ago", p, q);
    }
    if (p->repair_kill_us) {
      r->repairs++;
      add_sample(w, &w->repair, (double)(w->now_us - p->repair_kill_us) / 1e6);
      p->repair_kill_us = 0;
    }
    break;
  case CDHT_EV_RING_BROKEN:
  case CDHT_EV_NEVER_ANSWERED:
    violation(w, "a peer lost both successors (ring broken)", p, find(w, pid(ev->peer)));
    break;
  case CDHT_EV_LEFT:
    set_state(w, p, P_LEFT);
    p->gone_us = w->now_us;
    break;
  case CDHT_EV_JOIN_ACCEPTED: set_state(w, p, P_RUNNING); break;
  case CDHT_EV_STORE_UPLOAD: { /* a new content goes to the accepting peer (or is copied in here) */
    speer *h = find(w, pid(ev->peer));
    xfer x = { .kind = XF_PUT, .file = EVF(ev), .seq = ev->seq, .start_ver = w->nver,
               .size_us = content_size_us(w) };
    if (h == p) {
      x.phase = XF_LANDED;
      x.life_a = x.life_b = p->life;
      xfer_push(w, w->now_us + x.size_us, index_of(w, p), index_of(w, p), &x);
    } else {
      xfer_start(w, p, h, &x);
    }
    break;
  }
  case CDHT_EV_STORED: { /* acknowledged: the oldest of this storer's versions of the name not yet acknowledged */
    uint32_t k = 0;
    for (uint32_t i = 1; i <= w->nver && !k; i++) {
      const vrec *v = &w->v[i];
      if (!v->acked && v->file == EVF(ev) && v->storer == p->id && v->storer_life == p->life) k = i;
    }
    if (!k) {
      char what[160];
      snprintf(what, sizeof what, "peer %llu was told that %04u is stored at peer %llu, but no content of its "
               "store ever landed", (unsigned long long)p->id, EVF(ev), (unsigned long long)pid(ev->peer));
      violation(w, what, p, find(w, pid(ev->peer)));
      break;
    }
    w->v[k].acked = true;
    w->r->acked++;
    if (k > w->stored[EVF(ev)]) w->stored[EVF(ev)] = k;
    break;
  }
  case CDHT_EV_HANDOVER: /* as the I/O layer does: the files in the range go, then the count */
    mix(w, ev->seq);
    start_handover(w, p, ev);
    break;
  case CDHT_EV_JOIN_FAILED:
    r->join_failures++;
    break;
  case CDHT_EV_RESPONSE_RECEIVED: finish_lookup(w, p, EVF(ev), pid(ev->peer), false, ev->hops); break;
  case CDHT_EV_FILE_HERE: /* our own request, answered here (another's is answered by a response) */
    if (ev->own) finish_lookup(w, p, EVF(ev), p->id, false, 0);
    break;
  case CDHT_EV_REQUEST_FAILED: finish_lookup(w, p, EVF(ev), SIM_NOBODY, true, 0); break;
  default: break;
  }
}

/* Drains what the node queued and re-arms its timer. */
static void settle_node(world *w, speer *p) {
  cdht_event ev;
  cdht_output out;
  while (p->node && cdht_node_next_event(p->node, &ev)) on_node_event(w, p, &ev);
  if (!p->node) return;
  while (cdht_node_next_output(p->node, &out)) {
    if (at(w, &out.to.addr) == p) violation(w, "a node sent a message to itself", p, p);
    route(w, p, &out);
  }
  if (p->state == P_LEFT) return;
  uint64_t d = cdht_node_next_deadline(p->node);
  if (d == CDHT_NEVER) return;
  uint64_t t = d * 1000;
  if (t < w->now_us) t = w->now_us;
  if (t < p->scheduled_us) {
    p->scheduled_us = t;
    sim_ev e = { .kind = SIM_TIMER, .t_us = t, .a = index_of(w, p) };
    push(w, &e);
  }
}

/* ---- settled checks and lookups ---- */

static bool settled(world *w) {
  if (w->partitioned || w->now_us < w->settle_us) return false;
  if (w->churn_count && w->now_us < w->last_churn_us + w->settle_us) return false;
  return w->unsettled == 0;
}

/* The story of one name, for a violation report: each version, where it landed, whether its
 * storer heard STORED, and which peers hold which version now. */
static void print_file(world *w, unsigned f) {
  if (!w->report) return;
  for (uint32_t k = 1; k <= w->nver; k++) {
    const vrec *v = &w->v[k];
    if (v->file != f) continue;
    fprintf(w->report, "  %04u version %u: stored by peer %llu, landed at peer %llu at ", f, k,
            (unsigned long long)v->storer, (unsigned long long)v->holder);
    print_time(w->report, v->land_us);
    fprintf(w->report, " s, %s%s\n", v->acked ? "acknowledged" : "not acknowledged",
            v->lost_by_kill ? ", lost with a killed peer" : "");
  }
  for (uint32_t i = 0; i < w->n; i++) {
    uint32_t k = held_ver(&w->p[i], f);
    if (k)
      fprintf(w->report, "  peer %llu (%s) holds version %u\n", (unsigned long long)w->p[i].id,
              (const char *[]){ "not started", "running", "leaving", "left", "killed", "absent", "joining" }[w->p[i].state], k);
  }
}

static void check_ring(world *w) {
  if (!settled(w)) return;
  w->r->checks++;
  cdht_id *ids = malloc((w->n ? w->n : 1) * sizeof *ids);
  if (!ids) { w->oom = true; return; }
  size_t k = live_ids(w, ids, false);
  unsigned wrong = 0;
  for (size_t i = 0; i < k; i++) {
    speer *p = find(w, ids[i]);
    cdht_id s1 = ids[(i + 1) % k], s2 = ids[(i + 2) % k];
    cdht_id got1 = pid(cdht_node_successor(p->node, 0)), got2 = pid(cdht_node_successor(p->node, 1));
    bool ok = got1 == s1 && got2 == s2;
    if (k >= 3) {
      ok = ok && pid(cdht_node_predecessor(p->node, 0)) == ids[(i + k - 1) % k] &&
           pid(cdht_node_predecessor(p->node, 1)) == ids[(i + k - 2) % k];
    }
    if (!ok && wrong++ < 3) {
      char what[200];
      snprintf(what, sizeof what, "%speer %llu has successors %s %s and predecessors %s %s; "
               "the live ring says successors %llu %llu",
               w->ever_partitioned ? "ring split after the partition: " : "",
               (unsigned long long)p->id, idt(got1), idt(got2),
               idt(pid(cdht_node_predecessor(p->node, 0))), idt(pid(cdht_node_predecessor(p->node, 1))),
               (unsigned long long)s1, (unsigned long long)s2);
      violation(w, what, p, find(w, got1));
    } else if (!ok) {
      w->r->violations++;
    }
  }
  /* Every successor list is the live peers that follow, R of them; with fewer live peers than
   * R + 1 the list ends early, or wraps round to ourselves and on (either is accepted past the
   * live followers).  The first two entries are the successors checked above. */
  size_t R = w->o->node.successors;
  for (size_t i = 0; i < k; i++) {
    speer *p = find(w, ids[i]);
    cdht_peer list[CDHT_SUCC_MAX];
    size_t got = cdht_node_successor_list(p->node, list, CDHT_SUCC_MAX);
    size_t want = R < k - 1 ? R : k - 1, bad = got < want || got > R ? 0 : SIZE_MAX;
    for (size_t j = 0; j < got && j < CDHT_SUCC_MAX && bad == SIZE_MAX; j++) {
      cdht_id e = pid(list[j]), follower = ids[(i + 1 + j) % k];
      if (j < want ? e != follower : e != SIM_NOBODY && e != follower) bad = j;
    }
    w->r->list_checks++;
    if (bad == SIZE_MAX) continue;
    if (wrong++ < 3) {
      char what[400];
      int len = snprintf(what, sizeof what, "peer %llu has a successor list of %zu entries (R %zu, %zu live peers), "
                         "wrong at entry %zu:", (unsigned long long)p->id, got, R, k, bad == SIZE_MAX ? 0 : bad);
      for (size_t j = 0; j < got && j < 8 && len > 0 && (size_t)len < sizeof what; j++)
        len += snprintf(what + len, sizeof what - (size_t)len, " %s", idt(pid(list[j])));
      if (len > 0 && (size_t)len < sizeof what)
        len += snprintf(what + len, sizeof what - (size_t)len, "; the live ring says");
      for (size_t j = 0; j < want && j < 8 && len > 0 && (size_t)len < sizeof what; j++)
        len += snprintf(what + len, sizeof what - (size_t)len, " %llu", (unsigned long long)ids[(i + 1 + j) % k]);
      violation(w, what, p, p);
    } else {
      w->r->violations++;
    }
  }
  if (wrong) w->r->split = true;
  /* The newest acknowledged content of every name is held by a live peer, unless a kill took
   * its last copy (there is no replication yet); and by the peer now responsible for its key. */
  for (unsigned f = 0; f <= SIM_FILE_MAX && k > 0; f++) {
    uint32_t a = w->stored[f];
    if (!a) continue;
    speer *owner = owner_of(w, w->key[f]); /* as cdht_ring_closest_successor over ids, without its O(k) walk */
    uint32_t got = owner ? held_ver(owner, f) : 0;
    if (owner && not_older(w, got, a) && owner->node && cdht_node_is_stored(owner->node, FNAME(f))) continue;
    speer *somewhere = live_holder(w, f, a);
    if (!somewhere && lost_by_kill(w, f, a)) continue;
    char what[320];
    if (!somewhere)
      snprintf(what, sizeof what, "the newest acknowledged content of %04u (version %u) is held by no live peer", f, a);
    else
      snprintf(what, sizeof what, "stored file %04u: its newest acknowledged content (version %u) is not held by its "
               "responsible peer %llu (which holds version %u), but by peer %llu", f, a,
               owner ? (unsigned long long)owner->id : 0ull, got, (unsigned long long)somewhere->id);
    violation(w, what, owner, somewhere ? somewhere : owner);
    print_file(w, f);
    w->r->split = true;
    break;
  }
  free(ids);
}

/* |p| requests |file|.  Returns whether the request went (a running peer with a free slot,
 * no second lookup of the same name pending, and the node took it). */
static bool issue_lookup(world *w, speer *p, uint16_t file, bool counted) {
  if (p->state != P_RUNNING) return false;
  lookup *l = NULL;
  for (int i = 0; i < PEER_LOOKUPS; i++) {
    if (p->lk[i].used && p->lk[i].file == file) return false; /* its answer could not be told apart */
    if (!p->lk[i].used && !l) l = &p->lk[i];
  }
  if (!l) return false;
  const speer *owner = owner_of(w, w->key[file]);
  *l = (lookup){ .used = true, .counted = counted, .file = file, .owner = owner ? owner->id : SIM_NOBODY,
                 .settled = settled(w), .churn_at_issue = w->churn_count };
  cdht_command cmd = { .kind = CDHT_CMD_REQUEST };
  cdht_name_of_number(&cmd.name, file);
  bool went = cdht_node_on_command(p->node, w->now_us / 1000, &cmd) == 0;
  if (!went) l->used = false;
  settle_node(w, p);
  return went;
}

static void issue_store(world *w, speer *p, uint16_t file) {
  if (!p || p->state != P_RUNNING || !p->node) return;
  w->r->stores++;
  cdht_command cmd = { .kind = CDHT_CMD_STORE };
  cdht_name_of_number(&cmd.name, file);
  cdht_node_on_command(p->node, w->now_us / 1000, &cmd);
  settle_node(w, p);
}

static void lookup_batch(world *w) {
  if (w->o->no_lookups) return;
  for (int i = 0; i < 4; i++) /* a few files stored each quiet period, to follow through the churn */
    issue_store(w, &w->p[cdht_rng_below(&w->rng, w->n)], (uint16_t)cdht_rng_below(&w->rng, 10000));
  for (int i = 0; i < 4 && w->o->store_races; i++) { /* and as many overwrites of stored names */
    for (int attempt = 0; attempt < 64; attempt++) {
      uint16_t f = (uint16_t)cdht_rng_below(&w->rng, 10000);
      if (!w->stored[f]) continue;
      issue_store(w, &w->p[cdht_rng_below(&w->rng, w->n)], f);
      break;
    }
  }
  uint32_t sample = w->o->lookup_sample;
  if (sample == 0 || sample >= w->n) {
    for (uint32_t i = 0; i < w->n; i++) issue_lookup(w, &w->p[i], (uint16_t)cdht_rng_below(&w->rng, 10000), false);
  } else {
    for (uint32_t s = 0; s < sample; s++)
      issue_lookup(w, &w->p[cdht_rng_below(&w->rng, w->n)], (uint16_t)cdht_rng_below(&w->rng, 10000), false);
  }
}

static void schedule_lookups(world *w, uint64_t t_us) {
  sim_ev e = { .kind = SIM_LOOKUPS, .t_us = t_us };
  push(w, &e);
}

/* ---- faults and commands ---- */

/* SIM_ACTION's a: a scheduled action's index, or one of these.  ACT_BACK polls whether
 * restarted peer b is back in the ring; ACT_RESTART restarts killed peer b with its old
 * successors, if it is still the kill of time buf (a uint64_t); ACT_STORE stores file b from a
 * random running peer; ACT_QUIT_SOON quits peer b, and at the same moment peer buf (a uint32_t
 * index, UINT32_MAX: none). */
enum { ACT_RANDOM_CHURN = SIM_MAX_ACTIONS, ACT_PART_START, ACT_PART_END, ACT_BACK, ACT_RESTART, ACT_STORE, ACT_QUIT_SOON,
       ACT_LOOKUP, ACT_KILL_RUN_CHECK, ACT_KILL_FRACTION };
#define START_RESTART UINT32_MAX /* SIM_START's b: a restart with the successors in buf */

/* What the simulator did to |p|, among its ring events (|ev| carries the successors or the
 * known peer). */
static void note(world *w, speer *p, enum note what, cdht_event ev) { remember(w, p, &ev, what); }

static void churned(world *w, speer *p) {
  check_ring(w); /* the moment before a fault is the end of a quiet period */
  w->churn_count++;
  if (w->now_us > w->last_churn_us) w->last_churn_us = w->now_us; /* a restart may have pushed it later */
  for (int i = 3; i > 0; i--) {
    w->recent_victims[i] = w->recent_victims[i - 1];
    w->recent_victims_us[i] = w->recent_victims_us[i - 1];
  }
  w->recent_victims[0] = p->id;
  w->recent_victims_us[0] = w->now_us;
  schedule_lookups(w, w->now_us + w->settle_us + 1);
}

/* Kills |p| (alive): the fault itself, without the bookkeeping of a churn event. */
static void kill_one(world *w, speer *p) {
  set_state(w, p, P_DEAD);
  p->gone_us = w->now_us;
  p->old_succ[0] = pid(cdht_node_successor(p->node, 0));
  p->old_succ[1] = pid(cdht_node_successor(p->node, 1));
  note(w, p, NOTE_KILLED, (cdht_event){ 0 });
  cdht_node_del(p->node);
  p->node = NULL;
  if (p->ps) { /* no replication yet: what only it held goes with it */
    for (uint32_t i = 0; i < p->ps->n; i++) note_kill_loss(w, p->ps->f[i].file, p->ps->f[i].ver);
    clear_store(p);
  }
  w->r->kills++;
  for (int i = 0; i < PEER_LOOKUPS; i++) /* a lookup whose requester died was not a lookup that failed */
    if (p->lk[i].used && p->lk[i].counted) w->r->lk_made--;
  memset(p->lk, 0, sizeof p->lk);
  mix(w, 0x6b696c6c00000000ull | p->id);
  if (w->o->trace) {
    print_time(w->o->trace, w->now_us);
    fprintf(w->o->trace, " peer %llu: (killed)\n", (unsigned long long)p->id);
  }
}

static void kill_peer(world *w, speer *p) {
  if (!alive(p)) return;
  churned(w, p);
  kill_one(w, p);
}

/* Kills the |k| peers of |v| (alive, distinct) at the same instant: one churn event. */
static void kill_many(world *w, speer **v, uint32_t k) {
  if (k == 0) return;
  churned(w, v[0]);
  for (uint32_t i = 0; i < k; i++) kill_one(w, v[i]);
}

static void quit_peer(world *w, speer *p) {
  if (p->state != P_RUNNING) return;
  churned(w, p);
  set_state(w, p, P_LEAVING);
  p->old_succ[0] = pid(cdht_node_successor(p->node, 0));
  p->old_succ[1] = pid(cdht_node_successor(p->node, 1));
  note(w, p, NOTE_QUIT, (cdht_event){ 0 });
  w->r->quits++;
  mix(w, 0x7175697400000000ull | p->id);
  cdht_command cmd = { .kind = CDHT_CMD_QUIT };
  cdht_node_on_command(p->node, w->now_us / 1000, &cmd);
  settle_node(w, p);
}

static speer *live_neighbour(world *w, speer *p, int dir) {
  uint32_t i = index_of(w, p);
  for (uint32_t step = 1; step < w->n; step++) {
    speer *q = &w->p[(i + w->n + (uint32_t)dir * step) % w->n];
    if (q->state == P_RUNNING) return q;
  }
  return p;
}

/* A random victim that is not next to a peer hit within the settle time: two adjacent
 * failures inside one detection period break a two-successor ring (§5). */
static bool near_recent_victim(world *w, speer *c) {
  speer *pred = live_neighbour(w, c, -1), *succ = live_neighbour(w, c, 1);
  for (int v = 0; v < 4; v++) {
    if (!w->recent_victims_us[v] || w->now_us - w->recent_victims_us[v] > w->settle_us) continue;
    cdht_id x = w->recent_victims[v];
    if (cdht_ring_between(pred->id, x, c->id, w->mask) || cdht_ring_between(c->id, x, succ->id, w->mask))
      return true;
  }
  return false;
}

static uint32_t running_count(world *w) {
  uint32_t live = 0;
  for (uint32_t i = 0; i < w->n; i++) live += w->p[i].state == P_RUNNING;
  return live;
}

static speer *pick_victim(world *w) {
  if (running_count(w) <= w->o->min_live) return NULL;
  for (int attempt = 0; attempt < 32; attempt++) {
    speer *c = &w->p[cdht_rng_below(&w->rng, w->n)];
    if (c->state != P_RUNNING) continue;
    if (!near_recent_victim(w, c)) return c;
  }
  return NULL;
}

static speer *random_running(world *w) {
  for (int attempt = 0; attempt < 64; attempt++) {
    speer *q = &w->p[cdht_rng_below(&w->rng, w->n)];
    if (q->state == P_RUNNING) return q;
  }
  return NULL;
}

/* |p| joins (a new id, or a restart of a killed or departed one) through |via|. */
static void join_peer(world *w, speer *p, speer *via) {
  if (!via || via->state != P_RUNNING || alive(p)) return;
  churned(w, p);
  if (p->state == P_ABSENT) w->r->joins++;
  else w->r->restarts++;
  mix(w, 0x6a6f696e00000000ull | p->id);
  if (w->o->trace) {
    print_time(w->o->trace, w->now_us);
    fprintf(w->o->trace, " peer %llu: (starts, joining through peer %llu)\n", (unsigned long long)p->id,
            (unsigned long long)via->id);
  }
  set_state(w, p, P_WAITING);
  sim_ev e = { .kind = SIM_START, .t_us = w->now_us, .a = index_of(w, p), .b = index_of(w, via) + 1 };
  push(w, &e);
}

/* |p|, killed or departed, starts again as `cdht ID S1 S2` with the successors it had, the way
 * a user restarts a peer with its old command line (issue 9).  If one of those is no longer
 * running, the user would name the next two running peers instead. */
static void restart_peer(world *w, speer *p) {
  if (p->state != P_DEAD && p->state != P_LEFT) return;
  cdht_id s[2] = { p->old_succ[0], p->old_succ[1] };
  for (int i = 0; i < 2; i++) {
    speer *q = find(w, s[i]);
    if (q && q != p && q->state == P_RUNNING) continue;
    speer *a = live_neighbour(w, p, 1), *b = live_neighbour(w, a, 1);
    s[0] = a->id;
    s[1] = a == p || b == a ? p->id : b->id; /* alone, or a ring of two */
    break;
  }
  churned(w, p);
  /* Only stabilization takes it back, which takes longer than a repair: the ring has settled
   * when the bound has passed, not after the usual settle time. */
  if (w->back_bound_us > w->settle_us) {
    w->last_churn_us = w->now_us + (w->back_bound_us - w->settle_us);
    schedule_lookups(w, w->now_us + w->back_bound_us + 1);
  }
  w->r->restarts++;
  w->r->old_restarts++;
  mix(w, 0x7265737400000000ull | p->id);
  if (w->o->trace) {
    print_time(w->o->trace, w->now_us);
    fprintf(w->o->trace, " peer %llu: (restarts as `cdht %llu %llu %llu`)\n", (unsigned long long)p->id,
            (unsigned long long)p->id, (unsigned long long)s[0], (unsigned long long)s[1]);
  }
  set_state(w, p, P_WAITING);
  sim_ev e = { .kind = SIM_START, .t_us = w->now_us, .a = index_of(w, p), .b = START_RESTART };
  memcpy(e.buf, s, sizeof s);
  push(w, &e);
}

/* Whether restarted peer |p| is back: its neighbours among the running peers have it where
 * the ring says (its predecessor's first successor, its second predecessor's second, its
 * successor's first predecessor), and it has the right successors itself. */
static bool back_in_ring(world *w, speer *p) {
  speer *pred = live_neighbour(w, p, -1), *succ = live_neighbour(w, p, 1);
  if (pred == p) return true; /* alone */
  if (pid(cdht_node_successor(pred->node, 0)) != p->id || pid(cdht_node_predecessor(succ->node, 0)) != p->id ||
      pid(cdht_node_successor(p->node, 0)) != succ->id)
    return false;
  speer *pred2 = live_neighbour(w, pred, -1), *succ2 = live_neighbour(w, succ, 1);
  if (pred2 == p) return true; /* a ring of two */
  return pid(cdht_node_successor(pred2->node, 1)) == p->id && pid(cdht_node_successor(p->node, 1)) == succ2->id;
}

/* The invariant "a restarted peer is back in the ring within a bound", polled from the
 * restart on.  Anything else that changes the ring meanwhile voids the judgement. */
static void check_back(world *w, speer *p) {
  if (!p->restart_us) return;
  if (p->state != P_RUNNING || w->churn_count != p->restart_churn || w->ever_partitioned) {
    p->restart_us = 0;
    return;
  }
  if (back_in_ring(w, p)) {
    w->r->taken_back++;
    add_sample(w, &w->back, (double)(w->now_us - p->restart_us) / 1e6);
    p->restart_us = 0;
    return;
  }
  if (w->now_us - p->restart_us >= w->back_bound_us) {
    speer *pred = live_neighbour(w, p, -1), *succ = live_neighbour(w, p, 1);
    char what[320];
    snprintf(what, sizeof what, "peer %llu, restarted with its old successors %.3f s ago, is not back in the ring "
             "(bound %.3f s): its predecessor %llu has successors %s %s, its successor %llu has predecessors "
             "%s %s, and it has successors %s %s", (unsigned long long)p->id,
             (double)(w->now_us - p->restart_us) / 1e6, (double)w->back_bound_us / 1e6, (unsigned long long)pred->id,
             idt(pid(cdht_node_successor(pred->node, 0))), idt(pid(cdht_node_successor(pred->node, 1))),
             (unsigned long long)succ->id, idt(pid(cdht_node_predecessor(succ->node, 0))),
             idt(pid(cdht_node_predecessor(succ->node, 1))), idt(pid(cdht_node_successor(p->node, 0))),
             idt(pid(cdht_node_successor(p->node, 1))));
    violation(w, what, p, pred);
    if (w->report && succ != pred && succ != p) print_recent(w, succ);
    p->restart_us = 0;
    return;
  }
  /* Four polls an interval: the time it took is measured to a quarter of a ping interval. */
  uint64_t step = w->o->node.ping_interval_ms * 250ull, end = p->restart_us + w->back_bound_us;
  sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + step < end ? w->now_us + step : end, .a = ACT_BACK,
               .b = index_of(w, p) };
  push(w, &e);
}

/* A peer that may (re)join now: never started, departed, or killed long enough ago that the
 * ring has noticed (before that its id is still taken, and the join is rightly refused). */
static speer *pick_joiner(world *w) {
  for (int attempt = 0; attempt < 64; attempt++) {
    speer *c = &w->p[cdht_rng_below(&w->rng, w->n)];
    if (c->state == P_ABSENT || ((c->state == P_DEAD || c->state == P_LEFT) && w->now_us - c->gone_us > w->settle_us))
      return c;
  }
  return NULL;
}

/* ---- store races (--store-races) ---- */

/* A name whose key is in (lo, hi]: one |holder| holds (an overwrite: its old content is about to
 * move), else any.  Returns -1 if the range has no key of a file. */
static int pick_name(world *w, cdht_id lo, cdht_id hi, const speer *holder) {
  uint64_t size = w->mask; /* the ring's mask */
  uint32_t in = 0;
  for (uint32_t i = 0; holder && holder->ps && i < holder->ps->n; i++)
    in += cdht_ring_between(lo, w->key[holder->ps->f[i].file], hi, size);
  if (in && cdht_rng_below(&w->rng, 4) != 0) {
    uint64_t pick = cdht_rng_below(&w->rng, in);
    for (uint32_t i = 0; i < holder->ps->n; i++)
      if (cdht_ring_between(lo, w->key[holder->ps->f[i].file], hi, size) && pick-- == 0)
        return holder->ps->f[i].file;
  }
  for (int attempt = 0; attempt < 64; attempt++) {
    uint16_t f = (uint16_t)cdht_rng_below(&w->rng, SIM_FILE_MAX + 1);
    if (cdht_ring_between(lo, w->key[f], hi, size)) return f;
  }
  return -1;
}

/* Stores of names in (lo, hi], now and within |spread_us| from now, from random running peers:
 * the content of some is accepted before a quit or join and lands after it; others reach the
 * new holder while the old content is still on its way there. */
static void race_stores(world *w, cdht_id lo, cdht_id hi, const speer *holder, uint64_t spread_us) {
  for (int i = 0; i < 3; i++) {
    int f = pick_name(w, lo, hi, holder);
    if (f < 0) return;
    issue_store(w, random_running(w), (uint16_t)f);
    sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + 1 + cdht_rng_below(&w->rng, spread_us), .a = ACT_STORE,
                 .b = (uint32_t)f };
    push(w, &e);
  }
}

/* |p| and its running successor quit at the same moment: they hand each other files. */
static void quit_adjacent(world *w, speer *p, speer *next) {
  if (p->state != P_RUNNING) return;
  if (!next) next = live_neighbour(w, p, 1);
  quit_peer(w, p);
  if (next != p && next->state == P_RUNNING) {
    quit_peer(w, next);
    w->r->adjacent_quits++;
  }
}

/* How long after K <= R-1 adjacent kills at one instant the ring is whole again (every running
 * peer's first successor the next running peer): the detection time (misses x interval +
 * timeout, the kills' last pings having been answered just before), one interval for the
 * witnesses (witness.c waits that long for their word), one interval for the new first
 * successor's first answer and the repair's questions (requery_ms apart, at most an interval),
 * one stabilization interval for a successor list's later entries to reach the peer that takes
 * them up, and message delays (a TCP message is 3 one-way delays; 4 such exchanges). */
static uint64_t kill_run_bound_us(const world *w) {
  const cdht_config *c = &w->o->node;
  uint64_t detect_ms = (uint64_t)c->misses * c->ping_interval_ms + c->ping_timeout_ms;
  return (detect_ms + 2ull * c->ping_interval_ms + c->stabilize_ms) * 1000 + 12ull * w->o->delay_max_us;
}

/* Kills |p| and the |k| - 1 running peers that follow it at the same instant.  With k <= R-1
 * the successor lists hold a live peer past the run, and the ring must be whole within
 * kill_run_bound_us (judged then, unless other churn comes first); with k >= R the run's
 * predecessor has no live successor left, and the violations that follow are expected. */
static void kill_run(world *w, speer *p, uint32_t k, const char *opt) {
  if (p->state != P_RUNNING || k == 0) return;
  speer **v = malloc(k * sizeof *v);
  if (!v) { w->oom = true; return; }
  uint32_t got = 0;
  for (speer *q = p; got < k && q->state == P_RUNNING; q = live_neighbour(w, q, 1)) {
    bool dup = false;
    for (uint32_t i = 0; i < got; i++) dup |= v[i] == q;
    if (dup) break; /* round the whole ring */
    v[got++] = q;
  }
  uint32_t R = w->o->node.successors;
  bool judged = got <= R - 1 && got < running_count(w);
  kill_many(w, v, got);
  if (w->report && !judged && got > 1) {
    fprintf(w->report, "sim: t=");
    print_time(w->report, w->now_us);
    if (got == 2)
      fprintf(w->report, " s: %s killed peers %llu and %llu at once.", opt, (unsigned long long)v[0]->id,
              (unsigned long long)v[1]->id);
    else
      fprintf(w->report, " s: %s killed the %u adjacent peers %llu to %llu at once.", opt, got,
              (unsigned long long)v[0]->id, (unsigned long long)v[got - 1]->id);
    fprintf(w->report, "  Each peer knows %u successors, so the predecessor of the run has no live successor left "
            "and the ring cannot be repaired (docs/protocol.md §5): the violations reported from now on are the "
            "expected result, not a bug.\n", R);
  }
  if (judged) {
    w->kill_run_check_us = w->now_us + kill_run_bound_us(w);
    w->kill_run_churn = w->churn_count;
    sim_ev e = { .kind = SIM_ACTION, .t_us = w->kill_run_check_us, .a = ACT_KILL_RUN_CHECK };
    push(w, &e);
  } else if (got > 1) {
    w->broken_on_purpose = true;
  }
  free(v);
}

/* The ring is whole again after a judged run of kills: every running peer's first successor is
 * the next running peer (the later entries and the predecessors are the settled check's). */
static void check_kill_run(world *w) {
  if (!w->kill_run_check_us || w->now_us != w->kill_run_check_us) return; /* superseded by a later run */
  w->kill_run_check_us = 0;
  if (w->kill_run_churn != w->churn_count || w->ever_partitioned) return; /* more churn: not judged */
  w->r->kill_runs_judged++;
  speer *first = NULL, *prev = NULL;
  unsigned wrong = 0;
  for (uint32_t i = 0; i <= w->n; i++) { /* each running peer against the next, the last against the first */
    speer *q = i < w->n ? &w->p[i] : first;
    if (!q || q->state != P_RUNNING) continue;
    if (!first) first = q;
    if (prev && pid(cdht_node_successor(prev->node, 0)) != q->id && wrong++ < 3) {
      char what[300];
      snprintf(what, sizeof what, "a run of adjacent kills %.3f s ago (the bound): peer %llu has first successor "
               "%s; the live ring says %llu", (double)kill_run_bound_us(w) / 1e6, (unsigned long long)prev->id,
               idt(pid(cdht_node_successor(prev->node, 0))), (unsigned long long)q->id);
      violation(w, what, prev, q);
    } else if (prev && pid(cdht_node_successor(prev->node, 0)) != q->id) {
      w->r->violations++;
    }
    prev = q;
  }
}

/* --kill-fraction: kills that fraction of the running peers at one instant (a random subset of
 * exactly round(fraction x running) of them), as in the Chord paper's Figure 11. */
static void kill_fraction(world *w) {
  uint32_t *idx = malloc((w->n ? w->n : 1) * sizeof *idx), m = 0;
  speer **v = malloc((w->n ? w->n : 1) * sizeof *v);
  if (!idx || !v) { free(idx); free(v); w->oom = true; return; }
  for (uint32_t i = 0; i < w->n; i++)
    if (w->p[i].state == P_RUNNING) idx[m++] = i;
  uint32_t k = (uint32_t)(w->o->kill_fraction * m + 0.5);
  if (k >= m) k = m ? m - 1 : 0; /* someone is left to look things up */
  for (uint32_t i = 0; i < k; i++) { /* a partial Fisher-Yates shuffle: the first k of a random order */
    uint32_t j = i + (uint32_t)cdht_rng_below(&w->rng, m - i);
    uint32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    v[i] = &w->p[idx[i]];
  }
  kill_many(w, v, k);
  free(idx);
  free(v);
}

/* One of the L lookups of --lookups is due: from a random running peer, for a random name, when
 * the ring is settled (else once it is). */
static void next_counted_lookup(world *w) {
  if (!w->lk_left) return;
  uint64_t t = w->now_us + LOOKUP_SPREAD_US / w->o->lookups;
  if (!settled(w)) {
    uint64_t again = w->last_churn_us + w->settle_us + 1;
    t = again > w->now_us ? again : w->now_us + 100000; /* a peer leaving or joining: look again in 0.1 s */
  } else {
    for (int attempt = 0; attempt < 64; attempt++) {
      speer *q = &w->p[cdht_rng_below(&w->rng, w->n)];
      if (issue_lookup(w, q, (uint16_t)cdht_rng_below(&w->rng, SIM_FILE_MAX + 1), true)) {
        w->r->lk_made++;
        w->lk_left--;
        break;
      }
    }
  }
  if (t == w->now_us) t++;
  sim_ev e = { .kind = SIM_ACTION, .t_us = t, .a = ACT_LOOKUP };
  push(w, &e);
}

static void run_action(world *w, uint32_t a) {
  const sim_opts *o = w->o;
  if (a == ACT_RANDOM_CHURN) {
    uint64_t what = cdht_rng_below(&w->rng, o->no_joins ? 2 : 3);
    speer *j = what == 2 ? pick_joiner(w) : NULL;
    speer *v = j ? NULL : pick_victim(w);
    if (j && o->store_races) { /* overwrites of the names the joiner takes, around its join */
      speer *pred = live_neighbour(w, j, -1), *succ = live_neighbour(w, j, 1);
      if (pred != j) race_stores(w, pred->id, j->id, succ, 2000000);
    }
    bool kill = v && (what == 0 || (what == 2 && cdht_rng_below(&w->rng, 2) == 0));
    uint32_t R = o->node.successors;
    if (kill && R >= 3 && cdht_rng_below(&w->rng, 3) == 0) {
      /* With lists of R >= 3, a third of the kills are runs of 2..R-1 adjacent peers at one
       * instant, none next to a recent victim (with it the run could reach R): each judged. */
      uint32_t k = 2 + (uint32_t)cdht_rng_below(&w->rng, R - 2);
      bool clear = running_count(w) > o->min_live + k;
      speer *q = v;
      for (uint32_t i = 0; i < k && clear; i++, q = live_neighbour(w, q, 1)) clear = q != v || i == 0 ? !near_recent_victim(w, q) : false;
      if (clear) {
        kill_run(w, v, k, "the churn");
        sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + o->churn_us, .a = ACT_RANDOM_CHURN };
        push(w, &e);
        return;
      }
    }
    if (j) {
      join_peer(w, j, random_running(w));
    } else if (kill) {
      kill_peer(w, v);
      /* A third of the kills are undone by a user who restarts the peer with its old command
       * line (`cdht ID S1 S2`) at a random moment of the next settle time: before, during or
       * after the verdict, at any phase against its neighbours' pings and stabilization.  Only
       * with stabilization on: nothing else would tell its predecessor. */
      if (w->back_bound_us && cdht_rng_below(&w->rng, 3) == 0) {
        sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + 1 + cdht_rng_below(&w->rng, w->settle_us),
                     .a = ACT_RESTART, .b = index_of(w, v) };
        memcpy(e.buf, &v->gone_us, sizeof v->gone_us);
        push(w, &e);
      }
    } else if (v && o->store_races) {
      /* A quit a little after overwrites of the quitter's names, a third of them together with
       * its successor; more overwrites arrive while they hand over. */
      speer *pred = live_neighbour(w, v, -1), *next = live_neighbour(w, v, 1);
      bool pair = cdht_rng_below(&w->rng, 3) == 0 && next != v && next != pred &&
                  running_count(w) > o->min_live + 1 && !near_recent_victim(w, next);
      uint64_t lead = cdht_rng_below(&w->rng, 100001);
      race_stores(w, pred->id, v->id, v, lead + 1500000);
      if (pair) race_stores(w, v->id, next->id, next, lead + 1500000);
      sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + lead, .a = ACT_QUIT_SOON, .b = index_of(w, v) };
      uint32_t second = pair ? index_of(w, next) : UINT32_MAX;
      memcpy(e.buf, &second, sizeof second);
      push(w, &e);
    } else if (v) {
      quit_peer(w, v);
    }
    sim_ev e = { .kind = SIM_ACTION, .t_us = w->now_us + o->churn_us, .a = ACT_RANDOM_CHURN };
    push(w, &e);
    return;
  }
  if (a == ACT_PART_START) {
    check_ring(w);
    w->partitioned = w->ever_partitioned = true;
    for (uint32_t i = 0; i < w->n; i++) w->p[i].group = i < w->n / 2 ? 0 : 1;
    mix(w, 0x7061727400000000ull);
    return;
  }
  if (a == ACT_PART_END) {
    w->partitioned = false;
    w->churn_count++;
    if (w->now_us > w->last_churn_us) w->last_churn_us = w->now_us;
    mix(w, 0x6865616c00000000ull);
    /* A partition shorter than (misses - 1) pings cannot cost `misses` answers in a row. */
    uint64_t short_limit = ((uint64_t)o->node.misses - 1) * o->node.ping_interval_ms * 1000;
    if (o->partition_len_us < short_limit && w->partition_deaths)
      violation(w, "a partition shorter than the detection time caused a repair", NULL, NULL);
    schedule_lookups(w, w->now_us + w->settle_us + 1);
    return;
  }
  const sim_action *act = &o->actions[a];
  /* `random` (SIM_NOBODY): a running peer drawn now (it used to find nobody, and do nothing). */
  speer *p = act->id == SIM_NOBODY ? random_running(w) : find(w, act->id);
  if (!p) {
    if (w->report && act->id != SIM_NOBODY)
      fprintf(w->report, "sim: action on peer %llu, which is not in the ring\n", (unsigned long long)act->id);
    return;
  }
  switch (act->kind) {
  case SIM_KILL: kill_peer(w, p); break;
  case SIM_QUIT: quit_peer(w, p); break;
  case SIM_REQUEST: issue_lookup(w, p, act->file, false); break;
  case SIM_JOIN: join_peer(w, p, find(w, act->via)); break;
  case SIM_RESTART: restart_peer(w, p); break;
  case SIM_QUIT_ADJACENT: quit_adjacent(w, p, NULL); break;
  case SIM_KILL_ADJACENT: kill_run(w, p, 2, "--kill-adjacent"); break;
  case SIM_KILL_RUN: kill_run(w, p, act->count, "--kill-run"); break;
  }
}

/* ---- the run ---- */

static int cmp_id(const void *a, const void *b) {
  cdht_id x = *(const cdht_id *)a, y = *(const cdht_id *)b;
  return (x > y) - (x < y);
}

static int choose_ids(world *w, uint32_t n) {
  const sim_opts *o = w->o;
  w->p = calloc(n ? n : 1, sizeof *w->p);
  if (!w->p) return -1;
  w->n = n;
  w->unsettled = n; /* calloc: every peer P_WAITING */
  if (o->nids) {
    for (uint32_t i = 0; i < n; i++) w->p[i].id = o->ids[i];
  } else if (o->bits < 64 && n == w->mask + 1) {
    for (uint32_t i = 0; i < n; i++) w->p[i].id = i;
  } else if (o->bits <= 24) {
    /* Floyd's sampling: n distinct ids with a bitmap of the ring (at most 2 MB). */
    uint64_t size = w->mask + 1;
    uint8_t *taken = calloc((size_t)(size + 7) / 8, 1);
    if (!taken) return -1;
    for (uint64_t j = size - n; j < size; j++) {
      uint64_t t = cdht_rng_below(&w->rng, j + 1);
      if (taken[t / 8] & (1u << (t % 8))) t = j;
      taken[t / 8] |= (uint8_t)(1u << (t % 8));
    }
    for (uint64_t id = 0, i = 0; id < size && i < n; id++)
      if (taken[id / 8] & (1u << (id % 8))) w->p[i++].id = id;
    free(taken);
  } else {
    /* A large ring: draw, sort, and draw again for the few duplicates (n <= 2^21 ids of at
     * least 2^25: fewer than 1 in 16 collide), never SIM_NOBODY. */
    cdht_id *ids = malloc(n * sizeof *ids);
    if (!ids) return -1;
    uint32_t have = 0;
    for (int round = 0; have < n; round++) {
      if (round == 64) { free(ids); return -1; }
      for (uint32_t i = have; i < n; i++) {
        cdht_id id;
        do id = cdht_rng_next(&w->rng) & w->mask; while (id == SIM_NOBODY);
        ids[i] = id;
      }
      qsort(ids, n, sizeof *ids, cmp_id);
      have = 0;
      for (uint32_t i = 0; i < n; i++) /* keep the distinct ones, in order, at the front */
        if (i == 0 || ids[i] != ids[have - 1]) ids[have++] = ids[i];
    }
    for (uint32_t i = 0; i < n; i++) w->p[i].id = ids[i];
    free(ids);
  }
  for (uint32_t i = 1; i < n; i++)
    if (w->p[i].id <= w->p[i - 1].id) return -1; /* explicit ids must be sorted and distinct */
  return 0;
}

/* Keeps |extra| of the ids out of the first ring, for joins later: the rest start together. */
static void set_aside(world *w, uint32_t extra) {
  for (uint32_t k = 0; k < extra;) {
    speer *p = &w->p[cdht_rng_below(&w->rng, w->n)];
    if (p->state == P_ABSENT) continue;
    set_state(w, p, P_ABSENT);
    k++;
  }
}

static uint32_t next_initial(world *w, uint32_t i) {
  for (uint32_t k = 1; k <= w->n; k++) {
    uint32_t j = (i + k) % w->n;
    if (w->p[j].state != P_ABSENT) return j;
  }
  return i;
}

/* The rule of the nodes' names: the classic numbers on rings up to 2^16 ids (a name's key is
 * its number, so 10,000 names cover such a ring), BLAKE2b past that (numbers would leave all
 * but the first 10,000 ids of a large ring without a key). */
static uint8_t key_rule(const sim_opts *o) { return o->bits > 16 ? CDHT_KEYS_BLAKE2B : CDHT_KEYS_NUMBERS; }

/* Each name's key, computed by a node of this ring (cdht_node_name_key): the simulator's ground
 * truth follows the node's own rule, whatever it is. */
static int key_table(world *w) {
  cdht_config c = w->o->node;
  c.self = w->p[0].id;
  c.classic = false;
  c.bits = w->o->bits;
  c.keys = key_rule(w->o);
  c.addr = host_addr(0, CDHT_AF_INET);
  c.alt = (cdht_addr){ 0 };
  c.succ[0] = c.succ[1] = cdht_peer_make(c.self, c.addr);
  c.join_via = (cdht_addr){ 0 };
  cdht_node *n;
  if (cdht_node_new(&n, &c, NULL, 0) < 0) return -1;
  for (unsigned f = 0; f <= SIM_FILE_MAX; f++) w->key[f] = cdht_node_name_key(n, FNAME(f));
  cdht_node_del(n);
  return 0;
}

void sim_opts_default(sim_opts *o) {
  memset(o, 0, sizeof *o);
  o->seed = 1;
  o->peers_min = o->peers_max = 32;
  o->bits = 8;
  o->duration_us = 600ull * 1000000;
  o->loss = 0.01;
  o->delay_min_us = 100;
  o->delay_max_us = 5000;
  o->churn_us = 30ull * 1000000;
  o->min_live = 3;
  cdht_config_default(&o->node);
}

int sim_run(const sim_opts *o, sim_result *r, FILE *report) {
  world w = { .o = o, .r = r, .report = report };
  w.node_mem = (cdht_mem){ node_alloc, node_free, &w };
  memset(r, 0, sizeof *r);
  r->digest = 0xcbf29ce484222325ull;
  cdht_rng_seed(&w.rng, o->seed);
  sim_sched_init(&w.sched);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0); /* wall time is reported, never fed to a node */
  int rc = -1;

  uint32_t n = o->nids ? o->nids : o->peers_min + (uint32_t)cdht_rng_below(&w.rng, o->peers_max - o->peers_min + 1);
  uint32_t extra = 0; /* ids that join later */
  w.mask = cdht_ring_mask(o->bits);
  /* Room on the ring: at most mask + 1 ids, SIM_NOBODY excluded on a 64-bit ring (never full). */
  uint64_t room = o->bits < 64 ? w.mask + 1 : UINT64_MAX;
  if (!o->nids && !o->no_joins && o->churn_us && n < room) {
    extra = n / 4 < 2 ? 2 : n / 4;
    if (extra > room - n) extra = (uint32_t)(room - n);
  }
  if (n == 0 || n > room || n + (uint64_t)extra > SIM_PEERS_MAX || choose_ids(&w, n + extra) < 0) {
    if (report) fprintf(report, "sim: cannot place %u peers on a ring of 2^%u ids\n", n, o->bits);
    goto out;
  }
  w.agenda_max = 1000ull * w.n + 100000;
  if (key_table(&w) < 0) {
    if (report) fprintf(report, "sim: bad node configuration\n");
    goto out;
  }
  set_aside(&w, extra);
  for (uint32_t a = 0; a < o->nactions; a++) { /* a fault for a peer that is not there is a usage error */
    static const char *const opt[] = { "--kill", "--quit", "--request", "--kill-adjacent", "--join", "--restart",
                                       "--quit-adjacent" };
    const sim_action *act = &o->actions[a];
    cdht_id missing = act->id != SIM_NOBODY && !find(&w, act->id)           ? act->id
                    : act->kind == SIM_JOIN && !find(&w, act->via) ? act->via
                                                                             : SIM_NOBODY;
    if (missing == SIM_NOBODY) continue;
    if (report)
      fprintf(report, "cdht-sim: %s: peer %llu is not in the ring (seed %llu)\n", opt[act->kind],
              (unsigned long long)missing, (unsigned long long)o->seed);
    rc = -2;
    goto out;
  }
  r->peers = n;
  const cdht_config *nc = &o->node;
  uint64_t detect_ms = (uint64_t)nc->misses * nc->ping_interval_ms + nc->ping_timeout_ms;
  /* detection, one interval for the witnesses, one for the repair query and the new pings */
  w.settle_us = (detect_ms + 3ull * nc->ping_interval_ms + 1000) * 1000;
  /* A successor list's entries past the first two (R > 2) travel one peer per stabilization:
   * after a death, the peer R-1 places before it hears of it R-2 rounds after the one 2 places
   * before it, each round up to an interval late. */
  if (nc->successors > 2) w.settle_us += (nc->successors - 1ull) * nc->stabilize_ms * 1000;
  /* A peer restarted as `cdht ID S1 S2` is back in the ring within (§8): a verdict on it may
   * still be under way when it restarts (detection, and an interval for the witnesses); its
   * predecessor takes back, on hearsay, no peer heard less than an interval after that verdict,
   * and it pings once an interval (two intervals); then one stabilization for the predecessor
   * to ask its successor, one for the second predecessor to ask the first, and one spare; and a
   * few message delays.  Defaults: 4.5 + 1 + 2 + 3 x 3 = 16.5 s; with ping 0.2, timeout 0.2,
   * stabilize 0.6: 1.0 + 0.2 + 0.4 + 1.8 = 3.4 s.  Without stabilization nothing takes it back. */
  if (nc->stabilize_ms)
    w.back_bound_us = (detect_ms + 3ull * nc->ping_interval_ms + 3ull * nc->stabilize_ms) * 1000 + 8ull * o->delay_max_us;
  r->back_bound_s = (double)w.back_bound_us / 1e6;
  r->node_struct = cdht_node_size();

  for (uint32_t i = 0; i < w.n; i++) {
    speer *p = &w.p[i];
    p->scheduled_us = NEVER_US;
    if (p->state == P_ABSENT) continue;
    sim_ev e = { .kind = SIM_START, .a = i, .t_us = cdht_rng_below(&w.rng, (uint64_t)nc->ping_interval_ms * 1000) };
    push(&w, &e);
  }
  for (uint32_t a = 0; a < o->nactions; a++) {
    sim_ev e = { .kind = SIM_ACTION, .t_us = o->actions[a].t_us, .a = a };
    push(&w, &e);
  }
  if (o->churn_us) {
    sim_ev e = { .kind = SIM_ACTION, .t_us = o->churn_us, .a = ACT_RANDOM_CHURN };
    push(&w, &e);
  }
  if (o->partition_len_us) {
    sim_ev e = { .kind = SIM_ACTION, .t_us = o->partition_at_us, .a = ACT_PART_START };
    push(&w, &e);
    e.t_us = o->partition_at_us + o->partition_len_us;
    e.a = ACT_PART_END;
    push(&w, &e);
  }
  schedule_lookups(&w, w.settle_us + 1);
  if (o->kill_fraction > 0) {
    sim_ev e = { .kind = SIM_ACTION, .t_us = o->kill_at_us, .a = ACT_KILL_FRACTION };
    push(&w, &e);
  }
  if (o->lookups) { /* after the ring settled: the first time, or after the fraction's kill */
    w.lk_left = o->lookups;
    sim_ev e = { .kind = SIM_ACTION, .t_us = (o->kill_fraction > 0 ? o->kill_at_us : 0) + w.settle_us + 1,
                 .a = ACT_LOOKUP };
    push(&w, &e);
  }
  {
    sim_ev e = { .kind = SIM_CHECK, .t_us = o->duration_us };
    push(&w, &e);
  }

  sim_ev ev = { 0 };
  for (; !w.oom && !w.storm && sim_sched_pop(&w.sched, &ev) && ev.t_us <= o->duration_us;
       w.msg_live -= ev.msg ? ev.len : 0, free(ev.msg), ev.msg = NULL) {
    w.now_us = ev.t_us;
    r->events++;
    /* The next event's peer record, most likely not in the cache at 10^4 peers and more: start
     * loading it while this event runs (its body is prefetched by the pop). */
    uint32_t next = sim_sched_next_peer(&w.sched);
    if (next < w.n) __builtin_prefetch(&w.p[next]);
    uint64_t now_ms = w.now_us / 1000;
    switch (ev.kind) {
    case SIM_START: {
      speer *p = &w.p[ev.a];
      cdht_config c = *nc;
      c.self = p->id;
      c.classic = false; /* addresses come from messages, as between hosts */
      c.addr = host_addr(ev.a, first_family(ev.a));
      c.alt = host_addr(ev.a, first_family(ev.a) == CDHT_AF_INET ? CDHT_AF_INET6 : CDHT_AF_INET);
      c.bits = o->bits;
      c.keys = key_rule(o);
      cdht_peer me = record_of(&w, p);
      if (ev.b == START_RESTART) { /* `cdht ID S1 S2` with the successors it had */
        cdht_id s[2];
        memcpy(s, ev.buf, sizeof s);
        for (int i = 0; i < 2; i++) c.succ[i] = s[i] == p->id ? me : record_of(&w, find(&w, s[i]));
      } else if (ev.b) { /* a join (or a restart) through a known peer */
        c.join_via = record_of(&w, &w.p[ev.b - 1]).addr;
        c.succ[0] = c.succ[1] = me;
      } else {
        uint32_t s1 = next_initial(&w, ev.a);
        c.succ[0] = record_of(&w, &w.p[s1]);
        c.succ[1] = record_of(&w, &w.p[next_initial(&w, s1)]);
        if (c.succ[1].id == c.self && c.succ[0].id != c.self) c.succ[1] = me; /* two peers */
      }
      /* A lookup may pass every peer: give it time for that many hops before resending. */
      uint64_t walk_ms = (uint64_t)w.n * o->delay_max_us * 2 / 1000 + 10000;
      if (c.request_timeout_ms < walk_ms) c.request_timeout_ms = (uint32_t)walk_ms;
      if (c.join_timeout_ms < walk_ms) c.join_timeout_ms = (uint32_t)walk_ms; /* a join walks the ring too */
      cdht_rng secret; /* each process its own secret, from the seed, without moving the world's rng */
      cdht_rng_seed(&secret, o->seed ^ (p->id << 20) ^ ((uint64_t)now_ms << 40));
      for (size_t i = 0; i < sizeof c.secret; i++) c.secret[i] = (uint8_t)cdht_rng_next(&secret);
      cdht_node_del(p->node); /* a restart: the old process is long gone */
      p->node = NULL;
      memset(p->lk, 0, sizeof p->lk);
      clear_store(p); /* a new process with an empty data directory */
      p->life++;
      p->ndeclared = 0;
      p->repair_kill_us = 0;
      p->scheduled_us = NEVER_US;
      if (cdht_node_new(&p->node, &c, &w.node_mem, now_ms) < 0) {
        if (report) fprintf(report, "sim: bad node configuration for peer %llu\n", (unsigned long long)p->id);
        goto out;
      }
      set_state(&w, p, ev.b && ev.b != START_RESTART ? P_JOINING : P_RUNNING);
      cdht_event started = { .peer = ev.b && ev.b != START_RESTART ? record_of(&w, &w.p[ev.b - 1]) : cdht_peer_none(),
                             .succ = { c.succ[0], c.succ[1] } };
      note(&w, p, ev.b && ev.b != START_RESTART ? NOTE_JOINING : NOTE_STARTED, started);
      /* A restarted peer is a new process: earlier verdicts about it no longer apply (a first
       * start has none: the loop over every peer would make starting N peers O(N^2)). */
      for (uint32_t i = 0; i < w.n && p->life > 1; i++)
        for (unsigned d = 0; d < DECLARED; d++)
          if (w.p[i].declared[d] == p->id) w.p[i].declared[d] = SIM_NOBODY;
      settle_node(&w, p);
      if (ev.b == START_RESTART && w.back_bound_us) {
        p->restart_us = w.now_us ? w.now_us : 1;
        p->restart_churn = w.churn_count;
        check_back(&w, p);
      }
      break;
    }
    case SIM_TIMER: {
      speer *p = &w.p[ev.a];
      if (!p->node || ev.t_us != p->scheduled_us) break; /* superseded by an earlier deadline */
      p->scheduled_us = NEVER_US;
      cdht_node_on_timer(p->node, now_ms);
      settle_node(&w, p);
      break;
    }
    case SIM_DELIVER: {
      speer *src = &w.p[ev.a], *dst = &w.p[ev.b];
      if (cut(&w, src, dst)) break;
      if (!alive(dst) || !dst->node) {
        if (ev.transport == CDHT_TCP && alive(src)) { /* connection refused */
          /* The refusal names the record the connection was for (the address family it was
           * tried on), as the I/O layer's does. */
          sim_ev u = { .kind = SIM_UNREACHABLE, .t_us = w.now_us + delay(&w), .a = ev.a, .b = (uint32_t)-1 };
          memcpy(u.buf, ev.buf + sizeof(cdht_addr), sizeof(cdht_peer));
          push(&w, &u);
        }
        break;
      }
      cdht_addr from;
      memcpy(&from, ev.buf, sizeof from);
      if (ev.transport == CDHT_UDP) {
        cdht_node_on_datagram(dst->node, now_ms, &from, ev.msg, ev.len);
      } else {
        from.port = 40000; /* an ephemeral port */
        cdht_node_on_frame(dst->node, now_ms, &from, ev.msg, ev.len);
      }
      settle_node(&w, dst);
      break;
    }
    case SIM_UNREACHABLE: {
      speer *src = &w.p[ev.a];
      if (!alive(src) || !src->node) break;
      cdht_peer to;
      if (ev.b == (uint32_t)-1) memcpy(&to, ev.buf, sizeof to);
      else to = record_of(&w, &w.p[ev.b]);
      if (o->trace) { /* what the I/O layer would see: a refused connection */
        print_time(o->trace, w.now_us);
        fprintf(o->trace, " peer %llu: (connection to peer %s refused)\n", (unsigned long long)src->id, idt(pid(to)));
      }
      cdht_node_on_unreachable(src->node, now_ms, to);
      settle_node(&w, src);
      break;
    }
    case SIM_ACTION:
      if (ev.a == ACT_BACK) {
        check_back(&w, &w.p[ev.b]);
      } else if (ev.a == ACT_STORE) {
        issue_store(&w, random_running(&w), (uint16_t)ev.b);
      } else if (ev.a == ACT_QUIT_SOON) {
        uint32_t second;
        memcpy(&second, ev.buf, sizeof second);
        if (second == UINT32_MAX) quit_peer(&w, &w.p[ev.b]);
        else quit_adjacent(&w, &w.p[ev.b], &w.p[second]);
      } else if (ev.a == ACT_LOOKUP) {
        next_counted_lookup(&w);
      } else if (ev.a == ACT_KILL_RUN_CHECK) {
        check_kill_run(&w);
      } else if (ev.a == ACT_KILL_FRACTION) {
        kill_fraction(&w);
      } else if (ev.a == ACT_RESTART) {
        uint64_t killed_us;
        memcpy(&killed_us, ev.buf, sizeof killed_us);
        if (w.p[ev.b].state == P_DEAD && w.p[ev.b].gone_us == killed_us) restart_peer(&w, &w.p[ev.b]);
      } else {
        run_action(&w, ev.a);
      }
      break;
    case SIM_LOOKUPS: if (settled(&w)) lookup_batch(&w); break;
    case SIM_CHECK: check_ring(&w); break;
    case SIM_XFER: on_xfer(&w, &ev); break;
    }
  }
  free(ev.msg); /* the first event past the end, popped but not run */
  r->end_us = w.storm || w.oom ? w.now_us : o->duration_us;
  if (w.oom) {
    if (report) fprintf(report, "sim: out of memory\n");
    goto out;
  }
  r->detect_mean_s = mean(&w.detect);
  r->repair_mean_s = mean(&w.repair);
  r->detect_p50_s = percentile(&w.detect, 0.5);
  r->detect_p99_s = percentile(&w.detect, 0.99);
  r->detect_max_s = w.detect.n ? w.detect.v[w.detect.n - 1] : 0;
  r->repair_p50_s = percentile(&w.repair, 0.5);
  r->repair_p99_s = percentile(&w.repair, 0.99);
  r->back_mean_s = mean(&w.back);
  r->back_max_s = percentile(&w.back, 1.0);
  for (uint32_t i = 0; i < w.n; i++) /* the L lookups still unanswered: failed */
    for (int j = 0; j < PEER_LOOKUPS; j++)
      if (w.p[i].lk[j].used && w.p[i].lk[j].counted) r->lk_unanswered++;
  r->lk_failed += r->lk_unanswered;
  r->hops_mean = mean(&w.hops);
  r->hops_p50 = (uint32_t)percentile(&w.hops, 0.5);
  r->hops_p99 = (uint32_t)percentile(&w.hops, 0.99);
  /* Memory per peer: the node (its struct, and what it allocated at the nodes' peak), and the
   * simulator's record of it with its share of the agenda and of the messages in flight. */
  /* the node's struct is one of the blocks its cdht_mem gave (cdht_node_new allocates it) */
  r->node_alloc = w.node_peak / w.n > r->node_struct ? w.node_peak / w.n - r->node_struct : 0;
  r->sim_bytes = sizeof(speer) +
                 (w.sched.cap * sizeof(sim_key) + w.sched.nbodies * (sizeof(sim_ev) + sizeof(uint32_t)) + w.msg_peak) / w.n;
  r->bytes_per_peer = r->node_struct + r->node_alloc + r->sim_bytes;
  r->rss_per_peer = (size_t)(peak_rss() / w.n);
  rc = r->violations ? 1 : 0;
out:
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  for (uint32_t i = 0; i < w.n; i++) {
    cdht_node_del(w.p[i].node);
    clear_store(&w.p[i]);
  }
  free(w.v);
  free(w.p);
  free(w.detect.v);
  free(w.repair.v);
  free(w.back.v);
  free(w.hops.v);
  sim_sched_clear(&w.sched);
  return rc;
}

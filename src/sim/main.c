/* cdht-sim: runs many cdht cores over a simulated network (see sim.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "sim/sim.h"

#ifndef CDHT_VERSION_STRING
#define CDHT_VERSION_STRING "0.0.0"
#endif

static const char usage[] =
  "usage: cdht-sim [OPTIONS]\n"
  "\n"
  "Runs the cdht protocol core of N peers over a simulated network with a virtual clock and one\n"
  "seeded random generator: the same options and seed give the same run, byte for byte.  The\n"
  "last two lines are `digest <16 hex digits>` (a hash of the event trace) and `violations N`.\n"
  "Each run's summary line gives the events per wall-clock second and the memory per peer: the\n"
  "node's struct, what the nodes allocated (at their peak, per peer), the simulator's own state,\n"
  "and the process's peak RSS divided by the peers.  Violations are described on stderr; a run\n"
  "whose messages multiply past 1000 in flight per peer stops there (a message storm).\n"
  "\n"
  "Ring and run:\n"
  "  --peers N | A..B        peers (default 32, at most 2000000); a range draws the count from the seed\n"
  "  --ring-size N           ids 0..N-1, N a power of two (default 256, at most 2^63)\n"
  "  --bits B                ids 0..2^B-1 (1..64; default 8); past 16 the names 0000..9999 are keyed\n"
  "                          by BLAKE2b (as with cdht --listen), so they spread over the ring\n"
  "  --ids I,J,K...          explicit sorted ids instead of random ones\n"
  "  --seed S                random seed (default 1)\n"
  "  --seeds A..B            sweep: run every seed, report the first failing one\n"
  "  --duration SECONDS      simulated time (default 600)\n"
  "  --scenario classic      the classic demo on ring 1 3 4 5 8 10 12 15, printing each peer's lines\n"
  "  --scenario fig11        the Chord paper's Figure 11: 10000 peers on a 2^32 ring, successor lists of\n"
  "                          16 and fingers, no churn or loss; a fraction of the peers killed at one\n"
  "                          instant once the fingers are built, then 10000 lookups once the ring\n"
  "                          settled; prints `fig11 p P: ...` with the failed fraction, for each\n"
  "                          P of 0.1 0.2 0.3 0.4 0.5, or for --kill-fraction P.  Options after it\n"
  "                          change its settings\n"
  "  --kill-fraction P       kill this fraction of the running peers at one instant (--kill-at)\n"
  "  --kill-at SECONDS       when (default with fig11: once the fingers are built; else 60)\n"
  "Network faults:\n"
  "  --loss P                datagram loss probability (default 0.01)\n"
  "  --dup P                 datagram duplication probability (default 0)\n"
  "  --reorder P             probability a datagram is held back up to 10 x the maximum delay (default 0)\n"
  "  --delay MIN..MAX        one-way delay in ms, uniform (default 0.1..5)\n"
  "  --partition AT+LEN      the two halves of the ring cannot talk from AT for LEN seconds\n"
  "Churn:\n"
  "  --churn SECONDS         a random kill or quit this often (default 30; 0 = none)\n"
  "  --min-live N            random churn stops at N live peers (default 3)\n"
  "  --kill ID@T, --quit ID@T        kill or quit peer ID (or `random`) at T seconds\n"
  "  --kill-adjacent ID@T            kill ID and its successor at once (with --successors 2 this breaks\n"
  "                                  the ring: expected to fail)\n"
  "  --kill-run ID:K@T               kill ID and the K-1 running peers after it at the same instant; with\n"
  "                                  K <= R-1 every peer's first successor must be right again within\n"
  "                                  the detection time + 2 ping intervals + 1 stabilization (+ delays);\n"
  "                                  with K >= R the ring breaks (expected to fail)\n"
  "  --quit-adjacent ID@T            ID and its successor quit at the same moment\n"
  "  --restart ID@T                  peer ID (killed or departed) starts again as `cdht ID S1 S2` with\n"
  "                                  its old successors; it must be back in the ring within a bound\n"
  "  --request ID:NNNN@T             peer ID requests file NNNN at T seconds\n"
  "  --join ID:KNOWN@T               peer ID (not running) joins through peer KNOWN at T seconds\n"
  "  --store-races           the churn overwrites stored names around quits and joins (their content\n"
  "                          lands before, during and after the handovers), and a third of its quits\n"
  "                          are of two neighbours at the same moment\n"
  "  --keep-newer            what if a handed-over file never replaced newer content at its receiver\n"
  "                          (the real peers cannot tell which is newer: it is counted as\n"
  "                          `older over newer` either way)\n"
  "  --no-joins              random churn only kills and quits (by default it also joins new\n"
  "                          peers and restarts killed or departed ones, with a join or as\n"
  "                          `cdht ID S1 S2` with their old successors)\n"
  "Peers:\n"
  "  --ping-interval SECONDS, --ping-timeout SECONDS, --misses N   as for cdht\n"
  "  --stabilize-interval SECONDS    as for cdht (default 3; 0 = never)\n"
  "  --successors R          successor list length, 2..32 (default 2); every list is checked against\n"
  "                          the live ring once it settled\n"
  "  --fingers, --no-fingers route by finger tables, or along successors (default)\n"
  "  --fix-fingers-interval SECONDS  one finger refreshed this often (default: the stabilize interval)\n"
  "  --lookup-sample N       lookups per settled check (default: one from every peer, at most 256)\n"
  "  --lookups L             L lookups from random running peers for random names, issued evenly over\n"
  "                          10 s once the ring settled, each checked to reach the responsible live\n"
  "                          peer; the summary ends with `lookups L hops mean M p50 P p99 Q failed F`\n"
  "                          (hops: the answer's count; 0 when the requester was responsible; one\n"
  "                          unanswered at the end has failed)\n"
  "  --classic-detector      the classic rule only (no probes, no witness), for comparison\n"
  "Output:\n"
  "  --trace                 print every event (replay of one seed)\n"
  "  --lines                 print each peer's canonical lines (no pings), as the real peers would\n"
  "  --version, --help\n";

static int bad(const char *what, const char *value) {
  fprintf(stderr, "cdht-sim: %s: invalid value '%s'\n\n%s", what, value ? value : "", usage);
  return 2;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_range(const char *s, uint64_t max, uint64_t *a, uint64_t *b) {
  const char *dots = strstr(s, "..");
  if (!dots) {
    if (parse_u64(s, max, a) < 0) return -1;
    *b = *a;
    return 0;
  }
  char left[32];
  size_t n = (size_t)(dots - s);
  if (n == 0 || n >= sizeof left) return -1;
  memcpy(left, s, n);
  left[n] = '\0';
  if (parse_u64(left, max, a) < 0 || parse_u64(dots + 2, max, b) < 0 || *b < *a) return -1;
  return 0;
}

static int parse_prob(const char *s, double *p) {
  char *end;
  if (!s || !*s) return -1;
  double v = strtod(s, &end);
  if (*end || !(v >= 0 && v <= 1)) return -1;
  *p = v;
  return 0;
}

static int parse_seconds_us(const char *s, uint64_t *us) {
  uint64_t ms;
  if (!s || cdht_args_decimal(s, 10000000, &ms) < 0) return -1;
  *us = ms * 1000;
  return 0;
}

/* ID@T, ID:NNNN@T, ID:KNOWN@T, ID:K@T; ID may be `random` (kills and quits). */
static int parse_action(const char *s, sim_action_kind kind, sim_action *a) {
  char buf[64];
  if (!s || strlen(s) >= sizeof buf) return -1;
  strcpy(buf, s);
  char *at = strchr(buf, '@');
  if (!at) return -1;
  *at = '\0';
  if (parse_seconds_us(at + 1, &a->t_us) < 0) return -1;
  a->kind = kind;
  if (kind == SIM_JOIN) {
    char *colon = strchr(buf, ':');
    uint64_t via;
    if (!colon || parse_u64(colon + 1, SIM_NOBODY - 1, &via) < 0) return -1;
    a->via = via;
    *colon = '\0';
  }
  if (kind == SIM_REQUEST) {
    char *colon = strchr(buf, ':');
    uint64_t f;
    if (!colon || strlen(colon + 1) != 4 || parse_u64(colon + 1, 9999, &f) < 0) return -1;
    a->file = (uint16_t)f;
    *colon = '\0';
  }
  if (kind == SIM_KILL_RUN) {
    char *colon = strchr(buf, ':');
    uint64_t k;
    if (!colon || parse_u64(colon + 1, SIM_PEERS_MAX, &k) < 0 || k == 0) return -1;
    a->count = (uint32_t)k;
    *colon = '\0';
  }
  uint64_t id;
  if (strcmp(buf, "random") == 0 && kind != SIM_REQUEST && kind != SIM_JOIN && kind != SIM_RESTART) a->id = SIM_NOBODY;
  else if (parse_u64(buf, SIM_NOBODY - 1, &id) == 0) a->id = id;
  else return -1;
  return 0;
}

static void classic_scenario(sim_opts *o) {
  static const cdht_id ring[] = { 1, 3, 4, 5, 8, 10, 12, 15 };
  o->nids = sizeof ring / sizeof ring[0];
  memcpy(o->ids, ring, sizeof ring);
  o->loss = 0;
  o->churn_us = 0;
  o->no_lookups = true; /* only the demo's own requests, as in the real demo */
  o->duration_us = 30ull * 1000000;
  sim_action steps[] = {
    { .t_us = 5000000, .kind = SIM_REQUEST, .id = 8, .file = 2012 },
    { .t_us = 8000000, .kind = SIM_QUIT, .id = 10 },
    { .t_us = 15000000, .kind = SIM_REQUEST, .id = 4, .file = 10 },
    { .t_us = 18000000, .kind = SIM_KILL, .id = 5 },
  };
  memcpy(o->actions, steps, sizeof steps);
  o->nactions = sizeof steps / sizeof steps[0];
  o->lines = stdout;
}

/* The Chord paper's Figure 11 (Stoica et al., 2001): a large ring, successor lists and fingers,
 * no churn or loss; a fraction killed at one instant, then lookups.  A list of 16 survives
 * p = 0.5 except where 16 peers in a row died: about 0.5^16 x 5000 = 0.08 such runs expected in
 * 10,000 peers.  The kill waits until the fingers are built: one finger per fix interval, 32
 * of them, after the ring settled (set in main once the intervals are known). */
static void fig11_scenario(sim_opts *o) {
  o->peers_min = o->peers_max = 10000;
  o->bits = 32;
  o->churn_us = 0;
  o->loss = 0;
  o->node.successors = 16;
  o->node.fingers = true;
  o->lookups = 10000;
  o->duration_us = 0; /* from the intervals, in main */
  o->kill_at_us = 0;
}

static void print_summary(FILE *f, const sim_opts *o, const sim_result *r) {
  double sim_s = (double)r->end_us / 1e6; /* the duration, or less if a message storm stopped it */
  fprintf(f, "seed %llu: peers %u, simulated %.0f s in %.2f s wall (%.0fx), events %llu (%.0f/s), "
             "lookups %llu ok / %llu failed, stores %llu, kills %llu, quits %llu, joins %llu, restarts %llu, repairs %llu, "
             "detection mean %.2f s p50 %.2f s p99 %.2f s, repair mean %.2f s p99 %.2f s, false detections %llu, "
             "contents landed %llu, acknowledged %llu, lost with kills %llu, older over newer %llu, adjacent quits %llu, "
             "kill runs judged %llu, lists checked %llu, "
             "memory %zu B/peer (node %zu + %zu allocated, simulator %zu), peak RSS %zu B/peer, violations %llu\n",
          (unsigned long long)o->seed, r->peers, sim_s, r->wall_s, r->wall_s > 0 ? sim_s / r->wall_s : 0,
          (unsigned long long)r->events, r->wall_s > 0 ? (double)r->events / r->wall_s : 0,
          (unsigned long long)r->lookups_ok, (unsigned long long)r->lookups_failed, (unsigned long long)r->stores,
          (unsigned long long)r->kills,
          (unsigned long long)r->quits, (unsigned long long)r->joins, (unsigned long long)r->restarts,
          (unsigned long long)r->repairs, r->detect_mean_s, r->detect_p50_s,
          r->detect_p99_s, r->repair_mean_s, r->repair_p99_s, (unsigned long long)r->false_deaths,
          (unsigned long long)r->versions, (unsigned long long)r->acked, (unsigned long long)r->lost_with_kills,
          (unsigned long long)r->stale_overwrites, (unsigned long long)r->adjacent_quits,
          (unsigned long long)r->kill_runs_judged, (unsigned long long)r->list_checks, r->bytes_per_peer,
          r->node_struct, r->node_alloc, r->sim_bytes, r->rss_per_peer, (unsigned long long)r->violations);
  if (o->kill_fraction > 0)
    fprintf(f, "fig11 p %.2f: %llu of %u peers killed at %.1f s, %llu lookups, %llu failed (fraction %.4f)\n",
            o->kill_fraction, (unsigned long long)r->kills, r->peers, (double)o->kill_at_us / 1e6,
            (unsigned long long)r->lk_made, (unsigned long long)r->lk_failed,
            r->lk_made ? (double)r->lk_failed / (double)r->lk_made : 0);
  if (o->lookups) {
    if (r->lk_unanswered)
      fprintf(f, "(%llu of the lookups were still unanswered when the run ended: a longer --duration)\n",
              (unsigned long long)r->lk_unanswered);
    fprintf(f, "lookups %llu hops mean %.2f p50 %u p99 %u failed %llu\n", (unsigned long long)r->lk_made,
            r->hops_mean, r->hops_p50, r->hops_p99, (unsigned long long)r->lk_failed);
  }
}

int main(int argc, char **argv) {
  sim_opts o;
  sim_opts_default(&o);
  uint64_t seed_a = 1, seed_b = 1;
  int sweep = 0, fig11 = 0, kill_at_given = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t x, y;
    uint32_t ms;
#define TAKE() (i++, v)
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage, stdout); return 0; }
    else if (strcmp(a, "--version") == 0) { puts("cdht-sim " CDHT_VERSION_STRING); return 0; }
    else if (strcmp(a, "--peers") == 0) {
      if (parse_range(TAKE(), SIM_PEERS_MAX, &x, &y) < 0 || x == 0) return bad(a, v);
      o.peers_min = (uint32_t)x;
      o.peers_max = (uint32_t)y;
    } else if (strcmp(a, "--ring-size") == 0) {
      if (parse_u64(TAKE(), (uint64_t)1 << 63, &x) < 0 || x < 2 || (x & (x - 1))) return bad(a, v); /* 2^bits ids */
      for (o.bits = 1; ((uint64_t)1 << o.bits) < x; o.bits++) continue;
    } else if (strcmp(a, "--bits") == 0) {
      if (parse_u64(TAKE(), 64, &x) < 0 || x < 1) return bad(a, v);
      o.bits = (uint8_t)x;
    } else if (strcmp(a, "--ids") == 0) {
      const char *s = TAKE();
      if (!s) return bad(a, s);
      char buf[2048];
      if (strlen(s) >= sizeof buf) return bad(a, s);
      strcpy(buf, s);
      o.nids = 0;
      for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (o.nids == 256 || parse_u64(tok, SIM_NOBODY - 1, &x) < 0) return bad(a, s);
        o.ids[o.nids++] = x;
      }
      if (o.nids == 0) return bad(a, s);
    } else if (strcmp(a, "--seed") == 0) {
      if (parse_u64(TAKE(), UINT64_MAX, &x) < 0) return bad(a, v);
      seed_a = seed_b = x;
    } else if (strcmp(a, "--seeds") == 0) {
      if (parse_range(TAKE(), UINT64_MAX - 1, &seed_a, &seed_b) < 0) return bad(a, v);
      sweep = 1;
    } else if (strcmp(a, "--duration") == 0) {
      if (parse_seconds_us(TAKE(), &o.duration_us) < 0 || o.duration_us == 0) return bad(a, v);
    } else if (strcmp(a, "--scenario") == 0) {
      if (!TAKE() || (strcmp(v, "classic") != 0 && strcmp(v, "fig11") != 0)) return bad(a, v);
      if (strcmp(v, "classic") == 0) classic_scenario(&o);
      else fig11 = 1, fig11_scenario(&o);
    } else if (strcmp(a, "--kill-fraction") == 0) {
      if (parse_prob(TAKE(), &o.kill_fraction) < 0 || o.kill_fraction <= 0 || o.kill_fraction >= 1) return bad(a, v);
    } else if (strcmp(a, "--kill-at") == 0) {
      if (parse_seconds_us(TAKE(), &o.kill_at_us) < 0) return bad(a, v);
      kill_at_given = 1;
    } else if (strcmp(a, "--loss") == 0) {
      if (parse_prob(TAKE(), &o.loss) < 0) return bad(a, v);
    } else if (strcmp(a, "--dup") == 0) {
      if (parse_prob(TAKE(), &o.dup) < 0) return bad(a, v);
    } else if (strcmp(a, "--reorder") == 0) {
      if (parse_prob(TAKE(), &o.reorder) < 0) return bad(a, v);
    } else if (strcmp(a, "--delay") == 0) {
      const char *s = TAKE();
      const char *dots = s ? strstr(s, "..") : NULL;
      char left[32];
      if (!dots || (size_t)(dots - s) >= sizeof left) return bad(a, s);
      memcpy(left, s, (size_t)(dots - s));
      left[dots - s] = '\0';
      if (cdht_args_decimal(left, 10000, &x) < 0 || cdht_args_decimal(dots + 2, 10000, &y) < 0 || y < x)
        return bad(a, s);
      o.delay_min_us = (uint32_t)x;
      o.delay_max_us = (uint32_t)y;
    } else if (strcmp(a, "--partition") == 0) {
      const char *s = TAKE();
      const char *plus = s ? strchr(s, '+') : NULL;
      char left[32];
      if (!plus || (size_t)(plus - s) >= sizeof left) return bad(a, s);
      memcpy(left, s, (size_t)(plus - s));
      left[plus - s] = '\0';
      if (parse_seconds_us(left, &o.partition_at_us) < 0 || parse_seconds_us(plus + 1, &o.partition_len_us) < 0 ||
          o.partition_len_us == 0)
        return bad(a, s);
    } else if (strcmp(a, "--churn") == 0) {
      if (parse_seconds_us(TAKE(), &o.churn_us) < 0) return bad(a, v);
    } else if (strcmp(a, "--min-live") == 0) {
      if (parse_u64(TAKE(), 65536, &x) < 0) return bad(a, v);
      o.min_live = (uint32_t)x;
    } else if (strcmp(a, "--no-joins") == 0) {
      o.no_joins = true;
    } else if (strcmp(a, "--store-races") == 0) {
      o.store_races = true;
    } else if (strcmp(a, "--keep-newer") == 0) {
      o.keep_newer = true;
    } else if (strcmp(a, "--kill") == 0 || strcmp(a, "--quit") == 0 || strcmp(a, "--request") == 0 ||
               strcmp(a, "--kill-adjacent") == 0 || strcmp(a, "--join") == 0 || strcmp(a, "--restart") == 0 ||
               strcmp(a, "--quit-adjacent") == 0 || strcmp(a, "--kill-run") == 0) {
      sim_action_kind k = strcmp(a, "--quit") == 0 ? SIM_QUIT : strcmp(a, "--request") == 0 ? SIM_REQUEST
                        : strcmp(a, "--restart") == 0 ? SIM_RESTART : strcmp(a, "--join") == 0 ? SIM_JOIN
                        : strcmp(a, "--kill-adjacent") == 0 ? SIM_KILL_ADJACENT
                        : strcmp(a, "--quit-adjacent") == 0 ? SIM_QUIT_ADJACENT
                        : strcmp(a, "--kill-run") == 0 ? SIM_KILL_RUN : SIM_KILL;
      if (o.nactions == SIM_MAX_ACTIONS || parse_action(TAKE(), k, &o.actions[o.nactions]) < 0) return bad(a, v);
      o.nactions++;
    } else if (strcmp(a, "--ping-interval") == 0) {
      if (!TAKE() || cdht_args_seconds(v, 3600, &ms) < 0) return bad(a, v);
      o.node.ping_interval_ms = ms;
    } else if (strcmp(a, "--ping-timeout") == 0) {
      if (!TAKE() || cdht_args_seconds(v, 3600, &ms) < 0) return bad(a, v);
      o.node.ping_timeout_ms = ms;
    } else if (strcmp(a, "--stabilize-interval") == 0) {
      if (!TAKE() || cdht_args_decimal(v, 3600, &x) < 0) return bad(a, v);
      o.node.stabilize_ms = (uint32_t)x;
    } else if (strcmp(a, "--misses") == 0) {
      if (parse_u64(TAKE(), 100, &x) < 0 || x == 0) return bad(a, v);
      o.node.misses = (uint32_t)x;
    } else if (strcmp(a, "--lookup-sample") == 0) {
      if (parse_u64(TAKE(), 65536, &x) < 0) return bad(a, v);
      o.lookup_sample = (uint32_t)x;
    } else if (strcmp(a, "--lookups") == 0) {
      if (parse_u64(TAKE(), 10000000, &x) < 0) return bad(a, v);
      o.lookups = (uint32_t)x;
    } else if (strcmp(a, "--successors") == 0) {
      if (parse_u64(TAKE(), CDHT_SUCC_MAX, &x) < 0 || x < 2) return bad(a, v);
      o.node.successors = (uint8_t)x;
    } else if (strcmp(a, "--fingers") == 0) {
      o.node.fingers = true;
    } else if (strcmp(a, "--no-fingers") == 0) {
      o.node.fingers = false;
    } else if (strcmp(a, "--fix-fingers-interval") == 0) {
      if (!TAKE() || cdht_args_decimal(v, 3600, &x) < 0) return bad(a, v);
      o.node.fix_fingers_ms = (uint32_t)x;
    } else if (strcmp(a, "--classic-detector") == 0) {
      o.node.classic_detector = true;
    } else if (strcmp(a, "--trace") == 0) {
      o.trace = stdout;
    } else if (strcmp(a, "--lines") == 0) {
      o.lines = stdout;
    } else {
      fprintf(stderr, "cdht-sim: unknown option '%s'\n\n%s", a, usage);
      return 2;
    }
#undef TAKE
  }
  if (!o.nids && o.bits < 64 && o.peers_max > ((uint64_t)1 << o.bits)) {
    fprintf(stderr, "cdht-sim: %u peers do not fit a ring of %llu ids (use --ring-size or --bits)\n", o.peers_max,
            (unsigned long long)1 << o.bits);
    return 2;
  }
  for (uint32_t i = 0; i < o.nids; i++)
    if (o.ids[i] > cdht_ring_mask(o.bits)) return bad("--ids", "an id outside the ring (use --bits)");
  /* Two adjacent kills break a ring of two successors (and K adjacent kills one of K); fewer are
   * judged: the ring must be whole again in time. */
  for (uint32_t i = 0; i < o.nactions; i++)
    if ((o.actions[i].kind == SIM_KILL_ADJACENT && o.node.successors <= 2) ||
        (o.actions[i].kind == SIM_KILL_RUN && o.actions[i].count >= o.node.successors))
      o.expect_break = true;
  if (fig11 || o.kill_fraction > 0) {
    /* The kill once the fingers could all have been built (one per fix interval, after the
     * ring's first settle time, bounded as sim.c's settled check); the run long enough for the
     * ring to settle again (the same bound), the lookups' 10 s, and their answers. */
    uint64_t fix_ms = o.node.fix_fingers_ms ? o.node.fix_fingers_ms : o.node.stabilize_ms;
    uint64_t settle_ms = (uint64_t)o.node.misses * o.node.ping_interval_ms + o.node.ping_timeout_ms +
                         3ull * o.node.ping_interval_ms + 1000 +
                         (o.node.successors > 2 ? (o.node.successors - 1ull) * o.node.stabilize_ms : 0);
    if (!kill_at_given) o.kill_at_us = (settle_ms + (o.node.fingers ? o.bits * fix_ms : 0)) * 1000;
    if (!o.duration_us || o.duration_us < o.kill_at_us + settle_ms * 1000) o.duration_us = o.kill_at_us + (settle_ms + 40000) * 1000;
  }
  if (!o.duration_us) o.duration_us = 600ull * 1000000;
  if (!o.lookup_sample && o.peers_max > 256) o.lookup_sample = 256;
  o.node.requery_ms = o.node.ping_interval_ms / 4 < 10 ? 10 : o.node.ping_interval_ms / 4 > 250 ? 250 : o.node.ping_interval_ms / 4;
  if (o.node.ping_timeout_ms > o.node.ping_interval_ms * 15ull) return bad("--ping-timeout", "more than 15 intervals");

  uint64_t digest = 0xcbf29ce484222325ull, violations = 0, failing = 0, runs = 0;
  uint64_t old_restarts = 0, taken_back = 0;
  double back_sum = 0, back_max = 0, back_bound = 0;
  int rc = 0;
  /* fig11 without --kill-fraction: each of the paper's fractions in turn, every seed each. */
  static const double fractions[] = { 0.1, 0.2, 0.3, 0.4, 0.5 };
  int nfrac = fig11 && o.kill_fraction == 0 ? 5 : 1;
  for (int fi = 0; fi < nfrac && !(sweep && rc); fi++)
  for (uint64_t s = seed_a;; s++) {
    if (nfrac > 1) o.kill_fraction = fractions[fi];
    o.seed = s;
    sim_result r;
    int one = sim_run(&o, &r, stderr);
    if (one == -2) return 2;
    if (one < 0) return 1;
    print_summary(stdout, &o, &r);
    runs++;
    old_restarts += r.old_restarts;
    taken_back += r.taken_back;
    back_sum += r.back_mean_s * (double)r.taken_back;
    if (r.back_max_s > back_max) back_max = r.back_max_s;
    back_bound = r.back_bound_s;
    violations += r.violations;
    for (int i = 0; i < 8; i++) digest = (digest ^ ((r.digest >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    if (!sweep) digest = r.digest;
    if (one > 0) {
      rc = 1;
      if (sweep) {
        failing = s;
        printf("first failing seed %llu: replay with cdht-sim --seed %llu --trace (and the same options)\n",
               (unsigned long long)failing, (unsigned long long)failing);
        break;
      }
    }
    if (s == seed_b) break;
  }
  if (sweep && rc == 0) printf("all %llu seeds held\n", (unsigned long long)runs);
  if (old_restarts)
    printf("restarts with old successors %llu, taken back %llu (the others met more churn first), "
           "in mean %.2f s, max %.2f s (bound %.2f s)\n", (unsigned long long)old_restarts,
           (unsigned long long)taken_back, taken_back ? back_sum / (double)taken_back : 0, back_max, back_bound);
  if (o.expect_break)
    printf(violations ? "expected failure: --kill-adjacent / --kill-run leaves a peer with no live successor, which "
                        "%u successors cannot repair (docs/protocol.md §5): the violations are the expected result\n"
                      : "note: --kill-adjacent / --kill-run was expected to break the ring (%u successors), yet every "
                        "invariant held\n", o.node.successors);
  printf("digest %016llx\nviolations %llu\n", (unsigned long long)digest, (unsigned long long)violations);
  return rc;
}

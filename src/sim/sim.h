/* Deterministic simulation of many cdht nodes — the very core the `cdht` program runs — over a
 * simulated network with a virtual clock and one seeded random generator.  Same options and
 * seed, same run, byte for byte.  Invariants are checked continuously and whenever the
 * network should have settled. */
#ifndef CDHT_SIM_H
#define CDHT_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/node.h"

#define SIM_MAX_ACTIONS 64

#define SIM_NOBODY UINT64_MAX /* "no peer" in the simulator's own tables: never drawn as an id, even on a
                                * 64-bit ring */
#define SIM_PEERS_MAX 2000000 /* peers one run may have (hosts 10.x.y.z: below 2^24) */

typedef enum sim_action_kind {
  SIM_KILL, SIM_QUIT, SIM_REQUEST, SIM_KILL_ADJACENT, SIM_JOIN, SIM_RESTART, SIM_QUIT_ADJACENT, SIM_KILL_RUN
} sim_action_kind;

typedef struct sim_action {
  uint64_t t_us;        /* when */
  sim_action_kind kind;
  cdht_id id;           /* the peer (SIM_*_ADJACENT, SIM_KILL_RUN: the first; SIM_NOBODY = random) */
  uint32_t count;       /* SIM_KILL_RUN: how many adjacent running peers die at that instant */
  cdht_id via;          /* SIM_JOIN: the known peer to join through */
  uint16_t file;        /* SIM_REQUEST */
} sim_action;

typedef struct sim_opts {
  uint64_t seed;
  uint32_t peers_min, peers_max;  /* the peer count is drawn from this range (equal: fixed) */
  cdht_id ids[256];               /* explicit ids (nids > 0), e.g. the classic ring */
  uint32_t nids;
  uint8_t bits;                   /* the ring has 2^bits ids (1..64); past 16, names are keyed by BLAKE2b */
  uint64_t duration_us;
  double loss;                    /* probability a datagram is lost */
  double dup;                     /* probability a datagram is delivered twice */
  double reorder;                 /* probability a datagram is held back by up to 10 x delay_max */
  uint32_t delay_min_us, delay_max_us; /* one-way delay, uniform */
  uint64_t churn_us;              /* a random kill, quit, join or restart this often; 0: none */
  bool no_joins;                  /* random churn only kills and quits (the classic protocol) */
  uint32_t min_live;              /* random churn stops at this many live peers */
  uint64_t partition_at_us, partition_len_us; /* the two halves of the ring cannot talk (len 0: none) */
  sim_action actions[SIM_MAX_ACTIONS];
  uint32_t nactions;
  uint32_t lookup_sample;         /* lookups per settled check (0: one from every live peer) */
  uint32_t lookups;               /* L lookups from random running peers for random names, issued once the
                                   * ring first settled, spread over LOOKUP_SPREAD (sim.c); 0: none */
  double kill_fraction;           /* > 0: this fraction of the running peers is killed at kill_at_us, at
                                   * the same instant (the Chord paper's Figure 11) */
  uint64_t kill_at_us;
  bool no_lookups;                /* no lookups of the simulator's own */
  bool store_races;               /* overwrites around quits and joins, and adjacent quits (see sim.c) */
  bool keep_newer;                /* what if: a handed-over file never replaces newer content at its
                                   * receiver (content.c cannot tell today: no version on the wire) */
  cdht_config node;               /* intervals and timeouts for every node */
  bool expect_break;              /* the scenario is expected to break the ring (reported, not hidden) */
  FILE *trace;                    /* every event as a line (NULL: none) */
  FILE *lines;                    /* the canonical stdout lines of each peer, no pings (NULL: none) */
} sim_opts;

typedef struct sim_result {
  uint32_t peers;
  uint64_t digest;            /* FNV-1a over the event trace */
  uint64_t events;            /* simulator events processed */
  double wall_s;              /* wall-clock seconds the run took */
  uint64_t end_us;            /* simulated time the run reached: the duration, unless it stopped early */
  uint64_t node_events;       /* events the nodes emitted */
  uint64_t lookups_ok, lookups_failed;
  uint64_t lk_made, lk_failed;  /* the L lookups (opts.lookups): issued, and not answered by the responsible peer */
  uint64_t lk_unanswered;       /* ... of which still unanswered when the run ended (counted as failed) */
  double hops_mean;             /* ... hops of those answered (CDHT_EV_RESPONSE_RECEIVED's, 0 for FILE_HERE) */
  uint32_t hops_p50, hops_p99;
  uint64_t kill_runs_judged;    /* runs of up to R-1 adjacent kills whose repair was timed */
  uint64_t list_checks;         /* successor lists compared with the live ring */
  uint64_t kills, quits, joins, restarts, join_failures, repairs, false_deaths, checks, stores;
  uint64_t adjacent_quits;    /* pairs of neighbours that quit at the same moment */
  uint64_t versions;          /* contents that landed (stores whose upload went through) */
  uint64_t acked;             /* ... of which their storer heard STORED */
  uint64_t lost_with_kills;   /* ... of which a kill took the last copy (no replication yet) */
  uint64_t stale_overwrites;  /* handed-over content that replaced newer content at its receiver */
  uint64_t old_restarts;      /* restarts as `cdht ID S1 S2` (with old successors), of which: */
  uint64_t taken_back;        /* ... the ring took back while nothing else changed */
  double back_mean_s, back_max_s; /* restart -> back in the ring (those taken back) */
  double back_bound_s;        /* the bound the invariant allows */
  uint64_t violations;
  double detect_mean_s, detect_p50_s, detect_p99_s, detect_max_s; /* kill -> "no longer alive", per predecessor */
  double repair_mean_s, repair_p50_s, repair_p99_s; /* kill -> both successor lines */
  size_t bytes_per_peer;      /* memory one simulated peer takes: node_bytes + sim_bytes */
  size_t node_struct;         /* cdht_node_size() */
  size_t node_alloc;          /* bytes a node allocated through its cdht_mem besides its struct: the nodes'
                               * total at its peak, per peer, less node_struct */
  size_t sim_bytes;           /* the simulator's own state per peer (its record, share of the agenda at its peak) */
  size_t rss_per_peer;        /* the process's peak resident size (VmHWM) / peers */
  bool split;                 /* a settled check found the ring split or wrong */
} sim_result;

/* Fills |o| with the defaults: 32 peers, 256 ids, 600 s, 1% loss, 0.1-5 ms delays, a random
 * kill or quit every 30 s, default node timing. */
void sim_opts_default(sim_opts *o);

/* Runs one simulation.  Violations are described on |report| (seed, time, invariant, the last
 * ring events of the peers involved).  Returns 0 if every invariant held, 1 if not, -1 on error,
 * -2 if an action names a peer that is not in the ring (a usage error, said on |report|). */
int sim_run(const sim_opts *o, sim_result *r, FILE *report);

#endif

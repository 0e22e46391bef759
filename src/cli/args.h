/* Command-line arguments: `cdht [OPTIONS] ID S1 S2`, `ID --join KNOWN`, the 2019 form `ID S1 S2 MSS
 * DROP`, the 2020 forms `init ID S1 S2 PING_INTERVAL` and `join ID KNOWN PING_INTERVAL` (and
 * `--help`, `--version`). */
#ifndef CDHT_ARGS_H
#define CDHT_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "cli/lines.h"
#include "core/node.h"

/* The 2019 form's file transfer (docs/protocol.md §10): bounds of its arguments. */
#define CDHT_SAW_MSS_MAX 65479u   /* a segment's data: 65507 (largest UDP payload) - 28 (header) */
#define CDHT_SAW_RTO_MS 1000u     /* the specification's retransmission timeout */

/* --listen's successor list: a ring on a real network loses hosts in groups (a rack, a switch);
 * 8 entries survive 7 adjacent failures for one more record per entry in each stabilization
 * answer.  The classic forms keep the classic 2. */
#define CDHT_LISTEN_SUCCESSORS 8
/* Fingers refreshed this often when --stabilize-interval is 0 (stabilization's default pace). */
#define CDHT_FIX_FINGERS_MS 3000u

typedef enum cdht_action { CDHT_RUN, CDHT_HELP, CDHT_VERSION } cdht_action;

typedef struct cdht_args {
  cdht_action action;
  cdht_config cfg;         /* ready for cdht_node_new when action is CDHT_RUN */
  uint32_t max_inbound;    /* --max-connections (128) */
  uint32_t idle_ms;        /* --idle-timeout (10 s) */
  double drop;             /* --drop: fraction of outgoing datagrams dropped (0) */
  const char *events_path; /* --events FILE, or NULL (borrowed from argv) */
  const char *data_dir;    /* --data-dir, or NULL for ./cdht-data/peer-ID (borrowed) */
  const char *download_dir; /* --download-dir, or NULL for the current directory (borrowed) */
  cdht_variant variant;    /* which year's program the form follows */
  uint32_t mss;            /* 2019: data bytes per segment (1..CDHT_SAW_MSS_MAX) */
  double saw_drop;         /* 2019: probability that the responder drops a segment it forms */
  uint32_t rto_ms;         /* 2019: retransmission timeout (CDHT_SAW_RTO_MS; tests may shorten it) */
} cdht_args;

/* Parses |argc| strings of |argv| (borrowed; argv[0] is the program name).  Returns 0, or -1
 * with a one-line message (no trailing newline) in |err|: a usage error. */
int cdht_args_parse(cdht_args *a, int argc, char *const *argv, char *err, size_t errlen);

/* Parses a duration in seconds with up to three decimals ("0.25", "2") into milliseconds.
 * Returns 0, or -1 unless 0.001 <= value <= |max_s|. */
int cdht_args_seconds(const char *s, uint32_t max_s, uint32_t *ms);

/* Parses a non-negative decimal with up to three decimals ("0.25", "5") into thousandths of
 * its unit (seconds -> ms, ms -> us).  Returns 0, or -1 unless value <= |max_whole|. */
int cdht_args_decimal(const char *s, uint64_t max_whole, uint64_t *thousandths);

/* The usage text, for --help and after a usage error. */
extern const char cdht_usage[];

#endif

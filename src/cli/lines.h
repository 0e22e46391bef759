/* Every sentence the peer prints about the ring, in one place.  The stdout sentences are the
 * classic program's public contract and must stay byte for byte. */
#ifndef CDHT_LINES_H
#define CDHT_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/node.h"

typedef enum cdht_stream { CDHT_SILENT = 0, CDHT_STDOUT = 1, CDHT_STDERR = 2 } cdht_stream;

/* Which year's program a peer follows (README, "The peer"): the wording of its lines, its
 * ports, how a requested file travels. */
typedef enum cdht_variant {
  CDHT_VARIANT_CLASSIC = 0, /* `cdht ID S1 S2`, `cdht ID --join KNOWN` (2015/2018 lines) */
  CDHT_VARIANT_2019,        /* `cdht ID S1 S2 MSS DROP`: classic lines, file over UDP stop-and-wait */
  CDHT_VARIANT_2020,        /* `cdht init ...`, `cdht join ...`: the 2020 lines, ports 12000+i */
  CDHT_VARIANT_LISTEN,      /* `cdht --listen HOST:PORT ...`: the classic lines, any host, any name */
} cdht_variant;

/* Writes the line(s) for |ev| into |buf| (each ending in '\n'; NUL-terminated) and returns the
 * stream they belong on, or CDHT_SILENT (buf empty) for an event nobody prints. */
cdht_stream cdht_lines_format(char *buf, size_t cap, const cdht_event *ev);

/* The same in |variant|'s wording.  |joined|: |ev| is the SUCCESSORS event that follows this
 * peer's own JOIN_ACCEPTED (the 2020 joiner's "My first successor is Peer A"). */
cdht_stream cdht_lines_format_as(char *buf, size_t cap, const cdht_event *ev, cdht_variant variant, bool joined);

/* Returns a stable snake_case name for |kind| ("ping_request", ...), "?" if unknown. */
const char *cdht_event_name(cdht_event_kind kind);

/* Writes |ev| of peer |self| at monotonic time |t_us| as one JSON object and a newline (the
 * --events format: t_us, self, event, and peer / file / succ / ms where the kind has them). */
void cdht_lines_json(char *buf, size_t cap, uint64_t t_us, cdht_id self, const cdht_event *ev);

/* The same, for a CDHT_EV_SUCC_LIST event also with the successor list |list| (borrowed, |nlist|
 * entries, cdht_node_successor_list; no peer is null) as "list":[ids], and "count" its length;
 * other kinds ignore it. */
void cdht_lines_json_list(char *buf, size_t cap, uint64_t t_us, cdht_id self, const cdht_event *ev,
                          const cdht_peer *list, size_t nlist);

/* The `status` lines of issue 11 (stderr), each one line ending in '\n', NUL-terminated, cut
 * safely if |cap| is short; CDHT_LINES_STATUS_MAX holds the longest (32 entries with IPv6
 * addresses; 64 fingers with 64-bit ids). */
#define CDHT_LINES_STATUS_MAX 4096
/* "successor list (N of R): ID ADDRESS, ..." for the |n| entries of |list| (borrowed) of a list
 * of |r|; an entry not known yet is "? -". */
void cdht_lines_status_successors(char *buf, size_t cap, const cdht_peer *list, size_t n, unsigned r);
/* "fingers: 0-5 -> 12, 6 -> 40, 7-63 -> ?": the |bits| fingers (borrowed), runs of equal ones
 * as index ranges; "fingers: off" unless |on|. */
void cdht_lines_status_fingers(char *buf, size_t cap, const cdht_peer *fingers, unsigned bits, bool on);
/* "requests answered: N, mean hops M.MM; finger refreshes: K" from |st| (mean "-" before the
 * first answer). */
void cdht_lines_status_lookups(char *buf, size_t cap, const cdht_stats *st);

/* The note after a classic line that announced no content (stderr), else silent: for a response
 * without content "peer H is responsible for file NNNN but holds no content for it", and for our
 * own request of a file we are responsible for but do not hold "file NNNN is this peer's, and no
 * content for it is held here". */
cdht_stream cdht_lines_no_content(char *buf, size_t cap, const cdht_event *ev);

/* The transfer lines of the later variant (stdout), printed by the I/O side of a transfer. */
typedef enum cdht_transfer_line { CDHT_LINE_SENDING, CDHT_LINE_SENT, CDHT_LINE_RECEIVING, CDHT_LINE_RECEIVED } cdht_transfer_line;
const char *cdht_lines_transfer(cdht_transfer_line which);

/* The transfer line |which| in |variant|'s wording into |buf| (stdout): the 2020 lines name
 * the file |name| (borrowed) and the |peer| at the other end. */
void cdht_lines_transfer_as(char *buf, size_t cap, cdht_variant variant, cdht_transfer_line which,
                            const cdht_name *name, cdht_id peer);

/* Writes |name| as a NUL-terminated string into |dst| and returns |dst|: the text the lines
 * print where the classic program printed NNNN (a classic name is those four digits). */
const char *cdht_lines_name(char dst[CDHT_NAME_MAX + 1], const cdht_name *name);

#endif

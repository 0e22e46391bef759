/* What the node knows about files (§6, §9): which ones this peer holds, the stores accepted
 * whose content is on its way, the stores confirmed only once their content went on, the names
 * a leaving node passed on, and the verdict on a handover transfer.  Content itself lives in
 * the I/O layer, which reports through the cdht_node_on_stored / _taken_over / _file_handed
 * calls of node.h. */
#ifndef CDHT_STORE_H
#define CDHT_STORE_H

#include "node.h"

typedef struct cdht_store_ack { bool used; cdht_name name; cdht_peer origin; uint32_t seq; } cdht_store_ack;
typedef struct cdht_store_await_rec { bool used; cdht_peer origin; uint32_t seq; uint64_t until_ms; } cdht_store_await_rec;

typedef struct cdht_store {
  /* The names whose content this peer holds (§9): a sorted array of pointers to exact-size
   * copies (a length byte, then the bytes), allocated through the node's cdht_mem, at most
   * cfg.max_names of them.  Lookups are binary searches; the array grows by doubling. */
  uint8_t **held;
  size_t nheld, held_cap;
  /* Stores that reached us while leaving: confirmed to their storer only once our successor
   * holds the content (§6), so that "stored at peer P" is never said of a file about to leave
   * with us.  Only a leaving node (or one passing content back to a joiner) has any, so the table of
   * CDHT_MAX_PENDING entries (names inline: ~9.6 KB) is allocated through cdht_mem on the first
   * one and freed when the last is confirmed: an idle node holds none (issue 11: 10^6 nodes in
   * one simulator). */
  cdht_store_ack *acks;        /* NULL, or CDHT_MAX_PENDING entries */
  unsigned nacks;              /* entries in use */
  /* Stores we accepted whose content has not arrived: a quit waits for them (until its
   * deadline), so that content on its way to us is passed on, not cut off.  Small (about 2 KB)
   * but held only by a peer that accepted a store, so allocated the same way, on the first
   * store accepted, and kept until cdht_store_clear. */
  cdht_store_await_rec *awaiting; /* NULL, or CDHT_MAX_PENDING entries */
  /* Names whose store we passed on to our successor while leaving: the copy we hand over is
   * older than that store's content, and says so (§6).  Leaving nodes only: allocated on the
   * first (8 KB), kept until cdht_store_clear. */
  cdht_name *superseded;       /* NULL, or CDHT_MAX_PENDING names */
  unsigned nsuperseded;
} cdht_store;

/* We accepted a store of |origin|'s request |seq|: its content is awaited. */
void cdht_store_await(cdht_node *n, uint64_t now, cdht_peer origin, uint32_t seq);
/* Whether content of a store we accepted is still on its way (within our leave deadline). */
bool cdht_store_awaiting_content(const cdht_node *n);
/* The leave deadline passed: content still awaited will not be passed on. */
void cdht_store_stop_awaiting(cdht_node *n);
/* We passed a store of |name| on to our successor while leaving. */
void cdht_store_note_superseded(cdht_node *n, const cdht_name *name);
/* A handover to a joiner ended: files it did not take stay here, so their stores are confirmed. */
void cdht_store_confirm_kept(cdht_node *n);
/* Frees the held set and the tables allocated on demand (cdht_node_del). */
void cdht_store_clear(cdht_node *n);

#endif

/* Handover tokens (§9) and the handovers a node counts.  A peer that may receive keys gives the
 * giver's address a token (in KEYS_REQ, or KEYS_GRANT after a KEYS_OFFER); the giver's
 * transfers and KEYS_DONE carry it, so nobody else can hand it keys in the giver's name.  Both
 * joins (the joiner's successor gives) and quits (the leaver gives) use them, and so does the
 * store index when content follows keys that moved. */
#ifndef CDHT_HANDOVER_H
#define CDHT_HANDOVER_H

#include "node.h"

#define CDHT_GRANTS 8 /* handover tokens a node keeps in each direction: givers at once, a few */

typedef struct cdht_grant_in { /* a token we gave: whose keys we take */
  cdht_peer peer;            /* none: free */
  cdht_id about;             /* joined: we asked for (about, self]; else the giver's keys, not ours */
  bool joined;
  uint64_t token, until_ms;
  uint64_t granted_ms;       /* when: content a store brought here since is newer than the giver's */
} cdht_grant_in;

typedef struct cdht_grant_out { /* a token we were given: whose keys we may hand over */
  cdht_peer peer;            /* who gave it (none: free) */
  cdht_id about;             /* !leave: the joiner asked for (about, peer] */
  bool leave;                /* for our keys (its KEYS_GRANT), else for a joiner's (its KEYS_REQ) */
  uint64_t token, until_ms;
  uint64_t since_ms;         /* when it was given */
} cdht_grant_out;

typedef struct cdht_handover {
  uint32_t next_id;            /* handover ids (CDHT_EV_HANDOVER's seq) */
  unsigned to_joiners;         /* handovers to a joiner under way: a quit waits for them too */
  cdht_grant_in grants_in[CDHT_GRANTS];
  cdht_grant_out grants_out[CDHT_GRANTS];
} cdht_handover;

void cdht_handover_init(cdht_node *n);
/* A token for |peer| to hand us keys with (joined: the keys (about, self] we asked a successor
 * for; else a giver's keys). */
uint64_t cdht_handover_grant_in(cdht_node *n, uint64_t now, cdht_peer peer, bool joined, cdht_id about);
/* The live token we gave |peer| that equals |token|, or NULL. */
const cdht_grant_in *cdht_handover_find_grant(const cdht_node *n, uint64_t now, cdht_peer peer, uint64_t token);
/* Records the token |peer| gave us (0: forget it). */
void cdht_handover_grant_out(cdht_node *n, uint64_t now, cdht_peer peer, bool leave, uint64_t token);
/* The token |peer| gave us to hand it keys (ours when |leave|, else the keys it asked for), or 0. */
uint64_t cdht_handover_token_for(const cdht_node *n, uint64_t now, cdht_peer peer, bool leave);
/* A joiner we recently handed keys to whose asked-for keys hold |key|, and its token (*token);
 * none if there is none (store.c passes content that arrived late on to it). */
cdht_peer cdht_handover_recent_joiner(const cdht_node *n, uint64_t now, uint64_t key, uint64_t *token);
/* The ring admitted joiner |joiner|: records its token and hands it the keys (about, joiner]. */
void cdht_handover_give_joiner_keys(cdht_node *n, uint64_t now, cdht_peer joiner, cdht_peer about, uint64_t token);
/* Asks the I/O layer to give joiner |peer| the keys (lo, hi] with |token| (CDHT_EV_HANDOVER). */
void cdht_handover_to_joiner(cdht_node *n, cdht_peer peer, cdht_id lo, cdht_id hi, uint64_t token);
/* A handover to a joiner ended (cdht_node_on_handover_done); |failed| files stayed here. */
void cdht_handover_to_joiner_done(cdht_node *n, uint64_t now, cdht_peer peer, uint32_t failed);
int cdht_handover_on_keys_done(cdht_node *n, uint64_t now, const cdht_msg *m);

#endif

#include "sched.h"

#include <stdlib.h>
#include <string.h>

void sim_sched_init(sim_sched *s) { memset(s, 0, sizeof *s); }

void sim_sched_clear(sim_sched *s) {
  for (size_t i = 0; i < s->len; i++) free(s->heap[i].msg);
  free(s->heap);
  memset(s, 0, sizeof *s);
}

static int before(const sim_ev *x, const sim_ev *y) {
  return x->t_us != y->t_us ? x->t_us < y->t_us : x->seq < y->seq;
}

int sim_sched_push(sim_sched *s, const sim_ev *ev) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    sim_ev *h = realloc(s->heap, cap * sizeof *h);
    if (!h) return -1;
    s->heap = h;
    s->cap = cap;
  }
  size_t i = s->len++;
  sim_ev e = *ev;
  e.seq = s->next_seq++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(&e, &s->heap[parent])) break;
    s->heap[i] = s->heap[parent];
    i = parent;
  }
  s->heap[i] = e;
  return 0;
}

int sim_sched_pop(sim_sched *s, sim_ev *out) {
  if (s->len == 0) return 0;
  *out = s->heap[0];
  sim_ev last = s->heap[--s->len];
  size_t i = 0, n = s->len;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const sim_ev *best = &last;
    if (l < n && before(&s->heap[l], best)) { m = l; best = &s->heap[l]; }
    if (r < n && before(&s->heap[r], best)) m = r;
    if (m == i) break;
    s->heap[i] = s->heap[m];
    i = m;
  }
  if (n > 0) s->heap[i] = last;
  return 1;
}

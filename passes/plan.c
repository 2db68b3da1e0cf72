/* plan.c — memory planning: one arena per step function, an offset for every
 * value that must live in memory between kernels.
 *
 * A value needs a buffer when a kernel computes it and a different kernel (or
 * a view of it that another kernel reads) uses it; values used only inside
 * their own fused loop stay in registers. Inputs, outputs and parameters live
 * outside the arena. A buffer is live from the kernel that writes it to the
 * last kernel that reads it; buffers whose lifetimes overlap get disjoint
 * bytes, others may share (first fit, the largest placed first), with one
 * exception: a value an elementwise kernel computes may take over, in place,
 * the buffer of an operand that kernel reads for the last time, element for
 * element (takes_over: each element is loaded before the one that replaces
 * it is stored); such chains are found first and placed as one buffer.
 * Sizes are for opt->max_batch rows. Views (reshape) get the offset of what they view.
 * A scan's body is planned first, as a graph of its own; the scan's buffer is
 * its scratch (ir/region.c), which holds the body's arena. */
#include <stdlib.h>

#include "passes.h"

#define ALIGN 64

typedef struct {
  int node;
  int start, end; /* kernel positions */
  int64_t size, offset;
} Buffer;

/* side effects (output, assign) store outside the arena */
static bool in_arena(const IrNode *n) {
  return n->group >= 0 && !(ir_op_flags(n->op) & IR_SIDE_EFFECT);
}

static bool overlaps(const Buffer *a, const Buffer *b) {
  bool live_together = a->start <= b->end && b->start <= a->end;
  return live_together && a->offset < b->offset + b->size && b->offset < a->offset + a->size;
}

static int64_t first_fit(Buffer *bufs, int placed, Buffer *b) {
  b->offset = 0;
  for (bool moved = true; moved;) {
    moved = false;
    for (int i = 0; i < placed; i++)
      if (overlaps(&bufs[i], b)) {
        b->offset = (bufs[i].offset + bufs[i].size + ALIGN - 1) / ALIGN * ALIGN;
        moved = true;
      }
  }
  return b->offset + b->size;
}

/* whether kernel k is one elementwise loop: each member elementwise, or
 * storing outside the arena (an output, an assign) */
static bool *elementwise_kernels(const IrGraph *g) {
  bool *yes = malloc(((size_t)g->nkernels + 1) * sizeof *yes);
  if (!yes) return NULL;
  for (int k = 0; k < g->nkernels; k++) yes[k] = true;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    bool eltwise = ir_op_kind(n->op) == IR_KIND_ELTWISE && !(ir_op_flags(n->op) & IR_GATHERS);
    if (n->group >= 0 && !eltwise && !(ir_op_flags(n->op) & IR_SIDE_EFFECT)) yes[n->group] = false;
  }
  return yes;
}

/* whether b, computed in an elementwise kernel, may take a's bytes: a's
 * last reader is b's kernel, a is at least as big, and every read of a in
 * that kernel is element for element (the reader, the operand as read and b
 * have one shape), so that nothing reads an element of a after its place
 * holds b's */
static bool takes_over(const IrGraph *g, const Buffer *a, const Buffer *b) {
  if (a->end != b->start || a->start >= b->start || a->size < b->size) return false;
  const PgShape *s = &g->nodes[b->node].shape;
  bool read = false;
  for (int i = 0; i < g->count; i++) {
    const IrNode *m = &g->nodes[i];
    for (int k = 0; m->group == b->start && k < m->nin; k++) {
      if (ir_alias_root(g, m->in[k]) != a->node) continue;
      if (!pg_shape_eq(&g->nodes[m->in[k]].shape, s) || !pg_shape_eq(&m->shape, s)) return false;
      read = true;
    }
  }
  return read;
}

/* the placed buffer (index in bufs, not yet taken over) that b takes over in
 * place, or -1; at[node]: its buffer's index in bufs, -1 if none */
static int donor(const IrGraph *g, const Buffer *bufs, const int *at, const bool *taken,
                 const Buffer *b) {
  for (int i = 0; i < g->count; i++) {
    const IrNode *m = &g->nodes[i];
    for (int k = 0; m->group == b->start && k < m->nin; k++) {
      int a = at[ir_alias_root(g, m->in[k])];
      if (a >= 0 && !taken[a] && &bufs[a] != b && takes_over(g, &bufs[a], b)) return a;
    }
  }
  return -1;
}

static int by_start(const void *x, const void *y) {
  const Buffer *a = x, *b = y;
  return a->start != b->start ? a->start - b->start : a->node - b->node;
}

/* largest first (then by first use): big buffers claim the low offsets and
 * small ones fill the gaps between them */
static int by_size(const void *x, const void *y) {
  const Buffer *a = x, *b = y;
  if (a->size != b->size) return a->size < b->size ? 1 : -1;
  return by_start(x, y);
}

/* The in-place chains, in order of first use (bufs sorted by start): lead[i]
 * is the buffer whose bytes buffer i holds (i itself, or the first of its
 * chain of takes_over); a chain's first buffer lives until the chain's last
 * use. at[node]: the node's buffer's index. */
static void chain_takeovers(const IrGraph *g, Buffer *bufs, int n, const bool *eltwise, int *at,
                            bool *taken, int *lead) {
  for (int i = 0; i < n; i++) {
    int d = eltwise[bufs[i].start] ? donor(g, bufs, at, taken, &bufs[i]) : -1;
    lead[i] = d >= 0 ? lead[d] : i;
    if (d >= 0) taken[d] = true;
    if (d >= 0 && bufs[i].end > bufs[lead[i]].end) bufs[lead[i]].end = bufs[i].end;
    at[bufs[i].node] = i;
  }
}

/* offsets for the chains' first buffers, largest first, each at the lowest
 * offset free for its whole life; the others take their chain's. Returns
 * the arena's size, or -1 without memory. */
static int64_t place_chains(IrGraph *g, Buffer *bufs, int n, const int *lead) {
  Buffer *order = malloc(((size_t)n + 1) * sizeof *order);
  if (!order) return -1;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (lead[i] == i) order[m] = bufs[i], order[m++].offset = i; /* offset: its index, for now */
  qsort(order, m, sizeof *order, by_size);
  int64_t total = 0;
  for (int k = 0; k < m; k++) {
    int i = (int)order[k].offset;
    int64_t top = first_fit(order, k, &order[k]);
    if (top > total) total = top;
    bufs[i].offset = order[k].offset;
  }
  for (int i = 0; i < n; i++) {
    bufs[i].offset = bufs[lead[i]].offset;
    g->nodes[bufs[i].node].offset = bufs[i].offset;
  }
  free(order);
  return total;
}

bool ps_plan(IrGraph *g, const PsOptions *opt) {
  Buffer *bufs = malloc((g->count + 1) * sizeof *bufs);
  int *last = malloc((g->count + 1) * sizeof *last), *at = malloc((g->count + 1) * sizeof *at);
  int *lead = malloc((g->count + 1) * sizeof *lead);
  bool *taken = calloc((size_t)g->count + 1, sizeof *taken), *eltwise = NULL;
  int n = 0;
  bool ok = bufs && last && at && lead && taken;
  if (ok && g->nkernels == 0 && g->count > 0) {
    diag_error((PgLoc){0}, "plan: the graph has no kernels yet; run 'fuse' before 'plan'");
    ok = false;
  }
  ok = ok && ps_each_body(g, ps_plan, opt) && (eltwise = elementwise_kernels(g));
  if (!ok) {
    free(bufs), free(last), free(at), free(lead), free(taken), free(eltwise);
    return false;
  }
  ir_last_readers(g, last);
  for (int i = 0; i < g->count; i++) {
    IrNode *nd = &g->nodes[i];
    nd->offset = -1;
    int end = in_arena(nd) ? last[i] : -1;
    bool own_kernel = !ir_op_per_element(nd->op);
    if (in_arena(nd) && (end >= 0 || own_kernel)) {
      int64_t size = ir_buffer_bytes(nd, opt->max_batch);
      bufs[n++] = (Buffer){i, nd->group, end < nd->group ? nd->group : end, size, 0};
    }
  }
  qsort(bufs, n, sizeof *bufs, by_start);
  for (int i = 0; i < g->count; i++) at[i] = -1;
  chain_takeovers(g, bufs, n, eltwise, at, taken, lead);
  int64_t total = place_chains(g, bufs, n, lead);
  free(bufs), free(last), free(at), free(lead), free(taken), free(eltwise);
  if (total < 0) return diag_error((PgLoc){0}, "plan: out of memory"), false;
  for (int i = 0; i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_VIEW)
      g->nodes[i].offset = g->nodes[ir_alias_root(g, i)].offset;
  g->max_batch = opt->max_batch;
  g->arena_bytes = total;
  return true;
}

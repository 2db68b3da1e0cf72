/* plan.c — memory planning: one arena per step function, an offset for every
 * value that must live in memory between kernels.
 *
 * A value needs a buffer when a kernel computes it and a different kernel (or
 * a view of it that another kernel reads) uses it; values used only inside
 * their own fused loop stay in registers. Inputs, outputs and parameters live
 * outside the arena. A buffer is live from the kernel that writes it to the
 * last kernel that reads it; buffers whose lifetimes overlap get disjoint
 * bytes, others may share (first fit, in order of first use). Sizes are for
 * opt->max_batch rows. Views (reshape) get the offset of what they view.
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

static int by_start(const void *x, const void *y) {
  const Buffer *a = x, *b = y;
  return a->start != b->start ? a->start - b->start : a->node - b->node;
}

bool ps_plan(IrGraph *g, const PsOptions *opt) {
  Buffer *bufs = malloc((g->count + 1) * sizeof *bufs);
  int *last = malloc((g->count + 1) * sizeof *last);
  int n = 0;
  if (g->nkernels == 0 && g->count > 0) {
    diag_error((PgLoc){0}, "plan: the graph has no kernels yet; run 'fuse' before 'plan'");
    free(bufs), free(last);
    return false;
  }
  if (!ps_each_body(g, ps_plan, opt)) {
    free(bufs), free(last);
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
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    int64_t top = first_fit(bufs, i, &bufs[i]);
    if (top > total) total = top;
    g->nodes[bufs[i].node].offset = bufs[i].offset;
  }
  for (int i = 0; i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_VIEW)
      g->nodes[i].offset = g->nodes[ir_alias_root(g, i)].offset;
  g->max_batch = opt->max_batch;
  g->arena_bytes = total;
  free(last);
  free(bufs);
  return true;
}

/* dce.c — dead code elimination: keeps every node that is not pure (ops.h:
 * outputs and assignments are effects; inputs and parameters are the graph's
 * interface, and their slots must stay stable) and the nodes they depend on,
 * and renumbers the rest densely in the same order, so the graph stays
 * topologically sorted. Inside each scan's body it does the same (its inputs
 * and outputs are the body's interface). */
#include <stdlib.h>

#include "passes.h"

static bool is_root(const IrNode *n) { return !(ir_op_flags(n->op) & IR_PURE); }

void ps_keep_nodes(IrGraph *g, const bool *keep) {
  int *remap = malloc(((size_t)g->count + 1) * sizeof *remap), kept = 0;
  for (int i = 0; i < g->count; i++) {
    if (!keep[i]) continue;
    IrNode n = g->nodes[i];
    for (int k = 0; k < n.nin; k++) n.in[k] = remap[n.in[k]];
    remap[i] = kept;
    g->nodes[kept++] = n;
  }
  if (kept != g->count) ir_clear_schedule(g);
  g->count = kept;
  free(remap);
}

bool ps_dce(IrGraph *g, const PsOptions *opt) {
  if (!ps_each_body(g, ps_dce, opt)) return false;
  bool *live = calloc((size_t)g->count + 1, sizeof *live);
  for (int i = g->count - 1; i >= 0; i--) {
    IrNode *n = &g->nodes[i];
    live[i] |= is_root(n);
    for (int k = 0; live[i] && k < n->nin; k++) live[n->in[k]] = true;
  }
  ps_keep_nodes(g, live);
  free(live);
  return true;
}

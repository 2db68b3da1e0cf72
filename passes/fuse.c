/* fuse.c — operator fusion: assigns every computing node a kernel (group).
 *
 * Elementwise nodes of the same shape join the kernel of an operand, so a
 * chain like matmul -> add bias -> relu -> dropout becomes one loop after the
 * matmul, and the whole Adam update of a weight becomes one loop. Other ops
 * get a kernel each; leaves and reshapes (views) get none.
 *
 * Invariant: a kernel runs at the position of its last node. A join is kept
 * only if the schedule stays valid: every kernel runs after the kernels that
 * produce its operands, and every reader of a parameter runs before (or in the
 * same loop as) the kernel that assigns it. */
#include <stdlib.h>

#include "passes.h"

typedef struct {
  IrGraph *g;
  int *last; /* per group: its last node = where it runs */
} Fuse;

/* the node whose buffer a value lives in: reshapes are views of their operand */
static int alias_root(const IrGraph *g, int v) {
  while (g->nodes[v].op == IR_OP_RESHAPE) v = g->nodes[v].in[0];
  return v;
}

static int kernel_of(const IrGraph *g, int v) { return g->nodes[alias_root(g, v)].group; }

static bool runs_before(Fuse *f, int producer_group, int consumer_group, bool same_ok) {
  if (producer_group < 0) return true;
  if (producer_group == consumer_group) return same_ok;
  return f->last[producer_group] < f->last[consumer_group];
}

static bool schedule_ok(Fuse *f) {
  IrGraph *g = f->g;
  for (int i = 0; i < g->count; i++) {
    IrNode *n = &g->nodes[i];
    if (n->group < 0) continue;
    for (int k = 0; k < n->nin; k++) {
      bool view = alias_root(g, n->in[k]) != n->in[k]; /* a view is read from memory */
      if (!runs_before(f, kernel_of(g, n->in[k]), n->group, !view)) return false;
    }
  }
  for (int a = 0; a < g->count; a++) { /* readers of an assigned parameter */
    if (g->nodes[a].op != IR_OP_ASSIGN || g->nodes[a].group < 0) continue;
    int p = g->nodes[a].in[0];
    for (int i = 0; i < g->count; i++)
      for (int k = 0; i != a && k < g->nodes[i].nin; k++)
        if (alias_root(g, g->nodes[i].in[k]) == p &&
            !runs_before(f, g->nodes[i].group, g->nodes[a].group, true))
          return false;
  }
  return true;
}

static bool try_join(Fuse *f, int id, int group) {
  int old_last = f->last[group];
  f->g->nodes[id].group = group;
  f->last[group] = id;
  if (schedule_ok(f)) return true;
  f->g->nodes[id].group = -1;
  f->last[group] = old_last;
  return false;
}

static bool fusable_into(const IrGraph *g, const IrNode *n, int operand) {
  const IrNode *p = &g->nodes[operand];
  return p->group >= 0 && ir_op_kind(p->op) == IR_KIND_ELTWISE && ir_shape_eq(&p->shape, &n->shape);
}

static void place(Fuse *f, int id, int *ngroups, bool no_fuse) {
  IrGraph *g = f->g;
  IrNode *n = &g->nodes[id];
  if (ir_op_kind(n->op) == IR_KIND_LEAF || n->op == IR_OP_RESHAPE) return;
  if (!no_fuse && ir_op_kind(n->op) == IR_KIND_ELTWISE)
    for (int k = 0; k < n->nin; k++)
      if (fusable_into(g, n, n->in[k]) && try_join(f, id, g->nodes[n->in[k]].group)) return;
  n->group = (*ngroups)++;
  f->last[n->group] = id;
}

/* renumber kernels in the order they run */
static void number_by_schedule(Fuse *f, int ngroups) {
  int *order = malloc((ngroups + 1) * sizeof *order), *rank = malloc((ngroups + 1) * sizeof *rank);
  int k = 0;
  for (int i = 0; i < f->g->count; i++)
    if (f->g->nodes[i].group >= 0 && f->last[f->g->nodes[i].group] == i) order[k++] = f->g->nodes[i].group;
  for (int i = 0; i < k; i++) rank[order[i]] = i;
  for (int i = 0; i < f->g->count; i++)
    if (f->g->nodes[i].group >= 0) f->g->nodes[i].group = rank[f->g->nodes[i].group];
  f->g->nkernels = k;
  free(order);
  free(rank);
}

bool ps_fuse(IrGraph *g, const PsOptions *opt) {
  Fuse f = {g, malloc((g->count + 1) * sizeof(int))};
  int ngroups = 0;
  for (int i = 0; i < g->count; i++) g->nodes[i].group = -1;
  for (int i = 0; i < g->count; i++) place(&f, i, &ngroups, opt->no_fuse);
  number_by_schedule(&f, ngroups);
  free(f.last);
  return true;
}

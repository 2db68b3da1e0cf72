/* fuse.c — operator fusion: assigns every computing node a kernel (group).
 *
 * Elementwise nodes of the same shape join the kernel of an operand, and a
 * node that combines values from several such kernels merges them, so a chain
 * like matmul -> add bias -> relu -> dropout becomes one loop after the
 * matmul, and the whole Adam update of a weight (two moments, the weight,
 * three assignments) becomes one loop. A reduction joins the loop of the
 * elementwise node it reduces (producer fusion: the operand is never read
 * back from memory, and is stored by that loop only if other kernels read
 * it), and reductions over the same axes of values of one shape that read a
 * same value from memory share a loop that writes each result (sibling
 * fusion): batch norm's sum(d) and sum(d * d) are one pass over d. Message
 * passing fuses the same way: an edge_gather is an indexed load that
 * elementwise nodes over its shape join, and a segment op joins the loop of
 * its operand as a reduction does, so gather, scale and segment_sum are one
 * loop over the edges. Other ops get a kernel each; leaves and reshapes
 * (views) get none.
 *
 * Invariant: a kernel runs at the position of its last node. A join is kept
 * only if the schedule stays valid: every kernel runs after the kernels that
 * produce its operands (a view of a value in the same loop would be read from
 * memory before it is written, so that is invalid too, as is reading a
 * reduction in its own loop, where it is not complete), and every reader of a
 * parameter runs before, or in the same loop as, the kernel that assigns it.
 * A kernel holds at most one set of reduction axes (or one segment op and no
 * reduction), and all its nodes loop over one shape (ir_loop_shape); a
 * gather reads its table and indices, a segment op its indices, from memory.
 * A scan is a kernel of its own, which also computes its results; its body
 * is fused as a graph of its own first.
 *
 * With fuse{explain=1} (nnd dump --stage=fused) each computing node keeps,
 * in IrNode.fusion, why it is where it is: the operand loop it joined, or
 * why it joined none (each candidate and the reason it was refused), and
 * the loops it merged or could not. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "passes.h"

typedef struct {
  IrGraph *g;
  IrUses uses;
  int *last; /* per group: its last node = where it runs */
  int *size; /* per group: its node count */
  int *moved; /* scratch for try_merge */
  int *reduction; /* per group: its first fold (a reduction or a segment op), or -1 */
  int *indexed;   /* per group: one of its gathers or segment ops, or -1 */
  int max_ops;
  bool explain;    /* keep each node's reasons (note, then IrNode.fusion) */
  char note[512];
  size_t note_len;
} Fuse;

/* why a node may not join a loop (JOINS: it may) */
typedef enum { JOINS, NOT_A_LOOP, OTHER_SHAPE, FULL, OTHER_AXES, SCHEDULE } Verdict;

static const char *const verdict_text[] = {
    "joins", "not computed element by element in a loop", "its loop has another shape",
    "its kernel is full (max-ops)", "its loop folds over other axes, or indexes",
    "that would break the schedule"};

/* appends to the note of the node being placed (explain only) */
static void say(Fuse *f, const char *fmt, ...) {
  if (!f->explain || f->note_len >= sizeof f->note - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(f->note + f->note_len, sizeof f->note - f->note_len, fmt, ap);
  va_end(ap);
  if (n > 0) f->note_len += (size_t)n;
  if (f->note_len >= sizeof f->note) f->note_len = sizeof f->note - 1; /* cut */
}

/* "; not with %v (op): reason", for a refused candidate */
static void say_refused(Fuse *f, const char *what, int v, Verdict why) {
  IrOp op = f->g->nodes[v].op;
  const char *text = why == NOT_A_LOOP && (ir_op_flags(op) & IR_VIEW) ? "a view, read from memory"
                                                                      : verdict_text[why];
  say(f, "%s%s %%%d (%s): %s", f->note_len ? "; " : "", what, v, ir_op_name(op), text);
}

static bool is_reduction(const IrGraph *g, int v) { return ir_op_flags(g->nodes[v].op) & IR_REDUCTION; }
/* a reduction or a segment op: folds its operand's elements into its output */
static bool folds(const IrGraph *g, int v) {
  return ir_op_flags(g->nodes[v].op) & (IR_REDUCTION | IR_SCATTERS);
}
/* a value an elementwise loop computes element by element */
static bool per_element(const IrGraph *g, int v) { return ir_op_per_element(g->nodes[v].op); }

static bool is_indexed(const IrGraph *g, int v) {
  return ir_op_flags(g->nodes[v].op) & (IR_GATHERS | IR_SCATTERS);
}

/* whether a loop with fold r and an indexed member or not (-1 for none) and
 * one with fold r2 and indexed member i2 may be one loop: at most one set of
 * reduction axes, and a loop over edges (gathers, a segment op) holds no
 * reduction and at most one segment op */
static bool loops_agree(const IrGraph *g, int r, int i, int r2, int i2) {
  if (r >= 0 && r2 >= 0)
    return is_reduction(g, r) && is_reduction(g, r2) && g->nodes[r].attr[0] == g->nodes[r2].attr[0];
  int fold = r >= 0 ? r : r2;
  return fold < 0 || !is_reduction(g, fold) || (i < 0 && i2 < 0);
}

/* whether node id may join group's loop as far as folds and indexing go */
static bool axes_agree(Fuse *f, int group, int id) {
  IrGraph *g = f->g;
  int fold = folds(g, id) ? id : -1, indexed = is_indexed(g, id) ? id : -1;
  return loops_agree(g, f->reduction[group], f->indexed[group], fold, indexed);
}

/* operand k of n comes from memory even in n's own kernel: the table and the
 * indices of a gather, the indices of a segment op */
static bool read_from_memory(const IrNode *n, int k) {
  unsigned flags = ir_op_flags(n->op);
  return (flags & IR_GATHERS) || (k == 1 && (flags & IR_SCATTERS));
}

static int kernel_of(const IrGraph *g, int v) { return g->nodes[ir_alias_root(g, v)].group; }

static bool runs_before(Fuse *f, int producer_group, int consumer_group, bool same_ok) {
  if (producer_group < 0 || consumer_group < 0) return true; /* leaf, or not placed yet */
  if (producer_group == consumer_group) return same_ok;
  return f->last[producer_group] < f->last[consumer_group];
}

/* every node that reads v or a view of v must run no later than group */
static bool readers_before(Fuse *f, int v, int except, int group) {
  for (int i = f->uses.start[v]; i < f->uses.start[v + 1]; i++) {
    int r = f->uses.user[i];
    if (r == except) continue;
    if (ir_op_flags(f->g->nodes[r].op) & IR_VIEW ? !readers_before(f, r, except, group)
                                            : !runs_before(f, f->g->nodes[r].group, group, true))
      return false;
  }
  return true;
}

static bool schedule_ok(Fuse *f) {
  IrGraph *g = f->g;
  for (int i = 0; i < g->count; i++) {
    IrNode *n = &g->nodes[i];
    if (n->group < 0) continue;
    bool part = ir_op_flags(n->op) & IR_PROJECTION; /* of its scan, in its kernel */
    for (int k = 0; k < n->nin; k++) {
      int u = n->in[k], r = ir_alias_root(g, u);
      bool in_loop = u == r && (part || per_element(g, r)) && !read_from_memory(n, k);
      if (!runs_before(f, kernel_of(g, u), n->group, in_loop)) return false;
    }
    bool in_place = ir_op_flags(n->op) & IR_IN_PLACE;
    if (in_place && !readers_before(f, n->in[0], i, n->group)) return false;
  }
  return true;
}

/* node id joins group's loop; with `move`, the kernel now runs at id, else
 * where it already runs (an output, or a reduction whose operands are ready
 * there: a node that joins late need not delay its kernel) */
static Verdict try_add(Fuse *f, int id, int group, bool move) {
  if (!axes_agree(f, group, id)) return OTHER_AXES;
  int old_last = f->last[group], old_reduction = f->reduction[group];
  int old_indexed = f->indexed[group];
  f->g->nodes[id].group = group;
  if (move) f->last[group] = id;
  if (folds(f->g, id) && old_reduction < 0) f->reduction[group] = id;
  if (is_indexed(f->g, id) && old_indexed < 0) f->indexed[group] = id;
  if (schedule_ok(f)) return f->size[group]++, JOINS;
  f->g->nodes[id].group = -1;
  f->last[group] = old_last;
  f->reduction[group] = old_reduction;
  f->indexed[group] = old_indexed;
  return SCHEDULE;
}

static Verdict try_join(Fuse *f, int id, int group) { return try_add(f, id, group, true); }

/* whether node id may join the loop of its operand: an elementwise value of
 * the shape id loops over, in a kernel with room */
static Verdict fusable_into(Fuse *f, int id, int operand, int extra) {
  const IrNode *p = &f->g->nodes[operand];
  if (p->group < 0 || !per_element(f->g, operand)) return NOT_A_LOOP;
  if (!pg_shape_eq(&p->shape, ir_loop_shape(f->g, id))) return OTHER_SHAPE;
  return f->max_ops == 0 || f->size[p->group] + extra <= f->max_ops ? JOINS : FULL;
}

/* moves every node of group `from` into `into`, if the schedule allows it */
static Verdict try_merge(Fuse *f, int into, int from) {
  IrGraph *g = f->g;
  if (!loops_agree(g, f->reduction[into], f->indexed[into], f->reduction[from], f->indexed[from]))
    return OTHER_AXES;
  int old_last = f->last[into], old_reduction = f->reduction[into], nmoved = 0;
  int old_indexed = f->indexed[into];
  if (f->last[from] > f->last[into]) f->last[into] = f->last[from];
  if (old_reduction < 0) f->reduction[into] = f->reduction[from];
  if (old_indexed < 0) f->indexed[into] = f->indexed[from];
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].group == from) g->nodes[i].group = into, f->moved[nmoved++] = i;
  if (schedule_ok(f)) return f->size[into] += f->size[from], f->size[from] = 0, JOINS;
  for (int k = 0; k < nmoved; k++) g->nodes[f->moved[k]].group = from;
  f->last[into] = old_last;
  f->reduction[into] = old_reduction;
  f->indexed[into] = old_indexed;
  return SCHEDULE;
}

/* whether groups a and b are both reduction loops over one shape */
static bool reduce_alike(Fuse *f, int a, int b) {
  int ra = f->reduction[a], rb = f->reduction[b];
  if (ra < 0 || rb < 0) return false;
  const PgShape *loop_a = ir_loop_shape(f->g, ra), *loop_b = ir_loop_shape(f->g, rb);
  return pg_shape_eq(loop_a, loop_b);
}

/* a sibling merge with reduction r (both read v) in the note; a refusal
 * once for each r (refused[]: the first 8 said) */
static void say_sibling(Fuse *f, int r, int v, Verdict why, int *refused, int *nrefused) {
  if (why == JOINS) {
    say(f, "; shares its loop with %%%d (the same axes, both read %%%d)", r, v);
    return;
  }
  for (int q = 0; q < *nrefused; q++)
    if (refused[q] == r) return;
  if (*nrefused == 8) return;
  refused[(*nrefused)++] = r;
  say_refused(f, "loop not shared with", r, why);
}

/* sibling fusion: the reduction loop of node id merges with the earlier
 * reduction loops (same axes, same shape) that read a value it reads from
 * memory, so that the value is read once */
static void merge_siblings(Fuse *f, int id) {
  IrGraph *g = f->g;
  int group = g->nodes[id].group, refused[8], nrefused = 0;
  for (int i = 0; i <= id; i++) {
    const IrNode *m = &g->nodes[i];
    for (int k = 0; m->group == group && k < m->nin; k++) {
      int v = m->in[k];
      bool big = pg_shape_eq(&g->nodes[v].shape, ir_loop_shape(g, id)); /* not a constant */
      if (g->nodes[v].group == group || !big) continue; /* computed in the loop, or small */
      for (int j = f->uses.start[v]; j < f->uses.start[v + 1]; j++) {
        int other = g->nodes[f->uses.user[j]].group;
        if (other < 0 || other == group || !reduce_alike(f, group, other)) continue;
        int r = f->reduction[other];
        Verdict why = f->max_ops == 0 || f->size[group] + f->size[other] <= f->max_ops
                          ? try_merge(f, group, other) : FULL;
        say_sibling(f, r, v, why, refused, &nrefused);
      }
    }
  }
}

/* whether operand v is worth a word in a note: a value some kernel computes */
static bool candidate(const IrGraph *g, int v) {
  return ir_op_has_kernel(g->nodes[ir_alias_root(g, v)].op);
}

/* elementwise node id joins the loop of its first operand that takes it;
 * returns how many operands it tried (their verdicts are in the note) */
static int join_an_operand(Fuse *f, int id) {
  IrGraph *g = f->g;
  const IrNode *n = &g->nodes[id];
  int k = 0;
  for (; k < n->nin && n->group < 0; k++) {
    int u = n->in[k];
    Verdict v = fusable_into(f, id, u, 1);
    if (v == JOINS) v = try_join(f, id, g->nodes[u].group);
    if (v == JOINS) say(f, "%sjoins the loop of %%%d", f->note_len ? "; so " : "", u);
    else if (candidate(g, u)) say_refused(f, "not with", u, v);
  }
  return k;
}

/* an output, or a fold, joins its operand's loop, where that loop runs if
 * it can (a node that joins late need not delay its kernel), else at id */
static void join_as_sink(Fuse *f, int id, bool said) {
  IrGraph *g = f->g;
  int u = g->nodes[id].in[0];
  Verdict v = fusable_into(f, id, u, 1);
  if (v == JOINS) {
    v = try_add(f, id, g->nodes[u].group, false);
    if (v != JOINS && folds(g, id)) v = try_join(f, id, g->nodes[u].group);
  }
  if (v == JOINS) say(f, "%sjoins the loop of %%%d, which %s it", f->note_len ? "; so " : "", u,
                      folds(g, id) ? "folds" : "stores");
  else if (!said && candidate(g, u)) say_refused(f, "not with", u, v);
}

/* n joins loops: make them one (operands past the first `tried` were not
 * yet in the note) */
static void merge_operands(Fuse *f, int id, int tried) {
  IrGraph *g = f->g;
  IrNode *n = &g->nodes[id];
  for (int k = 0; k < n->nin; k++) {
    int u = n->in[k], other = g->nodes[u].group;
    if (other == n->group) continue;
    Verdict v = fusable_into(f, id, u, f->size[n->group]);
    if (v == JOINS) v = try_merge(f, n->group, other);
    if (v == JOINS) say(f, "; merged the loop of %%%d into it", u);
    else if (candidate(g, u) && k >= tried) say_refused(f, "loop not merged with", u, v);
  }
}

static void place(Fuse *f, int id, int *ngroups) {
  IrGraph *g = f->g;
  IrNode *n = &g->nodes[id];
  if (!ir_op_has_kernel(n->op)) return;
  f->note_len = 0, f->note[0] = 0;
  bool eltwise = ir_op_kind(n->op) == IR_KIND_ELTWISE;
  bool sinks = n->op == IR_OP_OUTPUT || folds(g, id);
  int tried = 0;
  if (ir_op_flags(n->op) & IR_PROJECTION) { /* in its scan's kernel, which runs where the scan is */
    n->group = g->nodes[n->in[0]].group;
    f->size[n->group]++;
    say(f, "computed by its scan %%%d", n->in[0]);
  } else if (f->max_ops == 1) say(f, "fusion off (max-ops=1)");
  else if (eltwise) tried = join_an_operand(f, id);
  if (sinks && n->group < 0 && f->max_ops != 1) join_as_sink(f, id, eltwise);
  if (n->group < 0) {
    n->group = (*ngroups)++;
    f->last[n->group] = id;
    f->size[n->group] = 1;
    f->reduction[n->group] = folds(g, id) ? id : -1;
    f->indexed[n->group] = is_indexed(g, id) ? id : -1;
    if (f->max_ops == 1) {
    } else if (eltwise || sinks) say(f, "%sa loop of its own", f->note_len ? "; so " : "");
    else say(f, "a kernel of its own (%s is not an elementwise loop)", ir_op_name(n->op));
  }
  if (eltwise && f->max_ops != 1) merge_operands(f, id, tried);
  if (is_reduction(g, id) && f->max_ops != 1) merge_siblings(f, id);
  if (f->explain) n->fusion = ir_strdup(g, f->note);
}

/* renumber kernels in the order they run */
static void number_by_schedule(Fuse *f, int ngroups) {
  int *rank = malloc((ngroups + 1) * sizeof *rank), k = 0;
  for (int i = 0; i < f->g->count; i++) {
    int grp = f->g->nodes[i].group;
    if (grp >= 0 && f->last[grp] == i) rank[grp] = k++;
  }
  for (int i = 0; i < f->g->count; i++)
    if (f->g->nodes[i].group >= 0) f->g->nodes[i].group = rank[f->g->nodes[i].group];
  f->g->nkernels = k;
  free(rank);
}

bool ps_fuse(IrGraph *g, const PsOptions *opt) {
  size_t n = (size_t)g->count + 1;
  Fuse f = {g, ir_uses(g), malloc(n * sizeof(int)), malloc(n * sizeof(int)), malloc(n * sizeof(int)),
            malloc(n * sizeof(int)), malloc(n * sizeof(int)), opt->max_ops, opt->explain, "", 0};
  int ngroups = 0;
  ir_clear_schedule(g); /* and its bodies': fused again first */
  bool ok = ps_each_body(g, ps_fuse, opt);
  for (int i = 0; ok && i < g->count; i++) place(&f, i, &ngroups);
  number_by_schedule(&f, ngroups);
  ir_uses_free(&f.uses);
  free(f.last);
  free(f.size);
  free(f.moved);
  free(f.reduction);
  free(f.indexed);
  return ok;
}

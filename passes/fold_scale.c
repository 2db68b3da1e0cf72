/* fold_scale.c — folds a per-channel scale and shift after a matmul into the
 * matmul's weights and bias. In an inference graph batch norm is
 * x * scale + shift with scale and shift [C] computed from parameters alone,
 * and x is often a convolution's or dense layer's matmul, so
 *   (A @ W + b) * s + t  =  A @ (W * s) + (b * s + t)
 * turns a multiply over [B, ..., C] into one over the weight's [K, C], and
 * the two adds after the matmul into one. The rules, at a mul or add whose
 * other operand v is per-channel (f32 [C], C the last axis of the result):
 *   mul(matmul(A, W), v)  ->  matmul(A, mul(W, v))
 *   mul(add(M, b), v)     ->  add(mul(M, v), mul(b, v))   M folds as above
 *   add(add(M, b), v)     ->  add(M, add(b, v))           M a matmul
 * b per-channel too. A matmul folds when it reads W [K, C] as it is
 * (transpose_b = 0). Every value a rule consumes has one reader (else it
 * would be computed twice), and v must not depend on it: in training, batch
 * norm's scale comes from the batch statistics of that very matmul, so
 * nothing folds there.
 *
 * Not exact: W * s rounds where (A @ W) * s rounds elsewhere, so this is not
 * part of canonicalize (which keeps exact identities) and the pipeline runs
 * it on inference graphs only (eval, predict, decode), never on the steps
 * whose results checkpoints reproduce bit for bit. Top-level graph only.
 *
 * Mechanics: every node is copied, in order, after the graph's own nodes, a
 * rule's result standing for its root; then only the copies are kept and a
 * dce drops what no rule's result reads any more (ids stay topological). */
#include <stdlib.h>

#include "passes.h"

typedef struct {
  IrGraph *g;
  IrUses uses; /* of the original nodes */
  int n0;      /* the original node count: copies have ids n0 and up */
  int *map;    /* original id -> its copy */
  int *origin; /* copy id - n0 -> the original it copies, -1 for a rule's new node */
} Folder;

static const IrNode *node(const Folder *f, int id) { return &f->g->nodes[id]; }

/* copy c has one reader in the original graph */
static bool single_use(const Folder *f, int c) {
  int o = f->origin[c - f->n0];
  return o >= 0 && f->uses.start[o + 1] - f->uses.start[o] == 1;
}

static bool per_channel(const Folder *f, int v, int x) {
  const PgShape *s = &node(f, v)->shape, *xs = &node(f, x)->shape;
  return node(f, v)->dtype == PG_F32 && s->rank == 1 && xs->rank >= 2 &&
         s->dim[0] == xs->dim[xs->rank - 1] && s->dim[0] > 0;
}

/* v neither is nor reads x. Operands have smaller ids than their readers,
 * so the search (a stack, each node pushed once) stops below x. */
static bool independent(const Folder *f, int v, int x) {
  size_t span = (size_t)(f->g->count - x) + 1;
  bool *seen = pg_calloc(span, sizeof *seen);
  int *stack = pg_calloc(span, sizeof *stack), top = 0;
  bool reads = !seen || !stack; /* out of memory: fold nothing */
  if (!reads && v >= x) stack[top++] = v, seen[v - x] = true;
  while (!reads && top > 0) {
    const IrNode *n = node(f, stack[--top]);
    reads = stack[top] == x;
    for (int k = 0; !reads && k < n->nin; k++)
      if (n->in[k] >= x && !seen[n->in[k] - x]) seen[n->in[k] - x] = true, stack[top++] = n->in[k];
  }
  free(seen);
  free(stack);
  return !reads;
}

static int emit2(Folder *f, IrOp op, int a, int b, PgLoc loc) {
  int id = ir_binary(f->g, op, a, b, loc);
  if (id >= 0) f->origin[id - f->n0] = -1;
  return id;
}

static bool foldable_matmul(const Folder *f, int m) {
  const IrNode *n = node(f, m);
  return n->op == IR_OP_MATMUL && n->attr[1] == 0 && node(f, n->in[1])->shape.rank == 2;
}

/* matmul(A, W * v) for the matmul copy m */
static int scaled_matmul(Folder *f, int m, int v, PgLoc loc) {
  const IrNode n = *node(f, m);
  int w = emit2(f, IR_OP_MUL, n.in[1], v, loc);
  if (w < 0) return -1;
  int in[2] = {n.in[0], w};
  int id = ir_emit(f->g, IR_OP_MATMUL, 2, in, n.attr, n.loc);
  if (id >= 0) f->origin[id - f->n0] = -1;
  return id;
}

/* a rule's operand x: read by the rule alone, and v computed without it */
static bool consumable(const Folder *f, int x, int v) {
  return single_use(f, x) && independent(f, v, x);
}

/* x * v with the multiply moved into x's weights (and bias), or -1 when x
 * is not a matmul, or a matmul plus a bias, that can take it */
static int scaled(Folder *f, int x, int v, PgLoc loc) {
  if (foldable_matmul(f, x)) return consumable(f, x, v) ? scaled_matmul(f, x, v, loc) : -1;
  const IrNode n = *node(f, x);
  if (n.op != IR_OP_ADD || !per_channel(f, n.in[1], x) || !foldable_matmul(f, n.in[0]) ||
      !consumable(f, x, v) || !consumable(f, n.in[0], v))
    return -1;
  int m = scaled_matmul(f, n.in[0], v, loc);
  int b = m < 0 ? -1 : emit2(f, IR_OP_MUL, n.in[1], v, loc);
  return b < 0 ? -1 : emit2(f, IR_OP_ADD, m, b, n.loc);
}

/* x + v with v joined to x's bias: add(M, add(b, v)), or -1 */
static int shifted(Folder *f, int x, int v, PgLoc loc) {
  const IrNode n = *node(f, x);
  if (n.op != IR_OP_ADD || !foldable_matmul(f, n.in[0]) || !per_channel(f, n.in[1], x) ||
      !consumable(f, x, v))
    return -1;
  int b = emit2(f, IR_OP_ADD, n.in[1], v, loc);
  return b < 0 ? -1 : emit2(f, IR_OP_ADD, n.in[0], b, n.loc);
}

/* the rule's result for copy c (a mul or an add), or -1 when none applies */
static int rewrite(Folder *f, int c) {
  const IrNode n = *node(f, c);
  if ((n.op != IR_OP_MUL && n.op != IR_OP_ADD) || n.dtype != PG_F32) return -1;
  for (int k = 0; k < 2; k++) {
    int x = n.in[k], v = n.in[1 - k];
    if (!per_channel(f, v, x) || !pg_shape_eq(&node(f, x)->shape, &n.shape)) continue;
    int r = n.op == IR_OP_MUL ? scaled(f, x, v, n.loc) : shifted(f, x, v, n.loc);
    if (r >= 0) return r;
  }
  return -1;
}

static bool copy_node(Folder *f, int i) {
  IrNode n = f->g->nodes[i];
  for (int k = 0; k < n.nin; k++) n.in[k] = f->map[n.in[k]];
  n.group = -1, n.offset = -1;
  int c = ir_append_node(f->g, &n);
  if (c < 0) return false;
  f->origin[c - f->n0] = i;
  int r = rewrite(f, c);
  if (r >= 0) f->origin[r - f->n0] = i; /* it stands for i: i's readers read it */
  f->map[i] = r >= 0 ? r : c;
  return true;
}

bool ps_fold_scale(IrGraph *g, const PsOptions *opt) {
  Folder f = {g, ir_uses(g), g->count, NULL, NULL};
  /* each original node adds its copy and at most four rule nodes (scaled's
   * two muls, matmul and add) */
  size_t most = (size_t)g->count * 5 + 1;
  f.map = pg_calloc((size_t)g->count + 1, sizeof *f.map);
  f.origin = pg_calloc(most, sizeof *f.origin);
  bool ok = f.map && f.origin;
  for (int i = 0; ok && i < f.n0; i++) ok = copy_node(&f, i);
  bool *copies = ok ? pg_calloc((size_t)g->count, sizeof *copies) : NULL;
  for (int i = f.n0; copies && i < g->count; i++) copies[i] = true;
  if (copies) ps_keep_nodes(g, copies);
  free(copies);
  free(f.map);
  free(f.origin);
  ir_uses_free(&f.uses);
  return ok && copies && ps_dce(g, opt);
}

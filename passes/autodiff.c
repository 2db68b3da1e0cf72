/* autodiff.c — reverse-mode differentiation of the graph's "loss" output.
 *
 * Walks the nodes backwards from the loss (the node order is topological) and
 * asks each op's backward rule for the gradients of its operands, summing the
 * contributions to each value. Only values on a path from a weight to the loss
 * get gradients. Every node a rule makes carries the forward node's location.
 * With an optimizer the weight updates are appended (optimizer.c), making one
 * training-step graph; without one, each gradient becomes an output
 * "grad:<weight>" (for gradient checking). */
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"



static int cst(Ad *ad, double v, PgLoc loc) { return ir_const(ad->g, v, loc); }
static int bin(Ad *ad, IrOp op, int a, int b, PgLoc loc) { return ir_binary(ad->g, op, a, b, loc); }

/* sum a broadcast gradient back down to the shape of the operand it came from */
int ps_unbroadcast(IrGraph *g, int value, const PgShape *to, PgLoc loc) {
  PgShape from = ir_node(g, value)->shape;
  if (pg_shape_eq(&from, to)) return value;
  int64_t axes = 0;
  int lead = from.rank - to->rank;
  for (int i = 0; i < from.rank; i++)
    if (i < lead || (to->dim[i - lead] == 1 && from.dim[i] != 1)) axes |= 1 << i;
  int64_t attr[IR_MAX_ATTR] = {axes};
  int s = axes ? ir_emit(g, IR_OP_REDUCE_SUM, 1, &value, attr, loc) : value;
  return ir_reshape(g, s, *to, loc);
}

static void accumulate(Ad *ad, int x, int d) {
  if (d < 0 || !ad->needs[x]) return;
  PgShape shape = ir_node(ad->g, x)->shape;
  d = ps_unbroadcast(ad->g, d, &shape, ad->loc);
  ad->grad[x] = ad->grad[x] < 0 ? d : bin(ad, IR_OP_ADD, ad->grad[x], d, ad->loc);
}

/* for matmul and batch_matmul alike (the batch axis rides along) */
static void matmul_backward(Ad *ad, const IrNode *n, int g) {
  int a = n->in[0], b = n->in[1];
  int ta = n->attr[0] != 0, tb = n->attr[1] != 0;
  /* C = op(A) op(B): dA and dB as matmuls with transpose flags, no copies */
  int64_t fa[IR_MAX_ATTR] = {0}, fb[IR_MAX_ATTR] = {0};
  int ia[2], ib[2];
  if (!ta) { ia[0] = g; ia[1] = b; fa[0] = 0; fa[1] = !tb; }
  else     { ia[0] = b; ia[1] = g; fa[0] = tb;  fa[1] = 1; }
  if (!tb) { ib[0] = a; ib[1] = g; fb[0] = !ta; fb[1] = 0; }
  else     { ib[0] = g; ib[1] = a; fb[0] = 1; fb[1] = ta; }
  if (ad->needs[a]) accumulate(ad, a, ir_emit(ad->g, n->op, 2, ia, fa, n->loc));
  if (ad->needs[b]) accumulate(ad, b, ir_emit(ad->g, n->op, 2, ib, fb, n->loc));
}

/* d log_softmax: g - softmax(x) * sum(g) over the last axis */
static int log_softmax_backward(Ad *ad, int y, int g, PgLoc loc) {
  int64_t last[IR_MAX_ATTR] = {1 << (ir_node(ad->g, y)->shape.rank - 1)};
  int s = ir_emit(ad->g, IR_OP_REDUCE_SUM, 1, &g, last, loc);
  return bin(ad, IR_OP_SUB, g, bin(ad, IR_OP_MUL, ir_unary(ad->g, IR_OP_EXP, y, loc), s, loc), loc);
}

/* ops whose result type is an argument: the gradient's shape is known */
static int typed(Ad *ad, IrOp op, int x, int y, const int64_t *attr, PgShape shape, PgLoc l) {
  int in[2] = {x, y};
  return ir_emit_typed(ad->g, op, y >= 0 ? 2 : 1, in, attr, shape, l);
}

/* max: the gradient goes to the maxima, split evenly among ties (torch.amax) */
static int reduce_max_backward(Ad *ad, const IrNode *n, int id, int g) {
  int x = n->in[0];
  PgLoc l = n->loc;
  int mask = bin(ad, IR_OP_EQ, x, id, l);
  int count = ir_emit(ad->g, IR_OP_REDUCE_SUM, 1, &mask, n->attr, l);
  return bin(ad, IR_OP_DIV, bin(ad, IR_OP_MUL, mask, g, l), count, l);
}

/* segment_max's rule, as reduce_max's: the rows that hold their segment's
 * maximum share its gradient (a row no id picks has none) */
static int segment_max_backward(Ad *ad, const IrNode *n, int id, int g) {
  int v = n->in[0], ids = n->in[1], one = cst(ad, 1, n->loc);
  PgLoc l = n->loc;
  int mask = bin(ad, IR_OP_EQ, v, bin(ad, IR_OP_EDGE_GATHER, id, ids, l), l);
  int count = ir_emit(ad->g, IR_OP_SEGMENT_SUM, 2, (int[]){mask, ids}, n->attr, l);
  int share = bin(ad, IR_OP_DIV, g, bin(ad, IR_OP_MAX, count, one, l), l);
  return bin(ad, IR_OP_MUL, mask, bin(ad, IR_OP_EDGE_GATHER, share, ids, l), l);
}

static int inverse_perm(int64_t perm, int rank) {
  int64_t inv = 0;
  for (int i = 0; i < rank; i++) inv |= (int64_t)i << (4 * (perm >> (4 * i) & 15));
  return (int)inv;
}

/* the backward rules of the data-movement ops: each is another's adjoint */
static void movement_backward(Ad *ad, const IrNode *n, int g) {
  int a = n->in[0], b = n->in[1];
  PgLoc l = n->loc;
  PgShape sa = ir_node(ad->g, a)->shape;
  int64_t attr[IR_MAX_ATTR];
  memcpy(attr, n->attr, sizeof attr); /* an adjoint takes its op's attributes */
  switch (n->op) {
  case IR_OP_TRANSPOSE: attr[0] = inverse_perm(n->attr[0], sa.rank); accumulate(ad, a, ir_emit(ad->g, IR_OP_TRANSPOSE, 1, &g, attr, l)); break;
  case IR_OP_REVERSE: accumulate(ad, a, ir_emit(ad->g, IR_OP_REVERSE, 1, &g, attr, l)); break;
  case IR_OP_SLICE: accumulate(ad, a, typed(ad, IR_OP_UNSLICE, g, -1, attr, sa, l)); break;
  case IR_OP_UNSLICE: accumulate(ad, a, typed(ad, IR_OP_SLICE, g, -1, attr, sa, l)); break;
  case IR_OP_CONCAT: {
    PgShape sb = ir_node(ad->g, b)->shape;
    int64_t first[IR_MAX_ATTR] = {n->attr[0], 0}, second[IR_MAX_ATTR] = {n->attr[0], sa.dim[n->attr[0]]};
    if (ad->needs[a]) accumulate(ad, a, typed(ad, IR_OP_SLICE, g, -1, first, sa, l));
    if (ad->needs[b]) accumulate(ad, b, typed(ad, IR_OP_SLICE, g, -1, second, sb, l));
    break;
  }
  case IR_OP_GATHER: attr[0] = sa.dim[0]; accumulate(ad, a, ir_emit(ad->g, IR_OP_SCATTER_ADD, 2, (int[]){g, b}, attr, l)); break;
  case IR_OP_SCATTER_ADD: accumulate(ad, a, ir_binary(ad->g, IR_OP_GATHER, g, b, l)); break;
  case IR_OP_EDGE_GATHER:
    attr[0] = sa.dim[1];
    accumulate(ad, a, ir_emit(ad->g, IR_OP_SEGMENT_SUM, 2, (int[]){g, b}, attr, l));
    break;
  case IR_OP_SEGMENT_SUM: accumulate(ad, a, ir_binary(ad->g, IR_OP_EDGE_GATHER, g, b, l)); break;
  case IR_OP_IM2COL: accumulate(ad, a, typed(ad, IR_OP_COL2IM, g, -1, attr, sa, l)); break;
  case IR_OP_COL2IM: accumulate(ad, a, ir_emit(ad->g, IR_OP_IM2COL, 1, &g, attr, l)); break;
  /* not data movement: backward() has their rules */
  case IR_OP_INPUT: case IR_OP_PARAM: case IR_OP_CONST: case IR_OP_BATCH_SIZE:
  case IR_OP_IOTA: case IR_OP_DATA: /* tensor constants */
  case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG: case IR_OP_SQRT: case IR_OP_RELU:
  case IR_OP_ABS: case IR_OP_FLOOR: case IR_OP_COS: case IR_OP_SIN: case IR_OP_SIGMOID:
  case IR_OP_CALL:
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV: case IR_OP_MAX: case IR_OP_MIN:
  case IR_OP_POW: case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ: case IR_OP_RANDOM_UNIFORM:
  case IR_OP_SELECT: case IR_OP_ASSIGN: case IR_OP_BROADCAST: case IR_OP_OUTPUT:
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: case IR_OP_MATMUL: case IR_OP_BATCH_MATMUL:
  case IR_OP_RESHAPE: case IR_OP_LOG_SOFTMAX: case IR_OP_ARGMAX: case IR_OP_ONE_HOT:
  case IR_OP_SCAN: case IR_OP_RESULT: case IR_OP_ERF: case IR_OP_TO_F32: case IR_OP_TO_I32:
  case IR_OP_SEGMENT_MAX: case IR_OP_COUNT: break;
  }
}

/* g * f'(x), f' the external function declared as f's derivative; a call
 * without one is an error only here, where a gradient must flow through it */
static int call_backward(Ad *ad, const IrNode *n, int g) {
  if (!n->derivative) {
    diag_error(n->loc, "extern '%s' has no derivative: declare one (derivative = \"NAME\") to "
               "train through it", n->name);
    return -1;
  }
  return bin(ad, IR_OP_MUL, g, ir_call(ad->g, n->derivative, NULL, n->in[0], n->loc), n->loc);
}

/* d erf(x) = 2/sqrt(pi) exp(-x^2) */
static int erf_backward(Ad *ad, int x, int g, PgLoc l) {
  int square = bin(ad, IR_OP_MUL, x, x, l);
  int bell = ir_unary(ad->g, IR_OP_EXP, ir_unary(ad->g, IR_OP_NEG, square, l), l);
  int scale = cst(ad, 1.1283791670955126, l);
  return bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_MUL, bell, scale, l), l);
}

/* the backward rule of each op: gradients of the operands of node `id` given g */
static void backward(Ad *ad, int id, int g) {
  const IrNode n = *ir_node(ad->g, id); /* copy: emitting may move the node array */
  int a = n.in[0], b = n.in[1];
  PgLoc l = ad->loc = n.loc;
  bool da = ad->needs[a], db = n.nin > 1 && ad->needs[b]; /* build only what flows somewhere */
  switch (n.op) {
  case IR_OP_ADD: accumulate(ad, a, g); accumulate(ad, b, g); break;
  case IR_OP_SUB:
    accumulate(ad, a, g);
    if (db) accumulate(ad, b, ir_unary(ad->g, IR_OP_NEG, g, l));
    break;
  case IR_OP_MUL:
    if (da) accumulate(ad, a, bin(ad, IR_OP_MUL, g, b, l));
    if (db) accumulate(ad, b, bin(ad, IR_OP_MUL, g, a, l));
    break;
  case IR_OP_DIV:
    if (da) accumulate(ad, a, bin(ad, IR_OP_DIV, g, b, l));
    if (db) accumulate(ad, b, ir_unary(ad->g, IR_OP_NEG, bin(ad, IR_OP_DIV, bin(ad, IR_OP_MUL, g, id, l), b, l), l));
    break;
  case IR_OP_MAX: /* ties go to a */
    if (da) accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_GE, a, b, l), l));
    if (db) accumulate(ad, b, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_GT, b, a, l), l));
    break;
  case IR_OP_MIN: /* ties go to a */
    if (da) accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_GE, b, a, l), l));
    if (db) accumulate(ad, b, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_GT, a, b, l), l));
    break;
  case IR_OP_COS: accumulate(ad, a, ir_unary(ad->g, IR_OP_NEG, bin(ad, IR_OP_MUL, g, ir_unary(ad->g, IR_OP_SIN, a, l), l), l)); break;
  case IR_OP_ABS: { /* g sign(a), 0 at 0 as in PyTorch */
    int negative = bin(ad, IR_OP_GT, cst(ad, 0, l), a, l);
    int positive = bin(ad, IR_OP_GT, a, cst(ad, 0, l), l);
    accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_SUB, positive, negative, l), l));
    break;
  }
  case IR_OP_SIN: accumulate(ad, a, bin(ad, IR_OP_MUL, g, ir_unary(ad->g, IR_OP_COS, a, l), l)); break;
  case IR_OP_POW: /* d/da a^b = b a^(b-1); the exponent is treated as constant */
    if (da)
      accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_MUL, b,
                   bin(ad, IR_OP_POW, a, bin(ad, IR_OP_SUB, b, cst(ad, 1, l), l), l), l), l));
    break;
  case IR_OP_NEG: accumulate(ad, a, ir_unary(ad->g, IR_OP_NEG, g, l)); break;
  case IR_OP_EXP: accumulate(ad, a, bin(ad, IR_OP_MUL, g, id, l)); break;
  case IR_OP_SIGMOID: /* g y (1 - y), from y alone: finite where the sigmoid saturates */
    accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_MUL, id, bin(ad, IR_OP_SUB, cst(ad, 1, l), id, l), l), l));
    break;
  case IR_OP_LOG: accumulate(ad, a, bin(ad, IR_OP_DIV, g, a, l)); break;
  case IR_OP_SQRT: accumulate(ad, a, bin(ad, IR_OP_DIV, bin(ad, IR_OP_MUL, g, cst(ad, 0.5, l), l), id, l)); break;
  case IR_OP_RELU: accumulate(ad, a, bin(ad, IR_OP_MUL, g, bin(ad, IR_OP_GT, id, cst(ad, 0, l), l), l)); break;
  case IR_OP_BROADCAST: accumulate(ad, a, g); break; /* accumulate sums it back down */
  case IR_OP_CALL: accumulate(ad, a, call_backward(ad, &n, g)); break;
  case IR_OP_SELECT: {
    int c = n.in[0], zero = cst(ad, 0, l);
    if (db) accumulate(ad, b, ir_emit(ad->g, IR_OP_SELECT, 3, (int[]){c, g, zero}, NULL, l));
    if (n.nin > 2 && ad->needs[n.in[2]]) accumulate(ad, n.in[2], ir_emit(ad->g, IR_OP_SELECT, 3, (int[]){c, zero, g}, NULL, l));
    break;
  }
  case IR_OP_REDUCE_MAX: accumulate(ad, a, reduce_max_backward(ad, &n, id, g)); break;
  case IR_OP_SEGMENT_MAX: accumulate(ad, a, segment_max_backward(ad, &n, id, g)); break;
  case IR_OP_EDGE_GATHER: case IR_OP_SEGMENT_SUM: movement_backward(ad, &n, g); break;
  case IR_OP_TRANSPOSE: case IR_OP_REVERSE: case IR_OP_SLICE: case IR_OP_UNSLICE: case IR_OP_CONCAT:
  case IR_OP_GATHER:
  case IR_OP_SCATTER_ADD: case IR_OP_IM2COL: case IR_OP_COL2IM: movement_backward(ad, &n, g); break;
  case IR_OP_REDUCE_SUM:
    accumulate(ad, a, ir_emit_typed(ad->g, IR_OP_BROADCAST, 1, &g, NULL, ir_node(ad->g, a)->shape, l));
    break;
  case IR_OP_RESHAPE: accumulate(ad, a, ir_reshape(ad->g, g, ir_node(ad->g, a)->shape, l)); break;
  case IR_OP_MATMUL: case IR_OP_BATCH_MATMUL: matmul_backward(ad, &n, g); break;
  case IR_OP_LOG_SOFTMAX: accumulate(ad, a, log_softmax_backward(ad, id, g, l)); break;
  case IR_OP_SCAN: ps_ad_scan(ad, id); break;
  case IR_OP_ERF: accumulate(ad, a, erf_backward(ad, a, g, l)); break;
  case IR_OP_RESULT: break; /* the scan's rule reads its results' gradients */
  /* piecewise constant or not differentiable: no gradient flows */
  case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ: case IR_OP_ARGMAX: case IR_OP_ONE_HOT: case IR_OP_FLOOR:
  case IR_OP_RANDOM_UNIFORM:
  /* casts: no gradient flows into or out of i32 */
  case IR_OP_TO_F32: case IR_OP_TO_I32:
  /* leaves and sinks */
  case IR_OP_INPUT: case IR_OP_PARAM: case IR_OP_CONST: case IR_OP_BATCH_SIZE:
  case IR_OP_IOTA: case IR_OP_DATA: /* tensor constants */
  case IR_OP_ASSIGN: case IR_OP_OUTPUT: case IR_OP_COUNT: break;
  }
}

static int find_loss(IrGraph *g) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_OUTPUT && strcmp(g->nodes[i].name, "loss") == 0) return i;
  return -1;
}

/* needs[i] for nodes 0..upto: set for the roots before, or-ed from operands here */
void ps_ad_accumulate(Ad *ad, int x, int d) { accumulate(ad, x, d); }

void ps_ad_propagate_needs(Ad *ad, int upto) {
  for (int i = 0; i <= upto; i++) {
    IrNode *n = ir_node(ad->g, i);
    for (int k = 0; k < n->nin; k++) ad->needs[i] |= ad->needs[n->in[k]];
  }
}

static void mark_needs(Ad *ad, int upto) {
  for (int i = 0; i <= upto; i++) {
    IrNode *n = ir_node(ad->g, i);
    ad->needs[i] = n->op == IR_OP_PARAM && n->role == PG_ROLE_WEIGHT;
  }
  ps_ad_propagate_needs(ad, upto);
}

/* runs the backward rules from node `from` down, where gradients arrived */
void ps_ad_sweep(Ad *ad, int from) {
  for (int i = from; i >= 0; i--) {
    bool region = ir_op_flags(ir_node(ad->g, i)->op) & IR_REGION; /* results hold its gradients */
    if (ad->needs[i] && (ad->grad[i] >= 0 || region)) backward(ad, i, ad->grad[i]);
  }
}

static void collect_weights(Ad *ad, int nforward, int *weights, int *grads, int *count) {
  *count = 0;
  for (int i = 0; i < nforward; i++) {
    IrNode *n = ir_node(ad->g, i);
    if (n->op != IR_OP_PARAM || n->role != PG_ROLE_WEIGHT) continue;
    if (ad->grad[i] < 0) { /* the loss does not depend on it: gradient zero */
      PgShape s = n->shape;
      PgLoc loc = n->loc; /* making a node may move the array n points into */
      int zero = cst(ad, 0, loc);
      ad->grad[i] = ir_emit_typed(ad->g, IR_OP_BROADCAST, 1, &zero, NULL, s, loc);
    }
    weights[*count] = i;
    grads[(*count)++] = ad->grad[i];
  }
}

/* A gradient step (optimizer=none) is a function of the state that changes
 * none of it: `nnd step` runs it before the training steps, gradcheck again
 * and again on one state. So the updates of running statistics that layers
 * put in a training graph (frontend/batch_norm.c) go; dce then drops what
 * only they read. Nothing reads an assign. */
static void drop_statistic_updates(IrGraph *g) {
  bool *keep = malloc(((size_t)g->count + 1) * sizeof *keep);
  if (!keep) return;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    keep[i] = !(n->op == IR_OP_ASSIGN && g->nodes[n->in[0]].role == PG_ROLE_STATISTIC);
  }
  ps_keep_nodes(g, keep);
  free(keep);
}

bool ps_autodiff(IrGraph *g, const PsOptions *opt) {
  if (opt->optimizer.kind == PS_OPT_NONE) drop_statistic_updates(g);
  int loss = find_loss(g), before = diag_error_count();
  if (loss < 0) {
    diag_error((PgLoc){0}, "autodiff: the graph has no output named \"loss\"");
    return false;
  }
  if (g->nodes[loss].shape.rank != 0) {
    diag_error(g->nodes[loss].loc, "autodiff: the loss must be a scalar");
    return false;
  }
  ir_clear_schedule(g);
  int nforward = g->count;
  Ad ad = {g, malloc(nforward * sizeof(int)), calloc(nforward, sizeof(bool)), (PgLoc){0}, nforward,
            opt->recompute_scans};
  for (int i = 0; i < nforward; i++) ad.grad[i] = -1;
  int root = g->nodes[loss].in[0];
  mark_needs(&ad, root);
  ad.grad[root] = cst(&ad, 1.0, g->nodes[loss].loc);
  ps_ad_sweep(&ad, root);
  int *weights = malloc(nforward * sizeof(int)), *grads = malloc(nforward * sizeof(int)), n;
  collect_weights(&ad, nforward, weights, grads, &n);
  if (opt->optimizer.kind != PS_OPT_NONE) ps_append_update(g, &opt->optimizer, weights, grads, n);
  else
    for (int i = 0; i < n; i++) {
      char name[160];
      snprintf(name, sizeof name, "grad:%s", g->nodes[weights[i]].name);
      ir_output(g, name, grads[i], g->nodes[weights[i]].loc);
    }
  free(ad.grad), free(ad.needs), free(weights), free(grads);
  return diag_error_count() == before;
}

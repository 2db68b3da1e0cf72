/* graph.c — graph neural network layers as primitive ops. Each example holds
 * one graph: node rows x f32 [B, N, F] and edges i32 [B, 2, E], row 0 the
 * sources and row 1 the destinations (a message flows from source to
 * destination; an undirected graph lists both directions).
 *
 *   edge_gather(x, ids)                  row ids[e] of x for each edge: [B, E, F]
 *   segment_sum/mean/max(v, ids, nodes)  the rows of v folded into row ids[e]
 *   gcn(x, edges, units)                 D^-1/2 (A + I) D^-1/2 x W + b (Kipf & Welling),
 *                                        deg_i = 1 + the edges into i
 *   sage(x, edges, units, aggregate=)    x W_self + agg_j x_j W_neighbor + b, agg the
 *                                        mean or max over the edges into i (0 if none)
 *   gat(x, edges, units, heads=)         per head, softmax over the edges into i (and a
 *                                        self loop) of leaky_relu(a_src.h_j + a_dst.h_i)
 *                                        weighting h_j = x_j W; heads concatenated
 *
 * The degrees are computed in the graph from the edges (O(E) per step), so
 * the edges are an input like any other. Parameters: gcn_1.kernel/.bias;
 * sage_1.self_kernel/.neighbor_kernel/.bias; gat_1.kernel/.attention_source/
 * .attention_target/.bias (PyTorch Geometric's GCNConv, SAGEConv, GATConv). */
#include <string.h>

#include "elab.h"

/* the largest node count: gat's self loops number the nodes in f32 */
#define MAX_NODES (1 << 24)

/* x f32 [B, N, F...] with N <= MAX_NODES; false after a diagnostic */
static bool nodes_ok(Elab *e, int x, const AstExpr *at, const char *fn) {
  if (x < 0) return false;
  const IrNode *n = node(e, x);
  if (n->dtype == PG_F32 && n->shape.rank >= 2 && n->shape.dim[0] == PG_BATCH &&
      n->shape.dim[1] <= MAX_NODES)
    return true;
  diag_error(at->loc, "'%s' takes node rows f32 [B, N, ...] (N at most %d)", fn, MAX_NODES);
  return false;
}

/* ids i32 [B, E]; false after a diagnostic */
static bool ids_ok(Elab *e, int ids, const AstExpr *at, const char *fn) {
  if (ids < 0) return false;
  const IrNode *n = node(e, ids);
  if (n->dtype == PG_I32 && n->shape.rank == 2 && n->shape.dim[0] == PG_BATCH) return true;
  diag_error(at->loc, "'%s' takes its node ids as i32 [B, E]", fn);
  return false;
}

/* row `which` (0 sources, 1 destinations) of edges [B, 2, E], as [B, E] */
static int endpoint(Builder *b, int edges, int which) {
  int64_t e = node(b->e, edges)->shape.dim[2], attr[IR_MAX_ATTR] = {1, which};
  PgShape one_row = {3, {PG_BATCH, 1, e}};
  int row = ir_emit_typed(b->e->g, IR_OP_SLICE, 1, &edges, attr, one_row, b->l);
  return ir_reshape(b->e->g, row, (PgShape){2, {PG_BATCH, e}}, b->l);
}

/* the sources and destinations of edges i32 [B, 2, E]; false after a diagnostic */
static bool endpoints(Builder *b, int edges, const AstExpr *at, const char *fn, int *src,
                      int *dst) {
  if (edges < 0) return false;
  const IrNode *n = node(b->e, edges);
  const PgShape *s = &n->shape;
  if (n->dtype != PG_I32 || s->rank != 3 || s->dim[0] != PG_BATCH || s->dim[1] != 2) {
    diag_error(at->loc, "'%s' takes edges as i32 [B, 2, E]: the sources, then the destinations",
               fn);
    return false;
  }
  *src = endpoint(b, edges, 0);
  *dst = endpoint(b, edges, 1);
  return true;
}

static int gather(Builder *b, int x, int ids) { return op2(b, IR_OP_EDGE_GATHER, x, ids); }

static int segment(Builder *b, IrOp op, int v, int ids, int64_t nodes) {
  int64_t attr[IR_MAX_ATTR] = {nodes};
  return ir_emit(b->e->g, op, 2, (int[]){v, ids}, attr, b->l);
}

/* how many of ids [B, E] name each of `nodes` rows: f32 [B, nodes] */
static int in_degree(Builder *b, int ids, int64_t nodes) {
  int one = konst(b, 1);
  int ones = ir_emit_typed(b->e->g, IR_OP_BROADCAST, 1, &one, NULL, node(b->e, ids)->shape, b->l);
  return segment(b, IR_OP_SEGMENT_SUM, ones, ids, nodes);
}

/* [B, N] as [B, N, 1], to scale the rows of [B, N, F] */
static int per_row(Builder *b, int x) {
  PgShape s = node(b->e, x)->shape;
  s.dim[s.rank++] = 1;
  return ir_reshape(b->e->g, x, s, b->l);
}

/* the mean of the rows ids send to each node (0 for a node none reaches) */
static int segment_mean(Builder *b, int v, int ids, int64_t nodes) {
  int sum = segment(b, IR_OP_SEGMENT_SUM, v, ids, nodes);
  int one = konst(b, 1);
  int count = op2(b, IR_OP_MAX, in_degree(b, ids, nodes), one);
  PgShape s = node(b->e, sum)->shape; /* [B, N, 1...] */
  for (int i = 2; i < s.rank; i++) s.dim[i] = 1;
  return op2(b, IR_OP_DIV, sum, ir_reshape(b->e->g, count, s, b->l));
}

/* segment_sum/mean/max(v, ids, nodes) */
static int segment_call(Elab *e, Args *a, IrOp op, bool mean) {
  const char *fn = mean ? "segment_mean" : ir_op_name(op);
  Builder b = {e, a->call->loc};
  int v = elab_expr(e, a->arg[0]);
  int ids = elab_expr(e, a->arg[1]);
  int64_t nodes;
  bool count_ok = int_arg(a->arg[2], 1, &nodes);
  if (!count_ok || !ids_ok(e, ids, a->arg[1], fn) || !nodes_ok(e, v, a->arg[0], fn)) return -1;
  if (node(e, v)->shape.dim[1] != node(e, ids)->shape.dim[1] || nodes > MAX_NODES) {
    diag_error(a->call->loc, "'%s' folds rows [B, E, ...] by ids [B, E] into at most %d rows",
               fn, MAX_NODES);
    return -1;
  }
  return mean ? segment_mean(&b, v, ids, nodes) : segment(&b, op, v, ids, nodes);
}

int b_segment_sum(Elab *e, Args *a) { return segment_call(e, a, IR_OP_SEGMENT_SUM, false); }
int b_segment_mean(Elab *e, Args *a) { return segment_call(e, a, IR_OP_SEGMENT_SUM, true); }
int b_segment_max(Elab *e, Args *a) { return segment_call(e, a, IR_OP_SEGMENT_MAX, false); }

int b_edge_gather(Elab *e, Args *a) {
  Builder b = {e, a->call->loc};
  int x = elab_expr(e, a->arg[0]);
  int ids = elab_expr(e, a->arg[1]);
  bool ok = nodes_ok(e, x, a->arg[0], "edge_gather"); /* report both */
  if (!ids_ok(e, ids, a->arg[1], "edge_gather") || !ok) return -1;
  return gather(&b, x, ids);
}

/* what the layers share: node rows, edges, units and the options */
typedef struct {
  Builder b;
  int x, src, dst;
  int64_t nodes, units;
  const char *act;
  int use_bias;
  char name[128];
} GraphLayer;

/* x edges units | activation use_bias name, then the layer's own options */
static bool layer_args(Elab *e, Args *a, const char *kind, int *count, GraphLayer *l) {
  l->b = (Builder){e, a->call->loc};
  l->x = elab_expr(e, a->arg[0]);
  int edges = elab_expr(e, a->arg[1]);
  bool units_ok = int_arg(a->arg[2], 1, &l->units);
  l->act = fe_activation_arg(a->arg[3]);
  l->use_bias = bool_arg(a->arg[4], 1);
  fe_layer_name(a->arg[5], kind, count, l->name, sizeof l->name);
  bool x_ok = nodes_ok(e, l->x, a->arg[0], kind);
  bool ends = endpoints(&l->b, edges, a->arg[1], kind, &l->src, &l->dst);
  if (!ends || !x_ok || !units_ok || !l->act || l->use_bias < 0) return false;
  if (a->arg[5] && !word_arg(a->arg[5])) return false; /* name=: reported by fe_layer_name */
  if (rank_of(e, l->x) != 3) return want_rank(e, l->x, 3, a->arg[0], "the node rows"), false;
  l->nodes = node(e, l->x)->shape.dim[1];
  return true;
}

/* x @ <layer>.<what>, no bias */
static int project(GraphLayer *l, int x, const char *what, int64_t units) {
  return fe_affine(l->b.e, x, units, l->name, what, false, "linear", l->b.l);
}

static int finish(GraphLayer *l, int y) {
  return fe_bias_activation(l->b.e, y, node(l->b.e, y)->shape.dim[2], l->name, l->use_bias, l->act,
                            l->b.l);
}

int b_gcn(Elab *e, Args *a) {
  GraphLayer l;
  if (!layer_args(e, a, "gcn", &e->ngcn, &l)) return -1;
  Builder *b = &l.b;
  int h = project(&l, l.x, "kernel", l.units);
  int one = konst(b, 1);
  int deg = op2(b, IR_OP_ADD, in_degree(b, l.dst, l.nodes), one);
  int norm = op2(b, IR_OP_DIV, one, op1(b, IR_OP_SQRT, deg)); /* deg^-1/2, [B, N] */
  int at_src = gather(b, norm, l.src);
  int coef = per_row(b, op2(b, IR_OP_MUL, at_src, gather(b, norm, l.dst)));
  int msg = op2(b, IR_OP_MUL, gather(b, h, l.src), coef);
  int self = op2(b, IR_OP_DIV, h, per_row(b, deg));
  return finish(&l, op2(b, IR_OP_ADD, segment(b, IR_OP_SEGMENT_SUM, msg, l.dst, l.nodes), self));
}

/* sage(x, edges, units, aggregate=mean|max) */
int b_sage(Elab *e, Args *a) {
  GraphLayer l;
  const char *agg = a->arg[6] ? word_arg(a->arg[6]) : "mean";
  bool agg_ok = agg && (!strcmp(agg, "mean") || !strcmp(agg, "max"));
  if (agg && !agg_ok) diag_error(a->arg[6]->loc, "'sage' aggregates by mean or max, not '%s'", agg);
  if (!layer_args(e, a, "sage", &e->nsage, &l) || !agg_ok) return -1;
  Builder *b = &l.b;
  int from = gather(b, l.x, l.src);
  int neighbors = strcmp(agg, "max") ? segment_mean(b, from, l.dst, l.nodes)
                                     : segment(b, IR_OP_SEGMENT_MAX, from, l.dst, l.nodes);
  int self = project(&l, l.x, "self_kernel", l.units);
  return finish(&l, op2(b, IR_OP_ADD, self, project(&l, neighbors, "neighbor_kernel", l.units)));
}

/* ids [B, E] followed by 0 .. nodes-1: the edges with a self loop at each node */
static int with_self_loops(Builder *b, int ids, int64_t nodes) {
  int numbers = op1(b, IR_OP_TO_I32, ir_iota(b->e->g, (PgShape){1, {nodes}}, 0, b->l));
  PgShape rows = {2, {PG_BATCH, nodes}};
  int loops = ir_emit_typed(b->e->g, IR_OP_BROADCAST, 1, &numbers, NULL, rows, b->l);
  int64_t axis[IR_MAX_ATTR] = {1};
  return ir_emit(b->e->g, IR_OP_CONCAT, 2, (int[]){ids, loops}, axis, b->l);
}

/* a_<what> . h over the last axis, per head: h [B, N, H, U] -> [B, N, H] */
static int head_score(GraphLayer *l, int h, int64_t heads, const char *what) {
  Builder *b = &l->b;
  int64_t units = node(b->e, h)->shape.dim[3], last[IR_MAX_ATTR] = {1 << 3};
  PgShape per_head = {2, {heads, units}};
  int att = elab_weight(b->e, l->name, what, PG_INIT_GLOROT_UNIFORM, per_head, b->l);
  int weighted = op2(b, IR_OP_MUL, h, att);
  int dot = ir_emit(b->e->g, IR_OP_REDUCE_SUM, 1, &weighted, last, b->l);
  return ir_reshape(b->e->g, dot, (PgShape){3, {PG_BATCH, l->nodes, heads}}, b->l);
}

/* the attention weight of each edge into its destination: the softmax over
 * the edges into each node of leaky_relu(score), per head; [B, E, H] */
static int edge_softmax(Builder *b, int score, int dst, int64_t nodes) {
  int slope = konst(b, 0.2);
  int leaky = op2(b, IR_OP_MAX, score, op2(b, IR_OP_MUL, score, slope));
  int top = gather(b, segment(b, IR_OP_SEGMENT_MAX, leaky, dst, nodes), dst);
  int ex = op1(b, IR_OP_EXP, op2(b, IR_OP_SUB, leaky, top));
  return op2(b, IR_OP_DIV, ex, gather(b, segment(b, IR_OP_SEGMENT_SUM, ex, dst, nodes), dst));
}

/* gat(x, edges, units, heads=1) */
int b_gat(Elab *e, Args *a) {
  GraphLayer l;
  int64_t heads = 1;
  bool heads_ok = !a->arg[6] || int_arg(a->arg[6], 1, &heads);
  if (!layer_args(e, a, "gat", &e->ngat, &l) || !heads_ok) return -1;
  if (heads > 1024) return diag_error(a->arg[6]->loc, "'gat': at most 1024 heads"), -1;
  Builder *b = &l.b;
  int src = with_self_loops(b, l.src, l.nodes);
  int dst = with_self_loops(b, l.dst, l.nodes);
  int flat = project(&l, l.x, "kernel", heads * l.units);
  int h = ir_reshape(e->g, flat, (PgShape){4, {PG_BATCH, l.nodes, heads, l.units}}, b->l);
  int to = gather(b, head_score(&l, h, heads, "attention_target"), dst);
  int score = op2(b, IR_OP_ADD, gather(b, head_score(&l, h, heads, "attention_source"), src), to);
  int alpha = edge_softmax(b, score, dst, l.nodes);
  int64_t edges = node(e, alpha)->shape.dim[1];
  int weight = ir_reshape(e->g, alpha, (PgShape){4, {PG_BATCH, edges, heads, 1}}, b->l);
  int msg = op2(b, IR_OP_MUL, gather(b, h, src), weight);
  int sum = segment(b, IR_OP_SEGMENT_SUM, msg, dst, l.nodes);
  PgShape joined = {3, {PG_BATCH, l.nodes, heads * l.units}}; /* the heads side by side */
  return finish(&l, ir_reshape(e->g, sum, joined, b->l));
}

/* layers.c — the layers of the .nnd language as primitive ops: dense,
 * conv2d, pooling, dropout, embedding, layer_norm, and the tensor and
 * elementwise functions. Each builtin gets its
 * arguments bound by name or position (elaborate.c) and returns the node of
 * its result, or -1 after a diagnostic. */
#include <string.h>

#include "elab.h"

int b_flatten(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  PgShape s = node(e, x)->shape;
  if (s.rank < 1 || s.dim[0] != PG_BATCH) {
    diag_error(a->call->loc, "'flatten' expects a batched tensor");
    return -1;
  }
  PgShape to = {2, {PG_BATCH, pg_numel(&s, 1)}};
  return ir_reshape(e->g, x, to, a->call->loc);
}

/* a layer's name: name= if given, else <kind>_<n>, n counting that kind */
static void layer_name(const AstExpr *given, const char *kind, int *count, char *buf, size_t n) {
  const char *w = given ? word_arg(given) : NULL;
  ++*count;
  if (w) snprintf(buf, n, "%s", w);
  else snprintf(buf, n, "%s_%d", kind, *count);
}

void fe_layer_name(const AstExpr *given, const char *kind, int *count, char *buf, size_t n) {
  layer_name(given, kind, count, buf, n);
}

/* the trained parameter <layer>.<what> */
static int weight(Elab *e, const char *layer, const char *what, PgInit init, PgShape shape,
                  PgLoc loc) {
  return elab_weight(e, layer, what, init, shape, loc); /* with a block instance's prefix */
}

/* activation= one of fe_activation_ok's (linear if absent); NULL after a diagnostic */
static const char *activation_arg(const AstExpr *x) {
  const char *act = x ? word_arg(x) : "linear";
  if (act && !fe_activation_ok(act))
    return diag_error(x->loc, "unknown activation '%s' (expected relu, linear, tanh, sigmoid, "
                      "gelu or softmax)", act), NULL;
  return act;
}

/* x @ kernel [+ bias], then the activation: dense, and conv2d on patches */
static int affine(Elab *e, int x, int64_t units, const char *layer, bool bias, const char *act,
                  PgLoc loc) {
  int64_t in = node(e, x)->shape.dim[rank_of(e, x) - 1]; /* the last axis */
  int y = ir_binary(
      e->g, IR_OP_MATMUL, x,
      weight(e, layer, "kernel", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {in, units}}, loc), loc);
  if (bias)
    y = ir_binary(e->g, IR_OP_ADD, y,
                  weight(e, layer, "bias", PG_INIT_ZEROS, (PgShape){1, {units}}, loc), loc);
  return fe_activation(e, y, act, loc);
}

int fe_dense(Elab *e, int x, int64_t units, const char *layer, bool bias, const char *act,
             PgLoc loc) {
  return x < 0 ? -1 : affine(e, x, units, layer, bias, act, loc);
}

int b_dense(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  int64_t units;
  bool counts = int_arg(a->arg[1], 1, &units); /* report both */
  if (!counts || x < 0 || (rank_of(e, x) < 2 && !want_rank(e, x, 2, a->arg[0], "the input of 'dense'"))) return -1;
  const char *act = activation_arg(a->arg[2]);
  int use_bias = bool_arg(a->arg[3], 1);
  if (!act || use_bias < 0) return -1;
  char layer[128];
  layer_name(a->arg[4], "dense", &e->ndense, layer, sizeof layer);
  return affine(e, x, units, layer, use_bias, act, a->call->loc);
}

/* Inverted dropout: keep each element with probability 1-rate and scale it by
 * 1/(1-rate), so inference is the identity. The mask comes from a counter-based
 * generator in the kernel, seeded per step by the runtime. */
int b_dropout(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  double rate;
  if (!number_arg(a->arg[1], &rate) || x < 0) return -1;
  if (rate < 0 || rate >= 1) {
    diag_error(a->arg[1]->loc, "dropout rate must be in [0, 1), got %g", rate);
    return -1;
  }
  return fe_dropout(e, x, rate, a->call->loc);
}

int fe_dropout(Elab *e, int x, double rate, PgLoc loc) {
  e->ndropout++;
  if (e->mode != FE_TRAINING || rate == 0) return x;
  if (e->seed < 0) e->seed = ir_input(e->g, "seed", PG_I32, (PgShape){0}, loc);
  int64_t stream[IR_MAX_ATTR] = {e->ndropout};
  int u = ir_emit_typed(e->g, IR_OP_RANDOM_UNIFORM, 1, &e->seed, stream, node(e, x)->shape, loc);
  int keep = ir_binary(e->g, IR_OP_GE, u, ir_const(e->g, rate, loc), loc);
  int mask = ir_binary(e->g, IR_OP_MUL, keep, ir_const(e->g, 1.0 / (1.0 - rate), loc), loc);
  return ir_binary(e->g, IR_OP_MUL, x, mask, loc);
}

int b_log_softmax(Elab *e, Args *a) {
  if (a->arg[1]) return fe_softmax_call(e, a, true); /* algebra.c: over any axis */
  return ir_unary(e->g, IR_OP_LOG_SOFTMAX, elab_expr(e, a->arg[0]), a->call->loc);
}

int b_eltwise(Elab *e, Args *a) {
  const Builtin *b = fe_builtin(a->call->str);
  int x = elab_expr(e, a->arg[0]);
  if (ir_op_arity(b->op) == 1) return ir_unary(e->g, b->op, x, a->call->loc);
  return ir_binary(e->g, b->op, x, elab_expr(e, a->arg[1]), a->call->loc);
}


/* 1 / (1 + exp(-x)) */
int b_sigmoid(Elab *e, Args *a) { return ir_unary(e->g, IR_OP_SIGMOID, elab_expr(e, a->arg[0]), a->call->loc); }

/* 2 sigmoid(2x) - 1, which saturates instead of overflowing */
int b_tanh(Elab *e, Args *a) {
  PgLoc l = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int two = cst(e, 2, l);
  int s = ir_unary(e->g, IR_OP_SIGMOID, ir_binary(e->g, IR_OP_MUL, x, two, l), l);
  int scaled = ir_binary(e->g, IR_OP_MUL, s, two, l);
  return ir_binary(e->g, IR_OP_SUB, scaled, cst(e, 1, l), l);
}

/* the last axis of x, which must be static */
static int last_axis(Elab *e, int x, const AstExpr *at) {
  int r = x < 0 ? 0 : rank_of(e, x);
  if (x >= 0 && (r < 1 || node(e, x)->shape.dim[r - 1] == PG_BATCH)) {
    diag_error(at->loc, "'%s' needs a tensor with a static last axis", at->str);
    return -1;
  }
  return r - 1;
}

/* swaps the last two axes */
int b_transpose(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  int r = rank_of(e, x);
  if (r < 2) return diag_error(a->call->loc, "'transpose' needs at least two axes"), -1;
  int64_t perm = 0;
  for (int i = 0; i < r; i++) perm |= (int64_t)(i == r - 1 ? r - 2 : i == r - 2 ? r - 1 : i) << (4 * i);
  int64_t attr[IR_MAX_ATTR] = {perm};
  return ir_emit(e->g, IR_OP_TRANSPOSE, 1, &x, attr, a->call->loc);
}

/* x[..., start:stop] along an axis (the last if absent) */
/* the axis= of slice and concat (the last if absent); -1 after a diagnostic */
static int axis_or_last(Elab *e, int x, const AstExpr *axis, const AstExpr *call) {
  if (!axis || x < 0) return last_axis(e, x, call);
  return axis_arg(axis, rank_of(e, x), call->str);
}

int b_slice(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]), axis = axis_or_last(e, x, a->arg[3], a->call);
  int64_t start, stop;
  if (axis < 0 || !int_arg(a->arg[1], 0, &start) || !int_arg(a->arg[2], 1, &stop)) return -1;
  PgShape s = node(e, x)->shape;
  if (stop <= start || stop > s.dim[axis])
    return diag_error(a->call->loc, "'slice': [%lld, %lld) is not inside an axis of %lld", (long long)start, (long long)stop, (long long)s.dim[axis]), -1;
  s.dim[axis] = stop - start;
  int64_t attr[IR_MAX_ATTR] = {axis, start};
  return ir_emit_typed(e->g, IR_OP_SLICE, 1, &x, attr, s, a->call->loc);
}

/* a and b joined along an axis (the last if absent) */
int b_concat(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]), y = elab_expr(e, a->arg[1]);
  int axis = axis_or_last(e, x, a->arg[2], a->call);
  if (axis < 0 || y < 0) return -1;
  int64_t attr[IR_MAX_ATTR] = {axis};
  return ir_emit(e->g, IR_OP_CONCAT, 2, (int[]){x, y}, attr, a->call->loc);
}

/* rows of a trained [vocab, dim] table picked by integer ids (Keras Embedding) */
int b_embedding(Elab *e, Args *a) {
  PgLoc loc = a->call->loc;
  int ids = elab_expr(e, a->arg[0]);
  int64_t vocab, dim;
  bool vocab_ok = int_arg(a->arg[1], 1, &vocab); /* report both */
  bool dim_ok = int_arg(a->arg[2], 1, &dim);
  if (!vocab_ok || !dim_ok || ids < 0) return -1;
  if (node(e, ids)->dtype != PG_I32)
    return diag_error(a->arg[0]->loc, "'embedding' takes integer ids (i32)"), -1;
  char layer[128];
  layer_name(a->arg[3], "embedding", &e->nembedding, layer, sizeof layer);
  int table = weight(e, layer, "table", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {vocab, dim}}, loc);
  return ir_binary(e->g, IR_OP_GATHER, table, ids, loc);
}

/* position_embedding(x): a trained table [T, d] for x [B, T, d], one row per
 * position, to add to x (keras_nlp's PositionEmbedding: it returns the table) */
int b_position_embedding(Elab *e, Args *a) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  if (x < 0 || !want_rank(e, x, 3, a->arg[0], "the input of 'position_embedding'")) return -1;
  PgShape s = node(e, x)->shape;
  char layer[128];
  layer_name(a->arg[1], "position_embedding", &e->nposition, layer, sizeof layer);
  return weight(e, layer, "table", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {s.dim[1], s.dim[2]}}, loc);
}

/* param("layer.what"): a parameter made before, by its checkpoint name, as a
 * tensor (weight tying: a decoder that reads the token embedding's table) */
int b_param(Elab *e, Args *a) {
  const char *name = a->arg[0]->kind == AST_STR ? a->arg[0]->str : NULL;
  if (!name) return diag_error(a->arg[0]->loc, "param() takes a parameter's name, a string"), -1;
  for (int i = 0; i < e->g->count; i++) {
    const IrNode *n = &e->g->nodes[i];
    if (n->op == IR_OP_PARAM && strcmp(n->name, name) == 0) return i;
  }
  diag_error(a->arg[0]->loc, "no parameter '%s' so far (a layer makes '<name>.kernel', "
             "'<name>.table', ...: see `nnd dump`)", name);
  return -1;
}

/* a where cond is nonzero, else b */
int b_where(Elab *e, Args *a) {
  int c = elab_expr(e, a->arg[0]), x = elab_expr(e, a->arg[1]), y = elab_expr(e, a->arg[2]);
  return ir_emit(e->g, IR_OP_SELECT, 3, (int[]){c, x, y}, NULL, a->call->loc);
}

/* sum, mean or max over the last axis, kept with size 1 (for normalisation) */
static int reduce_last(Elab *e, Args *a, IrOp op, bool mean) {
  int x = elab_expr(e, a->arg[0]), axis = last_axis(e, x, a->call);
  if (axis < 0) return -1;
  int64_t attr[IR_MAX_ATTR] = {1 << axis};
  int r = ir_emit(e->g, op, 1, &x, attr, a->call->loc);
  return mean ? ir_binary(e->g, IR_OP_DIV, r, cst(e, (double)node(e, x)->shape.dim[axis], a->call->loc), a->call->loc) : r;
}

int b_reduce_sum(Elab *e, Args *a) { return reduce_last(e, a, IR_OP_REDUCE_SUM, false); }
int b_reduce_mean(Elab *e, Args *a) { return reduce_last(e, a, IR_OP_REDUCE_SUM, true); }
int b_reduce_max(Elab *e, Args *a) { return reduce_last(e, a, IR_OP_REDUCE_MAX, false); }

#define RESHAPE_MAX_ELEMENTS ((int64_t)1 << 36) /* pg_shape_fits' bound: above it nothing fits */

/* -1 in a reshape's list: the one size inferred from the others */
static bool is_minus_one(const AstExpr *x) {
  return x->kind == AST_NEG && x->args[0]->kind == AST_NUM && x->args[0]->num == 1;
}

/* the size that -1 (at dims->args[at]) stands for, or -1 after a diagnostic */
static int64_t inferred_dim(const AstExpr *dims, int at, int64_t total, int64_t known) {
  if (known <= total && total % known == 0) return total / known;
  if (known > total) {
    diag_error(dims->args[at]->loc, "'reshape': -1 cannot be inferred: the other sizes hold "
               "more than the %lld elements per example", (long long)total);
    return -1;
  }
  diag_error(dims->args[at]->loc, "'reshape': -1 cannot be inferred: %lld elements per example "
             "are not a multiple of %lld", (long long)total, (long long)known);
  return -1;
}

/* reshape(x, [d1, d2, ...]): the per-example shape (Keras Reshape); one
 * size may be -1, inferred from the others */
int b_reshape(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  const AstExpr *dims = a->arg[1];
  if (x < 0) return -1;
  if (dims->kind != AST_LIST || dims->nargs < 1 || dims->nargs >= PG_MAX_RANK)
    return diag_error(dims->loc, "'reshape' takes the new per-example shape as a list, like [2, 3]"), -1;
  PgShape s = {1, {PG_BATCH}};
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < dims->nargs; i++) {
    if (is_minus_one(dims->args[i]) && infer < 0) {
      infer = s.rank++;
      continue;
    }
    if (!int_arg(dims->args[i], 1, &s.dim[s.rank++])) return -1;
    int64_t d = s.dim[s.rank - 1]; /* saturated just above the bound: never overflows */
    known = known > RESHAPE_MAX_ELEMENTS / d ? RESHAPE_MAX_ELEMENTS + 1 : known * d;
  }
  if (infer >= 0) {
    s.dim[infer] = inferred_dim(dims, infer - 1, pg_numel(&node(e, x)->shape, 1), known);
    if (s.dim[infer] < 0) return -1;
  }
  return ir_reshape(e->g, x, s, a->call->loc);
}

static bool window_args(Elab *e, Args *a, int first, int64_t *size, int64_t *stride) {
  (void)e;
  if (!int_arg(a->arg[first], 1, size)) return false;
  *stride = a->call->str[0] == 'c' ? 1 : *size; /* conv steps by 1, pooling by its window */
  return !a->arg[first + 1] || int_arg(a->arg[first + 1], 1, stride);
}

/* a size x size window (with `pad` zeros around) fits the image */
static bool window_fits(Elab *e, int x, int64_t size, int64_t pad, const AstExpr *at) {
  PgShape s = node(e, x)->shape;
  if (s.dim[1] + 2 * pad >= size && s.dim[2] + 2 * pad >= size) return true;
  diag_error(at->loc, "'%s': a %lldx%lld window does not fit a %lldx%lld image", at->str, (long long)size,
             (long long)size, (long long)s.dim[1], (long long)s.dim[2]);
  return false;
}

static bool image_arg(Elab *e, int x, const AstExpr *at) {
  if (x < 0) return false;
  if (rank_of(e, x) == 4 && node(e, x)->shape.dim[0] == PG_BATCH) return true;
  diag_error(at->loc, "'%s' takes images [batch, height, width, channels] (reshape(x, [h, w, 1]) adds a channel axis)", at->str);
  return false;
}

/* conv2d(x, filters, kernel, stride=1, padding=valid|same): the patches of x
 * (im2col) times a [kernel*kernel*channels, filters] kernel, plus a bias */
int b_conv2d(Elab *e, Args *a) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int64_t filters, size, stride, pad = 0;
  bool image = image_arg(e, x, a->call), counts = int_arg(a->arg[1], 1, &filters); /* report both */
  if (!image || !counts || !window_args(e, a, 2, &size, &stride)) return -1;
  const char *padding = a->arg[4] ? word_arg(a->arg[4]) : "valid", *act = activation_arg(a->arg[5]);
  int use_bias = bool_arg(a->arg[6], 1);
  if (!padding || !act || use_bias < 0) return -1;
  if (strcmp(padding, "same") == 0) {
    if (stride != 1 || size % 2 == 0) return diag_error(a->arg[4]->loc, "padding=same needs stride 1 and an odd kernel"), -1;
    pad = (size - 1) / 2;
  } else if (strcmp(padding, "valid") != 0) {
    return diag_error(a->arg[4]->loc, "padding is valid or same, not '%s'", padding), -1;
  }
  if (!window_fits(e, x, size, pad, a->call)) return -1;
  char layer[128];
  layer_name(a->arg[7], "conv2d", &e->nconv, layer, sizeof layer);
  int64_t attr[IR_MAX_ATTR] = {size, stride, pad};
  int cols = ir_emit(e->g, IR_OP_IM2COL, 1, &x, attr, loc);
  return cols < 0 ? -1 : affine(e, cols, filters, layer, use_bias, act, loc);
}

/* the windows of x as [B, h, size, w, size, C] without a copy: when they
 * tile the image exactly (stride = size, size divides height and width) */
static int tiled_windows(Elab *e, int x, int64_t size, int64_t stride, PgLoc loc) {
  PgShape s = node(e, x)->shape;
  if (stride != size || s.dim[1] % size || s.dim[2] % size) return -1;
  PgShape tiles = {6, {PG_BATCH, s.dim[1] / size, size, s.dim[2] / size, size, s.dim[3]}};
  return ir_reshape(e->g, x, tiles, loc);
}

/* max or average over size x size windows, each channel apart: reduced over
 * the window axes of a reshape when the windows tile the image, else over the
 * patches (im2col) regrouped as [..., window, channel]. Both walk a window
 * row by row, so sums come out the same either way. */
static int pool(Elab *e, Args *a, bool max) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int64_t size, stride;
  if (!image_arg(e, x, a->call) || !window_args(e, a, 1, &size, &stride) || !window_fits(e, x, size, 0, a->call))
    return -1;
  PgShape s = node(e, x)->shape;
  int64_t attr[IR_MAX_ATTR] = {size, stride, 0}, channels = s.dim[3], axes[IR_MAX_ATTR] = {1 << 2 | 1 << 4};
  int w = tiled_windows(e, x, size, stride, loc);
  if (w < 0) {
    int cols = ir_emit(e->g, IR_OP_IM2COL, 1, &x, attr, loc);
    if (cols < 0) return -1;
    PgShape c = node(e, cols)->shape;
    w = ir_reshape(e->g, cols, (PgShape){5, {PG_BATCH, c.dim[1], c.dim[2], size * size, channels}},
                   loc);
    axes[0] = 1 << 3;
  }
  int r = ir_emit(e->g, max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_SUM, 1, &w, axes, loc);
  if (!max) r = ir_binary(e->g, IR_OP_DIV, r, cst(e, (double)(size * size), loc), loc);
  int64_t oh = (s.dim[1] - size) / stride + 1, ow = (s.dim[2] - size) / stride + 1;
  return ir_reshape(e->g, r, (PgShape){4, {PG_BATCH, oh, ow, channels}}, loc);
}

int b_max_pool2d(Elab *e, Args *a) { return pool(e, a, true); }
int b_avg_pool2d(Elab *e, Args *a) { return pool(e, a, false); }

/* exp(log_softmax(x)) over the last axis */
int b_softmax(Elab *e, Args *a) {
  PgLoc l = a->call->loc;
  if (a->arg[1] || a->arg[2]) return fe_softmax_call(e, a, false); /* algebra.c: axis, mask */
  return ir_unary(e->g, IR_OP_EXP, ir_unary(e->g, IR_OP_LOG_SOFTMAX, elab_expr(e, a->arg[0]), l), l);
}

/* (x - mean) / sqrt(var + eps) * gamma + beta over the last axis, with the
 * biased variance (torch.nn.LayerNorm, eps 1e-5) */
int b_layer_norm(Elab *e, Args *a) {
  PgLoc l = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  double eps = 1e-5;
  if (x < 0 || (a->arg[1] && !number_arg(a->arg[1], &eps))) return -1;
  int r = rank_of(e, x);
  if (r < 2 || node(e, x)->shape.dim[r - 1] == PG_BATCH)
    return diag_error(l, "'layer_norm' needs a static last axis"), -1;
  int64_t width = node(e, x)->shape.dim[r - 1], last[IR_MAX_ATTR] = {1 << (r - 1)};
  int width_for_mean = cst(e, (double)width, l);
  int sum = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &x, last, l);
  int mean = ir_binary(e->g, IR_OP_DIV, sum, width_for_mean, l);
  int d = ir_binary(e->g, IR_OP_SUB, x, mean, l), dd = ir_binary(e->g, IR_OP_MUL, d, d, l);
  int width_for_var = cst(e, (double)width, l);
  int sum_sq = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &dd, last, l);
  int var = ir_binary(e->g, IR_OP_DIV, sum_sq, width_for_var, l);
  int y = ir_binary(e->g, IR_OP_DIV, d, ir_unary(e->g, IR_OP_SQRT, ir_binary(e->g, IR_OP_ADD, var, cst(e, eps, l), l), l), l);
  char layer[128];
  layer_name(a->arg[2], "layer_norm", &e->nnorm, layer, sizeof layer);
  int gamma = weight(e, layer, "gamma", PG_INIT_ONES, (PgShape){1, {width}}, l);
  int beta = weight(e, layer, "beta", PG_INIT_ZEROS, (PgShape){1, {width}}, l);
  return ir_binary(e->g, IR_OP_ADD, ir_binary(e->g, IR_OP_MUL, y, gamma, l), beta, l);
}

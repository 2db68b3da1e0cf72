/* attention.c — multi_head_attention as primitive ops (Keras's
 * MultiHeadAttention with key and value from one sequence, PyTorch's
 * scaled_dot_product_attention inside):
 *
 *   Q = dense(q), K = dense(kv), V = dense(kv)          [B, T, D] each
 *   split heads: reshape [B, T, H, D/H], permute to [B, H, T, D/H]
 *   weights = softmax(Q K^T / sqrt(D/H), mask)          [B, H, Tq, Tk]
 *   out = dense(merge(dropout(weights) @ V))            [B, Tq, D]
 *
 * The mask keeps key j for query i where j <= i (causal) and where the
 * padding mask [B, Tk] is 1; masked weights are exactly 0 (fe_softmax).
 * Parameters: <name>.query.kernel/.bias, .key., .value., .output. */
#include <math.h>
#include <string.h>

#include "elab.h"

/* the [tq, tk] f32 mask that keeps key j for query i where j <= i (1 kept,
 * 0 masked, torch.tril's rule from the top left): rows >= columns of two
 * iotas, which canonicalize folds into one data constant */
static int causal_mask(Elab *e, int64_t tq, int64_t tk, PgLoc loc) {
  int rows = ir_iota(e->g, (PgShape){2, {tq, tk}}, 0, loc);
  int cols = ir_iota(e->g, (PgShape){2, {tq, tk}}, 1, loc);
  return ir_binary(e->g, IR_OP_GE, rows, cols, loc);
}

/* [B, T, D] -> [B, H, T, D/H] */
static int split_heads(Elab *e, int x, int64_t heads, PgLoc loc) {
  if (x < 0) return -1;
  PgShape s = node(e, x)->shape;
  PgShape split = {4, {s.dim[0], s.dim[1], heads, s.dim[2] / heads}};
  int r = ir_reshape(e->g, x, split, loc);
  int64_t swap[IR_MAX_ATTR] = {0 | 2 << 4 | 1 << 8 | 3 << 12};
  return ir_emit(e->g, IR_OP_TRANSPOSE, 1, &r, swap, loc);
}

/* [B, H, T, d] -> [B, T, H d] */
static int merge_heads(Elab *e, int x, PgLoc loc) {
  int64_t swap[IR_MAX_ATTR] = {0 | 2 << 4 | 1 << 8 | 3 << 12};
  int t = ir_emit(e->g, IR_OP_TRANSPOSE, 1, &x, swap, loc);
  if (t < 0) return -1;
  PgShape s = node(e, t)->shape;
  return ir_reshape(e->g, t, (PgShape){3, {s.dim[0], s.dim[1], s.dim[2] * s.dim[3]}}, loc);
}

/* the sequences q [B, Tq, D] and kv [B, Tk, D]; false after a diagnostic */
static bool sequences_ok(Elab *e, int q, int kv, const Args *a) {
  if (q < 0 || kv < 0) return false;
  if (!want_rank(e, q, 3, a->arg[0], "the query of 'multi_head_attention'")) return false;
  if (!want_rank(e, kv, 3, a->arg[1], "the key and value of 'multi_head_attention'")) return false;
  PgShape sq = node(e, q)->shape, sk = node(e, kv)->shape;
  if (sq.dim[0] == PG_BATCH && sk.dim[0] == PG_BATCH && sq.dim[2] == sk.dim[2]) return true;
  diag_error(a->arg[1]->loc, "'multi_head_attention' takes batched sequences [B, T, D] with the "
             "same D (the query's is %lld, this one's %lld)", (long long)sq.dim[2],
             (long long)sk.dim[2]);
  return false;
}

/* the padding mask [B, Tk] as [B, 1, 1, Tk], or -2 without one */
static int padding_mask(Elab *e, const AstExpr *arg, int64_t tk) {
  int m = fe_optional_tensor(e, arg);
  if (m < 0) return m;
  PgShape s = node(e, m)->shape;
  if (node(e, m)->dtype == PG_F32 && s.rank == 2 && s.dim[0] == PG_BATCH && s.dim[1] == tk)
    return ir_reshape(e->g, m, (PgShape){4, {PG_BATCH, 1, 1, tk}}, arg->loc);
  diag_error(arg->loc, "'multi_head_attention': mask is an f32 [B, %lld] key padding mask "
             "(1 keep, 0 pad)", (long long)tk);
  return -1;
}

/* the options after q, kv and heads; false after a diagnostic */
typedef struct {
  int causal, use_bias;
  double dropout;
  char name[128];
} MhaOptions;

static bool options(Elab *e, const Args *a, MhaOptions *o) {
  o->causal = bool_arg(a->arg[3], 0);
  o->use_bias = bool_arg(a->arg[6], 1);
  o->dropout = 0;
  if (a->arg[5] && !number_arg(a->arg[5], &o->dropout)) return false;
  if (o->dropout < 0 || o->dropout >= 1) {
    diag_error(a->arg[5]->loc, "dropout rate must be in [0, 1), got %g", o->dropout);
    return false;
  }
  const char *w = a->arg[7] ? word_arg(a->arg[7]) : NULL;
  e->nattention++;
  if (w) snprintf(o->name, sizeof o->name, "%s", w);
  else snprintf(o->name, sizeof o->name, "multi_head_attention_%d", e->nattention);
  return o->causal >= 0 && o->use_bias >= 0 && (!a->arg[7] || w);
}

/* dense(x, units) named <layer>.<part> */
static int projection(Elab *e, int x, int64_t units, const MhaOptions *o, const char *part,
                      PgLoc loc) {
  char layer[192];
  snprintf(layer, sizeof layer, "%s.%s", o->name, part);
  return fe_dense(e, x, units, layer, o->use_bias, "linear", loc);
}

/* the kept positions of the scores [B, H, Tq, Tk]: causal times padding,
 * -2 when every position is kept */
static int keep_mask(Elab *e, const MhaOptions *o, int pad, int64_t tq, int64_t tk, PgLoc loc) {
  int causal = o->causal ? causal_mask(e, tq, tk, loc) : -2;
  if (causal == -2 || pad == -2) return causal == -2 ? pad : causal;
  return ir_binary(e->g, IR_OP_MUL, pad, causal, loc);
}

/* softmax(Q K^T / sqrt(d), mask) @ V over the heads, [B, H, Tq, d] */
static int attend(Elab *e, int qh, int kh, int vh, int keep, double rate, PgLoc loc) {
  if (qh < 0 || kh < 0 || vh < 0 || keep == -1) return -1;
  int64_t d = node(e, qh)->shape.dim[3];
  int64_t transpose_b[IR_MAX_ATTR] = {0, 1};
  int scores = ir_emit(e->g, IR_OP_BATCH_MATMUL, 2, (int[]){qh, kh}, transpose_b, loc);
  int scale = cst(e, 1 / sqrt((double)d), loc);
  scores = ir_binary(e->g, IR_OP_MUL, scores, scale, loc);
  int64_t last[IR_MAX_ATTR] = {1 << 3};
  int weights = fe_softmax(e, scores, keep, last[0], loc);
  weights = fe_dropout(e, weights, rate, loc);
  return ir_binary(e->g, IR_OP_BATCH_MATMUL, weights, vh, loc);
}

int b_multi_head_attention(Elab *e, Args *a) {
  PgLoc loc = a->call->loc;
  int q = elab_expr(e, a->arg[0]);
  int kv = elab_expr(e, a->arg[1]);
  int64_t heads;
  MhaOptions o;
  bool heads_ok = int_arg(a->arg[2], 1, &heads); /* report each */
  bool options_ok = options(e, a, &o);
  if (!sequences_ok(e, q, kv, a) || !heads_ok || !options_ok) return -1;
  int64_t dim = node(e, q)->shape.dim[2], tq = node(e, q)->shape.dim[1];
  int64_t tk = node(e, kv)->shape.dim[1];
  if (dim % heads != 0) {
    diag_error(a->arg[2]->loc, "'multi_head_attention': %lld heads do not divide the model "
               "dimension %lld", (long long)heads, (long long)dim);
    return -1;
  }
  int pad = padding_mask(e, a->arg[4], tk);
  if (pad == -1) return -1;
  int qh = split_heads(e, projection(e, q, dim, &o, "query", loc), heads, loc);
  int kh = split_heads(e, projection(e, kv, dim, &o, "key", loc), heads, loc);
  int vh = split_heads(e, projection(e, kv, dim, &o, "value", loc), heads, loc);
  int keep = keep_mask(e, &o, pad, tq, tk, loc);
  int out = attend(e, qh, kh, vh, keep, o.dropout, loc);
  return projection(e, merge_heads(e, out, loc), dim, &o, "output", loc);
}

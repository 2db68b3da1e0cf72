/* losses.c — losses and metrics as primitive ops. A loss is a scalar, the
 * mean over the batch (and over features), as Keras and PyTorch reduce; its
 * arithmetic follows PyTorch's (BCELoss clamps logs at -100, BCEWithLogits
 * uses the stable max(z,0) - z y + log(1 + exp(-|z|))). Class scores may
 * carry a label per position ([B, T, V] with [B, T]: a language model), and
 * a negative ignore_index leaves positions out (one_hot's zero row). A metric
 * is one value per example, which the step sums and the runtime averages, or
 * divides by a count the metric outputs too (positions counted). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "elab.h"

typedef Builder B;

/* mean over all but the batch dimension: [B, ...] -> [B] */
static int per_example_mean(B *b, int x) {
  if (x < 0) return -1;
  PgShape s = node(b->e, x)->shape;
  if (s.rank == 1) return x;
  int64_t axes[IR_MAX_ATTR] = {((1 << s.rank) - 1) & ~1};
  int sum = ir_emit(b->e->g, IR_OP_REDUCE_SUM, 1, &x, axes, b->l);
  int count = konst(b, (double)pg_numel(&s, 1));
  int per_example = ir_reshape(b->e->g, sum, (PgShape){1, {PG_BATCH}}, b->l);
  return op2(b, IR_OP_DIV, per_example, count);
}

/* class scores [B, ..., classes] and i32 labels [B, ...] with the same
 * leading axes: one label per example, or per position of a sequence */
static bool class_pair(Elab *e, Args *a, int *scores, int *labels) {
  *scores = elab_expr(e, a->arg[0]);
  *labels = elab_expr(e, a->arg[1]);
  if (*scores < 0 || *labels < 0) return false;
  PgShape z = node(e, *scores)->shape, y = node(e, *labels)->shape;
  bool fits = z.rank >= 2 && y.rank == z.rank - 1;
  for (int i = 0; fits && i < y.rank; i++) fits = z.dim[i] == y.dim[i];
  if (!fits) {
    char sz[64], sy[64];
    pg_shape_str(&z, sz, sizeof sz);
    pg_shape_str(&y, sy, sizeof sy);
    diag_error(a->arg[0]->loc, "'%s' takes scores [B, ..., classes] and labels [B, ...] (one "
               "label per position), got %s and %s", a->call->str, sz, sy);
    return false;
  }
  if (node(e, *labels)->dtype != PG_I32) {
    diag_error(a->arg[1]->loc, "labels must be integers (i32)");
    return false;
  }
  return true;
}

/* ignore_index=: a negative label that marks a position to leave out (0: none) */
static bool ignore_arg(const AstExpr *x, int64_t *out) {
  double v = 0;
  *out = 0;
  if (!x) return true;
  if (!number_arg(x, &v)) return false;
  if (v >= 0 || v < INT32_MIN || v != floor(v)) {
    diag_error(x->loc, "ignore_index must be a negative integer (labels from 0 are classes)");
    return false;
  }
  *out = (int64_t)v;
  return true;
}

/* the labels one-hot over the scores' classes, `ignore` allowed (a zero row) */
static int one_hot(B *b, int scores, int labels, int64_t ignore) {
  PgShape z = node(b->e, scores)->shape;
  int64_t attr[IR_MAX_ATTR] = {z.dim[z.rank - 1], ignore};
  return ir_emit(b->e->g, IR_OP_ONE_HOT, 1, &labels, attr, b->l);
}

/* x [B, ..., 1] (a sum kept over the last axis) as [B, ...] */
static int drop_last(B *b, int x) {
  PgShape s = node(b->e, x)->shape;
  s.rank--;
  return ir_reshape(b->e->g, x, s, b->l);
}

/* sum over the last axis: [B, ..., n] -> [B, ...] */
static int sum_last(B *b, int x) {
  if (x < 0) return -1;
  int64_t last[IR_MAX_ATTR] = {1 << (rank_of(b->e, x) - 1)};
  return drop_last(b, ir_emit(b->e->g, IR_OP_REDUCE_SUM, 1, &x, last, b->l));
}

/* per example, the sum over its positions: [B, ...] -> [B] */
static int per_example_sum(B *b, int x) {
  if (x < 0) return -1;
  PgShape s = node(b->e, x)->shape;
  if (s.rank == 1) return x;
  int64_t axes[IR_MAX_ATTR] = {((1 << s.rank) - 1) & ~1};
  int sum = ir_emit(b->e->g, IR_OP_REDUCE_SUM, 1, &x, axes, b->l);
  return ir_reshape(b->e->g, sum, (PgShape){1, {PG_BATCH}}, b->l);
}

/* predictions and targets of the same shape, both f32 */
static bool same_pair(Elab *e, Args *a, int *p, int *t) {
  *p = elab_expr(e, a->arg[0]);
  *t = elab_expr(e, a->arg[1]);
  if (*p < 0 || *t < 0) return false;
  if (node(e, *p)->dtype != PG_F32 || node(e, *t)->dtype != PG_F32 ||
      !pg_shape_eq(&node(e, *p)->shape, &node(e, *t)->shape)) {
    char sp[64], st[64];
    pg_shape_str(&node(e, *p)->shape, sp, sizeof sp);
    pg_shape_str(&node(e, *t)->shape, st, sizeof st);
    diag_error(a->call->loc, "'%s' compares predictions and targets of one shape and type f32, got %s and %s",
               a->call->str, sp, st);
    return false;
  }
  return true;
}

static double fraction_arg(const AstExpr *x, double dflt) {
  double v = dflt;
  if (x && number_arg(x, &v) && (v < 0 || v >= 1)) diag_error(x->loc, "expected a number in [0, 1)"), v = -1;
  return x && v == dflt && x->kind != AST_NUM ? -1 : v;
}

/* ---- losses ---- */

/* mean over the batch of -sum(target * log p); sparse: target is one-hot
 * labels, smoothed to (1 - s) onehot + s / classes (CrossEntropyLoss) */
static int cross_entropy(B *b, int z, int target, bool from_logits) {
  int logp = from_logits ? op1(b, IR_OP_LOG_SOFTMAX, z) : op1(b, IR_OP_LOG, z);
  int picked = sum_all(b->e, op2(b, IR_OP_MUL, target, logp), b->l);
  int batch = batch_size(b->e, b->l);
  return op2(b, IR_OP_DIV, op1(b, IR_OP_NEG, picked), batch);
}

/* the mean over the batch and the label positions, every position counted */
static int mean_cross_entropy(B *b, int z, int y, double smoothing, bool from_logits) {
  int target = one_hot(b, z, y, 0);
  if (smoothing > 0) {
    int64_t classes = node(b->e, z)->shape.dim[rank_of(b->e, z) - 1];
    int uniform = konst(b, smoothing / classes);
    int kept = op2(b, IR_OP_MUL, target, konst(b, 1 - smoothing));
    target = op2(b, IR_OP_ADD, kept, uniform);
  }
  int per_example = cross_entropy(b, z, target, from_logits);
  int64_t positions = pg_numel(&node(b->e, y)->shape, 1);
  return positions == 1 ? per_example : op2(b, IR_OP_DIV, per_example, konst(b, (double)positions));
}

/* -log p[label] at each position [B, ...] (0 at an ignored one), smoothed */
static int position_nll(B *b, int z, int y, int64_t ignore, double smoothing, bool from_logits) {
  int target = one_hot(b, z, y, ignore);
  if (smoothing > 0) {
    int64_t classes = node(b->e, z)->shape.dim[rank_of(b->e, z) - 1];
    int valid = ir_emit(b->e->g, IR_OP_REDUCE_SUM, 1, &target,
                        (int64_t[IR_MAX_ATTR]){1 << (rank_of(b->e, target) - 1)}, b->l);
    int uniform = op2(b, IR_OP_MUL, valid, konst(b, smoothing / classes));
    int kept = op2(b, IR_OP_MUL, target, konst(b, 1 - smoothing));
    target = op2(b, IR_OP_ADD, kept, uniform);
  }
  int logp = from_logits ? op1(b, IR_OP_LOG_SOFTMAX, z) : op1(b, IR_OP_LOG, z);
  return op1(b, IR_OP_NEG, sum_last(b, op2(b, IR_OP_MUL, target, logp)));
}

/* the positions a label counts at: 1, or 0 where it is `ignore` [B, ...] */
static int valid_positions(B *b, int z, int y, int64_t ignore) {
  return sum_last(b, one_hot(b, z, y, ignore));
}

/* the mean over the counted positions (PyTorch's reduction="mean" with
 * ignore_index or weights: sum(w nll) / sum(w)); 0 if none counts */
static int weighted_mean(B *b, int x, int w) {
  int num = sum_all(b->e, op2(b, IR_OP_MUL, x, w), b->l);
  int total = sum_all(b->e, w, b->l);
  int den = op2(b, IR_OP_MAX, total, konst(b, FLT_MIN));
  return op2(b, IR_OP_DIV, num, den);
}

/* weights=: f32, one per label position */
static int weights_arg(Elab *e, const AstExpr *x, int labels) {
  int w = elab_expr(e, x);
  if (w < 0) return -1;
  if (node(e, w)->dtype != PG_F32 || !pg_shape_eq(&node(e, w)->shape, &node(e, labels)->shape)) {
    char sw[64], sy[64];
    pg_shape_str(&node(e, w)->shape, sw, sizeof sw);
    pg_shape_str(&node(e, labels)->shape, sy, sizeof sy);
    diag_error(x->loc, "weights= needs one f32 per label: %s, got %s", sy, sw);
    return -1;
  }
  return w;
}

int b_sparse_cce(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y, from_logits = bool_arg(a->arg[2], 1);
  int64_t ignore;
  double smoothing = fraction_arg(a->arg[3], 0);
  bool ignore_ok = ignore_arg(a->arg[4], &ignore);
  if (!class_pair(e, a, &z, &y) || from_logits < 0 || smoothing < 0 || !ignore_ok) return -1;
  if (e->mode == FE_INFERENCE && rank_of(e, y) > 1) /* a language model predicts its scores */
    ir_output(e->g, "report:scores", z, b.l);
  int w = a->arg[5] ? weights_arg(e, a->arg[5], y) : -1;
  if (a->arg[5] && w < 0) return -1;
  if (!ignore && w < 0) return mean_cross_entropy(&b, z, y, smoothing, from_logits);
  int nll = position_nll(&b, z, y, ignore, smoothing, from_logits);
  if (ignore) {
    int valid = valid_positions(&b, z, y, ignore);
    w = w < 0 ? valid : op2(&b, IR_OP_MUL, w, valid);
  }
  return weighted_mean(&b, nll, w);
}

int b_categorical_cce(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, t, from_logits = bool_arg(a->arg[2], 1);
  if (!same_pair(e, a, &z, &t) || from_logits < 0 || !want_rank(e, z, 2, a->arg[0], "the class scores")) return -1;
  return cross_entropy(&b, z, t, from_logits);
}

/* log x clamped at -100, as BCELoss clamps it, but without taking the log of
 * 0: below the smallest normal float the result is -100 and no gradient
 * flows, where max(log x, -100) sends 0/0 back through the log (a sigmoid
 * that rounds to exactly 0 or 1 then made every gradient NaN). */
static int clamped_log(B *b, int x) {
  int tiny = konst(b, FLT_MIN);
  int normal = op2(b, IR_OP_GE, x, tiny);
  int log_safe = op1(b, IR_OP_LOG, op2(b, IR_OP_MAX, x, tiny));
  int floor = konst(b, -100);
  return ir_emit(b->e->g, IR_OP_SELECT, 3, (int[]){normal, log_safe, floor}, NULL, b->l);
}

int b_binary_cross_entropy(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int p, y, from_logits = bool_arg(a->arg[2], 0);
  if (!same_pair(e, a, &p, &y) || from_logits < 0) return -1;
  if (from_logits) { /* max(z, 0) - z y + log(1 + exp(-|z|)) */
    int exp_neg_abs = op1(&b, IR_OP_EXP, op1(&b, IR_OP_NEG, op1(&b, IR_OP_ABS, p)));
    int softplus = op1(&b, IR_OP_LOG, op2(&b, IR_OP_ADD, konst(&b, 1), exp_neg_abs));
    int zy = op2(&b, IR_OP_MUL, p, y);
    int diff = op2(&b, IR_OP_SUB, op1(&b, IR_OP_RELU, p), zy);
    return mean_all(e, op2(&b, IR_OP_ADD, diff, softplus), b.l);
  }
  int lp = clamped_log(&b, p);
  int q = op2(&b, IR_OP_SUB, konst(&b, 1), p);
  int lq = clamped_log(&b, q);
  int not_y = op2(&b, IR_OP_SUB, konst(&b, 1), y);
  int negatives = op2(&b, IR_OP_MUL, not_y, lq);
  int ll = op2(&b, IR_OP_ADD, op2(&b, IR_OP_MUL, y, lp), negatives);
  return op1(&b, IR_OP_NEG, mean_all(e, ll, b.l));
}

int b_mean_squared_error(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int p, t;
  if (!same_pair(e, a, &p, &t)) return -1;
  int d = op2(&b, IR_OP_SUB, p, t);
  return mean_all(e, op2(&b, IR_OP_MUL, d, d), b.l);
}

int b_mean_absolute_error(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int p, t;
  if (!same_pair(e, a, &p, &t)) return -1;
  return mean_all(e, op1(&b, IR_OP_ABS, op2(&b, IR_OP_SUB, p, t)), b.l);
}

/* ---- metrics: one value per example ---- */

/* In the evaluation graph, the first classification or regression metric also
 * outputs its per-example predictions and truths, from which `nnd eval`
 * reports a confusion matrix (precision, recall, F1) or R^2, and a
 * classifier each class's probability (`nnd predict --probabilities`;
 * probabilities < 0: none). */
static void report(Elab *e, const char *what, int predicted, const char *truth_name, int truth,
                   int probabilities, PgLoc l) {
  if (e->mode != FE_INFERENCE || e->reported || predicted < 0 || truth < 0) return;
  e->reported = true;
  ir_output(e->g, what, predicted, l);
  ir_output(e->g, truth_name, truth, l);
  if (probabilities >= 0) ir_output(e->g, "report:probabilities", probabilities, l);
}

/* z is already a softmax over its last axis: exp(log_softmax(x)) (softmax(),
 * activation=softmax) or ex / sum(ex) (a masked softmax) */
static bool is_softmax(Elab *e, int z) {
  const IrNode *n = node(e, z);
  if (n->op == IR_OP_EXP) return node(e, n->in[0])->op == IR_OP_LOG_SOFTMAX;
  if (n->op != IR_OP_DIV) return false;
  const IrNode *d = node(e, n->in[1]);
  if (d->op == IR_OP_ADD) d = node(e, d->in[0]); /* a row with nothing kept: sum + (sum == 0) */
  return d->op == IR_OP_REDUCE_SUM && d->in[0] == n->in[0];
}

/* class scores as probabilities: softmax over the classes, unless they are one */
static int class_probabilities(B *b, int z) {
  if (is_softmax(b->e, z)) return z;
  return op1(b, IR_OP_EXP, op1(b, IR_OP_LOG_SOFTMAX, z));
}

/* 1 if the highest score is the label's, else 0; per position, the number
 * right of each example, and with ignore_index only where a label counts:
 * the metric's count is then the counted positions (count:accuracy) */
int b_accuracy(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y;
  int64_t ignore;
  bool ignore_ok = ignore_arg(a->arg[2], &ignore);
  if (!class_pair(e, a, &z, &y) || !ignore_ok) return -1;
  int predicted = ir_unary(e->g, IR_OP_ARGMAX, z, a->call->loc);
  if (rank_of(e, y) == 1 && !ignore && e->mode == FE_INFERENCE && !e->reported)
    report(e, "report:class", predicted, "report:label", y, class_probabilities(&b, z),
           a->call->loc);
  int right = ir_binary(e->g, IR_OP_EQ, predicted, y, a->call->loc);
  if (rank_of(e, y) == 1 && !ignore) return right;
  if (!ignore) return per_example_mean(&b, right);
  int valid = valid_positions(&b, z, y, ignore);
  e->metric_count = per_example_sum(&b, valid);
  return per_example_sum(&b, op2(&b, IR_OP_MUL, right, valid));
}

/* exp of the mean log-loss per counted label (per token): the summed
 * log-loss of each example, divided by the counted positions over all */
int b_perplexity(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y;
  int64_t ignore;
  bool ignore_ok = ignore_arg(a->arg[2], &ignore);
  if (!class_pair(e, a, &z, &y) || !ignore_ok) return -1;
  int nll = position_nll(&b, z, y, ignore, 0, true);
  e->metric_exp = true;
  e->metric_count = per_example_sum(&b, valid_positions(&b, z, y, ignore));
  return per_example_sum(&b, nll);
}

/* 1 if fewer than k classes score higher than the label's class */
int b_top_k_accuracy(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y;
  int64_t kk = 5;
  if (!class_pair(e, a, &z, &y) || (a->arg[2] && !int_arg(a->arg[2], 1, &kk))) return -1;
  if (!want_rank(e, z, 2, a->arg[0], "the class scores of 'top_k_accuracy'")) return -1;
  int64_t depth[IR_MAX_ATTR] = {node(e, z)->shape.dim[1]}, last[IR_MAX_ATTR] = {2};
  int onehot = ir_emit(e->g, IR_OP_ONE_HOT, 1, &y, depth, b.l), prod = op2(&b, IR_OP_MUL, z, onehot);
  int mine = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &prod, last, b.l); /* [B,1] */
  int gt = op2(&b, IR_OP_GT, z, mine);
  int above = ir_reshape(e->g, ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &gt, last, b.l),
                         (PgShape){1, {PG_BATCH}}, b.l);
  return op2(&b, IR_OP_GT, konst(&b, (double)kk), above);
}

/* the fraction of an example's outputs on the right side of the threshold */
int b_binary_accuracy(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int p, y;
  double threshold = 0.5;
  if (!same_pair(e, a, &p, &y) || (a->arg[2] && !number_arg(a->arg[2], &threshold))) return -1;
  int predicted = op2(&b, IR_OP_GE, p, konst(&b, threshold));
  /* threshold 0: the predictions are logits (docs/language.md), else probabilities */
  int probability = threshold == 0 && e->mode == FE_INFERENCE ? op1(&b, IR_OP_SIGMOID, p) : p;
  report(e, "report:class", predicted, "report:label", y, probability, b.l);
  return per_example_mean(&b, op2(&b, IR_OP_EQ, predicted, y));
}

/* the squared or absolute difference, per example: `mse` and `mae` as metrics */
static int error_metric(Elab *e, Args *a, bool squared) {
  B b = {e, a->call->loc};
  int p, t;
  if (!same_pair(e, a, &p, &t)) return -1;
  report(e, "report:prediction", p, "report:target", t, -1, b.l);
  int d = op2(&b, IR_OP_SUB, p, t);
  return per_example_mean(&b, squared ? op2(&b, IR_OP_MUL, d, d) : op1(&b, IR_OP_ABS, d));
}

int b_squared_error(Elab *e, Args *a) { return error_metric(e, a, true); }
int b_absolute_error(Elab *e, Args *a) { return error_metric(e, a, false); }

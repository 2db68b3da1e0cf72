/* losses.c — losses and metrics as primitive ops. A loss is a scalar, the
 * mean over the batch (and over features), as Keras and PyTorch reduce; its
 * arithmetic follows PyTorch's (BCELoss clamps logs at -100, BCEWithLogits
 * uses the stable max(z,0) - z y + log(1 + exp(-|z|))). A metric is one value
 * per example, which the step sums and the runtime averages. */
#include <float.h>
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

static bool class_pair(Elab *e, Args *a, int *scores, int *labels) {
  *scores = elab_expr(e, a->arg[0]);
  *labels = elab_expr(e, a->arg[1]);
  bool scores_ok = want_rank(e, *scores, 2, a->arg[0], "the class scores"); /* report both */
  bool labels_ok = want_rank(e, *labels, 1, a->arg[1], "the labels");
  if (!scores_ok || !labels_ok) return false;
  if (node(e, *labels)->dtype != PG_I32) {
    diag_error(a->arg[1]->loc, "labels must be integers (i32)");
    return false;
  }
  return true;
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

int b_sparse_cce(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y, from_logits = bool_arg(a->arg[2], 1);
  double smoothing = fraction_arg(a->arg[3], 0);
  if (!class_pair(e, a, &z, &y) || from_logits < 0 || smoothing < 0) return -1;
  int64_t classes = node(e, z)->shape.dim[1], depth[IR_MAX_ATTR] = {classes};
  int target = ir_emit(e->g, IR_OP_ONE_HOT, 1, &y, depth, b.l);
  if (smoothing > 0) {
    int uniform = konst(&b, smoothing / classes);
    int kept = op2(&b, IR_OP_MUL, target, konst(&b, 1 - smoothing));
    target = op2(&b, IR_OP_ADD, kept, uniform);
  }
  return cross_entropy(&b, z, target, from_logits);
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
 * reports a confusion matrix (precision, recall, F1) or R^2. */
static void report(Elab *e, const char *what, int predicted, const char *truth_name, int truth,
                   PgLoc l) {
  if (e->mode != FE_INFERENCE || e->reported || predicted < 0 || truth < 0) return;
  e->reported = true;
  ir_output(e->g, what, predicted, l);
  ir_output(e->g, truth_name, truth, l);
}

/* 1 if the highest score is the label's, else 0 */
int b_accuracy(Elab *e, Args *a) {
  int z, y;
  if (!class_pair(e, a, &z, &y)) return -1;
  int predicted = ir_unary(e->g, IR_OP_ARGMAX, z, a->call->loc);
  report(e, "report:class", predicted, "report:label", y, a->call->loc);
  return ir_binary(e->g, IR_OP_EQ, predicted, y, a->call->loc);
}

/* 1 if fewer than k classes score higher than the label's class */
int b_top_k_accuracy(Elab *e, Args *a) {
  B b = {e, a->call->loc};
  int z, y;
  int64_t kk = 5;
  if (!class_pair(e, a, &z, &y) || (a->arg[2] && !int_arg(a->arg[2], 1, &kk))) return -1;
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
  report(e, "report:class", predicted, "report:label", y, b.l);
  return per_example_mean(&b, op2(&b, IR_OP_EQ, predicted, y));
}

/* the squared or absolute difference, per example: `mse` and `mae` as metrics */
static int error_metric(Elab *e, Args *a, bool squared) {
  B b = {e, a->call->loc};
  int p, t;
  if (!same_pair(e, a, &p, &t)) return -1;
  report(e, "report:prediction", p, "report:target", t, b.l);
  int d = op2(&b, IR_OP_SUB, p, t);
  return per_example_mean(&b, squared ? op2(&b, IR_OP_MUL, d, d) : op1(&b, IR_OP_ABS, d));
}

int b_squared_error(Elab *e, Args *a) { return error_metric(e, a, true); }
int b_absolute_error(Elab *e, Args *a) { return error_metric(e, a, false); }

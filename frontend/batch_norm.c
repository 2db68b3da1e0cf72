/* batch_norm.c — batch normalisation (torch.nn.BatchNorm1d/2d, Keras
 * BatchNormalization) as primitive ops.
 *
 * Channels last: the statistics are per element of the last axis, over every
 * other axis (the batch and, for [B, H, W, C], the image). Parameters of layer
 * L: L.gamma (ones) and L.beta (zeros), trained; L.running_mean (zeros) and
 * L.running_var (ones), of role `statistic` (program/types.h).
 *
 * Training: the batch's mean and biased variance normalise, and the step
 * updates the running statistics with PyTorch's rule
 *   running = (1 - momentum) * running + momentum * batch_statistic
 * (the variance unbiased: times N / (N - 1), N - 1 at least 1), by `assign` nodes
 * made here. The layer emits its update, not autodiff: it alone knows its
 * momentum and which value is the statistic, and the update needs no
 * gradient. autodiff{optimizer=none} drops these assigns: a gradient step
 * changes no state (`nnd step` runs it before the training steps, gradcheck
 * again and again on one state).
 * Inference, and a frozen layer (fine-tuning, as Keras's trainable=False):
 * the running statistics normalise, and nothing is updated. */
#include <stdio.h>
#include <string.h>

#include "elab.h"

typedef struct {
  Builder b;
  int x;
  int64_t channels;
  int64_t axes;   /* every axis but the last */
  int count;      /* N, the values per channel: batch_size * the other static axes */
  double momentum, epsilon;
} Norm;

/* whether layer (prefixed) is, or is inside, a layer the run freezes */
static bool frozen(const Elab *e, const char *layer) {
  for (int k = 0; e->frozen && k < e->frozen->nfreeze; k++) {
    size_t len = strlen(e->frozen->freeze[k]);
    if (strncmp(layer, e->frozen->freeze[k], len) == 0 && (!layer[len] || layer[len] == '.'))
      return true;
  }
  return false;
}

/* v reduced over the normalised axes, as [C] */
static int channel_sum(Norm *n, int v) {
  int64_t attr[IR_MAX_ATTR] = {n->axes};
  int s = ir_emit(n->b.e->g, IR_OP_REDUCE_SUM, 1, &v, attr, n->b.l);
  return ir_reshape(n->b.e->g, s, (PgShape){1, {n->channels}}, n->b.l);
}

/* x * scale + shift, scale = gamma / sqrt(var + epsilon), shift = beta -
 * mean * scale, with mean and var [C]: what (x - mean) / sqrt(var + epsilon)
 * * gamma + beta is, in the form whose backward has two reductions over the
 * batch (of g * x for scale, of g for shift; the mean's gradient is then
 * -scale * the shift's, no third), and that folds into a layer before it */
static int normalise(Norm *n, int mean, int var, int gamma, int beta) {
  Builder *b = &n->b;
  int eps = konst(b, n->epsilon);
  int root = op1(b, IR_OP_SQRT, op2(b, IR_OP_ADD, var, eps));
  int scale = op2(b, IR_OP_DIV, gamma, root);
  int shift = op2(b, IR_OP_SUB, beta, op2(b, IR_OP_MUL, mean, scale));
  return op2(b, IR_OP_ADD, op2(b, IR_OP_MUL, n->x, scale), shift);
}

/* running <- (1 - momentum) * running + momentum * batch */
static void update(Norm *n, int running, int batch) {
  Builder *b = &n->b;
  int kept = op2(b, IR_OP_MUL, running, konst(b, 1 - n->momentum));
  int fresh = op2(b, IR_OP_MUL, batch, konst(b, n->momentum));
  ir_binary(b->e->g, IR_OP_ASSIGN, running, op2(b, IR_OP_ADD, kept, fresh), b->l);
}

/* The batch's statistics normalise; the running ones are updated. The sums
 * are of d = x - running_mean ("shifted data": exact for any shift, and
 * without cancellation once the running mean nears the batch's), mean = K +
 * sum(d)/N, var = sum(d*d)/N - (sum(d)/N)^2 (at least 0). The shift gets no
 * gradient (a statistic), so the backward needs no reduction for the mean
 * or the variance. Each update comes right after its statistic, before the
 * normalisation reads it, so that fuse can put it in the statistic's kernel
 * (a kernel runs at its last node: an update after the normalisation would
 * hold its statistic's kernel back behind the kernels that read it). */
static int training(Norm *n, int gamma, int beta, int mean_param, int var_param) {
  Builder *b = &n->b;
  int less_one = op2(b, IR_OP_SUB, n->count, konst(b, 1));
  int dof = op2(b, IR_OP_MAX, less_one, konst(b, 1)); /* N - 1, at least 1 */
  int unbias = op2(b, IR_OP_DIV, n->count, dof);       /* N / (N - 1) */
  int d = op2(b, IR_OP_SUB, n->x, mean_param);
  int dd = op2(b, IR_OP_MUL, d, d); /* before the sums: one loop with d */
  int shifted_mean = op2(b, IR_OP_DIV, channel_sum(n, d), n->count);
  int squares = op2(b, IR_OP_DIV, channel_sum(n, dd), n->count);
  int mean = op2(b, IR_OP_ADD, mean_param, shifted_mean);
  update(n, mean_param, mean);
  int square_of_mean = op2(b, IR_OP_MUL, shifted_mean, shifted_mean);
  int zero = konst(b, 0);
  int var = op2(b, IR_OP_MAX, op2(b, IR_OP_SUB, squares, square_of_mean), zero);
  update(n, var_param, op2(b, IR_OP_MUL, var, unbias)); /* from var: one kernel with it */
  return normalise(n, mean, var, gamma, beta);
}

/* the arguments, checked: x [B, ..., C] with a static C, momentum, epsilon */
static bool norm_args(Elab *e, Args *a, Norm *n) {
  n->x = elab_expr(e, a->arg[0]);
  n->momentum = 0.1;
  n->epsilon = 1e-5;
  bool m_ok = !a->arg[1] || number_arg(a->arg[1], &n->momentum); /* report both */
  bool e_ok = !a->arg[2] || number_arg(a->arg[2], &n->epsilon);
  if (m_ok && !(n->momentum >= 0 && n->momentum <= 1))
    m_ok = false, diag_error(a->arg[1]->loc, "batch_norm momentum must be in [0, 1], got %g",
                             n->momentum);
  if (e_ok && !(n->epsilon > 0 && n->epsilon <= 1))
    e_ok = false, diag_error(a->arg[2]->loc, "batch_norm epsilon must be in (0, 1], got %g",
                             n->epsilon);
  if (m_ok && n->momentum > 0.5)
    diag_warning(a->arg[1]->loc, "batch_norm momentum %g weights the new batch (PyTorch's "
                 "convention): Keras's momentum=%g is momentum=%g here", n->momentum,
                 n->momentum, 1 - n->momentum);
  if (!m_ok || !e_ok || n->x < 0) return false;
  PgShape s = node(e, n->x)->shape;
  if (s.rank < 2 || s.dim[0] != PG_BATCH || s.dim[s.rank - 1] == PG_BATCH)
    return diag_error(a->arg[0]->loc, "'batch_norm' takes a batched tensor [batch, ..., "
                      "channels] of rank 2 or more"), false;
  n->channels = s.dim[s.rank - 1];
  n->axes = (1 << (s.rank - 1)) - 1;
  return true;
}

/* N: the batch size times the sizes of the other normalised axes */
static int value_count(Norm *n, const PgShape *s) {
  int64_t per_example = pg_numel(s, 1) / n->channels;
  int batch = batch_size(n->b.e, n->b.l);
  return per_example == 1 ? batch : op2(&n->b, IR_OP_MUL, batch, konst(&n->b, per_example));
}

int b_batch_norm(Elab *e, Args *a) {
  Norm n = {.b = {e, a->call->loc}};
  if (!norm_args(e, a, &n)) return -1;
  char layer[FE_MAX_PREFIX + FE_MAX_LAYER_NAME + 2];
  fe_layer_name(a->arg[3], "batch_norm", &e->nbatch_norm, layer, sizeof layer);
  PgShape c = {1, {n.channels}};
  PgLoc l = n.b.l;
  int gamma = elab_weight(e, layer, "gamma", PG_INIT_ONES, c, l);
  int beta = elab_weight(e, layer, "beta", PG_INIT_ZEROS, c, l);
  int mean = elab_param(e, layer, "running_mean", PG_ROLE_STATISTIC, PG_INIT_ZEROS, c, l);
  int var = elab_param(e, layer, "running_var", PG_ROLE_STATISTIC, PG_INIT_ONES, c, l);
  char full[sizeof layer]; /* with the names of the block instances around it */
  snprintf(full, sizeof full, "%s", layer);
  if (gamma < 0 || beta < 0 || mean < 0 || var < 0 || !elab_prefixed(e, full, sizeof full, l))
    return -1;
  if (e->mode == FE_INFERENCE || frozen(e, full)) return normalise(&n, mean, var, gamma, beta);
  PgShape s = node(e, n.x)->shape;
  n.count = value_count(&n, &s);
  return training(&n, gamma, beta, mean, var);
}

/* optimizer.c — the parameter update, appended to the graph after the
 * backward pass so that one compiled function does forward, backward and
 * update: SGD (momentum, Nesterov), Adam, AdamW and RMSprop, L2 or decoupled
 * weight decay, clipping by global norm, and the learning-rate schedule as a
 * function of the step count (times a scale the runtime lowers when the
 * monitored value stops improving, reduce_lr_on_plateau), output as "lr".
 * Optimizer state (moments, the step count) are
 * parameters with the role optstate; updates are `assign` nodes, which run
 * after every reader of the old value. The arithmetic follows PyTorch's
 * order of operations (torch.optim, clip_grad_norm_, lr_scheduler) so the
 * trajectories can be compared step by step. */
#include <math.h>

#include "passes.h"

typedef struct {
  IrGraph *g;
  PgLoc loc;
  const PsOptimizer *o;
  int t1;         /* the step count after this update */
  int lr;         /* this update's learning rate */
  int bc1, bc2s;  /* adam: 1 - beta1^t, sqrt(1 - beta2^t) */
} Up;

PsOptimizer ps_optimizer_default(PsOptimizerKind kind) {
  double lr = kind == PS_OPT_SGD || kind == PS_OPT_RMSPROP ? 0.01 : 0.001;
  return (PsOptimizer){.kind = kind, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .alpha = 0.99,
                       .weight_decay = kind == PS_OPT_ADAMW ? 0.01 : 0, .gamma = 0.1, .every = 1};
}

/* builders; as in the frontend (elab.h), no call gets two arguments that make
 * nodes, so that the node order does not depend on the C compiler */
static int c(Up *u, double v) { return ir_const(u->g, v, u->loc); }
static int op1(Up *u, IrOp op, int a) { return ir_unary(u->g, op, a, u->loc); }
static int op2(Up *u, IrOp op, int a, int b) { return ir_binary(u->g, op, a, b, u->loc); }
static int one_minus(Up *u, int x) { return op2(u, IR_OP_SUB, c(u, 1), x); }

/* the moving average s beta + x (1 - beta) with x = g or g^2: Adam's
 * moments, RMSprop's mean square */
static int moving_average(Up *u, int s, double beta, int g, bool squared) {
  int rest = c(u, 1 - beta);
  int x = squared ? op2(u, IR_OP_MUL, g, g) : g;
  int update = op2(u, IR_OP_MUL, x, rest);
  int decayed = op2(u, IR_OP_MUL, s, c(u, beta));
  return op2(u, IR_OP_ADD, decayed, update);
}

static int state(Up *u, int w, const char *suffix) {
  const IrNode *wn = ir_node(u->g, w);
  char name[160];
  snprintf(name, sizeof name, "%s.%s", wn->name, suffix);
  PgShape shape = wn->shape;
  return ir_param(u->g, name, PG_ROLE_OPTSTATE, PG_INIT_ZEROS, shape, wn->loc);
}

static void assign(Up *u, int param, int value) {
  ir_emit(u->g, IR_OP_ASSIGN, 2, (int[]){param, value}, NULL, u->loc);
}

/* ---- the learning rate at step t ---- */

static int scheduled_lr(Up *u, int t) {
  const PsOptimizer *o = u->o;
  int lr = c(u, o->lr), factor = -1;
  switch (o->schedule) {
  case PS_LR_CONSTANT: break;
  case PS_LR_EXPONENTIAL: { /* gamma^(t / every), whole powers if staircase */
    int p = op2(u, IR_OP_DIV, t, c(u, o->every));
    int power = o->staircase ? op1(u, IR_OP_FLOOR, p) : p;
    factor = op2(u, IR_OP_POW, c(u, o->gamma), power);
    break;
  }
  case PS_LR_STEP: { /* gamma^floor(t / every), torch StepLR */
    int power = op1(u, IR_OP_FLOOR, op2(u, IR_OP_DIV, t, c(u, o->every)));
    factor = op2(u, IR_OP_POW, c(u, o->gamma), power);
    break;
  }
  case PS_LR_COSINE: { /* min + (lr - min) (1 + cos(pi min(t, T) / T)) / 2, torch CosineAnnealingLR */
    int steps = c(u, o->every);
    int frac = op2(u, IR_OP_DIV, op2(u, IR_OP_MIN, t, c(u, o->every)), steps);
    int half = c(u, 0.5);
    int cosine = op1(u, IR_OP_COS, op2(u, IR_OP_MUL, frac, c(u, M_PI)));
    int wave = op2(u, IR_OP_MUL, op2(u, IR_OP_ADD, c(u, 1), cosine), half);
    int span = op2(u, IR_OP_MUL, c(u, o->lr - o->min_lr), wave);
    lr = op2(u, IR_OP_ADD, c(u, o->min_lr), span);
    break;
  }
  }
  if (factor >= 0) lr = op2(u, IR_OP_MUL, lr, factor);
  if (o->warmup > 0) { /* (t + 1) / warmup until it reaches 1, torch LinearLR(1/warmup) */
    int one = c(u, 1);
    int warmup = c(u, o->warmup);
    int ramp = op2(u, IR_OP_DIV, op2(u, IR_OP_ADD, t, c(u, 1)), warmup);
    lr = op2(u, IR_OP_MUL, lr, op2(u, IR_OP_MIN, ramp, one));
  }
  return lr;
}

/* ---- gradient transformations ---- */

/* g * min(max_norm / (||all g|| + 1e-6), 1), torch clip_grad_norm_ */
static void clip_by_global_norm(Up *u, int *grads, int n) {
  int total = -1;
  for (int i = 0; i < n; i++) {
    int64_t all[IR_MAX_ATTR] = {(1 << ir_node(u->g, grads[i])->shape.rank) - 1};
    int sq = op2(u, IR_OP_MUL, grads[i], grads[i]);
    int s = ir_reshape(u->g, ir_emit(u->g, IR_OP_REDUCE_SUM, 1, &sq, all, u->loc), (PgShape){0},
                       u->loc);
    total = total < 0 ? s : op2(u, IR_OP_ADD, total, s);
  }
  int norm = op1(u, IR_OP_SQRT, total);
  int one = c(u, 1);
  int shifted = op2(u, IR_OP_ADD, norm, c(u, 1e-6));
  int scale = op2(u, IR_OP_DIV, c(u, u->o->clip_norm), shifted);
  int coef = op2(u, IR_OP_MIN, scale, one);
  for (int i = 0; i < n; i++) grads[i] = op2(u, IR_OP_MUL, grads[i], coef);
}

static int with_l2(Up *u, int w, int g) {
  return u->o->weight_decay > 0 ? op2(u, IR_OP_ADD, g, op2(u, IR_OP_MUL, w, c(u, u->o->weight_decay))) : g;
}

/* ---- update rules ---- */

static void sgd(Up *u, int w, int g) {
  const PsOptimizer *o = u->o;
  g = with_l2(u, w, g);
  if (o->momentum > 0) {
    int buf = state(u, w, "momentum");
    int buf1 = op2(u, IR_OP_ADD, op2(u, IR_OP_MUL, buf, c(u, o->momentum)), g);
    assign(u, buf, buf1);
    g = o->nesterov ? op2(u, IR_OP_ADD, g, op2(u, IR_OP_MUL, buf1, c(u, o->momentum))) : buf1;
  }
  assign(u, w, op2(u, IR_OP_SUB, w, op2(u, IR_OP_MUL, g, u->lr)));
}

static void adam(Up *u, int w, int g) {
  const PsOptimizer *o = u->o;
  int p = w;
  if (o->kind == PS_OPT_ADAMW && o->weight_decay > 0) /* decoupled: decay the weight itself */
    p = op2(u, IR_OP_MUL, w, one_minus(u, op2(u, IR_OP_MUL, u->lr, c(u, o->weight_decay))));
  else g = with_l2(u, w, g);
  int m = state(u, w, "adam_m"), v = state(u, w, "adam_v");
  int m1 = moving_average(u, m, o->beta1, g, false);
  int v1 = moving_average(u, v, o->beta2, g, true);
  int eps = c(u, o->eps);
  int denom = op2(u, IR_OP_ADD, op2(u, IR_OP_DIV, op1(u, IR_OP_SQRT, v1), u->bc2s), eps);
  int step_size = op2(u, IR_OP_DIV, u->lr, u->bc1);
  assign(u, m, m1);
  assign(u, v, v1);
  assign(u, w, op2(u, IR_OP_SUB, p, op2(u, IR_OP_MUL, op2(u, IR_OP_DIV, m1, denom), step_size)));
}

static void rmsprop(Up *u, int w, int g) {
  const PsOptimizer *o = u->o;
  g = with_l2(u, w, g);
  int sq = state(u, w, "rms");
  int sq1 = moving_average(u, sq, o->alpha, g, true);
  int eps = c(u, o->eps);
  int scaled = op2(u, IR_OP_DIV, g, op2(u, IR_OP_ADD, op1(u, IR_OP_SQRT, sq1), eps));
  assign(u, sq, sq1);
  if (o->momentum > 0) {
    int buf = state(u, w, "momentum");
    scaled = op2(u, IR_OP_ADD, op2(u, IR_OP_MUL, buf, c(u, o->momentum)), scaled);
    assign(u, buf, scaled);
  }
  assign(u, w, op2(u, IR_OP_SUB, w, op2(u, IR_OP_MUL, scaled, u->lr)));
}

void ps_append_update(IrGraph *g, const PsOptimizer *o, const int *weights, const int *grads_in, int n) {
  Up u = {g, n ? ir_node(g, weights[0])->loc : (PgLoc){0}, o, -1, -1, -1, -1};
  int t = ir_param(g, "step", PG_ROLE_OPTSTATE, PG_INIT_ZEROS, (PgShape){0}, u.loc);
  u.t1 = op2(&u, IR_OP_ADD, t, c(&u, 1));
  u.lr = scheduled_lr(&u, t);
  if (o->lr_scale) {
    int scale = ir_param(g, "lr_scale", PG_ROLE_OPTSTATE, PG_INIT_ONES, (PgShape){0}, u.loc);
    u.lr = op2(&u, IR_OP_MUL, u.lr, scale);
  }
  if (o->kind == PS_OPT_ADAM || o->kind == PS_OPT_ADAMW) {
    u.bc1 = one_minus(&u, op2(&u, IR_OP_POW, c(&u, o->beta1), u.t1));
    u.bc2s = op1(&u, IR_OP_SQRT, one_minus(&u, op2(&u, IR_OP_POW, c(&u, o->beta2), u.t1)));
  }
  int grads[n ? n : 1];
  for (int i = 0; i < n; i++) grads[i] = grads_in[i];
  if (o->clip_norm > 0) clip_by_global_norm(&u, grads, n);
  for (int i = 0; i < n; i++) {
    u.loc = ir_node(g, weights[i])->loc;
    if (o->kind == PS_OPT_SGD) sgd(&u, weights[i], grads[i]);
    else if (o->kind == PS_OPT_RMSPROP) rmsprop(&u, weights[i], grads[i]);
    else adam(&u, weights[i], grads[i]);
  }
  assign(&u, t, u.t1); /* last: the schedule above reads the old count */
  ir_output(g, "lr", u.lr, u.loc); /* the step's rate, for the progress line and the log */
}

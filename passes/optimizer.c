/* optimizer.c — the parameter update, appended to the graph after the
 * backward pass so that one compiled function does forward, backward and
 * update. Optimizer state (moments, the step count) are parameters with the
 * role optstate; updates are `assign` nodes, which run after every reader of
 * the old value. The arithmetic follows PyTorch's order of operations so the
 * trajectories can be compared step by step. */
#include "passes.h"

typedef struct {
  IrGraph *g;
  IrLoc loc;
} Up;

static int c(Up *u, double v) { return ir_const(u->g, v, u->loc); }
static int op2(Up *u, IrOp op, int a, int b) { return ir_binary(u->g, op, a, b, u->loc); }

static int state(Up *u, const IrNode *w, const char *suffix) {
  char name[160];
  snprintf(name, sizeof name, "%s.%s", w->name, suffix);
  return ir_param(u->g, name, IR_ROLE_OPTSTATE, IR_INIT_ZEROS, w->shape, w->loc);
}

static void assign(Up *u, int param, int value) {
  ir_emit(u->g, IR_OP_ASSIGN, 2, (int[]){param, value}, NULL, u->loc);
}

static void sgd(Up *u, const PsOptimizer *o, int w, int g) {
  assign(u, w, op2(u, IR_OP_SUB, w, op2(u, IR_OP_MUL, g, c(u, o->lr))));
}

/* scalars shared by every weight: the step t, lr / (1 - b1^t), sqrt(1 - b2^t) */
typedef struct {
  int step_size, bc2_sqrt;
} AdamScalars;

static AdamScalars adam_scalars(Up *u, const PsOptimizer *o) {
  int t = ir_param(u->g, "adam.step", IR_ROLE_OPTSTATE, IR_INIT_ZEROS, (IrShape){0}, u->loc);
  int t1 = op2(u, IR_OP_ADD, t, c(u, 1));
  assign(u, t, t1);
  int bc1 = op2(u, IR_OP_SUB, c(u, 1), op2(u, IR_OP_POW, c(u, o->beta1), t1));
  int bc2 = op2(u, IR_OP_SUB, c(u, 1), op2(u, IR_OP_POW, c(u, o->beta2), t1));
  return (AdamScalars){op2(u, IR_OP_DIV, c(u, o->lr), bc1), ir_unary(u->g, IR_OP_SQRT, bc2, u->loc)};
}

static void adam(Up *u, const PsOptimizer *o, AdamScalars s, int w, int g) {
  const IrNode *wn = ir_node(u->g, w);
  int m = state(u, wn, "adam_m"), v = state(u, ir_node(u->g, w), "adam_v");
  int m1 = op2(u, IR_OP_ADD, op2(u, IR_OP_MUL, m, c(u, o->beta1)), op2(u, IR_OP_MUL, g, c(u, 1 - o->beta1)));
  int gg = op2(u, IR_OP_MUL, g, g);
  int v1 = op2(u, IR_OP_ADD, op2(u, IR_OP_MUL, v, c(u, o->beta2)), op2(u, IR_OP_MUL, gg, c(u, 1 - o->beta2)));
  int denom = op2(u, IR_OP_ADD, op2(u, IR_OP_DIV, ir_unary(u->g, IR_OP_SQRT, v1, u->loc), s.bc2_sqrt),
                  c(u, o->eps));
  int delta = op2(u, IR_OP_MUL, op2(u, IR_OP_DIV, m1, denom), s.step_size);
  assign(u, m, m1);
  assign(u, v, v1);
  assign(u, w, op2(u, IR_OP_SUB, w, delta));
}

void ps_append_update(IrGraph *g, const PsOptimizer *o, const int *weights, const int *grads, int n) {
  Up u = {g, n ? ir_node(g, weights[0])->loc : (IrLoc){0}};
  AdamScalars s = {-1, -1};
  if (o->kind == PS_OPT_ADAM) s = adam_scalars(&u, o);
  for (int i = 0; i < n; i++) {
    u.loc = ir_node(g, weights[i])->loc;
    if (o->kind == PS_OPT_SGD) sgd(&u, o, weights[i], grads[i]);
    else adam(&u, o, s, weights[i], grads[i]);
  }
}

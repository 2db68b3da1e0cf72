/* layers.c — the layers of the .nnd language as primitive ops: dense,
 * dropout, flatten and the elementwise functions. Each builtin gets its
 * arguments bound by name or position (elaborate.c) and returns the node of
 * its result, or -1 after a diagnostic. */
#include <string.h>

#include "elab.h"

int b_flatten(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  IrShape s = node(e, x)->shape;
  if (s.rank < 1 || s.dim[0] != IR_BATCH) {
    diag_error(a->call->loc, "'flatten' expects a batched tensor");
    return -1;
  }
  IrShape to = {2, {IR_BATCH, ir_numel(&s, 1)}};
  return ir_reshape(e->g, x, to, a->call->loc);
}

int b_dense(Elab *e, Args *a) {
  IrLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int64_t units;
  if (!int_arg(a->arg[1], 1, &units) | !want_rank(e, x, 2, a->arg[0], "the input of 'dense'"))
    return -1;
  const char *act = a->arg[2] ? word_arg(a->arg[2]) : "linear";
  int use_bias = bool_arg(a->arg[3], 1);
  if (!act || use_bias < 0) return -1;
  if (strcmp(act, "relu") != 0 && strcmp(act, "linear") != 0) {
    diag_error(a->arg[2]->loc, "unknown activation '%s' (expected relu or linear)", act);
    return -1;
  }
  char name[64];
  const char *layer = a->arg[4] ? word_arg(a->arg[4]) : NULL;
  e->ndense++;
  if (!layer) snprintf(name, sizeof name, "dense_%d", e->ndense), layer = name;
  char pname[96];
  snprintf(pname, sizeof pname, "%s.kernel", layer);
  int64_t in = node(e, x)->shape.dim[1];
  int w = ir_param(e->g, pname, IR_ROLE_WEIGHT, IR_INIT_GLOROT_UNIFORM, (IrShape){2, {in, units}}, loc);
  int y = ir_binary(e->g, IR_OP_MATMUL, x, w, loc);
  if (use_bias) {
    snprintf(pname, sizeof pname, "%s.bias", layer);
    int b = ir_param(e->g, pname, IR_ROLE_WEIGHT, IR_INIT_ZEROS, (IrShape){1, {units}}, loc);
    y = ir_binary(e->g, IR_OP_ADD, y, b, loc);
  }
  return strcmp(act, "relu") == 0 ? ir_unary(e->g, IR_OP_RELU, y, loc) : y;
}

/* Inverted dropout: keep each element with probability 1-rate and scale it by
 * 1/(1-rate), so inference is the identity. The mask comes from a counter-based
 * generator in the kernel, seeded per step by the runtime. */
int b_dropout(Elab *e, Args *a) {
  IrLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  double rate;
  if (!number_arg(a->arg[1], &rate) || x < 0) return -1;
  if (rate < 0 || rate >= 1) {
    diag_error(a->arg[1]->loc, "dropout rate must be in [0, 1), got %g", rate);
    return -1;
  }
  e->ndropout++;
  if (e->mode != FE_TRAINING || rate == 0) return x;
  if (e->seed < 0) e->seed = ir_input(e->g, "seed", IR_I32, (IrShape){0}, loc);
  int64_t stream[IR_MAX_ATTR] = {e->ndropout};
  int u = ir_emit_typed(e->g, IR_OP_RANDOM_UNIFORM, 1, &e->seed, stream, node(e, x)->shape, loc);
  int keep = ir_binary(e->g, IR_OP_GE, u, ir_const(e->g, rate, loc), loc);
  int mask = ir_binary(e->g, IR_OP_MUL, keep, ir_const(e->g, 1.0 / (1.0 - rate), loc), loc);
  return ir_binary(e->g, IR_OP_MUL, x, mask, loc);
}

int b_log_softmax(Elab *e, Args *a) {
  return ir_unary(e->g, IR_OP_LOG_SOFTMAX, elab_expr(e, a->arg[0]), a->call->loc);
}

int b_eltwise(Elab *e, Args *a) {
  const Builtin *b = fe_builtin(a->call->str);
  int x = elab_expr(e, a->arg[0]);
  if (ir_op_arity(b->op) == 1) return ir_unary(e->g, b->op, x, a->call->loc);
  return ir_binary(e->g, b->op, x, elab_expr(e, a->arg[1]), a->call->loc);
}


/* 1 / (1 + exp(-x)) */
int b_sigmoid(Elab *e, Args *a) {
  IrLoc l = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int den = ir_binary(e->g, IR_OP_ADD, cst(e, 1, l), ir_unary(e->g, IR_OP_EXP, ir_unary(e->g, IR_OP_NEG, x, l), l), l);
  return ir_binary(e->g, IR_OP_DIV, cst(e, 1, l), den, l);
}

/* 2 sigmoid(2x) - 1, which saturates instead of overflowing */
int b_tanh(Elab *e, Args *a) {
  IrLoc l = a->call->loc;
  int x2 = ir_binary(e->g, IR_OP_MUL, elab_expr(e, a->arg[0]), cst(e, 2, l), l);
  int den = ir_binary(e->g, IR_OP_ADD, cst(e, 1, l), ir_unary(e->g, IR_OP_EXP, ir_unary(e->g, IR_OP_NEG, x2, l), l), l);
  return ir_binary(e->g, IR_OP_SUB, ir_binary(e->g, IR_OP_DIV, cst(e, 2, l), den, l), cst(e, 1, l), l);
}

/* recurrent.c — simple_rnn, lstm and gru over sequences [B, T, features].
 *
 * For now the recurrence is unrolled: each of the T steps is a few primitive
 * ops on the step's slice of the sequence, every step reusing the same
 * weights (so autodiff sums their gradients over time, which is
 * backpropagation through time). The graph grows with T; codegen compiles
 * the steps' identical kernels once (module.c), so LLVM time barely does. A
 * scan op with its reverse for autodiff is the planned replacement. The gate
 * arithmetic is PyTorch's (torch.nn.RNN/LSTM/GRU, with the input and
 * recurrent biases folded into one for RNN and LSTM; GRU keeps the recurrent
 * bias of its candidate apart, as PyTorch and Keras's reset_after do). */
#include <string.h>

#include "elab.h"

typedef Builder R;

#define MAX_UNROLLED_STEPS 10000
static int sigmoid(R *r, int x) { return op1(r, IR_OP_SIGMOID, x); }

static int tanh_(R *r, int x) { /* 2 sigmoid(2x) - 1 */
  int two = konst(r, 2);
  int s = sigmoid(r, op2(r, IR_OP_MUL, x, two));
  int scaled = op2(r, IR_OP_MUL, s, two);
  return op2(r, IR_OP_SUB, scaled, konst(r, 1));
}

static int param(R *r, const char *layer, const char *what, PgInit init, PgShape shape) {
  char name[192];
  snprintf(name, sizeof name, "%s.%s", layer, what);
  return ir_param(r->e->g, name, PG_ROLE_WEIGHT, init, shape, r->l);
}

/* columns [from, from + n) of a [B, width] value */
static int cols(R *r, int x, int64_t from, int64_t n) {
  int64_t attr[IR_MAX_ATTR] = {1, from};
  return ir_emit_typed(r->e->g, IR_OP_SLICE, 1, &x, attr, (PgShape){2, {PG_BATCH, n}}, r->l);
}

/* step t of a sequence [B, T, D] as [B, D] */
static int step_input(R *r, int x, int64_t t) {
  PgShape s = node(r->e, x)->shape;
  int64_t attr[IR_MAX_ATTR] = {1, t};
  int one =
      ir_emit_typed(r->e->g, IR_OP_SLICE, 1, &x, attr, (PgShape){3, {PG_BATCH, 1, s.dim[2]}}, r->l);
  return ir_reshape(r->e->g, one, (PgShape){2, {PG_BATCH, s.dim[2]}}, r->l);
}

static int zeros(R *r, int64_t width) {
  int z = konst(r, 0);
  return ir_emit_typed(r->e->g, IR_OP_BROADCAST, 1, &z, NULL, (PgShape){2, {PG_BATCH, width}},
                       r->l);
}

/* appends h [B, H] to the sequence so far (or starts one): [B, t+1, H] */
static int append_step(R *r, int seq, int h, int64_t width) {
  int h3 = ir_reshape(r->e->g, h, (PgShape){3, {PG_BATCH, 1, width}}, r->l);
  int64_t time[IR_MAX_ATTR] = {1};
  return seq < 0 ? h3 : ir_emit(r->e->g, IR_OP_CONCAT, 2, (int[]){seq, h3}, time, r->l);
}

typedef enum { CELL_RNN, CELL_LSTM, CELL_GRU } Cell;

static const struct {
  const char *kind;
  int gates;
} cells[] = {{"simple_rnn", 1}, {"lstm", 4}, {"gru", 3}};

typedef struct {
  int w, u, b, bn; /* kernel [D, G*H], recurrent kernel [H, G*H], bias [G*H]; gru: recurrent bias of n [H] */
  int64_t units;
} Weights;

static int step(R *r, Cell cell, const Weights *w, int x, int *h, int *c) {
  int64_t H = w->units;
  int zx = op2(r, IR_OP_ADD, op2(r, IR_OP_MATMUL, x, w->w), w->b), zh = op2(r, IR_OP_MATMUL, *h, w->u);
  if (cell == CELL_RNN) return *h = tanh_(r, op2(r, IR_OP_ADD, zx, zh));
  if (cell == CELL_LSTM) { /* gates i, f, g, o */
    int z = op2(r, IR_OP_ADD, zx, zh);
    int i = sigmoid(r, cols(r, z, 0, H)), f = sigmoid(r, cols(r, z, H, H));
    int g = tanh_(r, cols(r, z, 2 * H, H)), o = sigmoid(r, cols(r, z, 3 * H, H));
    int fresh = op2(r, IR_OP_MUL, i, g);
    *c = op2(r, IR_OP_ADD, op2(r, IR_OP_MUL, f, *c), fresh);
    return *h = op2(r, IR_OP_MUL, o, tanh_(r, *c));
  }
  /* gru: gates r, z, n; n = tanh(x W_n + b_n + r (h U_n + b_hn)); h = (1 - z) n + z h */
  int h_r = cols(r, zh, 0, H);
  int rg = sigmoid(r, op2(r, IR_OP_ADD, cols(r, zx, 0, H), h_r));
  int h_z = cols(r, zh, H, H);
  int zg = sigmoid(r, op2(r, IR_OP_ADD, cols(r, zx, H, H), h_z));
  int h_n = op2(r, IR_OP_MUL, rg, op2(r, IR_OP_ADD, cols(r, zh, 2 * H, H), w->bn));
  int n = tanh_(r, op2(r, IR_OP_ADD, cols(r, zx, 2 * H, H), h_n));
  int kept = op2(r, IR_OP_MUL, zg, *h);
  return *h = op2(r, IR_OP_ADD, op2(r, IR_OP_MUL, op2(r, IR_OP_SUB, konst(r, 1), zg), n), kept);
}

static int recurrent(Elab *e, Args *a, Cell cell) {
  R r = {e, a->call->loc};
  int x = elab_expr(e, a->arg[0]);
  int64_t units;
  int seqs = bool_arg(a->arg[2], 0);
  if (!int_arg(a->arg[1], 1, &units) || x < 0 || seqs < 0) return -1;
  PgShape s = node(e, x)->shape;
  if (s.rank != 3 || s.dim[0] != PG_BATCH || node(e, x)->dtype != PG_F32) {
    diag_error(a->arg[0]->loc, "'%s' takes sequences [batch, steps, features]", a->call->str);
    return -1;
  }
  if (s.dim[1] > MAX_UNROLLED_STEPS) { /* ~90 nodes a step: bounded graphs and compile times */
    diag_error(a->arg[0]->loc, "'%s' over %lld steps: recurrences are unrolled, at most %d steps",
               a->call->str, (long long)s.dim[1], MAX_UNROLLED_STEPS);
    return -1;
  }
  char layer[128];
  const char *given = a->arg[3] ? word_arg(a->arg[3]) : NULL;
  int *count = cell == CELL_RNN ? &e->nrnn : cell == CELL_LSTM ? &e->nlstm : &e->ngru;
  ++*count;
  if (given) snprintf(layer, sizeof layer, "%s", given);
  else snprintf(layer, sizeof layer, "%s_%d", cells[cell].kind, *count);
  int64_t G = cells[cell].gates * units;
  Weights w = {.bn = -1, .units = units};
  w.w = param(&r, layer, "kernel", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {s.dim[2], G}});
  w.u = param(&r, layer, "recurrent_kernel", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {units, G}});
  w.b = param(&r, layer, "bias", PG_INIT_ZEROS, (PgShape){1, {G}});
  if (cell == CELL_GRU)
    w.bn = param(&r, layer, "recurrent_bias", PG_INIT_ZEROS, (PgShape){1, {units}});
  int h = zeros(&r, units), c = zeros(&r, units), seq = -1;
  for (int64_t t = 0; t < s.dim[1]; t++) {
    step(&r, cell, &w, step_input(&r, x, t), &h, &c);
    if (seqs) seq = append_step(&r, seq, h, units);
  }
  return seqs ? seq : h;
}

int b_simple_rnn(Elab *e, Args *a) { return recurrent(e, a, CELL_RNN); }
int b_lstm(Elab *e, Args *a) { return recurrent(e, a, CELL_LSTM); }
int b_gru(Elab *e, Args *a) { return recurrent(e, a, CELL_GRU); }

/* recurrent.c — simple_rnn, lstm and gru over sequences [B, T, features], as
 * scans (docs/ir.md): the graph and the compile time do not grow with T.
 *
 * The input projection x W + b of every step is one matmul over the whole
 * sequence, outside the loop; the scan's body is one step of the cell: the
 * carries h (and c), the step's slice of the projection, and the recurrent
 * weights as invariants. Autodiff differentiates the scan by a reverse scan
 * (backpropagation through time). The gate arithmetic is PyTorch's
 * (torch.nn.RNN/LSTM/GRU, with the input and recurrent biases folded into one
 * for RNN and LSTM; GRU keeps the recurrent bias of its candidate apart, as
 * PyTorch and Keras's reset_after do), with Keras's options: activation
 * (tanh) on the candidate and the output, recurrent_activation (sigmoid) on
 * the gates, go_backwards (the sequence returned in the order the steps ran,
 * as Keras does), return_sequences. */
#include <string.h>

#include "elab.h"

typedef enum { ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_LINEAR } Act;
typedef enum { CELL_RNN, CELL_LSTM, CELL_GRU } Cell;

static const struct {
  const char *kind;
  int gates, carries;
} cells[] = {{"simple_rnn", 1, 1}, {"lstm", 4, 2}, {"gru", 3, 1}};

/* nodes of one graph (the body, or the model's) at one location */
typedef struct {
  IrGraph *g;
  PgLoc l;
} B;

static int un(B *b, IrOp op, int x) { return ir_unary(b->g, op, x, b->l); }
static int bi(B *b, IrOp op, int x, int y) { return ir_binary(b->g, op, x, y, b->l); }
static int num(B *b, double v) { return ir_const(b->g, v, b->l); }

static int activate(B *b, Act act, int x) {
  switch (act) {
  case ACT_SIGMOID: return un(b, IR_OP_SIGMOID, x);
  case ACT_RELU: return un(b, IR_OP_RELU, x);
  case ACT_LINEAR: return x;
  case ACT_TANH: break;
  }
  int two = num(b, 2); /* 2 sigmoid(2x) - 1: saturates instead of overflowing */
  int s = un(b, IR_OP_SIGMOID, bi(b, IR_OP_MUL, x, two));
  int scaled = bi(b, IR_OP_MUL, s, two);
  return bi(b, IR_OP_SUB, scaled, num(b, 1));
}

/* activation=NAME: tanh, sigmoid, relu or linear; false after a diagnostic */
static bool act_arg(const AstExpr *x, Act dflt, Act *out) {
  static const char *names[] = {"tanh", "sigmoid", "relu", "linear"};
  const char *w = x ? word_arg(x) : names[dflt];
  if (!w) return false;
  for (int i = 0; i < 4; i++)
    if (strcmp(w, names[i]) == 0) return *out = (Act)i, true;
  diag_error(x->loc, "unknown activation '%s' (expected tanh, sigmoid, relu or linear)", w);
  return false;
}

typedef struct {
  Cell cell;
  int64_t units, steps, features;
  Act act, gate;    /* activation, recurrent_activation */
  bool sequences, backwards;
  bool aligned;     /* a backwards sequence in the input's order (bidirectional), not Keras's */
  int mask;         /* f32 [B, T], 1 for steps and 0 for padding; -1: none */
  char name[160];
} Layer;

/* columns [from, from + n) of a [B, width] value */
static int cols(B *b, int x, int64_t from, int64_t n) {
  int64_t attr[IR_MAX_ATTR] = {1, from};
  return ir_emit_typed(b->g, IR_OP_SLICE, 1, &x, attr, (PgShape){2, {PG_BATCH, n}}, b->l);
}

/* one step of the cell, in the body: zx = x_t W + b [B, G*H], u the
 * recurrent kernel, bn gru's candidate recurrent bias; updates h (and c) */
static void cell_step(B *b, const Layer *L, int zx, int u, int bn, int *h, int *c) {
  int64_t H = L->units;
  int zh = bi(b, IR_OP_MATMUL, *h, u);
  if (L->cell == CELL_RNN) {
    *h = activate(b, L->act, bi(b, IR_OP_ADD, zx, zh));
    return;
  }
  if (L->cell == CELL_LSTM) { /* gates i, f, g, o */
    int z = bi(b, IR_OP_ADD, zx, zh);
    int i = activate(b, L->gate, cols(b, z, 0, H)), f = activate(b, L->gate, cols(b, z, H, H));
    int g = activate(b, L->act, cols(b, z, 2 * H, H)),
        o = activate(b, L->gate, cols(b, z, 3 * H, H));
    int fresh = bi(b, IR_OP_MUL, i, g);
    *c = bi(b, IR_OP_ADD, bi(b, IR_OP_MUL, f, *c), fresh);
    *h = bi(b, IR_OP_MUL, o, activate(b, L->act, *c));
    return;
  }
  /* gru: gates r, z, n; n = act(x W_n + b_n + r (h U_n + b_hn)); h = (1 - z) n + z h */
  int h_r = cols(b, zh, 0, H);
  int rg = activate(b, L->gate, bi(b, IR_OP_ADD, cols(b, zx, 0, H), h_r));
  int h_z = cols(b, zh, H, H);
  int zg = activate(b, L->gate, bi(b, IR_OP_ADD, cols(b, zx, H, H), h_z));
  int h_n = bi(b, IR_OP_MUL, rg, bi(b, IR_OP_ADD, cols(b, zh, 2 * H, H), bn));
  int n = activate(b, L->act, bi(b, IR_OP_ADD, cols(b, zx, 2 * H, H), h_n));
  int kept = bi(b, IR_OP_MUL, zg, *h);
  *h = bi(b, IR_OP_ADD, bi(b, IR_OP_MUL, bi(b, IR_OP_SUB, num(b, 1), zg), n), kept);
}

static int weight(B *b, const Layer *L, const char *what, PgInit init, PgShape shape) {
  char name[192];
  snprintf(name, sizeof name, "%s.%s", L->name, what);
  return ir_param(b->g, name, PG_ROLE_WEIGHT, init, shape, b->l);
}

static int zeros(B *b, int64_t width) {
  int z = num(b, 0);
  return ir_emit_typed(b->g, IR_OP_BROADCAST, 1, &z, NULL, (PgShape){2, {PG_BATCH, width}}, b->l);
}

/* where the step is padding (m = 0), the carries pass through unchanged */
static void keep_masked(B *b, int m, int before, int *after) {
  if (m < 0 || *after < 0) return;
  int in[3] = {m, *after, before};
  *after = ir_emit(b->g, IR_OP_SELECT, 3, in, NULL, b->l);
}

/* the body: inputs h [c] zx [mask] U [bn], outputs h' [c'] [h' as the step's output] */
static bool build_body(IrGraph *body, const Layer *L, PgLoc loc) {
  B b = {body, loc};
  int64_t H = L->units, G = cells[L->cell].gates * H;
  int h = ir_input(body, "h", PG_F32, (PgShape){2, {PG_BATCH, H}}, loc), c = -1, bn = -1, m = -1;
  if (L->cell == CELL_LSTM) c = ir_input(body, "c", PG_F32, (PgShape){2, {PG_BATCH, H}}, loc);
  int zx = ir_input(body, "zx", PG_F32, (PgShape){2, {PG_BATCH, G}}, loc);
  if (L->mask >= 0) m = ir_input(body, "mask", PG_F32, (PgShape){2, {PG_BATCH, 1}}, loc);
  int u = ir_input(body, "recurrent_kernel", PG_F32, (PgShape){2, {H, G}}, loc);
  if (L->cell == CELL_GRU) bn = ir_input(body, "recurrent_bias", PG_F32, (PgShape){1, {H}}, loc);
  int h0 = h, c0 = c;
  cell_step(&b, L, zx, u, bn, &h, &c);
  keep_masked(&b, m, h0, &h);
  keep_masked(&b, m, c0, &c);
  bool ok = ir_output(body, "h", h, loc) >= 0;
  if (L->cell == CELL_LSTM) ok &= ir_output(body, "c", c, loc) >= 0;
  if (L->sequences) ok &= ir_output(body, "y", h, loc) >= 0;
  return ok;
}

/* the layer over x [B, T, D]: [B, H], or [B, T, H] with return_sequences */
static int scan_layer(Elab *e, const Layer *L, int x, PgLoc loc) {
  B b = {e->g, loc};
  int64_t H = L->units, G = cells[L->cell].gates * H;
  int w = weight(&b, L, "kernel", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {L->features, G}});
  int u = weight(&b, L, "recurrent_kernel", PG_INIT_GLOROT_UNIFORM, (PgShape){2, {H, G}});
  int bias = weight(&b, L, "bias", PG_INIT_ZEROS, (PgShape){1, {G}}), bn = -1;
  if (L->cell == CELL_GRU) bn = weight(&b, L, "recurrent_bias", PG_INIT_ZEROS, (PgShape){1, {H}});
  int zx = bi(&b, IR_OP_ADD, bi(&b, IR_OP_MATMUL, x, w), bias); /* every step's x W + b */
  IrGraph *body = ir_region_new(e->g, L->name, loc);
  if (!body || !build_body(body, L, loc)) return -1;
  int in[6], n = 0, carries = cells[L->cell].carries;
  for (int i = 0; i < carries; i++) in[n++] = zeros(&b, H);
  in[n++] = zx;
  if (L->mask >= 0) in[n++] = ir_reshape(e->g, L->mask, (PgShape){3, {PG_BATCH, L->steps, 1}}, loc);
  in[n++] = u;
  if (bn >= 0) in[n++] = bn;
  int64_t attr[IR_MAX_ATTR] = {L->steps, carries, 1 + (L->mask >= 0), L->backwards};
  int scan = ir_scan(e->g, body, n, in, attr, loc);
  int y = ir_result(e->g, scan, L->sequences ? carries : 0, loc);
  if (!L->sequences || !L->backwards || L->aligned) return y;
  int64_t time[IR_MAX_ATTR] = {
      1}; /* Keras: in the order the steps ran (the scan's is the input's) */
  return ir_emit(e->g, IR_OP_REVERSE, 1, &y, time, loc);
}

/* mask=m: f32 [B, T] of the layer's steps; -1 without one; false after a diagnostic */
static bool mask_arg(Elab *e, Args *a, Layer *L) {
  L->mask = -1;
  if (!a->arg[7]) return true;
  int m = elab_expr(e, a->arg[7]);
  if (m < 0) return false;
  PgShape s = node(e, m)->shape;
  if (s.rank == 2 && s.dim[0] == PG_BATCH && s.dim[1] == L->steps && node(e, m)->dtype == PG_F32) {
    L->mask = m;
    return true;
  }
  diag_error(a->arg[7]->loc,
             "'%s' takes mask= as f32 [batch, %lld]: 1 for each step, 0 for padding",
             a->call->str, (long long)L->steps);
  return false;
}

/* the call's arguments as a Layer over x; false after a diagnostic */
static bool layer_args(Elab *e, Args *a, Cell cell, Layer *L, int *x) {
  *L = (Layer){.cell = cell};
  *x = elab_expr(e, a->arg[0]);
  int seqs = bool_arg(a->arg[2], 0), back = bool_arg(a->arg[6], 0);
  if (!int_arg(a->arg[1], 1, &L->units) || *x < 0 || seqs < 0 || back < 0 ||
      !act_arg(a->arg[4], ACT_TANH, &L->act) || !act_arg(a->arg[5], ACT_SIGMOID, &L->gate))
    return false;
  PgShape s = node(e, *x)->shape;
  if (s.rank != 3 || s.dim[0] != PG_BATCH || node(e, *x)->dtype != PG_F32) {
    diag_error(a->arg[0]->loc, "'%s' takes sequences [batch, steps, features]", a->call->str);
    return false;
  }
  L->steps = s.dim[1], L->features = s.dim[2], L->sequences = seqs, L->backwards = back;
  const char *given = a->arg[3] ? word_arg(a->arg[3]) : NULL;
  int *count = cell == CELL_RNN ? &e->nrnn : cell == CELL_LSTM ? &e->nlstm : &e->ngru;
  ++*count;
  if (given) snprintf(L->name, sizeof L->name, "%.127s", given);
  else snprintf(L->name, sizeof L->name, "%s_%d", cells[cell].kind, *count);
  return elab_prefixed(e, L->name, sizeof L->name, a->call->loc) && mask_arg(e, a, L);
}

static int recurrent(Elab *e, Args *a, Cell cell) {
  Layer L;
  int x;
  return layer_args(e, a, cell, &L, &x) ? scan_layer(e, &L, x, a->call->loc) : -1;
}

int b_simple_rnn(Elab *e, Args *a) { return recurrent(e, a, CELL_RNN); }
int b_lstm(Elab *e, Args *a) { return recurrent(e, a, CELL_LSTM); }
int b_gru(Elab *e, Args *a) { return recurrent(e, a, CELL_GRU); }

/* bidirectional(layer, merge=concat|sum): the layer forwards and a copy of
 * it backwards (weights <name>.forward.*, <name>.backward.*), the backward
 * sequence aligned with the input, as Keras's Bidirectional */
int b_bidirectional(Elab *e, Args *a) {
  const AstExpr *inner = a->arg[0];
  static const char *kinds[] = {"simple_rnn", "lstm", "gru"};
  int cell = -1;
  for (int i = 0; inner->kind == AST_CALL && i < 3; i++)
    if (strcmp(inner->str, kinds[i]) == 0) cell = i;
  const char *merge = a->arg[1] ? word_arg(a->arg[1]) : "concat";
  if (cell < 0) {
    diag_error(inner->loc, "'bidirectional' wraps a call of simple_rnn, lstm or gru");
    return -1;
  }
  if (!merge || (strcmp(merge, "concat") != 0 && strcmp(merge, "sum") != 0)) {
    if (merge) diag_error(a->arg[1]->loc, "merge= is concat or sum, not '%s'", merge);
    return -1;
  }
  Args args;
  Layer fwd, bwd;
  int x;
  if (!elab_bind_args(fe_builtin(inner->str), inner, &args)) return -1;
  if (!layer_args(e, &args, cell, &fwd, &x)) return -1;
  bwd = fwd;
  bwd.backwards = !fwd.backwards;
  bwd.aligned = true;
  char base[sizeof fwd.name];
  snprintf(base, sizeof base, "%s", fwd.name);
  snprintf(fwd.name, sizeof fwd.name, "%.140s.forward", base);
  snprintf(bwd.name, sizeof bwd.name, "%.140s.backward", base);
  int f = scan_layer(e, &fwd, x, inner->loc), g = scan_layer(e, &bwd, x, inner->loc);
  if (f < 0 || g < 0) return -1;
  if (strcmp(merge, "sum") == 0) return ir_binary(e->g, IR_OP_ADD, f, g, a->call->loc);
  int64_t last[IR_MAX_ATTR] = {rank_of(e, f) - 1};
  return ir_emit(e->g, IR_OP_CONCAT, 2, (int[]){f, g}, last, a->call->loc);
}

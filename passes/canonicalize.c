/* canonicalize.c — local simplification: constant folding of arithmetic on
 * constants (scalars, and tensors: an elementwise op whose operands are all
 * const, iota or data becomes one data node, operands broadcast, if it has
 * at most IR_MAX_FOLD elements), and identities that hold exactly in IEEE
 * arithmetic (x*1, x/1, x-0, x+(-0), -(-x), reshape or broadcast to the same
 * shape, reshape of a reshape). Identities that are not exact (x+0 changes -0
 * to +0, x*0 is not 0 for NaN) are left alone: no fast-math. Folding
 * computes in float, as the kernels would. Folded nodes become constants in
 * place (ids stay valid); replaced nodes are removed by a final dce. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static bool is_const(const IrGraph *g, int v, double *value) {
  const IrNode *n = &g->nodes[v];
  if (n->op != IR_OP_CONST) return false;
  if (value) *value = n->value;
  return true;
}

static bool const_equal(const IrGraph *g, int v, double want) {
  double x;
  return is_const(g, v, &x) && x == want && signbit(x) == signbit(want);
}

/* the value of a FOLDABLE op (ops.h) on scalar constants a and b; false for
 * the others, which canonicalize never asks about */
static bool fold_value(IrOp op, float a, float b, float *out) {
  switch (op) {
  case IR_OP_NEG: *out = -a; return true;
  case IR_OP_EXP: *out = expf(a); return true;
  case IR_OP_LOG: *out = logf(a); return true;
  case IR_OP_SQRT: *out = sqrtf(a); return true;
  case IR_OP_RELU: *out = a < 0 ? 0 : a; return true;
  case IR_OP_ABS: *out = fabsf(a); return true;
  case IR_OP_FLOOR: *out = floorf(a); return true;
  case IR_OP_COS: *out = cosf(a); return true;
  case IR_OP_SIN: *out = sinf(a); return true;
  case IR_OP_SIGMOID: *out = 1 / (1 + expf(-a)); return true;
  case IR_OP_ADD: *out = a + b; return true;
  case IR_OP_SUB: *out = a - b; return true;
  case IR_OP_MUL: *out = a * b; return true;
  case IR_OP_DIV: *out = a / b; return true;
  case IR_OP_POW: *out = powf(a, b); return true;
  case IR_OP_GT: *out = a > b; return true;
  case IR_OP_GE: *out = a >= b; return true;
  case IR_OP_EQ: *out = a == b; return true;
  case IR_OP_ERF: *out = erff(a); return true;
  /* not FOLDABLE: the other elementwise ops, and all that are not elementwise */
  case IR_OP_MAX: case IR_OP_MIN: case IR_OP_RANDOM_UNIFORM: case IR_OP_SELECT: case IR_OP_CALL:
  case IR_OP_ASSIGN: case IR_OP_BROADCAST: case IR_OP_OUTPUT:
  case IR_OP_INPUT: case IR_OP_PARAM: case IR_OP_CONST: case IR_OP_BATCH_SIZE:
  case IR_OP_IOTA: case IR_OP_DATA: /* tensor constants */
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: case IR_OP_TRANSPOSE: case IR_OP_REVERSE:
  case IR_OP_SLICE:
  case IR_OP_UNSLICE: case IR_OP_CONCAT: case IR_OP_GATHER: case IR_OP_IM2COL: case IR_OP_COL2IM:
  case IR_OP_SCATTER_ADD: case IR_OP_MATMUL: case IR_OP_BATCH_MATMUL: case IR_OP_RESHAPE:
  case IR_OP_LOG_SOFTMAX: case IR_OP_ARGMAX: case IR_OP_ONE_HOT: case IR_OP_SCAN:
  case IR_OP_RESULT: case IR_OP_TO_F32: case IR_OP_TO_I32:
  case IR_OP_EDGE_GATHER: case IR_OP_SEGMENT_SUM: case IR_OP_SEGMENT_MAX:
  case IR_OP_COUNT: return false;
  }
  return false;
}

static bool all_constant(const IrGraph *g, const IrNode *n) {
  for (int k = 0; k < n->nin; k++)
    if (!(ir_op_flags(g->nodes[n->in[k]].op) & IR_CONSTANT)) return false;
  return n->nin > 0;
}

/* n's values over its shape, its operands broadcast (numpy rules) */
static void fold_values(const IrGraph *g, const IrNode *n, int64_t count, float *out) {
  const IrNode *a = &g->nodes[n->in[0]], *b = n->nin > 1 ? &g->nodes[n->in[1]] : a;
  int64_t at[PG_MAX_RANK] = {0};
  for (int64_t i = 0; i < count; i++) {
    float x = ir_constant_at(a, &n->shape, at);
    float y = ir_constant_at(b, &n->shape, at);
    fold_value(n->op, x, y, &out[i]);
    ir_index_next(&n->shape, at);
  }
}

/* all operands constant (scalars, iotas, data): the node becomes a scalar
 * const, or a data constant if it has at most IR_MAX_FOLD elements */
static bool fold(IrGraph *g, IrNode *n) {
  float scalar;
  if (!(ir_op_flags(n->op) & IR_FOLDABLE) || !all_constant(g, n)) return false;
  int64_t count = pg_numel(&n->shape, 1);
  if (count > IR_MAX_FOLD) return false;
  float *out = n->shape.rank ? ir_payload_new(g, count) : &scalar;
  if (!out) return false;
  fold_values(g, n, count, out);
  n->op = n->shape.rank ? IR_OP_DATA : IR_OP_CONST;
  n->nin = 0;
  memset(n->attr, 0, sizeof n->attr);
  n->value = n->shape.rank ? 0 : scalar;
  n->data = n->shape.rank ? out : NULL;
  return true;
}

/* the value a node is identical to, or -1 */
static int identity(const IrGraph *g, const IrNode *n) {
  int a = n->in[0], b = n->in[1];
  const IrNode *na = &g->nodes[a];
  bool same_type = n->nin && na->dtype == n->dtype && pg_shape_eq(&na->shape, &n->shape);
  switch (n->op) {
  case IR_OP_MUL:
    if (same_type && const_equal(g, b, 1)) return a;
    if (const_equal(g, a, 1) && g->nodes[b].dtype == n->dtype &&
        pg_shape_eq(&g->nodes[b].shape, &n->shape))
      return b;
    return -1;
  case IR_OP_DIV: return same_type && const_equal(g, b, 1) ? a : -1;
  case IR_OP_SUB: return same_type && const_equal(g, b, 0) ? a : -1;
  case IR_OP_ADD: return same_type && const_equal(g, b, -0.0) ? a : -1;
  case IR_OP_NEG: return na->op == IR_OP_NEG ? na->in[0] : -1;
  case IR_OP_REVERSE: return na->op == IR_OP_REVERSE && na->attr[0] == n->attr[0] ? na->in[0] : -1;
  case IR_OP_RESHAPE:
  case IR_OP_BROADCAST: return same_type ? a : -1;
  default: return -1;
  }
}

bool ps_canonicalize(IrGraph *g, const PsOptions *opt) {
  if (!ps_each_body(g, ps_canonicalize, opt)) return false;
  int *repl = malloc(((size_t)g->count + 1) * sizeof *repl), changed = 0;
  for (int i = 0; i < g->count; i++) {
    IrNode *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++) n->in[k] = repl[n->in[k]];
    repl[i] = i;
    if (n->op == IR_OP_RESHAPE && g->nodes[n->in[0]].op == IR_OP_RESHAPE) { /* view of a view */
      n->in[0] = g->nodes[n->in[0]].in[0];
      changed++;
    }
    int same = identity(g, n);
    if (same >= 0) repl[i] = same, changed++;
    else changed += fold(g, n);
  }
  free(repl);
  if (changed) ir_clear_schedule(g);
  return changed ? ps_dce(g, opt) : true;
}

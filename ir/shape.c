/* shape.c — the type rule of every op: dtype and shape of a node from its
 * operands and attributes. Broadcasting is numpy's (align trailing dims; a dim
 * of 1 stretches). The batch dimension IR_BATCH may only ever be dim 0 of a
 * result, and only stretches against 1. Errors are user errors: they are
 * reported at the node's source location. */
#include "ir.h"

static const char *tstr(const IrNode *n, char *buf, size_t len) {
  int w = snprintf(buf, len, "%s", n->dtype == IR_F32 ? "f32" : "i32");
  ir_shape_str(&n->shape, buf + w, len - w);
  return buf;
}

static bool want_f32(IrGraph *g, IrNode *n, int k) {
  IrNode *a = ir_node(g, n->in[k]);
  if (a->dtype == IR_F32) return true;
  diag_error(n->loc, "'%s' expects f32 operands, got i32", ir_op_name(n->op));
  return false;
}

static bool batch_only_leading(IrNode *n) {
  for (int i = 1; i < n->shape.rank; i++)
    if (n->shape.dim[i] == IR_BATCH) {
      diag_error(n->loc, "'%s' would move the batch dimension away from dimension 0",
                 ir_op_name(n->op));
      return false;
    }
  return true;
}

static bool broadcast(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  int r = a->shape.rank > b->shape.rank ? a->shape.rank : b->shape.rank;
  n->shape.rank = r;
  for (int i = 0; i < r; i++) {
    int ia = a->shape.rank - r + i, ib = b->shape.rank - r + i;
    int64_t da = ia >= 0 ? a->shape.dim[ia] : 1, db = ib >= 0 ? b->shape.dim[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[64], sb[64];
      diag_error(n->loc, "shape mismatch in '%s': cannot broadcast %s with %s", ir_op_name(n->op),
                 tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
      return false;
    }
    n->shape.dim[i] = da == 1 ? db : da;
  }
  return batch_only_leading(n);
}

static bool rule_binary(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  bool compare = n->op == IR_OP_GT || n->op == IR_OP_GE || n->op == IR_OP_EQ;
  if (compare ? a->dtype != b->dtype : !(want_f32(g, n, 0) && want_f32(g, n, 1))) {
    if (compare) diag_error(n->loc, "'%s' compares operands of different dtypes", ir_op_name(n->op));
    return false;
  }
  n->dtype = IR_F32;
  return broadcast(g, n);
}

static bool rule_matmul(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  if (!want_f32(g, n, 0) || !want_f32(g, n, 1)) return false;
  if (a->shape.rank != 2 || b->shape.rank != 2) {
    diag_error(n->loc, "'matmul' expects rank-2 operands, got rank %d and %d", a->shape.rank,
               b->shape.rank);
    return false;
  }
  int ta = n->attr[0] != 0, tb = n->attr[1] != 0;
  int64_t m = a->shape.dim[ta], ka = a->shape.dim[!ta];
  int64_t kb = b->shape.dim[tb], nn = b->shape.dim[!tb];
  if (ka != kb) {
    char sa[64], sb[64];
    diag_error(n->loc, "shape mismatch in 'matmul': %s times %s (inner dimensions differ)",
               tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
    return false;
  }
  n->dtype = IR_F32;
  n->shape = (IrShape){2, {m, nn}};
  return batch_only_leading(n);
}

static bool rule_reduce(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (!want_f32(g, n, 0)) return false;
  n->dtype = IR_F32;
  n->shape = a->shape;
  for (int i = 0; i < a->shape.rank; i++)
    if (n->attr[0] >> i & 1) n->shape.dim[i] = 1;
  if (n->attr[0] >> a->shape.rank) {
    diag_error(n->loc, "'reduce_sum' axis out of range for rank %d", a->shape.rank);
    return false;
  }
  return true;
}

static bool rule_reshape(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  n->dtype = a->dtype;
  bool batched_in = a->shape.rank > 0 && a->shape.dim[0] == IR_BATCH;
  bool batched_out = n->shape.rank > 0 && n->shape.dim[0] == IR_BATCH;
  if (batched_in != batched_out || ir_numel(&a->shape, 1) != ir_numel(&n->shape, 1)) {
    char sa[64], sb[64];
    diag_error(n->loc, "cannot reshape %s to %s", tstr(a, sa, sizeof sa), tstr(n, sb, sizeof sb));
    return false;
  }
  return batch_only_leading(n);
}

static bool rule_last_axis(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (!want_f32(g, n, 0)) return false;
  if (a->shape.rank < 1 || a->shape.dim[a->shape.rank - 1] == IR_BATCH) {
    diag_error(n->loc, "'%s' needs a static last dimension", ir_op_name(n->op));
    return false;
  }
  n->shape = a->shape;
  n->dtype = IR_F32;
  if (n->op == IR_OP_ARGMAX) {
    n->shape.rank--;
    n->dtype = IR_I32;
  }
  return true;
}

static bool rule_one_hot(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (a->dtype != IR_I32 || a->shape.rank >= IR_MAX_RANK || n->attr[0] < 1) {
    diag_error(n->loc, "'one_hot' expects integer labels and a positive depth");
    return false;
  }
  n->shape = a->shape;
  n->shape.dim[n->shape.rank++] = n->attr[0];
  n->dtype = IR_F32;
  return true;
}

static bool rule_assign(IrGraph *g, IrNode *n) {
  IrNode *p = ir_node(g, n->in[0]), *v = ir_node(g, n->in[1]);
  if (p->op != IR_OP_PARAM || !ir_shape_eq(&p->shape, &v->shape) || v->dtype != IR_F32) {
    diag_error(n->loc, "'assign' needs a parameter and an f32 value of its shape");
    return false;
  }
  n->dtype = IR_F32;
  n->shape = p->shape;
  return true;
}

static bool rule_broadcast_to(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  IrShape to = n->shape;
  n->dtype = a->dtype;
  int r = to.rank, ra = a->shape.rank;
  bool ok = ra <= r;
  for (int i = 0; ok && i < ra; i++) {
    int64_t d = a->shape.dim[ra - 1 - i];
    ok = d == 1 || d == to.dim[r - 1 - i];
  }
  if (!ok) {
    char sa[64], sb[64];
    diag_error(n->loc, "cannot broadcast %s to %s", tstr(a, sa, sizeof sa), tstr(n, sb, sizeof sb));
  }
  return ok && batch_only_leading(n);
}

bool ir_infer_type(IrGraph *g, IrNode *n) {
  switch (n->op) {
  case IR_OP_INPUT:
  case IR_OP_PARAM: return true;
  case IR_OP_CONST:
  case IR_OP_BATCH_SIZE: n->dtype = IR_F32; n->shape.rank = 0; return true;
  case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG: case IR_OP_SQRT: case IR_OP_RELU:
  case IR_OP_FLOOR: case IR_OP_COS: case IR_OP_SIN: case IR_OP_ABS:
    n->dtype = IR_F32;
    n->shape = ir_node(g, n->in[0])->shape;
    return want_f32(g, n, 0);
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV: case IR_OP_MAX: case IR_OP_MIN:
  case IR_OP_POW: case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ:
    return rule_binary(g, n);
  case IR_OP_RANDOM_UNIFORM:
    n->dtype = IR_F32;
    if (ir_node(g, n->in[0])->dtype == IR_I32 && ir_node(g, n->in[0])->shape.rank == 0) return batch_only_leading(n);
    diag_error(n->loc, "'random_uniform' takes its seed as an i32 scalar");
    return false;
  case IR_OP_ASSIGN: return rule_assign(g, n);
  case IR_OP_BROADCAST: return rule_broadcast_to(g, n);
  case IR_OP_OUTPUT:
    n->dtype = ir_node(g, n->in[0])->dtype;
    n->shape = ir_node(g, n->in[0])->shape;
    return true;
  case IR_OP_REDUCE_SUM: return rule_reduce(g, n);
  case IR_OP_MATMUL: return rule_matmul(g, n);
  case IR_OP_RESHAPE: return rule_reshape(g, n);
  case IR_OP_LOG_SOFTMAX:
  case IR_OP_ARGMAX: return rule_last_axis(g, n);
  case IR_OP_ONE_HOT: return rule_one_hot(g, n);
  case IR_OP_COUNT: break;
  }
  return false;
}

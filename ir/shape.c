/* shape.c — the type rule of every op: dtype and shape of a node from its
 * operands and attributes. Broadcasting is numpy's (align trailing dims; a dim
 * of 1 stretches). The batch dimension PG_BATCH may only ever be dim 0 of a
 * result, and only stretches against 1. Errors are user errors: they are
 * reported at the node's source location. */
#include "ir.h"

static const char *tstr(const IrNode *n, char *buf, size_t len) {
  int w = snprintf(buf, len, "%s", pg_dtype_name(n->dtype));
  pg_shape_str(&n->shape, buf + w, len - w);
  return buf;
}

static bool want_f32(IrGraph *g, IrNode *n, int k) {
  IrNode *a = ir_node(g, n->in[k]);
  if (a->dtype == PG_F32) return true;
  diag_error(n->loc, "'%s' expects f32 operands, got i32", ir_op_name(n->op));
  return false;
}

static bool batch_only_leading(IrNode *n) {
  for (int i = 1; i < n->shape.rank; i++)
    if (n->shape.dim[i] == PG_BATCH) {
      diag_error(n->loc, "'%s' would move the batch dimension away from dimension 0",
                 ir_op_name(n->op));
      return false;
    }
  return true;
}

/* numpy broadcasting of two shapes; false if they do not broadcast */
static bool broadcast_shapes(const PgShape *a, const PgShape *b, PgShape *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  out->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out->dim[i] = da == 1 ? db : da;
  }
  return true;
}

/* n's type: its operands k and l broadcast */
static bool broadcast(IrGraph *g, IrNode *n, int k, int l) {
  IrNode *a = ir_node(g, n->in[k]), *b = ir_node(g, n->in[l]);
  PgShape s;
  if (!broadcast_shapes(&a->shape, &b->shape, &s)) {
    char sa[64], sb[64];
    diag_error(n->loc, "shape mismatch in '%s': cannot broadcast %s with %s", ir_op_name(n->op),
               tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
    return false;
  }
  n->shape = s;
  return batch_only_leading(n);
}

static bool rule_binary(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  bool compare = n->op == IR_OP_GT || n->op == IR_OP_GE || n->op == IR_OP_EQ;
  if (compare ? a->dtype != b->dtype : !(want_f32(g, n, 0) && want_f32(g, n, 1))) {
    if (compare) diag_error(n->loc, "'%s' compares operands of different dtypes", ir_op_name(n->op));
    return false;
  }
  n->dtype = PG_F32;
  return broadcast(g, n, 0, 1);
}

/* matmul contracts the last axis of a (its leading axes, the batch among
 * them, are rows) with b [K, N] (or [N, K] when transpose_b):
 *   a [L..., K] x b -> [L..., N]
 * with transpose_a it contracts over all leading axes instead, which is what
 * the weight gradient needs: a [L..., M], b [L..., N] -> [M, N]. For rank 2
 * both are the usual A B, A^T B and A B^T. */
static bool rule_matmul(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  if (!want_f32(g, n, 0) || !want_f32(g, n, 1)) return false;
  int ta = n->attr[0] != 0, tb = n->attr[1] != 0, ra = a->shape.rank, rb = b->shape.rank;
  char sa[64], sb[64];
  if (!ta && (ra < 2 || rb != 2)) {
    diag_error(n->loc, "'matmul' multiplies a [..., K] by a [K, N] matrix, or two operands of "
               "rank >= 3 ([..., M, K] x [..., K, N]); got %s times %s",
               tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
    return false;
  }
  bool ok = ra >= 2 && (ta ? rb == ra && !tb : rb == 2);
  for (int i = 0; ok && ta && i < ra - 1; i++) ok = a->shape.dim[i] == b->shape.dim[i];
  int64_t k = ta ? 0 : a->shape.dim[ra - 1], kb = ta ? 0 : b->shape.dim[tb];
  if (!ok || k != kb) {
    diag_error(n->loc, "shape mismatch in 'matmul': %s times %s (inner dimensions differ)", tstr(a, sa, sizeof sa),
               tstr(b, sb, sizeof sb));
    return false;
  }
  n->dtype = PG_F32;
  if (ta) n->shape = (PgShape){2, {a->shape.dim[ra - 1], b->shape.dim[rb - 1]}};
  else n->shape = a->shape, n->shape.dim[ra - 1] = b->shape.dim[!tb];
  return batch_only_leading(n);
}

/* batch_matmul: one matrix product per index of the leading axes (the batch
 * among them), a [L..., M, K] x b [L..., K, N] -> [L..., M, N], any rank >= 3
 * with the same leading axes; transpose_a / transpose_b read a as [L..., K, M]
 * / b as [L..., N, K]. Leading axes of size 1 do not broadcast. */
static bool rule_batch_matmul(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  if (!want_f32(g, n, 0) || !want_f32(g, n, 1)) return false;
  int ta = n->attr[0] != 0, tb = n->attr[1] != 0, r = a->shape.rank;
  char sa[64], sb[64];
  if (r < 3 || b->shape.rank != r) {
    diag_error(n->loc, "'batch_matmul' takes two operands of the same rank >= 3 "
               "([L..., M, K] x [L..., K, N]), got %s times %s",
               tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
    return false;
  }
  bool ok = a->shape.dim[ta ? r - 2 : r - 1] == b->shape.dim[tb ? r - 1 : r - 2];
  for (int i = 0; ok && i < r - 2; i++) ok = a->shape.dim[i] == b->shape.dim[i];
  if (!ok) {
    diag_error(n->loc, "shape mismatch in 'batch_matmul': %s times %s (one [M,K] x [K,N] "
               "product per index of the leading axes, which must be equal)",
               tstr(a, sa, sizeof sa), tstr(b, sb, sizeof sb));
    return false;
  }
  n->dtype = PG_F32;
  n->shape = a->shape;
  n->shape.dim[r - 2] = a->shape.dim[ta ? r - 1 : r - 2];
  n->shape.dim[r - 1] = b->shape.dim[tb ? r - 2 : r - 1];
  return batch_only_leading(n);
}

/* to_f32 reads i32, to_i32 reads f32 */
static bool rule_cast(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  PgDType from = n->op == IR_OP_TO_F32 ? PG_I32 : PG_F32;
  n->dtype = n->op == IR_OP_TO_F32 ? PG_F32 : PG_I32;
  n->shape = a->shape;
  if (a->dtype == from) return true;
  diag_error(n->loc, "'%s' converts %s values, got %s", ir_op_name(n->op), pg_dtype_name(from),
             pg_dtype_name(a->dtype));
  return false;
}

static bool rule_reduce(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (!want_f32(g, n, 0)) return false;
  n->dtype = PG_F32;
  n->shape = a->shape;
  for (int i = 0; i < a->shape.rank; i++)
    if (n->attr[0] >> i & 1) n->shape.dim[i] = 1;
  if (n->attr[0] >> a->shape.rank) {
    diag_error(n->loc, "'%s' axis out of range for rank %d", ir_op_name(n->op), a->shape.rank);
    return false;
  }
  return true;
}

static bool rule_reshape(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  n->dtype = a->dtype;
  bool batched_in = a->shape.rank > 0 && a->shape.dim[0] == PG_BATCH;
  bool batched_out = n->shape.rank > 0 && n->shape.dim[0] == PG_BATCH;
  if (batched_in != batched_out || pg_numel(&a->shape, 1) != pg_numel(&n->shape, 1)) {
    char sa[64], sb[64];
    diag_error(n->loc, "cannot reshape %s to %s", tstr(a, sa, sizeof sa), tstr(n, sb, sizeof sb));
    return false;
  }
  return batch_only_leading(n);
}

static bool rule_last_axis(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (!want_f32(g, n, 0)) return false;
  if (a->shape.rank < 1 || a->shape.dim[a->shape.rank - 1] == PG_BATCH) {
    diag_error(n->loc, "'%s' needs a static last dimension", ir_op_name(n->op));
    return false;
  }
  n->shape = a->shape;
  n->dtype = PG_F32;
  if (n->op == IR_OP_ARGMAX) {
    n->shape.rank--;
    n->dtype = PG_I32;
  }
  return true;
}

static bool rule_one_hot(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  if (a->dtype != PG_I32 || a->shape.rank >= PG_MAX_RANK || n->attr[0] < 1 || n->attr[1] > 0 ||
      n->attr[1] < INT32_MIN) {
    diag_error(n->loc, "'one_hot' expects integer labels, a positive depth and a negative "
                       "ignored label (or 0: none)");
    return false;
  }
  n->shape = a->shape;
  n->shape.dim[n->shape.rank++] = n->attr[0];
  n->dtype = PG_F32;
  return true;
}

static bool rule_assign(IrGraph *g, IrNode *n) {
  IrNode *p = ir_node(g, n->in[0]), *v = ir_node(g, n->in[1]);
  if (p->op != IR_OP_PARAM || !pg_shape_eq(&p->shape, &v->shape) || v->dtype != PG_F32) {
    diag_error(n->loc, "'assign' needs a parameter and an f32 value of its shape");
    return false;
  }
  n->dtype = PG_F32;
  n->shape = p->shape;
  return true;
}

static bool rule_broadcast_to(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  PgShape to = n->shape;
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

static bool axis_ok(IrNode *n, const PgShape *s, int64_t axis) {
  if (axis >= 0 && axis < s->rank && s->dim[axis] != PG_BATCH) return true;
  diag_error(n->loc, "'%s': axis %lld is not a static axis of a rank-%d tensor", ir_op_name(n->op), (long long)axis, s->rank);
  return false;
}

/* transpose: output axis i is input axis (perm >> 4i) & 15 */
static bool rule_transpose(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  int seen = 0;
  n->dtype = a->dtype;
  n->shape.rank = a->shape.rank;
  for (int i = 0; i < a->shape.rank; i++) {
    int from = (int)(n->attr[0] >> (4 * i) & 15);
    if (from >= a->shape.rank || seen >> from & 1) {
      diag_error(n->loc, "'transpose': perm is not a permutation of %d axes", a->shape.rank);
      return false;
    }
    seen |= 1 << from;
    n->shape.dim[i] = a->shape.dim[from];
  }
  return batch_only_leading(n);
}

/* reverse: the order of one static axis flipped */
static bool rule_reverse(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  n->dtype = a->dtype;
  n->shape = a->shape;
  if (n->attr[0] >= 0 && n->attr[0] < a->shape.rank && a->shape.dim[n->attr[0]] != PG_BATCH)
    return true;
  diag_error(n->loc, "'reverse': axis %lld is not a static axis of rank %d", (long long)n->attr[0],
             a->shape.rank);
  return false;
}

/* slice: `len` (the result's size on axis, its declared type) from start;
 * unslice: the adjoint, placing the operand at start in zeros of its type */
static bool rule_slice(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  const PgShape *big = n->op == IR_OP_SLICE ? &a->shape : &n->shape,
                *small = n->op == IR_OP_SLICE ? &n->shape : &a->shape;
  int64_t axis = n->attr[0], start = n->attr[1];
  n->dtype = a->dtype;
  if (big->rank != small->rank) return diag_error(n->loc, "'%s' keeps the rank", ir_op_name(n->op)), false;
  if (!axis_ok(n, big, axis)) return false;
  for (int i = 0; i < big->rank; i++)
    if (i != axis && big->dim[i] != small->dim[i]) return diag_error(n->loc, "'%s' changes only its axis", ir_op_name(n->op)), false;
  if (start < 0 || small->dim[axis] < 1 || start + small->dim[axis] > big->dim[axis]) {
    diag_error(n->loc, "'%s': [%lld, %lld) is outside an axis of %lld", ir_op_name(n->op), (long long)start,
               (long long)(start + small->dim[axis]), (long long)big->dim[axis]);
    return false;
  }
  return true;
}

static bool rule_concat(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]), *b = ir_node(g, n->in[1]);
  int64_t axis = n->attr[0];
  bool ok = a->dtype == b->dtype && a->shape.rank == b->shape.rank && axis_ok(n, &a->shape, axis) &&
            axis_ok(n, &b->shape, axis);
  for (int i = 0; ok && i < a->shape.rank; i++) ok = i == axis || a->shape.dim[i] == b->shape.dim[i];
  if (!ok) {
    char sa[64], sb[64];
    diag_error(n->loc, "'concat' joins tensors that differ only on its axis, not %s and %s", tstr(a, sa, sizeof sa),
               tstr(b, sb, sizeof sb));
    return false;
  }
  n->dtype = a->dtype;
  n->shape = a->shape;
  n->shape.dim[axis] += b->shape.dim[axis];
  return true;
}

/* gather(table [V, D...], ids i32 [I...]) -> [I..., D...]; scatter_add(values
 * [I..., D...], ids [I...]) {rows = V} -> [V, D...] sums the rows ids pick */
static bool rule_gather(IrGraph *g, IrNode *n) {
  bool gather = n->op == IR_OP_GATHER;
  IrNode *t = ir_node(g, n->in[0]), *ids = ir_node(g, n->in[1]);
  const PgShape *rows = &t->shape;
  int tail = gather ? rows->rank - 1 : t->shape.rank - ids->shape.rank;
  if (ids->dtype != PG_I32 || t->dtype != PG_F32 || tail < 0 ||
      ids->shape.rank + tail > PG_MAX_RANK ||
      (gather && (rows->rank < 1 || rows->dim[0] == PG_BATCH)) || (!gather && n->attr[0] < 1)) {
    diag_error(n->loc, "'%s' takes an f32 table and i32 indices", ir_op_name(n->op));
    return false;
  }
  n->dtype = PG_F32;
  if (gather) {
    n->shape = ids->shape;
    for (int i = 0; i < tail; i++) n->shape.dim[n->shape.rank++] = rows->dim[1 + i];
  } else {
    for (int i = 0; i < ids->shape.rank; i++)
      if (t->shape.dim[i] != ids->shape.dim[i]) return diag_error(n->loc, "'scatter_add': values and indices differ"), false;
    n->shape.rank = 1 + tail;
    n->shape.dim[0] = n->attr[0];
    for (int i = 0; i < tail; i++) n->shape.dim[1 + i] = t->shape.dim[ids->shape.rank + i];
  }
  return batch_only_leading(n);
}

/* edge_gather(x [B, N, D...], ids i32 [B, E]) -> [B, E, D...]: row ids[b, e]
 * of example b; segment_sum/max(v [B, E, D...], ids [B, E]) {rows = N} ->
 * [B, N, D...] fold the rows of each example that ids send to one row */
static bool rule_segment(IrGraph *g, IrNode *n) {
  bool gather = n->op == IR_OP_EDGE_GATHER;
  IrNode *x = ir_node(g, n->in[0]), *ids = ir_node(g, n->in[1]);
  if (x->dtype != PG_F32 || ids->dtype != PG_I32 || x->shape.rank < 2 || ids->shape.rank != 2 ||
      x->shape.dim[0] != PG_BATCH || ids->shape.dim[0] != PG_BATCH ||
      (!gather && (x->shape.dim[1] != ids->shape.dim[1] || n->attr[0] < 1))) {
    diag_error(n->loc, "'%s' takes f32 [B, %s, ...] rows and i32 [B, E] indices%s",
               ir_op_name(n->op), gather ? "N" : "E", gather ? "" : " (E of both, rows >= 1)");
    return false;
  }
  n->dtype = PG_F32;
  n->shape = x->shape;
  n->shape.dim[1] = gather ? ids->shape.dim[1] : n->attr[0];
  return batch_only_leading(n);
}

/* the positions a window takes along one axis of `extent` pixels padded by
 * `before` and `after`: its `size` taps `dilation` apart span (size-1)*dilation
 * + 1 pixels; false when that span does not fit. Attributes are at most 2^36
 * (the parser's bound), so the sums do not overflow and the product is
 * computed only once it is known to fit. */
static bool window_positions(int64_t extent, const int64_t *w, int64_t before, int64_t after,
                             int64_t *out) {
  int64_t size = w[0], stride = w[1], dilation = w[2], padded = extent + before + after;
  if (padded < 1 || size - 1 > (padded - 1) / dilation) return false;
  *out = (padded - (size - 1) * dilation - 1) / stride + 1;
  return true;
}

/* the window's attributes are in range (ops.h) */
static bool window_attrs_ok(const int64_t *w) {
  bool ok = w[0] >= 1 && w[1] >= 1 && w[2] >= 1 && (w[7] == 0 || w[7] == 1);
  for (int i = 3; i < 7; i++) ok = ok && w[i] >= 0;
  return ok;
}

/* im2col: the patches of an image [B, H, W, C] (ops.h: size, stride,
 * dilation, four paddings, fill) as rows: [B, OH, OW, size*size*C], a
 * patch's values in (row, column, channel) order. col2im: its adjoint,
 * summing each patch value back into the image position it came from (its
 * result type is declared). */
static bool rule_im2col(IrGraph *g, IrNode *n) {
  IrNode *a = ir_node(g, n->in[0]);
  const PgShape *img = n->op == IR_OP_IM2COL ? &a->shape : &n->shape;
  const int64_t *w = n->attr;
  int64_t oh = 0, ow = 0, size = w[0], channels = img->rank == 4 ? img->dim[3] : 0;
  bool ok = a->dtype == PG_F32 && img->rank == 4 && img->dim[0] == PG_BATCH &&
            window_attrs_ok(w) && window_positions(img->dim[1], w, w[3], w[4], &oh) &&
            window_positions(img->dim[2], w, w[5], w[6], &ow) && channels >= 1 &&
            size <= PG_MAX_ELEMENTS / size && size * size <= PG_MAX_ELEMENTS / channels;
  if (!ok) {
    diag_error(n->loc, "'%s' needs an f32 image [B, height, width, channels] at least as large "
               "as its dilated window, size, stride and dilation >= 1, paddings >= 0 and "
               "fill 0 or 1", ir_op_name(n->op));
    return false;
  }
  PgShape cols = {4, {PG_BATCH, oh, ow, size * size * channels}};
  n->dtype = PG_F32;
  if (n->op == IR_OP_IM2COL) {
    n->shape = cols;
    return true;
  }
  if (!pg_shape_eq(&cols, &a->shape))
    return diag_error(n->loc, "'col2im': its operand is not the patches of its result"), false;
  return true;
}

/* select(cond, a, b): a where cond is nonzero, else b; all three broadcast */
static bool rule_select(IrGraph *g, IrNode *n) {
  if (!want_f32(g, n, 0) || !want_f32(g, n, 1) || !want_f32(g, n, 2) || !broadcast(g, n, 1, 2)) return false;
  PgShape values = n->shape;
  if (!broadcast_shapes(&ir_node(g, n->in[0])->shape, &values, &n->shape)) {
    diag_error(n->loc, "shape mismatch in 'select': the condition does not broadcast with the values");
    return false;
  }
  n->dtype = PG_F32;
  return batch_only_leading(n);
}

/* what body slot `slot` of a scan must hold, given operand (or result) type t:
 * a carry or invariant as it is, a sequence [B, T, ...] as one step [B, ...] */
static bool step_type(const IrNode *t, bool sequence, int64_t length, IrNode *out) {
  out->dtype = t->dtype;
  out->shape = t->shape;
  if (!sequence) return true;
  if (t->shape.rank < 2 || t->shape.dim[0] != PG_BATCH || t->shape.dim[1] != length) return false;
  for (int d = 1; d < t->shape.rank - 1; d++) out->shape.dim[d] = t->shape.dim[d + 1];
  out->shape.rank--;
  return true;
}

static bool same_type(const IrNode *a, const IrNode *b) {
  return a->dtype == b->dtype && pg_shape_eq(&a->shape, &b->shape);
}

static bool scan_error(IrNode *n, const char *what, int64_t slot) {
  diag_error(n->loc, "'scan': %s (slot %lld of its body)", what, (long long)slot);
  return false;
}

/* the body's signature against the operands (ir.h, "regions") */
static bool rule_scan(IrGraph *g, IrNode *n) {
  int64_t length = n->attr[0], carries = n->attr[1], seqs = n->attr[2];
  const IrGraph *b = n->body;
  if (!b || length < 1 || carries < 0 || seqs < 0 || carries + seqs > n->nin ||
      (n->attr[3] != 0 && n->attr[3] != 1)) {
    diag_error(n->loc, "'scan' needs a body, length >= 1, carries + sequences <= its %d "
               "operands, and reverse 0 or 1", n->nin);
    return false;
  }
  if (b->ninputs != n->nin || b->noutputs < carries)
    return scan_error(n, "its body must have an input per operand and an output per carry", 0);
  for (int i = 0; i < n->nin; i++) {
    int in = ir_slot_node(b, IR_OP_INPUT, i);
    IrNode want;
    bool seq = i >= carries && i < carries + seqs;
    if (!step_type(ir_node(g, n->in[i]), seq, length, &want))
      return scan_error(n, "a sequence operand is [B, length, ...]", i);
    if (in < 0 || !same_type(&b->nodes[in], &want))
      return scan_error(n, "a body input differs from its operand's (step) type", i);
  }
  for (int i = 0; i < b->noutputs; i++) {
    int out = ir_slot_node(b, IR_OP_OUTPUT, i);
    const IrNode *o = out < 0 ? NULL : &b->nodes[out];
    if (!o) return scan_error(n, "a body output slot is missing", i);
    if (i < carries && !same_type(o, &b->nodes[ir_slot_node(b, IR_OP_INPUT, i)]))
      return scan_error(n, "a next carry differs from its carry's type", i);
    if (i >= carries &&
        (o->shape.rank < 1 || o->shape.dim[0] != PG_BATCH || o->shape.rank == PG_MAX_RANK))
      return scan_error(n, "a per-step result is [B, ...] (of rank below 6)", i);
  }
  n->dtype = PG_F32;
  n->shape.rank = 0;
  return true;
}

/* result(scan){i}: final carry i, or sequence result i stacked over time */
static bool rule_result(IrGraph *g, IrNode *n) {
  const IrNode *s = ir_node(g, n->in[0]);
  int out = s->op == IR_OP_SCAN ? ir_slot_node(s->body, IR_OP_OUTPUT, n->attr[0]) : -1;
  if (out < 0) {
    diag_error(n->loc, "'result' reads a result of a scan: an index below its body's outputs");
    return false;
  }
  const IrNode *o = &s->body->nodes[out];
  n->dtype = o->dtype;
  n->shape = o->shape;
  if (n->attr[0] < s->attr[1]) return true;
  n->shape.rank++;
  for (int d = n->shape.rank - 1; d > 1; d--) n->shape.dim[d] = n->shape.dim[d - 1];
  n->shape.dim[1] = s->attr[0];
  return true;
}

/* iota and data: their declared shape, static and not too large */
static bool rule_constant(IrNode *n) {
  n->dtype = PG_F32;
  for (int d = 0; d < n->shape.rank; d++)
    if (n->shape.dim[d] == PG_BATCH) {
      diag_error(n->loc, "'%s' is a constant: it has no batch dimension", ir_op_name(n->op));
      return false;
    }
  if (pg_numel(&n->shape, 1) > IR_MAX_DATA) {
    diag_error(n->loc, "'%s' has more than %d elements", ir_op_name(n->op), IR_MAX_DATA);
    return false;
  }
  if (n->op != IR_OP_IOTA || (n->attr[0] >= 0 && n->attr[0] < n->shape.rank)) return true;
  if (n->shape.rank == 0) {
    diag_error(n->loc, "'iota' counts along an axis: its shape has rank 1 or more");
    return false;
  }
  diag_error(n->loc, "'iota' counts along an axis of its shape: 0 to %d, not %lld",
             n->shape.rank - 1, (long long)n->attr[0]);
  return false;
}

static bool infer(IrGraph *g, IrNode *n) {
  switch (n->op) {
  case IR_OP_INPUT:
  case IR_OP_PARAM: return true;
  case IR_OP_CONST:
  case IR_OP_BATCH_SIZE: n->dtype = PG_F32; n->shape.rank = 0; return true;
  case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG: case IR_OP_SQRT: case IR_OP_RELU:
  case IR_OP_FLOOR: case IR_OP_COS: case IR_OP_SIN: case IR_OP_ABS: case IR_OP_SIGMOID:
  case IR_OP_CALL: case IR_OP_ERF:
    n->dtype = PG_F32;
    n->shape = ir_node(g, n->in[0])->shape;
    return want_f32(g, n, 0);
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV: case IR_OP_MAX: case IR_OP_MIN:
  case IR_OP_POW: case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ:
    return rule_binary(g, n);
  case IR_OP_RANDOM_UNIFORM:
    n->dtype = PG_F32;
    if (ir_node(g, n->in[0])->dtype == PG_I32 && ir_node(g, n->in[0])->shape.rank == 0)
      return batch_only_leading(n);
    diag_error(n->loc, "'random_uniform' takes its seed as an i32 scalar");
    return false;
  case IR_OP_ASSIGN: return rule_assign(g, n);
  case IR_OP_BROADCAST: return rule_broadcast_to(g, n);
  case IR_OP_OUTPUT:
    n->dtype = ir_node(g, n->in[0])->dtype;
    n->shape = ir_node(g, n->in[0])->shape;
    return true;
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MAX: return rule_reduce(g, n);
  case IR_OP_TRANSPOSE: return rule_transpose(g, n);
  case IR_OP_REVERSE: return rule_reverse(g, n);
  case IR_OP_SLICE:
  case IR_OP_UNSLICE: return rule_slice(g, n);
  case IR_OP_CONCAT: return rule_concat(g, n);
  case IR_OP_GATHER:
  case IR_OP_SCATTER_ADD: return rule_gather(g, n);
  case IR_OP_SELECT: return rule_select(g, n);
  case IR_OP_IM2COL:
  case IR_OP_COL2IM: return rule_im2col(g, n);
  case IR_OP_MATMUL: return rule_matmul(g, n);
  case IR_OP_BATCH_MATMUL: return rule_batch_matmul(g, n);
  case IR_OP_RESHAPE: return rule_reshape(g, n);
  case IR_OP_LOG_SOFTMAX:
  case IR_OP_ARGMAX: return rule_last_axis(g, n);
  case IR_OP_ONE_HOT: return rule_one_hot(g, n);
  case IR_OP_SCAN: return rule_scan(g, n);
  case IR_OP_RESULT: return rule_result(g, n);
  case IR_OP_IOTA:
  case IR_OP_DATA: return rule_constant(n);
  case IR_OP_TO_F32:
  case IR_OP_TO_I32: return rule_cast(g, n);
  case IR_OP_EDGE_GATHER:
  case IR_OP_SEGMENT_SUM:
  case IR_OP_SEGMENT_MAX: return rule_segment(g, n);
  case IR_OP_COUNT: break;
  }
  return false;
}

bool ir_infer_type(IrGraph *g, IrNode *n) {
  if (!infer(g, n)) return false;
  if (pg_shape_fits(&n->shape)) return true;
  char t[128];
  diag_error(n->loc, "'%s' would make a tensor too large: %s has more than 2^36 elements per example",
             ir_op_name(n->op), tstr(n, t, sizeof t));
  return false;
}

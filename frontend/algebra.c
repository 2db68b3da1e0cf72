/* algebra.c — the tensor algebra of the language beyond the layers:
 * permute, matmul of batched operands of any rank, reductions over chosen
 * axes, softmax and log_softmax over an axis and under a mask, casts, erf,
 * gelu, and the activations dense takes by name.
 *
 * Axes: the batch axis is never named. Per-example axes count from 1, as
 * Keras's Permute does (axis 1 is the first after the batch), and negative
 * axes from the end (-1 is the last), as Python's. Every builtin returns its
 * result node, or -1 after a diagnostic at the argument that is wrong. */
#include <math.h>
#include <string.h>

#include "elab.h"

static PgShape shape_of(Elab *e, int x) { return node(e, x)->shape; }

/* an optional tensor argument: -2 when absent (or `none`), -1 after an error */
int fe_optional_tensor(Elab *e, const AstExpr *x) {
  if (!x || (x->kind == AST_NAME && strcmp(x->str, "none") == 0)) return -2;
  return elab_expr(e, x);
}

int axis_arg(const AstExpr *x, int r, const char *fn) {
  double v;
  if (!number_arg(x, &v)) return -1;
  if (v != floor(v) || v == 0 || v >= r || v < -(r - 1)) { /* checked before any cast */
    diag_error(x->loc, "'%s': axis %g is not a per-example axis of a rank-%d tensor (1..%d, "
               "or -1..-%d from the end; the batch axis is not one)", fn, v, r, r - 1, r - 1);
    return -1;
  }
  return (int)(v < 0 ? r + v : v);
}

/* an axis or a list of axes (absent: the last) as a bit set; 0 if wrong */
static int64_t axes_arg(Elab *e, int x, const AstExpr *arg, const AstExpr *call) {
  int r = rank_of(e, x);
  const char *fn = call->str;
  if (r < 2) return diag_error(call->loc, "'%s' needs a per-example axis", fn), 0;
  if (!arg) return (int64_t)1 << (r - 1);
  int64_t set = 0;
  int n = arg->kind == AST_LIST ? arg->nargs : 1;
  for (int i = 0; i < n; i++) {
    const AstExpr *one = arg->kind == AST_LIST ? arg->args[i] : arg;
    int axis = axis_arg(one, r, fn);
    if (axis < 0) return 0;
    if (set >> axis & 1) return diag_error(one->loc, "'%s': axis %d given twice", fn, axis), 0;
    set |= (int64_t)1 << axis;
  }
  if (!set) diag_error(arg->loc, "'%s': an empty list of axes", fn);
  return set;
}

/* ---- permute ---- */

/* permute(x, [a1, a2, ...]): output axis i (after the batch) is input axis ai */
int b_permute(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  const AstExpr *list = a->arg[1];
  if (x < 0) return -1;
  int r = rank_of(e, x);
  if (list->kind != AST_LIST || list->nargs != r - 1) {
    diag_error(list->loc, "'permute' takes a list of the %d per-example axes in their new order "
               "(like [2, 1]), numbered from 1", r - 1);
    return -1;
  }
  int64_t perm = 0, seen = 0;
  for (int i = 0; i < r - 1; i++) {
    int64_t axis;
    if (!int_arg(list->args[i], 1, &axis)) return -1;
    if (axis >= r || seen >> axis & 1) {
      diag_error(list->args[i]->loc, "'permute': the axes must be 1..%d, each once", r - 1);
      return -1;
    }
    seen |= (int64_t)1 << axis;
    perm |= axis << (4 * (i + 1));
  }
  int64_t attr[IR_MAX_ATTR] = {perm};
  return ir_emit(e->g, IR_OP_TRANSPOSE, 1, &x, attr, a->call->loc);
}

/* ---- matrix products ---- */

/* x broadcast to the leading axes `lead` (its last two axes kept) */
static int broadcast_lead(Elab *e, int x, const PgShape *lead, PgLoc loc) {
  PgShape s = shape_of(e, x), to = *lead;
  to.dim[to.rank++] = s.dim[s.rank - 2];
  to.dim[to.rank++] = s.dim[s.rank - 1];
  if (pg_shape_eq(&s, &to)) return x;
  return ir_emit_typed(e->g, IR_OP_BROADCAST, 1, &x, NULL, to, loc);
}

/* the numpy broadcast of the leading axes of two operands; false if none */
static bool lead_shape(const PgShape *sa, const PgShape *sb, PgShape *out) {
  int la = sa->rank - 2, lb = sb->rank - 2, r = la > lb ? la : lb;
  out->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = la - r + i, ib = lb - r + i;
    int64_t da = ia >= 0 ? sa->dim[ia] : 1, db = ib >= 0 ? sb->dim[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out->dim[i] = da == 1 ? db : da;
  }
  return true;
}

/* a @ b: with b a matrix (rank 2) the last axis of a contracts with it; with
 * both of rank >= 3 one product per index of the leading axes, which
 * broadcast (a missing axis or one of size 1 is copied, as torch.matmul) */
int fe_matmul(Elab *e, int l, int r, PgLoc loc) {
  if (l < 0 || r < 0) return -1;
  PgShape sa = shape_of(e, l), sb = shape_of(e, r), lead;
  if (sb.rank < 3 || sa.rank < 3) return ir_binary(e->g, IR_OP_MATMUL, l, r, loc);
  if (!lead_shape(&sa, &sb, &lead)) {
    char ta[64], tb[64];
    pg_shape_str(&sa, ta, sizeof ta);
    pg_shape_str(&sb, tb, sizeof tb);
    diag_error(loc, "shape mismatch in '@': the leading axes of %s and %s do not broadcast", ta,
               tb);
    return -1;
  }
  int x = broadcast_lead(e, l, &lead, loc);
  int y = broadcast_lead(e, r, &lead, loc);
  return ir_binary(e->g, IR_OP_BATCH_MATMUL, x, y, loc);
}

int b_matmul(Elab *e, Args *a) {
  int l = elab_expr(e, a->arg[0]);
  int r = elab_expr(e, a->arg[1]);
  return fe_matmul(e, l, r, a->call->loc);
}

/* ---- reductions ---- */

/* x without the axes in `set` (which have size 1 after a reduction) */
static int drop_axes(Elab *e, int x, int64_t set, PgLoc loc) {
  PgShape s = shape_of(e, x), to = {0};
  for (int i = 0; i < s.rank; i++)
    if (!(set >> i & 1)) to.dim[to.rank++] = s.dim[i];
  return ir_reshape(e->g, x, to, loc);
}

static int64_t count_of(Elab *e, int x, int64_t set) {
  PgShape s = shape_of(e, x);
  int64_t count = 1;
  for (int i = 0; i < s.rank; i++)
    if (set >> i & 1) count *= s.dim[i];
  return count;
}

/* sum, mean or max over the axes of axis= (the last if absent); keepdims */
static int reduce_axes(Elab *e, Args *a, IrOp op, bool mean) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  int64_t set = axes_arg(e, x, a->arg[1], a->call);
  int keep = bool_arg(a->arg[2], 0);
  if (!set || keep < 0) return -1;
  int64_t attr[IR_MAX_ATTR] = {set};
  int y = ir_emit(e->g, op, 1, &x, attr, loc);
  if (mean) {
    int count = cst(e, (double)count_of(e, x, set), loc);
    y = ir_binary(e->g, IR_OP_DIV, y, count, loc);
  }
  return keep ? y : drop_axes(e, y, set, loc);
}

int b_sum(Elab *e, Args *a) { return reduce_axes(e, a, IR_OP_REDUCE_SUM, false); }
int b_mean(Elab *e, Args *a) { return reduce_axes(e, a, IR_OP_REDUCE_SUM, true); }
int b_max(Elab *e, Args *a) { return reduce_axes(e, a, IR_OP_REDUCE_MAX, false); }

/* ---- softmax over an axis, under a mask ---- */

/* the largest float: a masked position's stand-in in the max (not -inf,
 * whose difference with itself is NaN) */
#define MASKED_LOW -3.4028234663852886e38

/* exp(x - max) over `axis`, zero where keep == 0 (keep < 0: no mask). The
 * exponent is 0 at masked positions, so neither it nor its gradient can
 * overflow whatever x holds there. */
static int shifted_exp(Builder *b, int x, int keep, int64_t axis) {
  int64_t attr[IR_MAX_ATTR] = {axis};
  int low = keep < 0 ? x : -1;
  if (keep >= 0) {
    int floor_value = konst(b, MASKED_LOW);
    low = ir_emit(b->e->g, IR_OP_SELECT, 3, (int[]){keep, x, floor_value}, NULL, b->l);
  }
  int top = ir_emit(b->e->g, IR_OP_REDUCE_MAX, 1, &low, attr, b->l);
  int z = op2(b, IR_OP_SUB, x, top);
  if (keep < 0) return op1(b, IR_OP_EXP, z);
  int zero = konst(b, 0);
  z = ir_emit(b->e->g, IR_OP_SELECT, 3, (int[]){keep, z, zero}, NULL, b->l);
  int ez = op1(b, IR_OP_EXP, z);
  int none = konst(b, 0);
  return ir_emit(b->e->g, IR_OP_SELECT, 3, (int[]){keep, ez, none}, NULL, b->l);
}

/* softmax over `axis` (a bit set of one axis) where keep != 0 (keep < 0: no
 * mask; keep broadcasts against x without growing it): masked
 * positions get exactly 0 and no gradient, a row with none kept is all 0 */
int fe_softmax(Elab *e, int x, int keep, int64_t axis, PgLoc loc) {
  if (x < 0) return -1;
  Builder b = {e, loc};
  int ex = shifted_exp(&b, x, keep, axis);
  int64_t attr[IR_MAX_ATTR] = {axis};
  int sum = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &ex, attr, loc);
  if (keep >= 0) { /* a row with nothing kept sums to 0: divide it by 1 */
    int zero = konst(&b, 0);
    int empty = op2(&b, IR_OP_EQ, sum, zero);
    sum = op2(&b, IR_OP_ADD, sum, empty);
  }
  return op2(&b, IR_OP_DIV, ex, sum);
}

/* the mask argument: f32 and broadcasting against x without growing it */
static int mask_arg(Elab *e, int x, const AstExpr *arg) {
  int m = fe_optional_tensor(e, arg);
  if (m < 0 || x < 0) return m;
  PgShape sx = shape_of(e, x), sm = shape_of(e, m);
  bool ok = node(e, m)->dtype == PG_F32 && sm.rank <= sx.rank;
  for (int i = 1; ok && i <= sm.rank; i++) {
    int64_t dm = sm.dim[sm.rank - i];
    ok = dm == 1 || dm == sx.dim[sx.rank - i];
  }
  if (ok) return m;
  char tm[64], tx[64];
  pg_shape_str(&sm, tm, sizeof tm);
  pg_shape_str(&sx, tx, sizeof tx);
  diag_error(arg->loc, "'mask' must be f32 and broadcast against the scores: %s against %s", tm,
             tx);
  return -1;
}

/* softmax(x, axis=-1, mask=none), log_softmax(x, axis=-1) */
int fe_softmax_call(Elab *e, Args *a, bool log) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  int64_t axis = axes_arg(e, x, a->arg[1], a->call);
  if (!axis) return -1;
  if (a->arg[1] && a->arg[1]->kind == AST_LIST && a->arg[1]->nargs != 1)
    return diag_error(a->arg[1]->loc, "'%s' takes one axis", a->call->str), -1;
  bool last = axis == (int64_t)1 << (rank_of(e, x) - 1);
  if (log) {
    if (last) return ir_unary(e->g, IR_OP_LOG_SOFTMAX, x, loc);
    Builder b = {e, loc};
    int ex = shifted_exp(&b, x, -1, axis);
    int64_t attr[IR_MAX_ATTR] = {axis};
    int sum = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &ex, attr, loc);
    int64_t top_axis[IR_MAX_ATTR] = {axis};
    int top = ir_emit(e->g, IR_OP_REDUCE_MAX, 1, &x, top_axis, loc);
    int z = op2(&b, IR_OP_SUB, x, top);
    return op2(&b, IR_OP_SUB, z, op1(&b, IR_OP_LOG, sum));
  }
  int keep = mask_arg(e, x, a->arg[2]);
  if (keep == -1) return -1;
  if (keep == -2 && last) {
    int ls = ir_unary(e->g, IR_OP_LOG_SOFTMAX, x, loc);
    return ir_unary(e->g, IR_OP_EXP, ls, loc);
  }
  return fe_softmax(e, x, keep == -2 ? -1 : keep, axis, loc);
}

/* ---- casts and elementwise functions ---- */

/* float(x): i32 to f32; int(x): f32 to i32 toward zero (saturating, NaN to 0) */
static int cast(Elab *e, Args *a, IrOp op, PgDType from) {
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  if (node(e, x)->dtype != from) {
    diag_error(a->arg[0]->loc, "'%s' converts %s values, got %s", a->call->str,
               pg_dtype_name(from), pg_dtype_name(node(e, x)->dtype));
    return -1;
  }
  return ir_unary(e->g, op, x, a->call->loc);
}

int b_float(Elab *e, Args *a) { return cast(e, a, IR_OP_TO_F32, PG_I32); }
int b_int(Elab *e, Args *a) { return cast(e, a, IR_OP_TO_I32, PG_F32); }

/* 2 sigmoid(2x) - 1, as b_tanh */
static int tanh_of(Builder *b, int x) {
  int two = konst(b, 2);
  int s = op1(b, IR_OP_SIGMOID, op2(b, IR_OP_MUL, x, two));
  int scaled = op2(b, IR_OP_MUL, s, two);
  return op2(b, IR_OP_SUB, scaled, konst(b, 1));
}

/* torch.nn.functional.gelu: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, or with
 * approximate="tanh" x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
int fe_gelu(Elab *e, int x, bool approximate, PgLoc loc) {
  Builder b = {e, loc};
  int inner;
  if (approximate) {
    int cube = op2(&b, IR_OP_MUL, op2(&b, IR_OP_MUL, x, x), x);
    int poly = op2(&b, IR_OP_ADD, x, op2(&b, IR_OP_MUL, cube, konst(&b, 0.044715)));
    inner = tanh_of(&b, op2(&b, IR_OP_MUL, poly, konst(&b, 0.7978845608028654)));
  } else {
    inner = op1(&b, IR_OP_ERF, op2(&b, IR_OP_MUL, x, konst(&b, 0.7071067811865476)));
  }
  int half_x = op2(&b, IR_OP_MUL, x, konst(&b, 0.5));
  return op2(&b, IR_OP_MUL, half_x, op2(&b, IR_OP_ADD, inner, konst(&b, 1)));
}

int b_gelu(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  const char *form = a->arg[1] ? word_arg(a->arg[1]) : "none";
  if (!form) return -1;
  bool approximate = strcmp(form, "tanh") == 0;
  if (!approximate && strcmp(form, "none") != 0)
    return diag_error(a->arg[1]->loc, "approximate is none or tanh, not '%s'", form), -1;
  if (x >= 0 && node(e, x)->dtype != PG_F32)
    return diag_error(a->arg[0]->loc, "'gelu' takes f32 values, got i32"), -1;
  return x < 0 ? -1 : fe_gelu(e, x, approximate, a->call->loc);
}

/* the activations dense and conv2d take by name (fe_activation_ok first) */
static const char *const activations[] = {"linear", "relu", "tanh", "sigmoid", "gelu", "softmax"};

bool fe_activation_ok(const char *act) {
  for (size_t i = 0; i < sizeof activations / sizeof *activations; i++)
    if (strcmp(act, activations[i]) == 0) return true;
  return false;
}

int fe_activation(Elab *e, int y, const char *act, PgLoc loc) {
  Builder b = {e, loc};
  if (y < 0 || strcmp(act, "linear") == 0) return y;
  if (strcmp(act, "relu") == 0) return op1(&b, IR_OP_RELU, y);
  if (strcmp(act, "sigmoid") == 0) return op1(&b, IR_OP_SIGMOID, y);
  if (strcmp(act, "tanh") == 0) return tanh_of(&b, y);
  if (strcmp(act, "gelu") == 0) return fe_gelu(e, y, false, loc);
  return op1(&b, IR_OP_EXP, op1(&b, IR_OP_LOG_SOFTMAX, y)); /* softmax over the last axis */
}

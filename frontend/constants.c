/* constants.c — the builtins that make constant tensors: arange, iota, ones,
 * zeros, full, eye, tril, triu, sinusoidal_encoding.
 *
 * A constant has no batch dimension and broadcasts against batched tensors
 * (numpy rules: trailing axes align). Each is built from the IR's constant
 * leaves (iota, data, const) and foldable elementwise ops, so canonicalize
 * turns each into one data node (when it has at most IR_MAX_FOLD elements;
 * a larger one is computed by its kernels, from iotas). Sizes are checked at
 * the argument that gives them: positive integers, at most IR_MAX_DATA
 * elements in all, at most PG_MAX_RANK axes. */
#include <math.h>
#include <stdlib.h>

#include "elab.h"

/* a constant's element count, checked where the sizes were written */
static bool count_ok(const PgShape *s, const AstExpr *at) {
  double count = 1;
  for (int d = 0; d < s->rank; d++) count *= (double)s->dim[d];
  if (count <= IR_MAX_DATA) return true;
  diag_error(at->loc, "a constant tensor has at most %d elements, this one %.0f", IR_MAX_DATA,
             count);
  return false;
}

/* one size argument: an integer >= 1 */
static bool size_arg(const AstExpr *x, int64_t *out) { return int_arg(x, 1, out); }

/* a shape written as a list of sizes: [d1, d2, ...] */
static bool shape_arg(const AstExpr *x, const char *fn, PgShape *s) {
  if (x->kind != AST_LIST || x->nargs < 1 || x->nargs > PG_MAX_RANK) {
    diag_error(x->loc, "'%s' takes a shape: a list of 1 to %d sizes, like [2, 3]", fn,
               PG_MAX_RANK);
    return false;
  }
  s->rank = 0;
  for (int i = 0; i < x->nargs; i++)
    if (!size_arg(x->args[i], &s->dim[s->rank++])) return false;
  return count_ok(s, x);
}

/* a shape of given sizes */
static PgShape shape2(int64_t a, int64_t b) { return (PgShape){2, {a, b}}; }

/* iota along `axis` of a rank-2 shape [a, b] */
static int iota2(Elab *e, int64_t a, int64_t b, int axis, PgLoc l) {
  return ir_iota(e->g, shape2(a, b), axis, l);
}

/* arange(n) or arange(start, stop, step=1): start + step * iota */
int b_arange(Elab *e, Args *a) {
  double start = 0, stop, step = 1;
  bool two = a->arg[1] != NULL;
  if (!number_arg(a->arg[0], two ? &start : &stop)) return -1;
  if (two && !number_arg(a->arg[1], &stop)) return -1;
  if (a->arg[2] && !number_arg(a->arg[2], &step)) return -1;
  if (step == 0) {
    diag_error(a->arg[2]->loc, "'arange' needs a step other than 0");
    return -1;
  }
  double len = ceil((stop - start) / step);
  if (!(len >= 1) || len > IR_MAX_DATA) {
    const AstExpr *stop_at = two ? a->arg[1] : a->arg[0];
    diag_error(stop_at->loc, "'arange' makes 1 to %d values, not %.0f", IR_MAX_DATA,
               isfinite(len) ? len : -1);
    return -1;
  }
  Builder b = {e, a->call->loc};
  PgShape s = {1, {(int64_t)len}};
  int i = ir_iota(e->g, s, 0, b.l);
  int scaled = op2(&b, IR_OP_MUL, i, konst(&b, step));
  return op2(&b, IR_OP_ADD, scaled, konst(&b, start));
}

/* iota([d1, ...], axis): the index along axis */
int b_iota(Elab *e, Args *a) {
  PgShape s;
  int64_t axis;
  if (!shape_arg(a->arg[0], "iota", &s) || !int_arg(a->arg[1], 0, &axis)) return -1;
  if (axis >= s.rank) {
    diag_error(a->arg[1]->loc, "'iota' counts along an axis of its shape: 0 to %d", s.rank - 1);
    return -1;
  }
  return ir_iota(e->g, s, (int)axis, a->call->loc);
}

/* a data constant of one value everywhere */
static int filled(Elab *e, const PgShape *s, float value, PgLoc l) {
  int64_t count = pg_numel(s, 1);
  float *values = pg_malloc((size_t)count * sizeof *values);
  if (!values) return -1;
  for (int64_t i = 0; i < count; i++) values[i] = value;
  int id = ir_data(e->g, *s, values, l);
  free(values);
  return id;
}

/* ones([dims]), zeros([dims]) and full([dims], value) */
int b_full(Elab *e, Args *a) {
  const char *fn = a->call->str;
  double value = fn[0] == 'o' ? 1 : 0;
  PgShape s;
  if (!shape_arg(a->arg[0], fn, &s)) return -1;
  if (a->arg[1] && !number_arg(a->arg[1], &value)) return -1;
  return filled(e, &s, (float)value, a->call->loc);
}

/* n, the size of a square constant, checked */
static bool square_arg(const AstExpr *x, int64_t *n) {
  if (!size_arg(x, n)) return false;
  PgShape s = shape2(*n, *n);
  return count_ok(&s, x);
}

/* eye(n): 1 where row == column */
int b_eye(Elab *e, Args *a) {
  int64_t n;
  if (!square_arg(a->arg[0], &n)) return -1;
  Builder b = {e, a->call->loc};
  int row = iota2(e, n, 1, 0, b.l);
  int col = iota2(e, 1, n, 1, b.l);
  return op2(&b, IR_OP_EQ, row, col);
}

/* tril(n, k=0): 1 where column <= row + k; triu(n, k=0): column >= row + k */
int b_tril(Elab *e, Args *a) {
  int64_t n;
  double k = 0;
  if (!square_arg(a->arg[0], &n)) return -1;
  if (a->arg[1] && !number_arg(a->arg[1], &k)) return -1;
  if (k != floor(k) || fabs(k) > 1e9) {
    diag_error(a->arg[1]->loc, "'%s' takes an integer diagonal offset k", a->call->str);
    return -1;
  }
  Builder b = {e, a->call->loc};
  int row = iota2(e, n, 1, 0, b.l);
  int col = iota2(e, 1, n, 1, b.l);
  int diagonal = op2(&b, IR_OP_ADD, row, konst(&b, k));
  if (a->call->str[3] == 'l') return op2(&b, IR_OP_GE, diagonal, col); /* tril */
  return op2(&b, IR_OP_GE, col, diagonal);
}

/* sinusoidal_encoding(T, d): PE[pos, j] = sin(pos / 10000^(2i/d)) for even
 * j = 2i, cos(...) for odd j = 2i+1 (Vaswani et al. 2017). The parity mask
 * picks sin or cos exactly: x * 1 + y * 0 is x for finite y. */
int b_sinusoidal_encoding(Elab *e, Args *a) {
  int64_t T, d;
  if (!size_arg(a->arg[0], &T) || !size_arg(a->arg[1], &d)) return -1;
  if (d % 2) {
    diag_error(a->arg[1]->loc, "'sinusoidal_encoding' needs an even d");
    return -1;
  }
  PgShape s = shape2(T, d);
  if (!count_ok(&s, a->call)) return -1;
  Builder b = {e, a->call->loc};
  int pos = iota2(e, T, 1, 0, b.l);
  int j = iota2(e, 1, d, 1, b.l);
  int half = op1(&b, IR_OP_FLOOR, op2(&b, IR_OP_DIV, j, konst(&b, 2)));
  int even = op2(&b, IR_OP_MUL, half, konst(&b, 2));       /* 2i */
  int odd = op2(&b, IR_OP_SUB, j, even);                   /* 1 for cos columns */
  int exponent = op2(&b, IR_OP_DIV, even, konst(&b, (double)d));
  int rate = op2(&b, IR_OP_POW, konst(&b, 10000), exponent);
  int angle = op2(&b, IR_OP_DIV, pos, rate);
  int keep_sin = op2(&b, IR_OP_SUB, konst(&b, 1), odd);
  int sin_part = op2(&b, IR_OP_MUL, op1(&b, IR_OP_SIN, angle), keep_sin);
  int cos_part = op2(&b, IR_OP_MUL, op1(&b, IR_OP_COS, angle), odd);
  return op2(&b, IR_OP_ADD, sin_part, cos_part);
}

/* decode.c — the decode pass: from the predict graph of a causal sequence
 * model, the step that computes one position p of the sequence from the keys
 * and values of the positions before it (a key/value cache), so that
 * generating a token costs O(T) instead of a whole window's O(T^2).
 *
 * The predict graph reads tokens i32 [B, T] (and maybe other inputs [B, T,
 * ...]: axis 1 is the sequence), and every value is one of:
 *   free       no sequence axis of its own (parameters, constants, ...);
 *   positional its axis q holds one row per position, computed from that
 *              position and earlier ones: the step computes row p alone
 *              (axis q of size 1);
 *   keyed      positional, and its axis k also runs over the positions (the
 *              scores of attention, [B, H, Tq, Tk]): the step keeps all T
 *              key positions of row p.
 * The rewrite, one forward walk:
 *   - an input [B, T, ...] becomes [B, 1, ...]; a new input "decode:position"
 *     i32 [B, 1] says which position that row is;
 *   - a free operand with T rows on a positional axis (the sinusoidal table,
 *     a learned position table, the rows of a causal mask) becomes its row p
 *     (a gather by position);
 *   - the positional operand that a batch_matmul reads over all positions
 *     (K in Q K^T, V in weights V) comes from a cache: an input
 *     "state:cache_N" [B, ..., T, ...] holding the rows computed before,
 *     with row p replaced by the new one (a select on the one-hot position),
 *     which is also the output "state:cache_N" that the caller passes back;
 *   - everything else is the same op on the smaller shapes.
 * Exactness: the step's rows p equal the predict graph's rows p when nothing
 * at key positions after p reaches a result. The pass proves that by
 * following what each keyed value holds at those positions (`future`):
 * values read from a cache's later rows (DEPENDS), values that do not depend
 * on them (CLEAN: a select on a causal mask constant puts its third operand
 * there), or zeros (ZERO). A reduction over k needs CLEAN, a product over k
 * needs ZERO; anything else that mixes positions (a reduction over q, a
 * reshape of k, attention without a causal mask) is refused with an error
 * at its line: such a model is not causal, or not in a form this pass knows.
 * A model without attention decodes with no cache at all. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef enum { FUTURE_DEPENDS, FUTURE_CLEAN, FUTURE_ZERO } Future;

typedef struct {
  int q, k;      /* the positional and the key axis, -1: none */
  Future future; /* with k >= 0: what the key positions after p hold */
} Axes;

static const Axes FREE = {-1, -1, FUTURE_CLEAN};

typedef struct {
  IrGraph *g;
  int n0;        /* the predict graph is nodes 0..n0-1; the step is appended after them */
  int64_t T;     /* the sequence length */
  Axes *axes;    /* per predict node */
  int *map;      /* predict node -> step node */
  int position;  /* the step's position input, -1 until one is needed */
  int ncaches;
} Decoder;

static bool refuse(const IrNode *n, const char *why) {
  diag_error(n->loc, "decode: '%s' %s, which one position at a time with key/value caches "
             "cannot compute (sample with --no-cache instead)", ir_op_name(n->op), why);
  return false;
}

static IrNode *old(Decoder *d, int i) { return &d->g->nodes[i]; }

/* T: axis 1 of the first token input (i32 [B, T]) that something reads;
 * -1 if the graph is a decode step already */
static int64_t sequence_length(const IrGraph *g) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_INPUT && strcmp(g->nodes[i].name, "decode:position") == 0)
      return -1;
  IrUses u = ir_uses(g);
  int64_t t = 0;
  for (int i = 0; u.start && i < g->count && !t; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OP_INPUT && n->dtype == PG_I32 && n->shape.rank == 2 &&
        u.start[i] < u.start[i + 1])
      t = n->shape.dim[1];
  }
  ir_uses_free(&u);
  return t;
}

/* a copy of predict node i on new operands, with its positional axis cut to
 * 1 in its declared shape (reshape, slice, broadcast); its type comes from
 * the shape rules. d->axes[i] is set. */
static int emit_like(Decoder *d, int i, const int *in) {
  IrNode n = *old(d, i);
  int q = d->axes[i].q;
  for (int k = 0; k < n.nin; k++) n.in[k] = in[k];
  if (q >= 0) n.shape.dim[q] = 1;
  n.group = -1, n.offset = -1;
  int id = ir_append_node(d->g, &n);
  if (id < 0 || !ir_infer_type(d->g, &d->g->nodes[id])) return -1;
  return id;
}

static int position(Decoder *d, PgLoc loc) {
  if (d->position < 0)
    d->position = ir_input(d->g, "decode:position", PG_I32, (PgShape){2, {PG_BATCH, 1}}, loc);
  return d->position;
}

/* [B, 1, ..., T at `axis`, 1, ...] of rank r: 1 at the position, else 0 */
static int position_one_hot(Decoder *d, int r, int axis, PgLoc loc) {
  int64_t depth[IR_MAX_ATTR] = {d->T};
  int p = position(d, loc);
  int hot = ir_emit(d->g, IR_OP_ONE_HOT, 1, &p, depth, loc);
  PgShape s = {r, {PG_BATCH}};
  for (int a = 1; a < r; a++) s.dim[a] = a == axis ? d->T : 1;
  return ir_reshape(d->g, hot, s, loc);
}

/* free operand t (step node) whose axis `ta` has T rows, aligned with axis
 * q of a rank-r result: its row p as [B, 1, ..., 1 at q, rest of t] */
static int table_row(Decoder *d, int t, int ta, int q, int r, PgLoc loc) {
  PgShape s = d->g->nodes[t].shape;
  for (int a = 0; a < ta; a++)
    if (s.dim[a] != 1) return -2;
  if (q - ta < 1) return -2; /* the table would cover the batch axis */
  PgShape rows = {.rank = s.rank - ta};
  memcpy(rows.dim, s.dim + ta, (size_t)rows.rank * sizeof *rows.dim);
  int table = ta ? ir_reshape(d->g, t, rows, loc) : t;
  int row = ir_emit(d->g, IR_OP_GATHER, 2, (int[]){table, position(d, loc)}, NULL, loc);
  PgShape out = {r, {PG_BATCH}};
  for (int a = 1; a <= q; a++) out.dim[a] = 1;
  for (int a = 1; a < rows.rank; a++) out.dim[q + a] = rows.dim[a];
  return ir_reshape(d->g, row, out, loc);
}

/* the full [.., T at q, ..] value of positional predict node b, from the
 * cache and the new row: a cache input, the select, the cache output */
static int cached(Decoder *d, int b, int q, PgLoc loc) {
  char name[32];
  snprintf(name, sizeof name, "state:cache_%d", d->ncaches++);
  PgShape full = old(d, b)->shape;
  int cache = ir_input(d->g, name, PG_F32, full, loc);
  int hot = position_one_hot(d, full.rank, q, loc);
  int all = ir_emit(d->g, IR_OP_SELECT, 3, (int[]){hot, d->map[b], cache}, NULL, loc);
  if (ir_output(d->g, name, all, loc) < 0) return -1;
  return all;
}

/* whether data node c, aligned with result axes q and k, keeps no key after
 * its query: [T, T] with c[i][j] == 0 for j > i */
static bool causal_constant(const IrNode *c, int off, int q, int k, int64_t T) {
  if (c->op != IR_OP_DATA || c->shape.rank != 2 || q - off != 0 || k - off != 1 ||
      c->shape.dim[0] != T || c->shape.dim[1] != T)
    return false;
  for (int64_t i = 0; i < T; i++)
    for (int64_t j = i + 1; j < T; j++)
      if (c->data[i * T + j] != 0) return false;
  return true;
}

static bool zero_constant(const IrNode *n) { return n->op == IR_OP_CONST && n->value == 0; }

/* what an elementwise op's key positions after p hold */
static Future eltwise_future(Decoder *d, const IrNode *n, const Axes *in, Axes res) {
  int r = n->shape.rank;
  if (n->op == IR_OP_SELECT && in[0].q < 0) {
    const IrNode *c = old(d, n->in[0]);
    if (causal_constant(c, r - c->shape.rank, res.q, res.k, d->T))
      return in[2].k >= 0 ? in[2].future
             : zero_constant(old(d, n->in[2])) ? FUTURE_ZERO : FUTURE_CLEAN;
  }
  bool zero = false, depends = false;
  for (int k = 0; k < n->nin; k++) {
    bool z = in[k].k >= 0 ? in[k].future == FUTURE_ZERO : zero_constant(old(d, n->in[k]));
    zero |= z && (n->op == IR_OP_MUL || (n->op == IR_OP_DIV && k == 0));
    depends |= in[k].k >= 0 && in[k].future == FUTURE_DEPENDS;
  }
  return zero ? FUTURE_ZERO : depends ? FUTURE_DEPENDS : FUTURE_CLEAN;
}

/* an elementwise op: operands align from the right (numpy) */
static bool decode_eltwise(Decoder *d, int i, const IrNode *n) {
  int r = n->shape.rank;
  Axes in[IR_MAX_IN], res = FREE;
  for (int k = 0; k < n->nin; k++) {
    in[k] = d->axes[n->in[k]];
    int off = r - old(d, n->in[k])->shape.rank;
    if (in[k].q >= 0 && res.q >= 0 && in[k].q + off != res.q) return refuse(n, "mixes positions");
    if (in[k].k >= 0 && res.k >= 0 && in[k].k + off != res.k) return refuse(n, "mixes keys");
    if (in[k].q >= 0) res.q = in[k].q + off;
    if (in[k].k >= 0) res.k = in[k].k + off;
  }
  if (res.k >= 0 && n->op == IR_OP_OUTPUT) return refuse(n, "returns scores over all positions");
  if (res.k >= 0) res.future = eltwise_future(d, n, in, res);
  int ops[IR_MAX_IN];
  for (int k = 0; k < n->nin; k++) {
    const IrNode *o = old(d, n->in[k]);
    int off = r - o->shape.rank, ta = res.q - off;
    ops[k] = d->map[n->in[k]];
    if (in[k].q >= 0 || res.q < 0 || ta < 0 || o->shape.dim[ta] != d->T) continue;
    ops[k] = table_row(d, ops[k], ta, res.q, r, n->loc);
    if (ops[k] == -2) return refuse(n, "reads a table of positions that is not [T, ...]");
  }
  d->axes[i] = res;
  d->map[i] = emit_like(d, i, ops);
  return d->map[i] >= 0;
}

static bool decode_reduce(Decoder *d, int i, const IrNode *n) {
  Axes a = d->axes[n->in[0]];
  if (a.q >= 0 && (n->attr[0] >> a.q & 1)) return refuse(n, "reduces over the positions");
  if (a.k >= 0 && (n->attr[0] >> a.k & 1)) {
    if (a.future == FUTURE_DEPENDS) return refuse(n, "reads positions after its own");
    a.k = -1;
  }
  d->axes[i] = a;
  d->map[i] = emit_like(d, i, &d->map[n->in[0]]);
  return d->map[i] >= 0;
}

static bool decode_transpose(Decoder *d, int i, const IrNode *n) {
  Axes a = d->axes[n->in[0]], res = a;
  for (int o = 0; o < n->shape.rank; o++) {
    int from = (int)(n->attr[0] >> (4 * o) & 15);
    if (from == a.q) res.q = o;
    if (from == a.k) res.k = o;
  }
  d->axes[i] = res;
  d->map[i] = emit_like(d, i, &d->map[n->in[0]]);
  return d->map[i] >= 0;
}

/* the product of dims [from, to) past the batch axis */
static int64_t dims_product(const PgShape *s, int from, int to) {
  int64_t p = 1;
  for (int a = from; a < to; a++) p *= s->dim[a];
  return p;
}

/* a reshape keeps the positional axis when the same elements come before
 * it; it may not merge it with another axis */
static bool decode_reshape(Decoder *d, int i, const IrNode *n) {
  const IrNode *x = old(d, n->in[0]);
  Axes a = d->axes[n->in[0]], res = a;
  if (a.k >= 0) return refuse(n, "reshapes scores over all positions");
  if (a.q >= 0) {
    res.q = -1;
    bool batched = x->shape.dim[0] == PG_BATCH && n->shape.dim[0] == PG_BATCH;
    int64_t before = dims_product(&x->shape, 1, a.q);
    for (int o = 1; batched && o < n->shape.rank && res.q < 0; o++)
      if (dims_product(&n->shape, 1, o) == before && n->shape.dim[o] == d->T) res.q = o;
    if (res.q < 0) return refuse(n, "merges the positions with another axis");
  }
  d->axes[i] = res;
  d->map[i] = emit_like(d, i, &d->map[n->in[0]]);
  return d->map[i] >= 0;
}

/* x @ W over the last axis (ta = 0): the rows stay where they are */
static bool decode_matmul(Decoder *d, int i, const IrNode *n) {
  Axes a = d->axes[n->in[0]], b = d->axes[n->in[1]];
  if (b.q >= 0 || a.k >= 0 || (a.q >= 0 && (n->attr[0] || a.q == n->shape.rank - 1)))
    return refuse(n, "multiplies over the positions");
  d->axes[i] = a;
  d->map[i] = emit_like(d, i, (int[]){d->map[n->in[0]], d->map[n->in[1]]});
  return d->map[i] >= 0;
}

/* attention's two products, [L..., M, K] x [L..., K, N] per leading index:
 *   Q K^T: a positional on M, b positional on N: keyed scores, b cached
 *   W V:   a keyed on K (zero after p), b positional on K: b cached */
static bool decode_batch_matmul(Decoder *d, int i, const IrNode *n) {
  Axes a = d->axes[n->in[0]], b = d->axes[n->in[1]], res = FREE;
  int r = n->shape.rank, ta = n->attr[0] != 0, tb = n->attr[1] != 0;
  int a_rows = ta ? r - 1 : r - 2, a_inner = ta ? r - 2 : r - 1;
  int b_inner = tb ? r - 1 : r - 2, b_cols = tb ? r - 2 : r - 1;
  int ops[2] = {d->map[n->in[0]], d->map[n->in[1]]};
  if (a.q == a_rows && a.k < 0 && b.q < 0) {
    res.q = r - 2;
  } else if (a.q == a_rows && a.k < 0 && b.q == b_cols) {
    res = (Axes){r - 2, r - 1, FUTURE_DEPENDS};
    ops[1] = cached(d, n->in[1], b.q, n->loc);
  } else if (a.q == a_rows && a.k == a_inner && b.q == b_inner) {
    if (a.future != FUTURE_ZERO) return refuse(n, "reads positions after its own");
    res.q = r - 2;
    ops[1] = cached(d, n->in[1], b.q, n->loc);
  } else if (a.q >= 0 || a.k >= 0 || b.q >= 0) {
    return refuse(n, "multiplies over the positions in a way attention does not");
  }
  d->axes[i] = res;
  d->map[i] = emit_like(d, i, ops);
  return d->map[i] >= 0;
}

/* ops that keep the positional axis where it is, when they do not work on it */
static bool decode_rowwise(Decoder *d, int i, const IrNode *n) {
  Axes a = d->axes[n->in[0]];
  int last = n->shape.rank - 1;
  bool along_q = n->op == IR_OP_SLICE || n->op == IR_OP_UNSLICE ? n->attr[0] == a.q
                 : n->op == IR_OP_LOG_SOFTMAX || n->op == IR_OP_ARGMAX ? a.q == last
                                                                       : false;
  if (a.k >= 0 || along_q) return refuse(n, "works along the positions");
  if (n->op == IR_OP_GATHER && a.q >= 0) return refuse(n, "indexes a table of positions");
  if (n->op == IR_OP_GATHER) a = d->axes[n->in[1]];
  d->axes[i] = a;
  int ops[IR_MAX_IN];
  for (int k = 0; k < n->nin; k++) ops[k] = d->map[n->in[k]];
  d->map[i] = emit_like(d, i, ops);
  return d->map[i] >= 0;
}

static bool decode_leaf(Decoder *d, int i) {
  IrNode n = *old(d, i);
  d->axes[i] = FREE;
  if (n.op == IR_OP_INPUT && n.shape.rank >= 2 && n.shape.dim[1] == d->T) {
    d->axes[i].q = 1;
    n.shape.dim[1] = 1;
  }
  d->map[i] = ir_append_node(d->g, &n);
  return d->map[i] >= 0;
}

/* ops the pass copies as they are while they read no positional value */
static bool decode_other(Decoder *d, int i, const IrNode *n) {
  int ops[IR_MAX_IN];
  for (int k = 0; k < n->nin; k++) {
    if (d->axes[n->in[k]].q >= 0) return refuse(n, "works along the positions");
    ops[k] = d->map[n->in[k]];
  }
  d->axes[i] = FREE;
  d->map[i] = emit_like(d, i, ops);
  return d->map[i] >= 0;
}

static bool decode_node(Decoder *d, int i) {
  const IrNode n = *old(d, i); /* appending moves the nodes */
  if (n.op == IR_OP_ASSIGN) return refuse(&n, "updates a parameter: decode a predict graph");
  if (ir_op_kind(n.op) == IR_KIND_LEAF) return decode_leaf(d, i);
  if (ir_op_kind(n.op) == IR_KIND_ELTWISE) return decode_eltwise(d, i, &n);
  switch (n.op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MAX: return decode_reduce(d, i, &n);
  case IR_OP_TRANSPOSE: return decode_transpose(d, i, &n);
  case IR_OP_RESHAPE: return decode_reshape(d, i, &n);
  case IR_OP_MATMUL: return decode_matmul(d, i, &n);
  case IR_OP_BATCH_MATMUL: return decode_batch_matmul(d, i, &n);
  case IR_OP_SLICE:
  case IR_OP_UNSLICE:
  case IR_OP_GATHER:
  case IR_OP_LOG_SOFTMAX:
  case IR_OP_ARGMAX:
  case IR_OP_ONE_HOT: return decode_rowwise(d, i, &n);
  default: return decode_other(d, i, &n);
  }
}

bool ps_decode(IrGraph *g, const PsOptions *opt) {
  (void)opt;
  Decoder d = {g, g->count, sequence_length(g), NULL, NULL, -1, 0};
  if (d.T < 0) {
    diag_error((PgLoc){0}, "decode: the graph is a decode step already");
    return false;
  }
  if (d.T == 0) {
    diag_error((PgLoc){0}, "decode: the graph reads no tokens (an i32 input [B, T]): it is "
               "not a language model");
    return false;
  }
  d.axes = pg_calloc((size_t)d.n0 + 1, sizeof *d.axes);
  d.map = pg_calloc((size_t)d.n0 + 1, sizeof *d.map);
  bool ok = d.axes && d.map;
  for (int i = 0; ok && i < d.n0; i++) ok = decode_node(&d, i);
  bool *step = ok ? pg_calloc((size_t)g->count, sizeof *step) : NULL;
  for (int i = d.n0; step && i < g->count; i++) step[i] = true; /* the step alone */
  if (step) ps_keep_nodes(g, step);
  free(step);
  free(d.axes);
  free(d.map);
  return ok && step;
}

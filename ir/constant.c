/* constant.c — tensor constants: iota (the index along one axis) and data
 * (values stored in the graph), and reading any constant's values, which
 * canonicalize (folding) and codegen (read-only arrays) share.
 *
 * Invariants: a data node's payload holds numel(shape) floats and is owned by
 * the graph that holds the node (ir_append_node adopts a foreign one), so it
 * lives as long as the graph; payloads are never shared between graphs and
 * are freed with the graph, never one by one. Neither op has the batch
 * dimension, and each has at most IR_MAX_DATA elements (shape.c checks). */
#include <assert.h>
#include <string.h>

#include "ir.h"

float *ir_payload_new(IrGraph *g, int64_t count) {
  assert(count >= 0 && count <= IR_MAX_DATA);
  if (g->npayloads == g->cappayloads) {
    int cap = g->cappayloads ? 2 * g->cappayloads : 8;
    float **more = pg_realloc(g->payloads, (size_t)cap * sizeof *more);
    if (!more) return NULL;
    g->payloads = more;
    g->cappayloads = cap;
  }
  float *p = pg_malloc((size_t)(count ? count : 1) * sizeof *p);
  if (!p) return NULL;
  return g->payloads[g->npayloads++] = p;
}

const float *ir_payload_adopt(IrGraph *g, const float *values, int64_t count) {
  for (int i = 0; i < g->npayloads; i++)
    if (g->payloads[i] == values) return values;
  float *copy = ir_payload_new(g, count);
  if (copy) memcpy(copy, values, (size_t)count * sizeof *copy);
  return copy;
}

int64_t ir_payload_count(const IrNode *n) { return pg_numel(&n->shape, 1); }

/* the operands of a leaf: none, but an array (memcpy takes no NULL) */
static const int no_operands[1] = {0};

int ir_iota(IrGraph *g, PgShape shape, int axis, PgLoc loc) {
  int64_t attr[IR_MAX_ATTR] = {axis};
  return ir_emit_typed(g, IR_OP_IOTA, 0, no_operands, attr, shape, loc);
}

int ir_data(IrGraph *g, PgShape shape, const float *values, PgLoc loc) {
  int id = ir_emit_typed(g, IR_OP_DATA, 0, no_operands, NULL, shape, loc);
  if (id < 0) return -1;
  IrNode *n = ir_node(g, id);
  float *copy = ir_payload_new(g, ir_payload_count(n));
  if (!copy) {
    g->count--; /* the node just made, which nothing reads yet */
    return -1;
  }
  memcpy(copy, values, (size_t)ir_payload_count(n) * sizeof *copy);
  n->data = copy;
  return id;
}

/* the row-major position in c of index `at` of dom, c broadcast to dom */
static int64_t broadcast_index(const PgShape *of, const PgShape *dom, const int64_t *at) {
  int64_t flat = 0;
  for (int d = 0; d < of->rank; d++) {
    int64_t i = at[dom->rank - of->rank + d];
    flat = flat * of->dim[d] + (of->dim[d] == 1 ? 0 : i);
  }
  return flat;
}

float ir_constant_at(const IrNode *c, const PgShape *dom, const int64_t *at) {
  assert(ir_op_flags(c->op) & IR_CONSTANT);
  if (c->op == IR_OP_CONST) return (float)c->value;
  if (c->op == IR_OP_DATA) return c->data[broadcast_index(&c->shape, dom, at)];
  int d = dom->rank - c->shape.rank + (int)c->attr[0]; /* iota */
  return c->shape.dim[c->attr[0]] == 1 ? 0.0f : (float)at[d];
}

void ir_index_next(const PgShape *s, int64_t *at) {
  for (int d = s->rank - 1; d >= 0; d--) {
    if (++at[d] < s->dim[d]) return;
    at[d] = 0;
  }
}

void ir_constant_fill(const IrNode *c, float *out) {
  int64_t count = pg_numel(&c->shape, 1), at[PG_MAX_RANK] = {0};
  if (c->op == IR_OP_DATA) {
    memcpy(out, c->data, (size_t)count * sizeof *out);
    return;
  }
  for (int64_t i = 0; i < count; i++) {
    out[i] = ir_constant_at(c, &c->shape, at);
    ir_index_next(&c->shape, at);
  }
}

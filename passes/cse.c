/* cse.c — common subexpression elimination: two nodes with the same op,
 * operands, attributes, payload (a constant's value, a call's symbols, a
 * data constant's values bit for bit) and type compute the same value, so
 * uses of the later one are redirected to the earlier (which precedes them:
 * order stays topological). Only pure ops (ops.h) are merged: an input or a
 * parameter is an identity, an assignment or an output an effect. Uses a hash table over nodes. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static bool mergeable(const IrNode *n) { return ir_op_flags(n->op) & IR_PURE; }

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t hash_text(uint64_t h, const char *s) {
  for (; s && *s; s++) h = mix(h, (unsigned char)*s);
  return h;
}

/* a data constant's values, bit for bit (0 and -0 differ, a NaN equals itself) */
static uint64_t hash_data(uint64_t h, const IrNode *n) {
  int64_t count = n->data ? ir_payload_count(n) : 0;
  for (int64_t i = 0; i < count; i++) {
    uint32_t bits;
    memcpy(&bits, &n->data[i], sizeof bits);
    h = mix(h, bits);
  }
  return h;
}

static bool same_data(const IrNode *a, const IrNode *b) {
  if (a->data == b->data) return true;
  if (!a->data || !b->data) return false;
  return memcmp(a->data, b->data, (size_t)ir_payload_count(a) * sizeof *a->data) == 0;
}

static uint64_t hash_node(const IrNode *n) {
  uint64_t h = hash_text(mix(0xcbf29ce484222325ull, n->op), n->name), bits;
  for (int i = 0; i < n->nin; i++) h = mix(h, (uint64_t)n->in[i]);
  for (int i = 0; i < IR_MAX_ATTR; i++) h = mix(h, (uint64_t)n->attr[i]);
  memcpy(&bits, &n->value, sizeof bits);
  h = mix(mix(h, bits), (uint64_t)n->dtype);
  for (int i = 0; i < n->shape.rank; i++) h = mix(h, (uint64_t)n->shape.dim[i]);
  return hash_data(h, n);
}

/* payload strings: a call's symbols (inputs, parameters and outputs are not merged) */
static bool same_text(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same(const IrNode *a, const IrNode *b) {
  return a->op == b->op && a->nin == b->nin && memcmp(a->in, b->in, a->nin * sizeof *a->in) == 0 &&
         memcmp(a->attr, b->attr, sizeof a->attr) == 0 && memcmp(&a->value, &b->value, sizeof a->value) == 0 &&
         a->dtype == b->dtype && pg_shape_eq(&a->shape, &b->shape) && same_text(a->name, b->name) &&
         same_text(a->derivative, b->derivative) && a->body == b->body && /* two scans: never */
         same_data(a, b); /* compared last: the shapes are equal by then */
}

bool ps_cse(IrGraph *g, const PsOptions *opt) {
  if (!ps_each_body(g, ps_cse, opt)) return false;
  size_t cap = 16;
  while (cap < 2 * (size_t)g->count) cap *= 2;
  int *table = malloc(cap * sizeof *table), *repl = malloc(((size_t)g->count + 1) * sizeof *repl);
  for (size_t i = 0; i < cap; i++) table[i] = -1;
  int merged = 0;
  for (int i = 0; i < g->count; i++) {
    IrNode *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++) n->in[k] = repl[n->in[k]];
    repl[i] = i;
    if (!mergeable(n)) continue;
    size_t slot = hash_node(n) & (cap - 1);
    while (table[slot] >= 0 && !same(&g->nodes[table[slot]], n)) slot = (slot + 1) & (cap - 1);
    if (table[slot] >= 0) repl[i] = table[slot], merged++;
    else table[slot] = i;
  }
  free(table);
  free(repl);
  if (merged) ir_clear_schedule(g);
  return merged ? ps_dce(g, opt) : true;
}

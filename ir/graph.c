/* graph.c — building graphs: the op table queries, shapes, and node creation.
 * Nodes are appended only, so ids stay valid and order stays topological. */
#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const struct {
  const char *name;
  int arity;
  IrKind kind;
  const char *attrs;
  int flags;
} op_table[IR_OP_COUNT] = {
#define X(e, name, arity, kind, attrs, flags) {name, arity, IR_KIND_##kind, attrs, flags},
    IR_OPS(X)
#undef X
};

/* Flags that contradict each other or the kind would make passes disagree
 * about an op (a view with operands computed in a loop, a folded effect), so
 * a table that has them does not compile. */
#define IMPLIES(a, b) (!(a) || (b))
#define CONSISTENT(kind, arity, flags)                                                    \
  (IMPLIES((kind) == IR_KIND_LEAF, (arity) == 0) &&                                       \
   IMPLIES((flags) & IR_FOLDABLE, ((flags) & IR_PURE) && (kind) == IR_KIND_ELTWISE) &&    \
   IMPLIES((flags) & IR_VIEW, (kind) == IR_KIND_OTHER && (arity) == 1) &&                 \
   IMPLIES((flags) & IR_INLINE, (kind) == IR_KIND_LEAF) &&                                \
   IMPLIES((flags) & IR_SIDE_EFFECT, !((flags) & IR_PURE)) &&                             \
   IMPLIES((flags) & IR_IN_PLACE, ((flags) & IR_SIDE_EFFECT) && (arity) >= 1) &&        \
   IMPLIES((flags) & IR_REGION, (kind) == IR_KIND_OTHER && (arity) < 0) &&               \
   IMPLIES((flags) & IR_PROJECTION, (kind) == IR_KIND_OTHER && (arity) == 1) &&           \
   IMPLIES((flags) & IR_REDUCTION, (kind) == IR_KIND_OTHER && (arity) == 1) &&            \
   IMPLIES((flags) & (IR_GATHERS | IR_SCATTERS), (kind) == IR_KIND_OTHER && (arity) == 2) && \
   IMPLIES((flags) & IR_CONSTANT, (kind) == IR_KIND_LEAF && ((flags) & IR_PURE)))
#define X(e, name, arity, kind, attrs, flags)                                              \
  _Static_assert(CONSISTENT(IR_KIND_##kind, arity, flags) && (arity) <= IR_MAX_IN,        \
                 "ir/ops.h: the flags of op " name " contradict each other or its kind");
IR_OPS(X)
#undef X
#undef CONSISTENT
#undef IMPLIES

const char *ir_op_name(IrOp op) { return op_table[op].name; }
int ir_op_arity(IrOp op) { return op_table[op].arity; }
IrKind ir_op_kind(IrOp op) { return op_table[op].kind; }
int ir_op_flags(IrOp op) { return op_table[op].flags; }

bool ir_arity_ok(IrOp op, int nin) {
  int arity = op_table[op].arity;
  return arity < 0 ? nin >= 1 && nin <= IR_MAX_IN : nin == arity;
}

bool ir_op_has_kernel(IrOp op) {
  return op_table[op].kind != IR_KIND_LEAF && !(op_table[op].flags & IR_VIEW);
}

bool ir_op_per_element(IrOp op) {
  return ir_op_kind(op) == IR_KIND_ELTWISE || (ir_op_flags(op) & IR_GATHERS);
}

const char *ir_op_attr_name(IrOp op, int i) {
  static char buf[IR_MAX_ATTR][32];
  const char *p = op_table[op].attrs;
  for (int k = 0; *p; k++) {
    size_t len = strcspn(p, ",");
    if (k == i) {
      snprintf(buf[i], sizeof buf[i], "%.*s", (int)len, p);
      return buf[i];
    }
    p += len + (p[len] == ',');
  }
  return NULL;
}

/* inputs and parameters are where shapes enter a graph: too large is an error */
static bool fits(const PgShape *s, const char *what, const char *name, PgLoc loc) {
  if (pg_shape_fits(s)) return true;
  char buf[128];
  pg_shape_str(s, buf, sizeof buf);
  diag_error(loc, "%s '%s' is too large: %s has more than 2^36 elements per example", what, name, buf);
  return false;
}

IrGraph *ir_graph_new(const char *name) {
  IrGraph *g = pg_calloc(1, sizeof *g);
  if (g) g->name = ir_strdup(g, name);
  return g;
}

void ir_graph_free(IrGraph *g) {
  if (!g) return;
  for (int i = 0; i < g->nbodies; i++) ir_graph_free(g->bodies[i]);
  free(g->bodies);
  for (int i = 0; i < g->nstrings; i++) free(g->strings[i]);
  free(g->strings);
  for (int i = 0; i < g->npayloads; i++) free(g->payloads[i]);
  free(g->payloads);
  free(g->nodes);
  free(g);
}

const char *ir_strdup(IrGraph *g, const char *s) {
  if (!s) return NULL;
  if (g->nstrings == g->capstrings) {
    int cap = g->capstrings ? 2 * g->capstrings : 16;
    char **strings = pg_realloc(g->strings, cap * sizeof *strings);
    if (!strings) return "";
    g->strings = strings;
    g->capstrings = cap;
  }
  size_t n = strlen(s) + 1;
  char *p = pg_malloc(n);
  if (!p) return "";
  memcpy(p, s, n);
  return g->strings[g->nstrings++] = p;
}

IrNode *ir_node(IrGraph *g, int id) {
  assert(id >= 0 && id < g->count);
  return &g->nodes[id];
}

static int append(IrGraph *g, IrOp op, PgLoc loc) {
  if (g->count == g->cap) {
    if (g->cap >= IR_MAX_NODES)
      return diag_error(loc, "a graph of more than %d nodes is too large (a recurrence unrolled over a very "
                        "long sequence?)", IR_MAX_NODES), -1;
    int cap = g->cap ? 2 * g->cap : 64;
    IrNode *nodes = pg_realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return -1;
    g->nodes = nodes;
    g->cap = cap;
  }
  IrNode *n = &g->nodes[g->count];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->loc = loc;
  n->group = -1;
  n->offset = -1;
  return g->count++;
}

int ir_append_node(IrGraph *g, const IrNode *n) {
  const float *data = n->data ? ir_payload_adopt(g, n->data, ir_payload_count(n)) : NULL;
  if (n->data && !data) return -1;
  int id = append(g, n->op, n->loc);
  if (id < 0) return -1;
  g->nodes[id] = *n;
  g->nodes[id].data = data;
  return id;
}

int ir_input(IrGraph *g, const char *name, PgDType dt, PgShape shape, PgLoc loc) {
  if (!fits(&shape, "input", name, loc)) return -1;
  int id = append(g, IR_OP_INPUT, loc);
  if (id < 0) return -1;
  IrNode *n = &g->nodes[id];
  n->name = ir_strdup(g, name);
  n->dtype = dt;
  n->shape = shape;
  n->attr[0] = g->ninputs++;
  return id;
}

int ir_param(IrGraph *g, const char *name, PgRole role, PgInit init, PgShape shape, PgLoc loc) {
  if (!fits(&shape, "parameter", name, loc)) return -1;
  int id = append(g, IR_OP_PARAM, loc);
  if (id < 0) return -1;
  IrNode *n = &g->nodes[id];
  n->name = ir_strdup(g, name);
  n->role = role;
  n->init = init;
  n->attr[0] = g->nparams++;
  n->dtype = PG_F32;
  n->shape = shape;
  return id;
}

int ir_const(IrGraph *g, double value, PgLoc loc) {
  int id = append(g, IR_OP_CONST, loc);
  if (id >= 0) g->nodes[id].value = value;
  return id;
}

int ir_batch_size(IrGraph *g, PgLoc loc) { return append(g, IR_OP_BATCH_SIZE, loc); }

/* an op node; `shape` is the declared result shape (reshape, random_uniform,
 * broadcast) or NULL to derive it. Ill-typed nodes are reported and dropped. */
static int make(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr,
                const PgShape *shape, IrGraph *body, PgLoc loc) {
  assert(ir_arity_ok(op, nin));
  for (int i = 0; i < nin; i++)
    if (in[i] < 0) return -1;
  int id = append(g, op, loc);
  if (id < 0) return -1;
  IrNode *n = &g->nodes[id];
  n->nin = nin;
  memcpy(n->in, in, nin * sizeof *in);
  if (attr) memcpy(n->attr, attr, sizeof n->attr);
  if (shape) n->shape = *shape;
  n->body = body;
  if (!ir_infer_type(g, n)) {
    g->count--;
    return -1;
  }
  return id;
}

int ir_emit(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, PgLoc loc) {
  return make(g, op, nin, in, attr, NULL, NULL, loc);
}

int ir_emit_typed(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, PgShape shape,
                  PgLoc loc) {
  return make(g, op, nin, in, attr, &shape, NULL, loc);
}

int ir_unary(IrGraph *g, IrOp op, int a, PgLoc loc) { return ir_emit(g, op, 1, &a, NULL, loc); }

int ir_binary(IrGraph *g, IrOp op, int a, int b, PgLoc loc) {
  int in[2] = {a, b};
  return ir_emit(g, op, 2, in, NULL, loc);
}

int ir_reshape(IrGraph *g, int a, PgShape shape, PgLoc loc) {
  return ir_emit_typed(g, IR_OP_RESHAPE, 1, &a, NULL, shape, loc);
}

int ir_output(IrGraph *g, const char *name, int value, PgLoc loc) {
  int64_t attr[IR_MAX_ATTR] = {g->noutputs};
  int id = ir_emit(g, IR_OP_OUTPUT, 1, &value, attr, loc);
  if (id < 0) return -1;
  g->nodes[id].name = ir_strdup(g, name);
  g->noutputs++;
  return id;
}

int ir_call(IrGraph *g, const char *fn, const char *derivative, int a, PgLoc loc) {
  int id = ir_unary(g, IR_OP_CALL, a, loc);
  if (id < 0) return -1;
  g->nodes[id].name = ir_strdup(g, fn);
  g->nodes[id].derivative = ir_strdup(g, derivative); /* NULL stays NULL */
  return id;
}

bool ir_symbol_ok(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > IR_MAX_SYMBOL || isdigit((unsigned char)s[0])) return false;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
  return true;
}

bool ir_symbol_reserved(const char *s) {
  size_t len = strlen(s);
  return strncmp(s, "nnd_", 4) == 0 || (len >= 5 && strcmp(s + len - 5, "_step") == 0) ||
         strcmp(s, "check_finite") == 0;
}

IrUses ir_uses(const IrGraph *g) {
  IrUses u = {pg_calloc(g->count + 2, sizeof(int)), NULL};
  if (!u.start) return u;
  for (int i = 0; i < g->count; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) u.start[g->nodes[i].in[k] + 2]++;
  for (int v = 0; v < g->count; v++) u.start[v + 2] += u.start[v + 1];
  u.user = pg_malloc((u.start[g->count + 1] + 1) * sizeof(int));
  if (!u.user) {
    free(u.start);
    return (IrUses){NULL, NULL};
  }
  for (int i = 0; i < g->count; i++) /* start[v+1] is the fill cursor of v */
    for (int k = 0; k < g->nodes[i].nin; k++) u.user[u.start[g->nodes[i].in[k] + 1]++] = i;
  return u;
}

void ir_uses_free(IrUses *u) {
  free(u->start);
  free(u->user);
}

int ir_alias_root(const IrGraph *g, int v) {
  while (ir_op_flags(g->nodes[v].op) & IR_VIEW) v = g->nodes[v].in[0];
  return v;
}

bool ir_owns_arena_buffer(const IrNode *n) {
  return n->offset >= 0 && n->group >= 0 && !(ir_op_flags(n->op) & (IR_VIEW | IR_SIDE_EFFECT));
}

bool ir_taken_over(const IrGraph *g, int v, int end) {
  const IrNode *a = &g->nodes[v];
  int64_t bytes = ir_buffer_bytes(a, g->max_batch);
  if (a->group == end || !ir_owns_arena_buffer(a)) return false;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->group != end || !ir_owns_arena_buffer(n)) continue;
    if (n->offset < a->offset + bytes && a->offset < n->offset + ir_buffer_bytes(n, g->max_batch))
      return true;
  }
  return false;
}

bool ir_reads_memory(const IrGraph *g, const IrNode *n, int k) {
  int u = n->in[k], v = ir_alias_root(g, u);
  return u != v || n->group != g->nodes[v].group;
}

void ir_last_readers(const IrGraph *g, int *last) {
  for (int i = 0; i < g->count; i++) last[i] = -1;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    for (int k = 0; n->group >= 0 && k < n->nin; k++) {
      int v = ir_alias_root(g, n->in[k]);
      if (ir_reads_memory(g, n, k) && n->group > last[v]) last[v] = n->group;
    }
  }
}

const PgShape *ir_loop_shape(const IrGraph *g, int v) {
  const IrNode *n = &g->nodes[v];
  return ir_op_flags(n->op) & (IR_REDUCTION | IR_SCATTERS) ? &g->nodes[n->in[0]].shape : &n->shape;
}

void ir_clear_schedule(IrGraph *g) {
  for (int i = 0; i < g->count; i++) {
    g->nodes[i].group = -1, g->nodes[i].offset = -1, g->nodes[i].fusion = NULL;
    if (g->nodes[i].body) ir_clear_schedule(g->nodes[i].body);
  }
  g->nkernels = 0;
  g->max_batch = g->arena_bytes = 0;
}

IrGraph *ir_region_new(IrGraph *g, const char *name, PgLoc loc) {
  if (g->depth >= IR_MAX_DEPTH) {
    diag_error(loc, "regions nest more than %d deep", IR_MAX_DEPTH);
    return NULL;
  }
  if (g->nbodies == g->capbodies) {
    int cap = g->capbodies ? 2 * g->capbodies : 4;
    IrGraph **bodies = pg_realloc(g->bodies, (size_t)cap * sizeof *bodies);
    if (!bodies) return NULL;
    g->bodies = bodies;
    g->capbodies = cap;
  }
  IrGraph *body = ir_graph_new(name);
  if (!body) return NULL;
  body->depth = g->depth + 1;
  return g->bodies[g->nbodies++] = body;
}

int ir_scan(IrGraph *g, IrGraph *body, int nin, const int *in, const int64_t *attr, PgLoc loc) {
  if (!body || nin < 1 || nin > IR_MAX_IN) {
    if (body && nin > IR_MAX_IN) diag_error(loc, "a scan takes at most %d operands", IR_MAX_IN);
    return -1;
  }
  return make(g, IR_OP_SCAN, nin, in, attr, NULL, body, loc);
}

int ir_result(IrGraph *g, int scan, int index, PgLoc loc) {
  int64_t attr[IR_MAX_ATTR] = {index};
  return ir_emit(g, IR_OP_RESULT, 1, &scan, attr, loc);
}

int ir_slot_node(const IrGraph *g, IrOp op, int64_t slot) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == op && g->nodes[i].attr[0] == slot) return i;
  return -1;
}

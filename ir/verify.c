/* verify.c — the invariants every pass must keep, checked after each pass
 * (and on parsed IR): operand counts match the op table; operands precede
 * their users (SSA in topological order); each node's type is what its shape
 * rule derives; inputs, parameters and outputs have dense, unique slots;
 * parameters are f32 without the batch dimension; an assignment is the last
 * use of its parameter. Once kernels exist (fuse) they must be well formed
 * and in a valid order, and once buffers exist (plan) every value a kernel
 * reads from memory must have one inside the arena: codegen relies on all of
 * it. A failure names the node, the pass that ran last, and the .nnd
 * location the node came from. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  IrGraph *g;
  const char *pass;
  bool ok;
  int *stack; /* room for every node: the walk over the views of a parameter */
} Check;

static void fail(Check *c, int id, const char *what) {
  const IrNode *n = &c->g->nodes[id];
  diag_error(n->loc, "verifier: %%%d (%s) after pass '%s': %s", id, ir_op_name(n->op), c->pass ? c->pass : "(none)",
             what);
  c->ok = false;
}

/* a function the generated code may call without clashing with its own names */
static bool call_symbol_ok(const IrGraph *g, const char *s) {
  return s && ir_symbol_ok(s) && !ir_symbol_reserved(s) && strcmp(s, g->name) != 0;
}

static void check_node(Check *c, int id) {
  IrGraph *g = c->g;
  IrNode *n = &g->nodes[id];
  if (!ir_arity_ok(n->op, n->nin)) return fail(c, id, "wrong number of operands");
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] < 0 || n->in[i] >= id) return fail(c, id, "operand does not precede its use");
  for (int i = 0; i < n->nin; i++)
    if (ir_op_flags(g->nodes[n->in[i]].op) & IR_REGION && !(ir_op_flags(n->op) & IR_PROJECTION))
      return fail(c, id, "reads a scan, whose value only 'result' may read");
  if (ir_op_flags(n->op) & IR_REGION) {
    if (!n->body) return fail(c, id, "a scan without a body");
    for (int i = 0; i < n->nin; i++)
      if (ir_op_flags(g->nodes[ir_alias_root(g, n->in[i])].op) & IR_INLINE)
        return fail(c, id, "a scan's operands are tensors in memory, not constants");
  }
  if (g->depth > 0 && (n->op == IR_OP_PARAM || n->op == IR_OP_ASSIGN))
    return fail(c, id, "a body has no parameters: the scan passes them in as invariants");
  if (n->op == IR_OP_CALL && !(call_symbol_ok(g, n->name) &&
                               (!n->derivative || call_symbol_ok(g, n->derivative))))
    return fail(c, id, "a call names C functions (identifiers) other than nnd's own (nnd_*, "
                "*_step, check_finite, the graph's name)");
  if (n->op == IR_OP_DATA && !n->data) return fail(c, id, "a data constant without its values");
  if (n->op == IR_OP_PARAM && n->role == PG_ROLE_NONE)
    return fail(c, id, "parameter without a role");
  if (n->op == IR_OP_PARAM &&
      (n->dtype != PG_F32 || (n->shape.rank && n->shape.dim[0] == PG_BATCH)))
    return fail(c, id, "a parameter is f32 and has no batch dimension");
  for (int d = 1; d < n->shape.rank; d++)
    if (n->shape.dim[d] == PG_BATCH)
      return fail(c, id, "the batch dimension B may only be dimension 0");
  IrNode copy = *n;
  int before = diag_error_count();
  if (!ir_infer_type(g, &copy) || diag_error_count() != before) return fail(c, id, "operands no longer type-check");
  if (copy.dtype != n->dtype || !pg_shape_eq(&copy.shape, &n->shape))
    fail(c, id, "recorded type differs from the type its operands give");
}

/* slot numbers of one kind of node: each of 0..count-1 exactly once. The
 * nodes bound what is looked at: a slot of 2^31 in a three-node graph is one
 * error, not 2^31 of them. */
static void check_slots(Check *c, IrOp op, int count) {
  int k = 0;
  for (int i = 0; i < c->g->count; i++) k += c->g->nodes[i].op == op;
  if (count > k) {
    const char *name = ir_op_name(op);
    diag_error((PgLoc){0}, "verifier: after pass '%s': %d %s slots, but %d %s node%s %s", c->pass,
               count, name, k, name, k == 1 ? "" : "s", "(slots are numbered densely)");
    c->ok = false;
  }
  char *seen = pg_calloc((size_t)k + 1, 1);
  if (!seen) return (void)(c->ok = false);
  for (int i = 0; i < c->g->count; i++) {
    const IrNode *n = &c->g->nodes[i];
    if (n->op != op) continue;
    if (n->attr[0] < 0 || n->attr[0] >= count || (n->attr[0] < k && seen[n->attr[0]]++))
      fail(c, i, "slot out of range or used twice");
  }
  for (int s = 0; s < count && s < k; s++)
    if (!seen[s]) {
      diag_error((PgLoc){0},
                 "verifier: after pass '%s': no %s has slot %d (slots are numbered densely)",
                 c->pass, ir_op_name(op), s);
      c->ok = false;
    }
  free(seen);
}

/* a check of one reader r of an assigned parameter: r reads `read`, the
 * parameter itself or (view) a reshape of it */
typedef void ReaderCheck(Check *c, int assign, int r, int read, bool view);

/* every reader of v, or of a view of v (reshapes, transitively), that is not
 * itself a view: a loop over a stack, since a chain of views may be long.
 * Each view has one operand (graph.c), so each node is pushed at most once. */
static void each_reader(Check *c, const IrUses *uses, int assign, int v, ReaderCheck *check) {
  int n = 0;
  c->stack[n++] = v;
  while (n) {
    int w = c->stack[--n];
    for (int k = uses->start[w]; k < uses->start[w + 1]; k++) {
      int r = uses->user[k];
      if (ir_op_flags(c->g->nodes[r].op) & IR_VIEW) c->stack[n++] = r;
      else check(c, assign, r, w, w != v);
    }
  }
}

/* no node reads a parameter after the assignment that replaces it */
static void assign_last(Check *c, int assign, int r, int read, bool view) {
  const IrNode *n = &c->g->nodes[r];
  bool overwrites = (ir_op_flags(n->op) & IR_IN_PLACE) && n->in[0] == read;
  if (r > assign || (r != assign && overwrites))
    fail(c, r, "reads or assigns a parameter after its assignment");
}

static bool computes(const IrNode *n) { return ir_op_has_kernel(n->op); }

/* after fuse: every reader of an assigned parameter runs in an earlier
 * kernel, or reads it directly in the assigning loop */
static void reads_before_assign(Check *c, int assign, int r, int read, bool view) {
  const IrGraph *g = c->g;
  if (r == assign) return;
  int kr = g->nodes[r].group, ka = g->nodes[assign].group;
  if (kr > ka || (view && kr == ka))
    fail(c, r, "reads a parameter in a kernel that runs after the one assigning it");
}

static bool is_reduction(const IrNode *n) { return ir_op_flags(n->op) & IR_REDUCTION; }
/* operand k of n is read from memory: a gather's table and indices, a segment op's indices */
static bool read_from_memory(const IrNode *n, int k) {
  unsigned flags = ir_op_flags(n->op);
  return (flags & IR_GATHERS) || (k == 1 && (flags & IR_SCATTERS));
}
static bool folds(const IrNode *n) { return ir_op_flags(n->op) & (IR_REDUCTION | IR_SCATTERS); }
static bool per_element(const IrNode *n) { return ir_op_per_element(n->op); }

/* whether node i may be in the loop of node head (its kernel's first node),
 * given the kernel's first fold so far (or -1): elementwise nodes, gathers,
 * and reductions over one shape with one set of axes (or one segment op) */
static bool shares_loop(const IrGraph *g, int head, int i, int reduction) {
  const IrNode *h = &g->nodes[head], *n = &g->nodes[i];
  const IrNode *r = reduction >= 0 ? &g->nodes[reduction] : n; /* n's, when it folds */
  bool h_loop = per_element(h) || folds(h);
  bool n_loop = per_element(n) || folds(n);
  bool axes = !folds(n) || reduction == i ||
              (is_reduction(r) && is_reduction(n) && r->attr[0] == n->attr[0]);
  const PgShape *head_loop = ir_loop_shape(g, head), *loop = ir_loop_shape(g, i);
  return h_loop && n_loop && axes && pg_shape_eq(head_loop, loop);
}

/* after fuse: each kernel is one op or one loop over one shape (elementwise
 * nodes, and reductions over one set of axes), and kernels run after the
 * kernels they read */
static void check_kernels(Check *c) {
  IrGraph *g = c->g;
  if (g->nkernels > g->count) { /* each kernel holds a node: bounds what follows */
    diag_error((PgLoc){0}, "verifier: after pass '%s': %d kernels, but %d nodes", c->pass,
               g->nkernels, g->count);
    c->ok = false;
    return;
  }
  int *first = pg_malloc(((size_t)g->nkernels + 1) * sizeof *first);
  int *reduction = pg_malloc(((size_t)g->nkernels + 1) * sizeof *reduction);
  if (!first || !reduction) return free(first), free(reduction), (void)(c->ok = false);
  for (int k = 0; k < g->nkernels; k++) first[k] = reduction[k] = -1;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (computes(n) != (n->group >= 0) || n->group >= g->nkernels) {
      fail(c, i, computes(n) ? "not in a kernel" : "a leaf or view cannot be in a kernel");
      continue;
    }
    if (n->group < 0) continue;
    int f = first[n->group] < 0 ? (first[n->group] = i) : first[n->group];
    if (folds(n) && reduction[n->group] < 0) reduction[n->group] = i;
    bool part = ir_op_flags(n->op) & IR_PROJECTION && n->in[0] == f;
    if (f != i && !part && !shares_loop(g, f, i, reduction[n->group]))
      fail(c, i, "shares a kernel with a node it cannot share a loop with");
    for (int k = 0; k < n->nin; k++) {
      int u = n->in[k], r = ir_alias_root(g, u), rg = g->nodes[r].group;
      if (rg > n->group || (rg == n->group && u != r)) fail(c, i, "its kernel runs before the kernel of an operand");
      else if (rg == n->group && !part && !per_element(&g->nodes[r]))
        fail(c, i, "reads a reduction in the loop that computes it");
      else if (rg == n->group && !part && read_from_memory(n, k))
        fail(c, i, "reads its table or indices in the loop that computes them");
    }
  }
  for (int k = 0; k < g->nkernels; k++)
    if (first[k] < 0) {
      diag_error((PgLoc){0}, "verifier: after pass '%s': kernel %d is empty", c->pass, k);
      c->ok = false;
    }
  free(first);
  free(reduction);
  IrUses uses = ir_uses(g);
  if (!uses.start) return (void)(c->ok = false);
  for (int i = 0; c->ok && i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_IN_PLACE)
      each_reader(c, &uses, i, g->nodes[i].in[0], reads_before_assign);
  ir_uses_free(&uses);
}

/* after plan: what kernels read from memory or store there is inside the arena */
static void check_buffers(Check *c) {
  IrGraph *g = c->g;
  /* read by another kernel, or through a view */
  bool *read = pg_calloc((size_t)g->count + 1, sizeof *read);
  if (!read) return (void)(c->ok = false);
  for (int i = 0; i < g->count; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) {
      int u = g->nodes[i].in[k], r = ir_alias_root(g, u);
      if (u != r || g->nodes[i].group != g->nodes[r].group) read[r] = true;
    }
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    bool writes_elsewhere = ir_op_flags(n->op) & IR_SIDE_EFFECT;
    bool needs = computes(n) && !writes_elsewhere && (read[i] || !ir_op_per_element(n->op));
    if (needs && n->offset < 0) fail(c, i, "is read from memory but has no arena buffer");
    if (n->offset >= 0 && n->offset + ir_buffer_bytes(n, g->max_batch) > g->arena_bytes)
      fail(c, i, "its buffer lies outside the arena");
  }
  free(read);
}

static int by_key(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* one result node per result of a scan: its kernel writes each into one
 * buffer (cse merges equal ones; hand-written IR must not repeat one) */
static void check_results(Check *c) {
  const IrGraph *g = c->g;
  int64_t *key = pg_malloc(((size_t)g->count + 1) * sizeof *key);
  int n = 0;
  if (!key) return (void)(c->ok = false);
  for (int i = 0; i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_PROJECTION)
      key[n++] = (int64_t)g->nodes[i].in[0] << 32 | (int64_t)(uint32_t)g->nodes[i].attr[0];
  qsort(key, (size_t)n, sizeof *key, by_key);
  for (int i = 1; i < n && c->ok; i++)
    if (key[i] == key[i - 1]) {
      diag_error((PgLoc){0},
                 "verifier: after pass '%s': %%%lld has two 'result' nodes of index %lld", c->pass,
                 (long long)(key[i] >> 32), (long long)(key[i] & 0xffffffff));
      c->ok = false;
    }
  free(key);
}

/* a scan's body: a graph of its own, planned when its scan is */
static void check_body(Check *c, int id) {
  IrGraph *b = c->g->nodes[id].body;
  if (!ir_verify(b, c->pass)) return fail(c, id, "in its body (above)");
  if ((c->g->nkernels > 0) != (b->nkernels > 0 || b->count == 0) ||
      (c->g->max_batch > 0) != (b->max_batch > 0) || b->max_batch != c->g->max_batch)
    fail(c, id, "its body is not fused and planned as the graph is");
}

bool ir_verify(IrGraph *g, const char *after_pass) {
  Check c = {g, after_pass, true, NULL};
  for (int i = 0; i < g->count; i++) check_node(&c, i);
  if (!c.ok) return false;
  for (int i = 0; i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_REGION) check_body(&c, i);
  if (c.ok) check_results(&c);
  if (!c.ok) return false;
  check_slots(&c, IR_OP_INPUT, g->ninputs);
  check_slots(&c, IR_OP_PARAM, g->nparams);
  check_slots(&c, IR_OP_OUTPUT, g->noutputs);
  IrUses uses = ir_uses(g);
  c.stack = pg_malloc(((size_t)g->count + 1) * sizeof *c.stack);
  if (!uses.start || !c.stack) c.ok = false;
  for (int i = 0; c.stack && uses.start && i < g->count; i++)
    if (ir_op_flags(g->nodes[i].op) & IR_IN_PLACE)
      each_reader(&c, &uses, i, g->nodes[i].in[0], assign_last);
  ir_uses_free(&uses);
  if (c.ok && g->nkernels > 0) check_kernels(&c);
  if (c.ok && g->max_batch > 0) check_buffers(&c);
  free(c.stack);
  return c.ok;
}

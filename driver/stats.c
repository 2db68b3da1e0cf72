/* stats.c — nnd stats MODEL.nnd [--json]: what the planned train and
 * inference (predict) steps do and hold, at the graph's max_batch (the
 * file's batch, or --batch). Nothing is compiled to native code: the figures
 * come from the planned graphs (build_graph), so --no-fuse applies too.
 *
 *   nodes     every node of the graph (what `nnd train` calls "ops")
 *   ops       the nodes fuse put in a kernel (group >= 0): every computation,
 *             with the stores to outputs and the assigns; not inputs,
 *             parameters, constants, the batch size, nor views (reshape).
 *             With --no-fuse each of them is a kernel of its own.
 *   kernels   g->nkernels
 *   bytes_unfused  the memory traffic if every op were its own kernel: each
 *             op reads each distinct buffer its operands view (not inline
 *             leaves: constants, the batch size; not a region op's value,
 *             which the region's results project) and writes its result (an
 *             output its slot, an assign its parameter, a scan its scratch).
 *   bytes_fused  per kernel, as codegen/module.c's collect_buffers and
 *             store_key decide: each distinct buffer read by a member from
 *             another kernel, and each distinct buffer a member stores (an
 *             output's slot, an in-place op's operand, an arena buffer);
 *             a parameter read and assigned counts as read and as written.
 *             So bytes_fused <= bytes_unfused.
 *   arena_bytes  g->arena_bytes; buffers_sum_bytes the bytes of every buffer
 *             plan placed in the arena (offset >= 0, views not again).
 *   peak      weights: every parameter that is not optimizer state (trained
 *             weights, and frozen ones and batch-norm statistics if any);
 *             optimizer_state: the parameters of role optstate; and the
 *             arena's buffers live at the peak kernel (the first kernel
 *             where the most arena bytes are live, each buffer from the
 *             kernel that writes it to the last that reads it from memory,
 *             as passes/plan.c and driver/memory.c), split by what their
 *             nodes compute:
 *               forward   an ancestor of an output that no optimizer state
 *                         reaches: what the loss, metrics and predictions need
 *               optimizer a node that optimizer state reaches (moments, the
 *                         step count, the rate)
 *               gradient  neither, but an ancestor of an assign to a trained
 *                         weight: the backward pass (autodiff marks its nodes
 *                         with nothing but their place, and cse may merge
 *                         them into forward nodes, so this is by data flow)
 *             gradients: live gradient buffers; saved_activations: live
 *             forward buffers that a node that is not forward reads from
 *             memory (kept for the backward); scratch: the rest (forward
 *             temporaries, the optimizer's, the updates of statistics).
 *             total is their sum; inputs and outputs are not in it. In the
 *             inference step every node is forward: gradients, optimizer
 *             state and saved activations are 0. The live bytes at the peak
 *             are at most arena_bytes (the plan's first fit leaves holes).
 * Text is a table of both steps; --json one object on standard output. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

typedef struct {
  int64_t weights, gradients, optimizer_state, saved_activations, scratch;
} Peak;

typedef struct {
  int nodes, ops, kernels, peak_kernel; /* peak_kernel -1: no buffers */
  int64_t bytes_unfused, bytes_fused, arena_bytes, buffers_sum_bytes;
  Peak peak;
} StepStats;

enum { KIND_FORWARD = 1, KIND_OPTIMIZER = 2, KIND_GRADIENT = 4 };

/* per-kernel scratch of the traffic count */
typedef struct {
  const IrGraph *g;
  int *read_mark, *write_mark; /* the kernel (mark) that last counted a buffer */
  int mark;
} Traffic;

/* ---- traffic ---- */

static int64_t node_bytes(const IrGraph *g, int v) {
  int64_t bytes = ir_buffer_bytes(&g->nodes[v], g->max_batch);
  return bytes > 0 ? bytes : 0;
}

/* operand u is read from a buffer (not held by the code, not a region's value) */
static bool read_from_buffer(const IrGraph *g, int u) {
  int flags = ir_op_flags(g->nodes[ir_alias_root(g, u)].op);
  return !(flags & (IR_INLINE | IR_REGION));
}

/* the node whose buffer v writes: an output's own slot, an in-place op's
 * operand, else v itself if it has an arena buffer (fused) or always
 * (unfused); -1 if it writes none */
static int store_target(const IrGraph *g, int v, bool fused) {
  const IrNode *n = &g->nodes[v];
  if (n->op == IR_OP_OUTPUT) return v;
  if (ir_op_flags(n->op) & IR_IN_PLACE) return ir_alias_root(g, n->in[0]);
  return !fused || n->offset >= 0 ? v : -1;
}

static int64_t count_once(int *marks, int v, int mark, int64_t bytes) {
  if (marks[v] == mark) return 0;
  marks[v] = mark;
  return bytes;
}

/* the bytes that one kernel of members[0..n) reads and writes; fused: the
 * members share a loop, so what one computes the others do not read */
static int64_t kernel_bytes(Traffic *t, const int *members, int n, bool fused) {
  const IrGraph *g = t->g;
  int64_t bytes = 0;
  t->mark++;
  for (int m = 0; m < n; m++) {
    const IrNode *nd = &g->nodes[members[m]];
    for (int k = 0; k < nd->nin; k++) {
      int u = nd->in[k], root = ir_alias_root(g, u);
      bool in_loop = fused && g->nodes[u].group == nd->group;
      if (in_loop || !read_from_buffer(g, u)) continue;
      bytes += count_once(t->read_mark, root, t->mark, node_bytes(g, root));
    }
    int target = store_target(g, members[m], fused);
    if (target >= 0) bytes += count_once(t->write_mark, target, t->mark, node_bytes(g, target));
  }
  return bytes;
}

/* the nodes in kernels, ordered by kernel (counting sort), each kernel's in
 * node order; first[k] .. first[k + 1] are kernel k's */
static int *by_kernel(const IrGraph *g, int *first) {
  int *order = pg_malloc(((size_t)g->count + 1) * sizeof *order);
  if (!order) return NULL;
  for (int k = 0; k <= g->nkernels; k++) first[k] = 0;
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].group >= 0) first[g->nodes[i].group + 1]++;
  for (int k = 0; k < g->nkernels; k++) first[k + 1] += first[k];
  int *next = pg_malloc(((size_t)g->nkernels + 1) * sizeof *next);
  if (!next) return free(order), NULL;
  memcpy(next, first, (size_t)g->nkernels * sizeof *next);
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].group >= 0) order[next[g->nodes[i].group]++] = i;
  free(next);
  return order;
}

static bool count_traffic(const IrGraph *g, StepStats *s) {
  Traffic t = {.g = g};
  t.read_mark = pg_calloc((size_t)g->count + 1, sizeof(int));
  t.write_mark = pg_calloc((size_t)g->count + 1, sizeof(int));
  int *first = pg_malloc(((size_t)g->nkernels + 2) * sizeof *first);
  int *order = first && t.read_mark && t.write_mark ? by_kernel(g, first) : NULL;
  bool ok = order != NULL;
  for (int i = 0; ok && i < g->count; i++)
    if (g->nodes[i].group >= 0) s->bytes_unfused += kernel_bytes(&t, &i, 1, false);
  for (int k = 0; ok && k < g->nkernels; k++)
    s->bytes_fused += kernel_bytes(&t, order + first[k], first[k + 1] - first[k], true);
  free(order), free(first), free(t.read_mark), free(t.write_mark);
  return ok;
}

/* ---- what each node computes ---- */

static bool assigns_weight(const IrGraph *g, const IrNode *n) {
  if (!(ir_op_flags(n->op) & IR_IN_PLACE)) return false;
  const IrNode *target = &g->nodes[ir_alias_root(g, n->in[0])];
  return target->op == IR_OP_PARAM && target->role == PG_ROLE_WEIGHT;
}

/* kind[i]: KIND_OPTIMIZER if optimizer state reaches node i; or-ed with
 * KIND_FORWARD if an output needs it, KIND_GRADIENT if an assign to a weight
 * does (bits, propagated backward from those nodes) */
static void mark_reach(const IrGraph *g, unsigned char *kind) {
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    kind[i] = n->op == IR_OP_PARAM && n->role == PG_ROLE_OPTSTATE ? KIND_OPTIMIZER : 0;
    for (int k = 0; k < n->nin; k++) kind[i] |= kind[n->in[k]] & KIND_OPTIMIZER;
    if (n->op == IR_OP_OUTPUT) kind[i] |= KIND_FORWARD;
    if (assigns_weight(g, n)) kind[i] |= KIND_GRADIENT;
  }
  for (int i = g->count - 1; i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++) kind[n->in[k]] |= kind[i] & (KIND_FORWARD | KIND_GRADIENT);
  }
}

/* one kind per node: optimizer, else forward, else gradient, else 0 */
static void mark_kinds(const IrGraph *g, unsigned char *kind) {
  mark_reach(g, kind);
  for (int i = 0; i < g->count; i++) {
    if (kind[i] & KIND_OPTIMIZER) kind[i] = KIND_OPTIMIZER;
    else if (kind[i] & KIND_FORWARD) kind[i] = KIND_FORWARD;
  }
}

/* ---- the arena's buffers over the schedule ---- */

/* end[v]: the last kernel that reads v from memory, at least v's own;
 * saved[v]: a node that is not forward reads v from memory */
static void live_ends(const IrGraph *g, const unsigned char *kind, int *end, bool *saved) {
  ir_last_readers(g, end);
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (end[i] < n->group) end[i] = n->group;
    saved[i] = false;
  }
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    for (int k = 0; n->group >= 0 && k < n->nin; k++)
      if (kind[i] != KIND_FORWARD && ir_reads_memory(g, n, k))
        saved[ir_alias_root(g, n->in[k])] = true;
  }
}

/* the first kernel where the most arena bytes are live (-1: no buffers) */
static int peak_kernel(const IrGraph *g, const int *end, int kernels) {
  int64_t *delta = pg_calloc((size_t)kernels + 2, sizeof *delta), live = 0, most = 0;
  if (!delta) return -2;
  for (int i = 0; i < g->count; i++) {
    if (!ir_owns_arena_buffer(&g->nodes[i])) continue;
    delta[g->nodes[i].group] += node_bytes(g, i);
    delta[end[i] + !ir_taken_over(g, i, end[i])] -= node_bytes(g, i); /* in place: once */
  }
  int peak = -1;
  for (int k = 0; k < kernels; k++) {
    live += delta[k];
    if (live > most) most = live, peak = k;
  }
  free(delta);
  return peak;
}

static void add_live(const IrGraph *g, int v, unsigned char kind, bool saved, Peak *p) {
  int64_t bytes = node_bytes(g, v);
  if (kind == KIND_GRADIENT) p->gradients += bytes;
  else if (kind == KIND_FORWARD && saved) p->saved_activations += bytes;
  else p->scratch += bytes;
}

static void split_peak(const IrGraph *g, const unsigned char *kind, const int *end,
                       const bool *saved, StepStats *s) {
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OP_PARAM && n->role == PG_ROLE_OPTSTATE)
      s->peak.optimizer_state += node_bytes(g, i);
    else if (n->op == IR_OP_PARAM) s->peak.weights += node_bytes(g, i);
    if (!ir_owns_arena_buffer(n)) continue;
    s->buffers_sum_bytes += node_bytes(g, i);
    bool gone = end[i] == s->peak_kernel && ir_taken_over(g, i, end[i]); /* counted in place */
    if (n->group <= s->peak_kernel && s->peak_kernel <= end[i] && !gone)
      add_live(g, i, kind[i], saved[i], &s->peak);
  }
}

static bool measure_memory(const IrGraph *g, StepStats *s) {
  size_t count = (size_t)g->count + 1;
  unsigned char *kind = pg_malloc(count);
  int *end = pg_malloc(count * sizeof *end);
  bool *saved = pg_malloc(count * sizeof *saved);
  bool ok = kind && end && saved;
  if (ok) {
    mark_kinds(g, kind);
    live_ends(g, kind, end, saved);
    s->peak_kernel = peak_kernel(g, end, g->nkernels);
    ok = s->peak_kernel > -2;
  }
  if (ok) split_peak(g, kind, end, saved, s);
  free(kind), free(end), free(saved);
  return ok;
}

/* ---- one step ---- */

static bool step_stats(const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph,
                       StepStats *s, int64_t *batch) {
  memset(s, 0, sizeof *s);
  IrGraph *g = build_graph(ast, cfg, c, graph, NULL);
  if (!g) return false;
  s->nodes = g->count;
  for (int i = 0; i < g->count; i++) s->ops += g->nodes[i].group >= 0;
  s->kernels = g->nkernels;
  s->arena_bytes = g->arena_bytes;
  *batch = g->max_batch;
  bool ok = count_traffic(g, s) && measure_memory(g, s);
  ir_graph_free(g);
  return ok;
}

static int64_t peak_total(const Peak *p) {
  return p->weights + p->gradients + p->optimizer_state + p->saved_activations + p->scratch;
}

/* ---- text ---- */

/* bytes as "512 B" below 1 KiB, else "456.0 KiB", "1.6 MiB", "2.3 GiB" */
static void human(char *buf, size_t cap, int64_t bytes) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) {
    snprintf(buf, cap, "%" PRId64 " B", bytes);
    return;
  }
  double v = (double)bytes / 1024;
  int u = 0;
  for (; u < 3 && v >= 1024; u++) v /= 1024;
  snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void count_row(const char *what, int train, int infer) {
  printf("%-22s %12d %12d\n", what, train, infer);
}

static void bytes_row(const char *what, int64_t train, int64_t infer) {
  char a[32], b[32];
  human(a, sizeof a, train);
  human(b, sizeof b, infer);
  printf("%-22s %12s %12s\n", what, a, b);
}

static void print_text(const char *model, const Cli *c, int64_t batch, const StepStats *t,
                       const StepStats *i) {
  printf("stats of %s (%s) at batch %" PRId64 "\n", model, c->input, batch);
  printf("%-22s %12s %12s\n", "", "train", "infer");
  count_row("nodes", t->nodes, i->nodes);
  count_row("ops", t->ops, i->ops);
  count_row("kernels", t->kernels, i->kernels);
  bytes_row("bytes unfused", t->bytes_unfused, i->bytes_unfused);
  bytes_row("bytes fused", t->bytes_fused, i->bytes_fused);
  bytes_row("arena", t->arena_bytes, i->arena_bytes);
  bytes_row("buffers sum", t->buffers_sum_bytes, i->buffers_sum_bytes);
  count_row("peak at kernel", t->peak_kernel, i->peak_kernel);
  bytes_row("  weights", t->peak.weights, i->peak.weights);
  bytes_row("  gradients", t->peak.gradients, i->peak.gradients);
  bytes_row("  optimizer state", t->peak.optimizer_state, i->peak.optimizer_state);
  bytes_row("  saved activations", t->peak.saved_activations, i->peak.saved_activations);
  bytes_row("  scratch", t->peak.scratch, i->peak.scratch);
  int64_t train_total = peak_total(&t->peak), infer_total = peak_total(&i->peak);
  bytes_row("  total", train_total, infer_total);
}

/* ---- JSON ---- */

static void json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void json_step(const char *key, const StepStats *s) {
  const Peak *p = &s->peak;
  printf("\"%s\": {\"nodes\": %d, \"ops\": %d, \"kernels\": %d, ", key, s->nodes, s->ops,
         s->kernels);
  printf("\"bytes_unfused\": %" PRId64 ", \"bytes_fused\": %" PRId64 ", ", s->bytes_unfused,
         s->bytes_fused);
  printf("\"arena_bytes\": %" PRId64 ", \"buffers_sum_bytes\": %" PRId64 ", ", s->arena_bytes,
         s->buffers_sum_bytes);
  printf("\"peak_kernel\": %d, \"peak\": {\"weights\": %" PRId64 ", \"gradients\": %" PRId64,
         s->peak_kernel, p->weights, p->gradients);
  printf(", \"optimizer_state\": %" PRId64 ", \"saved_activations\": %" PRId64, p->optimizer_state,
         p->saved_activations);
  printf(", \"scratch\": %" PRId64 ", \"total\": %" PRId64 "}}", p->scratch, peak_total(p));
}

static void print_json(const char *model, const Cli *c, int64_t batch, const StepStats *t,
                       const StepStats *i) {
  printf("{\"model\": ");
  json_string(model);
  printf(", \"file\": ");
  json_string(c->input);
  printf(", \"batch\": %" PRId64 ", ", batch);
  json_step("train", t);
  printf(", ");
  json_step("infer", i);
  printf("}\n");
}

int cmd_stats(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
  StepStats train, infer;
  int64_t batch = 0, infer_batch = 0;
  bool ok = ast && step_stats(ast, &cfg, c, "train", &train, &batch) &&
            step_stats(ast, &cfg, c, "predict", &infer, &infer_batch);
  if (ok && c->json) print_json(model_name(ast), c, batch, &train, &infer);
  else if (ok) print_text(model_name(ast), c, batch, &train, &infer);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

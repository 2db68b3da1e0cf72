/* autodiff_scan.c — the backward rule of a scan: a scan the other way round
 * (docs/ir.md, "Scan").
 *
 * A scan s computes carries c_{t+1} = f(c_t, x_t, w) and per-step results
 * y_t. Its reverse R runs the steps backwards. R's carries are the carries'
 * gradients dc, and one accumulator per invariant w whose gradient sums over
 * the steps; its sequences are the input carries c_t of every step (saved by
 * s: its body gains an output per carry), s's own sequences x, and the
 * results' gradients dy. R's body recomputes f's step from c_t (a clone of
 * f's body: recomputation instead of saving every intermediate value, so the
 * memory is one carry per step) and runs the backward rules on the clone.
 *
 * An invariant used once, as the weight of a matmul `a w` with a per-step a
 * (an RNN's recurrent kernel), gets no accumulator: its gradient, the sum
 * over steps of a_t^T g_t, is one matmul over the whole sequences after the
 * loop, with R writing g_t (and a_t, unless it is one of R's sequences) as
 * per-step results. */
#include <stdlib.h>

#include "autodiff.h"

typedef struct {
  Ad *ad;
  const IrNode *s; /* the forward scan (a copy) */
  int id, carries, seqs, invariants;
  int *result_grad; /* per forward body output: the gradient of its result, -1 = none */
  int acc_of[IR_MAX_IN], nacc;   /* invariants summed in an accumulator carry */
  int gemm_of[IR_MAX_IN], ngemm; /* invariants whose gradient is a matmul after the loop */
  int gemm_src[IR_MAX_IN][2];    /* its operands: R input slot s >= 0, or R output ~s */
  int dy_of[IR_MAX_IN], ndy;     /* the forward body outputs dy is the gradient of */
  int dx_of[IR_MAX_IN], ndx;     /* the sequences that need gradients */
  int saved_slot[IR_MAX_IN];     /* forward body output of each saved input carry */
  int save_of[IR_MAX_IN], nsave; /* forward body values saved per step for the backward */
  int save_slot[IR_MAX_IN];      /* their forward body outputs */
  int hoisted[IR_MAX_IN], nhoisted; /* invariants computed before the loop (hoist_invariants) */
  int in[IR_MAX_IN], nin;        /* R's operands */
} ScanGrad;

/* R's body being built */
typedef struct {
  IrGraph *r;
  int dc[IR_MAX_IN], acc[IR_MAX_IN], carry[IR_MAX_IN], x[IR_MAX_IN], dy[IR_MAX_IN], w[IR_MAX_IN];
  int saved[IR_MAX_IN]; /* the saved values, as sequences */
  int *out_value;       /* per forward body output: its value in the clone */
  int *map, nclone;     /* forward body node -> its clone; the clone's size */
  int noutputs;
} Reverse;

static const IrNode *operand_node(ScanGrad *sg, int k) { return ir_node(sg->ad->g, sg->s->in[k]); }

/* like may point into g's nodes, which emitting may move: its shape first */
static int zeros_like(IrGraph *g, const IrNode *like, PgLoc loc) {
  PgShape shape = like->shape;
  int zero = ir_const(g, 0, loc);
  return ir_emit_typed(g, IR_OP_BROADCAST, 1, &zero, NULL, shape, loc);
}

static int add_operand(ScanGrad *sg, int v) {
  if (sg->nin == IR_MAX_IN) {
    diag_error(sg->s->loc, "autodiff: the reverse of this scan would take more than %d operands",
               IR_MAX_IN);
    return -1;
  }
  return sg->in[sg->nin++] = v;
}

/* the gradient each result of the scan received, summed per body output */
static bool result_grads(ScanGrad *sg) {
  bool any = false;
  for (int i = sg->id + 1; i < sg->ad->nforward; i++) {
    const IrNode *r = ir_node(sg->ad->g, i);
    if (r->op != IR_OP_RESULT || r->in[0] != sg->id || sg->ad->grad[i] < 0) continue;
    int *slot = &sg->result_grad[r->attr[0]], g = sg->ad->grad[i];
    *slot = *slot < 0 ? g : ir_binary(sg->ad->g, IR_OP_ADD, *slot, g, r->loc);
    any = true;
  }
  return any;
}

/* a body input of R of the type of `like` (a step's slice when sequence) */
static int body_input(IrGraph *r, const char *what, int k, const IrNode *like, bool sequence,
                      PgLoc loc) {
  char name[48];
  PgShape shape = like->shape;
  snprintf(name, sizeof name, "%s%d", what, k);
  if (sequence) {
    for (int d = 1; d < shape.rank - 1; d++) shape.dim[d] = shape.dim[d + 1];
    shape.rank--;
  }
  return ir_input(r, name, like->dtype, shape, loc);
}

/* invariant k is used once in f, as the weight b of a plain matmul a b with a batched a */
static bool gemm_weight(const IrGraph *f, int k) {
  int w = ir_slot_node(f, IR_OP_INPUT, k), uses = 0, user = -1;
  for (int i = 0; i < f->count; i++)
    for (int j = 0; j < f->nodes[i].nin; j++)
      if (f->nodes[i].in[j] == w) uses++, user = i;
  if (uses != 1) return false;
  const IrNode *m = &f->nodes[user];
  const IrNode *a = &f->nodes[m->in[0]];
  return m->op == IR_OP_MATMUL && m->in[1] == w && !m->attr[0] && !m->attr[1] &&
         a->shape.rank == 2 && a->shape.dim[0] == PG_BATCH;
}

/* which invariants, results and sequences take part; saves the input carries */
static bool plan_reverse(ScanGrad *sg) {
  IrGraph *f = sg->s->body;
  int c = sg->carries, s = sg->seqs;
  for (int i = 0; i < f->count; i++)
    if (ir_op_flags(f->nodes[i].op) & IR_REGION) {
      diag_error(sg->s->loc, "autodiff: a scan inside a scan's body is not differentiated yet");
      return false;
    }
  for (int i = 0; i < c; i++) {
    PgShape sh = operand_node(sg, i)->shape;
    if (sh.rank < 1 || sh.dim[0] != PG_BATCH || sh.rank == PG_MAX_RANK) {
      diag_error(sg->s->loc, "autodiff: a scan's carries must be [B, ...] to be differentiated");
      return false;
    }
  }
  for (int k = 0; k < sg->invariants; k++) {
    if (!sg->ad->needs[sg->s->in[c + s + k]]) continue;
    if (gemm_weight(f, c + s + k)) sg->gemm_of[sg->ngemm++] = k;
    else sg->acc_of[sg->nacc++] = k;
  }
  for (int o = c; o < f->noutputs; o++)
    if (sg->result_grad[o] >= 0) sg->dy_of[sg->ndy++] = o;
  for (int j = 0; j < s; j++)
    if (sg->ad->needs[sg->s->in[c + j]]) sg->dx_of[sg->ndx++] = j;
  for (int i = 0; i < c; i++) {
    char name[32];
    snprintf(name, sizeof name, "saved_carry%d", i);
    sg->saved_slot[i] = f->noutputs;
    if (ir_output(f, name, ir_slot_node(f, IR_OP_INPUT, i), sg->s->loc) < 0) return false;
  }
  return true;
}

/* R's inputs, in slot order: carries dc, acc; sequences c, x, dy; invariants w */
static bool reverse_inputs(ScanGrad *sg, Reverse *rv) {
  const IrGraph *f = sg->s->body;
  PgLoc l = sg->s->loc;
  int c = sg->carries, s = sg->seqs;
  IrGraph *r = rv->r;
  for (int i = 0; i < c; i++) rv->dc[i] = body_input(r, "dcarry", i, operand_node(sg, i), false, l);
  for (int k = 0; k < sg->nacc; k++)
    rv->acc[k] = body_input(r, "acc", k, operand_node(sg, c + s + sg->acc_of[k]), false, l);
  for (int i = 0; i < c; i++)
    rv->carry[i] = body_input(r, "carry", i, operand_node(sg, i), false, l);
  for (int j = 0; j < s; j++) rv->x[j] = body_input(r, "x", j, operand_node(sg, c + j), true, l);
  for (int k = 0; k < sg->nsave; k++)
    rv->saved[k] = body_input(r, "saved", k, &f->nodes[sg->save_of[k]], false, l);
  for (int k = 0; k < sg->ndy; k++) {
    const IrNode *y = &f->nodes[ir_slot_node(f, IR_OP_OUTPUT, sg->dy_of[k])];
    rv->dy[k] = body_input(r, "dy", k, y, false, l);
  }
  for (int k = 0; k < sg->invariants; k++)
    rv->w[k] = body_input(r, "w", k, operand_node(sg, c + s + k), false, l);
  int want = 2 * c + sg->nacc + s + sg->nsave + sg->ndy + sg->invariants;
  return r->ninputs == want; /* else reported */
}

/* the forward body's computation, again, on R's inputs */
static bool clone_forward(ScanGrad *sg, Reverse *rv) {
  const IrGraph *f = sg->s->body;
  int c = sg->carries, s = sg->seqs;
  int *map = rv->map = pg_malloc(((size_t)f->count + 1) * sizeof *map);
  rv->out_value = pg_malloc(((size_t)f->noutputs + 1) * sizeof *rv->out_value);
  if (!map || !rv->out_value) return false;
  for (int i = 0; i < f->count; i++) {
    IrNode n = f->nodes[i];
    map[i] = -1;
    if (n.op == IR_OP_INPUT) {
      int64_t k = n.attr[0];
      map[i] = k < c ? rv->carry[k] : k < c + s ? rv->x[k - c] : rv->w[k - c - s];
    } else if (n.op == IR_OP_OUTPUT) {
      rv->out_value[n.attr[0]] = map[n.in[0]];
    } else {
      for (int k = 0; k < n.nin; k++) n.in[k] = map[n.in[k]];
      n.group = -1, n.offset = -1;
      map[i] = ir_append_node(rv->r, &n);
    }
  }
  rv->nclone = rv->r->count;
  return true;
}

static int output(Reverse *rv, const char *name, int value, PgLoc loc) {
  ir_output(rv->r, name, value, loc);
  return rv->noutputs++;
}

/* where one operand of a gemm weight's gradient comes from: a sequence of R
 * (its input slot), or a per-step result R writes (~its output slot) */
static int gemm_source(ScanGrad *sg, Reverse *rv, int v) {
  const IrNode *n = ir_node(rv->r, v);
  int first = sg->carries + sg->nacc, after = first + sg->carries + sg->seqs + sg->nsave + sg->ndy;
  if (n->op == IR_OP_INPUT && n->attr[0] >= first && n->attr[0] < after) return (int)n->attr[0];
  for (int i = 0; i < rv->r->count; i++) { /* already a per-step result (dx)? */
    const IrNode *o = ir_node(rv->r, i);
    if (o->op == IR_OP_OUTPUT && o->in[0] == v && o->attr[0] >= first) return ~(int)o->attr[0];
  }
  return ~output(rv, "step", v, sg->s->loc);
}

/* R's outputs: next dc, next acc; then dx, and the gemm weights' operands */
static bool reverse_outputs(ScanGrad *sg, Reverse *rv, const Ad *rad) {
  IrGraph *r = rv->r;
  PgLoc l = sg->s->loc;
  for (int i = 0; i < sg->carries; i++) {
    int d = rad->grad[rv->carry[i]];
    output(rv, "dcarry", d >= 0 ? d : zeros_like(r, ir_node(r, rv->carry[i]), l), l);
  }
  for (int k = 0; k < sg->nacc; k++) {
    int d = rad->grad[rv->w[sg->acc_of[k]]];
    output(rv, "acc", d >= 0 ? ir_binary(r, IR_OP_ADD, rv->acc[k], d, l) : rv->acc[k], l);
  }
  for (int k = 0; k < sg->ndx; k++) {
    int x = rv->x[sg->dx_of[k]], d = rad->grad[x];
    output(rv, "dx", d >= 0 ? d : zeros_like(r, ir_node(r, x), l), l);
  }
  for (int k = 0; k < sg->ngemm; k++) {
    int d = rad->grad[rv->w[sg->gemm_of[k]]];
    const IrNode m = d >= 0 ? *ir_node(r, d) : (IrNode){0};
    if (m.op != IR_OP_MATMUL || m.attr[0] != 1 || m.attr[1] != 0) /* gemm_weight promised it */
      return diag_error(l, "internal error: a recurrent weight's gradient is not a matmul"), false;
    sg->gemm_src[k][0] = gemm_source(sg, rv, m.in[0]);
    sg->gemm_src[k][1] = gemm_source(sg, rv, m.in[1]);
  }
  return true;
}

/* a clone value a backward node may read from a saved sequence instead: a
 * tensor [B, ...] computed in the step (not an input or a constant) */
static bool saveable(const IrNode *n) {
  return n->op != IR_OP_INPUT && !(ir_op_flags(n->op) & IR_INLINE) && n->shape.rank >= 1 &&
         n->shape.dim[0] == PG_BATCH && n->shape.rank < PG_MAX_RANK;
}

/* the backward nodes read saved values instead of the clone's (which dce
 * then drops: nothing is recomputed) */
static void read_saved(ScanGrad *sg, Reverse *rv) {
  IrGraph *r = rv->r;
  int *to = pg_malloc(((size_t)rv->nclone + 1) * sizeof *to);
  if (!to) return;
  for (int i = 0; i < rv->nclone; i++) to[i] = -1;
  for (int k = 0; k < sg->nsave; k++) to[rv->map[sg->save_of[k]]] = rv->saved[k];
  for (int j = rv->nclone; j < r->count; j++)
    for (int k = 0; k < r->nodes[j].nin; k++) {
      int u = r->nodes[j].in[k];
      if (u < rv->nclone && to[u] >= 0) r->nodes[j].in[k] = to[u];
    }
  free(to);
}

/* backward rules over the clone, seeded with dc and dy */
static bool reverse_body(ScanGrad *sg, Reverse *rv) {
  IrGraph *r = rv->r;
  int nclone = r->count, c = sg->carries;
  int *grad = pg_malloc(((size_t)nclone + 1) * sizeof(int));
  Ad rad = {r, grad, pg_calloc((size_t)nclone + 1, sizeof(bool)), sg->s->loc, nclone,
            sg->ad->recompute_scans};
  bool ok = rad.grad && rad.needs;
  for (int i = 0; ok && i < nclone; i++) rad.grad[i] = -1;
  for (int i = 0; ok && i < c; i++) rad.needs[rv->carry[i]] = true;
  for (int k = 0; ok && k < sg->ndx; k++) rad.needs[rv->x[sg->dx_of[k]]] = true;
  for (int k = 0; ok && k < sg->nacc; k++) rad.needs[rv->w[sg->acc_of[k]]] = true;
  for (int k = 0; ok && k < sg->ngemm; k++) rad.needs[rv->w[sg->gemm_of[k]]] = true;
  if (ok) {
    ps_ad_propagate_needs(&rad, nclone - 1);
    for (int i = 0; i < c; i++) ps_ad_accumulate(&rad, rv->out_value[i], rv->dc[i]);
    for (int k = 0; k < sg->ndy; k++)
      ps_ad_accumulate(&rad, rv->out_value[sg->dy_of[k]], rv->dy[k]);
    ps_ad_sweep(&rad, nclone - 1);
    read_saved(sg, rv);
    ok = reverse_outputs(sg, rv, &rad);
  }
  free(rad.grad);
  free(rad.needs);
  return ok;
}

/* R node i reads only invariants and constants (the same value every step) */
static bool *fixed_nodes(ScanGrad *sg, const IrGraph *r) {
  bool *fixed = pg_calloc((size_t)r->count + 1, sizeof *fixed);
  int first_w = r->ninputs - sg->invariants;
  for (int i = 0; fixed && i < r->count; i++) {
    const IrNode *n = &r->nodes[i];
    fixed[i] = n->op == IR_OP_INPUT ? n->attr[0] >= first_w : (ir_op_flags(n->op) & IR_PURE) != 0;
    for (int k = 0; k < n->nin; k++) fixed[i] &= fixed[n->in[k]];
  }
  return fixed;
}

/* node v of R and what it reads, into the enclosing graph (memo: R -> outer) */
static void copy_out(ScanGrad *sg, const IrGraph *r, int v, int *memo) {
  IrGraph *g = sg->ad->g;
  bool *need = pg_calloc((size_t)v + 1, sizeof *need);
  if (!need) return;
  need[v] = true;
  for (int i = v; i >= 0; i--)
    for (int k = 0; need[i] && memo[i] < 0 && k < r->nodes[i].nin; k++)
      need[r->nodes[i].in[k]] = true;
  int first_w = r->ninputs - sg->invariants;
  for (int i = 0; i <= v; i++) {
    if (!need[i] || memo[i] >= 0) continue;
    IrNode n = r->nodes[i];
    if (n.op == IR_OP_INPUT) {
      memo[i] = sg->s->in[sg->carries + sg->seqs + n.attr[0] - first_w];
      continue;
    }
    for (int k = 0; k < n.nin; k++) n.in[k] = memo[n.in[k]];
    memo[i] = ir_append_node(g, &n);
  }
  free(need);
}

/* Work on invariants alone (the transposed recurrent kernel of dh = dz U^T)
 * would run every step: each such value a step reads is computed once in the
 * enclosing graph instead, and becomes an invariant input of R (the node
 * turns into that input in place, so ids and order stay). */
static bool hoist_invariants(ScanGrad *sg, Reverse *rv) {
  IrGraph *r = rv->r;
  bool *fixed = fixed_nodes(sg, r);
  int *memo = pg_malloc(((size_t)r->count + 1) * sizeof *memo), count = r->count;
  IrUses uses = ir_uses(r);
  bool ok = fixed && memo && uses.start;
  for (int i = 0; ok && i < count; i++) memo[i] = -1;
  for (int i = 0; ok && i < count; i++) {
    IrNode *n = &r->nodes[i];
    if (!n->nin || !ir_op_has_kernel(n->op) || !fixed[i]) continue;
    bool read_per_step = false;
    for (int u = uses.start[i]; u < uses.start[i + 1]; u++) read_per_step |= !fixed[uses.user[u]];
    if (!read_per_step || sg->nhoisted == IR_MAX_IN) continue;
    copy_out(sg, r, i, memo);
    sg->hoisted[sg->nhoisted++] = memo[i];
    *n = (IrNode){.op = IR_OP_INPUT,
                  .dtype = n->dtype,
                  .shape = n->shape,
                  .loc = n->loc,
                  .name = ir_strdup(r, "hoisted"),
                  .attr = {r->ninputs++},
                  .group = -1,
                  .offset = -1};
  }
  ir_uses_free(&uses);
  free(fixed);
  free(memo);
  return ok;
}

/* R's operands, in the slot order of reverse_inputs, then the hoisted values */
static bool reverse_operands(ScanGrad *sg) {
  IrGraph *g = sg->ad->g;
  int c = sg->carries, s = sg->seqs, ok = 1;
  PgLoc l = sg->s->loc;
  for (int i = 0; i < c; i++) {
    int d = sg->result_grad[i];
    ok &= add_operand(sg, d >= 0 ? d : zeros_like(g, operand_node(sg, i), l)) >= 0;
  }
  for (int k = 0; k < sg->nacc; k++) {
    int zero = zeros_like(g, operand_node(sg, c + s + sg->acc_of[k]), l);
    ok &= add_operand(sg, zero) >= 0;
  }
  for (int i = 0; i < c; i++)
    ok &= add_operand(sg, ir_result(g, sg->id, sg->saved_slot[i], l)) >= 0;
  for (int j = 0; j < s; j++) ok &= add_operand(sg, sg->s->in[c + j]) >= 0;
  for (int k = 0; k < sg->nsave; k++)
    ok &= add_operand(sg, ir_result(g, sg->id, sg->save_slot[k], l)) >= 0;
  for (int k = 0; k < sg->ndy; k++) ok &= add_operand(sg, sg->result_grad[sg->dy_of[k]]) >= 0;
  for (int k = 0; k < sg->invariants; k++) ok &= add_operand(sg, sg->s->in[c + s + k]) >= 0;
  for (int k = 0; k < sg->nhoisted; k++) ok &= add_operand(sg, sg->hoisted[k]) >= 0;
  return ok;
}

/* the gradients from R's results: carries' initial values, accumulators,
 * sequences, and each gemm weight's matmul over all steps */
/* result `index` of the reverse scan rs: one node per index (ir/verify.c) */
static int result_of(IrGraph *g, int rs, int index, PgLoc l) {
  for (int i = rs + 1; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_RESULT && g->nodes[i].in[0] == rs && g->nodes[i].attr[0] == index)
      return i;
  return ir_result(g, rs, index, l);
}

static void gradients(ScanGrad *sg, int rs) {
  Ad *ad = sg->ad;
  int c = sg->carries, s = sg->seqs;
  PgLoc l = sg->s->loc;
  ad->loc = l;
  for (int i = 0; i < c; i++) ps_ad_accumulate(ad, sg->s->in[i], result_of(ad->g, rs, i, l));
  for (int k = 0; k < sg->nacc; k++)
    ps_ad_accumulate(ad, sg->s->in[c + s + sg->acc_of[k]], result_of(ad->g, rs, c + k, l));
  for (int k = 0; k < sg->ndx; k++) {
    int dx = result_of(ad->g, rs, c + sg->nacc + k, l);
    ps_ad_accumulate(ad, sg->s->in[c + sg->dx_of[k]], dx);
  }
  for (int k = 0; k < sg->ngemm; k++) {
    int ab[2];
    for (int j = 0; j < 2; j++) {
      int src = sg->gemm_src[k][j];
      ab[j] = src >= 0 ? sg->in[src] : result_of(ad->g, rs, ~src, l);
    }
    int64_t ta[IR_MAX_ATTR] = {1, 0};
    ps_ad_accumulate(ad, sg->s->in[c + s + sg->gemm_of[k]],
                     ir_emit(ad->g, IR_OP_MATMUL, 2, ab, ta, l));
  }
}

/* A trial build of R's body, thrown away: which forward values its backward
 * nodes read. Those are saved (the forward body outputs them per step), so
 * that the real R recomputes nothing, unless the options ask for
 * recomputation (saving only the carries) or the reverse scan would take
 * more operands than a scan may. */
static bool choose_saved(ScanGrad *sg, bool recompute) {
  Reverse trial = {.r = ir_graph_new("trial")};
  IrGraph *f = sg->s->body;
  bool ok = trial.r;
  if (ok) trial.r->depth = f->depth;
  ok = ok && reverse_inputs(sg, &trial) && clone_forward(sg, &trial) && reverse_body(sg, &trial);
  int *clone_of = ok ? pg_calloc((size_t)trial.nclone + 1, sizeof(int)) : NULL;
  for (int i = 0; clone_of && i < f->count; i++)
    if (trial.map[i] >= 0) clone_of[trial.map[i]] = i + 1;
  bool *seen = ok ? pg_calloc((size_t)f->count + 1, sizeof(bool)) : NULL;
  for (int j = trial.nclone; seen && clone_of && j < trial.r->count; j++)
    for (int k = 0; k < trial.r->nodes[j].nin; k++) {
      int u = trial.r->nodes[j].in[k];
      if (u >= trial.nclone || !clone_of[u] || !saveable(&trial.r->nodes[u]) ||
          seen[clone_of[u] - 1])
        continue;
      seen[clone_of[u] - 1] = true;
      if (sg->nsave < IR_MAX_IN) sg->save_of[sg->nsave++] = clone_of[u] - 1;
    }
  int operands = 2 * sg->carries + sg->nacc + sg->seqs + sg->nsave + sg->ndy + sg->invariants;
  if (recompute || operands + 2 > IR_MAX_IN) sg->nsave = 0; /* + 2: room for hoisted values */
  for (int k = 0; ok && k < sg->nsave; k++) {
    sg->save_slot[k] = f->noutputs;
    ok = ir_output(f, "saved", sg->save_of[k], sg->s->loc) >= 0;
  }
  ir_graph_free(trial.r);
  free(trial.out_value), free(trial.map), free(clone_of), free(seen);
  return ok;
}

void ps_ad_scan(Ad *ad, int id) {
  const IrNode s = *ir_node(ad->g, id);
  int c = (int)s.attr[1], seqs = (int)s.attr[2];
  ScanGrad sg = {.ad = ad, .s = &s, .id = id, .carries = c, .seqs = seqs};
  sg.invariants = s.nin - c - seqs;
  Reverse rv = {0};
  size_t outputs = (size_t)s.body->noutputs + 1; /* before it gains outputs for what is saved */
  sg.result_grad = pg_malloc(outputs * sizeof(int));
  char name[160];
  snprintf(name, sizeof name, "%s.reverse", s.body->name);
  bool ok = sg.result_grad;
  for (size_t i = 0; ok && i < outputs; i++) sg.result_grad[i] = -1;
  ok = ok && result_grads(&sg) && plan_reverse(&sg) && choose_saved(&sg, ad->recompute_scans) &&
       (rv.r = ir_region_new(ad->g, name, s.loc)) &&
       reverse_inputs(&sg, &rv) && clone_forward(&sg, &rv) && reverse_body(&sg, &rv) &&
       hoist_invariants(&sg, &rv) && reverse_operands(&sg);
  if (ok) {
    int64_t attr[IR_MAX_ATTR] = {s.attr[0], c + sg.nacc, c + seqs + sg.nsave + sg.ndy, !s.attr[3]};
    int rs = ir_scan(ad->g, rv.r, sg.nin, sg.in, attr, s.loc);
    if (rs >= 0) gradients(&sg, rs);
  }
  free(sg.result_grad);
  free(rv.out_value);
  free(rv.map);
}

/* describe.c — the manifest of a compiled step graph (program/program.h):
 * the one place where the IR's conventions become typed roles. The frontend
 * names the loss "loss", a gradient output "grad:<param>", the per-example
 * report outputs "report:class" / "report:label" (a classifier) or
 * "report:prediction" / "report:target" (a regression) or "report:scores"
 * (a language model's scores per position, no truth), a metric's divisor
 * "count:<metric>" (a per-token metric counts tokens, not examples), a
 * metric reported as exp(mean) "exp:<metric>" (perplexity), and makes the dropout seed the
 * only scalar i32 input; the decode pass names its position input
 * "decode:position" and a cache "state:<name>" (input and output). Past this
 * file nothing matches a name. */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static bool is_prediction(const char *name) {
  return strcmp(name, "report:class") == 0 || strcmp(name, "report:prediction") == 0 ||
         strcmp(name, "report:scores") == 0;
}

static bool is_state(const char *name) { return strncmp(name, "state:", 6) == 0; }

static PgSlotRole output_role(const IrNode *n) {
  if (strcmp(n->name, "loss") == 0) return PG_SLOT_LOSS;
  if (strcmp(n->name, "lr") == 0) return PG_SLOT_RATE;
  if (is_state(n->name)) return PG_SLOT_STATE;
  if (strncmp(n->name, "grad:", 5) == 0) return PG_SLOT_GRADIENT;
  if (strncmp(n->name, "count:", 6) == 0) return PG_SLOT_COUNT;
  if (is_prediction(n->name)) return PG_SLOT_PREDICTION;
  if (strcmp(n->name, "report:label") == 0 || strcmp(n->name, "report:target") == 0)
    return PG_SLOT_TRUTH;
  if (strcmp(n->name, "report:probabilities") == 0) return PG_SLOT_PROBABILITY;
  return n->shape.rank == 0 ? PG_SLOT_METRIC : PG_SLOT_PREDICTION;
}

/* the bound on the values of an integer input: the classes of a one_hot it
 * feeds (and the ignored label it allows), or the rows of a table it
 * indexes; 0 if it feeds neither */
static int64_t input_bound(const IrGraph *g, int input, int64_t *ignore) {
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OP_ONE_HOT && ir_alias_root(g, n->in[0]) == input) {
      *ignore = n->attr[1];
      return n->attr[0];
    }
    if (n->op == IR_OP_GATHER && ir_alias_root(g, n->in[1]) == input)
      return g->nodes[n->in[0]].shape.dim[0];
  }
  return 0;
}

/* per node: whether a prediction output depends on it (NULL if the graph has
 * no prediction output, or without memory) */
static bool *prediction_ancestors(const IrGraph *g) {
  bool *reads = calloc((size_t)g->count + 1, sizeof *reads), any = false;
  for (int i = g->count - 1; reads && i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OP_OUTPUT && is_prediction(n->name)) reads[i] = any = true;
    for (int k = 0; reads[i] && k < n->nin; k++) reads[n->in[k]] = true;
  }
  if (!any) free(reads);
  return any ? reads : NULL;
}

static PgSlot input_slot(PgEntry *e, const IrGraph *g, int i, const bool *predicted) {
  const IrNode *n = &g->nodes[i];
  PgSlot s = {
      .name = pg_strdup(e, n->name), .io = (int)n->attr[0], .dtype = n->dtype, .shape = n->shape};
  s.role = n->shape.rank == 0 && n->dtype == PG_I32      ? PG_SLOT_SEED
           : strcmp(n->name, "decode:position") == 0 ? PG_SLOT_POSITION
           : is_state(n->name)                       ? PG_SLOT_STATE
           : predicted && !predicted[i]              ? PG_SLOT_LABEL
                                                     : PG_SLOT_DATA;
  if (n->dtype == PG_I32) s.bound = input_bound(g, i, &s.ignore);
  s.scale = 1;
  return s;
}

static PgSlot output_slot(PgEntry *e, const IrGraph *g, const IrNode *n) {
  PgSlotRole role = output_role(n);
  PgSlot s = {.name = pg_strdup(e, n->name), .output = true, .io = g->ninputs + (int)n->attr[0],
              .dtype = n->dtype, .shape = n->shape, .role = role, .scale = 1};
  if (s.role == PG_SLOT_GRADIENT) s.of = pg_strdup(e, n->name + 5);
  if (s.role == PG_SLOT_COUNT) s.of = pg_strdup(e, n->name + 6);
  if (s.role == PG_SLOT_METRIC && strncmp(n->name, "exp:", 4) == 0) {
    s.exp = true;
    s.name = pg_strdup(e, n->name + 4);
  }
  s.classes = strcmp(n->name, "report:class") == 0 || strcmp(n->name, "report:label") == 0;
  return s;
}

static PgEntryKind kind_of(const IrGraph *g, const PgEntry *e) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_ASSIGN) return PG_ENTRY_TRAIN;
  if (pg_slot_with_role(e, PG_SLOT_GRADIENT)) return PG_ENTRY_GRAD;
  return pg_slot_with_role(e, PG_SLOT_LOSS) ? PG_ENTRY_EVAL : PG_ENTRY_PREDICT;
}

static void describe_nodes(const IrGraph *g, PgEntry *e) {
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    PgNodeInfo *d = &e->nodes[i];
    bool sink = (ir_op_flags(n->op) & IR_SIDE_EFFECT) != 0;
    *d = (PgNodeInfo){ir_op_name(n->op), n->group, n->loc, n->nin, {0}, sink};
    memcpy(d->in, n->in, sizeof d->in);
  }
  e->nnodes = g->count;
}

bool cg_describe(const IrGraph *g, bool debug, PgEntry *e) {
  memset(e, 0, sizeof *e);
  e->name = pg_strdup(e, g->name);
  e->arena_bytes = g->arena_bytes, e->arena_align = 64;
  e->max_batch = g->max_batch, e->nkernels = g->nkernels;
  e->ninputs = g->ninputs, e->noutputs = g->noutputs;
  e->slots = pg_calloc((size_t)g->ninputs + g->noutputs + 1, sizeof *e->slots);
  e->params = pg_calloc((size_t)g->nparams + 1, sizeof *e->params);
  e->nodes = debug ? pg_calloc((size_t)g->count + 1, sizeof *e->nodes) : NULL;
  bool *predicted = prediction_ancestors(g);
  if (!e->slots || !e->params || (debug && !e->nodes))
    return free(predicted), pg_entry_free(e), false;
  for (int i = 0; i < g->count; i++) { /* inputs first, then outputs */
    const IrNode *n = &g->nodes[i];
    if (n->op == IR_OP_INPUT) e->slots[e->nslots++] = input_slot(e, g, i, predicted);
    else if (n->op == IR_OP_PARAM)
      e->params[e->nparams++] =
          (PgParam){pg_strdup(e, n->name), n->role, n->init, n->shape, (int)n->attr[0], n->loc};
  }
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_OUTPUT) e->slots[e->nslots++] = output_slot(e, g, &g->nodes[i]);
  free(predicted);
  e->kind = kind_of(g, e);
  if (debug) describe_nodes(g, e);
  return true;
}

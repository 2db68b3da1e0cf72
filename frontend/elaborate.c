/* elaborate.c — the model block of an AST to a forward IR graph.
 *
 * Layers (dense, dropout, flatten, losses, metrics) are composites: each
 * becomes a few primitive ops here, so that autodiff, fusion and codegen only
 * ever see primitives. Names are bound in order, like Python assignments.
 * Elaboration goes on after an error (an erroneous value is -1 and is passed
 * through silently) so that one run reports every independent error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

#define MAX_NAMES 256
#define MAX_PARAMS 8

typedef struct {
  IrGraph *g;
  FeMode mode;
  struct {
    const char *name;
    int value;
    IrLoc input; /* where it was declared, if it is a model input */
    bool used;
  } names[MAX_NAMES];
  int nnames;
  int seed;      /* the per-step random seed input, created on first use */
  int batch;     /* the batch_size node, created on first use */
  int ndense, ndropout;
  bool has_loss;
} Elab;

/* a builtin's parameters bound to the call's arguments */
typedef struct {
  const AstExpr *call;
  const AstExpr *arg[MAX_PARAMS];
} Args;

typedef int (*BuiltinFn)(Elab *e, Args *a);

typedef struct {
  const char *name;
  const char *params; /* "x units | activation use_bias": required before '|' */
  BuiltinFn fn;
  int op;             /* elementwise builtins: the IR op */
} Builtin;

static int elab_expr(Elab *e, const AstExpr *x);

/* ---- names ---- */

static int lookup(Elab *e, const char *name) {
  for (int i = e->nnames - 1; i >= 0; i--)
    if (strcmp(e->names[i].name, name) == 0) return i;
  return -1;
}

static void bind(Elab *e, const char *name, int value, IrLoc loc) {
  int i = lookup(e, name);
  if (i >= 0) {
    e->names[i].value = value;
    return;
  }
  if (e->nnames == MAX_NAMES) {
    diag_error(loc, "too many names in one model (at most %d)", MAX_NAMES);
    return;
  }
  e->names[e->nnames].name = name;
  e->names[e->nnames].input = (IrLoc){0};
  e->names[e->nnames].used = false;
  e->names[e->nnames++].value = value;
}

/* ---- arguments ---- */

static int param_index(const char *params, const char *name, int *nreq, int *nparams) {
  int idx = -1, k = 0;
  *nreq = -1;
  for (const char *p = params; *p;) {
    while (*p == ' ') p++;
    if (*p == '|') {
      *nreq = k;
      p++;
      continue;
    }
    size_t len = strcspn(p, " |");
    if (!len) break;
    if (name && strlen(name) == len && strncmp(p, name, len) == 0) idx = k;
    k++;
    p += len;
  }
  if (*nreq < 0) *nreq = k;
  *nparams = k;
  return idx;
}

static bool bind_args(const Builtin *b, const AstExpr *call, Args *a) {
  int nreq, nparams, npos = 0;
  param_index(b->params, NULL, &nreq, &nparams);
  memset(a, 0, sizeof *a);
  a->call = call;
  for (int i = 0; i < call->nargs; i++) {
    const AstExpr *x = call->args[i];
    int slot = x->kind == AST_KWARG ? param_index(b->params, x->str, &nreq, &nparams) : npos++;
    if (x->kind == AST_KWARG && slot < 0) {
      diag_error(x->loc, "'%s' has no argument named '%s'", b->name, x->str);
      return false;
    }
    if (slot >= nparams) {
      diag_error(x->loc, "too many arguments to '%s' (it takes %d)", b->name, nparams);
      return false;
    }
    if (a->arg[slot]) {
      diag_error(x->loc, "argument %d of '%s' given twice", slot + 1, b->name);
      return false;
    }
    a->arg[slot] = x->kind == AST_KWARG ? x->args[0] : x;
  }
  for (int i = 0; i < nreq; i++)
    if (!a->arg[i]) {
      diag_error(call->loc, "'%s' expects at least %d argument%s, got %d", b->name, nreq,
                 nreq == 1 ? "" : "s", call->nargs);
      return false;
    }
  return true;
}

static bool number_arg(const AstExpr *x, double *out) {
  bool neg = x->kind == AST_NEG;
  if (neg) x = x->args[0];
  if (x->kind != AST_NUM) {
    diag_error(x->loc, "expected a number here");
    return false;
  }
  *out = neg ? -x->num : x->num;
  return true;
}

static bool int_arg(const AstExpr *x, int64_t lo, int64_t *out) {
  double v;
  if (!number_arg(x, &v)) return false;
  if (v != floor(v) || v < lo || v > 1e9) {
    diag_error(x->loc, "expected an integer >= %lld here", (long long)lo);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

/* identifiers used as option values: activation=relu, from_logits=true */
static const char *word_arg(const AstExpr *x) {
  if (x->kind == AST_NAME || x->kind == AST_STR) return x->str;
  diag_error(x->loc, "expected a name here");
  return NULL;
}

static int bool_arg(const AstExpr *x, int dflt) {
  if (!x) return dflt;
  const char *w = word_arg(x);
  if (w && strcmp(w, "true") == 0) return 1;
  if (w && strcmp(w, "false") == 0) return 0;
  if (w) diag_error(x->loc, "expected true or false");
  return -1;
}

/* ---- helpers ---- */

static IrNode *node(Elab *e, int id) { return ir_node(e->g, id); }

static int rank_of(Elab *e, int id) { return node(e, id)->shape.rank; }

static bool want_rank(Elab *e, int id, int rank, const AstExpr *at, const char *what) {
  if (id < 0) return false;
  if (rank_of(e, id) == rank) return true;
  char s[64];
  ir_shape_str(&node(e, id)->shape, s, sizeof s);
  diag_error(at->loc, "%s must have rank %d (batch included), got %s", what, rank, s);
  return false;
}

static int batch_size(Elab *e, IrLoc loc) {
  if (e->batch < 0) e->batch = ir_batch_size(e->g, loc);
  return e->batch;
}

static int sum_all(Elab *e, int x, IrLoc loc) {
  if (x < 0) return -1;
  int64_t axes[IR_MAX_ATTR] = {(1 << rank_of(e, x)) - 1};
  int s = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &x, axes, loc);
  return ir_reshape(e->g, s, (IrShape){0}, loc);
}

/* ---- builtins ---- */

static int b_eltwise(Elab *e, Args *a);

static int b_flatten(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  if (x < 0) return -1;
  IrShape s = node(e, x)->shape;
  if (s.rank < 1 || s.dim[0] != IR_BATCH) {
    diag_error(a->call->loc, "'flatten' expects a batched tensor");
    return -1;
  }
  IrShape to = {2, {IR_BATCH, ir_numel(&s, 1)}};
  return ir_reshape(e->g, x, to, a->call->loc);
}

static int b_dense(Elab *e, Args *a) {
  IrLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  int64_t units;
  if (!int_arg(a->arg[1], 1, &units) | !want_rank(e, x, 2, a->arg[0], "the input of 'dense'"))
    return -1;
  const char *act = a->arg[2] ? word_arg(a->arg[2]) : "linear";
  int use_bias = bool_arg(a->arg[3], 1);
  if (!act || use_bias < 0) return -1;
  if (strcmp(act, "relu") != 0 && strcmp(act, "linear") != 0) {
    diag_error(a->arg[2]->loc, "unknown activation '%s' (expected relu or linear)", act);
    return -1;
  }
  char name[64];
  const char *layer = a->arg[4] ? word_arg(a->arg[4]) : NULL;
  e->ndense++;
  if (!layer) snprintf(name, sizeof name, "dense_%d", e->ndense), layer = name;
  char pname[96];
  snprintf(pname, sizeof pname, "%s.kernel", layer);
  int64_t in = node(e, x)->shape.dim[1];
  int w = ir_param(e->g, pname, IR_ROLE_WEIGHT, IR_INIT_GLOROT_UNIFORM, (IrShape){2, {in, units}}, loc);
  int y = ir_binary(e->g, IR_OP_MATMUL, x, w, loc);
  if (use_bias) {
    snprintf(pname, sizeof pname, "%s.bias", layer);
    int b = ir_param(e->g, pname, IR_ROLE_WEIGHT, IR_INIT_ZEROS, (IrShape){1, {units}}, loc);
    y = ir_binary(e->g, IR_OP_ADD, y, b, loc);
  }
  return strcmp(act, "relu") == 0 ? ir_unary(e->g, IR_OP_RELU, y, loc) : y;
}

/* Inverted dropout: keep each element with probability 1-rate and scale it by
 * 1/(1-rate), so inference is the identity. The mask comes from a counter-based
 * generator in the kernel, seeded per step by the runtime. */
static int b_dropout(Elab *e, Args *a) {
  IrLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  double rate;
  if (!number_arg(a->arg[1], &rate) || x < 0) return -1;
  if (rate < 0 || rate >= 1) {
    diag_error(a->arg[1]->loc, "dropout rate must be in [0, 1), got %g", rate);
    return -1;
  }
  e->ndropout++;
  if (e->mode != FE_TRAINING || rate == 0) return x;
  if (e->seed < 0) e->seed = ir_input(e->g, "seed", IR_I32, (IrShape){0}, loc);
  int64_t stream[IR_MAX_ATTR] = {e->ndropout};
  int u = ir_emit_typed(e->g, IR_OP_RANDOM_UNIFORM, 1, &e->seed, stream, node(e, x)->shape, loc);
  int keep = ir_binary(e->g, IR_OP_GE, u, ir_const(e->g, rate, loc), loc);
  int mask = ir_binary(e->g, IR_OP_MUL, keep, ir_const(e->g, 1.0 / (1.0 - rate), loc), loc);
  return ir_binary(e->g, IR_OP_MUL, x, mask, loc);
}

static int b_log_softmax(Elab *e, Args *a) {
  return ir_unary(e->g, IR_OP_LOG_SOFTMAX, elab_expr(e, a->arg[0]), a->call->loc);
}

static bool class_pair(Elab *e, Args *a, int *scores, int *labels) {
  *scores = elab_expr(e, a->arg[0]);
  *labels = elab_expr(e, a->arg[1]);
  if (!want_rank(e, *scores, 2, a->arg[0], "the class scores") |
      !want_rank(e, *labels, 1, a->arg[1], "the labels"))
    return false;
  if (node(e, *labels)->dtype != IR_I32) {
    diag_error(a->arg[1]->loc, "labels must be integers (i32)");
    return false;
  }
  return true;
}

/* mean over the batch of -log p[label]; p = softmax(logits) or given */
static int b_sparse_cce(Elab *e, Args *a) {
  IrLoc loc = a->call->loc;
  int z, y, from_logits = bool_arg(a->arg[2], 1);
  if (!class_pair(e, a, &z, &y) || from_logits < 0) return -1;
  int logp = from_logits ? ir_unary(e->g, IR_OP_LOG_SOFTMAX, z, loc)
                         : ir_unary(e->g, IR_OP_LOG, z, loc);
  int64_t depth[IR_MAX_ATTR] = {node(e, z)->shape.dim[1]};
  int onehot = ir_emit(e->g, IR_OP_ONE_HOT, 1, &y, depth, loc);
  int picked = sum_all(e, ir_binary(e->g, IR_OP_MUL, onehot, logp, loc), loc);
  return ir_binary(e->g, IR_OP_DIV, ir_unary(e->g, IR_OP_NEG, picked, loc), batch_size(e, loc), loc);
}

/* per example: 1 if the highest score is the label's, else 0 */
static int b_accuracy(Elab *e, Args *a) {
  int z, y;
  if (!class_pair(e, a, &z, &y)) return -1;
  return ir_binary(e->g, IR_OP_EQ, ir_unary(e->g, IR_OP_ARGMAX, z, a->call->loc), y, a->call->loc);
}

static const Builtin builtins[] = {
    {"flatten", "x", b_flatten, 0},
    {"dense", "x units | activation use_bias name", b_dense, 0},
    {"dropout", "x rate", b_dropout, 0},
    {"relu", "x", b_eltwise, IR_OP_RELU},
    {"exp", "x", b_eltwise, IR_OP_EXP},
    {"log", "x", b_eltwise, IR_OP_LOG},
    {"sqrt", "x", b_eltwise, IR_OP_SQRT},
    {"maximum", "x y", b_eltwise, IR_OP_MAX},
    {"log_softmax", "x", b_log_softmax, 0},
    {"sparse_categorical_crossentropy", "logits labels | from_logits", b_sparse_cce, 0},
    {"accuracy", "scores labels", b_accuracy, 0},
};

static const Builtin *builtin_of(const AstExpr *call) {
  for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
    if (strcmp(builtins[i].name, call->str) == 0) return &builtins[i];
  return NULL;
}

static int b_eltwise(Elab *e, Args *a) {
  const Builtin *b = builtin_of(a->call);
  int x = elab_expr(e, a->arg[0]);
  if (ir_op_arity(b->op) == 1) return ir_unary(e->g, b->op, x, a->call->loc);
  return ir_binary(e->g, b->op, x, elab_expr(e, a->arg[1]), a->call->loc);
}

/* ---- expressions and statements ---- */

static int elab_call(Elab *e, const AstExpr *x) {
  const Builtin *b = builtin_of(x);
  Args a;
  if (!b) {
    diag_error(x->loc, "unknown layer or function '%s'", x->str);
    return -1;
  }
  return bind_args(b, x, &a) ? b->fn(e, &a) : -1;
}

static int elab_binop(Elab *e, const AstExpr *x) {
  int l = elab_expr(e, x->args[0]), r = elab_expr(e, x->args[1]);
  switch (x->op) {
  case '+': return ir_binary(e->g, IR_OP_ADD, l, r, x->loc);
  case '-': return ir_binary(e->g, IR_OP_SUB, l, r, x->loc);
  case '*': return ir_binary(e->g, IR_OP_MUL, l, r, x->loc);
  case '/': return ir_binary(e->g, IR_OP_DIV, l, r, x->loc);
  default: return ir_binary(e->g, IR_OP_MATMUL, l, r, x->loc);
  }
}

static int elab_expr(Elab *e, const AstExpr *x) {
  switch (x->kind) {
  case AST_NUM: return ir_const(e->g, x->num, x->loc);
  case AST_NEG: return ir_unary(e->g, IR_OP_NEG, elab_expr(e, x->args[0]), x->loc);
  case AST_BINOP: return elab_binop(e, x);
  case AST_CALL: return elab_call(e, x);
  case AST_NAME: {
    int i = lookup(e, x->str);
    if (i < 0) diag_error(x->loc, "unknown name '%s'", x->str);
    else e->names[i].used = true;
    return i < 0 ? -1 : e->names[i].value;
  }
  case AST_STR: diag_error(x->loc, "a string is not a tensor"); return -1;
  case AST_KWARG: diag_error(x->loc, "keyword argument outside a call"); return -1;
  case AST_LIST: diag_error(x->loc, "a list is not a tensor"); return -1;
  }
  return -1;
}

static void elab_input(Elab *e, const AstStmt *s) {
  if (lookup(e, s->name) >= 0) {
    diag_error(s->loc, "redefinition of '%s'", s->name);
    return;
  }
  IrShape shape = {1, {IR_BATCH}};
  for (int i = 0; i < s->type.shape.rank; i++) shape.dim[shape.rank++] = s->type.shape.dim[i];
  bind(e, s->name, ir_input(e->g, s->name, s->type.dtype, shape, s->loc), s->loc);
  int i = lookup(e, s->name);
  if (i >= 0) e->names[i].input = s->loc;
}

static void warn_unused_inputs(Elab *e) {
  for (int i = 0; i < e->nnames; i++)
    if (e->names[i].input.file && !e->names[i].used)
      diag_warning(e->names[i].input, "input '%s' is never used", e->names[i].name);
}

static void elab_loss(Elab *e, const AstStmt *s) {
  if (e->has_loss) diag_error(s->loc, "a model has one loss; this is the second");
  e->has_loss = true;
  int v = elab_expr(e, s->expr);
  if (v >= 0 && rank_of(e, v) != 0) {
    diag_error(s->expr->loc, "the loss must be a scalar (reduce it over the batch)");
    return;
  }
  ir_output(e->g, "loss", v, s->loc);
}

/* A metric is a per-example value; the step outputs its sum over the batch and
 * the runtime averages over all examples seen. */
static void elab_metric(Elab *e, const AstStmt *s) {
  int v = elab_expr(e, s->expr);
  if (v < 0) return;
  if (rank_of(e, v) != 1 || node(e, v)->shape.dim[0] != IR_BATCH) {
    diag_error(s->expr->loc, "a metric must give one value per example");
    return;
  }
  const char *name = s->expr->kind == AST_CALL ? s->expr->str : "metric";
  ir_output(e->g, name, sum_all(e, v, s->loc), s->loc);
}

static void elab_stmt(Elab *e, const AstStmt *s) {
  switch (s->kind) {
  case ST_INPUT: elab_input(e, s); break;
  case ST_LET: bind(e, s->name, elab_expr(e, s->expr), s->loc); break;
  case ST_LOSS: elab_loss(e, s); break;
  case ST_METRIC: elab_metric(e, s); break;
  }
}

IrGraph *fe_elaborate(const AstFile *f, FeMode mode) {
  const AstBlock *model = f->blocks;
  while (model && model->kind != BLOCK_MODEL) model = model->next;
  if (!model) {
    diag_error((IrLoc){f->file, 1, 1}, "no 'model' block in this file");
    return NULL;
  }
  int errors = diag_error_count();
  Elab e = {.g = ir_graph_new(model->name), .mode = mode, .seed = -1, .batch = -1};
  for (const AstStmt *s = model->stmts; s; s = s->next) elab_stmt(&e, s);
  if (!e.has_loss) diag_error(model->loc, "model '%s' has no 'loss' statement", model->name);
  if (mode != FE_INFERENCE) warn_unused_inputs(&e);
  if (diag_error_count() != errors) {
    ir_graph_free(e.g);
    return NULL;
  }
  return e.g;
}

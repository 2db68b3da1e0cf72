/* elaborate.c — the model block of an AST to a forward IR graph: names,
 * arguments, expressions, statements, and the table of builtins.
 *
 * Layers (layers.c) and losses and metrics (losses.c) are composites: each
 * becomes a few primitive ops, so that autodiff, fusion and codegen only ever
 * see primitives. Names are bound in order, like Python assignments, to
 * tensors, numbers known while compiling (which builtins take where they want
 * numbers) or, in a block (blocks.c), words.
 * Elaboration goes on after an error (an erroneous value is -1 and is passed
 * through silently) so that one run reports every independent error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elab.h"


/* ---- argument and tensor helpers shared with layers.c, losses.c ---- */

/* The scope being elaborated: the builtins' number_arg and word_arg read the
 * names of the model or block instance they are called in without taking it
 * as an argument (their signature is the builtins' shared interface). */
static Elab *scope;

Elab *elab_scope(Elab *inner) {
  Elab *outer = scope;
  scope = inner;
  return outer;
}

static bool not_number(const AstExpr *x, bool report) {
  if (report) diag_error(x->loc, "expected a number here");
  return false;
}

static bool name_number(Elab *e, const AstExpr *x, double *out, bool report) {
  int i = e ? elab_lookup(e, x->str) : -1;
  if (i < 0 || e->names[i].v.kind != NAME_NUMBER) return not_number(x, report);
  e->names[i].used = true;
  *out = e->names[i].v.num;
  return true;
}

static bool arith(const AstExpr *x, double l, double r, double *out, bool report) {
  switch (x->op) {
  case '+': *out = l + r; break;
  case '-': *out = l - r; break;
  case '*': *out = l * r; break;
  case '/':
    if (r == 0 && report) diag_error(x->loc, "division by zero");
    if (r == 0) return false;
    *out = l / r;
    break;
  default: return not_number(x, report); /* '@' */
  }
  if (isfinite(*out)) return true;
  if (report) diag_error(x->loc, "the number is too large");
  return false;
}

/* along the chain (a+b+c), recursing into right operands only (as elab_binop) */
static bool chain_number(Elab *e, const AstExpr *x, double *out, bool report) {
  const AstExpr *b = fe_chain_start(x);
  double v, r;
  if (!elab_number(e, b->args[0], &v, report)) return false;
  for (;; b = b->up) {
    if (!elab_number(e, b->args[1], &r, report) || !arith(b, v, r, &v, report)) return false;
    if (b == x) break;
  }
  *out = v;
  return true;
}

bool elab_number(Elab *e, const AstExpr *x, double *out, bool report) {
  switch (x->kind) {
  case AST_NUM: *out = x->num; return true;
  case AST_NAME: return name_number(e, x, out, report);
  case AST_BINOP: return chain_number(e, x, out, report);
  case AST_NEG:
    if (!elab_number(e, x->args[0], out, report)) return false;
    *out = -*out;
    return true;
  case AST_STR:
  case AST_CALL:
  case AST_KWARG:
  case AST_LIST:
  case AST_REPEAT: return not_number(x, report);
  }
  return false;
}

bool number_arg(const AstExpr *x, double *out) { return elab_number(scope, x, out, true); }

bool int_arg(const AstExpr *x, int64_t lo, int64_t *out) {
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
const char *word_arg(const AstExpr *x) {
  int i = x->kind == AST_NAME && scope ? elab_lookup(scope, x->str) : -1;
  if (i >= 0 && scope->names[i].v.kind == NAME_WORD) return scope->names[i].v.word;
  if (x->kind == AST_NAME || x->kind == AST_STR) return x->str;
  diag_error(x->loc, "expected a name here");
  return NULL;
}

int bool_arg(const AstExpr *x, int dflt) {
  if (!x) return dflt;
  const char *w = word_arg(x);
  if (w && strcmp(w, "true") == 0) return 1;
  if (w && strcmp(w, "false") == 0) return 0;
  if (w) diag_error(x->loc, "expected true or false");
  return -1;
}


IrNode *node(Elab *e, int id) { return ir_node(e->g, id); }

int rank_of(Elab *e, int id) { return node(e, id)->shape.rank; }

bool want_rank(Elab *e, int id, int rank, const AstExpr *at, const char *what) {
  if (id < 0) return false;
  if (rank_of(e, id) == rank) return true;
  char s[64];
  pg_shape_str(&node(e, id)->shape, s, sizeof s);
  diag_error(at->loc, "%s must have rank %d (batch included), got %s", what, rank, s);
  return false;
}

int batch_size(Elab *e, PgLoc loc) {
  if (e->batch < 0) e->batch = ir_batch_size(e->g, loc);
  return e->batch;
}

int sum_all(Elab *e, int x, PgLoc loc) {
  if (x < 0) return -1;
  int64_t axes[IR_MAX_ATTR] = {(1 << rank_of(e, x)) - 1};
  int s = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &x, axes, loc);
  return ir_reshape(e->g, s, (PgShape){0}, loc);
}

int mean_all(Elab *e, int x, PgLoc loc) {
  if (x < 0) return -1;
  int64_t count = pg_numel(&node(e, x)->shape, 1);
  int divisor = cst(e, (double)count, loc);
  int s = ir_binary(e->g, IR_OP_DIV, sum_all(e, x, loc), divisor, loc);
  bool batched = node(e, x)->shape.rank && node(e, x)->shape.dim[0] == PG_BATCH;
  return batched ? ir_binary(e->g, IR_OP_DIV, s, batch_size(e, loc), loc) : s;
}

int cst(Elab *e, double v, PgLoc loc) { return ir_const(e->g, v, loc); }

/* ---- names ---- */

int elab_lookup(Elab *e, const char *name) {
  for (int i = e->nnames - 1; i >= 0; i--)
    if (strcmp(e->names[i].name, name) == 0) return i;
  return -1;
}

void elab_bind(Elab *e, const char *name, ElabValue v, PgLoc loc) {
  int i = elab_lookup(e, name);
  if (i >= 0) {
    e->names[i].v = v;
    return;
  }
  if (e->nnames == MAX_NAMES) {
    diag_error(loc, "too many names in one %s (at most %d)", e->depth ? "block" : "model",
               MAX_NAMES);
    return;
  }
  e->names[e->nnames].name = name;
  e->names[e->nnames].input = (PgLoc){0};
  e->names[e->nnames].used = false;
  e->names[e->nnames++].v = v;
}

static void bind(Elab *e, const char *name, int value, PgLoc loc) {
  elab_bind(e, name, (ElabValue){.kind = NAME_TENSOR, .node = value}, loc);
}

/* ---- parameter names ---- */

bool elab_prefixed(Elab *e, char *name, size_t n, PgLoc loc) {
  char full[FE_MAX_PREFIX + FE_MAX_LAYER_NAME + 2];
  if (!e->prefix[0]) return true;
  int len = snprintf(full, sizeof full, "%s%s", e->prefix, name);
  if (len <= FE_MAX_LAYER_NAME && (size_t)len < n) {
    memcpy(name, full, (size_t)len + 1);
    return true;
  }
  if (!e->name_reported)
    diag_error(loc, "the layer name '%.*s...' is too long (at most %d characters, with the "
               "names of the block instances around it)", 40, full, FE_MAX_LAYER_NAME);
  e->name_reported = true;
  return false;
}

int elab_param(Elab *e, const char *layer, const char *what, PgRole role, PgInit init,
               PgShape shape, PgLoc loc) {
  char full[FE_MAX_PREFIX + FE_MAX_LAYER_NAME + 2], name[192];
  snprintf(full, sizeof full, "%s", layer);
  if (!elab_prefixed(e, full, sizeof full, loc)) return -1;
  snprintf(name, sizeof name, "%.160s.%.24s", full, what); /* fits: full has <= 160 */
  return ir_param(e->g, name, role, init, shape, loc);
}

int elab_weight(Elab *e, const char *layer, const char *what, PgInit init, PgShape shape,
                PgLoc loc) {
  return elab_param(e, layer, what, PG_ROLE_WEIGHT, init, shape, loc);
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

bool elab_bind_args(const Builtin *b, const AstExpr *call, Args *a) {
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


const Builtin fe_builtins[] = {
    {"flatten", "x", b_flatten, 0},
    {"dense", "x units | activation use_bias name", b_dense, 0},
    {"dropout", "x rate", b_dropout, 0},
    {"conv2d", "x filters kernel | stride padding activation use_bias name dilation groups",
     b_conv2d, 0},
    {"separable_conv2d",
     "x filters kernel | depth_multiplier stride padding dilation activation use_bias name",
     b_separable_conv2d, 0},
    {"max_pool2d", "x size | stride padding", b_max_pool2d, 0},
    {"global_avg_pool2d", "x", b_global_avg_pool2d, 0},
    {"global_max_pool2d", "x", b_global_max_pool2d, 0},
    {"simple_rnn",
     "x units | return_sequences name activation recurrent_activation go_backwards mask",
     b_simple_rnn, 0},
    {"lstm", "x units | return_sequences name activation recurrent_activation go_backwards mask",
     b_lstm, 0},
    {"gru", "x units | return_sequences name activation recurrent_activation go_backwards mask",
     b_gru, 0},
    {"bidirectional", "layer | merge", b_bidirectional, 0},
    {"avg_pool2d", "x size | stride padding count_include_pad", b_avg_pool2d, 0},
    {"relu", "x", b_eltwise, IR_OP_RELU},
    {"exp", "x", b_eltwise, IR_OP_EXP},
    {"log", "x", b_eltwise, IR_OP_LOG},
    {"sqrt", "x", b_eltwise, IR_OP_SQRT},
    {"maximum", "x y", b_eltwise, IR_OP_MAX},
    {"minimum", "x y", b_eltwise, IR_OP_MIN},
    {"log_softmax", "x | axis", b_log_softmax, 0},
    {"softmax", "x | axis mask", b_softmax, 0},
    {"layer_norm", "x | eps name", b_layer_norm, 0},
    {"batch_norm", "x | momentum epsilon name", b_batch_norm, 0},
    {"abs", "x", b_eltwise, IR_OP_ABS},
    {"sigmoid", "x", b_sigmoid, 0},
    {"tanh", "x", b_tanh, 0},
    {"transpose", "x", b_transpose, 0},
    {"reshape", "x shape", b_reshape, 0},
    {"slice", "x start stop | axis", b_slice, 0},
    {"concat", "a b | axis", b_concat, 0},
    {"embedding", "ids vocab dim | name", b_embedding, 0},
    {"position_embedding", "x | name", b_position_embedding, 0},
    {"param", "name", b_param, 0},
    {"where", "cond a b", b_where, 0},
    {"reduce_sum", "x", b_reduce_sum, 0},
    {"reduce_mean", "x", b_reduce_mean, 0},
    {"reduce_max", "x", b_reduce_max, 0},
    /* constant tensors (constants.c) and elementwise math for them */
    {"arange", "start | stop step", b_arange, 0},
    {"iota", "shape axis", b_iota, 0},
    {"ones", "shape", b_full, 0},
    {"zeros", "shape", b_full, 0},
    {"full", "shape value", b_full, 0},
    {"eye", "n", b_eye, 0},
    {"tril", "n | k", b_tril, 0},
    {"triu", "n | k", b_tril, 0},
    {"sinusoidal_encoding", "T d", b_sinusoidal_encoding, 0},
    {"sin", "x", b_eltwise, IR_OP_SIN},
    {"cos", "x", b_eltwise, IR_OP_COS},
    {"pow", "x y", b_eltwise, IR_OP_POW},
    {"permute", "x axes", b_permute, 0},
    {"matmul", "a b", b_matmul, 0},
    {"sum", "x | axis keepdims", b_sum, 0},
    {"mean", "x | axis keepdims", b_mean, 0},
    {"max", "x | axis keepdims", b_max, 0},
    {"float", "x", b_float, 0},
    {"int", "x", b_int, 0},
    {"erf", "x", b_eltwise, IR_OP_ERF},
    {"gelu", "x | approximate", b_gelu, 0},
    {"multi_head_attention", "q kv heads | causal mask dropout use_bias name",
     b_multi_head_attention, 0},
    /* graph layers (graph.c) */
    {"edge_gather", "x ids", b_edge_gather, 0},
    {"segment_sum", "v ids nodes", b_segment_sum, 0},
    {"segment_mean", "v ids nodes", b_segment_mean, 0},
    {"segment_max", "v ids nodes", b_segment_max, 0},
    {"gcn", "x edges units | activation use_bias name", b_gcn, 0},
    {"sage", "x edges units | activation use_bias name aggregate", b_sage, 0},
    {"gat", "x edges units | activation use_bias name heads", b_gat, 0},
    /* losses */
    {"sparse_categorical_crossentropy",
     "logits labels | from_logits label_smoothing ignore_index weights", b_sparse_cce, 0},
    {"categorical_crossentropy", "scores targets | from_logits", b_categorical_cce, 0},
    {"binary_crossentropy", "predictions targets | from_logits", b_binary_cross_entropy, 0},
    {"mean_squared_error", "predictions targets", b_mean_squared_error, 0},
    {"mean_absolute_error", "predictions targets", b_mean_absolute_error, 0},
    /* metrics */
    {"accuracy", "scores labels | ignore_index", b_accuracy, 0},
    {"perplexity", "logits labels | ignore_index", b_perplexity, 0},
    {"top_k_accuracy", "scores labels | k", b_top_k_accuracy, 0},
    {"binary_accuracy", "predictions targets | threshold", b_binary_accuracy, 0},
    {"mse", "predictions targets", b_squared_error, 0},
    {"mae", "predictions targets", b_absolute_error, 0},
};

const int fe_nbuiltins = (int)(sizeof fe_builtins / sizeof *fe_builtins);

const Builtin *fe_builtin(const char *name) {
  for (int i = 0; i < fe_nbuiltins; i++)
    if (strcmp(fe_builtins[i].name, name) == 0) return &fe_builtins[i];
  return NULL;
}

/* ---- expressions and statements ---- */

/* NAME(x) of an extern NAME: one f32 tensor in, elementwise */
static int elab_extern(Elab *e, const AstExpr *x, const FeExtern *fn) {
  if (x->nargs != 1 || x->args[0]->kind == AST_KWARG) {
    diag_error(x->loc, "extern '%s' takes one tensor argument, got %d%s", fn->name, x->nargs,
               x->nargs == 1 ? " keyword argument" : "");
    return -1;
  }
  int v = elab_expr(e, x->args[0]);
  if (v >= 0 && node(e, v)->dtype != PG_F32) {
    diag_error(x->args[0]->loc, "extern '%s' takes f32 values (a C float), got i32", fn->name);
    return -1;
  }
  return ir_call(e->g, fn->name, fn->derivative, v, x->loc);
}

static int elab_call(Elab *e, const AstExpr *x) {
  const Builtin *b = fe_builtin(x->str);
  const FeExtern *fn = b ? NULL : fe_extern_find(e->externs, e->nexterns, x->str);
  Args a;
  if (fn) return elab_extern(e, x, fn);
  int block = b ? -1 : fe_block_index(e, x->str);
  if (block >= 0) return fe_block_call(e, x, block);
  if (!b) {
    diag_error(x->loc, "unknown layer or function '%s'", x->str);
    return -1;
  }
  return elab_bind_args(b, x, &a) ? b->fn(e, &a) : -1;
}

/* one operator of a chain, its left operand already elaborated */
static int apply_binop(Elab *e, const AstExpr *x, int l) {
  int r = elab_expr(e, x->args[1]);
  switch (x->op) {
  case '+': return ir_binary(e->g, IR_OP_ADD, l, r, x->loc);
  case '-': return ir_binary(e->g, IR_OP_SUB, l, r, x->loc);
  case '*': return ir_binary(e->g, IR_OP_MUL, l, r, x->loc);
  case '/': return ir_binary(e->g, IR_OP_DIV, l, r, x->loc);
  default: return fe_matmul(e, l, r, x->loc); /* two batched operands: a product per index */
  }
}

/* a+b-c...: a loop along the chain, so that only right operands recurse */
static int elab_binop(Elab *e, const AstExpr *x) {
  const AstExpr *b = fe_chain_start(x);
  int v = elab_expr(e, b->args[0]);
  for (;; b = b->up) {
    v = apply_binop(e, b, v);
    if (b == x) return v;
  }
}

/* a number is a constant node, made where it is first used as a tensor */
static int elab_name(Elab *e, const AstExpr *x) {
  int i = elab_lookup(e, x->str);
  if (i < 0) {
    diag_error(x->loc, "unknown name '%s'", x->str);
    return -1;
  }
  ElabValue *v = &e->names[i].v;
  e->names[i].used = true;
  if (v->kind == NAME_WORD)
    diag_error(x->loc, "'%s' is the word '%s' here, not a tensor", x->str, v->word);
  if (v->kind == NAME_NUMBER && v->node < 0) v->node = ir_const(e->g, v->num, x->loc);
  return v->kind == NAME_WORD ? -1 : v->node;
}

int elab_expr(Elab *e, const AstExpr *x) {
  switch (x->kind) {
  case AST_NUM: return ir_const(e->g, x->num, x->loc);
  case AST_NEG: return ir_unary(e->g, IR_OP_NEG, elab_expr(e, x->args[0]), x->loc);
  case AST_BINOP: return elab_binop(e, x);
  case AST_CALL: return elab_call(e, x);
  case AST_NAME: return elab_name(e, x);
  case AST_REPEAT: return fe_block_repeat(e, x);
  case AST_STR: diag_error(x->loc, "a string is not a tensor"); return -1;
  case AST_KWARG: diag_error(x->loc, "keyword argument outside a call"); return -1;
  case AST_LIST: diag_error(x->loc, "a list is not a tensor"); return -1;
  }
  return -1;
}

static void elab_input(Elab *e, const AstStmt *s) {
  if (elab_lookup(e, s->name) >= 0) {
    diag_error(s->loc, "redefinition of '%s'", s->name);
    return;
  }
  PgShape shape = {1, {PG_BATCH}};
  for (int i = 0; i < s->type.shape.rank; i++) shape.dim[shape.rank++] = s->type.shape.dim[i];
  bind(e, s->name, ir_input(e->g, s->name, s->type.dtype, shape, s->loc), s->loc);
  int i = elab_lookup(e, s->name);
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

/* whether the graph has an output of that name */
static bool has_output(const IrGraph *g, const char *name) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == IR_OP_OUTPUT && strcmp(g->nodes[i].name, name) == 0) return true;
  return false;
}

/* A metric is a per-example value; the step outputs its sum over the batch and
 * the runtime averages over all examples seen, or divides by the sum of its
 * count ("count:NAME", positions a per-token metric scored), and reports exp of
 * the mean for "exp:NAME" (perplexity). Its name is the statement's
 * (`metric mlm_accuracy = accuracy(...)`) or the function's. */
static void elab_metric(Elab *e, const AstStmt *s) {
  e->metric_count = -1;
  e->metric_exp = false;
  int v = elab_expr(e, s->expr);
  if (v < 0) return;
  if (rank_of(e, v) != 1 || node(e, v)->shape.dim[0] != PG_BATCH) {
    diag_error(s->expr->loc, "a metric must give one value per example");
    return;
  }
  const char *name = s->name ? s->name : s->expr->kind == AST_CALL ? s->expr->str : "metric";
  char out[IR_MAX_SYMBOL + 8], count[IR_MAX_SYMBOL + 8];
  snprintf(out, sizeof out, "%s%s", e->metric_exp ? "exp:" : "", name);
  snprintf(count, sizeof count, "count:%s", name);
  if (has_output(e->g, name) || has_output(e->g, out) || has_output(e->g, count)) {
    diag_error(s->loc, "a second metric named '%s' (name it: metric NAME = %s(...))", name,
               s->expr->kind == AST_CALL ? s->expr->str : "...");
    return;
  }
  ir_output(e->g, out, sum_all(e, v, s->loc), s->loc);
  if (e->metric_count >= 0) ir_output(e->g, count, sum_all(e, e->metric_count, s->loc), s->loc);
}

/* A name bound to a number (d = 128, n = d / 4) is also a number for the
 * builtins. In the model it gets its constant node here, as it always has (so
 * that dumps of files without blocks do not change); in a block, on first use. */
static void elab_let(Elab *e, const AstStmt *s) {
  int i = s->expr->kind == AST_NAME ? elab_lookup(e, s->expr->str) : -1;
  if (i >= 0 && e->names[i].v.kind == NAME_WORD) { /* act2 = act: a word again */
    elab_bind(e, s->name, e->names[i].v, s->loc);
    return;
  }
  ElabValue v = {.kind = NAME_NUMBER, .node = -1};
  bool number = elab_number(e, s->expr, &v.num, false);
  if (!number || !e->depth) v.node = elab_expr(e, s->expr);
  if (!number) v.kind = NAME_TENSOR;
  elab_bind(e, s->name, v, s->loc);
}

void elab_stmt(Elab *e, const AstStmt *s) {
  switch (s->kind) {
  case ST_INPUT: elab_input(e, s); break;
  case ST_LET: elab_let(e, s); break;
  case ST_LOSS: elab_loss(e, s); break;
  case ST_METRIC: elab_metric(e, s); break;
  case ST_RETURN: diag_error(s->loc, "'return' outside a block"); break;
  }
}

IrGraph *fe_elaborate(const AstFile *f, FeMode mode) { return fe_elaborate_frozen(f, mode, NULL); }

IrGraph *fe_elaborate_frozen(const AstFile *f, FeMode mode, const FeConfig *cfg) {
  const AstBlock *model = f->blocks;
  while (model && model->kind != BLOCK_MODEL) model = model->next;
  if (!model) {
    diag_error((PgLoc){f->file, 1, 1}, "no 'model' block in this file");
    return NULL;
  }
  if (strlen(model->name) > IR_MAX_SYMBOL) { /* it names the graphs: the IR reads it back */
    diag_error(model->loc, "a model's name has at most %d characters", IR_MAX_SYMBOL);
    return NULL;
  }
  int errors = diag_error_count();
  FeBlocks blocks = {0};
  Elab e = {.g = ir_graph_new(model->name), .mode = mode, .seed = -1, .batch = -1,
            .metric_count = -1, .blocks = &blocks, .frozen = cfg};
  if (!e.g) return NULL;
  e.nexterns = fe_externs(f, e.externs, false); /* fe_config reports what is wrong with them */
  Elab *outer = elab_scope(&e);
  fe_blocks_collect(f, &e);
  for (const AstStmt *s = model->stmts; s; s = s->next) elab_stmt(&e, s);
  elab_scope(outer);
  if (!e.has_loss) diag_error(model->loc, "model '%s' has no 'loss' statement", model->name);
  if (mode != FE_INFERENCE) warn_unused_inputs(&e);
  if (diag_error_count() != errors) {
    ir_graph_free(e.g);
    return NULL;
  }
  return e.g;
}

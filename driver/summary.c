/* summary.c — nnd summary MODEL.nnd, as Keras's model.summary(): one row per
 * layer in model order (its checkpoint name, kind, output shape, parameters,
 * source line), then the parameter totals (trainable, frozen, the
 * non-trainable statistics of batch_norm) and the memory of a training step
 * at the file's batch: parameters, optimizer state, and the planned arenas
 * of the train and eval steps (what `nnd dump --stage=program` calls arena).
 *
 * Nothing is compiled to native code. The counts come from the parameters of
 * the elaborated forward graph (training mode, --freeze applied), the
 * optimizer state and arenas from the manifests (cg_describe) of the planned
 * train and eval graphs.
 *
 * A layer is one call: every node it makes carries the call's location, and
 * its parameters are named <prefix><layer>.<what> (docs/checkpoints.md). So
 * the parameters of one row are those with one location and one name before
 * their role (`what` may have two parts: `query.kernel`, `forward.bias`); the
 * instances of a block share locations but not prefixes. A row's output is
 * the first node after its last parameter, at its location (for
 * bidirectional(lstm(...)), the wrapper's), that a node at another location
 * reads. Layers without parameters (flatten, dropout, the pools, reshape)
 * are listed where the model block calls them, named by kind and count
 * (they have no checkpoint names); in block bodies, whose instances share
 * one location, they are not, and a note says so. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "driver.h"

#define ROW_NAME 192 /* a parameter's name: at most 160 bytes of layer, then '.' */

/* the calls of the file's model and block bodies, in source order */
typedef struct {
  const char *name;
  PgLoc loc;
  int parent;    /* the call this one is a direct argument of, or -1 */
  bool in_model; /* written in the model block (not a block body) */
} Call;

typedef struct {
  Call *at;
  int n, cap;
  bool ok; /* false: out of memory (reported) */
} Calls;

typedef struct {
  char name[ROW_NAME];
  char kind[64];   /* the function called: dense, conv2d, bidirectional(lstm), ... */
  PgLoc loc;       /* the call's */
  PgLoc out_loc;   /* where its output is made: the call's, or a wrapper's */
  int last;        /* the node of its last parameter, -1 if it has none */
  int out;         /* its output node in the forward graph, -1 if not found */
  int64_t params, frozen, statistics;
  bool shared;     /* its name= is an earlier layer's: it uses that layer's parameters */
} Row;

typedef struct {
  Row *rows;
  int n, cap;
  int64_t weights, frozen, statistics, optstate;
  int64_t train_arena, eval_arena;
  char optstate_kinds[96]; /* "adam_m, adam_v, step" */
  int hidden;              /* parameterless calls in block bodies, not listed */
  const char *hidden_kind;  /* the first of them (a name in the AST) and its line */
  int hidden_line;
} Summary;

/* the layers without parameters that get a row where the model calls them */
static const char *const parameterless[] = {"flatten",    "reshape",           "dropout",
                                            "max_pool2d", "avg_pool2d",        "global_avg_pool2d",
                                            "global_max_pool2d"};

static bool is_parameterless(const char *name) {
  for (size_t i = 0; i < sizeof parameterless / sizeof *parameterless; i++)
    if (strcmp(name, parameterless[i]) == 0) return true;
  return false;
}

static bool same_loc(PgLoc a, PgLoc b) {
  if (a.line != b.line || a.col != b.col) return false;
  return a.file == b.file || (a.file && b.file && strcmp(a.file, b.file) == 0);
}

/* ---- the calls of the source ---- */

static int add_call(Calls *cs, const AstExpr *x, int parent, bool in_model) {
  if (cs->n == cs->cap) {
    int cap = cs->cap ? 2 * cs->cap : 64;
    Call *at = pg_realloc(cs->at, (size_t)cap * sizeof *at);
    if (!at) {
      cs->ok = false;
      return -1;
    }
    cs->at = at;
    cs->cap = cap;
  }
  cs->at[cs->n] = (Call){x->str, x->loc, parent, in_model};
  return cs->n++;
}

/* the calls in x; recursion is bounded by the parser's FE_MAX_NESTING, and
 * chains of binary operators are walked in a loop (frontend.h) */
static void walk(Calls *cs, const AstExpr *x, int parent, bool in_model) {
  switch (x->kind) {
  case AST_NUM:
  case AST_STR:
  case AST_NAME: return;
  case AST_CALL: {
    int self = add_call(cs, x, parent, in_model);
    for (int i = 0; self >= 0 && i < x->nargs; i++) walk(cs, x->args[i], self, in_model);
    return;
  }
  case AST_KWARG: /* bidirectional(layer=lstm(...)) wraps its layer too */
    walk(cs, x->args[0], parent, in_model);
    return;
  case AST_NEG:
  case AST_LIST:
  case AST_REPEAT:
    for (int i = 0; i < x->nargs; i++) walk(cs, x->args[i], -1, in_model);
    return;
  case AST_BINOP: {
    const AstExpr *b = fe_chain_start(x);
    walk(cs, b->args[0], -1, in_model);
    for (;; b = b->up) {
      walk(cs, b->args[1], -1, in_model);
      if (b == x) return;
    }
  }
  }
}

static Calls collect_calls(const AstFile *f) {
  Calls cs = {NULL, 0, 0, true};
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind != BLOCK_MODEL && b->kind != BLOCK_DEF) continue;
    for (const AstStmt *s = b->stmts; s; s = s->next)
      if (s->expr) walk(&cs, s->expr, -1, b->kind == BLOCK_MODEL);
  }
  return cs;
}

static const Call *call_at(const Calls *cs, PgLoc loc) {
  for (int i = 0; i < cs->n; i++)
    if (same_loc(cs->at[i].loc, loc)) return &cs->at[i];
  return NULL;
}

/* ---- rows of parameters ---- */

/* the '.'-separated parts of s */
static int parts(const char *s) {
  int n = 1;
  for (; *s; s++) n += *s == '.';
  return n;
}

/* the bytes of the parts a and b share at their start ("a.b" and "a.c": 1) */
static size_t shared_prefix(const char *a, const char *b, int *nparts) {
  size_t len = 0, i = 0;
  *nparts = 0;
  for (;; i++) {
    bool end_a = a[i] == '.' || a[i] == 0, end_b = b[i] == '.' || b[i] == 0;
    if (end_a && end_b) {
      len = i;
      ++*nparts;
      if (!a[i] || !b[i]) return len;
    } else if (a[i] != b[i]) {
      return len;
    }
  }
}

/* whether the parameter of layer name `layer` (its name without the last
 * part) at loc belongs to row r: the same call, and the same name but for
 * at most the last part of the row's (`mha_1.query` and `mha_1.key` are
 * `mha_1`; `enc_1.dense_1` and `enc_2.dense_1`, instances, are not) */
static bool joins(Row *r, const char *layer, PgLoc loc) {
  int shared;
  if (r->last < 0 || !same_loc(r->loc, loc)) return false;
  size_t len = shared_prefix(r->name, layer, &shared);
  if (shared < parts(r->name) - 1 || shared == 0) return false;
  r->name[len] = 0;
  return true;
}

static Row *new_row(Summary *s) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 32;
    Row *rows = pg_realloc(s->rows, (size_t)cap * sizeof *rows);
    if (!rows) return NULL;
    s->rows = rows;
    s->cap = cap;
  }
  Row *r = &s->rows[s->n++];
  memset(r, 0, sizeof *r);
  r->last = r->out = -1;
  return r;
}

/* whether one of the parameters before[0..n) has p's name */
static bool seen_before(const IrGraph *g, const IrNode *p, const int *before, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(g->nodes[before[i]].name, p->name) == 0) return true;
  return false;
}

/* parameter node id into its row (a new one if no row takes it); its
 * elements into the totals unless an earlier layer has it (`shared`) */
static bool add_param(Summary *s, const IrGraph *g, int id, bool shared) {
  const IrNode *p = &g->nodes[id];
  char layer[ROW_NAME];
  snprintf(layer, sizeof layer, "%s", p->name);
  char *dot = strrchr(layer, '.');
  if (dot) *dot = 0;
  Row *r = NULL;
  for (int i = 0; i < s->n && !r; i++)
    if (joins(&s->rows[i], layer, p->loc)) r = &s->rows[i];
  if (!r && !(r = new_row(s))) return false;
  if (r->last < 0) {
    memcpy(r->name, layer, sizeof layer);
    r->loc = r->out_loc = p->loc;
  }
  int64_t n = shared ? 0 : pg_numel(&p->shape, 1);
  r->shared |= shared;
  r->last = id;
  r->params += n;
  if (p->role == PG_ROLE_FROZEN) {
    r->frozen += n;
    s->frozen += n;
  } else if (p->role == PG_ROLE_STATISTIC) {
    r->statistics += n;
    s->statistics += n;
  } else {
    s->weights += n;
  }
  return true;
}

/* dense_2 (the last part of a row's name): dense; a name= of its own as it is */
static void kind_from_name(Row *r) {
  const char *dot = strrchr(r->name, '.');
  const char *last = dot ? dot + 1 : r->name;
  size_t len = strlen(last), digits = len;
  while (digits > 0 && last[digits - 1] >= '0' && last[digits - 1] <= '9') digits--;
  if (digits > 1 && digits < len && last[digits - 1] == '_') len = digits - 1;
  snprintf(r->kind, sizeof r->kind, "%.*s", (int)(len < 60 ? len : 60), last);
}

/* a row's kind: the function its call names, bidirectional for a layer a
 * bidirectional wraps (its output is the wrapper's); from the name
 * (dense_2: dense) if no call is there */
static void set_kind(Row *r, const Calls *cs) {
  const Call *call = call_at(cs, r->loc);
  const Call *up = call && call->parent >= 0 ? &cs->at[call->parent] : NULL;
  if (up && strcmp(up->name, "bidirectional") == 0) {
    snprintf(r->kind, sizeof r->kind, "%.24s(%.24s)", up->name, call->name);
    r->out_loc = up->loc;
    return;
  }
  if (call) {
    snprintf(r->kind, sizeof r->kind, "%.60s", call->name);
    return;
  }
  kind_from_name(r);
}

/* ---- outputs ---- */

/* escapes[i]: node i is an op or a parameter whose value a node at another
 * location reads */
static bool *escaping(const IrGraph *g) {
  bool *esc = pg_calloc((size_t)g->count + 1, sizeof *esc);
  IrUses u = ir_uses(g);
  if (!esc || !u.start) {
    free(esc);
    ir_uses_free(&u);
    return NULL;
  }
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    bool op = ir_op_kind(n->op) != IR_KIND_LEAF && !(ir_op_flags(n->op) & IR_SIDE_EFFECT);
    if (!op && n->op != IR_OP_PARAM) continue;
    for (int k = u.start[i]; k < u.start[i + 1] && !esc[i]; k++)
      esc[i] = !same_loc(g->nodes[u.user[k]].loc, n->loc);
  }
  ir_uses_free(&u);
  return esc;
}

/* the first op after node `after` made at loc that another location reads */
static int output_of(const IrGraph *g, const bool *esc, PgLoc loc, int after) {
  for (int i = after + 1; i < g->count; i++)
    if (esc[i] && g->nodes[i].op != IR_OP_PARAM && same_loc(g->nodes[i].loc, loc)) return i;
  return -1;
}

/* a row's output: its first op that another location reads, or else its
 * last parameter if that is read there as it is (position_embedding over
 * the whole table: what is added is the table) */
static int row_output(const IrGraph *g, const bool *esc, const Row *r) {
  int out = output_of(g, esc, r->out_loc, r->last);
  return out < 0 && esc[r->last] ? r->last : out;
}

/* the parameterless layers the model block calls, each a row where it makes a node */
static bool add_parameterless(Summary *s, const Calls *cs, const IrGraph *g, const bool *esc) {
  for (int i = 0; i < cs->n; i++) {
    const Call *call = &cs->at[i];
    if (!is_parameterless(call->name)) continue;
    if (!call->in_model) {
      if (!s->hidden++) {
        s->hidden_kind = call->name;
        s->hidden_line = call->loc.line;
      }
      continue;
    }
    int out = output_of(g, esc, call->loc, -1);
    if (out < 0) continue; /* it made no node (a flatten of a flat tensor) */
    Row *r = new_row(s);
    if (!r) return false;
    snprintf(r->kind, sizeof r->kind, "%.60s", call->name);
    r->loc = r->out_loc = call->loc;
    r->out = out;
  }
  return true;
}

static int row_key(const Row *r) { return r->out >= 0 ? r->out : r->last; }

static int by_position(const void *a, const void *b) {
  int ka = row_key(a), kb = row_key(b);
  return (ka > kb) - (ka < kb);
}

/* parameterless rows, in model order, are named <kind>_<n> per kind */
static void name_parameterless(Summary *s) {
  for (int i = 0; i < s->n; i++) {
    Row *r = &s->rows[i];
    if (r->last >= 0) continue;
    int count = 1;
    for (int k = 0; k < i; k++)
      count += s->rows[k].last < 0 && strcmp(s->rows[k].kind, r->kind) == 0;
    snprintf(r->name, sizeof r->name, "%s_%d", r->kind, count);
  }
}

/* the rows of the forward graph g: its parameters by layer, with their outputs */
static bool layer_rows(Summary *s, const IrGraph *g, const AstFile *ast) {
  Calls cs = collect_calls(ast);
  bool *esc = cs.ok ? escaping(g) : NULL;
  int *params = esc ? pg_malloc(((size_t)g->count + 1) * sizeof *params) : NULL, n = 0;
  bool ok = params != NULL;
  for (int i = 0; ok && i < g->count; i++) { /* two layers given one name= share parameters: */
    const IrNode *p = &g->nodes[i];            /* they count once, for the first */
    if (p->op != IR_OP_PARAM) continue;
    bool shared = seen_before(g, p, params, n);
    if (!shared) params[n++] = i;
    ok = add_param(s, g, i, shared);
  }
  free(params);
  for (int i = 0; ok && i < s->n; i++) {
    set_kind(&s->rows[i], &cs);
    s->rows[i].out = row_output(g, esc, &s->rows[i]);
  }
  ok = ok && add_parameterless(s, &cs, g, esc);
  if (ok) qsort(s->rows, (size_t)s->n, sizeof *s->rows, by_position);
  if (ok) name_parameterless(s);
  free(esc);
  free(cs.at);
  return ok;
}

/* ---- the step graphs' manifests ---- */

/* name's kind of optimizer state (its last part: adam_m, step) into the list, once */
static void note_kind(Summary *s, const char *name) {
  const char *dot = strrchr(name, '.');
  const char *kind = dot ? dot + 1 : name;
  char *list = s->optstate_kinds;
  size_t len = strlen(list), klen = strlen(kind);
  for (const char *p = list; (p = strstr(p, kind)) != NULL; p += klen)
    if ((p == list || p[-1] == ' ') && (p[klen] == ',' || p[klen] == 0)) return;
  if (len + klen + 3 < sizeof s->optstate_kinds)
    snprintf(list + len, sizeof s->optstate_kinds - len, "%s%s", len ? ", " : "", kind);
}

/* the arena of graph's planned step, and (train) its optimizer state */
static bool describe_step(Summary *s, const AstFile *ast, const FeConfig *cfg, const Cli *c,
                          const char *graph) {
  IrGraph *g = build_graph(ast, cfg, c, graph, NULL);
  PgEntry e;
  if (!g || !cg_describe(g, false, &e)) {
    ir_graph_free(g);
    return false;
  }
  bool train = strcmp(graph, "train") == 0;
  if (train) s->train_arena = e.arena_bytes;
  else s->eval_arena = e.arena_bytes;
  for (int i = 0; train && i < e.nparams; i++) {
    if (e.params[i].role != PG_ROLE_OPTSTATE) continue;
    s->optstate += pg_numel(&e.params[i].shape, 1);
    note_kind(s, e.params[i].name);
  }
  pg_entry_free(&e);
  ir_graph_free(g);
  return true;
}

/* ---- printing ---- */

/* one line of the memory: its size in KiB, MiB or GiB, its bytes, what it is */
static void print_memory(const char *what, int64_t bytes, const char *note) {
  double v = (double)bytes;
  printf("  %-22s", what);
  if (bytes >= (int64_t)1 << 30) printf("%9.1f GiB", v / (1 << 30));
  else if (bytes >= 1 << 20) printf("%9.1f MiB", v / (1 << 20));
  else printf("%9.1f KiB", v / 1024);
  printf("  %" PRId64 " bytes%s%s\n", bytes, *note ? ": " : "", note);
}

typedef struct {
  int name, kind, shape, params;
} Widths;

static void row_shape(const IrGraph *g, const Row *r, char *buf, size_t n) {
  if (r->out < 0) snprintf(buf, n, "?");
  else pg_shape_str(&g->nodes[r->out].shape, buf, n);
}

static Widths widths(const Summary *s, const IrGraph *g) {
  Widths w = {5, 4, 12, 6}; /* the headers' */
  for (int i = 0; i < s->n; i++) {
    char shape[128], count[24];
    int name = (int)strlen(s->rows[i].name), kind = (int)strlen(s->rows[i].kind);
    row_shape(g, &s->rows[i], shape, sizeof shape);
    int sw = (int)strlen(shape);
    int cw = snprintf(count, sizeof count, "%" PRId64, s->rows[i].params);
    if (name > w.name) w.name = name;
    if (kind > w.kind) w.kind = kind;
    if (sw > w.shape) w.shape = sw;
    if (cw > w.params) w.params = cw;
  }
  return w;
}

static void print_rule(const Widths *w, char c) {
  int n = w->name + w->kind + w->shape + w->params + 6 + 6;
  for (int i = 0; i < n; i++) putchar(c);
  putchar('\n');
}

static void print_row(const Row *r, const IrGraph *g, const Widths *w) {
  char shape[128];
  row_shape(g, r, shape, sizeof shape);
  printf("%-*s  %-*s  %-*s  %*" PRId64 "  %4d", w->name, r->name, w->kind, r->kind, w->shape,
         shape, w->params, r->params, r->loc.line);
  if (r->frozen && r->frozen == r->params - r->statistics) printf("  frozen");
  else if (r->frozen) printf("  %" PRId64 " frozen", r->frozen);
  if (r->statistics) printf("  %" PRId64 " statistics", r->statistics);
  if (r->shared) printf("  shared with an earlier layer");
  putchar('\n');
}

static void print_table(const Summary *s, const IrGraph *g, const char *model, const Cli *c,
                        int batch) {
  Widths w = widths(s, g);
  printf("model %s (%s), batch %d\n", model, c->input, batch);
  print_rule(&w, '=');
  printf("%-*s  %-*s  %-*s  %*s  %4s\n", w.name, "layer", w.kind, "kind", w.shape,
         "output shape", w.params, "params", "line");
  print_rule(&w, '-');
  for (int i = 0; i < s->n; i++) print_row(&s->rows[i], g, &w);
  print_rule(&w, '=');
}

static void print_totals(const Summary *s, int batch) {
  int64_t model = s->weights + s->frozen + s->statistics;
  printf("total params:        %" PRId64 "\n", model);
  printf("trainable params:    %" PRId64 "\n", s->weights);
  printf("frozen params:       %" PRId64 "\n", s->frozen);
  printf("non-trainable state: %" PRId64 " (batch_norm running statistics)\n", s->statistics);
  printf("memory (f32), a training step at batch %d:\n", batch);
  print_memory("parameters", 4 * model, "");
  print_memory("optimizer state", 4 * s->optstate, s->optstate_kinds);
  print_memory("activations", s->train_arena, "the train step's arena");
  print_memory("total", 4 * (model + s->optstate) + s->train_arena, "");
  print_memory("evaluation activations", s->eval_arena, "the eval step's arena");
}

/* what the table leaves out: parameterless layers whose instances share a location */
static void print_notes(const Summary *s) {
  if (!s->hidden) return;
  const char *more = s->hidden > 1 ? " and others" : "";
  printf("not listed: layers without parameters in blocks (%s at line %d%s)\n",
         s->hidden_kind, s->hidden_line, more);
}

static bool summarize(Summary *s, const AstFile *ast, const FeConfig *cfg, const Cli *c) {
  if (!describe_step(s, ast, cfg, c, "train") || !describe_step(s, ast, cfg, c, "eval"))
    return false;
  IrGraph *g = fe_elaborate_frozen(ast, FE_TRAINING, cfg);
  bool ok = g && fe_apply_freeze(g, cfg) && layer_rows(s, g, ast);
  if (ok) {
    print_table(s, g, model_name(ast), c, cfg->batch);
    print_totals(s, cfg->batch);
    print_notes(s);
  }
  ir_graph_free(g);
  return ok;
}

int cmd_summary(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
  Summary s = {0};
  bool ok = ast && summarize(&s, ast, &cfg, c);
  free(s.rows);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

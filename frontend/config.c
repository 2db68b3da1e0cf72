/* config.c — the `train` and `data` blocks: optimizer, batch size, epochs,
 * seed, and where each model input's data comes from; and the extern
 * declarations (extern.c), whose libraries the driver loads. Values are
 * checked here, with locations, so that a bad file fails before anything is
 * compiled or read.
 *
 *   train { optimizer = adam(lr=0.001)  batch = 32  epochs = 5  seed = 42 }
 *   data train { image = idx("...-images-idx3-ubyte.gz") / 255
 *                label = idx("...-labels-idx1-ubyte.gz") }
 *
 * A data block line whose name is no model input and whose value is a list
 * of strings (or one string) is a file list, for that block's text sources
 * on later lines: `corpus = ["a", "b"]  tokens = text(corpus, window=64)`.
 * Its paths are copied into each PgSource that names it (the AST owns the
 * strings), so the Program's data sets never refer to a list. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frontend.h"

static bool num(const AstExpr *x, double *out);

/* a+b*c-...: a loop along the chain; only right operands recurse. The first
 * '@' from the outside is the error, as a recursive walk would find it. */
static bool chain(const AstExpr *x, double *out) {
  const AstExpr *b = fe_chain_start(x), *at = NULL;
  for (const AstExpr *y = b;; y = y->up) {
    if (y->op == '@') at = y;
    if (y == x) break;
  }
  if (at) return diag_error(at->loc, "expected a number"), false;
  double a, v;
  if (!num(b->args[0], &a)) return false;
  for (;; b = b->up) {
    if (!num(b->args[1], &v)) return false;
    a = b->op == '+' ? a + v : b->op == '-' ? a - v : b->op == '*' ? a * v : a / v;
    if (b == x) return *out = a, true;
  }
}

static bool num(const AstExpr *x, double *out) {
  if (x->kind == AST_NUM) {
    *out = x->num;
    return true;
  }
  double a;
  if (x->kind == AST_NEG && num(x->args[0], &a)) {
    *out = -a;
    return true;
  }
  if (x->kind == AST_BINOP) return chain(x, out);
  if (x->kind != AST_NEG) diag_error(x->loc, "expected a number");
  return false;
}

/* a setting's value: also finite (1/0 is no learning rate, 0/0 passes no range check) */
static bool finite_num(const AstExpr *x, double *out) {
  if (!num(x, out)) return false;
  if (isfinite(*out)) return true;
  const char *what = isnan(*out) ? "NaN" : *out > 0 ? "infinity" : "-infinity";
  diag_error(x->loc, "expected a finite number, not %s", what);
  return false;
}

/* a whole number in [lo, hi], checked as a double before it becomes an integer */
static bool int_in(const AstExpr *x, double lo, double hi, int64_t *out) {
  double v;
  if (!num(x, &v)) return false;
  if (!(v >= lo && v <= hi) || v != floor(v)) {
    diag_error(x->loc, "expected an integer between %.0f and %.0f", lo, hi);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

/* a named argument of an optimizer or schedule call, and where it goes */
typedef struct {
  const char *call, *key;
  size_t offset; /* of a double in PsOptimizer; SIZE_MAX: a boolean (bool_at) */
  size_t bool_at;
  double lo, hi;
} Knob;

#define D(f) offsetof(PsOptimizer, f), 0
#define B(f) SIZE_MAX, offsetof(PsOptimizer, f)
static const Knob knobs[] = {
    {"sgd", "lr", D(lr), 0, 1e3},          {"sgd", "momentum", D(momentum), 0, 1},
    {"sgd", "nesterov", B(nesterov), 0, 1}, {"sgd", "weight_decay", D(weight_decay), 0, 1},
    {"adam", "lr", D(lr), 0, 1e3},         {"adam", "beta1", D(beta1), 0, 0.999999},
    {"adam", "beta2", D(beta2), 0, 0.999999}, {"adam", "eps", D(eps), 0, 1},
    {"adam", "weight_decay", D(weight_decay), 0, 1},
    {"adamw", "lr", D(lr), 0, 1e3},        {"adamw", "beta1", D(beta1), 0, 0.999999},
    {"adamw", "beta2", D(beta2), 0, 0.999999}, {"adamw", "eps", D(eps), 0, 1},
    {"adamw", "weight_decay", D(weight_decay), 0, 1},
    {"rmsprop", "lr", D(lr), 0, 1e3},      {"rmsprop", "alpha", D(alpha), 0, 1},
    {"rmsprop", "eps", D(eps), 0, 1},      {"rmsprop", "momentum", D(momentum), 0, 1},
    {"rmsprop", "weight_decay", D(weight_decay), 0, 1},
    {"exponential", "gamma", D(gamma), 0, 1}, {"exponential", "every", D(every), 1, 1e12},
    {"exponential", "staircase", B(staircase), 0, 1},
    {"step", "gamma", D(gamma), 0, 1},     {"step", "every", D(every), 1, 1e12},
    {"cosine", "steps", D(every), 1, 1e12}, {"cosine", "min_lr", D(min_lr), 0, 1e3},
};
#undef D
#undef B

static bool knob(const AstExpr *call, const AstExpr *arg, PsOptimizer *o) {
  const char *key = arg->kind == AST_KWARG ? arg->str : NULL;
  const AstExpr *v = arg->kind == AST_KWARG ? arg->args[0] : arg;
  if (!key) return diag_error(arg->loc, "name the arguments of '%s' (for example lr=0.01)", call->str), false;
  for (size_t i = 0; i < sizeof knobs / sizeof *knobs; i++) {
    const Knob *k = &knobs[i];
    if (strcmp(k->call, call->str) != 0 || strcmp(k->key, key) != 0) continue;
    if (k->offset == SIZE_MAX) {
      bool *b = (bool *)((char *)o + k->bool_at);
      if (v->kind != AST_NAME || (strcmp(v->str, "true") && strcmp(v->str, "false")))
        return diag_error(v->loc, "expected true or false"), false;
      return *b = strcmp(v->str, "true") == 0, true;
    }
    double *d = (double *)((char *)o + k->offset);
    if (!finite_num(v, d)) return false;
    if (!strcmp(key, "lr") && !fe_lr_ok(*d)) return diag_error(v->loc, "'lr' must be in " FE_LR_RANGE), false;
    if (*d < k->lo || *d > k->hi) return diag_error(v->loc, "'%s' must be in [%g, %g]", key, k->lo, k->hi), false;
    return true;
  }
  diag_error(arg->loc, "'%s' has no argument named '%s'", call->str, key);
  return false;
}

static bool call_knobs(const AstExpr *x, PsOptimizer *o) {
  bool ok = true;
  for (int i = 0; i < x->nargs; i++) ok &= knob(x, x->args[i], o);
  return ok;
}

static bool optimizer(const AstExpr *x, PsOptimizer *o) {
  static const struct {
    const char *name;
    PsOptimizerKind kind;
  } kinds[] = {{"sgd", PS_OPT_SGD}, {"adam", PS_OPT_ADAM}, {"adamw", PS_OPT_ADAMW}, {"rmsprop", PS_OPT_RMSPROP}};
  for (size_t i = 0; x->kind == AST_CALL && i < sizeof kinds / sizeof *kinds; i++) {
    if (strcmp(x->str, kinds[i].name) != 0) continue;
    PsOptimizer keep = *o; /* the schedule and clipping are separate settings */
    *o = ps_optimizer_default(kinds[i].kind);
    o->schedule = keep.schedule, o->gamma = keep.gamma, o->every = keep.every, o->staircase = keep.staircase;
    o->min_lr = keep.min_lr, o->warmup = keep.warmup, o->clip_norm = keep.clip_norm;
    return call_knobs(x, o);
  }
  diag_error(x->loc, "expected an optimizer: sgd(...), adam(...), adamw(...) or rmsprop(...)");
  return false;
}

static bool schedule(const AstExpr *x, PsOptimizer *o) {
  static const struct {
    const char *name;
    PsSchedule kind;
  } kinds[] = {{"constant", PS_LR_CONSTANT}, {"exponential", PS_LR_EXPONENTIAL}, {"step", PS_LR_STEP},
               {"cosine", PS_LR_COSINE}};
  for (size_t i = 0; x->kind == AST_CALL && i < sizeof kinds / sizeof *kinds; i++)
    if (strcmp(x->str, kinds[i].name) == 0) {
      o->schedule = kinds[i].kind;
      return call_knobs(x, o);
    }
  diag_error(x->loc, "expected a schedule: constant(), exponential(gamma=, every=, staircase=), "
                     "step(every=, gamma=) or cosine(steps=, min_lr=)");
  return false;
}

static bool nonnegative(const AstExpr *x, double *out) {
  if (!finite_num(x, out)) return false;
  if (*out < 0) return diag_error(x->loc, "expected a number >= 0"), false;
  return true;
}

bool fe_add_freeze(FeConfig *c, const char *layer, PgLoc loc) {
  if (!layer) return false; /* a copy that found no memory, reported */
  if (c->nfreeze == FE_MAX_FREEZE) return diag_error(loc, "too many frozen layers (at most %d)", FE_MAX_FREEZE), false;
  c->freeze_loc[c->nfreeze] = loc;
  c->freeze[c->nfreeze++] = layer;
  return true;
}

/* freeze = dense_1   or   freeze = [dense_1, dense_2] */
static bool freeze(const AstExpr *x, FeConfig *c) {
  int n = x->kind == AST_LIST ? x->nargs : 1;
  for (int i = 0; i < n; i++) {
    const AstExpr *e = x->kind == AST_LIST ? x->args[i] : x;
    if (e->kind != AST_NAME && e->kind != AST_STR) return diag_error(e->loc, "expected a layer name"), false;
    if (!fe_add_freeze(c, e->str, e->loc)) return false;
  }
  return true;
}

bool fe_apply_freeze(IrGraph *g, const FeConfig *c) {
  bool ok = true;
  for (int k = 0; k < c->nfreeze; k++) {
    size_t len = strlen(c->freeze[k]);
    int found = 0;
    for (int i = 0; i < g->count; i++) {
      IrNode *n = &g->nodes[i];
      if (n->op == IR_OP_PARAM && n->role == PG_ROLE_WEIGHT &&
          strncmp(n->name, c->freeze[k], len) == 0 && n->name[len] == '.')
        n->role = PG_ROLE_FROZEN, found++;
    }
    if (!found) diag_error(c->freeze_loc[k], "cannot freeze '%s': the model has no layer of that name", c->freeze[k]), ok = false;
  }
  return ok;
}

static bool bool_option(const AstExpr *v, bool *out) {
  if (v->kind != AST_NAME || (strcmp(v->str, "true") && strcmp(v->str, "false"))) {
    diag_error(v->loc, "expected true or false");
    return false;
  }
  *out = strcmp(v->str, "true") == 0;
  return true;
}

/* a monitor= argument: the name of a reported value */
static bool monitor_name(const AstExpr *v, const char **out) {
  if (v->kind != AST_NAME && v->kind != AST_STR)
    return diag_error(v->loc, "monitor names a reported value: val_loss, loss, val_mae, ..."),
           false;
  *out = v->str;
  return true;
}

/* one argument of reduce_lr_on_plateau(...) */
static bool plateau_option(const AstExpr *a, FeConfig *c) {
  const AstExpr *v = a->args[0];
  int64_t n;
  if (!strcmp(a->str, "monitor")) return monitor_name(v, &c->plateau.monitor);
  if (!strcmp(a->str, "factor")) {
    if (!finite_num(v, &c->plateau.factor)) return false;
    if (c->plateau.factor > 0 && c->plateau.factor < 1) return true;
    return diag_error(v->loc, "factor is in (0, 1): the rate is multiplied by it"), false;
  }
  if (!strcmp(a->str, "patience"))
    return int_in(v, 0, 1e6, &n) && (c->plateau.patience = (int)n, true);
  if (!strcmp(a->str, "cooldown"))
    return int_in(v, 0, 1e6, &n) && (c->plateau.cooldown = (int)n, true);
  if (!strcmp(a->str, "min_delta")) return nonnegative(v, &c->plateau.min_delta);
  if (!strcmp(a->str, "min_lr")) return nonnegative(v, &c->plateau.min_lr);
  diag_error(a->loc, "reduce_lr_on_plateau() takes monitor=, factor=, patience=, min_delta=, "
                     "cooldown= and min_lr=");
  return false;
}

/* reduce_lr_on_plateau = reduce_lr_on_plateau(monitor=val_loss, factor=0.1,
 * patience=10, min_delta=1e-4, cooldown=0, min_lr=0): Keras's ReduceLROnPlateau */
static bool reduce_lr_on_plateau(const AstExpr *x, FeConfig *c) {
  if (x->kind != AST_CALL || strcmp(x->str, "reduce_lr_on_plateau") != 0)
    return diag_error(x->loc, "expected reduce_lr_on_plateau(factor=0.1, patience=N, ...)"),
           false;
  c->plateau.on = true;
  for (int i = 0; i < x->nargs; i++) {
    if (x->args[i]->kind != AST_KWARG)
      return diag_error(x->args[i]->loc, "reduce_lr_on_plateau() takes its arguments by name"),
             false;
    if (!plateau_option(x->args[i], c)) return false;
  }
  return true;
}

/* one argument of early_stopping(...) */
static bool early_option(const AstExpr *a, FeConfig *c) {
  const AstExpr *v = a->args[0];
  int64_t n;
  if (!strcmp(a->str, "monitor")) return monitor_name(v, &c->early.monitor);
  if (!strcmp(a->str, "patience"))
    return int_in(v, 0, 1e6, &n) && (c->early.patience = (int)n, true);
  if (!strcmp(a->str, "min_delta")) return nonnegative(v, &c->early.min_delta);
  if (!strcmp(a->str, "restore_best")) return bool_option(v, &c->early.restore_best);
  diag_error(a->loc, "early_stopping() takes monitor=, patience=, min_delta= and restore_best=");
  return false;
}

/* early_stopping = early_stopping(monitor=val_loss, patience=0, min_delta=0,
 * restore_best=false): Keras's EarlyStopping and its defaults */
static bool early_stopping(const AstExpr *x, FeConfig *c) {
  if (x->kind != AST_CALL || strcmp(x->str, "early_stopping") != 0)
    return diag_error(x->loc, "expected early_stopping(patience=N, ...)"), false;
  c->early.on = true;
  for (int i = 0; i < x->nargs; i++) {
    if (x->args[i]->kind != AST_KWARG)
      return diag_error(x->args[i]->loc, "early_stopping() takes its arguments by name"), false;
    if (!early_option(x->args[i], c)) return false;
  }
  return true;
}

static bool train_stmt(const AstStmt *s, FeConfig *c) {
  int64_t v;
  const char *k = s->name;
  if (strcmp(k, "optimizer") == 0) return optimizer(s->expr, &c->optimizer);
  if (strcmp(k, "schedule") == 0) return schedule(s->expr, &c->optimizer);
  if (strcmp(k, "warmup") == 0) return nonnegative(s->expr, &c->optimizer.warmup);
  if (strcmp(k, "clip_norm") == 0) return nonnegative(s->expr, &c->optimizer.clip_norm);
  if (strcmp(k, "freeze") == 0) return freeze(s->expr, c);
  if (strcmp(k, "validation_split") == 0) {
    if (!finite_num(s->expr, &c->validation_split)) return false;
    if (c->validation_split < 0 || c->validation_split >= 1)
      return diag_error(s->expr->loc, "validation_split is a fraction in [0, 1)"), false;
    return true;
  }
  if (strcmp(k, "validation_shuffle") == 0) return bool_option(s->expr, &c->validation_shuffle);
  if (strcmp(k, "test_split") == 0) {
    if (!finite_num(s->expr, &c->test_split)) return false;
    if (c->test_split > 0 && c->test_split < 1) return true;
    return diag_error(s->expr->loc, "test_split is a fraction in (0, 1)"), false;
  }
  if (strcmp(k, "early_stopping") == 0) return early_stopping(s->expr, c);
  if (strcmp(k, "reduce_lr_on_plateau") == 0) return reduce_lr_on_plateau(s->expr, c);
  if (strcmp(k, "monitor") == 0) { /* what --save-best keeps the best of, without early stopping */
    if (s->expr->kind != AST_NAME && s->expr->kind != AST_STR)
      return diag_error(s->expr->loc, "monitor names a reported value: val_loss, loss, ..."), false;
    c->early.monitor = s->expr->str;
    return true;
  }
  if (strcmp(k, "lr") == 0) { /* Keras's spelling: the optimizer's rate, applied after the block */
    if (!finite_num(s->expr, &c->lr)) return false;
    if (!fe_lr_ok(c->lr)) return diag_error(s->expr->loc, "'lr' must be in " FE_LR_RANGE), false;
    return true;
  }
  if (strcmp(k, "batch") == 0) return int_in(s->expr, 1, 1 << 20, &v) && (c->batch = (int)v, true);
  if (strcmp(k, "epochs") == 0) return int_in(s->expr, 1, 1e6, &v) && (c->epochs = (int)v, true);
  if (strcmp(k, "seed") == 0) /* the range of --seed */
    return int_in(s->expr, 0, 9e18, &v) && (c->seed = (uint64_t)v, true);
  diag_error(s->loc, "unknown training setting '%s' (expected optimizer, schedule, warmup, "
                     "clip_norm, batch, lr, epochs, seed, freeze, validation_split, "
                     "validation_shuffle, test_split, early_stopping, reduce_lr_on_plateau or "
                     "monitor)",
             k);
  return false;
}

static bool is_model_input(const AstFile *f, const char *name) {
  for (const AstBlock *b = f->blocks; b; b = b->next)
    for (const AstStmt *s = b->stmts; b->kind == BLOCK_MODEL && s; s = s->next)
      if (s->kind == ST_INPUT && strcmp(s->name, name) == 0) return true;
  return false;
}

/* a column by name or index (an index as text, as the csv reader takes it) */
static bool column(const AstFile *f, const AstExpr *c, PgSource *src) {
  char buf[32];
  int64_t n;
  if (src->ncolumns == PG_MAX_COLUMNS)
    return diag_error(c->loc, "too many columns (name ranges: \"0:30\")"), false;
  if (c->kind == AST_NUM) {
    if (!int_in(c, 0, 1e6, &n)) return false;
    snprintf(buf, sizeof buf, "%lld", (long long)n);
  } else if (c->kind != AST_STR && c->kind != AST_NAME) {
    return diag_error(c->loc, "a column is a name, an index or a range like \"0:30\""), false;
  }
  const char *name = c->kind == AST_NUM ? fe_strdup_in((AstFile *)f, buf, strlen(buf)) : c->str;
  if (!name) return false; /* out of memory, reported */
  src->columns[src->ncolumns++] = name;
  return true;
}

/* csv("path", columns=[...], header=true, skip=0): columns by name or index */
static bool csv_source(const AstFile *f, const AstExpr *x, PgSource *src) {
  src->format = "csv";
  src->header = true;
  for (int i = 1; i < x->nargs; i++) {
    const AstExpr *a = x->args[i], *v = a->kind == AST_KWARG ? a->args[0] : a;
    const char *key = a->kind == AST_KWARG ? a->str : "";
    int64_t n;
    if (strcmp(key, "header") == 0 && v->kind == AST_NAME && (!strcmp(v->str, "true") || !strcmp(v->str, "false"))) {
      src->header = strcmp(v->str, "true") == 0;
    } else if (strcmp(key, "skip") == 0) {
      if (!int_in(v, 0, 1e9, &n)) return false;
      src->skip = (int)n;
    } else if (strcmp(key, "columns") == 0) {
      int count = v->kind == AST_LIST ? v->nargs : 1;
      for (int k = 0; k < count; k++)
        if (!column(f, v->kind == AST_LIST ? v->args[k] : v, src)) return false;
    } else {
      return diag_error(a->loc, "csv() takes columns=, header= and skip= after the file name"), false;
    }
  }
  if (!src->ncolumns) return diag_error(x->loc, "csv() needs columns=[...]: which columns feed this input"), false;
  return true;
}

/* the most tokens of one example, stride or shift: a bound on sizes before they are sizes */
#define MAX_WINDOW (1 << 20)

/* where a data source is read: its block (whose file lists it may name) and its line */
typedef struct {
  const AstFile *f;
  const AstBlock *b;
  const AstStmt *at;
} DataLine;

/* ---- file lists: `corpus = ["a.txt", "b.txt"]` in a data block ---- */

/* a line that names files rather than feeding an input: a list (or one
 * string) bound to a name the model has no input of */
static bool is_file_list(const AstFile *f, const AstStmt *s) {
  if (s->kind != ST_LET) return false;
  bool files = s->expr->kind == AST_LIST || s->expr->kind == AST_STR;
  return files && !is_model_input(f, s->name);
}

/* the file list `name` of block b defined before line `until` (NULL: anywhere), or NULL */
static const AstStmt *file_list(const AstFile *f, const AstBlock *b, const AstStmt *until,
                                const char *name) {
  for (const AstStmt *s = b->stmts; s && s != until; s = s->next)
    if (is_file_list(f, s) && strcmp(s->name, name) == 0) return s;
  return NULL;
}

/* an unknown list name; a note if another data block has a list of that name */
static void unknown_list(const DataLine *l, const AstExpr *name) {
  diag_error(name->loc, "no file list named '%s' before this line in data %s (define it first: "
                        "%s = [\"a.txt\", \"b.txt\"])", name->str, l->b->name, name->str);
  for (const AstBlock *o = l->f->blocks; o; o = o->next) {
    const AstStmt *s = o != l->b && o->kind == BLOCK_DATA ? file_list(l->f, o, NULL, name->str)
                                                          : NULL;
    if (s) diag_note(s->loc, "a list of data %s: each data block has its own", o->name);
  }
}

/* a list's line: a name defined once in its block, one to PG_MAX_TEXT_FILES strings */
static bool check_file_list(const DataLine *l) {
  const AstStmt *s = l->at, *first = file_list(l->f, l->b, s, s->name);
  const AstExpr *x = s->expr;
  if (first) {
    diag_error(s->loc, "file list '%s' is defined twice in data %s", s->name, l->b->name);
    diag_note(first->loc, "first defined here");
    return false;
  }
  if (x->kind == AST_LIST && !x->nargs) {
    diag_error(x->loc, "an empty list of files");
    return false;
  }
  if (x->kind == AST_LIST && x->nargs > PG_MAX_TEXT_FILES) {
    diag_error(x->args[PG_MAX_TEXT_FILES]->loc, "a list holds at most %d files",
               PG_MAX_TEXT_FILES);
    return false;
  }
  bool ok = true;
  for (int i = 0; x->kind == AST_LIST && i < x->nargs; i++)
    if (x->args[i]->kind != AST_STR) {
      diag_error(x->args[i]->loc, "a list of files holds file names in quotes");
      ok = false;
    }
  return ok;
}

static bool add_path(PgSource *src, const char *call, const AstExpr *at, const char *path) {
  if (src->npaths == PG_MAX_TEXT_FILES) {
    diag_error(at->loc, "%s() reads at most %d files", call, PG_MAX_TEXT_FILES);
    return false;
  }
  src->paths[src->npaths++] = path;
  return true;
}

/* a file argument of text(), pairs() or records(): "a.txt", ["a.txt", "b.txt"]
 * or the name of a list of the block. A named list's elements were checked
 * where it is defined (a bad one is skipped here, reported there). */
static bool file_names(const DataLine *l, const AstExpr *x, const char *call, PgSource *src) {
  if (x->kind == AST_STR) return add_path(src, call, x, x->str);
  const AstStmt *def = x->kind == AST_NAME ? file_list(l->f, l->b, l->at, x->str) : NULL;
  if (x->kind == AST_NAME && !def) {
    unknown_list(l, x);
    return false;
  }
  const AstExpr *list = def ? def->expr : x;
  if (list->kind == AST_STR) return add_path(src, call, x, list->str);
  if (def && list->nargs > PG_MAX_TEXT_FILES) return false; /* reported where it is defined */
  for (int i = 0; i < list->nargs; i++) {
    const AstExpr *e = list->args[i];
    if (e->kind != AST_STR && !def) {
      diag_error(e->loc, "a list of files holds file names in quotes");
      return false;
    }
    if (e->kind == AST_STR && !add_path(src, call, def ? x : e, e->str)) return false;
  }
  return true;
}

static bool is_file_arg(const AstExpr *x) {
  return x->kind == AST_STR || x->kind == AST_LIST || x->kind == AST_NAME;
}

/* ---- text(), pairs() and records() options ---- */

static bool vocab_option(const AstExpr *v, PgSource *src) {
  if ((v->kind != AST_NAME && v->kind != AST_STR) || strcmp(v->str, "chars") != 0) {
    diag_error(v->loc, "unknown vocabulary (the one there is: vocab=chars)");
    return false;
  }
  src->vocab = "chars";
  return true;
}

/* NAME among words (n of them) into *out; `list` names them in the error */
static bool field_option(const AstExpr *v, const char *const *words, int n, const char *list,
                         const char **out) {
  for (int i = 0; i < n; i++)
    if ((v->kind == AST_NAME || v->kind == AST_STR) && strcmp(v->str, words[i]) == 0) {
      *out = words[i];
      return true;
    }
  diag_error(v->loc, "%s", list);
  return false;
}

/* length=L: a packed example holds at least `least` tokens (its specials and one more) */
static bool length_option(const AstExpr *v, int64_t least, PgSource *src) {
  return int_in(v, (double)least, MAX_WINDOW, &src->window);
}

/* pairs(): length= ([CLS] a [SEP] b [SEP]: at least 5), field=, mlm= */
static bool pairs_option(const AstExpr *a, PgSource *src) {
  static const char *const fields[] = {"tokens", "segments", "mlm_targets", "nsp"};
  const AstExpr *v = a->args[0];
  if (strcmp(a->str, "length") == 0) return length_option(v, 5, src);
  if (strcmp(a->str, "field") == 0)
    return field_option(v, fields, 4, "pairs() fields are tokens, segments, mlm_targets and nsp",
                        &src->field);
  if (strcmp(a->str, "mlm") != 0) {
    diag_error(a->loc, "pairs() has no option '%s' (length=, field=, mlm=, vocab=)", a->str);
    return false;
  }
  if (!finite_num(v, &src->mlm)) return false;
  if (src->mlm < 0 || src->mlm > 1) {
    diag_error(v->loc, "'mlm' must be in [0, 1]");
    return false;
  }
  return true;
}

/* records(): length= ([CLS] unit [SEP]: at least 3), field=, balance= */
static bool records_option(const AstExpr *a, PgSource *src) {
  static const char *const fields[] = {"tokens", "segments", "label"};
  const AstExpr *v = a->args[0];
  if (strcmp(a->str, "length") == 0) return length_option(v, 3, src);
  if (strcmp(a->str, "field") == 0)
    return field_option(v, fields, 3, "records() fields are tokens, segments and label",
                        &src->field);
  if (strcmp(a->str, "balance") == 0) return bool_option(v, &src->balance);
  diag_error(a->loc, "records() has no option '%s' (length=, field=, balance=, vocab=)", a->str);
  return false;
}

/* text(): window=, stride=, shift= (sizes bounded here) */
static bool window_option(const AstExpr *a, PgSource *src) {
  int64_t *to = !strcmp(a->str, "window")   ? &src->window
                : !strcmp(a->str, "stride") ? &src->stride
                : !strcmp(a->str, "shift")  ? &src->shift
                                            : NULL;
  if (!to) {
    diag_error(a->loc, "text() has no option '%s' (window=, stride=, shift=, vocab=)", a->str);
    return false;
  }
  return int_in(a->args[0], to == &src->shift ? 0 : 1, MAX_WINDOW, to);
}

static bool text_option(const AstExpr *a, PgSource *src) {
  if (strcmp(a->str, "vocab") == 0) return vocab_option(a->args[0], src);
  if (strcmp(src->format, "pairs") == 0) return pairs_option(a, src);
  if (strcmp(src->format, "records") == 0) return records_option(a, src);
  return window_option(a, src);
}

/* what a text source needs besides its files: window= (length=), and field= */
static bool text_required(const AstExpr *x, const PgSource *src) {
  const char *call = src->format;
  bool text = strcmp(call, "text") == 0;
  if (!src->window) {
    diag_error(x->loc, "%s() needs %s=: the tokens of one example", call,
               text ? "window" : "length");
    return false;
  }
  bool pairs = strcmp(call, "pairs") == 0;
  if (!text && !src->field) {
    diag_error(x->loc, "%s() needs field=: %s", call,
               pairs ? "tokens, segments, mlm_targets or nsp" : "tokens, segments or label");
    return false;
  }
  if (!text && !pairs && src->npaths < 2) {
    diag_error(x->loc, "records() needs two files or more: an example's label is the file it "
                       "comes from");
    return false;
  }
  return true;
}

/* text("a.txt", "b.txt", window=64, stride=64, shift=0, vocab=chars),
 * pairs("a", length=128, field=tokens, mlm=0.15, vocab=chars) or
 * records(["a", "b"], length=64, field=label, balance=false, vocab=chars):
 * the files first (names, lists, or names of lists), then the options */
static bool text_source(const DataLine *l, const AstExpr *x, PgSource *src) {
  const char *call = x->str; /* "text", "pairs" or "records" */
  *src = (PgSource){.input = src->input, .format = call, .scale = 1, .vocab = "chars", .mlm = 0.15,
                    .loc = src->loc};
  int i = 0;
  for (; i < x->nargs && is_file_arg(x->args[i]); i++)
    if (!file_names(l, x->args[i], call, src)) return false;
  if (!src->npaths) {
    diag_error(x->loc, "%s() needs the names of its files first: %s(\"a.txt\", ...)", call, call);
    return false;
  }
  src->path = src->paths[0];
  for (; i < x->nargs; i++) {
    const AstExpr *a = x->args[i];
    if (a->kind != AST_KWARG) {
      diag_error(a->loc, "%s(): the file names first, then the options (name=value)", call);
      return false;
    }
    if (!text_option(a, src)) return false;
  }
  return text_required(x, src); /* stride: set with the block's other text() sources */
}

/* a text() source without stride= steps by the longest window of the
 * block's text() sources: then every text column has the same examples
 * (tokens of window 64 and a next token of window 1, shift 64) */
static void text_strides(PgDataSet *d) {
  int64_t longest = 0;
  for (int i = 0; i < d->nsources; i++) {
    const PgSource *s = &d->sources[i];
    if (s->format && !strcmp(s->format, "text") && s->window > longest) longest = s->window;
  }
  for (int i = 0; i < d->nsources; i++) {
    PgSource *s = &d->sources[i];
    if (s->format && !strcmp(s->format, "text") && !s->stride) s->stride = longest;
  }
}

static bool same_records(const PgSource *a, const PgSource *b) {
  bool same = a->npaths == b->npaths && a->window == b->window && a->balance == b->balance &&
              strcmp(a->vocab, b->vocab) == 0;
  for (int i = 0; same && i < a->npaths; i++) same = strcmp(a->paths[i], b->paths[i]) == 0;
  return same;
}

/* the records() columns of a block line up example by example only if they
 * read the same files the same way */
static bool records_agree(const PgDataSet *d) {
  const PgSource *first = NULL;
  bool ok = true;
  for (int i = 0; i < d->nsources; i++) {
    const PgSource *s = &d->sources[i];
    if (!s->format || strcmp(s->format, "records") != 0) continue;
    if (first && !same_records(first, s)) {
      diag_error(s->loc, "the records() sources of a data block read the same files with the "
                         "same length, balance and vocab (their examples line up)");
      ok = false;
    }
    if (!first) first = s;
  }
  return ok;
}

/* graph("g.edges", "g.nodes", field=F, split=S) (the two files, or a list
 * of them): F is edges, weights, features, labels or mask; labels and mask
 * need split="train", "val" or "test" */
static bool graph_source(const DataLine *l, const AstExpr *x, PgSource *src) {
  static const char *const fields[] = {"edges", "weights", "features", "labels", "mask"};
  static const char *const splits[] = {"train", "val", "test"};
  src->format = "graph";
  int i = 0;
  for (; i < x->nargs && is_file_arg(x->args[i]); i++)
    if (!file_names(l, x->args[i], "graph", src)) return false;
  if (src->npaths != 2)
    return diag_error(x->loc, "graph() takes two files first, the edge list and the node table: "
                              "graph(\"g.edges\", \"g.nodes\", field=...)"), false;
  src->path = src->paths[0];
  for (; i < x->nargs; i++) {
    const AstExpr *a = x->args[i], *v = a->kind == AST_KWARG ? a->args[0] : a;
    const char *key = a->kind == AST_KWARG ? a->str : "";
    if (!strcmp(key, "field")) {
      if (!field_option(v, fields, 5, "graph() field is edges, weights, features, labels or mask",
                        &src->field))
        return false;
    } else if (!strcmp(key, "split")) {
      if (!field_option(v, splits, 3, "graph() split is train, val or test", &src->split))
        return false;
    } else {
      return diag_error(a->loc, "graph() takes field= and split= after its two files"), false;
    }
  }
  if (!src->field)
    return diag_error(x->loc, "graph() needs field=: edges, weights, features, labels or mask"),
           false;
  bool per_split = !strcmp(src->field, "labels") || !strcmp(src->field, "mask");
  if (per_split != (src->split != NULL))
    return diag_error(x->loc, per_split ? "graph() field=%s needs split=: train, val or test"
                                        : "graph() field=%s takes no split=", src->field), false;
  if (src->normalize)
    return diag_error(x->loc, "graph() is one example: normalize() would standardise over "
                              "examples"), false;
  return true;
}

static bool is_text_call(const AstExpr *x) {
  if (x->kind != AST_CALL) return false;
  return !strcmp(x->str, "text") || !strcmp(x->str, "pairs") || !strcmp(x->str, "records");
}

/* idx("path") or csv("path", ...), optionally inside normalize(...), then
 * optionally `/ number` or `* number`; or text(), pairs(), records() */
static bool source(const DataLine *l, PgSource *src) {
  const AstStmt *s = l->at;
  const AstExpr *x = s->expr;
  *src = (PgSource){.input = s->name, .scale = 1, .loc = s->loc};
  if (!is_model_input(l->f, s->name)) {
    diag_error(s->loc, "the model has no input named '%s'", s->name);
    return false;
  }
  if (x->kind == AST_LIST) {
    diag_error(s->loc, "'%s' is an input of the model: a list of files needs another name",
               s->name);
    return false;
  }
  if (x->kind == AST_BINOP && (x->op == '/' || x->op == '*')) {
    double k;
    if (!finite_num(x->args[1], &k)) return false;
    if (k == 0) return diag_error(x->args[1]->loc, "scale by zero"), false;
    src->scale = x->op == '/' ? 1 / k : k;
    x = x->args[0];
  }
  if (x->kind == AST_CALL && strcmp(x->str, "normalize") == 0 && x->nargs == 1) {
    src->normalize = true;
    x = x->args[0];
  }
  if (is_text_call(x)) {
    if (src->scale != 1 || src->normalize) {
      diag_error(x->loc, "%s() gives token ids: they are not scaled or normalized", x->str);
      return false;
    }
    return text_source(l, x, src);
  }
  if (x->kind == AST_CALL && strcmp(x->str, "graph") == 0) return graph_source(l, x, src);
  bool call = x->kind == AST_CALL && x->nargs >= 1 && x->args[0]->kind == AST_STR;
  if (call) src->path = x->args[0]->str;
  if (call && strcmp(x->str, "idx") == 0 && x->nargs == 1) return src->format = "idx", true;
  if (call && strcmp(x->str, "npy") == 0 && x->nargs == 1) return src->format = "npy", true;
  if (call && strcmp(x->str, "csv") == 0) return csv_source(l->f, x, src);
  diag_error(x->loc, "expected a data source: idx(\"file\") (IDX, optionally gzipped), "
                     "npy(\"file\"), csv(\"file\", columns=[...]), optionally in normalize(...), "
                     "or text(\"file\", window=N)");
  return false;
}

static bool data_block(const AstFile *f, const AstBlock *b, FeConfig *c) {
  if (c->ndata == (int)(sizeof c->data / sizeof *c->data)) {
    diag_error(b->loc, "too many data blocks");
    return false;
  }
  PgDataSet *d = &c->data[c->ndata++];
  *d = (PgDataSet){.name = b->name, .loc = b->loc};
  bool ok = true;
  for (const AstStmt *s = b->stmts; s; s = s->next) {
    DataLine line = {f, b, s};
    if (is_file_list(f, s)) {
      ok &= check_file_list(&line);
      continue;
    }
    if (s->kind != ST_LET || d->nsources == (int)(sizeof d->sources / sizeof *d->sources)) {
      diag_error(s->loc, "a data block holds `input = source` lines only (at most 8) and "
                         "`name = [\"file\", ...]` lists");
      ok = false;
      continue;
    }
    PgSource *src = &d->sources[d->nsources++];
    if (!source(&line, src)) {
      src->format = NULL; /* reported: no other check looks at it */
      ok = false;
    }
  }
  text_strides(d);
  return records_agree(d) && ok;
}

/* a warning for each source of `set` that lacks a transform its input's
 * training source applies (the test set of a model trained on normalised
 * features, read raw, scores nonsense without a word) */
static void warn_missing_transforms(const PgDataSet *train, const PgDataSet *set) {
  for (int i = 0; train && set && i < set->nsources; i++)
    for (int j = 0; j < train->nsources; j++) {
      const PgSource *s = &set->sources[i], *t = &train->sources[j];
      if (strcmp(s->input, t->input) != 0) continue;
      if (t->normalize && !s->normalize)
        diag_warning(s->loc, "'%s' is normalize()d in the train block but not in the %s block: "
                     "it reaches the model unnormalised", s->input, set->name);
      if (t->scale != s->scale)
        diag_warning(s->loc, "'%s' is scaled by %g in the train block but by %g in the %s block",
                     s->input, t->scale, s->scale, set->name);
    }
}

bool fe_config(const AstFile *f, FeConfig *c) {
  *c = (FeConfig){.optimizer = ps_optimizer_default(PS_OPT_ADAM), .batch = 32, .epochs = 1,
                  .seed = 1, .early.monitor = "val_loss",
                  .plateau = {false, "val_loss", 0.1, 1e-4, 0, 10, 0}};
  int errors = diag_error_count();
  c->nexterns = fe_externs(f, c->externs, true);
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind == BLOCK_DATA) data_block(f, b, c);
    for (const AstStmt *s = b->stmts; b->kind == BLOCK_TRAIN && s; s = s->next)
      if (s->kind != ST_LET) diag_error(s->loc, "a train block holds `setting = value` lines only");
      else train_stmt(s, c);
  }
  if (c->lr > 0) c->optimizer.lr = c->lr; /* as --lr: over an optimizer(lr=...) of the block */
  c->optimizer.lr_scale = c->plateau.on;
  const PgDataSet *train = fe_dataset(c, "train"), *test = fe_dataset(c, "test");
  warn_missing_transforms(train, test);
  warn_missing_transforms(train, fe_dataset(c, "validation"));
  if (c->test_split > 0 && test)
    diag_error(test->loc, "the train block's test_split holds out the test set: a 'data test' "
               "block too is one test set too many");
  return diag_error_count() == errors;
}

const PgDataSet *fe_dataset(const FeConfig *c, const char *name) {
  for (int i = 0; i < c->ndata; i++)
    if (strcmp(c->data[i].name, name) == 0) return &c->data[i];
  return NULL;
}

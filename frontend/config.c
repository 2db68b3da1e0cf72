/* config.c — the `train` and `data` blocks: optimizer, batch size, epochs,
 * seed, and where each model input's data comes from; and the extern
 * declarations (extern.c), whose libraries the driver loads. Values are
 * checked here, with locations, so that a bad file fails before anything is
 * compiled or read.
 *
 *   train { optimizer = adam(lr=0.001)  batch = 32  epochs = 5  seed = 42 }
 *   data train { image = idx("...-images-idx3-ubyte.gz") / 255
 *                label = idx("...-labels-idx1-ubyte.gz") }                    */
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
  if (strcmp(k, "batch") == 0) return int_in(s->expr, 1, 1 << 20, &v) && (c->batch = (int)v, true);
  if (strcmp(k, "epochs") == 0) return int_in(s->expr, 1, 1e6, &v) && (c->epochs = (int)v, true);
  if (strcmp(k, "seed") == 0) /* the range of --seed */
    return int_in(s->expr, 0, 9e18, &v) && (c->seed = (uint64_t)v, true);
  diag_error(s->loc, "unknown training setting '%s' (expected optimizer, schedule, warmup, clip_norm, batch, "
                     "epochs, seed, freeze or validation_split)", k);
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

/* pairs(): field= (which input this is) and mlm= (the chance a token is masked) */
static bool pairs_option(const AstExpr *a, PgSource *src) {
  static const char *const fields[] = {"tokens", "segments", "mlm_targets", "nsp"};
  const AstExpr *v = a->args[0];
  if (strcmp(a->str, "mlm") == 0) {
    if (!finite_num(v, &src->mlm)) return false;
    if (src->mlm < 0 || src->mlm > 1) {
      diag_error(v->loc, "'mlm' must be in [0, 1]");
      return false;
    }
    return true;
  }
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
    if ((v->kind == AST_NAME || v->kind == AST_STR) && strcmp(v->str, fields[i]) == 0) {
      src->field = fields[i];
      return true;
    }
  diag_error(v->loc, "pairs() fields are tokens, segments, mlm_targets and nsp");
  return false;
}

/* a text() option: window=, stride=, shift= (sizes bounded here) or vocab=;
 * a pairs() option: length=, field=, mlm=, vocab= */
static bool text_option(const AstExpr *a, PgSource *src) {
  const AstExpr *v = a->args[0];
  int64_t n;
  bool pairs = !strcmp(src->format, "pairs");
  if (pairs && (!strcmp(a->str, "field") || !strcmp(a->str, "mlm"))) return pairs_option(a, src);
  if (strcmp(a->str, "vocab") == 0) {
    if ((v->kind != AST_NAME && v->kind != AST_STR) || strcmp(v->str, "chars") != 0) {
      diag_error(v->loc, "unknown vocabulary (the one there is: vocab=chars)");
      return false;
    }
    src->vocab = "chars";
    return true;
  }
  int64_t *to = pairs ? (!strcmp(a->str, "length") ? &src->window : NULL)
                : !strcmp(a->str, "window") ? &src->window
                : !strcmp(a->str, "stride") ? &src->stride
                : !strcmp(a->str, "shift")  ? &src->shift
                                            : NULL;
  if (!to && pairs) {
    diag_error(a->loc, "pairs() has no option '%s' (length=, field=, mlm=, vocab=)", a->str);
    return false;
  }
  if (!to) {
    diag_error(a->loc, "text() has no option '%s' (window=, stride=, shift=, vocab=)", a->str);
    return false;
  }
  /* a packed pair holds [CLS] a [SEP] b [SEP]: at least 5 */
  if (!int_in(v, to == &src->shift ? 0 : pairs ? 5 : 1, MAX_WINDOW, &n)) return false;
  *to = n;
  return true;
}

/* text("a.txt", "b.txt", window=64, stride=64, shift=0, vocab=chars) or
 * pairs("a", length=128, field=tokens, mlm=0.15, vocab=chars): the file
 * names first, then the options; window (length) and field are required */
static bool text_source(const AstExpr *x, PgSource *src) {
  const char *call = x->str; /* "text" or "pairs" */
  *src = (PgSource){.input = src->input, .format = call, .scale = 1, .vocab = "chars", .mlm = 0.15,
                    .loc = src->loc};
  int i = 0;
  for (; i < x->nargs && x->args[i]->kind == AST_STR; i++) {
    if (i == PG_MAX_TEXT_FILES) {
      diag_error(x->args[i]->loc, "%s() reads at most %d files", call, PG_MAX_TEXT_FILES);
      return false;
    }
    src->paths[src->npaths++] = x->args[i]->str;
  }
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
  if (!src->window) {
    bool text = strcmp(call, "pairs") != 0;
    const char *size = text ? "window" : "length";
    diag_error(x->loc, "%s() needs %s=: the tokens of one example", call, size);
    return false;
  }
  if (!strcmp(call, "pairs") && !src->field) {
    diag_error(x->loc, "pairs() needs field=: tokens, segments, mlm_targets or nsp");
    return false;
  }
  return true; /* stride: set with the block's other text() sources (text_strides) */
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

/* idx("path") or csv("path", ...), optionally inside normalize(...), then
 * optionally `/ number` or `* number` */
static bool source(const AstFile *f, const AstStmt *s, PgSource *src) {
  const AstExpr *x = s->expr;
  *src = (PgSource){.input = s->name, .scale = 1, .loc = s->loc};
  if (!is_model_input(f, s->name)) {
    diag_error(s->loc, "the model has no input named '%s'", s->name);
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
  if (x->kind == AST_CALL && (!strcmp(x->str, "text") || !strcmp(x->str, "pairs"))) {
    if (src->scale != 1 || src->normalize) {
      diag_error(x->loc, "%s() gives token ids: they are not scaled or normalized", x->str);
      return false;
    }
    return text_source(x, src);
  }
  bool call = x->kind == AST_CALL && x->nargs >= 1 && x->args[0]->kind == AST_STR;
  if (call) src->path = x->args[0]->str;
  if (call && strcmp(x->str, "idx") == 0 && x->nargs == 1) return src->format = "idx", true;
  if (call && strcmp(x->str, "npy") == 0 && x->nargs == 1) return src->format = "npy", true;
  if (call && strcmp(x->str, "csv") == 0) return csv_source(f, x, src);
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
    if (s->kind != ST_LET || d->nsources == (int)(sizeof d->sources / sizeof *d->sources)) {
      diag_error(s->loc, "a data block holds `input = source` lines only (at most 8)");
      ok = false;
      continue;
    }
    ok &= source(f, s, &d->sources[d->nsources++]);
  }
  text_strides(d);
  return ok;
}

bool fe_config(const AstFile *f, FeConfig *c) {
  *c = (FeConfig){.optimizer = ps_optimizer_default(PS_OPT_ADAM), .batch = 32, .epochs = 1, .seed = 1};
  int errors = diag_error_count();
  c->nexterns = fe_externs(f, c->externs, true);
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind == BLOCK_DATA) data_block(f, b, c);
    for (const AstStmt *s = b->stmts; b->kind == BLOCK_TRAIN && s; s = s->next)
      if (s->kind != ST_LET) diag_error(s->loc, "a train block holds `setting = value` lines only");
      else train_stmt(s, c);
  }
  return diag_error_count() == errors;
}

const PgDataSet *fe_dataset(const FeConfig *c, const char *name) {
  for (int i = 0; i < c->ndata; i++)
    if (strcmp(c->data[i].name, name) == 0) return &c->data[i];
  return NULL;
}

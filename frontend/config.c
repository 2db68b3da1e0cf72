/* config.c — the `train` and `data` blocks: optimizer, batch size, epochs,
 * seed, and where each model input's data comes from. Values are checked here,
 * with locations, so that a bad file fails before anything is compiled or read.
 *
 *   train { optimizer = adam(lr=0.001)  batch = 32  epochs = 5  seed = 42 }
 *   data train { image = idx("...-images-idx3-ubyte.gz") / 255
 *                label = idx("...-labels-idx1-ubyte.gz") }                    */
#include <math.h>
#include <string.h>

#include "frontend.h"

static bool num(const AstExpr *x, double *out) {
  if (x->kind == AST_NUM) {
    *out = x->num;
    return true;
  }
  double a, b;
  if (x->kind == AST_NEG && num(x->args[0], &a)) {
    *out = -a;
    return true;
  }
  if (x->kind == AST_BINOP && x->op != '@' && num(x->args[0], &a) && num(x->args[1], &b)) {
    *out = x->op == '+' ? a + b : x->op == '-' ? a - b : x->op == '*' ? a * b : a / b;
    return true;
  }
  diag_error(x->loc, "expected a number");
  return false;
}

static bool positive_int(const AstExpr *x, double max, int64_t *out) {
  double v;
  if (!num(x, &v)) return false;
  if (v < 1 || v > max || v != floor(v)) {
    diag_error(x->loc, "expected an integer between 1 and %.0f", max);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

static bool optimizer(const AstExpr *x, PsOptimizer *o) {
  if (x->kind != AST_CALL || (strcmp(x->str, "adam") != 0 && strcmp(x->str, "sgd") != 0)) {
    diag_error(x->loc, "expected an optimizer: adam(...) or sgd(...)");
    return false;
  }
  bool adam = strcmp(x->str, "adam") == 0;
  *o = (PsOptimizer){adam ? PS_OPT_ADAM : PS_OPT_SGD, adam ? 0.001 : 0.01, 0.9, 0.999, 1e-8};
  for (int i = 0; i < x->nargs; i++) {
    const AstExpr *a = x->args[i];
    const char *k = a->kind == AST_KWARG ? a->str : i == 0 ? "lr" : "";
    double *slot = strcmp(k, "lr") == 0 ? &o->lr
                   : adam && strcmp(k, "beta1") == 0 ? &o->beta1
                   : adam && strcmp(k, "beta2") == 0 ? &o->beta2
                   : adam && strcmp(k, "eps") == 0 ? &o->eps : NULL;
    if (!slot) {
      diag_error(a->loc, "'%s' has no argument %s%s", x->str, *k ? "named " : "in this position", k);
      return false;
    }
    if (!num(a->kind == AST_KWARG ? a->args[0] : a, slot)) return false;
    if (*slot < 0 || (slot != &o->lr && slot != &o->eps && *slot >= 1)) {
      diag_error(a->loc, "'%s' is out of range", k);
      return false;
    }
  }
  return true;
}

bool fe_add_freeze(FeConfig *c, const char *layer, IrLoc loc) {
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
      if (n->op == IR_OP_PARAM && n->role == IR_ROLE_WEIGHT && strncmp(n->name, c->freeze[k], len) == 0 &&
          n->name[len] == '.')
        n->role = IR_ROLE_FROZEN, found++;
    }
    if (!found) diag_error(c->freeze_loc[k], "cannot freeze '%s': the model has no layer of that name", c->freeze[k]), ok = false;
  }
  return ok;
}

static bool train_stmt(const AstStmt *s, FeConfig *c) {
  int64_t v;
  if (strcmp(s->name, "optimizer") == 0) return optimizer(s->expr, &c->optimizer);
  if (strcmp(s->name, "freeze") == 0) return freeze(s->expr, c);
  if (strcmp(s->name, "batch") == 0 && positive_int(s->expr, 1 << 20, &v)) return c->batch = v, true;
  if (strcmp(s->name, "epochs") == 0 && positive_int(s->expr, 1e6, &v)) return c->epochs = v, true;
  if (strcmp(s->name, "seed") == 0) {
    double d;
    if (!num(s->expr, &d)) return false;
    c->seed = (uint64_t)fabs(d);
    return true;
  }
  if (strcmp(s->name, "optimizer") != 0 && strcmp(s->name, "batch") != 0 &&
      strcmp(s->name, "epochs") != 0)
    diag_error(s->loc, "unknown training setting '%s' (expected optimizer, batch, epochs, seed or freeze)",
               s->name);
  return false;
}

static bool is_model_input(const AstFile *f, const char *name) {
  for (const AstBlock *b = f->blocks; b; b = b->next)
    for (const AstStmt *s = b->stmts; b->kind == BLOCK_MODEL && s; s = s->next)
      if (s->kind == ST_INPUT && strcmp(s->name, name) == 0) return true;
  return false;
}

/* idx("path") optionally followed by `/ number` or `* number` */
static bool source(const AstFile *f, const AstStmt *s, FeSource *src) {
  const AstExpr *x = s->expr;
  *src = (FeSource){.input = s->name, .scale = 1, .loc = s->loc};
  if (!is_model_input(f, s->name)) {
    diag_error(s->loc, "the model has no input named '%s'", s->name);
    return false;
  }
  if (x->kind == AST_BINOP && (x->op == '/' || x->op == '*')) {
    double k;
    if (!num(x->args[1], &k)) return false;
    if (k == 0) return diag_error(x->args[1]->loc, "scale by zero"), false;
    src->scale = x->op == '/' ? 1 / k : k;
    x = x->args[0];
  }
  if (x->kind != AST_CALL || strcmp(x->str, "idx") != 0 || x->nargs != 1 ||
      x->args[0]->kind != AST_STR) {
    diag_error(x->loc, "expected a data source: idx(\"file\") (IDX format, optionally gzipped)");
    return false;
  }
  src->format = "idx";
  src->path = x->args[0]->str;
  return true;
}

static bool data_block(const AstFile *f, const AstBlock *b, FeConfig *c) {
  if (c->ndata == (int)(sizeof c->data / sizeof *c->data)) {
    diag_error(b->loc, "too many data blocks");
    return false;
  }
  FeDataSet *d = &c->data[c->ndata++];
  *d = (FeDataSet){.name = b->name, .loc = b->loc};
  bool ok = true;
  for (const AstStmt *s = b->stmts; s; s = s->next) {
    if (s->kind != ST_LET || d->nsources == (int)(sizeof d->sources / sizeof *d->sources)) {
      diag_error(s->loc, "a data block holds `input = source` lines only (at most 8)");
      ok = false;
      continue;
    }
    ok &= source(f, s, &d->sources[d->nsources++]);
  }
  return ok;
}

bool fe_config(const AstFile *f, FeConfig *c) {
  *c = (FeConfig){.optimizer = {PS_OPT_ADAM, 0.001, 0.9, 0.999, 1e-8}, .batch = 32, .epochs = 1,
                  .seed = 1};
  int errors = diag_error_count();
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind == BLOCK_DATA) data_block(f, b, c);
    for (const AstStmt *s = b->stmts; b->kind == BLOCK_TRAIN && s; s = s->next)
      if (s->kind != ST_LET) diag_error(s->loc, "a train block holds `setting = value` lines only");
      else train_stmt(s, c);
  }
  return diag_error_count() == errors;
}

const FeDataSet *fe_dataset(const FeConfig *c, const char *name) {
  for (int i = 0; i < c->ndata; i++)
    if (strcmp(c->data[i].name, name) == 0) return &c->data[i];
  return NULL;
}

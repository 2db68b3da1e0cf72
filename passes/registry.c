/* registry.c — the one table of passes, read by the pipeline runner and by
 * the CLI (`nnd passes`, `nnd opt`, `nnd dump`), and the pipeline syntax:
 *   pass,pass{option=value,option=value},pass
 * Each pass gets the base options with its own overrides. The verifier runs
 * after every pass. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static bool ps_verify(IrGraph *g, const PsOptions *opt) { return (void)opt, ir_verify(g, "verify"); }

static bool ps_shape_infer(IrGraph *g, const PsOptions *opt) {
  if (!ps_each_body(g, ps_shape_infer, opt)) return false;
  for (int i = 0; i < g->count; i++)
    if (!ir_infer_type(g, &g->nodes[i])) return false;
  return true;
}

bool ps_each_body(IrGraph *g, bool (*pass)(IrGraph *, const PsOptions *), const PsOptions *opt) {
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].body && !pass(g->nodes[i].body, opt)) return false;
  return true;
}

static const PsPass passes[] = {
    {"verify", "check the graph's invariants (also run after every pass)", "", ps_verify},
    {"shape-infer", "recompute every node's type from its operands", "", ps_shape_infer},
    {"canonicalize", "fold scalar constants; remove exact identities (x*1, -(-x), ...)", "", ps_canonicalize},
    {"cse", "merge nodes that compute the same value", "", ps_cse},
    {"dce", "remove nodes no output or assignment depends on", "", ps_dce},
    {"autodiff", "append the backward graph of \"loss\" and the optimizer update",
     "optimizer=adam|adamw|sgd|rmsprop|none lr beta1 beta2 eps momentum weight-decay clip-norm "
     "recompute-scans=0|1", ps_autodiff},
    {"fuse", "group nodes into kernels: elementwise chains become one loop",
     "max-ops=N,explain=0|1", ps_fuse},
    {"decode", "one position of a causal predict graph, keys and values from a cache", "",
     ps_decode},
    {"fold-scale", "fold a per-channel scale and shift after a matmul (inference batch norm) "
     "into its weights and bias", "", ps_fold_scale},
    {"plan", "assign arena offsets to values that live between kernels", "max-batch=N", ps_plan},
};

const PsPass *ps_pass_list(int *count) {
  *count = (int)(sizeof passes / sizeof *passes);
  return passes;
}

const PsPass *ps_pass_find(const char *name) {
  for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
    if (strcmp(passes[i].name, name) == 0) return &passes[i];
  return NULL;
}

static bool number(const char *pass, const char *key, const char *v, double lo, double hi, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x >= lo && x <= hi)) {
    diag_error((PgLoc){0}, "%s{%s=...}: expected a number in [%g, %g], got '%s'", pass, key, lo, hi,
               v);
    return false;
  }
  *out = x;
  return true;
}

static bool set_optimizer(const char *v, PsOptimizer *opt) {
  static const char *names[] = {"none", "sgd", "adam", "adamw", "rmsprop"};
  for (int k = 0; k < (int)(sizeof names / sizeof *names); k++)
    if (strcmp(v, names[k]) == 0) {
      double lr = opt->lr;
      *opt = ps_optimizer_default((PsOptimizerKind)k);
      opt->lr = lr;
      return true;
    }
  return diag_error((PgLoc){0},
                    "autodiff{optimizer=...}: none, sgd, adam, adamw or rmsprop, not '%s'", v),
         false;
}

static bool set_option(const PsPass *p, const char *key, const char *v, PsOptions *o) {
  const struct {
    const char *pass, *key;
    double lo, hi;
    double *real;
  } reals[] = {
      {"autodiff", "lr", 0, 1e6, &o->optimizer.lr},       {"autodiff", "beta1", 0, 0.999999, &o->optimizer.beta1},
      {"autodiff", "beta2", 0, 0.999999, &o->optimizer.beta2}, {"autodiff", "eps", 0, 1, &o->optimizer.eps},
      {"autodiff", "momentum", 0, 1, &o->optimizer.momentum}, {"autodiff", "weight-decay", 0, 1, &o->optimizer.weight_decay},
      {"autodiff", "clip-norm", 0, 1e9, &o->optimizer.clip_norm},
  };
  double x;
  for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
    if (strcmp(p->name, reals[i].pass) == 0 && strcmp(key, reals[i].key) == 0)
      return number(p->name, key, v, reals[i].lo, reals[i].hi, reals[i].real);
  if (strcmp(p->name, "autodiff") == 0 && strcmp(key, "optimizer") == 0) return set_optimizer(v, &o->optimizer);
  if (strcmp(p->name, "autodiff") == 0 && strcmp(key, "recompute-scans") == 0)
    return number(p->name, key, v, 0, 1, &x) && (o->recompute_scans = x != 0, true);
  if (strcmp(p->name, "fuse") == 0 && strcmp(key, "max-ops") == 0)
    return number(p->name, key, v, 0, 1e9, &x) && (o->max_ops = (int)x, true);
  if (strcmp(p->name, "fuse") == 0 && strcmp(key, "explain") == 0)
    return number(p->name, key, v, 0, 1, &x) && (o->explain = x != 0, true);
  if (strcmp(p->name, "plan") == 0 && strcmp(key, "max-batch") == 0)
    return number(p->name, key, v, 1, (double)PG_MAX_BATCH, &x) &&
           (o->max_batch = (int64_t)x, true);
  diag_error((PgLoc){0}, "pass '%s' has no option '%s'%s%s", p->name, key,
             *p->options ? "; it takes " : "", p->options);
  return false;
}

/* "k=v,k=v" (the text between braces) onto o; `optimizer` first, since it
 * sets the defaults the other options then change */
static bool parse_options(const PsPass *p, const char *text, PsOptions *o) {
  for (int round = 0; round < 2; round++) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
      while (*item == ' ') item++;
      char *eq = strchr(item, '=');
      if (!eq)
        return diag_error((PgLoc){0}, "pass option '%s' needs a value (%s{key=value})", item,
                          p->name),
               false;
      *eq = 0;
      if ((strcmp(item, "optimizer") == 0) == (round == 0) && !set_option(p, item, eq + 1, o)) return false;
    }
  }
  return true;
}

bool ps_run_pipeline(IrGraph *g, const char *pipeline, const PsOptions *base, PsObserver after, void *ctx) {
  for (const char *p = pipeline; *p;) {
    size_t len = strcspn(p, ",{");
    char name[64], opts[256] = "";
    snprintf(name, sizeof name, "%.*s", (int)len, p);
    p += len;
    if (*p == '{') {
      size_t olen = strcspn(p, "}");
      if (!p[olen])
        return diag_error((PgLoc){0}, "missing '}' after the options of pass '%s'", name), false;
      snprintf(opts, sizeof opts, "%.*s", (int)olen - 1, p + 1);
      p += olen + 1;
    }
    if (*p == ',') p++;
    if (!*name) continue;
    const PsPass *pass = ps_pass_find(name);
    if (!pass)
      return diag_error((PgLoc){0}, "unknown pass '%s' (`nnd passes` lists them)", name), false;
    PsOptions o = *base;
    if (!parse_options(pass, opts, &o)) return false;
    double t0 = pg_seconds();
    bool ok = pass->run(g, &o) && ir_verify(g, pass->name);
    if (after) after(g, pass->name, pg_seconds() - t0, ctx);
    if (!ok) return false;
  }
  return true;
}

/* pipeline.c — the stages from an elaborated model to a planned step graph,
 * and the inspection hooks around them: print a stage (text or Graphviz),
 * print after every pass or one, print only what changed (unified diff),
 * dump each pass's output to a folder, time each pass. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../codegen/codegen.h"
#include "diff.h"
#include "driver.h"

/* stage name, the passes that produce it from the one before, per graph
 * (eval also runs for predict; decode is predict, then the decode pass) */
static const struct {
  const char *stage, *train, *eval, *grad, *decode;
} stages[] = {
    {"optimized", "canonicalize,cse,dce", "canonicalize,cse,dce,fold-scale,cse",
     "canonicalize,cse,dce", "canonicalize,cse,dce,decode,canonicalize,cse,dce,fold-scale,cse"},
    {"autodiff", "autodiff,canonicalize,cse,dce", "",
     "autodiff{optimizer=none},canonicalize,cse,dce", ""},
    {"fused", "fuse", "fuse", "fuse", "fuse"},
    {"planned", "plan", "plan", "plan", "plan"},
};

bool known_stage(const char *s) {
  static const char *names[] = {"parsed", "elaborated", "optimized", "autodiff",
                                "fused",  "planned",    "llvm",      "program"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(names[i], s) == 0) return true;
  return false;
}

void print_graph(FILE *out, const IrGraph *g, const Cli *c) {
  static const char *const details[] = {"auto", "ops", "layers", "kernels"};
  IrDotDetail detail = IR_DOT_AUTO;
  for (int i = 1; c->detail && i < 4; i++)
    if (strcmp(c->detail, details[i]) == 0) detail = (IrDotDetail)i;
  if (c->format && strcmp(c->format, "dot") == 0) ir_print_dot(out, g, detail);
  else ir_print(out, g);
}

static char *graph_text(const IrGraph *g) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  ir_print(mem, g);
  fclose(mem);
  return text;
}

static void dump_to_dir(const Watch *w, const IrGraph *g, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%02d-%s.nnir", w->cli->dump_dir, w->npasses, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    diag_error((PgLoc){0}, "cannot write '%s': %s", path, strerror(errno));
    return;
  }
  ir_print(f, g);
  fclose(f);
}

FILE *result_open(Result *r, const Cli *c) {
  *r = (Result){stdout, NULL, 0};
  if (c->out && strcmp(c->out, "-") != 0 && !(r->f = open_memstream(&r->text, &r->len)))
    diag_error((PgLoc){0}, "out of memory");
  return r->f;
}

bool result_close(Result *r, const Cli *c, bool ok) {
  if (r->f == stdout) return ok;
  if (r->f && fclose(r->f) != 0) ok = false;
  ok = ok && rt_replace_file(c->out, r->text, r->len);
  free(r->text);
  return ok;
}

void watch_init(Watch *w, const Cli *c) {
  memset(w, 0, sizeof *w);
  w->cli = c;
  w->result = stdout;
}

void watch_start(Watch *w, const IrGraph *g, const char *what) {
  const Cli *c = w->cli;
  if (c->print_changed) free(w->previous), w->previous = graph_text(g);
  if (c->dump_dir) {
    if (mkdir(c->dump_dir, 0777) != 0 && errno != EEXIST)
      diag_error((PgLoc){0}, "cannot create '%s': %s", c->dump_dir, strerror(errno));
    dump_to_dir(w, g, what);
  }
}

void watch_pass(const IrGraph *g, const char *pass, double seconds, void *ctx) {
  Watch *w = ctx;
  const Cli *c = w->cli;
  w->npasses++;
  if (w->ntimes < (int)(sizeof w->times / sizeof *w->times)) w->times[w->ntimes].pass = pass, w->times[w->ntimes++].seconds = seconds;
  if (c->print_after_all || (c->print_after && strcmp(c->print_after, pass) == 0)) {
    fprintf(stderr, "// ----- IR after %s ----- //\n", pass);
    print_graph(stderr, g, c);
  }
  if (c->print_changed) {
    char *now = graph_text(g);
    char before[96], after[96];
    snprintf(before, sizeof before, "before %s", pass);
    snprintf(after, sizeof after, "after %s", pass);
    if (strcmp(now, w->previous) != 0) diff_unified(stderr, before, w->previous, after, now);
    free(w->previous);
    w->previous = now;
  }
  if (c->dump_dir) dump_to_dir(w, g, pass);
}

void watch_free(Watch *w) { free(w->previous); }

void print_times(const Watch *w, double llvm_opt_s, double jit_s) {
  double total = llvm_opt_s + jit_s;
  for (int i = 0; i < w->ntimes; i++) total += w->times[i].seconds;
  fprintf(stderr, "===-------------------------------------------===\n");
  fprintf(stderr, "  %10s  %6s  %s\n", "time (ms)", "%", "pass");
  for (int i = 0; i < w->ntimes; i++)
    fprintf(stderr, "  %10.3f  %5.1f%%  %s\n", 1e3 * w->times[i].seconds, 100 * w->times[i].seconds / total,
            w->times[i].pass);
  if (llvm_opt_s > 0) fprintf(stderr, "  %10.3f  %5.1f%%  %s\n", 1e3 * llvm_opt_s, 100 * llvm_opt_s / total, "LLVM IR generation + O3");
  if (jit_s > 0) fprintf(stderr, "  %10.3f  %5.1f%%  %s\n", 1e3 * jit_s, 100 * jit_s / total, "JIT code generation");
  fprintf(stderr, "  %10.3f  100.0%%  total\n", 1e3 * total);
}

static bool is_graph(const char *graph, const char *a, const char *b) {
  return strcmp(graph, a) == 0 || (b && strcmp(graph, b) == 0);
}

static const char *stage_passes(int i, const char *graph) {
  if (is_graph(graph, "decode", NULL)) return stages[i].decode;
  if (is_graph(graph, "eval", "predict")) return stages[i].eval;
  return is_graph(graph, "grad", NULL) ? stages[i].grad : stages[i].train;
}

/* The predict graph is the eval graph with only its PREDICTION outputs (the
 * roles come from the manifest, cg_describe; nothing here matches a name),
 * slots renumbered densely; the passes then drop what only the loss and the
 * metrics needed. Labels stay inputs (every input keeps its slot), read by
 * nothing. False after a diagnostic: a model with no metric that says what a
 * prediction is. */
static bool keep_predictions(IrGraph *g) {
  PgEntry e;
  if (!cg_describe(g, false, &e)) return false;
  int *remap = pg_malloc(((size_t)g->count + 1) * sizeof *remap), kept = 0, outputs = 0;
  for (int i = 0; remap && i < g->count; i++) {
    IrNode n = g->nodes[i];
    const PgSlot *s = n.op == IR_OP_OUTPUT ? pg_output(&e, g->ninputs + (int)n.attr[0]) : NULL;
    if (s && s->role != PG_SLOT_PREDICTION) continue; /* outputs have no users */
    if (s) n.attr[0] = outputs++;
    for (int k = 0; k < n.nin; k++) n.in[k] = remap[n.in[k]];
    remap[i] = kept;
    g->nodes[kept++] = n;
  }
  pg_entry_free(&e);
  if (!remap) return false;
  free(remap);
  g->count = kept;
  g->noutputs = outputs;
  if (!outputs)
    diag_error((PgLoc){0}, "the model has no metric that says what a prediction is (accuracy, "
               "binary_accuracy, mse or mae), so there is nothing to predict");
  return outputs > 0;
}

static FeMode graph_mode(const char *graph, const Cli *c) {
  if (is_graph(graph, "eval", "predict") || is_graph(graph, "decode", NULL)) return FE_INFERENCE;
  return c->no_dropout ? FE_TRAINING_NO_DROPOUT : FE_TRAINING;
}

static const char *step_name(const char *graph) {
  if (strcmp(graph, "train") == 0) return "train_step";
  if (strcmp(graph, "eval") == 0) return "eval_step";
  if (strcmp(graph, "decode") == 0) return "decode_step";
  return strcmp(graph, "grad") == 0 ? "grad_step" : "predict_step";
}

IrGraph *build_graph(const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph, Watch *w) {
  IrGraph *g = fe_elaborate_frozen(ast, graph_mode(graph, c), cfg);
  if (!g || !fe_apply_freeze(g, cfg) || !ir_verify(g, "elaborate")) return ir_graph_free(g), NULL;
  if (is_graph(graph, "predict", "decode") && (!keep_predictions(g) || !ir_verify(g, "predict")))
    return ir_graph_free(g), NULL;
  g->name = ir_strdup(g, step_name(graph));
  PsOptions o = {.optimizer = cfg->optimizer, .max_batch = cfg->batch,
                 .max_ops = c->no_fuse || c->check_numerics ? 1 : 0,
                 .recompute_scans = c->recompute_scans,
                 .explain = w && w->stop_stage && strcmp(w->stop_stage, "fused") == 0};
  if (w) watch_start(w, g, "elaborated");
  if (w && w->stop_stage && strcmp(w->stop_stage, "elaborated") == 0)
    return print_graph(w->result, g, c), w->stage_printed = true, g;
  for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) {
    if (!ps_run_pipeline(g, stage_passes(i, graph), &o, w ? watch_pass : NULL, w)) return ir_graph_free(g), NULL;
    if (w && w->stop_stage && strcmp(w->stop_stage, stages[i].stage) == 0) {
      print_graph(w->result, g, c);
      w->stage_printed = true;
      return g;
    }
  }
  return g;
}

/* nnd.c — the command line: train, dump, check, gradcheck, passes.
 * It parses flags, runs the frontend and the pass pipeline, hands the graphs
 * to codegen and the compiled steps to the runtime. Every user error ends as
 * a diagnostic and exit status 1 (2 for misuse of the command line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "../frontend/frontend.h"
#include "../passes/passes.h"
#include "../runtime/runtime.h"

#define TRAIN_PIPELINE "autodiff,dce,fuse,plan"
#define EVAL_PIPELINE "dce,fuse,plan"

typedef struct {
  const char *command, *model, *stage, *graph, *log;
  int epochs, batch;
  double lr;
  long long seed;
  bool has_seed, no_fuse, quiet;
} Cli;

static int usage(FILE *out) {
  fputs("usage: nnd <command> MODEL.nnd [options]\n"
        "\n"
        "commands:\n"
        "  train      JIT-compile the training step and train the model\n"
        "  dump       print a stage: --stage=parsed|elaborated|autodiff|fused|planned|llvm\n"
        "             of a graph: --graph=train (default), eval or grad\n"
        "  check      parse, elaborate and verify; report every error\n"
        "  gradcheck  compare the compiled gradients with finite differences\n"
        "  passes     list the registered passes\n"
        "\n"
        "options (override the model file):\n"
        "  --epochs N   --batch N   --lr X   --seed N\n"
        "  --log FILE   one JSON object per epoch\n"
        "  --no-fuse    one kernel per op (to compare with the fused program)\n"
        "  --quiet      no live progress bar\n",
        out);
  return out == stderr ? 2 : 0;
}

static bool flag_value(const char *arg, const char *name, const char *next, const char **value, int *i) {
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0) return false;
  if (arg[len] == '=') *value = arg + len + 1;
  else if (arg[len] == 0 && next) *value = next, (*i)++;
  else if (arg[len] == 0) *value = NULL;
  else return false;
  return true;
}

static bool parse_int(const char *flag, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = s ? strtoll(s, &end, 10) : 0;
  if (!s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "nnd: error: %s expects an integer in [%lld, %lld], got '%s'\n", flag, lo, hi, s ? s : "");
    return false;
  }
  *out = v;
  return true;
}

static bool parse_args(int argc, char **argv, Cli *c) {
  *c = (Cli){.command = argv[1], .stage = "planned", .graph = "train"};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v, *next = i + 1 < argc ? argv[i + 1] : NULL;
    long long n;
    if (a[0] != '-') {
      if (c->model) return fprintf(stderr, "nnd: error: more than one model file given\n"), false;
      c->model = a;
    } else if (flag_value(a, "--epochs", next, &v, &i)) {
      if (!parse_int("--epochs", v, 1, 1000000, &n)) return false;
      c->epochs = (int)n;
    } else if (flag_value(a, "--batch", next, &v, &i)) {
      if (!parse_int("--batch", v, 1, 1 << 20, &n)) return false;
      c->batch = (int)n;
    } else if (flag_value(a, "--seed", next, &v, &i)) {
      if (!parse_int("--seed", v, 0, (long long)9e18, &c->seed)) return false;
      c->has_seed = true;
    } else if (flag_value(a, "--lr", next, &v, &i)) {
      char *end;
      c->lr = v ? strtod(v, &end) : 0;
      if (!v || *end || !(c->lr > 0 && c->lr < 1e6))
        return fprintf(stderr, "nnd: error: --lr expects a positive number, got '%s'\n", v ? v : ""), false;
    } else if (flag_value(a, "--log", next, &v, &i) && v) {
      c->log = v;
    } else if (flag_value(a, "--stage", next, &v, &i) && v) {
      c->stage = v;
    } else if (flag_value(a, "--graph", next, &v, &i) && v) {
      c->graph = v;
    } else if (strcmp(a, "--no-fuse") == 0) {
      c->no_fuse = true;
    } else if (strcmp(a, "--quiet") == 0) {
      c->quiet = true;
    } else {
      return fprintf(stderr, "nnd: error: unknown option '%s' (see nnd --help)\n", a), false;
    }
  }
  if (!c->model) return fprintf(stderr, "nnd: error: no model file given (see nnd --help)\n"), false;
  return true;
}

/* ---- building graphs ---- */

typedef struct {
  const char *stop_after; /* print the graph after this pass and stop */
  bool printed;
} DumpCtx;

static void dump_after(const IrGraph *g, const char *pass, void *ctx) {
  DumpCtx *d = ctx;
  if (d->stop_after && !d->printed && strcmp(pass, d->stop_after) == 0) {
    ir_print(stdout, g);
    d->printed = true;
  }
}

static PsOptions options(const FeConfig *cfg, const Cli *c, bool grads) {
  PsOptions o = {.optimizer = cfg->optimizer, .max_batch = cfg->batch, .no_fuse = c->no_fuse};
  if (grads) o.optimizer.kind = PS_OPT_NONE;
  return o;
}

/* elaborate `graph` (train, eval or grad) and run its pipeline up to `stop` */
static IrGraph *build(const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph, DumpCtx *dump) {
  bool eval = strcmp(graph, "eval") == 0, grads = strcmp(graph, "grad") == 0;
  IrGraph *g = fe_elaborate(ast, eval ? FE_INFERENCE : FE_TRAINING);
  if (!g || !ir_verify(g, "elaborate")) return ir_graph_free(g), NULL;
  g->name = ir_strdup(g, eval ? "eval_step" : grads ? "grad_step" : "train_step");
  PsOptions o = options(cfg, c, grads);
  if (!ps_run_pipeline(g, eval ? EVAL_PIPELINE : TRAIN_PIPELINE, &o, dump ? dump_after : NULL, dump))
    return ir_graph_free(g), NULL;
  return g;
}

static AstFile *load(const Cli *c, FeConfig *cfg) {
  AstFile *ast = fe_parse_file(c->model);
  if (!ast) return NULL;
  if (!fe_config(ast, cfg)) return fe_ast_free(ast), NULL;
  if (c->epochs) cfg->epochs = c->epochs;
  if (c->batch) cfg->batch = c->batch;
  if (c->lr > 0) cfg->optimizer.lr = c->lr;
  if (c->has_seed) cfg->seed = (uint64_t)c->seed;
  return ast;
}

/* ---- commands ---- */

static int cmd_dump(const Cli *c) {
  static const char *after[][2] = {{"autodiff", "autodiff"}, {"fused", "fuse"}, {"planned", "plan"}};
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  int rc = 0;
  if (strcmp(c->stage, "parsed") == 0) {
    fe_ast_print(stdout, ast);
  } else if (strcmp(c->stage, "elaborated") == 0) {
    IrGraph *g = fe_elaborate(ast, strcmp(c->graph, "eval") == 0 ? FE_INFERENCE : FE_TRAINING);
    if (g) ir_print(stdout, g);
    rc = !g;
    ir_graph_free(g);
  } else {
    DumpCtx d = {0};
    for (size_t i = 0; i < sizeof after / sizeof *after; i++)
      if (strcmp(c->stage, after[i][0]) == 0) d.stop_after = after[i][1];
    if (!d.stop_after && strcmp(c->stage, "llvm") != 0) {
      fprintf(stderr, "nnd: error: unknown stage '%s' (parsed, elaborated, autodiff, fused, planned, llvm)\n", c->stage);
      fe_ast_free(ast);
      return 2;
    }
    IrGraph *g = build(ast, &cfg, c, c->graph, &d);
    rc = !g;
    if (g && !d.stop_after) rc = !cg_print_llvm(stdout, g, g->name);
    if (g && d.stop_after && !d.printed) fprintf(stderr, "nnd: note: the %s graph has no '%s' stage\n", c->graph, c->stage);
    ir_graph_free(g);
  }
  fe_ast_free(ast);
  return rc;
}

static int cmd_check(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = fe_parse_file(c->model);
  if (!ast) return 1;
  bool ok = fe_config(ast, &cfg);
  IrGraph *g = fe_elaborate(ast, FE_TRAINING);
  ok = ok && g && ir_verify(g, "elaborate");
  if (ok) printf("%s: ok\n", c->model);
  ir_graph_free(g);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

static int cmd_passes(void) {
  int n;
  const PsPass *p = ps_pass_list(&n);
  for (int i = 0; i < n; i++) printf("  %-10s %s\n", p[i].name, p[i].summary);
  return 0;
}

typedef struct {
  IrGraph *g;
  RtProgram prog;
} Compiled;

static bool compile(CgJit *jit, const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph,
                    RtParams *store, RtRng *rng, Compiled *out) {
  memset(out, 0, sizeof *out);
  out->g = build(ast, cfg, c, graph, NULL);
  if (!out->g) return false;
  CgStepFn fn = cg_jit_compile(jit, out->g, out->g->name);
  return fn && rt_program_init(&out->prog, out->g, fn, store, rng);
}

static void release(Compiled *x) {
  rt_program_free(&x->prog);
  ir_graph_free(x->g);
}

static const FeDataSet *need_data(const FeConfig *cfg, const char *name, const char *model) {
  const FeDataSet *d = fe_dataset(cfg, name);
  if (!d) diag_error((IrLoc){0}, "%s has no 'data %s { ... }' block", model, name);
  return d;
}

static int cmd_train(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  RtData train = {0}, test = {0};
  Compiled tr = {0}, ev = {0};
  CgJit *jit = cg_jit_new();
  const FeDataSet *train_spec = need_data(&cfg, "train", c->model), *test_spec = fe_dataset(&cfg, "test");
  bool ok = jit && train_spec && compile(jit, ast, &cfg, c, "train", &store, &rng, &tr) &&
            compile(jit, ast, &cfg, c, "eval", &store, &rng, &ev) && rt_data_load(&train, train_spec, tr.g) &&
            (!test_spec || rt_data_load(&test, test_spec, ev.g));
  RtScores s;
  if (ok) {
    RtFitOptions fo = {cfg.epochs, cfg.batch, cfg.seed, c->log, c->quiet};
    ok = rt_fit(&tr.prog, &ev.prog, &train, test_spec ? &test : NULL, &fo, &rng, &s);
  }
  if (ok && test_spec) {
    int acc = rt_program_output(&ev.prog, "accuracy");
    printf("test loss: %.4f\n", s.loss);
    if (acc >= 0) printf("test accuracy: %.4f\n", s.metric[acc]);
  }
  rt_data_free(&train), rt_data_free(&test);
  release(&tr), release(&ev);
  rt_params_free(&store);
  cg_jit_free(jit);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

static int cmd_gradcheck(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  if (!c->batch) cfg.batch = 8;
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  RtData data = {0};
  Compiled gr = {0};
  CgJit *jit = cg_jit_new();
  const FeDataSet *spec = need_data(&cfg, "train", c->model);
  double worst;
  bool ok = jit && spec && compile(jit, ast, &cfg, c, "grad", &store, &rng, &gr) && rt_data_load(&data, spec, gr.g);
  if (ok && data.count < cfg.batch) {
    diag_error((IrLoc){0}, "the training data has %lld examples, fewer than the batch of %d", (long long)data.count, cfg.batch);
    ok = false;
  }
  ok = ok && rt_gradcheck(&gr.prog, &data, &rng, 1e-2, &worst);
  rt_data_free(&data);
  release(&gr);
  rt_params_free(&store);
  cg_jit_free(jit);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return usage(argc < 2 ? stderr : stdout);
  if (strcmp(argv[1], "passes") == 0) return cmd_passes();
  Cli c;
  if (!parse_args(argc, argv, &c)) return 2;
  if (strcmp(c.command, "train") == 0) return cmd_train(&c);
  if (strcmp(c.command, "dump") == 0) return cmd_dump(&c);
  if (strcmp(c.command, "check") == 0) return cmd_check(&c);
  if (strcmp(c.command, "gradcheck") == 0) return cmd_gradcheck(&c);
  fprintf(stderr, "nnd: error: unknown command '%s' (see nnd --help)\n", c.command);
  return 2;
}

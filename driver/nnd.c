/* nnd.c — the command line: train, dump, opt, check, gradcheck, passes.
 * It parses flags, runs the frontend and the stages (pipeline.c), hands the
 * graphs to codegen and the compiled steps to the runtime. Every user error
 * ends as a diagnostic and exit status 1 (2 for misuse of the command line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "../runtime/runtime.h"
#include "driver.h"

static int usage(FILE *out) {
  fputs("usage: nnd <command> FILE [options]\n"
        "\n"
        "commands:\n"
        "  train MODEL.nnd      JIT-compile the training step and train the model\n"
        "  dump MODEL.nnd       print a stage of a step graph (default: planned)\n"
        "  opt FILE.nnir        run a pass pipeline on textual IR and print the result\n"
        "  check MODEL.nnd      parse, elaborate and verify; report every error\n"
        "  eval MODEL.nnd       evaluate --weights CKPT on --data test (default), validation or\n"
        "                       train: metrics, and a confusion matrix or R^2\n"
        "  predict MODEL.nnd    --weights CKPT --output FILE.csv, from --input FILE (.npy, .csv,\n"
        "                       IDX: the model's first input) or --data test|validation|train\n"
        "  gradcheck MODEL.nnd  compare the compiled gradients with finite differences\n"
        "  step MODEL.nnd       on one batch (--inputs B.st) from --weights W.st: the loss, the\n"
        "                       gradients and the parameters after --steps N updates, to --out\n"
        "                       O.st (for comparing with a reference; --no-dropout)\n"
        "  passes               list the registered passes and their options\n"
        "\n"
        "training (override the model file):\n"
        "  --epochs N  --batch N  --lr X  --seed N\n"
        "  --log FILE         one JSON object per epoch\n"
        "  --save CKPT        checkpoint (safetensors) after training; --save-every N epochs too\n"
        "  --resume CKPT      continue a run exactly where its checkpoint left it\n"
        "  --init-from CKPT   start from the weights of a checkpoint, by name (transfer learning)\n"
        "  --freeze a,b       train with these layers' weights fixed (fine-tuning)\n"
        "  --no-fuse          one kernel per op (to compare with the fused program)\n"
        "  --profile          time every kernel (CPU cycles); print where the step's time goes\n"
        "  --check-numerics   stop at the first NaN or infinity and name the op that made it\n"
        "                     (implies --no-fuse, so that every op's result is checked)\n"
        "  --quiet            no live progress bar\n"
        "\n"
        "inspection (dump, opt; --time-passes also for train):\n"
        "  --stage=parsed|elaborated|optimized|autodiff|fused|planned|llvm\n"
        "  --graph=train|eval|grad  which step graph (default train)\n"
        "  --passes=a,b{key=value},c   the pipeline for opt (empty: parse and print)\n"
        "  --print-after-all  --print-after=PASS  --print-changed (unified diffs)\n"
        "  --dump-dir DIR     one numbered .nnir file per pass\n"
        "  --format=dot       Graphviz, fusion kernels as clusters\n"
        "  --time-passes      time per pass, LLVM optimisation and JIT (on stderr)\n",
        out);
  return out == stderr ? 2 : 0;
}

/* --name=value or --name value; false if arg is not this flag */
static bool flag(const char *arg, const char *name, int argc, char **argv, int *i, const char **value) {
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0) return false;
  if (arg[len] == '=') *value = arg + len + 1;
  else if (arg[len] == 0) *value = *i + 1 < argc ? argv[++*i] : NULL;
  else return false;
  return true;
}

static bool int_value(const char *name, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = s ? strtoll(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "nnd: error: %s expects an integer in [%lld, %lld], got '%s'\n", name, lo, hi, s ? s : "");
    return false;
  }
  *out = v;
  return true;
}

static bool switch_flag(const char *a, Cli *c) {
  static const struct {
    const char *name;
    size_t offset;
  } switches[] = {
      {"--no-fuse", offsetof(Cli, no_fuse)},         {"--quiet", offsetof(Cli, quiet)},
      {"--print-after-all", offsetof(Cli, print_after_all)}, {"--print-changed", offsetof(Cli, print_changed)},
      {"--time-passes", offsetof(Cli, time_passes)}, {"--no-dropout", offsetof(Cli, no_dropout)},
      {"--check-numerics", offsetof(Cli, check_numerics)}, {"--profile", offsetof(Cli, profile)},
  };
  for (size_t i = 0; i < sizeof switches / sizeof *switches; i++)
    if (strcmp(a, switches[i].name) == 0) return *(bool *)((char *)c + switches[i].offset) = true;
  return false;
}

static bool string_flag(const char *a, Cli *c, int argc, char **argv, int *i, bool *ok) {
  static const struct {
    const char *name;
    size_t offset;
  } strings[] = {
      {"--log", offsetof(Cli, log)},       {"--stage", offsetof(Cli, stage)},
      {"--graph", offsetof(Cli, graph)},   {"--passes", offsetof(Cli, passes)},
      {"--print-after", offsetof(Cli, print_after)}, {"--dump-dir", offsetof(Cli, dump_dir)},
      {"--format", offsetof(Cli, format)},   {"--save", offsetof(Cli, save)},
      {"--resume", offsetof(Cli, resume)},   {"--weights", offsetof(Cli, weights)},
      {"--init-from", offsetof(Cli, init_from)}, {"--data", offsetof(Cli, data)},
      {"--freeze", offsetof(Cli, freeze)},   {"--inputs", offsetof(Cli, inputs)},
      {"--out", offsetof(Cli, out)},         {"--input", offsetof(Cli, input_file)},
      {"--output", offsetof(Cli, output)},
  };
  const char *v;
  for (size_t k = 0; k < sizeof strings / sizeof *strings; k++)
    if (flag(a, strings[k].name, argc, argv, i, &v)) {
      if (!v) fprintf(stderr, "nnd: error: %s needs a value\n", strings[k].name);
      *ok = v != NULL;
      *(const char **)((char *)c + strings[k].offset) = v;
      return true;
    }
  return false;
}

static bool number_flag(const char *a, Cli *c, int argc, char **argv, int *i, bool *ok) {
  const char *v;
  long long n;
  if (flag(a, "--epochs", argc, argv, i, &v)) *ok = int_value("--epochs", v, 1, 1000000, &n) && (c->epochs = (int)n);
  else if (flag(a, "--batch", argc, argv, i, &v)) *ok = int_value("--batch", v, 1, 1 << 20, &n) && (c->batch = (int)n);
  else if (flag(a, "--steps", argc, argv, i, &v)) *ok = int_value("--steps", v, 0, 1000000, &n) && ((c->steps = (int)n), true);
  else if (flag(a, "--save-every", argc, argv, i, &v)) *ok = int_value("--save-every", v, 1, 1000000, &n) && (c->save_every = (int)n);
  else if (flag(a, "--seed", argc, argv, i, &v)) *ok = (c->has_seed = int_value("--seed", v, 0, (long long)9e18, &c->seed));
  else if (flag(a, "--lr", argc, argv, i, &v)) {
    char *end;
    c->lr = v ? strtod(v, &end) : 0;
    *ok = v && !*end && c->lr > 0 && c->lr < 1e6;
    if (!*ok) fprintf(stderr, "nnd: error: --lr expects a positive number, got '%s'\n", v ? v : "");
  } else return false;
  return true;
}

static bool parse_args(int argc, char **argv, Cli *c) {
  *c = (Cli){.command = argv[1], .graph = "train", .passes = ""};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    bool ok = true;
    if (a[0] != '-') {
      if (c->input) return fprintf(stderr, "nnd: error: more than one input file given\n"), false;
      c->input = a;
    } else if (!switch_flag(a, c) && !string_flag(a, c, argc, argv, &i, &ok) && !number_flag(a, c, argc, argv, &i, &ok)) {
      return fprintf(stderr, "nnd: error: unknown option '%s' (see nnd --help)\n", a), false;
    }
    if (!ok) return false;
  }
  if (!c->input) return fprintf(stderr, "nnd: error: no input file given (see nnd --help)\n"), false;
  if (c->stage && !known_stage(c->stage))
    return fprintf(stderr, "nnd: error: unknown stage '%s' (parsed, elaborated, optimized, autodiff, fused, planned, llvm)\n", c->stage), false;
  if (strcmp(c->graph, "train") && strcmp(c->graph, "eval") && strcmp(c->graph, "grad"))
    return fprintf(stderr, "nnd: error: unknown graph '%s' (train, eval or grad)\n", c->graph), false;
  if (c->format && strcmp(c->format, "dot") && strcmp(c->format, "text"))
    return fprintf(stderr, "nnd: error: unknown format '%s' (text or dot)\n", c->format), false;
  return true;
}

static AstFile *load(const Cli *c, FeConfig *cfg) {
  AstFile *ast = fe_parse_file(c->input);
  if (!ast) return NULL;
  if (!fe_config(ast, cfg)) return fe_ast_free(ast), NULL;
  if (c->epochs) cfg->epochs = c->epochs;
  if (c->batch) cfg->batch = c->batch;
  if (c->lr > 0) cfg->optimizer.lr = c->lr;
  if (c->has_seed) cfg->seed = (uint64_t)c->seed;
  for (const char *p = c->freeze; p && *p;) { /* --freeze a,b adds to the file's list */
    size_t len = strcspn(p, ",");
    if (len) fe_add_freeze(cfg, fe_strdup_in(ast, p, len), (IrLoc){0});
    p += len + (p[len] == ',');
  }
  return ast;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return diag_error((IrLoc){0}, "cannot open '%s': %s", path, strerror(errno)), NULL;
  size_t cap = 1 << 16, len = 0, got;
  char *text = malloc(cap);
  while ((got = fread(text + len, 1, cap - len - 1, f)) > 0)
    if ((len += got) + 1 == cap) text = realloc(text, cap *= 2);
  fclose(f);
  text[len] = 0;
  if (strlen(text) != len) return diag_error((IrLoc){0}, "'%s' is not a text file", path), free(text), NULL;
  return text;
}

/* ---- commands ---- */

static int cmd_dump(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  const char *stage = c->stage ? c->stage : "planned";
  int rc = 0;
  if (strcmp(stage, "parsed") == 0) {
    fe_ast_print(stdout, ast);
  } else {
    Watch w;
    watch_init(&w, c);
    w.stop_stage = strcmp(stage, "llvm") == 0 ? NULL : stage;
    IrGraph *g = build_graph(ast, &cfg, c, c->graph, &w);
    rc = !g;
    if (g && !w.stop_stage) rc = !cg_print_llvm(stdout, g, g->name, c->check_numerics);
    if (c->time_passes) print_times(&w, 0, 0);
    watch_free(&w);
    ir_graph_free(g);
  }
  fe_ast_free(ast);
  return rc;
}

static int cmd_opt(const Cli *c) {
  char *text = read_text(c->input);
  IrGraph *g = text ? ir_parse(c->input, text) : NULL;
  free(text);
  if (!g || !ir_verify(g, "parse")) return ir_graph_free(g), 1;
  Watch w;
  watch_init(&w, c);
  watch_start(&w, g, "input");
  PsOptions o = {.optimizer = ps_optimizer_default(PS_OPT_ADAM), .max_batch = 32};
  bool ok = ps_run_pipeline(g, c->passes, &o, watch_pass, &w);
  if (ok && strcmp(c->stage ? c->stage : "", "llvm") == 0) ok = cg_print_llvm(stdout, g, g->name, c->check_numerics);
  else if (ok && !c->print_after_all && !c->print_changed) print_graph(stdout, g, c);
  if (c->time_passes) print_times(&w, 0, 0);
  watch_free(&w);
  ir_graph_free(g);
  return ok ? 0 : 1;
}

static int cmd_check(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = fe_parse_file(c->input);
  if (!ast) return 1;
  bool ok = fe_config(ast, &cfg);
  IrGraph *g = fe_elaborate(ast, FE_TRAINING);
  ok = ok && g && ir_verify(g, "elaborate");
  if (ok) printf("%s: ok\n", c->input);
  ir_graph_free(g);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

static int cmd_passes(void) {
  int n;
  const PsPass *p = ps_pass_list(&n);
  for (int i = 0; i < n; i++) {
    printf("  %-13s %s\n", p[i].name, p[i].summary);
    if (*p[i].options) printf("  %-13s   options: %s\n", "", p[i].options);
  }
  return 0;
}

typedef struct {
  IrGraph *g;
  RtProgram prog;
} Compiled;

static bool compile(CgJit *jit, const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph,
                    RtParams *store, RtRng *rng, Watch *w, Compiled *out) {
  memset(out, 0, sizeof *out);
  out->g = build_graph(ast, cfg, c, graph, w);
  if (!out->g) return false;
  cg_jit_check_numerics(jit, c->check_numerics);
  cg_jit_profile(jit, c->profile);
  CgStepFn fn = cg_jit_compile(jit, out->g, out->g->name);
  if (!fn || !rt_program_init(&out->prog, out->g, fn, store, rng)) return false;
  out->prog.check_numerics = c->check_numerics;
  if (c->profile) rt_program_profile(&out->prog);
  return true;
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

static void report_compiled(const Compiled *tr, const Compiled *ev, CgJit *jit, const Watch *w, const Cli *c) {
  double opt_s, jit_s;
  cg_jit_times(jit, &opt_s, &jit_s);
  printf("compiled train_step: %d ops in %d kernels, arena %.1f KiB; eval_step: %d kernels; %.2f s\n",
         tr->g->count, tr->g->nkernels, tr->g->arena_bytes / 1024.0, ev->g->nkernels, opt_s + jit_s);
  if (c->time_passes) print_times(w, opt_s, jit_s);
}

/* The data sets of a model: train (less the validation split), validation
 * and test; normalised features use the statistics of the training part. */
typedef struct {
  RtData train, val, test;
} Sets;

static bool load_sets(const FeConfig *cfg, const IrGraph *g, const char *model, Sets *d) {
  const FeDataSet *train = need_data(cfg, "train", model), *test = fe_dataset(cfg, "test");
  memset(d, 0, sizeof *d);
  bool ok = train && rt_data_load(&d->train, train, g);
  if (ok && cfg->validation_split > 0) ok = rt_data_split(&d->train, cfg->validation_split, &d->val);
  ok = ok && rt_data_normalize(&d->train, train, NULL);
  if (ok && d->val.ncols) ok = rt_data_normalize(&d->val, train, &d->train);
  if (ok && test) ok = rt_data_load(&d->test, test, g) && rt_data_normalize(&d->test, test, &d->train);
  return ok;
}

static void free_sets(Sets *d) {
  rt_data_free(&d->train), rt_data_free(&d->val), rt_data_free(&d->test);
}

static RtSets sets_of(const Sets *d) {
  return (RtSets){&d->train, d->val.ncols ? &d->val : NULL, d->test.ncols ? &d->test : NULL};
}

/* the training state: fresh (after initialisation drew from the RNG), or
 * from --resume; --init-from then replaces weights by name */
static bool start_state(const Cli *c, RtParams *store, RtRng *rng, RtTrainState *st) {
  *st = (RtTrainState){0, 0, *rng};
  if (c->resume && !rt_checkpoint_load(c->resume, store, RT_LOAD_RESUME, st)) return false;
  return !c->init_from || rt_checkpoint_load(c->init_from, store, RT_LOAD_INIT, NULL);
}

static int cmd_train(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  Sets data = {0};
  Compiled tr = {0}, ev = {0};
  RtTrainState st;
  Watch w;
  Cli quiet_watch = {0};
  watch_init(&w, &quiet_watch);
  CgJit *jit = cg_jit_new();
  bool ok = jit && compile(jit, ast, &cfg, c, "train", &store, &rng, &w, &tr) &&
            compile(jit, ast, &cfg, c, "eval", &store, &rng, &w, &ev) && start_state(c, &store, &rng, &st) &&
            load_sets(&cfg, tr.g, c->input, &data);
  if (ok && !c->quiet) report_compiled(&tr, &ev, jit, &w, c);
  RtScores s;
  RtSets sets = sets_of(&data);
  if (ok) {
    RtFitOptions fo = {cfg.epochs, cfg.batch, c->log, c->save, c->save_every, c->quiet};
    ok = rt_fit(&tr.prog, &ev.prog, &sets, &fo, &store, &st, &s);
  }
  if (ok && c->profile) rt_profile_print(stdout, &tr.prog);
  if (ok && sets.test) {
    int acc = rt_program_output(&ev.prog, "accuracy");
    printf("test loss: %.4f\n", s.loss);
    if (acc >= 0) printf("test accuracy: %.4f\n", s.metric[acc]);
  }
  free_sets(&data);
  release(&tr), release(&ev);
  rt_params_free(&store);
  cg_jit_free(jit);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

static int cmd_eval(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  if (!c->weights) {
    fprintf(stderr, "nnd: error: eval needs --weights CKPT\n");
    fe_ast_free(ast);
    return 2;
  }
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  Sets data = {0};
  Compiled ev = {0};
  CgJit *jit = cg_jit_new();
  const char *which = c->data ? c->data : "test";
  bool ok = jit && compile(jit, ast, &cfg, c, "eval", &store, &rng, NULL, &ev) &&
            rt_checkpoint_load(c->weights, &store, RT_LOAD_WEIGHTS, NULL) && load_sets(&cfg, ev.g, c->input, &data);
  const RtData *set = !strcmp(which, "train") ? &data.train : !strcmp(which, "validation") ? &data.val : &data.test;
  if (ok && !set->ncols) {
    diag_error((IrLoc){0}, "%s has no %s data (train, validation or test)", c->input, which);
    ok = false;
  }
  if (ok) {
    RtScores s;
    RtReport report = {0};
    ok = rt_evaluate(&ev.prog, set, cfg.batch, &s, &report);
    printf("%s: %lld examples\nloss: %.4f\n", which, (long long)set->count, s.loss);
    for (int i = 0; i < s.nmetrics; i++)
      if (rt_is_metric(ev.g, i)) printf("%s: %.4f\n", rt_output_name(ev.g, i), s.metric[i]);
    rt_report_print(stdout, &report);
    rt_report_free(&report);
  }
  free_sets(&data);
  release(&ev);
  rt_params_free(&store);
  cg_jit_free(jit);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

/* the rows to predict: one file for the first input (--input), or a data set */
static bool predict_rows(const Cli *c, const FeConfig *cfg, const IrGraph *g, Sets *sets, RtData *file,
                         const RtData **rows) {
  if (!load_sets(cfg, g, c->input, sets)) return false; /* the training data: for normalisation statistics */
  if (c->input_file) { /* preprocessed as the training data's source of the first input */
    const FeDataSet *train = fe_dataset(cfg, "train");
    const FeSource *like = NULL;
    int first = 0; /* the first input, which the file feeds */
    while (g->nodes[first].op != IR_OP_INPUT || !strcmp(g->nodes[first].name, "seed")) first++;
    for (int k = 0; k < train->nsources; k++)
      if (!strcmp(train->sources[k].input, g->nodes[first].name)) like = &train->sources[k];
    if (!like) return diag_error((IrLoc){0}, "no training source for input '%s'", g->nodes[first].name), false;
    if (!rt_data_from_file(file, c->input_file, g, like)) return false;
    FeDataSet one = {.name = "input", .sources = {*like}, .nsources = 1};
    *rows = file;
    return rt_data_normalize(file, &one, &sets->train);
  }
  const char *which = c->data ? c->data : "test";
  *rows = !strcmp(which, "train") ? &sets->train : !strcmp(which, "validation") ? &sets->val : &sets->test;
  if ((*rows)->ncols) return true;
  diag_error((IrLoc){0}, "%s has no %s data (train, validation or test)", c->input, which);
  return false;
}

static int cmd_predict(const Cli *c) {
  if (!c->weights || !c->output) {
    fprintf(stderr, "nnd: error: predict needs --weights CKPT and --output FILE.csv\n");
    return 2;
  }
  FeConfig cfg;
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  Sets sets = {0};
  RtData file = {0};
  const RtData *rows = NULL;
  Compiled ev = {0};
  RtReport report = {0};
  RtScores s;
  CgJit *jit = cg_jit_new();
  bool ok = jit && compile(jit, ast, &cfg, c, "eval", &store, &rng, NULL, &ev) &&
            rt_checkpoint_load(c->weights, &store, RT_LOAD_WEIGHTS, NULL) &&
            predict_rows(c, &cfg, ev.g, &sets, &file, &rows) && rt_evaluate(&ev.prog, rows, cfg.batch, &s, &report);
  if (ok && !report.n) {
    diag_error((IrLoc){0}, "%s has no metric that says what a prediction is (accuracy, binary_accuracy, mse or mae)", c->input);
    ok = false;
  }
  if (ok) ok = rt_report_write_csv(c->output, &report, !c->input_file);
  if (ok) printf("%lld predictions written to %s\n", (long long)rows->count, c->output);
  rt_report_free(&report);
  rt_data_free(&file);
  free_sets(&sets);
  release(&ev);
  rt_params_free(&store);
  cg_jit_free(jit);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

/* outputs "loss" and "grad:<weight>" of the grad program, as tensors */
static int collect_grads(const RtProgram *p, RtNamed *out, float *loss) {
  int n = 0;
  for (int i = 0; i < p->g->count; i++) {
    const IrNode *o = &p->g->nodes[i];
    if (o->op != IR_OP_OUTPUT) continue;
    void *data = p->io[p->g->ninputs + o->attr[0]];
    if (strcmp(o->name, "loss") == 0) *loss = *(float *)data;
    else if (strncmp(o->name, "grad:", 5) == 0) out[n++] = (RtNamed){o->name, IR_F32, o->shape, data};
  }
  return n;
}

/* the loss, the gradients and the parameters after c->steps training steps,
 * all on one batch from given weights: what a reference implementation is
 * compared against (tests/pytorch/) */
static bool run_steps(const Cli *c, Compiled *gr, Compiled *tr, RtParams *store, const RtData *batch) {
  float loss = 0;
  RtNamed *t = malloc((store->count + gr->g->noutputs + 2) * sizeof *t);
  RtRng fixed;
  rt_rng_seed(&fixed, 1);
  rt_gather(&gr->prog, batch, NULL, 0, batch->count);
  gr->prog.step(gr->prog.arena, gr->prog.params, gr->prog.io, batch->count);
  int n = collect_grads(&gr->prog, t + 1, &loss);
  t[0] = (RtNamed){"loss", IR_F32, {0}, &loss};
  for (int k = 0; k < c->steps; k++) {
    rt_gather(&tr->prog, batch, NULL, 0, batch->count);
    int seed = rt_program_input(&tr->prog, "seed");
    if (seed >= 0) *(int32_t *)tr->prog.io[seed] = (int32_t)(rt_rng_next(&fixed) >> 33);
    tr->prog.step(tr->prog.arena, tr->prog.params, tr->prog.io, batch->count);
  }
  for (int i = 0; i < store->count; i++) t[1 + n + i] = (RtNamed){store->names[i], IR_F32, store->shape[i], store->data[i]};
  const char *meta[] = {"format", "nnd-step-1", NULL};
  bool ok = rt_safetensors_write(c->out, t, 1 + n + store->count, meta);
  free(t);
  return ok;
}

static int cmd_step(const Cli *c) {
  FeConfig cfg;
  if (!c->weights || !c->inputs || !c->out) {
    fprintf(stderr, "nnd: error: step needs --weights W.st, --inputs B.st and --out O.st\n");
    return 2;
  }
  AstFile *ast = load(c, &cfg);
  if (!ast) return 1;
  RtRng rng;
  rt_rng_seed(&rng, cfg.seed);
  RtParams store = {0};
  RtData batch = {0};
  Compiled gr = {0}, tr = {0};
  CgJit *jit = cg_jit_new();
  /* the batch size comes from the inputs file: read it through the forward graph first */
  IrGraph *fwd = fe_elaborate(ast, FE_TRAINING_NO_DROPOUT);
  bool ok = jit && fwd && rt_data_from_safetensors(&batch, c->inputs, fwd);
  if (ok) cfg.batch = (int)batch.count;
  ok = ok && compile(jit, ast, &cfg, c, "grad", &store, &rng, NULL, &gr) &&
       compile(jit, ast, &cfg, c, "train", &store, &rng, NULL, &tr) &&
       rt_checkpoint_load(c->weights, &store, RT_LOAD_WEIGHTS, NULL) && run_steps(c, &gr, &tr, &store, &batch);
  ir_graph_free(fwd);
  rt_data_free(&batch);
  release(&gr), release(&tr);
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
  const FeDataSet *spec = need_data(&cfg, "train", c->input);
  double worst;
  bool ok = jit && spec && compile(jit, ast, &cfg, c, "grad", &store, &rng, NULL, &gr) && rt_data_load(&data, spec, gr.g) &&
            rt_data_normalize(&data, spec, NULL);
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
  static const struct {
    const char *name;
    int (*run)(const Cli *c);
  } commands[] = {{"train", cmd_train}, {"dump", cmd_dump}, {"opt", cmd_opt}, {"check", cmd_check}, {"gradcheck", cmd_gradcheck}, {"eval", cmd_eval}, {"step", cmd_step}, {"predict", cmd_predict}};
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    Cli c;
    return parse_args(argc, argv, &c) ? commands[i].run(&c) : 2;
  }
  fprintf(stderr, "nnd: error: unknown command '%s' (see nnd --help)\n", argv[1]);
  return 2;
}

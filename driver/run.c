/* run.c — the commands that compile and run models: train, eval, predict,
 * step and gradcheck. Each compiles its step graphs with the JIT, binds them
 * to one parameter store, loads its data and hands over to the runtime; every
 * resource is released on every path. */
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "../runtime/runtime.h"
#include "driver.h"

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

int cmd_train(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
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

int cmd_eval(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
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

int cmd_predict(const Cli *c) {
  if (!c->weights || !c->output) {
    fprintf(stderr, "nnd: error: predict needs --weights CKPT and --output FILE.csv\n");
    return 2;
  }
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
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

int cmd_step(const Cli *c) {
  FeConfig cfg;
  if (!c->weights || !c->inputs || !c->out) {
    fprintf(stderr, "nnd: error: step needs --weights W.st, --inputs B.st and --out O.st\n");
    return 2;
  }
  AstFile *ast = load_model(c, &cfg);
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

int cmd_gradcheck(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
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

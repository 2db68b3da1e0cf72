/* run.c — the commands that compile and run models: train, eval, predict,
 * step and gradcheck. Each compiles its step graphs with the JIT, binds them
 * to one parameter store, loads its data and hands over to the runtime; every
 * resource is released on every path. */
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "../frontend/frontend.h"
#include "../runtime/runtime.h"
#include "driver.h"

bool open_session(const Cli *c, Session *s) {
  *s = (Session){.c = c};
  if (!(s->ast = load_model(c, &s->cfg))) return false;
  rt_rng_seed(&s->rng, s->cfg.seed);
  if (!(s->jit = cg_jit_new()) || !load_externs(&s->cfg, s->jit)) return false;
  cg_jit_threads(s->jit, c->threads); /* any count gives the same results */
  rt_fp_set_flush_denormals(!c->no_flush_denormals);
  rt_threads_start(c->threads);
  return true;
}

/* the exit status of the command */
int close_session(Session *s, bool ok) {
  rt_threads_stop();
  rt_params_free(&s->store);
  cg_jit_free(s->jit);
  fe_ast_free(s->ast);
  return ok ? 0 : 1;
}

/* JIT-compiles a planned graph (which out then owns) and binds it to the store */
static bool compile_graph(Session *s, IrGraph *g, Compiled *out) {
  const Cli *c = s->c;
  out->g = g;
  if (!g) return false;
  cg_jit_check_numerics(s->jit, c->check_numerics);
  cg_jit_profile(s->jit, c->profile);
  cg_jit_poison(s->jit, c->poison);
  PgStepFn fn = cg_jit_compile(s->jit, g, g->name);
  if (!fn || !cg_describe(g, c->check_numerics || c->profile, &out->entry)) return false;
  out->entry.step = fn;
  out->entry.check_numerics = c->check_numerics;
  out->entry.profile = c->profile;
  pg_set_transforms(&out->entry, fe_dataset(&s->cfg, "train"));
  return rt_program_init(&out->prog, &out->entry, &s->store, &s->rng);
}

/* one step graph ("train", "eval" or "grad"), compiled and bound to the store */
bool compile_step(Session *s, const char *graph, Watch *w, Compiled *out) {
  memset(out, 0, sizeof *out);
  return compile_graph(s, build_graph(s->ast, &s->cfg, s->c, graph, w), out);
}

void release_step(Compiled *x) {
  rt_program_free(&x->prog);
  pg_entry_free(&x->entry);
  ir_graph_free(x->g);
}

static const PgDataSet *need_data(const FeConfig *cfg, const char *name, const char *model) {
  const PgDataSet *d = fe_dataset(cfg, name);
  if (!d) diag_error((PgLoc){0}, "%s has no 'data %s { ... }' block", model, name);
  return d;
}

static void report_compiled(const Compiled *tr, const Compiled *ev, CgJit *jit, const Watch *w, const Cli *c) {
  double opt_s, jit_s;
  cg_jit_times(jit, &opt_s, &jit_s);
  if (!c->quiet)
    printf("compiled train_step: %d ops in %d kernels, arena %.1f KiB; eval_step: %d kernels; %.2f s\n",
           tr->g->count, tr->g->nkernels, tr->g->arena_bytes / 1024.0, ev->g->nkernels, opt_s + jit_s);
  if (c->time_passes) print_times(w, opt_s, jit_s); /* asked for: --quiet does not hide it */
}

/* The data sets of a model: train (less the validation split), validation
 * and test; normalised features use the statistics of the training part, or
 * those the checkpoint of eval and predict saved (`saved`). */
typedef struct {
  RtData train, val, test;
  RtData saved; /* normalize() statistics from --weights; ncols 0 if none */
} Sets;

/* what normalises all but the training data itself */
static const RtData *statistics(const Sets *d) { return d->saved.ncols ? &d->saved : &d->train; }

/* the training (and validation) part, normalised with its own statistics or the saved ones */
static bool load_train(const FeConfig *cfg, const PgEntry *g, const PgDataSet *train, Sets *d) {
  bool ok = rt_data_load(&d->train, train, g);
  if (ok && cfg->test_split > 0) /* the last examples (or a draw); validation: of the rest */
    ok = rt_data_split(&d->train, cfg->test_split, cfg->validation_shuffle, cfg->seed + 1,
                       &d->test);
  if (ok && d->test.ncols) d->test.name = "test";
  if (ok && cfg->validation_split > 0)
    ok = rt_data_split(&d->train, cfg->validation_split, cfg->validation_shuffle, cfg->seed,
                       &d->val);
  if (ok && d->val.ncols) rt_data_warn_classes(&d->train, &d->val, g);
  ok = ok && rt_data_normalize(&d->train, train, d->saved.ncols ? &d->saved : NULL);
  if (ok && d->val.ncols) ok = rt_data_normalize(&d->val, train, statistics(d));
  if (ok && d->test.ncols) ok = rt_data_normalize(&d->test, train, statistics(d));
  return ok;
}

/* with_train false: the training files are not read (eval and predict with
 * saved statistics, on other data) */
static bool load_sets(const FeConfig *cfg, const PgEntry *g, const char *model, bool with_train,
                      Sets *d) {
  const PgDataSet *train = need_data(cfg, "train", model), *test = fe_dataset(cfg, "test");
  bool ok = train && (!with_train || load_train(cfg, g, train, d));
  if (ok && test)
    ok = rt_data_load(&d->test, test, g) && rt_data_normalize(&d->test, test, statistics(d));
  return ok;
}

/* whether the command reads the training files: always to train; for eval
 * and predict when the checkpoint has no normalize() statistics, or the
 * data asked for is the training or validation set */
static bool needs_training_files(const Session *s, const Sets *d) {
  const Cli *c = s->c;
  if (strcmp(c->command, "eval") && strcmp(c->command, "predict")) return true;
  if (!d->saved.ncols && rt_data_normalizes(fe_dataset(&s->cfg, "train"))) return true;
  bool from_sets = !c->ninput_files;
  const char *which = c->data ? c->data : "test";
  return from_sets && (strcmp(which, "test") || s->cfg.test_split > 0);
}

/* The data sets, loaded before the step graphs are compiled (through the
 * forward graph, which knows the inputs and the label bounds), so that a batch
 * larger than every set can be cut to the largest: the arena is sized by the
 * batches that run (--batch 1048576 on 60,000 examples needs no 10 GB). */
static bool load_data(Session *s, Sets *d) {
  memset(d, 0, sizeof *d);
  const Cli *c = s->c;
  bool inference = !strcmp(c->command, "eval") || !strcmp(c->command, "predict");
  const PgDataSet *train = fe_dataset(&s->cfg, "train");
  if (inference && c->weights && rt_data_normalizes(train) &&
      !rt_checkpoint_statistics(c->weights, train, &d->saved))
    return false;
  IrGraph *fwd = fe_elaborate(s->ast, FE_TRAINING);
  PgEntry inputs = {0};
  bool ok = fwd && cg_describe(fwd, false, &inputs) &&
            load_sets(&s->cfg, &inputs, c->input, needs_training_files(s, d), d);
  pg_entry_free(&inputs);
  ir_graph_free(fwd);
  int64_t largest = d->train.count;
  if (d->val.count > largest) largest = d->val.count;
  if (d->test.count > largest) largest = d->test.count;
  if (ok && largest > 0 && s->cfg.batch > largest) s->cfg.batch = (int)largest;
  return ok;
}

static void free_sets(Sets *d) {
  rt_data_free(&d->train), rt_data_free(&d->val), rt_data_free(&d->test);
  rt_data_free(&d->saved);
}

static RtSets sets_of(const Sets *d) {
  return (RtSets){&d->train, d->val.ncols ? &d->val : NULL, d->test.ncols ? &d->test : NULL};
}

/* --data train|validation|test (default test); NULL after a diagnostic */
static const RtData *chosen_set(const Cli *c, Sets *d) {
  const char *which = c->data ? c->data : "test";
  const RtData *set = !strcmp(which, "train") ? &d->train : !strcmp(which, "validation") ? &d->val : &d->test;
  if (set->ncols) return set;
  diag_error((PgLoc){0}, "%s has no %s data (train, validation or test)", c->input, which);
  return NULL;
}

/* the training state: fresh (after initialisation drew from the RNG), or
 * from --resume; --init-from then replaces weights by name */
static bool start_state(const Cli *c, RtParams *store, RtRng *rng, RtTrainState *st) {
  *st = (RtTrainState){0, 0, *rng};
  if (c->resume && !rt_checkpoint_load(c->resume, store, RT_LOAD_RESUME, st)) return false;
  return !c->init_from || rt_checkpoint_load(c->init_from, store, RT_LOAD_INIT, NULL);
}

int cmd_train(const Cli *c) {
  Session s;
  Sets data = {0};
  Compiled tr = {0}, ev = {0};
  RtTrainState st;
  Watch w;
  Cli quiet_watch = {0};
  watch_init(&w, &quiet_watch);
  /* an unwritable --save is an error now, not after the run */
  bool ok = open_session(c, &s) && (!c->save || rt_checkpoint_check_writable(c->save)) &&
            (!c->save_best || rt_checkpoint_check_writable(c->save_best)) &&
            load_data(&s, &data) && compile_step(&s, "train", &w, &tr) &&
            compile_step(&s, "eval", &w, &ev) &&
            start_state(c, &s.store, &s.rng, &st);
  if (ok) report_compiled(&tr, &ev, s.jit, &w, c);
  if (ok && st.epoch >= s.cfg.epochs)
    diag_note(
        (PgLoc){0},
        "'%s' has %d epochs done, as many as the %d to train: nothing to train (raise --epochs)",
        c->resume, st.epoch, s.cfg.epochs);
  RtScores scores;
  RtSets sets = sets_of(&data);
  if (ok) {
    const char *vocab = rt_data_vocab(fe_dataset(&s.cfg, "train"));
    RtFitOptions fo = {s.cfg.epochs, s.cfg.batch, c->log, c->save, c->save_every, c->quiet, vocab,
                       s.cfg.early.on, s.cfg.early.restore_best, s.cfg.early.monitor,
                       s.cfg.early.patience, s.cfg.early.min_delta, c->save_best,
                       {s.cfg.plateau.on, s.cfg.plateau.monitor, s.cfg.plateau.factor,
                        s.cfg.plateau.min_delta, s.cfg.plateau.min_lr, s.cfg.plateau.patience,
                        s.cfg.plateau.cooldown},
                       &data.train, c->steps};
    ok = rt_fit(&tr.prog, &ev.prog, &sets, &fo, &s.store, &st, &scores);
  }
  if (ok && c->profile) rt_profile_print(stdout, &tr.prog);
  if (ok && sets.test) {
    const PgSlot *acc = pg_slot_named(&ev.entry, "accuracy", true);
    printf("test loss: %.4f\n", scores.loss);
    if (acc) printf("test accuracy: %.4f\n", scores.metric[acc->io - ev.entry.ninputs]);
  }
  free_sets(&data);
  release_step(&tr), release_step(&ev);
  return close_session(&s, ok);
}

int cmd_eval(const Cli *c) {
  if (!c->weights) return fprintf(stderr, "nnd: error: eval needs --weights CKPT\n"), 2;
  Session s;
  Sets data = {0};
  Compiled ev = {0};
  const RtData *set = NULL;
  bool ok = open_session(c, &s) && load_data(&s, &data) && compile_step(&s, "eval", NULL, &ev) &&
            rt_checkpoint_load(c->weights, &s.store, RT_LOAD_WEIGHTS, NULL) && (set = chosen_set(c, &data));
  if (ok) {
    RtScores scores;
    RtReport report = {0};
    ok = rt_evaluate(&ev.prog, set, s.cfg.batch, &scores, &report);
    printf("%s: %lld examples\nloss: %.4f\n", c->data ? c->data : "test", (long long)set->count, scores.loss);
    for (int i = 0; i < ev.entry.nslots; i++) {
      const PgSlot *m = &ev.entry.slots[i];
      if (m->role == PG_SLOT_METRIC)
        printf("%s: %.4f\n", m->name, scores.metric[m->io - ev.entry.ninputs]);
    }
    rt_report_print(stdout, &report);
    rt_report_free(&report);
  }
  free_sets(&data);
  release_step(&ev);
  return close_session(&s, ok);
}

/* The inputs the predictions read: the eval entry's DATA slots (labels feed
 * only metrics, so they need no file). */
static int predicted_inputs(const PgEntry *e, const char **names, int max) {
  int n = 0;
  for (int i = 0; i < e->nslots && n < max; i++)
    if (!e->slots[i].output && e->slots[i].role == PG_SLOT_DATA) names[n++] = e->slots[i].name;
  return n;
}

static int name_index(const char **names, int n, const char *name, size_t len) {
  for (int k = 0; k < n; k++)
    if (strlen(names[k]) == len && !strncmp(names[k], name, len)) return k;
  return -1;
}

/* which file feeds which of the n inputs: --input NAME=FILE, or a bare FILE
 * when the predictions read one input */
static bool match_input_files(const Cli *c, const char **names, int n, const char **path) {
  for (int f = 0; f < c->ninput_files; f++) {
    const char *arg = c->input_files[f], *eq = strchr(arg, '=');
    int k = eq ? name_index(names, n, arg, (size_t)(eq - arg)) : -1;
    if (k < 0 && n == 1 && c->ninput_files == 1) k = 0, eq = NULL;
    if (k < 0)
      return diag_error((PgLoc){0},
                        "--input %s: say which input it feeds (--input NAME=FILE; the predictions "
                        "read %d inputs)",
                        arg, n),
             false;
    if (path[k]) return diag_error((PgLoc){0}, "--input gives input '%s' twice", names[k]), false;
    path[k] = eq ? eq + 1 : arg;
  }
  char missing[256] = "";
  for (int k = 0; k < n; k++)
    if (!path[k] && strlen(missing) + strlen(names[k]) + 4 < sizeof missing)
      strcat(strcat(strcat(missing, *missing ? ", '" : "'"), names[k]), "'");
  if (*missing)
    diag_error((PgLoc){0}, "the predictions also read %s: give a file for each (--input NAME=FILE)",
               missing);
  return !*missing;
}

/* the rows to predict: files for the inputs the predictions read (--input),
 * or a data set. A file gets the transforms of its input's training source
 * (scale, normalize with the training statistics) unless --raw. */
static bool predict_rows(const Cli *c, const FeConfig *cfg, const PgEntry *g, Sets *sets,
                         RtData *file, const RtData **rows) {
  if (!c->ninput_files) return (*rows = chosen_set(c, sets)) != NULL;
  const char *names[RT_MAX_COLUMNS], *path[RT_MAX_COLUMNS] = {0};
  int n = predicted_inputs(g, names, RT_MAX_COLUMNS);
  if (!match_input_files(c, names, n, path)) return false;
  const PgDataSet *train = fe_dataset(cfg, "train");
  PgDataSet like = {.name = "input"};
  for (int k = 0; k < n; k++) {
    const PgSource *src = NULL;
    for (int j = 0; !c->raw && j < train->nsources; j++)
      if (!strcmp(train->sources[j].input, names[k])) src = &train->sources[j];
    if (!c->raw && !src)
      return diag_error(
                 (PgLoc){0},
                 "no training source for input '%s' says how to read its file (or use --raw)",
                 names[k]),
             false;
    if (!rt_data_add_file(file, path[k], g, names[k], src)) return false;
    if (src) like.sources[like.nsources++] = *src;
  }
  *rows = file;
  return rt_data_normalize(file, &like, statistics(sets));
}

int cmd_predict(const Cli *c) {
  if (!c->weights || !c->output) return fprintf(stderr, "nnd: error: predict needs --weights CKPT and --output FILE.csv\n"), 2;
  Session s;
  Sets sets = {0};
  RtData file = {0};
  const RtData *rows = NULL;
  Compiled ev = {0};
  RtReport report = {.want_probabilities = c->probabilities || c->top_k};
  RtScores scores;
  bool ok = open_session(c, &s) && load_data(&s, &sets) && compile_step(&s, "eval", NULL, &ev) &&
            rt_checkpoint_load(c->weights, &s.store, RT_LOAD_WEIGHTS, NULL) &&
            predict_rows(c, &s.cfg, &ev.entry, &sets, &file, &rows) &&
            rt_evaluate(&ev.prog, rows, s.cfg.batch, &scores, &report);
  if (ok && !report.n) {
    diag_error(
        (PgLoc){0},
        "%s has no metric that says what a prediction is (accuracy, binary_accuracy, mse or mae)",
        c->input);
    ok = false;
  }
  RtCsvColumns columns = {!c->ninput_files, c->probabilities, c->top_k};
  if (ok) ok = rt_report_write_csv(c->output, &report, &columns);
  if (ok) /* on stderr when the predictions are on stdout (--output -) */
    fprintf(strcmp(c->output, "-") ? stdout : stderr, "%lld predictions written to %s\n",
            (long long)rows->count, strcmp(c->output, "-") ? c->output : "standard output");
  rt_report_free(&report);
  rt_data_free(&file);
  free_sets(&sets);
  release_step(&ev);
  return close_session(&s, ok);
}

/* the loss and the gradients of the grad program, as tensors named as its outputs */
static int collect_grads(const RtProgram *p, RtNamed *out, float *loss) {
  int n = 0;
  for (int i = 0; i < p->e->nslots; i++) {
    const PgSlot *o = &p->e->slots[i];
    void *data = rt_slot_buffer(p, o);
    if (o->role == PG_SLOT_LOSS) *loss = *(float *)data;
    else if (o->role == PG_SLOT_GRADIENT) out[n++] = (RtNamed){o->name, PG_F32, o->shape, data};
  }
  return n;
}

/* the evaluation step's loss on the batch (running statistics, no dropout) */
static float eval_loss(Compiled *ev, const RtData *batch) {
  float loss = 0;
  rt_gather(&ev->prog, batch, NULL, 0, batch->count);
  rt_program_run(&ev->prog, batch->count);
  const PgSlot *slot = pg_slot_with_role(&ev->entry, PG_SLOT_LOSS);
  if (slot) loss = *(float *)rt_slot_buffer(&ev->prog, slot);
  return loss;
}

/* the loss, the gradients and the parameters after c->steps training steps,
 * all on one batch from given weights, and the evaluation step's loss
 * ("eval:loss") after them: what a reference implementation is compared
 * against (tests/pytorch/) */
static bool run_steps(const Cli *c, Compiled *const step[3], RtParams *store,
                      const RtData *batch) {
  Compiled *gr = step[0], *tr = step[1];
  float loss = 0, evaluated;
  RtNamed *t = malloc((store->count + gr->entry.noutputs + 3) * sizeof *t);
  RtRng fixed;
  rt_rng_seed(&fixed, 1);
  rt_gather(&gr->prog, batch, NULL, 0, batch->count);
  rt_program_run(&gr->prog, batch->count);
  int n = collect_grads(&gr->prog, t + 1, &loss);
  t[0] = (RtNamed){"loss", PG_F32, {0}, &loss};
  for (int k = 0; k < c->steps; k++) {
    rt_gather(&tr->prog, batch, NULL, 0, batch->count);
    const PgSlot *seed = pg_slot_with_role(&tr->entry, PG_SLOT_SEED);
    if (seed) *(int32_t *)rt_slot_buffer(&tr->prog, seed) = (int32_t)(rt_rng_next(&fixed) >> 33);
    rt_program_run(&tr->prog, batch->count);
  }
  for (int i = 0; i < store->count; i++)
    t[1 + n + i] = (RtNamed){store->names[i], PG_F32, store->shape[i], store->data[i]};
  evaluated = eval_loss(step[2], batch);
  t[1 + n + store->count] = (RtNamed){"eval:loss", PG_F32, {0}, &evaluated};
  const char *meta[] = {"format", "nnd-step-1", NULL};
  bool ok = rt_safetensors_write(c->out, t, 2 + n + store->count, meta);
  free(t);
  return ok;
}

int cmd_step(const Cli *c) {
  if (!c->weights || !c->inputs || !c->out)
    return fprintf(stderr, "nnd: error: step needs --weights W.st, --inputs B.st and --out O.st\n"), 2;
  Session s;
  RtData batch = {0};
  Compiled gr = {0}, tr = {0}, ev = {0};
  Compiled *const steps[3] = {&gr, &tr, &ev};
  IrGraph *fwd = NULL; /* the batch size comes from the inputs file, read through the forward graph */
  PgEntry inputs = {0};
  bool ok = open_session(c, &s) && (fwd = fe_elaborate(s.ast, FE_TRAINING_NO_DROPOUT)) &&
            cg_describe(fwd, false, &inputs) &&
            rt_data_from_safetensors(&batch, c->inputs, &inputs);
  if (ok) s.cfg.batch = (int)batch.count;
  ok = ok && compile_step(&s, "grad", NULL, &gr) && compile_step(&s, "train", NULL, &tr) &&
       compile_step(&s, "eval", NULL, &ev) &&
       rt_checkpoint_load(c->weights, &s.store, RT_LOAD_WEIGHTS, NULL) &&
       run_steps(c, steps, &s.store, &batch);
  pg_entry_free(&inputs);
  ir_graph_free(fwd);
  rt_data_free(&batch);
  release_step(&gr), release_step(&tr), release_step(&ev);
  return close_session(&s, ok);
}

/* --ir: a planned grad graph from a file (a dump edited by hand, or the
 * output of `nnd opt`) instead of the model's, compiled and bound to the store */
static bool load_ir(Session *s, const char *path, Compiled *out) {
  memset(out, 0, sizeof *out);
  IrGraph *g = ir_parse_file(path);
  if (g && !ir_verify(g, "parse")) return ir_graph_free(g), false;
  return compile_graph(s, g, out);
}

int cmd_gradcheck(const Cli *c) {
  Session s;
  RtData data = {0};
  Compiled gr = {0};
  const PgDataSet *spec = NULL;
  double worst;
  bool ok = open_session(c, &s);
  if (ok && !c->batch) s.cfg.batch = 8;
  ok = ok && (spec = need_data(&s.cfg, "train", c->input)) &&
       (c->ir ? load_ir(&s, c->ir, &gr) : compile_step(&s, "grad", NULL, &gr)) &&
       rt_data_load(&data, spec, &gr.entry) && rt_data_normalize(&data, spec, NULL);
  if (ok && data.count < gr.entry.max_batch) {
    diag_error((PgLoc){0}, "the training data has %lld examples, fewer than the batch of %lld",
               (long long)data.count, (long long)gr.entry.max_batch);
    ok = false;
  }
  ok = ok && rt_gradcheck(&gr.prog, &data, &s.rng, 1e-2, &worst);
  rt_data_free(&data);
  release_step(&gr);
  return close_session(&s, ok);
}

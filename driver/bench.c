/* bench.c — nnd bench MODEL.nnd: how long the compiled steps take here.
 *
 * Compile time is the wall time from reading the model to the training and
 * inference steps JIT-compiled and bound to their parameters (what every
 * `nnd train` pays before its first step). Then each step runs a few times
 * untimed (the caches and the page tables warm up), and --steps N times
 * (default 20) timed one by one: the median, the fastest and the slowest.
 * The inference step is the predict step (what `nnd compile`'s NAME_predict
 * runs), or the eval step for a model that predicts nothing; it is timed at
 * the file's batch and at batch 1, the same code with n = 1.
 *
 * The inputs are synthetic and fixed: f32 values uniform in [0, 1), i32 ones
 * uniform in the values the model takes (its classes, table rows: the slot's
 * bound), else 0, all drawn from the model's seed. The generated code's time
 * does not depend on the values (subnormals are flushed), so no data files
 * are read. The training step updates the parameters as it runs. */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define WARM_UP 3
#define DEFAULT_STEPS 20

/* synthetic values in every input of p (see the top of the file) */
static void fill_inputs(RtProgram *p, RtRng *rng) {
  const PgEntry *e = p->e;
  for (int i = 0; i < e->nslots; i++) {
    const PgSlot *s = &e->slots[i];
    if (s->output || s->role == PG_SLOT_STATE) continue;
    int64_t count = pg_numel(&s->shape, e->max_batch);
    if (s->dtype == PG_F32) {
      float *x = rt_slot_buffer(p, s);
      for (int64_t k = 0; k < count; k++) x[k] = (float)rt_rng_uniform(rng);
      continue;
    }
    int32_t *x = rt_slot_buffer(p, s);
    for (int64_t k = 0; k < count; k++)
      x[k] = s->bound > 0 ? (int32_t)(rt_rng_uniform(rng) * (double)s->bound) : 0;
  }
}

typedef struct {
  double median, min, max; /* milliseconds */
} Timing;

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* steps calls of p's step on n examples, after WARM_UP untimed ones */
static bool time_step(RtProgram *p, int64_t n, int steps, Timing *t) {
  double *ms = malloc(sizeof *ms * (size_t)(steps > 0 ? steps : 1));
  if (!ms) return diag_error((PgLoc){0}, "out of memory"), false;
  for (int i = 0; i < WARM_UP; i++) rt_program_run(p, n);
  for (int i = 0; i < steps; i++) {
    double start = pg_seconds();
    rt_program_run(p, n);
    ms[i] = (pg_seconds() - start) * 1e3;
  }
  qsort(ms, (size_t)steps, sizeof *ms, by_value);
  *t = steps ? (Timing){(ms[(steps - 1) / 2] + ms[steps / 2]) / 2, ms[0], ms[steps - 1]}
             : (Timing){0, 0, 0};
  free(ms);
  return true;
}

typedef struct {
  const char *model, *infer_graph;
  int batch, threads, steps;
  double compile_ms;
  Timing train, infer, infer_b1;
} Bench;

/* a time in ms, as milliseconds from 1 ms up, microseconds from 1 us up, else
 * nanoseconds */
static const char *duration(char *buf, size_t cap, double ms) {
  if (ms >= 1) snprintf(buf, cap, "%.2f ms", ms);
  else if (ms >= 1e-3) snprintf(buf, cap, "%.1f us", ms * 1e3);
  else snprintf(buf, cap, "%.0f ns", ms * 1e6);
  return buf;
}

static void print_timing(const char *what, const Timing *t) {
  char med[32], lo[32], hi[32];
  duration(med, sizeof med, t->median);
  duration(lo, sizeof lo, t->min);
  duration(hi, sizeof hi, t->max);
  printf("%-26s %12s  (min %s, max %s)\n", what, med, lo, hi);
}

static void print_text(const Bench *b) {
  printf("nnd bench %s: batch %d, %d thread%s, %d timed steps each (after %d untimed), "
         "synthetic inputs\n",
         b->model, b->batch, b->threads, b->threads == 1 ? "" : "s", b->steps, WARM_UP);
  char ms[32];
  printf("%-26s %12s  (parse to runnable train and %s steps)\n", "compile",
         duration(ms, sizeof ms, b->compile_ms), b->infer_graph);
  print_timing("train step", &b->train);
  char what[64];
  snprintf(what, sizeof what, "inference (%s step)", b->infer_graph);
  print_timing(what, &b->infer);
  print_timing("inference at batch 1", &b->infer_b1);
}

static void json_timing(const char *key, const Timing *t) {
  printf(", \"%s_ms\": %.6g, \"%s_min_ms\": %.6g, \"%s_max_ms\": %.6g", key, t->median, key, t->min,
         key, t->max);
}

static void print_json(const Bench *b) {
  printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"steps\": %d, "
         "\"infer_graph\": \"%s\", \"compile_ms\": %.6g",
         b->model, b->batch, b->threads, b->steps, b->infer_graph, b->compile_ms);
  json_timing("train_step", &b->train);
  json_timing("infer", &b->infer);
  json_timing("infer_b1", &b->infer_b1);
  printf("}\n");
}

/* whether the model predicts something (its eval step has a PREDICTION
 * output: a metric says what a prediction is); only passes run, no JIT */
static bool predicts(const Session *s) {
  IrGraph *g = build_graph(s->ast, &s->cfg, s->c, "eval", NULL);
  PgEntry e = {0};
  bool yes = g && cg_describe(g, false, &e) && pg_slot_with_role(&e, PG_SLOT_PREDICTION);
  pg_entry_free(&e);
  ir_graph_free(g);
  return yes;
}

/* the predict step, or eval for a model that predicts nothing */
static bool compile_inference(Session *s, Compiled *out, const char **graph) {
  *graph = predicts(s) ? "predict" : "eval";
  return compile_step(s, *graph, NULL, out);
}

int cmd_bench(const Cli *c) {
  double start = pg_seconds();
  Session s;
  Compiled tr = {0}, inf = {0};
  Bench b = {.threads = c->threads, .steps = c->steps ? c->steps : DEFAULT_STEPS};
  bool ok = open_session(c, &s) && compile_step(&s, "train", NULL, &tr) &&
            compile_inference(&s, &inf, &b.infer_graph);
  if (ok) {
    b.compile_ms = (pg_seconds() - start) * 1e3;
    b.model = model_name(s.ast);
    b.batch = (int)tr.entry.max_batch;
    fill_inputs(&tr.prog, &s.rng);
    fill_inputs(&inf.prog, &s.rng);
    const PgSlot *seed = pg_slot_with_role(&tr.entry, PG_SLOT_SEED);
    if (seed) *(int32_t *)rt_slot_buffer(&tr.prog, seed) = 1;
    ok = time_step(&tr.prog, b.batch, b.steps, &b.train) &&
         time_step(&inf.prog, b.batch, b.steps, &b.infer) &&
         time_step(&inf.prog, 1, b.steps, &b.infer_b1);
  }
  if (ok) c->json ? print_json(&b) : print_text(&b);
  release_step(&tr), release_step(&inf);
  return close_session(&s, ok);
}

/* train.c — datasets, the loop over batches, evaluation and reporting.
 *
 * Each step the runtime copies a batch of (shuffled) rows into the program's
 * input buffers, draws the step's dropout seed, calls the compiled step and
 * reads back its scalar outputs: the mean loss over the batch and, for each
 * metric, its sum over the batch. The last batch of an epoch may be partial;
 * it is trained on like any other (n is a runtime argument of the step). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

/* ---- data ---- */

static bool check_column(const PgSlot *in, const PgSource *s, const RtTensor *t) {
  int64_t want = pg_numel(&in->shape, 1), classes = in->bound;
  if (t->per_item != want) {
    diag_error(s->loc, "'%s' has %lld values per example; input '%s' takes %lld", s->path,
               (long long)t->per_item, s->input, (long long)want);
    return false;
  }
  for (int64_t i = 0; classes && i < t->count * t->per_item; i++) {
    int32_t y = ((const int32_t *)t->data)[i];
    if ((y < 0 || y >= classes) && (y != in->ignore || !in->ignore)) {
      bool file = s->field && !strcmp(s->format, "records") && !strcmp(s->field, "label");
      const char *path = file && y >= 0 && y < s->npaths ? s->paths[y] : s->path; /* its file */
      diag_error(s->loc, "'%s': label %d of example %lld is outside [0, %lld)%s", path, y,
                 (long long)(i / t->per_item), (long long)classes,
                 in->ignore ? " and not the ignored label" : "");
      return false;
    }
  }
  return true;
}

/* standardise each feature: with the statistics of `fit` if given (the
 * training set's), else with this column's own (Keras's Normalization.adapt) */
static bool normalize(const PgSource *s, RtTensor *t, const RtData *fit, const char *input) {
  const RtTensor *from = NULL;
  for (int c = 0; fit && c < fit->ncols; c++)
    if (strcmp(fit->input[c], input) == 0 && fit->col[c].mean) from = &fit->col[c];
  if (t->dtype != PG_F32) return diag_error(s->loc, "normalize() applies to f32 inputs"), false;
  t->mean = calloc(t->per_item, sizeof *t->mean);
  t->inv_std = calloc(t->per_item, sizeof *t->inv_std);
  float *x = t->data;
  for (int64_t j = 0; j < t->per_item; j++) {
    double mean = 0, var = 0;
    if (from) mean = from->mean[j], var = 1 / ((double)from->inv_std[j] * from->inv_std[j]);
    else {
      for (int64_t i = 0; i < t->count; i++) mean += x[i * t->per_item + j];
      mean /= (double)(t->count ? t->count : 1);
      for (int64_t i = 0; i < t->count; i++) var += (x[i * t->per_item + j] - mean) * (x[i * t->per_item + j] - mean);
      var /= (double)(t->count ? t->count : 1);
    }
    t->mean[j] = (float)mean;
    t->inv_std[j] = var > 0 ? (float)(1 / sqrt(var)) : 1.0f;
    for (int64_t i = 0; i < t->count; i++) x[i * t->per_item + j] = (x[i * t->per_item + j] - t->mean[j]) * t->inv_std[j];
  }
  return true;
}

static bool load_column(const PgSource *s, const PgSlot *in, int64_t reach, RtTensor *t) {
  if (strcmp(s->format, "text") == 0) return rt_load_text(s, in->dtype, reach, t);
  if (strcmp(s->format, "records") == 0) return rt_load_records(s, in->dtype, t);
  if (strcmp(s->format, "graph") == 0) return rt_load_graph(s, in->dtype, t);
  if (strcmp(s->format, "csv") == 0) return rt_load_csv(s, in->dtype, t);
  if (strcmp(s->format, "npy") == 0) return rt_load_npy(s->path, in->dtype, s->scale, s->loc, t);
  return rt_load_idx(s->path, in->dtype, s->scale, s->loc, t);
}

bool rt_data_normalizes(const PgDataSet *spec) {
  for (int i = 0; spec && i < spec->nsources; i++)
    if (spec->sources[i].normalize) return true;
  return false;
}

bool rt_data_normalize(RtData *d, const PgDataSet *spec, const RtData *fit) {
  for (int c = 0; c < d->ncols; c++)
    for (int i = 0; i < spec->nsources; i++)
      if (spec->sources[i].normalize && strcmp(spec->sources[i].input, d->input[c]) == 0 &&
          !normalize(&spec->sources[i], &d->col[c], fit, d->input[c]))
        return false;
  return true;
}

/* which examples a split holds out: the last `n`, or with `shuffle` n drawn
 * from a generator seeded by `seed` (the order of both parts is kept) */
static bool *held_out(int64_t count, int64_t n, bool shuffle, uint64_t seed) {
  bool *out = calloc((size_t)count, sizeof *out);
  int64_t *perm = shuffle ? malloc((size_t)count * sizeof *perm) : NULL;
  for (int64_t i = 0; perm && i < count; i++) perm[i] = i;
  if (perm) {
    RtRng rng;
    rt_rng_seed(&rng, seed ^ 0x9a1d5eedULL); /* not the stream that draws the weights */
    rt_shuffle(&rng, perm, count);
  }
  for (int64_t i = count - n; i < count; i++) out[perm ? perm[i] : i] = true;
  free(perm);
  return out;
}

/* how many of the classes [0, bound) the labels of column t hold; seen[k] marks them */
static int64_t classes_in(const RtTensor *t, int64_t bound, bool *seen) {
  int64_t n = 0;
  for (int64_t i = 0; i < t->count; i++) {
    int32_t y = ((const int32_t *)t->data)[i];
    if (y >= 0 && y < bound && !seen[y]) seen[y] = true, n++;
  }
  return n;
}

/* (the i32 inputs with a bound of one value per example: class labels) */
void rt_data_warn_classes(const RtData *train, const RtData *val, const PgEntry *e) {
  for (int c = 0; c < train->ncols && c < val->ncols; c++) {
    const PgSlot *s = pg_slot_named(e, train->input[c], false);
    if (!s || s->dtype != PG_I32 || !s->bound || train->col[c].per_item != 1) continue;
    bool *seen = calloc((size_t)s->bound * 2, sizeof *seen);
    if (!seen) return;
    int64_t in_train = classes_in(&train->col[c], s->bound, seen);
    int64_t in_val = classes_in(&val->col[c], s->bound, seen + s->bound), differ = 0;
    for (int64_t k = 0; k < s->bound; k++) differ += seen[k] != seen[s->bound + k];
    if (differ)
      diag_warning((PgLoc){0}, "validation_split: the validation labels '%s' hold %lld classes, "
                   "the training labels %lld, %lld not in both; the data may be sorted by class "
                   "(validation_shuffle = true holds out a random draw)", s->name,
                   (long long)in_val, (long long)in_train, (long long)differ);
    free(seen);
  }
}

bool rt_data_split(RtData *d, double fraction, bool shuffle, uint64_t seed, RtData *tail) {
  int64_t keep = (int64_t)((double)d->count * (1 - fraction));
  if (keep < 1 || keep >= d->count) {
    diag_error((PgLoc){0}, "a split of %g leaves no examples on one side of %lld", fraction,
               (long long)d->count);
    return false;
  }
  if (shuffle && d->pairs) /* its draws pair each unit with the next */
    return diag_error((PgLoc){0}, "validation_shuffle cannot split pairs() data: it holds out the "
                                  "last units"), false;
  bool *out = held_out(d->count, d->count - keep, shuffle, seed);
  *tail = (RtData){.name = "validation", .ncols = d->ncols, .count = d->count - keep};
  for (int c = 0; c < d->ncols; c++) {
    RtTensor *from = &d->col[c], *to = &tail->col[c];
    size_t row = from->per_item * 4;
    *to = *from;
    to->count = tail->count;
    to->data = malloc(tail->count * row);
    to->mean = to->inv_std = NULL;
    char *src = from->data, *kept = from->data, *held = to->data;
    for (int64_t i = 0; i < d->count; i++, src += row) {
      char **dst = out[i] ? &held : &kept;
      memmove(*dst, src, row);
      *dst += row;
    }
    from->count = keep;
    tail->input[c] = d->input[c];
  }
  free(out);
  d->count = keep;
  return true;
}

bool rt_data_load(RtData *d, const PgDataSet *spec, const PgEntry *e) {
  memset(d, 0, sizeof *d);
  d->name = spec->name;
  for (int i = 0; i < spec->nsources; i++) {
    const PgSource *s = &spec->sources[i];
    const PgSlot *in = pg_slot_named(e, s->input, false);
    RtTensor *t = &d->col[d->ncols];
    if (!in) diag_error(s->loc, "the graph has no input '%s'", s->input); /* one from gradcheck --ir */
    bool pairs = !strcmp(s->format, "pairs"); /* its columns come from one draw */
    if (!in) goto fail;
    if (pairs ? !rt_data_add_pairs(d, s, in->dtype) : !load_column(s, in, rt_text_reach(spec), t))
      goto fail;
    d->input[d->ncols++] = s->input;
    if (!check_column(in, s, t)) goto fail;
    if (i > 0 && t->count != d->count) {
      bool text = !strcmp(s->format, "text");
      diag_error(s->loc, "'%s' has %lld examples but '%s' has %lld%s", s->path, (long long)t->count,
                 spec->sources[0].path, (long long)d->count,
                 text ? " (text() columns line up when they have the same stride)" : "");
      goto fail;
    }
    d->count = t->count;
  }
  return true;
fail:
  rt_data_free(d);
  return false;
}

static bool column_from(RtData *d, const RtSafetensors *st, const char *path, const PgSlot *in) {
  const RtNamed *t = rt_safetensors_find(st, in->name);
  if (!t) return diag_error((PgLoc){0}, "'%s' has no tensor for input '%s'", path, in->name), false;
  int64_t per = pg_numel(&in->shape, 1), rows = t->shape.rank ? t->shape.dim[0] : 0;
  if (t->dtype != in->dtype || rows < 1 || pg_numel(&t->shape, 1) != rows * per ||
      (d->ncols && rows != d->count)) {
    char want[96];
    pg_shape_str(&in->shape, want, sizeof want);
    diag_error((PgLoc){0}, "'%s': tensor '%s' does not fit input %s%s (or has another row count)",
               path, in->name, pg_dtype_name(in->dtype), want);
    return false;
  }
  RtTensor *col = &d->col[d->ncols];
  *col = (RtTensor){.dtype = t->dtype, .count = rows, .per_item = per, .data = malloc(rows * per * 4)};
  memcpy(col->data, t->data, rows * per * 4);
  d->input[d->ncols++] = in->name;
  d->count = rows;
  return true;
}

bool rt_data_add_file(RtData *d, const char *path, const PgEntry *e, const char *input,
                      const PgSource *like) {
  const PgSlot *in = pg_slot_named(e, input, false);
  if (!in) return diag_error((PgLoc){0}, "the model has no input '%s'", input), false;
  if (d->ncols == (int)(sizeof d->col / sizeof *d->col))
    return diag_error((PgLoc){0}, "too many input files (at most %d)", RT_MAX_COLUMNS), false;
  size_t len = strlen(path);
  bool csv = (len > 4 && !strcmp(path + len - 4, ".csv")) || (len > 7 && !strcmp(path + len - 7, ".csv.gz"));
  double scale = like ? like->scale : 1;
  PgSource src = {.input = in->name,
                  .format = csv ? "csv" : "idx",
                  .path = path,
                  .scale = scale,
                  .columns = {"0:"},
                  .ncolumns = 1};
  if (csv && like && !strcmp(like->format, "csv")) { /* the training source's columns */
    memcpy(src.columns, like->columns, sizeof src.columns);
    src.ncolumns = like->ncolumns, src.header = like->header, src.skip = like->skip;
  } else if (csv) src.header = rt_csv_has_header(path); /* all columns, a header if named */
  RtTensor *t = &d->col[d->ncols];
  bool ok = len > 4 && !strcmp(path + len - 4, ".npy")
                ? rt_load_npy(path, in->dtype, scale, (PgLoc){0}, t)
            : csv ? rt_load_csv(&src, in->dtype, t)
                  : rt_load_idx(path, in->dtype, scale, (PgLoc){0}, t);
  if (!ok) return false;
  if (!check_column(in, &src, t)) return rt_tensor_free(t), false;
  if (d->ncols && t->count != d->count) {
    diag_error((PgLoc){0}, "'%s' has %lld examples but '%s' has %lld", path, (long long)t->count,
               d->name, (long long)d->count);
    return rt_tensor_free(t), false;
  }
  if (!d->ncols) d->name = path;
  d->input[d->ncols++] = in->name;
  d->count = t->count;
  return true;
}

bool rt_data_from_safetensors(RtData *d, const char *path, const PgEntry *e) {
  RtSafetensors st;
  memset(d, 0, sizeof *d);
  d->name = path;
  if (!rt_safetensors_read(path, &st)) return false;
  bool ok = true;
  for (int i = 0; ok && i < e->nslots; i++) {
    const PgSlot *s = &e->slots[i];
    if (s->output || s->role == PG_SLOT_SEED) continue;
    if (d->ncols < RT_MAX_COLUMNS) {
      ok = column_from(d, &st, path, s);
      continue;
    }
    diag_error((PgLoc){0}, "'%s': the model has more than %d inputs", path, RT_MAX_COLUMNS);
    ok = false;
  }
  rt_safetensors_free(&st);
  if (!ok) rt_data_free(d);
  return ok;
}

void rt_data_free(RtData *d) {
  for (int i = 0; i < d->ncols; i++) rt_tensor_free(&d->col[i]);
  d->ncols = 0;
  rt_pairs_free(d->pairs);
  d->pairs = NULL;
}

void rt_gather(RtProgram *p, const RtData *d, const int64_t *perm, int64_t start, int64_t n) {
  for (int c = 0; c < d->ncols; c++) {
    const PgSlot *slot = pg_slot_named(p->e, d->input[c], false);
    if (!slot) continue;
    size_t row = d->col[c].per_item * 4;
    char *dst = rt_slot_buffer(p, slot);
    const char *src = d->col[c].data;
    for (int64_t i = 0; i < n; i++) {
      int64_t r = perm ? perm[start + i] : start + i;
      memcpy(dst + i * row, src + r * row, row);
    }
  }
}

/* ---- running a step ---- */

typedef struct {
  double loss_sum, metric_sum[RT_MAX_METRICS];
  int64_t seen;
  double lr; /* the last step's learning rate (its RATE output), NaN if it has none */
} Totals;

/* false if the step produced a NaN or an infinity (checked steps only) */
static bool run_batch(RtProgram *p, int64_t n, RtRng *rng, Totals *t) {
  const PgEntry *e = p->e;
  const PgSlot *seed = pg_slot_with_role(e, PG_SLOT_SEED),
               *loss = pg_slot_with_role(e, PG_SLOT_LOSS);
  if (seed) *(int32_t *)rt_slot_buffer(p, seed) = (int32_t)(rt_rng_next(rng) >> 33);
  if (e->check_numerics) memset(p->nonfinite, 0, (size_t)e->nnodes);
  rt_program_run(p, n);
  p->steps++;
  int first = e->check_numerics ? rt_program_first_nonfinite(p) : -1;
  if (first >= 0) {
    const PgNodeInfo *bad = &e->nodes[first];
    diag_error(
        bad->loc,
        "--check-numerics: a NaN or infinity, first produced by %%%d (%s) in kernel %d of %s, "
        "batch %lld of this pass",
        first, bad->op, bad->kernel, e->name, (long long)(t->seen / n + 1));
    return false;
  }
  for (int i = 0; i < e->noutputs && i < RT_MAX_METRICS; i++) t->metric_sum[i] += p->outputs[i];
  if (loss) t->loss_sum += (double)*(float *)rt_slot_buffer(p, loss) * n;
  const PgSlot *rate = pg_slot_with_role(e, PG_SLOT_RATE);
  t->lr = rate ? *(float *)rt_slot_buffer(p, rate) : NAN;
  t->seen += n;
  return true;
}

/* what output i's sum is divided by: its count output's sum, or the examples */
static double divisor(const PgEntry *e, int i, const Totals *t) {
  const PgSlot *m = pg_output(e, e->ninputs + i);
  for (int k = 0; m && k < e->noutputs && k < RT_MAX_METRICS; k++) {
    const PgSlot *c = pg_output(e, e->ninputs + k);
    if (c && c->role == PG_SLOT_COUNT && strcmp(c->of, m->name) == 0) return t->metric_sum[k];
  }
  return (double)t->seen;
}

static RtScores scores_of(const RtProgram *p, const Totals *t) {
  RtScores s = {.loss = t->loss_sum / (double)(t->seen ? t->seen : 1), .lr = t->lr};
  for (int i = 0; i < p->e->noutputs && i < RT_MAX_METRICS; i++) {
    const PgSlot *m = pg_output(p->e, p->e->ninputs + i);
    double d = divisor(p->e, i, t);
    s.metric[i] = t->metric_sum[i] / (d > 0 ? d : 1);
    if (m && m->exp) s.metric[i] = exp(s.metric[i]);
  }
  s.nmetrics = p->e->noutputs;
  return s;
}

bool rt_evaluate(RtProgram *eval, const RtData *d, int batch, RtScores *out, RtReport *report) {
  Totals t = {0};
  RtRng unused;
  rt_rng_seed(&unused, 0);
  for (int64_t start = 0; start < d->count; start += batch) {
    int64_t n = d->count - start < batch ? d->count - start : batch;
    rt_gather(eval, d, NULL, start, n);
    if (!run_batch(eval, n, &unused, &t)) return false;
    if (report) rt_report_add(report, eval, n);
  }
  *out = scores_of(eval, &t);
  return true;
}

/* ---- reporting ---- */

/* the METRIC slot of output index i, if it is one */
static const PgSlot *metric_at(const PgEntry *e, int i) {
  const PgSlot *s = pg_output(e, e->ninputs + i);
  return s && s->role == PG_SLOT_METRIC ? s : NULL;
}

void rt_print_scores(FILE *out, const PgEntry *e, const char *prefix, const RtScores *s) {
  fprintf(out, " - %sloss: %.4f", prefix, s->loss);
  for (int i = 0; i < s->nmetrics && i < RT_MAX_METRICS; i++)
    if (metric_at(e, i)) fprintf(out, " - %s%s: %.4f", prefix, metric_at(e, i)->name, s->metric[i]);
}

static void progress(FILE *out, const PgEntry *g, int64_t step, int64_t steps, double secs,
                     const RtScores *s) {
  int width = 30, done = (int)(width * step / (steps ? steps : 1));
  fprintf(out, "\r%lld/%lld [", (long long)step, (long long)steps);
  for (int i = 0; i < width; i++) fputc(i < done ? '=' : i == done ? '>' : '.', out);
  fprintf(out, "] - %.0fs %.0fus/step", secs, 1e6 * secs / (double)(step ? step : 1));
  rt_print_scores(out, g, "", s);
  if (!isnan(s->lr)) fprintf(out, " - lr: %.4g", s->lr);
}

/* one "key": value pair; JSON has no NaN or infinity: those are null */
static void json_field(json_t *line, const char *prefix, const char *name, double v) {
  char key[256];
  snprintf(key, sizeof key, "%s%s", prefix, name);
  json_object_set_new(line, key, isfinite(v) ? json_real(v) : json_null());
}

static void json_scores(json_t *line, const PgEntry *e, const char *prefix, const RtScores *s) {
  json_field(line, prefix, "loss", s->loss);
  for (int i = 0; i < s->nmetrics && i < RT_MAX_METRICS; i++)
    if (metric_at(e, i)) json_field(line, prefix, metric_at(e, i)->name, s->metric[i]);
}

/* one line per epoch, keys in insertion order, ", " and ": " between them,
 * reals to 6 significant digits; tr is scored by the training graph, va and
 * te by the evaluation graph */
static void log_json(FILE *log, const PgEntry *train, const PgEntry *eval, int epoch,
                     const RtScores *tr, const RtScores *va, const RtScores *te, double secs) {
  json_t *line = json_object();
  json_object_set_new(line, "epoch", json_integer(epoch));
  json_scores(line, train, "", tr);
  if (!isnan(tr->lr)) json_field(line, "", "lr", tr->lr); /* the epoch's last step's */
  if (va) json_scores(line, eval, "val_", va);
  if (te) json_scores(line, eval, "test_", te);
  json_object_set_new(line, "seconds", json_real(secs));
  json_dumpf(line, log, JSON_REAL_PRECISION(6));
  json_decref(line);
  fputc('\n', log);
  fflush(log);
}

/* ---- fit ---- */

static bool train_epoch(RtProgram *train, const RtData *d, const RtFitOptions *opt, int64_t *perm,
                        RtTrainState *st, bool live, RtScores *out, double *secs) {
  Totals t = {0};
  int batch = opt->batch;
  int64_t steps = (d->count + batch - 1) / batch, step = 0;
  if (opt->steps_per_epoch > 0 && opt->steps_per_epoch < steps) steps = opt->steps_per_epoch;
  double t0 = pg_seconds(), last_draw = 0;
  rt_data_refresh(d, &st->rng); /* pairs() columns: drawn anew each epoch */
  for (int64_t i = 0; i < d->count; i++) perm[i] = i; /* the order depends on the RNG state alone */
  rt_shuffle(&st->rng, perm, d->count);
  for (int64_t start = 0; step < steps; start += batch) {
    int64_t n = d->count - start < batch ? d->count - start : batch;
    rt_gather(train, d, perm, start, n);
    if (!run_batch(train, n, &st->rng, &t)) return putchar('\n'), false;
    step++;
    if (live && (pg_seconds() - last_draw > 0.1 || step == steps)) {
      RtScores s = scores_of(train, &t);
      progress(stdout, train->e, step, steps, pg_seconds() - t0, &s);
      fflush(stdout);
      last_draw = pg_seconds();
    }
  }
  st->step += steps;
  st->epoch++;
  *secs = pg_seconds() - t0;
  *out = scores_of(train, &t);
  if (!live) progress(stdout, train->e, steps, steps, *secs, out);
  return true;
}

/* ---- early stopping and the best checkpoint ---- */

/* the reported value training watches: of which set (0 train, 1 validation,
 * 2 test), the loss (-1) or a metric, and whether higher is better */
typedef struct {
  int set, metric;
  bool higher;
  double best;
  int best_epoch, wait;
  float **weights; /* the best epoch's weights and statistics (restore_best), or NULL */
} Monitor;

/* name is [val_|test_](loss|METRIC); false after a diagnostic */
static bool monitor_of(const char *name, const PgEntry *e, const RtSets *data, Monitor *m) {
  static const char *const prefixes[] = {"", "val_", "test_"};
  const RtData *sets[] = {data->train, data->val, data->test};
  *m = (Monitor){.best_epoch = -1};
  for (int s = 2; s >= 0; s--) { /* the longest prefix first: "" matches every name */
    size_t n = strlen(prefixes[s]);
    if (strncmp(name, prefixes[s], n) != 0) continue;
    const char *what = name + n;
    m->set = s, m->metric = -2;
    if (!strcmp(what, "loss")) m->metric = -1;
    for (int i = 0; i < RT_MAX_METRICS && m->metric == -2; i++)
      if (metric_at(e, i) && !strcmp(metric_at(e, i)->name, what)) m->metric = i;
    if (m->metric == -2) break;
    if (!sets[s] || !sets[s]->count)
      return diag_error((PgLoc){0}, "monitor '%s': the run has no %s data%s", name,
                        s == 1 ? "validation" : "test", s == 1 ? " (validation_split)" : ""), false;
    m->higher = strstr(what, "accuracy") != NULL;
    return true;
  }
  return diag_error((PgLoc){0}, "monitor '%s' is not a reported value (loss, val_loss, test_loss, "
                                "or one of them with a metric's name)", name), false;
}

static double monitored(const Monitor *m, const RtScores *const *scores) {
  const RtScores *s = scores[m->set];
  return m->metric < 0 ? s->loss : s->metric[m->metric];
}

static bool restorable(const RtParams *p, int i) {
  return p->role[i] == PG_ROLE_WEIGHT || p->role[i] == PG_ROLE_STATISTIC;
}

/* copies the weights and statistics of p into m (from = false) or back */
static bool keep_weights(Monitor *m, RtParams *p, bool back) {
  if (!m->weights && !(m->weights = calloc((size_t)p->count + 1, sizeof *m->weights))) return false;
  for (int i = 0; i < p->count; i++) {
    if (!restorable(p, i)) continue;
    size_t bytes = (size_t)p->numel[i] * sizeof(float);
    if (!m->weights[i] && !(m->weights[i] = malloc(bytes ? bytes : 1))) return false;
    memcpy(back ? p->data[i] : m->weights[i], back ? m->weights[i] : p->data[i], bytes);
  }
  return true;
}

static void free_monitor(Monitor *m, const RtParams *p) {
  for (int i = 0; m->weights && i < p->count; i++) free(m->weights[i]);
  free(m->weights);
}

/* after an epoch: the best so far is kept (and saved); true when training should stop */
static bool watch(Monitor *m, const RtFitOptions *opt, const RtScores *const *scores,
                  RtParams *store, const RtTrainState *state, bool *ok) {
  double v = monitored(m, scores);
  double gain = m->higher ? v - m->best : m->best - v;
  if (m->best_epoch < 0 || gain > opt->min_delta) {
    m->best = v, m->best_epoch = state->epoch, m->wait = 0;
    if (opt->restore_best && !keep_weights(m, store, false))
      *ok = (diag_error((PgLoc){0}, "out of memory for the best weights"), false);
    if (opt->save_best && *ok)
      *ok = rt_checkpoint_save(opt->save_best, store, state, opt->vocab, opt->normalized);
    return false;
  }
  if (!opt->early_stop || ++m->wait < opt->patience) return false;
  printf("Epoch %d: early stopping: %s has not improved on %.4f (epoch %d) for %d epochs\n",
         state->epoch, opt->monitor, m->best, m->best_epoch, m->wait);
  return true;
}

/* the plateau's count of epochs without improvement, and its cooldown */
typedef struct {
  Monitor m;
  int cooldown;
} Plateau;

/* the rate's scale times factor, the rate not below min_lr (rate: the last
 * step's, in f32: at min_lr it may be a rounding above it) */
static void lower_rate(const RtPlateau *o, RtParams *store, double rate, int waited, int epoch) {
  int i = rt_params_find(store, "lr_scale");
  if (i < 0 || !(rate > o->min_lr * (1 + 1e-6))) return;
  float *scale = store->data[i];
  double lowered = fmax(rate * o->factor, o->min_lr);
  printf("Epoch %d: reduce_lr_on_plateau: %s has not improved for %d epoch%s: lr %.4g -> %.4g\n",
         epoch, o->monitor, waited, waited == 1 ? "" : "s", rate, lowered);
  *scale = (float)(*scale * (lowered / rate));
}

/* after an epoch, as Keras's ReduceLROnPlateau.on_epoch_end */
static void watch_plateau(Plateau *p, const RtPlateau *o, const RtScores *const *scores,
                          RtParams *store, const RtTrainState *state) {
  Monitor *m = &p->m;
  double v = monitored(m, scores);
  if (p->cooldown > 0) p->cooldown--, m->wait = 0;
  double gain = m->higher ? v - m->best : m->best - v;
  if (m->best_epoch < 0 || gain > o->min_delta) {
    m->best = v, m->best_epoch = state->epoch, m->wait = 0;
    return;
  }
  if (p->cooldown > 0 || ++m->wait < o->patience) return;
  lower_rate(o, store, scores[0]->lr, m->wait, state->epoch);
  p->cooldown = o->cooldown, m->wait = 0;
}

bool rt_fit(RtProgram *train, RtProgram *eval, const RtSets *data, const RtFitOptions *opt, RtParams *store,
            RtTrainState *state, RtScores *last_test) {
  Monitor m = {.best_epoch = -1};
  bool watching = opt->early_stop || opt->save_best;
  if (watching && !monitor_of(opt->monitor, eval->e, data, &m)) return false;
  Plateau plateau = {.cooldown = 0};
  if (opt->plateau.on && !monitor_of(opt->plateau.monitor, eval->e, data, &plateau.m))
    return false;
  const RtData *train_data = data->train, *test_data = data->test, *val_data = data->val;
  FILE *log = NULL;
  if (opt->log_path && !(log = fopen(opt->log_path, state->epoch ? "a" : "w"))) {
    diag_error((PgLoc){0}, "cannot write the log '%s'", opt->log_path);
    return false;
  }
  int64_t *perm = malloc((train_data->count + 1) * sizeof *perm);
  bool live = isatty(fileno(stdout)) && !opt->quiet, ok = true;
  if (test_data && state->epoch >= opt->epochs) rt_evaluate(eval, test_data, opt->batch, last_test, NULL);
  bool stop = false;
  while (ok && !stop && state->epoch < opt->epochs) {
    RtScores tr = {0}, te = {0}, va = {0};
    double secs;
    printf("Epoch %d/%d\n", state->epoch + 1, opt->epochs);
    if (!train_epoch(train, train_data, opt, perm, state, live, &tr, &secs)) {
      ok = false;
      break;
    }
    if (val_data) {
      if (!(ok = rt_evaluate(eval, val_data, opt->batch, &va, NULL))) break;
      rt_print_scores(stdout, eval->e, "val_", &va);
    }
    if (test_data) {
      if (!(ok = rt_evaluate(eval, test_data, opt->batch, &te, NULL))) break;
      rt_print_scores(stdout, eval->e, "test_", &te);
      *last_test = te;
    }
    putchar('\n');
    fflush(stdout);
    if (log)
      log_json(log, train->e, eval->e, state->epoch, &tr, val_data ? &va : NULL,
               test_data ? &te : NULL, secs);
    const RtScores *scores[3] = {&tr, &va, &te};
    if (opt->plateau.on) watch_plateau(&plateau, &opt->plateau, scores, store, state);
    if (watching) stop = watch(&m, opt, scores, store, state, &ok);
    bool end = stop || state->epoch == opt->epochs;
    if (ok && end && opt->restore_best && m.weights) { /* before the last save and test scores */
      keep_weights(&m, store, true);
      printf("Restoring the weights of epoch %d (%s %.4f)\n", m.best_epoch, opt->monitor, m.best);
      if (test_data) ok = rt_evaluate(eval, test_data, opt->batch, last_test, NULL);
    }
    bool last = end;
    bool every = opt->save_every && state->epoch % opt->save_every == 0;
    if (ok && opt->save_path && (last || every))
      ok = rt_checkpoint_save(opt->save_path, store, state, opt->vocab, opt->normalized);
  }
  free_monitor(&m, store);
  free(perm);
  if (log) fclose(log);
  return ok;
}

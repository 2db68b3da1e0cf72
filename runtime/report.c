/* report.c — what `nnd eval` reports beyond the averaged metrics: for a
 * classifier the confusion matrix with per-class precision, recall and F1
 * (and their macro averages), for a regression R^2. The evaluation step
 * outputs the per-example predictions and truths (its PREDICTION and TRUTH
 * slots, class indices or values); this file only counts and divides. It
 * also writes what `nnd predict` writes: per example the prediction, and on
 * request each class's probability (the PROBABILITY slot) and the likeliest
 * classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

static double value_at(const RtProgram *p, const PgSlot *s, int64_t i) {
  const void *buf = rt_slot_buffer(p, s);
  return s->dtype == PG_I32 ? ((const int32_t *)buf)[i] : ((const float *)buf)[i];
}

static void append(RtReport *r, double pred, double truth) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 1024;
    r->pred = realloc(r->pred, r->cap * sizeof *r->pred);
    r->truth = realloc(r->truth, r->cap * sizeof *r->truth);
  }
  r->pred[r->n] = pred, r->truth[r->n++] = truth;
}

/* the n examples' probabilities from slot s */
static void add_probabilities(RtReport *r, const RtProgram *p, const PgSlot *s, int64_t n) {
  int64_t width = pg_numel(&s->shape, 1), more = n * width;
  while (r->nprob + more > r->prob_cap) {
    r->prob_cap = r->prob_cap ? 2 * r->prob_cap : 1024 + more;
    r->prob = realloc(r->prob, (size_t)r->prob_cap * sizeof *r->prob);
  }
  memcpy(r->prob + r->nprob, rt_slot_buffer(p, s), (size_t)more * sizeof *r->prob);
  r->nprob += more;
  r->prob_width = width;
}

void rt_report_add(RtReport *r, const RtProgram *p, int64_t n) {
  const PgSlot *a = pg_slot_with_role(p->e, PG_SLOT_PREDICTION),
               *b = pg_slot_with_role(p->e, PG_SLOT_TRUTH),
               *probabilities = pg_slot_with_role(p->e, PG_SLOT_PROBABILITY);
  if (!a || !b) return;
  int64_t width = pg_numel(&a->shape, 1);
  r->classes = a->classes;
  r->width = width;
  for (int64_t i = 0; i < n * width; i++) append(r, value_at(p, a, i), value_at(p, b, i));
  if (r->want_probabilities && probabilities) add_probabilities(r, p, probabilities, n);
}

static void print_confusion(FILE *out, const RtReport *r) {
  int k = 0;
  for (int64_t i = 0; i < r->n; i++) k = (int)fmax(k, fmax(r->pred[i], r->truth[i]) + 1);
  int64_t *m = calloc((size_t)k * k, sizeof *m);
  for (int64_t i = 0; i < r->n; i++) m[(int64_t)r->truth[i] * k + (int64_t)r->pred[i]]++;
  fprintf(out, "confusion matrix (rows: true class, columns: predicted class)\n      ");
  for (int j = 0; j < k; j++) fprintf(out, " %6d", j);
  for (int i = 0; i < k; i++) {
    fprintf(out, "\n%6d", i);
    for (int j = 0; j < k; j++) fprintf(out, " %6lld", (long long)m[i * k + j]);
  }
  fprintf(out, "\n\n class  precision  recall      f1  support\n");
  double sum_p = 0, sum_r = 0, sum_f = 0;
  for (int c = 0; c < k; c++) {
    int64_t tp = m[c * k + c], predicted = 0, actual = 0;
    for (int j = 0; j < k; j++) predicted += m[j * k + c], actual += m[c * k + j];
    double p = predicted ? (double)tp / predicted : 0, rc = actual ? (double)tp / actual : 0;
    double f = p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
    sum_p += p, sum_r += rc, sum_f += f;
    fprintf(out, "%6d  %9.4f  %6.4f  %6.4f  %7lld\n", c, p, rc, f, (long long)actual);
  }
  fprintf(out, " macro  %9.4f  %6.4f  %6.4f  %7lld\n", sum_p / k, sum_r / k, sum_f / k, (long long)r->n);
  free(m);
}

static void print_r2(FILE *out, const RtReport *r) {
  double mean = 0, res = 0, tot = 0;
  for (int64_t i = 0; i < r->n; i++) mean += r->truth[i];
  mean /= (double)(r->n ? r->n : 1);
  for (int64_t i = 0; i < r->n; i++) {
    res += (r->truth[i] - r->pred[i]) * (r->truth[i] - r->pred[i]);
    tot += (r->truth[i] - mean) * (r->truth[i] - mean);
  }
  fprintf(out, "r2: %.4f\n", tot > 0 ? 1 - res / tot : 0.0);
}

void rt_report_print(FILE *out, const RtReport *r) {
  if (!r->n) return;
  if (r->classes) print_confusion(out, r);
  else print_r2(out, r);
}

/* the column names */
static void write_csv_header(FILE *f, const RtReport *r, const RtCsvColumns *cols) {
  const char *pred = r->classes ? "class" : "prediction", *truth = r->classes ? "label" : "target";
  for (int64_t k = 0; k < r->width; k++) fprintf(f, k ? ",%s_%lld" : "%s_%lld", pred, (long long)k);
  for (int64_t k = 0; cols->probabilities && k < r->prob_width; k++)
    fprintf(f, ",probability_%lld", (long long)k);
  for (int k = 1; k <= cols->top_k; k++) fprintf(f, ",top_%d_class,top_%d_probability", k, k);
  for (int64_t k = 0; cols->truth && k < r->width; k++) fprintf(f, ",%s_%lld", truth, (long long)k);
  fputc('\n', f);
}

/* the top_k likeliest classes of one example's probabilities p[0, width):
 * highest first, the lower class first among equals */
static void write_top_k(FILE *f, const float *p, int64_t width, int top_k) {
  float last = INFINITY;
  int64_t last_class = -1;
  for (int k = 0; k < top_k; k++) {
    int64_t best = -1;
    for (int64_t c = 0; c < width; c++) {
      bool after_last = p[c] < last || (p[c] == last && c > last_class);
      if (after_last && (best < 0 || p[c] > p[best])) best = c;
    }
    if (best < 0) { /* only NaN left */
      fputs(",,nan", f);
      continue;
    }
    fprintf(f, ",%lld,%.9g", (long long)best, p[best]);
    last = p[best], last_class = best;
  }
}

static void write_csv_row(FILE *f, const RtReport *r, const RtCsvColumns *cols, int64_t example) {
  int64_t i = example * r->width;
  const float *p = r->prob ? r->prob + example * r->prob_width : NULL; /* NULL: none asked */
  for (int64_t k = 0; k < r->width; k++) fprintf(f, k ? ",%.9g" : "%.9g", r->pred[i + k]);
  for (int64_t k = 0; cols->probabilities && k < r->prob_width; k++) fprintf(f, ",%.9g", p[k]);
  if (cols->top_k) write_top_k(f, p, r->prob_width, cols->top_k);
  for (int64_t k = 0; cols->truth && k < r->width; k++) fprintf(f, ",%.9g", r->truth[i + k]);
  fputc('\n', f);
}

/* NULL, or why r cannot give the columns cols asks for */
static const char *missing_columns(const RtReport *r, const RtCsvColumns *cols) {
  bool probabilities = cols->probabilities || cols->top_k;
  int64_t examples = r->n / (r->width ? r->width : 1);
  if (probabilities && (!r->prob_width || r->nprob != examples * r->prob_width))
    return "the model's first metric gives no probabilities (accuracy and binary_accuracy do)";
  if (cols->top_k && !(r->classes && r->width == 1 && r->prob_width > 1))
    return "--top-k needs one class per example out of several (the metric accuracy)";
  if (cols->top_k > r->prob_width) return "--top-k is more than the number of classes";
  return NULL;
}

bool rt_report_write_csv(const char *path, const RtReport *r, const RtCsvColumns *cols) {
  const char *why = missing_columns(r, cols);
  if (why) return diag_error((PgLoc){0}, "%s", why), false;
  bool to_stdout = strcmp(path, "-") == 0;
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if (!f) return diag_error((PgLoc){0}, "cannot write '%s'", path), false;
  write_csv_header(f, r, cols);
  for (int64_t e = 0; r->width && e < r->n / r->width; e++) write_csv_row(f, r, cols, e);
  bool ok = to_stdout ? fflush(f) == 0 && !ferror(f) : fclose(f) == 0;
  if (!ok) diag_error((PgLoc){0}, "cannot write '%s'", to_stdout ? "standard output" : path);
  return ok;
}

void rt_report_free(RtReport *r) {
  free(r->pred);
  free(r->truth);
  free(r->prob);
  memset(r, 0, sizeof *r);
}

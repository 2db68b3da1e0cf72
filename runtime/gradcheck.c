/* gradcheck.c — the compiled backward graph against central finite
 * differences of the compiled forward loss, on one fixed batch (dropout uses
 * one fixed seed, so the loss is a deterministic function of the weights).
 *
 * Per weight: a directional derivative along a random direction v with unit
 * norm, (L(w + eps v) - L(w - eps v)) / 2 eps against <grad, v>, which checks
 * every element at once; and the elements with the three largest gradients
 * one by one, skipping any where the loss has a kink within the step. Everything runs in float32, so eps is large enough for the
 * difference to stand well above rounding noise (about 1e-7 of the loss). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define SEED 12345

static double loss_at(RtProgram *p, int loss_slot) {
  int seed = rt_program_input(p, "seed");
  if (seed >= 0) *(int32_t *)p->io[seed] = SEED;
  rt_program_run(p, p->g->max_batch);
  return p->outputs[loss_slot];
}

static double rel_error(double a, double b) {
  double scale = fmax(fmax(fabs(a), fabs(b)), 1e-4);
  return fabs(a - b) / scale;
}

static double central(RtProgram *p, int slot, float *w, const float *v, int64_t count, double eps) {
  for (int64_t i = 0; i < count; i++) w[i] += (float)(eps * v[i]);
  double plus = loss_at(p, slot);
  for (int64_t i = 0; i < count; i++) w[i] -= (float)(2 * eps * v[i]);
  double minus = loss_at(p, slot);
  for (int64_t i = 0; i < count; i++) w[i] += (float)(eps * v[i]);
  return (plus - minus) / (2 * eps);
}

/* indices of the k largest |grad|, largest first */
static int largest(const float *grad, int64_t count, int64_t *top, int k) {
  int n = 0;
  for (int64_t i = 0; i < count; i++) {
    int at = n < k ? n++ : k;
    while (at > 0 && fabsf(grad[i]) > fabsf(grad[top[at - 1]])) {
      if (at < k) top[at] = top[at - 1];
      at--;
    }
    if (at < k) top[at] = i;
  }
  return n;
}

/* The derivative along v, or NAN where the loss is not smooth within eps
 * (a ReLU, abs or max kink): there the differences with eps and eps/2 disagree
 * by more than rounding explains, and no finite difference is meaningful. */
static double smooth_derivative(RtProgram *p, int slot, float *w, const float *v, int64_t count) {
  double d1 = central(p, slot, w, v, count, 1e-2), d2 = central(p, slot, w, v, count, 5e-3);
  return rel_error(d1, d2) > 2e-2 ? NAN : d1;
}

static double check_weight(RtProgram *p, int slot, const IrNode *w, float *data, const float *grad, RtRng *rng) {
  int64_t count = ir_numel(&w->shape, 1);
  float *saved = malloc(count * sizeof *saved), *v = calloc(count, sizeof *v);
  memcpy(saved, data, count * sizeof *saved);
  double norm = 1 / sqrt((double)count), analytic = 0, worst;
  for (int64_t i = 0; i < count; i++) {
    v[i] = (float)(rt_rng_uniform(rng) < 0.5 ? -norm : norm);
    analytic += (double)grad[i] * v[i];
  }
  double numeric = central(p, slot, data, v, count, 1e-2);
  worst = rel_error(analytic, numeric);
  printf("  %-28s direction  analytic % .6e  numeric % .6e  rel.err %.2e\n", w->name, analytic, numeric, worst);
  memset(v, 0, count * sizeof *v);
  int64_t top[8];
  int ntop = largest(grad, count, top, 8), checked = 0;
  for (int k = 0; k < ntop && checked < 3; k++) { /* the 3 largest gradients where the loss is smooth */
    v[top[k]] = 1;
    double num = smooth_derivative(p, slot, data, v, count), err = rel_error(grad[top[k]], num);
    v[top[k]] = 0;
    if (isnan(num)) {
      printf("  %-28s [%6lld]   not smooth within the step: skipped\n", w->name, (long long)top[k]);
      continue;
    }
    printf("  %-28s [%6lld]   analytic % .6e  numeric % .6e  rel.err %.2e\n", w->name, (long long)top[k],
           (double)grad[top[k]], num, err);
    worst = fmax(worst, err);
    checked++;
  }
  memcpy(data, saved, count * sizeof *saved);
  free(saved);
  free(v);
  return worst;
}

bool rt_gradcheck(RtProgram *p, const RtData *d, RtRng *rng, double tolerance, double *worst) {
  int loss = rt_program_output(p, "loss");
  rt_gather(p, d, NULL, 0, p->g->max_batch);
  printf("loss % .6f on %lld examples\n", loss_at(p, loss), (long long)p->g->max_batch);
  *worst = 0;
  for (int i = 0; i < p->g->count; i++) {
    const IrNode *w = &p->g->nodes[i];
    if (w->op != IR_OP_PARAM || w->role != IR_ROLE_WEIGHT) continue;
    char name[160];
    snprintf(name, sizeof name, "grad:%s", w->name);
    int out = rt_program_output(p, name);
    int64_t count = ir_numel(&w->shape, 1);
    float *grad = malloc(count * sizeof *grad);
    loss_at(p, loss);
    memcpy(grad, p->io[p->g->ninputs + out], count * sizeof *grad);
    *worst = fmax(*worst, check_weight(p, loss, w, p->params[w->attr[0]], grad, rng));
    free(grad);
  }
  printf("worst relative error %.2e (tolerance %.0e): %s\n", *worst, tolerance, *worst <= tolerance ? "ok" : "FAIL");
  return *worst <= tolerance;
}

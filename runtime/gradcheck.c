/* gradcheck.c — the compiled backward graph against finite differences of the
 * compiled forward loss, on one fixed batch (dropout uses one fixed seed, so
 * the loss is a deterministic function of the weights).
 *
 * Per weight, a few probes: the derivative along a random direction (every
 * element at once), the elements with the largest gradients and a few random
 * elements. A probe evaluates the loss on stencils x +- s, x +- 2s: a wide
 * step s, then steps 4 and 16 times narrower where needed.
 *
 * The loss is only piecewise smooth: ReLU, abs and max (max-pool ties among
 * them) make its derivative jump, and a difference that straddles jumps
 * measures an average slope, not the derivative at x. Where the loss is
 * smooth over a stencil, its second-order one-sided differences from the
 * left and from the right and its central differences over s and 2s all
 * estimate the same derivative; one jump within the stencil spreads them
 * apart and moves the five-point estimate by at most half that spread. So a
 * stencil counts as smooth if that spread is within half the tolerance (or
 * rounding), and an estimate is trusted from the wider of two consecutive
 * smooth stencils that agree: several jumps can hide in one stencil's
 * spread, hardly in two. Failing that, the narrowest stencil alone; failing
 * that, the compiled gradient must be one of the one-sided derivatives (of
 * a side whose differences agree on the two narrowest stencils: at a kink
 * at x, relu'(0) = 0 picks one), or the probe is skipped, and counted.
 * Weights that are exactly 0 (zero-initialised biases) are moved off 0
 * first, so that no ReLU input sits exactly at its kink (off_kinks).
 *
 * The loss is a float32 scalar of the compiled graph (it exposes no
 * per-example losses that could be summed in double): each evaluation is a
 * little off, by an amount measured per weight. Each estimate has an
 * uncertainty: three standard deviations of its rounding, half the spread of
 * its stencil (with that spread's own rounding), what the wider stencils
 * showed of kinks nearby, and the gap to the narrower stencil that confirmed
 * it. Errors are relative to the larger derivative, with the uncertainty /
 * tolerance as a floor: rounding or kinks alone do not fail a check, and a
 * wrong gradient the size of the large ones does. Differences are taken in
 * double, over steps that are powers of two (exact in float32 for most
 * weights). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define SEED 12345
#define STEP 0x1p-7        /* the widest step, times max(1, |x|) */
#define NARROWER 0x1p-2    /* each stencil's step, relative to the one before */
#define STENCILS 3
#define NOISE_STEP 0x1p-15 /* the steps that measure rounding, times max(1, |x|) */
#define TOP 4              /* largest gradients probed per weight */
#define RANDOM 4           /* random elements probed per weight */

/* Three standard deviations of rounding, in units of sigma / s, where sigma
 * is that of one evaluation of the loss: the root sum of squares of each
 * difference's coefficients on the loss values. */
#define NOISE_CENTRAL 2.9   /* five-point: sqrt(8^2 + 8^2 + 1 + 1) / 12 */
#define NOISE_ONE_SIDED 7.7 /* sqrt(3^2 + 4^2 + 1) / 2 */
#define NOISE_SPREAD 12.6   /* left - right: sqrt(6^2 + 4^2 + 4^2 + 1 + 1) / 2 */

typedef struct {
  RtProgram *p;
  const PgSlot *loss;
  double f0, tol; /* the loss at the weights checked; the tolerance */
  double sigma;   /* rounding of one evaluation of the loss (standard deviation), for this weight */
} Check;

/* what a probe moves: one element, or every element along v */
typedef struct {
  float *w;
  const float *base, *v; /* v is NULL for one element */
  int64_t at, count;
  double scale; /* steps are relative to this power of two >= max(1, |x|) */
} Line;

/* the loss at x - 2s, x - s, x, x + s, x + 2s */
typedef struct {
  double s, f[5];
} Stencil;

typedef enum { PROBE_SMOOTH, PROBE_ONE_SIDED, PROBE_KINK } Verdict;

typedef struct {
  Verdict verdict;
  double numeric, uncertainty, err;
  double s;           /* the step of the stencil that decided */
  bool narrowed;      /* a narrower stencil than the widest */
  bool from_right;    /* one-sided: which side */
  double left, right; /* at a kink: the narrowest stencil's one-sided differences */
} Probe;

typedef struct {
  int probed, checked, one_sided, skipped;
  double worst;
} Tally;

static double loss_at(RtProgram *p, const PgSlot *loss) {
  const PgSlot *seed = pg_slot_with_role(p->e, PG_SLOT_SEED);
  if (seed) *(int32_t *)rt_slot_buffer(p, seed) = SEED;
  rt_program_run(p, p->e->max_batch);
  return *(float *)rt_slot_buffer(p, loss);
}

static void move(const Line *l, double t) {
  if (!l->v) {
    l->w[l->at] = (float)(l->base[l->at] + t);
    return;
  }
  for (int64_t i = 0; i < l->count; i++) l->w[i] = (float)(l->base[i] + t * l->v[i]);
}

static void restore(const Line *l) {
  if (l->v) memcpy(l->w, l->base, l->count * sizeof *l->w);
  else l->w[l->at] = l->base[l->at];
}

static Stencil stencil(const Check *c, const Line *l, double s) {
  Stencil st = {.s = s};
  for (int k = -2; k <= 2; k++) {
    if (k) move(l, k * s);
    st.f[k + 2] = k ? loss_at(c->p, c->loss) : c->f0;
  }
  restore(l);
  return st;
}

/* second-order one-sided differences (error O(s^2), as the central one) */
static double left(const Stencil *st) {
  return (3 * st->f[2] - 4 * st->f[1] + st->f[0]) / (2 * st->s);
}

static double right(const Stencil *st) {
  return (-3 * st->f[2] + 4 * st->f[3] - st->f[4]) / (2 * st->s);
}

/* the five-point central difference, error O(s^4) */
static double estimate(const Stencil *st) {
  return (8 * (st->f[3] - st->f[1]) - (st->f[4] - st->f[0])) / (12 * st->s);
}

/* how far apart the stencil's estimates of the derivative are */
static double spread(const Stencil *st) {
  const double *f = st->f;
  double d[4] = {left(st), right(st), (f[3] - f[1]) / (2 * st->s), (f[4] - f[0]) / (4 * st->s)};
  double lo = d[0], hi = d[0];
  for (int i = 1; i < 4; i++) lo = fmin(lo, d[i]), hi = fmax(hi, d[i]);
  return hi - lo;
}

static double noise(const Check *c, double k, const Stencil *st) { return k * c->sigma / st->s; }

/* how far the estimate may be from the derivative at x: rounding, and a
 * kink within the stencil (at most half the spread it causes) */
static double uncertainty(const Check *c, const Stencil *st) {
  return noise(c, NOISE_CENTRAL, st) + (spread(st) + noise(c, NOISE_SPREAD, st)) / 2;
}

/* no kink that matters: the spread within half the tolerance, or rounding */
static bool smooth(const Check *c, const Stencil *st, double g) {
  double m = fmax(fabs(g), fabs(estimate(st)));
  return spread(st) <= c->tol / 2 * m + noise(c, NOISE_SPREAD, st);
}

/* two consecutive stencils, both smooth, whose estimates agree */
static bool trusted(const Check *c, const Stencil *a, const Stencil *b, double g) {
  double gap = fabs(estimate(a) - estimate(b));
  return smooth(c, a, g) && smooth(c, b, g) && gap <= uncertainty(c, a) + uncertainty(c, b);
}

/* g against the numeric derivative d, which may be off by u */
static Probe compared(const Check *c, double g, double d, double u, const Stencil *st) {
  double scale = fmax(fmax(fabs(g), fabs(d)), u / c->tol);
  double err = scale > 0 ? fabs(g - d) / scale : 0;
  return (Probe){PROBE_SMOOTH, d, u, err, st->s, false, false, 0, 0};
}

/* a kink within the narrowest stencil b (a is the one before): the side,
 * left then right, whose one-sided differences agree on both, if g is that
 * one-sided derivative; `near` as in probe */
static Probe one_sided(const Check *c, const Stencil *a, const Stencil *b, double g, double near) {
  double wide[2] = {left(a), right(a)}, narrow[2] = {left(b), right(b)};
  double rounded = noise(c, NOISE_ONE_SIDED, a) + noise(c, NOISE_ONE_SIDED, b);
  for (int k = 0; k < 2; k++) {
    double gap = fabs(wide[k] - narrow[k]);
    if (gap > c->tol / 2 * fmax(fabs(wide[k]), fabs(g)) + rounded) continue;
    Probe p = compared(c, g, wide[k], gap + noise(c, NOISE_ONE_SIDED, b) + near, a);
    p.verdict = PROBE_ONE_SIDED;
    p.from_right = k == 1;
    if (p.err <= c->tol) return p;
  }
  return (Probe){PROBE_KINK, NAN, 0, 0, b->s, true, false, left(b), right(b)};
}

/* The derivative of the loss along l against g: from the widest pair of
 * consecutive stencils that is trusted (the narrower one bounds the error of
 * the wider's estimate, which may hide several kinks in its spread), else
 * from the narrowest stencil alone. Kinks that a wider stencil passed over
 * showed (half its spread) may sit closer to x than any stencil resolves:
 * `near` counts them in the uncertainty. A gradient that is not finite
 * fails; a loss that is not finite makes no stencil smooth. */
static Probe probe(const Check *c, const Line *l, double g) {
  if (!isfinite(g)) return (Probe){PROBE_SMOOTH, NAN, NAN, INFINITY, STEP, false, false, 0, 0};
  Stencil st[STENCILS];
  double near = 0;
  st[0] = stencil(c, l, STEP * l->scale);
  for (int k = 1; k < STENCILS; k++) {
    st[k] = stencil(c, l, st[k - 1].s * NARROWER);
    if (trusted(c, &st[k - 1], &st[k], g)) {
      double gap = fabs(estimate(&st[k - 1]) - estimate(&st[k]));
      double u = gap + uncertainty(c, &st[k]) + near;
      Probe p = compared(c, g, estimate(&st[k - 1]), u, &st[k - 1]);
      p.narrowed = k > 1;
      return p;
    }
    near = fmax(near, spread(&st[k - 1]) / 2);
  }
  const Stencil *last = &st[STENCILS - 1];
  if (!smooth(c, last, g)) return one_sided(c, &st[STENCILS - 2], last, g, near);
  Probe p = compared(c, g, estimate(last), uncertainty(c, last) + near, last);
  p.narrowed = true;
  return p;
}

/* The standard deviation of one evaluation's rounding, from the loss at
 * x + k u along l, k = 1 .. 9, for a u too small for kinks or curvature to
 * show (x itself is left out: it may sit on a kink): the second differences
 * f(k+1) - 2 f(k) + f(k-1) are rounding alone, with 6 times its variance. */
static double rounding(const Check *c, const Line *l) {
  double f[10], sum = 0;
  for (int k = 1; k <= 9; k++) {
    move(l, k * NOISE_STEP * l->scale);
    f[k] = loss_at(c->p, c->loss);
  }
  restore(l);
  for (int k = 2; k <= 8; k++) {
    double d2 = f[k + 1] - 2 * f[k] + f[k - 1];
    sum += d2 * d2;
  }
  return sqrt(sum / 7 / 6);
}

/* the least power of two >= max(1, x) */
static double pow2_above(double x) {
  if (!(x > 1)) return 1;
  double p = ldexp(1, ilogb(x));
  return p < x ? 2 * p : p;
}

static void report(const Check *c, const char *name, const char *what, double g, const Probe *p,
                   Tally *t) {
  t->probed++;
  printf("  %-28s %-10s analytic % .6e", name, what, g);
  if (p->verdict == PROBE_KINK) {
    printf("  left % .6e  right % .6e  not smooth within %.1e: skipped\n", p->left, p->right,
           2 * p->s);
    t->skipped++;
    return;
  }
  const char *kind = p->verdict == PROBE_ONE_SIDED ? p->from_right ? "right" : "left" : "numeric";
  printf("  %-7s % .6e +- %.1e  rel.err %.2e", kind, p->numeric, p->uncertainty, p->err);
  if (p->verdict == PROBE_ONE_SIDED) printf("  (one-sided: a kink within %.1e)", 2 * p->s);
  else if (p->narrowed) printf("  (step %.1e)", p->s);
  printf("%s\n", p->err > c->tol ? "  FAIL" : "");
  t->checked++;
  t->one_sided += p->verdict == PROBE_ONE_SIDED;
  t->worst = fmax(t->worst, p->err);
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

/* the elements to probe: all of a small weight, else the TOP largest
 * gradients and RANDOM other elements */
static int chosen(const float *grad, int64_t count, RtRng *rng, int64_t *at) {
  if (count <= TOP + RANDOM) {
    for (int64_t i = 0; i < count; i++) at[i] = i;
    return (int)count;
  }
  int n = largest(grad, count, at, TOP);
  for (int tries = 0; n < TOP + RANDOM && tries < 64; tries++) {
    int64_t i = (int64_t)(rt_rng_next(rng) % (uint64_t)count), k = 0;
    while (k < n && at[k] != i) k++;
    if (k == n) at[n++] = i;
  }
  return n;
}

/* a random direction of about unit norm: every element moves by +-2^-m
 * times the step (m about log2(count) / 2), a power of two; the compiled
 * derivative along it */
static double direction(const float *grad, int64_t count, RtRng *rng, float *v) {
  float unit = ldexpf(1, -(int)lround(log2((double)count) / 2));
  double g = 0;
  for (int64_t i = 0; i < count; i++) {
    v[i] = rt_rng_uniform(rng) < 0.5 ? -unit : unit;
    g += (double)grad[i] * v[i];
  }
  return g;
}

/* the probes of one weight, given its gradient */
static void probe_weight(Check *c, const PgParam *w, float *data, const float *grad, RtRng *rng,
                         Tally *t) {
  int64_t count = pg_numel(&w->shape, 1), at[TOP + RANDOM];
  float *base = malloc(count * sizeof *base), *v = malloc(count * sizeof *v);
  memcpy(base, data, count * sizeof *base);
  double big = 0, g = direction(grad, count, rng, v);
  for (int64_t i = 0; i < count; i++) big = fmax(big, fabs(base[i]));
  int n = chosen(grad, count, rng, at);
  Line along = {data, base, v, 0, count, pow2_above(big)};
  Line one = {data, base, NULL, at[0], count, pow2_above(fabs(base[at[0]]))};
  /* measured along two lines: the loss may not change at all along one */
  double along_sigma = rounding(c, &along);
  double one_sigma = rounding(c, &one);
  c->sigma = fmax(fmax(along_sigma, one_sigma), FLT_EPSILON / 8 * fabs(c->f0));
  Probe p = probe(c, &along, g);
  report(c, w->name, "direction", g, &p, t);
  for (int k = 0; k < n; k++) {
    char what[32];
    snprintf(what, sizeof what, "[%6lld]", (long long)at[k]);
    one.at = at[k];
    one.scale = pow2_above(fabs(base[at[k]]));
    p = probe(c, &one, grad[at[k]]);
    report(c, w->name, what, grad[at[k]], &p, t);
  }
  free(base);
  free(v);
}

/* the gradient slot of weight w: f32, w's shape; NULL after a diagnostic */
static const PgSlot *grad_slot(const PgEntry *e, const PgParam *w) {
  for (int i = 0; i < e->nslots; i++) {
    const PgSlot *o = &e->slots[i];
    if (o->role == PG_SLOT_GRADIENT && strcmp(o->of, w->name) == 0 && o->dtype == PG_F32 &&
        pg_shape_eq(&o->shape, &w->shape))
      return o;
  }
  diag_error(w->loc, "the graph has no gradient output with the type of weight '%s'", w->name);
  return NULL;
}

static bool is_weight(const PgParam *n) { return n->role == PG_ROLE_WEIGHT; }

/* the loss slot of e, if gradcheck can run e: a grad entry (a train entry
 * would change its weights at every evaluation), a scalar loss and a
 * gradient output for every weight; NULL after diagnostics */
static const PgSlot *checkable(const PgEntry *e) {
  if (e->kind == PG_ENTRY_TRAIN)
    return diag_error((PgLoc){0}, "gradcheck needs a grad graph; %s assigns its parameters",
                      e->name),
           NULL;
  const PgSlot *loss = pg_slot_with_role(e, PG_SLOT_LOSS);
  if (!loss || loss->shape.rank != 0 || loss->dtype != PG_F32)
    return diag_error((PgLoc){0}, "the graph has no scalar f32 output 'loss'"), NULL;
  bool ok = true;
  for (int i = 0; i < e->nparams; i++)
    if (is_weight(&e->params[i]) && !grad_slot(e, &e->params[i])) ok = false;
  return ok ? loss : NULL;
}

/* Elements that are exactly 0 (zero-initialised biases) move to a random
 * +-[2^-5, 2^-4]: at 0, every ReLU input over an image's zero border, or
 * after a layer that is all 0 for an example, sits exactly at its kink,
 * where the loss has no derivative to check. (Such kinks can conspire: along
 * a direction, units that switch on to the left and to the right can add up
 * to a straight line, whose slope no subgradient convention gives.) */
static int64_t off_kinks(RtProgram *p, RtRng *rng) {
  int64_t moved = 0;
  for (int i = 0; i < p->e->nparams; i++) {
    const PgParam *w = &p->e->params[i];
    if (!is_weight(w)) continue;
    float *data = p->params[w->slot];
    for (int64_t k = 0; k < pg_numel(&w->shape, 1); k++) {
      if (data[k] != 0) continue;
      double sign = rt_rng_uniform(rng) < 0.5 ? -1 : 1;
      double size = 1 + rt_rng_uniform(rng);
      data[k] = (float)(sign * size / 32);
      moved++;
    }
  }
  return moved;
}

static void print_tally(const Tally *t) {
  printf("%d probed, %d checked (%d one-sided, at a kink), %d skipped (not smooth)", t->probed,
         t->checked, t->one_sided, t->skipped);
}

/* weight w against its gradient output `out`; its tally added to `all` */
static void check_weight(Check *c, const PgParam *w, const PgSlot *out, RtRng *rng, Tally *all) {
  int64_t count = pg_numel(&w->shape, 1);
  if (count < 1) return;
  RtProgram *p = c->p;
  float *grad = malloc(count * sizeof *grad);
  loss_at(p, c->loss); /* the probes of the weights before overwrote the gradients */
  memcpy(grad, rt_slot_buffer(p, out), count * sizeof *grad);
  Tally t = {0};
  probe_weight(c, w, p->params[w->slot], grad, rng, &t);
  free(grad);
  printf("  %-28s ", w->name);
  print_tally(&t);
  printf("; worst rel.err %.2e (loss rounding %.1e)\n", t.worst, c->sigma);
  all->probed += t.probed;
  all->checked += t.checked;
  all->one_sided += t.one_sided;
  all->skipped += t.skipped;
  all->worst = fmax(all->worst, t.worst);
}

bool rt_gradcheck(RtProgram *p, const RtData *d, RtRng *rng, double tolerance, double *worst) {
  const PgSlot *loss = checkable(p->e);
  if (!loss) return false;
  rt_gather(p, d, NULL, 0, p->e->max_batch);
  int64_t moved = off_kinks(p, rng);
  Check c = {p, loss, 0, tolerance, 0};
  c.f0 = loss_at(p, c.loss);
  printf("loss % .6f on %lld examples (zero weights moved off 0: %lld)\n", c.f0,
         (long long)p->e->max_batch, (long long)moved);
  Tally all = {0};
  for (int i = 0; i < p->e->nparams; i++) {
    const PgParam *w = &p->e->params[i];
    if (is_weight(w)) check_weight(&c, w, grad_slot(p->e, w), rng, &all);
  }
  *worst = all.worst;
  print_tally(&all);
  bool ok = all.checked > 0 && all.worst <= tolerance;
  const char *verdict = ok ? "ok" : all.checked ? "FAIL" : "FAIL (nothing could be checked)";
  printf("\nworst relative error %.2e (tolerance %.0e): %s\n", all.worst, tolerance, verdict);
  return ok;
}

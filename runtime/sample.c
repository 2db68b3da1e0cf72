/* sample.c — the next token of a language model from its scores at one
 * position: softmax(scores / temperature), kept to the k highest (top-k; 0:
 * all), drawn with the seeded RNG; temperature 0 is greedy (the highest
 * score, the first of equals). Scores that are not finite get no chance. */
#include <math.h>
#include <stdlib.h>

#include "runtime.h"

static int32_t argmax(const float *scores, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (scores[i] > scores[best] || !isfinite(scores[best])) best = i;
  return best;
}

/* the k-th highest finite score: the threshold of top-k (-inf: keep all) */
static double kth_highest(const float *scores, int32_t n, int32_t k) {
  if (k <= 0 || k >= n) return -INFINITY;
  double *sorted = malloc((size_t)n * sizeof *sorted);
  if (!sorted) return -INFINITY;
  int32_t m = 0;
  for (int32_t i = 0; i < n; i++)
    if (isfinite(scores[i])) sorted[m++] = scores[i];
  double t = -INFINITY;
  for (int32_t r = 0; r < k && r < m; r++) { /* k passes of selection: k, n are small */
    int32_t best = r;
    for (int32_t i = r + 1; i < m; i++)
      if (sorted[i] > sorted[best]) best = i;
    double top = sorted[best];
    sorted[best] = sorted[r];
    sorted[r] = top;
    t = top;
  }
  free(sorted);
  return t;
}

int32_t rt_sample(const float *scores, int32_t n, double temperature, int32_t top_k, RtRng *rng) {
  if (temperature <= 0) return argmax(scores, n);
  double threshold = kth_highest(scores, n, top_k), top = scores[argmax(scores, n)], total = 0;
  for (int32_t i = 0; i < n; i++)
    if (isfinite(scores[i]) && scores[i] >= threshold)
      total += exp((scores[i] - top) / temperature);
  double u = rt_rng_uniform(rng) * total;
  int32_t last = argmax(scores, n);
  for (int32_t i = 0; i < n; i++) {
    if (!isfinite(scores[i]) || scores[i] < threshold) continue;
    last = i;
    u -= exp((scores[i] - top) / temperature);
    if (u < 0) return i;
  }
  return last;
}

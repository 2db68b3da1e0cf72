/* softsign.c — a custom operator for the extern tests: softsign(x) = x / (1 + |x|),
 * and its derivative 1 / (1 + |x|)^2. Built by the tests with
 * cc -shared -fPIC -o libsoftsign.so softsign.c */
#include <math.h>

float softsign(float x) { return x / (1.0f + fabsf(x)); }

float softsign_grad(float x) {
  float d = 1.0f + fabsf(x);
  return 1.0f / (d * d);
}

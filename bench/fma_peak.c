/* fma_peak.c: measures this machine's single-thread fp32 FMA peak, for bench/peak.py.
 *
 * A probe for the benchmarks, not part of nnd (nnd's kernels all come from LLVM): it runs
 * CHAINS independent chains of vector multiply-adds, acc = acc * m + a, long enough that
 * the loop is bound by the FMA units' throughput rather than by one FMA's latency (Zen 4 and
 * Ice Lake: latency 4, two pipes, so 8 chains would do; CHAINS leaves a margin). Each FMA
 * counts 2 flops per lane. It times two vector widths (the widest the compiler targets and
 * half of it: a 512-bit FMA is not faster than two 256-bit ones on every AVX-512 CPU) and
 * prints one JSON line with the faster. The inputs come from argv so that nothing folds,
 * and the result is printed so that nothing is dropped; m < 1 keeps the values finite.
 *
 * Build: cc -O2 -march=native -ffp-contract=fast (bench/peak.py does, once, into bench/.cache).
 * usage: fma_peak [ITERATIONS [TRIALS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
#define WIDE 16
#elif defined(__AVX__)
#define WIDE 8
#else
#define WIDE 4
#endif
#define NARROW (WIDE / 2)
#define CHAINS 12

typedef float VecWide __attribute__((vector_size(WIDE * sizeof(float))));
typedef float VecNarrow __attribute__((vector_size(NARROW * sizeof(float))));

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One timed run of the chains at one width; returns the seconds, adds the lanes to *sink. */
#define DEFINE_CHAINS(NAME, VEC, LANES)                                                    \
    static double NAME(long iterations, float m, float a, double *sink) {                  \
        VEC acc[CHAINS];                                                                   \
        VEC vm = (VEC){0} + m;                                                             \
        VEC va = (VEC){0} + a;                                                             \
        for (int c = 0; c < CHAINS; c++)                                                   \
            acc[c] = (VEC){0} + (float)c;                                                  \
        double start = now_seconds();                                                      \
        for (long i = 0; i < iterations; i++) {                                            \
            _Pragma("GCC unroll 16") /* every chain in its own register */                 \
            for (int c = 0; c < CHAINS; c++)                                               \
                acc[c] = acc[c] * vm + va;                                                 \
        }                                                                                  \
        double seconds = now_seconds() - start;                                            \
        for (int c = 0; c < CHAINS; c++)                                                   \
            for (int lane = 0; lane < LANES; lane++)                                       \
                *sink += acc[c][lane];                                                     \
        return seconds;                                                                    \
    }

DEFINE_CHAINS(run_wide, VecWide, WIDE)
DEFINE_CHAINS(run_narrow, VecNarrow, NARROW)

/* The best of trials runs at one width, in GFLOP/s. */
static double best_gflops(int wide, long iterations, int trials, float m, double *sink) {
    double best = 0.0;
    int lanes = wide ? WIDE : NARROW;
    double flops = 2.0 * CHAINS * lanes * (double)iterations;
    for (int t = 0; t < trials; t++) {
        double seconds = wide ? run_wide(iterations, m, 1.0f - m, sink)
                              : run_narrow(iterations, m, 1.0f - m, sink);
        double rate = flops / seconds * 1e-9;
        if (rate > best)
            best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 50000000L;
    int trials = argc > 2 ? atoi(argv[2]) : 5;
    if (iterations < 1 || trials < 1) {
        fprintf(stderr, "usage: fma_peak [ITERATIONS [TRIALS]] (both positive)\n");
        return 2;
    }
    float m = (float)(argc > 3 ? atof(argv[3]) : 0.999);
    double sink = 0.0;
    double wide = best_gflops(1, iterations, trials, m, &sink);
    double narrow = best_gflops(0, iterations, trials, m, &sink);
    int wide_wins = wide >= narrow;
    printf("{\"gflops\": %.2f, \"bits\": %d, \"gflops_%d_bit\": %.2f, \"gflops_%d_bit\": %.2f,"
           " \"chains\": %d, \"sink\": %.3g}\n",
           wide_wins ? wide : narrow, (wide_wins ? WIDE : NARROW) * 32, WIDE * 32, wide,
           NARROW * 32, narrow, CHAINS, sink);
    return 0;
}

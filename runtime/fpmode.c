/* fpmode.c — the floating-point mode generated code runs in.
 *
 * By default every thread that runs generated code flushes subnormal results
 * to zero and reads subnormal operands as zero (x86 MXCSR FTZ and DAZ, as
 * TensorFlow does): optimizer moments decaying toward zero would otherwise
 * become subnormals, which cost ~100 cycles per operation on Intel cores.
 * The calling thread gets the mode for the duration of each step only (the
 * caller's own arithmetic keeps IEEE subnormals); pool workers, which run
 * nothing but generated code, keep it for their lifetime. */
#include "runtime.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FLUSH_BITS 0x8040u /* FTZ (bit 15) | DAZ (bit 6) */
#endif

static bool flush_denormals = true;

void rt_fp_set_flush_denormals(bool on) { flush_denormals = on; }

unsigned rt_fp_enter(void) {
#if defined(FLUSH_BITS)
  unsigned saved = _mm_getcsr();
  if (flush_denormals) _mm_setcsr(saved | FLUSH_BITS);
  return saved;
#else
  return 0;
#endif
}

void rt_fp_leave(unsigned saved) {
#if defined(FLUSH_BITS)
  _mm_setcsr(saved);
#else
  (void)saved;
#endif
}

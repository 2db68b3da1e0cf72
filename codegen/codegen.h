/* codegen.h — IR graphs to native code through LLVM (the only folder that
 * includes llvm-c/). Each fused kernel of a graph becomes one LLVM function;
 * one step function per graph calls them in schedule order. Modules are
 * optimised at O3 for the host CPU and JIT-compiled with ORC LLJIT.
 *
 * Step function ABI:
 *   void step(char *arena, float **params, void **io, int64_t n)
 *   arena:  g->arena_bytes of scratch (64-byte aligned), contents undefined
 *   params: params[slot] = the buffer of PARAM node with that slot
 *   io:     io[slot] = buffer of INPUT slot (0..ninputs-1), then of OUTPUT
 *           slot (ninputs + slot)
 *   n:      rows in this batch, 1 <= n <= g->max_batch
 * With numerics checks, io[ninputs + noutputs] points to an int32 that must
 * be -1 before the call; the step sets it to the id of the first node whose
 * stored result holds a NaN or an infinity, and stops there.
 * With profiling, io[ninputs + noutputs + 1] points to nkernels int64s to
 * which the step adds the cycles (CPU timestamp counter) each kernel took. */
#ifndef NND_CODEGEN_H
#define NND_CODEGEN_H

#include <stdio.h>

#include "../ir/ir.h"

typedef void (*CgStepFn)(char *arena, float **params, void **io, int64_t n);
typedef struct CgJit CgJit;

CgJit *cg_jit_new(void);
/* From now on, compile finiteness checks after every kernel (see above). */
void cg_jit_check_numerics(CgJit *jit, bool on);
/* From now on, count the cycles of each kernel (see above). */
void cg_jit_profile(CgJit *jit, bool on);
/* From now on, with threads > 1, run big kernels in parts through the
 * runtime's nnd_parallel_for (results do not depend on the thread count). */
void cg_jit_threads(CgJit *jit, int threads);
void cg_jit_free(CgJit *jit);
/* Compiles a fused and planned graph; NULL after a diagnostic. */
CgStepFn cg_jit_compile(CgJit *jit, const IrGraph *g, const char *symbol);
/* Prints the optimised LLVM IR of a fused and planned graph. */
bool cg_print_llvm(FILE *out, const IrGraph *g, const char *symbol, bool check_numerics, int threads);
/* Seconds spent in LLVM optimisation and in JIT code generation so far. */
void cg_jit_times(const CgJit *jit, double *opt_s, double *jit_s);

#endif

/* codegen.h — IR graphs to native code through LLVM (the only folder that
 * includes llvm-c/). Each fused kernel of a graph becomes one LLVM function;
 * one step function per graph calls them in schedule order. Modules are
 * optimised at O3 for the host CPU and JIT-compiled with ORC LLJIT.
 *
 * The step function has the ABI program/program.h describes; cg_describe
 * gives the manifest that goes with it. */
#ifndef NND_CODEGEN_H
#define NND_CODEGEN_H

#include <stdio.h>

#include "../ir/ir.h"
#include "../program/program.h"

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
/* From now on, calls of `symbol` (an extern function) go to `address`, before
 * anything of that name in the process. False after a diagnostic. */
bool cg_jit_define(CgJit *jit, const char *symbol, void *address);
/* Compiles a fused and planned graph; NULL after a diagnostic. */
PgStepFn cg_jit_compile(CgJit *jit, const IrGraph *g, const char *symbol);
/* The manifest of a fused and planned graph (program/program.h), with the
 * debug tables if `debug`; its step is left NULL. False without memory. */
bool cg_describe(const IrGraph *g, bool debug, PgEntry *out);
/* Prints the optimised LLVM IR of a fused and planned graph. */
bool cg_print_llvm(FILE *out, const IrGraph *g, const char *symbol, bool check_numerics, int threads);
/* Seconds spent in LLVM optimisation and in JIT code generation so far. */
void cg_jit_times(const CgJit *jit, double *opt_s, double *jit_s);

#endif

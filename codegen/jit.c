/* jit.c — the cpu-jit target's last step: modules optimised for the host CPU
 * (target.c) are JIT-compiled with ORC LLJIT, which resolves libm calls (expf,
 * logf) and the runtime's nnd_parallel_for from the process, and a model's
 * extern functions at the addresses the driver found in their libraries
 * (cg_jit_define). LLVM errors
 * become diagnostics here. */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "emit.h"

struct CgJit {
  LLVMOrcLLJITRef jit;
  LLVMOrcThreadSafeContextRef tsc;
  double opt_s, jit_s;
  CgOptions opt;
  CgTarget target; /* cpu-jit: the host */
};

void cg_jit_check_numerics(CgJit *j, bool on) { j->opt.check_numerics = on; }
void cg_jit_profile(CgJit *j, bool on) { j->opt.profile = on; }
void cg_jit_threads(CgJit *j, int threads) { j->opt.threads = threads; }
void cg_jit_poison(CgJit *j, bool on) { j->opt.poison = on; }

CgJit *cg_jit_new(void) {
  CgJit *j = calloc(1, sizeof *j);
  if (!j || !cg_target_init(&j->target, CG_CPU_JIT, NULL, NULL)) return free(j), NULL;
  j->opt.vectors = cg_target_vectors(&j->target);
  LLVMOrcJITTargetMachineBuilderRef jtmb;
  if (!cg_llvm_check(LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb), "detecting the host")) {
    cg_jit_free(j);
    return NULL;
  }
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  if (!cg_llvm_check(LLVMOrcCreateLLJIT(&j->jit, builder), "creating the JIT")) {
    j->jit = NULL;
    cg_jit_free(j);
    return NULL;
  }
  LLVMOrcDefinitionGeneratorRef gen;
  if (!cg_llvm_check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
                 &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL),
             "opening the process's symbols")) {
    cg_jit_free(j);
    return NULL;
  }
  LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
  j->tsc = LLVMOrcCreateNewThreadSafeContext();
  return j;
}

void cg_jit_free(CgJit *j) {
  if (!j) return;
  if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
  if (j->tsc) LLVMOrcDisposeThreadSafeContext(j->tsc);
  cg_target_free(&j->target);
  free(j);
}

bool cg_jit_define(CgJit *j, const char *symbol, void *address) {
  LLVMJITSymbolFlags flags = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable,
                              0};
  LLVMOrcCSymbolMapPair pair = {LLVMOrcLLJITMangleAndIntern(j->jit, symbol),
                                {(LLVMOrcExecutorAddress)(uintptr_t)address, flags}};
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(&pair, 1);
  LLVMErrorRef err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(j->jit), mu);
  if (err) LLVMOrcDisposeMaterializationUnit(mu); /* still ours when the definition failed */
  return cg_llvm_check(err, "defining an extern function");
}

static bool ready(const IrGraph *g) {
  if (g->nkernels > 0 && g->max_batch > 0) return true;
  diag_error((PgLoc){0}, "codegen needs a fused and planned graph: run the passes fuse,plan first");
  return false;
}

PgStepFn cg_jit_compile(CgJit *j, const IrGraph *g, const char *symbol) {
  if (!ready(g)) return NULL;
  double t0 = pg_seconds();
  LLVMModuleRef mod = cg_build_module(LLVMOrcThreadSafeContextGetContext(j->tsc), g, symbol, &j->opt);
  if (!cg_target_optimise(&j->target, mod)) {
    LLVMDisposeModule(mod);
    return NULL;
  }
  double t1 = pg_seconds();
  j->opt_s += t1 - t0;
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, j->tsc);
  LLVMOrcExecutorAddress addr = 0;
  LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(j->jit);
  if (!cg_llvm_check(LLVMOrcLLJITAddLLVMIRModule(j->jit, dylib, tsm), "adding a module")) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    return NULL;
  }
  if (!cg_llvm_check(LLVMOrcLLJITLookup(j->jit, &addr, symbol), "compiling")) return NULL;
  j->jit_s += pg_seconds() - t1;
  return (PgStepFn)(uintptr_t)addr;
}

bool cg_print_llvm(FILE *out, const IrGraph *g, const char *symbol, bool check_numerics, int threads) {
  if (!ready(g)) return false;
  CgTarget host;
  if (!cg_target_init(&host, CG_CPU_JIT, NULL, NULL)) return false;
  LLVMContextRef ctx = LLVMContextCreate();
  CgOptions opt = {.check_numerics = check_numerics, .threads = threads,
                   .vectors = cg_target_vectors(&host)};
  LLVMModuleRef mod = cg_build_module(ctx, g, symbol, &opt);
  bool ok = cg_target_optimise(&host, mod);
  cg_target_free(&host);
  if (ok) {
    char *text = LLVMPrintModuleToString(mod);
    fputs(text, out);
    LLVMDisposeMessage(text);
  }
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return ok;
}

void cg_jit_times(const CgJit *j, double *opt_s, double *jit_s) {
  *opt_s = j->opt_s;
  *jit_s = j->jit_s;
}

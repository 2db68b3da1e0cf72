/* jit.c — optimisation and JIT compilation: O3 for the host CPU (its name and
 * features are written on every function, so the optimiser's cost model and
 * the JIT's code generator agree), then ORC LLJIT, which resolves libm calls
 * (expf, logf) from the process, and a model's extern functions at the
 * addresses the driver found in their libraries (cg_jit_define). LLVM errors
 * become diagnostics here. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "emit.h"

struct CgJit {
  LLVMOrcLLJITRef jit;
  LLVMOrcThreadSafeContextRef tsc;
  double opt_s, jit_s;
  CgOptions opt;
};

void cg_jit_check_numerics(CgJit *j, bool on) { j->opt.check_numerics = on; }
void cg_jit_profile(CgJit *j, bool on) { j->opt.profile = on; }
void cg_jit_threads(CgJit *j, int threads) { j->opt.threads = threads; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool check(LLVMErrorRef err, const char *what) {
  if (!err) return true;
  char *msg = LLVMGetErrorMessage(err);
  diag_error((PgLoc){0}, "LLVM: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

static void init_llvm(void) {
  static bool done;
  if (done) return;
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  done = true;
}

static LLVMTargetMachineRef host_machine(char **cpu, char **features) {
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
  LLVMTargetRef target;
  LLVMTargetMachineRef tm = NULL;
  *cpu = LLVMGetHostCPUName();
  *features = LLVMGetHostCPUFeatures();
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    diag_error((PgLoc){0}, "LLVM: no target for %s: %s", triple, err);
    LLVMDisposeMessage(err);
  } else {
    tm = LLVMCreateTargetMachine(target, triple, *cpu, *features, LLVMCodeGenLevelAggressive,
                                 LLVMRelocDefault, LLVMCodeModelJITDefault);
  }
  LLVMDisposeMessage(triple);
  return tm;
}

static void mark_host(LLVMModuleRef mod, const char *cpu, const char *features) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, "target-cpu", 10, cpu, strlen(cpu)));
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, "target-features", 15, features, strlen(features)));
  }
}

/* verify and run O3 for the host; false after a diagnostic */
static bool optimise(LLVMModuleRef mod) {
  char *cpu, *features, *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    diag_error((PgLoc){0}, "internal error: generated LLVM IR is invalid: %s", msg);
    LLVMDisposeMessage(msg);
    return false;
  }
  LLVMDisposeMessage(msg);
  LLVMTargetMachineRef tm = host_machine(&cpu, &features);
  bool ok = tm != NULL;
  if (ok) {
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(mod, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, layout);
    LLVMDisposeTargetData(layout);
    mark_host(mod, cpu, features);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    ok = check(LLVMRunPasses(mod, "default<O3>", tm, opts), "optimising");
    LLVMDisposePassBuilderOptions(opts);
    LLVMDisposeTargetMachine(tm);
  }
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  return ok;
}

CgJit *cg_jit_new(void) {
  init_llvm();
  CgJit *j = calloc(1, sizeof *j);
  LLVMOrcJITTargetMachineBuilderRef jtmb;
  if (!check(LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb), "detecting the host")) return free(j), NULL;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  if (!check(LLVMOrcCreateLLJIT(&j->jit, builder), "creating the JIT")) return free(j), NULL;
  LLVMOrcDefinitionGeneratorRef gen;
  if (!check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
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
  return check(err, "defining an extern function");
}

static bool ready(const IrGraph *g) {
  if (g->nkernels > 0 && g->max_batch > 0) return true;
  diag_error((PgLoc){0}, "codegen needs a fused and planned graph: run the passes fuse,plan first");
  return false;
}

PgStepFn cg_jit_compile(CgJit *j, const IrGraph *g, const char *symbol) {
  if (!ready(g)) return NULL;
  double t0 = now();
  LLVMModuleRef mod = cg_build_module(LLVMOrcThreadSafeContextGetContext(j->tsc), g, symbol, &j->opt);
  if (!optimise(mod)) {
    LLVMDisposeModule(mod);
    return NULL;
  }
  double t1 = now();
  j->opt_s += t1 - t0;
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, j->tsc);
  LLVMOrcExecutorAddress addr = 0;
  if (!check(LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm), "adding a module")) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    return NULL;
  }
  if (!check(LLVMOrcLLJITLookup(j->jit, &addr, symbol), "compiling")) return NULL;
  j->jit_s += now() - t1;
  return (PgStepFn)(uintptr_t)addr;
}

bool cg_print_llvm(FILE *out, const IrGraph *g, const char *symbol, bool check_numerics, int threads) {
  if (!ready(g)) return false;
  init_llvm();
  LLVMContextRef ctx = LLVMContextCreate();
  CgOptions opt = {check_numerics, false, threads};
  LLVMModuleRef mod = cg_build_module(ctx, g, symbol, &opt);
  bool ok = optimise(mod);
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

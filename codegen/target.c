/* target.c — the code-generation targets: a triple, a CPU and its features,
 * and how a module is finished. `cpu-jit` optimises for the host CPU and
 * leaves the module to ORC LLJIT (jit.c); `cpu-object` optimises for any
 * triple this LLVM was built with and writes an ELF object. Both run the same
 * O3 pipeline, with the CPU's name and features written on every function so
 * that the optimiser's cost model and the code generator agree. LLVM errors
 * become diagnostics here. */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "emit.h"

bool cg_llvm_check(LLVMErrorRef err, const char *what) {
  if (!err) return true;
  char *msg = LLVMGetErrorMessage(err);
  diag_error((PgLoc){0}, "LLVM: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

/* the JIT needs only the host's backend; an object may be for any triple */
void cg_llvm_init(bool all_targets) {
  static bool native, all;
  if (!native) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    native = true;
  }
  if (all_targets && !all) {
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    all = true;
  }
}

static char *own(char *llvm_message) {
  char *copy = strdup(llvm_message ? llvm_message : "");
  LLVMDisposeMessage(llvm_message);
  return copy;
}

/* whether a features string ("+sse2,+avx,-avx2,...") turns `name` on */
static bool has_feature(const char *features, const char *name) {
  size_t n = strlen(name);
  for (const char *p = features; (p = strstr(p, name)); p += n)
    if (p > features && p[-1] == '+' && (p[n] == ',' || p[n] == 0)) return true;
  return false;
}

/* x86: AVX-512 has 32 registers of 16 floats, AVX 16 of 8, SSE 16 of 4;
 * AArch64 has 32 of 4 (NEON). A named CPU without a features string gets its
 * triple's baseline: the tiles are then smaller than it could take. */
CgVectors cg_target_vectors(const CgTarget *t) {
  bool x86 = strncmp(t->triple, "x86_64", 6) == 0 || strncmp(t->triple, "i686", 4) == 0;
  if (x86 && has_feature(t->features, "avx512f")) return (CgVectors){16, 32};
  if (x86 && has_feature(t->features, "avx")) return (CgVectors){8, 16};
  if (strncmp(t->triple, "aarch64", 7) == 0) return (CgVectors){4, 32};
  return (CgVectors){4, 16};
}

void cg_print_host(FILE *out) {
  unsigned major, minor, patch;
  LLVMGetVersion(&major, &minor, &patch);
  fprintf(out, "LLVM %u.%u.%u\n", major, minor, patch);
  CgTarget host;
  if (!cg_target_init(&host, CG_CPU_JIT, NULL, NULL)) return;
  CgVectors v = cg_target_vectors(&host);
  fprintf(out, "host: %s, CPU %s, %d vector registers of %d floats\nfeatures: %s\n", host.triple,
          host.cpu, v.registers, v.lanes, host.features);
  cg_target_free(&host);
}

/* the families of x86 features above each level NND_ISA can hold the JIT to */
static const char *const above_avx2[] = {"avx512", "amx", NULL};
static const char *const above_sse[] = {"avx", "fma", "f16c", "amx", "vaes", "vpclmulqdq", "xop",
                                        NULL};

/* features with every "+NAME..." whose NAME starts as one of `off` turned to "-" */
static void turn_off(char *features, const char *const *off) {
  for (char *p = features; *p; p++) {
    if (*p != '+' || (p > features && p[-1] != ',')) continue;
    for (int i = 0; off[i]; i++)
      if (!strncmp(p + 1, off[i], strlen(off[i]))) *p = '-';
  }
}

/* NND_ISA=avx2|sse holds the JIT to that x86 level on a CPU that has more
 * (to test and time the code a smaller machine gets); unset or native: all
 * of the host's features. False after a diagnostic for another value. */
static bool hold_isa(CgTarget *t) {
  const char *isa = getenv("NND_ISA");
  if (!isa || !*isa || !strcmp(isa, "native")) return true;
  bool x86 = strncmp(t->triple, "x86_64", 6) == 0;
  if (x86 && !strcmp(isa, "avx2")) return turn_off(t->features, above_avx2), true;
  if (x86 && !strcmp(isa, "sse")) return turn_off(t->features, above_sse), true;
  diag_error((PgLoc){0}, "NND_ISA='%s': expected native%s", isa, x86 ? ", avx2 or sse" : "");
  return false;
}

/* the host's triple, CPU and features, or `triple` (normalised) with `cpu`
 * ("generic" if not given; a named CPU implies its features) */
static void choose_machine(CgTarget *t, const char *triple, const char *cpu) {
  char *host = LLVMGetDefaultTargetTriple();
  t->triple = triple ? own(LLVMNormalizeTargetTriple(triple)) : strdup(host);
  bool native = strcmp(t->triple, host) == 0 && !cpu;
  LLVMDisposeMessage(host);
  t->cpu = native ? own(LLVMGetHostCPUName()) : strdup(cpu ? cpu : "generic");
  t->features = native ? own(LLVMGetHostCPUFeatures()) : strdup("");
}

bool cg_target_init(CgTarget *t, CgTargetKind kind, const char *triple, const char *cpu) {
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->name = kind == CG_CPU_JIT ? "cpu-jit" : "cpu-object";
  t->threads = kind == CG_CPU_JIT; /* an object has no runtime to import a thread pool from */
  cg_llvm_init(kind == CG_CPU_OBJECT);
  choose_machine(t, kind == CG_CPU_JIT ? NULL : triple, kind == CG_CPU_JIT ? NULL : cpu);
  if (!t->triple || !t->cpu || !t->features) return diag_error((PgLoc){0}, "out of memory"), false;
  if (kind == CG_CPU_JIT && !hold_isa(t)) return cg_target_free(t), false;
  char *err = NULL;
  LLVMTargetRef target;
  if (!LLVMGetTargetFromTriple(t->triple, &target, &err)) return LLVMDisposeMessage(err), true;
  diag_error((PgLoc){0}, "no code generator for the target '%s': %s", t->triple, err);
  LLVMDisposeMessage(err);
  cg_target_free(t);
  return false;
}

void cg_target_free(CgTarget *t) {
  free(t->triple);
  free(t->cpu);
  free(t->features);
  t->triple = t->cpu = t->features = NULL;
}

/* NULL after a diagnostic (cg_target_init checked the triple) */
static LLVMTargetMachineRef machine(const CgTarget *t) {
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
    diag_error((PgLoc){0}, "no code generator for the target '%s': %s", t->triple, err);
    LLVMDisposeMessage(err);
    return NULL;
  }
  bool jit = t->kind == CG_CPU_JIT;
  return LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features, LLVMCodeGenLevelAggressive,
                                 jit ? LLVMRelocDefault : LLVMRelocPIC,
                                 jit ? LLVMCodeModelJITDefault : LLVMCodeModelDefault);
}

static void mark_cpu(LLVMModuleRef mod, const char *cpu, const char *features) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(ctx, "target-cpu", 10, cpu, strlen(cpu)));
    LLVMAddAttributeAtIndex(
        f, LLVMAttributeFunctionIndex,
        LLVMCreateStringAttribute(ctx, "target-features", 15, features, strlen(features)));
  }
}

static bool verify(LLVMModuleRef mod) {
  char *msg = NULL;
  bool bad = LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg);
  if (bad) diag_error((PgLoc){0}, "internal error: generated LLVM IR is invalid: %s", msg);
  LLVMDisposeMessage(msg);
  return !bad;
}

static bool run_o3(LLVMModuleRef mod, LLVMTargetMachineRef tm) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(mod, layout);
  LLVMDisposeTargetData(layout);
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
  bool ok = cg_llvm_check(LLVMRunPasses(mod, "default<O3>", tm, opts), "optimising");
  LLVMDisposePassBuilderOptions(opts);
  return ok;
}

bool cg_target_optimise(const CgTarget *t, LLVMModuleRef mod) {
  if (!verify(mod)) return false;
  LLVMTargetMachineRef tm = machine(t);
  if (!tm) return false;
  mark_cpu(mod, t->cpu, t->features);
  bool ok = run_o3(mod, tm);
  LLVMDisposeTargetMachine(tm);
  return ok;
}

bool cg_target_emit(const CgTarget *t, LLVMModuleRef mod, const char *path) {
  LLVMTargetMachineRef tm = machine(t);
  if (!tm) return false;
  char *err = NULL;
  /* the C API takes a non-const file name */
  bool bad = LLVMTargetMachineEmitToFile(tm, mod, (char *)path, LLVMObjectFile, &err);
  if (bad) diag_error((PgLoc){0}, "cannot write the object file '%s': %s", path, err);
  LLVMDisposeMessage(err);
  LLVMDisposeTargetMachine(tm);
  return !bad;
}

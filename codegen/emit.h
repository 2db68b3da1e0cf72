/* emit.h — internal to codegen/: the state shared by module.c (step function,
 * kernel signatures) and kernels.c (the loop nests of each op). */
#ifndef NND_CODEGEN_EMIT_H
#define NND_CODEGEN_EMIT_H

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>

#include "codegen.h"

/* BUF_DATA: a tensor constant (iota, data), a read-only array in the module */
typedef enum { BUF_ARENA, BUF_PARAM, BUF_IO, BUF_DATA } BufKind;

typedef struct {
  BufKind kind;
  int64_t index; /* arena offset, param slot, io slot, or the constant's node */
} BufKey;

typedef struct {
  bool check_numerics, profile;
  int threads; /* > 1: big kernels run in parts on the runtime's threads */
  CgVectors vectors; /* the target's vector registers, for register tiles */
  bool poison; /* dead arena buffers (and the arena at each step's start) filled with NaN */
} CgOptions;

typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef f32, i32, i64, i1, ptr, voidt;
  const IrGraph *g;    /* the graph being emitted: the top one or a scan's body */
  const char *prefix;  /* of its kernels' names: "" or "STEP.scanN." */
  LLVMValueRef *body_step; /* per node of g: a scan's body's step function */
  CgVectors vectors;
} Cg;

typedef struct {
  LLVMBasicBlockRef header, exit;
  LLVMValueRef iv;
} CgLoop;

/* one kernel being emitted: its buffers are its LLVM arguments */
typedef struct {
  Cg *cg;
  int group;
  LLVMValueRef fn, n; /* n: rows in the batch */
  LLVMValueRef lo, hi; /* the part of the outer loop to run; hi < 0: all of it */
  LLVMValueRef task;   /* the wrapper nnd_parallel_for calls, if the kernel splits */
  bool splits;         /* its outer loop can be cut into independent parts */
  int64_t outer, align; /* that loop's static size (times n if outer_batched), chunk alignment */
  bool outer_batched;
  double work;          /* about how many operations it does at max_batch */
  BufKey *keys;        /* as many as the graph has nodes, at most */
  LLVMValueRef *bufs;
  int nbufs;
  LLVMValueRef *val; /* per node: its value in the current loop iteration */
  int scan;          /* a scan's kernel: the scan's node */
} Kernel;

/* module.c */
LLVMValueRef cg_buffer(Kernel *k, int node);        /* where node's value lives */
LLVMValueRef cg_store_buffer(Kernel *k, int node);  /* where node writes, NULL if nowhere */

LLVMModuleRef cg_build_module(LLVMContextRef ctx, const IrGraph *g, const char *symbol, const CgOptions *opt);

/* target.c: what every target shares (codegen.h describes the targets) */
/* t's vector registers, from its features (or its triple's baseline) */
CgVectors cg_target_vectors(const CgTarget *t);
void cg_llvm_init(bool all_targets); /* the host's backend; with all_targets, every backend */
bool cg_llvm_check(LLVMErrorRef err, const char *what); /* false after a diagnostic */
/* verifies mod, sets its triple and data layout, and runs O3 for t's CPU */
bool cg_target_optimise(const CgTarget *t, LLVMModuleRef mod);
/* cpu-object: writes an optimised module to path as an object file */
bool cg_target_emit(const CgTarget *t, LLVMModuleRef mod, const char *path);

/* wrappers.c: an object's public entry points around its internal steps
 * (train may be NULL; initial: the embedded state, NULL for no NAME_init) */
void cg_emit_wrappers(LLVMModuleRef mod, const CgObject *o, const CgTarget *t, LLVMValueRef predict,
                      LLVMValueRef train, LLVMValueRef initial);

/* kernels.c */
void cg_emit_kernel_body(Kernel *k);
LLVMValueRef cg_i64(Cg *c, int64_t v);
LLVMValueRef cg_loop_begin(Kernel *k, CgLoop *l, LLVMValueRef bound); /* returns the counter */
void cg_loop_end(Kernel *k, CgLoop *l);
LLVMValueRef cg_entry_alloca(Kernel *k, LLVMTypeRef t, const char *name);

/* scan.c: a scan's kernel, the loop over time around its body's step */
void cg_emit_scan(Kernel *k, const int *members, int count);

#endif

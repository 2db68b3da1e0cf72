/* codegen.h — IR graphs to native code through LLVM (the only folder that
 * includes llvm-c/). Each fused kernel of a graph becomes one LLVM function;
 * one step function per graph calls them in schedule order. A target (below)
 * finishes the module: JIT-compiled for the host, or an object file.
 *
 * The step function has the ABI program/program.h describes; cg_describe
 * gives the manifest that goes with it. */
#ifndef NND_CODEGEN_H
#define NND_CODEGEN_H

#include <stdio.h>

#include "../ir/ir.h"
#include "../program/program.h"

/* ---- targets ----
 * What a target receives, for each step graph: the kernel list of the fused
 * and planned graph, each kernel one function
 *   void kN(i64 n, i64 lo, i64 hi, ptr buffer...)
 * whose buffers are the distinct arena offsets, parameters and io slots it
 * touches (noalias: the plan never lets two live buffers overlap), and whose
 * outer loop (`outer` iterations, times n when batched) runs its part
 * [lo, hi) independently of the others (hi < 0: all of it); and the step
 * function (the ABI of program/program.h), which computes each buffer's
 * address and launches the kernels in schedule order. The CPU targets call
 * the kernels directly (cpu-jit also through nnd_parallel_for, splitting the
 * outer axis over threads); a GPU target (nvptx) would make each kernel a
 * device function with the outer axis as its grid, and the step host code
 * that launches them on buffers in device memory. */
typedef enum {
  CG_CPU_JIT,    /* the host CPU, ORC LLJIT: what train, eval and step run */
  CG_CPU_OBJECT, /* any triple LLVM was built with, to an ELF object: nnd compile */
} CgTargetKind;

/* a CPU's vector registers: floats per register and how many registers */
typedef struct {
  int lanes, registers;
} CgVectors;

typedef struct {
  CgTargetKind kind;
  const char *name;     /* "cpu-jit", "cpu-object" */
  char *triple, *cpu, *features; /* owned */
  bool threads;         /* generated code may call the runtime's nnd_parallel_for */
} CgTarget;

/* cpu-jit ignores triple and cpu: always the host's. cpu-object: triple NULL
 * is the host's, and then without cpu the host's CPU and features (the code
 * runs where it was compiled, bit for bit as the JIT's); a named triple
 * without cpu gets "generic". False after a diagnostic (unknown triple). */
bool cg_target_init(CgTarget *t, CgTargetKind kind, const char *triple, const char *cpu);
/* LLVM's version and the host's triple, CPU, features and vector registers */
void cg_print_host(FILE *out);
void cg_target_free(CgTarget *t);

typedef struct CgJit CgJit;

CgJit *cg_jit_new(void);
/* From now on, compile finiteness checks after every kernel (see above). */
void cg_jit_check_numerics(CgJit *jit, bool on);
/* From now on, count the cycles of each kernel (see above). */
void cg_jit_profile(CgJit *jit, bool on);
/* From now on, with threads > 1, run big kernels in parts through the
 * runtime's nnd_parallel_for (results do not depend on the thread count). */
void cg_jit_threads(CgJit *jit, int threads);
/* From now on, fill the arena with 0xFF bytes (NaN in an f32, -1 in an i32)
 * as each step starts and every buffer after the last kernel that reads it:
 * a value read where the plan let it die, or never written, reads NaN. */
void cg_jit_poison(CgJit *jit, bool on);
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

/* ---- object.c, wrappers.c: a model as one object file (docs/compile.md) ----
 * Public entry points (NAME_init, NAME_predict, NAME_train_step,
 * NAME_export_state, NAME_import_state) wrap the internal step functions; the
 * caller's workspace holds the state (parameters, optimizer state) at 64-byte
 * boundaries, then the arena that the steps share. */
typedef struct {
  const char *name;   /* the checkpoint name */
  PgShape shape;
  PgRole role;
  int64_t numel;
  int64_t offset;     /* in the exported state, in floats */
  int64_t ws_offset;  /* in the workspace, in bytes */
  const float *init;  /* what NAME_init copies in; NULL for all when nothing is embedded */
} CgStateItem;

typedef struct {
  const char *name;              /* NAME: the prefix of every public symbol */
  const IrGraph *predict;        /* fused and planned; its manifest: */
  const PgEntry *predict_entry;
  const IrGraph *train;          /* NULL: no NAME_train_step */
  const PgEntry *train_entry;
  CgStateItem *state;            /* in state order */
  int nstate;
  int64_t state_floats, arena_offset, workspace_bytes; /* cg_object_layout */
  bool embed;                    /* NAME_init with the items' init values */
  bool flush_denormals;          /* x86: entry points run with FTZ and DAZ, as the JIT's steps */
  const char *manifest;          /* the text of the constant NAME_manifest */
} CgObject;

/* state offsets, workspace offsets, the arena and the workspace size */
void cg_object_layout(CgObject *o);
/* the slots that are arguments of an entry's public function, in order:
 * predict: DATA inputs, then PREDICTION outputs; train: DATA, LABEL, SEED */
int cg_public_slots(const PgEntry *e, const PgSlot **out, int max);
/* compiles o's graphs for t (single-threaded) with the public entry points
 * and writes the object to path; false after a diagnostic */
bool cg_emit_object(const CgTarget *t, const CgObject *o, const char *path);

#endif

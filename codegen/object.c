/* object.c — the cpu-object target's whole job: a model's predict step (and
 * train step) as one LLVM module, with the embedded initial state, the
 * manifest text and the public entry points (wrappers.c), optimised for the
 * target's triple and CPU and written as an object file. Objects are compiled
 * single-threaded: they call nothing of nnd's, only what LLVM lowers to libc
 * and libm (memcpy, memset, expf, logf, ...). */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Linker.h>

#include "emit.h"

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

void cg_object_layout(CgObject *o) {
  int64_t floats = 0, bytes = 0;
  for (int i = 0; i < o->nstate; i++) {
    o->state[i].offset = floats;
    o->state[i].ws_offset = bytes;
    floats += o->state[i].numel;
    bytes = round_up(bytes + 4 * o->state[i].numel, 64);
  }
  int64_t arena = o->predict->arena_bytes;
  if (o->train && o->train->arena_bytes > arena) arena = o->train->arena_bytes;
  o->state_floats = floats;
  o->arena_offset = bytes;
  o->workspace_bytes = round_up(bytes + arena, 64);
  if (o->workspace_bytes == 0) o->workspace_bytes = 64; /* a workspace is never empty */
}

static bool is_public(const PgEntry *e, const PgSlot *s) {
  if (e->kind == PG_ENTRY_PREDICT)
    return s->output ? s->role == PG_SLOT_PREDICTION : s->role == PG_SLOT_DATA;
  return !s->output;
}

int cg_public_slots(const PgEntry *e, const PgSlot **out, int max) {
  static const PgSlotRole order[] = {PG_SLOT_DATA, PG_SLOT_LABEL, PG_SLOT_SEED, PG_SLOT_PREDICTION};
  int n = 0;
  for (size_t r = 0; r < sizeof order / sizeof *order; r++)
    for (int i = 0; i < e->nslots && n < max; i++)
      if (e->slots[i].role == order[r] && is_public(e, &e->slots[i])) out[n++] = &e->slots[i];
  return n;
}

/* the initial state as one constant (the bytes of the floats: the object is
 * for a little-endian target, as every triple nnd compiles for is) */
static LLVMValueRef state_constant(LLVMModuleRef mod, const CgObject *o) {
  size_t bytes = 4 * (size_t)o->state_floats;
  char *blob = calloc(bytes + 1, 1);
  if (!blob) return diag_error((PgLoc){0}, "out of memory"), NULL;
  for (int i = 0; i < o->nstate; i++)
    if (o->state[i].init)
      memcpy(blob + 4 * o->state[i].offset, o->state[i].init, 4 * (size_t)o->state[i].numel);
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMValueRef init = LLVMConstStringInContext2(ctx, blob, bytes, 1);
  free(blob);
  char name[256];
  snprintf(name, sizeof name, "%s.initial_state", o->name);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetAlignment(g, 64);
  return g;
}

/* const char NAME_manifest[]: what a loader reads to call the entry points */
static void manifest_constant(LLVMModuleRef mod, const CgObject *o) {
  LLVMValueRef text =
      LLVMConstStringInContext2(LLVMGetModuleContext(mod), o->manifest, strlen(o->manifest), 0);
  char name[256];
  snprintf(name, sizeof name, "%s_manifest", o->name);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(text), name);
  LLVMSetInitializer(g, text);
  LLVMSetGlobalConstant(g, 1);
}

/* a step graph's module linked into mod (which then owns it); its step
 * function, made internal so that O3 may inline it into its wrapper */
static LLVMValueRef add_step(LLVMModuleRef *mod, LLVMContextRef ctx, const IrGraph *g,
                             const char *name, const char *what, CgVectors vectors) {
  char symbol[256];
  snprintf(symbol, sizeof symbol, "%s.%s_step", name, what);
  CgOptions single = {.threads = 1, .vectors = vectors};
  LLVMModuleRef m = cg_build_module(ctx, g, symbol, &single);
  if (!*mod)
    *mod = m;
  else if (LLVMLinkModules2(*mod, m))
    return diag_error((PgLoc){0}, "internal error: cannot link the %s step", what), NULL;
  LLVMValueRef step = LLVMGetNamedFunction(*mod, symbol);
  LLVMSetLinkage(step, LLVMInternalLinkage);
  return step;
}

bool cg_emit_object(const CgTarget *t, const CgObject *o, const char *path) {
  cg_llvm_init(true);
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = NULL;
  CgVectors vectors = cg_target_vectors(t);
  LLVMValueRef predict = add_step(&mod, ctx, o->predict, o->name, "predict", vectors);
  LLVMValueRef train =
      o->train && predict ? add_step(&mod, ctx, o->train, o->name, "train", vectors) : NULL;
  LLVMValueRef initial = o->embed && predict ? state_constant(mod, o) : NULL;
  bool ok = predict && (!o->train || train) && (!o->embed || initial);
  if (ok) {
    manifest_constant(mod, o);
    cg_emit_wrappers(mod, o, t, predict, train, initial);
    ok = cg_target_optimise(t, mod) && cg_target_emit(t, mod, path);
  }
  if (mod) LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return ok;
}

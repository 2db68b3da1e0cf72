/* wrappers.c — the public entry points of a compiled object, as LLVM IR
 * around the internal step functions, so that the object needs no nnd
 * runtime: each builds the step's params table (pointers into the caller's
 * workspace) and io table (the caller's arrays) on its stack, and calls the
 * step. NAME_predict takes any batch >= 1 and runs it in chunks of max_batch
 * rows; NAME_train_step takes 1..max_batch rows and returns the mean loss (NaN,
 * doing nothing, for another batch). On x86 the steps run with FTZ and DAZ set
 * for their duration, as the runtime runs the JIT's (runtime/fpmode.c), so
 * that both give the same bits. */
#include <math.h>
#include <string.h>

#include "emit.h"

typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef ptr, i8, i32, i64, f32, voidt;
  const CgObject *o;
  bool x86_flush; /* bracket steps with MXCSR FTZ|DAZ */
} W;

static LLVMValueRef i64c(W *w, int64_t v) { return LLVMConstInt(w->i64, (unsigned long long)v, 1); }

static LLVMValueRef byte_gep(W *w, LLVMValueRef base, LLVMValueRef offset) {
  return LLVMBuildInBoundsGEP2(w->b, w->i8, base, &offset, 1, "");
}

static LLVMValueRef slot_of(W *w, LLVMValueRef table, int index) {
  LLVMValueRef at = i64c(w, index);
  return LLVMBuildInBoundsGEP2(w->b, w->ptr, table, &at, 1, "");
}

/* an exported function with its entry block current */
static LLVMValueRef public_function(W *w, const char *suffix, LLVMTypeRef ret, LLVMTypeRef *args,
                                    int nargs) {
  char name[256];
  snprintf(name, sizeof name, "%s_%s", w->o->name, suffix);
  LLVMValueRef fn = LLVMAddFunction(w->mod, name, LLVMFunctionType(ret, args, (unsigned)nargs, 0));
  unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(w->ctx, kind, 0));
  LLVMPositionBuilderAtEnd(w->b, LLVMAppendBasicBlockInContext(w->ctx, fn, "entry"));
  return fn;
}

static const CgStateItem *item_named(const CgObject *o, const char *name) {
  for (int i = 0; i < o->nstate; i++)
    if (strcmp(o->state[i].name, name) == 0) return &o->state[i];
  return NULL;
}

/* params[p.slot] = ws + the workspace offset of p */
static LLVMValueRef params_table(W *w, LLVMValueRef ws, const PgEntry *e) {
  LLVMValueRef table = LLVMBuildArrayAlloca(w->b, w->ptr, i64c(w, e->nparams + 1), "params");
  for (int i = 0; i < e->nparams; i++) {
    const CgStateItem *it = item_named(w->o, e->params[i].name); /* the layout has every one */
    LLVMValueRef at = byte_gep(w, ws, i64c(w, it->ws_offset));
    LLVMBuildStore(w->b, at, slot_of(w, table, e->params[i].slot));
  }
  return table;
}

/* the io table: NULL for what the step does not read (a label of predict),
 * a stack place for each scalar output (loss, metrics) */
static LLVMValueRef io_table(W *w, const PgEntry *e) {
  int n = e->ninputs + e->noutputs + 2;
  LLVMValueRef table = LLVMBuildArrayAlloca(w->b, w->ptr, i64c(w, n), "io");
  for (int i = 0; i < n; i++) LLVMBuildStore(w->b, LLVMConstNull(w->ptr), slot_of(w, table, i));
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i].output && e->slots[i].shape.rank == 0) {
      LLVMValueRef place = LLVMBuildAlloca(w->b, w->f32, "");
      LLVMBuildStore(w->b, place, slot_of(w, table, e->slots[i].io));
    }
  return table;
}

static LLVMValueRef mxcsr(W *w, const char *name, LLVMValueRef at) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(w->mod, id, NULL, 0);
  return LLVMBuildCall2(w->b, LLVMIntrinsicGetType(w->ctx, id, NULL, 0), fn, &at, 1, "");
}

/* x86: saves MXCSR and sets FTZ|DAZ; returns where it saved it (NULL: nothing to restore) */
static LLVMValueRef fp_enter(W *w) {
  if (!w->x86_flush) return NULL;
  LLVMValueRef saved = LLVMBuildAlloca(w->b, w->i32, "mxcsr"),
               flushed = LLVMBuildAlloca(w->b, w->i32, "");
  mxcsr(w, "llvm.x86.sse.stmxcsr", saved);
  LLVMValueRef bits = LLVMBuildOr(w->b, LLVMBuildLoad2(w->b, w->i32, saved, ""),
                                  LLVMConstInt(w->i32, 0x8040, 0), "");
  LLVMBuildStore(w->b, bits, flushed);
  mxcsr(w, "llvm.x86.sse.ldmxcsr", flushed);
  return saved;
}

static void fp_leave(W *w, LLVMValueRef saved) {
  if (saved) mxcsr(w, "llvm.x86.sse.ldmxcsr", saved);
}

static void call_step(W *w, LLVMValueRef step, LLVMValueRef ws, LLVMValueRef params,
                      LLVMValueRef io, LLVMValueRef n) {
  LLVMValueRef args[4] = {byte_gep(w, ws, i64c(w, w->o->arena_offset)), params, io, n};
  LLVMBuildCall2(w->b, LLVMGlobalGetValueType(step), step, args, 4, "");
}

static int64_t row_bytes(const PgSlot *s) { return 4 * pg_numel(&s->shape, 1); }

/* void NAME_predict(ptr ws, ptr in..., ptr out..., i64 batch) */
static void emit_predict(W *w, LLVMValueRef step) {
  const PgEntry *e = w->o->predict_entry;
  const PgSlot *args[PG_MAX_COLUMNS];
  int nargs = cg_public_slots(e, args, PG_MAX_COLUMNS);
  LLVMTypeRef types[PG_MAX_COLUMNS + 2];
  for (int i = 0; i < nargs + 1; i++) types[i] = w->ptr;
  types[nargs + 1] = w->i64;
  LLVMValueRef fn = public_function(w, "predict", w->voidt, types, nargs + 2);
  LLVMValueRef ws = LLVMGetParam(fn, 0), batch = LLVMGetParam(fn, (unsigned)nargs + 1);
  LLVMValueRef params = params_table(w, ws, e), io = io_table(w, e);
  LLVMValueRef saved = fp_enter(w); /* here, not in the loop: its places are on the stack */
  LLVMBasicBlockRef entry = LLVMGetInsertBlock(w->b);
  LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(w->ctx, fn, "chunk");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(w->ctx, fn, "done");
  LLVMBuildCondBr(w->b, LLVMBuildICmp(w->b, LLVMIntSGT, batch, i64c(w, 0), ""), loop, done);
  LLVMPositionBuilderAtEnd(w->b, loop);
  LLVMValueRef first = LLVMBuildPhi(w->b, w->i64, "first"), zero = i64c(w, 0);
  LLVMAddIncoming(first, &zero, &entry, 1);
  LLVMValueRef left = LLVMBuildSub(w->b, batch, first, "");
  LLVMValueRef full = LLVMBuildICmp(w->b, LLVMIntSGT, left, i64c(w, e->max_batch), "");
  LLVMValueRef n = LLVMBuildSelect(w->b, full, i64c(w, e->max_batch), left, "n");
  for (int i = 0; i < nargs; i++) {
    LLVMValueRef offset = LLVMBuildMul(w->b, first, i64c(w, row_bytes(args[i])), "");
    LLVMValueRef rows = byte_gep(w, LLVMGetParam(fn, (unsigned)i + 1), offset);
    LLVMBuildStore(w->b, rows, slot_of(w, io, args[i]->io));
  }
  call_step(w, step, ws, params, io, n);
  LLVMValueRef next = LLVMBuildAdd(w->b, first, n, "");
  LLVMBasicBlockRef here = LLVMGetInsertBlock(w->b);
  LLVMAddIncoming(first, &next, &here, 1);
  LLVMBuildCondBr(w->b, LLVMBuildICmp(w->b, LLVMIntSLT, next, batch, ""), loop, done);
  LLVMPositionBuilderAtEnd(w->b, done);
  fp_leave(w, saved);
  LLVMBuildRetVoid(w->b);
}

/* float NAME_train_step(ptr ws, ptr data..., ptr label..., [i32 seed], i64 batch) */
static void emit_train(W *w, LLVMValueRef step) {
  const PgEntry *e = w->o->train_entry;
  const PgSlot *args[PG_MAX_COLUMNS];
  int nargs = cg_public_slots(e, args, PG_MAX_COLUMNS);
  LLVMTypeRef types[PG_MAX_COLUMNS + 2];
  types[0] = w->ptr;
  for (int i = 0; i < nargs; i++) types[i + 1] = args[i]->role == PG_SLOT_SEED ? w->i32 : w->ptr;
  types[nargs + 1] = w->i64;
  LLVMValueRef fn = public_function(w, "train_step", w->f32, types, nargs + 2);
  LLVMValueRef ws = LLVMGetParam(fn, 0), batch = LLVMGetParam(fn, (unsigned)nargs + 1);
  LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(w->ctx, fn, "run");
  LLVMBasicBlockRef refuse = LLVMAppendBasicBlockInContext(w->ctx, fn, "refuse");
  LLVMValueRef low = LLVMBuildICmp(w->b, LLVMIntSLT, batch, i64c(w, 1), "");
  LLVMValueRef high = LLVMBuildICmp(w->b, LLVMIntSGT, batch, i64c(w, e->max_batch), "");
  LLVMBuildCondBr(w->b, LLVMBuildOr(w->b, low, high, ""), refuse, run);
  LLVMPositionBuilderAtEnd(w->b, refuse);
  LLVMBuildRet(w->b, LLVMConstReal(w->f32, NAN));
  LLVMPositionBuilderAtEnd(w->b, run);
  LLVMValueRef params = params_table(w, ws, e), io = io_table(w, e);
  for (int i = 0; i < nargs; i++) {
    LLVMValueRef v = LLVMGetParam(fn, (unsigned)i + 1);
    if (args[i]->role == PG_SLOT_SEED) {
      LLVMValueRef place = LLVMBuildAlloca(w->b, w->i32, "seed");
      LLVMBuildStore(w->b, v, place);
      v = place;
    }
    LLVMBuildStore(w->b, v, slot_of(w, io, args[i]->io));
  }
  LLVMValueRef saved = fp_enter(w);
  call_step(w, step, ws, params, io, batch);
  fp_leave(w, saved);
  const PgSlot *loss = pg_slot_with_role(e, PG_SLOT_LOSS);
  LLVMValueRef at = LLVMBuildLoad2(w->b, w->ptr, slot_of(w, io, loss->io), "");
  LLVMBuildRet(w->b, LLVMBuildLoad2(w->b, w->f32, at, "loss"));
}

/* for each state item: memcpy between the workspace and a flat array (or,
 * for NAME_init, the embedded initial state) */
static void copy_state(W *w, LLVMValueRef ws, LLVMValueRef flat, bool to_ws) {
  for (int i = 0; i < w->o->nstate; i++) {
    const CgStateItem *it = &w->o->state[i];
    LLVMValueRef in_ws = byte_gep(w, ws, i64c(w, it->ws_offset));
    LLVMValueRef in_flat = byte_gep(w, flat, i64c(w, 4 * it->offset));
    LLVMValueRef bytes = i64c(w, 4 * it->numel);
    if (to_ws)
      LLVMBuildMemCpy(w->b, in_ws, 64, in_flat, 4, bytes);
    else
      LLVMBuildMemCpy(w->b, in_flat, 4, in_ws, 64, bytes);
  }
  LLVMBuildRetVoid(w->b);
}

static void emit_state_functions(W *w, LLVMValueRef initial) {
  LLVMTypeRef two[2] = {w->ptr, w->ptr};
  LLVMValueRef fn = public_function(w, "export_state", w->voidt, two, 2);
  copy_state(w, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), false);
  fn = public_function(w, "import_state", w->voidt, two, 2);
  copy_state(w, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), true);
  if (!initial) return;
  fn = public_function(w, "init", w->voidt, two, 1);
  copy_state(w, LLVMGetParam(fn, 0), initial, true);
}

void cg_emit_wrappers(LLVMModuleRef mod, const CgObject *o, const CgTarget *t, LLVMValueRef predict,
                      LLVMValueRef train, LLVMValueRef initial) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  W w = {.ctx = ctx, .mod = mod, .b = LLVMCreateBuilderInContext(ctx), .o = o};
  w.ptr = LLVMPointerTypeInContext(ctx, 0), w.i8 = LLVMInt8TypeInContext(ctx);
  w.i32 = LLVMInt32TypeInContext(ctx), w.i64 = LLVMInt64TypeInContext(ctx);
  w.f32 = LLVMFloatTypeInContext(ctx), w.voidt = LLVMVoidTypeInContext(ctx);
  w.x86_flush = o->flush_denormals && strncmp(t->triple, "x86_64", 6) == 0;
  emit_predict(&w, predict);
  if (train) emit_train(&w, train);
  emit_state_functions(&w, initial);
  LLVMDisposeBuilder(w.b);
}

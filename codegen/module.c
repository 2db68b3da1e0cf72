/* module.c — one LLVM module per graph: a function per kernel, whose
 * arguments are the distinct buffers it touches (all noalias: the plan never
 * lets two live buffers overlap, and a parameter read and assigned in place is
 * one argument; kernels with identical code share a function), and the step
 * function that computes each buffer's address and calls the kernels in
 * schedule order, with the optional numerics checks and cycle counts. A
 * scan's body becomes a step function of its own in the same module, which
 * the scan's kernel calls once per time step (scan.c). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

/* kernels doing fewer operations than this run on one thread: below it,
 * waking the others costs more than it saves */
#define PARALLEL_WORK 200000.0

static bool inline_value(const IrNode *n) { return ir_op_flags(n->op) & IR_INLINE; }

static BufKey key_of(const IrGraph *g, int v) {
  const IrNode *r = &g->nodes[ir_alias_root(g, v)];
  if (r->op == IR_OP_INPUT) return (BufKey){BUF_IO, r->attr[0]};
  if (r->op == IR_OP_PARAM) return (BufKey){BUF_PARAM, r->attr[0]};
  if (ir_op_flags(r->op) & IR_CONSTANT) return (BufKey){BUF_DATA, r - g->nodes};
  assert(r->offset >= 0 && "value read from memory has no buffer: plan has not run");
  return (BufKey){BUF_ARENA, r->offset};
}

/* where node v writes its result, if anywhere */
static bool store_key(const IrGraph *g, int v, BufKey *key) {
  const IrNode *n = &g->nodes[v];
  if (n->op == IR_OP_OUTPUT) *key = (BufKey){BUF_IO, g->ninputs + n->attr[0]};
  else if (ir_op_flags(n->op) & IR_IN_PLACE) *key = key_of(g, n->in[0]);
  else if (n->offset >= 0) *key = (BufKey){BUF_ARENA, n->offset};
  else return false;
  return true;
}

static int find_key(Kernel *k, BufKey key, bool add) {
  for (int i = 0; i < k->nbufs; i++)
    if (k->keys[i].kind == key.kind && k->keys[i].index == key.index) return i;
  if (!add) return -1;
  k->keys[k->nbufs] = key;
  return k->nbufs++;
}

LLVMValueRef cg_buffer(Kernel *k, int v) { return k->bufs[find_key(k, key_of(k->cg->g, v), false)]; }

LLVMValueRef cg_store_buffer(Kernel *k, int v) {
  BufKey key;
  return store_key(k->cg->g, v, &key) ? k->bufs[find_key(k, key, false)] : NULL;
}

static void collect_buffers(Kernel *k) {
  const IrGraph *g = k->cg->g;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->group != k->group) continue;
    for (int j = 0; j < n->nin; j++) {
      int u = n->in[j];
      if (g->nodes[u].group == k->group || inline_value(&g->nodes[ir_alias_root(g, u)])) continue;
      find_key(k, key_of(g, u), true);
    }
    BufKey key;
    if (store_key(g, i, &key)) find_key(k, key, true);
  }
}

static void kernel_name(const Cg *c, int group, char *buf, size_t len) {
  const IrGraph *g = c->g;
  int w = snprintf(buf, len, "%sk%d", c->prefix, group), shown = 0;
  for (int i = 0; i < g->count && w < (int)len - 16; i++)
    if (g->nodes[i].group == group && shown++ < 4) w += snprintf(buf + w, len - w, ".%s", ir_op_name(g->nodes[i].op));
  if (shown > 4) snprintf(buf + w, len - w, ".etc");
}

static void add_attr(Cg *c, LLVMValueRef fn, unsigned index, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, index, LLVMCreateEnumAttribute(c->ctx, kind, 0));
}

static LLVMValueRef new_function(Cg *c, const char *name, LLVMTypeRef *params, int nparams) {
  LLVMValueRef fn = LLVMAddFunction(c->mod, name, LLVMFunctionType(c->voidt, params, nparams, 0));
  add_attr(c, fn, LLVMAttributeFunctionIndex, "nounwind");
  for (int i = 0; i < nparams; i++)
    if (params[i] == c->ptr) add_attr(c, fn, i + 1, "noalias");
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  return fn;
}

/* What a kernel's code depends on, as text: its nodes' ops, types and
 * attributes, the functions its calls call, and for each operand whether it
 * is computed in the loop, an inline constant, or which of the kernel's
 * buffers it is read from (and as what view). Kernels with equal signatures
 * compile to one function, called with their own buffers: the unrolled steps
 * of a recurrence cost one function, not one per step. */
static char *signature(const Cg *c, Kernel *k, int *member_index) {
  const IrGraph *g = c->g;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  for (int i = 0, m = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->group != k->group) continue;
    member_index[i] = m++;
    fprintf(f, "%d %d [", n->op, n->dtype);
    for (int d = 0; d < n->shape.rank; d++) fprintf(f, "%lld,", (long long)n->shape.dim[d]);
    fputc(']', f);
    for (int a = 0; a < IR_MAX_ATTR; a++) fprintf(f, " %lld", (long long)n->attr[a]);
    if (n->op == IR_OP_CALL) fprintf(f, " @%s", n->name); /* the function is the code */
    if (n->body) fprintf(f, " body%d", i);                /* so is a scan's body: its own */
    for (int j = 0; j < n->nin; j++) {
      int u = n->in[j];
      const IrNode *r = &g->nodes[ir_alias_root(g, u)];
      if (g->nodes[u].group == k->group) fprintf(f, " m%d", member_index[u]);
      else if (r->op == IR_OP_CONST) fprintf(f, " c%a", r->value);
      else if (r->op == IR_OP_BATCH_SIZE) fprintf(f, " n");
      else {
        fprintf(f, " b%d:%d[", find_key(k, key_of(g, u), false), g->nodes[u].dtype);
        for (int d = 0; d < g->nodes[u].shape.rank; d++) fprintf(f, "%lld,", (long long)g->nodes[u].shape.dim[d]);
        fputc(']', f);
      }
    }
    BufKey key;
    if (store_key(g, i, &key)) fprintf(f, " s%d", find_key(k, key, false));
    fputs(";\n", f);
  }
  fclose(f);
  return text;
}

typedef struct {
  char **text;
  Kernel **first; /* per slot: the kernel whose code the others with its signature reuse */
  size_t cap;
} Signatures;

static uint64_t text_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* the slot of text in the table: where it is, or where it would go */
static size_t signature_slot(const Signatures *t, const char *text) {
  size_t i = text_hash(text) & (t->cap - 1);
  while (t->text[i] && strcmp(t->text[i], text) != 0) i = (i + 1) & (t->cap - 1);
  return i;
}

/* void kN.task(ptr ctx, i64 lo, i64 hi): what nnd_parallel_for calls; ctx
 * holds n and the kernel's buffers */
static LLVMValueRef emit_task(Cg *c, Kernel *k, const char *name) {
  char task_name[160];
  snprintf(task_name, sizeof task_name, "%s.task", name);
  LLVMTypeRef params[3] = {c->ptr, c->i64, c->i64};
  LLVMValueRef task = new_function(c, task_name, params, 3);
  LLVMSetLinkage(task, LLVMInternalLinkage);
  LLVMValueRef *args = malloc((k->nbufs + 3) * sizeof *args);
  for (int i = 0; i < k->nbufs + 1; i++) {
    LLVMValueRef at = LLVMConstInt(c->i64, (unsigned long long)i, 0);
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, LLVMGetParam(task, 0), &at, 1, ""), "");
    args[i ? i + 2 : 0] = i ? v : LLVMBuildPtrToInt(c->b, v, c->i64, "n");
  }
  args[1] = LLVMGetParam(task, 1), args[2] = LLVMGetParam(task, 2);
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k->fn), k->fn, args, k->nbufs + 3, "");
  LLVMBuildRetVoid(c->b);
  free(args);
  return task;
}

static void emit_kernel(Cg *c, Kernel *k, LLVMValueRef *val, Signatures *done, int *member_index, const CgOptions *opt) {
  char name[128];
  k->keys = malloc((c->g->count + 1) * sizeof *k->keys);
  k->bufs = malloc((c->g->count + 1) * sizeof *k->bufs);
  collect_buffers(k);
  char *text = signature(c, k, member_index);
  size_t slot = signature_slot(done, text);
  if (done->text[slot]) { /* the same code as an earlier kernel */
    const Kernel *first = done->first[slot];
    k->fn = first->fn, k->task = first->task, k->splits = first->splits, k->outer = first->outer;
    k->outer_batched = first->outer_batched, k->align = first->align, k->work = first->work;
    free(text);
    return;
  }
  LLVMTypeRef *params = malloc((k->nbufs + 3) * sizeof *params);
  params[0] = params[1] = params[2] = c->i64;
  for (int i = 0; i < k->nbufs; i++) params[i + 3] = c->ptr;
  kernel_name(c, k->group, name, sizeof name);
  k->fn = new_function(c, name, params, k->nbufs + 3);
  LLVMSetLinkage(k->fn, LLVMInternalLinkage);
  add_attr(c, k->fn, LLVMAttributeFunctionIndex, "noinline");
  k->n = LLVMGetParam(k->fn, 0), k->lo = LLVMGetParam(k->fn, 1), k->hi = LLVMGetParam(k->fn, 2);
  LLVMSetValueName2(k->n, "n", 1);
  LLVMSetValueName2(k->lo, "lo", 2);
  LLVMSetValueName2(k->hi, "hi", 2);
  for (int i = 0; i < k->nbufs; i++) k->bufs[i] = LLVMGetParam(k->fn, i + 3);
  k->val = val;
  cg_emit_kernel_body(k);
  if (opt->threads > 1 && k->splits && k->work >= PARALLEL_WORK) k->task = emit_task(c, k, name);
  free(params);
  done->text[slot] = text;
  done->first[slot] = k;
}

/* a tensor constant's values: a private constant array of the module, made
 * on first use (its bytes as the host orders them, as the embedded state) */
static LLVMValueRef constant_array(Cg *c, int v) {
  char name[300];
  snprintf(name, sizeof name, "%sdata%d", c->prefix, v);
  LLVMValueRef global = LLVMGetNamedGlobal(c->mod, name);
  if (global) return global;
  const IrNode *n = &c->g->nodes[v];
  size_t count = (size_t)pg_numel(&n->shape, 1);
  float *values = pg_malloc(count * sizeof *values);
  if (!values) return LLVMConstNull(c->ptr); /* out of memory, reported: the build fails */
  ir_constant_fill(n, values);
  LLVMValueRef init = LLVMConstStringInContext2(c->ctx, (const char *)values,
                                                count * sizeof *values, 1);
  free(values);
  global = LLVMAddGlobal(c->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(global, init);
  LLVMSetGlobalConstant(global, 1);
  LLVMSetLinkage(global, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(global, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(global, 64);
  return global;
}

/* in the step function: the address of a buffer */
static LLVMValueRef address(Cg *c, LLVMValueRef step, BufKey key) {
  if (key.kind == BUF_DATA) return constant_array(c, (int)key.index);
  LLVMValueRef idx = LLVMConstInt(c->i64, (unsigned long long)key.index, 0);
  if (key.kind == BUF_ARENA)
    return LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx), LLVMGetParam(step, 0), &idx, 1, "");
  LLVMValueRef table = LLVMGetParam(step, key.kind == BUF_PARAM ? 1 : 2);
  return LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, table, &idx, 1, ""), "");
}

/* --check-numerics: void check(ptr values, i64 count, i32 node, ptr flags)
 * sets flags[node] (a byte per node) if a value is NaN or infinite (|x| < inf
 * fails). The step runs to its end, so that the runtime can tell which of the
 * non-finite values reached a result. */
static LLVMValueRef emit_checker(Cg *c) {
  LLVMTypeRef params[4] = {c->ptr, c->i64, c->i32, c->ptr};
  LLVMValueRef fn = new_function(c, "check_finite", params, 4);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_attr(c, fn, LLVMAttributeFunctionIndex, "noinline");
  LLVMBasicBlockRef entry = LLVMGetInsertBlock(c->b), loop = LLVMAppendBasicBlockInContext(c->ctx, fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(c->ctx, fn, "body");
  LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(c->ctx, fn, "bad");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, fn, "done");
  LLVMBuildBr(c->b, loop);
  LLVMPositionBuilderAtEnd(c->b, loop);
  LLVMValueRef i = LLVMBuildPhi(c->b, c->i64, "i"), zero = LLVMConstInt(c->i64, 0, 0);
  LLVMAddIncoming(i, &zero, &entry, 1);
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, i, LLVMGetParam(fn, 1), ""), body, done);
  LLVMPositionBuilderAtEnd(c->b, body);
  LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, LLVMBuildInBoundsGEP2(c->b, c->f32, LLVMGetParam(fn, 0), &i, 1, ""), "");
  LLVMTypeRef f32 = c->f32;
  unsigned fabs_id = LLVMLookupIntrinsicID("llvm.fabs", 9);
  LLVMValueRef ax = LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, fabs_id, &f32, 1),
                                   LLVMGetIntrinsicDeclaration(c->mod, fabs_id, &f32, 1), &x, 1, "");
  LLVMValueRef finite = LLVMBuildFCmp(c->b, LLVMRealOLT, ax, LLVMConstReal(c->f32, INFINITY), "");
  LLVMValueRef next = LLVMBuildNSWAdd(c->b, i, LLVMConstInt(c->i64, 1, 0), "");
  LLVMAddIncoming(i, &next, &body, 1);
  LLVMBuildCondBr(c->b, finite, loop, bad);
  LLVMPositionBuilderAtEnd(c->b, bad);
  LLVMTypeRef i8 = LLVMInt8TypeInContext(c->ctx);
  LLVMValueRef node = LLVMGetParam(fn, 2);
  LLVMValueRef flag = LLVMBuildInBoundsGEP2(c->b, i8, LLVMGetParam(fn, 3), &node, 1, "");
  LLVMBuildStore(c->b, LLVMConstInt(i8, 1, 0), flag);
  LLVMBuildRetVoid(c->b);
  LLVMPositionBuilderAtEnd(c->b, done);
  LLVMBuildRetVoid(c->b);
  return fn;
}

/* after kernel k: check every f32 value it stored */
static void emit_checks(Cg *c, LLVMValueRef step, LLVMValueRef checker, int k) {
  const IrGraph *g = c->g;
  LLVMValueRef slot = LLVMConstInt(c->i64, (unsigned long long)(g->ninputs + g->noutputs), 0);
  LLVMValueRef flags = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, LLVMGetParam(step, 2), &slot, 1, ""), "");
  for (int i = 0; i < g->count; i++) {
    BufKey key;
    if (g->nodes[i].group != k || g->nodes[i].dtype != PG_F32 || !store_key(g, i, &key)) continue;
    if (ir_op_flags(g->nodes[i].op) & IR_REGION) continue; /* scratch, not a value */
    LLVMValueRef count =
        LLVMConstInt(c->i64, (unsigned long long)pg_numel(&g->nodes[i].shape, 1), 0);
    if (g->nodes[i].shape.rank && g->nodes[i].shape.dim[0] == PG_BATCH)
      count = LLVMBuildNSWMul(c->b, count, LLVMGetParam(step, 3), "");
    LLVMValueRef args[4] = {address(c, step, key), count, LLVMConstInt(c->i32, (unsigned long long)i, 0), flags};
    LLVMBuildCall2(c->b, LLVMGlobalGetValueType(checker), checker, args, 4, "");
  }
}

static LLVMValueRef cycles(Cg *c) {
  unsigned id = LLVMLookupIntrinsicID("llvm.readcyclecounter", 21);
  return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, NULL, 0), LLVMGetIntrinsicDeclaration(c->mod, id, NULL, 0),
                        NULL, 0, "");
}

/* --profile: counts[k] += the cycles kernel k took (from its start time t0) */
static void emit_count(Cg *c, LLVMValueRef step, LLVMValueRef t0, int k) {
  LLVMValueRef slot = LLVMConstInt(c->i64, (unsigned long long)(c->g->ninputs + c->g->noutputs + 1), 0);
  LLVMValueRef counts = LLVMBuildLoad2(c->b, c->ptr, LLVMBuildInBoundsGEP2(c->b, c->ptr, LLVMGetParam(step, 2), &slot, 1, ""), "");
  LLVMValueRef idx = LLVMConstInt(c->i64, (unsigned long long)k, 0);
  LLVMValueRef p = LLVMBuildInBoundsGEP2(c->b, c->i64, counts, &idx, 1, "");
  LLVMValueRef spent = LLVMBuildSub(c->b, cycles(c), t0, "");
  LLVMBuildStore(c->b, LLVMBuildAdd(c->b, LLVMBuildLoad2(c->b, c->i64, p, ""), spent, ""), p);
}

/* a big kernel in parts on the runtime's threads: ctx = {n, buffers...} */
static void emit_parallel_call(Cg *c, LLVMValueRef step, Kernel *k, LLVMValueRef *bufs) {
  LLVMTypeRef ctx_type = LLVMArrayType(c->ptr, (unsigned)k->nbufs + 1);
  LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
  LLVMPositionBuilderBefore(c->b, LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(step)));
  LLVMValueRef ctx = LLVMBuildAlloca(c->b, ctx_type, "ctx");
  LLVMPositionBuilderAtEnd(c->b, here);
  for (int i = 0; i < k->nbufs + 1; i++) {
    LLVMValueRef at = LLVMConstInt(c->i64, (unsigned long long)i, 0);
    LLVMValueRef v = i ? bufs[i - 1] : LLVMBuildIntToPtr(c->b, LLVMGetParam(step, 3), c->ptr, "");
    LLVMBuildStore(c->b, v, LLVMBuildInBoundsGEP2(c->b, c->ptr, ctx, &at, 1, ""));
  }
  LLVMValueRef total = LLVMConstInt(c->i64, (unsigned long long)k->outer, 0);
  if (k->outer_batched) total = LLVMBuildNSWMul(c->b, total, LLVMGetParam(step, 3), "");
  LLVMTypeRef params[4] = {c->ptr, c->ptr, c->i64, c->i64};
  LLVMTypeRef type = LLVMFunctionType(c->voidt, params, 4, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, "nnd_parallel_for");
  if (!fn) fn = LLVMAddFunction(c->mod, "nnd_parallel_for", type);
  LLVMValueRef args[4] = {k->task, ctx, total, LLVMConstInt(c->i64, (unsigned long long)k->align, 0)};
  LLVMBuildCall2(c->b, type, fn, args, 4, "");
}

/* --poison: bytes [offset, offset + bytes) of the arena = 0xFF */
static void poison(Cg *c, LLVMValueRef step, int64_t offset, int64_t bytes) {
  if (bytes <= 0) return;
  LLVMValueRef at = address(c, step, (BufKey){BUF_ARENA, offset});
  LLVMValueRef len = LLVMConstInt(c->i64, (unsigned long long)bytes, 0);
  LLVMBuildMemSet(c->b, at, LLVMConstInt(LLVMInt8TypeInContext(c->ctx), 0xFF, 0), len, 1);
}

/* --poison, after kernel k: every arena buffer it reads or writes last. The
 * plan gives buffers live at one kernel disjoint bytes, except a value that
 * takes over a dying operand's in place (plan.c): those bytes are left. */
static void poison_dead(Cg *c, LLVMValueRef step, const int *last, int k) {
  const IrGraph *g = c->g;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    int end = last[i] > n->group ? last[i] : n->group;
    if (end == k && ir_owns_arena_buffer(n) && !ir_taken_over(g, i, k))
      poison(c, step, n->offset, ir_buffer_bytes(n, g->max_batch));
  }
}

static LLVMValueRef emit_step(Cg *c, const char *symbol, Kernel *kernels, const CgOptions *opt) {
  LLVMValueRef checker = opt->check_numerics ? emit_checker(c) : NULL;
  LLVMTypeRef params[4] = {c->ptr, c->ptr, c->ptr, c->i64};
  LLVMValueRef step = new_function(c, symbol, params, 4);
  const char *names[4] = {"arena", "params", "io", "n"};
  for (int i = 0; i < 4; i++) LLVMSetValueName2(LLVMGetParam(step, i), names[i], strlen(names[i]));
  int *last = opt->poison ? malloc(((size_t)c->g->count + 1) * sizeof *last) : NULL;
  if (last) ir_last_readers(c->g, last), poison(c, step, 0, c->g->arena_bytes);
  for (int g = 0; g < c->g->nkernels; g++) {
    Kernel *k = &kernels[g];
    LLVMValueRef *args = malloc((k->nbufs + 3) * sizeof *args);
    args[0] = LLVMGetParam(step, 3); /* n, and all of the outer loop: lo = 0, hi = -1 */
    args[1] = LLVMConstInt(c->i64, 0, 0), args[2] = LLVMConstInt(c->i64, (unsigned long long)-1, 1);
    for (int i = 0; i < k->nbufs; i++) args[i + 3] = address(c, step, k->keys[i]);
    LLVMValueRef t0 = opt->profile ? cycles(c) : NULL;
    if (k->task) emit_parallel_call(c, step, k, args + 3);
    else LLVMBuildCall2(c->b, LLVMGlobalGetValueType(k->fn), k->fn, args, k->nbufs + 3, "");
    free(args);
    if (t0) emit_count(c, step, t0, g);
    if (checker) emit_checks(c, step, checker, g);
    if (last) poison_dead(c, step, last, g);
  }
  free(last);
  LLVMBuildRetVoid(c->b);
  return step;
}

static LLVMValueRef emit_graph(Cg *c, const char *symbol, const CgOptions *opt);

/* each scan's body first, as a step function of its own (internal; no
 * numerics checks or cycle counts inside: those are the scan's) */
static bool emit_bodies(Cg *c, const char *symbol, const CgOptions *opt) {
  const IrGraph *g = c->g;
  CgOptions inner = {.threads = opt->threads, .vectors = opt->vectors};
  for (int i = 0; i < g->count; i++) {
    if (!g->nodes[i].body) continue;
    char name[256];
    snprintf(name, sizeof name, "%s.scan%d", symbol, i);
    char prefix[260];
    snprintf(prefix, sizeof prefix, "%s.", name);
    Cg body = *c;
    body.g = g->nodes[i].body;
    body.prefix = prefix;
    c->body_step[i] = emit_graph(&body, name, &inner);
    if (!c->body_step[i]) return false;
    LLVMSetLinkage(c->body_step[i], LLVMInternalLinkage);
  }
  return true;
}

/* g's kernels and its step function into c->mod; NULL without memory */
static LLVMValueRef emit_graph(Cg *c, const char *symbol, const CgOptions *opt) {
  const IrGraph *g = c->g;
  Kernel *kernels = calloc(g->nkernels + 1, sizeof *kernels);
  LLVMValueRef *val = calloc(g->count + 1, sizeof *val), step = NULL;
  int *member_index = calloc(g->count + 1, sizeof *member_index);
  c->body_step = calloc(g->count + 1, sizeof *c->body_step);
  Signatures done = {.cap = 16};
  while (done.cap < 2 * (size_t)g->nkernels) done.cap *= 2;
  done.text = calloc(done.cap, sizeof *done.text);
  done.first = calloc(done.cap, sizeof *done.first);
  if (kernels && val && member_index && c->body_step && done.text && done.first &&
      emit_bodies(c, symbol, opt)) {
    for (int i = 0; i < g->nkernels; i++) {
      kernels[i] = (Kernel){.cg = c, .group = i};
      emit_kernel(c, &kernels[i], val, &done, member_index, opt);
    }
    step = emit_step(c, symbol, kernels, opt);
  }
  for (int i = 0; kernels && i < g->nkernels; i++) free(kernels[i].keys), free(kernels[i].bufs);
  for (size_t i = 0; done.text && i < done.cap; i++) free(done.text[i]);
  free(done.text), free(done.first);
  free(member_index);
  free(kernels);
  free(val);
  free(c->body_step);
  c->body_step = NULL;
  return step;
}

LLVMModuleRef cg_build_module(LLVMContextRef ctx, const IrGraph *g, const char *symbol,
                              const CgOptions *opt) {
  Cg c = {.ctx = ctx, .g = g, .prefix = "", .vectors = opt->vectors};
  c.mod = LLVMModuleCreateWithNameInContext(symbol, ctx);
  c.b = LLVMCreateBuilderInContext(ctx);
  c.f32 = LLVMFloatTypeInContext(ctx);
  c.i32 = LLVMInt32TypeInContext(ctx);
  c.i64 = LLVMInt64TypeInContext(ctx);
  c.i1 = LLVMInt1TypeInContext(ctx);
  c.ptr = LLVMPointerTypeInContext(ctx, 0);
  c.voidt = LLVMVoidTypeInContext(ctx);
  LLVMValueRef step = emit_graph(&c, symbol, opt);
  LLVMDisposeBuilder(c.b);
  if (!step) {
    LLVMDisposeModule(c.mod);
    return NULL;
  }
  return c.mod;
}

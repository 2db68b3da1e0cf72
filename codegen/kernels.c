/* kernels.c — the loop nests of every kernel, as LLVM IR.
 *
 * An elementwise kernel is one loop nest over its shape in which each member
 * node is one SSA value per element; operands from outside the kernel are
 * loaded with numpy broadcasting, and a member is stored only if other kernels
 * read it (the plan gave it a buffer), it is an output, or it assigns a
 * parameter. All stores come after all loads of an iteration, which is what
 * makes `assign` in place safe. A reduction's kernel is such a loop over the
 * shape it reduces, with its elementwise producers and sibling reductions
 * (fuse) in it. Other ops get a kernel each; matmuls use a
 * register-tiled micro-kernel. Strides are constants (only dim 0 can be the
 * runtime batch) and axes that every operand treats alike are merged, so
 * LLVM sees long, simple affine loops it can vectorise. No fast-math:
 * reductions run in a fixed order, so results do not depend on the vector
 * width or the tiling. */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "emit.h"

typedef CgLoop Loop;

static LLVMValueRef i64c(Cg *c, int64_t v) { return LLVMConstInt(c->i64, (unsigned long long)v, 1); }
static LLVMValueRef f32c(Cg *c, double v) { return LLVMConstReal(c->f32, v); }
static const IrNode *nd(Kernel *k, int id) { return &k->cg->g->nodes[id]; }

static LLVMValueRef dim_value(Kernel *k, int64_t d) {
  return d == PG_BATCH ? k->n : i64c(k->cg, d);
}

static LLVMValueRef loop_begin(Kernel *k, Loop *l, LLVMValueRef bound) {
  Cg *c = k->cg;
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
  l->header = LLVMAppendBasicBlockInContext(c->ctx, k->fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(c->ctx, k->fn, "body");
  l->exit = LLVMAppendBasicBlockInContext(c->ctx, k->fn, "done");
  LLVMBuildBr(c->b, l->header);
  LLVMPositionBuilderAtEnd(c->b, l->header);
  l->iv = LLVMBuildPhi(c->b, c->i64, "i");
  LLVMValueRef zero = i64c(c, 0);
  LLVMAddIncoming(l->iv, &zero, &pre, 1);
  LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, l->iv, bound, ""), body, l->exit);
  LLVMPositionBuilderAtEnd(c->b, body);
  return l->iv;
}

static LLVMValueRef close_loop(Kernel *k, Loop *l) {
  Cg *c = k->cg;
  LLVMValueRef next = LLVMBuildNSWAdd(c->b, l->iv, i64c(c, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMValueRef back = LLVMBuildBr(c->b, l->header);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(c->b, l->exit);
  return back;
}

static void loop_end(Kernel *k, Loop *l) { close_loop(k, l); }

/* closes l with loop hints: "llvm.loop.unroll.disable", and a vector width
 * to force where width > 0 */
static void loop_end_hinted(Kernel *k, Loop *l, int width) {
  LLVMContextRef ctx = k->cg->ctx;
  LLVMValueRef back = close_loop(k, l);
  LLVMMetadataRef self = LLVMTemporaryMDNode(ctx, NULL, 0);
  LLVMMetadataRef parts[4] = {self, NULL, NULL, NULL};
  int nparts = 1;
  LLVMMetadataRef disable = LLVMMDStringInContext2(ctx, "llvm.loop.unroll.disable", 24);
  parts[nparts++] = LLVMMDNodeInContext2(ctx, &disable, 1);
  if (width > 0) {
    LLVMMetadataRef on[2], w[2];
    on[0] = LLVMMDStringInContext2(ctx, "llvm.loop.vectorize.enable", 26);
    on[1] = LLVMValueAsMetadata(LLVMConstInt(k->cg->i1, 1, 0));
    w[0] = LLVMMDStringInContext2(ctx, "llvm.loop.vectorize.width", 25);
    w[1] = LLVMValueAsMetadata(LLVMConstInt(k->cg->i32, (unsigned)width, 0));
    parts[nparts++] = LLVMMDNodeInContext2(ctx, on, 2);
    parts[nparts++] = LLVMMDNodeInContext2(ctx, w, 2);
  }
  LLVMMetadataRef id = LLVMMDNodeInContext2(ctx, parts, (size_t)nparts);
  LLVMMetadataReplaceAllUsesWith(self, id); /* a loop id names itself */
  unsigned kind = LLVMGetMDKindIDInContext(ctx, "llvm.loop", 9);
  LLVMSetMetadata(back, kind, LLVMMetadataAsValue(ctx, id));
}

/* a loop O3 may vectorise but not unroll: a matmul's edge loops over a
 * static k, fully unrolled, made basic blocks of thousands of loads and
 * stores whose scheduling (quadratic in them) took seconds to compile */
static void loop_end_rolled(Kernel *k, Loop *l) { loop_end_hinted(k, l, 0); }

/* closes the loop over a row of n elements inside a loop over rows: a short
 * row (under four vectors) stays a loop, which O3 would unroll and then
 * vectorise across the rows with gathers and scatters (a bias + relu over
 * [B*H*W, 32] took 2 cycles an element, now a fraction of one) */
static void loop_end_row(Kernel *k, Loop *l, int64_t n) {
  if (n < 4 * k->cg->vectors.lanes) loop_end_rolled(k, l);
  else loop_end(k, l);
}

/* a loop nest over every coordinate of a shape (dim 0 may be the batch) */
static void nest_begin(Kernel *k, const PgShape *s, Loop *loops, LLVMValueRef *coords) {
  for (int d = 0; d < s->rank; d++) coords[d] = loop_begin(k, &loops[d], dim_value(k, s->dim[d]));
}

static void nest_end(Kernel *k, const PgShape *s, Loop *loops) {
  for (int d = s->rank - 1; d >= 0; d--) loop_end(k, &loops[d]);
}

/* a scalar that lives across loop iterations; mem2reg makes it a register */
LLVMValueRef cg_entry_alloca(Kernel *k, LLVMTypeRef t, const char *name) {
  Cg *c = k->cg;
  LLVMBasicBlockRef here = LLVMGetInsertBlock(c->b);
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(k->fn);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first) LLVMPositionBuilderBefore(c->b, first);
  else LLVMPositionBuilderAtEnd(c->b, entry);
  LLVMValueRef slot = LLVMBuildAlloca(c->b, t, name);
  LLVMPositionBuilderAtEnd(c->b, here);
  return slot;
}

static LLVMValueRef local(Kernel *k, LLVMTypeRef t, LLVMValueRef init) {
  LLVMValueRef slot = cg_entry_alloca(k, t, "acc");
  LLVMBuildStore(k->cg->b, init, slot);
  return slot;
}

static LLVMValueRef intrinsic(Cg *c, const char *name, LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef type = LLVMTypeOf(args[0]);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, &type, 1);
  return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, &type, 1), fn, args, nargs, "");
}

/* exp(x) in f32 as straight-line arithmetic, so that loops over it vectorise
 * (llvm.exp lowers to a call of libm's expf per element): x = n ln2 + r with
 * |r| <= ln2/2 (ln2 in two parts, so n ln2 is exact to 2^-34), exp(r) by its
 * Taylor polynomial of degree 7 (truncation below 6e-9 relative: under a
 * tenth of an ulp), times 2^n as two powers of two built in the exponent bits
 * (each normal, so results near the ends of the range come out right: inf
 * above 88.72, subnormals below -87.33 unless flushed, 0 below -104). NaN
 * stays NaN. Within 2 ulp of a correctly rounded exp. */
static LLVMValueRef exp_f32(Cg *c, LLVMValueRef x) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef lo = f32c(c, -104), hi = f32c(c, 89);
  LLVMValueRef above[2] = {x, lo};
  LLVMValueRef below[2] = {intrinsic(c, "llvm.maxnum", above, 2), hi};
  LLVMValueRef xc = intrinsic(c, "llvm.minnum", below, 2);
  LLVMValueRef scaled = LLVMBuildFMul(b, xc, f32c(c, 1.4426950408889634), "");
  LLVMValueRef n = intrinsic(c, "llvm.rint", &scaled, 1);
  LLVMValueRef r = LLVMBuildFSub(b, xc, LLVMBuildFMul(b, n, f32c(c, 0.693359375), ""), "");
  r = LLVMBuildFSub(b, r, LLVMBuildFMul(b, n, f32c(c, -2.12194440e-4), ""), "");
  static const double taylor[] = {1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1};
  LLVMValueRef p = f32c(c, taylor[0]);
  for (int i = 1; i < 8; i++)
    p = LLVMBuildFAdd(b, LLVMBuildFMul(b, p, r, ""), f32c(c, taylor[i]), "");
  LLVMValueRef ni = LLVMBuildFPToSI(b, n, c->i32, "");
  LLVMValueRef half = LLVMBuildAShr(b, ni, LLVMConstInt(c->i32, 1, 0), "");
  LLVMValueRef parts[2] = {half, LLVMBuildSub(b, ni, half, "")};
  for (int i = 0; i < 2; i++) {
    LLVMValueRef bits = LLVMBuildShl(b, LLVMBuildAdd(b, parts[i], LLVMConstInt(c->i32, 127, 0), ""),
                                     LLVMConstInt(c->i32, 23, 0), "");
    p = LLVMBuildFMul(b, p, LLVMBuildBitCast(b, bits, c->f32, ""), "");
  }
  LLVMValueRef over = LLVMBuildFCmp(b, LLVMRealOGT, x, f32c(c, 88.72283935546875), "");
  p = LLVMBuildSelect(b, over, f32c(c, INFINITY), p, "");
  LLVMValueRef under = LLVMBuildFCmp(b, LLVMRealOLT, x, lo, "");
  p = LLVMBuildSelect(b, under, f32c(c, 0), p, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, p, "");
}

/* erf(x) in f32 as straight-line arithmetic (vectorises, as exp_f32): for
 * |x| < 1 its Taylor series to x^21 (truncation below 2e-8), above the
 * Abramowitz-Stegun form 7.1.26, 1 - t(a1 + t(a2 + ...)) exp(-x^2) with
 * t = 1/(1 + p|x|) (error below 1.5e-7), both on |x| with erf's sign put
 * back; within 3e-7 absolute of libm's erff. erf(+-inf) = +-1, NaN stays NaN. */
static LLVMValueRef erf_f32(Cg *c, LLVMValueRef x) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef ax = intrinsic(c, "llvm.fabs", &x, 1);
  LLVMValueRef x2 = LLVMBuildFMul(b, ax, ax, "");
  LLVMValueRef series = f32c(c, 0);
  double fact = 1; /* n!, for the coefficients (-1)^n 2/sqrt(pi) / (n! (2n+1)) */
  double coef[11];
  for (int n = 0; n <= 10; n++) {
    if (n) fact *= n;
    coef[n] = (n % 2 ? -1 : 1) * 1.1283791670955126 / (fact * (2 * n + 1));
  }
  for (int n = 10; n >= 0; n--)
    series = LLVMBuildFAdd(b, LLVMBuildFMul(b, series, x2, ""), f32c(c, coef[n]), "");
  series = LLVMBuildFMul(b, series, ax, "");
  static const double as[] = {1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592};
  LLVMValueRef den = LLVMBuildFAdd(b, f32c(c, 1), LLVMBuildFMul(b, ax, f32c(c, 0.3275911), ""), "");
  LLVMValueRef t = LLVMBuildFDiv(b, f32c(c, 1), den, "");
  LLVMValueRef p = f32c(c, as[0]);
  for (int i = 1; i < 5; i++) p = LLVMBuildFAdd(b, LLVMBuildFMul(b, p, t, ""), f32c(c, as[i]), "");
  LLVMValueRef bell = exp_f32(c, LLVMBuildFNeg(b, x2, ""));
  LLVMValueRef tail = LLVMBuildFMul(b, LLVMBuildFMul(b, p, t, ""), bell, "");
  LLVMValueRef far = LLVMBuildFSub(b, f32c(c, 1), tail, "");
  LLVMValueRef near = LLVMBuildFCmp(b, LLVMRealOLT, ax, f32c(c, 1), "");
  LLVMValueRef y = LLVMBuildSelect(b, near, series, far, "");
  LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, ax, f32c(c, 10), ""); /* inf: t = 0, p t = 0 */
  y = LLVMBuildSelect(b, big, f32c(c, 1), y, "");
  LLVMValueRef args[2] = {y, x};
  return intrinsic(c, "llvm.copysign", args, 2); /* NaN: y is NaN already */
}

/* f32 to i32 toward zero, as C and torch; out-of-range values saturate and
 * NaN becomes 0 (llvm.fptosi.sat), where a plain fptosi would be poison */
static LLVMValueRef to_i32(Cg *c, LLVMValueRef x) {
  const char *name = "llvm.fptosi.sat";
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef types[2] = {c->i32, c->f32};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->mod, id, types, 2);
  return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, types, 2), fn, &x, 1, "");
}

/* row-major index of a tensor of shape `of`, broadcast into `dom`, at coords */
static LLVMValueRef index_in(Kernel *k, const PgShape *of, const PgShape *dom,
                             LLVMValueRef *coords) {
  Cg *c = k->cg;
  LLVMValueRef idx = i64c(c, 0);
  int64_t stride = 1;
  for (int d = of->rank - 1; d >= 0; d--) {
    int dd = dom->rank - of->rank + d;
    if (of->dim[d] != 1 || dom->dim[dd] == 1)
      idx = LLVMBuildNSWAdd(c->b, idx, LLVMBuildNSWMul(c->b, coords[dd], i64c(c, stride), ""), "");
    if (d > 0) stride *= of->dim[d]; /* dims after 0 are static */
  }
  return idx;
}

static LLVMTypeRef elem_type(Kernel *k, int id) {
  return nd(k, id)->dtype == PG_F32 ? k->cg->f32 : k->cg->i32;
}

static LLVMValueRef elem_ptr(Kernel *k, LLVMValueRef base, LLVMTypeRef t, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(k->cg->b, t, base, &idx, 1, "");
}

/* out[lo, lo + count) = value */
static void fill(Kernel *k, LLVMValueRef out, LLVMValueRef lo, LLVMValueRef count, float value) {
  Loop z;
  LLVMValueRef i = LLVMBuildNSWAdd(k->cg->b, loop_begin(k, &z, count), lo, "");
  LLVMBuildStore(k->cg->b, f32c(k->cg, value), elem_ptr(k, out, k->cg->f32, i));
  loop_end(k, &z);
}

static LLVMValueRef load_at(Kernel *k, int id, LLVMValueRef idx) {
  LLVMTypeRef t = elem_type(k, id);
  return LLVMBuildLoad2(k->cg->b, t, elem_ptr(k, cg_buffer(k, id), t, idx), "");
}

static void store_at(Kernel *k, LLVMValueRef base, int id, LLVMValueRef idx, LLVMValueRef v) {
  LLVMBuildStore(k->cg->b, v, elem_ptr(k, base, elem_type(k, id), idx));
}

/* ---- elementwise kernels ---- */

/* The loop nest of an elementwise kernel, with adjacent axes merged wherever
 * every operand read from memory spans both or broadcasts over both: loops
 * get longer (a relu over [B,26,26,16] is one loop) and vectorise better. A
 * merged axis that holds the batch runs n times its static size. */
typedef struct {
  int rank;
  int64_t size[PG_MAX_RANK]; /* static part of each merged axis */
  bool batched[PG_MAX_RANK];
  int last[PG_MAX_RANK]; /* its innermost axis of the domain */
} Nest;

/* does a value of shape `of` broadcast over axis d of the domain? */
static bool broadcasts(const PgShape *of, const PgShape *dom, int d) {
  int od = of->rank - dom->rank + d;
  return od < 0 || (of->dim[od] == 1 && dom->dim[d] != 1);
}

static bool reads_memory(Kernel *k, int u) {
  IrOp op = nd(k, ir_alias_root(k->cg->g, u))->op;
  return nd(k, u)->group != k->group && !(ir_op_flags(op) & IR_INLINE);
}

/* the nest over dom, merging axes on which every view behaves alike */
static Nest coalesce(const PgShape *dom, const PgShape *const *views, int nviews) {
  Nest nest = {0};
  for (int d = 0; d < dom->rank; d++) {
    if (dom->dim[d] == 1) continue;
    int a = nest.rank - 1;
    for (int v = 0; a >= 0 && v < nviews; v++)
      if (broadcasts(views[v], dom, nest.last[a]) != broadcasts(views[v], dom, d)) a = -1;
    if (a < 0) a = nest.rank++, nest.size[a] = 1;
    if (dom->dim[d] == PG_BATCH) nest.batched[a] = true;
    else nest.size[a] *= dom->dim[d];
    nest.last[a] = d;
  }
  return nest;
}

/* a loop over [lo, hi) of [0, bound): the part of a split kernel's outer loop
 * this call runs (hi < 0: all of it); returns the loop's coordinate */
static LLVMValueRef part_begin(Kernel *k, Loop *l, LLVMValueRef bound) {
  Cg *c = k->cg;
  LLVMValueRef all = LLVMBuildICmp(c->b, LLVMIntSLT, k->hi, i64c(c, 0), "");
  LLVMValueRef hi = LLVMBuildSelect(c->b, all, bound, k->hi, "");
  return LLVMBuildNSWAdd(c->b, loop_begin(k, l, LLVMBuildNSWSub(c->b, hi, k->lo, "")), k->lo, "");
}

/* with `split`, the outermost axis runs only this call's part */
static void nest_begin_loops(Kernel *k, const Nest *nest, Loop *loops, LLVMValueRef *coords, bool split) {
  for (int a = 0; a < nest->rank; a++) {
    LLVMValueRef bound = i64c(k->cg, nest->size[a]);
    if (nest->batched[a]) bound = LLVMBuildNSWMul(k->cg->b, bound, k->n, "");
    coords[a] = split && a == 0 ? part_begin(k, &loops[a], bound) : loop_begin(k, &loops[a], bound);
  }
}

/* closes the first `begun` loops of a nest, innermost first */
static void nest_end_loops(Kernel *k, const Nest *nest, int begun, Loop *loops) {
  for (int a = begun - 1; a >= 0; a--) {
    if (a == begun - 1 && a > 0) loop_end_row(k, &loops[a], nest->size[a]);
    else loop_end(k, &loops[a]);
  }
}

/* the row-major index, in a value of shape `of`, of the nest's coordinates */
static LLVMValueRef nest_index(Kernel *k, const PgShape *of, const PgShape *dom, const Nest *nest,
                               LLVMValueRef *coords) {
  Cg *c = k->cg;
  LLVMValueRef idx = i64c(c, 0);
  for (int a = 0; a < nest->rank; a++) {
    if (broadcasts(of, dom, nest->last[a])) continue;
    int64_t stride = 1;
    for (int od = of->rank - dom->rank + nest->last[a] + 1; od < of->rank; od++) stride *= of->dim[od];
    idx = LLVMBuildNSWAdd(c->b, idx, LLVMBuildNSWMul(c->b, coords[a], i64c(c, stride), ""), "");
  }
  return idx;
}

static LLVMValueRef operand(Kernel *k, int u, const PgShape *dom, const Nest *nest,
                            LLVMValueRef *coords) {
  Cg *c = k->cg;
  if (nd(k, u)->group == k->group) return k->val[u];
  const IrNode *r = nd(k, ir_alias_root(c->g, u));
  if (r->op == IR_OP_CONST) return f32c(c, r->value);
  if (r->op == IR_OP_BATCH_SIZE) return LLVMBuildSIToFP(c->b, k->n, c->f32, "");
  return load_at(k, u, nest_index(k, &nd(k, u)->shape, dom, nest, coords));
}

static LLVMValueRef bool_to_f32(Cg *c, LLVMValueRef b) { return LLVMBuildUIToFP(c->b, b, c->f32, ""); }

static LLVMValueRef compare(Cg *c, IrOp op, LLVMValueRef a, LLVMValueRef b) {
  bool fp = LLVMTypeOf(a) == c->f32;
  LLVMRealPredicate rp = op == IR_OP_GT ? LLVMRealOGT : op == IR_OP_GE ? LLVMRealOGE : LLVMRealOEQ;
  LLVMIntPredicate ip = op == IR_OP_GT ? LLVMIntSGT : op == IR_OP_GE ? LLVMIntSGE : LLVMIntEQ;
  return bool_to_f32(c, fp ? LLVMBuildFCmp(c->b, rp, a, b, "") : LLVMBuildICmp(c->b, ip, a, b, ""));
}

static LLVMValueRef mix32(Cg *c, LLVMValueRef x) {
  LLVMBuilderRef b = c->b;
  x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, LLVMConstInt(c->i32, 16, 0), ""), "");
  x = LLVMBuildMul(b, x, LLVMConstInt(c->i32, 0x7feb352d, 0), "");
  x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, LLVMConstInt(c->i32, 15, 0), ""), "");
  x = LLVMBuildMul(b, x, LLVMConstInt(c->i32, 0x846ca68b, 0), "");
  return LLVMBuildXor(b, x, LLVMBuildLShr(b, x, LLVMConstInt(c->i32, 16, 0), ""), "");
}

/* counter-based uniform [0,1): a hash of (seed, stream, element index), so it
 * vectorises and needs no state between elements or steps */
static LLVMValueRef uniform(Cg *c, LLVMValueRef seed, int64_t stream, LLVMValueRef flat) {
  LLVMBuilderRef b = c->b;
  LLVMValueRef x = LLVMBuildTrunc(b, flat, c->i32, "");
  x = LLVMBuildAdd(b, x, LLVMBuildMul(b, seed, LLVMConstInt(c->i32, 0x9e3779b9, 0), ""), "");
  x = LLVMBuildAdd(b, x, LLVMConstInt(c->i32, (unsigned long long)stream * 0x85ebca6bu, 0), "");
  x = mix32(c, mix32(c, x));
  LLVMValueRef top24 = LLVMBuildUIToFP(b, LLVMBuildLShr(b, x, LLVMConstInt(c->i32, 8, 0), ""), c->f32, "");
  return LLVMBuildFMul(b, top24, f32c(c, 1.0 / 16777216.0), "");
}

/* a call of `float sym(float)` from a library the model declares: the JIT
 * finds it in the process (the driver loaded the library), an object file
 * leaves it undefined for the linker */
static LLVMValueRef call_extern(Cg *c, const char *sym, LLVMValueRef x) {
  LLVMTypeRef type = LLVMFunctionType(c->f32, &c->f32, 1, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, sym);
  if (!fn) fn = LLVMAddFunction(c->mod, sym, type);
  assert(LLVMGlobalGetValueType(fn) == type); /* the frontend keeps nnd's own names out */
  return LLVMBuildCall2(c->b, type, fn, &x, 1, "");
}

static LLVMValueRef eltwise_value(Kernel *k, const IrNode *n, LLVMValueRef *a, LLVMValueRef flat) {
  Cg *c = k->cg;
  LLVMBuilderRef b = c->b;
  switch (n->op) {
  case IR_OP_NEG: return LLVMBuildFNeg(b, a[0], "");
  case IR_OP_EXP: return exp_f32(c, a[0]);
  case IR_OP_LOG: return intrinsic(c, "llvm.log", a, 1);
  case IR_OP_SQRT: return intrinsic(c, "llvm.sqrt", a, 1);
  case IR_OP_RELU: /* NaN stays NaN, as in PyTorch */
    return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, a[0], f32c(c, 0), ""), f32c(c, 0), a[0], "");
  case IR_OP_ABS: return intrinsic(c, "llvm.fabs", a, 1);
  case IR_OP_FLOOR: return intrinsic(c, "llvm.floor", a, 1);
  case IR_OP_COS: return intrinsic(c, "llvm.cos", a, 1);
  case IR_OP_SIN: return intrinsic(c, "llvm.sin", a, 1);
  case IR_OP_SIGMOID: { /* 1 / (1 + exp(-x)): 0 for x -> -inf, 1 for x -> inf, never NaN but for NaN */
    LLVMValueRef minus = LLVMBuildFNeg(b, a[0], "");
    return LLVMBuildFDiv(b, f32c(c, 1), LLVMBuildFAdd(b, f32c(c, 1), exp_f32(c, minus), ""), "");
  }
  case IR_OP_CALL: return call_extern(c, n->name, a[0]);
  case IR_OP_ADD: return LLVMBuildFAdd(b, a[0], a[1], "");
  case IR_OP_SUB: return LLVMBuildFSub(b, a[0], a[1], "");
  case IR_OP_MUL: return LLVMBuildFMul(b, a[0], a[1], "");
  case IR_OP_DIV: return LLVMBuildFDiv(b, a[0], a[1], "");
  case IR_OP_MAX: return intrinsic(c, "llvm.maximum", a, 2);
  case IR_OP_MIN: return intrinsic(c, "llvm.minimum", a, 2);
  case IR_OP_POW: return intrinsic(c, "llvm.pow", a, 2);
  case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ: return compare(c, n->op, a[0], a[1]);
  case IR_OP_RANDOM_UNIFORM: return uniform(c, a[0], n->attr[0], flat);
  case IR_OP_SELECT: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNE, a[0], f32c(c, 0), ""), a[1], a[2], "");
  case IR_OP_ASSIGN: return a[1];
  case IR_OP_OUTPUT: case IR_OP_BROADCAST: return a[0];
  case IR_OP_ERF: return erf_f32(c, a[0]);
  case IR_OP_TO_F32: return LLVMBuildSIToFP(b, a[0], c->f32, "");
  case IR_OP_TO_I32: return to_i32(c, a[0]);
  /* not elementwise: never a member of a loop */
  case IR_OP_INPUT: case IR_OP_PARAM: case IR_OP_CONST: case IR_OP_BATCH_SIZE:
  case IR_OP_IOTA: case IR_OP_DATA: /* tensor constants */
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: case IR_OP_TRANSPOSE: case IR_OP_REVERSE:
  case IR_OP_SLICE: case IR_OP_UNSLICE: case IR_OP_CONCAT: case IR_OP_GATHER: case IR_OP_IM2COL:
  case IR_OP_COL2IM:
  case IR_OP_SCATTER_ADD: case IR_OP_MATMUL: case IR_OP_BATCH_MATMUL: case IR_OP_RESHAPE:
  case IR_OP_LOG_SOFTMAX: case IR_OP_ARGMAX: case IR_OP_ONE_HOT: case IR_OP_SCAN: case IR_OP_RESULT:
  case IR_OP_EDGE_GATHER: case IR_OP_SEGMENT_SUM: case IR_OP_SEGMENT_MAX:
  case IR_OP_COUNT: break;
  }
  assert(!"an op that is not elementwise in an elementwise loop");
  return NULL;
}

/* the views a loop over dom reads from memory: its members' operands (and
 * `extra`, when not NULL), for coalesce; free() the result */
static const PgShape **memory_views(Kernel *k, const int *members, int count, const PgShape *extra,
                                    int *nviews) {
  const PgShape **views = calloc(count * IR_MAX_IN + 2, sizeof *views);
  *nviews = 0;
  if (extra) views[(*nviews)++] = extra;
  for (int i = 0; i < count; i++)
    for (int j = 0; j < nd(k, members[i])->nin; j++)
      if (reads_memory(k, nd(k, members[i])->in[j]))
        views[(*nviews)++] = &nd(k, nd(k, members[i])->in[j])->shape;
  return views;
}

static bool is_reduction(Kernel *k, int id) { return ir_op_flags(nd(k, id)->op) & IR_REDUCTION; }
static bool is_indexed(Kernel *k, int id) {
  return ir_op_flags(nd(k, id)->op) & (IR_GATHERS | IR_SCATTERS);
}
/* a member that folds into its output instead of storing a value */
static bool folds(Kernel *k, int id) {
  return ir_op_flags(nd(k, id)->op) & (IR_REDUCTION | IR_SCATTERS);
}

/* where a loop over the edges [B, E, D...] is: example b, edge b*E + e and
 * element j of the row (NULL in other loops) */
typedef struct {
  LLVMValueRef example, edge, j;
} EdgeAt;

/* element j of row ids[edge] (clamped into the N rows) of example b, in a
 * [B, N, D...] value: the element a gather reads and a segment op folds into */
static LLVMValueRef node_element(Kernel *k, const IrNode *n, const PgShape *nodes,
                                 const EdgeAt *at) {
  Cg *c = k->cg;
  int64_t N = nodes->dim[1], row = pg_numel(nodes, 1) / N;
  LLVMValueRef t = LLVMBuildSExt(c->b, load_at(k, n->in[1], at->edge), c->i64, "");
  LLVMValueRef lo = i64c(c, 0), hi = i64c(c, N - 1);
  t = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, t, lo, ""), lo, t, "");
  t = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, t, hi, ""), hi, t, "");
  LLVMValueRef first = LLVMBuildNSWMul(c->b, at->example, i64c(c, N), ""); /* of example b */
  LLVMValueRef node = LLVMBuildNSWAdd(c->b, first, t, "");
  return LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, node, i64c(c, row), ""), at->j, "");
}

/* a gather's value, or a segment op folding x (sum, or max) into its output */
static LLVMValueRef indexed_member(Kernel *k, int id, LLVMValueRef x, const EdgeAt *at) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  if (ir_op_flags(n->op) & IR_GATHERS)
    return load_at(k, n->in[0], node_element(k, n, &nd(k, n->in[0])->shape, at));
  LLVMValueRef p = elem_ptr(k, cg_store_buffer(k, id), c->f32, node_element(k, n, &n->shape, at));
  LLVMValueRef args[2] = {LLVMBuildLoad2(c->b, c->f32, p, ""), x};
  bool max = n->op == IR_OP_SEGMENT_MAX;
  LLVMValueRef folded =
      max ? intrinsic(c, "llvm.maximum", args, 2) : LLVMBuildFAdd(c->b, args[0], x, "");
  LLVMBuildStore(c->b, folded, p);
  return NULL;
}

/* where a reduction member folds its operand: its output element `at`, or
 * with lanes, its partial sum lanes[r * LANES + lane], r its rank among the
 * kernel's reductions (see fold_in_lanes) */
typedef struct {
  LLVMValueRef at, lanes, lane;
} Fold;

#define LANES 8 /* partial sums of a row reduction: the same order on every ISA */

static LLVMValueRef fold_ptr(Kernel *k, const Fold *f, int id, int r) {
  Cg *c = k->cg;
  if (!f->lanes) return elem_ptr(k, cg_store_buffer(k, id), c->f32, f->at);
  return elem_ptr(k, f->lanes, c->f32, LLVMBuildNSWAdd(c->b, f->lane, i64c(c, r * LANES), ""));
}

/* a fold of two partial results of reduction id: a + b, or their max */
static LLVMValueRef combine(Kernel *k, int id, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  if (nd(k, id)->op == IR_OP_REDUCE_MAX) return intrinsic(k->cg, "llvm.maximum", args, 2);
  return LLVMBuildFAdd(k->cg->b, a, b, "");
}

/* folds x into the partial result at p */
static void accumulate(Kernel *k, int id, LLVMValueRef x, LLVMValueRef p) {
  Cg *c = k->cg;
  LLVMBuildStore(c->b, combine(k, id, LLVMBuildLoad2(c->b, c->f32, p, ""), x), p);
}

/* One iteration of a loop over dom at `coords`: each member in node order
 * (an elementwise value, or a reduction folding its operand into its output
 * element at `at`), then the stores of the elementwise members that other
 * kernels read, are outputs or assign a parameter: all stores after all
 * loads, which is what makes `assign` in place safe. */
static void loop_body(Kernel *k, const int *members, int count, const PgShape *dom, const Nest *nest,
                      LLVMValueRef *coords, const Fold *fold, const EdgeAt *edge) {
  LLVMValueRef flat = nest_index(k, dom, dom, nest, coords);
  for (int i = 0, r = 0; i < count; i++) {
    const IrNode *n = nd(k, members[i]);
    LLVMValueRef a[IR_MAX_IN];
    bool indexed = is_indexed(k, members[i]); /* its table and indices: not elementwise */
    for (int j = 0; j < (indexed ? 1 : n->nin); j++) a[j] = operand(k, n->in[j], dom, nest, coords);
    if (indexed) k->val[members[i]] = indexed_member(k, members[i], a[0], edge);
    else if (is_reduction(k, members[i]))
      accumulate(k, members[i], a[0], fold_ptr(k, fold, members[i], r++));
    else k->val[members[i]] = eltwise_value(k, n, a, flat);
  }
  for (int i = 0; i < count; i++) {
    LLVMValueRef dst = folds(k, members[i]) ? NULL : cg_store_buffer(k, members[i]);
    if (dst) store_at(k, dst, members[i], flat, k->val[members[i]]);
  }
}

static void emit_eltwise(Kernel *k, const int *members, int count) {
  PgShape dom = nd(k, members[0])->shape;
  int nviews;
  const PgShape **views = memory_views(k, members, count, NULL, &nviews);
  Nest nest = coalesce(&dom, views, nviews);
  free(views);
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK];
  if (nest.rank > 0) { /* elements are independent: the outer loop may run in parts */
    k->splits = true, k->outer = nest.size[0], k->outer_batched = nest.batched[0], k->align = 1;
    k->work = (double)count * pg_numel(&dom, k->cg->g->max_batch);
  }
  nest_begin_loops(k, &nest, loops, coords, true);
  loop_body(k, members, count, &dom, &nest, coords, NULL, NULL);
  nest_end_loops(k, &nest, nest.rank, loops);
}

/* ---- other kernels ---- */

/* C[M,N] = op(A) op(B) over the 2-D views of A and B (leading axes flattened
 * into rows, see rule_matmul). Without transpose_b the inner loop runs along
 * rows of B and C (contiguous: vectorises); with it, along a row of A and B. */
static LLVMValueRef row_count(Kernel *k, const PgShape *s, int drop_last);

/* The plain loops: C[i, j] for i in [i0, M) and j in [j0, N), every element a
 * sum over k in increasing order (a chain of fmuladds). Without transpose_b
 * the inner loop runs along rows of B and C (contiguous: vectorises); with
 * it, along a row of A and of B. */
static void matmul_loops(Kernel *k, LLVMValueRef A, LLVMValueRef B, LLVMValueRef C, LLVMValueRef i0, LLVMValueRef M,
                         LLVMValueRef K, int64_t j0, int64_t N, int64_t sa, int64_t sb, bool ta, bool tb) {
  Cg *c = k->cg;
  Loop li, lj, lk;
  LLVMValueRef i = LLVMBuildNSWAdd(c->b, loop_begin(k, &li, LLVMBuildNSWSub(c->b, M, i0, "")), i0, ""), j, kk;
  LLVMValueRef crow = LLVMBuildNSWMul(c->b, i, i64c(c, N), "");
#define COLUMN(v) LLVMBuildNSWAdd(c->b, v, i64c(c, j0), "")
  j = COLUMN(loop_begin(k, &lj, i64c(c, N - j0)));
  LLVMBuildStore(c->b, f32c(c, 0), elem_ptr(k, C, c->f32, LLVMBuildNSWAdd(c->b, crow, j, "")));
  loop_end(k, &lj);
  if (tb) j = COLUMN(loop_begin(k, &lj, i64c(c, N - j0)));
  kk = loop_begin(k, &lk, K);
  LLVMValueRef ia = ta ? LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, kk, i64c(c, sa), ""), i, "")
                       : LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, i, i64c(c, sa), ""), kk, "");
  LLVMValueRef av = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, A, c->f32, ia), "");
  if (!tb) j = COLUMN(loop_begin(k, &lj, i64c(c, N - j0)));
#undef COLUMN
  LLVMValueRef ib = tb ? LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, j, i64c(c, sb), ""), kk, "")
                       : LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, kk, i64c(c, sb), ""), j, "");
  LLVMValueRef bv = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, B, c->f32, ib), "");
  LLVMValueRef cp = elem_ptr(k, C, c->f32, LLVMBuildNSWAdd(c->b, crow, j, ""));
  LLVMValueRef args[3] = {av, bv, LLVMBuildLoad2(c->b, c->f32, cp, "")};
  LLVMBuildStore(c->b, intrinsic(c, "llvm.fmuladd", args, 3), cp);
  if (!tb) loop_end(k, &lj);
  loop_end_rolled(k, &lk);
  if (tb) loop_end(k, &lj);
  loop_end(k, &li);
}

#define BLOCK (64 * 1024) /* floats of B that one block of k reads: a fraction of L2 */

/* a product's full register tiles: C[M, N] (row stride N) from A and B with
 * row strides sa and sb, in tiles of mr rows by nv vectors */
typedef struct {
  LLVMValueRef A, B, C;
  int64_t N, sa, sb;
  bool ta;
  int mr, nv;
  LLVMValueRef a_origin; /* subtracted from A's indices (a packed panel of A), or NULL */
  LLVMValueRef b_source; /* B^T [N, K] (row stride sb_source), packed block by block of k
                          * into B (row stride N, row kk at (kk - b_origin) * N), or NULL */
  int64_t sb_source;
  LLVMValueRef b_origin;
} Tiles;

/* where row i of op(A) has column kk */
static LLVMValueRef a_index(Cg *c, const Tiles *t, LLVMValueRef i, LLVMValueRef kk) {
  LLVMValueRef s = i64c(c, t->sa), at;
  if (t->ta) at = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, kk, s, ""), i, "");
  else at = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, i, s, ""), kk, "");
  return t->a_origin ? LLVMBuildNSWSub(c->b, at, t->a_origin, "") : at;
}

#define PACK_A_MAX (8 * 1024) /* floats: a packed panel of A^T on the kernel's stack */

/* With transpose_a, a tile reads mr floats of each of A's rows kk, rows
 * sa floats apart: for a weight's gradient (X^T G), kc rows of a large
 * power-of-two stride that fall into a few cache sets and evict each other.
 * The tile's kc x mr panel is copied to the stack first (row kk of it at
 * kk * mr), read once per panel of B: the same floats, in the same order. */
static Tiles packed_a(Kernel *k, const Tiles *t, LLVMValueRef P, LLVMValueRef i0, LLVMValueRef k0,
                      LLVMValueRef klen) {
  Cg *c = k->cg;
  Loop lk, lr;
  LLVMValueRef kk = loop_begin(k, &lk, klen);
  LLVMValueRef r = loop_begin(k, &lr, i64c(c, t->mr));
  LLVMValueRef row = LLVMBuildNSWAdd(c->b, kk, k0, ""), i = LLVMBuildNSWAdd(c->b, i0, r, "");
  LLVMValueRef from = elem_ptr(k, t->A, c->f32, a_index(c, t, i, row));
  LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, from, "");
  LLVMValueRef to = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, kk, i64c(c, t->mr), ""), r, "");
  LLVMBuildStore(c->b, x, elem_ptr(k, P, c->f32, to));
  loop_end(k, &lr);
  loop_end(k, &lk);
  Tiles packed = *t;
  packed.A = P, packed.sa = t->mr;
  packed.a_origin = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, k0, i64c(c, t->mr), ""), i0, "");
  return packed;
}

static LLVMValueRef splat(Cg *c, LLVMValueRef x) {
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->vectors.lanes);
  LLVMValueRef lane0 = LLVMConstInt(c->i32, 0, 0);
  LLVMValueRef one = LLVMBuildInsertElement(c->b, LLVMGetPoison(vt), x, lane0, "");
  LLVMValueRef lanes = LLVMConstNull(LLVMVectorType(c->i32, c->vectors.lanes));
  return LLVMBuildShuffleVector(c->b, one, LLVMGetPoison(vt), lanes, "");
}

/* one step of k for the tile at (i0, j0): acc = fmuladd(A[i, kk], B[kk, j], sum) */
static void tile_step(Kernel *k, const Tiles *t, LLVMValueRef i0, LLVMValueRef j0, LLVMValueRef kk,
                      LLVMValueRef sum[8][4], LLVMValueRef acc[8][4]) {
  Cg *c = k->cg;
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->vectors.lanes);
  LLVMValueRef bv[4];
  LLVMValueRef row = t->b_origin ? LLVMBuildNSWSub(c->b, kk, t->b_origin, "") : kk;
  LLVMValueRef brow = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, row, i64c(c, t->sb), ""), j0, "");
  for (int v = 0; v < t->nv; v++) {
    LLVMValueRef at = LLVMBuildNSWAdd(c->b, brow, i64c(c, v * c->vectors.lanes), "");
    bv[v] = LLVMBuildLoad2(c->b, vt, elem_ptr(k, t->B, c->f32, at), "");
    LLVMSetAlignment(bv[v], 4);
  }
  for (int r = 0; r < t->mr; r++) {
    LLVMValueRef i = LLVMBuildNSWAdd(c->b, i0, i64c(c, r), "");
    LLVMValueRef ap = elem_ptr(k, t->A, c->f32, a_index(c, t, i, kk));
    LLVMValueRef a = LLVMBuildLoad2(c->b, c->f32, ap, "");
    LLVMValueRef as = splat(c, a);
    for (int v = 0; v < t->nv; v++) {
      LLVMValueRef args[3] = {as, bv[v], sum[r][v]};
      acc[r][v] = intrinsic(c, "llvm.fmuladd", args, 3);
    }
  }
}

/* the k loop over [k0, k0 + klen) of the tile at (i0, j0): acc flows in
 * from init and out as the sums, each a chain of fmuladds in increasing k */
static void tile_sums(Kernel *k, const Tiles *t, LLVMValueRef i0, LLVMValueRef j0, LLVMValueRef k0,
                      LLVMValueRef klen, LLVMValueRef acc[8][4]) {
  Cg *c = k->cg;
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->vectors.lanes);
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
  Loop lk;
  LLVMValueRef phi[8][4], next[8][4];
  LLVMValueRef kk = loop_begin(k, &lk, klen);
  LLVMBasicBlockRef body = LLVMGetInsertBlock(c->b);
  LLVMPositionBuilderBefore(c->b, LLVMGetNextInstruction(lk.iv)); /* accumulators: in the header */
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      phi[r][v] = LLVMBuildPhi(c->b, vt, "acc");
      LLVMAddIncoming(phi[r][v], &acc[r][v], &pre, 1);
    }
  LLVMPositionBuilderAtEnd(c->b, body);
  tile_step(k, t, i0, j0, LLVMBuildNSWAdd(c->b, kk, k0, ""), phi, next);
  LLVMValueRef step = LLVMBuildNSWAdd(c->b, lk.iv, i64c(c, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
  LLVMBuildBr(c->b, lk.header);
  LLVMAddIncoming(lk.iv, &step, &latch, 1);
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      LLVMAddIncoming(phi[r][v], &next[r][v], &latch, 1);
      acc[r][v] = phi[r][v];
    }
  LLVMPositionBuilderAtEnd(c->b, lk.exit);
}

/* where vector v of row r of the tile at (i0, j0) lies in C */
static LLVMValueRef tile_ptr(Kernel *k, const Tiles *t, LLVMValueRef i0, LLVMValueRef j0, int r,
                             int v) {
  Cg *c = k->cg;
  LLVMValueRef i = LLVMBuildNSWAdd(c->b, i0, i64c(c, r), "");
  LLVMValueRef row = LLVMBuildNSWMul(c->b, i, i64c(c, t->N), "");
  LLVMValueRef col = LLVMBuildNSWAdd(c->b, j0, i64c(c, v * c->vectors.lanes), "");
  return elem_ptr(k, t->C, c->f32, LLVMBuildNSWAdd(c->b, row, col, ""));
}

/* one block of k for the tile at (i0, j0): from zero in the first block
 * (first true), else from the partial sums stored in C. A float stored and
 * loaded again is the same float, so blocking leaves every chain as it was. */
static void tile_block(Kernel *k, const Tiles *t, LLVMValueRef i0, LLVMValueRef j0, LLVMValueRef k0,
                       LLVMValueRef klen, LLVMValueRef first) {
  Cg *c = k->cg;
  LLVMTypeRef vt = LLVMVectorType(c->f32, c->vectors.lanes);
  LLVMValueRef acc[8][4], zero = LLVMConstNull(vt);
  LLVMBasicBlockRef from = LLVMGetInsertBlock(c->b);
  LLVMBasicBlockRef reload = LLVMAppendBasicBlockInContext(c->ctx, k->fn, "reload");
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, k->fn, "sums");
  LLVMBuildCondBr(c->b, first, join, reload); /* no read of C before its first store */
  LLVMPositionBuilderAtEnd(c->b, reload);
  LLVMValueRef old[8][4];
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      old[r][v] = LLVMBuildLoad2(c->b, vt, tile_ptr(k, t, i0, j0, r, v), "");
      LLVMSetAlignment(old[r][v], 4);
    }
  LLVMBuildBr(c->b, join);
  LLVMPositionBuilderAtEnd(c->b, join);
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      acc[r][v] = LLVMBuildPhi(c->b, vt, "init");
      LLVMAddIncoming(acc[r][v], &zero, &from, 1);
      LLVMAddIncoming(acc[r][v], &old[r][v], &reload, 1);
    }
  tile_sums(k, t, i0, j0, k0, klen, acc);
  for (int r = 0; r < t->mr; r++)
    for (int v = 0; v < t->nv; v++) {
      LLVMValueRef st = LLVMBuildStore(c->b, acc[r][v], tile_ptr(k, t, i0, j0, r, v));
      LLVMSetAlignment(st, 4);
    }
}

/* columns [k0, k0 + klen) of B[N,K] (row stride sb) copied to rows
 * [0, klen) of the [klen, N] array P, read along B's rows; the products
 * then read P as an untransposed B */
static void pack_b_rows(Kernel *k, LLVMValueRef P, LLVMValueRef B, LLVMValueRef k0,
                        LLVMValueRef klen, int64_t N, int64_t sb) {
  Cg *c = k->cg;
  Loop lj, lk;
  LLVMValueRef j = loop_begin(k, &lj, i64c(c, N));
  LLVMValueRef kk = loop_begin(k, &lk, klen);
  LLVMValueRef col = LLVMBuildNSWAdd(c->b, kk, k0, "");
  LLVMValueRef from = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, j, i64c(c, sb), ""), col, "");
  LLVMValueRef to = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, kk, i64c(c, N), ""), j, "");
  LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, B, c->f32, from), "");
  LLVMBuildStore(c->b, v, elem_ptr(k, P, c->f32, to));
  loop_end(k, &lk);
  loop_end(k, &lj);
}

/* The register-tiled kernel for the full tiles: an MR x NV*lanes block of C
 * is accumulated in registers, so each row of B is read once per MR rows of
 * A instead of once per row. k runs in blocks whose rows of B (BLOCK floats
 * at most) stay in cache while every row tile of [r0, r1) reads them: a
 * long k (a weight's gradient sums over the batch) would otherwise stream
 * all of B from memory once per row tile. Every element is still the same
 * chain of fmuladds in increasing k, so the result is bit for bit that of
 * the plain loops. Rows [r0, r1) (a multiple of MR), columns [col0, col0 +
 * ncols) (a multiple of NV vectors). */
static void matmul_tiles(Kernel *k, const Tiles *t, LLVMValueRef r0, LLVMValueRef r1,
                         LLVMValueRef K, int64_t col0, int64_t ncols) {
  Cg *c = k->cg;
  int64_t kc = BLOCK / t->N > c->vectors.lanes ? BLOCK / t->N : c->vectors.lanes;
  Loop lb, lj, li;
  LLVMValueRef end = LLVMBuildNSWAdd(c->b, K, i64c(c, kc - 1), "");
  LLVMValueRef blocks = LLVMBuildSDiv(c->b, end, i64c(c, kc), "");
  LLVMValueRef none = LLVMBuildICmp(c->b, LLVMIntSLT, blocks, i64c(c, 1), "");
  blocks = LLVMBuildSelect(c->b, none, i64c(c, 1), blocks, ""); /* K = 0: one block stores zeros */
  LLVMValueRef kb = loop_begin(k, &lb, blocks);
  LLVMValueRef k0 = LLVMBuildNSWMul(c->b, kb, i64c(c, kc), "");
  LLVMValueRef left = LLVMBuildNSWSub(c->b, K, k0, "");
  LLVMValueRef full = LLVMBuildICmp(c->b, LLVMIntSLT, i64c(c, kc), left, "");
  LLVMValueRef klen = LLVMBuildSelect(c->b, full, i64c(c, kc), left, "");
  LLVMValueRef first = LLVMBuildICmp(c->b, LLVMIntEQ, kb, i64c(c, 0), "");
  Tiles blocked = *t;
  if (t->b_source) { /* this block of B^T, transposed, read by every row tile */
    LLVMValueRef P = cg_entry_alloca(k, LLVMArrayType2(c->f32, (uint64_t)(kc * t->N)), "packed_b");
    LLVMSetAlignment(P, 64);
    pack_b_rows(k, P, t->b_source, k0, klen, t->N, t->sb_source);
    blocked.B = P, blocked.sb = t->N, blocked.b_origin = k0;
  }
  t = &blocked;
  LLVMValueRef tiles = LLVMBuildSDiv(c->b, LLVMBuildNSWSub(c->b, r1, r0, ""), i64c(c, t->mr), "");
  LLVMValueRef i = LLVMBuildNSWMul(c->b, loop_begin(k, &li, tiles), i64c(c, t->mr), "");
  LLVMValueRef i0 = LLVMBuildNSWAdd(c->b, i, r0, "");
  Tiles packed = *t;
  if (t->ta && kc * t->mr <= PACK_A_MAX) {
    LLVMValueRef P = cg_entry_alloca(k, LLVMArrayType2(c->f32, (uint64_t)(kc * t->mr)), "packed_a");
    LLVMSetAlignment(P, 64);
    packed = packed_a(k, t, P, i0, k0, klen);
  }
  LLVMValueRef panels = i64c(c, ncols / (t->nv * c->vectors.lanes));
  LLVMValueRef panel = i64c(c, t->nv * c->vectors.lanes);
  LLVMValueRef j = LLVMBuildNSWMul(c->b, loop_begin(k, &lj, panels), panel, "");
  LLVMValueRef j0 = LLVMBuildNSWAdd(c->b, j, i64c(c, col0), "");
  tile_block(k, &packed, i0, j0, k0, klen, first);
  loop_end(k, &lj);
  loop_end(k, &li);
  loop_end(k, &lb);
}

#define PACK_MAX (64 * 1024) /* floats: a packed B^T lives on the kernel's stack */

/* With transpose_b, neither operand runs along the columns of C, so the
 * tiles cannot use it as it is; a copy of B^T can, where K is static, the
 * copy fits on the stack and N is at least one vector wide. */
static bool packs_b(const Cg *c, LLVMValueRef K, int64_t N, bool tb) {
  if (!tb || N < c->vectors.lanes || !LLVMIsAConstantInt(K)) return false;
  return LLVMConstIntGetSExtValue(K) * N <= PACK_MAX;
}

/* B[N,K] (row stride sb) copied whole to a [K,N] array on the stack */
static LLVMValueRef pack_b(Kernel *k, LLVMValueRef B, LLVMValueRef K, int64_t N, int64_t sb) {
  Cg *c = k->cg;
  int64_t kn = LLVMConstIntGetSExtValue(K) * N;
  LLVMValueRef P = cg_entry_alloca(k, LLVMArrayType2(c->f32, (uint64_t)kn), "packed_b");
  LLVMSetAlignment(P, 64);
  pack_b_rows(k, P, B, i64c(c, 0), K, N, sb);
  return P;
}

/* Otherwise B^T is copied for the tiles one block of k at a time (in
 * matmul_tiles: kc x N floats, at most BLOCK, on the stack), where N is at
 * least one vector wide: the backward pass's dA = dC B^T reads the weight
 * as it is, with no transposed copy in memory */
static bool packs_b_blocks(const Cg *c, LLVMValueRef K, int64_t N, bool tb) {
  return tb && N >= c->vectors.lanes && N * c->vectors.lanes <= BLOCK && !packs_b(c, K, N, tb);
}

/* whether the tiles would read B transposed: no copy of B^T for them */
static bool tiles_read_b_transposed(const Cg *c, LLVMValueRef K, int64_t N, bool tb) {
  return tb && !packs_b(c, K, N, tb) && !packs_b_blocks(c, K, N, tb);
}

/* the register tile of a product with N columns: nv vectors by mr rows
 * (tb: B as the tiles read it, after any packing), its mr x nv accumulators,
 * nv vectors of B and a broadcast of A within the target's registers: 4 x 4
 * with 32 registers (AVX-512), 6 x 2 with 16 (AVX); one vector wide, 8 rows */
static void tile_shape(const Cg *c, int64_t N, bool tb, int *mr, int *nv) {
  int most = c->vectors.registers >= 32 ? 4 : 2;
  int64_t fit = N / c->vectors.lanes;
  *nv = tb ? 0 : (int)(fit < most ? fit : most);
  *mr = *nv < 2 ? 8 : most == 4 ? 4 : 6;
}

/* rows [r0, r1) of C[M,N] (row stride N) = op(A) op(B), A and B with row
 * strides sa and sb: register tiles where they fit (after packing B^T where
 * transposed), plain loops for the edges */
static void matmul_body(Kernel *k, LLVMValueRef A, LLVMValueRef B, LLVMValueRef C, LLVMValueRef r0, LLVMValueRef r1,
                        LLVMValueRef K, int64_t N, int64_t sa, int64_t sb, bool ta, bool tb) {
  Cg *c = k->cg;
  int mr, nv;
  if (packs_b(c, K, N, tb)) {
    B = pack_b(k, B, K, N, sb);
    sb = N;
    tb = false;
  }
  tile_shape(c, N, tiles_read_b_transposed(c, K, N, tb), &mr, &nv);
  if (nv == 0) {
    matmul_loops(k, A, B, C, r0, r1, K, 0, N, sa, sb, ta, tb);
    return;
  }
  int lanes = c->vectors.lanes;
  int64_t nfull = N - N % (nv * lanes), vecs = (N - nfull) / lanes, nvec = nfull + vecs * lanes;
  LLVMValueRef span = LLVMBuildNSWSub(c->b, r1, r0, "");
  LLVMValueRef rfull = LLVMBuildNSWSub(c->b, r1, LLVMBuildSRem(c->b, span, i64c(c, mr), ""), "");
  Tiles t = {A, B, C, N, sa, sb, ta, mr, nv, NULL, NULL, 0, NULL};
  if (tb) t.b_source = B, t.sb_source = sb; /* packs_b_blocks */
  matmul_tiles(k, &t, r0, rfull, K, 0, nfull);
  if (tb) { /* the edges read B^T as it is */
    matmul_loops(k, A, B, C, r0, rfull, K, nfull, N, sa, sb, ta, tb); /* right edge */
    matmul_loops(k, A, B, C, rfull, r1, K, 0, N, sa, sb, ta, tb);     /* bottom rows */
    return;
  }
  Tiles edge = t, row = t;
  edge.nv = (int)vecs, row.mr = 1;
  if (vecs) matmul_tiles(k, &edge, r0, rfull, K, nfull, nvec - nfull); /* whole vectors right */
  matmul_tiles(k, &row, rfull, r1, K, 0, nfull); /* bottom rows, a row at a time */
  row.nv = (int)vecs;
  if (vecs) matmul_tiles(k, &row, rfull, r1, K, nfull, nvec - nfull);
  if (nvec < N) matmul_loops(k, A, B, C, r0, r1, K, nvec, N, sa, sb, ta, tb); /* the last columns */
}

/* the rows [lo, hi) of this call (all rows when hi < 0) */
static void row_part(Kernel *k, LLVMValueRef rows, LLVMValueRef *r0, LLVMValueRef *r1) {
  Cg *c = k->cg;
  *r0 = k->lo;
  *r1 = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k->hi, i64c(c, 0), ""), rows, k->hi, "");
}

static void emit_matmul(Kernel *k, int id) {
  const IrNode *n = nd(k, id);
  int a = n->in[0], b = n->in[1];
  bool ta = n->attr[0], tb = n->attr[1];
  const PgShape *sa_shape = &nd(k, a)->shape;
  int64_t sa = sa_shape->dim[sa_shape->rank - 1], sb = nd(k, b)->shape.dim[nd(k, b)->shape.rank - 1]; /* row strides */
  int64_t N = n->shape.dim[n->shape.rank - 1];
  LLVMValueRef rows_a = row_count(k, sa_shape, 1);
  LLVMValueRef M = ta ? i64c(k->cg, sa) : rows_a, K = ta ? rows_a : i64c(k->cg, sa);
  int mr, nv; /* rows of C are independent: the kernel may run in parts of whole tiles */
  tile_shape(k->cg, N, tiles_read_b_transposed(k->cg, K, N, tb), &mr, &nv);
  PgShape rows = *sa_shape;
  rows.rank--;
  k->splits = true, k->align = mr;
  k->outer = ta ? sa : pg_numel(&rows, 1);
  k->outer_batched = !ta && rows.rank && rows.dim[0] == PG_BATCH;
  k->work = (double)pg_numel(sa_shape, k->cg->g->max_batch) * N;
  LLVMValueRef r0, r1;
  row_part(k, M, &r0, &r1);
  matmul_body(k, cg_buffer(k, a), cg_buffer(k, b), cg_store_buffer(k, id), r0, r1, K, N, sa, sb, ta, tb);
}

/* one matrix product per index of the leading axes (rank >= 3, the batch
 * among them or not), at offsets into the three buffers: the leading axes
 * are one flattened loop, which is the kernel's parallel outer axis */
static void emit_batch_matmul(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  const PgShape *sa = &nd(k, n->in[0])->shape, *sb = &nd(k, n->in[1])->shape, *so = &n->shape;
  int r = so->rank;
  bool ta = n->attr[0], tb = n->attr[1];
  int64_t inner = sa->dim[ta ? r - 2 : r - 1];
  PgShape lead = *so;
  lead.rank = r - 2;
  k->splits = true, k->align = 1;
  k->outer_batched = so->dim[0] == PG_BATCH;
  k->outer = pg_numel(&lead, 1);
  k->work = (double)pg_numel(so, c->g->max_batch) * inner;
  Loop lb;
  LLVMValueRef e = part_begin(k, &lb, row_count(k, so, 2));
  LLVMValueRef offa = LLVMBuildNSWMul(c->b, e, i64c(c, sa->dim[r - 2] * sa->dim[r - 1]), "");
  LLVMValueRef offb = LLVMBuildNSWMul(c->b, e, i64c(c, sb->dim[r - 2] * sb->dim[r - 1]), "");
  LLVMValueRef offc = LLVMBuildNSWMul(c->b, e, i64c(c, so->dim[r - 2] * so->dim[r - 1]), "");
  LLVMValueRef A = elem_ptr(k, cg_buffer(k, n->in[0]), c->f32, offa);
  LLVMValueRef B = elem_ptr(k, cg_buffer(k, n->in[1]), c->f32, offb);
  LLVMValueRef C = elem_ptr(k, cg_store_buffer(k, id), c->f32, offc);
  LLVMValueRef M = i64c(c, so->dim[r - 2]);
  matmul_body(k, A, B, C, i64c(c, 0), M, i64c(c, inner), so->dim[r - 1], sa->dim[r - 1],
              sb->dim[r - 1], ta, tb);
  loop_end(k, &lb);
}

/* every reduction of the kernel: outputs [lo, lo + count) = 0 (or -inf) */
static void clear_outputs(Kernel *k, const int *members, int count, LLVMValueRef lo, LLVMValueRef n) {
  for (int i = 0; i < count; i++)
    if (is_reduction(k, members[i]))
      fill(k, cg_store_buffer(k, members[i]), lo, n, nd(k, members[i])->op == IR_OP_REDUCE_MAX ? -INFINITY : 0);
}

/* Is the nest's innermost axis one that every output folds away (a row
 * reduced along memory), long enough for fold_in_lanes? */
static bool folds_rows(const Nest *nest, const PgShape *in, const PgShape *out_view) {
  int a = nest->rank - 1;
  return a >= 0 && !nest->batched[a] && nest->size[a] >= 2 * LANES &&
         broadcasts(out_view, in, nest->last[a]);
}

/* the lanes acc[first .. first + lanes) combined pairwise ((0,1),(2,3)),...
 * by pair(k, id, a, b): a fixed order, whatever the vector width */
typedef LLVMValueRef (*Pair)(Kernel *k, int id, LLVMValueRef a, LLVMValueRef b);
static LLVMValueRef lanes_total(Kernel *k, LLVMValueRef acc, int64_t first, int lanes, Pair pair,
                                int id) {
  Cg *c = k->cg;
  LLVMValueRef v[LANES];
  for (int l = 0; l < lanes; l++)
    v[l] = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, acc, c->f32, i64c(c, first + l)), "");
  for (int w = lanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; l++) v[l] = pair(k, id, v[2 * l], v[2 * l + 1]);
  return v[0];
}

/* The innermost axis of a reduction's nest (reduced, S elements) in LANES
 * partial results per reduction: element i folds into lane i % LANES, the
 * lanes combine pairwise ((0,1),(2,3)),... and their total folds into the
 * output element `at`. The order is fixed, whatever the vector width; the
 * lane loop is one vector iteration, where one in-order chain took an
 * add's latency per element and kept its producers (exp) scalar. */
static void fold_in_lanes(Kernel *k, const int *members, int count, const PgShape *in,
                          const Nest *nest, LLVMValueRef *coords, LLVMValueRef at) {
  Cg *c = k->cg;
  int a = nest->rank - 1, nred = 0;
  for (int i = 0; i < count; i++) nred += is_reduction(k, members[i]);
  LLVMValueRef lanes = cg_entry_alloca(k, LLVMArrayType2(c->f32, (uint64_t)nred * LANES), "lanes");
  for (int i = 0, r = 0; i < count; i++)
    if (is_reduction(k, members[i]))
      fill(k, lanes, i64c(c, LANES * r++), i64c(c, LANES),
           nd(k, members[i])->op == IR_OP_REDUCE_MAX ? -INFINITY : 0);
  int64_t chunks = nest->size[a] / LANES, rest = nest->size[a] % LANES;
  Loop lq, lj, lt;
  LLVMValueRef q = LLVMBuildNSWMul(c->b, loop_begin(k, &lq, i64c(c, chunks)), i64c(c, LANES), "");
  Fold f = {at, lanes, loop_begin(k, &lj, i64c(c, LANES))};
  coords[a] = LLVMBuildNSWAdd(c->b, q, f.lane, "");
  loop_body(k, members, count, in, nest, coords, &f, NULL);
  loop_end_hinted(k, &lj, LANES);
  loop_end(k, &lq);
  if (rest) { /* the last elements, into lanes 0 .. rest - 1 */
    f.lane = loop_begin(k, &lt, i64c(c, rest));
    coords[a] = LLVMBuildNSWAdd(c->b, f.lane, i64c(c, chunks * LANES), "");
    loop_body(k, members, count, in, nest, coords, &f, NULL);
    loop_end_rolled(k, &lt);
  }
  for (int i = 0, r = 0; i < count; i++) {
    if (!is_reduction(k, members[i])) continue;
    LLVMValueRef total = lanes_total(k, lanes, LANES * r++, LANES, combine, members[i]);
    accumulate(k, members[i], total, elem_ptr(k, cg_store_buffer(k, members[i]), c->f32, at));
  }
}

/* A reduction loop: one nest over the shape its reductions read (fuse gives
 * them one set of axes, and its elementwise members that shape), in which
 * each reduction folds its operand into the output element it projects to,
 * after the elementwise members it reads are computed. Each output starts at
 * 0 (or -inf) and takes the input elements in memory order, or, along a
 * reduced innermost axis, in the lanes of fold_in_lanes: a fixed order, the
 * same whether its operand is computed in the loop or loaded. max
 * propagates NaN, as torch.amax does. When the outer axis is kept, each of
 * its coordinates owns a block of every output: the kernel splits there,
 * clearing and filling one block at a time. */
static void emit_reduction(Kernel *k, const int *members, int count) {
  Cg *c = k->cg;
  int first = 0;
  while (!is_reduction(k, members[first])) first++;
  const PgShape *in = ir_loop_shape(c->g, members[first]), *out_view = &nd(k, members[first])->shape;
  int nviews;
  const PgShape **views = memory_views(k, members, count, out_view, &nviews);
  Nest nest = coalesce(in, views, nviews); /* axes merged where all are kept or all reduced */
  free(views);
  bool split = nest.rank > 1 && !broadcasts(out_view, in, nest.last[0]);
  bool in_lanes = folds_rows(&nest, in, out_view);
  int loops_begun = in_lanes ? nest.rank - 1 : nest.rank; /* fold_in_lanes runs the last */
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK];
  if (!split) clear_outputs(k, members, count, i64c(c, 0), row_count(k, out_view, 0));
  for (int a = 0; a < loops_begun; a++) {
    LLVMValueRef bound = i64c(c, nest.size[a]);
    if (nest.batched[a]) bound = LLVMBuildNSWMul(c->b, bound, k->n, "");
    if (a > 0 || !split) {
      coords[a] = loop_begin(k, &loops[a], bound);
      continue;
    }
    int64_t block = 1;
    for (int od = out_view->rank - in->rank + nest.last[0] + 1; od < out_view->rank; od++)
      block *= out_view->dim[od];
    k->splits = true, k->outer = nest.size[0], k->outer_batched = nest.batched[0], k->align = 1;
    k->work = (double)count * pg_numel(in, c->g->max_batch);
    coords[0] = part_begin(k, &loops[0], bound);
    LLVMValueRef lo = LLVMBuildNSWMul(c->b, coords[0], i64c(c, block), "");
    clear_outputs(k, members, count, lo, i64c(c, block));
  }
  LLVMValueRef at = nest_index(k, out_view, in, &nest, coords); /* the output element */
  Fold whole = {at, NULL, NULL};
  if (in_lanes) fold_in_lanes(k, members, count, in, &nest, coords, at);
  else loop_body(k, members, count, in, &nest, coords, &whole, NULL);
  nest_end_loops(k, &nest, loops_begun, loops);
}

/* out[i] = 0 where it is -inf, for i in [0, count) */
static void unreached_to_zero(Kernel *k, LLVMValueRef out, LLVMValueRef count) {
  Cg *c = k->cg;
  Loop z;
  LLVMValueRef p = elem_ptr(k, out, c->f32, loop_begin(k, &z, count));
  LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, p, "");
  LLVMValueRef unreached = LLVMBuildFCmp(c->b, LLVMRealOEQ, x, f32c(c, -INFINITY), "");
  LLVMBuildStore(c->b, LLVMBuildSelect(c->b, unreached, f32c(c, 0), x, ""), p);
  loop_end(k, &z);
}

/* A loop over the edges [B, E, D...] of an edge_gather or a segment op and
 * the elementwise members between them (message passing): the nest keeps
 * the example, edge and row axes apart, so that each element knows where it
 * is (EdgeAt); a gather loads its element from row ids[b, e], the segment op
 * folds its operand into row ids[b, e] of its output, which starts at 0 (or
 * -inf, and a max row still at -inf, which no edge reached, becomes 0).
 * Edges are taken in order and the loop is not split among threads: two
 * edges may fold into one row. */
static void emit_indexed(Kernel *k, const int *members, int count) {
  Cg *c = k->cg;
  int first = 0, fold = -1;
  while (!is_indexed(k, members[first])) first++;
  for (int i = 0; i < count; i++)
    if (folds(k, members[i])) fold = members[i];
  const PgShape *dom = ir_loop_shape(c->g, members[first]);
  PgShape example = *dom, edge = *dom, row = *dom;
  for (int d = 1; d < dom->rank; d++) example.dim[d] = 1;
  for (int d = 2; d < dom->rank; d++) edge.dim[d] = 1;
  row.dim[0] = row.dim[1] = 1;
  const PgShape *apart[3] = {&example, &edge, &row};
  int nviews;
  const PgShape **views = memory_views(k, members, count, NULL, &nviews);
  for (int i = 0; i < 3; i++) views[nviews++] = apart[i];
  Nest nest = coalesce(dom, views, nviews);
  free(views);
  if (fold >= 0)
    fill(k, cg_store_buffer(k, fold), i64c(c, 0), row_count(k, &nd(k, fold)->shape, 0),
         nd(k, fold)->op == IR_OP_SEGMENT_MAX ? -INFINITY : 0);
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK];
  nest_begin_loops(k, &nest, loops, coords, false);
  EdgeAt at;
  at.example = nest_index(k, &example, dom, &nest, coords);
  at.edge = nest_index(k, &edge, dom, &nest, coords);
  at.j = nest_index(k, &row, dom, &nest, coords);
  loop_body(k, members, count, dom, &nest, coords, NULL, &at);
  nest_end_loops(k, &nest, nest.rank, loops);
  if (fold >= 0 && nd(k, fold)->op == IR_OP_SEGMENT_MAX)
    unreached_to_zero(k, cg_store_buffer(k, fold), row_count(k, &nd(k, fold)->shape, 0));
}

/* a loop over one shape: with reductions in it, message passing, or
 * elementwise alone */
static void emit_loop(Kernel *k, const int *members, int count) {
  bool reduces = false, indexed = false;
  for (int i = 0; i < count; i++) reduces |= is_reduction(k, members[i]);
  for (int i = 0; i < count; i++) indexed |= is_indexed(k, members[i]);
  if (indexed) emit_indexed(k, members, count);
  else if (reduces) emit_reduction(k, members, count);
  else emit_eltwise(k, members, count);
}

/* rows of a tensor whose last axis is the one reduced */
static LLVMValueRef row_count(Kernel *k, const PgShape *s, int drop_last) {
  PgShape rows = *s;
  rows.rank -= drop_last;
  LLVMValueRef r = i64c(k->cg, pg_numel(&rows, 1));
  if (rows.rank && rows.dim[0] == PG_BATCH) r = LLVMBuildNSWMul(k->cg->b, r, k->n, "");
  return r;
}

static LLVMValueRef fload(Kernel *k, LLVMValueRef slot) { return LLVMBuildLoad2(k->cg->b, k->cg->f32, slot, ""); }

/* a row fold's term at element `at` of X, for row_fold */
typedef LLVMValueRef (*RowTerm)(Kernel *k, LLVMValueRef X, LLVMValueRef at, LLVMValueRef shift);

/* the larger of a and b by an ordered compare (NaN in b is passed over),
 * and the sum: row_fold's pairs */
static LLVMValueRef row_max(Kernel *k, int id, LLVMValueRef a, LLVMValueRef b) {
  (void)id;
  LLVMValueRef b_larger = LLVMBuildFCmp(k->cg->b, LLVMRealOGT, b, a, "");
  return LLVMBuildSelect(k->cg->b, b_larger, b, a, "");
}
static LLVMValueRef row_add(Kernel *k, int id, LLVMValueRef a, LLVMValueRef b) {
  (void)id;
  return LLVMBuildFAdd(k->cg->b, a, b, "");
}

/* acc[lane] = pair(acc[lane], x) */
static void fold_term(Kernel *k, LLVMValueRef acc, LLVMValueRef lane, Pair pair, LLVMValueRef x) {
  Cg *c = k->cg;
  LLVMValueRef p = elem_ptr(k, acc, c->f32, lane);
  LLVMBuildStore(c->b, pair(k, 0, LLVMBuildLoad2(c->b, c->f32, p, ""), x), p);
}

/* the sum (or, with max, the largest by row_max) of term(base + j) for j
 * in [0, C): in order for a short row, else in LANES lanes combined
 * pairwise, as fold_in_lanes takes them, so that the terms vectorise */
static LLVMValueRef row_fold(Kernel *k, int64_t C, bool max, RowTerm term, LLVMValueRef X,
                             LLVMValueRef base, LLVMValueRef shift) {
  Cg *c = k->cg;
  Pair pair = max ? row_max : row_add;
  int lanes = C >= 2 * LANES ? LANES : 1;
  LLVMValueRef acc = cg_entry_alloca(k, LLVMArrayType2(c->f32, (uint64_t)lanes), "lanes");
  fill(k, acc, i64c(c, 0), i64c(c, lanes), max ? -INFINITY : 0);
  Loop lq, lj, lt;
  LLVMValueRef chunk = loop_begin(k, &lq, i64c(c, C / lanes));
  LLVMValueRef q = LLVMBuildNSWMul(c->b, chunk, i64c(c, lanes), "");
  LLVMValueRef lane = loop_begin(k, &lj, i64c(c, lanes));
  LLVMValueRef at = LLVMBuildNSWAdd(c->b, base, LLVMBuildNSWAdd(c->b, q, lane, ""), "");
  fold_term(k, acc, lane, pair, term(k, X, at, shift));
  loop_end_hinted(k, &lj, lanes > 1 ? LANES : 0);
  loop_end(k, &lq);
  if (C % lanes) { /* the last elements, into lanes 0 .. C % lanes - 1 */
    lane = loop_begin(k, &lt, i64c(c, C % lanes));
    at = LLVMBuildNSWAdd(c->b, base, LLVMBuildNSWAdd(c->b, lane, i64c(c, C - C % lanes), ""), "");
    fold_term(k, acc, lane, pair, term(k, X, at, shift));
    loop_end_rolled(k, &lt);
  }
  return lanes_total(k, acc, 0, lanes, pair, 0);
}

static LLVMValueRef term_x(Kernel *k, LLVMValueRef X, LLVMValueRef at, LLVMValueRef shift) {
  (void)shift;
  return LLVMBuildLoad2(k->cg->b, k->cg->f32, elem_ptr(k, X, k->cg->f32, at), "");
}
static LLVMValueRef term_exp(Kernel *k, LLVMValueRef X, LLVMValueRef at, LLVMValueRef shift) {
  return exp_f32(k->cg, LLVMBuildFSub(k->cg->b, term_x(k, X, at, NULL), shift, ""));
}

/* y = x - max - log(sum(exp(x - max))) along each row */
static void emit_log_softmax(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  int64_t C = n->shape.dim[n->shape.rank - 1];
  LLVMValueRef X = cg_buffer(k, n->in[0]), Y = cg_store_buffer(k, id);
  Loop lr, lj;
  LLVMValueRef r = loop_begin(k, &lr, row_count(k, &n->shape, 1));
  LLVMValueRef base = LLVMBuildNSWMul(c->b, r, i64c(c, C), "");
  LLVMValueRef mv = row_fold(k, C, true, term_x, X, base, NULL);
  LLVMValueRef s = row_fold(k, C, false, term_exp, X, base, mv);
  LLVMValueRef lse = intrinsic(c, "llvm.log", &s, 1);
  LLVMValueRef at = LLVMBuildNSWAdd(c->b, base, loop_begin(k, &lj, i64c(c, C)), "");
  LLVMValueRef shifted = LLVMBuildFSub(c->b, term_x(k, X, at, NULL), mv, "");
  LLVMValueRef y = LLVMBuildFSub(c->b, shifted, lse, "");
  LLVMBuildStore(c->b, y, elem_ptr(k, Y, c->f32, at));
  loop_end(k, &lj);
  loop_end(k, &lr);
}

/* index of the first largest element of each row */
static void emit_argmax(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  const PgShape *in = &nd(k, n->in[0])->shape;
  int64_t C = in->dim[in->rank - 1];
  LLVMValueRef X = cg_buffer(k, n->in[0]), Y = cg_store_buffer(k, id);
  Loop lr, lc;
  LLVMValueRef r = loop_begin(k, &lr, row_count(k, in, 1));
  LLVMValueRef base = LLVMBuildNSWMul(c->b, r, i64c(c, C), "");
  LLVMValueRef best = local(k, c->f32, f32c(c, -INFINITY)), arg = local(k, c->i32, LLVMConstInt(c->i32, 0, 0));
  LLVMValueRef j = loop_begin(k, &lc, i64c(c, C));
  LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, X, c->f32, LLVMBuildNSWAdd(c->b, base, j, "")), "");
  LLVMValueRef better = LLVMBuildFCmp(c->b, LLVMRealOGT, x, fload(k, best), "");
  LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, x, fload(k, best), ""), best);
  LLVMValueRef jj = LLVMBuildTrunc(c->b, j, c->i32, "");
  LLVMBuildStore(c->b, LLVMBuildSelect(c->b, better, jj, LLVMBuildLoad2(c->b, c->i32, arg, ""), ""), arg);
  loop_end(k, &lc);
  LLVMValueRef y = elem_ptr(k, Y, c->i32, r);
  LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, c->i32, arg, ""), y);
  loop_end(k, &lr);
}

static void emit_one_hot(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  int64_t D = n->attr[0];
  LLVMValueRef L = cg_buffer(k, n->in[0]), Y = cg_store_buffer(k, id);
  Loop lr, lc;
  LLVMValueRef r = loop_begin(k, &lr, row_count(k, &n->shape, 1));
  LLVMValueRef label = LLVMBuildLoad2(c->b, c->i32, elem_ptr(k, L, c->i32, r), "");
  LLVMValueRef j = loop_begin(k, &lc, i64c(c, D));
  LLVMValueRef hit = LLVMBuildICmp(c->b, LLVMIntEQ, LLVMBuildTrunc(c->b, j, c->i32, ""), label, "");
  LLVMValueRef at = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, r, i64c(c, D), ""), j, "");
  LLVMValueRef y = elem_ptr(k, Y, c->f32, at);
  LLVMBuildStore(c->b, bool_to_f32(c, hit), y);
  loop_end(k, &lc);
  loop_end(k, &lr);
}

/* out[c] = in[c permuted back] */
static void emit_transpose(Kernel *k, int id) {
  const IrNode *n = nd(k, id);
  const PgShape *in = &nd(k, n->in[0])->shape;
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK], from[PG_MAX_RANK];
  nest_begin(k, &n->shape, loops, coords);
  for (int i = 0; i < n->shape.rank; i++) from[n->attr[0] >> (4 * i) & 15] = coords[i];
  LLVMValueRef x = load_at(k, n->in[0], index_in(k, in, in, from));
  store_at(k, cg_store_buffer(k, id), id, index_in(k, &n->shape, &n->shape, coords), x);
  nest_end(k, &n->shape, loops);
}

/* y[.., i, ..] = x[.., size - 1 - i, ..] along the axis */
static void emit_reverse(Kernel *k, int id) {
  const IrNode *n = nd(k, id);
  int axis = (int)n->attr[0];
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK], from[PG_MAX_RANK];
  nest_begin(k, &n->shape, loops, coords);
  for (int i = 0; i < n->shape.rank; i++) from[i] = coords[i];
  from[axis] = LLVMBuildNSWSub(k->cg->b, i64c(k->cg, n->shape.dim[axis] - 1), coords[axis], "");
  LLVMValueRef x = load_at(k, n->in[0], index_in(k, &n->shape, &n->shape, from));
  store_at(k, cg_store_buffer(k, id), id, index_in(k, &n->shape, &n->shape, coords), x);
  nest_end(k, &n->shape, loops);
}

/* copies `from` (all of it) into `to` at an offset along one axis */
static void copy_block(Kernel *k, int src, const PgShape *from, LLVMValueRef dst, int dst_id,
                       const PgShape *to, int axis, LLVMValueRef offset, bool src_is_big) {
  Loop loops[PG_MAX_RANK];
  LLVMValueRef coords[PG_MAX_RANK], moved[PG_MAX_RANK];
  const PgShape *walk = src_is_big ? to : from; /* iterate the smaller block */
  nest_begin(k, walk, loops, coords);
  for (int d = 0; d < walk->rank; d++) moved[d] = d == axis ? LLVMBuildNSWAdd(k->cg->b, coords[d], offset, "") : coords[d];
  LLVMValueRef x = load_at(k, src, src_is_big ? index_in(k, from, from, moved) : index_in(k, from, from, coords));
  store_at(k, dst, dst_id, src_is_big ? index_in(k, to, to, coords) : index_in(k, to, to, moved), x);
  nest_end(k, walk, loops);
}

static void zero_fill(Kernel *k, int id) {
  fill(k, cg_store_buffer(k, id), i64c(k->cg, 0), row_count(k, &nd(k, id)->shape, 0), 0);
}

/* slice: the block at start along axis; unslice: zeros with the operand there */
static void emit_slice(Kernel *k, int id) {
  const IrNode *n = nd(k, id);
  const PgShape *in = &nd(k, n->in[0])->shape;
  LLVMValueRef start = i64c(k->cg, n->attr[1]);
  if (n->op == IR_OP_SLICE) {
    copy_block(k, n->in[0], in, cg_store_buffer(k, id), id, &n->shape, (int)n->attr[0], start, true);
    return;
  }
  zero_fill(k, id);
  copy_block(k, n->in[0], in, cg_store_buffer(k, id), id, &n->shape, (int)n->attr[0], start, false);
}

static void emit_concat(Kernel *k, int id) {
  const IrNode *n = nd(k, id);
  int axis = (int)n->attr[0];
  const PgShape *a = &nd(k, n->in[0])->shape, *b = &nd(k, n->in[1])->shape;
  copy_block(k, n->in[0], a, cg_store_buffer(k, id), id, &n->shape, axis, i64c(k->cg, 0), false);
  copy_block(k, n->in[1], b, cg_store_buffer(k, id), id, &n->shape, axis, i64c(k->cg, a->dim[axis]), false);
}

/* gather: row ids[r] of the table for each index r; scatter_add: the adjoint,
 * summing value rows into their table rows in index order. Indices are
 * clamped into the table (the runtime rejects bad ones in data first). */
static void emit_gather(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  bool gather = n->op == IR_OP_GATHER;
  const PgShape *ids = &nd(k, n->in[1])->shape,
                *table = gather ? &nd(k, n->in[0])->shape : &n->shape;
  int64_t row = pg_numel(table, 1) / table->dim[0];
  LLVMValueRef src = cg_buffer(k, n->in[0]), dst = cg_store_buffer(k, id), I = cg_buffer(k, n->in[1]);
  if (!gather) zero_fill(k, id);
  Loop lr, lj;
  LLVMValueRef r = loop_begin(k, &lr, row_count(k, ids, 0));
  LLVMValueRef t = LLVMBuildSExt(c->b, LLVMBuildLoad2(c->b, c->i32, elem_ptr(k, I, c->i32, r), ""), c->i64, "");
  LLVMValueRef lo = i64c(c, 0), hi = i64c(c, table->dim[0] - 1);
  t = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, t, lo, ""), lo, t, "");
  t = LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, t, hi, ""), hi, t, "");
  LLVMValueRef j = loop_begin(k, &lj, i64c(c, row));
  LLVMValueRef at_row = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, r, i64c(c, row), ""), j, "");
  LLVMValueRef at_table = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, t, i64c(c, row), ""), j, "");
  if (gather) {
    LLVMValueRef x = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, src, c->f32, at_table), "");
    LLVMBuildStore(c->b, x, elem_ptr(k, dst, c->f32, at_row));
  } else {
    LLVMValueRef p = elem_ptr(k, dst, c->f32, at_table);
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, src, c->f32, at_row), "");
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, p, ""), v, ""), p);
  }
  loop_end(k, &lj);
  loop_end(k, &lr);
}

/* the image position of tap `tap` of the window at output position `out`
 * along axis d (0 rows, 1 columns): out*stride + tap*dilation - pad_before;
 * *inside says whether it is in the image, and the position is clamped to 0
 * where it is not, so that the load stays in bounds */
static LLVMValueRef tap_position(Kernel *k, const IrNode *n, int d, LLVMValueRef out,
                                 LLVMValueRef tap, int64_t extent, LLVMValueRef *inside) {
  Cg *c = k->cg;
  const int64_t *w = n->attr;
  LLVMValueRef step = LLVMBuildNSWMul(c->b, out, i64c(c, w[1]), "");
  LLVMValueRef spread = LLVMBuildNSWMul(c->b, tap, i64c(c, w[2]), "");
  LLVMValueRef reach = LLVMBuildNSWAdd(c->b, step, spread, "");
  LLVMValueRef p = LLVMBuildNSWSub(c->b, reach, i64c(c, w[3 + 2 * d]), "");
  LLVMValueRef lo = LLVMBuildICmp(c->b, LLVMIntSGE, p, i64c(c, 0), "");
  LLVMValueRef hi = LLVMBuildICmp(c->b, LLVMIntSLT, p, i64c(c, extent), "");
  LLVMValueRef in = LLVMBuildAnd(c->b, lo, hi, "");
  *inside = LLVMBuildAnd(c->b, *inside, in, "");
  return LLVMBuildSelect(c->b, in, p, i64c(c, 0), "");
}

/* One loop nest over (b, oh, ow, ki, kj, c) for both directions (tap_position
 * maps a tap to the image); outside the image the patch value is the fill (0,
 * or the lowest float for max pooling: ops.h) in im2col, or dropped in
 * col2im. Out-of-range positions are clamped and masked, not branched on, so
 * the loops stay simple. Examples are independent (col2im clears and sums
 * into its own example's image), so the example loop may run in parts. */
static void emit_im2col(Kernel *k, int id) {
  Cg *c = k->cg;
  const IrNode *n = nd(k, id);
  bool forward = n->op == IR_OP_IM2COL;
  const PgShape *img = forward ? &nd(k, n->in[0])->shape : &n->shape;
  const PgShape *cols = forward ? &n->shape : &nd(k, n->in[0])->shape;
  int64_t size = n->attr[0], C = img->dim[3];
  int64_t per_image = img->dim[1] * img->dim[2] * C;
  LLVMValueRef src = cg_buffer(k, n->in[0]), dst = cg_store_buffer(k, id);
  k->splits = true, k->align = 1, k->outer = 1, k->outer_batched = true;
  k->work = (double)pg_numel(cols, c->g->max_batch);
  Loop lb, loops[5];
  LLVMValueRef x[6];
  x[0] = part_begin(k, &lb, dim_value(k, img->dim[0]));
  if (!forward) fill(k, dst, LLVMBuildNSWMul(c->b, x[0], i64c(c, per_image), ""), i64c(c, per_image), 0);
  PgShape walk = {5, {cols->dim[1], cols->dim[2], size, size, C}};
  nest_begin(k, &walk, loops, x + 1);
  LLVMValueRef pos[2], inside = LLVMConstInt(c->i1, 1, 0);
  for (int d = 0; d < 2; d++)
    pos[d] = tap_position(k, n, d, x[1 + d], x[3 + d], img->dim[1 + d], &inside);
  LLVMValueRef icoords[4] = {x[0], pos[0], pos[1], x[5]};
  LLVMValueRef col = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, x[3], i64c(c, size), ""), x[4], ""), i64c(c, C), ""), x[5], "");
  LLVMValueRef ccoords[4] = {x[0], x[1], x[2], col};
  LLVMValueRef at_img = index_in(k, img, img, icoords), at_col = index_in(k, cols, cols, ccoords);
  if (forward) {
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, src, c->f32, at_img), "");
    LLVMValueRef p = elem_ptr(k, dst, c->f32, at_col);
    LLVMValueRef padding = f32c(c, n->attr[7] ? -FLT_MAX : 0);
    LLVMBuildStore(c->b, LLVMBuildSelect(c->b, inside, v, padding, ""), p);
  } else {
    LLVMValueRef v = LLVMBuildLoad2(c->b, c->f32, elem_ptr(k, src, c->f32, at_col), "");
    LLVMValueRef p = elem_ptr(k, dst, c->f32, at_img);
    LLVMValueRef sum = LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, p, ""), v, "");
    LLVMBuildStore(c->b, LLVMBuildSelect(c->b, inside, sum, LLVMBuildLoad2(c->b, c->f32, p, ""), ""), p);
  }
  nest_end(k, &walk, loops);
  loop_end(k, &lb);
}

LLVMValueRef cg_i64(Cg *c, int64_t v) { return i64c(c, v); }
LLVMValueRef cg_loop_begin(Kernel *k, Loop *l, LLVMValueRef bound) {
  return loop_begin(k, l, bound);
}
void cg_loop_end(Kernel *k, Loop *l) { loop_end(k, l); }

void cg_emit_kernel_body(Kernel *k) {
  const IrGraph *g = k->cg->g;
  int *members = malloc(g->count * sizeof *members), count = 0;
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].group == k->group) members[count++] = i;
  const IrNode *n = &g->nodes[members[0]];
  switch (n->op) {
  /* elementwise: one loop over the kernel's members (fuse) */
  case IR_OP_NEG: case IR_OP_EXP: case IR_OP_LOG: case IR_OP_SQRT: case IR_OP_RELU:
  case IR_OP_ABS: case IR_OP_FLOOR: case IR_OP_COS: case IR_OP_SIN: case IR_OP_SIGMOID:
  case IR_OP_CALL:
  case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_DIV: case IR_OP_MAX: case IR_OP_MIN:
  case IR_OP_POW: case IR_OP_GT: case IR_OP_GE: case IR_OP_EQ: case IR_OP_RANDOM_UNIFORM:
  case IR_OP_SELECT: case IR_OP_ASSIGN: case IR_OP_BROADCAST: case IR_OP_OUTPUT:
  case IR_OP_ERF: case IR_OP_TO_F32: case IR_OP_TO_I32:
    assert(ir_op_kind(n->op) == IR_KIND_ELTWISE);
    emit_loop(k, members, count); /* with reductions, if fuse put any in it */
    break;
  case IR_OP_MATMUL: emit_matmul(k, members[0]); break;
  case IR_OP_BATCH_MATMUL: emit_batch_matmul(k, members[0]); break;
  case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: emit_loop(k, members, count); break;
  case IR_OP_TRANSPOSE: emit_transpose(k, members[0]); break;
  case IR_OP_REVERSE: emit_reverse(k, members[0]); break;
  case IR_OP_SLICE: case IR_OP_UNSLICE: emit_slice(k, members[0]); break;
  case IR_OP_CONCAT: emit_concat(k, members[0]); break;
  case IR_OP_GATHER: case IR_OP_SCATTER_ADD: emit_gather(k, members[0]); break;
  case IR_OP_EDGE_GATHER: case IR_OP_SEGMENT_SUM: case IR_OP_SEGMENT_MAX:
    emit_loop(k, members, count);
    break;
  case IR_OP_IM2COL: case IR_OP_COL2IM: emit_im2col(k, members[0]); break;
  case IR_OP_LOG_SOFTMAX: emit_log_softmax(k, members[0]); break;
  case IR_OP_ARGMAX: emit_argmax(k, members[0]); break;
  case IR_OP_ONE_HOT: emit_one_hot(k, members[0]); break;
  case IR_OP_SCAN: cg_emit_scan(k, members, count); break;
  /* leaves and views have no kernel (ir_op_has_kernel) */
  case IR_OP_INPUT: case IR_OP_PARAM: case IR_OP_CONST: case IR_OP_BATCH_SIZE: case IR_OP_RESHAPE:
  case IR_OP_IOTA: case IR_OP_DATA: /* tensor constants */
  /* a result is in its scan's kernel, after the scan */
  case IR_OP_RESULT:
  case IR_OP_COUNT: assert(!"a kernel of an op without one"); break;
  }
  LLVMBuildRetVoid(k->cg->b);
  free(members);
}

/* scan.c — the kernel of a scan: a loop over time around one call of its
 * body's step function (module.c compiles the body as a graph of its own).
 *
 * The body's io table is rebuilt each step: the carries it reads and the
 * buffers it writes the next carries to (two scratch buffers in turn, and the
 * final carry's result buffer on the last step, so nothing is copied), the
 * step's slice of each time-major sequence copy (a pointer into the scratch:
 * t*n*step elements in), and the invariants. The body's arena is at the start
 * of the scratch (layout: ir/region.c). Sequences are transposed into the
 * scratch [T, B, ...] once before the loop, and sequence results out of it to
 * [B, T, ...] once after it. A reverse scan runs t = T-1 down to 0. */
#include <stdlib.h>

#include "emit.h"

typedef struct {
  Kernel *k;
  const IrNode *s;
  const IrGraph *body;
  LLVMValueRef scratch, io, t;
  int64_t *offset;  /* ir_scan_layout */
  LLVMValueRef *result; /* per body output slot: its result's buffer, or NULL */
} Scan;

static LLVMValueRef byte_offset(Cg *c, LLVMValueRef base, LLVMValueRef bytes) {
  return LLVMBuildInBoundsGEP2(c->b, LLVMInt8TypeInContext(c->ctx), base, &bytes, 1, "");
}

static LLVMValueRef scratch_part(Scan *sc, int slot) {
  return byte_offset(sc->k->cg, sc->scratch, cg_i64(sc->k->cg, sc->offset[slot]));
}

static const IrNode *slot_node(const Scan *sc, IrOp op, int slot) {
  return &sc->body->nodes[ir_slot_node(sc->body, op, slot)];
}

/* floats per batch row of one step of body input or output `node` */
static int64_t row_floats(const IrNode *node) { return pg_numel(&node->shape, 1); }

/* the element (i * rows + j) * f + e */
static LLVMValueRef row_major(Cg *c, LLVMValueRef i, LLVMValueRef rows, LLVMValueRef j,
                              LLVMValueRef f, LLVMValueRef e) {
  LLVMValueRef row = LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, i, rows, ""), j, "");
  return LLVMBuildNSWAdd(c->b, LLVMBuildNSWMul(c->b, row, f, ""), e, "");
}

/* void scan.swap(ptr src, ptr dst, i64 a, i64 b, i64 f): src [a, b, f] to
 * dst [b, a, f]; one function per module, which every scan calls for each
 * sequence it copies in or out (the copies' code is not repeated) */
static LLVMValueRef swap_function(Cg *c) {
  LLVMValueRef fn = LLVMGetNamedFunction(c->mod, "scan.swap");
  if (fn) return fn;
  LLVMTypeRef params[5] = {c->ptr, c->ptr, c->i64, c->i64, c->i64};
  fn = LLVMAddFunction(c->mod, "scan.swap", LLVMFunctionType(c->voidt, params, 5, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(c->ctx, noinline, 0));
  LLVMBasicBlockRef caller = LLVMGetInsertBlock(c->b);
  LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, fn, "entry"));
  Kernel k = {.cg = c, .fn = fn};
  LLVMValueRef src = LLVMGetParam(fn, 0), dst = LLVMGetParam(fn, 1), a = LLVMGetParam(fn, 2);
  LLVMValueRef b = LLVMGetParam(fn, 3), f = LLVMGetParam(fn, 4);
  CgLoop li, lj, le;
  LLVMValueRef i = cg_loop_begin(&k, &li, a), j = cg_loop_begin(&k, &lj, b),
               e = cg_loop_begin(&k, &le, f);
  LLVMValueRef from = row_major(c, i, b, j, f, e), to = row_major(c, j, a, i, f, e);
  LLVMValueRef x =
      LLVMBuildLoad2(c->b, c->f32, LLVMBuildInBoundsGEP2(c->b, c->f32, src, &from, 1, ""), "");
  LLVMBuildStore(c->b, x, LLVMBuildInBoundsGEP2(c->b, c->f32, dst, &to, 1, ""));
  cg_loop_end(&k, &le);
  cg_loop_end(&k, &lj);
  cg_loop_end(&k, &li);
  LLVMBuildRetVoid(c->b);
  LLVMPositionBuilderAtEnd(c->b, caller);
  return fn;
}

/* [B, T, F] <-> [T, B, F]: to_time_major copies batch-major `seq` into `stage` */
static void transpose(Scan *sc, LLVMValueRef seq, LLVMValueRef stage, int64_t f,
                      bool to_time_major) {
  Kernel *k = sc->k;
  Cg *c = k->cg;
  LLVMValueRef length = cg_i64(c, sc->s->attr[0]), fn = swap_function(c);
  LLVMValueRef args[5] = {to_time_major ? seq : stage, to_time_major ? stage : seq,
                          to_time_major ? k->n : length, to_time_major ? length : k->n,
                          cg_i64(c, f)};
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(fn), fn, args, 5, "");
}

static void set_io(Scan *sc, int slot, LLVMValueRef p) {
  Cg *c = sc->k->cg;
  LLVMValueRef at = cg_i64(c, slot);
  LLVMBuildStore(c->b, p, LLVMBuildInBoundsGEP2(c->b, c->ptr, sc->io, &at, 1, ""));
}

/* step tt's slice of a time-major copy: t*n*F floats into it */
static LLVMValueRef step_slice(Scan *sc, int slot, const IrNode *step, LLVMValueRef tt) {
  Cg *c = sc->k->cg;
  if (sc->offset[slot] < 0) return LLVMConstNull(c->ptr); /* a sequence the body does not read */
  LLVMValueRef rows = LLVMBuildNSWMul(c->b, tt, sc->k->n, "");
  LLVMValueRef at = LLVMBuildNSWMul(c->b, rows, cg_i64(c, row_floats(step)), "");
  return LLVMBuildInBoundsGEP2(c->b, c->f32, scratch_part(sc, slot), &at, 1, "");
}

/* carry i: step t reads the operand (t = 0) or what step t-1 wrote, and
 * writes the other of its two scratch buffers, or the result on the last step */
static void carry_io(Scan *sc, int i) {
  Kernel *k = sc->k;
  Cg *c = k->cg;
  LLVMValueRef ping = scratch_part(sc, i), pong = scratch_part(sc, sc->body->ninputs + i);
  LLVMValueRef odd = LLVMBuildTrunc(c->b, sc->t, c->i1, "");
  LLVMValueRef first = LLVMBuildICmp(c->b, LLVMIntEQ, sc->t, cg_i64(c, 0), "");
  LLVMValueRef last = LLVMBuildICmp(c->b, LLVMIntEQ, sc->t, cg_i64(c, sc->s->attr[0] - 1), "");
  LLVMValueRef read = LLVMBuildSelect(c->b, odd, ping, pong, "");
  read = LLVMBuildSelect(c->b, first, cg_buffer(k, sc->s->in[i]), read, "");
  LLVMValueRef write = LLVMBuildSelect(c->b, odd, pong, ping, "");
  if (sc->result[i]) write = LLVMBuildSelect(c->b, last, sc->result[i], write, "");
  set_io(sc, i, read);
  set_io(sc, sc->body->ninputs + i, write);
}

static void call_body(Scan *sc) {
  Kernel *k = sc->k;
  Cg *c = k->cg;
  const IrNode *s = sc->s;
  int carries = (int)s->attr[1], seqs = (int)s->attr[2];
  LLVMValueRef tt =
      s->attr[3] ? LLVMBuildNSWSub(c->b, cg_i64(c, s->attr[0] - 1), sc->t, "") : sc->t;
  for (int i = 0; i < carries; i++) carry_io(sc, i);
  for (int j = carries; j < carries + seqs; j++)
    set_io(sc, j, step_slice(sc, j, slot_node(sc, IR_OP_INPUT, j), tt));
  for (int w = carries + seqs; w < s->nin; w++) set_io(sc, w, cg_buffer(k, s->in[w]));
  for (int o = carries; o < sc->body->noutputs; o++) {
    int slot = sc->body->ninputs + o;
    set_io(sc, slot, step_slice(sc, slot, slot_node(sc, IR_OP_OUTPUT, o), tt));
  }
  LLVMValueRef step = c->body_step[k->scan];
  LLVMValueRef args[4] = {sc->scratch, LLVMConstNull(c->ptr), sc->io, k->n};
  LLVMBuildCall2(c->b, LLVMGlobalGetValueType(step), step, args, 4, "");
}

void cg_emit_scan(Kernel *k, const int *members, int count) {
  Cg *c = k->cg;
  const IrNode *s = &c->g->nodes[members[0]];
  Scan sc = {.k = k, .s = s, .body = s->body};
  int nslots = s->body->ninputs + s->body->noutputs, carries = (int)s->attr[1];
  sc.offset = malloc((size_t)(nslots + 1) * sizeof *sc.offset);
  sc.result = calloc((size_t)s->body->noutputs + 1, sizeof *sc.result);
  ir_scan_layout(s, c->g->max_batch, sc.offset);
  k->scan = members[0];
  sc.scratch = cg_store_buffer(k, members[0]);
  for (int i = 1; i < count; i++) /* the results: members after their scan */
    sc.result[c->g->nodes[members[i]].attr[0]] = cg_store_buffer(k, members[i]);
  for (int j = carries; j < carries + s->attr[2]; j++) {
    if (sc.offset[j] < 0) continue;
    LLVMValueRef stage = scratch_part(&sc, j);
    transpose(&sc, cg_buffer(k, s->in[j]), stage, row_floats(slot_node(&sc, IR_OP_INPUT, j)), true);
  }
  sc.io = cg_entry_alloca(k, LLVMArrayType(c->ptr, (unsigned)nslots), "io");
  CgLoop lt;
  sc.t = cg_loop_begin(k, &lt, cg_i64(c, s->attr[0]));
  call_body(&sc);
  cg_loop_end(k, &lt);
  for (int o = carries; o < s->body->noutputs; o++) {
    if (!sc.result[o]) continue;
    LLVMValueRef stage = scratch_part(&sc, s->body->ninputs + o);
    transpose(&sc, sc.result[o], stage, row_floats(slot_node(&sc, IR_OP_OUTPUT, o)), false);
  }
  free(sc.offset);
  free(sc.result);
}

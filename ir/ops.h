/* ops.h — the one table of primitive IR ops, and every property of an op.
 *
 * X(ENUM, "name", arity, kind, "attr,names", flags)
 *   arity: number of operands.
 *   kind:  the fusion kind. LEAF (no operands, no kernel), ELTWISE (one value
 *          per output element, numpy broadcasting of operands; fusable), or
 *          OTHER (own kernel, unless a view).
 *   attrs: names of the integer attributes ints[0..], in order. A transpose's
 *          perm packs the source axis of output axis i in bits 4i..4i+3.
 *   flags: the op's properties, the IR_* bits below (0: none). Passes ask
 *          ir_op_flags(op) and ir_op_has_kernel(op) instead of naming ops.
 *
 * Flags:
 *   IR_PURE        its value is a function of its operands, attributes and
 *                  payload alone: cse may merge two equal nodes, dce may drop
 *                  an unused one. Not inputs and parameters (each is its own
 *                  slot of the graph's interface), nor side effects.
 *   IR_FOLDABLE    canonicalize computes it when all its operands are scalar
 *                  constants (in float, as the kernels would).
 *   IR_VIEW        no kernel and no buffer of its own: it reads the buffer of
 *                  operand 0 under another shape (ir_alias_root follows it).
 *   IR_INLINE      a leaf whose value the kernel code holds itself (a constant,
 *                  or the batch size argument): it needs no buffer.
 *   IR_SIDE_EFFECT writes memory outside the arena (a result slot, a
 *                  parameter): kept though unused, never given a buffer.
 *   IR_IN_PLACE    writes its result over the buffer of operand 0, so every
 *                  other reader of that operand must run first.
 *   IR_REGION      owns a body graph (IrNode.body), run `length` times: a
 *                  scan (docs/ir.md). Its own value is no tensor: only
 *                  `result` nodes read it.
 *   IR_PROJECTION  one of the results of its operand (a region op), which
 *                  that op's kernel computes: it shares the kernel and owns
 *                  a buffer.
 *   IR_REDUCTION   folds its operand over the axes of attr 0 (bit i = axis i)
 *                  into a keepdims result, each output element from 0 (sum)
 *                  or -inf (max) in the operand's memory order: fuse may put
 *                  the elementwise producers of that operand, and sibling
 *                  reductions over the same axes of the same shape, in its
 *                  loop (docs/ir.md, fuse).
 *   IR_GATHERS     each output element [b, e, j...] is element j of row
 *                  in1[b, e] of operand 0 (edge_gather): fuse may put it in
 *                  an elementwise loop over its shape, as an indexed load.
 *   IR_SCATTERS    folds element [b, e, j...] of operand 0 into element j of
 *                  row in1[b, e] of its output (segment_sum, segment_max):
 *                  fuse may put it in the loop of its elementwise operand, as
 *                  a reduction; such a loop is not split among threads.
 *   IR_CONSTANT    a leaf whose value is known when compiling: a scalar
 *                  const, an iota (the index along attr axis, as f32) or a
 *                  data tensor (IrNode.data, numel(shape) floats owned by the
 *                  graph). canonicalize folds FOLDABLE ops over constants; no
 *                  gradient flows into one. Those that are not INLINE have
 *                  no batch dimension and live in the compiled code as
 *                  read-only arrays (codegen), not in the arena.
 * to_f32 and to_i32 convert i32 to f32 and f32 to i32 (toward zero, saturating,
 * NaN to 0); not FOLDABLE, since a folded constant is always f32.
 * Arity -1: variadic, 1 to IR_MAX_IN operands.
 * edge_gather, segment_sum and segment_max are gather and scatter_add within
 * each example (a graph's nodes along axis 1, its edges' endpoints as ids
 * [B, E]); segment_max gives 0 to a row no id picks (docs/ir.md).
 * A call is `float NAME(float)` from a library the .nnd file declares (an
 * extern block): its payload is the symbol, and the symbol of its derivative
 * if one was declared (IrNode.name, .derivative). Pure, so cse merges equal
 * calls, but never folded: the compiler does not run user code.
 * An op has a kernel unless it is a LEAF or a VIEW. graph.c checks when it is
 * compiled that each op's flags agree with each other and with its kind.
 *
 * Shape rules live in ir/shape.c, backward rules in passes/autodiff.c, folding
 * in passes/canonicalize.c, kernels in codegen/kernels.c: each is a switch
 * over this enum without a default, and those files are compiled with
 * -Werror=switch (all but canonicalize.c also with -Werror=switch-enum, which
 * a default does not silence; CMakeLists.txt), so adding an op here makes the
 * compiler point at every place that must learn it, and the build fail until
 * each has (tests/codegen/exhaustive-ops.test). */
#ifndef NND_OPS_H
#define NND_OPS_H

enum {
  IR_PURE = 1 << 0,
  IR_FOLDABLE = 1 << 1,
  IR_VIEW = 1 << 2,
  IR_INLINE = 1 << 3,
  IR_SIDE_EFFECT = 1 << 4,
  IR_IN_PLACE = 1 << 5,
  IR_REGION = 1 << 6,
  IR_PROJECTION = 1 << 7,
  IR_CONSTANT = 1 << 8,
  IR_REDUCTION = 1 << 9,
  IR_GATHERS = 1 << 10,
  IR_SCATTERS = 1 << 11,
};

/* im2col and col2im: a square window of `size` taps `dilation` apart, moved
 * by `stride`, over an image padded by pad_top rows above, pad_bottom below,
 * pad_left and pad_right columns (TensorFlow's asymmetric `same` puts the
 * odd one below and right); fill: what padding reads in im2col, 0 (zeros)
 * or 1 (the lowest float, so that padding never wins a max) */
#define IM2COL_ATTRS "size,stride,dilation,pad_top,pad_bottom,pad_left,pad_right,fill"

#define IR_OPS(X) \
  X(INPUT,          "input",          0, LEAF,    "slot",            0) \
  X(PARAM,          "param",          0, LEAF,    "slot",            0) \
  X(CONST,          "const",          0, LEAF,    "",         IR_PURE | IR_INLINE | IR_CONSTANT) \
  X(BATCH_SIZE,     "batch_size",     0, LEAF,    "",                IR_PURE | IR_INLINE) \
  X(NEG,            "neg",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(EXP,            "exp",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(LOG,            "log",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(SQRT,           "sqrt",           1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(RELU,           "relu",           1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(ABS,            "abs",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(FLOOR,          "floor",          1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(COS,            "cos",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(SIN,            "sin",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(SIGMOID,        "sigmoid",        1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(CALL,           "call",           1, ELTWISE, "",                IR_PURE) \
  X(ADD,            "add",            2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(SUB,            "sub",            2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(MUL,            "mul",            2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(DIV,            "div",            2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(MAX,            "max",            2, ELTWISE, "",                IR_PURE) \
  X(MIN,            "min",            2, ELTWISE, "",                IR_PURE) \
  X(POW,            "pow",            2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(GT,             "gt",             2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(GE,             "ge",             2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(EQ,             "eq",             2, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(RANDOM_UNIFORM, "random_uniform", 1, ELTWISE, "stream",          IR_PURE) \
  X(SELECT,         "select",         3, ELTWISE, "",                IR_PURE) \
  X(ASSIGN,         "assign",         2, ELTWISE, "",                IR_SIDE_EFFECT | IR_IN_PLACE) \
  X(BROADCAST,      "broadcast",      1, ELTWISE, "",                IR_PURE) \
  X(OUTPUT,         "output",         1, ELTWISE, "slot",            IR_SIDE_EFFECT) \
  X(REDUCE_SUM,     "reduce_sum",     1, OTHER,   "axes",            IR_PURE | IR_REDUCTION) \
  X(REDUCE_MAX,     "reduce_max",     1, OTHER,   "axes",            IR_PURE | IR_REDUCTION) \
  X(TRANSPOSE,      "transpose",      1, OTHER,   "perm",            IR_PURE) \
  X(REVERSE,        "reverse",        1, OTHER,   "axis",            IR_PURE) \
  X(SLICE,          "slice",          1, OTHER,   "axis,start",      IR_PURE) \
  X(UNSLICE,        "unslice",        1, OTHER,   "axis,start",      IR_PURE) \
  X(CONCAT,         "concat",         2, OTHER,   "axis",            IR_PURE) \
  X(GATHER,         "gather",         2, OTHER,   "",                IR_PURE) \
  X(IM2COL,         "im2col",         1, OTHER,   IM2COL_ATTRS,      IR_PURE) \
  X(COL2IM,         "col2im",         1, OTHER,   IM2COL_ATTRS,      IR_PURE) \
  X(SCATTER_ADD,    "scatter_add",    2, OTHER,   "rows",            IR_PURE) \
  X(MATMUL,         "matmul",         2, OTHER,   "transpose_a,transpose_b", IR_PURE) \
  X(BATCH_MATMUL,   "batch_matmul",   2, OTHER,   "transpose_a,transpose_b", IR_PURE) \
  X(RESHAPE,        "reshape",        1, OTHER,   "",                IR_PURE | IR_VIEW) \
  X(LOG_SOFTMAX,    "log_softmax",    1, OTHER,   "",                IR_PURE) \
  X(ARGMAX,         "argmax",         1, OTHER,   "",                IR_PURE) \
  X(ONE_HOT,        "one_hot",        1, OTHER,   "depth,ignore",    IR_PURE) \
  X(SCAN,           "scan",          -1, OTHER,   "length,carries,sequences,reverse",           \
                                                                      IR_PURE | IR_REGION)     \
  X(RESULT,         "result",         1, OTHER,   "index",           IR_PURE | IR_PROJECTION) \
  X(IOTA,           "iota",           0, LEAF,    "axis",            IR_PURE | IR_CONSTANT) \
  X(DATA,           "data",           0, LEAF,    "",                IR_PURE | IR_CONSTANT) \
  X(ERF,            "erf",            1, ELTWISE, "",                IR_PURE | IR_FOLDABLE) \
  X(TO_F32,         "to_f32",         1, ELTWISE, "",                IR_PURE) \
  X(TO_I32,         "to_i32",         1, ELTWISE, "",                IR_PURE) \
  X(EDGE_GATHER,    "edge_gather",    2, OTHER,   "",                IR_PURE | IR_GATHERS) \
  X(SEGMENT_SUM,    "segment_sum",    2, OTHER,   "rows",            IR_PURE | IR_SCATTERS) \
  X(SEGMENT_MAX,    "segment_max",    2, OTHER,   "rows",            IR_PURE | IR_SCATTERS)

#endif

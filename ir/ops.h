/* ops.h — the one table of primitive IR ops.
 *
 * X(ENUM, "name", arity, kind, "attr,names")
 *   arity: number of operands.
 *   kind:  LEAF (no operands, no kernel), ELTWISE (one value per output element,
 *          numpy broadcasting of operands; fusable), or OTHER (own kernel).
 *   attrs: names of the integer attributes ints[0..], in order. A transpose's
 *          perm packs the source axis of output axis i in bits 4i..4i+3.
 * Shape rules live in shape.c, backward rules in passes/autodiff.c, kernels in
 * codegen/kernels.c; each is a switch over this enum, so adding an op here makes
 * the compiler point at every place that must learn it. */
#define IR_OPS(X) \
  X(INPUT,          "input",          0, LEAF,    "slot") \
  X(PARAM,          "param",          0, LEAF,    "slot") \
  X(CONST,          "const",          0, LEAF,    "") \
  X(BATCH_SIZE,     "batch_size",     0, LEAF,    "") \
  X(NEG,            "neg",            1, ELTWISE, "") \
  X(EXP,            "exp",            1, ELTWISE, "") \
  X(LOG,            "log",            1, ELTWISE, "") \
  X(SQRT,           "sqrt",           1, ELTWISE, "") \
  X(RELU,           "relu",           1, ELTWISE, "") \
  X(ABS,            "abs",            1, ELTWISE, "") \
  X(FLOOR,          "floor",          1, ELTWISE, "") \
  X(COS,            "cos",            1, ELTWISE, "") \
  X(SIN,            "sin",            1, ELTWISE, "") \
  X(SIGMOID,        "sigmoid",        1, ELTWISE, "") \
  X(ADD,            "add",            2, ELTWISE, "") \
  X(SUB,            "sub",            2, ELTWISE, "") \
  X(MUL,            "mul",            2, ELTWISE, "") \
  X(DIV,            "div",            2, ELTWISE, "") \
  X(MAX,            "max",            2, ELTWISE, "") \
  X(MIN,            "min",            2, ELTWISE, "") \
  X(POW,            "pow",            2, ELTWISE, "") \
  X(GT,             "gt",             2, ELTWISE, "") \
  X(GE,             "ge",             2, ELTWISE, "") \
  X(EQ,             "eq",             2, ELTWISE, "") \
  X(RANDOM_UNIFORM, "random_uniform", 1, ELTWISE, "stream") \
  X(SELECT,         "select",         3, ELTWISE, "") \
  X(ASSIGN,         "assign",         2, ELTWISE, "") \
  X(BROADCAST,      "broadcast",      1, ELTWISE, "") \
  X(OUTPUT,         "output",         1, ELTWISE, "slot") \
  X(REDUCE_SUM,     "reduce_sum",     1, OTHER,   "axes") \
  X(REDUCE_MAX,     "reduce_max",     1, OTHER,   "axes") \
  X(TRANSPOSE,      "transpose",      1, OTHER,   "perm") \
  X(SLICE,          "slice",          1, OTHER,   "axis,start") \
  X(UNSLICE,        "unslice",        1, OTHER,   "axis,start") \
  X(CONCAT,         "concat",         2, OTHER,   "axis") \
  X(GATHER,         "gather",         2, OTHER,   "") \
  X(IM2COL,         "im2col",         1, OTHER,   "size,stride,pad") \
  X(COL2IM,         "col2im",         1, OTHER,   "size,stride,pad") \
  X(SCATTER_ADD,    "scatter_add",    2, OTHER,   "rows") \
  X(MATMUL,         "matmul",         2, OTHER,   "transpose_a,transpose_b") \
  X(BATCH_MATMUL,   "batch_matmul",   2, OTHER,   "transpose_a,transpose_b") \
  X(RESHAPE,        "reshape",        1, OTHER,   "") \
  X(LOG_SOFTMAX,    "log_softmax",    1, OTHER,   "") \
  X(ARGMAX,         "argmax",         1, OTHER,   "") \
  X(ONE_HOT,        "one_hot",        1, OTHER,   "depth")

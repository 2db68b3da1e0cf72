/* elab.h — internal to frontend/: the state of elaboration and the helpers
 * the builtins (layers.c, losses.c) share with the core (elaborate.c). */
#ifndef NND_FRONTEND_ELAB_H
#define NND_FRONTEND_ELAB_H

#include "frontend.h"

#define MAX_NAMES 256
#define MAX_PARAMS 12

/* user-defined blocks (blocks.c): the bounds that keep any input's work and
 * memory finite (a block calling two blocks calling two ... is exponential) */
#define FE_MAX_BLOCKS 256      /* definitions in a file */
#define FE_MAX_BLOCK_PARAMS 16 /* parameters of one block */
#define FE_MAX_BLOCK_DEPTH 16  /* instances inside instances */
#define FE_MAX_REPEAT 256      /* repeat N */
#define FE_MAX_INSTANCES 4096  /* instances in one model, all levels */
#define FE_MAX_PREFIX 100      /* the instances' names around a layer: "encoder_2.ffn_1." */
#define FE_MAX_LAYER_NAME 127  /* a layer's name with that prefix */

/* What a name is bound to. A tensor is a node; a number (`d = 128`, or a block
 * parameter given 128) is known while compiling, so that builtins that want
 * numbers take it (node: its constant node, -1 until one is needed); a word is
 * a block parameter given an option value or a layer name (activation=relu). */
typedef enum { NAME_TENSOR, NAME_NUMBER, NAME_WORD } NameKind;
typedef struct {
  NameKind kind;
  int node;
  double num;
  const char *word;
} ElabValue;

typedef struct {
  const AstBlock *def[FE_MAX_BLOCKS];
  bool active[FE_MAX_BLOCKS]; /* an instance of it is being made: a call to it is a cycle */
  bool bad[FE_MAX_BLOCKS];    /* its form is wrong (reported): its calls are -1, silently */
  int ndefs;
  int ninstances; /* made in the model so far, all levels */
} FeBlocks;

typedef struct {
  IrGraph *g;
  FeMode mode;
  struct {
    const char *name;
    ElabValue v;
    PgLoc input; /* where it was declared, if it is a model input */
    bool used;
  } names[MAX_NAMES];
  int nnames;
  int seed;      /* the per-step random seed input, created on first use */
  int batch;     /* the batch_size node, created on first use */
  int ndense, ndropout, nembedding, nconv, nnorm, nrnn, nlstm, ngru, nposition;
  int nattention; /* multi_head_attention layers, for their default names */
  int nseparable; /* separable_conv2d layers, for their default names */
  int nbatch_norm; /* batch_norm layers, for their default names */
  int ngcn, nsage, ngat; /* graph layers (graph.c), for their default names */
  /* its frozen layers (a frozen batch_norm uses running statistics), or NULL */
  const FeConfig *frozen;
  FeExtern externs[FE_MAX_EXTERNS]; /* the functions the file declares (extern.c) */
  int nexterns;
  int metric_count; /* a metric builtin's per-example divisor (positions it counted), or -1 */
  bool metric_exp;  /* the metric builtin's mean is reported as its exp (perplexity) */
  bool has_loss;
  bool reported; /* the evaluation graph outputs what `nnd eval` reports (one metric's) */
  /* blocks: an instance is elaborated in a new Elab (a scope of its own: its
   * names, layer counters and prefix), sharing g, seed, batch and ndropout */
  FeBlocks *blocks;
  int depth;                      /* of instances: 0 in the model */
  int instances[FE_MAX_BLOCKS];   /* per block: instances made in this scope */
  char prefix[FE_MAX_PREFIX + 1]; /* "" in the model, "encoder_2." in an instance */
  bool name_reported;             /* a too-long layer name in this scope is reported */
} Elab;

/* a builtin's parameters bound to the call's arguments */
typedef struct {
  const AstExpr *call;
  const AstExpr *arg[MAX_PARAMS];
} Args;

typedef int (*BuiltinFn)(Elab *e, Args *a);


typedef struct {
  const char *name;
  const char *params; /* "x units | activation use_bias": required before '|' */
  BuiltinFn fn;
  int op;             /* elementwise builtins: the IR op */
} Builtin;

extern const Builtin fe_builtins[];
extern const int fe_nbuiltins;
const Builtin *fe_builtin(const char *name);

/* elaborate.c */
int elab_expr(Elab *e, const AstExpr *x);
void elab_stmt(Elab *e, const AstStmt *s);
/* a call's arguments to b's parameters; false after a diagnostic */
bool elab_bind_args(const Builtin *b, const AstExpr *call, Args *a);

/* arguments: report and return false (or NULL, -1) when they do not fit */
bool number_arg(const AstExpr *x, double *out);
bool int_arg(const AstExpr *x, int64_t lo, int64_t *out);
const char *word_arg(const AstExpr *x);
int bool_arg(const AstExpr *x, int dflt);

IrNode *node(Elab *e, int id);
int rank_of(Elab *e, int id);
bool want_rank(Elab *e, int id, int rank, const AstExpr *at, const char *what);
int batch_size(Elab *e, PgLoc loc);
int sum_all(Elab *e, int x, PgLoc loc);
int mean_all(Elab *e, int x, PgLoc loc);
int cst(Elab *e, double v, PgLoc loc);
/* algebra.c: an axis= argument of a batched rank-r tensor as an axis index
 * 1..r-1 (per-example axes count from 1, negative ones from the end); -1
 * after a diagnostic */
int axis_arg(const AstExpr *x, int r, const char *fn);
/* the parameter <prefix><layer>.<what> with a role; -1 after a diagnostic */
int elab_param(Elab *e, const char *layer, const char *what, PgRole role, PgInit init,
               PgShape shape, PgLoc loc);
/* the trained parameter <prefix><layer>.<what>; -1 after a diagnostic */
int elab_weight(Elab *e, const char *layer, const char *what, PgInit init, PgShape shape,
                PgLoc loc);
/* name (a layer's, room for n bytes) with the scope's prefix; false after a diagnostic */
bool elab_prefixed(Elab *e, char *name, size_t n, PgLoc loc);
/* names: bound in e's scope, in order, like Python assignments */
int elab_lookup(Elab *e, const char *name);
void elab_bind(Elab *e, const char *name, ElabValue v, PgLoc loc);
/* x as a number known while compiling (literals, names bound to numbers,
 * + - * / and unary minus); with report, why not, at its first part that is not */
bool elab_number(Elab *e, const AstExpr *x, double *out, bool report);
Elab *elab_scope(Elab *inner); /* the scope number_arg and word_arg read; returns the last */

/* blocks.c */
void fe_blocks_collect(const AstFile *f, Elab *e); /* the file's blocks, their form checked */
int fe_block_index(const Elab *e, const char *name); /* -1 if no block has that name */
int fe_block_call(Elab *e, const AstExpr *call, int block);
int fe_block_repeat(Elab *e, const AstExpr *x);

/* node builders that give every node they make one source location (the
 * arithmetic of losses and recurrent cells). C leaves the order of a call's
 * arguments unspecified (gcc and clang differ), so no call gets two arguments
 * that make nodes: all but one are made first, into named locals, and the
 * node order is the same whichever compiler built nnd. */
typedef struct {
  Elab *e;
  PgLoc l;
} Builder;
static inline int op1(Builder *b, IrOp op, int x) { return ir_unary(b->e->g, op, x, b->l); }
static inline int op2(Builder *b, IrOp op, int x, int y) { return ir_binary(b->e->g, op, x, y, b->l); }
static inline int konst(Builder *b, double v) { return cst(b->e, v, b->l); }

/* layers.c, losses.c */
int b_accuracy(Elab *e, Args *a);
int b_dense(Elab *e, Args *a);
int b_dropout(Elab *e, Args *a);
int b_eltwise(Elab *e, Args *a);
int b_flatten(Elab *e, Args *a);
int b_log_softmax(Elab *e, Args *a);
int b_sparse_cce(Elab *e, Args *a);
int b_categorical_cce(Elab *e, Args *a);
int b_binary_cross_entropy(Elab *e, Args *a);
int b_mean_squared_error(Elab *e, Args *a);
int b_mean_absolute_error(Elab *e, Args *a);
int b_top_k_accuracy(Elab *e, Args *a);
int b_binary_accuracy(Elab *e, Args *a);
int b_squared_error(Elab *e, Args *a);
int b_absolute_error(Elab *e, Args *a);
int b_sigmoid(Elab *e, Args *a);
int b_transpose(Elab *e, Args *a);
int b_simple_rnn(Elab *e, Args *a);
int b_lstm(Elab *e, Args *a);
int b_gru(Elab *e, Args *a);
int b_bidirectional(Elab *e, Args *a);
int b_softmax(Elab *e, Args *a);
int b_layer_norm(Elab *e, Args *a);
int b_batch_norm(Elab *e, Args *a); /* batch_norm.c */
int b_reshape(Elab *e, Args *a);
int b_slice(Elab *e, Args *a);
int b_concat(Elab *e, Args *a);
int b_embedding(Elab *e, Args *a);
int b_where(Elab *e, Args *a);
int b_reduce_sum(Elab *e, Args *a);
int b_reduce_mean(Elab *e, Args *a);
int b_reduce_max(Elab *e, Args *a);
int b_tanh(Elab *e, Args *a);
int b_perplexity(Elab *e, Args *a);
int b_position_embedding(Elab *e, Args *a);
int b_param(Elab *e, Args *a);
/* constants.c */
int b_arange(Elab *e, Args *a);
int b_iota(Elab *e, Args *a);
int b_full(Elab *e, Args *a);
int b_eye(Elab *e, Args *a);
int b_tril(Elab *e, Args *a);
int b_sinusoidal_encoding(Elab *e, Args *a);

/* algebra.c: permute, matmul, reductions over axes, softmax with axis and
 * mask, casts, erf, gelu, the named activations */
int b_permute(Elab *e, Args *a);
int b_matmul(Elab *e, Args *a);
int b_sum(Elab *e, Args *a);
int b_mean(Elab *e, Args *a);
int b_max(Elab *e, Args *a);
int b_float(Elab *e, Args *a);
int b_int(Elab *e, Args *a);
int b_gelu(Elab *e, Args *a);
int fe_softmax_call(Elab *e, Args *a, bool log);
int fe_optional_tensor(Elab *e, const AstExpr *x); /* -2: absent or `none` */
int fe_matmul(Elab *e, int l, int r, PgLoc loc);
int fe_softmax(Elab *e, int x, int keep, int64_t axis, PgLoc loc);
int fe_gelu(Elab *e, int x, bool approximate, PgLoc loc);
bool fe_activation_ok(const char *act);
int fe_activation(Elab *e, int y, const char *act, PgLoc loc);
/* layers.c, for composite layers: dense on a node (fe_affine: with the kernel
 * named <layer>.<what>), bias and activation, dropout on a node, a layer's
 * name, the activation= argument */
int fe_dense(Elab *e, int x, int64_t units, const char *layer, bool bias, const char *act,
             PgLoc loc);
int fe_affine(Elab *e, int x, int64_t units, const char *layer, const char *what, bool bias,
              const char *act, PgLoc loc);
int fe_bias_activation(Elab *e, int y, int64_t units, const char *layer, bool bias,
                       const char *act, PgLoc loc);
void fe_layer_name(const AstExpr *given, const char *kind, int *count, char *buf, size_t n);
const char *fe_activation_arg(const AstExpr *x);
int fe_dropout(Elab *e, int x, double rate, PgLoc loc);
/* attention.c */
int b_multi_head_attention(Elab *e, Args *a);
/* graph.c: message passing over edges */
int b_edge_gather(Elab *e, Args *a);
int b_segment_sum(Elab *e, Args *a);
int b_segment_mean(Elab *e, Args *a);
int b_segment_max(Elab *e, Args *a);
int b_gcn(Elab *e, Args *a);
int b_sage(Elab *e, Args *a);
int b_gat(Elab *e, Args *a);
/* vision.c: convolutions and pooling */
int b_conv2d(Elab *e, Args *a);
int b_separable_conv2d(Elab *e, Args *a);
int b_max_pool2d(Elab *e, Args *a);
int b_avg_pool2d(Elab *e, Args *a);
int b_global_avg_pool2d(Elab *e, Args *a);
int b_global_max_pool2d(Elab *e, Args *a);

#endif

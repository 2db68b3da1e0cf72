/* frontend.h — .nnd source to AST (flex + bison), AST to IR (elaborate.c),
 * and the training configuration read from the `train` and `data` blocks.
 * Every AST node carries the location of its first token; elaboration passes
 * it on to every IR node it creates. */
#ifndef NND_FRONTEND_H
#define NND_FRONTEND_H

#include "../ir/ir.h"
#include "../passes/passes.h"

typedef enum { AST_NUM, AST_STR, AST_NAME, AST_CALL, AST_BINOP, AST_NEG, AST_KWARG, AST_LIST } AstKind;

/* A walk over an expression loops along chains of binary operators (a+b+c is
 * ((a+b)+c): fe_chain_start, then `up`) and recurses only into the other
 * operands, so that a sum of 50,000 terms is no deeper than a+b. `depth` counts
 * those recursions (a call, list, unary minus or keyword argument around an
 * operand, or a right operand, is one level); the parser rejects an expression
 * deeper than FE_MAX_NESTING, and brackets nested deeper, so no walk recurses
 * further. */
#define FE_MAX_NESTING 1000

typedef struct AstExpr {
  AstKind kind;
  IrLoc loc;
  double num;            /* NUM */
  const char *str;       /* STR text, NAME / CALL / KWARG name */
                         /* LIST: its elements are args, like a call's */
  int op;                /* BINOP: '+', '-', '*', '/', '@' */
  struct AstExpr **args; /* CALL arguments, BINOP lhs rhs, NEG / KWARG operand */
  int nargs, cap;
  int depth;             /* 0 for a leaf */
  struct AstExpr *up;    /* BINOP: the BINOP whose left operand it is */
} AstExpr;

typedef struct {
  IrDType dtype;
  IrShape shape; /* per example: the batch dimension is implicit */
  IrLoc loc;
} AstType;

typedef enum { ST_INPUT, ST_LET, ST_LOSS, ST_METRIC } AstStmtKind;

typedef struct AstStmt {
  AstStmtKind kind;
  IrLoc loc;
  const char *name; /* INPUT, LET */
  AstType type;     /* INPUT */
  AstExpr *expr;    /* LET, LOSS, METRIC */
  struct AstStmt *next;
  struct AstStmt *last; /* the first statement of a list: the list's last (appending is O(1)) */
} AstStmt;

typedef enum { BLOCK_MODEL, BLOCK_TRAIN, BLOCK_DATA } AstBlockKind;

typedef struct AstBlock {
  AstBlockKind kind;
  IrLoc loc;
  const char *name;
  AstStmt *stmts;
  struct AstBlock *next;
} AstBlock;

typedef struct FeArena FeArena;

typedef struct {
  const char *file;
  AstBlock *blocks;
  FeArena *arena; /* owns every AST node and string */
} AstFile;

/* parse.c / parser.y: NULL after printing diagnostics */
AstFile *fe_parse_file(const char *path);
AstFile *fe_parse_string(const char *name, const char *text);
void fe_ast_free(AstFile *f);
void fe_ast_print(FILE *out, const AstFile *f);

/* the innermost binary operator of the chain x heads (x itself if its left
 * operand is not a binary operator); walk back out along `up` to x */
const AstExpr *fe_chain_start(const AstExpr *x);

/* AST builders, called from the grammar's one-line actions. Without memory
 * fe_alloc reports, stops the parse and returns NULL; every builder passes
 * NULL on, so that nothing is built after it. */
void *fe_alloc(size_t size);
void fe_stop_parse(void);    /* an error after which the lexer only reports the end of input */
bool fe_parse_stopped(void);
const char *fe_strdup(const char *s, size_t len);
const char *fe_strdup_in(AstFile *f, const char *s, size_t len); /* owned by f, after parsing */
AstExpr *fe_num(IrLoc loc, double value);
AstExpr *fe_leaf(AstKind kind, IrLoc loc, const char *str); /* STR, NAME */
AstExpr *fe_list(IrLoc loc, AstExpr *elements);
AstExpr *fe_binop(int op, IrLoc loc, AstExpr *a, AstExpr *b);
AstExpr *fe_neg(IrLoc loc, AstExpr *a);
AstExpr *fe_call(IrLoc loc, const char *name, AstExpr *args);
AstExpr *fe_arg_list(AstExpr *list, AstExpr *arg);
AstExpr *fe_kwarg(IrLoc loc, const char *name, AstExpr *value);
AstStmt *fe_stmt(AstStmtKind kind, IrLoc loc, const char *name, AstExpr *expr);
AstStmt *fe_input(IrLoc loc, const char *name, AstType type);
AstStmt *fe_stmt_append(AstStmt *list, AstStmt *s);
AstBlock *fe_block(AstBlockKind kind, IrLoc loc, const char *name, AstStmt *stmts);
void fe_add_block(AstBlock *b);
AstType fe_type(IrLoc loc, const char *dtype, AstExpr *dims);

/* ---- elaboration (elaborate.c) ---- */
typedef enum {
  FE_TRAINING,
  FE_INFERENCE,
  FE_TRAINING_NO_DROPOUT, /* training, dropout as identity: to compare with a reference */
} FeMode;

/* The model as a forward graph: inputs, parameters, outputs "loss" and one per
 * metric. Dropout is active only in FE_TRAINING. NULL after diagnostics. */
IrGraph *fe_elaborate(const AstFile *f, FeMode mode);

/* ---- configuration (config.c) ---- */
/* the one rule for a learning rate, in a train block and for --lr */
#define FE_LR_RANGE "(0, 1000]"
static inline bool fe_lr_ok(double lr) { return lr > 0 && lr <= 1e3; }

#define FE_MAX_COLUMNS 64
typedef struct {
  const char *input; /* model input it feeds */
  const char *format; /* "idx", "npy" or "csv" */
  const char *path;
  double scale;
  bool normalize;     /* standardise each feature with the training set's mean and deviation */
  /* csv: which columns, by header name, index ("3") or index range ("0:30", end exclusive) */
  const char *columns[FE_MAX_COLUMNS];
  int ncolumns;
  bool header;        /* csv: the first row (after `skip`) names the columns */
  int skip;           /* csv: lines to skip first */
  IrLoc loc;
} FeSource;

typedef struct {
  const char *name; /* "train", "test" */
  FeSource sources[8];
  int nsources;
  IrLoc loc;
} FeDataSet;

#define FE_MAX_FREEZE 16
typedef struct {
  PsOptimizer optimizer;
  int batch, epochs;
  uint64_t seed;
  FeDataSet data[4];
  int ndata;
  const char *freeze[FE_MAX_FREEZE]; /* layers whose weights training leaves alone */
  IrLoc freeze_loc[FE_MAX_FREEZE];
  int nfreeze;
  double validation_split; /* the last fraction of the training data, held out (Keras) */
} FeConfig;

bool fe_config(const AstFile *f, FeConfig *cfg);
bool fe_add_freeze(FeConfig *cfg, const char *layer, IrLoc loc);
/* marks the weights of cfg's frozen layers IR_ROLE_FROZEN; errors for unknown layers */
bool fe_apply_freeze(IrGraph *g, const FeConfig *cfg);
const FeDataSet *fe_dataset(const FeConfig *cfg, const char *name);

#endif

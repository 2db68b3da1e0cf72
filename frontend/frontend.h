/* frontend.h — .nnd source to AST (flex + bison), AST to IR (elaborate.c),
 * and the training configuration read from the `train` and `data` blocks.
 * Every AST node carries the location of its first token; elaboration passes
 * it on to every IR node it creates. */
#ifndef NND_FRONTEND_H
#define NND_FRONTEND_H

#include "../ir/ir.h"
#include "../program/program.h"
#include "../passes/passes.h"

typedef enum { AST_NUM, AST_STR, AST_NAME, AST_CALL, AST_BINOP, AST_NEG, AST_KWARG, AST_LIST,
              AST_REPEAT } AstKind;

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
  PgLoc loc;
  double num;            /* NUM */
  const char *str;       /* STR text, NAME / CALL / KWARG name */
                         /* LIST: its elements are args, like a call's */
  int op;                /* BINOP: '+', '-', '*', '/', '@' */
  struct AstExpr **args; /* CALL arguments, BINOP lhs rhs, NEG / KWARG operand,
                            REPEAT count and call */
  int nargs, cap;
  int depth;             /* 0 for a leaf */
  struct AstExpr *up;    /* BINOP: the BINOP whose left operand it is */
} AstExpr;

typedef struct {
  PgDType dtype;
  PgShape shape; /* per example: the batch dimension is implicit */
  PgLoc loc;
} AstType;

typedef enum { ST_INPUT, ST_LET, ST_LOSS, ST_METRIC, ST_RETURN } AstStmtKind;

typedef struct AstStmt {
  AstStmtKind kind;
  PgLoc loc;
  const char *name; /* INPUT, LET */
  AstType type;     /* INPUT */
  AstExpr *expr;    /* LET, LOSS, METRIC, RETURN */
  struct AstStmt *next;
  struct AstStmt *last; /* the first statement of a list: the list's last (appending is O(1)) */
} AstStmt;

/* BLOCK_DEF: `block NAME(params) { stmts  return expr }`, a reusable group of
 * layers (blocks.c) */
typedef enum { BLOCK_MODEL, BLOCK_TRAIN, BLOCK_DATA, BLOCK_EXTERN, BLOCK_DEF } AstBlockKind;

typedef struct AstBlock {
  AstBlockKind kind;
  PgLoc loc; /* of its keyword; an extern block's: of its name */
  const char *name;
  AstStmt *stmts;
  AstExpr *params; /* DEF: its parameters, NAMEs as the args of a list */
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
AstExpr *fe_num(PgLoc loc, double value);
AstExpr *fe_leaf(AstKind kind, PgLoc loc, const char *str); /* STR, NAME */
AstExpr *fe_list(PgLoc loc, AstExpr *elements);
AstExpr *fe_binop(int op, PgLoc loc, AstExpr *a, AstExpr *b);
AstExpr *fe_neg(PgLoc loc, AstExpr *a);
AstExpr *fe_call(PgLoc loc, const char *name, AstExpr *args);
AstExpr *fe_arg_list(AstExpr *list, AstExpr *arg);
AstExpr *fe_kwarg(PgLoc loc, const char *name, AstExpr *value);
AstExpr *fe_repeat(PgLoc loc, AstExpr *count, AstExpr *call); /* repeat N block(...) */
AstStmt *fe_stmt(AstStmtKind kind, PgLoc loc, const char *name, AstExpr *expr);
AstStmt *fe_input(PgLoc loc, const char *name, AstType type);
AstStmt *fe_stmt_append(AstStmt *list, AstStmt *s);
AstBlock *fe_block(AstBlockKind kind, PgLoc loc, const char *name, AstStmt *stmts);
void fe_add_block(AstBlock *b);
AstBlock *fe_def_block(PgLoc loc, const char *name, AstExpr *params, AstStmt *stmts);
AstType fe_type(PgLoc loc, const char *dtype, AstExpr *dims);

/* ---- elaboration (elaborate.c) ---- */
typedef enum {
  FE_TRAINING,
  FE_INFERENCE,
  FE_TRAINING_NO_DROPOUT, /* training, dropout as identity: to compare with a reference */
} FeMode;

/* The model as a forward graph: inputs, parameters, outputs "loss" and one per
 * metric. Dropout is active only in FE_TRAINING. NULL after diagnostics. */
IrGraph *fe_elaborate(const AstFile *f, FeMode mode);

/* ---- external functions (extern.c) ----
 *   extern softsign { library = "libsoftsign.so"  derivative = "softsign_grad" }
 * declares `float softsign(float)` from a shared library (a path relative to
 * the .nnd file's folder, or absolute), and optionally its derivative, also
 * `float NAME(float)`; a model calls it like an elementwise function. */
#define FE_MAX_EXTERNS 16
typedef struct {
  const char *name;       /* the C symbol */
  const char *library;    /* as written */
  const char *path;       /* what dlopen gets: relative to the .nnd file's folder */
  const char *derivative; /* its symbol, NULL if none */
  PgLoc loc, library_loc, derivative_loc;
} FeExtern;

/* The well-formed extern blocks of f, in order, into out (room for
 * FE_MAX_EXTERNS); with `report`, every bad one is an error. Returns the count. */
int fe_externs(const AstFile *f, FeExtern *out, bool report);
const FeExtern *fe_extern_find(const FeExtern *list, int n, const char *name);

/* ---- configuration (config.c) ---- */
/* the one rule for a learning rate, in a train block and for --lr */
#define FE_LR_RANGE "(0, 1000]"
static inline bool fe_lr_ok(double lr) { return lr > 0 && lr <= 1e3; }

#define FE_MAX_FREEZE 16
typedef struct {
  PsOptimizer optimizer;
  int batch, epochs;
  uint64_t seed;
  PgDataSet data[4];
  int ndata;
  const char *freeze[FE_MAX_FREEZE]; /* layers whose weights training leaves alone */
  PgLoc freeze_loc[FE_MAX_FREEZE];
  int nfreeze;
  double validation_split; /* the last fraction of the training data, held out (Keras) */
  bool validation_shuffle;  /* hold out a seeded random draw of that many instead */
  double test_split;        /* a fraction of the training data held out as the test set,
                               before the validation split (no data test block then) */
  double lr;                /* `lr = x`: the optimizer's learning rate (0: as the optimizer says) */
  /* early_stopping(monitor=, patience=, min_delta=, restore_best=) (Keras's
   * EarlyStopping); monitor is also what --save-best keeps the best of */
  struct {
    bool on, restore_best;
    const char *monitor; /* "val_loss" (default), "loss", "test_accuracy", ... */
    int patience;
    double min_delta;
  } early;
  /* reduce_lr_on_plateau(monitor=, factor=, patience=, min_delta=, cooldown=,
   * min_lr=) (Keras's ReduceLROnPlateau and its defaults): the step's rate
   * times a scale (optimizer.lr_scale) that the runtime lowers */
  struct {
    bool on;
    const char *monitor;
    double factor, min_delta, min_lr;
    int patience, cooldown;
  } plateau;
  FeExtern externs[FE_MAX_EXTERNS]; /* the libraries to load before compiling */
  int nexterns;
} FeConfig;

bool fe_config(const AstFile *f, FeConfig *cfg);
bool fe_add_freeze(FeConfig *cfg, const char *layer, PgLoc loc);
/* fe_elaborate, knowing cfg's frozen layers (NULL: none): a frozen batch_norm normalises with
 * its running statistics and does not update them */
IrGraph *fe_elaborate_frozen(const AstFile *f, FeMode mode, const FeConfig *cfg);
/* marks the weights of cfg's frozen layers PG_ROLE_FROZEN; errors for unknown layers */
bool fe_apply_freeze(IrGraph *g, const FeConfig *cfg);
const PgDataSet *fe_dataset(const FeConfig *cfg, const char *name);

#endif

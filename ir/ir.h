/* ir.h — nnd's dataflow IR and its diagnostics.
 *
 * A graph is a list of nodes in topological order: every operand id is smaller
 * than the id of its user, so a forward walk is a valid schedule and a backward
 * walk is a valid reverse-mode order. Every node has a static type (dtype and
 * shape); dimension 0 may be IR_BATCH, the batch size known only at run time.
 * Every node carries the .nnd location it came from, also when a pass made it.
 * A graph owns all its memory (nodes, names) and frees it at once. */
#ifndef NND_IR_H
#define NND_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"

/* ---- source locations and diagnostics (diag.c) ---- */

typedef struct {
  const char *file; /* interned by diag_add_source; NULL = no location */
  int line, col;
} IrLoc;

/* NULL (reported) without memory for the file's name */
const char *diag_add_source(const char *file, const char *text);
/* loc.line 0 with a file: "file: error: ..." (a whole file, e.g. a data file) */
void diag_error(IrLoc loc, const char *fmt, ...);
void diag_warning(IrLoc loc, const char *fmt, ...);
void diag_note(IrLoc loc, const char *fmt, ...);
int diag_error_count(void);
void diag_reset(void);
/* errors past the first n are counted but not printed (one line says so);
 * 0: no limit. The default is 20, as clang's -ferror-limit. */
void diag_set_error_limit(int n);

/* malloc, calloc, realloc that report "out of memory" and return NULL */
void *ir_malloc(size_t bytes);
void *ir_calloc(size_t count, size_t size);
void *ir_realloc(void *p, size_t bytes);

/* A source file (.nnd, .nnir) in memory: a regular file or a pipe (e.g.
 * /dev/stdin), at most IR_MAX_SOURCE_BYTES, without NUL bytes, followed by two
 * NUL bytes (flex scans the buffer in place). NULL after a diagnostic. */
#define IR_MAX_SOURCE_BYTES (256 << 20)
char *ir_read_source(const char *path, size_t *len);

/* ---- types ---- */

#define IR_MAX_RANK 6
#define IR_BATCH (-1) /* dim[0] only: the runtime batch size */

typedef enum { IR_F32, IR_I32 } IrDType;

typedef struct {
  int rank;
  int64_t dim[IR_MAX_RANK];
} IrShape;

typedef enum {
#define X(e, name, arity, kind, attrs) IR_OP_##e,
  IR_OPS(X)
#undef X
  IR_OP_COUNT
} IrOp;

typedef enum { IR_KIND_LEAF, IR_KIND_ELTWISE, IR_KIND_OTHER } IrKind;

typedef enum {
  IR_ROLE_NONE,
  IR_ROLE_WEIGHT,   /* trained parameter */
  IR_ROLE_OPTSTATE, /* optimizer state: moments, step counter */
  IR_ROLE_FROZEN,   /* a weight that training leaves alone (fine-tuning) */
} IrRole;

typedef enum { IR_INIT_ZEROS, IR_INIT_GLOROT_UNIFORM, IR_INIT_ONES } IrInit;

#define IR_MAX_IN 3
#define IR_MAX_ATTR 3

typedef struct {
  IrOp op;
  IrDType dtype;
  IrShape shape;
  int nin;
  int in[IR_MAX_IN];
  int64_t attr[IR_MAX_ATTR];
  double value;      /* CONST */
  const char *name;  /* INPUT / PARAM / OUTPUT names */
  IrRole role;       /* PARAM */
  IrInit init;       /* PARAM */
  IrLoc loc;
  int group;         /* kernel id (fuse), -1 before fusion */
  int64_t offset;    /* byte offset in the step's arena (plan), -1 = no arena buffer */
} IrNode;

typedef struct {
  const char *name;
  IrNode *nodes;
  int count, cap;
  int ninputs, noutputs, nparams; /* slots of INPUT, OUTPUT, PARAM nodes */
  int nkernels;                    /* after fuse */
  int64_t max_batch, arena_bytes;  /* after plan */
  char **strings; /* names owned by the graph */
  int nstrings, capstrings;
} IrGraph;

/* ---- op table queries ---- */
const char *ir_op_name(IrOp op);
int ir_op_arity(IrOp op);
IrKind ir_op_kind(IrOp op);
const char *ir_op_attr_name(IrOp op, int i); /* NULL past the last */

/* ---- shapes ---- */
int64_t ir_numel(const IrShape *s, int64_t batch); /* batch substitutes IR_BATCH */
/* the largest tensor nnd makes: IR_MAX_ELEMENTS per example (times a batch of
 * at most 2^20, and 4 or 8 bytes each, byte counts stay far from overflow) */
#define IR_MAX_ELEMENTS ((int64_t)1 << 36)
/* the most nodes one graph may have (about 2 GB of nodes) */
#define IR_MAX_NODES (1 << 24)
bool ir_shape_fits(const IrShape *s);
/* the bounds of a plan: a batch of at most 2^20 (as --batch), an arena of at
 * most 2^60 bytes (so that an offset plus a tensor's bytes cannot overflow) */
#define IR_MAX_BATCH ((int64_t)1 << 20)
#define IR_MAX_ARENA ((int64_t)1 << 60)
bool ir_shape_eq(const IrShape *a, const IrShape *b);
int ir_shape_str(const IrShape *s, char *buf, size_t n);

/* ---- graphs ----
 * Out of memory: ir_graph_new returns NULL, ir_strdup "", node builders -1,
 * ir_uses an empty IrUses (start == NULL), each after reporting it. */
IrGraph *ir_graph_new(const char *name);
void ir_graph_free(IrGraph *g);
const char *ir_strdup(IrGraph *g, const char *s);
IrNode *ir_node(IrGraph *g, int id);

/* inputs and parameters: -1 (reported) when the shape does not fit */
int ir_input(IrGraph *g, const char *name, IrDType dt, IrShape shape, IrLoc loc);
int ir_param(IrGraph *g, const char *name, IrRole role, IrInit init, IrShape shape, IrLoc loc);
int ir_const(IrGraph *g, double value, IrLoc loc);
int ir_batch_size(IrGraph *g, IrLoc loc);
/* An op with operands and attributes; its type comes from the shape rule.
 * On a shape error it reports at loc and returns -1 (and -1 operands are
 * passed through as -1, so builders can chain without checking each step). */
int ir_emit(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, IrLoc loc);
int ir_unary(IrGraph *g, IrOp op, int a, IrLoc loc);
int ir_binary(IrGraph *g, IrOp op, int a, int b, IrLoc loc);
/* ops whose result shape is an argument rather than derived: reshape, random_uniform */
int ir_emit_typed(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, IrShape shape,
                  IrLoc loc);
int ir_reshape(IrGraph *g, int a, IrShape shape, IrLoc loc);
int ir_output(IrGraph *g, const char *name, int value, IrLoc loc);
/* forgets kernels and buffers (fuse and plan must run again) */
void ir_clear_schedule(IrGraph *g);
/* appends a copy of n as it is, without checks (the IR parser checks first) */
int ir_append_node(IrGraph *g, const IrNode *n);

/* users of each node: uses.user[uses.start[v] .. uses.start[v+1]) */
typedef struct {
  int *start, *user;
} IrUses;
IrUses ir_uses(const IrGraph *g);
void ir_uses_free(IrUses *u);
int ir_alias_root(const IrGraph *g, int v); /* the node whose buffer v views (through reshapes) */

/* shape.c: fill n->dtype/n->shape from operands; false + diagnostic on error */
bool ir_infer_type(IrGraph *g, IrNode *n);

/* verify.c: structural invariants; false + diagnostics naming the node */
bool ir_verify(IrGraph *g, const char *after_pass);

/* print.c: the textual IR; parse.c reads it back (docs/ir.md) */
#include <stdio.h>
void ir_print(FILE *out, const IrGraph *g);
void ir_print_string(FILE *out, const char *s); /* quoted, with \" and \\ escapes */
const char *ir_role_name(IrRole r);
const char *ir_init_name(IrInit i);
IrGraph *ir_parse(const char *file, const char *text); /* NULL after diagnostics */
IrGraph *ir_parse_file(const char *path);              /* read with ir_read_source */

/* dot.c: Graphviz, fusion kernels as clusters */
void ir_print_dot(FILE *out, const IrGraph *g);

#endif

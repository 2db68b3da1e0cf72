/* ir.h — nnd's dataflow IR and its diagnostics.
 *
 * A graph is a list of nodes in topological order: every operand id is smaller
 * than the id of its user, so a forward walk is a valid schedule and a backward
 * walk is a valid reverse-mode order. Every node has a static type (dtype and
 * shape); dimension 0 may be PG_BATCH, the batch size known only at run time.
 * Every node carries the .nnd location it came from, also when a pass made it.
 * A graph owns all its memory (nodes, names) and frees it at once. */
#ifndef NND_IR_H
#define NND_IR_H

#include "../program/types.h"
#include "ops.h"

typedef enum {
#define X(e, name, arity, kind, attrs, flags) IR_OP_##e,
  IR_OPS(X)
#undef X
  IR_OP_COUNT
} IrOp;

typedef enum { IR_KIND_LEAF, IR_KIND_ELTWISE, IR_KIND_OTHER } IrKind;

#define IR_MAX_IN 16  /* operands: a scan has many (carries, sequences, invariants) */
#define IR_MAX_ATTR 8 /* im2col has 8 */

typedef struct {
  IrOp op;
  PgDType dtype;
  PgShape shape;
  int nin;
  int in[IR_MAX_IN];
  int64_t attr[IR_MAX_ATTR];
  double value;      /* CONST */
  const char *name;  /* INPUT / PARAM / OUTPUT names; CALL: the function's symbol */
  const char *derivative; /* CALL: the symbol of its derivative, NULL if none */
  PgRole role;       /* PARAM */
  PgInit init;       /* PARAM */
  PgLoc loc;
  struct IrGraph *body; /* SCAN: its region, owned by the enclosing graph */
  const float *data; /* DATA: numel(shape) values, row-major, owned by the graph */
  int group;         /* kernel id (fuse), -1 before fusion */
  int64_t offset;    /* byte offset in the step's arena (plan), -1 = no arena buffer */
  const char *fusion; /* fuse{explain=1}: why it is in its kernel (printed as a comment), or NULL */
} IrNode;

typedef struct IrGraph {
  const char *name;
  IrNode *nodes;
  int count, cap;
  int ninputs, noutputs, nparams; /* slots of INPUT, OUTPUT, PARAM nodes */
  int nkernels;                    /* after fuse */
  int64_t max_batch, arena_bytes;  /* after plan */
  char **strings; /* names owned by the graph */
  int nstrings, capstrings;
  struct IrGraph **bodies; /* the regions of its scans, owned (also those dce dropped) */
  int nbodies, capbodies;
  int depth;               /* 0 for a graph, 1 + the enclosing graph's for a region */
  float **payloads;        /* the values of its data constants, owned */
  int npayloads, cappayloads;
} IrGraph;

/* ---- op table queries ---- */
const char *ir_op_name(IrOp op);
int ir_op_arity(IrOp op);
IrKind ir_op_kind(IrOp op);
int ir_op_flags(IrOp op);      /* IR_PURE | IR_VIEW | ... (ops.h) */
bool ir_op_has_kernel(IrOp op); /* fuse gives it a kernel: not a leaf or a view */
/* a loop computes its value element by element (elementwise ops and gathers):
 * it is stored only if another kernel reads it */
bool ir_op_per_element(IrOp op);
bool ir_arity_ok(IrOp op, int nin); /* nin operands are what the op takes */
const char *ir_op_attr_name(IrOp op, int i); /* NULL past the last */

/* the most nodes one graph may have (about 4.7 GB of nodes, 280 bytes each) */
#define IR_MAX_NODES (1 << 24)

/* ---- graphs ----
 * Out of memory: ir_graph_new returns NULL, ir_strdup "", node builders -1,
 * ir_uses an empty IrUses (start == NULL), each after reporting it. */
IrGraph *ir_graph_new(const char *name);
void ir_graph_free(IrGraph *g);
const char *ir_strdup(IrGraph *g, const char *s);
IrNode *ir_node(IrGraph *g, int id);

/* inputs and parameters: -1 (reported) when the shape does not fit */
int ir_input(IrGraph *g, const char *name, PgDType dt, PgShape shape, PgLoc loc);
int ir_param(IrGraph *g, const char *name, PgRole role, PgInit init, PgShape shape, PgLoc loc);
int ir_const(IrGraph *g, double value, PgLoc loc);
int ir_batch_size(IrGraph *g, PgLoc loc);
/* An op with operands and attributes; its type comes from the shape rule.
 * On a shape error it reports at loc and returns -1 (and -1 operands are
 * passed through as -1, so builders can chain without checking each step). */
int ir_emit(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, PgLoc loc);
int ir_unary(IrGraph *g, IrOp op, int a, PgLoc loc);
int ir_binary(IrGraph *g, IrOp op, int a, int b, PgLoc loc);
/* ops whose result shape is an argument rather than derived: reshape, random_uniform */
int ir_emit_typed(IrGraph *g, IrOp op, int nin, const int *in, const int64_t *attr, PgShape shape,
                  PgLoc loc);
int ir_reshape(IrGraph *g, int a, PgShape shape, PgLoc loc);
int ir_output(IrGraph *g, const char *name, int value, PgLoc loc);
/* fn(a) elementwise, fn an external `float fn(float)`; derivative may be NULL */
int ir_call(IrGraph *g, const char *fn, const char *derivative, int a, PgLoc loc);
/* the symbols a call may name: C identifiers of at most IR_MAX_SYMBOL bytes */
#define IR_MAX_SYMBOL 128
bool ir_symbol_ok(const char *s);
/* the names generated code defines or calls itself (nnd_*, *_step, check_finite),
 * which a call may not name; a step is also named after its graph */
bool ir_symbol_reserved(const char *s);
/* ---- regions (docs/ir.md, "Scan") ----
 * A scan's body is a graph of its own: INPUT slots are the carries, then one
 * step's slice [B, ...] of each sequence [B, T, ...], then the invariants (in
 * the order of the scan's operands); OUTPUT slots are the next carries, then
 * one step of each sequence result. Results: result(scan){index} is final
 * carry `index`, or the stacked sequence result [B, T, ...]. */
#define IR_MAX_DEPTH 8
/* an empty body graph owned by g (NULL after a diagnostic: nested too deep) */
IrGraph *ir_region_new(IrGraph *g, const char *name, PgLoc loc);
/* attr: length (steps), carries, sequences, reverse (0 or 1) */
int ir_scan(IrGraph *g, IrGraph *body, int nin, const int *in, const int64_t *attr, PgLoc loc);
int ir_result(IrGraph *g, int scan, int index, PgLoc loc);
/* region.c: a scan's scratch for `batch` rows (planned body): its size, and
 * offset[slot] of each body input slot, then each output slot (ninputs + k),
 * -1 where a slot has no part of the scratch (invariants, unread sequences);
 * a carry's two buffers are those of its input and its next-carry output */
int64_t ir_scan_layout(const IrNode *scan, int64_t batch, int64_t *offset);
/* the bytes of n's buffer: its tensor's, or a scan's scratch (-1: no memory) */
int64_t ir_buffer_bytes(const IrNode *n, int64_t batch);
/* the INPUT or OUTPUT node with this slot, or -1 */
int ir_slot_node(const IrGraph *g, IrOp op, int64_t slot);

/* ---- tensor constants (constant.c; docs/ir.md, "Constants") ----
 * iota and data have a static shape without the batch dimension, of at most
 * IR_MAX_DATA elements; canonicalize folds elementwise ops over constants
 * into data of at most IR_MAX_FOLD elements. */
#define IR_MAX_DATA (1 << 24)
#define IR_MAX_FOLD (1 << 20)
int ir_iota(IrGraph *g, PgShape shape, int axis, PgLoc loc);
int ir_data(IrGraph *g, PgShape shape, const float *values, PgLoc loc); /* copies values */
/* count floats owned by g (NULL after reporting: out of memory) */
float *ir_payload_new(IrGraph *g, int64_t count);
/* values itself if g owns it, else a copy owned by g (NULL: out of memory) */
const float *ir_payload_adopt(IrGraph *g, const float *values, int64_t count);
int64_t ir_payload_count(const IrNode *n); /* the floats of a data node: numel(shape) */
/* the value of constant c (const, iota or data) at index `at` of a shape
 * `dom` that c broadcasts to (numpy rules: trailing axes align) */
float ir_constant_at(const IrNode *c, const PgShape *dom, const int64_t *at);
/* all numel(shape) values of an iota or data node, row-major */
void ir_constant_fill(const IrNode *c, float *out);
/* the row-major successor of index `at` in static shape s (wraps to 0s) */
void ir_index_next(const PgShape *s, int64_t *at);

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
int ir_alias_root(const IrGraph *g, int v); /* the node whose buffer v views (through views) */
/* after plan: whether n's value has bytes of its own in the arena (not a view
 * of another's, not an output or an assign, which store outside it) */
bool ir_owns_arena_buffer(const IrNode *n);
/* after plan: whether a value kernel `end` computes takes over v's bytes in
 * place (plan.c: v's last reader is that elementwise kernel), so that the
 * two hold one buffer there */
bool ir_taken_over(const IrGraph *g, int v, int end);
/* after fuse: whether n reads its operand k from memory (through a view, or
 * computed by another kernel) */
bool ir_reads_memory(const IrGraph *g, const IrNode *n, int k);
/* after fuse: last[v] for every node, the last kernel that reads v from
 * memory, directly or through views (-1: none; the plan's buffer lifetimes) */
void ir_last_readers(const IrGraph *g, int *last);
/* the shape a kernel's loop runs over for node v: a reduction's operand's,
 * any other node's own */
const PgShape *ir_loop_shape(const IrGraph *g, int v);

/* shape.c: fill n->dtype/n->shape from operands; false + diagnostic on error */
bool ir_infer_type(IrGraph *g, IrNode *n);

/* verify.c: structural invariants; false + diagnostics naming the node */
bool ir_verify(IrGraph *g, const char *after_pass);

/* print.c: the textual IR; parse.c reads it back (docs/ir.md) */
#include <stdio.h>
void ir_print(FILE *out, const IrGraph *g);
IrGraph *ir_parse(const char *file, const char *text); /* NULL after diagnostics */
IrGraph *ir_parse_file(const char *path);              /* read with pg_read_source */

/* dot.c: Graphviz. IR_DOT_OPS: every op (constants and scalar leaves in
 * their users' labels), fusion kernels as clusters; IR_DOT_LAYERS: one box
 * per layer; IR_DOT_KERNELS: one box per kernel (layers before fusion);
 * IR_DOT_AUTO: every op up to IR_DOT_MAX_OPS nodes, above that kernels up to
 * IR_DOT_MAX_KERNELS, else layers. False after reporting: no memory. */
typedef enum { IR_DOT_AUTO, IR_DOT_OPS, IR_DOT_LAYERS, IR_DOT_KERNELS } IrDotDetail;
#define IR_DOT_MAX_OPS 60
#define IR_DOT_MAX_KERNELS 100
bool ir_print_dot(FILE *out, const IrGraph *g, IrDotDetail detail);

#endif

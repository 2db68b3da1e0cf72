/* program.h — the compiled Program: everything the compiler hands the
 * runtime, and nothing else. The runtime includes this and types.h, never the
 * IR, the frontend, the passes or codegen; the folders form a strict stack
 *   driver -> runtime, compiler (frontend, ir, passes, codegen) -> program.
 *
 * A Program is a model's compiled entry points (train step, eval step, grad
 * step, predict). Each entry is one native function with the step ABI below,
 * and a manifest of what it reads and writes: typed slots by role (so no code
 * outside the compiler matches names like "loss" or "seed"), the parameters
 * with their checkpoint names, roles, shapes and initialisers, the arena the
 * memory plan sized, and the batch rule. It prints as text and reads back
 * (print.c, parse.c; docs/program.md), as the IR does.
 *
 * The step ABI (what every target's entry point implements):
 *   void step(char *arena, float **params, void **io, int64_t n)
 *   arena:  arena_bytes of scratch, aligned to arena_align; contents undefined
 *   params: params[p.slot] = the buffer of parameter p (pg_numel floats)
 *   io:     io[slot.io] = the buffer of each slot: inputs hold n rows of
 *           their per-example shape, outputs get n rows (scalars: one value)
 *   n:      rows in this batch, 1 <= n <= max_batch
 * A step compiled with numerics checks reads io[ninputs + noutputs] as a byte
 * per node (set when that node's result held a NaN or infinity; the runtime
 * clears them); with profiling, io[ninputs + noutputs + 1] as nkernels int64
 * cycle counters it adds to. Both are described by the debug tables. */
#ifndef NND_PROGRAM_H
#define NND_PROGRAM_H

#include "types.h"

typedef void (*PgStepFn)(char *arena, float **params, void **io, int64_t n);

/* The thread pool's ABI: generated code that runs a kernel in parts calls
 * this; the runtime defines it (runtime/threads.c), an object file imports
 * it or is compiled single-threaded. task(ctx, lo, hi) runs [lo, hi) of [0, n),
 * in chunks whose bounds are multiples of align. */
void nnd_parallel_for(void (*task)(void *ctx, int64_t lo, int64_t hi), void *ctx, int64_t n,
                      int64_t align);

/* ---- where the data comes from (a model's data blocks) ---- */
#define PG_MAX_COLUMNS 64
#define PG_MAX_TEXT_FILES 64
typedef struct {
  const char *input;  /* model input it feeds */
  const char *format; /* "idx", "npy", "csv", "text", "pairs", "records" or "graph" */
  const char *path;
  double scale;
  bool normalize;     /* standardise each feature with the training set's mean and deviation */
  /* csv: which columns, by header name, index ("3") or index range ("0:30", end exclusive) */
  const char *columns[PG_MAX_COLUMNS];
  int ncolumns;
  bool header;        /* csv: the first row (after `skip`) names the columns */
  int skip;           /* csv: lines to skip first */
  /* text: files read one after another (path is the first), each byte a
   * token of `vocab`; example i is tokens [i*stride + shift, ... + window) */
  const char *paths[PG_MAX_TEXT_FILES];
  int npaths;
  int64_t window, stride, shift;
  const char *vocab;
  /* pairs: window is the packed length; which field this input gets
   * ("tokens", "segments", "mlm_targets", "nsp"); the chance a token is masked */
  const char *field;
  double mlm;
  /* records: units of each file (paths), [CLS] unit [SEP] [PAD]... of length
   * window, labelled by the file's index; field "tokens", "segments" or
   * "label"; balance: as many units of each file as the smallest has */
  bool balance;
  /* graph: paths[0] the edge list, paths[1] the node table; field "edges",
   * "weights", "features", "labels" or "mask"; split: the nodes labels and
   * mask take ("train", "val" or "test") */
  const char *split;
  PgLoc loc;
} PgSource;

typedef struct {
  const char *name; /* "train", "test" */
  PgSource sources[8];
  int nsources;
  PgLoc loc;
} PgDataSet;

/* ---- an entry point's manifest ---- */
typedef enum {
  PG_SLOT_DATA,       /* input: features of each example */
  PG_SLOT_LABEL,      /* input: what the loss and the metrics compare with */
  PG_SLOT_SEED,       /* input: i32 scalar, the step's dropout seed */
  PG_SLOT_LOSS,       /* output: f32 scalar, the batch's mean loss */
  PG_SLOT_METRIC,     /* output: f32 scalar, summed over the batch's examples */
  PG_SLOT_GRADIENT,   /* output: d loss / d `of`, the shape of that parameter */
  PG_SLOT_PREDICTION, /* output: per example, what the model predicts */
  PG_SLOT_TRUTH,      /* output: per example, the label a prediction is scored against */
  PG_SLOT_COUNT,      /* output: f32 scalar, what metric `of` is divided by (summed over the
                         batch; without one a metric is divided by the examples seen) */
  PG_SLOT_RATE,       /* output: f32 scalar, the learning rate of the step's update */
  PG_SLOT_PROBABILITY, /* output: per example, each class's probability (what nnd predict
                          --probabilities writes; the predict entry drops it) */
  PG_SLOT_POSITION,   /* input: i32 [B, 1], the position in its sequence of the row a decode
                         step computes (passes/decode.c) */
  PG_SLOT_STATE,      /* input and output of one name: what the step reads, and its next
                         value, which the caller passes back as the input (a key/value cache) */
} PgSlotRole;

typedef struct {
  const char *name; /* the model's name for it: "image", "accuracy", "grad:dense_1.w" */
  PgSlotRole role;
  bool output;
  int io;           /* its index in the step's io table */
  PgDType dtype;
  PgShape shape;    /* dim[0] == PG_BATCH for a per-example tensor */
  int64_t bound;    /* an i32 input: its values index [0, bound) (classes, table rows); 0: any */
  int64_t ignore;   /* an i32 input with a bound: the one value outside it allowed (an ignored
                       label, negative); 0: none */
  bool classes;     /* PREDICTION, TRUTH: class indices (else values) */
  const char *of;   /* GRADIENT: the parameter's name; COUNT: the metric's */
  bool exp;         /* METRIC: reported as exp(mean) (perplexity from the mean log-loss) */
  /* DATA: the transforms a file for this input gets before a predict, from
   * its training source (scale; normalize with the training statistics) */
  double scale;
  bool normalize;
} PgSlot;

typedef struct {
  const char *name; /* in checkpoints; shared by the entries of one model */
  PgRole role;
  PgInit init;
  PgShape shape;
  int slot;         /* its index in the step's params table */
  PgLoc loc;
} PgParam;

/* debug tables (like DWARF: for reports, not for running). For each IR node
 * of a step compiled with checks or profiling: its op, kernel, source line and
 * operands; `sink` marks results (outputs, assigned parameters). */
typedef struct {
  const char *op;
  int kernel;
  PgLoc loc;
  int nin, in[3];
  bool sink;
} PgNodeInfo;

typedef enum { PG_ENTRY_TRAIN, PG_ENTRY_EVAL, PG_ENTRY_GRAD, PG_ENTRY_PREDICT } PgEntryKind;

typedef struct {
  const char *name; /* the step function's symbol */
  PgEntryKind kind; /* TRAIN assigns its parameters; GRAD outputs gradients */
  int64_t arena_bytes, arena_align;
  int64_t max_batch; /* the batch rule: 1 <= n <= max_batch rows per call */
  int nkernels;
  PgSlot *slots;     /* inputs (io 0..ninputs-1), then outputs */
  int nslots, ninputs, noutputs;
  PgParam *params;   /* in the graph's order */
  int nparams;
  PgNodeInfo *nodes; /* debug table; NULL if compiled without checks or profiling */
  int nnodes;
  bool check_numerics, profile;
  PgStepFn step;     /* the compiled code (a JIT's address); NULL when only described */
  char **strings;    /* every name above, owned */
  int nstrings;
} PgEntry;

const char *pg_entry_kind_name(PgEntryKind k); /* "train", "eval", "grad", "predict" */
const char *pg_slot_role_name(PgSlotRole r);    /* "data", "label", ... */

/* lookups: the first slot with a role or a name (NULL if none) */
const PgSlot *pg_slot_with_role(const PgEntry *e, PgSlotRole role);
const PgSlot *pg_slot_named(const PgEntry *e, const char *name, bool output);
const PgSlot *pg_output(const PgEntry *e, int io); /* the output slot with io table index io */
/* an entry of a model that also has `other` (its eval or predict entry,
 * whose slots know what the predictions read): e's data inputs that other
 * lacks or calls labels are labels */
void pg_mark_labels(PgEntry *e, const PgEntry *other);
/* the transforms of each data input's source in the training set (scale,
 * normalize): what a file given to predict must get */
void pg_set_transforms(PgEntry *e, const PgDataSet *train);
const char *pg_strdup(PgEntry *e, const char *s); /* owned by e; "" without memory (reported) */
void pg_entry_free(PgEntry *e);

/* print.c, parse.c: the text form (docs/program.md); the debug tables and the
 * code are not part of it */
void pg_print(FILE *out, const PgEntry *entries, int n);
/* NULL after diagnostics; *n gets the number of entries */
PgEntry *pg_parse(const char *file, const char *text, int *n);

#endif

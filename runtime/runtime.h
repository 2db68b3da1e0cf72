/* runtime.h — everything around the compiled step functions: data loading,
 * the parameter store, the RNG, the loop over batches, and reporting. It holds
 * no compute kernels: every tensor computation on the training and inference
 * path runs in code that codegen/ generated. What it knows of a compiled step
 * is its manifest (program/program.h): slots by role, parameters by name; it
 * never sees the IR. Library functions report errors as diagnostics and
 * return false; they never exit. */
#ifndef NND_RUNTIME_H
#define NND_RUNTIME_H

#include "../program/program.h"

/* the most elements a tensor read from a file may have: byte counts of such
 * tensors never overflow, and a header cannot ask for an absurd allocation */
#define RT_MAX_ELEMENTS ((int64_t)1 << 31)
/* multiplies a dimension read from a file into *elements (a 0 counts as 1):
 * false for a negative dimension or a product over RT_MAX_ELEMENTS; checked
 * before it can overflow */
static inline bool rt_count_fits(int64_t *elements, int64_t dim) {
  if (dim < 0 || dim > RT_MAX_ELEMENTS) return false;
  *elements *= dim ? dim : 1;
  return *elements <= RT_MAX_ELEMENTS;
}
/* v as an int32 (a label, an index), range-checked first: a plain cast turns
 * 1e10 or NaN into garbage. NULL, or why v is not one ("not an integer",
 * "outside the range of a 32-bit integer"). idx.c, for every loader. */
const char *rt_int32_of(double v, int32_t *out);
/* Opens a file that a loader reads: only a regular file (a directory, a device
 * or a FIFO has no size to check and may never end). Reports at `at` and
 * returns -1 otherwise; *bytes (if not NULL) gets the file's size. Shared by
 * every loader (idx.c). */
int rt_open_regular(const char *path, PgLoc at, int64_t *bytes);

/* ---- threads.c: workers for the step's parallel kernels ---- */
void rt_threads_start(int n); /* n threads in all, the caller included; 1 = none */
void rt_threads_stop(void);
/* nnd_parallel_for, which generated code calls, is declared in program.h */

/* ---- fpmode.c: the floating-point mode of generated code ---- */
/* flush subnormals to zero in generated code (the default); false keeps IEEE
 * subnormals. Set before rt_threads_start: workers take it when they start. */
void rt_fp_set_flush_denormals(bool on);
unsigned rt_fp_enter(void); /* sets the mode on this thread; returns the previous one */
void rt_fp_leave(unsigned saved);

/* ---- rng.c: xoshiro256**, seeded through splitmix64 ---- */
typedef struct {
  uint64_t s[4];
} RtRng;

void rt_rng_seed(RtRng *r, uint64_t seed);
uint64_t rt_rng_next(RtRng *r);
double rt_rng_uniform(RtRng *r); /* [0, 1) */

/* sample.c: a token drawn from n scores: softmax at `temperature` over the
 * top_k highest (0: all); temperature 0 takes the highest */
int32_t rt_sample(const float *scores, int32_t n, double temperature, int32_t top_k, RtRng *rng);
void rt_shuffle(RtRng *r, int64_t *perm, int64_t n);

/* ---- idx.c: IDX files (optionally gzip'd) ---- */
typedef struct {
  PgDType dtype;
  int64_t count;    /* examples: the first dimension */
  int64_t per_item; /* values per example */
  int rank;
  int64_t dim[PG_MAX_RANK];
  void *data; /* count * per_item floats or int32s */
  float *mean, *inv_std; /* per feature, if normalised: what was subtracted, what multiplied */
} RtTensor;

/* Loads an IDX file as dtype, multiplying by scale. Errors name the file and
 * are reported at `at` (the .nnd line that asked for it). */
bool rt_load_idx(const char *path, PgDType dtype, double scale, PgLoc at, RtTensor *out);
void rt_tensor_free(RtTensor *t);

/* ---- npy.c: NumPy .npy files ---- */
bool rt_load_npy(const char *path, PgDType dtype, double scale, PgLoc at, RtTensor *out);

/* ---- csv.c: numeric CSV files, columns by name or index ---- */
/* whether the first line of a CSV file (gzip'd or not) starts with a name, not a
 * number: a header row */
bool rt_csv_has_header(const char *path);
bool rt_load_csv(const PgSource *src, PgDType dtype, RtTensor *out);

/* ---- text.c: vocabularies and the text() source ---- */
/* A fixed vocabulary, by name (`vocab=chars` in a text() source). chars: ids
 * 0..4 are [PAD] [UNK] [CLS] [SEP] [MASK], 5 is '\n', 6 is '\t', 7..101 are
 * the printable ASCII bytes 32..126; any other byte is [UNK]. */
typedef struct {
  const char *name;
  int32_t size; /* ids are [0, size) */
} RtVocab;
enum { RT_TOKEN_PAD, RT_TOKEN_UNK, RT_TOKEN_CLS, RT_TOKEN_SEP, RT_TOKEN_MASK, RT_TOKEN_NEWLINE };

const RtVocab *rt_vocab_named(const char *name); /* NULL if there is none of that name */
int32_t rt_vocab_id(const RtVocab *v, unsigned char byte);
/* one id per byte of text into ids (len of them); returns len */
int64_t rt_vocab_encode(const RtVocab *v, const char *text, int64_t len, int32_t *ids);
/* the text of n ids (specials by name, "[?]" for an id outside the vocabulary)
 * into out, cut to cap - 1 bytes and ended by a NUL; returns the full length
 * (as snprintf does) */
size_t rt_vocab_decode(const RtVocab *v, const int32_t *ids, int64_t n, char *out, size_t cap);
/* the tokens as a JSON array of strings, by id (malloc'd; NULL without
 * memory): what a checkpoint's "vocab_tokens" metadata holds */
char *rt_vocab_tokens_json(const RtVocab *v);
/* the longest reach (shift + window) of the text() sources of a data block:
 * each of them has as many examples as fit that reach; 0 if none */
int64_t rt_text_reach(const PgDataSet *spec);
/* a text() source's windows as i32 [count, window] */
bool rt_load_text(const PgSource *s, PgDType dtype, int64_t reach, RtTensor *out);
/* reads a whole regular file into *out, NUL-terminated (its size bounded first) */
bool rt_read_file(const char *path, PgLoc at, char **out, int64_t *len);

/* ---- graph.c: the graph() source (an edge list and a node table) ---- */
/* a graph() source's field as one example: edges i32 [2, E], weights f32
 * [E], features f32 [N, F], labels i32 [N] (-1 outside the split), mask f32 [N] */
bool rt_load_graph(const PgSource *s, PgDType dtype, RtTensor *out);
/* the ids of every file of a text() or pairs() source, one after the other
 * (malloc'd; NULL after a diagnostic at s->loc: a missing or binary file) */
int32_t *rt_text_ids(const PgSource *s, const RtVocab *v, int64_t *count);
/* the ids of file i of s alone (as rt_text_ids) */
int32_t *rt_text_file_ids(const PgSource *s, int file, const RtVocab *v, int64_t *count);
/* the units of n ids: the text between lines holding only '%' (fortune files),
 * each without its last newlines, the empty ones dropped. Returns their count;
 * with start and end (room for the count: call once without them first), unit
 * u is ids [start[u], end[u]). */
int64_t rt_text_units(const int32_t *ids, int64_t n, int64_t *start, int64_t *end);
/* a source of token ids from text: text(), pairs() or records() */
bool rt_is_text_source(const PgSource *s);
/* the vocabulary of a data block's text sources, NULL if it has none */
const char *rt_data_vocab(const PgDataSet *spec);

/* ---- safetensors.c: named tensors in files ---- */
typedef struct {
  const char *name;
  PgDType dtype;
  PgShape shape;
  void *data;
} RtNamed;

#define RT_MAX_META 16
typedef struct {
  RtNamed *t;
  int count;
  char *meta[RT_MAX_META][2]; /* key, value */
  int nmeta;
  char *blob; /* the file; t[i].data points into it */
} RtSafetensors;

/* path replaced by len bytes of data, whole or not at all (replace.c); false after a
 * diagnostic, with the old file, if any, untouched */
bool rt_replace_file(const char *path, const char *data, size_t len);
/* meta: key, value, key, value, ..., NULL. Atomic: temp file, fsync, rename. */
bool rt_safetensors_write(const char *path, const RtNamed *t, int n, const char *const *meta);
/* Whether a checkpoint can be saved at path, asked before training starts: its
 * folder exists and is writable, and path is not a directory (nor a device or
 * a FIFO). Reports what is wrong. */
bool rt_checkpoint_check_writable(const char *path);
bool rt_safetensors_read(const char *path, RtSafetensors *st);
void rt_safetensors_free(RtSafetensors *st);
const RtNamed *rt_safetensors_find(const RtSafetensors *st, const char *name);
const char *rt_safetensors_meta(const RtSafetensors *st, const char *key);

/* ---- program.c: parameters by name, shared by every compiled graph ---- */
typedef struct {
  int count, cap;
  const char **names;
  float **data;
  int64_t *numel;
  PgShape *shape;
  PgRole *role;
} RtParams;

void rt_params_free(RtParams *p);
int rt_params_find(const RtParams *p, const char *name);

/* ---- checkpoint.c: the store and the training state in a safetensors file ---- */
typedef struct {
  int epoch;    /* epochs done */
  int64_t step; /* steps done */
  RtRng rng;    /* as the next epoch starts */
} RtTrainState;

typedef enum {
  RT_LOAD_RESUME,  /* every parameter, optimizer state included, and the training state */
  RT_LOAD_WEIGHTS, /* every weight (evaluate, predict) */
  RT_LOAD_INIT,    /* the weights the file has, by name (transfer learning) */
  RT_LOAD_STATE,   /* every weight, and the optimizer state the file has (nnd compile --train) */
} RtLoadMode;

typedef struct RtData RtData;
/* vocab: the name of the vocabulary the model's ids are in (metadata "vocab",
 * and "vocab_tokens" its tokens as JSON), NULL if none; normalized: the
 * training data, whose normalize() statistics the checkpoint keeps as
 * "normalize.INPUT.mean" and "normalize.INPUT.inv_std" (NULL: none), so that
 * eval and predict need no training files */
bool rt_checkpoint_save(const char *path, const RtParams *p, const RtTrainState *s,
                        const char *vocab, const RtData *normalized);
bool rt_checkpoint_load(const char *path, RtParams *p, RtLoadMode mode, RtTrainState *s);
/* the normalize() statistics of train's sources saved in the checkpoint at
 * path, as columns of `fit` (no data, no examples); fit->ncols = 0 if the file
 * has none for one of them (an older checkpoint: fit from the training data).
 * False after a diagnostic. */
bool rt_checkpoint_statistics(const char *path, const PgDataSet *train, RtData *fit);

/* ---- program.c: a compiled entry point bound to its buffers ---- */
typedef struct {
  const PgEntry *e; /* its manifest and code (not owned) */
  char *arena;
  float **params; /* by slot */
  void **io;      /* by io index: inputs, then outputs, then the debug tables */
  float *outputs; /* scalar outputs, by output index (io - ninputs) */
  uint8_t *nonfinite; /* with checks: per node, its result had a NaN/Inf in the last
                         step (then as many bytes of scratch) */
  int64_t *cycles;    /* per kernel, if compiled with profiling */
  int64_t steps;      /* calls of step */
} RtProgram;

/* Binds e's parameters to the store by name, creating and initialising the
 * missing ones (Glorot-uniform, zeros or ones) from rng. */
bool rt_program_init(RtProgram *p, const PgEntry *e, RtParams *store, RtRng *rng);
void rt_program_free(RtProgram *p);
/* one call of the step on the first n examples of the inputs, in the
 * floating-point mode of generated code */
void rt_program_run(RtProgram *p, int64_t n);
/* after a checked step: the first node whose NaN or infinity reached a result
 * (an output or an assigned parameter) through non-finite values alone, or -1 */
int rt_program_first_nonfinite(RtProgram *p);
/* the kernels that took the most time, with their ops and source lines */
void rt_profile_print(FILE *out, const RtProgram *p);
/* the buffer of a slot */
static inline void *rt_slot_buffer(const RtProgram *p, const PgSlot *s) { return p->io[s->io]; }

/* ---- train.c: datasets, fit and evaluate ---- */
typedef struct RtPairs RtPairs; /* pairs.c */
#define RT_MAX_COLUMNS 16 /* inputs a data block feeds */
struct RtData {
  const char *name;
  int ncols;
  const char *input[RT_MAX_COLUMNS]; /* the model input each column feeds */
  RtTensor col[RT_MAX_COLUMNS];
  int64_t count;
  RtPairs *pairs; /* pairs() columns: what draws them (owned); NULL if none */
};

/* Loads a data block for e's inputs, as the files have it. */
bool rt_data_load(RtData *d, const PgDataSet *spec, const PgEntry *e);
/* Standardises the features the spec asks to, with the statistics of `fit`
 * (the training data) if given, else with their own. */
/* whether a source of spec is normalize()d */
bool rt_data_normalizes(const PgDataSet *spec);
bool rt_data_normalize(RtData *d, const PgDataSet *spec, const RtData *fit);
/* Moves the last `fraction` of the examples into tail (Keras's validation_split),
 * or with `shuffle` a random draw of them (seeded; not for pairs() data). */
/* a warning for each class label whose classes differ between train and val
 * (validation_split of a file sorted by class) */
void rt_data_warn_classes(const RtData *train, const RtData *val, const PgEntry *e);
bool rt_data_split(RtData *d, double fraction, bool shuffle, uint64_t seed, RtData *tail);
/* every input of e (but the dropout seed) from the tensor of its name */
bool rt_data_from_safetensors(RtData *d, const char *path, const PgEntry *e);
/* adds a column for e's input `input` from one file: .npy, .csv[.gz] (every
 * column) or IDX, scaled as `like` (the training data's source for that input;
 * NULL: as it is) scales; every column has the same number of examples */
bool rt_data_add_file(RtData *d, const char *path, const PgEntry *e, const char *input,
                      const PgSource *like);
void rt_data_free(RtData *d);

/* ---- pairs.c: the pairs() source (BERT's sentence pairs and masks) ---- */
/* adds the column of a pairs() source (its field) to d, drawn with a fixed
 * seed; every pairs() source of d reads the same files */
bool rt_data_add_pairs(RtData *d, const PgSource *s, PgDType dtype);
/* draws d's pairs() columns anew (an epoch's start); nothing without them */
void rt_data_refresh(const RtData *d, RtRng *rng);
void rt_pairs_free(RtPairs *p);

/* ---- records.c: the records() source (labelled units of text) ---- */
/* a records() source's field as i32 [count, length] (tokens, segments) or
 * [count, 1] (label): the units of its files interleaved (records.c) */
bool rt_load_records(const PgSource *s, PgDType dtype, RtTensor *out);

/* Keras's ReduceLROnPlateau: after `patience` epochs in which `monitor` did
 * not improve by more than min_delta, the rate is multiplied by factor (not
 * below min_lr), then `cooldown` epochs pass before the count starts again.
 * The rate's scale is the train step's parameter "lr_scale". */
typedef struct {
  bool on;
  const char *monitor;
  double factor, min_delta, min_lr;
  int patience, cooldown;
} RtPlateau;

typedef struct {
  int epochs, batch;    /* train until `epochs` epochs are done */
  const char *log_path; /* JSON lines, one per epoch; NULL = none */
  const char *save_path; /* checkpoint after the last epoch (and every save_every) */
  int save_every;
  bool quiet;
  const char *vocab; /* of the training data's text, for the checkpoint; NULL if none */
  /* early stopping (Keras's EarlyStopping): stop after `patience` epochs in
   * which `monitor` did not improve by more than min_delta (a loss or
   * perplexity down, an accuracy up); restore_best: then go back to the
   * weights of its best epoch. save_best: a checkpoint of every epoch that
   * improves it (NULL: none). */
  bool early_stop, restore_best;
  const char *monitor;
  int patience;
  double min_delta;
  const char *save_best;
  RtPlateau plateau;
  const RtData *normalized; /* its normalize() statistics go into every checkpoint */
  int64_t steps_per_epoch;  /* at most this many steps an epoch (Keras's steps_per_epoch); 0: all */
} RtFitOptions;

/* Copies rows perm[start..start+n) of every column into the program's inputs. */
void rt_gather(RtProgram *p, const RtData *d, const int64_t *perm, int64_t start, int64_t n);

#define RT_MAX_METRICS 16
typedef struct {
  double loss;
  double metric[RT_MAX_METRICS]; /* averaged over examples, by output index (METRIC slots) */
  int nmetrics;
  double lr; /* training: the last step's learning rate; NaN if unknown */
} RtScores;

/* ---- report.c: confusion matrix or R^2 from per-example outputs ---- */
typedef struct {
  double *pred, *truth; /* n values: width per example */
  int64_t n, cap, width;
  bool classes; /* class indices (confusion matrix) or values (R^2) */
  /* with want_probabilities (set before the first add), the PROBABILITY slot's
   * values: nprob, prob_width per example (0 if the step has none) */
  bool want_probabilities;
  float *prob;
  int64_t nprob, prob_cap, prob_width;
} RtReport;

void rt_report_add(RtReport *r, const RtProgram *p, int64_t n);
void rt_report_print(FILE *out, const RtReport *r);
void rt_report_free(RtReport *r);
/* the columns of a predictions file, after class_k or prediction_k */
typedef struct {
  bool truth;         /* label_k or target_k */
  bool probabilities; /* probability_k: each class's (or output's) probability */
  int top_k;          /* top_1_class, top_1_probability, ...: the likeliest classes */
} RtCsvColumns;
/* one row per example; to standard output for path "-"; false after a diagnostic
 * (probabilities asked of a report without them) */
bool rt_report_write_csv(const char *path, const RtReport *r, const RtCsvColumns *cols);

/* " - loss: 0.4 - accuracy: 0.8", each name after prefix ("val_") */
void rt_print_scores(FILE *out, const PgEntry *e, const char *prefix, const RtScores *s);
/* Scores a whole data set; `report` (may be NULL) collects what eval reports. */
bool rt_evaluate(RtProgram *eval, const RtData *d, int batch, RtScores *out, RtReport *report);
/* Trains from state->epoch until opt->epochs epochs are done, evaluating on
 * the validation and test sets (if any) after each epoch; `last_test` gets the
 * test scores of the final evaluation. The state (epochs, steps, RNG)
 * advances with training. */
typedef struct {
  const RtData *train, *val, *test; /* val, test: NULL if none */
} RtSets;

bool rt_fit(RtProgram *train, RtProgram *eval, const RtSets *data, const RtFitOptions *opt, RtParams *store,
            RtTrainState *state, RtScores *last_test);

/* ---- gradcheck.c: backward graph against finite differences ---- */
/* on the first max_batch examples of d, after moving weights that are
 * exactly 0 off 0; probes where kinks leave no derivative are skipped and
 * counted. False if a probe fails, nothing could be checked, or grads is no
 * grad entry (a LOSS slot and a GRADIENT slot per weight). */
bool rt_gradcheck(RtProgram *grads, const RtData *d, RtRng *rng, double tolerance, double *worst);

#endif

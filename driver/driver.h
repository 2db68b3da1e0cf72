/* driver.h — the command line's pieces: flags (nnd.c), the stages that turn a
 * model into compiled step graphs and what to print on the way (pipeline.c). */
#ifndef NND_DRIVER_H
#define NND_DRIVER_H

#include "../codegen/codegen.h"
#include "../frontend/frontend.h"
#include "../passes/passes.h"
#include "../runtime/runtime.h"

typedef struct {
  const char *command, *input, *stage, *graph, *log, *passes, *print_after, *dump_dir, *format;
  const char *save, *save_best, *resume, *weights, *init_from, *data, *freeze, *inputs, *out;
  const char *output;
  const char *input_files[8]; /* predict --input [NAME=]FILE, once per model input */
  int ninput_files;
  const char *ir; /* gradcheck --ir: a planned grad graph to check instead of the model's */
  const char *target, *cpu; /* compile: --target TRIPLE, --cpu CPU; -o NAME is `out` */
  const char *prompt;       /* sample: --prompt TEXT, --tokens N, --temperature X, --top-k K */
  const char *detail;       /* dump --format=dot --detail=auto|ops|layers|kernels */
  int tokens, top_k;
  double temperature;
  int epochs, batch, save_every, steps, threads;
  double lr;
  long long seed;
  bool has_seed, no_fuse, quiet, print_after_all, print_changed, time_passes, no_dropout, check_numerics, profile;
  bool no_flush_denormals, raw, recompute_scans, no_cache, probabilities;
  bool json;   /* bench, stats: one JSON object instead of text */
  bool poison; /* dead buffers filled with NaN (cg_jit_poison) */
  bool train, shared, weights_file; /* compile --train, --shared, --weights-file */
} Cli;

/* Where the result of dump or opt goes: standard output, or with -o FILE a
 * buffer that replaces FILE only when the command succeeds (pipeline.c). */
typedef struct {
  FILE *f;
  char *text;
  size_t len;
} Result;
FILE *result_open(Result *r, const Cli *c);
bool result_close(Result *r, const Cli *c, bool ok); /* ok && the file was written */

/* What to show while passes run (dump and opt): the stage printed to
 * `result`, what happens on the way (--print-after-all, --print-changed) to
 * stderr, as LLVM's opt does, so that the result stays parseable. */
typedef struct {
  const Cli *cli;
  FILE *result;
  const char *stop_stage; /* print the graph after this stage, then stop */
  bool stage_printed;
  char *previous;         /* the IR text before the pass that runs next */
  int npasses;
  struct {
    const char *pass;
    double seconds;
  } times[64];
  int ntimes;
} Watch;

void watch_init(Watch *w, const Cli *c);
void watch_start(Watch *w, const IrGraph *g, const char *what); /* the graph before the first pass */
void watch_pass(const IrGraph *g, const char *pass, double seconds, void *watch);
void watch_free(Watch *w);
void print_graph(FILE *out, const IrGraph *g, const Cli *c);
void print_times(const Watch *w, double llvm_opt_s, double jit_s);

/* The graphs nnd compiles from one model: "train" (forward, backward and
 * update), "eval" (forward, no dropout), "grad" (forward and gradients as
 * outputs), "predict" (eval with only the PREDICTION outputs: what nnd
 * compile's NAME_predict runs), "decode" (predict for one position of a causal
 * sequence model, keys and values from a cache: passes/decode.c, what nnd
 * sample runs). Runs the stages in order; with w->stop_stage set, prints that
 * stage and returns the graph as it is then. NULL after diagnostics. */
IrGraph *build_graph(const AstFile *ast, const FeConfig *cfg, const Cli *c, const char *graph, Watch *w);
bool known_stage(const char *stage);

/* nnd.c */
AstFile *load_model(const Cli *c, FeConfig *cfg); /* parsed, configured, flags applied */
const char *model_name(const AstFile *ast);        /* its model block's name */

/* externs.c: loads the libraries of cfg's extern blocks and gives the JIT
 * their functions; false after diagnostics at the extern blocks */
typedef struct CgJit CgJit;
bool load_externs(const FeConfig *cfg, CgJit *jit);

/* run.c: what every command that runs a model holds (the model, its
 * settings, the RNG, the parameters its step graphs share, the JIT), and a
 * step graph compiled and bound to that store */
typedef struct {
  const Cli *c;
  AstFile *ast;
  FeConfig cfg;
  RtRng rng;
  RtParams store;
  CgJit *jit;
} Session;

typedef struct {
  IrGraph *g;
  PgEntry entry;
  RtProgram prog;
} Compiled;

bool open_session(const Cli *c, Session *s);
int close_session(Session *s, bool ok); /* the exit status of the command */
/* one step graph ("train", "eval", "grad" or "predict"), compiled and bound to the store */
bool compile_step(Session *s, const char *graph, Watch *w, Compiled *out);
void release_step(Compiled *x);
int cmd_train(const Cli *c);
int cmd_eval(const Cli *c);
int cmd_predict(const Cli *c);
int cmd_step(const Cli *c);
int cmd_gradcheck(const Cli *c);

/* data.c: nnd data, the first examples of a data set */
int cmd_data(const Cli *c);
/* sample.c */
int cmd_sample(const Cli *c);

/* runso.c */
int cmd_run(const Cli *c);

/* plot.c: nnd plot LOG.jsonl -o FILE.png|FILE.svg, the curves of a training log */
int cmd_plot(const Cli *c);
/* summary.c: nnd summary, a table of the layers, the parameter counts and the memory */
int cmd_summary(const Cli *c);
/* bench.c: nnd bench MODEL.nnd, the compiled steps timed */
int cmd_bench(const Cli *c);
/* stats.c: nnd stats MODEL.nnd, what the compiled steps do and hold */
int cmd_stats(const Cli *c);
/* memory.c: dump --stage=planned --format=svg, the arena over the kernel
 * schedule, as SVG; false after a diagnostic */
bool memory_svg(FILE *out, const IrGraph *g);

/* compile.c: nnd compile, a model to an object file and a C header */
int cmd_compile(const Cli *c);

/* header.c: the documents of a compiled object, from its layout */
/* NAME.h: the typed entry points, their arguments, sizes and the state */
bool write_header(const char *path, const CgObject *o, const char *model, const FeConfig *cfg);
/* the text of NAME_manifest (malloc'd; NULL without memory) */
char *manifest_text(const CgObject *o, const char *model);

#endif

/* nnd.c — the command line: flags, and the commands that inspect (dump, opt,
 * check, passes); the commands that run models are in run.c, the stages in
 * pipeline.c. Every user error ends as a diagnostic and exit status 1 (2 for
 * misuse of the command line). */
#define _GNU_SOURCE /* sched_getaffinity */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "../program/program.h"
#include "driver.h"

/* the commands' help: each command's lines of `nnd --help`, and the groups
 * of options it takes (`nnd help CMD`, `nnd CMD --help`) */
enum { TRAINING = 1, INSPECTION = 2 };
static const struct {
  const char *name;
  unsigned options;
  const char *text;
} command_help[] = {
    {"train", TRAINING,
     "  train MODEL.nnd      JIT-compile the training step and train the model\n"},
    {"dump", INSPECTION,
     "  dump MODEL.nnd       print a stage of a step graph (default: planned)\n"},
    {"opt", INSPECTION,
     "  opt FILE.nnir        run a pass pipeline on textual IR and print the result\n"},
    {"program", 0,
     "  program FILE.nnprog  read a compiled Program's manifest (docs/program.md) and print\n"
     "                       it again (the text round-trips byte for byte)\n"},
    {"check", 0,
     "  check MODEL.nnd      parse, elaborate and verify; report every error\n"},
    {"eval", TRAINING,
     "  eval MODEL.nnd       evaluate --weights CKPT on --data test (default), validation or\n"
     "                       train: metrics, and a confusion matrix or R^2\n"},
    {"predict", TRAINING,
     "  predict MODEL.nnd    --weights CKPT --output FILE.csv, from --data test|validation|train\n"
     "                       or from files: --input FILE (.npy, .csv or IDX) for a model whose\n"
     "                       predictions read one input, --input NAME=FILE for each input\n"
     "                       otherwise; a file gets the transforms of that input's training\n"
     "                       source (scale, normalize), unless --raw; --probabilities: each\n"
     "                       class's probability too, --top-k K: the K likeliest classes\n"},
    {"run", 0,
     "  run NAME.so          predict with a compiled --shared model through its manifest:\n"
     "                       --input [NAME=]FILE, --output FILE.csv (--raw: files as they are)\n"},
    {"gradcheck", TRAINING,
     "  gradcheck MODEL.nnd  compare the compiled gradients with finite differences\n"
     "                       (--ir GRAD.nnir: those of a planned grad graph from a file)\n"},
    {"step", TRAINING,
     "  step MODEL.nnd       on one batch (--inputs B.st) from --weights W.st: the loss, the\n"
     "                       gradients and the parameters after --steps N updates, to --out\n"
     "                       O.st (for comparing with a reference; --no-dropout)\n"},
    {"compile", TRAINING,
     "  compile MODEL.nnd    -o NAME: native code to NAME.o (--shared: NAME.so) and the C\n"
     "                       header NAME.h (docs/compile.md): NAME_predict, and with --train\n"
     "                       NAME_train_step; --weights CKPT embeds a checkpoint (else the\n"
     "                       initial values training would start from); --weights-file\n"
     "                       embeds nothing and writes NAME.state; --batch N (the most rows\n"
     "                       per step); --target TRIPLE --cpu CPU (default: this machine);\n"
     "                       --no-dropout\n"},
    {"data", TRAINING,
     "  data MODEL.nnd       the first --batch N (default 4) examples of --data train\n"
     "                       (default), validation or test, as read: one line per input,\n"
     "                       text() ids with their text\n"},
    {"sample", TRAINING,
     "  sample MODEL.nnd     --weights CKPT --prompt TEXT: text from a language model, one\n"
     "                       token at a time; --tokens N (200), --temperature X (1; 0:\n"
     "                       the likeliest), --top-k K (0: all), --seed S; the decode\n"
     "                       step with a key/value cache, or --no-cache: the predict step\n"
     "                       over the whole window for each token\n"},
    {"plot", 0,
     "  plot LOG.jsonl       -o FILE.png|FILE.svg: the curves of a training log (train --log),\n"
     "                       one panel per quantity, train, validation and test per epoch\n"},
    {"summary", TRAINING,
     "  summary MODEL.nnd    one row per layer (name, kind, output shape, parameters), the\n"
     "                       trainable, frozen and statistic counts, and the memory of a\n"
     "                       training step (--batch N, --freeze a,b apply)\n"},
    {"bench", TRAINING,
     "  bench MODEL.nnd      time the compiled steps: compile (parse to runnable code), the\n"
     "                       median training step and inference at the file's batch and at\n"
     "                       batch 1, with min-max over --steps N (default 20) on synthetic\n"
     "                       inputs; --threads N, --batch N, --json\n"},
    {"stats", TRAINING,
     "  stats MODEL.nnd      what the train and inference steps do: ops, kernels, bytes\n"
     "                       kernels read and write before and after fusion, the planned\n"
     "                       arena against the sum of its buffers, the peak memory by kind;\n"
     "                       --json\n"},
    {"passes", 0,
     "  passes               list the registered passes and their options\n"},
};

static const char training_options[] =
    "training (override the model file):\n"
    "  --epochs N  --batch N  --lr X  --seed N\n"
    "  --log FILE         one JSON object per epoch\n"
    "  --save CKPT        checkpoint (safetensors) after training; --save-every N epochs too\n"
    "  --save-best CKPT   checkpoint every epoch that improves the train block's monitor\n"
    "                     (default val_loss; early_stopping(...) in the train block stops)\n"
    "  --resume CKPT      continue a run exactly where its checkpoint left it\n"
    "  --init-from CKPT   start from the weights of a checkpoint, by name (transfer learning)\n"
    "  --freeze a,b       train with these layers' weights fixed (fine-tuning)\n"
    "  --no-fuse          one kernel per op (to compare with the fused program)\n"
    "  --recompute-scans  a recurrence's backward recomputes each step from its saved\n"
    "                     state (less memory) instead of saving what it reads\n"
    "  --profile          time every kernel (CPU cycles); print where the step's time goes\n"
    "  --check-numerics   stop at the first NaN or infinity and name the op that made it\n"
    "                     (implies --no-fuse, so that every op's result is checked)\n"
    "  --steps N          (train) at most N steps an epoch (Keras's steps_per_epoch)\n"
    "  --poison           fill the arena with NaN as each step starts and every buffer\n"
    "                     after its last use: a value read after the plan let it die\n"
    "                     shows (the results of a correct plan do not change)\n"
    "  --quiet            no live progress bar\n"
    "  --threads N        threads for the big kernels (default: $NND_THREADS, else the\n"
    "                     cores this process may run on; the same results for any N)\n"
    "  --no-flush-denormals  keep IEEE subnormal floats in generated code (default: flush\n"
    "                     them to zero, which is much faster on some CPUs)\n";

static const char inspection_options[] =
    "inspection (dump, opt; --time-passes also for train):\n"
    "  --stage=parsed|elaborated|optimized|autodiff|fused|planned|llvm|program\n"
    "                     (program: the manifests of the train, eval, grad and predict steps)\n"
    "  --graph=train|eval|grad|predict  which step graph (default train)\n"
    "  --passes=a,b{key=value},c   the pipeline for opt (empty: parse and print)\n"
    "  -o FILE            the result to FILE, replaced only if the command succeeds\n"
    "                     (default and -o -: standard output; FILE - as input: stdin)\n"
    "  --print-after-all  --print-after=PASS  --print-changed (unified diffs): to stderr,\n"
    "                     so that standard output stays the parseable result\n"
    "  --dump-dir DIR     one numbered .nnir file per pass\n"
    "  --format=dot       Graphviz: every op (fusion kernels as clusters) up to 60 nodes,\n"
    "                     larger graphs one box per kernel (up to 100) or per layer;\n"
    "                     --detail=ops|kernels|layers chooses\n"
    "  --format=svg       (--stage=planned) the memory plan: each arena buffer over the\n"
    "                     kernels it lives across, and the peak\n"
    "  --time-passes      time per pass, LLVM optimisation and JIT (on stderr)\n"
    "  (every --flag may also be written -flag, as LLVM's tools take it: -passes=cse)\n";

static const char error_options[] =
    "  --error-limit N    stop printing after N errors (default 20; 0: no limit)\n";

/* the registered passes, a line each, and their options */
static void print_passes(void) {
  int n;
  const PsPass *p = ps_pass_list(&n);
  for (int i = 0; i < n; i++) {
    printf("  %-13s %s\n", p[i].name, p[i].summary);
    if (*p[i].options) printf("  %-13s   options: %s\n", "", p[i].options);
  }
}

static int usage(FILE *out) {
  fputs("usage: nnd <command> FILE [options]\n\ncommands:\n", out);
  for (size_t i = 0; i < sizeof command_help / sizeof *command_help; i++)
    fputs(command_help[i].text, out);
  fprintf(out, "  help COMMAND         that command's options (also: nnd COMMAND --help)\n"
               "  --version            nnd's and LLVM's versions, the host CPU and its vectors\n\n"
               "%s\n%s\n%s",
          training_options, error_options, inspection_options);
  return out == stderr ? 2 : 0;
}

/* nnd help CMD: its lines and its options; 2 for an unknown command */
static int help(const char *command) {
  for (size_t i = 0; i < sizeof command_help / sizeof *command_help; i++) {
    if (strcmp(command, command_help[i].name) != 0) continue;
    printf("usage: nnd %s%s [options]\n\n%s\n", command, strcmp(command, "passes") ? " FILE" : "",
           command_help[i].text);
    if (command_help[i].options & TRAINING) printf("%s\n", training_options);
    if (command_help[i].options & INSPECTION) printf("%s\n", inspection_options);
    if (strcmp(command, "opt") == 0) {
      fputs("passes (nnd passes):\n", stdout);
      print_passes();
      putchar('\n');
    }
    fputs(error_options, stdout);
    return 0;
  }
  fprintf(stderr, "nnd: error: unknown command '%s' (see nnd --help)\n", command);
  return 2;
}

/* what follows the flag `name` (--name) at the start of arg, which may also
 * spell it -name, as LLVM's tools take their flags; NULL if it is not there */
static const char *after_name(const char *arg, const char *name) {
  size_t len = strlen(name);
  if (strncmp(arg, name, len) == 0) return arg + len;
  bool single = name[1] == '-' && arg[0] == '-' && arg[1] != '-';
  return single && strncmp(arg + 1, name + 2, len - 2) == 0 ? arg + len - 1 : NULL;
}

static bool is_switch(const char *arg, const char *name) {
  const char *rest = after_name(arg, name);
  return rest && *rest == 0;
}

/* --name=value or --name value; false if arg is not this flag */
static bool flag(const char *arg, const char *name, int argc, char **argv, int *i, const char **value) {
  const char *rest = after_name(arg, name);
  if (!rest) return false;
  if (*rest == '=') *value = rest + 1;
  else if (*rest == 0) *value = *i + 1 < argc ? argv[++*i] : NULL;
  else return false;
  return true;
}

static bool int_value(const char *name, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = s ? strtoll(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "nnd: error: %s expects an integer in [%lld, %lld], got '%s'\n", name, lo, hi, s ? s : "");
    return false;
  }
  *out = v;
  return true;
}

/* a flag and the Cli field it sets */
typedef struct {
  const char *name;
  size_t offset;
} CliField;

static bool switch_flag(const char *a, Cli *c) {
  static const CliField switches[] = {
      {"--no-fuse", offsetof(Cli, no_fuse)},
      {"--quiet", offsetof(Cli, quiet)},
      {"--print-after-all", offsetof(Cli, print_after_all)},
      {"--print-changed", offsetof(Cli, print_changed)},
      {"--time-passes", offsetof(Cli, time_passes)},
      {"--no-dropout", offsetof(Cli, no_dropout)},
      {"--check-numerics", offsetof(Cli, check_numerics)},
      {"--profile", offsetof(Cli, profile)},
      {"--no-flush-denormals", offsetof(Cli, no_flush_denormals)},
      {"--raw", offsetof(Cli, raw)},
      {"--train", offsetof(Cli, train)},
      {"--shared", offsetof(Cli, shared)},
      {"--weights-file", offsetof(Cli, weights_file)},
      {"--recompute-scans", offsetof(Cli, recompute_scans)},
      {"--no-cache", offsetof(Cli, no_cache)},
      {"--probabilities", offsetof(Cli, probabilities)},
      {"--json", offsetof(Cli, json)},
      {"--poison", offsetof(Cli, poison)},
  };
  for (size_t i = 0; i < sizeof switches / sizeof *switches; i++)
    if (is_switch(a, switches[i].name)) return *(bool *)((char *)c + switches[i].offset) = true;
  return false;
}

static bool string_flag(const char *a, Cli *c, int argc, char **argv, int *i, bool *ok) {
  static const CliField strings[] = {
      {"--log", offsetof(Cli, log)},       {"--stage", offsetof(Cli, stage)},
      {"--graph", offsetof(Cli, graph)},   {"--passes", offsetof(Cli, passes)},
      {"--print-after", offsetof(Cli, print_after)}, {"--dump-dir", offsetof(Cli, dump_dir)},
      {"--format", offsetof(Cli, format)},   {"--save", offsetof(Cli, save)},
      {"--save-best", offsetof(Cli, save_best)},
      {"--resume", offsetof(Cli, resume)},   {"--weights", offsetof(Cli, weights)},
      {"--init-from", offsetof(Cli, init_from)}, {"--data", offsetof(Cli, data)},
      {"--freeze", offsetof(Cli, freeze)},   {"--inputs", offsetof(Cli, inputs)},
      {"--out", offsetof(Cli, out)},         {"--output", offsetof(Cli, output)},
      {"--ir", offsetof(Cli, ir)},           {"--target", offsetof(Cli, target)},
      {"--cpu", offsetof(Cli, cpu)},         {"-o", offsetof(Cli, out)},
      {"--prompt", offsetof(Cli, prompt)},   {"--detail", offsetof(Cli, detail)},
  };
  const char *v;
  for (size_t k = 0; k < sizeof strings / sizeof *strings; k++)
    if (flag(a, strings[k].name, argc, argv, i, &v)) {
      if (!v) fprintf(stderr, "nnd: error: %s needs a value\n", strings[k].name);
      *ok = v != NULL;
      *(const char **)((char *)c + strings[k].offset) = v;
      return true;
    }
  return false;
}

/* --input [NAME=]FILE, once for each input the predictions read */
static bool input_flag(const char *a, Cli *c, int argc, char **argv, int *i, bool *ok) {
  const char *v;
  if (!flag(a, "--input", argc, argv, i, &v)) return false;
  size_t max = sizeof c->input_files / sizeof *c->input_files;
  if (!v || (size_t)c->ninput_files == max) {
    fprintf(stderr, v ? "nnd: error: --input is given more than %zu times\n" : "nnd: error: --input needs a value\n",
            max);
    *ok = false;
    return true;
  }
  c->input_files[c->ninput_files++] = v;
  return true;
}

static bool temperature_value(const char *s, double *out) {
  char *end;
  double t = s ? strtod(s, &end) : -1;
  if (!s || !*s || *end || !(t >= 0 && t <= 100)) {
    fprintf(stderr, "nnd: error: --temperature expects a number in [0, 100], got '%s'\n",
            s ? s : "");
    return false;
  }
  *out = t;
  return true;
}

static bool number_flag(const char *a, Cli *c, int argc, char **argv, int *i, bool *ok) {
  const char *v;
  long long n;
  if (flag(a, "--epochs", argc, argv, i, &v)) *ok = int_value("--epochs", v, 1, 1000000, &n) && (c->epochs = (int)n);
  else if (flag(a, "--batch", argc, argv, i, &v)) *ok = int_value("--batch", v, 1, 1 << 20, &n) && (c->batch = (int)n);
  else if (flag(a, "--threads", argc, argv, i, &v)) *ok = int_value("--threads", v, 1, 256, &n) && ((c->threads = (int)n), true);
  else if (flag(a, "--steps", argc, argv, i, &v)) *ok = int_value("--steps", v, 0, 1000000, &n) && ((c->steps = (int)n), true);
  else if (flag(a, "--save-every", argc, argv, i, &v)) *ok = int_value("--save-every", v, 1, 1000000, &n) && (c->save_every = (int)n);
  else if (flag(a, "--seed", argc, argv, i, &v)) *ok = (c->has_seed = int_value("--seed", v, 0, (long long)9e18, &c->seed));
  else if (flag(a, "--tokens", argc, argv, i, &v))
    *ok = int_value("--tokens", v, 1, 1000000, &n) && (c->tokens = (int)n);
  else if (flag(a, "--top-k", argc, argv, i, &v))
    *ok = int_value("--top-k", v, 0, 1000000, &n) && ((c->top_k = (int)n), true);
  else if (flag(a, "--temperature", argc, argv, i, &v)) *ok = temperature_value(v, &c->temperature);
  else if (flag(a, "--error-limit", argc, argv, i, &v))
    *ok = int_value("--error-limit", v, 0, 1000000, &n) && (diag_set_error_limit((int)n), true);
  else if (flag(a, "--lr", argc, argv, i, &v)) {
    char *end;
    c->lr = v ? strtod(v, &end) : 0;
    *ok = v && *v && !*end && fe_lr_ok(c->lr);
    if (!*ok) fprintf(stderr, "nnd: error: --lr expects a number in " FE_LR_RANGE ", got '%s'\n", v ? v : "");
  } else return false;
  return true;
}

/* --format=text|dot|svg (svg: the memory plan, dump's planned stage) and dot's --detail */
static bool format_ok(const Cli *c) {
  const char *f = c->format ? c->format : "text", *d = c->detail;
  if (strcmp(f, "dot") && strcmp(f, "text") && strcmp(f, "svg"))
    return fprintf(stderr, "nnd: error: unknown format '%s' (text, dot or svg)\n", f), false;
  bool planned = !strcmp(c->command, "dump") && (!c->stage || !strcmp(c->stage, "planned"));
  if (!strcmp(f, "svg") && !planned) {
    fprintf(stderr, "nnd: error: --format=svg draws the memory plan: it takes only "
                    "'nnd dump MODEL --stage=planned'\n");
    return false;
  }
  if (d && strcmp(f, "dot"))
    return fprintf(stderr, "nnd: error: --detail is for --format=dot\n"), false;
  if (d && strcmp(d, "auto") && strcmp(d, "ops") && strcmp(d, "layers") && strcmp(d, "kernels"))
    return fprintf(stderr, "nnd: error: unknown detail '%s' (auto, ops, layers or kernels)\n", d),
           false;
  return true;
}

/* without --threads: $NND_THREADS, else the cores the process may run on
 * (sched_getaffinity: what taskset and cgroup cpusets allow) */
static bool default_threads(Cli *c) {
  long long n;
  const char *env = getenv("NND_THREADS");
  if (c->threads) return true;
  if (env) return int_value("NND_THREADS", env, 1, 256, &n) && ((c->threads = (int)n), true);
  cpu_set_t set;
  int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  c->threads = cores < 1 ? 1 : cores > 256 ? 256 : cores;
  return true;
}

static bool parse_args(int argc, char **argv, Cli *c) {
  *c = (Cli){.command = argv[1], .graph = "train", .passes = "", .tokens = 200, .temperature = 1};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    bool ok = true;
    if (a[0] != '-' || a[1] == 0) { /* a file, or "-": standard input */
      if (c->input) return fprintf(stderr, "nnd: error: more than one input file given\n"), false;
      c->input = a;
    } else if (!switch_flag(a, c) && !string_flag(a, c, argc, argv, &i, &ok) && !input_flag(a, c, argc, argv, &i, &ok) &&
               !number_flag(a, c, argc, argv, &i, &ok)) {
      return fprintf(stderr, "nnd: error: unknown option '%s' (see nnd --help)\n", a), false;
    }
    if (!ok) return false;
  }
  if (!c->input) return fprintf(stderr, "nnd: error: no input file given (see nnd --help)\n"), false;
  if (!default_threads(c)) return false;
  if (c->stage && !known_stage(c->stage))
    return fprintf(stderr,
                   "nnd: error: unknown stage '%s' (parsed, elaborated, optimized, autodiff, "
                   "fused, planned, llvm, program)\n",
                   c->stage),
           false;
  const char *graphs[] = {"train", "eval", "grad", "predict", "decode"};
  bool known = false;
  for (size_t k = 0; k < sizeof graphs / sizeof *graphs; k++)
    known |= strcmp(c->graph, graphs[k]) == 0;
  if (!known)
    return fprintf(stderr,
                   "nnd: error: unknown graph '%s' (train, eval, grad, predict or decode)\n",
                   c->graph),
           false;
  return format_ok(c);
}

AstFile *load_model(const Cli *c, FeConfig *cfg) {
  AstFile *ast = fe_parse_file(c->input);
  if (!ast) return NULL;
  if (!fe_config(ast, cfg)) return fe_ast_free(ast), NULL;
  if (c->epochs) cfg->epochs = c->epochs;
  if (c->batch) cfg->batch = c->batch;
  if (c->lr > 0) cfg->optimizer.lr = c->lr;
  if (c->has_seed) cfg->seed = (uint64_t)c->seed;
  for (const char *p = c->freeze; p && *p;) { /* --freeze a,b adds to the file's list */
    size_t len = strcspn(p, ",");
    if (len) fe_add_freeze(cfg, fe_strdup_in(ast, p, len), (PgLoc){0});
    p += len + (p[len] == ',');
  }
  return ast;
}

const char *model_name(const AstFile *ast) {
  for (const AstBlock *b = ast->blocks; b; b = b->next)
    if (b->kind == BLOCK_MODEL) return b->name;
  return "?";
}

/* ---- commands ---- */

/* --stage=program: the manifests of the model's entry points, as text */
static int dump_program(FILE *out, const AstFile *ast, const FeConfig *cfg, const Cli *c) {
  static const char *graphs[] = {"train", "eval", "grad", "predict"};
  enum { N = sizeof graphs / sizeof *graphs };
  PgEntry e[N] = {{0}};
  bool ok = true;
  int n = N;
  for (int i = 0; ok && i < n; i++) {
    if (i == 3 && !pg_slot_with_role(
                      &e[1], PG_SLOT_PREDICTION)) { /* a model without metrics predicts nothing */
      n = 3;
      break;
    }
    IrGraph *g = build_graph(ast, cfg, c, graphs[i], NULL);
    ok = g && cg_describe(g, false, &e[i]);
    if (ok) pg_set_transforms(&e[i], fe_dataset(cfg, "train"));
    ir_graph_free(g);
  }
  if (ok) {
    for (int i = 0; i < n; i++) pg_mark_labels(&e[i], &e[1]);
    pg_print(out, e, n);
  }
  for (int i = 0; i < N; i++) pg_entry_free(&e[i]);
  return ok ? 0 : 1;
}

/* a stage of one of the model's step graphs, printed to out */
static int dump_stage(FILE *out, const AstFile *ast, const FeConfig *cfg, const Cli *c) {
  const char *stage = c->stage ? c->stage : "planned";
  if (strcmp(stage, "parsed") == 0) return fe_ast_print(out, ast), 0;
  if (strcmp(stage, "program") == 0) return dump_program(out, ast, cfg, c);
  Watch w;
  watch_init(&w, c);
  w.result = out;
  bool svg = c->format && strcmp(c->format, "svg") == 0; /* planned: the last stage */
  w.stop_stage = strcmp(stage, "llvm") == 0 || svg ? NULL : stage;
  IrGraph *g = build_graph(ast, cfg, c, c->graph, &w);
  int rc = !g;
  if (g && svg) rc = !memory_svg(out, g);
  else if (g && !w.stop_stage) rc = !cg_print_llvm(out, g, g->name, c->check_numerics, c->threads);
  if (c->time_passes) print_times(&w, 0, 0);
  watch_free(&w);
  ir_graph_free(g);
  return rc;
}

static int cmd_dump(const Cli *c) {
  FeConfig cfg;
  Result r;
  AstFile *ast = result_open(&r, c) ? load_model(c, &cfg) : NULL;
  int rc = ast ? dump_stage(r.f, ast, &cfg, c) : 1;
  fe_ast_free(ast);
  return result_close(&r, c, rc == 0) ? 0 : 1;
}

/* the pipeline of --passes on the graph of a textual IR file; the result to out */
static bool opt_graph(FILE *out, IrGraph *g, const Cli *c) {
  Watch w;
  watch_init(&w, c);
  watch_start(&w, g, "input");
  PsOptions o = {.optimizer = ps_optimizer_default(PS_OPT_ADAM), .max_batch = 32};
  bool ok = ps_run_pipeline(g, c->passes, &o, watch_pass, &w);
  if (ok && strcmp(c->stage ? c->stage : "", "llvm") == 0)
    ok = cg_print_llvm(out, g, g->name, c->check_numerics, c->threads);
  else if (ok) print_graph(out, g, c);
  if (c->time_passes) print_times(&w, 0, 0);
  watch_free(&w);
  return ok;
}

static int cmd_opt(const Cli *c) {
  Result r;
  IrGraph *g = result_open(&r, c) ? ir_parse_file(c->input) : NULL;
  bool ok = g && ir_verify(g, "parse") && opt_graph(r.f, g, c);
  ir_graph_free(g);
  return result_close(&r, c, ok) ? 0 : 1;
}

/* a Program's text read and printed: what tests/program/ checks the parser with */
static int cmd_program(const Cli *c) {
  size_t len;
  char *text = pg_read_source(c->input, &len);
  int n = 0;
  PgEntry *entries = text ? pg_parse(c->input, text, &n) : NULL;
  free(text);
  if (!entries) return 1;
  pg_print(stdout, entries, n);
  for (int i = 0; i < n; i++) pg_entry_free(&entries[i]);
  free(entries);
  return 0;
}

static int cmd_check(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = fe_parse_file(c->input);
  if (!ast) return 1;
  bool ok = fe_config(ast, &cfg);
  IrGraph *g = fe_elaborate(ast, FE_TRAINING);
  ok = ok && g && ir_verify(g, "elaborate");
  if (ok) printf("%s: ok\n", c->input);
  ir_graph_free(g);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

static int cmd_passes(void) { return print_passes(), 0; }

#ifndef NND_VERSION /* CMakeLists.txt defines it: the project's version */
#define NND_VERSION "unknown"
#endif

static bool asks_help(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (is_switch(argv[i], "--help") || strcmp(argv[i], "-h") == 0) return true;
  return false;
}

/* nnd --version: nnd's version, LLVM's, and what code generation sees of this CPU */
static int version(void) {
  printf("nnd %s\n", NND_VERSION);
  cg_print_host(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return usage(argc < 2 ? stderr : stdout);
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) return version();
  if (strcmp(argv[1], "help") == 0) return argc > 2 ? help(argv[2]) : usage(stdout);
  if (asks_help(argc, argv)) return help(argv[1]);
  if (strcmp(argv[1], "passes") == 0) return cmd_passes();
  static const struct {
    const char *name;
    int (*run)(const Cli *c);
  } commands[] = {{"train", cmd_train},     {"dump", cmd_dump},   {"opt", cmd_opt},
                  {"program", cmd_program}, {"check", cmd_check}, {"gradcheck", cmd_gradcheck},
                  {"eval", cmd_eval},       {"step", cmd_step},   {"predict", cmd_predict},
                  {"compile", cmd_compile}, {"run", cmd_run},
                  {"data", cmd_data},       {"sample", cmd_sample},
                  {"plot", cmd_plot},       {"summary", cmd_summary},
                  {"bench", cmd_bench},     {"stats", cmd_stats}};
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    Cli c;
    return parse_args(argc, argv, &c) ? commands[i].run(&c) : 2;
  }
  fprintf(stderr, "nnd: error: unknown command '%s' (see nnd --help)\n", argv[1]);
  return 2;
}

/* runso.c — `nnd run NAME.so`: loads a model compiled with `nnd compile
 * --shared` and predicts with it, calling its typed entry points through
 * libffi. What to call and with what comes from the object alone: its
 * NAME_manifest string (docs/compile.md) names the functions and their
 * arguments, and ends in the Program text of its steps, whose predict entry
 * says what each input is (shape, dtype, class bound, scale). Input files are
 * read and checked by the runtime's loaders, as for `nnd predict`. The
 * manifest is untrusted input: it is parsed with bounds on every number. */
#include <dlfcn.h>
#include <ffi.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/runtime.h"
#include "driver.h"

#define MAX_MANIFEST (16 << 20)
#define MAX_ARGS 20

typedef struct {
  char name[128];
  bool array, out, is_batch, is_ws;
} Arg;

typedef struct {
  char symbol[160];
  Arg arg[MAX_ARGS];
  int nargs;
} Function;

typedef struct {
  void *lib;
  char prefix[128];
  int64_t workspace_bytes;
  Function init, predict;
  bool has_init, has_predict;
  PgEntry *entries;
  int nentries;
  const PgEntry *entry; /* the predict step */
} Model;

/* "NAME" of ".../libNAME.so" or ".../NAME.so" */
static bool prefix_of(const char *path, char *out, size_t n) {
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  size_t len = strlen(base);
  if (len > 3 && strcmp(base + len - 3, ".so") == 0) len -= 3;
  if (len >= n || len == 0) return false;
  memcpy(out, base, len);
  out[len] = 0;
  return true;
}

/* one argument: ws, i64:batch, u32:seed, or DTYPE*NAME[SIZE] with :out */
static bool parse_arg(const char *text, Arg *a) {
  memset(a, 0, sizeof *a);
  a->is_ws = strcmp(text, "ws") == 0;
  a->is_batch = strcmp(text, "i64:batch") == 0;
  const char *star = strchr(text, '*'), *open = strchr(text, '[');
  if (a->is_ws || a->is_batch) return true;
  if (!star || !open || open < star || (size_t)(open - star - 1) >= sizeof a->name) return false;
  memcpy(a->name, star + 1, (size_t)(open - star - 1));
  a->array = true;
  a->out = strstr(open, ":out") != NULL;
  return true;
}

/* "function SYMBOL RET ARG..." into f; false if malformed */
static bool parse_function(char *line, Function *f) {
  memset(f, 0, sizeof *f);
  char *save = NULL, *word = strtok_r(line + strlen("function "), " ", &save);
  if (!word || strlen(word) >= sizeof f->symbol) return false;
  strcpy(f->symbol, word);
  if (!strtok_r(NULL, " ", &save)) return false; /* the return type */
  while ((word = strtok_r(NULL, " ", &save)))
    if (f->nargs == MAX_ARGS || !parse_arg(word, &f->arg[f->nargs++])) return false;
  return true;
}

static bool is_function(const Function *f, const char *prefix, const char *what) {
  size_t n = strlen(prefix);
  return strncmp(f->symbol, prefix, n) == 0 && f->symbol[n] == '_' &&
         strcmp(f->symbol + n + 1, what) == 0;
}

/* the lines before "program", then the Program text */
static bool parse_manifest(Model *m, const char *text, const char *path) {
  const char *program = strstr(text, "\nprogram\n");
  if (strncmp(text, "nnd-object 1\n", 13) != 0 || !program)
    return diag_error((PgLoc){path, 0, 0}, "the manifest is not that of nnd-object 1"), false;
  char *head = strndup(text, (size_t)(program - text)), *save = NULL;
  bool ok = head != NULL;
  for (char *line = head ? strtok_r(head, "\n", &save) : NULL; ok && line;
       line = strtok_r(NULL, "\n", &save)) {
    long long v;
    Function f;
    if (sscanf(line, "workspace_bytes %lld", &v) == 1) {
      ok = v > 0 && v <= PG_MAX_ARENA;
      m->workspace_bytes = v;
    }
    if (strncmp(line, "function ", 9) != 0) continue;
    ok = parse_function(line, &f);
    if (ok && is_function(&f, m->prefix, "init")) m->init = f, m->has_init = true;
    if (ok && is_function(&f, m->prefix, "predict")) m->predict = f, m->has_predict = true;
  }
  free(head);
  if (!ok) return diag_error((PgLoc){path, 0, 0}, "the manifest has a malformed line"), false;
  if (!(m->entries = pg_parse(path, program + 9, &m->nentries))) return false;
  for (int i = 0; i < m->nentries; i++)
    if (m->entries[i].kind == PG_ENTRY_PREDICT) m->entry = &m->entries[i];
  if (!m->entry || !m->has_predict || !m->workspace_bytes)
    return diag_error((PgLoc){path, 0, 0}, "the object has no predict step"), false;
  if (!m->has_init)
    return diag_error((PgLoc){path, 0, 0},
                      "the object embeds no weights (compiled with --weights-file): nnd run "
                      "needs them compiled in"),
           false;
  return true;
}

static bool open_model(const char *path, Model *m) {
  memset(m, 0, sizeof *m);
  if (!prefix_of(path, m->prefix, sizeof m->prefix))
    return diag_error((PgLoc){path, 0, 0}, "not a shared object name (NAME.so)"), false;
  char where[4096]; /* dlopen would search the library path for a bare name */
  snprintf(where, sizeof where, "%s%s", strchr(path, '/') ? "" : "./", path);
  if (!(m->lib = dlopen(where, RTLD_NOW | RTLD_LOCAL)))
    return diag_error((PgLoc){path, 0, 0}, "cannot load: %s", dlerror()), false;
  char symbol[160];
  snprintf(symbol, sizeof symbol, "%s_manifest", m->prefix);
  const char *text = dlsym(m->lib, symbol);
  if (!text)
    return diag_error((PgLoc){path, 0, 0},
                      "no symbol %s: not a model compiled by nnd compile --shared", symbol),
           false;
  if (strnlen(text, MAX_MANIFEST) == MAX_MANIFEST)
    return diag_error((PgLoc){path, 0, 0}, "the manifest is longer than %d MiB",
                      MAX_MANIFEST >> 20),
           false;
  return parse_manifest(m, text, path);
}

static void close_model(Model *m) {
  for (int i = 0; i < m->nentries; i++) pg_entry_free(&m->entries[i]);
  free(m->entries);
  if (m->lib) dlclose(m->lib);
}

/* the prediction outputs of e, in order */
static int predictions(const PgEntry *e, const PgSlot **out, int max) {
  int n = 0;
  for (int i = 0; i < e->nslots && n < max; i++)
    if (e->slots[i].role == PG_SLOT_PREDICTION) out[n++] = &e->slots[i];
  return n;
}

/* the files for the predict step's data inputs: --input NAME=FILE, or one
 * bare FILE for a model with one input; each scaled as its training data
 * unless --raw */
static bool load_inputs(const Cli *c, const PgEntry *e, RtData *d) {
  int ndata = 0;
  for (int i = 0; i < e->nslots; i++)
    ndata += !e->slots[i].output && e->slots[i].role == PG_SLOT_DATA;
  memset(d, 0, sizeof *d);
  for (int f = 0; f < c->ninput_files; f++) {
    const char *arg = c->input_files[f], *eq = strchr(arg, '=');
    const PgSlot *s = NULL;
    for (int i = 0; i < e->nslots && !s; i++) {
      const PgSlot *t = &e->slots[i];
      bool named =
          eq && strlen(t->name) == (size_t)(eq - arg) && !strncmp(t->name, arg, (size_t)(eq - arg));
      if (!t->output && t->role == PG_SLOT_DATA && (named || (!eq && ndata == 1))) s = t;
    }
    if (!s)
      return diag_error((PgLoc){0}, "--input %s: the model has no such input (--input NAME=FILE)",
                        arg),
             false;
    if (s->normalize && !c->raw)
      return diag_error(
                 (PgLoc){0},
                 "input '%s' is normalised with the training statistics, which the object does "
                 "not carry: give normalised data and --raw",
                 s->name),
             false;
    PgSource like = {.scale = c->raw ? 1 : s->scale};
    if (!rt_data_add_file(d, eq ? eq + 1 : arg, e, s->name, &like)) return false;
  }
  if (d->ncols != ndata)
    return diag_error((PgLoc){0},
                      "the predictions read %d inputs: give a file for each (--input NAME=FILE)",
                      ndata),
           false;
  return true;
}

/* NAME_init(ws), then NAME_predict(ws, inputs..., outputs..., batch) through libffi */
static bool call_predict(Model *m, const RtData *d, void *ws, void **outputs, int noutputs) {
  const Function *f = &m->predict;
  ffi_type *types[MAX_ARGS];
  void *values[MAX_ARGS], *pointers[MAX_ARGS] = {0};
  int64_t batch = d->count;
  int nout = 0;
  bool ok = true;
  for (int i = 0; i < f->nargs; i++) {
    const Arg *a = &f->arg[i];
    types[i] = a->is_batch ? &ffi_type_sint64 : &ffi_type_pointer;
    if (a->is_ws) pointers[i] = ws;
    for (int k = 0; a->array && !a->out && k < d->ncols; k++)
      if (strcmp(d->input[k], a->name) == 0) pointers[i] = d->col[k].data;
    if (a->array && a->out && nout < noutputs) pointers[i] = outputs[nout++];
    values[i] = a->is_batch ? (void *)&batch : (void *)&pointers[i];
    ok = ok && (a->is_batch || pointers[i]); /* every argument has its array */
  }
  ffi_cif cif;
  void *init = dlsym(m->lib, m->init.symbol), *predict = dlsym(m->lib, f->symbol);
  if (!ok || !init || !predict ||
      ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)f->nargs, &ffi_type_void, types) != FFI_OK)
    return diag_error((PgLoc){0}, "cannot call %s: its arguments do not match the manifest",
                      f->symbol),
           false;
  ffi_cif init_cif;
  ffi_type *ws_type = &ffi_type_pointer;
  void *ws_value = &ws;
  if (ffi_prep_cif(&init_cif, FFI_DEFAULT_ABI, 1, &ffi_type_void, &ws_type) != FFI_OK) return false;
  ffi_call(&init_cif, FFI_FN(init), NULL, &ws_value);
  ffi_call(&cif, FFI_FN(predict), NULL, values);
  return true;
}

/* the predictions as nnd predict writes them */
static bool write_predictions(const Cli *c, const PgSlot *out, const void *values, int64_t count) {
  RtReport r = {.classes = out->classes, .width = pg_numel(&out->shape, 1)};
  r.n = r.cap = count * r.width;
  r.pred = malloc((size_t)(r.n + 1) * sizeof *r.pred);
  if (!r.pred) return diag_error((PgLoc){0}, "out of memory"), false;
  for (int64_t i = 0; i < r.n; i++)
    r.pred[i] = out->dtype == PG_I32 ? ((const int32_t *)values)[i] : ((const float *)values)[i];
  bool ok = rt_report_write_csv(c->output, &r, &(RtCsvColumns){0});
  if (ok) printf("%lld predictions written to %s\n", (long long)count, c->output);
  rt_report_free(&r);
  return ok;
}

int cmd_run(const Cli *c) {
  if (!c->ninput_files || !c->output)
    return fprintf(stderr, "nnd: error: run needs --input [NAME=]FILE and --output FILE.csv\n"), 2;
  if (c->probabilities || c->top_k)
    return fprintf(stderr, "nnd: error: a compiled predict function gives the classes only: "
                           "use nnd predict for --probabilities and --top-k\n"), 2;
  Model m;
  RtData d = {0};
  const PgSlot *outs[8];
  void *values[8] = {0}, *ws = NULL;
  bool ok = open_model(c->input, &m) && load_inputs(c, m.entry, &d);
  int nout = ok ? predictions(m.entry, outs, 8) : 0;
  if (ok && !nout) ok = (diag_error((PgLoc){0}, "the model has no prediction output"), false);
  for (int k = 0; ok && k < nout; k++)
    ok = (values[k] = malloc((size_t)(4 * d.count * pg_numel(&outs[k]->shape, 1)))) != NULL;
  if (ok) ok = (ws = aligned_alloc(64, (size_t)(m.workspace_bytes + 63) / 64 * 64)) != NULL;
  if (!ok && nout && !diag_error_count()) diag_error((PgLoc){0}, "out of memory");
  ok = ok && call_predict(&m, &d, ws, values, nout) &&
       write_predictions(c, outs[0], values[0], d.count);
  for (int k = 0; k < nout; k++) free(values[k]);
  free(ws);
  rt_data_free(&d);
  close_model(&m);
  return ok ? 0 : 1;
}

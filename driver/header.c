/* header.c — the documents of a compiled object, both generated from its
 * layout and manifests: NAME.h, the C header a program includes (typed entry
 * points with a comment on every argument, the sizes as constants, the
 * state's order), and the text of NAME_manifest, the same facts in lines a
 * loader can read (docs/compile.md). The header compiles alone as C99 with
 * -Wall -Wextra -pedantic. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* a slot's name as a C identifier: the part after a "report:" prefix,
 * anything else than letters, digits and '_' as '_', a keyword with a '_' */
static void c_name(const char *slot, char *buf, size_t n) {
  static const char *keywords[] = {
      "auto",     "break",  "case",      "char",     "const",    "continue", "default",  "do",
      "double",   "else",   "enum",      "extern",   "float",    "for",      "goto",     "if",
      "inline",   "int",    "long",      "register", "restrict", "return",   "short",    "signed",
      "sizeof",   "static", "struct",    "switch",   "typedef",  "union",    "unsigned", "void",
      "volatile", "while",  "workspace", "batch",    "seed",     "state"};
  const char *colon = strrchr(slot, ':');
  snprintf(buf, n, "%s", colon ? colon + 1 : slot);
  for (char *p = buf; *p; p++)
    if (!isalnum((unsigned char)*p)) *p = '_';
  for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++)
    if (strcmp(buf, keywords[k]) == 0 && strlen(buf) + 2 <= n) strcat(buf, "_");
}

/* the C name of a public argument: outputs end in _out */
static void arg_name(const PgSlot *s, char *buf, size_t n) {
  char base[80];
  if (s->role == PG_SLOT_SEED) {
    snprintf(buf, n, "seed");
    return;
  }
  c_name(s->name, base, sizeof base);
  snprintf(buf, n, "%s%s", base, s->output ? "_out" : "");
}

static void upper(const char *s, char *buf, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) buf[i] = (char)toupper((unsigned char)s[i]);
  buf[i] = 0;
}

/* the size macro of a slot: NAME_IMAGE_SIZE */
static void size_macro(const char *prefix, const PgSlot *s, char *buf, size_t n) {
  char base[80], up[80];
  c_name(s->name, base, sizeof base);
  upper(base, up, sizeof up);
  snprintf(buf, n, "%s_%s_SIZE", prefix, up);
}

/* "f32[28, 28]" per example */
static void example_type(const PgSlot *s, char *buf, size_t n) {
  PgShape per = s->shape;
  if (per.rank && per.dim[0] == PG_BATCH) {
    memmove(per.dim, per.dim + 1, (size_t)(per.rank - 1) * sizeof *per.dim);
    per.rank--;
  }
  char dims[96];
  pg_shape_str(&per, dims, sizeof dims);
  snprintf(buf, n, "%s%s", pg_dtype_name(s->dtype), per.rank ? dims : " (one value)");
}

/* what a caller must know of an argument's values */
static void describe_values(FILE *f, const PgSlot *s, const char *scale_macro) {
  if (s->role == PG_SLOT_DATA && s->scale != 1)
    fprintf(f, "\n *     scaled as the training data: (float)(raw * %s)", scale_macro);
  if (s->role == PG_SLOT_DATA && s->normalize)
    fprintf(f, "\n *     standardised per feature with the training set's mean and deviation: do "
               "the same");
  if (s->bound) fprintf(f, "\n *     each value a class index in [0, %lld)", (long long)s->bound);
  if (s->output && s->classes)
    fprintf(f, "\n *     the predicted class of each example");
  else if (s->output)
    fprintf(f, "\n *     the predicted values of each example");
}

static void comment_args(FILE *f, const char *prefix, const PgSlot **args, int n,
                         const char *rows) {
  for (int i = 0; i < n; i++) {
    char name[96], type[128], macro[192];
    arg_name(args[i], name, sizeof name);
    if (args[i]->role == PG_SLOT_SEED) {
      fprintf(f, " *   seed: the dropout masks' seed; a new one each step (any value)\n");
      continue;
    }
    example_type(args[i], type, sizeof type);
    size_macro(prefix, args[i], macro, sizeof macro);
    fprintf(f, " *   %s: %s %s, %s per example (%s values), %s", name,
            args[i]->output ? "out" : "in", pg_slot_role_name(args[i]->role), type, macro, rows);
    strcpy(macro + strlen(macro) - 4, "SCALE");
    describe_values(f, args[i], macro);
    fputc('\n', f);
  }
}

static void prototype(FILE *f, const char *ret, const char *name, const char *fn,
                      const PgSlot **args, int n, bool const_ws) {
  fprintf(f, "%s %s_%s(%svoid *workspace", ret, name, fn, const_ws ? "const " : "");
  for (int i = 0; i < n; i++) {
    char arg[96];
    arg_name(args[i], arg, sizeof arg);
    if (args[i]->role == PG_SLOT_SEED)
      fprintf(f, ", uint32_t %s", arg);
    else
      fprintf(f, ", %s%s *%s", args[i]->output ? "" : "const ",
              args[i]->dtype == PG_F32 ? "float" : "int32_t", arg);
  }
  fprintf(f, ", int64_t batch);\n\n");
}

/* whether the slot of that name is an argument of e's public function */
static bool is_argument(const PgEntry *e, const char *name, bool output) {
  const PgSlot *args[PG_MAX_COLUMNS];
  int n = cg_public_slots(e, args, PG_MAX_COLUMNS);
  for (int j = 0; j < n; j++)
    if (args[j]->output == output && strcmp(args[j]->name, name) == 0) return true;
  return false;
}

static void write_sizes(FILE *f, const CgObject *o, const char *up) {
  fprintf(f,
          "/* the most examples one internal step takes: %s_predict runs any batch in chunks\n"
          " * of it, %s_train_step takes 1 to this many */\n#define %s_MAX_BATCH %lld\n",
          o->name, o->name, up, (long long)o->predict_entry->max_batch);
  fprintf(
      f,
      "/* bytes of the workspace the caller supplies, 64-byte aligned (state, then scratch) */\n"
      "#define %s_WORKSPACE_BYTES %lldLL\n",
      up, (long long)o->workspace_bytes);
  fprintf(f,
          "/* floats of the state (parameters and optimizer state) */\n#define %s_STATE_FLOATS "
          "%lldLL\n",
          up, (long long)o->state_floats);
  const PgEntry *entries[2] = {o->predict_entry, o->train_entry};
  fprintf(f, "/* values per example of each argument */\n");
  for (int k = 0; k < 2 && entries[k]; k++)
    for (int i = 0; i < entries[k]->nslots; i++) {
      const PgSlot *s = &entries[k]->slots[i];
      char macro[192];
      size_macro(up, s, macro, sizeof macro);
      bool again = k == 1 && is_argument(o->predict_entry, s->name, s->output);
      if (!is_argument(entries[k], s->name, s->output) || s->role == PG_SLOT_SEED || again)
        continue;
      fprintf(f, "#define %s %lld\n", macro, (long long)pg_numel(&s->shape, 1));
      if (s->scale !=
          1) /* a double that reads back exactly: (float)(raw * SCALE) is the training data's */
        fprintf(f, "#define %.*sSCALE %.17g\n", (int)(strlen(macro) - 4), macro, s->scale);
    }
  fputc('\n', f);
}

static void write_state_table(FILE *f, const CgObject *o) {
  fprintf(f,
          "/* The state in the order of %s_export_state and %s_import_state: name, shape,\n"
          " * offset (in floats), role.\n",
          o->name, o->name);
  for (int i = 0; i < o->nstate; i++) {
    char shape[96];
    pg_shape_str(&o->state[i].shape, shape, sizeof shape);
    fprintf(f, " *   %-28s f32%-14s %10lld  %s\n", o->state[i].name, shape,
            (long long)o->state[i].offset, pg_role_name(o->state[i].role));
  }
  fprintf(f, " */\n\n");
}

/* "NAME_init or " where the object has NAME_init */
static const char *init_or(const CgObject *o) {
  static char text[96];
  snprintf(text, sizeof text, "%s_init or ", o->name);
  return o->embed ? text : "";
}

static void write_predict(FILE *f, const CgObject *o) {
  const PgSlot *args[PG_MAX_COLUMNS];
  int n = cg_public_slots(o->predict_entry, args, PG_MAX_COLUMNS);
  fprintf(f,
          "/* Predicts `batch` examples (any batch >= 1; nothing for less), in the evaluation\n"
          " * mode (no dropout). Arrays hold `batch` examples one after the other:\n"
          " *   workspace: initialised by %s%s_import_state\n",
          init_or(o), o->name);
  char up[80];
  upper(o->name, up, sizeof up);
  comment_args(f, up, args, n, "batch examples");
  fprintf(f, " *   batch: the number of examples */\n");
  prototype(f, "void", o->name, "predict", args, n, false);
}

static void write_train(FILE *f, const CgObject *o, const char *up) {
  const PgSlot *args[PG_MAX_COLUMNS];
  int n = cg_public_slots(o->train_entry, args, PG_MAX_COLUMNS);
  fprintf(f,
          "/* One training step (forward, backward, optimizer update) on `batch` examples:\n"
          " * updates the state in the workspace and returns the batch's mean loss; returns\n"
          " * NaN and does nothing unless 1 <= batch <= %s_MAX_BATCH.\n"
          " *   workspace: initialised by %s%s_import_state\n",
          up, init_or(o), o->name);
  comment_args(f, up, args, n, "batch examples");
  fprintf(f, " *   batch: the number of examples */\n");
  prototype(f, "float", o->name, "train_step", args, n, false);
}

static void write_functions(FILE *f, const CgObject *o, const char *up) {
  fprintf(f,
          "/* the manifest: the same facts as this header, as text (docs/compile.md) */\n"
          "extern const char %s_manifest[];\n\n",
          o->name);
  if (o->embed)
    fprintf(f,
            "/* Sets the state to the values compiled into the object (the checkpoint given to\n"
            " * nnd compile, or the initial values training starts from).\n"
            " *   workspace: %s_WORKSPACE_BYTES bytes, 64-byte aligned */\n"
            "void %s_init(void *workspace);\n\n",
            up, o->name);
  write_predict(f, o);
  if (o->train) write_train(f, o, up);
  fprintf(f,
          "/* Copies the state out of the workspace into out (%s_STATE_FLOATS floats), in the\n"
          " * order listed above. */\nvoid %s_export_state(const void *workspace, float *out);\n\n",
          up, o->name);
  fprintf(f,
          "/* Sets the state from state (%s_STATE_FLOATS floats, in the order listed above:\n"
          " * what %s_export_state wrote%s).\n"
          " *   workspace: %s_WORKSPACE_BYTES bytes, 64-byte aligned */\n"
          "void %s_import_state(void *workspace, const float *state);\n\n",
          up, o->name,
          o->embed ? "" : ", or the floats of the file NAME.state that nnd compile wrote", up,
          o->name);
}

/* a file name as it may stand in a comment or a manifest line: no control
 * characters, no end of comment */
static void safe_text(const char *s, char *buf, size_t n) {
  size_t i = 0;
  for (; *s && i + 1 < n; s++, i++) {
    bool close = s[0] == '*' && s[1] == '/';
    buf[i] = close || iscntrl((unsigned char)*s) ? '?' : *s;
  }
  buf[i] = 0;
}

/* the extern functions the object calls and leaves to the linker */
static void write_externs(FILE *f, const FeConfig *cfg) {
  if (!cfg->nexterns) return;
  fprintf(f, "/* The object calls these C functions (float f(float)) and leaves them\n"
             " * undefined: link the libraries the model declared them in.\n");
  for (int i = 0; i < cfg->nexterns; i++) {
    const FeExtern *x = &cfg->externs[i];
    char library[512];
    safe_text(x->library, library, sizeof library);
    fprintf(f, " *   %s%s%s (%s)\n", x->name, x->derivative ? ", " : "",
            x->derivative ? x->derivative : "", library);
  }
  fprintf(f, " */\n\n");
}

bool write_header(const char *path, const CgObject *o, const char *file, const FeConfig *cfg) {
  FILE *f = fopen(path, "w");
  if (!f) return diag_error((PgLoc){0}, "cannot write '%s'", path), false;
  char up[80], model[512];
  safe_text(file, model, sizeof model);
  upper(o->name, up, sizeof up);
  fprintf(f,
          "/* %s.h — generated by `nnd compile %s`; do not edit.\n"
          " * The model's inference%s as native code in the object file: no dependency\n"
          " * but libc and libm. Link: cc main.c %s.o -lm. A workspace is used by one thread\n"
          " * at a time; there is no allocation and no global state inside. */\n"
          "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n"
          "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
          o->name, model, o->train ? " and training step" : "", o->name, up, up);
  write_externs(f, cfg);
  write_sizes(f, o, up);
  write_state_table(f, o);
  write_functions(f, o, up);
  fprintf(f, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  bool ok = !ferror(f);
  ok = fclose(f) == 0 && ok;
  if (!ok) diag_error((PgLoc){0}, "cannot write '%s'", path);
  return ok;
}

/* one line per public function: "function NAME RET ARG..." with ARG
 * "ws", "DTYPE*NAME[SIZE]" (in) or "DTYPE*NAME[SIZE]:out", "u32:seed", "i64:batch" */
static void manifest_function(FILE *f, const char *name, const char *fn, const char *ret,
                              const PgEntry *e) {
  const PgSlot *args[PG_MAX_COLUMNS];
  int n = cg_public_slots(e, args, PG_MAX_COLUMNS);
  fprintf(f, "function %s_%s %s ws", name, fn, ret);
  for (int i = 0; i < n; i++) {
    char arg[96];
    arg_name(args[i], arg, sizeof arg);
    if (args[i]->role == PG_SLOT_SEED)
      fprintf(f, " u32:%s", arg);
    else
      fprintf(f, " %s*%s[%lld]%s", pg_dtype_name(args[i]->dtype), arg,
              (long long)pg_numel(&args[i]->shape, 1), args[i]->output ? ":out" : "");
  }
  fprintf(f, " i64:batch\n");
}

char *manifest_text(const CgObject *o, const char *file) {
  char *text = NULL, model[512];
  safe_text(file, model, sizeof model);
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  fprintf(
      f,
      "nnd-object 1\nname %s\nmodel %s\nmax_batch %lld\nworkspace_bytes %lld\nstate_floats %lld\n",
      o->name, model, (long long)o->predict_entry->max_batch, (long long)o->workspace_bytes,
      (long long)o->state_floats);
  for (int i = 0; i < o->nstate; i++) {
    char shape[96];
    pg_shape_str(&o->state[i].shape, shape, sizeof shape);
    fprintf(f, "state %s f32%s %lld %s\n", o->state[i].name, shape, (long long)o->state[i].offset,
            pg_role_name(o->state[i].role));
  }
  if (o->embed) fprintf(f, "function %s_init void ws\n", o->name);
  manifest_function(f, o->name, "predict", "void", o->predict_entry);
  if (o->train) manifest_function(f, o->name, "train_step", "f32", o->train_entry);
  fprintf(f, "function %s_export_state void ws f32*state[%lld]:out\n", o->name,
          (long long)o->state_floats);
  fprintf(f, "function %s_import_state void ws f32*state[%lld]\n", o->name,
          (long long)o->state_floats);
  /* then the steps' manifests as the Program's text (docs/program.md) */
  PgEntry entries[2] = {*o->predict_entry}; /* shallow copies: pg_print reads an array */
  if (o->train) entries[1] = *o->train_entry;
  fprintf(f, "program\n");
  pg_print(f, entries, o->train ? 2 : 1);
  fclose(f);
  return text;
}

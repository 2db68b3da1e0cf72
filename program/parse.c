/* parse.c — reads the text form of a Program that print.c writes
 * (docs/program.md). Whitespace is free-form and `//` starts a comment; the
 * structure is strict. The text is a trust boundary: every number is
 * range-checked before it becomes a size, an index or an int, io and
 * parameter slots must be dense and in range, names unique, a gradient's
 * parameter must exist and have its shape. Errors point into the text
 * (file:line:col, the line, a caret); parsing stops at the first. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

#define MAX_ENTRIES 64
#define MAX_ITEMS (1 << 20)   /* inputs, outputs, parameters of one entry, each */
#define MAX_KERNELS (1 << 24) /* no more than the IR's nodes (IR_MAX_NODES) */
#define MAX_STRING 1024       /* bytes of a name or a file name */

typedef struct {
  const char *file, *p;
  int line, col;
  bool failed;
  PgEntry *e;      /* the entry being read */
  int nin, nout;   /* its input and output lines so far */
  int want_params; /* the parameters its header declares */
  int slot_cap, param_cap;
  PgLoc *slot_at, *param_at;   /* where each was declared: errors found at the end */
  int *io_owner, *param_owner; /* per io index / params slot: 1 + the line's index, 0: free */
} Parser;

static PgLoc here(Parser *ps) { return (PgLoc){ps->file, ps->line, ps->col}; }

/* reported errors end the parse: the first is what the user fixes */
static bool error_at(Parser *ps, PgLoc at, const char *fmt, ...) {
  if (!ps->failed) {
    char msg[4 * MAX_STRING];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(at, "%s", msg);
  }
  ps->failed = true;
  return false;
}

static bool fail(Parser *ps, const char *what) {
  if (!ps->failed) {
    const char *end = ps->p;
    while (*end && !isspace((unsigned char)*end) && !strchr("(){}[],:=\"", *end)) end++;
    int len = end - ps->p > 24 ? 24 : (int)(end - ps->p);
    if (!*ps->p)
      diag_error(here(ps), "expected %s, found the end of the file", what);
    else if (len)
      diag_error(here(ps), "expected %s, found '%.*s'", what, len, ps->p);
    else
      diag_error(here(ps), "expected %s, found '%c'", what, *ps->p);
  }
  ps->failed = true;
  return false;
}

static void advance(Parser *ps, size_t n) {
  for (size_t i = 0; i < n && *ps->p; i++, ps->p++) {
    if (*ps->p == '\n') {
      ps->line++;
      ps->col = 1;
    } else if (ps->col < INT_MAX) {
      ps->col++;
    }
  }
}

static void skip_space(Parser *ps) {
  for (;;) {
    while (isspace((unsigned char)*ps->p)) advance(ps, 1);
    if (ps->p[0] != '/' || ps->p[1] != '/') return;
    while (*ps->p && *ps->p != '\n') advance(ps, 1);
  }
}

static bool accept(Parser *ps, char c) {
  skip_space(ps);
  if (*ps->p != c) return false;
  advance(ps, 1);
  return true;
}

static bool expect(Parser *ps, char c) {
  char what[8] = {'\'', c, '\'', 0};
  return accept(ps, c) || fail(ps, what);
}

/* a bare word (keywords, roles, types): letters, digits, '_' */
static size_t word_length(const char *p) {
  size_t len = 0;
  while (isalnum((unsigned char)p[len]) || p[len] == '_') len++;
  return len;
}

static bool keyword(Parser *ps, const char *kw) {
  skip_space(ps);
  size_t len = strlen(kw);
  if (strncmp(ps->p, kw, len) != 0 || word_length(ps->p) != len) return false;
  advance(ps, len);
  return true;
}

static bool word(Parser *ps, char *buf, size_t n, const char *what) {
  skip_space(ps);
  size_t len = word_length(ps->p);
  if (!len || len >= n) return fail(ps, what);
  memcpy(buf, ps->p, len);
  buf[len] = 0;
  advance(ps, len);
  return true;
}

/* a decimal integer, digits only after an optional '-' */
static bool integer(Parser *ps, int64_t *out) {
  skip_space(ps);
  PgLoc at = here(ps);
  size_t i = ps->p[0] == '-';
  if (!isdigit((unsigned char)ps->p[i])) return fail(ps, "an integer");
  uint64_t v = 0, limit = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; isdigit((unsigned char)ps->p[i]); i++) {
    unsigned d = (unsigned)(ps->p[i] - '0');
    if (v > (limit - d) / 10) return error_at(ps, at, "this integer does not fit in 64 bits");
    v = v * 10 + d;
  }
  *out = ps->p[0] == '-' ? (int64_t)(0 - v) : (int64_t)v;
  advance(ps, i);
  return true;
}

static bool integer_in(Parser *ps, int64_t lo, int64_t hi, const char *what, int64_t *out) {
  skip_space(ps);
  PgLoc at = here(ps);
  if (!integer(ps, out)) return false;
  if (*out >= lo && *out <= hi) return true;
  return error_at(ps, at, "%s %lld is out of range [%lld, %lld]", what, (long long)*out,
                  (long long)lo, (long long)hi);
}

static bool finite_number(Parser *ps, const char *what, double *out) {
  skip_space(ps);
  PgLoc at = here(ps);
  char *end;
  if (!*ps->p || !strchr("+-.0123456789", *ps->p)) return fail(ps, "a number");
  *out = strtod(ps->p, &end);
  if (end == ps->p) return fail(ps, "a number");
  advance(ps, (size_t)(end - ps->p));
  return isfinite(*out) || error_at(ps, at, "%s must be a finite number", what);
}

/* a quoted, non-empty string of at most MAX_STRING bytes on one line; the
 * only escapes are \" and \\ (what print.c writes) */
static bool string(Parser *ps, char *buf) {
  skip_space(ps);
  PgLoc at = here(ps);
  if (*ps->p != '"') return fail(ps, "a string");
  advance(ps, 1);
  size_t len = 0;
  while (*ps->p && *ps->p != '"' && *ps->p != '\n') {
    if (*ps->p == '\\') {
      if (ps->p[1] != '"' && ps->p[1] != '\\')
        return error_at(ps, here(ps), "unknown escape in a string (only \\\" and \\\\)");
      advance(ps, 1);
    }
    if (len == MAX_STRING) return error_at(ps, at, "a string is at most %d bytes", MAX_STRING);
    buf[len++] = *ps->p;
    advance(ps, 1);
  }
  buf[len] = 0;
  if (!expect(ps, '"')) return false;
  return len || error_at(ps, at, "a name cannot be empty");
}

/* ---- names of enumerations, as program/ spells them ---- */

static int kind_named(const char *w) {
  for (int k = 0; k <= PG_ENTRY_PREDICT; k++)
    if (strcmp(w, pg_entry_kind_name((PgEntryKind)k)) == 0) return k;
  return -1;
}

static int slot_role_named(const char *w) {
  for (int r = 0; r <= PG_SLOT_STATE; r++)
    if (strcmp(w, pg_slot_role_name((PgSlotRole)r)) == 0) return r;
  return -1;
}

/* a parameter is trained, frozen, optimizer state or a statistic; never "none" (as the IR) */
static int param_role_named(const char *w) {
  for (int r = PG_ROLE_WEIGHT; r <= PG_ROLE_STATISTIC; r++)
    if (strcmp(w, pg_role_name((PgRole)r)) == 0) return r;
  return -1;
}

static int init_named(const char *w) {
  for (int i = 0; i <= PG_INIT_ONES; i++)
    if (strcmp(w, pg_init_name((PgInit)i)) == 0) return i;
  return -1;
}

/* whether a role is an output's (STATE is either) */
static bool output_role(PgSlotRole r) { return r >= PG_SLOT_LOSS && r <= PG_SLOT_PROBABILITY; }

/* ---- types ---- */

/* dims >= 1; B (the batch) only as dim 0, and only where batch is allowed */
static bool dims(Parser *ps, PgShape *s, bool batch) {
  s->rank = 0;
  skip_space(ps);
  PgLoc start = here(ps);
  if (!expect(ps, '[')) return false;
  while (!accept(ps, ']')) {
    if (s->rank && !expect(ps, ',')) return false;
    if (s->rank == PG_MAX_RANK) return fail(ps, "']' (at most 6 dimensions)");
    skip_space(ps);
    PgLoc at = here(ps);
    int64_t d = PG_BATCH;
    if (keyword(ps, "B")) {
      if (!batch) return error_at(ps, at, "a parameter has no batch dimension B");
      if (s->rank) return error_at(ps, at, "B can only be the first dimension");
    } else if (!integer_in(ps, 1, PG_MAX_ELEMENTS, "dimension", &d)) {
      return false;
    }
    s->dim[s->rank++] = d;
  }
  if (!pg_shape_fits(s))
    return error_at(ps, start, "this type has more than 2^36 elements per example");
  return true;
}

static bool type(Parser *ps, PgDType *t, PgShape *s, bool batch) {
  if (keyword(ps, "f32"))
    *t = PG_F32;
  else if (keyword(ps, "i32"))
    *t = PG_I32;
  else
    return fail(ps, "f32 or i32");
  return dims(ps, s, batch);
}

/* ---- fields: {key = value, flag, ...} ---- */

/* the key of the next field: its index in keys (NULL-terminated), each at
 * most once; -1 after an error */
static int field_key(Parser *ps, const char *const *keys, unsigned *seen) {
  char w[32];
  skip_space(ps);
  PgLoc at = here(ps);
  if (!word(ps, w, sizeof w, "a field name")) return -1;
  for (int i = 0; keys[i]; i++) {
    if (strcmp(w, keys[i]) != 0) continue;
    if (*seen & 1u << i) {
      error_at(ps, at, "'%s' is given twice", w);
      return -1;
    }
    *seen |= 1u << i;
    return i;
  }
  error_at(ps, at, "unknown field '%s'", w);
  return -1;
}

static bool int_field(Parser *ps, int64_t lo, int64_t hi, const char *what, int *out) {
  int64_t v;
  if (!expect(ps, '=') || !integer_in(ps, lo, hi, what, &v)) return false;
  *out = (int)v;
  return true;
}

enum { E_ARENA, E_ALIGN, E_MAX_BATCH, E_KERNELS, E_INPUTS, E_OUTPUTS, E_PARAMS, E_NFIELDS };
static const char *const entry_keys[] = {"arena",  "align",   "max_batch", "kernels",
                                         "inputs", "outputs", "params",    NULL};

static bool entry_field(Parser *ps, int key, PgEntry *e) {
  PgLoc at;
  switch (key) {
  case E_ARENA: return expect(ps, '=') && integer_in(ps, 0, PG_MAX_ARENA, "arena", &e->arena_bytes);
  case E_ALIGN:
    if (!expect(ps, '=')) return false;
    skip_space(ps);
    at = here(ps);
    if (!integer_in(ps, 1, 4096, "align", &e->arena_align)) return false;
    if (e->arena_align & (e->arena_align - 1))
      return error_at(ps, at, "align %lld is not a power of two", (long long)e->arena_align);
    return true;
  case E_MAX_BATCH:
    return expect(ps, '=') && integer_in(ps, 1, PG_MAX_BATCH, "max_batch", &e->max_batch);
  case E_KERNELS: return int_field(ps, 0, MAX_KERNELS, "kernels", &e->nkernels);
  case E_INPUTS: return int_field(ps, 0, MAX_ITEMS, "inputs", &e->ninputs);
  case E_OUTPUTS: return int_field(ps, 0, MAX_ITEMS, "outputs", &e->noutputs);
  case E_PARAMS: return int_field(ps, 0, MAX_ITEMS, "params", &ps->want_params);
  }
  return false;
}

/* {arena = N, align = N, max_batch = N, kernels = N, inputs = N, outputs = N,
 * params = N}: all of them, in any order */
static bool entry_fields(Parser *ps, PgEntry *e) {
  unsigned seen = 0;
  skip_space(ps);
  PgLoc at = here(ps);
  if (!expect(ps, '{')) return false;
  do {
    int key = field_key(ps, entry_keys, &seen);
    if (key < 0 || !entry_field(ps, key, e)) return false;
  } while (accept(ps, ','));
  if (!expect(ps, '}')) return false;
  for (int i = 0; i < E_NFIELDS; i++)
    if (!(seen & 1u << i)) return error_at(ps, at, "the entry lacks '%s'", entry_keys[i]);
  return true;
}

enum { S_BOUND, S_IGNORE, S_CLASSES, S_OF, S_EXP, S_SCALE, S_NORMALIZE };
static const char *const slot_keys[] = {"bound", "ignore", "classes", "of",
                                        "exp", "scale", "normalize", NULL};

static bool slot_field(Parser *ps, int key, PgSlot *s) {
  char buf[MAX_STRING + 1];
  switch (key) {
  case S_BOUND: return expect(ps, '=') && integer_in(ps, 0, PG_MAX_ELEMENTS, "bound", &s->bound);
  case S_IGNORE:
    return expect(ps, '=') && integer_in(ps, INT32_MIN, -1, "ignore", &s->ignore);
  case S_CLASSES:
    s->classes = true;
    return true;
  case S_EXP:
    s->exp = true;
    return true;
  case S_OF:
    if (!expect(ps, '=') || !string(ps, buf)) return false;
    s->of = pg_strdup(ps->e, buf);
    return true;
  case S_SCALE: return expect(ps, '=') && finite_number(ps, "scale", &s->scale);
  case S_NORMALIZE:
    s->normalize = true;
    return true;
  }
  return false;
}

/* the optional {bound = N, ignore = -N, classes, of = "param", exp, scale = X, normalize} */
static bool slot_fields(Parser *ps, PgSlot *s) {
  unsigned seen = 0;
  if (!accept(ps, '{')) return true;
  do {
    int key = field_key(ps, slot_keys, &seen);
    if (key < 0 || !slot_field(ps, key, s)) return false;
  } while (accept(ps, ','));
  return expect(ps, '}');
}

/* ---- slots and parameters ---- */

/* the next capacity of an array of at most limit items (limit >= 1) */
static int grown(int cap, int limit) {
  if (cap == 0) return limit < 16 ? limit : 16;
  return cap > limit / 2 ? limit : 2 * cap;
}

static bool add_slot(Parser *ps, const PgSlot *s, PgLoc at) {
  PgEntry *e = ps->e;
  if (e->nslots == ps->slot_cap) {
    int cap = grown(ps->slot_cap, e->ninputs + e->noutputs);
    PgSlot *slots = pg_realloc(e->slots, (size_t)cap * sizeof *slots);
    if (slots) e->slots = slots;
    PgLoc *locs = slots ? pg_realloc(ps->slot_at, (size_t)cap * sizeof *locs) : NULL;
    if (!locs) return error_at(ps, here(ps), "out of memory for the entry's lines");
    ps->slot_at = locs;
    ps->slot_cap = cap;
  }
  ps->io_owner[s->io] = e->nslots + 1;
  ps->slot_at[e->nslots] = at;
  e->slots[e->nslots++] = *s;
  return true;
}

static bool add_param(Parser *ps, const PgParam *p, PgLoc at) {
  PgEntry *e = ps->e;
  if (e->nparams == ps->param_cap) {
    int cap = grown(ps->param_cap, ps->want_params);
    PgParam *params = pg_realloc(e->params, (size_t)cap * sizeof *params);
    if (params) e->params = params;
    PgLoc *locs = params ? pg_realloc(ps->param_at, (size_t)cap * sizeof *locs) : NULL;
    if (!locs) return error_at(ps, here(ps), "out of memory for the entry's lines");
    ps->param_at = locs;
    ps->param_cap = cap;
  }
  ps->param_owner[p->slot] = e->nparams + 1;
  ps->param_at[e->nparams] = at;
  e->params[e->nparams++] = *p;
  return true;
}

typedef enum { LINE_INPUT, LINE_OUTPUT, LINE_PARAM } LineKind;

/* where a line may stand: inputs, then outputs, then parameters, no more of
 * each than the header declares */
static bool line_in_order(Parser *ps, PgLoc at, LineKind k) {
  static const char *what[] = {"inputs", "outputs", "parameters"};
  PgEntry *e = ps->e;
  if (k == LINE_INPUT && ps->nout) return error_at(ps, at, "the inputs come before the outputs");
  if (k != LINE_PARAM && e->nparams)
    return error_at(ps, at, "the parameters come after the inputs and outputs");
  int have = k == LINE_INPUT ? ps->nin : k == LINE_OUTPUT ? ps->nout : e->nparams;
  int want = k == LINE_INPUT ? e->ninputs : k == LINE_OUTPUT ? e->noutputs : ps->want_params;
  if (have < want) return true;
  return error_at(ps, at, "the entry declares %d %s, and this is one more", want, what[k]);
}

/* an index into the io table (a slot's) or the params table that no earlier
 * line has taken */
static bool free_index(Parser *ps, int64_t lo, int64_t hi, bool io, int *out) {
  const char *what = io ? "io index" : "parameter slot";
  const int *owner = io ? ps->io_owner : ps->param_owner;
  int64_t v;
  skip_space(ps);
  PgLoc at = here(ps);
  if (!integer_in(ps, lo, hi, what, &v)) return false;
  if (owner[v]) {
    int i = owner[v] - 1;
    const char *name = io ? ps->e->slots[i].name : ps->e->params[i].name;
    return error_at(ps, at, "%s %lld is already that of '%s'", what, (long long)v, name);
  }
  *out = (int)v;
  return true;
}

/* what program.h says of each role's type */
static bool check_role_type(Parser *ps, PgLoc at, const PgSlot *s) {
  const char *role = pg_slot_role_name(s->role);
  if (s->role == PG_SLOT_SEED && (s->dtype != PG_I32 || s->shape.rank))
    return error_at(ps, at, "a seed is an i32 scalar (i32[])");
  if ((s->role == PG_SLOT_LOSS || s->role == PG_SLOT_METRIC || s->role == PG_SLOT_RATE) &&
      (s->dtype != PG_F32 || s->shape.rank))
    return error_at(ps, at, "a %s is an f32 scalar (f32[])", role);
  if (s->role == PG_SLOT_GRADIENT && s->dtype != PG_F32)
    return error_at(ps, at, "a gradient is f32");
  if (s->role == PG_SLOT_GRADIENT && !s->of)
    return error_at(ps, at, "a gradient names its parameter: {of = \"NAME\"}");
  if (s->role == PG_SLOT_COUNT && (!s->of || s->dtype != PG_F32 || s->shape.rank))
    return error_at(ps, at, "a count is an f32 scalar that names its metric: {of = \"NAME\"}");
  bool named = s->role == PG_SLOT_GRADIENT || s->role == PG_SLOT_COUNT;
  if (!named && s->of) return error_at(ps, at, "only a gradient or a count has 'of'");
  if (s->role == PG_SLOT_POSITION &&
      (s->dtype != PG_I32 || s->shape.rank != 2 || s->shape.dim[1] != 1))
    return error_at(ps, at, "a position is i32[B,1]");
  if (s->role == PG_SLOT_STATE && s->dtype != PG_F32) return error_at(ps, at, "a state is f32");
  if (s->ignore && !s->bound) return error_at(ps, at, "'ignore' needs a 'bound'");
  if (s->exp && s->role != PG_SLOT_METRIC) return error_at(ps, at, "only a metric has 'exp'");
  return true;
}

static bool slot_role(Parser *ps, PgSlot *s) {
  char w[32];
  skip_space(ps);
  PgLoc at = here(ps);
  if (!word(ps, w, sizeof w, "a slot role")) return false;
  int r = slot_role_named(w);
  if (r < 0) return error_at(ps, at, "unknown slot role '%s'", w);
  s->role = (PgSlotRole)r;
  if (s->role == PG_SLOT_STATE || output_role(s->role) == s->output) return true;
  return error_at(ps, at, "'%s' is the role of an %s", w, s->output ? "input" : "output");
}

/* input IO "name" ROLE TYPE {fields}, output likewise */
static bool slot_line(Parser *ps, PgLoc at, bool output) {
  PgEntry *e = ps->e;
  char name[MAX_STRING + 1];
  PgSlot s = {.output = output, .scale = 1};
  if (!line_in_order(ps, at, output ? LINE_OUTPUT : LINE_INPUT)) return false;
  int64_t lo = output ? e->ninputs : 0, hi = output ? e->ninputs + e->noutputs - 1 : e->ninputs - 1;
  if (!free_index(ps, lo, hi, true, &s.io) || !string(ps, name)) return false;
  s.name = pg_strdup(e, name);
  skip_space(ps);
  PgLoc role_at = here(ps);
  if (!slot_role(ps, &s) || !type(ps, &s.dtype, &s.shape, true) || !slot_fields(ps, &s))
    return false;
  if (!check_role_type(ps, role_at, &s)) return false;
  if (output)
    ps->nout++;
  else
    ps->nin++;
  return add_slot(ps, &s, at);
}

/* loc("file":line:col), optional */
static bool param_loc(Parser *ps, PgLoc *loc) {
  char file[MAX_STRING + 1];
  int64_t line, col;
  if (!keyword(ps, "loc")) return true;
  if (!expect(ps, '(') || !string(ps, file) || !expect(ps, ':') ||
      !integer_in(ps, 1, INT_MAX, "line", &line) || !expect(ps, ':') ||
      !integer_in(ps, 1, INT_MAX, "column", &col) || !expect(ps, ')'))
    return false;
  const char *interned = diag_add_source(file, NULL);
  if (!interned) return error_at(ps, here(ps), "cannot record the file name of a location");
  *loc = (PgLoc){interned, (int)line, (int)col};
  return true;
}

static bool param_kind(Parser *ps, PgParam *p) {
  char role[32], init[32];
  skip_space(ps);
  PgLoc at = here(ps);
  if (!word(ps, role, sizeof role, "a parameter role")) return false;
  int r = param_role_named(role);
  if (r < 0)
    return error_at(ps, at, "unknown parameter role '%s' (weight, optstate, frozen or statistic)",
                    role);
  skip_space(ps);
  at = here(ps);
  if (!word(ps, init, sizeof init, "an initialiser")) return false;
  int i = init_named(init);
  if (i < 0)
    return error_at(ps, at, "unknown initialiser '%s' (zeros, glorot_uniform or ones)", init);
  p->role = (PgRole)r;
  p->init = (PgInit)i;
  return true;
}

/* param SLOT "name" ROLE INIT f32[dims] loc(...) */
static bool param_line(Parser *ps, PgLoc at) {
  char name[MAX_STRING + 1];
  PgParam p = {0};
  PgDType t;
  if (!line_in_order(ps, at, LINE_PARAM)) return false;
  if (!free_index(ps, 0, ps->want_params - 1, false, &p.slot)) return false;
  if (!string(ps, name)) return false;
  p.name = pg_strdup(ps->e, name);
  if (!param_kind(ps, &p)) return false;
  skip_space(ps);
  PgLoc type_at = here(ps);
  if (!type(ps, &t, &p.shape, false)) return false;
  if (t != PG_F32) return error_at(ps, type_at, "a parameter is f32");
  return param_loc(ps, &p.loc) && add_param(ps, &p, at);
}

/* ---- what only the whole entry shows ---- */

typedef struct {
  const char *name;
  int index; /* in the entry's slots or params */
} Named;

static int by_name(const void *a, const void *b) {
  return strcmp(((const Named *)a)->name, ((const Named *)b)->name);
}

/* by name, then by where they stand in the text */
static int by_name_then_index(const void *a, const void *b) {
  int c = by_name(a, b);
  return c ? c : ((const Named *)a)->index - ((const Named *)b)->index;
}

/* the names of slots [from, to) or of all parameters, sorted: n log n, where
 * comparing each pair would be quadratic in lines a file may hold 2^20 of */
static Named *sort_names(Parser *ps, int from, int to, bool params) {
  Named *v = pg_calloc((size_t)(to - from) + 1, sizeof *v);
  if (!v) {
    ps->failed = true;
    return NULL;
  }
  for (int i = from; i < to; i++)
    v[i - from] = (Named){params ? ps->e->params[i].name : ps->e->slots[i].name, i};
  qsort(v, (size_t)(to - from), sizeof *v, by_name_then_index);
  return v;
}

/* the line (in the text's order) that first repeats a name, and the line it
 * repeats; false if the names are unique */
static bool first_repeat(const Named *v, int n, int *later, int *earlier) {
  int best = -1;
  for (int i = 1; i < n; i++)
    if (by_name(&v[i], &v[i - 1]) == 0 && (best < 0 || v[i].index < v[best].index)) best = i;
  if (best < 0) return false;
  int first = best;
  while (first > 0 && by_name(&v[first - 1], &v[best]) == 0) first--;
  *later = v[best].index;
  *earlier = v[first].index;
  return true;
}

/* names are unique among the inputs, among the outputs and among the
 * parameters: what pg_slot_named and checkpoints tell apart */
static bool check_unique(Parser *ps, const Named *v, int n, bool params, const char *what) {
  int later, earlier;
  if (!first_repeat(v, n, &later, &earlier)) return true;
  const PgLoc *at = params ? ps->param_at : ps->slot_at;
  const char *name = params ? ps->e->params[later].name : ps->e->slots[later].name;
  error_at(ps, at[later], "two %s are named '%s'", what, name);
  diag_note(at[earlier], "the first is here");
  return false;
}

/* each gradient's `of` is a parameter of the entry, of the gradient's shape */
static bool check_gradient(Parser *ps, const PgSlot *s, PgLoc at, const Named *params) {
  Named key = {s->of, 0};
  const Named *hit = bsearch(&key, params, (size_t)ps->e->nparams, sizeof key, by_name);
  if (!hit) return error_at(ps, at, "'%s' is not a parameter of this entry", s->of);
  const PgParam *p = &ps->e->params[hit->index];
  if (pg_shape_eq(&s->shape, &p->shape)) return true;
  char want[8 * PG_MAX_RANK + 8 * 21], got[sizeof want];
  pg_shape_str(&p->shape, want, sizeof want);
  pg_shape_str(&s->shape, got, sizeof got);
  return error_at(ps, at, "the gradient of '%s' is f32%s, not f32%s", p->name, want, got);
}

static bool check_counts(Parser *ps, PgLoc at) {
  const PgEntry *e = ps->e;
  if (ps->nin < e->ninputs)
    return error_at(ps, at, "the entry declares %d inputs, but lists %d", e->ninputs, ps->nin);
  if (ps->nout < e->noutputs)
    return error_at(ps, at, "the entry declares %d outputs, but lists %d", e->noutputs, ps->nout);
  if (e->nparams < ps->want_params)
    return error_at(ps, at, "the entry declares %d parameters, but lists %d", ps->want_params,
                    e->nparams);
  return true;
}

/* at the entry's closing brace: every declared line present, names unique,
 * gradients of parameters */
static bool check_entry(Parser *ps, PgLoc end) {
  PgEntry *e = ps->e;
  if (!check_counts(ps, end)) return false;
  Named *in = sort_names(ps, 0, e->ninputs, false);
  Named *out = sort_names(ps, e->ninputs, e->nslots, false);
  Named *params = sort_names(ps, 0, e->nparams, true);
  bool ok = in && out && params && check_unique(ps, in, e->ninputs, false, "inputs") &&
            check_unique(ps, out, e->noutputs, false, "outputs") &&
            check_unique(ps, params, e->nparams, true, "parameters");
  for (int i = e->ninputs; ok && i < e->nslots; i++)
    if (e->slots[i].role == PG_SLOT_GRADIENT)
      ok = check_gradient(ps, &e->slots[i], ps->slot_at[i], params);
  free(in);
  free(out);
  free(params);
  return ok;
}

/* ---- entries ---- */

static bool entry_header(Parser *ps, const PgEntry *before, int nbefore) {
  char name[MAX_STRING + 1], kind[32];
  if (!keyword(ps, "entry")) return fail(ps, "'entry'");
  skip_space(ps);
  PgLoc name_at = here(ps);
  if (!string(ps, name)) return false;
  for (int i = 0; i < nbefore; i++)
    if (strcmp(before[i].name, name) == 0)
      return error_at(ps, name_at, "two entries are named '%s'", name);
  ps->e->name = pg_strdup(ps->e, name);
  skip_space(ps);
  PgLoc kind_at = here(ps);
  if (!word(ps, kind, sizeof kind, "an entry kind")) return false;
  int k = kind_named(kind);
  if (k < 0)
    return error_at(ps, kind_at, "unknown entry kind '%s' (train, eval, grad or predict)", kind);
  ps->e->kind = (PgEntryKind)k;
  return entry_fields(ps, ps->e);
}

/* the scratch of one entry: owners of indexes, where lines stand */
static void end_entry(Parser *ps) {
  free(ps->slot_at);
  free(ps->param_at);
  free(ps->io_owner);
  free(ps->param_owner);
  ps->slot_at = ps->param_at = NULL;
  ps->io_owner = ps->param_owner = NULL;
  ps->slot_cap = ps->param_cap = ps->nin = ps->nout = ps->want_params = 0;
}

static bool entry_body(Parser *ps) {
  for (;;) {
    skip_space(ps);
    PgLoc at = here(ps);
    if (accept(ps, '}')) return check_entry(ps, at);
    bool ok = keyword(ps, "input")    ? slot_line(ps, at, false)
              : keyword(ps, "output") ? slot_line(ps, at, true)
              : keyword(ps, "param")  ? param_line(ps, at)
                                      : fail(ps, "'input', 'output', 'param' or '}'");
    if (!ok) return false;
  }
}

static bool entry(Parser *ps, const PgEntry *before, int nbefore) {
  if (!entry_header(ps, before, nbefore)) return false;
  PgEntry *e = ps->e;
  ps->io_owner = pg_calloc((size_t)e->ninputs + e->noutputs, sizeof *ps->io_owner);
  ps->param_owner = pg_calloc((size_t)ps->want_params, sizeof *ps->param_owner);
  if (!ps->io_owner || !ps->param_owner) {
    ps->failed = true;
    return false;
  }
  return expect(ps, '{') && entry_body(ps);
}

static bool at_end(Parser *ps) {
  skip_space(ps);
  return !*ps->p;
}

PgEntry *pg_parse(const char *file, const char *text, int *n) {
  Parser ps = {.file = diag_add_source(file, text), .p = text, .line = 1, .col = 1};
  int errors = diag_error_count(), count = 0;
  *n = 0;
  PgEntry *entries = ps.file ? pg_calloc(MAX_ENTRIES, sizeof *entries) : NULL;
  if (!entries) return NULL;
  do {
    if (count == MAX_ENTRIES) {
      error_at(&ps, here(&ps), "a program has at most %d entries", MAX_ENTRIES);
      break;
    }
    ps.e = &entries[count++];
    entry(&ps, entries, count - 1);
    end_entry(&ps);
  } while (!ps.failed && !at_end(&ps));
  if (ps.failed || diag_error_count() > errors) {
    for (int i = 0; i < count; i++) pg_entry_free(&entries[i]);
    free(entries);
    return NULL;
  }
  *n = count;
  return entries;
}

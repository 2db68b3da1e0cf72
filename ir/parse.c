/* parse.c — reads the textual IR that print.c writes (docs/ir.md), so that
 * any stage's dump can be fed back to `nnd opt`. Whitespace is free-form and
 * `//` starts a comment; the structure is strict. Every node's type is
 * recomputed from its operands and must match the declared one. Errors point
 * into the .nnir text (file:line:col, the line, a caret); parsing stops at the
 * first. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  const char *file, *p;
  int line, col;
  IrGraph *g;   /* the graph being read: the top one or a body */
  IrGraph *top; /* owns every body */
  bool failed;
  float *values; /* the values of the data node being read */
  int64_t nvalues, capvalues;
  PgLoc values_at;
} Parser;

static PgLoc here(Parser *ps) { return (PgLoc){ps->file, ps->line, ps->col}; }

static bool fail(Parser *ps, const char *what) {
  if (!ps->failed) {
    const char *end = ps->p;
    while (*end && !isspace((unsigned char)*end) && !strchr("(){}[],:=", *end)) end++;
    int len = (int)(end - ps->p) > 24 ? 24 : (int)(end - ps->p);
    if (!*ps->p) diag_error(here(ps), "expected %s, found the end of the file", what);
    else if (len) diag_error(here(ps), "expected %s, found '%.*s'", what, len, ps->p);
    else diag_error(here(ps), "expected %s, found '%c'", what, *ps->p);
  }
  ps->failed = true;
  return false;
}

static void advance(Parser *ps, int n) {
  for (int i = 0; i < n && *ps->p; i++, ps->p++) {
    if (*ps->p == '\n') ps->line++, ps->col = 1;
    else ps->col++;
  }
}

static void skip_space(Parser *ps) {
  for (;;) {
    while (isspace((unsigned char)*ps->p)) advance(ps, 1);
    if (ps->p[0] != '/' || ps->p[1] != '/') return;
    while (*ps->p && *ps->p != '\n') advance(ps, 1);
  }
}

static bool peek(Parser *ps, char c) {
  skip_space(ps);
  return *ps->p == c;
}

static bool accept(Parser *ps, char c) {
  if (!peek(ps, c)) return false;
  advance(ps, 1);
  return true;
}

static bool expect(Parser *ps, char c) {
  char what[8] = {'\'', c, '\'', 0};
  return accept(ps, c) || fail(ps, what);
}

static bool word(Parser *ps, char *buf, size_t n) {
  skip_space(ps);
  size_t len = 0;
  while (isalnum((unsigned char)ps->p[len]) || ps->p[len] == '_' || ps->p[len] == '.') len++;
  if (!len || len >= n) return fail(ps, "a name");
  memcpy(buf, ps->p, len);
  buf[len] = 0;
  advance(ps, (int)len);
  return true;
}

static bool keyword(Parser *ps, const char *kw) {
  skip_space(ps);
  size_t len = strlen(kw);
  if (strncmp(ps->p, kw, len) != 0 || isalnum((unsigned char)ps->p[len]) || ps->p[len] == '_') return false;
  advance(ps, (int)len);
  return true;
}

static bool integer(Parser *ps, int64_t *out) {
  skip_space(ps);
  char *end;
  PgLoc at = here(ps);
  errno = 0;
  long long v = strtoll(ps->p, &end, 10);
  if (end == ps->p || (*ps->p != '-' && !isdigit((unsigned char)*ps->p))) return fail(ps, "an integer");
  if (errno == ERANGE) {
    diag_error(at, "this integer does not fit in 64 bits");
    return ps->failed = true, false;
  }
  *out = v;
  advance(ps, (int)(end - ps->p));
  return true;
}

/* an integer in [lo, hi]: what a slot, kernel id, line or offset may be */
static bool integer_in(Parser *ps, int64_t lo, int64_t hi, const char *what, int64_t *out) {
  skip_space(ps);
  PgLoc at = here(ps);
  if (!integer(ps, out)) return false;
  if (*out >= lo && *out <= hi) return true;
  diag_error(at, "%s %lld is out of range [%lld, %lld]", what, (long long)*out, (long long)lo,
             (long long)hi);
  return ps->failed = true, false;
}

static bool number(Parser *ps, double *out) {
  skip_space(ps);
  char *end;
  *out = strtod(ps->p, &end);
  if (end == ps->p) return fail(ps, "a number");
  advance(ps, (int)(end - ps->p));
  return true;
}

/* a float of a data constant; a finite number too large for f32 is an error */
static bool float_number(Parser *ps, float *out) {
  skip_space(ps);
  PgLoc at = here(ps);
  char *end;
  errno = 0;
  *out = strtof(ps->p, &end);
  if (end == ps->p) return fail(ps, "a number");
  if (errno == ERANGE && isinf(*out)) {
    diag_error(at, "this number does not fit in f32");
    ps->failed = true;
    return false;
  }
  advance(ps, (int)(end - ps->p));
  return true;
}

static bool push_value(Parser *ps, float v) {
  if (ps->nvalues == ps->capvalues) {
    int64_t cap = ps->capvalues ? 2 * ps->capvalues : 64;
    float *more = pg_realloc(ps->values, (size_t)cap * sizeof *more);
    if (!more) {
      ps->failed = true; /* out of memory, reported */
      return false;
    }
    ps->values = more;
    ps->capvalues = cap;
  }
  ps->values[ps->nvalues++] = v;
  return true;
}

/* [v0, v1, ...]: at most IR_MAX_DATA values, counted against the type later */
static bool data_values(Parser *ps) {
  skip_space(ps);
  ps->values_at = here(ps);
  ps->nvalues = 0;
  if (!expect(ps, '[')) return false;
  while (!accept(ps, ']')) {
    float v;
    if (ps->nvalues && !expect(ps, ',')) return false;
    if (ps->nvalues == IR_MAX_DATA)
      return fail(ps, "']' (a data constant holds at most 2^24 values)");
    if (!float_number(ps, &v) || !push_value(ps, v)) return false;
  }
  return true;
}

/* as many values as the declared type has elements */
static bool data_count(Parser *ps, const IrNode *n) {
  if (n->op != IR_OP_DATA || ps->nvalues == ir_payload_count(n)) return true;
  char t[96];
  pg_shape_str(&n->shape, t, sizeof t);
  diag_error(ps->values_at, "'data' lists %lld values, but its type %s%s has %lld elements",
             (long long)ps->nvalues, pg_dtype_name(n->dtype), t, (long long)ir_payload_count(n));
  ps->failed = true;
  return false;
}

static bool string(Parser *ps, char *buf, size_t n) {
  if (!peek(ps, '"')) return fail(ps, "a string");
  advance(ps, 1);
  size_t len = 0;
  while (*ps->p && *ps->p != '"' && *ps->p != '\n') {
    if (*ps->p == '\\' && (ps->p[1] == '"' || ps->p[1] == '\\')) advance(ps, 1);
    if (len + 1 < n) buf[len++] = *ps->p;
    advance(ps, 1);
  }
  buf[len] = 0;
  return expect(ps, '"');
}

static bool value_ref(Parser *ps, int before, int *out) {
  int64_t v;
  skip_space(ps);
  PgLoc at = here(ps);
  if (!expect(ps, '%') || !integer(ps, &v)) return false;
  if (v < 0 || v >= before) {
    diag_error(at, "%%%lld is not defined before its use", (long long)v);
    return ps->failed = true, false;
  }
  *out = (int)v;
  return true;
}

static bool type(Parser *ps, IrNode *n) {
  char dt[8];
  if (!word(ps, dt, sizeof dt)) return false;
  if (strcmp(dt, "f32") != 0 && strcmp(dt, "i32") != 0) return fail(ps, "f32 or i32");
  n->dtype = dt[0] == 'f' ? PG_F32 : PG_I32;
  n->shape.rank = 0;
  skip_space(ps);
  PgLoc start = here(ps);
  if (!expect(ps, '[')) return false;
  while (!accept(ps, ']')) {
    if (n->shape.rank && !expect(ps, ',')) return false;
    if (n->shape.rank == PG_MAX_RANK) return fail(ps, "']' (at most 6 dimensions)");
    int64_t d;
    skip_space(ps);
    PgLoc at = here(ps);
    if (keyword(ps, "B")) d = PG_BATCH;
    else if (!integer(ps, &d)) return false;
    else if (d < 1) return diag_error(at, "a dimension must be positive, not %lld", (long long)d), ps->failed = true, false;
    n->shape.dim[n->shape.rank++] = d;
  }
  if (pg_shape_fits(&n->shape)) return true;
  diag_error(start, "this type has more than 2^36 elements per example");
  return ps->failed = true, false;
}

static IrOp op_named(const char *name) {
  for (int op = 0; op < IR_OP_COUNT; op++)
    if (strcmp(ir_op_name(op), name) == 0) return op;
  return IR_OP_COUNT;
}

/* a symbol the generated code will call: a C identifier */
static bool symbol(Parser *ps, const char **out) {
  char buf[IR_MAX_SYMBOL + 2];
  skip_space(ps);
  PgLoc at = here(ps);
  if (!string(ps, buf, sizeof buf)) return false;
  if (!ir_symbol_ok(buf)) {
    diag_error(at, "a call names a C function: an identifier of at most %d characters",
               IR_MAX_SYMBOL);
    ps->failed = true;
    return false;
  }
  *out = ir_strdup(ps->g, buf);
  return true;
}

/* "fn" or "fn" derivative "dfn" */
static bool call_payload(Parser *ps, IrNode *n) {
  if (!symbol(ps, &n->name)) return false;
  return !keyword(ps, "derivative") || symbol(ps, &n->derivative);
}

static bool payload(Parser *ps, IrNode *n) {
  char buf[256], role[32], init[32];
  switch (n->op) {
  case IR_OP_INPUT:
  case IR_OP_OUTPUT:
    if (!string(ps, buf, sizeof buf)) return false;
    n->name = ir_strdup(ps->g, buf);
    return true;
  case IR_OP_PARAM:
    if (!word(ps, role, sizeof role) || !word(ps, init, sizeof init) || !string(ps, buf, sizeof buf)) return false;
    if (strcmp(role, "weight") == 0) n->role = PG_ROLE_WEIGHT;
    else if (strcmp(role, "optstate") == 0) n->role = PG_ROLE_OPTSTATE;
    else if (strcmp(role, "frozen") == 0) n->role = PG_ROLE_FROZEN;
    else if (strcmp(role, "statistic") == 0) n->role = PG_ROLE_STATISTIC;
    else return diag_error(n->loc, "unknown parameter role '%s' (weight, frozen, optstate or "
                           "statistic)", role), ps->failed = true, false;
    if (strcmp(init, "zeros") == 0) n->init = PG_INIT_ZEROS;
    else if (strcmp(init, "glorot_uniform") == 0) n->init = PG_INIT_GLOROT_UNIFORM;
    else if (strcmp(init, "ones") == 0) n->init = PG_INIT_ONES;
    else return diag_error(n->loc, "unknown initialiser '%s' (zeros, ones or glorot_uniform)", init), ps->failed = true, false;
    n->name = ir_strdup(ps->g, buf);
    return true;
  case IR_OP_CONST: return number(ps, &n->value);
  case IR_OP_DATA: return data_values(ps);
  case IR_OP_CALL: return call_payload(ps, n);
  default: return true;
  }
}

static bool attrs(Parser *ps, IrNode *n) {
  if (!ir_op_attr_name(n->op, 0) || !accept(ps, '{')) return true;
  do {
    char name[64];
    int64_t v;
    PgLoc at = here(ps);
    if (!word(ps, name, sizeof name) || !expect(ps, '=')) return false;
    int i = 0;
    while (ir_op_attr_name(n->op, i) && strcmp(ir_op_attr_name(n->op, i), name) != 0) i++;
    if (!ir_op_attr_name(n->op, i)) {
      diag_error(at, "'%s' has no attribute '%s'", ir_op_name(n->op), name);
      return ps->failed = true, false;
    }
    /* a slot indexes the step's arrays of inputs, parameters, outputs (ints);
     * other attributes are sizes, axes, offsets: no larger than a tensor, so
     * that the shape rules' arithmetic on them cannot overflow */
    bool ok = strcmp(name, "slot") == 0 ? integer_in(ps, 0, INT_MAX - 1, "slot", &v)
              : integer_in(ps, -PG_MAX_ELEMENTS, PG_MAX_ELEMENTS, "attribute", &v);
    if (!ok) return false;
    n->attr[i] = v;
  } while (accept(ps, ','));
  return expect(ps, '}');
}

/* kernel(K) arena(OFFSET) loc("file":line:col), each optional */
static bool suffixes(Parser *ps, IrNode *n) {
  for (;;) {
    int64_t v;
    if (keyword(ps, "kernel")) {
      if (!expect(ps, '(') || !integer_in(ps, 0, INT_MAX - 1, "kernel", &v) || !expect(ps, ')'))
        return false;
      n->group = (int)v;
    } else if (keyword(ps, "arena")) {
      if (!expect(ps, '(') || !integer_in(ps, 0, PG_MAX_ARENA, "arena offset", &n->offset) ||
          !expect(ps, ')'))
        return false;
    } else if (keyword(ps, "loc")) {
      char file[512];
      int64_t line, col;
      if (!expect(ps, '(') || !string(ps, file, sizeof file) || !expect(ps, ':') ||
          !integer_in(ps, 1, INT_MAX, "line", &line) || !expect(ps, ':') ||
          !integer_in(ps, 1, INT_MAX, "column", &col) || !expect(ps, ')'))
        return false;
      const char *interned = diag_add_source(file, NULL);
      if (!interned) return ps->failed = true, false;
      n->loc = (PgLoc){interned, (int)line, (int)col};
    } else {
      return true;
    }
  }
}

static bool check_type(Parser *ps, IrNode *declared, PgLoc at) {
  IrNode derived = *declared;
  int before = diag_error_count();
  bool ok = ir_infer_type(ps->g, &derived);
  if (diag_error_count() != before || !ok) {
    diag_note(at, "in this node");
    return ps->failed = true, false;
  }
  if (derived.dtype == declared->dtype && pg_shape_eq(&derived.shape, &declared->shape))
    return true;
  char want[96], got[96];
  pg_shape_str(&declared->shape, want, sizeof want);
  pg_shape_str(&derived.shape, got, sizeof got);
  diag_error(at, "declared type %s%s, but the operands give %s%s", pg_dtype_name(declared->dtype),
             want, pg_dtype_name(derived.dtype), got);
  return ps->failed = true, false;
}

/* (%a, %b, ...): exactly the op's arity, or 1 to IR_MAX_IN for a variadic op */
static bool operands(Parser *ps, IrNode *n) {
  int arity = ir_op_arity(n->op), most = arity < 0 ? IR_MAX_IN : arity;
  if (!expect(ps, '(')) return false;
  for (n->nin = 0; n->nin < most && (arity > 0 || n->nin == 0 || !peek(ps, ')')); n->nin++)
    if ((n->nin && !expect(ps, ',')) || !value_ref(ps, ps->g->count, &n->in[n->nin])) return false;
  if (arity < 0 && n->nin == most && peek(ps, ','))
    return fail(ps, "')' (an op takes at most 16 operands)");
  return expect(ps, ')');
}

static IrGraph *graph(Parser *ps, IrGraph *outer, PgLoc at);

/* a scan's body: a graph owned by the one being read */
static IrGraph *body(Parser *ps, PgLoc at) {
  IrGraph *outer = ps->g, *b = graph(ps, outer, at);
  ps->g = outer;
  return b;
}

static bool node(Parser *ps) {
  IrGraph *g = ps->g;
  PgLoc at = here(ps);
  int64_t id;
  char opname[32];
  IrNode n = {.group = -1, .offset = -1};
  if (!expect(ps, '%') || !integer(ps, &id)) return false;
  if (id != g->count) {
    diag_error(at, "expected %%%d here: values are numbered densely from %%0", g->count);
    return ps->failed = true, false;
  }
  if (!expect(ps, '=')) return false;
  skip_space(ps);
  PgLoc op_at = here(ps);
  if (!word(ps, opname, sizeof opname)) return false;
  if ((n.op = op_named(opname)) == IR_OP_COUNT) {
    diag_error(op_at, "unknown op '%s'", opname);
    return ps->failed = true, false;
  }
  n.loc = at;
  if (!payload(ps, &n)) return false;
  if (ir_op_arity(n.op) != 0 && !operands(ps, &n)) return false;
  n.loc = (PgLoc){0};
  if (!attrs(ps, &n) || !expect(ps, ':') || !type(ps, &n) || !suffixes(ps, &n)) return false;
  if (ir_op_flags(n.op) & IR_REGION && !(n.body = body(ps, at))) return false;
  if (!check_type(ps, &n, at) || !data_count(ps, &n)) return false;
  if (n.op == IR_OP_DATA) n.data = ps->values; /* copied into g */
  if (ir_append_node(g, &n) < 0) return ps->failed = true, false; /* out of memory, reported */
  return true;
}

static void count_slots(IrGraph *g) {
  for (int i = 0; i < g->count; i++) {
    IrNode *n = &g->nodes[i];
    int *count = n->op == IR_OP_INPUT ? &g->ninputs : n->op == IR_OP_PARAM ? &g->nparams
                 : n->op == IR_OP_OUTPUT ? &g->noutputs : NULL;
    if (count && n->attr[0] + 1 > *count) *count = (int)n->attr[0] + 1;
    if (n->group + 1 > g->nkernels) g->nkernels = n->group + 1;
  }
}

static bool header(Parser *ps, char *name, size_t n, int64_t *max_batch, int64_t *arena) {
  if (!keyword(ps, "graph")) return fail(ps, "'graph'");
  if (!expect(ps, '@') || !word(ps, name, n)) return false;
  if (keyword(ps, "max_batch")) {
    if (!expect(ps, '(') || !integer_in(ps, 1, PG_MAX_BATCH, "max_batch", max_batch) ||
        !expect(ps, ')'))
      return false;
    if (!keyword(ps, "arena")) return fail(ps, "'arena'");
    if (!expect(ps, '(') || !integer_in(ps, 0, PG_MAX_ARENA, "arena size", arena) ||
        !expect(ps, ')'))
      return false;
  }
  return expect(ps, '{');
}

/* `graph @NAME ... { nodes }`: the top graph (outer NULL) or a body of outer;
 * NULL once failed (a body is freed with its outer graph) */
static IrGraph *graph(Parser *ps, IrGraph *outer, PgLoc at) {
  char name[2 * IR_MAX_SYMBOL]; /* a model's name, or a layer's with a suffix (.reverse) */
  int64_t max_batch = 0, arena = 0;
  if (!header(ps, name, sizeof name, &max_batch, &arena)) return NULL;
  IrGraph *g = outer ? ir_region_new(outer, name, at) : ir_graph_new(name);
  if (!g) return ps->failed = true, NULL;
  if (!outer) ps->top = g;
  ps->g = g;
  while (!ps->failed && !accept(ps, '}')) node(ps);
  if (ps->failed) return NULL;
  g->max_batch = max_batch;
  g->arena_bytes = arena;
  count_slots(g);
  return g;
}

IrGraph *ir_parse(const char *file, const char *text) {
  Parser ps = {diag_add_source(file, text), text, 1, 1, NULL, NULL, false, NULL, 0, 0, {0}};
  if (!ps.file) return NULL;
  IrGraph *g = graph(&ps, NULL, (PgLoc){0});
  if (!ps.failed && (skip_space(&ps), *ps.p)) fail(&ps, "the end of the file after the graph");
  free(ps.values);
  if (ps.failed) {
    ir_graph_free(ps.top);
    return NULL;
  }
  return g;
}

IrGraph *ir_parse_file(const char *path) {
  size_t len;
  char *text = pg_read_source(path, &len);
  IrGraph *g = text ? ir_parse(pg_source_name(path), text) : NULL;
  free(text);
  return g;
}

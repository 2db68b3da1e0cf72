/* ast.c — AST construction (the grammar's builders), parsing entry points and
 * the AST printer. All AST memory comes from one arena per parsed file, so
 * fe_ast_free releases a whole tree at once. The builders use the arena of the
 * file being parsed (parsing is not reentrant). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "parser.h"

struct FeArena {
  struct FeArena *next;
  size_t used, cap;
  char data[];
};

static AstFile *cur_file; /* the file the parser is building */
static AstBlock **cur_tail;
static bool stopped;

void fe_stop_parse(void) { stopped = true; }
bool fe_parse_stopped(void) { return stopped; }

void *fe_alloc(size_t size) {
  FeArena **head = &cur_file->arena;
  size = (size + 15) & ~(size_t)15;
  if (!*head || (*head)->used + size > (*head)->cap) {
    size_t cap = size > 65536 ? size : 65536;
    FeArena *a = stopped ? NULL : pg_malloc(sizeof *a + cap);
    if (!a) return fe_stop_parse(), NULL;
    a->next = *head;
    a->used = 0;
    a->cap = cap;
    *head = a;
  }
  void *p = (*head)->data + (*head)->used;
  (*head)->used += size;
  memset(p, 0, size);
  return p;
}

const char *fe_strdup(const char *s, size_t len) {
  char *p = fe_alloc(len + 1);
  if (p) memcpy(p, s, len);
  return p;
}

const char *fe_strdup_in(AstFile *f, const char *s, size_t len) {
  AstFile *saved = cur_file;
  cur_file = f;
  const char *copy = fe_strdup(s, len);
  cur_file = saved;
  return copy;
}

const AstExpr *fe_chain_start(const AstExpr *x) {
  while (x->args[0]->kind == AST_BINOP) x = x->args[0];
  return x;
}

/* e holds child one walk level deeper (step 1) or, as the left operand of a
 * chain, at its own level (step 0); the first node past the limit reports it */
static void nest(AstExpr *e, const AstExpr *child, int step) {
  int d = child->depth + step;
  if (e->depth <= FE_MAX_NESTING && child->depth <= FE_MAX_NESTING && d > FE_MAX_NESTING)
    diag_error(e->loc, "expression nested too deeply (more than %d levels)", FE_MAX_NESTING);
  if (d > e->depth) e->depth = d;
}

static AstExpr *fe_expr(AstKind kind, PgLoc loc) {
  AstExpr *e = fe_alloc(sizeof *e);
  if (!e) return NULL;
  e->kind = kind;
  e->loc = loc;
  return e;
}

AstExpr *fe_num(PgLoc loc, double value) {
  AstExpr *e = fe_expr(AST_NUM, loc);
  if (e) e->num = value;
  return e;
}

AstExpr *fe_leaf(AstKind kind, PgLoc loc, const char *str) {
  AstExpr *e = str ? fe_expr(kind, loc) : NULL;
  if (e) e->str = str;
  return e;
}

/* the array doubles: a call or list with n arguments costs O(n) */
static bool push_arg(AstExpr *e, AstExpr *arg) {
  if (e->nargs == e->cap) {
    int cap = e->cap ? 2 * e->cap : 2;
    AstExpr **args = fe_alloc((size_t)cap * sizeof *args);
    if (!args) return false;
    if (e->nargs) memcpy(args, e->args, e->nargs * sizeof *args);
    e->args = args;
    e->cap = cap;
  }
  e->args[e->nargs++] = arg;
  return true;
}

AstExpr *fe_binop(int op, PgLoc loc, AstExpr *a, AstExpr *b) {
  AstExpr *e = a && b ? fe_expr(AST_BINOP, loc) : NULL; /* the operator's location */
  if (!e || !push_arg(e, a) || !push_arg(e, b)) return NULL;
  e->op = op;
  if (a->kind == AST_BINOP) a->up = e;
  nest(e, a, a->kind == AST_BINOP ? 0 : 1);
  nest(e, b, 1);
  return e;
}

static AstExpr *unary(AstKind kind, PgLoc loc, AstExpr *a) {
  AstExpr *e = a ? fe_expr(kind, loc) : NULL;
  if (!e || !push_arg(e, a)) return NULL;
  nest(e, a, 1);
  return e;
}

AstExpr *fe_neg(PgLoc loc, AstExpr *a) { return unary(AST_NEG, loc, a); }

AstExpr *fe_arg_list(AstExpr *list, AstExpr *arg) {
  if (!list) list = fe_expr(AST_CALL, arg ? arg->loc : (PgLoc){0});
  if (!list || (arg && !push_arg(list, arg))) return NULL;
  return list;
}

/* a call or list, once its arguments are known */
static AstExpr *with_args(AstKind kind, PgLoc loc, const char *name, AstExpr *args) {
  if (!args) return NULL;
  args->kind = kind;
  args->loc = loc;
  args->str = name;
  for (int i = 0; i < args->nargs; i++) nest(args, args->args[i], 1);
  return args;
}

AstExpr *fe_call(PgLoc loc, const char *name, AstExpr *args) {
  return name ? with_args(AST_CALL, loc, name, args) : NULL;
}

AstExpr *fe_list(PgLoc loc, AstExpr *elements) { return with_args(AST_LIST, loc, NULL, elements); }

AstExpr *fe_kwarg(PgLoc loc, const char *name, AstExpr *value) {
  AstExpr *e = name ? unary(AST_KWARG, loc, value) : NULL;
  if (e) e->str = name;
  return e;
}

/* args: the count, then the call (a block's, elaboration checks) */
AstExpr *fe_repeat(PgLoc loc, AstExpr *count, AstExpr *call) {
  AstExpr *e = count && call ? fe_expr(AST_REPEAT, loc) : NULL;
  if (!e || !push_arg(e, count) || !push_arg(e, call)) return NULL;
  nest(e, count, 1);
  nest(e, call, 1);
  return e;
}

AstStmt *fe_stmt(AstStmtKind kind, PgLoc loc, const char *name, AstExpr *expr) {
  AstStmt *s = fe_alloc(sizeof *s);
  if (!s) return NULL;
  s->kind = kind;
  s->loc = loc;
  s->name = name;
  s->expr = expr;
  return s;
}

AstStmt *fe_input(PgLoc loc, const char *name, AstType type) {
  AstStmt *s = fe_stmt(ST_INPUT, loc, name, NULL);
  if (s) s->type = type;
  return s;
}

AstStmt *fe_stmt_append(AstStmt *list, AstStmt *s) {
  if (!s) return list;
  if (!list) return s->last = s;
  list->last->next = s;
  list->last = s;
  return list;
}

AstBlock *fe_block(AstBlockKind kind, PgLoc loc, const char *name, AstStmt *stmts) {
  AstBlock *b = name ? fe_alloc(sizeof *b) : NULL;
  if (!b) return NULL;
  b->kind = kind;
  b->loc = loc;
  b->name = name;
  b->stmts = stmts;
  return b;
}

AstBlock *fe_def_block(PgLoc loc, const char *name, AstExpr *params, AstStmt *stmts) {
  AstBlock *b = params ? fe_block(BLOCK_DEF, loc, name, stmts) : NULL;
  if (b) b->params = params;
  return b;
}

void fe_add_block(AstBlock *b) {
  if (!b) return;
  *cur_tail = b;
  cur_tail = &b->next;
}

/* a dimension: a whole number in [1, PG_MAX_ELEMENTS], checked before it
 * becomes an integer (a double past INT64_MAX does not convert) */
static bool dimension(const AstExpr *d, int64_t *out) {
  if (d->kind != AST_NUM || !(d->num >= 1) || d->num != floor(d->num))
    return diag_error(d->loc, "a dimension must be a positive integer"), false;
  if (d->num > (double)PG_MAX_ELEMENTS) {
    diag_error(d->loc, "a dimension must be at most 2^36 (%lld)", (long long)PG_MAX_ELEMENTS);
    return false;
  }
  *out = (int64_t)d->num;
  return true;
}

AstType fe_type(PgLoc loc, const char *dtype, AstExpr *dims) {
  AstType t = {.loc = loc};
  if (!dtype) return t; /* out of memory: the parse has stopped */
  if (strcmp(dtype, "f32") == 0) t.dtype = PG_F32;
  else if (strcmp(dtype, "i32") == 0) t.dtype = PG_I32;
  else diag_error(loc, "unknown element type '%s' (expected f32 or i32)", dtype);
  for (int i = 0; dims && i < dims->nargs; i++) {
    AstExpr *d = dims->args[i];
    int64_t n;
    if (!dimension(d, &n)) continue;
    if (t.shape.rank + 1 >= PG_MAX_RANK)
      diag_error(d->loc, "too many dimensions (at most %d per example)", PG_MAX_RANK - 1);
    else t.shape.dim[t.shape.rank++] = n;
  }
  return t;
}

/* ---- entry points ---- */

typedef struct yy_buffer_state *YY_BUFFER_STATE;
YY_BUFFER_STATE nnd_yy_scan_buffer(char *base, size_t size);
void nnd_yy_delete_buffer(YY_BUFFER_STATE b);
int nnd_yyparse(void);
void fe_lex_reset(void);
extern const char *fe_lex_file;

/* text: len bytes and two NUL bytes, scanned in place (no copy of a large file) */
static AstFile *parse_buffer(const char *name, char *text, size_t len) {
  int errors = diag_error_count();
  AstFile *f = pg_calloc(1, sizeof *f);
  if (!f) return NULL;
  cur_file = f;
  cur_tail = &f->blocks;
  stopped = false;
  f->file = diag_add_source(name, text);
  fe_lex_file = f->file;
  fe_lex_reset();
  YY_BUFFER_STATE buf = f->file ? nnd_yy_scan_buffer(text, len + 2) : NULL;
  int rc = buf ? nnd_yyparse() : 1;
  if (buf) nnd_yy_delete_buffer(buf);
  cur_file = NULL;
  stopped = false;
  if (rc != 0 || diag_error_count() != errors) {
    fe_ast_free(f);
    return NULL;
  }
  return f;
}

AstFile *fe_parse_string(const char *name, const char *text) {
  size_t len = strlen(text);
  char *copy = pg_malloc(len + 2);
  if (!copy) return NULL;
  memcpy(copy, text, len);
  copy[len] = copy[len + 1] = 0;
  AstFile *f = parse_buffer(name, copy, len);
  free(copy);
  return f;
}

AstFile *fe_parse_file(const char *path) {
  size_t len;
  char *text = pg_read_source(path, &len);
  if (!text) return NULL;
  AstFile *f = parse_buffer(pg_source_name(path), text, len);
  free(text);
  return f;
}

void fe_ast_free(AstFile *f) {
  if (!f) return;
  for (FeArena *a = f->arena, *next; a; a = next) {
    next = a->next;
    free(a);
  }
  free(f);
}

/* ---- printer: the AST back as (normalised) source, for `dump --stage=parsed` ---- */

static void print_expr(FILE *out, const AstExpr *e);

/* (((a + b) + c) + d): a loop over the chain, recursion into right operands */
static void print_chain(FILE *out, const AstExpr *e) {
  const AstExpr *b = fe_chain_start(e);
  for (const AstExpr *x = b; x != e; x = x->up) fputc('(', out);
  fputc('(', out);
  print_expr(out, b->args[0]);
  for (;; b = b->up) {
    fprintf(out, " %c ", b->op);
    print_expr(out, b->args[1]);
    fputc(')', out);
    if (b == e) break;
  }
}

static void print_expr(FILE *out, const AstExpr *e) {
  switch (e->kind) {
  case AST_NUM: fprintf(out, "%g", e->num); break;
  case AST_STR: fprintf(out, "\"%s\"", e->str); break;
  case AST_NAME: fputs(e->str, out); break;
  case AST_KWARG: fprintf(out, "%s=", e->str); print_expr(out, e->args[0]); break;
  case AST_NEG: fputs("-", out); print_expr(out, e->args[0]); break;
  case AST_BINOP: print_chain(out, e); break;
  case AST_REPEAT:
    fputs("repeat ", out);
    print_expr(out, e->args[0]);
    fputc(' ', out);
    print_expr(out, e->args[1]);
    break;
  case AST_CALL:
  case AST_LIST:
    fprintf(out, e->kind == AST_CALL ? "%s(" : "[", e->kind == AST_CALL ? e->str : "");
    for (int i = 0; i < e->nargs; i++) {
      if (i) fputs(", ", out);
      print_expr(out, e->args[i]);
    }
    fputc(e->kind == AST_CALL ? ')' : ']', out);
    break;
  }
}

static void print_stmt(FILE *out, const AstStmt *s) {
  char shape[96];
  fprintf(out, "  ");
  switch (s->kind) {
  case ST_INPUT:
    pg_shape_str(&s->type.shape, shape, sizeof shape);
    fprintf(out, "input %s: %s%s", s->name, s->type.dtype == PG_F32 ? "f32" : "i32", shape);
    break;
  case ST_LET: fprintf(out, "%s = ", s->name); print_expr(out, s->expr); break;
  case ST_LOSS: fputs("loss ", out); print_expr(out, s->expr); break;
  case ST_METRIC:
    fprintf(out, "metric %s%s", s->name ? s->name : "", s->name ? " = " : "");
    print_expr(out, s->expr);
    break;
  case ST_RETURN: fputs("return ", out); print_expr(out, s->expr); break;
  }
  fprintf(out, "  # %d:%d\n", s->loc.line, s->loc.col);
}

static void print_params(FILE *out, const AstExpr *params) {
  fputc('(', out);
  for (int i = 0; i < params->nargs; i++) fprintf(out, "%s%s", i ? ", " : "", params->args[i]->str);
  fputc(')', out);
}

void fe_ast_print(FILE *out, const AstFile *f) {
  static const char *kw[] = {"model", "train", "data", "extern", "block"};
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    fprintf(out, "%s", kw[b->kind]);
    if (b->kind != BLOCK_TRAIN) fprintf(out, " %s", b->name);
    if (b->kind == BLOCK_DEF) print_params(out, b->params);
    fputs(" {\n", out);
    for (const AstStmt *s = b->stmts; s; s = s->next) print_stmt(out, s);
    fputs("}\n", out);
  }
}

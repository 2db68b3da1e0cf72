/* ast.c — AST construction (the grammar's builders), parsing entry points and
 * the AST printer. All AST memory comes from one arena per parsed file, so
 * fe_ast_free releases a whole tree at once. The builders use the arena of the
 * file being parsed (parsing is not reentrant). */
#include <errno.h>
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

void *fe_alloc(size_t size) {
  FeArena **head = &cur_file->arena;
  size = (size + 15) & ~(size_t)15;
  if (!*head || (*head)->used + size > (*head)->cap) {
    size_t cap = size > 65536 ? size : 65536;
    FeArena *a = malloc(sizeof *a + cap);
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
  memcpy(p, s, len);
  return p;
}

const char *fe_strdup_in(AstFile *f, const char *s, size_t len) {
  AstFile *saved = cur_file;
  cur_file = f;
  const char *copy = fe_strdup(s, len);
  cur_file = saved;
  return copy;
}

AstExpr *fe_expr(AstKind kind, IrLoc loc) {
  AstExpr *e = fe_alloc(sizeof *e);
  e->kind = kind;
  e->loc = loc;
  return e;
}

static void push_arg(AstExpr *e, AstExpr *arg) {
  AstExpr **args = fe_alloc((e->nargs + 1) * sizeof *args);
  if (e->nargs) memcpy(args, e->args, e->nargs * sizeof *args);
  args[e->nargs++] = arg;
  e->args = args;
}

AstExpr *fe_binop(int op, IrLoc loc, AstExpr *a, AstExpr *b) {
  AstExpr *e = fe_expr(AST_BINOP, loc); /* the operator's location */
  e->op = op;
  push_arg(e, a);
  push_arg(e, b);
  return e;
}

AstExpr *fe_neg(IrLoc loc, AstExpr *a) {
  AstExpr *e = fe_expr(AST_NEG, loc);
  push_arg(e, a);
  return e;
}

AstExpr *fe_arg_list(AstExpr *list, AstExpr *arg) {
  if (!list) list = fe_expr(AST_CALL, arg ? arg->loc : (IrLoc){0});
  if (arg) push_arg(list, arg);
  return list;
}

AstExpr *fe_call(IrLoc loc, const char *name, AstExpr *args) {
  args->loc = loc;
  args->str = name;
  return args;
}

AstExpr *fe_kwarg(IrLoc loc, const char *name, AstExpr *value) {
  AstExpr *e = fe_expr(AST_KWARG, loc);
  e->str = name;
  push_arg(e, value);
  return e;
}

AstStmt *fe_stmt(AstStmtKind kind, IrLoc loc, const char *name, AstExpr *expr) {
  AstStmt *s = fe_alloc(sizeof *s);
  s->kind = kind;
  s->loc = loc;
  s->name = name;
  s->expr = expr;
  return s;
}

AstStmt *fe_input(IrLoc loc, const char *name, AstType type) {
  AstStmt *s = fe_stmt(ST_INPUT, loc, name, NULL);
  s->type = type;
  return s;
}

AstStmt *fe_stmt_append(AstStmt *list, AstStmt *s) {
  if (!list) return s;
  AstStmt *t = list;
  while (t->next) t = t->next;
  t->next = s;
  return list;
}

AstBlock *fe_block(AstBlockKind kind, IrLoc loc, const char *name, AstStmt *stmts) {
  AstBlock *b = fe_alloc(sizeof *b);
  b->kind = kind;
  b->loc = loc;
  b->name = name;
  b->stmts = stmts;
  return b;
}

void fe_add_block(AstBlock *b) {
  *cur_tail = b;
  cur_tail = &b->next;
}

AstType fe_type(IrLoc loc, const char *dtype, AstExpr *dims) {
  AstType t = {.loc = loc};
  if (strcmp(dtype, "f32") == 0) t.dtype = IR_F32;
  else if (strcmp(dtype, "i32") == 0) t.dtype = IR_I32;
  else diag_error(loc, "unknown element type '%s' (expected f32 or i32)", dtype);
  for (int i = 0; dims && i < dims->nargs; i++) {
    AstExpr *d = dims->args[i];
    if (d->kind != AST_NUM || d->num < 1 || d->num != (int64_t)d->num)
      diag_error(d->loc, "a dimension must be a positive integer");
    else if (t.shape.rank + 1 >= IR_MAX_RANK)
      diag_error(d->loc, "too many dimensions (at most %d per example)", IR_MAX_RANK - 1);
    else t.shape.dim[t.shape.rank++] = (int64_t)d->num;
  }
  return t;
}

/* ---- entry points ---- */

typedef struct yy_buffer_state *YY_BUFFER_STATE;
YY_BUFFER_STATE nnd_yy_scan_string(const char *s);
void nnd_yy_delete_buffer(YY_BUFFER_STATE b);
int nnd_yyparse(void);
void fe_lex_reset(void);
extern const char *fe_lex_file;

AstFile *fe_parse_string(const char *name, const char *text) {
  int errors = diag_error_count();
  AstFile *f = calloc(1, sizeof *f);
  cur_file = f;
  cur_tail = &f->blocks;
  f->file = diag_add_source(name, text);
  fe_lex_file = f->file;
  fe_lex_reset();
  YY_BUFFER_STATE buf = nnd_yy_scan_string(text);
  int rc = nnd_yyparse();
  nnd_yy_delete_buffer(buf);
  cur_file = NULL;
  if (rc != 0 || diag_error_count() != errors) {
    fe_ast_free(f);
    return NULL;
  }
  return f;
}

AstFile *fe_parse_file(const char *path) {
  FILE *in = fopen(path, "rb");
  if (!in) {
    diag_error((IrLoc){0}, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0, got;
  char *text = malloc(cap);
  while ((got = fread(text + len, 1, cap - len - 1, in)) > 0) {
    len += got;
    if (len + 1 == cap) text = realloc(text, cap *= 2);
  }
  fclose(in);
  text[len] = 0;
  if (strlen(text) != len) {
    diag_error((IrLoc){0}, "'%s' is not a text file (it contains NUL bytes)", path);
    free(text);
    return NULL;
  }
  AstFile *f = fe_parse_string(path, text);
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

static void print_expr(FILE *out, const AstExpr *e) {
  switch (e->kind) {
  case AST_NUM: fprintf(out, "%g", e->num); break;
  case AST_STR: fprintf(out, "\"%s\"", e->str); break;
  case AST_NAME: fputs(e->str, out); break;
  case AST_KWARG: fprintf(out, "%s=", e->str); print_expr(out, e->args[0]); break;
  case AST_NEG: fputs("-", out); print_expr(out, e->args[0]); break;
  case AST_BINOP:
    fputc('(', out);
    print_expr(out, e->args[0]);
    fprintf(out, " %c ", e->op);
    print_expr(out, e->args[1]);
    fputc(')', out);
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
    ir_shape_str(&s->type.shape, shape, sizeof shape);
    fprintf(out, "input %s: %s%s", s->name, s->type.dtype == IR_F32 ? "f32" : "i32", shape);
    break;
  case ST_LET: fprintf(out, "%s = ", s->name); print_expr(out, s->expr); break;
  case ST_LOSS: fputs("loss ", out); print_expr(out, s->expr); break;
  case ST_METRIC: fputs("metric ", out); print_expr(out, s->expr); break;
  }
  fprintf(out, "  # %d:%d\n", s->loc.line, s->loc.col);
}

void fe_ast_print(FILE *out, const AstFile *f) {
  static const char *kw[] = {"model", "train", "data"};
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    fprintf(out, "%s", kw[b->kind]);
    if (b->kind != BLOCK_TRAIN) fprintf(out, " %s", b->name);
    fputs(" {\n", out);
    for (const AstStmt *s = b->stmts; s; s = s->next) print_stmt(out, s);
    fputs("}\n", out);
  }
}

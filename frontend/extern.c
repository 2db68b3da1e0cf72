/* extern.c — the extern blocks: C functions a model calls elementwise.
 *
 *   extern softsign {
 *     library = "libsoftsign.so"     # relative to the .nnd file's folder, or absolute
 *     derivative = "softsign_grad"   # optional: d softsign / dx, also float(float)
 *   }
 *
 * The checks here are all that can be known without loading the library:
 * the keys and their string values, C identifiers that clash neither with
 * nnd's own generated names nor with a built-in function, one declaration per
 * name. The driver loads the libraries (and finds the symbols) before
 * compiling; elaboration reads the same declarations quietly. */
#include <string.h>

#include "elab.h"

#define MAX_PATH_BYTES 4096

/* the library as dlopen gets it: a relative path is taken from the folder of
 * the .nnd file, never from the search path (a bare name gets "./") */
static const char *library_path(const AstFile *f, const char *lib) {
  char buf[MAX_PATH_BYTES];
  const char *slash = strrchr(f->file, '/');
  const char *folder = slash ? f->file : ".";
  int dir = slash ? (int)(slash - f->file) : 1;
  int len = lib[0] == '/' ? snprintf(buf, sizeof buf, "%s", lib)
                          : snprintf(buf, sizeof buf, "%.*s/%s", dir, folder, lib);
  if (len < 0 || len >= (int)sizeof buf) return NULL;
  return fe_strdup_in((AstFile *)f, buf, (size_t)len);
}

static bool symbol_ok(const char *s, PgLoc loc, const char *what, bool report) {
  bool ok = ir_symbol_ok(s), mine = ok && ir_symbol_reserved(s);
  if (report && !ok)
    diag_error(loc, "%s '%s' is not a C identifier (of at most %d characters)", what, s,
               IR_MAX_SYMBOL);
  if (report && mine)
    diag_error(loc, "%s '%s' clashes with nnd's own names (nnd_*, *_step, check_finite)", what, s);
  return ok && !mine;
}

/* one `key = "value"` line of an extern block */
static bool extern_setting(const AstFile *f, const AstStmt *s, FeExtern *x, bool report) {
  const char *k = s->name;
  bool library = s->kind == ST_LET && strcmp(k, "library") == 0;
  bool derivative = s->kind == ST_LET && strcmp(k, "derivative") == 0;
  if (!library && !derivative) {
    if (report && s->kind == ST_LET)
      diag_error(s->loc, "unknown extern setting '%s' (expected library or derivative)", k);
    else if (report) diag_error(s->loc, "an extern block holds `key = \"string\"` lines only");
    return false;
  }
  if (s->expr->kind != AST_STR || !*s->expr->str) {
    if (report) diag_error(s->expr->loc, "'%s' takes a non-empty string, like \"%s\"", k,
                           library ? "libname.so" : "name_grad");
    return false;
  }
  if ((library && x->library) || (derivative && x->derivative)) {
    if (report) diag_error(s->loc, "'%s' is given twice", k);
    return false;
  }
  if (derivative) {
    x->derivative_loc = s->expr->loc;
    x->derivative = s->expr->str;
    return symbol_ok(x->derivative, s->expr->loc, "the derivative", report);
  }
  x->library_loc = s->expr->loc;
  x->library = s->expr->str;
  x->path = library_path(f, x->library);
  if (!x->path && report) diag_error(s->expr->loc, "the library's path is too long");
  return x->path != NULL;
}

static bool extern_block(const AstFile *f, const AstBlock *b, FeExtern *x, bool report) {
  *x = (FeExtern){.name = b->name, .loc = b->loc};
  bool ok = symbol_ok(b->name, b->loc, "the extern", report);
  if (ok && fe_builtin(b->name)) {
    if (report) diag_error(b->loc, "extern '%s' would hide the built-in function of that name",
                           b->name);
    ok = false;
  }
  for (const AstStmt *s = b->stmts; s; s = s->next) ok &= extern_setting(f, s, x, report);
  if (ok && !x->library) {
    if (report)
      diag_error(b->loc, "extern '%s' needs library = \"...\": the library to load", b->name);
    ok = false;
  }
  return ok;
}

const FeExtern *fe_extern_find(const FeExtern *list, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i].name, name) == 0) return &list[i];
  return NULL;
}

int fe_externs(const AstFile *f, FeExtern *out, bool report) {
  int n = 0;
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind != BLOCK_EXTERN) continue;
    const FeExtern *first = fe_extern_find(out, n, b->name);
    if (first && report) {
      diag_error(b->loc, "extern '%s' is declared twice", b->name);
      diag_note(first->loc, "the first declaration");
    }
    if (first) continue;
    if (n == FE_MAX_EXTERNS) {
      if (report) diag_error(b->loc, "too many extern declarations (at most %d)", FE_MAX_EXTERNS);
      return n;
    }
    if (extern_block(f, b, &out[n], report)) n++;
  }
  return n;
}

/* diag.c — user-facing diagnostics: "file:line:col: error: msg", then the
 * source line and a caret under the column, clang-style. Sources are registered
 * once (diag_add_source) so any later stage can quote the line a node came from.
 * Library code reports and returns; only the driver decides to exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  char *file;
  char *text;
} Source;

static Source sources[16];
static int nsources;
static int nerrors;

static char *dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  memcpy(p, s, n);
  return p;
}

const char *diag_add_source(const char *file, const char *text) {
  for (int i = 0; i < nsources; i++)
    if (strcmp(sources[i].file, file) == 0) {
      if (text) {
        free(sources[i].text);
        sources[i].text = dup(text);
      }
      return sources[i].file;
    }
  if (nsources == (int)(sizeof sources / sizeof *sources))
    return dup(file); /* no quoting, but still a location */
  sources[nsources].file = dup(file);
  sources[nsources].text = text ? dup(text) : NULL;
  return sources[nsources++].file;
}

static const char *source_text(const char *file) {
  for (int i = 0; i < nsources; i++)
    if (sources[i].file == file || strcmp(sources[i].file, file) == 0)
      return sources[i].text;
  return NULL;
}

static void quote_line(IrLoc loc) {
  const char *p = source_text(loc.file);
  if (!p || loc.line < 1) return;
  for (int l = 1; l < loc.line && *p; p++)
    if (*p == '\n') l++;
  const char *end = strchr(p, '\n');
  int len = end ? (int)(end - p) : (int)strlen(p);
  fprintf(stderr, "%.*s\n", len, p);
  for (int c = 1; c < loc.col && c <= len; c++) fputc(p[c - 1] == '\t' ? '\t' : ' ', stderr);
  fputs("^\n", stderr);
}

static void report(IrLoc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.file) fprintf(stderr, "%s:%d:%d: ", loc.file, loc.line, loc.col);
  else fputs("nnd: ", stderr);
  fprintf(stderr, "%s: ", kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  if (loc.file) quote_line(loc);
}

void diag_error(IrLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(loc, "error", fmt, ap);
  va_end(ap);
  nerrors++;
}

void diag_warning(IrLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(loc, "warning", fmt, ap);
  va_end(ap);
}

void diag_note(IrLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(loc, "note", fmt, ap);
  va_end(ap);
}

int diag_error_count(void) { return nerrors; }
void diag_reset(void) { nerrors = 0; }

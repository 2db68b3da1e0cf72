/* csv.c — numeric CSV files (optionally gzip'd): comma- or whitespace-
 * separated (decided by the first line), an optional header row naming the
 * columns, columns chosen by name, index or index range. Every number is
 * checked; an error names the file, line and column. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "runtime.h"

#define MAX_LINE (1 << 20)
#define MAX_FIELDS 4096

typedef struct {
  const FeSource *src;
  gzFile f;
  char *line;
  int lineno;
  char delim; /* ',' or ' ' (any run of blanks) */
  char *field[MAX_FIELDS];
  int nfields;
} Csv;

static bool next_line(Csv *c) {
  while (gzgets(c->f, c->line, MAX_LINE)) {
    c->lineno++;
    size_t n = strlen(c->line);
    while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r')) c->line[--n] = 0;
    const char *p = c->line;
    while (isspace((unsigned char)*p)) p++;
    if (*p) return true; /* blank lines do not count */
  }
  return false;
}

/* splits c->line in place into trimmed fields (quotes around a field are dropped) */
static void split(Csv *c) {
  char *p = c->line;
  c->nfields = 0;
  while (*p && c->nfields < MAX_FIELDS) {
    while (*p == ' ' || *p == '\t') p++;
    if (c->delim == ' ' && !*p) break;
    char *start = p;
    while (*p && (c->delim == ',' ? *p != ',' : !isspace((unsigned char)*p))) p++;
    char *end = p;
    if (*p) *p++ = 0;
    while (end > start && isspace((unsigned char)end[-1])) *--end = 0;
    if (*start == '"' && end > start + 1 && end[-1] == '"') start++, end[-1] = 0;
    c->field[c->nfields++] = start;
  }
}

/* fields of the current line, without splitting it */
static int count_fields(Csv *c) {
  char *copy = strdup(c->line), *saved = c->line;
  c->line = copy;
  split(c);
  c->line = saved;
  free(copy);
  return c->nfields;
}

/* a column spec: "name", "3", "0:30" (end excluded) or "2:" (to the last column) */
static bool column_index(Csv *c, const char *spec, char **names, int nnames, int *idx, int *n) {
  char *end;
  long a = strtol(spec, &end, 10), b;
  if (end != spec && *end == ':' && end[1] == 0) {
    for (long i = a, last = nnames ? nnames : count_fields(c); i < last && *n < MAX_FIELDS; i++) idx[(*n)++] = (int)i;
    return true;
  }
  for (int i = 0; i < nnames; i++)
    if (strcmp(names[i], spec) == 0) return idx[(*n)++] = i, true;
  if (end != spec && *end == 0 && a >= 0) return idx[(*n)++] = (int)a, true;
  if (end != spec && *end == ':' && (b = strtol(end + 1, &end, 10)) > a && *end == 0) {
    for (long i = a; i < b && *n < MAX_FIELDS; i++) idx[(*n)++] = (int)i;
    return true;
  }
  diag_error(c->src->loc, "'%s' has no column '%s'%s", c->src->path, spec,
             nnames ? " (see its header line)" : " (it has no header: use indices such as \"0:30\")");
  return false;
}

static bool read_header(Csv *c, char ***names, int *nnames) {
  for (int i = 0; i < c->src->skip; i++)
    if (!next_line(c)) return diag_error(c->src->loc, "'%s' ends within the %d lines to skip", c->src->path, c->src->skip), false;
  if (!next_line(c)) return diag_error(c->src->loc, "'%s' has no data", c->src->path), false;
  c->delim = strchr(c->line, ',') ? ',' : ' ';
  if (!c->src->header) return true;
  split(c);
  *nnames = c->nfields;
  *names = malloc(c->nfields * sizeof **names);
  for (int i = 0; i < c->nfields; i++) (*names)[i] = strdup(c->field[i]);
  return next_line(c) || (diag_error(c->src->loc, "'%s' has a header but no data", c->src->path), false);
}

static bool parse_row(Csv *c, const int *idx, int ncols, IrDType dtype, double scale, RtTensor *t, int64_t *cap) {
  split(c);
  if (t->count == *cap) t->data = realloc(t->data, (*cap *= 2) * ncols * 4);
  for (int k = 0; k < ncols; k++) {
    if (idx[k] >= c->nfields) {
      diag_error(c->src->loc, "%s:%d: the row has %d fields, column %d is missing", c->src->path, c->lineno, c->nfields, idx[k]);
      return false;
    }
    char *end;
    errno = 0;
    double v = strtod(c->field[idx[k]], &end);
    if (end == c->field[idx[k]] || *end || errno || !isfinite(v) || (dtype == IR_I32 && v != floor(v))) {
      diag_error(c->src->loc, "%s:%d: field %d is '%s', not %s", c->src->path, c->lineno, idx[k] + 1,
                 c->field[idx[k]], dtype == IR_I32 ? "an integer" : "a number");
      return false;
    }
    int64_t at = t->count * ncols + k;
    if (dtype == IR_F32) ((float *)t->data)[at] = (float)(v * scale);
    else ((int32_t *)t->data)[at] = (int32_t)v;
  }
  t->count++;
  return true;
}

bool rt_load_csv(const FeSource *src, IrDType dtype, RtTensor *out) {
  memset(out, 0, sizeof *out);
  Csv c = {.src = src, .f = gzopen(src->path, "rb")};
  if (!c.f) return diag_error(src->loc, "cannot open '%s': %s", src->path, strerror(errno ? errno : ENOENT)), false;
  c.line = malloc(MAX_LINE);
  char **names = NULL;
  int nnames = 0, idx[MAX_FIELDS], ncols = 0;
  int64_t cap = 1024;
  bool ok = read_header(&c, &names, &nnames);
  for (int i = 0; ok && i < src->ncolumns; i++) ok = column_index(&c, src->columns[i], names, nnames, idx, &ncols);
  *out = (RtTensor){.dtype = dtype, .per_item = ncols, .rank = 2, .data = malloc(cap * ncols * 4 + 4)};
  if (ok) do ok = parse_row(&c, idx, ncols, dtype, src->scale, out, &cap);
    while (ok && next_line(&c));
  out->dim[0] = out->count, out->dim[1] = ncols;
  for (int i = 0; i < nnames; i++) free(names[i]);
  free(names);
  free(c.line);
  gzclose(c.f);
  if (!ok) rt_tensor_free(out);
  return ok;
}

/* csv.c — numeric CSV files (optionally gzip'd): comma- or whitespace-
 * separated (decided by the first line), an optional header row naming the
 * columns, columns chosen by name, index or index range. Every column spec is
 * checked against the header (or, without one, the first row's fields) before
 * any row is read, and every number is checked; an error names the file, line
 * and column. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime.h"

#define MAX_LINE (1 << 20)

typedef struct {
  const PgSource *src;
  gzFile f;
  char *line;
  int64_t lineno;
  char delim;   /* ',' or ' ' (any run of blanks) */
  char **field; /* grows with the widest row */
  int nfields, cap_fields;
  bool too_long; /* a line did not fit in MAX_LINE: an error, not two rows */
} Csv;

/* the columns an input takes, in order, as field indices */
typedef struct {
  int *idx;
  int count, cap;
} Columns;

/* true if the line just read was cut at MAX_LINE (more follows on the same line) */
static bool cut_short(Csv *c, size_t n) {
  if (n < MAX_LINE - 1 || c->line[n - 1] == '\n') return false;
  int next = gzgetc(c->f);
  if (next < 0) return false;
  gzungetc(next, c->f);
  return true;
}

static bool next_line(Csv *c) {
  while (gzgets(c->f, c->line, MAX_LINE)) {
    c->lineno++;
    size_t n = strlen(c->line);
    if (cut_short(c, n)) {
      diag_error(c->src->loc, "%s:%lld: the line is longer than %d bytes", c->src->path,
                 (long long)c->lineno, MAX_LINE - 2);
      c->too_long = true;
      return false;
    }
    while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r')) c->line[--n] = 0;
    const char *p = c->line;
    while (isspace((unsigned char)*p)) p++;
    if (*p) return true; /* blank lines do not count */
  }
  return false;
}

static void add_field(Csv *c, char *start) {
  if (c->nfields == c->cap_fields) {
    c->cap_fields = c->cap_fields ? 2 * c->cap_fields : 64;
    c->field = realloc(c->field, c->cap_fields * sizeof *c->field);
  }
  c->field[c->nfields++] = start;
}

/* splits c->line in place into trimmed fields (quotes around a field are dropped) */
static void split(Csv *c) {
  char *p = c->line;
  c->nfields = 0;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (c->delim == ' ' && !*p) break;
    char *start = p;
    while (*p && (c->delim == ',' ? *p != ',' : !isspace((unsigned char)*p))) p++;
    char *end = p;
    if (*p) *p++ = 0;
    while (end > start && isspace((unsigned char)end[-1])) *--end = 0;
    if (*start == '"' && end > start + 1 && end[-1] == '"') start++, end[-1] = 0;
    add_field(c, start);
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

/* a column number: decimal digits only (no sign, no blanks). The value stops
 * growing past `limit`, so no spec can overflow; NULL if s has no digit. */
static const char *parse_index(const char *s, int64_t limit, int64_t *v) {
  if (!isdigit((unsigned char)*s)) return NULL;
  *v = 0;
  for (; isdigit((unsigned char)*s); s++)
    if (*v <= limit) *v = *v * 10 + (*s - '0');
  return s;
}

static void add_columns(Columns *cols, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; i++) {
    if (cols->count == cols->cap) {
      cols->cap = cols->cap ? 2 * cols->cap : 16;
      cols->idx = realloc(cols->idx, cols->cap * sizeof *cols->idx);
    }
    cols->idx[cols->count++] = (int)i;
  }
}

/* a column spec: "name", "3", "0:30" (end excluded) or "2:" (to the last
 * column); NULL if it is none of these, else where the text ends */
static const char *parse_spec(const char *spec, int nfields, int64_t *from, int64_t *to) {
  const char *p = parse_index(spec, nfields, from);
  if (!p) return NULL;
  *to = *from + 1;
  if (*p != ':') return p;
  *to = nfields;
  return p[1] ? parse_index(p + 1, nfields, to) : p + 1;
}

/* appends the columns of one spec, checked against the file's `nfields` */
static bool column_index(Csv *c, const char *spec, char **names, int nnames, int nfields,
                         Columns *cols) {
  int64_t from = 0, to = -1;
  for (int i = 0; i < nnames && to < 0; i++) {
    if (strcmp(names[i], spec) != 0) continue;
    from = i;
    to = i + 1;
  }
  const char *end = to < 0 ? parse_spec(spec, nfields, &from, &to) : "";
  const char *path = c->src->path;
  if (!end || *end) {
    if (nnames)
      diag_error(c->src->loc, "'%s' has no column '%s' (see its header line)", path, spec);
    else
      diag_error(c->src->loc,
                 "'%s' has no column '%s' (it has no header: use indices such as \"0:%d\")", path,
                 spec, nfields);
    return false;
  }
  if (from >= nfields || to > nfields) {
    const char *what = nnames ? "header" : "first row";
    diag_error(c->src->loc, "'%s' has no column '%s': its %s has %d field%s (indices 0 to %d)",
               path, spec, what, nfields, nfields == 1 ? "" : "s", nfields - 1);
    return false;
  }
  if (from >= to) {
    diag_error(c->src->loc, "'%s': the column range '%s' is empty", path, spec);
    return false;
  }
  add_columns(cols, from, to);
  return true;
}

static bool read_header(Csv *c, char ***names, int *nnames) {
  for (int i = 0; i < c->src->skip; i++)
    if (!next_line(c)) {
      if (!c->too_long)
        diag_error(c->src->loc, "'%s' ends within the %d lines to skip", c->src->path,
                   c->src->skip);
      return false;
    }
  if (!next_line(c)) {
    if (!c->too_long) diag_error(c->src->loc, "'%s' has no data", c->src->path);
    return false;
  }
  c->delim = strchr(c->line, ',') ? ',' : ' ';
  if (!c->src->header) return true;
  split(c);
  *nnames = c->nfields;
  *names = malloc(c->nfields * sizeof **names);
  for (int i = 0; i < c->nfields; i++) (*names)[i] = strdup(c->field[i]);
  if (next_line(c)) return true;
  if (!c->too_long) diag_error(c->src->loc, "'%s' has a header but no data", c->src->path);
  return false;
}

/* room for one more row of ncols values: never more than RT_MAX_ELEMENTS in all */
static bool grow(Csv *c, RtTensor *t, int ncols, int64_t *cap) {
  if (t->count < *cap) return true;
  int64_t most = RT_MAX_ELEMENTS / ncols, want = *cap ? 2 * *cap : 8;
  if (want > most) want = most;
  void *data = want > t->count ? realloc(t->data, want * ncols * 4) : NULL;
  if (!data) {
    diag_error(c->src->loc, "'%s' is too large: more than %lld values (at line %lld)", c->src->path,
               (long long)RT_MAX_ELEMENTS, (long long)c->lineno);
    return false;
  }
  t->data = data;
  *cap = want;
  return true;
}

/* field k of the current row as dtype, into *to; errors quote the field as written */
static bool field_value(Csv *c, int k, PgDType dtype, double scale, void *to) {
  const char *text = c->field[k];
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  const char *why = NULL;
  if (end == text || *end || errno || !isfinite(v))
    why = dtype == PG_I32 ? "not an integer" : "not a number";
  else if (dtype == PG_I32) why = rt_int32_of(v, to);
  else if (!isfinite(*(float *)to = (float)(v * scale))) why = "too large for a 32-bit float";
  if (!why) return true;
  diag_error(c->src->loc, "%s:%lld: field %d is '%.64s', %s", c->src->path, (long long)c->lineno,
             k + 1, text, why);
  return false;
}

static bool parse_row(Csv *c, const Columns *cols, PgDType dtype, double scale, RtTensor *t,
                      int64_t *cap) {
  split(c);
  if (!grow(c, t, cols->count, cap)) return false;
  for (int k = 0; k < cols->count; k++) {
    int col = cols->idx[k];
    if (col >= c->nfields) {
      diag_error(c->src->loc, "%s:%lld: the row has %d fields, column %d is missing", c->src->path,
                 (long long)c->lineno, c->nfields, col);
      return false;
    }
    int64_t at = t->count * cols->count + k;
    if (!field_value(c, col, dtype, scale, (char *)t->data + at * 4)) return false;
  }
  t->count++;
  return true;
}

/* the columns of src->columns, checked against the header or the first row */
static bool resolve_columns(Csv *c, char **names, int nnames, Columns *cols) {
  int nfields = c->src->header ? nnames : count_fields(c);
  for (int i = 0; i < c->src->ncolumns; i++)
    if (!column_index(c, c->src->columns[i], names, nnames, nfields, cols)) return false;
  if (cols->count > 0) return true;
  diag_error(c->src->loc, "'%s': no columns are selected", c->src->path);
  return false;
}

static bool read_rows(Csv *c, const Columns *cols, PgDType dtype, RtTensor *out) {
  int64_t cap = 0;
  bool ok;
  do ok = parse_row(c, cols, dtype, c->src->scale, out, &cap);
  while (ok && next_line(c));
  if (ok && c->too_long) return false;
  int zerr;
  const char *zmsg = gzerror(c->f, &zerr);
  if (ok && zerr != Z_OK && zerr != Z_STREAM_END) {
    diag_error(c->src->loc, "'%s': %s", c->src->path, zmsg);
    return false;
  }
  return ok;
}

bool rt_load_csv(const PgSource *src, PgDType dtype, RtTensor *out) {
  memset(out, 0, sizeof *out);
  int fd = rt_open_regular(src->path, src->loc, NULL);
  if (fd < 0) return false;
  Csv c = {.src = src, .f = gzdopen(fd, "rb")};
  if (!c.f) {
    diag_error(src->loc, "cannot open '%s': %s", src->path, strerror(errno ? errno : ENOMEM));
    close(fd);
    return false;
  }
  c.line = malloc(MAX_LINE);
  char **names = NULL;
  int nnames = 0;
  Columns cols = {0};
  bool ok = read_header(&c, &names, &nnames) && resolve_columns(&c, names, nnames, &cols);
  *out = (RtTensor){.dtype = dtype, .per_item = cols.count, .rank = 2};
  ok = ok && read_rows(&c, &cols, dtype, out);
  out->dim[0] = out->count;
  out->dim[1] = cols.count;
  for (int i = 0; i < nnames; i++) free(names[i]);
  free(names);
  free(cols.idx);
  free(c.field);
  free(c.line);
  gzclose(c.f);
  if (!ok) rt_tensor_free(out);
  return ok;
}

bool rt_csv_has_header(const char *path) {
  gzFile f = gzopen(path, "rb");
  char first[256];
  bool named = false;
  if (f && gzgets(f, first, sizeof first)) {
    const char *p = first;
    while (*p == ' ' || *p == '\t') p++;
    named = *p && !isdigit((unsigned char)*p) && !strchr("+-.\r\n", *p);
  }
  if (f) gzclose(f);
  return named;
}

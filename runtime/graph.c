/* graph.c — the graph() source: one graph from an edge list and a node table,
 * as a single example (the whole graph is one batch).
 *
 *   NAME.edges  one directed edge per line, `src dst` or `src dst weight`
 *               (blank lines and lines starting with '#' skipped); ids are
 *               0-based node rows
 *   NAME.nodes  CSV: a header `label,split,f0,...`, then one row per node in
 *               id order: an integer label (-1: unknown), the node's split
 *               (train, val, test or -) and its F features
 *
 * Fields: edges i32 [2, E] (the sources, then the destinations), weights f32
 * [E] (1 where a line has none), features f32 [N, F], labels i32 [N] (the
 * label of the nodes in split=, -1 elsewhere: a loss with ignore_index=-1
 * leaves the others out), mask f32 [N] (1 in the split, else 0). Every id is
 * checked against the node count and every number against its range, with
 * the file and line in the error. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define MAX_FEATURES (1 << 20)

typedef struct {
  const PgSource *src;
  const char *path;
  char *text, *at; /* the file, and the next line */
  int64_t line;
} Lines;

/* the next line that is not blank or a comment, NUL-terminated; NULL at the end */
static char *next_line(Lines *l) {
  while (l->at && *l->at) {
    char *s = l->at, *end = strchr(s, '\n');
    l->at = end ? end + 1 : NULL;
    if (end) *end = 0;
    l->line++;
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[--n] = 0;
    s += strspn(s, " \t");
    if (*s && *s != '#') return s;
  }
  return NULL;
}

static bool bad(const Lines *l, const char *what) {
  diag_error(l->src->loc, "%s:%lld: %s", l->path, (long long)l->line, what);
  return false;
}

/* an integer in [lo, hi] at *p, which moves past it */
static bool integer(Lines *l, char **p, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(*p, &end, 10);
  if (end == *p || errno || v < lo || v > hi) return false;
  *p = end;
  *out = v;
  return true;
}

static bool real(char **p, float *out) {
  char *end;
  double v = strtod(*p, &end);
  if (end == *p || !isfinite(v) || fabs(v) > 3.4e38) return false;
  *p = end;
  *out = (float)v;
  return true;
}

static bool open_lines(Lines *l, const PgSource *s, const char *path) {
  int64_t len;
  *l = (Lines){s, path, NULL, NULL, 0};
  if (!rt_read_file(path, s->loc, &l->text, &len)) return false;
  if (memchr(l->text, 0, (size_t)len)) {
    free(l->text);
    return diag_error(s->loc, "'%s' is not a text file (it holds a NUL byte)", path), false;
  }
  l->at = l->text;
  return true;
}

/* ---- the node table ---- */

typedef struct {
  int64_t nodes, features;
  int32_t *label;
  char *split; /* per node: 't'rain, 'v'al, 'e' test, '-' none */
  float *x;    /* [nodes, features] */
} NodeTable;

static bool header(Lines *l, NodeTable *t) {
  char *h = next_line(l);
  if (!h || strncmp(h, "label,split", 11) != 0)
    return bad(l, "a node table starts with the header `label,split,f0,...`");
  int64_t commas = 0;
  for (char *p = h; *p; p++) commas += *p == ',';
  t->features = commas - 1;
  if (t->features > MAX_FEATURES) return bad(l, "more than 2^20 features");
  return true;
}

static char split_code(const char *word, size_t n) {
  static const char *const names[] = {"train", "val", "test", "-"};
  static const char codes[] = "tve-";
  for (int i = 0; i < 4; i++)
    if (strlen(names[i]) == n && !strncmp(word, names[i], n)) return codes[i];
  return 0;
}

/* room for `need` rows in each of n arrays (a row of array i is each[i]
 * bytes), which hold *cap rows */
static bool reserve(void **arrays[], const size_t *each, int n, int64_t *cap, int64_t need) {
  if (need <= *cap) return true;
  int64_t rows = *cap ? *cap * 2 : 64;
  for (int i = 0; i < n; i++) {
    void *q = realloc(*arrays[i], (size_t)rows * (each[i] ? each[i] : 1));
    if (!q) return false;
    *arrays[i] = q;
  }
  *cap = rows;
  return true;
}

static bool node_row(Lines *l, char *p, NodeTable *t, int64_t *cap) {
  long long label;
  int64_t i = t->nodes;
  void **arrays[] = {(void **)&t->label, (void **)&t->split, (void **)&t->x};
  size_t each[] = {sizeof *t->label, 1, (size_t)t->features * sizeof *t->x};
  if (i >= RT_MAX_ELEMENTS / (t->features + 1)) return bad(l, "too many nodes");
  if (!reserve(arrays, each, 3, cap, i + 1)) return bad(l, "out of memory");
  if (!integer(l, &p, -1, INT32_MAX, &label) || *p != ',')
    return bad(l, "the label is an integer >= -1");
  char *word = ++p, *end = strchr(p, ',');
  size_t n = end ? (size_t)(end - word) : strlen(word);
  if (!(t->split[i] = split_code(word, n))) return bad(l, "the split is train, val, test or -");
  p = word + n;
  for (int64_t f = 0; f < t->features; f++) {
    if (*p++ != ',' || !real(&p, &t->x[i * t->features + f]))
      return bad(l, "expected a finite number for each feature of the header");
  }
  p += strspn(p, " \t");
  if (*p) return bad(l, "more fields than the header names");
  t->label[i] = (int32_t)label;
  t->nodes++;
  return true;
}

static void free_nodes(NodeTable *t) {
  free(t->label), free(t->split), free(t->x);
}

static bool read_nodes(const PgSource *s, NodeTable *t) {
  Lines l;
  int64_t cap = 0;
  *t = (NodeTable){0};
  if (!open_lines(&l, s, s->paths[1])) return false;
  bool ok = header(&l, t);
  for (char *p; ok && (p = next_line(&l));) ok = node_row(&l, p, t, &cap);
  if (ok && !t->nodes) ok = bad(&l, "the node table has no rows");
  free(l.text);
  if (!ok) free_nodes(t);
  return ok;
}

/* ---- the edge list ---- */

typedef struct {
  int64_t count;
  int32_t *src, *dst;
  float *weight;
} EdgeList;

static bool edge_line(Lines *l, char *p, int64_t nodes, EdgeList *e, int64_t *cap) {
  long long a, b;
  float w = 1;
  int64_t i = e->count;
  void **arrays[] = {(void **)&e->src, (void **)&e->dst, (void **)&e->weight};
  size_t each[] = {sizeof *e->src, sizeof *e->dst, sizeof *e->weight};
  if (i >= RT_MAX_ELEMENTS / 2) return bad(l, "too many edges");
  if (!reserve(arrays, each, 3, cap, i + 1)) return bad(l, "out of memory");
  if (!integer(l, &p, 0, nodes - 1, &a) || !integer(l, &p, 0, nodes - 1, &b)) {
    char what[96];
    snprintf(what, sizeof what, "expected `src dst [weight]` with ids in [0, %lld)",
             (long long)nodes);
    return bad(l, what);
  }
  p += strspn(p, " \t");
  if (*p && !real(&p, &w)) return bad(l, "the weight is a finite number");
  p += strspn(p, " \t");
  if (*p) return bad(l, "more than `src dst weight` on the line");
  e->src[i] = (int32_t)a, e->dst[i] = (int32_t)b, e->weight[i] = w;
  e->count++;
  return true;
}

static bool read_edges(const PgSource *s, int64_t nodes, EdgeList *e) {
  Lines l;
  int64_t cap = 0;
  *e = (EdgeList){0};
  if (!open_lines(&l, s, s->paths[0])) return false;
  bool ok = true;
  for (char *p; ok && (p = next_line(&l));) ok = edge_line(&l, p, nodes, e, &cap);
  if (ok && !e->count) ok = bad(&l, "the edge list has no edges");
  free(l.text);
  return ok;
}

/* ---- fields ---- */

static bool wants(const PgSource *s, PgDType have, PgDType want) {
  if (have == want) return true;
  diag_error(s->loc, "graph() field %s is %s: the input must be %s", s->field,
             want == PG_I32 ? "i32" : "f32", want == PG_I32 ? "i32" : "f32");
  return false;
}

static void *node_field(const PgSource *s, const NodeTable *t, int64_t *n) {
  char want = s->split ? split_code(s->split, strlen(s->split)) : 0;
  bool labels = !strcmp(s->field, "labels");
  *n = !strcmp(s->field, "features") ? t->nodes * t->features : t->nodes;
  void *out = malloc((size_t)(*n ? *n : 1) * 4);
  if (!out) return NULL;
  if (!strcmp(s->field, "features")) memcpy(out, t->x, (size_t)*n * 4);
  for (int64_t i = 0; labels && i < t->nodes; i++)
    ((int32_t *)out)[i] = t->split[i] == want ? t->label[i] : -1;
  for (int64_t i = 0; !strcmp(s->field, "mask") && i < t->nodes; i++)
    ((float *)out)[i] = t->split[i] == want ? (float)s->scale : 0;
  return out;
}

bool rt_load_graph(const PgSource *s, PgDType dtype, RtTensor *out) {
  NodeTable t;
  EdgeList e = {0};
  bool edges = !strcmp(s->field, "edges"), weights = !strcmp(s->field, "weights");
  bool labels = !strcmp(s->field, "labels");
  if (!wants(s, dtype, edges || labels ? PG_I32 : PG_F32) || !read_nodes(s, &t)) return false;
  bool ok = !(edges || weights) || read_edges(s, t.nodes, &e);
  int64_t n = 0;
  void *data = NULL;
  if (ok && edges && (data = malloc((size_t)e.count * 2 * sizeof(int32_t)))) {
    memcpy(data, e.src, (size_t)e.count * sizeof(int32_t));
    memcpy((int32_t *)data + e.count, e.dst, (size_t)e.count * sizeof(int32_t));
    n = 2 * e.count;
  } else if (ok && weights && (data = malloc((size_t)e.count * sizeof(float)))) {
    for (int64_t i = 0; i < e.count; i++) ((float *)data)[i] = e.weight[i] * (float)s->scale;
    n = e.count;
  } else if (ok && !edges && !weights) {
    data = node_field(s, &t, &n);
  }
  if (ok && !data) ok = (diag_error(s->loc, "out of memory reading the graph"), false);
  if (ok && !strcmp(s->field, "features"))
    for (int64_t i = 0; i < n; i++) ((float *)data)[i] *= (float)s->scale;
  free_nodes(&t);
  free(e.src), free(e.dst), free(e.weight);
  if (!ok) return false;
  *out = (RtTensor){.dtype = dtype, .count = 1, .per_item = n, .rank = 2, .dim = {1, n},
                    .data = data};
  return true;
}

/* dot.c — a graph as Graphviz, drawn to be read.
 *
 * Constants, batch_size and scalar inputs and parameters get no node: each
 * user writes them into its label (`mul(%7, 1.25)`). A computed scalar that
 * many ops read (an optimizer's bias correction, 1/B) keeps its node but no
 * edges: its users name it. A small graph shows every op, after fusion each
 * kernel as a cluster; a larger one (more than IR_DOT_MAX_OPS nodes drawn) is
 * summarised unless the caller asks for every op: one box per kernel after
 * fusion (up to IR_DOT_MAX_KERNELS kernels: dot's layout time grows fast with
 * the long edges of a training step), one box per layer otherwise, with one
 * edge wherever a box reads a value of another.
 *
 * A layer is the ops of one source location (a layer's ops all carry its
 * call's file:line:col). The instances of a block and a layer's backward ops
 * share that location, so an op whose operands include a box made after the
 * location's current box opens a new box: every edge then goes from an older
 * box to a newer one, and the summary is acyclic, as the graph is. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define SHARED_USERS 3 /* a computed scalar read by this many ops is named, not drawn to */
#define MAX_OPERANDS 120 /* characters of operands in one op's label */
#define MAX_KINDS 4    /* op names in a box's label */
#define MAX_NAMED 4    /* shared scalars, lines, parameters named in a box's label */

typedef struct {
  char s[640];
  size_t n;
} Text;

typedef struct {
  const IrGraph *g;
  bool *inside;  /* drawn inside its users */
  bool *shared;  /* a computed scalar its users name */
  bool *forward; /* an output depends on it: not a gradient or an update */
  int *box;      /* summary: the box of each node, -1 for none */
  int *member, *first; /* the nodes of box b: member[first[b] .. first[b+1]) */
  int *seen;           /* b + 1 where box b's label names the node already */
  int nboxes;
  bool kernels; /* boxes are kernels (else layers) */
} Dot;

static void put(Text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = sizeof t->s - t->n;
  int w = vsnprintf(t->s + t->n, room, fmt, ap);
  va_end(ap);
  if (w > 0) t->n += (size_t)w < room ? (size_t)w : room - 1;
}

/* a label's text in Graphviz's quotes: newlines as \n, other controls as spaces */
static void label_string(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '\n') fputs("\\n", out);
    else if ((unsigned char)*s < ' ') fputc(' ', out);
    else {
      if (*s == '"' || *s == '\\') fputc('\\', out);
      fputc(*s, out);
    }
  }
}

static void put_type(Text *t, const IrNode *n) {
  char shape[96];
  pg_shape_str(&n->shape, shape, sizeof shape);
  put(t, "%s%s", pg_dtype_name(n->dtype), shape);
}

static bool is_scalar(const PgShape *s) {
  for (int i = 0; i < s->rank; i++)
    if (s->dim[i] != 1) return false;
  return true;
}

static bool drawn_inside(const IrNode *n) {
  if (ir_op_flags(n->op) & (IR_INLINE | IR_CONSTANT)) return true;
  return (n->op == IR_OP_INPUT || n->op == IR_OP_PARAM) && is_scalar(&n->shape);
}

/* how an operand reads in its user's label: a constant's value, a scalar
 * leaf's name, or %id */
static void put_operand(Text *t, const Dot *d, int v) {
  const IrNode *n = &d->g->nodes[v];
  char shape[96];
  pg_shape_str(&n->shape, shape, sizeof shape);
  if (!d->inside[v]) put(t, "%%%d", v);
  else if (n->op == IR_OP_CONST) put(t, "%g", n->value);
  else if (n->op == IR_OP_BATCH_SIZE) put(t, "B");
  else if (n->op == IR_OP_IOTA || n->op == IR_OP_DATA) put(t, "%s%s", ir_op_name(n->op), shape);
  else put(t, "%s", n->name ? n->name : ir_op_name(n->op));
}

/* ---- which nodes are drawn how ---- */

/* the distinct users of each node */
static void count_users(const IrGraph *g, int *users) {
  for (int i = 0; i < g->count; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) {
      bool again = false;
      for (int j = 0; j < k; j++) again |= g->nodes[i].in[j] == g->nodes[i].in[k];
      if (!again) users[g->nodes[i].in[k]]++;
    }
}

static bool classify(Dot *d) {
  const IrGraph *g = d->g;
  int *users = pg_calloc((size_t)g->count + 1, sizeof *users);
  if (!users) return false;
  count_users(g, users);
  for (int i = g->count - 1; i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    d->inside[i] = drawn_inside(n);
    d->shared[i] = !d->inside[i] && is_scalar(&n->shape) && users[i] >= SHARED_USERS;
    d->forward[i] |= n->op == IR_OP_OUTPUT;
    for (int k = 0; d->forward[i] && k < n->nin; k++) d->forward[n->in[k]] = true;
  }
  free(users);
  return true;
}

static int drawn_count(const Dot *d) {
  int n = 0;
  for (int i = 0; i < d->g->count; i++) n += !d->inside[i];
  return n;
}

/* ---- every op ---- */

static void put_operands(Text *t, const Dot *d, const IrNode *n) {
  size_t start = t->n;
  put(t, "(");
  for (int k = 0; k < n->nin; k++) {
    if (t->n - start > MAX_OPERANDS) {
      put(t, ", ...");
      break;
    }
    put(t, k ? ", " : "");
    put_operand(t, d, n->in[k]);
  }
  put(t, ")");
}

static void print_op(FILE *out, const Dot *d, int id) {
  const IrNode *n = &d->g->nodes[id];
  Text t = {.n = 0};
  put(&t, "%%%d %s", id, ir_op_name(n->op));
  if (n->body) put(&t, " @%s", n->body->name ? n->body->name : "body");
  if (n->name) put(&t, " \"%s\"", n->name);
  if (n->nin) put_operands(&t, d, n);
  put(&t, "\n");
  put_type(&t, n);
  if (d->shared[id]) put(&t, "\nread by name");
  fprintf(out, "    n%d [label=\"", id);
  label_string(out, t.s);
  const char *style = ir_op_kind(n->op) == IR_KIND_LEAF ? ", shape=ellipse" : "";
  fprintf(out, "\"%s%s];\n", style, d->shared[id] ? ", style=dashed" : "");
}

/* an edge from operand k of node i, unless the label names it or it repeats */
static bool draws_edge(const Dot *d, int i, int k) {
  const IrNode *n = &d->g->nodes[i];
  int v = n->in[k];
  for (int j = 0; j < k; j++)
    if (n->in[j] == v) return false;
  return !d->inside[v] && !d->shared[v];
}

static bool list_members(Dot *d);

/* every op: each kernel's as a cluster (listed by kernel, in one pass), then the rest */
static bool print_ops(FILE *out, Dot *d) {
  const IrGraph *g = d->g;
  for (int i = 0; i < g->count; i++) {
    bool clustered = g->nodes[i].group >= 0 && g->nodes[i].group < g->nkernels;
    d->box[i] = clustered && !d->inside[i] ? g->nodes[i].group : -1;
  }
  d->nboxes = g->nkernels;
  if (!list_members(d)) return false;
  for (int k = 0; k < g->nkernels; k++) {
    fprintf(out, "  subgraph cluster_k%d {\n    label=\"kernel %d\"; style=rounded; color=blue;\n",
            k, k);
    for (int m = d->first[k]; m < d->first[k + 1]; m++) print_op(out, d, d->member[m]);
    fputs("  }\n", out);
  }
  for (int i = 0; i < g->count; i++)
    if (d->box[i] < 0 && !d->inside[i]) print_op(out, d, i);
  for (int i = 0; i < g->count; i++)
    for (int k = 0; !d->inside[i] && k < g->nodes[i].nin; k++)
      if (draws_edge(d, i, k)) fprintf(out, "  n%d -> n%d;\n", g->nodes[i].in[k], i);
  return true;
}

/* ---- boxes ---- */

/* a source location's current box, in an open-addressing table */
typedef struct {
  PgLoc loc;
  int box; /* -1: an empty slot */
} Slot;

static bool same_loc(PgLoc a, PgLoc b) {
  if (a.line != b.line || a.col != b.col) return false;
  return a.file == b.file || (a.file && b.file && strcmp(a.file, b.file) == 0);
}

static Slot *slot_of(Slot *table, size_t cap, PgLoc loc) {
  size_t h = ((size_t)loc.line * 40503u + (size_t)loc.col) & (cap - 1);
  while (table[h].box >= 0 && !same_loc(table[h].loc, loc)) h = (h + 1) & (cap - 1);
  table[h].loc = loc;
  return &table[h];
}

static Slot *new_table(int count, size_t *cap) {
  *cap = 16;
  while (*cap < 2 * (size_t)count + 2) *cap *= 2;
  Slot *t = pg_malloc(*cap * sizeof *t);
  for (size_t i = 0; t && i < *cap; i++) t[i].box = -1;
  return t;
}

/* the newest box among the operands of node i */
static int newest_operand(const Dot *d, int i) {
  const IrNode *n = &d->g->nodes[i];
  int newest = -1;
  for (int k = 0; k < n->nin; k++)
    if (d->box[n->in[k]] > newest) newest = d->box[n->in[k]];
  return newest;
}

/* a parameter joins the box of its first user if that has its location, or
 * is a box of its own: placed then, before its other users choose theirs, it
 * keeps every edge from an older box to a newer one */
static void place_params(Dot *d, int user) {
  const IrNode *n = &d->g->nodes[user];
  for (int k = 0; k < n->nin; k++) {
    int v = n->in[k];
    if (d->g->nodes[v].op != IR_OP_PARAM || d->inside[v] || d->box[v] >= 0) continue;
    bool here = n->loc.line > 0 && same_loc(d->g->nodes[v].loc, n->loc);
    d->box[v] = here ? d->box[user] : d->nboxes++;
  }
}

/* one box per location, reopened where an op reads a newer box; an op
 * without a location is a box of its own */
static bool layer_boxes(Dot *d) {
  const IrGraph *g = d->g;
  size_t cap;
  Slot *table = new_table(g->count, &cap);
  if (!table) return false;
  for (int i = 0; i < g->count; i++) {
    PgLoc loc = g->nodes[i].loc;
    if (d->inside[i] || g->nodes[i].op == IR_OP_PARAM) continue;
    if (loc.line <= 0) {
      d->box[i] = d->nboxes++;
    } else {
      Slot *s = slot_of(table, cap, loc);
      if (s->box < 0 || newest_operand(d, i) > s->box) s->box = d->nboxes++;
      d->box[i] = s->box;
    }
    place_params(d, i);
  }
  for (int i = 0; i < g->count; i++) /* parameters nothing reads */
    if (!d->inside[i] && d->box[i] < 0) d->box[i] = d->nboxes++;
  free(table);
  return true;
}

/* after fusion: a box per kernel, then one per input and one per location of
 * parameters; a view is in the box of what it views */
static bool kernel_boxes(Dot *d) {
  const IrGraph *g = d->g;
  size_t cap;
  Slot *table = new_table(g->count, &cap);
  if (!table) return false;
  d->nboxes = g->nkernels;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    if (d->inside[i]) continue;
    if (n->group >= 0 && n->group < g->nkernels) {
      d->box[i] = n->group;
    } else if (n->op == IR_OP_PARAM) {
      Slot *s = slot_of(table, cap, n->loc);
      if (s->box < 0) s->box = d->nboxes++;
      d->box[i] = s->box;
    } else if (n->nin && d->box[n->in[0]] >= 0) {
      d->box[i] = d->box[n->in[0]];
    } else {
      d->box[i] = d->nboxes++;
    }
  }
  free(table);
  return true;
}

/* member lists by box, in node order (a counting sort) */
static bool list_members(Dot *d) {
  const IrGraph *g = d->g;
  d->first = pg_calloc((size_t)d->nboxes + 2, sizeof *d->first);
  d->member = pg_malloc(((size_t)g->count + 1) * sizeof *d->member);
  if (!d->first || !d->member) return false;
  for (int i = 0; i < g->count; i++)
    if (d->box[i] >= 0) d->first[d->box[i] + 2]++;
  for (int b = 0; b < d->nboxes; b++) d->first[b + 2] += d->first[b + 1];
  for (int i = 0; i < g->count; i++)
    if (d->box[i] >= 0) d->member[d->first[d->box[i] + 1]++] = i;
  return true;
}

/* a parameter's layer: its name without the last part (a weight's) or the
 * last two (an optimizer state's: "dense_1.kernel.adam_m") */
static size_t layer_stem(const IrNode *n) {
  size_t len = strlen(n->name);
  for (int drop = n->role == PG_ROLE_OPTSTATE ? 2 : 1; drop > 0 && len > 0; drop--) {
    size_t dot = len;
    while (dot > 0 && n->name[dot - 1] != '.') dot--;
    if (dot == 0) break;
    len = dot - 1;
  }
  return len;
}

/* the common prefix of the layers of the box's parameters */
static bool layer_name(const Dot *d, int b, char *name, size_t cap) {
  size_t len = 0;
  bool any = false;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) {
    const IrNode *n = &d->g->nodes[d->member[m]];
    if (n->op != IR_OP_PARAM || !n->name) continue;
    size_t stem = layer_stem(n), same = 0;
    if (!any) {
      len = stem < cap ? stem : cap - 1;
      memcpy(name, n->name, len);
    }
    while (same < len && same < stem && name[same] == n->name[same]) same++;
    len = same;
    any = true;
  }
  while (len > 0 && name[len - 1] == '.') len--;
  name[len] = 0;
  return len > 0;
}

/* "5 ops: 2 matmul, 2 add, ...": the most frequent ops of the box; its
 * parameters counted apart */
static void put_kinds(Text *t, const Dot *d, int b) {
  int count[IR_OP_COUNT] = {0}, total = 0, leaves = 0;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) {
    IrOp op = d->g->nodes[d->member[m]].op;
    bool leaf = ir_op_kind(op) == IR_KIND_LEAF;
    leaves += op == IR_OP_PARAM;
    total += !leaf;
    count[op] += !leaf;
  }
  put(t, "%d op%s:", total, total == 1 ? "" : "s");
  for (int shown = 0; shown < MAX_KINDS; shown++) {
    int best = -1;
    for (int op = 0; op < IR_OP_COUNT; op++)
      if (count[op] && (best < 0 || count[op] > count[best])) best = op;
    if (best < 0) break;
    put(t, "%s %d %s", shown ? "," : "", count[best], ir_op_name((IrOp)best));
    count[best] = 0;
  }
  bool more = false;
  for (int op = 0; op < IR_OP_COUNT; op++) more |= count[op] > 0;
  if (more) put(t, ", ...");
  if (leaves) put(t, "\n%d parameter%s", leaves, leaves == 1 ? "" : "s");
}

/* one shared scalar in a box's label ("reads %64, %80"), MAX_NAMED at most */
static void name_scalar(Text *t, const char *what, int v, int *named) {
  if (*named == 0) put(t, "\n%s %%%d", what, v);
  else if (*named < MAX_NAMED) put(t, ", %%%d", v);
  else if (*named == MAX_NAMED) put(t, ", ...");
  ++*named;
}

/* the shared scalars of other boxes that box b reads, and its own that others read */
static void put_shared(Text *t, Dot *d, int b) {
  const IrGraph *g = d->g;
  int named = 0;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) {
    const IrNode *n = &g->nodes[d->member[m]];
    for (int k = 0; k < n->nin; k++) {
      int v = n->in[k];
      if (!d->shared[v] || d->box[v] == b || d->seen[v] == b + 1) continue;
      d->seen[v] = b + 1;
      name_scalar(t, "reads", v, &named);
    }
  }
  named = 0;
  for (int m = d->first[b]; m < d->first[b + 1]; m++)
    if (d->shared[d->member[m]]) name_scalar(t, "shares", d->member[m], &named);
}

/* the distinct source lines of the box's ops */
static void put_lines(Text *t, const Dot *d, int b) {
  int lines[MAX_NAMED], n = 0;
  bool more = false;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) {
    int line = d->g->nodes[d->member[m]].loc.line, seen = 0;
    for (int k = 0; k < n; k++) seen |= lines[k] == line;
    if (seen || line <= 0) continue;
    if (n < MAX_NAMED) lines[n++] = line;
    else more = true;
  }
  for (int k = 0; k < n; k++) put(t, "%s%d", k ? ", " : "\nline ", lines[k]);
  if (more) put(t, ", ...");
}

/* the kernels that run the ops of a layer's box */
static void put_kernels(Text *t, const Dot *d, int b) {
  int named = 0, lo = -1, hi = -1;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) {
    int k = d->g->nodes[d->member[m]].group;
    if (k < 0) continue;
    lo = lo < 0 || k < lo ? k : lo;
    hi = k > hi ? k : hi;
    named++;
  }
  if (named == 0) return;
  if (lo == hi) put(t, "\nkernel %d", lo);
  else put(t, "\nkernels %d to %d", lo, hi);
}

static bool all_leaves(const Dot *d, int b) {
  for (int m = d->first[b]; m < d->first[b + 1]; m++)
    if (ir_op_kind(d->g->nodes[d->member[m]].op) != IR_KIND_LEAF) return false;
  return true;
}

static void put_title(Text *t, const Dot *d, int b, bool leaves) {
  const IrNode *n = &d->g->nodes[d->member[d->first[b]]];
  char name[128];
  bool named = layer_name(d, b, name, sizeof name);
  bool kernel = d->kernels && b < d->g->nkernels;
  if (kernel) put(t, "kernel %d", b);
  else if (named) put(t, "%s", name);
  else if (n->name) put(t, "%s \"%s\"", ir_op_name(n->op), n->name);
  else put(t, "%s", ir_op_name(n->op));
  if (kernel && named) put(t, " (%s)", name);
  if (!kernel && !leaves && n->loc.line > 0) put(t, "  %d:%d", n->loc.line, n->loc.col);
}

static void print_box(FILE *out, Dot *d, int b) {
  int size = d->first[b + 1] - d->first[b];
  const IrNode *last = &d->g->nodes[d->member[d->first[b + 1] - 1]];
  for (int m = d->first[b + 1] - 1; m > d->first[b]; m--) { /* the last value, not an effect */
    last = &d->g->nodes[d->member[m]];
    if (!(ir_op_flags(last->op) & IR_SIDE_EFFECT)) break;
  }
  bool leaves = all_leaves(d, b), forward = false, outputs = true;
  for (int m = d->first[b]; m < d->first[b + 1]; m++) { /* an output is where it is read */
    bool output = d->g->nodes[d->member[m]].op == IR_OP_OUTPUT;
    forward |= d->forward[d->member[m]] && !output;
    outputs &= output;
  }
  forward |= outputs;
  Text t = {.n = 0};
  put_title(&t, d, b, leaves);
  put(&t, "\n");
  if (leaves && size > 1) {
    put(&t, "%d parameters", size);
  } else if (size > 1) {
    put_kinds(&t, d, b);
    put(&t, "\n-> ");
  }
  if (!leaves || size == 1) put_type(&t, last);
  put_shared(&t, d, b);
  if (d->kernels && b < d->g->nkernels) put_lines(&t, d, b);
  else if (d->g->nkernels > 0 && !leaves) put_kernels(&t, d, b);
  fprintf(out, "  b%d [label=\"", b);
  label_string(out, t.s);
  const char *fill = forward ? "#e8f0fe" : "#fdebd0";
  if (leaves) fputs("\", shape=ellipse];\n", out);
  else fprintf(out, "\", style=\"rounded,filled\", fillcolor=\"%s\"];\n", fill);
}

static int by_pair(const void *x, const void *y) {
  const int *a = x, *b = y;
  return a[0] != b[0] ? a[0] - b[0] : a[1] - b[1];
}

/* one edge per pair of boxes where one reads a value of the other */
static bool print_box_edges(FILE *out, const Dot *d) {
  const IrGraph *g = d->g;
  size_t n = 0, operands = 0;
  for (int i = 0; i < g->count; i++) operands += (size_t)g->nodes[i].nin;
  int *pairs = pg_malloc((operands + 1) * 2 * sizeof *pairs);
  if (!pairs) return false;
  for (int i = 0; i < g->count; i++)
    for (int k = 0; !d->inside[i] && k < g->nodes[i].nin; k++) {
      int from = d->box[g->nodes[i].in[k]], to = d->box[i];
      if (!draws_edge(d, i, k) || from == to) continue;
      pairs[2 * n] = from;
      pairs[2 * n + 1] = to;
      n++;
    }
  qsort(pairs, n, 2 * sizeof *pairs, by_pair);
  for (size_t e = 0; e < n; e++)
    if (e == 0 || by_pair(&pairs[2 * e], &pairs[2 * e - 2]) != 0)
      fprintf(out, "  b%d -> b%d;\n", pairs[2 * e], pairs[2 * e + 1]);
  free(pairs);
  return true;
}

static bool print_summary(FILE *out, Dot *d) {
  const IrGraph *g = d->g;
  for (int i = 0; i < g->count; i++) d->box[i] = -1;
  bool kernels = d->kernels;
  if (!(kernels ? kernel_boxes(d) : layer_boxes(d)) || !list_members(d)) return false;
  fprintf(out, "  label=\"%s: %d ops, one box per %s (nnd dump --detail=ops: every op)\";\n",
          g->name ? g->name : "graph", drawn_count(d), kernels ? "kernel" : "layer");
  fputs("  labelloc=t;\n", out);
  for (int b = 0; b < d->nboxes; b++)
    if (d->first[b + 1] > d->first[b]) print_box(out, d, b);
  return print_box_edges(out, d);
}

static bool dot_alloc(Dot *d, const IrGraph *g) {
  size_t n = (size_t)g->count + 1;
  *d = (Dot){.g = g};
  d->inside = pg_calloc(n, sizeof(bool));
  d->shared = pg_calloc(n, sizeof(bool));
  d->forward = pg_calloc(n, sizeof(bool));
  d->box = pg_malloc(n * sizeof(int));
  d->seen = pg_calloc(n, sizeof(int));
  return d->inside && d->shared && d->forward && d->box && d->seen;
}

static void dot_free(Dot *d) {
  free(d->inside);
  free(d->shared);
  free(d->forward);
  free(d->box);
  free(d->seen);
  free(d->member);
  free(d->first);
}

bool ir_print_dot(FILE *out, const IrGraph *g, IrDotDetail detail) {
  Dot d;
  bool ok = dot_alloc(&d, g) && classify(&d);
  fprintf(out, "digraph \"%s\" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n",
          g->name ? g->name : "graph");
  bool small = ok && drawn_count(&d) <= IR_DOT_MAX_OPS;
  bool all = detail == IR_DOT_OPS || (detail == IR_DOT_AUTO && small);
  bool few = g->nkernels <= IR_DOT_MAX_KERNELS;
  d.kernels = g->nkernels > 0 && (detail == IR_DOT_KERNELS || (detail == IR_DOT_AUTO && few));
  if (ok && all) ok = print_ops(out, &d);
  else if (ok) ok = print_summary(out, &d);
  fputs("}\n", out);
  dot_free(&d);
  return ok;
}

/* dot.c — a graph as Graphviz: one box per node (op, payload, type), one edge
 * per operand, and after fusion each kernel as a cluster, so `dot -Tsvg`
 * shows what runs in one loop. Leaves are ellipses. */
#include "ir.h"

static void label_string(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
}

static void print_node(FILE *out, const IrNode *n, int id) {
  char shape[96];
  pg_shape_str(&n->shape, shape, sizeof shape);
  fprintf(out, "    n%d [label=\"%%%d %s", id, id, ir_op_name(n->op));
  if (n->name) {
    fputs(" \\\"", out);
    label_string(out, n->name);
    fputs("\\\"", out);
  }
  if (n->op == IR_OP_CONST) fprintf(out, " %g", n->value);
  fprintf(out, "\\n%s%s\"%s];\n", pg_dtype_name(n->dtype), shape,
          ir_op_kind(n->op) == IR_KIND_LEAF ? ", shape=ellipse" : "");
}

void ir_print_dot(FILE *out, const IrGraph *g) {
  fprintf(out, "digraph \"%s\" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", g->name);
  for (int k = 0; k < g->nkernels; k++) {
    fprintf(out, "  subgraph cluster_k%d {\n    label=\"kernel %d\"; style=rounded; color=blue;\n", k, k);
    for (int i = 0; i < g->count; i++)
      if (g->nodes[i].group == k) print_node(out, &g->nodes[i], i);
    fputs("  }\n", out);
  }
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].group < 0 || g->nodes[i].group >= g->nkernels) print_node(out, &g->nodes[i], i);
  for (int i = 0; i < g->count; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) fprintf(out, "  n%d -> n%d;\n", g->nodes[i].in[k], i);
  fputs("}\n", out);
}

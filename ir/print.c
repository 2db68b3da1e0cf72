/* print.c — the textual IR (docs/ir.md), one node a line:
 *   %4 = matmul(%3, %1) {transpose_a = 0, transpose_b = 0} : f32[B,128] loc("m.nnd":7:7)
 * Leaves print their payload: input/param names and roles, const values (the
 * shortest text that reads back to the same double); a call its symbols:
 *   %5 = call "softsign" derivative "softsign_grad"(%4) : f32[B,10]
 * a data constant its values, row-major, each the shortest text that reads
 * back as the same float:
 *   %2 = data [0, 1, 0.5, -2] : f32[2,2]
 * After fusion a node shows `kernel(N)`, after planning `arena(OFFSET)`. A
 * scan's body follows its line: a graph of its own, indented by 4. parse.c reads exactly this back:
 * print(parse(text)) == text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* the shortest %g text that strtof reads back as v: the first precision that
 * does, or one up to 3 digits more that is shorter (10, not 1e+01) */
static void print_float(FILE *out, float v) {
  char buf[32], best[32] = "";
  int first = 0;
  for (int prec = 1; prec <= 9 && (!first || prec <= first + 3); prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtof(buf, NULL) != v && !isnan(v)) continue;
    if (!first) first = prec;
    if (!best[0] || strlen(buf) < strlen(best)) memcpy(best, buf, sizeof best);
  }
  fputs(best[0] ? best : buf, out);
}

/* a data constant's values: [v0, v1, ...], row-major */
static void print_data(FILE *out, const IrNode *n) {
  int64_t count = ir_payload_count(n);
  fputs(" [", out);
  for (int64_t i = 0; i < count; i++) {
    if (i) fputs(", ", out);
    print_float(out, n->data[i]);
  }
  fputc(']', out);
}

static void print_payload(FILE *out, const IrNode *n) {
  switch (n->op) {
  case IR_OP_INPUT: fputc(' ', out); pg_print_string(out, n->name); break;
  case IR_OP_PARAM:
    fprintf(out, " %s %s ", pg_role_name(n->role), pg_init_name(n->init));
    pg_print_string(out, n->name);
    break;
  case IR_OP_CONST: fputc(' ', out); pg_print_double(out, n->value); break;
  case IR_OP_DATA: print_data(out, n); break;
  case IR_OP_OUTPUT: fputc(' ', out); pg_print_string(out, n->name); fputc(' ', out); break;
  case IR_OP_CALL:
    fputc(' ', out);
    pg_print_string(out, n->name);
    if (n->derivative) {
      fputs(" derivative ", out);
      pg_print_string(out, n->derivative);
    }
    break;
  default: break;
  }
}

static void print_attrs(FILE *out, const IrNode *n) {
  for (int i = 0; ir_op_attr_name(n->op, i); i++)
    fprintf(out, "%s%s = %lld", i ? ", " : " {", ir_op_attr_name(n->op, i), (long long)n->attr[i]);
  if (ir_op_attr_name(n->op, 0)) fputc('}', out);
}

static void print_graph(FILE *out, const IrGraph *g, int indent);

static void print_node(FILE *out, const IrNode *n, int id, int indent) {
  char shape[96];
  fprintf(out, "%*s%%%d = %s", indent + 2, "", id, ir_op_name(n->op));
  print_payload(out, n);
  if (n->nin) {
    fputc('(', out);
    for (int i = 0; i < n->nin; i++) fprintf(out, "%s%%%d", i ? ", " : "", n->in[i]);
    fputc(')', out);
  }
  print_attrs(out, n);
  pg_shape_str(&n->shape, shape, sizeof shape);
  fprintf(out, " : %s%s", pg_dtype_name(n->dtype), shape);
  if (n->group >= 0) fprintf(out, " kernel(%d)", n->group);
  if (n->offset >= 0) fprintf(out, " arena(%lld)", (long long)n->offset);
  if (n->loc.file) {
    fputs(" loc(", out);
    pg_print_string(out, n->loc.file);
    fprintf(out, ":%d:%d)", n->loc.line, n->loc.col);
  }
  if (n->fusion) fprintf(out, "  // %s", n->fusion);
  fputc('\n', out);
  if (n->body) print_graph(out, n->body, indent + 4);
}

static void print_graph(FILE *out, const IrGraph *g, int indent) {
  fprintf(out, "%*sgraph @%s ", indent, "", g->name);
  if (g->max_batch > 0) fprintf(out, "max_batch(%lld) arena(%lld) ", (long long)g->max_batch, (long long)g->arena_bytes);
  fputs("{\n", out);
  for (int i = 0; i < g->count; i++) print_node(out, &g->nodes[i], i, indent);
  fprintf(out, "%*s}\n", indent, "");
}

void ir_print(FILE *out, const IrGraph *g) { print_graph(out, g, 0); }

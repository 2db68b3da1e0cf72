/* print.c — the text form of a Program's manifest (docs/program.md), one
 * entry a block and one slot or parameter a line:
 *   entry "train_step" train {arena = 466944, align = 64, ...} {
 *     input 0 "image" data f32[B,28,28] {scale = 0.00392156862745098}
 *     param 0 "dense.w" weight glorot_uniform f32[784,128] loc("m.nnd":9:7)
 *   }
 * A slot's optional fields print only where they differ from what parse.c
 * assumes without them, so that print(parse(text)) == text byte for byte.
 * The debug tables and the compiled code are not part of the text. */
#include <stdlib.h>

#include "program.h"

static void print_type(FILE *out, PgDType t, const PgShape *s) {
  char shape[8 * PG_MAX_RANK + 8 * 21];
  pg_shape_str(s, shape, sizeof shape);
  fprintf(out, " %s%s", pg_dtype_name(t), shape);
}

/* an optional field: " {" before the first, ", " before the others */
static void field(FILE *out, bool *first, const char *text) {
  fputs(*first ? " {" : ", ", out);
  fputs(text, out);
  *first = false;
}

static void print_slot_fields(FILE *out, const PgSlot *s) {
  bool first = true;
  if (s->bound) {
    field(out, &first, "bound = ");
    fprintf(out, "%lld", (long long)s->bound);
  }
  if (s->ignore) {
    field(out, &first, "ignore = ");
    fprintf(out, "%lld", (long long)s->ignore);
  }
  if (s->classes) field(out, &first, "classes");
  if (s->of) {
    field(out, &first, "of = ");
    pg_print_string(out, s->of);
  }
  if (s->exp) field(out, &first, "exp");
  if (s->scale != 1) {
    field(out, &first, "scale = ");
    pg_print_double(out, s->scale);
  }
  if (s->normalize) field(out, &first, "normalize");
  if (!first) fputc('}', out);
}

static void print_slot(FILE *out, const PgSlot *s) {
  fprintf(out, "  %s %d ", s->output ? "output" : "input", s->io);
  pg_print_string(out, s->name);
  fprintf(out, " %s", pg_slot_role_name(s->role));
  print_type(out, s->dtype, &s->shape);
  print_slot_fields(out, s);
  fputc('\n', out);
}

static void print_param(FILE *out, const PgParam *p) {
  fprintf(out, "  param %d ", p->slot);
  pg_print_string(out, p->name);
  fprintf(out, " %s %s", pg_role_name(p->role), pg_init_name(p->init));
  print_type(out, PG_F32, &p->shape);
  if (p->loc.file) {
    fputs(" loc(", out);
    pg_print_string(out, p->loc.file);
    fprintf(out, ":%d:%d)", p->loc.line, p->loc.col);
  }
  fputc('\n', out);
}

static void print_entry(FILE *out, const PgEntry *e) {
  fputs("entry ", out);
  pg_print_string(out, e->name);
  fprintf(out, " %s {arena = %lld, align = %lld, max_batch = %lld, kernels = %d, ",
          pg_entry_kind_name(e->kind), (long long)e->arena_bytes, (long long)e->arena_align,
          (long long)e->max_batch, e->nkernels);
  fprintf(out, "inputs = %d, outputs = %d, params = %d} {\n", e->ninputs, e->noutputs, e->nparams);
  for (int i = 0; i < e->nslots; i++) print_slot(out, &e->slots[i]);
  for (int i = 0; i < e->nparams; i++) print_param(out, &e->params[i]);
  fputs("}\n", out);
}

void pg_print(FILE *out, const PgEntry *entries, int n) {
  for (int i = 0; i < n; i++) {
    if (i) fputc('\n', out);
    print_entry(out, &entries[i]);
  }
}

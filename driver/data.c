/* data.c — nnd data: the first examples of a data set as the model's inputs
 * get them, column by column, to check a data block without training (the
 * windows and targets of text(), the columns of a CSV). Values are shown as
 * read, before normalize(); a text() column (and the tokens of pairs() and
 * records()) also shows its ids decoded.
 *
 *   nnd data MODEL.nnd [--data train|validation|test] [--batch N]   */
#include <stdlib.h>
#include <string.h>

#include "../runtime/runtime.h"
#include "driver.h"

/* the source of `input` in spec, NULL if none */
static const PgSource *source_of(const PgDataSet *spec, const char *input) {
  for (int i = 0; i < spec->nsources; i++)
    if (strcmp(spec->sources[i].input, input) == 0) return &spec->sources[i];
  return NULL;
}

/* ids as text in quotes, newlines and tabs escaped */
static void print_decoded(const RtVocab *v, const int32_t *ids, int64_t n) {
  fputs(" \"", stdout);
  for (int64_t i = 0; i < n; i++) {
    char one[16];
    rt_vocab_decode(v, &ids[i], 1, one, sizeof one);
    if (one[0] == '\n') fputs("\\n", stdout);
    else if (one[0] == '\t') fputs("\\t", stdout);
    else if (one[0] == '"' || one[0] == '\\') printf("\\%c", one[0]);
    else fputs(one, stdout);
  }
  putchar('"');
}

static void print_row(const RtTensor *t, int64_t r, const PgSource *src) {
  const void *row = (const char *)t->data + r * t->per_item * 4;
  for (int64_t j = 0; j < t->per_item; j++)
    if (t->dtype == PG_I32) printf(" %d", ((const int32_t *)row)[j]);
    else printf(" %g", ((const float *)row)[j]);
  bool ids = src && rt_is_text_source(src) && (!src->field || !strcmp(src->field, "tokens"));
  const RtVocab *v = ids ? rt_vocab_named(src->vocab) : NULL;
  if (v) print_decoded(v, row, t->per_item);
  putchar('\n');
}

static void print_set(const RtData *d, const PgDataSet *spec, int64_t rows) {
  printf("%s: %lld examples\n", d->name, (long long)d->count);
  for (int64_t r = 0; r < rows && r < d->count; r++)
    for (int c = 0; c < d->ncols; c++) {
      printf("%lld %s:", (long long)r, d->input[c]);
      print_row(&d->col[c], r, source_of(spec, d->input[c]));
    }
}

/* the set --data names, loaded (and split) as training would load it */
static bool load(const Cli *c, const FeConfig *cfg, const PgEntry *inputs, RtData *d,
                 const PgDataSet **spec) {
  const char *which = c->data ? c->data : "train";
  bool val = strcmp(which, "validation") == 0;
  if (!val && strcmp(which, "train") && strcmp(which, "test")) {
    diag_error((PgLoc){0}, "--data is train, validation or test, not '%s'", which);
    return false;
  }
  *spec = fe_dataset(cfg, val ? "train" : which);
  if (!*spec) {
    diag_error((PgLoc){0}, "%s has no 'data %s { ... }' block", c->input, which);
    return false;
  }
  if (!rt_data_load(d, *spec, inputs)) return false;
  if (!strcmp(which, "test") || cfg->validation_split <= 0) {
    if (val) {
      diag_error((PgLoc){0}, "%s has no validation_split", c->input);
      return false;
    }
    return true;
  }
  RtData tail;
  if (!rt_data_split(d, cfg->validation_split, cfg->validation_shuffle, cfg->seed, &tail))
    return false;
  if (!val) {
    rt_data_free(&tail);
    return true;
  }
  rt_data_free(d);
  *d = tail;
  return true;
}

int cmd_data(const Cli *c) {
  FeConfig cfg;
  AstFile *ast = load_model(c, &cfg);
  IrGraph *fwd = ast ? fe_elaborate(ast, FE_TRAINING) : NULL;
  PgEntry inputs = {0};
  RtData d = {0};
  const PgDataSet *spec = NULL;
  bool ok = fwd && cg_describe(fwd, false, &inputs) && load(c, &cfg, &inputs, &d, &spec);
  if (ok) print_set(&d, spec, c->batch ? c->batch : 4);
  rt_data_free(&d);
  pg_entry_free(&inputs);
  ir_graph_free(fwd);
  fe_ast_free(ast);
  return ok ? 0 : 1;
}

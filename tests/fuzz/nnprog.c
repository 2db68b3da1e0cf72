/* nnprog.c — fuzz target: a Program's text as `nnd program` reads it: text
 * without NUL bytes, the parser; what it accepts keeps the promises the
 * runtime relies on (io and parameter slots dense and in range, gradients of
 * parameters) and prints, reads back and prints the same again. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* each index of [0, n) taken exactly once */
static void check_dense(const int *index, int n, const char *what) {
  char *seen = calloc((size_t)n + 1, 1);
  if (!seen) fuzz_fail("out of memory for %d %s", n, what);
  for (int i = 0; i < n; i++) {
    if (index[i] < 0 || index[i] >= n || seen[index[i]])
      fuzz_fail("%s %d taken twice", what, index[i]);
    seen[index[i]] = 1;
  }
  free(seen);
}

static void check_entry(const PgEntry *e) {
  int *io = calloc((size_t)e->nslots + e->nparams + 1, sizeof *io);
  if (!io) fuzz_fail("out of memory");
  if (e->nslots != e->ninputs + e->noutputs)
    fuzz_fail("%d slots, %d + %d", e->nslots, e->ninputs, e->noutputs);
  for (int i = 0; i < e->nslots; i++) {
    if (e->slots[i].output != (i >= e->ninputs)) fuzz_fail("slot %d out of order", i);
    io[i] = e->slots[i].io;
  }
  check_dense(io, e->nslots, "io index");
  for (int i = 0; i < e->nparams; i++) io[i] = e->params[i].slot;
  check_dense(io, e->nparams, "parameter slot");
  free(io);
  for (int i = 0; i < e->nslots; i++) {
    const PgSlot *s = &e->slots[i];
    bool found = false;
    for (int k = 0; s->of && k < e->nparams; k++) found |= strcmp(e->params[k].name, s->of) == 0;
    if (s->role == PG_SLOT_GRADIENT && !found) fuzz_fail("gradient '%s' of no parameter", s->name);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  int n;
  PgEntry *entries = pg_parse("input.nnprog", text, &n);
  free(text);
  if (!entries) return 0;
  for (int i = 0; i < n; i++) check_entry(&entries[i]);
  fuzz_check_program_roundtrip(entries, n);
  for (int i = 0; i < n; i++) pg_entry_free(&entries[i]);
  free(entries);
  return 0;
}

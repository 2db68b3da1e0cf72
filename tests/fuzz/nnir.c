/* nnir.c — fuzz target: textual IR as `nnd opt` reads it: text without NUL
 * bytes, the parser, the verifier; a graph that verifies must print, read
 * back and print the same again. */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  IrGraph *g = ir_parse("input.nnir", text);
  free(text);
  if (g && ir_verify(g, "parse")) fuzz_check_roundtrip(g, "parsed");
  ir_graph_free(g);
  return 0;
}

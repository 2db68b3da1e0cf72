/* nnd.c — fuzz target: a .nnd file through what `nnd check` and `nnd dump`
 * do before the passes: parse (from the file, as the driver reads it), print
 * the AST, read the train and data blocks, elaborate for training and for
 * inference, apply `freeze`, verify; and an elaborated graph that verifies
 * must survive the textual IR's round trip. */
#include "../../frontend/frontend.h"
#include "fuzz.h"

static void elaborate(const AstFile *ast, const FeConfig *cfg, bool cfg_ok, FeMode mode) {
  IrGraph *g = fe_elaborate_frozen(ast, mode, cfg_ok ? cfg : NULL);
  if (g && cfg_ok && fe_apply_freeze(g, cfg) && ir_verify(g, "elaborate"))
    fuzz_check_roundtrip(g, mode == FE_INFERENCE ? "inference" : "training");
  ir_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  AstFile *ast = fe_parse_file(fuzz_file(data, size));
  if (!ast) return 0;
  fe_ast_print(fuzz_null(), ast);
  FeConfig cfg;
  bool cfg_ok = fe_config(ast, &cfg);
  if (cfg_ok) fe_dataset(&cfg, "train");
  elaborate(ast, &cfg, cfg_ok, FE_TRAINING);
  elaborate(ast, &cfg, cfg_ok, FE_INFERENCE);
  fe_ast_free(ast);
  return 0;
}

/* npy.c — fuzz target: a NumPy .npy file loaded as features (f32, scaled)
 * and as labels (i32). */
#include "tensor.h"

static void load(const char *path, PgDType dtype, double scale) {
  RtTensor t;
  if (!rt_load_npy(path, dtype, scale, (PgLoc){0}, &t)) return;
  fuzz_check_tensor(&t, dtype == PG_F32 ? "npy as f32" : "npy as i32");
  rt_tensor_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  const char *path = fuzz_file(data, size);
  load(path, PG_F32, 0.5);
  load(path, PG_I32, 1);
  return 0;
}

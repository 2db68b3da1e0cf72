/* idx.c — fuzz target: an IDX file (plain or gzip'd) loaded as the data
 * blocks load images (f32, scaled) and labels (i32). */
#include "tensor.h"

static void load(const char *path, PgDType dtype, double scale) {
  RtTensor t;
  if (!rt_load_idx(path, dtype, scale, (PgLoc){0}, &t)) return;
  fuzz_check_tensor(&t, dtype == PG_F32 ? "idx as f32" : "idx as i32");
  rt_tensor_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  const char *path = fuzz_file(data, size);
  load(path, PG_F32, 1.0 / 255);
  load(path, PG_I32, 1);
  return 0;
}

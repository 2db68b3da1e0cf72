/* csv.c — fuzz target: a CSV file (plain or gzip'd) read the ways a data
 * block or `--input` reads one: every column (what rt_data_from_file asks
 * for); skipped lines, an index range and one index, as i32 (the
 * binary_classifier example); a header with columns by name, by index and
 * an open range. A fuzzer finds the header name "y" by comparison tracing. */
#include "tensor.h"

static void load(PgSource src, PgDType dtype, const char *what) {
  RtTensor t;
  if (!rt_load_csv(&src, dtype, &t)) return;
  if (t.rank != 2 || t.dim[1] != t.per_item) fuzz_fail("%s: a table of rank %d", what, t.rank);
  fuzz_check_tensor(&t, what);
  rt_tensor_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  const char *path = fuzz_file(data, size);
  PgSource all = {.format = "csv", .path = path, .scale = 1, .columns = {"0:"}, .ncolumns = 1};
  load(all, PG_F32, "every column");
  PgSource skip = {.format = "csv", .path = path, .scale = 1, .columns = {"0:3", "3"},
                   .ncolumns = 2, .skip = 1};
  load(skip, PG_I32, "skip 1, columns 0:3 and 3");
  PgSource named = {.format = "csv", .path = path, .scale = 0.5, .columns = {"y", "1", "2:"},
                    .ncolumns = 3, .header = true};
  load(named, PG_F32, "header, columns y, 1 and 2:");
  return 0;
}

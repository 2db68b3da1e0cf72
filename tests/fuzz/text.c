/* text.c — fuzz target: a text file read the ways a data block reads one:
 * text() windows (a window, a shift, an overlapping stride), and pairs()
 * with every field, drawn at load and again as an epoch starts. The ids must
 * be in the vocabulary, the segments 0 or 1, the MLM targets -1 or an id and
 * the NSP labels 0 or 1, whatever the bytes (NULs, '%' lines, no newline);
 * and records() of the file read twice (labels 0 and 1), balanced or not:
 * every row [CLS] first, a [SEP], labels 0 or 1, as many rows per field. */
#include "tensor.h"

static void check_range(const RtTensor *t, int32_t lo, int32_t hi, const char *what) {
  fuzz_check_tensor(t, what);
  const int32_t *v = t->data;
  for (int64_t i = 0; i < t->count * t->per_item; i++)
    if (v[i] < lo || v[i] > hi) fuzz_fail("%s: value %d outside [%d, %d]", what, v[i], lo, hi);
}

static void windows(const char *path, int64_t window, int64_t stride, int64_t shift) {
  PgSource s = {.input = "x",
                .format = "text",
                .path = path,
                .paths = {path},
                .npaths = 1,
                .window = window,
                .stride = stride,
                .shift = shift,
                .vocab = "chars"};
  RtTensor t;
  if (!rt_load_text(&s, PG_I32, window + shift, &t)) return;
  check_range(&t, 0, rt_vocab_named("chars")->size - 1, "text() windows");
  rt_tensor_free(&t);
}

static void pairs(const char *path) {
  static const char *const fields[] = {"tokens", "segments", "mlm_targets", "nsp"};
  int32_t v = rt_vocab_named("chars")->size;
  int32_t lo[] = {0, 0, -1, 0}, hi[] = {v - 1, 1, v - 1, 1};
  PgSource s[4];
  RtData d = {.name = "fuzz"};
  for (int f = 0; f < 4; f++) {
    s[f] = (PgSource){.input = fields[f],
                      .format = "pairs",
                      .path = path,
                      .paths = {path},
                      .npaths = 1,
                      .window = 16,
                      .vocab = "chars",
                      .field = fields[f],
                      .mlm = 0.5};
    if (!rt_data_add_pairs(&d, &s[f], PG_I32)) return rt_data_free(&d);
    d.count = d.col[d.ncols].count;
    d.input[d.ncols++] = fields[f];
  }
  RtRng rng;
  rt_rng_seed(&rng, 1);
  rt_data_refresh(&d, &rng);
  for (int f = 0; f < 4; f++) check_range(&d.col[f], lo[f], hi[f], fields[f]);
  rt_data_free(&d);
}

/* the tokens of each row start with [CLS] and hold a [SEP] */
static void check_packed(const RtTensor *t) {
  const int32_t *v = t->data;
  for (int64_t r = 0; r < t->count; r++) {
    const int32_t *row = v + r * t->per_item;
    bool sep = false;
    for (int64_t k = 1; k < t->per_item; k++) sep |= row[k] == RT_TOKEN_SEP;
    if (row[0] != RT_TOKEN_CLS || !sep)
      fuzz_fail("records(): row %lld is not packed", (long long)r);
  }
}

static void records(const char *path, bool balance) {
  static const char *const fields[] = {"tokens", "segments", "label"};
  int32_t hi[] = {rt_vocab_named("chars")->size - 1, 0, 1};
  int64_t count = -1;
  for (int f = 0; f < 3; f++) {
    PgSource s = {.input = fields[f],
                  .format = "records",
                  .path = path,
                  .paths = {path, path},
                  .npaths = 2,
                  .window = 6,
                  .vocab = "chars",
                  .field = fields[f],
                  .balance = balance};
    RtTensor t;
    if (!rt_load_records(&s, PG_I32, &t)) return;
    check_range(&t, 0, hi[f], fields[f]);
    if (f == 0) check_packed(&t);
    if (count >= 0 && t.count != count) fuzz_fail("records(): fields of %lld and %lld rows",
                                                  (long long)count, (long long)t.count);
    count = t.count;
    rt_tensor_free(&t);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  const char *path = fuzz_file(data, size);
  windows(path, 8, 8, 0);
  windows(path, 4, 2, 1);
  pairs(path);
  records(path, false);
  records(path, true);
  return 0;
}

/* records.c — the records() source: labelled text for fine-tuning a
 * classifier (BERT's sentence classification), from files whose units are
 * separated by lines holding only '%' (fortune files; rt_text_units).
 *
 * Each file is cut into units on its own (a unit never spans two files).
 * An example is one unit packed as [CLS] unit [SEP] and [PAD] to `length`
 * (the unit cut at its end to length - 2 tokens), its segments all 0, its
 * label the index of its file among the source's files. With balance, every
 * file gives its first m units, m the smallest file's count.
 *
 * The order interleaves the files so that any stretch of examples holds them
 * in proportion to their counts (validation_split takes the last ones):
 * unit j of a file giving n units sits at (j + 1/2) / n of the way, ties in
 * file order; with equal counts that is round robin. The order is fixed:
 * every records() column of a block (one per field) loads the same rows. */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

typedef enum { FIELD_TOKENS, FIELD_SEGMENTS, FIELD_LABEL, NFIELDS } Field;
static const char *const field_names[NFIELDS] = {"tokens", "segments", "label"};

typedef struct {
  int32_t *ids;         /* the file's text */
  int64_t *start, *end; /* unit u is ids[start[u], end[u]) */
  int64_t nunits;
} Units;

typedef struct {
  const PgSource *src;
  Units file[PG_MAX_TEXT_FILES];
  int64_t take[PG_MAX_TEXT_FILES]; /* the units each file gives, its first ones */
  int64_t count;                   /* examples: the sum of take */
} Records;

static Field field_of(const char *name) {
  for (int f = 0; f < NFIELDS; f++)
    if (name && strcmp(field_names[f], name) == 0) return (Field)f;
  return NFIELDS;
}

static void records_free(Records *r) {
  for (int f = 0; f < r->src->npaths; f++) {
    free(r->file[f].ids);
    free(r->file[f].start);
    free(r->file[f].end);
  }
}

/* the units of file f (n ids in u->ids); false after a diagnostic */
static bool split_file(const Records *r, int f, int64_t n, Units *u) {
  const char *path = r->src->paths[f];
  int64_t count = rt_text_units(u->ids, n, NULL, NULL);
  if (!count) {
    diag_error(r->src->loc, "'%s' has no text between '%%' lines: records() takes units of text "
                            "from every file", path);
    return false;
  }
  u->start = malloc((size_t)count * sizeof *u->start);
  u->end = malloc((size_t)count * sizeof *u->end);
  if (!u->start || !u->end) {
    diag_error(r->src->loc, "out of memory for the units of '%s'", path);
    return false;
  }
  u->nunits = rt_text_units(u->ids, n, u->start, u->end);
  return true;
}

/* reads every file and its units, the text in all at most RT_MAX_ELEMENTS ids */
static bool read_files(Records *r, const RtVocab *v) {
  int64_t total = 0;
  for (int f = 0; f < r->src->npaths; f++) {
    int64_t n = 0;
    Units *u = &r->file[f];
    u->ids = rt_text_file_ids(r->src, f, v, &n);
    if (!u->ids) return false;
    total += n;
    if (total > RT_MAX_ELEMENTS) {
      diag_error(r->src->loc, "the text of '%s' and the files before it is more than %lld bytes",
                 r->src->paths[f], (long long)RT_MAX_ELEMENTS);
      return false;
    }
    if (!split_file(r, f, n, u)) return false;
  }
  return true;
}

/* how many units each file gives: all, or (balance) the smallest file's count */
static void choose_units(Records *r) {
  int64_t least = r->file[0].nunits;
  for (int f = 1; f < r->src->npaths; f++)
    if (r->file[f].nunits < least) least = r->file[f].nunits;
  r->count = 0;
  for (int f = 0; f < r->src->npaths; f++) {
    r->take[f] = r->src->balance ? least : r->file[f].nunits;
    r->count += r->take[f];
  }
}

/* the file of the next example, `taken` units of each given so far: the
 * smallest (2 taken + 1) / (2 take), compared exactly as products (a file has
 * at most 2^30 + 1 units, two of its 2^31 ids each: they stay below 2^63) */
static int next_file(const Records *r, const int64_t *taken) {
  int best = -1;
  for (int f = 0; f < r->src->npaths; f++) {
    if (taken[f] == r->take[f]) continue;
    if (best < 0 || (2 * taken[f] + 1) * r->take[best] < (2 * taken[best] + 1) * r->take[f])
      best = f;
  }
  return best;
}

/* one row of the field: [CLS] unit [SEP] [PAD]..., zeros, or the file's index */
static void fill_row(const Records *r, Field field, int f, int64_t unit, int32_t *row) {
  int64_t length = r->src->window;
  if (field == FIELD_LABEL) {
    row[0] = f;
    return;
  }
  if (field == FIELD_SEGMENTS) {
    memset(row, 0, (size_t)length * sizeof *row);
    return;
  }
  const Units *u = &r->file[f];
  int64_t n = u->end[unit] - u->start[unit], k = 0;
  if (n > length - 2) n = length - 2;
  row[k++] = RT_TOKEN_CLS;
  memcpy(row + k, u->ids + u->start[unit], (size_t)n * sizeof *row);
  k += n;
  row[k++] = RT_TOKEN_SEP;
  while (k < length) row[k++] = RT_TOKEN_PAD;
}

/* the field's column, rows in the interleaved order, sizes bounded first */
static bool fill_column(const Records *r, Field field, RtTensor *out) {
  int64_t per = field == FIELD_LABEL ? 1 : r->src->window, elements = 1;
  if (!rt_count_fits(&elements, r->count) || !rt_count_fits(&elements, per)) {
    diag_error(r->src->loc, "records(): more than %lld values", (long long)RT_MAX_ELEMENTS);
    return false;
  }
  int32_t *rows = malloc((size_t)elements * sizeof *rows);
  if (!rows) {
    diag_error(r->src->loc, "out of memory for records()");
    return false;
  }
  int64_t taken[PG_MAX_TEXT_FILES] = {0};
  for (int64_t i = 0; i < r->count; i++) {
    int f = next_file(r, taken);
    fill_row(r, field, f, taken[f]++, rows + i * per);
  }
  *out = (RtTensor){
      .dtype = PG_I32, .count = r->count, .per_item = per, .rank = 2, .dim = {r->count, per},
      .data = rows};
  return true;
}

/* what the loader needs of s (the frontend checks these with locations; a
 * Program's data block may come from elsewhere, as the fuzz targets' do) */
static bool check_source(const PgSource *s, PgDType dtype, const RtVocab *v) {
  if (!v) diag_error(s->loc, "records(): no vocabulary named '%s'", s->vocab);
  else if (field_of(s->field) == NFIELDS)
    diag_error(s->loc, "records(): no field '%s'", s->field ? s->field : "");
  else if (dtype != PG_I32)
    diag_error(s->loc, "records() gives i32 values: input '%s' must be i32", s->input);
  else if (s->npaths < 1 || s->npaths > PG_MAX_TEXT_FILES)
    diag_error(s->loc, "records() reads 1 to %d files", PG_MAX_TEXT_FILES);
  else if (s->window < 3)
    diag_error(s->loc, "records(): a length of at least 3 ([CLS] unit [SEP])");
  else return true;
  return false;
}

bool rt_load_records(const PgSource *s, PgDType dtype, RtTensor *out) {
  memset(out, 0, sizeof *out);
  const RtVocab *v = rt_vocab_named(s->vocab);
  if (!check_source(s, dtype, v)) return false;
  Records r = {.src = s};
  bool ok = read_files(&r, v);
  if (ok) choose_units(&r);
  ok = ok && fill_column(&r, field_of(s->field), out);
  records_free(&r);
  return ok;
}

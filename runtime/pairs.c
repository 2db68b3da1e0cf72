/* pairs.c — the pairs() source: BERT's pre-training examples from text whose
 * units are separated by lines holding only '%' (fortune files).
 *
 * Example i pairs unit a = i with unit b: the next unit (nsp = 1) or, with
 * probability 1/2, another drawn at random (nsp = 0, never i or i+1), packed
 * as [CLS] a [SEP] b [SEP] and [PAD] to `length`, the longer of a and b cut
 * at its end until both fit. segments is 0 over [CLS] a [SEP], 1 after. Each
 * token of a and b is chosen with probability `mlm`; a chosen one becomes
 * [MASK] (80%), a random non-special token (10%) or stays (10%), and its
 * mlm_targets entry is its original id; every other entry is -1 (ignored).
 *
 * One draw serves every field of a data block (tokens, segments,
 * mlm_targets, nsp), so its columns stay consistent; rt_data_refresh draws
 * anew from the training RNG as each epoch starts. The first draw, at load,
 * uses a fixed seed: validation and test examples are drawn once. A draw of
 * a set holding examples [0, count) pairs only units in [0, count]: after
 * validation_split, the training draws never show validation units. */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define LOAD_SEED 0x5eed

typedef enum { FIELD_TOKENS, FIELD_SEGMENTS, FIELD_MLM, FIELD_NSP, NFIELDS } Field;
static const char *const field_names[NFIELDS] = {"tokens", "segments", "mlm_targets", "nsp"};

struct RtPairs {
  const PgSource *src; /* the first pairs() source: files, length, mlm, vocab */
  const RtVocab *vocab;
  int32_t *ids;         /* the text */
  int64_t *start, *end; /* unit u is ids[start[u], end[u]) */
  int64_t nunits;
  int column[NFIELDS]; /* the RtData column of each field, -1 if none */
};

static Field field_of(const char *name) {
  for (int f = 0; f < NFIELDS; f++)
    if (name && strcmp(field_names[f], name) == 0) return (Field)f;
  return NFIELDS;
}

/* the units of the text (rt_text_units), counted first */
static bool split_units(RtPairs *p, int64_t n) {
  int64_t count = rt_text_units(p->ids, n, NULL, NULL);
  p->start = malloc((size_t)(count + 1) * sizeof *p->start);
  p->end = malloc((size_t)(count + 1) * sizeof *p->end);
  if (!p->start || !p->end) {
    diag_error(p->src->loc, "out of memory for pairs()");
    return false;
  }
  p->nunits = rt_text_units(p->ids, n, p->start, p->end);
  if (p->nunits >= 3) return true;
  diag_error(p->src->loc,
             "'%s' has %lld unit%s of text between '%%' lines; pairs() needs at least 3",
             p->src->paths[0], (long long)p->nunits, p->nunits == 1 ? "" : "s");
  return false;
}

void rt_pairs_free(RtPairs *p) {
  if (!p) return;
  free(p->ids);
  free(p->start);
  free(p->end);
  free(p);
}

static RtPairs *pairs_load(const PgSource *s) {
  RtPairs *p = calloc(1, sizeof *p);
  if (!p) {
    diag_error(s->loc, "out of memory for pairs()");
    return NULL;
  }
  p->src = s;
  p->vocab = rt_vocab_named(s->vocab);
  for (int f = 0; f < NFIELDS; f++) p->column[f] = -1;
  int64_t n = 0;
  if (!p->vocab) diag_error(s->loc, "pairs(): no vocabulary named '%s'", s->vocab);
  if (!p->vocab || !(p->ids = rt_text_ids(s, p->vocab, &n)) || !split_units(p, n)) {
    rt_pairs_free(p);
    return NULL;
  }
  return p;
}

/* ---- one draw ---- */

/* a and b, cut at the end of the longer until they fit length - 3 */
static void fit_pair(int64_t length, int64_t *la, int64_t *lb) {
  while (*la + *lb > length - 3)
    if (*la > *lb) --*la;
    else --*lb;
}

/* n ids of one segment at tok[*k], then (if sep) a [SEP] */
static void put(int32_t *tok, int32_t *seg, int64_t *k, const int32_t *ids, int64_t n,
                int32_t segment) {
  for (int64_t i = 0; i < n; i++) {
    tok[*k] = ids[i];
    seg[(*k)++] = segment;
  }
}

/* one packed row: ids and segments of [CLS] a [SEP] b [SEP] [PAD]... */
static void pack(const RtPairs *p, int64_t a, int64_t b, int32_t *tok, int32_t *seg) {
  static const int32_t cls = RT_TOKEN_CLS, sep = RT_TOKEN_SEP;
  int64_t length = p->src->window, la = p->end[a] - p->start[a], lb = p->end[b] - p->start[b];
  fit_pair(length, &la, &lb);
  int64_t k = 0;
  put(tok, seg, &k, &cls, 1, 0);
  put(tok, seg, &k, p->ids + p->start[a], la, 0);
  put(tok, seg, &k, &sep, 1, 0);
  put(tok, seg, &k, p->ids + p->start[b], lb, 1);
  put(tok, seg, &k, &sep, 1, 1);
  for (; k < length; k++) {
    tok[k] = RT_TOKEN_PAD;
    seg[k] = 0;
  }
}

/* BERT's corruption of the non-special tokens of a packed row, in place */
static void mask_row(const RtPairs *p, RtRng *rng, int32_t *tok, int32_t *target) {
  int32_t first = RT_TOKEN_NEWLINE, ordinary = p->vocab->size - first;
  for (int64_t k = 0; k < p->src->window; k++) {
    target[k] = -1;
    if (tok[k] < first || rt_rng_uniform(rng) >= p->src->mlm) continue;
    target[k] = tok[k];
    double r = rt_rng_uniform(rng);
    if (r < 0.8) tok[k] = RT_TOKEN_MASK;
    else if (r < 0.9) tok[k] = first + (int32_t)(rt_rng_uniform(rng) * ordinary);
  }
}

/* unit b for example a: the next, or (half the time) another of [0, units),
 * drawn among the units - 2 that are neither a nor a + 1 (with fewer than
 * three units there is none: always the next) */
static int64_t partner(RtRng *rng, int64_t a, int64_t units, int32_t *nsp) {
  *nsp = rt_rng_uniform(rng) < 0.5 || units < 3;
  if (*nsp) return a + 1;
  int64_t b = (int64_t)(rt_rng_uniform(rng) * (double)(units - 2));
  return b < a ? b : b + 2;
}

/* a field's row r in d's column, or scratch if d has no column for it */
static int32_t *row_of(const RtData *d, int field, int64_t r, int32_t *scratch) {
  int c = d->pairs->column[field];
  if (c < 0) return scratch;
  return (int32_t *)d->col[c].data + r * d->col[c].per_item;
}

static void draw(const RtData *d, RtRng *rng) {
  const RtPairs *p = d->pairs;
  int64_t length = p->src->window, units = d->count + 1 < p->nunits ? d->count + 1 : p->nunits;
  int32_t *scratch = malloc((size_t)length * 3 * sizeof *scratch);
  if (!scratch) return; /* the rows keep their last draw */
  for (int64_t r = 0; r < d->count; r++) {
    int32_t nsp;
    int64_t b = partner(rng, r, units, &nsp);
    int32_t *tok = row_of(d, FIELD_TOKENS, r, scratch),
            *seg = row_of(d, FIELD_SEGMENTS, r, scratch + length);
    int32_t *target = row_of(d, FIELD_MLM, r, scratch + 2 * length);
    pack(p, r, b, tok, seg);
    mask_row(p, rng, tok, target);
    *row_of(d, FIELD_NSP, r, &nsp) = nsp;
  }
  free(scratch);
}

void rt_data_refresh(const RtData *d, RtRng *rng) {
  if (d->pairs && d->count) draw(d, rng);
}

/* ---- columns ---- */

static bool same_text(const PgSource *a, const PgSource *b) {
  bool same = a->npaths == b->npaths && a->window == b->window && a->mlm == b->mlm &&
              strcmp(a->vocab, b->vocab) == 0;
  for (int i = 0; same && i < a->npaths; i++) same = strcmp(a->paths[i], b->paths[i]) == 0;
  if (!same)
    diag_error(b->loc, "the pairs() sources of a data block read the same files with the same "
                       "length, mlm and vocab (one draw feeds them all)");
  return same;
}

/* count rows of per zeros, sizes bounded first */
static bool new_column(const PgSource *s, int64_t count, int64_t per, RtTensor *t) {
  int64_t elements = 1;
  if (!rt_count_fits(&elements, count) || !rt_count_fits(&elements, per)) {
    diag_error(s->loc, "pairs(): more than %lld values", (long long)RT_MAX_ELEMENTS);
    return false;
  }
  *t = (RtTensor){.dtype = PG_I32,
                  .count = count,
                  .per_item = per,
                  .rank = 2,
                  .dim = {count, per},
                  .data = calloc((size_t)elements, sizeof(int32_t))};
  if (t->data) return true;
  diag_error(s->loc, "out of memory for pairs()");
  return false;
}

bool rt_data_add_pairs(RtData *d, const PgSource *s, PgDType dtype) {
  Field f = field_of(s->field);
  if (f == NFIELDS) {
    diag_error(s->loc, "pairs(): no field '%s'", s->field ? s->field : "");
    return false;
  }
  if (dtype != PG_I32) {
    diag_error(s->loc, "pairs() gives i32 values: input '%s' must be i32", s->input);
    return false;
  }
  if (d->pairs && !same_text(d->pairs->src, s)) return false;
  if (!d->pairs && !(d->pairs = pairs_load(s))) return false;
  if (d->pairs->column[f] >= 0) {
    diag_error(s->loc, "pairs(): field '%s' feeds two inputs", s->field);
    return false;
  }
  int64_t count = d->pairs->nunits - 1, per = f == FIELD_NSP ? 1 : s->window;
  if (!new_column(s, count, per, &d->col[d->ncols])) return false;
  d->pairs->column[f] = d->ncols;
  /* every column drawn again, from the same seed: the ones before see the same values */
  RtData view = *d;
  view.ncols++;
  view.count = count;
  RtRng rng;
  rt_rng_seed(&rng, LOAD_SEED);
  draw(&view, &rng);
  return true;
}

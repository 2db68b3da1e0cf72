/* checkpoint.c — parameters and training state in safetensors files.
 *
 * A checkpoint holds every parameter of the store by name (weights and
 * optimizer state, so Adam's moments and step count too), and in its metadata
 * the epochs done, the steps done and the RNG state: everything the next
 * epoch depends on, so a resumed run continues bit for bit. Loading checks
 * names and shapes and reports every mismatch in one error. It also keeps
 * the training data's normalize() statistics, which eval and predict use
 * instead of the training files. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define FORMAT "nnd-checkpoint-1"
#define MAX_EPOCHS 1000000

/* the statistic tensor's name: normalize.INPUT.WHAT */
static void statistic_name(char *buf, size_t n, const char *input, const char *what) {
  snprintf(buf, n, "normalize.%s.%s", input, what);
}

/* the normalize() statistics of d's columns after the n tensors of t: their
 * count; names in names[2 * ncols][128] */
static int add_statistics(RtNamed *t, int n, const RtData *d, char (*names)[128]) {
  int added = 0;
  for (int c = 0; d && c < d->ncols; c++) {
    const RtTensor *col = &d->col[c];
    if (!col->mean) continue;
    PgShape shape = {1, {col->per_item}};
    statistic_name(names[2 * c], sizeof names[0], d->input[c], "mean");
    statistic_name(names[2 * c + 1], sizeof names[0], d->input[c], "inv_std");
    t[n + added++] = (RtNamed){names[2 * c], PG_F32, shape, col->mean};
    t[n + added++] = (RtNamed){names[2 * c + 1], PG_F32, shape, col->inv_std};
  }
  return added;
}

bool rt_checkpoint_save(const char *path, const RtParams *p, const RtTrainState *s,
                        const char *vocab, const RtData *normalized) {
  RtNamed *t = malloc((p->count + 2 * 8 + 1) * sizeof *t);
  char names[2 * 8][128];
  if (!t) return diag_error((PgLoc){0}, "out of memory"), false;
  for (int i = 0; i < p->count; i++) t[i] = (RtNamed){p->names[i], PG_F32, p->shape[i], p->data[i]};
  int n = p->count + add_statistics(t, p->count, normalized, names);
  char epoch[32], step[32], rng[80];
  snprintf(epoch, sizeof epoch, "%d", s->epoch);
  snprintf(step, sizeof step, "%lld", (long long)s->step);
  snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s->rng.s[0], s->rng.s[1],
           s->rng.s[2], s->rng.s[3]);
  /* room for the vocabulary's two pairs, then the NULL that ends the list */
  const char *meta[13] = {"format", FORMAT, "epoch", epoch, "step", step, "rng", rng};
  /* the vocabulary by name, and its tokens: what decodes the model's ids
   * without the .nnd (nnd sample; any reader of safetensors) */
  const RtVocab *v = rt_vocab_named(vocab);
  char *tokens = v ? rt_vocab_tokens_json(v) : NULL;
  if (tokens) {
    meta[8] = "vocab";
    meta[9] = v->name;
    meta[10] = "vocab_tokens";
    meta[11] = tokens;
  }
  bool ok = rt_safetensors_write(path, t, n, meta);
  free(tokens);
  free(t);
  return ok;
}

/* a metadata value as it may be shown: at most 40 printable characters */
static const char *shown(const char *v, char *buf, size_t n) {
  size_t i = 0;
  for (; v[i] && i < 40 && i + 4 < n; i++) buf[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
  snprintf(buf + i, n - i, "%s", v[i] ? "..." : "");
  return buf;
}

static bool bad_meta(const char *path, const char *key, const char *value, const char *what) {
  char text[48];
  diag_error((PgLoc){0}, "'%s': checkpoint metadata '%s' is '%s', %s", path, key,
             shown(value, text, sizeof text), what);
  return false;
}

/* s as a whole decimal number in [lo, hi]: digits only (no sign, blanks or
 * trailing text), checked before it can overflow */
static bool whole_number(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  int64_t v = 0;
  if (!*s) return false;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s) || v > hi / 10 || v * 10 > hi - (*s - '0')) return false;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return v >= lo;
}

/* 64 hex digits, four xoshiro words; all zeros is no state (the generator
 * would give zeros for ever) */
static bool rng_state(const char *path, const char *rng, RtRng *r) {
  bool hex = strlen(rng) == 64;
  for (int i = 0; hex && i < 64; i++) hex = isxdigit((unsigned char)rng[i]);
  if (!hex) return bad_meta(path, "rng", rng, "not 64 hexadecimal digits");
  for (int i = 0; i < 4; i++) {
    char word[17];
    memcpy(word, rng + 16 * i, 16);
    word[16] = 0;
    r->s[i] = strtoull(word, NULL, 16);
  }
  if (r->s[0] | r->s[1] | r->s[2] | r->s[3]) return true;
  return bad_meta(path, "rng", rng, "all zeros, not a generator state");
}

static const char *meta_field(const char *path, const RtSafetensors *st, const char *key) {
  const char *v = rt_safetensors_meta(st, key);
  if (!v) diag_error((PgLoc){0}, "'%s': checkpoint metadata '%s' is missing", path, key);
  return v;
}

/* Every field is checked: a resumed run prints "Epoch E+1/N" and runs N-E
 * epochs, so a damaged epoch or step must be an error, not a strange run. An
 * epoch has at least one step and at most RT_MAX_ELEMENTS (one per example). */
static bool restore_state(const char *path, const RtSafetensors *st, RtTrainState *s) {
  const char *format = rt_safetensors_meta(st, "format");
  if (!format || strcmp(format, FORMAT) != 0) {
    diag_error((PgLoc){0},
               "'%s' has no training state to resume from (it is not an nnd checkpoint)", path);
    return false;
  }
  const char *epoch = meta_field(path, st, "epoch");
  const char *step = epoch ? meta_field(path, st, "step") : NULL;
  const char *rng = step ? meta_field(path, st, "rng") : NULL;
  if (!rng) return false;
  int64_t epochs, steps;
  char what[96];
  if (!whole_number(epoch, 0, MAX_EPOCHS, &epochs)) {
    snprintf(what, sizeof what, "not a whole number of epochs in [0, %d]", MAX_EPOCHS);
    return bad_meta(path, "epoch", epoch, what);
  }
  if (!whole_number(step, epochs, epochs * RT_MAX_ELEMENTS, &steps)) {
    snprintf(what, sizeof what, "not a whole number of steps in [%lld, %lld] for %lld epochs",
             (long long)epochs, (long long)(epochs * RT_MAX_ELEMENTS), (long long)epochs);
    return bad_meta(path, "step", step, what);
  }
  if (!rng_state(path, rng, &s->rng)) return false;
  s->epoch = (int)epochs;
  s->step = steps;
  return true;
}

static void shape_text(const PgShape *s, char *buf, size_t n) { pg_shape_str(s, buf, n); }

/* which store entries this mode takes from the file */
static bool wanted(const RtParams *p, int i, RtLoadMode mode) {
  return mode == RT_LOAD_RESUME || mode == RT_LOAD_STATE || p->role[i] != PG_ROLE_OPTSTATE;
}

/* which of those it must find there */
static bool required(const RtParams *p, int i, RtLoadMode mode) {
  return mode != RT_LOAD_INIT && (mode != RT_LOAD_STATE || p->role[i] != PG_ROLE_OPTSTATE);
}

bool rt_checkpoint_load(const char *path, RtParams *p, RtLoadMode mode, RtTrainState *s) {
  RtSafetensors st;
  if (!rt_safetensors_read(path, &st)) return false;
  char *problems = NULL;
  size_t len = 0;
  FILE *msg = open_memstream(&problems, &len);
  int nproblems = 0, loaded = 0;
  for (int i = 0; i < p->count; i++) {
    if (!wanted(p, i, mode)) continue;
    const RtNamed *t = rt_safetensors_find(&st, p->names[i]);
    char want[96], got[96];
    shape_text(&p->shape[i], want, sizeof want);
    if (!t) {
      if (required(p, i, mode)) {
        fprintf(msg, "\n  %s %s: not in the file", p->names[i], want);
        nproblems++;
      }
    } else if (t->dtype != PG_F32 || !pg_shape_eq(&t->shape, &p->shape[i])) {
      shape_text(&t->shape, got, sizeof got);
      fprintf(msg, "\n  %s: %s in the model, %s%s in the file", p->names[i], want,
              pg_dtype_name(t->dtype), got);
      nproblems++;
    } else {
      memcpy(p->data[i], t->data, p->numel[i] * sizeof(float));
      loaded++;
    }
  }
  fclose(msg);
  bool ok = nproblems == 0 && (mode != RT_LOAD_INIT || loaded > 0);
  if (nproblems)
    diag_error((PgLoc){0}, "'%s' does not match the model (%d parameter%s):%s", path, nproblems,
               nproblems == 1 ? "" : "s", problems);
  else if (!ok) diag_error((PgLoc){0}, "'%s' has no parameter whose name is in the model", path);
  if (ok && mode == RT_LOAD_RESUME) ok = restore_state(path, &st, s);
  free(problems);
  rt_safetensors_free(&st);
  return ok;
}

/* one statistic of input's column: a copy of its n f32s, or NULL if it is
 * absent (or *bad after a diagnostic) */
static float *statistic(const char *path, const RtSafetensors *st, const char *input,
                        const char *what, int64_t *n, bool *bad) {
  char name[128];
  statistic_name(name, sizeof name, input, what);
  const RtNamed *t = rt_safetensors_find(st, name);
  if (!t) return NULL;
  *n = t->shape.rank == 1 ? t->shape.dim[0] : 0;
  float *copy = t->dtype == PG_F32 && *n > 0 ? malloc((size_t)*n * sizeof *copy) : NULL;
  if (!copy) {
    diag_error((PgLoc){0}, "'%s': %s is not a vector of f32", path, name);
    return *bad = true, NULL;
  }
  return memcpy(copy, t->data, (size_t)*n * sizeof *copy);
}

/* input's statistics as fit's next column; false if the file has not both */
static bool add_statistic_column(const char *path, const RtSafetensors *st, const char *input,
                                 RtData *fit, bool *bad) {
  int64_t n = 0, n_inv = 0;
  float *mean = statistic(path, st, input, "mean", &n, bad);
  float *inv_std = mean ? statistic(path, st, input, "inv_std", &n_inv, bad) : NULL;
  if (inv_std && n != n_inv) {
    diag_error((PgLoc){0}, "'%s': the normalize statistics of '%s' differ in length", path, input);
    *bad = true;
  }
  if (!inv_std || *bad) return free(mean), free(inv_std), false;
  fit->col[fit->ncols] =
      (RtTensor){.dtype = PG_F32, .per_item = n, .mean = mean, .inv_std = inv_std};
  fit->input[fit->ncols++] = input;
  return true;
}

bool rt_checkpoint_statistics(const char *path, const PgDataSet *train, RtData *fit) {
  RtSafetensors st;
  *fit = (RtData){.name = "statistics"};
  if (!rt_safetensors_read(path, &st)) return false;
  bool bad = false, all = true;
  for (int i = 0; train && i < train->nsources && !bad && fit->ncols < RT_MAX_COLUMNS; i++)
    if (train->sources[i].normalize)
      all &= add_statistic_column(path, &st, train->sources[i].input, fit, &bad);
  rt_safetensors_free(&st);
  if (!all || bad) rt_data_free(fit);
  return !bad;
}

/* checkpoint.c — parameters and training state in safetensors files.
 *
 * A checkpoint holds every parameter of the store by name (weights and
 * optimizer state, so Adam's moments and step count too), and in its metadata
 * the epochs done, the steps done and the RNG state: everything the next
 * epoch depends on, so a resumed run continues bit for bit. Loading checks
 * names and shapes and reports every mismatch in one error. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define FORMAT "nnd-checkpoint-1"

bool rt_checkpoint_save(const char *path, const RtParams *p, const RtTrainState *s) {
  RtNamed *t = malloc((p->count + 1) * sizeof *t);
  for (int i = 0; i < p->count; i++) t[i] = (RtNamed){p->names[i], IR_F32, p->shape[i], p->data[i]};
  char epoch[32], step[32], rng[80];
  snprintf(epoch, sizeof epoch, "%d", s->epoch);
  snprintf(step, sizeof step, "%lld", (long long)s->step);
  snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s->rng.s[0], s->rng.s[1],
           s->rng.s[2], s->rng.s[3]);
  const char *meta[] = {"format", FORMAT, "epoch", epoch, "step", step, "rng", rng, NULL};
  bool ok = rt_safetensors_write(path, t, p->count, meta);
  free(t);
  return ok;
}

static bool restore_state(const char *path, const RtSafetensors *st, RtTrainState *s) {
  const char *format = rt_safetensors_meta(st, "format"), *epoch = rt_safetensors_meta(st, "epoch");
  const char *step = rt_safetensors_meta(st, "step"), *rng = rt_safetensors_meta(st, "rng");
  if (!format || strcmp(format, FORMAT) != 0 || !epoch || !step || !rng || strlen(rng) != 64) {
    diag_error((IrLoc){0}, "'%s' has no training state to resume from (it is not an nnd checkpoint)", path);
    return false;
  }
  s->epoch = atoi(epoch);
  s->step = atoll(step);
  for (int i = 0; i < 4; i++) {
    char word[17];
    memcpy(word, rng + 16 * i, 16);
    word[16] = 0;
    s->rng.s[i] = strtoull(word, NULL, 16);
  }
  return true;
}

static void shape_text(const IrShape *s, char *buf, size_t n) { ir_shape_str(s, buf, n); }

/* which store entries this mode must find in the file */
static bool wanted(const RtParams *p, int i, RtLoadMode mode) {
  return mode == RT_LOAD_RESUME || p->role[i] != IR_ROLE_OPTSTATE;
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
      if (mode != RT_LOAD_INIT) fprintf(msg, "\n  %s %s: not in the file", p->names[i], want), nproblems++;
    } else if (t->dtype != IR_F32 || !ir_shape_eq(&t->shape, &p->shape[i])) {
      shape_text(&t->shape, got, sizeof got);
      fprintf(msg, "\n  %s: %s in the model, %s%s in the file", p->names[i], want, t->dtype == IR_F32 ? "f32" : "i32", got);
      nproblems++;
    } else {
      memcpy(p->data[i], t->data, p->numel[i] * sizeof(float));
      loaded++;
    }
  }
  fclose(msg);
  bool ok = nproblems == 0 && (mode != RT_LOAD_INIT || loaded > 0);
  if (nproblems) diag_error((IrLoc){0}, "'%s' does not match the model (%d parameter%s):%s", path, nproblems,
                            nproblems == 1 ? "" : "s", problems);
  else if (!ok) diag_error((IrLoc){0}, "'%s' has no parameter whose name is in the model", path);
  if (ok && mode == RT_LOAD_RESUME) ok = restore_state(path, &st, s);
  free(problems);
  rt_safetensors_free(&st);
  return ok;
}

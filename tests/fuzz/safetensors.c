/* safetensors.c — fuzz target: a safetensors file read as such (every
 * tensor's data must lie inside the file), then loaded as a checkpoint into a
 * parameter store in each mode (resume, weights, init). The store has the
 * parameters of tests/runtime/Inputs/brightest.nnd trained with Adam, the
 * model whose checkpoint seeds the corpus, so a mutated seed gets past the
 * name and shape checks to the training state in the metadata. */
#include <stdlib.h>
#include <string.h>

#include "../../runtime/runtime.h"
#include "fuzz.h"

typedef struct {
  const char *name;
  int rank;
  int64_t dim;
  PgRole role;
} Param;

static const Param params[] = {
    {"dense_1.kernel", 2, 4, PG_ROLE_WEIGHT},
    {"dense_1.bias", 1, 4, PG_ROLE_WEIGHT},
    {"step", 0, 0, PG_ROLE_OPTSTATE},
    {"dense_1.kernel.adam_m", 2, 4, PG_ROLE_OPTSTATE},
    {"dense_1.kernel.adam_v", 2, 4, PG_ROLE_OPTSTATE},
    {"dense_1.bias.adam_m", 1, 4, PG_ROLE_OPTSTATE},
    {"dense_1.bias.adam_v", 1, 4, PG_ROLE_OPTSTATE},
};
enum { NPARAMS = sizeof params / sizeof *params };

static RtParams store;

/* the store, made once: square shapes of side `dim` */
static void make_store(void) {
  store.count = store.cap = NPARAMS;
  store.names = calloc(NPARAMS, sizeof *store.names);
  store.data = calloc(NPARAMS, sizeof *store.data);
  store.numel = calloc(NPARAMS, sizeof *store.numel);
  store.shape = calloc(NPARAMS, sizeof *store.shape);
  store.role = calloc(NPARAMS, sizeof *store.role);
  for (int i = 0; i < NPARAMS; i++) {
    store.names[i] = strdup(params[i].name);
    store.shape[i].rank = params[i].rank;
    for (int d = 0; d < params[i].rank; d++) store.shape[i].dim[d] = params[i].dim;
    store.numel[i] = pg_numel(&store.shape[i], 1);
    store.data[i] = calloc((size_t)store.numel[i], sizeof(float));
    store.role[i] = params[i].role;
  }
}

static void read_tensors(const char *path) {
  RtSafetensors st;
  if (!rt_safetensors_read(path, &st)) return;
  for (int i = 0; i < st.count; i++) {
    const RtNamed *t = &st.t[i];
    if (rt_safetensors_find(&st, t->name) == NULL)
      fuzz_fail("tensor '%s' is not found by its name", t->name);
    fuzz_touch(t->data, (size_t)pg_numel(&t->shape, 1) * 4);
  }
  for (int i = 0; i < st.nmeta; i++) rt_safetensors_meta(&st, st.meta[i][0]);
  rt_safetensors_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  diag_reset();
  if (!store.count) make_store();
  const char *path = fuzz_file(data, size);
  read_tensors(path);
  RtTrainState state;
  rt_checkpoint_load(path, &store, RT_LOAD_RESUME, &state);
  rt_checkpoint_load(path, &store, RT_LOAD_WEIGHTS, &state);
  rt_checkpoint_load(path, &store, RT_LOAD_INIT, &state);
  return 0;
}

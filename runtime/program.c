/* program.c — binds a compiled entry point to memory: its arena, the
 * parameter store (by name, so the training and the evaluation step share
 * weights), input buffers sized for max_batch rows, and scalar outputs. Also
 * the parameter store and its initialisers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

static void *alloc64(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) {
    diag_error((PgLoc){0}, "out of memory: cannot allocate %.3g GB", (double)bytes / 1e9);
    return NULL;
  }
  memset(p, 0, bytes ? bytes : 1);
  return p;
}

int rt_params_find(const RtParams *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->names[i], name) == 0) return i;
  return -1;
}

/* Glorot-uniform (Keras's default): U(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
static void init_param(float *data, const PgParam *n, RtRng *rng) {
  int64_t count = pg_numel(&n->shape, 1);
  if (n->init == PG_INIT_ONES)
    for (int64_t i = 0; i < count; i++) data[i] = 1;
  if (n->init != PG_INIT_GLOROT_UNIFORM) return; /* zeros: alloc64 cleared it */
  int64_t fan_out = n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1;
  int64_t fan_in = count / (fan_out ? fan_out : 1);
  double limit = sqrt(6.0 / (double)(fan_in + fan_out));
  for (int64_t i = 0; i < count; i++) data[i] = (float)((2 * rt_rng_uniform(rng) - 1) * limit);
}

/* *array grown to cap elements of size each; false (and *array kept) if out of memory */
static bool grow(void *array, int cap, size_t size) {
  void *bigger = realloc(*(void **)array, (size_t)cap * size);
  if (bigger) *(void **)array = bigger;
  else diag_error((PgLoc){0}, "out of memory");
  return bigger != NULL;
}

static int add_param(RtParams *p, const PgParam *n, RtRng *rng) {
  if (p->count == p->cap) {
    int cap = p->cap ? 2 * p->cap : 16;
    if (!grow(&p->names, cap, sizeof *p->names) || !grow(&p->data, cap, sizeof *p->data) ||
        !grow(&p->numel, cap, sizeof *p->numel) || !grow(&p->shape, cap, sizeof *p->shape) ||
        !grow(&p->role, cap, sizeof *p->role))
      return -1;
    p->cap = cap;
  }
  p->shape[p->count] = n->shape;
  p->role[p->count] = n->role;
  p->names[p->count] = strdup(n->name);
  p->numel[p->count] = pg_numel(&n->shape, 1);
  p->data[p->count] = p->names[p->count] ? alloc64(p->numel[p->count] * sizeof(float)) : NULL;
  if (!p->data[p->count]) return free((char *)p->names[p->count]), -1;
  init_param(p->data[p->count], n, rng);
  return p->count++;
}

void rt_params_free(RtParams *p) {
  for (int i = 0; i < p->count; i++) {
    free((char *)p->names[i]);
    free(p->data[i]);
  }
  free(p->names);
  free(p->data);
  free(p->numel);
  free(p->shape);
  free(p->role);
  memset(p, 0, sizeof *p);
}

/* bytes of memory the machine can still give: MemAvailable (Linux), else the
 * free physical pages; -1 if unknown */
static double available_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[128];
  long long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
  if (f) fclose(f);
  if (kb >= 0) return (double)kb * 1024;
  long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (double)pages * (double)size : -1;
}

static int64_t slot_bytes(const PgSlot *s, int64_t batch) { return 4 * pg_numel(&s->shape, batch); }

/* Before allocating anything: the parameters the store does not have yet,
 * the arena and the input and output buffers must fit in the memory
 * available, or the program is refused with what it needs (and at the line
 * of its largest parameter) instead of being killed halfway. */
static bool fits_in_memory(const PgEntry *e, const RtParams *store) {
  double params = 0, buffers = (double)e->arena_bytes, largest = 0;
  const PgParam *big = NULL;
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i].shape.rank) buffers += (double)slot_bytes(&e->slots[i], e->max_batch);
  for (int i = 0; i < e->nparams; i++) {
    const PgParam *n = &e->params[i];
    double bytes = 4.0 * (double)pg_numel(&n->shape, 1);
    if (rt_params_find(store, n->name) >= 0) continue;
    params += bytes;
    if (bytes > largest) largest = bytes, big = n;
  }
  double have = available_bytes();
  if (have < 0 || params + buffers <= have) return true;
  diag_error(big ? big->loc : (PgLoc){0},
             "%s needs %.3g GB of memory (%.3g GB of parameters and optimizer state, "
             "%.3g GB of buffers at batch %lld), more than the %.3g GB available",
             e->name, (params + buffers) / 1e9, params / 1e9, buffers / 1e9,
             (long long)e->max_batch, have / 1e9);
  if (big) diag_note(big->loc, "the largest parameter, '%s', takes %.3g GB", big->name, largest / 1e9);
  return false;
}

static bool bind_param(RtProgram *p, const PgParam *n, RtParams *store, RtRng *rng) {
  int k = rt_params_find(store, n->name);
  if (k < 0) k = add_param(store, n, rng);
  if (k < 0) return false;
  if (store->numel[k] != pg_numel(&n->shape, 1)) {
    diag_error(n->loc, "parameter '%s' has %lld values in the store, the graph expects %lld",
               n->name, (long long)store->numel[k], (long long)pg_numel(&n->shape, 1));
    return false;
  }
  p->params[n->slot] = store->data[k];
  return true;
}

/* an input buffer, an output buffer or a scalar output's place */
static bool bind_slot(RtProgram *p, const PgSlot *s) {
  const PgEntry *e = p->e;
  if (s->output && s->shape.rank == 0) p->io[s->io] = &p->outputs[s->io - e->ninputs];
  else p->io[s->io] = alloc64((size_t)slot_bytes(s, e->max_batch));
  return p->io[s->io] != NULL;
}

bool rt_program_init(RtProgram *p, const PgEntry *e, RtParams *store, RtRng *rng) {
  memset(p, 0, sizeof *p);
  if (!fits_in_memory(e, store)) return false;
  p->e = e;
  p->arena = alloc64(e->arena_bytes);
  p->params = calloc(e->nparams + 1, sizeof *p->params);
  p->io = calloc(e->ninputs + e->noutputs + 2, sizeof *p->io);
  p->outputs = calloc(e->noutputs + 1, sizeof *p->outputs);
  if (!p->arena || !p->params || !p->io || !p->outputs) return false;
  if (e->check_numerics && !(p->nonfinite = calloc(2 * (size_t)e->nnodes + 1, 1))) return false;
  if (e->profile && !(p->cycles = calloc(e->nkernels + 1, sizeof *p->cycles))) return false;
  p->io[e->ninputs + e->noutputs] = p->nonfinite;
  p->io[e->ninputs + e->noutputs + 1] = p->cycles;
  for (int i = 0; i < e->nparams; i++)
    if (!bind_param(p, &e->params[i], store, rng)) return false;
  for (int i = 0; i < e->nslots; i++)
    if (!bind_slot(p, &e->slots[i])) return false;
  return true;
}

void rt_program_run(RtProgram *p, int64_t n) {
  unsigned saved = rt_fp_enter();
  p->e->step(p->arena, p->params, p->io, n);
  rt_fp_leave(saved);
}

/* A NaN or infinity that a later op absorbs (max(log 0, -100)) harms nothing;
 * the one to blame is the first whose non-finite values flow on into a result.
 * Nodes are in topological order: walking back from the results, a node
 * reaches one if a non-finite consumer of it does. */
int rt_program_first_nonfinite(RtProgram *p) {
  const PgEntry *e = p->e;
  uint8_t *bad = p->nonfinite, *reach = p->nonfinite + e->nnodes;
  int first = -1;
  memset(reach, 0, (size_t)e->nnodes);
  for (int i = e->nnodes - 1; i >= 0; i--) {
    const PgNodeInfo *n = &e->nodes[i];
    if (!reach[i] && !n->sink) continue;
    if (reach[i]) first = i;
    for (int k = 0; k < n->nin; k++)
      if (bad[n->in[k]]) reach[n->in[k]] = 1;
  }
  return first;
}

void rt_program_free(RtProgram *p) {
  if (!p->e) return;
  for (int i = 0; p->io && i < p->e->nslots; i++) {
    const PgSlot *s = &p->e->slots[i];
    if (!s->output || s->shape.rank) free(p->io[s->io]);
  }
  free(p->cycles);
  free(p->arena);
  free(p->params);
  free(p->io);
  free(p->outputs);
  free(p->nonfinite);
  memset(p, 0, sizeof *p);
}

static const RtProgram *sorting;
static int by_cycles(const void *a, const void *b) {
  int64_t x = sorting->cycles[*(const int *)a], y = sorting->cycles[*(const int *)b];
  return x < y ? 1 : x > y ? -1 : 0;
}

void rt_profile_print(FILE *out, const RtProgram *p) {
  const PgEntry *e = p->e;
  int *order = malloc((e->nkernels + 1) * sizeof *order);
  int64_t total = 0;
  for (int k = 0; k < e->nkernels; k++) order[k] = k, total += p->cycles[k];
  sorting = p;
  qsort(order, e->nkernels, sizeof *order, by_cycles);
  fprintf(out,
          "profile of %s: %lld steps, %.0f kcycles/step\n  %%time  kcycles/step  kernel  ops "
          "(source)\n",
          e->name, (long long)p->steps, total / 1e3 / (double)(p->steps ? p->steps : 1));
  for (int r = 0; r < e->nkernels && r < 12; r++) {
    int k = order[r];
    fprintf(out, "  %5.1f  %12.1f  %6d ", 100.0 * p->cycles[k] / (double)(total ? total : 1),
            p->cycles[k] / 1e3 / (double)(p->steps ? p->steps : 1), k);
    const PgNodeInfo *first = NULL;
    for (int i = 0, shown = 0; i < e->nnodes; i++)
      if (e->nodes[i].kernel == k) {
        if (!first) first = &e->nodes[i];
        if (shown++ < 5) fprintf(out, " %s", e->nodes[i].op);
      }
    if (first && first->loc.file) fprintf(out, "  (%s:%d)", first->loc.file, first->loc.line);
    fputc('\n', out);
  }
  free(order);
}

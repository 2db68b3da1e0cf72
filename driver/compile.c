/* compile.c — nnd compile: a model to a self-contained object file NAME.o
 * (or NAME.so) and its header NAME.h (docs/compile.md). The predict graph,
 * and with --train the train graph, are compiled for the cpu-object target;
 * the state they share (weights, optimizer state) is bound to one parameter
 * store as `nnd train` binds it, so that without --weights the embedded
 * values are the ones training would start from, and with --weights they
 * are the checkpoint's. */
#include <ctype.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runtime/runtime.h"
#include "driver.h"

extern char **environ;

/* what one compile holds; every field is released by release() */
typedef struct {
  const Cli *c;
  AstFile *ast;
  FeConfig cfg;
  IrGraph *predict, *train;
  PgEntry pe, te;
  RtParams store;
  CgTarget target;
  CgObject obj;
  char *manifest;
  const char *name; /* the symbol prefix: the last part of -o NAME */
} Unit;

/* -o NAME: a path whose last part is a C identifier (the prefix of every symbol) */
static const char *symbol_prefix(const char *out) {
  const char *slash = strrchr(out, '/'), *name = slash ? slash + 1 : out;
  bool ok = *name && !isdigit((unsigned char)*name) && strlen(name) <= 64;
  for (const char *p = name; ok && *p; p++) ok = isalnum((unsigned char)*p) || *p == '_';
  if (!ok)
    fprintf(stderr,
            "nnd: error: -o %s: the name '%s' must be a C identifier of at most 64 characters "
            "(it prefixes every symbol)\n",
            out, name);
  return ok ? name : NULL;
}

static bool describe(IrGraph *g, PgEntry *e, const FeConfig *cfg) {
  if (!g || !cg_describe(g, false, e)) return false;
  pg_set_transforms(e, fe_dataset(cfg, "train"));
  return true;
}

/* the graphs and their manifests; the train entry's inputs that the
 * predictions do not read are its labels */
static bool build(Unit *u) {
  const Cli *c = u->c;
  u->predict = build_graph(u->ast, &u->cfg, c, "predict", NULL);
  if (!describe(u->predict, &u->pe, &u->cfg)) return false;
  if (!c->train) return true;
  u->train = build_graph(u->ast, &u->cfg, c, "train", NULL);
  if (!describe(u->train, &u->te, &u->cfg)) return false;
  pg_mark_labels(&u->te, &u->pe);
  return true;
}

/* creates and initialises e's parameters in the store, as binding e for a
 * run does, but with buffers for one row and no arena: only the parameters
 * are wanted, and a large --batch must not cost gigabytes here */
static bool add_params(const PgEntry *e, RtParams *store, RtRng *rng) {
  PgEntry light = *e; /* shallow: rt_program_free leaves the entry alone */
  light.max_batch = 1;
  light.arena_bytes = 0;
  RtProgram p;
  bool ok = rt_program_init(&p, &light, store, rng);
  rt_program_free(&p);
  return ok;
}

/* binds the entries to the store (train first, as nnd train does, so that
 * the initialisers draw the same values), then --weights over them */
static bool bind_state(Unit *u) {
  RtRng rng;
  rt_rng_seed(&rng, u->cfg.seed);
  if (u->train && !add_params(&u->te, &u->store, &rng)) return false;
  if (!add_params(&u->pe, &u->store, &rng)) return false;
  if (!u->c->weights) return true;
  RtLoadMode mode = u->train ? RT_LOAD_STATE : RT_LOAD_WEIGHTS;
  return rt_checkpoint_load(u->c->weights, &u->store, mode, NULL);
}

static bool lay_out(Unit *u) {
  CgObject *o = &u->obj;
  *o = (CgObject){.name = u->name, .predict = u->predict, .predict_entry = &u->pe};
  o->train = u->train, o->train_entry = u->train ? &u->te : NULL;
  o->embed = !u->c->weights_file, o->flush_denormals = !u->c->no_flush_denormals;
  o->state = calloc((size_t)u->store.count + 1, sizeof *o->state);
  if (!o->state) return diag_error((PgLoc){0}, "out of memory"), false;
  for (int i = 0; i < u->store.count; i++)
    o->state[i] = (CgStateItem){u->store.names[i], u->store.shape[i], u->store.role[i],
                                u->store.numel[i], .init = u->store.data[i]};
  o->nstate = u->store.count;
  cg_object_layout(o);
  o->manifest = u->manifest = manifest_text(o, u->c->input);
  if (!o->manifest) diag_error((PgLoc){0}, "out of memory");
  return o->manifest != NULL;
}

static char *path_with(const char *out, const char *ext) {
  char *p = malloc(strlen(out) + strlen(ext) + 1);
  if (p)
    strcat(strcpy(p, out), ext);
  else
    diag_error((PgLoc){0}, "out of memory");
  return p;
}

/* cc -shared -o so obj: the C compiler every machine that builds nnd has */
static bool link_shared(const char *obj, const char *so) {
  char *argv[] = {"cc", "-shared", "-o", (char *)so, (char *)obj, "-lm", NULL};
  pid_t pid;
  int status = 0, err = posix_spawnp(&pid, "cc", NULL, NULL, argv, environ);
  if (err)
    return diag_error((PgLoc){0}, "cannot run cc to link '%s': %s", so, strerror(err)), false;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return diag_error((PgLoc){0}, "cc -shared failed to link '%s' from '%s'", so, obj), false;
  return true;
}

/* --weights-file: the state as NAME.state, NAME_STATE_FLOATS little-endian floats */
static bool write_state(const Unit *u, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return diag_error((PgLoc){0}, "cannot write '%s': %s", path, strerror(errno)), false;
  bool ok = true;
  for (int i = 0; i < u->obj.nstate; i++)
    ok = ok && fwrite(u->obj.state[i].init, 4, (size_t)u->obj.state[i].numel, f) ==
                   (size_t)u->obj.state[i].numel;
  ok = fclose(f) == 0 && ok;
  if (!ok) diag_error((PgLoc){0}, "cannot write '%s': %s", path, strerror(errno));
  return ok;
}

/* NAME.o (or NAME.so through a temporary object), NAME.h, and NAME.state */
static bool write_outputs(Unit *u) {
  const char *out = u->c->out;
  char *obj = path_with(out, u->c->shared ? ".so.o" : ".o"), *so = path_with(out, ".so");
  char *h = path_with(out, ".h"), *st = path_with(out, ".state");
  bool ok = obj && so && h && st && cg_emit_object(&u->target, &u->obj, obj);
  if (ok && u->c->shared) ok = link_shared(obj, so);
  if (u->c->shared && obj) unlink(obj);
  ok = ok && write_header(h, &u->obj, u->c->input, &u->cfg);
  if (ok && u->c->weights_file) ok = write_state(u, st);
  free(obj), free(so), free(h), free(st);
  return ok;
}

static void report(const Unit *u, double t0) {
  if (u->c->quiet) return;
  printf("compiled %s%s for %s (%s): predict %d kernels", u->c->out, u->c->shared ? ".so" : ".o",
         u->target.triple, u->target.cpu, u->predict->nkernels);
  if (u->train) printf(", train_step %d kernels", u->train->nkernels);
  printf("; workspace %.1f KiB, state %lld floats; %.2f s\n", (double)u->obj.workspace_bytes / 1024,
         (long long)u->obj.state_floats, pg_seconds() - t0);
}

static void release(Unit *u) {
  free(u->manifest);
  free(u->obj.state);
  cg_target_free(&u->target);
  rt_params_free(&u->store);
  pg_entry_free(&u->pe), pg_entry_free(&u->te);
  ir_graph_free(u->predict), ir_graph_free(u->train);
  fe_ast_free(u->ast);
}

int cmd_compile(const Cli *c) {
  if (!c->out)
    return fprintf(stderr, "nnd: error: compile needs -o NAME (writes NAME.o and NAME.h)\n"), 2;
  Unit u = {.c = c, .name = symbol_prefix(c->out)};
  if (!u.name) return 2;
  double t0 = pg_seconds();
  bool ok = cg_target_init(&u.target, CG_CPU_OBJECT, c->target, c->cpu) &&
            (u.ast = load_model(c, &u.cfg)) && build(&u) && bind_state(&u) && lay_out(&u) &&
            write_outputs(&u);
  if (ok) report(&u, t0);
  release(&u);
  return ok ? 0 : 1;
}

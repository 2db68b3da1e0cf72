/* passes.h — graph-to-graph passes and their registry. Every pass has the same
 * interface (graph, options) -> ok, is listed once in registry.c, and leaves a
 * graph that the verifier accepts. Passes report user errors as diagnostics and
 * return false; they never exit. */
#ifndef NND_PASSES_H
#define NND_PASSES_H

#include "../ir/ir.h"

typedef enum { PS_OPT_NONE, PS_OPT_SGD, PS_OPT_ADAM } PsOptimizerKind;

typedef struct {
  PsOptimizerKind kind;
  double lr, beta1, beta2, eps;
} PsOptimizer;

typedef struct {
  PsOptimizer optimizer; /* autodiff: the update appended to the step; NONE = emit gradients as outputs */
  int64_t max_batch;     /* plan: the batch size buffers are sized for */
  int max_ops;           /* fuse: most nodes in one kernel; 1 = no fusion, 0 = no limit */
} PsOptions;

typedef struct {
  const char *name;
  const char *summary;
  const char *options; /* what `name{...}` accepts, for messages and `nnd passes` */
  bool (*run)(IrGraph *g, const PsOptions *opt);
} PsPass;

const PsPass *ps_pass_find(const char *name);
const PsPass *ps_pass_list(int *count);

/* Called after each pass (also one that failed) with the time it took. */
typedef void (*PsObserver)(const IrGraph *g, const char *pass, double seconds, void *ctx);
/* Runs a pipeline "a,b{key=value,...},c", verifying after each pass. */
bool ps_run_pipeline(IrGraph *g, const char *pipeline, const PsOptions *opt, PsObserver after, void *ctx);

bool ps_canonicalize(IrGraph *g, const PsOptions *opt);
bool ps_cse(IrGraph *g, const PsOptions *opt);
bool ps_dce(IrGraph *g, const PsOptions *opt);
bool ps_autodiff(IrGraph *g, const PsOptions *opt);
bool ps_fuse(IrGraph *g, const PsOptions *opt);
bool ps_plan(IrGraph *g, const PsOptions *opt);

/* optimizer.c: the update of each weight from its gradient, appended by autodiff */
void ps_append_update(IrGraph *g, const PsOptimizer *opt, const int *weights, const int *grads, int n);

/* small builders shared by passes */
int ps_unbroadcast(IrGraph *g, int value, const IrShape *to, IrLoc loc);

#endif

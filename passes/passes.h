/* passes.h — graph-to-graph passes and their registry. Every pass has the same
 * interface (graph, options) -> ok, is listed once in registry.c, and leaves a
 * graph that the verifier accepts. Passes report user errors as diagnostics and
 * return false; they never exit. */
#ifndef NND_PASSES_H
#define NND_PASSES_H

#include "../ir/ir.h"

typedef enum { PS_OPT_NONE, PS_OPT_SGD, PS_OPT_ADAM, PS_OPT_ADAMW, PS_OPT_RMSPROP } PsOptimizerKind;
typedef enum { PS_LR_CONSTANT, PS_LR_EXPONENTIAL, PS_LR_STEP, PS_LR_COSINE } PsSchedule;

/* The update rule and the learning rate as a function of the step t (the
 * updates done before this one). Defaults and semantics follow PyTorch's
 * torch.optim and torch.optim.lr_scheduler, stepped once per update. */
typedef struct {
  PsOptimizerKind kind;
  double lr, beta1, beta2, eps; /* adam, adamw; rmsprop uses eps */
  double momentum;              /* sgd, rmsprop */
  bool nesterov;                /* sgd */
  double alpha;                 /* rmsprop: smoothing of the squared gradient */
  double weight_decay;          /* L2 added to the gradient; adamw: decoupled */
  double clip_norm;             /* > 0: scale the gradients to this global norm at most */
  PsSchedule schedule;
  double gamma;                 /* exponential, step: the factor */
  double every;                 /* exponential: steps per factor; step: steps between drops;
                                   cosine: steps to reach min_lr */
  bool staircase;               /* exponential: drop by whole factors */
  double min_lr;                /* cosine */
  double warmup;                /* > 0: linear warmup over this many steps */
  bool lr_scale;                /* the rate times the parameter "lr_scale" (optstate, 1 at
                                   first), which the runtime lowers on a plateau */
} PsOptimizer;

PsOptimizer ps_optimizer_default(PsOptimizerKind kind);

typedef struct {
  PsOptimizer optimizer; /* autodiff: the update appended to the step; NONE = emit gradients as outputs */
  int64_t max_batch;     /* plan: the batch size buffers are sized for */
  int max_ops;           /* fuse: most nodes in one kernel; 1 = no fusion, 0 = no limit */
  bool explain;          /* fuse: keep why each node is in its kernel (IrNode.fusion) */
  bool recompute_scans;  /* autodiff: a scan's reverse recomputes each step from the saved
                            carries instead of saving the values its backward reads */
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
bool ps_decode(IrGraph *g, const PsOptions *opt); /* decode.c: the key/value-cached step */
bool ps_fold_scale(IrGraph *g, const PsOptions *opt); /* fold_scale.c: inference graphs only */

/* optimizer.c: the update of each weight from its gradient, appended by autodiff */
void ps_append_update(IrGraph *g, const PsOptimizer *opt, const int *weights, const int *grads, int n);

/* runs pass on the body of every scan of g (passes that work inside regions
 * call it first; autodiff differentiates a scan as a whole instead) */
bool ps_each_body(IrGraph *g, bool (*pass)(IrGraph *, const PsOptions *), const PsOptions *opt);

/* dce.c: keeps the nodes with keep[id] set, renumbered densely in order (no kept node may
 * read a dropped one); clears the schedule if any went */
void ps_keep_nodes(IrGraph *g, const bool *keep);

/* small builders shared by passes */
int ps_unbroadcast(IrGraph *g, int value, const PgShape *to, PgLoc loc);

#endif

/* registry.c — the one table of passes, read by the pipeline runner and by
 * the CLI (`nnd passes`, `nnd dump`). The verifier runs after every pass. */
#include <string.h>

#include "passes.h"

static const PsPass passes[] = {
    {"dce", "remove nodes no output or assignment depends on", ps_dce},
    {"autodiff", "append the backward graph of \"loss\" and the optimizer update", ps_autodiff},
    {"fuse", "group nodes into kernels: elementwise chains become one loop", ps_fuse},
    {"plan", "assign arena offsets to values that live between kernels", ps_plan},
};

const PsPass *ps_pass_list(int *count) {
  *count = (int)(sizeof passes / sizeof *passes);
  return passes;
}

const PsPass *ps_pass_find(const char *name) {
  for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
    if (strcmp(passes[i].name, name) == 0) return &passes[i];
  return NULL;
}

bool ps_run_pipeline(IrGraph *g, const char *pipeline, const PsOptions *opt,
                     void (*after)(const IrGraph *g, const char *pass, void *ctx), void *ctx) {
  char name[64];
  for (const char *p = pipeline; *p;) {
    size_t len = strcspn(p, ",");
    snprintf(name, sizeof name, "%.*s", (int)len, p);
    p += len + (p[len] == ',');
    if (!*name) continue;
    const PsPass *pass = ps_pass_find(name);
    if (!pass) {
      diag_error((IrLoc){0}, "unknown pass '%s' (`nnd passes` lists them)", name);
      return false;
    }
    if (!pass->run(g, opt) || !ir_verify(g, pass->name)) return false;
    if (after) after(g, pass->name, ctx);
  }
  return true;
}

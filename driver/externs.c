/* externs.c — the shared libraries of a model's extern blocks, loaded before
 * its steps are compiled. Each library is opened RTLD_NOW | RTLD_GLOBAL (all
 * its references resolved now, its symbols visible to libraries loaded after
 * it) and stays loaded while the process runs the compiled code. Each declared
 * function is looked up in its own library and handed to the JIT at that
 * address, so that a function of the same name elsewhere in the process (nnd
 * exports its own for the generated code) is never the one called. */
#include <dlfcn.h>
#include <string.h>

#include "../codegen/codegen.h"
#include "driver.h"

/* the symbol `sym` of the library `lib`, defined for the JIT */
static bool define(CgJit *jit, void *lib, const char *sym, PgLoc loc) {
  dlerror(); /* a NULL address is an error only if dlerror says so */
  void *address = dlsym(lib, sym);
  const char *err = dlerror();
  if (err) {
    diag_error(loc, "no function '%s' in the library: %s", sym, err);
    return false;
  }
  return cg_jit_define(jit, sym, address);
}

/* the derivative of one extern may be another's function: defined once */
static bool defined_before(const FeConfig *cfg, int upto, const char *sym) {
  for (int i = 0; i < upto; i++) {
    const FeExtern *x = &cfg->externs[i];
    bool derivative = x->derivative && strcmp(x->derivative, sym) == 0;
    if (strcmp(x->name, sym) == 0 || derivative) return true;
  }
  return false;
}

bool load_externs(const FeConfig *cfg, CgJit *jit) {
  bool ok = true;
  for (int i = 0; i < cfg->nexterns; i++) {
    const FeExtern *x = &cfg->externs[i];
    void *lib = dlopen(x->path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
      diag_error(x->library_loc, "cannot load the library of extern '%s': %s", x->name, dlerror());
      ok = false;
      continue;
    }
    if (!defined_before(cfg, i, x->name)) ok &= define(jit, lib, x->name, x->loc);
    bool own = x->derivative && strcmp(x->derivative, x->name) != 0;
    if (own && !defined_before(cfg, i, x->derivative))
      ok &= define(jit, lib, x->derivative, x->derivative_loc);
  }
  return ok;
}

/* blocks.c — user-defined blocks: `block NAME(params) { stmts  return expr }`,
 * called like a builtin, and `repeat N NAME(args)`: N instances, each one's
 * result the next one's first argument.
 *
 * Each call is an instance, elaborated in a scope of its own (a fresh Elab on
 * the heap): its parameters and its own names only, layer counters that
 * restart, and a prefix "<instance>." that elab_weight puts before its layers'
 * names, so every instance has its own weights (encoder_2.dense_1.kernel).
 * The graph, the dropout seed and stream count and the batch-size node are the
 * model's: copied in, and back out after the instance.
 *
 * A block's form (its statements, its return, its parameters' names) is
 * checked once per file; its body at each instance, each error followed by a
 * note at the call. Bounds on any input: FE_MAX_BLOCK_DEPTH instances inside
 * each other, FE_MAX_INSTANCES in all, FE_MAX_REPEAT per repeat; a call cycle
 * is an error, found when it closes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "elab.h"

/* a call's arguments bound to its block's parameters */
typedef struct {
  const AstBlock *def;
  int index;                                /* in e->blocks */
  const AstExpr *call;
  const AstExpr *arg[FE_MAX_BLOCK_PARAMS];
  const AstExpr *name;                      /* name=, NULL if absent */
  ElabValue val[FE_MAX_BLOCK_PARAMS];
} Call;

int fe_block_index(const Elab *e, const char *name) {
  for (int i = 0; i < e->blocks->ndefs; i++)
    if (strcmp(e->blocks->def[i]->name, name) == 0) return i;
  return -1;
}

/* ---- the form of a definition ---- */

static bool name_ok(Elab *e, const AstBlock *b) {
  int other = fe_block_index(e, b->name);
  const char *what = fe_builtin(b->name) ? "a builtin layer or function"
                     : fe_extern_find(e->externs, e->nexterns, b->name) ? "an extern function"
                                                                        : NULL;
  if (what) diag_error(b->loc, "block '%s' has the name of %s", b->name, what);
  if (other >= 0) {
    diag_error(b->loc, "redefinition of block '%s'", b->name);
    diag_note(e->blocks->def[other]->loc, "the first definition is here");
  }
  return !what && other < 0;
}

static bool params_ok(const AstBlock *b) {
  const AstExpr *p = b->params;
  if (p->nargs > FE_MAX_BLOCK_PARAMS) {
    diag_error(p->args[FE_MAX_BLOCK_PARAMS]->loc, "a block has at most %d parameters",
               FE_MAX_BLOCK_PARAMS);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < p->nargs; i++) {
    const char *s = p->args[i]->str;
    if (strcmp(s, "name") == 0) {
      diag_error(p->args[i]->loc, "a block's parameter cannot be called 'name' (name= names "
                                  "an instance)");
      ok = false;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(p->args[j]->str, s) == 0) {
        diag_error(p->args[i]->loc, "parameter '%s' appears twice", s);
        ok = false;
      }
  }
  return ok;
}

static bool stmt_ok(const AstStmt *s) {
  switch (s->kind) {
  case ST_INPUT:
    diag_error(s->loc, "'input' is not allowed in a block: its inputs are its parameters");
    return false;
  case ST_LOSS:
  case ST_METRIC:
    diag_error(s->loc, "'%s' is not allowed in a block: the model has the loss and metrics",
               s->kind == ST_LOSS ? "loss" : "metric");
    return false;
  case ST_RETURN:
    if (s->next) diag_error(s->loc, "'return' must be the last statement of a block");
    return !s->next;
  case ST_LET: return true;
  }
  return false;
}

static bool body_ok(const AstBlock *b) {
  bool ok = true;
  const AstStmt *last = NULL;
  for (const AstStmt *s = b->stmts; s; s = s->next) {
    ok &= stmt_ok(s);
    last = s;
  }
  if (!last || last->kind != ST_RETURN) {
    diag_error(b->loc, "block '%s' has no 'return' statement at its end", b->name);
    return false;
  }
  return ok;
}

void fe_blocks_collect(const AstFile *f, Elab *e) {
  FeBlocks *bl = e->blocks;
  for (const AstBlock *b = f->blocks; b; b = b->next) {
    if (b->kind != BLOCK_DEF) continue;
    if (bl->ndefs == FE_MAX_BLOCKS) {
      diag_error(b->loc, "too many blocks in one file (at most %d)", FE_MAX_BLOCKS);
      return;
    }
    bool named = name_ok(e, b);
    bool params = params_ok(b);
    bool body = body_ok(b);
    bl->bad[bl->ndefs] = !named || !params || !body;
    bl->def[bl->ndefs++] = b;
  }
}

/* ---- a call's arguments ---- */

static int param_slot(const AstBlock *b, const char *name) {
  for (int i = 0; i < b->params->nargs; i++)
    if (strcmp(b->params->args[i]->str, name) == 0) return i;
  return -1;
}

static bool name_arg(Call *c, const AstExpr *x) {
  if (c->name) diag_error(x->loc, "the instance of '%s' is named twice", c->def->name);
  c->name = x->args[0];
  return true;
}

/* one argument, by position (*npos) or keyword, into its slot */
static bool bind_one(Call *c, const AstExpr *x, int *npos) {
  const char *block = c->def->name;
  bool kw = x->kind == AST_KWARG;
  if (kw && strcmp(x->str, "name") == 0) return name_arg(c, x);
  int slot = kw ? param_slot(c->def, x->str) : (*npos)++;
  int n = c->def->params->nargs;
  if (kw && slot < 0) {
    diag_error(x->loc, "block '%s' has no parameter '%s'", block, x->str);
    return false;
  }
  if (slot >= n) {
    diag_error(x->loc, "too many arguments to block '%s' (it takes %d)", block, n);
    return false;
  }
  if (c->arg[slot]) {
    diag_error(x->loc, "argument %d of '%s' given twice", slot + 1, block);
    return false;
  }
  c->arg[slot] = kw ? x->args[0] : x;
  return true;
}

static bool bind_call(Elab *e, const AstExpr *call, int block, Call *c) {
  *c = (Call){.def = e->blocks->def[block], .index = block, .call = call};
  int npos = 0, n = c->def->params->nargs;
  for (int i = 0; i < call->nargs; i++)
    if (!bind_one(c, call->args[i], &npos)) return false;
  for (int i = 0; i < n; i++)
    if (!c->arg[i]) {
      diag_error(call->loc, "block '%s' takes %d argument%s, got %d", c->def->name, n,
                 n == 1 ? "" : "s", call->nargs - (c->name != NULL));
      return false;
    }
  return true;
}

/* In the caller's scope: a number if it is one while compiling; a word if it
 * is a string, a name bound to a word, or a name bound to nothing there (an
 * option value such as relu, or a layer's name); else a tensor, elaborated
 * once for all the instances that get it. */
static ElabValue arg_value(Elab *e, const AstExpr *x) {
  ElabValue v = {.kind = NAME_NUMBER, .node = -1};
  if (elab_number(e, x, &v.num, false)) return v;
  int i = x->kind == AST_NAME ? elab_lookup(e, x->str) : -1;
  bool bound_word = i >= 0 && e->names[i].v.kind == NAME_WORD;
  if (bound_word) return e->names[i].v;
  if (x->kind == AST_STR || (x->kind == AST_NAME && i < 0))
    return (ElabValue){.kind = NAME_WORD, .node = -1, .word = x->str};
  return (ElabValue){.kind = NAME_TENSOR, .node = elab_expr(e, x)};
}

/* from parameter `first` on (1: the first comes from the chain of a repeat) */
static bool arg_values(Elab *e, Call *c, int first) {
  bool ok = true;
  for (int i = first; i < c->def->params->nargs; i++) {
    c->val[i] = arg_value(e, c->arg[i]);
    ok &= c->val[i].kind != NAME_TENSOR || c->val[i].node >= 0;
  }
  return ok;
}

/* ---- instances ---- */

/* <block>_<n>, n counting the block's instances in this scope; name=N: N, or
 * N_<k> for the k-th instance of a repeat. Checked against FE_MAX_PREFIX. */
static bool instance_name(Elab *e, const Call *c, int k, char *buf, size_t size) {
  int n = ++e->instances[c->index];
  const char *given = c->name ? word_arg(c->name) : NULL;
  if (c->name && !given) return false;
  if (given && k) snprintf(buf, size, "%.*s_%d", FE_MAX_PREFIX, given, k);
  else if (given) snprintf(buf, size, "%.*s", FE_MAX_PREFIX, given);
  else snprintf(buf, size, "%.*s_%d", FE_MAX_PREFIX, c->def->name, n);
  if (strlen(e->prefix) + strlen(buf) + 1 <= FE_MAX_PREFIX) return true;
  diag_error(c->call->loc, "the instance name '%.40s...' is too long (at most %d characters "
             "with the names of the instances around it)", buf, FE_MAX_PREFIX - 1);
  return false;
}

static bool can_instantiate(Elab *e, const Call *c) {
  const FeBlocks *bl = e->blocks;
  const char *name = c->def->name;
  if (bl->active[c->index])
    diag_error(c->call->loc, "block '%s' calls itself (directly or through other blocks)", name);
  else if (e->depth >= FE_MAX_BLOCK_DEPTH)
    diag_error(c->call->loc, "blocks nested too deeply (more than %d instances inside each other)",
               FE_MAX_BLOCK_DEPTH);
  else if (bl->ninstances >= FE_MAX_INSTANCES)
    diag_error(c->call->loc, "too many block instances in one model (at most %d)",
               FE_MAX_INSTANCES);
  else return true;
  return false;
}

/* the scope of an instance of c named `name`: the model's shared state, the
 * parameters bound, everything else new */
static void enter(Elab *e, Elab *in, const Call *c, const char *name) {
  *in = (Elab){.g = e->g, .mode = e->mode, .seed = e->seed, .batch = e->batch,
               .ndropout = e->ndropout, .nexterns = e->nexterns, .blocks = e->blocks,
               .depth = e->depth + 1, .frozen = e->frozen};
  memcpy(in->externs, e->externs, sizeof in->externs);
  snprintf(in->prefix, sizeof in->prefix, "%s%s.", e->prefix, name);
  for (int i = 0; i < c->def->params->nargs; i++)
    elab_bind(in, c->def->params->args[i]->str, c->val[i], c->def->params->args[i]->loc);
}

static void leave(Elab *e, const Elab *in) {
  e->seed = in->seed;
  e->batch = in->batch;
  e->ndropout = in->ndropout;
}

static int body(Elab *in, const AstBlock *def) {
  for (const AstStmt *s = def->stmts; s; s = s->next) {
    if (s->kind == ST_RETURN) return elab_expr(in, s->expr);
    elab_stmt(in, s);
  }
  return -1; /* not reached: the form check wants a return at the end */
}

/* the k-th instance of a repeat (0: a plain call); c->val bound */
static int instance(Elab *e, Call *c, int k) {
  char name[FE_MAX_PREFIX + 16]; /* room for the suffix; too long is an error */
  if (!can_instantiate(e, c) || !instance_name(e, c, k, name, sizeof name)) return -1;
  Elab *in = pg_calloc(1, sizeof *in);
  if (!in) return -1;
  enter(e, in, c, name);
  e->blocks->active[c->index] = true;
  e->blocks->ninstances++;
  diag_push_context(c->call->loc, "in instance '%s' of block '%s' called here", name,
                    c->def->name);
  Elab *outer = elab_scope(in);
  int result = body(in, c->def);
  elab_scope(outer);
  diag_pop_context();
  e->blocks->active[c->index] = false;
  leave(e, in);
  free(in);
  return result;
}

int fe_block_call(Elab *e, const AstExpr *call, int block) {
  Call c;
  if (e->blocks->bad[block] || !bind_call(e, call, block, &c) || !arg_values(e, &c, 0))
    return -1;
  return instance(e, &c, 0);
}

/* the count of a repeat: a whole number in [1, FE_MAX_REPEAT] */
static bool repeat_count(Elab *e, const AstExpr *x, int *out) {
  double n;
  if (!elab_number(e, x, &n, true)) return false;
  if (n != floor(n) || n < 1 || n > FE_MAX_REPEAT) {
    diag_error(x->loc, "'repeat' makes 1 to %d instances, not %g", FE_MAX_REPEAT, n);
    return false;
  }
  *out = (int)n;
  return true;
}

static int repeat_block(Elab *e, const AstExpr *call) {
  int block = fe_builtin(call->str) ? -1 : fe_block_index(e, call->str);
  if (fe_builtin(call->str))
    diag_error(call->loc, "'repeat' repeats a block; '%s' is a builtin", call->str);
  else if (block < 0) diag_error(call->loc, "unknown block '%s'", call->str);
  else if (e->blocks->def[block]->params->nargs == 0)
    diag_error(call->loc, "'repeat' chains instances through their first argument; block '%s' "
               "has no parameters", call->str);
  else return block;
  return -1;
}

/* Stops at the first instance with an error: the next ones would repeat it. */
int fe_block_repeat(Elab *e, const AstExpr *x) {
  int n, block = -1;
  bool counted = repeat_count(e, x->args[0], &n);
  if (counted) block = repeat_block(e, x->args[1]);
  Call c;
  if (block < 0 || e->blocks->bad[block] || !bind_call(e, x->args[1], block, &c)) return -1;
  if (!arg_values(e, &c, 0)) return -1;
  for (int k = 1; k <= n; k++) {
    int errors = diag_error_count();
    int y = instance(e, &c, k);
    if (y < 0 || diag_error_count() != errors) return -1;
    c.val[0] = (ElabValue){.kind = NAME_TENSOR, .node = y};
  }
  return c.val[0].node;
}

/* sample.c — nnd sample: text from a trained language model, one token at a
 * time, each drawn from the model's scores (the loss's [B, T, V] scores, see
 * losses.c) for the position after its context. The context is the tokens
 * from `start` on (the prompt, then what was drawn); when it would outgrow
 * the T positions the model knows, it keeps only its last T - T/2 tokens.
 * Two steps give the same scores:
 *   the decode step (default; passes/decode.c) computes one position from a
 *     key/value cache of the positions before it: O(T) per token, and the
 *     caches are refilled from the context when it drops tokens;
 *   --no-cache: the predict step over the whole context, O(T^2) per token.
 * The vocabulary that decodes the ids is the checkpoint's (its "vocab"
 * metadata), else that of the model's training text. */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* the i32 [B, T] (or decode's [B, 1]) data input the scores read (a label
 * input has no readers) */
static const PgSlot *token_input(const Compiled *pr) {
  IrUses u = ir_uses(pr->g);
  const PgSlot *found = NULL;
  for (int i = 0; u.start && i < pr->g->count && !found; i++) {
    const IrNode *n = &pr->g->nodes[i];
    if (n->op != IR_OP_INPUT || u.start[i] == u.start[i + 1]) continue;
    const PgSlot *s = pg_slot_named(&pr->entry, n->name, false);
    if (s && s->role == PG_SLOT_DATA && s->dtype == PG_I32 && s->shape.rank == 2) found = s;
  }
  ir_uses_free(&u);
  return found;
}

static const RtVocab *checkpoint_vocab(const char *path, const FeConfig *cfg) {
  RtSafetensors st;
  const char *name = NULL;
  bool read = rt_safetensors_read(path, &st);
  if (read) name = rt_safetensors_meta(&st, "vocab");
  const RtVocab *v = rt_vocab_named(name ? name : "");
  if (read) rt_safetensors_free(&st);
  const PgDataSet *train = fe_dataset(cfg, "train");
  if (!v && train && rt_data_vocab(train)) v = rt_vocab_named(rt_data_vocab(train));
  if (!v)
    diag_error((PgLoc){0}, "'%s' names no vocabulary, nor does the model's training text", path);
  return v;
}

static void print_ids(const RtVocab *v, const int32_t *ids, int64_t n) {
  char buf[4096];
  for (int64_t i = 0; i < n; i += 256) {
    rt_vocab_decode(v, ids + i, n - i < 256 ? n - i : 256, buf, sizeof buf);
    fputs(buf, stdout);
  }
  fflush(stdout);
}

typedef struct {
  Compiled step;                            /* decode, or predict with --no-cache */
  const PgSlot *tokens, *scores, *position; /* position: the decode step's */
  int64_t T, V;
  int64_t cached; /* decode: the context tokens whose keys and values the caches hold */
} Sampler;

/* the token input, the scores output and the positions of a language model's
 * step; its other inputs (unread labels, the caches) hold zeros */
static bool sampler_slots(const Cli *c, Sampler *s) {
  const PgEntry *e = &s->step.entry;
  s->tokens = token_input(&s->step);
  s->scores = pg_slot_with_role(e, PG_SLOT_PREDICTION);
  s->position = pg_slot_with_role(e, PG_SLOT_POSITION);
  if (!s->tokens || !s->scores || s->scores->shape.rank != 3 ||
      s->scores->shape.dim[1] != s->tokens->shape.dim[1] ||
      (s->position && s->position->bound < 1)) {
    diag_error((PgLoc){0}, "%s is not a language model: sample needs one i32 [T] token input "
               "and a per-position loss (its scores [T, vocabulary])", c->input);
    return false;
  }
  s->T = s->position ? s->position->bound : s->tokens->shape.dim[1];
  s->V = s->scores->shape.dim[2];
  for (int i = 0; i < e->ninputs; i++) {
    const PgSlot *in = &e->slots[i];
    memset(rt_slot_buffer(&s->step.prog, in), 0, (size_t)pg_numel(&in->shape, 1) * 4);
  }
  return true;
}

/* the caches' next values become the inputs of the next step */
static void pass_states_back(Sampler *s) {
  const PgEntry *e = &s->step.entry;
  for (int i = 0; i < e->ninputs; i++) {
    const PgSlot *in = &e->slots[i], *out = pg_slot_named(e, in->name, true);
    if (in->role != PG_SLOT_STATE || !out) continue;
    const void *next = rt_slot_buffer(&s->step.prog, out);
    memcpy(rt_slot_buffer(&s->step.prog, in), next, (size_t)pg_numel(&in->shape, 1) * 4);
  }
}

/* the scores for the token after context[0, len), 1 <= len <= T */
static const float *next_scores(Sampler *s, const int32_t *context, int64_t len) {
  RtProgram *p = &s->step.prog;
  if (!s->position) {
    int32_t *window = rt_slot_buffer(p, s->tokens);
    memcpy(window, context, (size_t)len * sizeof *window);
    for (int64_t i = len; i < s->T; i++) window[i] = RT_TOKEN_PAD;
    rt_program_run(p, 1);
    return (const float *)rt_slot_buffer(p, s->scores) + (len - 1) * s->V;
  }
  for (; s->cached < len; s->cached++) {
    *(int32_t *)rt_slot_buffer(p, s->tokens) = context[s->cached];
    *(int32_t *)rt_slot_buffer(p, s->position) = (int32_t)s->cached;
    rt_program_run(p, 1);
    pass_states_back(s);
  }
  return rt_slot_buffer(p, s->scores);
}

static bool generate(const Cli *c, Sampler *s, const RtVocab *v, RtRng *rng) {
  int64_t plen = (int64_t)strlen(c->prompt), start = 0;
  int32_t *ids = malloc((size_t)(plen + c->tokens) * sizeof *ids);
  if (!ids) {
    diag_error((PgLoc){0}, "out of memory for %lld tokens", (long long)c->tokens);
    return false;
  }
  int64_t count = rt_vocab_encode(v, c->prompt, plen, ids);
  print_ids(v, ids, count);
  for (int k = 0; k < c->tokens && count > 0; k++) {
    if (count - start > s->T) { /* keep the last T - T/2 tokens; the caches refill */
      start = count - (s->T - s->T / 2);
      s->cached = 0;
    }
    const float *scores = next_scores(s, ids + start, count - start);
    ids[count] = rt_sample(scores, (int32_t)s->V, c->temperature, c->top_k, rng);
    print_ids(v, &ids[count++], 1);
  }
  putchar('\n');
  free(ids);
  return true;
}

int cmd_sample(const Cli *c) {
  if (!c->weights || !c->prompt || !*c->prompt)
    return fprintf(stderr, "nnd: error: sample needs --weights CKPT and --prompt TEXT\n"), 2;
  Session s;
  Sampler sm = {0};
  const RtVocab *v = NULL;
  bool ok = open_session(c, &s) &&
            compile_step(&s, c->no_cache ? "predict" : "decode", NULL, &sm.step) &&
            sampler_slots(c, &sm) &&
            rt_checkpoint_load(c->weights, &s.store, RT_LOAD_WEIGHTS, NULL) &&
            (v = checkpoint_vocab(c->weights, &s.cfg)) && generate(c, &sm, v, &s.rng);
  release_step(&sm.step);
  return close_session(&s, ok);
}

/* sample.c — nnd sample: text from a trained language model. The model's
 * predict step gives its scores per position (the loss's [B, T, V] scores,
 * see losses.c); each new token is drawn from the scores at the last filled
 * position of a window holding the last T tokens (prompt, then what was
 * drawn), which a causal model does not read past. The vocabulary that
 * decodes the ids is the checkpoint's (its "vocab" metadata), else that of
 * the model's training text. Each token costs one predict step over the
 * window: O(T^2) attention per token (no key/value cache yet). */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* the i32 [B, T] input the scores read (a label input has no readers) */
static const PgSlot *token_input(const Compiled *pr) {
  IrUses u = ir_uses(pr->g);
  const PgSlot *found = NULL;
  for (int i = 0; u.start && i < pr->g->count && !found; i++) {
    const IrNode *n = &pr->g->nodes[i];
    if (n->op != IR_OP_INPUT || u.start[i] == u.start[i + 1]) continue;
    const PgSlot *s = pg_slot_named(&pr->entry, n->name, false);
    if (s && s->dtype == PG_I32 && s->shape.rank == 2) found = s;
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

/* the window's rows: the last min(count, T) tokens, then [PAD] */
static int64_t fill_window(int32_t *window, int64_t T, const int32_t *ids, int64_t count) {
  int64_t len = count < T ? count : T;
  memcpy(window, ids + count - len, (size_t)len * sizeof *window);
  for (int64_t i = len; i < T; i++) window[i] = RT_TOKEN_PAD;
  return len;
}

/* the token input and the scores output of a language model's predict step */
static bool model_slots(const Cli *c, const Compiled *pr, const PgSlot **in, const PgSlot **out) {
  *in = token_input(pr);
  *out = pg_slot_with_role(&pr->entry, PG_SLOT_PREDICTION);
  if (*in && *out && (*out)->shape.rank == 3 && (*out)->shape.dim[1] == (*in)->shape.dim[1])
    return true;
  diag_error((PgLoc){0}, "%s is not a language model: sample needs one i32 [T] token input and "
             "a per-position loss (its scores [T, vocabulary])", c->input);
  return false;
}

static bool generate(const Cli *c, Compiled *pr, const PgSlot *in, const PgSlot *out,
                     const RtVocab *v, RtRng *rng) {
  int64_t T = in->shape.dim[1], V = out->shape.dim[2], plen = (int64_t)strlen(c->prompt);
  int32_t *ids = malloc((size_t)(plen + c->tokens) * sizeof *ids);
  if (!ids) {
    diag_error((PgLoc){0}, "out of memory for %lld tokens", (long long)c->tokens);
    return false;
  }
  int64_t count = rt_vocab_encode(v, c->prompt, plen, ids);
  for (int i = 0; i < pr->entry.ninputs; i++) { /* other inputs (unread labels) hold zeros */
    const PgSlot *s = &pr->entry.slots[i];
    memset(rt_slot_buffer(&pr->prog, s), 0, (size_t)pg_numel(&s->shape, 1) * 4);
  }
  print_ids(v, ids, count);
  for (int k = 0; k < c->tokens; k++) {
    int64_t len = fill_window(rt_slot_buffer(&pr->prog, in), T, ids, count);
    rt_program_run(&pr->prog, 1);
    const float *scores = (const float *)rt_slot_buffer(&pr->prog, out) + (len - 1) * V;
    ids[count] = rt_sample(scores, (int32_t)V, c->temperature, c->top_k, rng);
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
  Compiled pr = {0};
  const RtVocab *v = NULL;
  const PgSlot *in, *out;
  bool ok = open_session(c, &s) && compile_step(&s, "predict", NULL, &pr) &&
            model_slots(c, &pr, &in, &out) &&
            rt_checkpoint_load(c->weights, &s.store, RT_LOAD_WEIGHTS, NULL) &&
            (v = checkpoint_vocab(c->weights, &s.cfg)) && generate(c, &pr, in, out, v, &s.rng);
  release_step(&pr);
  return close_session(&s, ok);
}

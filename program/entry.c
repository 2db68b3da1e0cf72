/* entry.c — the names of entry kinds and slot roles, lookups in a manifest,
 * and the strings an entry owns. */
#include <stdlib.h>
#include <string.h>

#include "program.h"

const char *pg_entry_kind_name(PgEntryKind k) {
  static const char *names[] = {"train", "eval", "grad", "predict"};
  return names[k];
}

const char *pg_slot_role_name(PgSlotRole r) {
  static const char *names[] = {"data",   "label",    "seed",       "loss",
                                "metric", "gradient", "prediction", "truth", "count",
                                "rate", "probability", "position", "state"};
  return names[r];
}

const PgSlot *pg_slot_with_role(const PgEntry *e, PgSlotRole role) {
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i].role == role) return &e->slots[i];
  return NULL;
}

const PgSlot *pg_slot_named(const PgEntry *e, const char *name, bool output) {
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i].output == output && strcmp(e->slots[i].name, name) == 0) return &e->slots[i];
  return NULL;
}

const PgSlot *pg_output(const PgEntry *e, int io) {
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i].output && e->slots[i].io == io) return &e->slots[i];
  return NULL;
}

void pg_mark_labels(PgEntry *e, const PgEntry *other) {
  for (int i = 0; i < e->nslots; i++) {
    PgSlot *s = &e->slots[i];
    const PgSlot *there = s->output ? NULL : pg_slot_named(other, s->name, false);
    if (!s->output && s->role == PG_SLOT_DATA && (!there || there->role == PG_SLOT_LABEL))
      s->role = PG_SLOT_LABEL;
  }
}

void pg_set_transforms(PgEntry *e, const PgDataSet *train) {
  for (int i = 0; i < e->nslots; i++)
    for (int k = 0; train && k < train->nsources; k++)
      if (!e->slots[i].output && strcmp(train->sources[k].input, e->slots[i].name) == 0) {
        e->slots[i].scale = train->sources[k].scale;
        e->slots[i].normalize = train->sources[k].normalize;
      }
}

/* the string table grows by doubling: an entry's strings cost linear time */
const char *pg_strdup(PgEntry *e, const char *s) {
  bool full = (e->nstrings & (e->nstrings - 1)) == 0; /* 0, 1, 2, 4, ...: the capacity is reached */
  char **more =
      full ? pg_realloc(e->strings, (size_t)(e->nstrings ? 2 * e->nstrings : 1) * sizeof *more)
           : e->strings;
  char *copy = more ? strdup(s) : NULL;
  if (more) e->strings = more;
  if (!copy) return more ? diag_error((PgLoc){0}, "out of memory"), "" : "";
  return e->strings[e->nstrings++] = copy;
}

void pg_entry_free(PgEntry *e) {
  for (int i = 0; i < e->nstrings; i++) free(e->strings[i]);
  free(e->strings);
  free(e->slots);
  free(e->params);
  free(e->nodes);
  memset(e, 0, sizeof *e);
}

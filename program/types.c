/* types.c — shapes, a clock, and the names of element types, roles and initialisers
 * as the textual IR and the Program text spell them. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "types.h"

static const char *role_names[] = {"none", "weight", "optstate", "frozen", "statistic"};
static const char *init_names[] = {"zeros", "glorot_uniform", "ones"};

const char *pg_role_name(PgRole r) { return role_names[r]; }
const char *pg_init_name(PgInit i) { return init_names[i]; }

double pg_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

const char *pg_dtype_name(PgDType t) { return t == PG_I32 ? "i32" : "f32"; }

int64_t pg_numel(const PgShape *s, int64_t batch) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->dim[i] == PG_BATCH ? batch : s->dim[i];
  return n;
}

bool pg_shape_fits(const PgShape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    int64_t d = s->dim[i];
    if (d == PG_BATCH) continue; /* where it may stand is the verifier's business */
    if (d < 0 || d > PG_MAX_ELEMENTS || (d && n > PG_MAX_ELEMENTS / d)) return false;
    n *= d;
  }
  return true;
}

bool pg_shape_eq(const PgShape *a, const PgShape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return false;
  return true;
}

int pg_shape_str(const PgShape *s, char *buf, size_t n) {
  int w = snprintf(buf, n, "[");
  for (int i = 0; i < s->rank; i++) {
    const char *sep = i ? "," : "";
    if (s->dim[i] == PG_BATCH) w += snprintf(buf + w, n - w, "%sB", sep);
    else w += snprintf(buf + w, n - w, "%s%lld", sep, (long long)s->dim[i]);
  }
  return w + snprintf(buf + w, n - w, "]");
}


/* the shortest text that strtod reads back to the same double */
void pg_print_double(FILE *out, double v) {
  char buf[32];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

/* quoted as the textual IR quotes names: only '"' and '\' are escaped */
void pg_print_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

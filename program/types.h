/* types.h — the vocabulary every layer shares, from the frontend to the
 * runtime: source locations and diagnostics, element types, shapes (dimension
 * 0 may be PG_BATCH, the batch size known only at run time), parameter roles
 * and initialisers, the size limits that keep every byte count far from
 * overflow, and the checked allocations and source reading built on the
 * diagnostics. It includes nothing of nnd: the bottom of the stack. */
#ifndef NND_PROGRAM_TYPES_H
#define NND_PROGRAM_TYPES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- source locations and diagnostics (diag.c) ---- */

typedef struct {
  const char *file; /* interned by diag_add_source; NULL = no location */
  int line, col;
} PgLoc;

/* NULL (reported) without memory for the file's name */
const char *diag_add_source(const char *file, const char *text);
/* loc.line 0 with a file: "file: error: ..." (a whole file, e.g. a data file) */
void diag_error(PgLoc loc, const char *fmt, ...);
void diag_warning(PgLoc loc, const char *fmt, ...);
void diag_note(PgLoc loc, const char *fmt, ...);
int diag_error_count(void);
void diag_reset(void);
/* errors past the first n are counted but not printed (one line says so);
 * 0: no limit. The default is 20, as clang's -ferror-limit. */
void diag_set_error_limit(int n);
/* A context for the errors reported until it is popped: each error (and
 * warning) is followed by one note per pushed context, innermost first, e.g.
 * "note: in instance 'encoder_2' of block 'encoder' called here". The text
 * is copied (cut at 255 bytes); at most DIAG_MAX_CONTEXT are kept (deeper
 * pushes are counted, not printed). */
#define DIAG_MAX_CONTEXT 32
void diag_push_context(PgLoc loc, const char *fmt, ...);
void diag_pop_context(void);

/* malloc, calloc, realloc that report "out of memory" and return NULL */
void *pg_malloc(size_t bytes);
void *pg_calloc(size_t count, size_t size);
void *pg_realloc(void *p, size_t bytes);

/* a monotonic clock, in seconds: for timings */
double pg_seconds(void);

/* A source file (.nnd, .nnir) in memory: a regular file, a pipe, or "-"
 * (standard input), at most PG_MAX_SOURCE_BYTES, without NUL bytes, followed by two
 * NUL bytes (flex scans the buffer in place). NULL after a diagnostic. */
#define PG_MAX_SOURCE_BYTES (256 << 20)
char *pg_read_source(const char *path, size_t *len);
/* the name diagnostics give a source: "<stdin>" for "-" (read from standard input) */
const char *pg_source_name(const char *path);

/* ---- types ---- */

#define PG_MAX_RANK 6
#define PG_BATCH (-1) /* dim[0] only: the runtime batch size */

typedef enum { PG_F32, PG_I32 } PgDType;

typedef struct {
  int rank;
  int64_t dim[PG_MAX_RANK];
} PgShape;

typedef enum {
  PG_ROLE_NONE,
  PG_ROLE_WEIGHT,   /* trained parameter */
  PG_ROLE_OPTSTATE, /* optimizer state: moments, step counter */
  PG_ROLE_FROZEN,   /* a weight that training leaves alone (fine-tuning) */
  PG_ROLE_STATISTIC, /* model state the train step assigns, not from a gradient: batch norm's
                        running mean and variance (no gradient, no optimizer update; kept by
                        --init-from like a weight) */
} PgRole;

typedef enum { PG_INIT_ZEROS, PG_INIT_GLOROT_UNIFORM, PG_INIT_ONES } PgInit;

/* ---- shapes ---- */
int64_t pg_numel(const PgShape *s, int64_t batch); /* batch substitutes PG_BATCH */
/* the largest tensor nnd makes: PG_MAX_ELEMENTS per example (times a batch of
 * at most 2^20, and 4 or 8 bytes each, byte counts stay far from overflow) */
#define PG_MAX_ELEMENTS ((int64_t)1 << 36)
bool pg_shape_fits(const PgShape *s);
/* the bounds of a plan: a batch of at most 2^20 (as --batch), an arena of at
 * most 2^60 bytes (so that an offset plus a tensor's bytes cannot overflow) */
#define PG_MAX_BATCH ((int64_t)1 << 20)
#define PG_MAX_ARENA ((int64_t)1 << 60)
bool pg_shape_eq(const PgShape *a, const PgShape *b);
int pg_shape_str(const PgShape *s, char *buf, size_t n);

const char *pg_role_name(PgRole r);
const char *pg_init_name(PgInit i);
const char *pg_dtype_name(PgDType t); /* "f32", "i32" */

/* the text forms (IR, Program): a double as the shortest text strtod reads
 * back to it; a string quoted, with only '"' and '\' escaped */
void pg_print_double(FILE *out, double v);
void pg_print_string(FILE *out, const char *s);

#endif

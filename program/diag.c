/* diag.c — user-facing diagnostics: "file:line:col: error: msg", then the
 * source line and a caret under the column, clang-style. Sources are registered
 * once (diag_add_source) so any later stage can quote the line a node came from.
 * Library code reports and returns; only the driver decides to exit.
 * Contexts (diag_push_context: an instance of a block being elaborated) add
 * a note after every error or warning reported inside them.
 *
 * Output is bounded whatever the input: after the error limit (20 unless
 * diag_set_error_limit says otherwise) one line says so and the rest are only
 * counted; a long line is quoted as a window around its column. Also here:
 * reading a source file (size-capped, regular files and pipes only) and the
 * checked allocations that turn a failed malloc into an "out of memory" error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "types.h"

typedef struct {
  const char *file; /* interned */
  char *text, *end;   /* end: the terminating NUL */
  const char *cursor; /* the start of line cursor_line: quoting lines in order is linear */
  int cursor_line;
} Source;

static Source sources[16];
static int nsources;
static int nerrors;
static int error_limit = 20;

#define QUOTE_WIDTH 160 /* longer lines are quoted as this many columns around the caret */
#define MAX_MESSAGE 65536

/* errors past the limit are counted, not printed; their notes go with them */
static bool muted(void) { return error_limit > 0 && nerrors > error_limit; }

static void out_of_memory(size_t bytes) {
  diag_error((PgLoc){0}, "out of memory (cannot allocate %zu bytes)", bytes);
}

void *pg_malloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) out_of_memory(bytes);
  return p;
}

void *pg_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) out_of_memory(size && count > SIZE_MAX / size ? SIZE_MAX : count * size);
  return p;
}

void *pg_realloc(void *p, size_t bytes) {
  void *q = realloc(p, bytes ? bytes : 1);
  if (!q) out_of_memory(bytes);
  return q;
}

static char *dup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* Without memory for a copy of the text the file is still a location, only
 * not quoted: quoting is a convenience, an error message is not. */
static void set_text(Source *s, const char *text) {
  free(s->text);
  size_t len = text ? strlen(text) : 0;
  s->text = text ? dup(text, len) : NULL;
  s->end = s->text ? s->text + len : NULL;
  s->cursor = s->text;
  s->cursor_line = 1;
}

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* Every file name that a location names, stored once: an open-addressing
 * hash set, at most half full. A .nnir file may name any number of files in
 * its loc()s; each costs one copy, looked up in constant time. */
static struct {
  char **slot;
  size_t cap, count;
} names;

static char **name_slot(char **slot, size_t cap, const char *file) {
  size_t i = fnv1a(0xcbf29ce484222325ull, file) & (cap - 1);
  while (slot[i] && strcmp(slot[i], file) != 0) i = (i + 1) & (cap - 1);
  return &slot[i];
}

static bool grow_names(void) {
  size_t cap = names.cap ? 2 * names.cap : 64;
  char **slot = pg_calloc(cap, sizeof *slot);
  if (!slot) return false;
  for (size_t i = 0; i < names.cap; i++)
    if (names.slot[i]) *name_slot(slot, cap, names.slot[i]) = names.slot[i];
  free(names.slot);
  names.slot = slot;
  names.cap = cap;
  return true;
}

static const char *intern(const char *file) {
  if (2 * (names.count + 1) > names.cap && !grow_names()) return NULL;
  char **at = name_slot(names.slot, names.cap, file);
  if (!*at && (*at = dup(file, strlen(file)))) names.count++;
  else if (!*at) out_of_memory(strlen(file) + 1);
  return *at;
}

const char *diag_add_source(const char *file, const char *text) {
  const char *name = intern(file);
  if (!name) return NULL;
  for (int i = 0; i < nsources; i++)
    if (sources[i].file == name) {
      if (text) set_text(&sources[i], text);
      return name;
    }
  if (nsources == (int)(sizeof sources / sizeof *sources)) return name; /* a location, unquoted */
  sources[nsources] = (Source){.file = name};
  if (text) set_text(&sources[nsources], text);
  return sources[nsources++].file;
}

static Source *source_of(const char *file) {
  for (int i = 0; i < nsources; i++)
    if (sources[i].file == file || strcmp(sources[i].file, file) == 0) return &sources[i];
  return NULL;
}

/* the start of a line (the end of the text past the last one), from the
 * cursor when the line is not before it */
static const char *line_start(Source *s, int line) {
  if (line < s->cursor_line) s->cursor = s->text, s->cursor_line = 1;
  while (s->cursor_line < line) {
    const char *nl = strchr(s->cursor, '\n');
    if (!nl) return s->end;
    s->cursor = nl + 1;
    s->cursor_line++;
  }
  return s->cursor;
}

static void quote_line(PgLoc loc) {
  Source *s = source_of(loc.file);
  if (!s || !s->text || loc.line < 1) return;
  const char *p = line_start(s, loc.line), *nl = strchr(p, '\n');
  size_t len = nl ? (size_t)(nl - p) : (size_t)(s->end - p);
  size_t col = loc.col > 1 ? (size_t)loc.col - 1 : 0, from = 0, to = len;
  if (col > len) col = len;
  if (len > QUOTE_WIDTH) {
    from = col > QUOTE_WIDTH / 2 ? col - QUOTE_WIDTH / 2 : 0;
    to = from + QUOTE_WIDTH < len ? from + QUOTE_WIDTH : len;
  }
  const char *dots = from ? "..." : "";
  fprintf(stderr, "%s%.*s%s\n", dots, (int)(to - from), p + from, to < len ? "..." : "");
  fputs(dots, stderr);
  for (size_t c = from; c < col; c++) fputc(p[c] == '\t' ? '\t' : ' ', stderr);
  fputs("^\n", stderr);
}

/* file:line:col, or file alone (line 0: a data file), or nnd (no file). A
 * message is cut at MAX_MESSAGE bytes: it may quote a name of the input. */
static void report(PgLoc loc, const char *kind, const char *fmt, va_list ap) {
  static char msg[MAX_MESSAGE];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  if (loc.file && loc.line > 0) fprintf(stderr, "%s:%d:%d: ", loc.file, loc.line, loc.col);
  else if (loc.file) fprintf(stderr, "%s: ", loc.file);
  else fputs("nnd: ", stderr);
  fprintf(stderr, "%s: %s%s\n", kind, msg, n >= (int)sizeof msg ? "..." : "");
  if (loc.file) quote_line(loc);
}

/* the contexts that diag_push_context opened, outermost first */
static struct {
  PgLoc loc;
  char text[256];
} contexts[DIAG_MAX_CONTEXT];
static int ncontexts; /* pushed, possibly more than are kept */

static void print_note(PgLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(loc, "note", fmt, ap);
  va_end(ap);
}

/* after an error or warning: where it happened, innermost context first */
static void print_contexts(void) {
  int kept = ncontexts < DIAG_MAX_CONTEXT ? ncontexts : DIAG_MAX_CONTEXT;
  for (int i = kept - 1; i >= 0; i--) print_note(contexts[i].loc, "%s", contexts[i].text);
}

void diag_push_context(PgLoc loc, const char *fmt, ...) {
  if (ncontexts++ >= DIAG_MAX_CONTEXT) return;
  va_list ap;
  va_start(ap, fmt);
  contexts[ncontexts - 1].loc = loc;
  vsnprintf(contexts[ncontexts - 1].text, sizeof contexts[0].text, fmt, ap);
  va_end(ap);
}

void diag_pop_context(void) {
  if (ncontexts > 0) ncontexts--;
}

void diag_error(PgLoc loc, const char *fmt, ...) {
  nerrors++;
  if (muted()) {
    if (nerrors == error_limit + 1)
      fputs("nnd: error: too many errors emitted, stopping now\n", stderr);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  report(loc, "error", fmt, ap);
  va_end(ap);
  print_contexts();
}

/* A command elaborates one source into several graphs (train, eval, ...): a
 * warning is printed once, the first time its location and text appear. */
static bool warned_before(PgLoc loc, const char *fmt, va_list ap) {
  static uint64_t seen[256];
  static int nseen;
  char text[512];
  va_list copy;
  va_copy(copy, ap);
  vsnprintf(text, sizeof text, fmt, copy);
  va_end(copy);
  uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ull, loc.file), text) ^ ((uint64_t)loc.line << 32 | (uint32_t)loc.col);
  for (int i = 0; i < nseen; i++)
    if (seen[i] == h) return true;
  if (nseen < (int)(sizeof seen / sizeof *seen)) seen[nseen++] = h;
  return false;
}

void diag_warning(PgLoc loc, const char *fmt, ...) {
  if (muted()) return;
  va_list ap;
  va_start(ap, fmt);
  bool fresh = !warned_before(loc, fmt, ap);
  if (fresh) report(loc, "warning", fmt, ap);
  va_end(ap);
  if (fresh) print_contexts();
}

void diag_note(PgLoc loc, const char *fmt, ...) {
  if (muted()) return;
  va_list ap;
  va_start(ap, fmt);
  report(loc, "note", fmt, ap);
  va_end(ap);
}

int diag_error_count(void) { return nerrors; }
void diag_reset(void) { nerrors = 0; }
void diag_set_error_limit(int n) { error_limit = n > 0 ? n : 0; }

/* ---- reading source files ---- */

static char *too_large(const char *path, char *text) {
  free(text);
  diag_error((PgLoc){path, 0, 0}, "the file is larger than %d MiB, the limit for a source file",
             PG_MAX_SOURCE_BYTES >> 20);
  return NULL;
}

/* the whole of f, up to PG_MAX_SOURCE_BYTES, and two NUL bytes; cap: a first guess */
static char *read_all(FILE *f, const char *path, size_t cap, size_t *len) {
  size_t n = 0, got;
  char *text = pg_malloc(cap);
  while (text && (got = fread(text + n, 1, cap - n - 2, f)) > 0) {
    if ((n += got) > PG_MAX_SOURCE_BYTES) return too_large(path, text);
    if (n + 2 < cap) continue;
    char *bigger = pg_realloc(text, cap *= 2);
    if (!bigger) free(text);
    text = bigger;
  }
  if (text && ferror(f)) {
    diag_error((PgLoc){path, 0, 0}, "cannot read the file: %s", strerror(errno));
    free(text);
    return NULL;
  }
  if (text) text[n] = text[n + 1] = 0;
  *len = n;
  return text;
}

/* read_all, refused for a NUL byte: sources are text */
static char *read_text(FILE *f, const char *path, size_t cap, size_t *len) {
  char *text = read_all(f, path, cap, len);
  if (text && strlen(text) != *len) {
    diag_error((PgLoc){0}, "'%s' is not a text file (it contains NUL bytes)", path);
    free(text);
    return NULL;
  }
  return text;
}

const char *pg_source_name(const char *path) { return strcmp(path, "-") == 0 ? "<stdin>" : path; }

char *pg_read_source(const char *path, size_t *len) {
  if (strcmp(path, "-") == 0) return read_text(stdin, pg_source_name(path), 1 << 16, len);
  FILE *f = fopen(path, "rb");
  if (!f) return diag_error((PgLoc){0}, "cannot open '%s': %s", path, strerror(errno)), NULL;
  struct stat st;
  char *text = NULL;
  if (fstat(fileno(f), &st) != 0) st.st_mode = 0;
  bool regular = S_ISREG(st.st_mode);
  if (!regular && !S_ISFIFO(st.st_mode)) diag_error((PgLoc){path, 0, 0}, "not a regular file");
  else if (regular && st.st_size > PG_MAX_SOURCE_BYTES) too_large(path, NULL);
  else text = read_text(f, path, regular ? (size_t)st.st_size + 3 : 1 << 16, len);
  fclose(f);
  return text;
}

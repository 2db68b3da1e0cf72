/* text.c — plain text as training data: the built-in vocabularies, the
 * text() source of a data block, and the units of text between '%' lines
 * that pairs() and records() take.
 *
 * A vocabulary is fixed and named, so a model's embedding knows its size when
 * it is compiled and a checkpoint can name (and list) the tokens its ids
 * mean. `chars` has one token per byte: five special tokens, newline, tab
 * and printable ASCII; every other byte (controls, UTF-8 sequences) is [UNK].
 *
 * text("a", "b", window=T, stride=S, shift=k) reads the files one after the
 * other, encodes every byte, and cuts example i as the ids
 * [i*S + k, i*S + k + T). Every text column of a data block has as many
 * examples as fit the longest reach (shift + window) of them all, so a
 * column of targets shifted by one lines up with the column of tokens.
 * Sizes are bounded before anything is allocated: a file's bytes, the text
 * in all, and the examples' values each at most RT_MAX_ELEMENTS. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define FIRST_PRINTABLE 32
#define LAST_PRINTABLE 126
#define CHARS_PRINTABLE_ID 7 /* the id of ' ' */

static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

static const RtVocab vocabs[] = {
    {"chars", CHARS_PRINTABLE_ID + LAST_PRINTABLE - FIRST_PRINTABLE + 1},
};

const RtVocab *rt_vocab_named(const char *name) {
  for (size_t i = 0; name && i < sizeof vocabs / sizeof *vocabs; i++)
    if (strcmp(vocabs[i].name, name) == 0) return &vocabs[i];
  return NULL;
}

int32_t rt_vocab_id(const RtVocab *v, unsigned char byte) {
  (void)v; /* one vocabulary so far: chars */
  if (byte == '\n') return RT_TOKEN_NEWLINE;
  if (byte == '\t') return RT_TOKEN_NEWLINE + 1;
  if (byte >= FIRST_PRINTABLE && byte <= LAST_PRINTABLE)
    return CHARS_PRINTABLE_ID + (byte - FIRST_PRINTABLE);
  return RT_TOKEN_UNK;
}

int64_t rt_vocab_encode(const RtVocab *v, const char *text, int64_t len, int32_t *ids) {
  for (int64_t i = 0; i < len; i++) ids[i] = rt_vocab_id(v, (unsigned char)text[i]);
  return len;
}

/* the text of one token into buf (at least 8 bytes): a special's name, or its byte */
static const char *token_text(const RtVocab *v, int32_t id, char *buf) {
  if (id < 0 || id >= v->size) return "[?]";
  if (id < RT_TOKEN_NEWLINE) return specials[id];
  buf[0] = id == RT_TOKEN_NEWLINE       ? '\n'
           : id == RT_TOKEN_NEWLINE + 1 ? '\t'
                                        : (char)(FIRST_PRINTABLE + id - CHARS_PRINTABLE_ID);
  buf[1] = 0;
  return buf;
}

size_t rt_vocab_decode(const RtVocab *v, const int32_t *ids, int64_t n, char *out, size_t cap) {
  size_t len = 0;
  for (int64_t i = 0; i < n; i++) {
    char one[8];
    const char *t = token_text(v, ids[i], one);
    size_t k = strlen(t);
    for (size_t j = 0; j < k; j++, len++)
      if (len + 1 < cap) out[len] = t[j];
  }
  if (cap) out[len < cap ? len : cap - 1] = 0;
  return len;
}

/* one line of JSON, written by jansson (its default allocator: malloc) */
char *rt_vocab_tokens_json(const RtVocab *v) {
  json_t *tokens = json_array();
  for (int32_t id = 0; id < v->size; id++) {
    char one[8];
    json_array_append_new(tokens, json_string(token_text(v, id, one)));
  }
  char *text = json_dumps(tokens, JSON_COMPACT);
  json_decref(tokens);
  return text;
}

/* ---- reading ---- */

bool rt_read_file(const char *path, PgLoc at, char **out, int64_t *len) {
  int64_t bytes;
  int fd = rt_open_regular(path, at, &bytes);
  if (fd < 0) return false;
  bool ok = bytes <= RT_MAX_ELEMENTS;
  if (!ok)
    diag_error(at, "'%s' is too large: more than %lld bytes of text", path,
               (long long)RT_MAX_ELEMENTS);
  char *buf = ok ? malloc(bytes + 1) : NULL;
  int64_t got = 0;
  while (buf && got < bytes) {
    ssize_t n = read(fd, buf + got, (size_t)(bytes - got));
    if (n <= 0) break;
    got += n;
  }
  if (ok && !buf) diag_error(at, "cannot read '%s': %s", path, strerror(ENOMEM));
  else if (ok && got != bytes)
    diag_error(at, "cannot read all of '%s' (it changed while read?)", path);
  ok = ok && buf && got == bytes;
  close(fd);
  if (ok) buf[got] = 0;
  if (!ok) free(buf);
  *out = ok ? buf : NULL;
  *len = got;
  return ok;
}

/* a text file has no NUL byte (grep's test): what fortune's .dat indexes
 * and other binary files have at once */
static bool is_text(const char *path, PgLoc at, const char *buf, int64_t len) {
  const char *nul = memchr(buf, 0, (size_t)len);
  if (!nul) return true;
  diag_error(at, "'%s' is not a text file: byte %lld is NUL (text() reads plain text)", path,
             (long long)(nul - buf));
  return false;
}

/* appends the ids of one file's text to *ids (n of them so far); false after a diagnostic */
static bool append_file(const PgSource *s, const char *path, const RtVocab *v, int32_t **ids,
                        int64_t *n) {
  char *buf;
  int64_t len;
  if (!rt_read_file(path, s->loc, &buf, &len)) return false;
  bool ok = is_text(path, s->loc, buf, len);
  if (ok && *n + len > RT_MAX_ELEMENTS) {
    diag_error(s->loc, "the text of '%s' and the files before it is more than %lld bytes", path,
               (long long)RT_MAX_ELEMENTS);
    ok = false;
  }
  int32_t *grown = ok ? realloc(*ids, (size_t)(*n + len + 1) * sizeof **ids) : NULL;
  if (ok && !grown) diag_error(s->loc, "out of memory for the text of '%s'", path);
  if (grown) {
    *ids = grown;
    *n += rt_vocab_encode(v, buf, len, grown + *n);
  }
  free(buf);
  return grown != NULL;
}

/* the ids of paths [from, to) of s, one file after the other */
static int32_t *files_ids(const PgSource *s, int from, int to, const RtVocab *v, int64_t *count) {
  int32_t *ids = malloc(sizeof *ids);
  int64_t n = 0;
  if (!ids) diag_error(s->loc, "out of memory for the text of '%s'", s->paths[from]);
  for (int i = from; ids && i < to; i++)
    if (!append_file(s, s->paths[i], v, &ids, &n)) {
      free(ids);
      return NULL;
    }
  *count = n;
  return ids;
}

int32_t *rt_text_ids(const PgSource *s, const RtVocab *v, int64_t *count) {
  return files_ids(s, 0, s->npaths, v, count);
}

int32_t *rt_text_file_ids(const PgSource *s, int file, const RtVocab *v, int64_t *count) {
  return files_ids(s, file, file + 1, v, count);
}

/* ---- units: text between lines holding only '%' (fortune files) ---- */

#define PERCENT_ID (CHARS_PRINTABLE_ID + ('%' - FIRST_PRINTABLE))

/* a line holding only '%' at ids[i]: '%' after a newline (or the start), then
 * a newline or the end */
static bool separator_at(const int32_t *ids, int64_t n, int64_t i) {
  bool line_start = i == 0 || ids[i - 1] == RT_TOKEN_NEWLINE;
  return line_start && ids[i] == PERCENT_ID && (i + 1 == n || ids[i + 1] == RT_TOKEN_NEWLINE);
}

/* ids [from, to) less its last newlines, as unit *count (stored if start is
 * given); nothing if no id is left */
static void add_unit(const int32_t *ids, int64_t from, int64_t to, int64_t *start, int64_t *end,
                     int64_t *count) {
  while (to > from && ids[to - 1] == RT_TOKEN_NEWLINE) to--;
  if (to == from) return;
  if (start) {
    start[*count] = from;
    end[*count] = to;
  }
  ++*count;
}

int64_t rt_text_units(const int32_t *ids, int64_t n, int64_t *start, int64_t *end) {
  int64_t count = 0, from = 0;
  for (int64_t i = 0; i < n; i++)
    if (separator_at(ids, n, i)) {
      add_unit(ids, from, i, start, end, &count);
      from = i + 2;
    }
  if (from < n) add_unit(ids, from, n, start, end, &count);
  return count;
}

int64_t rt_text_reach(const PgDataSet *spec) {
  int64_t reach = 0;
  for (int i = 0; i < spec->nsources; i++) {
    const PgSource *s = &spec->sources[i];
    if (strcmp(s->format, "text") == 0 && s->shift + s->window > reach)
      reach = s->shift + s->window;
  }
  return reach;
}

/* cuts the windows of s out of ids: example i is ids[i*stride + shift ...] */
static bool cut_windows(const PgSource *s, const int32_t *ids, int64_t n, int64_t reach,
                        RtTensor *out) {
  if (n < reach) {
    diag_error(
        s->loc, "'%s'%s has %lld tokens, fewer than the %lld of one example (shift + window)",
        s->paths[0], s->npaths > 1 ? " and the other files" : "", (long long)n, (long long)reach);
    return false;
  }
  int64_t count = (n - reach) / s->stride + 1, elements = 1;
  if (!rt_count_fits(&elements, count) || !rt_count_fits(&elements, s->window)) {
    diag_error(s->loc, "'%s': %lld windows of %lld tokens are more than %lld values", s->paths[0],
               (long long)count, (long long)s->window, (long long)RT_MAX_ELEMENTS);
    return false;
  }
  int32_t *rows = malloc((size_t)elements * sizeof *rows);
  if (!rows) {
    diag_error(s->loc, "out of memory for the windows of '%s'", s->paths[0]);
    return false;
  }
  for (int64_t i = 0; i < count; i++)
    memcpy(rows + i * s->window, ids + i * s->stride + s->shift, (size_t)s->window * sizeof *rows);
  *out = (RtTensor){.dtype = PG_I32,
                    .count = count,
                    .per_item = s->window,
                    .rank = 2,
                    .dim = {count, s->window},
                    .data = rows};
  return true;
}

bool rt_load_text(const PgSource *s, PgDType dtype, int64_t reach, RtTensor *out) {
  memset(out, 0, sizeof *out);
  const RtVocab *v = rt_vocab_named(s->vocab);
  if (!v) {
    diag_error(s->loc, "text(): no vocabulary named '%s'", s->vocab);
    return false;
  }
  if (dtype != PG_I32) {
    diag_error(s->loc, "text() gives token ids: input '%s' must be i32", s->input);
    return false;
  }
  if (s->window < 1 || s->stride < 1 || s->shift < 0 || reach < s->shift + s->window) {
    diag_error(s->loc, "text(): window, stride or shift out of range");
    return false;
  }
  int64_t n = 0;
  int32_t *ids = rt_text_ids(s, v, &n);
  if (!ids) return false;
  bool ok = cut_windows(s, ids, n, reach, out);
  free(ids);
  return ok;
}

bool rt_is_text_source(const PgSource *s) {
  const char *f = s->format;
  return !strcmp(f, "text") || !strcmp(f, "pairs") || !strcmp(f, "records");
}

const char *rt_data_vocab(const PgDataSet *spec) {
  for (int i = 0; spec && i < spec->nsources; i++)
    if (rt_is_text_source(&spec->sources[i])) return spec->sources[i].vocab;
  return NULL;
}

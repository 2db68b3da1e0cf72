/* safetensors.c — the safetensors format (readable by standard tools): an
 * 8-byte little-endian header length, a JSON header mapping each tensor name
 * to {dtype, shape, data_offsets} (plus "__metadata__": string to string),
 * then the raw little-endian data. Writes are atomic: a temporary file in the
 * same folder, fsync, rename, so a kill never leaves a broken file where a
 * good one was (the next save removes the temporary a kill left behind).
 * Reads take regular files only, check everything and name the file in every
 * error. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

#define MAX_HEADER (64 << 20)
/* the largest file read: 8 tensors of RT_MAX_ELEMENTS f32s, far above any
 * model here; its size is checked before anything that size is allocated */
#define MAX_FILE (8 * RT_MAX_ELEMENTS * 4)

/* ---- writing ---- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

static char *header_json(const RtNamed *t, int n, const char *const *meta, size_t *len) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  int64_t offset = 0;
  fputc('{', f);
  if (meta && meta[0]) {
    fputs("\"__metadata__\":{", f);
    for (int i = 0; meta[i]; i += 2) {
      if (i) fputc(',', f);
      json_string(f, meta[i]);
      fputc(':', f);
      json_string(f, meta[i + 1]);
    }
    fputc('}', f);
  }
  for (int i = 0; i < n; i++) {
    int64_t bytes = pg_numel(&t[i].shape, 1) * 4;
    fputs(i || (meta && meta[0]) ? "," : "", f);
    json_string(f, t[i].name);
    fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype == PG_F32 ? "F32" : "I32");
    for (int d = 0; d < t[i].shape.rank; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)t[i].shape.dim[d]);
    fprintf(f, "],\"data_offsets\":[%lld,%lld]}", (long long)offset, (long long)(offset + bytes));
    offset += bytes;
  }
  fputc('}', f);
  while ((ftell(f) + 8) % 8) fputc(' ', f); /* the data starts 8-byte aligned */
  fclose(f);
  return text;
}

/* 0, or the errno of the write that failed (a write of nothing is an EIO) */
static int write_all(int fd, const void *p, size_t n) {
  for (const char *c = p; n;) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    c += w, n -= (size_t)w;
  }
  return 0;
}

/* the header and the tensors, then fsync: 0 or the errno of the call that failed */
static int write_contents(int fd, const char *header, size_t hlen, const RtNamed *t, int n) {
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  int err = write_all(fd, len8, 8);
  if (!err) err = write_all(fd, header, hlen);
  for (int i = 0; !err && i < n; i++)
    err = write_all(fd, t[i].data, (size_t)pg_numel(&t[i].shape, 1) * 4);
  if (!err && fsync(fd) != 0) err = errno;
  return err;
}

/* path split at its last '/': the folder ("." or "/" if none) and the name */
static void split_path(const char *path, char *dir, size_t n, const char **base) {
  const char *slash = strrchr(path, '/');
  *base = slash ? slash + 1 : path;
  if (!slash) snprintf(dir, n, ".");
  else if (slash == path) snprintf(dir, n, "/");
  else snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

/* NAME.tmp.XXXXXX exactly: the writer's mkstemp template, six letters or digits */
static bool is_temp_of(const char *entry, const char *base) {
  size_t len = strlen(base);
  if (strncmp(entry, base, len) != 0 || strncmp(entry + len, ".tmp.", 5) != 0) return false;
  const char *x = entry + len + 5;
  for (int i = 0; i < 6; i++)
    if (!isalnum((unsigned char)x[i])) return false;
  return x[6] == 0;
}

/* removes one stale temporary: a regular file of ours (never a link: O_NOFOLLOW)
 * that no writer holds locked, still under that name */
static void remove_if_stale(int dfd, const char *name) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st, now;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
      flock(fd, LOCK_EX | LOCK_NB) == 0 && fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
      now.st_dev == st.st_dev && now.st_ino == st.st_ino)
    unlinkat(dfd, name, 0);
  close(fd);
}

/* A save killed between mkstemp and rename (SIGKILL, a power cut) leaves
 * PATH.tmp.XXXXXX behind, as large as the checkpoint, and every killed run
 * would add one. So each save first removes the stale temporaries of its own
 * path: same folder, exactly that name pattern, regular files only, and only
 * those no writer holds: a writer keeps its temporary flock'ed until the
 * rename, so a concurrent save of the same path keeps its file. First, so
 * their space is free before the new file is written. */
static void remove_stale_temps(const char *path) {
  char dir[4096];
  const char *base;
  split_path(path, dir, sizeof dir, &base);
  DIR *d = *base ? opendir(dir) : NULL;
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));)
    if (is_temp_of(e->d_name, base)) remove_if_stale(dirfd(d), e->d_name);
  closedir(d);
}

/* make the rename itself durable */
static void sync_dir(const char *path) {
  char dir[4096];
  const char *base;
  split_path(path, dir, sizeof dir, &base);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

/* NULL, or why the file at path must not be replaced: rename() would put a
 * file where a directory, a device or a FIFO was */
static const char *not_replaceable(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return NULL;
  return S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file";
}

/* the temporary at tmp, written and renamed to path: 0 or the errno of the
 * call that failed (captured at once: a later call may change errno) */
static int write_and_rename(const char *path, char *tmp, const RtNamed *t, int n,
                            const char *const *meta) {
  int fd = mkstemp(tmp);
  if (fd < 0) return errno;
  /* the lock marks the temporary as in use (remove_stale_temps); it is held
   * until the file has its final name */
  int err = flock(fd, LOCK_EX) != 0 ? errno : 0;
  if (!err) {
    size_t hlen;
    char *header = header_json(t, n, meta, &hlen);
    err = write_contents(fd, header, hlen, t, n);
    free(header);
  }
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) unlink(tmp);
  close(fd);
  return err;
}

bool rt_safetensors_write(const char *path, const RtNamed *t, int n, const char *const *meta) {
  char tmp[4096];
  const char *why = not_replaceable(path);
  if (!why && snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
    why = strerror(ENAMETOOLONG);
  if (!why) {
    remove_stale_temps(path);
    int err = write_and_rename(path, tmp, t, n, meta);
    if (err) why = strerror(err);
  }
  if (why) {
    diag_error((PgLoc){0}, "cannot write '%s': %s (nothing was replaced)", path, why);
    return false;
  }
  sync_dir(path);
  return true;
}

/* 0, or the errno of making (and at once removing) a temporary as the writer
 * names it: what access() cannot tell (a name too long, a read-only file
 * system for root) */
static int probe_temporary(const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) return ENAMETOOLONG;
  int fd = mkstemp(tmp);
  if (fd < 0) return errno;
  close(fd);
  unlink(tmp);
  return 0;
}

/* NULL, or why rt_safetensors_write could not write path (in buf): the checks
 * that can be made before there is anything to write, mkstemp in the folder
 * and rename over path */
static const char *save_problem(const char *path, char *buf, size_t n) {
  const char *problem = not_replaceable(path);
  char dir[4096], why[96];
  const char *base;
  split_path(path, dir, sizeof dir, &base);
  if (problem) return problem;
  if (!*path) return "the path is empty";
  if (!*base) return "it names a directory";
  struct stat st;
  /* W_OK: to create the temporary; X_OK: to reach it */
  if (stat(dir, &st) != 0)
    snprintf(why, sizeof why, "%s", errno == ENOENT ? "does not exist" : strerror(errno));
  else if (!S_ISDIR(st.st_mode)) snprintf(why, sizeof why, "is not a directory");
  else if (access(dir, W_OK | X_OK) != 0)
    snprintf(why, sizeof why, "is not writable (%s)", strerror(errno));
  else {
    int err = probe_temporary(path);
    if (!err) return NULL;
    snprintf(buf, n, "%s", strerror(err));
    return buf;
  }
  snprintf(buf, n, "its folder '%s' %s", dir, why);
  return buf;
}

bool rt_checkpoint_check_writable(const char *path) {
  char buf[4300];
  const char *problem = save_problem(path, buf, sizeof buf);
  if (problem) diag_error((PgLoc){0}, "cannot save a checkpoint to '%s': %s", path, problem);
  return !problem;
}

/* ---- reading: a small JSON reader for the header's subset ---- */

typedef struct {
  const char *path, *start, *p, *end;
  bool failed;
} Json;

static bool bad(Json *j, const char *what) {
  if (!j->failed)
    diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: %s (header byte %ld)", j->path,
               what, (long)(j->p - j->start));
  j->failed = true;
  return false;
}

static void ws(Json *j) {
  while (j->p < j->end && strchr(" \t\r\n", *j->p)) j->p++;
}

static bool lit(Json *j, char c) {
  ws(j);
  if (j->p < j->end && *j->p == c) return j->p++, true;
  char what[32];
  snprintf(what, sizeof what, "expected '%c'", c);
  return bad(j, what);
}

static bool peek_char(Json *j, char c) {
  ws(j);
  return j->p < j->end && *j->p == c;
}

/* what a one-letter JSON escape stands for (\" \\ \/ stand for themselves) */
static char unescape(char c) {
  switch (c) {
  case 'n': return '\n';
  case 't': return '\t';
  case 'r': return '\r';
  case 'b': return '\b';
  case 'f': return '\f';
  default: return c;
  }
}

static char *str(Json *j) {
  if (!lit(j, '"')) return NULL;
  size_t cap = 32, n = 0;
  char *s = malloc(cap);
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\' && j->p < j->end) {
      c = *j->p++;
      if (c != 'u') c = unescape(c);
      else { /* \u00XX only */
        if (j->end - j->p < 4) break;
        c = (char)strtol((char[]){j->p[2], j->p[3], 0}, NULL, 16);
        j->p += 4;
      }
    }
    if (n + 2 > cap) s = realloc(s, cap *= 2);
    s[n++] = c;
  }
  s[n] = 0;
  if (!lit(j, '"')) return free(s), NULL;
  return s;
}

static bool num(Json *j, int64_t *out) {
  ws(j);
  char *e;
  long long v = strtoll(j->p, &e, 10);
  if (e == j->p || e > j->end || v < 0) return bad(j, "expected a non-negative integer");
  j->p = e;
  *out = v;
  return true;
}

static bool skip_value(Json *j) {
  ws(j);
  if (peek_char(j, '"')) return free(str(j)), !j->failed;
  int depth = 0;
  for (; j->p < j->end; j->p++) {
    if (*j->p == '{' || *j->p == '[') depth++;
    else if (*j->p == '}' || *j->p == ']') {
      if (--depth < 0) return true;
      if (depth == 0) return j->p++, true;
    } else if (depth == 0 && (*j->p == ',')) return true;
  }
  return bad(j, "unterminated value");
}

static bool metadata(Json *j, RtSafetensors *st) {
  if (!lit(j, '{')) return false;
  while (!peek_char(j, '}')) {
    if (st->nmeta && !lit(j, ',')) return false;
    char *k = str(j), *v = NULL;
    if (k && lit(j, ':')) v = str(j);
    if (!v) return free(k), false;
    if (st->nmeta == RT_MAX_META) return free(k), free(v), bad(j, "too much metadata");
    st->meta[st->nmeta][0] = k, st->meta[st->nmeta++][1] = v;
  }
  return lit(j, '}');
}

static bool dtype_field(Json *j, RtNamed *t) {
  char *d = str(j);
  bool ok = d && (strcmp(d, "F32") == 0 || strcmp(d, "I32") == 0);
  if (ok) t->dtype = d[0] == 'F' ? PG_F32 : PG_I32;
  else if (d) bad(j, "only F32 and I32 tensors are supported");
  free(d);
  return ok;
}

/* dimensions and their product stay below 2^31 (so byte counts never overflow) */
static bool shape_field(Json *j, RtNamed *t) {
  if (!lit(j, '[')) return false;
  int64_t elements = 1;
  for (t->shape.rank = 0; !peek_char(j, ']');) {
    if (t->shape.rank == PG_MAX_RANK) return bad(j, "too many dimensions");
    int64_t *dim = &t->shape.dim[t->shape.rank++];
    if ((t->shape.rank > 1 && !lit(j, ',')) || !num(j, dim)) return false;
    if (!rt_count_fits(&elements, *dim))
      return bad(j, "a shape has a negative dimension or more than 2^31 elements");
  }
  return lit(j, ']');
}

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]} in any order */
static bool tensor_entry(Json *j, RtNamed *t, int64_t *begin, int64_t *end) {
  if (!lit(j, '{')) return false;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  for (int first = 1; !peek_char(j, '}'); first = 0) {
    if (!first && !lit(j, ',')) return false;
    char *k = str(j);
    bool ok = k && lit(j, ':');
    if (ok && strcmp(k, "dtype") == 0) ok = has_dtype = dtype_field(j, t);
    else if (ok && strcmp(k, "shape") == 0) ok = has_shape = shape_field(j, t);
    else if (ok && strcmp(k, "data_offsets") == 0)
      ok = has_offsets = lit(j, '[') && num(j, begin) && lit(j, ',') && num(j, end) && lit(j, ']');
    else if (ok) ok = skip_value(j);
    free(k);
    if (!ok || j->failed) return false;
  }
  if (!has_dtype || !has_shape || !has_offsets) return bad(j, "a tensor needs dtype, shape and data_offsets");
  return lit(j, '}');
}

static bool header(Json *j, RtSafetensors *st, const char *data, int64_t data_len) {
  if (!lit(j, '{')) return false;
  for (int first = 1; !peek_char(j, '}'); first = 0) {
    if (!first && !lit(j, ',')) return false;
    char *name = str(j);
    if (!name || !lit(j, ':')) return free(name), false;
    if (strcmp(name, "__metadata__") == 0) {
      free(name);
      if (!metadata(j, st)) return false;
      continue;
    }
    RtNamed t = {.name = name};
    int64_t begin, end;
    if (!tensor_entry(j, &t, &begin, &end)) return free(name), false;
    if (begin < 0 || end < begin || end > data_len || end - begin != pg_numel(&t.shape, 1) * 4)
      return free(name), bad(j, "a tensor's data_offsets do not match its shape or lie outside the file");
    t.data = (void *)(data + begin);
    st->t = realloc(st->t, (st->count + 1) * sizeof *st->t);
    st->t[st->count++] = t;
  }
  return lit(j, '}');
}

/* 0, or the errno of the read that failed (a file shorter than its size: EIO) */
static int read_all(int fd, char *buf, int64_t n) {
  while (n > 0) {
    ssize_t r = read(fd, buf, n < (1 << 30) ? (size_t)n : (1 << 30));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return EIO;
    buf += r, n -= r;
  }
  return 0;
}

/* the whole file, NUL-terminated (so no number parse can run past its end) */
static char *slurp(const char *path, int64_t *len) {
  int fd = rt_open_regular(path, (PgLoc){0}, len);
  if (fd < 0) return NULL;
  char *buf = *len <= MAX_FILE ? malloc(*len + 1) : NULL;
  int err = buf ? read_all(fd, buf, *len) : 0;
  close(fd);
  if (!buf && *len > MAX_FILE)
    diag_error((PgLoc){0},
               "'%s' is too large for a safetensors file here (%lld bytes; at most %lld)", path,
               (long long)*len, (long long)MAX_FILE);
  else if (!buf)
    diag_error((PgLoc){0}, "cannot read '%s': out of memory for %lld bytes", path, (long long)*len);
  else if (err) diag_error((PgLoc){0}, "cannot read '%s': %s", path, strerror(err));
  if (!buf || err) {
    free(buf);
    return NULL;
  }
  buf[*len] = 0;
  return buf;
}

bool rt_safetensors_read(const char *path, RtSafetensors *st) {
  memset(st, 0, sizeof *st);
  int64_t len;
  char *buf = slurp(path, &len);
  if (!buf) return false;
  st->blob = buf;
  uint64_t hlen = 0;
  for (int i = 7; len >= 8 && i >= 0; i--) hlen = hlen << 8 | (unsigned char)buf[i];
  if (len < 8 || hlen > MAX_HEADER || (int64_t)hlen > len - 8) {
    diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: %s", path,
               len < 8 ? "shorter than 8 bytes" : "its header length exceeds the file (truncated?)");
    rt_safetensors_free(st);
    return false;
  }
  Json j = {path, buf + 8, buf + 8, buf + 8 + hlen, false};
  if (!header(&j, st, buf + 8 + hlen, len - 8 - (int64_t)hlen)) {
    rt_safetensors_free(st);
    return false;
  }
  return true;
}

void rt_safetensors_free(RtSafetensors *st) {
  for (int i = 0; i < st->count; i++) free((char *)st->t[i].name);
  for (int i = 0; i < st->nmeta; i++) free(st->meta[i][0]), free(st->meta[i][1]);
  free(st->t);
  free(st->blob);
  memset(st, 0, sizeof *st);
}

const RtNamed *rt_safetensors_find(const RtSafetensors *st, const char *name) {
  for (int i = 0; i < st->count; i++)
    if (strcmp(st->t[i].name, name) == 0) return &st->t[i];
  return NULL;
}

const char *rt_safetensors_meta(const RtSafetensors *st, const char *key) {
  for (int i = 0; i < st->nmeta; i++)
    if (strcmp(st->meta[i][0], key) == 0) return st->meta[i][1];
  return NULL;
}

/* safetensors.c — the safetensors format (readable by standard tools): an
 * 8-byte little-endian header length, a JSON header mapping each tensor name
 * to {dtype, shape, data_offsets} (plus "__metadata__": string to string),
 * then the raw little-endian data. jansson reads and writes the JSON; the
 * header's keys keep their order (metadata first, then the tensors in the
 * order given), so the same tensors give the same bytes. Writes are atomic: a
 * temporary file in the same folder, fsync, rename, so a kill never leaves a
 * broken file where a good one was (the next save removes the temporary a
 * kill left behind). Reads take regular files only, check everything (every
 * number is range-checked before it becomes a size or an offset; a key twice
 * in one object is an error) and name the file in every error. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
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

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}, in that order */
static json_t *tensor_json(const RtNamed *t, int64_t begin, int64_t end) {
  json_t *shape = json_array();
  for (int d = 0; d < t->shape.rank; d++)
    json_array_append_new(shape, json_integer(t->shape.dim[d]));
  return json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype == PG_F32 ? "F32" : "I32",
                   "shape", shape, "data_offsets", (json_int_t)begin, (json_int_t)end);
}

/* key, value, ..., NULL as an object of strings; NULL if one is not UTF-8 */
static json_t *meta_json(const char *const *meta) {
  json_t *m = json_object();
  for (int i = 0; m && meta[i]; i += 2)
    if (json_object_set_new(m, meta[i], json_string(meta[i + 1])) != 0) {
      json_decref(m);
      m = NULL;
    }
  return m;
}

/* the metadata, then the tensors in order, their data one after the other;
 * NULL, with why, if a name or value is not UTF-8 or two tensors share a name */
static json_t *header_object(const RtNamed *t, int n, const char *const *meta, char *why,
                             size_t cap) {
  json_t *root = json_object();
  int err = meta && meta[0] ? json_object_set_new(root, "__metadata__", meta_json(meta)) : 0;
  int64_t offset = 0;
  for (int i = 0; !err && i < n; i++) {
    int64_t bytes = pg_numel(&t[i].shape, 1) * 4;
    if (json_object_get(root, t[i].name)) {
      snprintf(why, cap, "two tensors are named '%.60s'", t[i].name);
      json_decref(root);
      return NULL;
    }
    err = json_object_set_new(root, t[i].name, tensor_json(&t[i], offset, offset + bytes));
    offset += bytes;
  }
  if (root && !err) return root;
  snprintf(why, cap, "a tensor name or a metadata text is not valid UTF-8");
  json_decref(root);
  return NULL;
}

/* the header in one line of JSON, space-padded so the data starts 8-byte
 * aligned; NULL, with why, if it cannot be written */
static char *header_json(const RtNamed *t, int n, const char *const *meta, size_t *len,
                         char *why, size_t cap) {
  json_t *root = header_object(t, n, meta, why, cap);
  size_t used = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;
  size_t padded = (used + 7) / 8 * 8;
  char *text = used ? malloc(padded) : NULL;
  if (text) json_dumpb(root, text, used, JSON_COMPACT);
  if (text) memset(text + used, ' ', padded - used);
  if (root && !text) snprintf(why, cap, "%s", strerror(ENOMEM));
  json_decref(root);
  *len = padded;
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
static int write_and_rename(const char *path, char *tmp, const char *header, size_t hlen,
                            const RtNamed *t, int n) {
  int fd = mkstemp(tmp);
  if (fd < 0) return errno;
  /* the lock marks the temporary as in use (remove_stale_temps); it is held
   * until the file has its final name */
  int err = flock(fd, LOCK_EX) != 0 ? errno : 0;
  if (!err) err = write_contents(fd, header, hlen, t, n);
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) unlink(tmp);
  close(fd);
  return err;
}

/* the header is made first: a header that cannot be written touches no file */
bool rt_safetensors_write(const char *path, const RtNamed *t, int n, const char *const *meta) {
  char tmp[4096], problem[128];
  size_t hlen = 0;
  const char *why = not_replaceable(path);
  if (!why && snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
    why = strerror(ENAMETOOLONG);
  char *header = why ? NULL : header_json(t, n, meta, &hlen, problem, sizeof problem);
  if (!why && !header) why = problem;
  if (!why) {
    remove_stale_temps(path);
    int err = write_and_rename(path, tmp, header, hlen, t, n);
    if (err) why = strerror(err);
  }
  free(header);
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

/* ---- reading: jansson parses the header, then every field is checked ---- */

typedef struct {
  const char *path;
  RtSafetensors *st;
  const char *data; /* the bytes after the header: what data_offsets count in */
  int64_t data_len;
} Reader;

/* text from the file as it may be shown: at most 40 bytes, controls as '?' */
static const char *shown(const char *s, char *buf, size_t n) {
  size_t i = 0;
  for (; s[i] && i < 40 && i + 4 < n; i++)
    buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  snprintf(buf + i, n - i, "%s", s[i] ? "..." : "");
  return buf;
}

/* what is wrong with the header entry named key */
static bool bad(const Reader *r, const char *key, const char *what) {
  char name[48];
  diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: %s (header entry '%s')", r->path,
             what, shown(key, name, sizeof name));
  return false;
}

/* Every number of the header is read as a double (JSON_DECODE_INT_AS_REAL):
 * then an integer too large for json_int_t is a range error of ours, not a
 * syntax error, and every integer up to 2^53, far above any limit here, is
 * exact. True if j is a whole number, in *v; the caller checks its range
 * before it becomes an int64_t. */
static bool whole(const json_t *j, double *v) {
  *v = json_number_value(j);
  return json_is_number(j) && floor(*v) == *v;
}

/* "__metadata__": an object of at most RT_MAX_META strings */
static bool metadata(const Reader *r, const json_t *m) {
  const char *key;
  json_t *v;
  if (!json_is_object(m)) return bad(r, "__metadata__", "expected '{'");
  if (json_object_size(m) > RT_MAX_META) return bad(r, "__metadata__", "too much metadata");
  json_object_foreach((json_t *)m, key, v) {
    if (!json_is_string(v)) return bad(r, "__metadata__", "a metadata value is not a string");
    RtSafetensors *st = r->st;
    st->meta[st->nmeta][0] = strdup(key);
    st->meta[st->nmeta++][1] = strdup(json_string_value(v));
  }
  return true;
}

static bool dtype_field(const Reader *r, const char *name, const json_t *d, RtNamed *t) {
  const char *s = json_string_value(d); /* NULL if d is not a string */
  bool f32 = s && strcmp(s, "F32") == 0, i32 = s && strcmp(s, "I32") == 0;
  if (!f32 && !i32) return bad(r, name, "only F32 and I32 tensors are supported");
  t->dtype = f32 ? PG_F32 : PG_I32;
  return true;
}

/* dimensions and their product stay below 2^31 (so byte counts never overflow) */
static bool shape_field(const Reader *r, const char *name, const json_t *s, RtNamed *t) {
  if (!json_is_array(s)) return bad(r, name, "expected '[' (a shape)");
  if (json_array_size(s) > PG_MAX_RANK) return bad(r, name, "too many dimensions");
  int64_t elements = 1;
  t->shape.rank = (int)json_array_size(s);
  for (int d = 0; d < t->shape.rank; d++) {
    double v;
    if (!whole(json_array_get(s, d), &v)) return bad(r, name, "expected a non-negative integer");
    if (v < 0 || v > (double)RT_MAX_ELEMENTS || !rt_count_fits(&elements, (int64_t)v))
      return bad(r, name, "a shape has a negative dimension or more than 2^31 elements");
    t->shape.dim[d] = (int64_t)v;
  }
  return true;
}

/* [begin, end]: inside the data, and as many bytes as the shape has */
static bool offsets_field(const Reader *r, const char *name, const json_t *o, RtNamed *t) {
  double begin, end;
  if (!json_is_array(o) || json_array_size(o) != 2)
    return bad(r, name, "expected data_offsets [begin, end]");
  if (!whole(json_array_get(o, 0), &begin) || !whole(json_array_get(o, 1), &end))
    return bad(r, name, "expected a non-negative integer");
  double bytes = (double)(pg_numel(&t->shape, 1) * 4);
  if (begin < 0 || end < begin || end > (double)r->data_len || end - begin != bytes)
    return bad(r, name, "a tensor's data_offsets do not match its shape or lie outside the file");
  t->data = (void *)(r->data + (int64_t)begin);
  return true;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]} in any order;
 * other keys are ignored */
static bool tensor_entry(const Reader *r, const char *name, const json_t *e, RtNamed *t) {
  if (!json_is_object(e)) return bad(r, name, "expected '{'");
  const json_t *dtype = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
  const json_t *offsets = json_object_get(e, "data_offsets");
  if (!dtype || !shape || !offsets)
    return bad(r, name, "a tensor needs dtype, shape and data_offsets");
  return dtype_field(r, name, dtype, t) && shape_field(r, name, shape, t) &&
         offsets_field(r, name, offsets, t);
}

/* the entries in the file's order (MAX_HEADER bounds their count far below
 * INT_MAX: each takes more than 40 bytes) */
static bool header(const Reader *r, json_t *root) {
  const char *name;
  json_t *v;
  RtSafetensors *st = r->st;
  st->t = calloc(json_object_size(root) + 1, sizeof *st->t);
  json_object_foreach(root, name, v) {
    RtNamed t = {0};
    if (strcmp(name, "__metadata__") == 0) {
      if (!metadata(r, v)) return false;
    } else if (!tensor_entry(r, name, v, &t)) return false;
    else {
      t.name = strdup(name);
      st->t[st->count++] = t;
    }
  }
  return true;
}

/* the header parsed: NULL after a diagnostic with jansson's words and place */
static json_t *parse_header(const char *path, const char *text, size_t len) {
  json_error_t e;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
  if (root && json_is_object(root)) return root;
  if (root)
    diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: its header is not an object",
               path);
  for (char *c = e.text; !root && *c; c++) /* jansson quotes the file's bytes */
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  if (!root)
    diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: %s (header line %d, column %d)",
               path, e.text, e.line, e.column);
  json_decref(root);
  return NULL;
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

/* the whole file (in a buffer of one more byte: never a malloc(0)) */
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
    const char *why = len < 8 ? "shorter than 8 bytes"
                              : "its header length exceeds the file (truncated?)";
    diag_error((PgLoc){0}, "'%s' is not a valid safetensors file: %s", path, why);
    rt_safetensors_free(st);
    return false;
  }
  Reader r = {path, st, buf + 8 + hlen, len - 8 - (int64_t)hlen};
  json_t *root = parse_header(path, buf + 8, (size_t)hlen);
  bool ok = root && header(&r, root);
  json_decref(root);
  if (!ok) rt_safetensors_free(st);
  return ok;
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

/* idx.c — the IDX format (LeCun's MNIST files): a 4-byte magic (0, 0, element
 * type, rank), rank big-endian u32 dimensions, then the elements, big-endian.
 * gzip'd or plain (zlib reads both). The file must hold exactly the elements
 * its header promises: short files and trailing bytes are errors. Also the
 * checks every loader shares: regular files only, labels range-checked. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime.h"

typedef struct {
  int code, size;
  const char *name;
} IdxType;

static const IdxType idx_types[] = {
    {0x08, 1, "u8"}, {0x09, 1, "i8"}, {0x0B, 2, "i16"}, {0x0C, 4, "i32"}, {0x0D, 4, "f32"}, {0x0E, 8, "f64"},
};

static const IdxType *idx_type(int code) {
  for (size_t i = 0; i < sizeof idx_types / sizeof *idx_types; i++)
    if (idx_types[i].code == code) return &idx_types[i];
  return NULL;
}

static double element(const unsigned char *p, int code) {
  uint64_t v = 0;
  int size = idx_type(code)->size;
  for (int i = 0; i < size; i++) v = v << 8 | p[i];
  switch (code) {
  case 0x08: return (double)(uint8_t)v;
  case 0x09: return (double)(int8_t)v;
  case 0x0B: return (double)(int16_t)v;
  case 0x0C: return (double)(int32_t)v;
  case 0x0D: { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); return f; }
  default: { double d; memcpy(&d, &v, 8); return d; }
  }
}

static bool read_header(gzFile f, const char *path, PgLoc at, int *code, RtTensor *t) {
  unsigned char magic[4], dim[4];
  if (gzread(f, magic, 4) != 4 || magic[0] || magic[1] || !idx_type(magic[2]) || magic[3] < 1 ||
      magic[3] > PG_MAX_RANK) {
    diag_error(at, "'%s' is not an IDX file (bad magic number)", path);
    return false;
  }
  *code = magic[2];
  t->rank = magic[3];
  int64_t elements = 1;
  t->per_item = 1;
  for (int i = 0; i < t->rank; i++) {
    if (gzread(f, dim, 4) != 4) {
      diag_error(at, "'%s' is truncated: the header ends inside dimension %d", path, i + 1);
      return false;
    }
    t->dim[i] = (int64_t)dim[0] << 24 | dim[1] << 16 | dim[2] << 8 | dim[3];
    if (!rt_count_fits(&elements, t->dim[i])) {
      diag_error(at, "'%s' is too large: its header describes more than %lld elements", path,
                 (long long)RT_MAX_ELEMENTS);
      return false;
    }
    if (i > 0) t->per_item *= t->dim[i];
  }
  t->count = t->dim[0];
  return true;
}

static bool convert(const unsigned char *raw, int code, PgDType dtype, double scale,
                    const char *path, PgLoc at, RtTensor *t) {
  int64_t n = t->count * t->per_item;
  int size = idx_type(code)->size;
  const char *why;
  t->dtype = dtype;
  t->data = malloc((n ? n : 1) * 4);
  if (!t->data) {
    diag_error(at, "'%s': out of memory for %lld elements", path, (long long)n);
    return false;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = element(raw + i * size, code);
    if (dtype == PG_F32) {
      ((float *)t->data)[i] = (float)(v * scale);
    } else if ((why = rt_int32_of(v, &((int32_t *)t->data)[i]))) {
      /* only f32 and f64 elements get here: print them exactly as stored */
      int digits = code == 0x0D ? 9 : 17;
      diag_error(at, "'%s': element %lld is %.*g, %s", path, (long long)i, digits, v, why);
      return false;
    }
  }
  return true;
}

/* reads up to `bytes` bytes into a buffer that grows with what arrives, so a
 * header promising more than the file holds costs no more than the file */
static int64_t read_at_most(gzFile f, int64_t bytes, unsigned char **out) {
  int64_t got = 0, cap = 0;
  unsigned char *buf = NULL;
  while (got < bytes) {
    if (got == cap) {
      cap = cap ? cap * 2 : 1 << 20;
      if (cap > bytes) cap = bytes;
      unsigned char *grown = realloc(buf, cap);
      if (!grown) break;
      buf = grown;
    }
    int n = gzread(f, buf + got, (unsigned)(cap - got < (1 << 30) ? cap - got : (1 << 30)));
    if (n <= 0) break;
    got += n;
  }
  *out = buf ? buf : malloc(1);
  return got;
}

bool rt_load_idx(const char *path, PgDType dtype, double scale, PgLoc at, RtTensor *out) {
  memset(out, 0, sizeof *out);
  int fd = rt_open_regular(path, at, NULL);
  if (fd < 0) return false;
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    diag_error(at, "cannot open '%s': %s", path, strerror(errno ? errno : ENOMEM));
    close(fd);
    return false;
  }
  int code;
  bool ok = read_header(f, path, at, &code, out);
  unsigned char *raw = NULL;
  if (ok) {
    int64_t bytes = out->count * out->per_item * idx_type(code)->size;
    int64_t got = read_at_most(f, bytes, &raw);
    unsigned char extra;
    if (got != bytes) {
      diag_error(at, "'%s' is truncated: the header promises %lld bytes of data, the file has %lld", path,
                 (long long)bytes, (long long)(got < 0 ? 0 : got));
      ok = false;
    } else if (gzread(f, &extra, 1) > 0) {
      diag_error(at, "'%s' has data after the %lld bytes its header describes", path, (long long)bytes);
      ok = false;
    }
  }
  int zerr;
  const char *zmsg = gzerror(f, &zerr);
  if (ok && zerr != Z_OK && zerr != Z_STREAM_END) {
    diag_error(at, "'%s': %s", path, zmsg);
    ok = false;
  }
  gzclose(f);
  ok = ok && convert(raw, code, dtype, scale, path, at, out);
  free(raw);
  if (!ok) rt_tensor_free(out);
  return ok;
}

void rt_tensor_free(RtTensor *t) {
  free(t->data);
  free(t->mean);
  free(t->inv_std);
  t->data = NULL;
  t->mean = t->inv_std = NULL;
}

/* ---- shared by every loader ---- */

const char *rt_int32_of(double v, int32_t *out) {
  if (v != floor(v)) return "not an integer"; /* NaN too */
  if (v < -2147483648.0 || v > 2147483647.0) return "outside the range of a 32-bit integer";
  *out = (int32_t)v;
  return NULL;
}

static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISFIFO(mode)) return "a FIFO";
  return "a socket";
}

int rt_open_regular(const char *path, PgLoc at, int64_t *bytes) {
  /* O_NONBLOCK: opening a FIFO with no writer must not hang before the check */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    diag_error(at, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    diag_error(at, "cannot open '%s': %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    diag_error(at, "cannot read '%s': it is %s, not a regular file", path, file_kind(st.st_mode));
    close(fd);
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (bytes) *bytes = st.st_size;
  return fd;
}

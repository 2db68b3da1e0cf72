/* npy.c — NumPy's .npy format: the magic "\x93NUMPY", a version, a header
 * length, a Python-literal header {'descr': '<f4', 'fortran_order': False,
 * 'shape': (N, ...)} and the raw data. Little-endian float32/64, int8-64 and
 * uint8 are read (as the target dtype); the first dimension is the example
 * count. Everything is checked against the file's size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

typedef struct {
  const char *descr;
  int size;
} NpyType;

static const NpyType npy_types[] = {{"<f4", 4}, {"<f8", 8}, {"<i4", 4}, {"<i8", 8}, {"<i2", 2},
                                    {"|i1", 1}, {"|u1", 1}, {"<u1", 1}, {"|b1", 1}};

static double npy_value(const unsigned char *p, const char *descr) {
  if (!strcmp(descr, "<f4")) { float f; memcpy(&f, p, 4); return f; }
  if (!strcmp(descr, "<f8")) { double d; memcpy(&d, p, 8); return d; }
  if (!strcmp(descr, "<i4")) { int32_t v; memcpy(&v, p, 4); return v; }
  if (!strcmp(descr, "<i8")) { int64_t v; memcpy(&v, p, 8); return (double)v; }
  if (!strcmp(descr, "<i2")) { int16_t v; memcpy(&v, p, 2); return v; }
  if (!strcmp(descr, "|i1")) return (int8_t)p[0];
  return p[0];
}

/* an element that becomes an int32, range-checked; an error prints it as stored */
static bool npy_int(const unsigned char *p, const NpyType *type, const char *path, PgLoc at,
                    int64_t i, int32_t *out) {
  double v = npy_value(p, type->descr);
  const char *why = rt_int32_of(v, out);
  if (!why) return true;
  char text[40];
  if (!strcmp(type->descr, "<i8")) {
    int64_t w;
    memcpy(&w, p, 8);
    snprintf(text, sizeof text, "%lld", (long long)w);
  } else {
    snprintf(text, sizeof text, "%.*g", type->descr[1] == 'f' && type->size == 4 ? 9 : 17, v);
  }
  diag_error(at, "'%s': element %lld is %s, %s", path, (long long)i, text, why);
  return false;
}

static bool bad(const char *path, PgLoc at, const char *what) {
  diag_error(at, "'%s' is not a readable .npy file: %s", path, what);
  return false;
}

/* the header's descr, fortran_order and shape */
static bool parse_header(const char *h, const char *path, PgLoc at, const NpyType **type,
                         RtTensor *t) {
  const char *d = strstr(h, "'descr'"), *f = strstr(h, "'fortran_order'"), *s = strstr(h, "'shape'");
  if (!d || !f || !s) return bad(path, at, "its header lacks descr, fortran_order or shape");
  const char *order = strchr(f, ':');
  if (order && strncmp(order + 1 + strspn(order + 1, " "), "True", 4) == 0)
    return bad(path, at, "Fortran (column-major) order is not supported");
  d = strchr(d + 7, '\'');
  *type = NULL;
  for (size_t i = 0; d && i < sizeof npy_types / sizeof *npy_types; i++)
    if (strncmp(d + 1, npy_types[i].descr, 3) == 0 && d[4] == '\'') *type = &npy_types[i];
  if (!*type) return bad(path, at, "its dtype is not one of float32/64, int8/16/32/64, uint8, bool (little-endian)");
  const char *p = strchr(s, '(');
  t->rank = 0;
  t->per_item = 1;
  int64_t elements = 1;
  while (p && *++p && *p != ')') {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p) { p = end; continue; }
    if (v < 0 || t->rank == PG_MAX_RANK)
      return bad(path, at, "its shape has a negative size or too many dimensions");
    t->dim[t->rank] = v;
    if (!rt_count_fits(&elements, v))
      return bad(path, at, "its shape describes more than 2^31 elements");
    if (t->rank++) t->per_item *= v;
    p = end - 1;
  }
  if (!p || t->rank == 0) return bad(path, at, "its shape is missing or a scalar");
  t->count = t->dim[0];
  return true;
}

/* bytes from the current position to the end of the file */
static int64_t data_bytes_left(FILE *f) {
  long here = ftell(f);
  if (here < 0 || fseek(f, 0, SEEK_END) != 0) return -1;
  long end = ftell(f);
  fseek(f, here, SEEK_SET);
  return end - here;
}

bool rt_load_npy(const char *path, PgDType dtype, double scale, PgLoc at, RtTensor *out) {
  memset(out, 0, sizeof *out);
  int fd = rt_open_regular(path, at, NULL);
  FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
  if (fd >= 0 && !f) {
    diag_error(at, "cannot open '%s': %s", path, strerror(errno));
    close(fd);
  }
  if (!f) return false;
  unsigned char head[12];
  bool ok = fread(head, 1, 10, f) == 10 && memcmp(head, "\x93NUMPY", 6) == 0;
  uint32_t hlen = 0;
  if (ok && head[6] == 1) hlen = head[8] | head[9] << 8;
  else if (ok && fread(head + 10, 1, 2, f) == 2) hlen = head[8] | head[9] << 8 | head[10] << 16 | (uint32_t)head[11] << 24;
  char *h = ok && hlen < (1 << 20) ? calloc(hlen + 1, 1) : NULL;
  const NpyType *type = NULL;
  ok = h && fread(h, 1, hlen, f) == hlen ? parse_header(h, path, at, &type, out) : bad(path, at, "bad magic or header");
  int64_t n = ok ? out->count * out->per_item : 0;
  if (ok && data_bytes_left(f) != n * type->size)
    ok = bad(path, at, data_bytes_left(f) < n * type->size ? "the data is shorter than its shape"
                                                           : "the data is longer than its shape");
  if (ok) {
    unsigned char *raw = malloc(n * type->size + 1);
    out->dtype = dtype;
    out->data = malloc(n * 4 + 4);
    if (!raw || !out->data || fread(raw, 1, n * type->size, f) != (size_t)(n * type->size))
      ok = bad(path, at, "cannot read its data");
    for (int64_t i = 0; ok && i < n; i++) {
      const unsigned char *p = raw + i * type->size;
      if (dtype == PG_F32) ((float *)out->data)[i] = (float)(npy_value(p, type->descr) * scale);
      else ok = npy_int(p, type, path, at, i, &((int32_t *)out->data)[i]);
    }
    free(raw);
  }
  free(h);
  fclose(f);
  if (!ok) rt_tensor_free(out);
  return ok;
}

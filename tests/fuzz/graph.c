/* graph.c — fuzz target: the graph() source. The input is read as the edge
 * list (with a fixed node table of 4 nodes) and as the node table (with a
 * fixed edge list): every field must come back consistent, whatever the
 * bytes: edge ids in [0, N), labels -1 or from the table, mask 0 or 1. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tensor.h"

/* a memfd holding text, by its /proc/self/fd path (made once) */
static const char *fixed_file(const char *name, const char *text) {
  int fd = memfd_create(name, 0);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
    fuzz_fail("memfd for %s", name);
  static char paths[2][64];
  static int used;
  char *path = paths[used++ % 2];
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return path;
}

static void field(const char *edges, const char *nodes, const char *name, const char *split,
                  PgDType dtype) {
  PgSource s = {.input = "x", .format = "graph", .path = edges, .paths = {edges, nodes},
                .npaths = 2, .field = name, .split = split, .scale = 1};
  RtTensor t;
  if (!rt_load_graph(&s, dtype, &t)) return;
  fuzz_check_tensor(&t, name);
  if (t.count != 1) fuzz_fail("%s: %lld examples, not one graph", name, (long long)t.count);
  const int32_t *v = t.data;
  const float *f = t.data;
  for (int64_t i = 0; i < t.per_item; i++) {
    if (!strcmp(name, "labels") && v[i] < -1) fuzz_fail("labels: %d", v[i]);
    if (!strcmp(name, "mask") && f[i] != 0 && f[i] != 1) fuzz_fail("mask: %g", f[i]);
  }
  rt_tensor_free(&t);
}

static void every_field(const char *edges, const char *nodes) {
  field(edges, nodes, "edges", NULL, PG_I32);
  field(edges, nodes, "weights", NULL, PG_F32);
  field(edges, nodes, "features", NULL, PG_F32);
  field(edges, nodes, "labels", "train", PG_I32);
  field(edges, nodes, "mask", "test", PG_F32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *nodes, *edges;
  if (!nodes) nodes = fixed_file("nodes", "label,split,f0\n0,train,1\n1,test,2\n-1,-,3\n1,val,4\n");
  if (!edges) edges = fixed_file("edges", "0 1\n1 0 0.5\n");
  diag_reset();
  const char *path = fuzz_file(data, size);
  every_field(path, nodes);
  every_field(edges, path);
  return 0;
}

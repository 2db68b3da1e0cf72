/* idx.h — a small reader of (gzip'd) IDX files for the C examples: the
 * Fashion-MNIST images (u8, [count, 28, 28]) and labels (u8, [count]).
 * Everything in the header is checked before it becomes a size. */
#ifndef EXAMPLES_IDX_H
#define EXAMPLES_IDX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define IDX_MAX_COUNT 10000000 /* examples */
#define IDX_MAX_PER 1000000    /* bytes per example */

/* the bytes of an IDX file of u8 values of `rank` dimensions; *count gets
 * the first dimension, *per the product of the others. NULL (and a message
 * naming the file) if it cannot be read or is not such a file. */
static unsigned char *idx_read(const char *path, int rank, int64_t *count, int64_t *per) {
  gzFile f = gzopen(path, "rb");
  unsigned char head[4 + 4 * 3];
  unsigned char *data = NULL;
  if (!f) return fprintf(stderr, "%s: error: cannot open\n", path), NULL;
  int want = 4 + 4 * rank;
  if (rank < 1 || rank > 3 || gzread(f, head, (unsigned)want) != want || head[0] || head[1] ||
      head[2] != 8 || head[3] != rank) {
    fprintf(stderr, "%s: error: not an IDX file of u8 values of rank %d\n", path, rank);
    gzclose(f);
    return NULL;
  }
  int64_t dim[3] = {1, 1, 1};
  for (int d = 0; d < rank; d++)
    dim[d] = (int64_t)head[4 + 4 * d] << 24 | head[5 + 4 * d] << 16 | head[6 + 4 * d] << 8 |
             head[7 + 4 * d];
  *count = dim[0];
  *per = dim[1] * dim[2];
  if (*count < 1 || *count > IDX_MAX_COUNT || dim[1] > IDX_MAX_PER || *per > IDX_MAX_PER)
    fprintf(stderr, "%s: error: %lld examples of %lld bytes is out of range\n", path,
            (long long)*count, (long long)*per);
  else if (!(data = malloc((size_t)(*count * *per))))
    fprintf(stderr, "%s: error: out of memory\n", path);
  else if (gzread(f, data, (unsigned)(*count * *per)) != (int)(*count * *per)) {
    fprintf(stderr, "%s: error: the file ends before its %lld examples\n", path, (long long)*count);
    free(data);
    data = NULL;
  }
  gzclose(f);
  return data;
}

#endif

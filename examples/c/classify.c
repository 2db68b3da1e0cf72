/* classify.c — classifies the Fashion-MNIST test set with the compiled
 * mnist_mlp model and prints the accuracy: a complete program that uses only
 * the object file and its header (docs/compile.md).
 *
 *   build/nnd train examples/mnist_mlp.nnd --epochs 1 --save mlp.st
 *   build/nnd compile examples/mnist_mlp.nnd --weights mlp.st -o mnist_mlp
 *   cc -O2 -I. examples/c/classify.c mnist_mlp.o -lz -lm -o classify
 *   ./classify [t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz]
 *
 * It prints "accuracy: A" as `nnd eval examples/mnist_mlp.nnd --weights
 * mlp.st` does, and the same A: the same code on the same weights. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "idx.h"
#include "mnist_mlp.h"

#define FASHION "/usr/share/datasets/fashion-mnist/"

int main(int argc, char **argv) {
  const char *images_path = argc > 2 ? argv[1] : FASHION "t10k-images-idx3-ubyte.gz";
  const char *labels_path = argc > 2 ? argv[2] : FASHION "t10k-labels-idx1-ubyte.gz";
  int64_t n, per, nlabels, one;
  unsigned char *pixels = idx_read(images_path, 3, &n, &per);
  unsigned char *labels = pixels ? idx_read(labels_path, 1, &nlabels, &one) : NULL;
  if (!labels) return 1;
  if (per != MNIST_MLP_IMAGE_SIZE || nlabels != n) {
    fprintf(stderr,
            "error: %lld images of %lld pixels and %lld labels: expected images of %d pixels, one "
            "label each\n",
            (long long)n, (long long)per, (long long)nlabels, MNIST_MLP_IMAGE_SIZE);
    return 1;
  }
  /* the inputs as the training data had them: pixels scaled as the model file says */
  float *image = malloc((size_t)(n * per) * sizeof *image);
  int32_t *predicted = malloc((size_t)n * sizeof *predicted);
  void *workspace = aligned_alloc(64, MNIST_MLP_WORKSPACE_BYTES);
  if (!image || !predicted || !workspace) return fprintf(stderr, "error: out of memory\n"), 1;
  for (int64_t i = 0; i < n * per; i++) image[i] = (float)(pixels[i] * MNIST_MLP_IMAGE_SCALE);
  mnist_mlp_init(workspace);
  mnist_mlp_predict(workspace, image, predicted, n); /* all of them: it runs them in chunks */
  int64_t right = 0;
  for (int64_t i = 0; i < n; i++) right += predicted[i] == labels[i];
  printf("%lld examples\naccuracy: %.4f\n", (long long)n, (double)right / (double)n);
  free(workspace), free(predicted), free(image), free(labels), free(pixels);
  return 0;
}

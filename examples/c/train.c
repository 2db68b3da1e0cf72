/* train.c — trains the compiled mnist_mlp model from C for one epoch on
 * Fashion-MNIST, with its own shuffling and dropout seeds, and prints the
 * test accuracy: the whole training step runs in the object file.
 *
 *   build/nnd compile examples/mnist_mlp.nnd --train -o mnist_mlp
 *   cc -O2 -I. examples/c/train.c mnist_mlp.o -lz -lm -o train
 *   ./train [FASHION-MNIST-FOLDER]
 *
 * Without --weights the object starts from the initial values `nnd train`
 * draws with the model's seed; the order of the batches is this program's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "mnist_mlp.h"

typedef struct {
  int64_t count;
  float *image;   /* count * MNIST_MLP_IMAGE_SIZE, scaled as the model file says */
  int32_t *label; /* count */
} Set;

/* xorshift64*: this program's shuffling and dropout seeds */
static uint64_t next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

static int load(const char *folder, const char *images, const char *labels, Set *set) {
  char ipath[1024], lpath[1024];
  snprintf(ipath, sizeof ipath, "%s/%s", folder, images);
  snprintf(lpath, sizeof lpath, "%s/%s", folder, labels);
  int64_t n, per, nlabels, one;
  unsigned char *pixels = idx_read(ipath, 3, &n, &per);
  unsigned char *classes = pixels ? idx_read(lpath, 1, &nlabels, &one) : NULL;
  if (!classes) return free(pixels), 0;
  if (per != MNIST_MLP_IMAGE_SIZE || nlabels != n) {
    fprintf(stderr, "%s: error: not %d-pixel images with one label each\n", ipath,
            MNIST_MLP_IMAGE_SIZE);
    return free(pixels), free(classes), 0;
  }
  set->count = n;
  set->image = malloc((size_t)(n * per) * sizeof *set->image);
  set->label = malloc((size_t)n * sizeof *set->label);
  if (!set->image || !set->label) return fprintf(stderr, "error: out of memory\n"), 0;
  for (int64_t i = 0; i < n * per; i++) set->image[i] = (float)(pixels[i] * MNIST_MLP_IMAGE_SCALE);
  for (int64_t i = 0; i < n; i++) set->label[i] = classes[i];
  free(pixels), free(classes);
  return 1;
}

/* one pass over the training set in a random order; the mean of the batch losses */
static double epoch(void *ws, const Set *train, uint64_t *rng) {
  int64_t *order = malloc((size_t)train->count * sizeof *order);
  float *image = malloc(MNIST_MLP_MAX_BATCH * MNIST_MLP_IMAGE_SIZE * sizeof *image);
  int32_t label[MNIST_MLP_MAX_BATCH];
  double loss = 0;
  int64_t steps = 0;
  for (int64_t i = 0; i < train->count; i++) order[i] = i;
  for (int64_t i = train->count - 1; i > 0; i--) { /* Fisher-Yates */
    int64_t j = (int64_t)(next(rng) % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  for (int64_t first = 0; first < train->count; first += MNIST_MLP_MAX_BATCH, steps++) {
    int64_t n =
        train->count - first < MNIST_MLP_MAX_BATCH ? train->count - first : MNIST_MLP_MAX_BATCH;
    for (int64_t k = 0; k < n; k++) {
      memcpy(image + k * MNIST_MLP_IMAGE_SIZE,
             train->image + order[first + k] * MNIST_MLP_IMAGE_SIZE,
             MNIST_MLP_IMAGE_SIZE * sizeof *image);
      label[k] = train->label[order[first + k]];
    }
    loss += mnist_mlp_train_step(ws, image, label, (uint32_t)next(rng), n);
  }
  free(image), free(order);
  return loss / (double)steps;
}

int main(int argc, char **argv) {
  const char *folder = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  Set train, test;
  if (!load(folder, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &train) ||
      !load(folder, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &test))
    return 1;
  void *ws = aligned_alloc(64, MNIST_MLP_WORKSPACE_BYTES);
  int32_t *predicted = malloc((size_t)test.count * sizeof *predicted);
  if (!ws || !predicted) return fprintf(stderr, "error: out of memory\n"), 1;
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  mnist_mlp_init(ws);
  printf("train loss: %.4f\n", epoch(ws, &train, &rng));
  mnist_mlp_predict(ws, test.image, predicted, test.count);
  int64_t right = 0;
  for (int64_t i = 0; i < test.count; i++) right += predicted[i] == test.label[i];
  printf("test accuracy: %.4f\n", (double)right / (double)test.count);
  free(predicted), free(ws);
  free(train.image), free(train.label), free(test.image), free(test.label);
  return 0;
}

/* steps.c — the compiled mnist_mlp train step, N times on one batch from the
 * embedded weights (nnd compile --train --no-dropout --weights W.st): writes
 * the state after them (state.f32, in the header's order) and the object's
 * manifest (manifest.txt), for check_state.py to compare with `nnd step`.
 * usage: steps DIR N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnist_mlp.h"

/* reads exactly `bytes` bytes of DIR/name into a new buffer */
static void *slurp(const char *dir, const char *name, size_t bytes) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  void *data = malloc(bytes);
  if (!f || !data || fread(data, 1, bytes, f) != bytes)
    return fprintf(stderr, "%s: error: cannot read\n", path), NULL;
  fclose(f);
  return data;
}

static int spill(const char *dir, const char *name, const void *data, size_t bytes) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(data, 1, bytes, f) == bytes;
  if (f) ok = fclose(f) == 0 && ok;
  if (!ok) fprintf(stderr, "%s: error: cannot write\n", path);
  return ok;
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: steps DIR N\n"), 2;
  int steps = atoi(argv[2]);
  float *image =
      slurp(argv[1], "image.f32", MNIST_MLP_MAX_BATCH * MNIST_MLP_IMAGE_SIZE * sizeof(float));
  int32_t *label = slurp(argv[1], "label.i32", MNIST_MLP_MAX_BATCH * sizeof(int32_t));
  void *ws = aligned_alloc(64, MNIST_MLP_WORKSPACE_BYTES);
  float *state = malloc(MNIST_MLP_STATE_FLOATS * sizeof *state);
  if (!image || !label || !ws || !state) return 1;
  mnist_mlp_init(ws);
  for (int k = 0; k < steps; k++)
    printf("loss %.9g\n", mnist_mlp_train_step(ws, image, label, MNIST_MLP_MAX_BATCH));
  printf("refused: %g %g\n", mnist_mlp_train_step(ws, image, label, 0),
         mnist_mlp_train_step(ws, image, label, MNIST_MLP_MAX_BATCH + 1));
  mnist_mlp_export_state(ws, state);
  int ok = spill(argv[1], "state.f32", state, MNIST_MLP_STATE_FLOATS * sizeof *state) &&
           spill(argv[1], "manifest.txt", mnist_mlp_manifest, strlen(mnist_mlp_manifest));
  return ok ? 0 : 1;
}

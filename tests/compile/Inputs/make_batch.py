"""Random weights W.st for mnist_mlp and one batch: B.st for `nnd step`, and
the same batch as raw little-endian arrays (image.f32, label.i32) for the C
driver steps.c. usage: make_batch.py OUT_DIR [BATCH]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import write_safetensors  # noqa: E402


out, batch = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 32
rng = np.random.default_rng(7)
weights = {
    "dense_1.kernel": rng.uniform(-0.08, 0.08, (784, 128)),
    "dense_1.bias": rng.uniform(-0.1, 0.1, (128,)),
    "dense_2.kernel": rng.uniform(-0.2, 0.2, (128, 10)),
    "dense_2.bias": rng.uniform(-0.1, 0.1, (10,)),
}
write_safetensors(os.path.join(out, "W.st"), {k: v.astype(np.float32) for k, v in weights.items()})
image = rng.uniform(0, 1, (batch, 28, 28)).astype(np.float32)
label = rng.integers(0, 10, (batch,)).astype(np.int32)
write_safetensors(os.path.join(out, "B.st"), {"image": image, "label": label})
image.astype("<f4").tofile(os.path.join(out, "image.f32"))
label.astype("<i4").tofile(os.path.join(out, "label.i32"))

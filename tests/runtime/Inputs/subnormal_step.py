"""Files for `nnd step` on a one-weight linear model whose input is the
subnormal float 1e-39, and a reader of its gradients: with subnormals flushed
(the default) the input reads as zero and so does the weight's gradient;
with --no-flush-denormals the gradient is the subnormal -2e-39.

usage: subnormal_step.py write DIR | read OUT.st
"""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../..")
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402


def write(path, tensors):
    """tensors: name -> (shape, values), written as f32"""
    write_safetensors(path, {name: np.array(values, np.float32).reshape(shape)
                             for name, (shape, values) in tensors.items()})


def read(path):
    """name -> the tensor's values, flat"""
    return {name: a.ravel() for name, a in read_safetensors(path).items()}


if __name__ == "__main__" and sys.argv[1] == "write":
    write(sys.argv[2] + "/weights.st", {"dense_1.kernel": ([1, 1], [1.0]), "dense_1.bias": ([1], [0.0])})
    write(sys.argv[2] + "/batch.st", {"x": ([1, 1], [1e-39]), "target": ([1, 1], [1.0])})
elif __name__ == "__main__":
    print("kernel gradient: %.3g" % read(sys.argv[2])["grad:dense_1.kernel"][0])

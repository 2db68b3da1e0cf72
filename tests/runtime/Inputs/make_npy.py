"""Writes the brightest-pixel problem as .npy files with NumPy: images as
float64 in [0, 1], labels as int64; and two broken files.

usage: make_npy.py PREFIX N
"""
import sys

import numpy as np

prefix, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(5)
images = rng.random((n, 2, 2))
np.save(prefix + "-images.npy", images)
np.save(prefix + "-labels.npy", images.reshape(n, 4).argmax(axis=1).astype(np.int64))
np.save(prefix + "-fortran.npy", np.asfortranarray(images.reshape(n, 4)))
with open(prefix + "-images.npy", "rb") as f:
    open(prefix + "-cut.npy", "wb").write(f.read()[:200])

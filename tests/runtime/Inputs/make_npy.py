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
    whole = f.read()
open(prefix + "-cut.npy", "wb").write(whole[:200])
open(prefix + "-long.npy", "wb").write(whole + b"\0" * 8)
# a header that promises 2^62 elements: an error, not a 2^65-byte allocation
open(prefix + "-huge.npy", "wb").write(whole.replace(b"(%d, 2, 2)" % n, b"(%d, 2, 2)" % (1 << 60), 1))

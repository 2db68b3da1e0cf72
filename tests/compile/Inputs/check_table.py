"""Checks every row of a predictions CSV of constant_table.nnd against the
table numpy computes in float32: iota along axis 0, plus the Transformer
paper's sinusoidal encoding, plus 10 times numpy's tril of ones.
usage: check_table.py PREDICTIONS.csv"""
import csv
import sys

import numpy as np

f32 = np.float32


def table():
    pos = np.arange(4, dtype=f32)[:, None]
    i2 = (np.arange(4) // 2 * 2).astype(f32)[None, :]
    angle = pos / np.power(f32(10000), i2 / f32(4))
    pe = np.where(np.arange(4) % 2 == 0, np.sin(angle), np.cos(angle)).astype(f32)
    rows = np.repeat(np.arange(4, dtype=f32)[:, None], 4, axis=1)
    return (rows + pe + np.tril(np.ones((4, 4), f32)) * f32(10)).ravel()


want = table()
with open(sys.argv[1]) as f:
    rows = list(csv.reader(f))[1:]
for i, row in enumerate(rows):
    got = np.array([float(v) for v in row], f32)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
        sys.exit(f"row {i}: {got.tolist()}, numpy says {want.tolist()}")
print(f"{len(rows)} rows agree with numpy")

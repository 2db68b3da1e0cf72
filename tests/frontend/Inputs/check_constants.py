"""Checks the data constants of tests/frontend/constants.nnd's optimized dump
(read from stdin, in order) against values numpy computes in float32: the
Transformer paper's sinusoidal encoding, numpy's tril/triu/eye of ones,
arange, full, and elementwise pow, cos, sin. Exits 1 naming the first
constant that differs, or if the dump has another number of constants."""
import re
import sys

import numpy as np

f32 = np.float32


def sinusoidal(T, d):
    pos = np.arange(T, dtype=f32)[:, None]
    i2 = (np.arange(d) // 2 * 2).astype(f32)[None, :]
    angle = pos / np.power(f32(10000), i2 / f32(d))
    return np.where(np.arange(d) % 2 == 0, np.sin(angle), np.cos(angle)).astype(f32)


def expected():
    ones = np.ones((4, 4), f32)
    a5 = np.arange(5, dtype=f32)
    return [
        ("sinusoidal_encoding(8, 4) + 1", sinusoidal(8, 4) + f32(1)),
        ("tril(4)", np.tril(ones)),
        ("triu(4)", np.triu(ones)),
        ("tril(4, k=-1)", np.tril(ones, -1)),
        ("triu(4, k=2)", np.triu(ones, 2)),
        ("eye(4)", np.eye(4, dtype=f32)),
        ("zeros([4, 4])", np.zeros((4, 4), f32)),
        ("full([4], 2.5)", np.full(4, 2.5, f32)),
        ("arange(5)", a5),
        ("arange(-1, 1.5, 0.5)", np.arange(-1, 1.5, 0.5, dtype=f32)),
        ("arange(3, 0, -0.625)", np.arange(3, 0, -0.625, dtype=f32)),
        ("ones([5])", np.ones(5, f32)),
        ("pow(arange(5), 2)", a5**2),
        ("cos(arange(5))", np.cos(a5)),
        ("sin(arange(5))", np.sin(a5)),
    ]


def main():
    found = []
    for line in sys.stdin:
        m = re.search(r"= data \[([^\]]*)\] : f32\[([0-9,]*)\]", line)
        if m:
            shape = tuple(int(d) for d in m.group(2).split(",") if d)
            found.append(np.array([float(v) for v in m.group(1).split(",")], f32).reshape(shape))
    want = expected()
    if len(found) != len(want):
        sys.exit(f"{len(found)} data constants in the dump, expected {len(want)}")
    for (name, w), got in zip(want, found):
        if got.shape != w.shape or not np.allclose(got, w, rtol=1e-6, atol=1e-6):
            sys.exit(f"{name}: got {got.ravel().tolist()}, numpy says {w.ravel().tolist()}")
    print(f"{len(want)} constants agree with numpy")


main()

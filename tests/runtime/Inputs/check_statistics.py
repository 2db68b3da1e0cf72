"""Checks the normalize() statistics an nnd checkpoint saved (argv: the
checkpoint, the training CSV, the rows of the training part): the mean and
1/std (population variance, ddof 0) of each column of those rows, as f32."""
import json
import struct
import sys

import numpy as np

path, csv, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])


def tensor(name):
    t = header[name]
    a, b = t["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4")


mean, inv_std = tensor("normalize.features.mean"), tensor("normalize.features.inv_std")
x = np.loadtxt(csv, delimiter=",", dtype=np.float32)[:rows].astype(np.float64)
assert np.allclose(mean, x.mean(0), rtol=1e-6, atol=1e-6), (mean, x.mean(0))
assert np.allclose(inv_std, 1 / x.std(0), rtol=1e-6), (inv_std, 1 / x.std(0))
print(f"normalize.features: {mean.size} features, the first {rows} rows' mean and 1/std (ddof 0)")

"""Writes one label file holding 0, 1, VALUE, 2 in a given format, to test that
every loader range-checks a label before it becomes an int32.

usage: make_labels.py OUT npy-f8|npy-f4|npy-i8|idx-f64|idx-f32 VALUE
"""
import gzip
import struct
import sys

import numpy as np

out, kind, value = sys.argv[1], sys.argv[2], sys.argv[3]
fmt, dtype = kind.split("-")
values = [0, 1, float(value) if dtype[0] == "f" else int(value), 2]
if fmt == "npy":
    types = {"f8": np.float64, "f4": np.float32, "i8": np.int64}
    np.save(out, np.array(values, dtype=types[dtype]))
else:
    code, pack = {"f64": (0x0E, ">d"), "f32": (0x0D, ">f")}[dtype]
    data = bytes([0, 0, code, 1]) + struct.pack(">I", len(values))
    data += b"".join(struct.pack(pack, v) for v in values)
    with gzip.open(out, "wb") as f:
        f.write(data)

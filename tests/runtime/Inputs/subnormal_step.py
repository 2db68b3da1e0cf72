"""Files for `nnd step` on a one-weight linear model whose input is the
subnormal float 1e-39, and a reader of its gradients: with subnormals flushed
(the default) the input reads as zero and so does the weight's gradient;
with --no-flush-denormals the gradient is the subnormal -2e-39.

usage: subnormal_step.py write DIR | read OUT.st
"""
import json
import struct
import sys


def write(path, tensors):
    header, blob = {}, b""
    for name, (shape, values) in tensors.items():
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + blob)


def read(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, h in header.items():
        if name != "__metadata__":
            lo, hi = h["data_offsets"]
            out[name] = struct.unpack(f"<{(hi - lo) // 4}f", blob[8 + n + lo:8 + n + hi])
    return out


if __name__ == "__main__" and sys.argv[1] == "write":
    write(sys.argv[2] + "/weights.st", {"dense_1.kernel": ([1, 1], [1.0]), "dense_1.bias": ([1], [0.0])})
    write(sys.argv[2] + "/batch.st", {"x": ([1, 1], [1e-39]), "target": ([1, 1], [1.0])})
elif __name__ == "__main__":
    print("kernel gradient: %.3g" % read(sys.argv[2])["grad:dense_1.kernel"][0])

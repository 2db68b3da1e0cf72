"""Compares named tensors of two safetensors files, read with the standard
library alone: prints `name: equal` for each and exits 1 if any differ.

usage: compare_tensors.py A B NAME...
"""
import json
import struct
import sys


def read(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}


a, b = read(sys.argv[1]), read(sys.argv[2])
differ = False
for name in sys.argv[3:]:
    same = a[name] == b[name]
    print(f"{name}: {'equal' if same else 'different'}")
    differ |= not same
sys.exit(1 if differ else 0)

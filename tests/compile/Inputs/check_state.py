"""Compares the state the compiled object exported (state.f32, laid out as its
manifest's `state NAME SHAPE OFFSET ROLE` lines say) with the tensors of
`nnd step --out O.st`, bit for bit. usage: check_state.py DIR O.st"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, h in header.items():
        if name != "__metadata__":
            a, b = h["data_offsets"]
            out[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype=np.float32)
    return out


folder, reference = sys.argv[1], read_safetensors(sys.argv[2])
state = np.fromfile(folder + "/state.f32", dtype="<f4")
checked, bad = 0, 0
for line in open(folder + "/manifest.txt"):
    word = line.split()
    if not word or word[0] != "state":
        continue
    name, offset = word[1], int(word[3])
    want = reference[name]
    got = state[offset:offset + want.size]
    same = got.tobytes() == want.tobytes()
    checked += 1
    if not same:
        bad += 1
        print(f"{name}: differs in {int(np.sum(got != want))} of {want.size} values")
print(f"{checked} state tensors compared, {bad} differ")
sys.exit(1 if bad or not checked else 0)

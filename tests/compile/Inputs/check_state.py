"""Compares the state the compiled object exported (state.f32, laid out as its
manifest's `state NAME SHAPE OFFSET ROLE` lines say) with the tensors of
`nnd step --out O.st`, bit for bit. usage: check_state.py DIR O.st"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import read_safetensors  # noqa: E402


folder, reference = sys.argv[1], read_safetensors(sys.argv[2])
state = np.fromfile(folder + "/state.f32", dtype="<f4")
checked, bad = 0, 0
for line in open(folder + "/manifest.txt"):
    word = line.split()
    if not word or word[0] != "state":
        continue
    name, offset = word[1], int(word[3])
    want = reference[name].ravel()
    got = state[offset:offset + want.size]
    same = got.tobytes() == want.tobytes()
    checked += 1
    if not same:
        bad += 1
        print(f"{name}: differs in {int(np.sum(got != want))} of {want.size} values")
print(f"{checked} state tensors compared, {bad} differ")
sys.exit(1 if bad or not checked else 0)

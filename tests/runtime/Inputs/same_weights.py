"""Prints, for each weight of two safetensors checkpoints (optimizer state
left out), whether it is the same in both: `NAME same` or `NAME changed`.

usage: same_weights.py A B"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import read_safetensors  # noqa: E402

a, b = read_safetensors(sys.argv[1]), read_safetensors(sys.argv[2])
for name in sorted(k for k in a if "adam" not in k):
    print(name, "same" if name in b and np.array_equal(a[name], b[name]) else "changed")

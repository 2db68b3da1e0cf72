"""A model with N f32 inputs of 2 values each and a loss over all of them,
and a batch file with a tensor for each, for `nnd step` (many-inputs.test).

usage: many_inputs.py DIR N"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import write_safetensors  # noqa: E402

folder, n = sys.argv[1], int(sys.argv[2])
os.makedirs(folder, exist_ok=True)
names = [f"x{i}" for i in range(n)]
with open(os.path.join(folder, "model.nnd"), "w") as f:
    f.write("model many {\n")
    f.writelines(f"  input {x}: f32[2]\n" for x in names)
    f.write(f"  s = {' + '.join(names)}\n  loss mean_squared_error(s, s * 0)\n}}\n")
    f.write("train { batch = 1 }\n")
write_safetensors(os.path.join(folder, "batch.st"),
                  {x: np.full((1, 2), 0.5, np.float32) for x in names})
write_safetensors(os.path.join(folder, "weights.st"), {})

"""erf's kernel against torch.erf: runs `nnd step` on Inputs/erf_sweep.nnd, whose
loss is the largest |erf(x) - torch.erf(x)| over 4001 points of [-8, 8] (and
+-inf), and prints it; fails above 1e-6.

usage: erf_sweep.py NND WORK_DIR"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

nnd, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
x = np.linspace(-8, 8, 4001).astype(np.float32)
x[0], x[-1] = -np.inf, np.inf
t = torch.erf(torch.from_numpy(x).double()).float().numpy()
write_safetensors(os.path.join(work, "batch.st"), {"x": x[None], "t": t[None]})
write_safetensors(os.path.join(work, "weights.st"), {})
model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "erf_sweep.nnd")
out = os.path.join(work, "out.st")
subprocess.run([nnd, "step", model, "--weights", os.path.join(work, "weights.st"), "--inputs",
                os.path.join(work, "batch.st"), "--out", out, "--steps", "0"], check=True)
worst = float(read_safetensors(out)["loss"])
print(f"erf against torch.erf: worst absolute error {worst:.2e} (tolerance 1e-06): "
      f"{'ok' if worst <= 1e-6 else 'FAIL'}")
sys.exit(0 if worst <= 1e-6 else 1)

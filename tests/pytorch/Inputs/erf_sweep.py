"""erf's kernel against torch.erf, and int()/float() against torch.trunc:
runs `nnd step` on Inputs/erf_sweep.nnd, whose loss is the largest
|erf(x) - torch.erf(x)| over 4001 points of [-8, 8] (and +-inf), and on
Inputs/casts.nnd, the largest |float(int(x)) - trunc(x)|; prints both and
fails above 1e-6 (erf) or above 0 (casts).

usage: erf_sweep.py NND WORK_DIR"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def loss_of(nnd, work, model, batch):
    """the loss `nnd step` computes for a model without weights on one batch"""
    os.makedirs(work, exist_ok=True)
    write_safetensors(os.path.join(work, "batch.st"), batch)
    write_safetensors(os.path.join(work, "weights.st"), {})
    out = os.path.join(work, "out.st")
    subprocess.run([nnd, "step", os.path.join(HERE, model), "--weights",
                    os.path.join(work, "weights.st"), "--inputs", os.path.join(work, "batch.st"),
                    "--out", out, "--steps", "0"], check=True)
    return float(read_safetensors(out)["loss"])


def main():
    nnd, work = sys.argv[1], sys.argv[2]
    x = np.linspace(-8, 8, 4001).astype(np.float32)
    x[0], x[-1] = -np.inf, np.inf
    t = torch.erf(torch.from_numpy(x).double()).float().numpy()
    erf = loss_of(nnd, os.path.join(work, "erf"), "erf_sweep.nnd", {"x": x[None], "t": t[None]})
    print(f"erf against torch.erf: worst absolute error {erf:.2e} (tolerance 1e-06): "
          f"{'ok' if erf <= 1e-6 else 'FAIL'}")
    c = np.array([-2.7, -2.0, -0.5, -0.0, 0.5, 0.99, 2.7, 1e6 + 0.5, 3e9, -3e9, np.nan, 7.0],
                 dtype=np.float32)
    i32 = np.iinfo(np.int32)
    want = np.clip(np.nan_to_num(torch.trunc(torch.from_numpy(c)).numpy(), nan=0.0),
                   i32.min, i32.max).astype(np.int64).astype(np.float32)
    casts = loss_of(nnd, os.path.join(work, "casts"), "casts.nnd", {"x": c[None], "t": want[None]})
    print(f"int() and float() against torch.trunc: worst absolute error {casts:.2e}: "
          f"{'ok' if casts == 0 else 'FAIL'}")
    sys.exit(0 if erf <= 1e-6 and casts == 0 else 1)


if __name__ == "__main__":
    main()

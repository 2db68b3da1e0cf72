"""Row reductions folded in lanes against PyTorch: runs `nnd step` on
Inputs/row_reductions.nnd (sum, max, mean, variance, softmax with and
without a mask, log_softmax over rows of 37 and 64), whose loss is the sum
of each statistic's largest absolute error against torch in float64, and
fails above 1e-5.

usage: row_reductions.py NND WORK_DIR"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from erf_sweep import loss_of  # noqa: E402

TOLERANCE = 1e-5


def main():
    nnd, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, (3, 37)).astype(np.float32)
    y = rng.uniform(-3, 3, (2, 64)).astype(np.float32)
    m = (rng.uniform(0, 1, (2, 64)) < 0.7).astype(np.float32)
    m[1, :] = 0
    m[1, 50] = 1  # one row keeps a single position
    tx, ty, tm = (torch.from_numpy(a).double() for a in (x, y, m))
    masked = torch.softmax(ty.masked_fill(tm == 0, float("-inf")), -1)
    want = {
        "sum_x": tx.sum(-1), "max_x": tx.amax(-1), "mean_y": ty.mean(-1),
        "var_y": ty.var(-1, unbiased=False), "softmax_x": torch.softmax(tx, -1),
        "masked_y": masked, "log_softmax_y": torch.log_softmax(ty, -1),
    }
    batch = {"x": x, "y": y, "m": m}
    batch.update({k: v.float().numpy() for k, v in want.items()})
    batch = {k: v[None] for k, v in batch.items()}
    worst = loss_of(nnd, work, "row_reductions.nnd", batch)
    print(f"row reductions against torch: summed worst absolute errors {worst:.2e} "
          f"(tolerance {TOLERANCE:g}): {'ok' if worst <= TOLERANCE else 'FAIL'}")
    sys.exit(0 if worst <= TOLERANCE else 1)


main()

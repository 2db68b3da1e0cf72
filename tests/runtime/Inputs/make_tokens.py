"""Writes a next-token task as .npy files: tokens i32 [N, 6] in [1, 11), and
targets[t] = the token after tokens[t] in a fixed cycle (so tokens[t]
determines it), -1 at every third position (left out by ignore_index), a
weight per position (0 where the target is -1), and a broken target file
(a -2 in example 3).

usage: make_tokens.py PREFIX
"""
import sys

import numpy as np

prefix = sys.argv[1]
rng = np.random.default_rng(7)
tokens = rng.integers(1, 11, (512, 6)).astype(np.int32)
targets = (tokens % 10 + 1).astype(np.int32)
targets[:, ::3] = -1
np.save(prefix + "-tokens.npy", tokens)
np.save(prefix + "-targets.npy", targets)
np.save(prefix + "-weights.npy", (targets >= 0).astype(np.float32))
bad = targets.copy()
bad[3, 1] = -2
np.save(prefix + "-bad-tokens.npy", tokens)
np.save(prefix + "-bad-targets.npy", bad)
np.save(prefix + "-bad-weights.npy", (targets >= 0).astype(np.float32))

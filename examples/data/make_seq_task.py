"""Writes the data of examples/lstm_seed.nnd: a binary sequence task.

Each example is a sequence of 10 steps of 10 features, every feature an
integer drawn uniformly from [-4, 4] (stored as int8; the model reads them
divided by 4). The label is 1 when the running sum of feature 0 reaches 9 in
absolute value at some step, max_t |x[0,0] + ... + x[t,0]| >= 9, else 0:
"does the walk of feature 0 ever leave the band (-9, 9)". Features 1-9 are
distractors. 4000 training and 1000 test examples; 47% and 45% are positive.

Why this task: the label depends on the order of the steps (the same values
shuffled in time may stay inside the band), and it is symmetric (flipping
the sign of every feature keeps it), which no linear rule can follow: the
majority class is right on 55% of the test set, least squares on the 100
features on 49%, the best threshold on the final sum of feature 0 (a linear
rule: a walk that ends at 9 or more has left the band) on 71%, and the best
threshold on the final sum's absolute value (not linear, but blind to the
order) on 84%. An LSTM, which can keep the running sum in its state and
remember that it once went past the threshold, reaches about 90%
(examples/lstm_seed.nnd). The script prints these baselines.

Deterministic (a fixed seed): rerunning rewrites the same bytes.
usage: make_seq_task.py [OUT_DIR]   (default: this script's folder)
"""
import os
import sys

import numpy as np

SEED = 2024
STEPS, FEATURES, LOW, HIGH = 10, 10, -4, 4
THRESHOLD = 9
N_TRAIN, N_TEST = 4000, 1000


def make(rng, n):
    x = rng.integers(LOW, HIGH + 1, (n, STEPS, FEATURES)).astype(np.int8)
    walk = np.cumsum(x[:, :, 0].astype(np.int64), axis=1)
    y = (np.abs(walk).max(axis=1) >= THRESHOLD).astype(np.int8)
    return x, y.reshape(n, 1)


def linear_baseline(x, y, tx, ty):
    """least squares on the flattened features (plus a constant), thresholded at 0"""
    design = lambda a: np.hstack([a.reshape(len(a), -1).astype(np.float64), np.ones((len(a), 1))])
    w, *_ = np.linalg.lstsq(design(x), 2.0 * y[:, 0] - 1, rcond=None)
    return float(np.mean((design(tx) @ w > 0) == (ty[:, 0] == 1)))


def final_sum_baseline(x, y, tx, ty, size):
    """the best rule size(final sum of feature 0) >= k, k chosen on the training part"""
    final = lambda a: size(a[:, :, 0].astype(np.int64).sum(axis=1))
    rule = lambda a, k: final(a) >= k
    ks = range(LOW * STEPS, HIGH * STEPS + 1)
    best = max(ks, key=lambda k: np.mean(rule(x, k) == (y[:, 0] == 1)))
    return float(np.mean(rule(tx, best) == (ty[:, 0] == 1)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(SEED)
    x, y = make(rng, N_TRAIN)
    tx, ty = make(rng, N_TEST)
    for name, a in (("train_x", x), ("train_y", y), ("test_x", tx), ("test_y", ty)):
        np.save(os.path.join(out, f"seq_task_{name}.npy"), a)
    majority = max(np.mean(ty), 1 - np.mean(ty))
    linear = linear_baseline(x, y, tx, ty)
    signed, size = (final_sum_baseline(x, y, tx, ty, f) for f in (lambda s: s, np.abs))
    print(f"positive: train {np.mean(y):.3f}, test {np.mean(ty):.3f}")
    print(f"test accuracy of the majority class {majority:.3f}, least squares {linear:.3f}, "
          f"a threshold on the final sum {signed:.3f}, on its absolute value {size:.3f}")


main()

#!/usr/bin/python3
"""Writes a seeded stochastic block model as an nnd graph: OUTDIR/sbm.edges and OUTDIR/sbm.nodes.

Nodes are split evenly among the classes (class sizes differ by at most one; which node gets
which class is a seeded permutation, so ids carry no information). --edges counts the lines of
the edge file, i.e. directed edges: edges/2 undirected edges are drawn, each written both ways,
with no duplicates and no self loops; 80% of the undirected edges join two nodes of one class,
20% join nodes of different classes. Features are the node's class mean (a random unit direction
per class) plus N(0, 1) noise in every feature, so the features alone leave the classes clearly
overlapping and the graph's neighbourhoods carry most of the signal. The split is a seeded draw:
10% train, 10% val, 80% test. Everything random comes from one numpy Generator seeded with
--seed, so the output is a function of the arguments.

The summary on stderr gives the accuracy on the test split of the nearest true class mean, the
best any classifier can do from the features alone (equal isotropic Gaussians).

Usage: /usr/bin/python3 examples/data/sbm.py OUTDIR [--nodes 10000 --edges 100000 --classes 4
       --features 32 --seed 1]
"""
import argparse
import os
import sys

import numpy as np

INTRA_FRACTION = 0.8
SPLIT = (0.1, 0.1)  # train, val; the rest is test


def draw_pairs(rng, n, want, pick):
    """Draw `want` distinct undirected pairs (u < v, u != v) as keys u*n + v.

    pick(count) returns two arrays of candidate endpoints; duplicates and self loops are
    thrown away and more candidates drawn until there are enough, then `want` of the
    distinct pairs are kept, chosen at random so that sorting does not bias the choice."""
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < want:
        u, v = pick(2 * (want - len(keys)) + 1024)
        ok = u != v
        lo = np.minimum(u[ok], v[ok]).astype(np.int64)
        hi = np.maximum(u[ok], v[ok]).astype(np.int64)
        keys = np.unique(np.concatenate([keys, lo * n + hi]))
    return keys[rng.choice(len(keys), want, replace=False)]


def draw_edges(rng, labels, classes, n_intra, n_inter):
    n = len(labels)
    members = [np.flatnonzero(labels == c) for c in range(classes)]
    sizes = np.array([len(m) for m in members])
    intra_cap = int((sizes * (sizes - 1) // 2).sum())
    inter_cap = n * (n - 1) // 2 - intra_cap
    if n_intra > intra_cap // 2 or n_inter > inter_cap // 2:
        sys.exit("sbm: too many edges for this many nodes (keep the graph at most half full)")
    # Pairs per class in proportion to the class's number of possible pairs.
    weights = sizes * (sizes - 1) / (2 * intra_cap)

    def pick_intra(count):
        c = rng.choice(classes, count, p=weights)
        u = rng.random(count) * sizes[c]
        v = rng.random(count) * sizes[c]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        order = np.concatenate(members)
        return order[starts[c] + u.astype(np.int64)], order[starts[c] + v.astype(np.int64)]

    def pick_inter(count):
        u = rng.integers(0, n, count)
        v = rng.integers(0, n, count)
        keep = labels[u] != labels[v]
        return u[keep], v[keep]

    intra = draw_pairs(rng, n, n_intra, pick_intra)
    inter = draw_pairs(rng, n, n_inter, pick_inter)
    keys = np.concatenate([intra, inter])
    lo, hi = keys // n, keys % n
    src = np.concatenate([lo, hi])
    dst = np.concatenate([hi, lo])
    order = np.lexsort((dst, src))
    return src[order], dst[order]


def make_features(rng, labels, classes, features):
    means = rng.standard_normal((classes, features))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    x = means[labels] + rng.standard_normal((len(labels), features))
    return x, means


def make_split(rng, n):
    split = np.full(n, "test", dtype=object)
    perm = rng.permutation(n)
    n_train = int(round(SPLIT[0] * n))
    n_val = int(round(SPLIT[1] * n))
    split[perm[:n_train]] = "train"
    split[perm[n_train:n_train + n_val]] = "val"
    return split


def write_edges(path, src, dst):
    with open(path, "w") as f:
        f.write("".join(f"{s} {d}\n" for s, d in zip(src.tolist(), dst.tolist())))


def write_nodes(path, labels, split, x):
    header = ["label", "split"] + [f"f{i}" for i in range(x.shape[1])]
    row_fmt = ",".join(["%.4f"] * x.shape[1])
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for label, part, row in zip(labels.tolist(), split, x):
            f.write(f"{label},{part}," + row_fmt % tuple(row) + "\n")


def parse_args():
    p = argparse.ArgumentParser(description="Write a seeded stochastic block model graph.")
    p.add_argument("outdir")
    p.add_argument("--nodes", type=int, default=10000)
    p.add_argument("--edges", type=int, default=100000, help="directed lines (even)")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.edges % 2 or a.edges < 0:
        p.error("--edges counts both directions of every edge: it must be even")
    if a.classes < 2 or a.nodes < 2 * a.classes or a.features < 1:
        p.error("need at least 2 classes, 2 nodes per class and 1 feature")
    return a


def main():
    a = parse_args()
    rng = np.random.default_rng(a.seed)
    labels = rng.permutation(np.arange(a.nodes) % a.classes)
    undirected = a.edges // 2
    n_intra = int(round(INTRA_FRACTION * undirected))
    src, dst = draw_edges(rng, labels, a.classes, n_intra, undirected - n_intra)
    x, means = make_features(rng, labels, a.classes, a.features)
    split = make_split(rng, a.nodes)

    os.makedirs(a.outdir, exist_ok=True)
    write_edges(os.path.join(a.outdir, "sbm.edges"), src, dst)
    write_nodes(os.path.join(a.outdir, "sbm.nodes"), labels, split, x)

    same = float(np.mean(labels[src] == labels[dst])) if len(src) else 0.0
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    test = split == "test"
    feat_acc = float(np.mean(nearest[test] == labels[test]))
    print(f"sbm: {a.nodes} nodes, {len(src)} directed edges ({same:.3f} within a class), "
          f"{a.classes} classes, {a.features} features, "
          f"{(split == 'train').sum()}/{(split == 'val').sum()}/{test.sum()} train/val/test, "
          f"features-only test accuracy (nearest true mean) {feat_acc:.4f} -> {a.outdir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()

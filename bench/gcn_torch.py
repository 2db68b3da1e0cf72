#!/usr/bin/python3
"""PyTorch baseline for nnd's 2-layer GCN (issue 12) on a graph in nnd's .edges/.nodes files.

The model is Kipf & Welling's GCN: self loops are added, deg_i = 1 + (number of edges with
dst == i), every edge e gets c_e = deg[src_e]^-1/2 * deg[dst_e]^-1/2 and the self loop of i gets
1/deg_i; a layer is aggregate(x @ W) + b with
    aggregate(h)_i = h_i / deg_i + sum over edges e with dst_e == i of c_e * h[src_e].
layer1 (F -> hidden) -> relu -> layer2 (hidden -> C), mean cross-entropy over the train-split
nodes, Adam(lr), full batch, one step per epoch; Glorot-uniform weights, zero biases, float32.
Edge weights in the file are read and ignored (the model normalises by degree only).

--impl index_add aggregates with index_add_ over the edge list; --impl sparse multiplies by a
COO matrix (edges and self loops) built once before training. Only the training loop is timed.
The last line printed is one JSON object with the timing, the test accuracy and the final loss.

Usage: /usr/bin/python3 bench/gcn_torch.py --graph /tmp/gdata/karate [--epochs 200 --hidden 16
       --lr 0.01 --weight-decay 0 --impl index_add|sparse --threads N --seed 1]
"""
import argparse
import json
import sys
import time

import numpy as np
import torch
from torch import nn

SPLITS = ("train", "val", "test", "-")


def read_edges(path):
    """Return (src, dst, has_weights) from an .edges file; blank and # lines are skipped."""
    src, dst = [], []
    has_weights = False
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) not in (2, 3):
                sys.exit(f"{path}:{lineno}: error: expected 'src dst' or 'src dst weight'")
            src.append(int(fields[0]))
            dst.append(int(fields[1]))
            has_weights = has_weights or len(fields) == 3
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64), has_weights


def read_nodes(path):
    """Return (labels, splits, features) from a .nodes CSV file."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[:2] != ["label", "split"]:
            sys.exit(f"{path}:1: error: the header must start with 'label,split'")
        nfeat = len(header) - 2
        labels, splits, rows = [], [], []
        for lineno, line in enumerate(f, 2):
            fields = line.strip().split(",")
            if len(fields) != nfeat + 2:
                sys.exit(f"{path}:{lineno}: error: {len(fields)} fields, expected {nfeat + 2}")
            if fields[1] not in SPLITS:
                sys.exit(f"{path}:{lineno}: error: unknown split '{fields[1]}'")
            labels.append(int(fields[0]))
            splits.append(fields[1])
            rows.append([float(v) for v in fields[2:]])
    x = np.array(rows, dtype=np.float32).reshape(len(rows), nfeat)
    return np.array(labels, dtype=np.int64), np.array(splits), x


def gcn_coefficients(src, dst, n):
    """Per-node self-loop coefficients 1/deg and per-edge coefficients c_e."""
    deg = 1.0 + torch.bincount(dst, minlength=n).to(torch.float32)
    inv_sqrt = deg.rsqrt()
    return 1.0 / deg, inv_sqrt[src] * inv_sqrt[dst]


class IndexAddAggregate:
    def __init__(self, src, dst, self_coef, edge_coef):
        self.src, self.dst = src, dst
        self.self_coef, self.edge_coef = self_coef[:, None], edge_coef[:, None]

    def __call__(self, h):
        out = torch.zeros(h.shape, dtype=h.dtype)
        out.index_add_(0, self.dst, self.edge_coef * h[self.src])
        return out + self.self_coef * h


class SparseAggregate:
    def __init__(self, src, dst, self_coef, edge_coef):
        n = len(self_coef)
        loops = torch.arange(n)
        rows = torch.cat([dst, loops])
        cols = torch.cat([src, loops])
        values = torch.cat([edge_coef, self_coef])
        self.adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()

    def __call__(self, h):
        return torch.sparse.mm(self.adj, h)


class GCNLayer(nn.Module):
    def __init__(self, fan_in, fan_out, aggregate):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_in, fan_out))
        self.bias = nn.Parameter(torch.zeros(fan_out))
        nn.init.xavier_uniform_(self.weight)
        self.aggregate = aggregate

    def forward(self, x):
        return self.aggregate(x @ self.weight) + self.bias


class GCN(nn.Module):
    def __init__(self, nfeat, hidden, nclass, aggregate):
        super().__init__()
        self.layer1 = GCNLayer(nfeat, hidden, aggregate)
        self.layer2 = GCNLayer(hidden, nclass, aggregate)

    def forward(self, x):
        return self.layer2(torch.relu(self.layer1(x)))


def accuracy(logits, labels, mask):
    if not mask.any():
        return float("nan")
    return (logits[mask].argmax(1) == labels[mask]).float().mean().item()


def parse_args():
    p = argparse.ArgumentParser(description="PyTorch 2-layer GCN baseline for nnd.")
    p.add_argument("--graph", required=True, help="PREFIX: reads PREFIX.edges and PREFIX.nodes")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--impl", choices=("index_add", "sparse"), default="index_add")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def load_graph(prefix):
    src, dst, has_weights = read_edges(prefix + ".edges")
    labels, splits, x = read_nodes(prefix + ".nodes")
    n = len(labels)
    if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        sys.exit(f"{prefix}.edges: error: a node id is outside [0, {n})")
    if len(src) and (src == dst).any():
        sys.exit(f"{prefix}.edges: error: self loops are not allowed (the GCN adds them)")
    if has_weights:
        print(f"{prefix}.edges: note: edge weights ignored", file=sys.stderr)
    return torch.from_numpy(src), torch.from_numpy(dst), labels, splits, torch.from_numpy(x)


def main():
    a = parse_args()
    torch.set_flush_denormal(True)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    src, dst, labels_np, splits, x = load_graph(a.graph)
    n = x.shape[0]
    nclass = int(labels_np.max()) + 1
    labels = torch.from_numpy(np.maximum(labels_np, 0))
    known = torch.from_numpy(labels_np >= 0)
    train = torch.from_numpy(splits == "train") & known
    val = torch.from_numpy(splits == "val") & known
    test = torch.from_numpy(splits == "test") & known
    if not train.any():
        sys.exit(f"{a.graph}.nodes: error: no labelled train node")

    self_coef, edge_coef = gcn_coefficients(src, dst, n)
    make = IndexAddAggregate if a.impl == "index_add" else SparseAggregate
    model = GCN(x.shape[1], a.hidden, nclass, make(src, dst, self_coef, edge_coef))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    loss_fn = nn.CrossEntropyLoss()

    start = time.perf_counter()
    for _ in range(a.epochs):
        opt.zero_grad()
        loss = loss_fn(model(x)[train], labels[train])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start

    with torch.no_grad():
        logits = model(x)
    test_acc = accuracy(logits, labels, test)
    print(f"gcn {a.impl}: {n} nodes, {len(src)} edges, {x.shape[1]} features, {nclass} classes; "
          f"train {accuracy(logits, labels, train):.4f} val {accuracy(logits, labels, val):.4f} "
          f"test accuracy {test_acc:.4f}")
    print(json.dumps({"impl": a.impl, "epochs": a.epochs, "seconds": round(seconds, 6),
                      "ms_per_epoch": round(1000 * seconds / max(1, a.epochs), 4),
                      "test_accuracy": round(test_acc, 6), "train_loss": round(loss.item(), 6)}))


if __name__ == "__main__":
    main()

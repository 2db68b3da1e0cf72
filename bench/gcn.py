#!/usr/bin/python3
"""Benchmark of nnd's sparse message passing against PyTorch: a 2-layer GCN
(Kipf & Welling: 32 features -> 16, relu, -> 4 classes; Adam(lr=0.01),
full batch, one step per epoch) on a seeded stochastic block model of
10,000 nodes and 100,000 directed edges (examples/data/sbm.py), in one run.

nnd trains the model below (`nnd train --threads 1 --log F`: the `seconds`
of each epoch, the training step alone); PyTorch trains the same model in
bench/gcn_torch.py, its aggregation written with index_add_ and with
torch.sparse.mm, on one thread. Printed: ms per epoch (the median over the
epochs), test accuracy, and nnd's speedup (PyTorch time / nnd time). Message
passing is memory-bound, so no FLOP fraction is reported. Nothing here
asserts a time.

usage: /usr/bin/python3 bench/gcn.py [--epochs 200] [--nodes 10000 --edges 100000] [--nnd PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PY = "/usr/bin/python3"

MODEL = """\
model gcn_sbm {{
  input features: f32[{nodes}, 32]
  input edges: i32[2, {edges}]
  input labels: i32[{nodes}]
  h = gcn(features, edges, 16, activation=relu)
  scores = gcn(h, edges, 4)
  loss sparse_categorical_crossentropy(scores, labels, ignore_index=-1)
  metric accuracy(scores, labels, ignore_index=-1)
}}
train {{
  optimizer = adam(lr=0.01)
  batch = 1
}}
data train {{
  sbm = ["{prefix}.edges", "{prefix}.nodes"]
  features = graph(sbm, field=features)
  edges = graph(sbm, field=edges)
  labels = graph(sbm, field=labels, split="train")
}}
data test {{
  sbm = ["{prefix}.edges", "{prefix}.nodes"]
  features = graph(sbm, field=features)
  edges = graph(sbm, field=edges)
  labels = graph(sbm, field=labels, split="test")
}}
"""


def run(cmd, env=None):
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"bench/gcn.py: {' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()}")
    return done.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--edges", type=int, default=100000)
    ap.add_argument("--nnd", default=os.path.join(ROOT, "build", "nnd"))
    a = ap.parse_args()
    one = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        run([PY, os.path.join(ROOT, "examples", "data", "sbm.py"), tmp, "--nodes", str(a.nodes),
             "--edges", str(a.edges)])
        prefix = os.path.join(tmp, "sbm")
        model = os.path.join(tmp, "gcn_sbm.nnd")
        open(model, "w").write(MODEL.format(nodes=a.nodes, edges=a.edges, prefix=prefix))
        log = os.path.join(tmp, "nnd.jsonl")
        run([a.nnd, "train", model, "--epochs", str(a.epochs), "--threads", "1", "--quiet", "--log", log],
            env=one)
        epochs = [json.loads(line) for line in open(log)]
        rows = [("nnd", statistics.median(e["seconds"] for e in epochs) * 1e3, epochs[-1]["test_accuracy"])]
        for impl in ("index_add", "sparse"):
            out = run([PY, os.path.join(BENCH, "gcn_torch.py"), "--graph", prefix, "--epochs", str(a.epochs),
                       "--impl", impl, "--threads", "1"], env=one)
            r = json.loads(out.strip().splitlines()[-1])
            rows.append((f"pytorch {impl}", r["ms_per_epoch"], r["test_accuracy"]))
    print(f"GCN on a stochastic block model: {a.nodes} nodes, {a.edges} edges, {a.epochs} epochs, one thread")
    print(f"{'framework':<20} {'ms/epoch':>9} {'test acc':>9} {'speedup of nnd':>15}")
    for name, ms, acc in rows:
        ratio = "" if name == "nnd" else f"{ms / rows[0][1]:.2f}x"
        print(f"{name:<20} {ms:>9.2f} {acc:>9.4f} {ratio:>15}")
    print("nnd: the median epoch's training step; PyTorch: its training loop's mean epoch")


main()

#!/usr/bin/python3
"""PyTorch baseline for nnd's examples/mnist_mlp.nnd (Fashion-MNIST MLP).

Same model, loss, optimizer, batch size and data as the nnd example:
Flatten -> Linear(784,128) -> ReLU -> Dropout(0.2) -> Linear(128,10),
CrossEntropyLoss (mean), Adam(lr=0.001), batch 32, reshuffled every epoch.
Only the training loop is timed (data loading and evaluation are not).

Run with Debian's torch:  /usr/bin/python3 bench/mnist_mlp_torch.py --epochs 1 --json
"""
import argparse
import gzip
import json
import struct
import time

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"
BATCH = 32


def read_idx(path):
    """Read a gzip'd IDX file (ubyte data) into a numpy array."""
    with gzip.open(path, "rb") as f:
        zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
        assert zero == 0 and dtype == 0x08, f"{path}: not an unsigned-byte IDX file"
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(shape)


def load(split):
    images = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def parse_args(doc):
    """The flags both baselines take; sets the thread count and the seed."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    ap.add_argument("--no-flush-denormals", action="store_true",
                    help="keep IEEE subnormals (default: flush them to zero, as nnd's generated code does)")
    args = ap.parse_args()
    # nnd flushes subnormals to zero by default; so does PyTorch here, or the
    # comparison would time ~100-cycle subnormal operations on Intel CPUs
    torch.set_flush_denormal(not args.no_flush_denormals)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return args


def train_and_report(model, args, x_train, y_train, x_test, y_test):
    """Adam(0.001) on mean cross-entropy, batch 32, reshuffled every epoch;
    times the training loop only, then prints the time per step and the test
    accuracy (evaluated in chunks of 1,000 images to bound memory)."""
    gen = torch.Generator().manual_seed(args.seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    n = len(x_train)

    steps = 0
    model.train()
    start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        if not args.json:
            print(f"epoch {epoch + 1}/{args.epochs}: last batch loss {loss.item():.4f}")
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item()
                      for x, y in zip(x_test.split(1000), y_test.split(1000)))
    accuracy = correct / len(x_test)

    result = {
        "framework": "pytorch",
        "epochs": args.epochs,
        "train_seconds": round(train_seconds, 3),
        "us_per_step": round(train_seconds / steps * 1e6, 1),
        "test_accuracy": round(accuracy, 4),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"threads {torch.get_num_threads()}, {steps} steps in {train_seconds:.2f} s "
              f"({result['us_per_step']} us/step), test accuracy {accuracy:.4f}")


def main():
    args = parse_args(__doc__)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, 10),
    )
    train_and_report(model, args, *load("train"), *load("t10k"))


if __name__ == "__main__":
    main()

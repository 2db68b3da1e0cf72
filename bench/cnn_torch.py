#!/usr/bin/python3
"""PyTorch baseline for nnd's examples/cnn.nnd (Fashion-MNIST CNN).

Same model, loss, optimizer, batch size and data as the nnd example, in NCHW:
Conv2d(1,16,3) -> ReLU -> MaxPool2d(2) -> Conv2d(16,32,3) -> ReLU ->
MaxPool2d(2) -> Flatten -> Linear(800,10), CrossEntropyLoss (mean),
Adam(lr=0.001), batch 32, reshuffled every epoch.
Only the training loop is timed (data loading and evaluation are not).

Run with Debian's torch:  /usr/bin/python3 bench/cnn_torch.py --epochs 1 --json
"""
import argparse
import json
import time

import torch
from torch import nn

from mnist_mlp_torch import BATCH, load  # same IDX reader, pixels / 255


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    x_train, x_test = x_train.unsqueeze(1), x_test.unsqueeze(1)  # [N, 1, 28, 28]
    n = len(x_train)

    model = nn.Sequential(
        nn.Conv2d(1, 16, 3),   # 28 -> 26
        nn.ReLU(),
        nn.MaxPool2d(2),       # 26 -> 13
        nn.Conv2d(16, 32, 3),  # 13 -> 11
        nn.ReLU(),
        nn.MaxPool2d(2),       # 11 -> 5
        nn.Flatten(),
        nn.Linear(32 * 5 * 5, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)

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
    with torch.no_grad():  # in chunks: the first conv's output for all 10,000 is 430 MB
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


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch baseline for nnd's examples/cnn.nnd (Fashion-MNIST CNN).

Same model, loss, optimizer, batch size and data as the nnd example, in NCHW:
Conv2d(1,32,3) -> ReLU -> MaxPool2d(2) -> Conv2d(32,64,3) -> ReLU ->
MaxPool2d(2) -> Flatten -> Linear(1600,128) -> ReLU -> Linear(128,10),
CrossEntropyLoss (mean),
Adam(lr=0.001), batch 32, reshuffled every epoch.
Only the training loop is timed (data loading and evaluation are not).

Run with Debian's torch:  /usr/bin/python3 bench/cnn_torch.py --epochs 1 --json
"""
from torch import nn

from mnist_mlp_torch import load, parse_args, train_and_report  # same data, loop and report


def main():
    args = parse_args(__doc__)
    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),   # 28 -> 26
        nn.ReLU(),
        nn.MaxPool2d(2),       # 26 -> 13
        nn.Conv2d(32, 64, 3),  # 13 -> 11
        nn.ReLU(),
        nn.MaxPool2d(2),       # 11 -> 5
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    # NCHW: [N, 1, 28, 28]
    train_and_report(model, args, x_train.unsqueeze(1), y_train, x_test.unsqueeze(1), y_test)


if __name__ == "__main__":
    main()

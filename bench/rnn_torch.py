#!/usr/bin/python3
"""PyTorch opponent for bench/rnn.py: the seed LSTM model, trained on one thread.

LSTM(100, activation=relu) over sequences [10, 10] -> Linear(100, 50) -> ReLU ->
Linear(50, 1) -> sigmoid, binary cross-entropy on probabilities, Adam(lr=0.001),
batch 32, reshuffled every epoch. torch.nn.LSTM has no activation option, so the
cell is written out: gates i, f, g, o (PyTorch's order, nnd's too) with relu in
place of tanh for the candidate g and for the cell output, as Keras's
LSTM(activation='relu') does; the input projection of all steps is one matmul
before the loop (the cheaper way to write it). --tanh times torch.nn.LSTM (its
fused cell, tanh) instead, for reference.

Reads DIR/seq.npy (f32 [N, 10, 10]) and DIR/label.npy (f32 [N, 1]); times each
epoch's loop (shuffle, batch gather, forward, backward, optimizer step) after a
few untimed warm-up steps, and prints one JSON line.

Run with Debian's torch:  /usr/bin/python3 bench/rnn_torch.py --data DIR --epochs 3
"""
import json
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seed_args import seed_parser

WARMUP_STEPS = 20


class ReluLSTM(nn.Module):
    """The last hidden state of an LSTM whose candidate and output use relu."""

    def __init__(self, features, units):
        super().__init__()
        self.kernel = nn.Parameter(torch.empty(features, 4 * units))
        self.recurrent_kernel = nn.Parameter(torch.empty(units, 4 * units))
        self.bias = nn.Parameter(torch.zeros(4 * units))
        nn.init.xavier_uniform_(self.kernel)
        nn.init.orthogonal_(self.recurrent_kernel)
        self.units = units

    def forward(self, x):
        batch, steps, features = x.shape
        xw = x.reshape(batch * steps, features) @ self.kernel + self.bias
        xw = xw.reshape(batch, steps, -1)
        h = c = x.new_zeros(batch, self.units)
        # unbind, not xw[:, t]: the backward of T selects would zero-fill T full-size gradients
        for xw_t in xw.unbind(1):
            i, f, g, o = (xw_t + h @ self.recurrent_kernel).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
            h = torch.sigmoid(o) * torch.relu(c)
        return h


class TorchLSTM(nn.Module):
    """torch.nn.LSTM (tanh), its last hidden state: a reference point only."""

    def __init__(self, features, units):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[1][0][0]


class Seed(nn.Module):
    def __init__(self, features, units, hidden, tanh):
        super().__init__()
        self.rnn = (TorchLSTM if tanh else ReluLSTM)(features, units)
        self.hidden = nn.Linear(units, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(torch.relu(self.hidden(self.rnn(x)))))


def blas_loaded():
    """The BLAS library this process mapped (PyTorch's matmuls call it)."""
    with open("/proc/self/maps") as maps:
        paths = (line.split()[-1] for line in maps if "blas" in os.path.basename(line.split()[-1]))
        return next((os.path.realpath(p) for p in paths), "none")


def train(args):
    x = torch.from_numpy(np.load(os.path.join(args.data, "seq.npy")))
    y = torch.from_numpy(np.load(os.path.join(args.data, "label.npy")))
    model = Seed(x.shape[2], args.units, args.hidden, args.tanh)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)

    def step(idx):
        loss = F.binary_cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    for i in range(WARMUP_STEPS):  # first calls allocate and pick kernels
        step(torch.arange(i * args.batch, (i + 1) * args.batch) % len(x))
    seconds, cpu, losses = [], 0.0, []
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(x), generator=gen)
        total = torch.zeros(())
        for i in range(0, len(x), args.batch):
            total += step(perm[i:i + args.batch])
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
        losses.append(total.item() / ((len(x) + args.batch - 1) // args.batch))
    return {"framework": "pytorch", "steps": (len(x) + args.batch - 1) // args.batch,
            "epoch_seconds": seconds, "loss": losses[-1], "threads": torch.get_num_threads(),
            "cpu_per_wall": cpu / sum(seconds),  # near 1: one thread did the work
            "blas": blas_loaded(), "cell": "torch.nn.LSTM (tanh)" if args.tanh else "relu, by hand"}


def main():
    ap = seed_parser(__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tanh", action="store_true",
                    help="torch.nn.LSTM (tanh) instead of the relu cell")
    args = ap.parse_args()
    # nnd's generated code flushes subnormals to zero; so does the opponent
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()

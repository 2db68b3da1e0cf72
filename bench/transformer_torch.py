#!/usr/bin/python3
"""PyTorch opponent for bench/transformer.py: the char GPT's training step on one thread.

The model of bench/transformer.py's CHAR_GPT, written out: token embedding [101, 128] plus
the sinusoidal table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same),
then 2 pre-norm decoder blocks (LayerNorm(eps 1e-5) -> causal multi-head attention, 4
heads, Q/K/V/O nn.Linear(128, 128) with biases, softmax(q k^T / sqrt(32)) v -> residual;
LayerNorm -> Linear(128, 512) -> exact (erf) GELU -> Linear(512, 128) -> residual), a final
LayerNorm and Linear(128, 101). Mean cross-entropy over the [B*T, 101] logits and the next
tokens, Adam(lr=0.001), batch 32, reshuffled every epoch.

Attention is F.scaled_dot_product_attention(is_causal=True) where this torch has it (2.0
and later), else the written-out softmax with a causal mask (Debian's 1.13). --compile
wraps the model in torch.compile where this torch has it; where it does not, or where
compiling fails, the one JSON line says so ("skipped") instead of timing.

Reads DIR/tokens.npy and DIR/targets.npy (int32 [N, 64]); times each epoch's loop
(shuffle, batch gather, forward, loss, backward, optimizer step) after a few untimed
warm-up steps, and prints one JSON line.

Run with Debian's torch:  /usr/bin/python3 bench/transformer_torch.py --data DIR --epochs 3
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

WARMUP_STEPS = 5


def sinusoidal_encoding(steps, dim):
    """The Transformer paper's table: sin at even features, cos at odd, [steps, dim]."""
    pos = torch.arange(steps, dtype=torch.float64).unsqueeze(1)
    rate = torch.pow(10000.0, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(steps, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos / rate)
    table[:, 1::2] = torch.cos(pos / rate)
    return table.float()


def causal_attention(q, k, v):
    """softmax(q k^T / sqrt(d_head)) v over [B, H, T, d_head], position t seeing 0..t."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    steps = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    future = torch.ones(steps, steps, dtype=torch.bool).triu(1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v


class MultiHeadAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def split(self, x):  # [B, T, d] -> [B, H, T, d / H]
        batch, steps, dim = x.shape
        return x.reshape(batch, steps, self.heads, dim // self.heads).transpose(1, 2)

    def forward(self, x):
        q = self.split(self.query(x))
        k = self.split(self.key(x))
        v = self.split(self.value(x))
        merged = causal_attention(q, k, v).transpose(1, 2).reshape(x.shape)
        return self.out(merged)


class Decoder(nn.Module):
    """x + attention(norm(x)), then x + dense(gelu(dense(norm(x), 4d)), d): pre-norm."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attention = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class CharGPT(nn.Module):
    def __init__(self, vocab, steps, dim, heads, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.register_buffer("position", sinusoidal_encoding(steps, dim))
        self.blocks = nn.Sequential(*(Decoder(dim, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens):
        x = self.embedding(tokens) + self.position
        return self.head(self.norm(self.blocks(x)))


def blas_loaded():
    """The BLAS library this process mapped (PyTorch's matmuls call it)."""
    with open("/proc/self/maps") as maps:
        paths = (line.split()[-1] for line in maps if "blas" in os.path.basename(line.split()[-1]))
        return next((os.path.realpath(p) for p in paths), "none")


def make_step(model, opt, vocab):
    def step(tokens, targets):
        logits = model(tokens)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def train_epochs(step, tokens, targets, args):
    """The timed epochs: (seconds per epoch, CPU seconds, mean loss of the last epoch)."""
    gen = torch.Generator().manual_seed(args.seed)
    steps = (len(tokens) + args.batch - 1) // args.batch
    seconds, cpu, loss = [], 0.0, float("nan")
    for _ in range(args.epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(tokens), generator=gen)
        total = torch.zeros(())
        for i in range(0, len(tokens), args.batch):
            idx = perm[i:i + args.batch]
            total += step(tokens[idx], targets[idx])
        seconds.append(time.perf_counter() - start)
        cpu += time.process_time() - cpu_start
        loss = total.item() / steps
    return seconds, cpu, loss


def train(args):
    # int64 once, before timing: nnd reads the int32 ids as they are
    tokens = torch.from_numpy(np.load(os.path.join(args.data, "tokens.npy"))).long()
    targets = torch.from_numpy(np.load(os.path.join(args.data, "targets.npy"))).long()
    model = CharGPT(args.vocab, tokens.shape[1], args.dim, args.heads, args.layers)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    result = {"framework": "pytorch", "variant": "compiled" if args.compile else "eager",
              "attention": ("scaled_dot_product_attention"
                            if hasattr(F, "scaled_dot_product_attention") else "written out"),
              "torch": torch.__version__, "params": params, "threads": torch.get_num_threads()}
    if args.compile:
        if not hasattr(torch, "compile"):
            return {**result, "skipped": f"torch {torch.__version__} has no torch.compile"}
        model = torch.compile(model)
    step = make_step(model, opt, args.vocab)
    try:
        for i in range(WARMUP_STEPS):  # first calls allocate, pick kernels (and compile)
            idx = torch.arange(i * args.batch, (i + 1) * args.batch) % len(tokens)
            step(tokens[idx], targets[idx])
    except Exception as err:  # torch.compile's failures come in many types
        if not args.compile:
            raise
        return {**result, "skipped": f"torch.compile failed: {type(err).__name__}: {err}"[:300]}
    seconds, cpu, loss = train_epochs(step, tokens, targets, args)
    return {**result, "steps": (len(tokens) + args.batch - 1) // args.batch,
            "epoch_seconds": seconds, "loss": loss,
            "cpu_per_wall": cpu / sum(seconds),  # near 1: one thread did the work
            "blas": blas_loaded()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with tokens.npy and targets.npy")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=101)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = ap.parse_args()
    # nnd's generated code flushes subnormals to zero; so does the opponent
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()

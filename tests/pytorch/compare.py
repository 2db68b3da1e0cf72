"""nnd against PyTorch on one model: identical weights, one identical batch.

Writes random weights and a batch as safetensors, runs `nnd step` (the loss,
every gradient, and every parameter after STEPS optimizer updates, all from
nnd's compiled step), runs the same model in PyTorch, and compares:
  loss and gradients: relative error <= 1e-4 (max |a - b| / max |b| per tensor)
  parameters after the updates: the same bound; and their change from the
  start within 1e-2 (see CHANGE_TOLERANCE).
Dropout is off on both sides (`nnd step --no-dropout`): the masks come from
different generators; dropout's backward is checked by `nnd gradcheck`.

usage: compare.py MODEL NND EXAMPLES_DIR WORK_DIR [--optimizer SPEC] [--steps N]
MODEL names a builder below; SPEC overrides the optimizer of the .nnd file,
e.g. "sgd(lr=0.1)", and the PyTorch side follows it.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-4
# The change of a parameter over the steps, relative to the largest change:
# Adam divides by sqrt(v) + eps, so a gradient element near eps (1e-8), whose
# last bits depend on the summation order, moves its update by ~1e-3 of lr.
# A wrong optimizer (say, no bias correction) is off by a factor, not 1e-2.
CHANGE_TOLERANCE = 1e-2


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = {np.float32: "F32", np.int32: "I32"}[a.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I32": np.int32}[h["dtype"]]
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype=dtype).reshape(h["shape"])
    return out


# ---- models: the PyTorch twin of each example, and how nnd names its weights ----

def dense(name, fan_in, units):
    """nnd's dense kernel is [in, out] (Keras); torch.nn.Linear's weight is [out, in]."""
    layer = torch.nn.Linear(fan_in, units)
    return layer, {f"{name}.kernel": (layer.weight, True), f"{name}.bias": (layer.bias, False)}


def mnist_mlp():
    l1, n1 = dense("dense_1", 784, 128)
    l2, n2 = dense("dense_2", 128, 10)
    model = torch.nn.Sequential(torch.nn.Flatten(), l1, torch.nn.ReLU(), l2)
    rng = np.random.default_rng(0)
    batch = {"image": rng.random((16, 28, 28), dtype=np.float32),
             "label": rng.integers(0, 10, 16).astype(np.int32)}
    loss = lambda out, b: F.cross_entropy(out, b["label"].long())
    return model, {**n1, **n2}, batch, loss, "examples/mnist_mlp.nnd"


MODELS = {"mnist_mlp": mnist_mlp}


def torch_optimizer(spec, params):
    """the optimizer of an `optimizer = ...` setting, in PyTorch"""
    kind, _, args = spec.partition("(")
    kw = dict(a.split("=") for a in args.rstrip(")").replace(" ", "").split(",") if a)
    kw = {k: float(v) for k, v in kw.items()}
    if kind == "adam":
        return torch.optim.Adam(params, lr=kw.get("lr", 1e-3), betas=(kw.get("beta1", 0.9), kw.get("beta2", 0.999)),
                                eps=kw.get("eps", 1e-8))
    if kind == "sgd":
        return torch.optim.SGD(params, lr=kw.get("lr", 0.01))
    raise SystemExit(f"compare.py: no PyTorch optimizer for {spec}")


def file_optimizer(path):
    for line in open(path):
        line = line.strip()
        if line.startswith("optimizer"):
            return line.split("=", 1)[1].strip()
    return "adam()"


def rel_error(a, b):
    scale = max(float(np.max(np.abs(b))), 1e-12)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("nnd")
    ap.add_argument("examples")
    ap.add_argument("work")
    ap.add_argument("--optimizer")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model, names, batch, loss_fn, source = MODELS[args.model]()
    source = os.path.join(os.path.dirname(args.examples), source)
    os.makedirs(args.work, exist_ok=True)

    # random weights (biases too, so their gradients matter), written in nnd's layout
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.1)
    weights = {n: (p.detach().numpy().T if t else p.detach().numpy()).copy() for n, (p, t) in names.items()}
    model_file = os.path.join(args.work, "model.nnd")
    spec = args.optimizer or file_optimizer(source)
    text = open(source).read()
    if args.optimizer:
        text = "\n".join(f"  optimizer = {spec}" if l.strip().startswith("optimizer") else l for l in text.split("\n"))
    open(model_file, "w").write(text)
    write_safetensors(os.path.join(args.work, "weights.st"), weights)
    write_safetensors(os.path.join(args.work, "batch.st"), batch)
    out = os.path.join(args.work, "out.st")
    subprocess.run([args.nnd, "step", model_file, "--weights", os.path.join(args.work, "weights.st"), "--inputs",
                    os.path.join(args.work, "batch.st"), "--out", out, "--steps", str(args.steps), "--no-dropout"],
                   check=True)
    got = read_safetensors(out)

    tb = {k: torch.from_numpy(v.copy()) for k, v in batch.items()}
    optimizer = torch_optimizer(spec, model.parameters())
    worst, failed = 0.0, False

    def check(what, a, b, tolerance=TOLERANCE):
        nonlocal worst, failed
        err = rel_error(a, b)
        if tolerance == TOLERANCE:
            worst = max(worst, err)
        failed |= not err <= tolerance
        print(f"  {what:40s} rel.err {err:.2e}{'' if err <= tolerance else '  FAIL'}")

    model.train()
    for step in range(args.steps):
        optimizer.zero_grad()
        loss = loss_fn(model(tb["image"] if "image" in tb else tb), tb)
        loss.backward()
        if step == 0:
            check("loss", got["loss"], loss.detach().numpy())
            for n, (p, t) in names.items():
                g = p.grad.numpy().T if t else p.grad.numpy()
                check(f"grad:{n}", got[f"grad:{n}"], g)
        optimizer.step()
    for n, (p, t) in names.items():
        after = p.detach().numpy().T if t else p.detach().numpy()
        check(f"{n} after {args.steps} steps", got[n], after)
        check(f"{n} change in {args.steps} steps", got[n] - weights[n], after - weights[n], CHANGE_TOLERANCE)
    print(f"{args.model} with {spec}: worst relative error {worst:.2e} (tolerance {TOLERANCE:.0e}): "
          f"{'FAIL' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


main()

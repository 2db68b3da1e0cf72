"""The generated matmul kernels against numpy (float64) on the edges of their
tiles, under each instruction set the JIT can be held to (NND_ISA=native,
avx2, sse: 16, 8 or 4 floats a vector, so each has its own register tiles).

The products are those of training steps, so the transposed variants are
the ones autodiff really emits: for C = A @ W (`dense`), the forward
matmul {0,0}, dW = A^T dC as matmul {1,0} and dA = dC W^T as a matmul {0,1}
(W read as it is: copied transposed onto the kernel's stack, whole where it
fits, else one block of k at a time); for C = A @ B of two per-example
matrices, the
forward batch_matmul {0,0}, dA = dC B^T as {0,1} and dB = A^T dC as {1,0}:
with the batch among the leading axes (and an extra one, [B, H, M, K]) and
without it (two parameters scaled by constants of shape [L, M, K]). Both
flags set are never emitted (matmul's shape rule rejects them; nothing in a
model makes a batch_matmul {1,1}): these cannot be reached through `nnd
step`. The fused grad graphs are checked to hold every
combination that can.

Every operand is made trainable (an input plus a position_embedding table),
the loss is a sum of mean squared errors against random targets (so dC =
2 (C - G) / count: forward errors show in every gradient), and `nnd step
--steps 0` gives the loss and the gradients from weights this script chose.
Each gradient element is compared with numpy's in float64, relative to the
sum of the absolute products behind it (|A| |B|, the scale of its rounding):
worst relative error per ISA, failing above 1e-4 (or on a missing or
non-finite value); the loss, one f32 sum of up to 1.3M squares, within 1e-3
of its own size. Shapes cross the tile widths (N below one vector, one
vector, one tile, a tile + 1), row counts that are no multiple of the row
tile (and one that is), K = 1, k longer than a k-block (64K floats of B),
B^T packed whole on the stack and just too big to be (then packed block by
block), and batches of 1 and 13
examples (13 with --threads 2: rows split between threads at tile
boundaries). `nnd step` compiles for the batch its inputs file holds; the
kernels take the batch's row count at run time all the same, as a batch-32
step's do on a last batch of 1 or 13.

usage: matmul_edges.py NND WORK_DIR"""
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

ISAS = ["native", "avx2", "sse"]
BATCHES = [(1, 1), (13, 2)]  # (examples, threads)
TOLERANCE = 1e-4       # of a gradient element, relative to the |A| |B| behind it
LOSS_TOLERANCE = 1e-3  # relative: the loss sums up to 1.3M squares in one f32 accumulator

# dense(x, N) on x [B, T, K]: rows B*T. (T, K, N)
DENSE = [
    (1, 1, 1),       # all ones: a lone row and column, plain loops everywhere
    (1, 3, 7),       # N below an AVX2 vector; one SSE vector + 3
    (3, 1, 33),      # K = 1; dW [1, 33]: fewer rows than any row tile
    (3, 17, 16),     # N one AVX-512 vector, one AVX2 tile; dA: N = 17, a tile + 1
    (5, 9, 65),      # N an AVX-512 tile + 1; rows 5 and 65
    (2, 33, 31),     # N a vector + 15 (AVX-512), a tile + 15 (AVX2), 3 tiles + 7 (SSE)
    (24, 64, 8),     # rows 24 and 312, whole row tiles; dA: N = 64, one AVX-512 tile
    (7, 100, 1024),  # k in blocks: K = 100 (of 64), dA's 1024 (of 655), dW's 91 at batch 13; packed A^T
]
# a @ b on a [B, (H,) M, K], b [B, (H,) K, N]. (H or None, M, K, N)
BATCHED = [
    (None, 1, 1, 1),
    (None, 7, 3, 9),        # dA = dC B^T with N = 3: below a vector, not packed
    (3, 9, 33, 15),         # leading axes [B, 3]; N = 15, below an AVX-512 vector
    (None, 13, 16, 17),     # dA: B^T packed, N one AVX-512 vector / AVX2 tile
    (None, 100, 8, 1024),   # dB = A^T dC: k = 100 over 2 k-blocks, packed A^T; dA: N = 8
]
WIDE = [
    (None, 5, 64, 1024),    # dA: B^T of 64K floats, packed (the most that is), k = one k-block
    (None, 6, 65, 1024),    # dA: B^T of 65K floats, not packed; forward k in blocks of 64 and 1
]
# batch_matmul without the batch: (iota + 1) * table [M, K] @ (iota + 2) * table [K, N]. (L, M, K, N)
UNBATCHED = [
    (3, 5, 9, 4),           # N = 4: one SSE vector
    (2, 17, 31, 100),
]


def dense_model(name):
    lines, losses = [], []
    for i, (t, k, n) in enumerate(DENSE, 1):
        lines += [f"  input x{i}: f32[{t}, {k}]", f"  input g{i}: f32[{t}, {n}]",
                  f"  c{i} = dense(x{i} + position_embedding(x{i}, name=p{i}), {n}, use_bias=false, name=w{i})"]
        losses.append(f"mean_squared_error(c{i}, g{i})")
    return model(name, lines, losses)


def batched_lines(terms, first):
    lines, losses = [], []
    for i, (h, m, k, n) in enumerate(terms, first):
        hm, hk = (m, k) if h is None else (h * m, h * k)
        lines += [f"  input x{i}: f32[{hm}, {k}]", f"  input y{i}: f32[{hk}, {n}]",
                  f"  input g{i}: f32[{m}, {n}]" if h is None else f"  input g{i}: f32[{h}, {m}, {n}]",
                  f"  a{i} = x{i} + position_embedding(x{i}, name=pa{i})",
                  f"  b{i} = y{i} + position_embedding(y{i}, name=pb{i})"]
        if h is not None:
            lines += [f"  a{i} = reshape(a{i}, [{h}, {m}, {k}])", f"  b{i} = reshape(b{i}, [{h}, {k}, {n}])"]
        lines.append(f"  c{i} = a{i} @ b{i}")
        losses.append(f"mean_squared_error(c{i}, g{i})")
    return lines, losses


def unbatched_lines(terms, first):
    lines, losses = [], []
    for i, (l, m, k, n) in enumerate(terms, first):
        lines += [f"  input x{i}: f32[{m}, {k}]", f"  input y{i}: f32[{k}, {n}]",
                  f"  input g{i}: f32[{l}, {m}, {n}]",
                  f"  a{i} = (iota([{l}, {m}, {k}], 0) + 1) * position_embedding(x{i}, name=pa{i})",
                  f"  b{i} = (iota([{l}, {k}, {n}], 0) + 2) * position_embedding(y{i}, name=pb{i})",
                  f"  c{i} = a{i} @ b{i}"]
        losses.append(f"mean_squared_error(c{i} + g{i} * 0, g{i})")  # c{i} has no batch axis
    return lines, losses


def model(name, lines, losses):
    body = "\n".join(lines)
    return (f"# generated by tests/codegen/Inputs/matmul_edges.py\nmodel {name} {{\n{body}\n"
            f"  loss {' + '.join(losses)}\n}}\n")


def param(rng, weights, name, shape, scale):
    """a parameter's values, drawn once (every batch size runs the same weights), in float64"""
    if name not in weights:
        weights[name] = rng.uniform(-scale, scale, shape).astype(np.float32)
    return weights[name].astype(np.float64)


def absmm(a, b):
    """a @ b and |a| @ |b| in float64: the value and the scale of its rounding"""
    return a @ b, np.abs(a) @ np.abs(b)


def d_mse(c, sc, g, count):
    """d mean((c - g)^2) / dc, and its scale: the sizes of what it is made of
    (c's own scale sc), so that a forward rounding error stays within it"""
    return 2 * (c - g) / count, 2 * (sc + np.abs(g)) / count


class Reference:
    """the loss and each gradient in float64, with the scale of each element"""

    def __init__(self):
        self.loss, self.want, self.scale = 0.0, {}, {}

    def add_loss(self, squares):
        self.loss += np.mean(squares)

    def add(self, name, value, scale):
        self.want[name], self.scale[name] = value, scale


def dense_reference(rng, n, inputs, weights, ref):
    for i, (t, k, units) in enumerate(DENSE, 1):
        x = rng.uniform(-1, 1, (n, t, k)).astype(np.float32)
        g = rng.uniform(-1, 1, (n, t, units)).astype(np.float32)
        p = param(rng, weights, f"p{i}.table", (t, k), 0.5)
        w = param(rng, weights, f"w{i}.kernel", (k, units), 1 / np.sqrt(k))
        inputs[f"x{i}"], inputs[f"g{i}"] = x, g
        a = x + p
        c, sc = absmm(a, w)
        ref.add_loss((c - g) ** 2)
        dc, sdc = d_mse(c, sc, g, c.size)
        a2 = a.reshape(-1, k)
        ref.add(f"grad:w{i}.kernel", a2.T @ dc.reshape(-1, units), np.abs(a2.T) @ sdc.reshape(-1, units))
        ref.add(f"grad:p{i}.table", (dc @ w.T).sum(0), (sdc @ np.abs(w.T)).sum(0))


def batched_reference(rng, n, inputs, weights, ref, terms, first):
    for i, (h, m, k, units) in enumerate(terms, first):
        hh = 1 if h is None else h
        x = rng.uniform(-1, 1, (n, hh * m, k)).astype(np.float32)
        y = rng.uniform(-1, 1, (n, hh * k, units)).astype(np.float32)
        g = rng.uniform(-1, 1, (n, hh, m, units)).astype(np.float32)
        px = param(rng, weights, f"pa{i}.table", (hh * m, k), 0.5)
        py = param(rng, weights, f"pb{i}.table", (hh * k, units), 1 / np.sqrt(k))
        inputs[f"x{i}"], inputs[f"y{i}"] = x, y
        inputs[f"g{i}"] = g.reshape(n, m, units) if h is None else g
        a = (x + px).reshape(n, hh, m, k)
        b = (y + py).reshape(n, hh, k, units)
        c, sc = absmm(a, b)
        ref.add_loss((c - g) ** 2)
        dc, sdc = d_mse(c, sc, g, c.size)
        at, bt = a.transpose(0, 1, 3, 2), b.transpose(0, 1, 3, 2)
        ref.add(f"grad:pa{i}.table", (dc @ bt).sum(0).reshape(hh * m, k),
                (sdc @ np.abs(bt)).sum(0).reshape(hh * m, k))
        ref.add(f"grad:pb{i}.table", (at @ dc).sum(0).reshape(hh * k, units),
                (np.abs(at) @ sdc).sum(0).reshape(hh * k, units))


def unbatched_reference(rng, n, inputs, weights, ref, terms, first):
    for i, (l, m, k, units) in enumerate(terms, first):
        g = rng.uniform(-1, 1, (n, l, m, units)).astype(np.float32)
        pa = param(rng, weights, f"pa{i}.table", (m, k), 0.5)
        pb = param(rng, weights, f"pb{i}.table", (k, units), 1 / np.sqrt(k))
        inputs[f"x{i}"] = np.zeros((n, m, k), np.float32)  # only their shapes make the tables
        inputs[f"y{i}"] = np.zeros((n, k, units), np.float32)
        inputs[f"g{i}"] = g
        fa, fb = np.arange(l)[:, None, None] + 1.0, np.arange(l)[:, None, None] + 2.0  # the iotas
        a, b = fa * pa, fb * pb
        c, sc = absmm(a, b)
        ref.add_loss((c[None] - g) ** 2)
        dc, sdc = d_mse(c[None], sc[None], g, g.size)
        dc, sdc = dc.sum(0), sdc.sum(0)  # c has no batch axis: its gradient sums the batch's
        at, bt = a.transpose(0, 2, 1), b.transpose(0, 2, 1)
        ref.add(f"grad:pa{i}.table", (fa * (dc @ bt)).sum(0), (fa * (sdc @ np.abs(bt))).sum(0))
        ref.add(f"grad:pb{i}.table", (fb * (at @ dc)).sum(0), (fb * (np.abs(at) @ sdc)).sum(0))


def wide_model(name):
    lines, losses = batched_lines(WIDE, 1)
    more_lines, more_losses = unbatched_lines(UNBATCHED, len(WIDE) + 1)
    return model(name, lines + more_lines, losses + more_losses)


def wide_reference(*args):
    batched_reference(*args, WIDE, 1)
    unbatched_reference(*args, UNBATCHED, len(WIDE) + 1)


# each model (up to 16 inputs): how to write it, and its reference for a batch
MODELS = {
    "matmul_edges_dense": (dense_model, dense_reference),
    "matmul_edges_batch": (lambda name: model(name, *batched_lines(BATCHED, 1)),
                           lambda *args: batched_reference(*args, BATCHED, 1)),
    "matmul_edges_wide": (wide_model, wide_reference),
}


# what the fused grad graphs must hold: (op, transpose_a, transpose_b, batch among the leading axes)
EXPECTED = {("matmul", 0, 0, True), ("matmul", 0, 1, True), ("matmul", 1, 0, False),
            ("batch_matmul", 0, 0, True), ("batch_matmul", 0, 1, True), ("batch_matmul", 1, 0, True),
            ("batch_matmul", 0, 0, False), ("batch_matmul", 0, 1, False), ("batch_matmul", 1, 0, False)}


def products(nnd, path):
    """the matmul and batch_matmul nodes of the fused grad graph: (op, ta, tb, batched)"""
    out = subprocess.run([nnd, "dump", path, "--stage=fused", "--graph=grad"], check=True,
                         capture_output=True, text=True).stdout
    found = re.findall(r"= (matmul|batch_matmul)\(.*\{transpose_a = (\d), transpose_b = (\d)\} : f32\[(B?)", out)
    return [(op, int(ta), int(tb), bool(b)) for op, ta, tb, b in found]


def worst_error(got, want, scale):
    """max |got - want| / scale over the elements (inf on a shape mismatch or a non-finite value)"""
    got = np.asarray(got, np.float64)
    if got.shape != np.shape(want) or not np.all(np.isfinite(got)):
        return np.inf
    return float(np.max(np.abs(got - want) / np.maximum(scale, np.finfo(np.float32).tiny), initial=0.0))


def vectors(nnd, isa):
    """what `nnd --version` says the JIT's tiles are sized for under NND_ISA=isa"""
    out = subprocess.run([nnd, "--version"], check=True, capture_output=True, text=True,
                         env=dict(os.environ, NND_ISA=isa)).stdout
    return re.search(r"\d+ vector registers of \d+ floats", out).group(0)


def main():
    nnd, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    seen = []
    for name, (text, _) in MODELS.items():
        with open(os.path.join(work, name + ".nnd"), "w") as f:
            f.write(text(name))
        seen += products(nnd, os.path.join(work, name + ".nnd"))
    missing = sorted(EXPECTED - set(seen))
    print("fused grad graphs: " + ", ".join(f"{op} {{{ta},{tb}}}{' [B,...]' if b else ''}"
                                            for op, ta, tb, b in sorted(set(seen))) +
          (f"; MISSING {missing}" if missing else ""))
    rng = np.random.default_rng(20240611)
    runs, weights_of = [], {}
    for n, threads in BATCHES:
        for name, (_, reference) in MODELS.items():
            inputs, ref, weights = {}, Reference(), weights_of.setdefault(name, {})
            reference(rng, n, inputs, weights, ref)
            base = os.path.join(work, f"{name}.{n}")
            write_safetensors(base + ".inputs.st", inputs)
            write_safetensors(os.path.join(work, name + ".weights.st"), weights)
            runs.append((name, n, threads, base, ref))
    ok = not missing
    for isa in ISAS:
        worst, where, failures = -1.0, "", []
        for name, n, threads, base, ref in runs:
            out = f"{base}.{isa}.out.st"
            subprocess.run([nnd, "step", os.path.join(work, name + ".nnd"), "--weights",
                            os.path.join(work, name + ".weights.st"), "--inputs", base + ".inputs.st",
                            "--out", out, "--steps", "0", "--threads", str(threads)],
                           check=True, env=dict(os.environ, NND_ISA=isa))
            got = read_safetensors(out)
            os.remove(out)
            e = worst_error(got.get("loss", np.nan), ref.loss, abs(ref.loss))
            if not e <= LOSS_TOLERANCE:
                failures.append(f"  loss of {name} at batch {n}: relative error {e:.2e}")
            for what, want in ref.want.items():
                e = worst_error(got.get(what, np.nan), want, ref.scale[what])
                if e > worst:
                    worst, where = e, f"{what} of {name} at batch {n}"
                if not e <= TOLERANCE:
                    failures.append(f"  {what} of {name} at batch {n}: relative error {e:.2e}")
        for line in failures:
            print(line)
        ok = ok and not failures
        print(f"matmul edges under NND_ISA={isa} ({vectors(nnd, isa)}): {len(seen)} products at "
              f"batch 1 and 13, worst relative error {worst:.1e} ({where}): "
              f"{'FAIL' if failures else 'ok'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

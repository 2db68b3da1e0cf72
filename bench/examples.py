#!/usr/bin/python3
"""Every example model timed side by side: nnd against PyTorch (and JAX, ONNX Runtime, OpenBLAS).

Issue 14 asks for one command that puts nnd's compiled steps next to the frameworks a
practitioner would use, for every examples/*.nnd, in the same run on the same machine:

1. nnd: `nnd bench MODEL --json --threads 1` (with --threads-all also `--threads $(nproc)`):
   the median training step, inference at batch 1 and the compile time, on synthetic inputs.
2. PyTorch (Debian's torch through /usr/bin/python3, bench/examples_torch.py): the twins of
   tests/pytorch/param_counts.py, imported, with the forward pass and loss of each .nnd
   file; the training step (forward, loss, backward, the train block's optimizer and lr,
   zero_grad) at the file's batch and the eval-mode forward at batch 1, on synthetic inputs
   of nnd's shapes, one thread (torch.set_num_threads(1), OMP/OpenBLAS at 1, pinned to the
   CPU nnd ran on), and with --threads-all on all cores; subnormals flushed as nnd does.
   Both parameter counts are printed as a check that the models are the same.
3. --jax: JAX under jax.jit (bench/examples_jax.py, run by bench/.venv's python: jax[cpu]
   from PyPI, installed on first use as bench/rnn.py does) where a twin is a few lines:
   mnist_mlp, cnn, binary_classifier, linear_regression, lstm_seed, transformer_lm.
4. --onnx: batch-1 inference of mnist_mlp and cnn: the PyTorch twins exported with
   torch.onnx.export (torch 1.13), run by ONNX Runtime (pip-installed into bench/.venv on
   first use) with intra_op_num_threads=1, against nnd's infer_b1_ms.
5. SGEMM against OpenBLAS: a generated model with one bias-free dense layer, whose predict
   step at batch M is one [M, K] x [K, N] matmul (`nnd bench`'s infer_ms), against
   numpy.matmul on OpenBLAS with one thread, for square sizes and the examples' own shapes;
   GFLOP/s of both, nnd's fraction of OpenBLAS and of the one-thread FMA peak (bench/peak.py).
6. The targets of issue 14 item 7, printed as information, never asserted.

Each measurement runs in its own process (nnd, the workers: bench/examples_torch.py,
bench/examples_jax.py, and this file with --worker for ONNX Runtime and numpy), whose
cpu/wall is reported: under 1, it waited for a core (the machine may be shared).

usage: /usr/bin/python3 bench/examples.py [--quick] [--jax] [--onnx] [--json FILE]
                                          [--threads-all] [--models a,b] [--steps N]
                                          [--cpu N] [--nnd PATH]
"""
import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

from peak import fma_peak
from rnn import (BENCH, ONE_THREAD, ROOT, check_cpu, children_cpu, fail, find_nnd, jax_python,
                 machine, openblas_dir, run, torch_env, verdict)
from timing import median_timing

EXAMPLES = os.path.join(ROOT, "examples")
OPTIMIZER_LR = {"adam": 0.001, "adamw": 0.001, "sgd": 0.01}  # docs/language.md's defaults
DEFAULT_RANGES = {"label": (0, 10)}  # the Fashion-MNIST classifiers' labels
INT_RANGES = {  # [low, high) of the values each i32 input takes, by model
    "bert": {"tokens": (0, 102), "segments": (0, 2), "mlm_targets": (0, 102), "nsp": (0, 2)},
    "bert_finetune": {"tokens": (0, 102), "segments": (0, 2), "label": (0, 4)},
    "gcn": {"edges": (0, 34), "labels": (-1, 2)},
    "transformer_lm": {"tokens": (0, 102), "targets": (0, 102)},
}
JAX_SKIPPED = {
    "bert": "no JAX twin here (key padding masks, a tied table; transformer_jax.py is the"
            " decoder only)",
    "bert_finetune": "no JAX twin here (as bert)",
    "gcn": "no JAX twin here (segment sums over the edge input)",
    "gru": "no JAX twin here (rnn_jax.py has only the seed's relu LSTM)",
    "inception": "no JAX twin here (four-branch blocks; cnn covers the convolutions)",
    "lstm": "no JAX twin here (rnn_jax.py has only the seed's relu LSTM)",
    "resnet": "no JAX twin here (batch norm's running statistics as state)",
    "rnn": "no JAX twin here (rnn_jax.py has only the seed's relu LSTM)",
    "vgg": "no JAX twin here (cnn covers the convolutions)",
}
ONNX_MODELS = ("mnist_mlp", "cnn")
SQUARES = (16, 32, 64, 128, 256, 512, 1024, 2048)
MODEL_SHAPES = (  # (where, M, K, N): the examples' matmuls at their batch (nnd dump --stage=fused)
    ("mnist_mlp dense_1", 32, 784, 128),
    ("cnn conv2 (im2col)", 3872, 288, 64),
    ("cnn conv1 (im2col)", 21632, 9, 32),
    ("cnn dense_1", 32, 1600, 128),
    ("cnn dense_1 dW shape", 1600, 32, 128),
    ("char GPT feed-forward", 2048, 128, 512),
)
SGEMM_MODEL = """\
model sgemm {{
  input x: f32[{k}]
  input target: f32[{n}]
  y = dense(x, {n}, use_bias=false)
  loss mean_squared_error(y, target)
  metric mae(y, target)
}}
train {{
  optimizer = sgd()
  batch = {m}
}}
"""
TARGETS = (  # (key, what, threshold): speedups of nnd, its time against the other's
    ("cnn_vs_pytorch", "seed CNN (cnn) train step >= 2.5x PyTorch", 2.5),
    ("cnn_vs_jax", "seed CNN (cnn) train step >= 3x XLA (JAX)", 3.0),
    ("mlp_vs_pytorch", "MLP (mnist_mlp) train step >= 5x PyTorch", 5.0),
    ("lstm_seed_vs_pytorch", "seed LSTM (lstm_seed) train step >= 5x PyTorch", 5.0),
    ("gpt_vs_pytorch", "char GPT (transformer_lm, the closest example) train step >= 1.5x"
                       " PyTorch", 1.5),
    ("mlp_vs_onnx", "MLP batch-1 inference >= 1.5x ONNX Runtime", 1.5),
    ("cnn_vs_onnx", "CNN batch-1 inference >= 1.5x ONNX Runtime", 1.5),
)


# ---- what each example is: inputs, optimizer ----

def strip_comments(text):
    return re.sub(r"#[^\n]*", "", text)


def model_inputs(text):
    """The `input NAME: f32|i32[dims]` lines: [{name, dtype, shape}] (shape without batch)."""
    found = re.findall(r"^\s*input\s+(\w+)\s*:\s*(f32|i32)(?:\[([\d,\s]*)\])?", text, re.M)
    return [{"name": name, "dtype": dtype,
             "shape": [int(d) for d in dims.split(",") if d.strip()]}
            for name, dtype, dims in found]


def train_block(text):
    """The train block's optimizer, its lr (or the optimizer's default) and clip_norm."""
    block = re.search(r"^train\s*\{(.*?)^\}", text, re.M | re.S)
    body = block.group(1) if block else ""
    opt = re.search(r"optimizer\s*=\s*(\w+)\(([^)]*)\)", body)
    kind, options = (opt.group(1), opt.group(2)) if opt else ("adam", "")
    lr = re.search(r"\blr\s*=\s*([\d.eE+-]+)", options)
    momentum = re.search(r"\bmomentum\s*=\s*([\d.eE+-]+)", options)
    clip = re.search(r"\bclip_norm\s*=\s*([\d.eE+-]+)", body)
    return {"optimizer": kind, "lr": float(lr.group(1)) if lr else OPTIMIZER_LR.get(kind),
            "momentum": float(momentum.group(1)) if momentum else 0.0,
            "clip_norm": float(clip.group(1)) if clip else 0.0}


def model_spec(path, batch):
    name = os.path.basename(path)[:-4]
    with open(path) as f:
        text = strip_comments(f.read())
    inputs = model_inputs(text)
    ranges = {**DEFAULT_RANGES, **INT_RANGES.get(name, {})}
    return {"name": name, "path": path, "batch": batch, "inputs": inputs,
            "ranges": {i["name"]: ranges[i["name"]] for i in inputs if i["dtype"] == "i32"},
            **train_block(text)}


# ---- nnd ----

def nnd_bench(nnd, path, threads, steps, cpu=None):
    """`nnd bench --json` of one model: its JSON, and cpu/wall of the whole process."""
    cpu_before = children_cpu()
    done, wall = run([nnd, "bench", path, "--json", "--threads", str(threads),
                      "--steps", str(steps)], cwd=ROOT, cpu=cpu)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_per_wall"] = (children_cpu() - cpu_before) / wall
    return result


def bench_nnd_all(nnd, paths, threads, args, cpu):
    out = {}
    for path in paths:
        name = os.path.basename(path)[:-4]
        print(f"== nnd bench {name} --threads {threads}", flush=True)
        out[name] = nnd_bench(nnd, path, threads, args.steps, cpu)
    return out


def isa(nnd):
    """The host line of `nnd --version`: the CPU LLVM targets and its vector registers."""
    done, _ = run([nnd, "--version"], check=False)
    return next((line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                 if line.startswith("host:")), "unknown")


# ---- the workers ----

def worker(python, script, spec, work, env, cpu=None, extra=(), required=True):
    """Runs script (a worker) on the spec written into work; returns its JSON and cpu/wall.
    A worker that is not required and fails gives {"skipped": its error} instead of
    ending the benchmark."""
    path = os.path.join(work, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    cpu_before = children_cpu()
    done, wall = run([python, os.path.join(BENCH, script), path, *extra], env=env, cpu=cpu,
                     check=required)
    if done.returncode != 0:
        return {"skipped": f"{script} exited with {done.returncode}: {done.stderr.strip()[-300:]}"}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_cpu_per_wall"] = (children_cpu() - cpu_before) / wall
    return out


def torch_threads_env(threads, blas):
    """One thread: OMP/OpenBLAS/MKL at 1 (bench/rnn.py's ONE_THREAD); all cores: OpenMP at
    that count and the BLAS at its own default, as a practitioner would run it."""
    env = {k: v for k, v in os.environ.items() if k not in ONE_THREAD}
    env.update(ONE_THREAD if threads == 1 else {"OMP_NUM_THREADS": str(threads)})
    return {**env, **blas}


def bench_torch(specs, args, work, threads, cpu, onnx_dir=None):
    print(f"== pytorch, {threads} thread(s): {len(specs)} models", flush=True)
    spec = {"nnd": args.nnd_path, "steps": args.steps, "warmup": args.warmup, "models": specs}
    extra = ["--threads", str(threads)]
    if onnx_dir:
        extra += ["--onnx-dir", onnx_dir, "--onnx-models", ",".join(ONNX_MODELS)]
    env = torch_threads_env(threads, torch_env(openblas_dir(True)))
    return worker(sys.executable, "examples_torch.py", spec, work, env, cpu, extra)


def bench_jax(specs, args, work):
    python, why = jax_python()
    if not python:
        return {"skipped": why}
    wanted = [s for s in specs if s["name"] not in JAX_SKIPPED]
    print(f"== jax: {', '.join(s['name'] for s in wanted)}", flush=True)
    spec = {"steps": args.steps, "warmup": args.warmup, "models": wanted}
    return worker(python, "examples_jax.py", spec, work, {**os.environ, **ONE_THREAD}, args.cpu,
                  required=False)


def venv_with(module, requirement):
    """bench/.venv's python with module importable, pip-installing requirement into it on
    first use (PyPI); (python, None) or (None, why not)."""
    venv = os.path.join(BENCH, ".venv")
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        made, _ = run([sys.executable, "-m", "venv", venv], check=False)
        if made.returncode != 0:
            return None, f"python3 -m venv failed: {made.stderr.strip()[-300:]}"
    if run([python, "-c", f"import {module}"], check=False)[0].returncode == 0:
        return python, None
    print(f"== installing {requirement} into bench/.venv (PyPI)", flush=True)
    try:
        pip = subprocess.run([python, "-m", "pip", "install", "-q", requirement],
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, f"pip install {requirement} timed out (is PyPI reachable?)"
    if pip.returncode != 0:
        return None, f"pip install {requirement} failed: {pip.stderr.strip()[-300:]}"
    return python, None


def bench_onnx(exported, args, work):
    python, why = venv_with("onnxruntime", "onnxruntime")
    if not python:
        return {"skipped": why}
    if not exported:
        return {"skipped": "the PyTorch worker exported no model"}
    print(f"== onnxruntime: {', '.join(e['name'] for e in exported)}", flush=True)
    spec = {"steps": args.steps, "warmup": args.warmup, "models": exported}
    return worker(python, "examples.py", spec, work, {**os.environ, **ONE_THREAD}, args.cpu,
                  ["--worker", "ort"], required=False)


def sgemm_shapes(quick):
    squares = [s for s in SQUARES if not quick or s <= 256]
    return [(f"{n}^3", n, n, n) for n in squares] + list(MODEL_SHAPES)


def bench_sgemm(nnd, args, work):
    """nnd's predict step of a one-dense-layer model at batch M, and numpy.matmul."""
    shapes = sgemm_shapes(args.quick)
    rows = []
    for where, m, k, n in shapes:
        print(f"== sgemm {m}x{k}x{n}: nnd", flush=True)
        path = os.path.join(work, f"sgemm_{m}_{k}_{n}.nnd")
        with open(path, "w") as f:
            f.write(SGEMM_MODEL.format(m=m, k=k, n=n))
        steps = max(3, min(args.steps, int(2e10 / (6 * m * k * n))))  # the big ones: fewer
        result = nnd_bench(nnd, path, 1, steps, args.cpu)
        rows.append({"where": where, "m": m, "k": k, "n": n, "nnd_ms": result["infer_ms"],
                     "nnd_graph": result.get("infer_graph"),
                     "nnd_cpu_per_wall": result["cpu_per_wall"]})
    print("== sgemm: numpy.matmul (OpenBLAS, one thread)", flush=True)
    spec = {"shapes": [[r["m"], r["k"], r["n"]] for r in rows], "quick": args.quick}
    numpy = worker(sys.executable, "examples.py", spec, work, {**os.environ, **ONE_THREAD},
                   args.cpu, ["--worker", "sgemm"])
    for row, timed in zip(rows, numpy["results"]):
        row.update(numpy_ms=timed["ms"], numpy_cpu_per_wall=timed["cpu_per_wall"])
    return {"rows": rows, "blas": numpy["blas"], "numpy": numpy["numpy"]}


# ---- the workers that run in this file (under another python, in their own process) ----

def loaded_library(part):
    """The first library of this process whose file name contains part (its real path)."""
    with open("/proc/self/maps") as maps:
        paths = (line.split()[-1] for line in maps if "/" in line)
        return next((os.path.realpath(p) for p in paths if part in os.path.basename(p)), "none")


def ort_worker(spec):
    """ONNX Runtime on one thread: each exported model's session.run at batch 1."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    rng = np.random.default_rng(1)
    results = {}
    for model in spec["models"]:
        session = ort.InferenceSession(model["onnx"], options,
                                       providers=["CPUExecutionProvider"])
        feed = {name: rng.random(shape).astype(model["dtypes"][name])
                for name, shape in model["inputs"].items()}
        results[model["name"]] = median_timing(lambda: session.run(None, feed), spec["steps"],
                                               spec["warmup"])
    return {"onnxruntime": ort.__version__, "results": results}


def sgemm_worker(spec):
    """numpy.matmul of float32 [M, K] x [K, N], each shape timed for about 0.2 s."""
    import numpy as np
    rng = np.random.default_rng(1)
    results = []
    for m, k, n in spec["shapes"]:
        a = rng.random((m, k), np.float32)
        b = rng.random((k, n), np.float32)
        budget = 0.03 if spec["quick"] else 0.2
        calls = int(min(2000, max(5, budget / max(2 * m * k * n / 50e9, 1e-6))))
        results.append(median_timing(lambda: np.matmul(a, b), calls, max(2, calls // 10)))
    return {"numpy": np.__version__, "blas": loaded_library("blas"), "results": results}


WORKERS = {"ort": ort_worker, "sgemm": sgemm_worker}


# ---- the report ----

def fmt_ms(ms):
    """Three significant digits, no exponent: 38.4, 3.48, 0.0869, 0.00029."""
    if ms is None or not math.isfinite(ms):
        return "n/a"
    digits = max(0, 2 - math.floor(math.log10(ms))) if ms > 0 else 0
    return f"{ms:.{digits}f}"


def ratio(other, nnd):
    return other / nnd if other and nnd else None


def fmt_x(value):
    return f"{value:.2f}x" if value else "n/a"


def table(headers, rows):
    """Text table: the first column left-aligned, the others right-aligned."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        line = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  ".join(line).rstrip())


def report_training(names, nnd, torch, threads):
    print(f"\nTraining step, {threads}: ms/step, median (nnd bench; PyTorch eager, the twins of"
          " tests/pytorch/param_counts.py)")
    rows = []
    for name in names:
        r, t = nnd[name], torch["results"].get(name)
        params = (f"{t['params_nnd']}/{t['params_torch']}"
                  + ("" if t["params_nnd"] == t["params_torch"] else " DIFFERENT")) if t else ""
        torch_ms = t["train"]["ms"] if t else None
        rows.append([name, r["batch"], params, fmt_ms(r["train_step_ms"]), fmt_ms(torch_ms),
                     fmt_x(ratio(torch_ms, r["train_step_ms"])), f"{r['cpu_per_wall']:.2f}",
                     f"{t['train']['cpu_per_wall']:.2f}" if t else ""])
    table(["model", "batch", "params nnd/torch", "nnd ms", "pytorch ms", "nnd speedup",
           "nnd cpu/wall", "torch cpu/wall"], rows)
    for name, why in torch["errors"].items():
        print(f"  pytorch {name}: {why}")


def report_inference(names, nnd, torch):
    print("\nInference at batch 1 (ms, median) and nnd's compile time (parse to runnable"
          " train and inference steps)")
    rows = []
    for name in names:
        r, t = nnd[name], torch["results"].get(name)
        torch_ms = t["infer_b1"]["ms"] if t else None
        rows.append([name, fmt_ms(r["infer_b1_ms"]), fmt_ms(torch_ms),
                     fmt_x(ratio(torch_ms, r["infer_b1_ms"])), f"{r['compile_ms'] / 1e3:.2f}",
                     "" if r["compile_ms"] < 1000 else "over 1 s"])
    table(["model", "nnd b1 ms", "pytorch b1 ms", "nnd speedup", "compile s", ""], rows)


def report_jax(names, nnd, jax):
    print("\nJAX (jax.jit, one thread, pinned): ms, median")
    if "skipped" in jax:
        print(f"  skipped: {jax['skipped']}")
        return
    rows = []
    for name in names:
        j = jax["results"].get(name)
        if not j:
            continue
        r = nnd[name]
        b1 = j.get("infer_b1", {}).get("ms")
        rows.append([name, j["params"], fmt_ms(r["train_step_ms"]), fmt_ms(j["train"]["ms"]),
                     fmt_x(ratio(j["train"]["ms"], r["train_step_ms"])),
                     fmt_ms(r["infer_b1_ms"]), fmt_ms(b1), fmt_x(ratio(b1, r["infer_b1_ms"])),
                     f"{j['train']['cpu_per_wall']:.2f}"])
    table(["model", "jax params", "nnd ms", "jax ms", "nnd speedup", "nnd b1 ms", "jax b1 ms",
           "nnd speedup", "jax cpu/wall"], rows)
    for name in names:
        if name in JAX_SKIPPED:
            print(f"  {name}: skipped: {JAX_SKIPPED[name]}")
        elif name in jax["errors"]:
            print(f"  {name}: failed: {jax['errors'][name]}")
    print(f"  jax {jax['jax']}, XLA_FLAGS={jax['xla_flags']}; transformer_lm: no b1 (the"
          " reused bench/transformer_jax.py has only the loss)")


def report_onnx(nnd, torch, onnx):
    print("\nBatch-1 inference against ONNX Runtime (intra_op_num_threads=1, pinned): ms,"
          " median")
    if "skipped" in onnx:
        print(f"  skipped: {onnx['skipped']}")
        return
    rows = []
    for name, o in onnx["results"].items():
        nnd_ms, t = nnd[name]["infer_b1_ms"], torch["results"].get(name)
        rows.append([name, fmt_ms(nnd_ms), fmt_ms(o["ms"]), fmt_x(ratio(o["ms"], nnd_ms)),
                     fmt_ms(t["infer_b1"]["ms"]) if t else "n/a", f"{o['cpu_per_wall']:.2f}"])
    table(["model", "nnd b1 ms", "onnxruntime ms", "nnd speedup", "pytorch b1 ms",
           "ort cpu/wall"], rows)
    print(f"  onnxruntime {onnx['onnxruntime']}, the models exported by torch.onnx.export"
          f" (torch {torch['torch']})")


def report_sgemm(sgemm, peak):
    print("\nSGEMM [M, K] x [K, N], one thread: nnd's predict step of dense(x, N,"
          " use_bias=false) at batch M against numpy.matmul (OpenBLAS)")

    def of_peak(gflops):
        return f"{gflops / peak['gflops']:.0%}" if peak else "n/a"

    rows = []
    for r in sgemm["rows"]:
        flops = 2 * r["m"] * r["k"] * r["n"]
        r["nnd_gflops"] = flops / r["nnd_ms"] * 1e-6
        r["numpy_gflops"] = flops / r["numpy_ms"] * 1e-6
        rows.append([r["where"], f"{r['m']}x{r['k']}x{r['n']}", fmt_ms(r["nnd_ms"]),
                     f"{r['nnd_gflops']:.1f}", fmt_ms(r["numpy_ms"]), f"{r['numpy_gflops']:.1f}",
                     f"{r['nnd_gflops'] / r['numpy_gflops']:.2f}", of_peak(r["nnd_gflops"]),
                     of_peak(r["numpy_gflops"])])
    table(["shape", "MxKxN", "nnd ms", "nnd GFLOP/s", "openblas ms", "openblas GFLOP/s",
           "nnd/openblas", "nnd of peak", "openblas of peak"], rows)
    print(f"  numpy {sgemm['numpy']}, BLAS {sgemm['blas']}; nnd's predict step also copies"
          " its [M, N] output once")
    if peak:
        print(f"  FMA peak (one thread, bench/peak.py): {peak['gflops']:.1f} GFLOP/s"
              f" ({peak['bits']}-bit vectors)")


def measured_targets(results):
    """The speedups the targets are about (None where not measured)."""
    nnd, torch = results["nnd_1"], results["torch_1"]["results"]
    jax = results.get("jax", {}).get("results", {})
    onnx = results.get("onnx", {}).get("results", {})

    def train(name, other):
        return ratio(other.get(name, {}).get("train", {}).get("ms"),
                     nnd.get(name, {}).get("train_step_ms"))
    return {
        "cnn_vs_pytorch": train("cnn", torch), "cnn_vs_jax": train("cnn", jax),
        "mlp_vs_pytorch": train("mnist_mlp", torch),
        "lstm_seed_vs_pytorch": train("lstm_seed", torch),
        "gpt_vs_pytorch": train("transformer_lm", torch),
        "mlp_vs_onnx": ratio(onnx.get("mnist_mlp", {}).get("ms"),
                             nnd.get("mnist_mlp", {}).get("infer_b1_ms")),
        "cnn_vs_onnx": ratio(onnx.get("cnn", {}).get("ms"), nnd.get("cnn", {}).get("infer_b1_ms")),
    }


def report_targets(results):
    print("\nTargets of issue 14 (information, not asserted; one thread each)")
    measured = measured_targets(results)
    rows, out = [], {}
    for key, what, threshold in TARGETS:
        value = measured[key]
        status = "not measured" if value is None else verdict(value >= threshold)
        out[key] = {"target": what, "measured": value, "status": status}
        rows.append([what, fmt_x(value), status])
    compiles = {n: r["compile_ms"] / 1e3 for n, r in results["nnd_1"].items()}
    slow = sorted((n for n, s in compiles.items() if s >= 1.0), key=lambda n: -compiles[n])
    longest = max(compiles, key=compiles.get)
    out["compile"] = {"target": "compile under 1 s for every example", "measured": compiles,
                      "status": verdict(not slow)}
    rows.append(["compile under 1 s for every example",
                 f"{len(slow)} of {len(compiles)} over; max {compiles[longest]:.2f} s",
                 verdict(not slow)])
    table(["target", "measured", "status"], rows)
    if slow:
        print("  compiling for 1 s or more: " + ", ".join(f"{n} {compiles[n]:.2f} s"
                                                         for n in slow))
    return out


def report(info, results, args):
    names = list(results["nnd_1"])
    print(f"\n{info['cpu']}, {info['cores']} cores ({info['isa']}); checkout {info['commit']};"
          f" {info['date']}; load average {info['load_before']} before, {info['load_after']}"
          " after")
    print(f"PyTorch {results['torch_1']['torch']}, BLAS {results['torch_1']['blas']};"
          f" {args.steps} timed steps after {args.warmup} warm-up, synthetic inputs")
    report_training(names, results["nnd_1"], results["torch_1"], "one thread (pinned)")
    if "nnd_all" in results:
        report_training(names, results["nnd_all"], results["torch_all"],
                        f"all {os.cpu_count()} cores (nnd --threads {os.cpu_count()}, torch"
                        f" set_num_threads({os.cpu_count()}))")
    report_inference(names, results["nnd_1"], results["torch_1"])
    if "jax" in results:
        report_jax(names, results["nnd_1"], results["jax"])
    if "onnx" in results:
        report_onnx(results["nnd_1"], results["torch_1"], results["onnx"])
    report_sgemm(results["sgemm"], results["peak"])
    results["targets"] = report_targets(results)
    print("cpu/wall: CPU time over wall time of the timed calls (nnd: of its whole process,"
          " compiling included); under 1 (under the thread count on all cores): it waited for"
          " a core")


# ---- driver ----

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 5 steps, squares up to 256 (under 2 minutes)")
    ap.add_argument("--jax", action="store_true",
                    help="also JAX (pip installs it into bench/.venv)")
    ap.add_argument("--onnx", action="store_true",
                    help="also ONNX Runtime at batch 1 (pip installs it into bench/.venv)")
    ap.add_argument("--threads-all", action="store_true",
                    help="also nnd and PyTorch on all cores")
    ap.add_argument("--models", help="comma-separated example names (default: all)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the CPU the one-thread runs are pinned to (-1: none; default: the"
                         " highest-numbered)")
    ap.add_argument("--nnd", help="the nnd binary (default: build/nnd, built if missing)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return args
    if args.quick:
        args.steps = min(args.steps, 5)
    if args.steps < 1:
        ap.error("--steps must be positive")
    args.warmup = 2 if args.quick else 5
    check_cpu(ap, args)
    return args


def example_paths(selected):
    paths = sorted(glob.glob(os.path.join(EXAMPLES, "*.nnd")))
    if not selected:
        return paths
    wanted = selected.split(",")
    unknown = set(wanted) - {os.path.basename(p)[:-4] for p in paths}
    if unknown:
        fail(f"no examples/NAME.nnd for {', '.join(sorted(unknown))}")
    return [p for p in paths if os.path.basename(p)[:-4] in wanted]


def measure(nnd, args, work):
    paths = example_paths(args.models)
    results = {"nnd_1": bench_nnd_all(nnd, paths, 1, args, args.cpu)}
    specs = [model_spec(p, results["nnd_1"][os.path.basename(p)[:-4]]["batch"]) for p in paths]
    onnx_dir = os.path.join(work, "onnx") if args.onnx else None
    if onnx_dir:
        os.makedirs(onnx_dir)
    results["torch_1"] = bench_torch(specs, args, work, 1, args.cpu, onnx_dir)
    if args.threads_all:
        cores = os.cpu_count()
        results["nnd_all"] = bench_nnd_all(nnd, paths, cores, args, None)
        results["torch_all"] = bench_torch(specs, args, work, cores, None)
    if args.jax:
        results["jax"] = bench_jax(specs, args, work)
    if args.onnx:
        results["onnx"] = bench_onnx(results["torch_1"]["onnx"], args, work)
    results["sgemm"] = bench_sgemm(nnd, args, work)
    return results


def main():
    args = parse_args()
    if args.worker:
        with open(args.spec) as f:
            print(json.dumps(WORKERS[args.worker](json.load(f))))
        return
    start = time.perf_counter()
    nnd = find_nnd(args.nnd)
    args.nnd_path = nnd
    info = {**machine(), "isa": isa(nnd), "load_before": round(os.getloadavg()[0], 2)}
    peak, why = fma_peak(args.cpu)
    with tempfile.TemporaryDirectory(prefix="nnd-bench-examples-") as work:
        results = measure(nnd, args, work)
    info["load_after"] = round(os.getloadavg()[0], 2)
    results.update(machine=info, peak=peak, peak_note=why)
    report(info, results, args)
    print(f"the whole run: {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Benchmark of nnd on recurrences, against PyTorch (and optionally JAX), in one run.

1. Compile time and graph size against the sequence length: an LSTM(32) over 4
   features, batch 32, for each T: the train step's op and kernel counts (from
   `nnd dump --stage=planned`) and the compile time nnd reports with
   --time-passes (LLVM optimisation + JIT, and its own passes), from a one-step
   `nnd train` on 32 generated examples. Targets of issue 9: compile(T_max) /
   compile(T_min) <= 1.3, compile(T_max) under 1 s, counts independent of T.
2. The seed LSTM's training step: LSTM(100, activation=relu) over [10, 10] ->
   Dense(50, relu) -> Dense(1, sigmoid), binary cross-entropy, Adam, batch 32,
   on synthetic data, one thread each: nnd (--threads 1, the `seconds` of its
   --log), PyTorch (bench/rnn_torch.py: the relu cell by hand, and torch.nn.LSTM
   as a reference) and with --jax JAX (bench/rnn_jax.py, lax.scan under jit).
   Targets: nnd >= 5x faster than PyTorch and >= 2x faster than JAX.

The targets are printed as information; nothing here asserts a time.
Only nnd's CLI is used, so this runs against any nnd build.

usage: /usr/bin/python3 bench/rnn.py [--quick] [--jax] [--json FILE] [--lengths 25,50,100,200]
                                     [--steps N] [--epochs N] [--repeat N] [--nnd PATH]
"""
import argparse
import glob
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from peak import fma_peak

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BATCH = 32
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

COMPILE_MODEL = """\
model lstm_t{steps} {{
  input seq: f32[{steps}, 4]
  input label: i32
  h = lstm(seq, 32)
  logits = dense(h, 2)
  loss sparse_categorical_crossentropy(logits, label)
}}
train {{
  optimizer = adam(lr=0.001)
  batch = {batch}
  epochs = 1
}}
data train {{
  seq = npy("seq.npy")
  label = npy("label.npy")
}}
"""

SEED_MODEL = """\
model seed_lstm {{
  input seq: f32[10, 10]
  input label: f32[1]
  h = lstm(seq, 100{activation})
  x = dense(h, 50, activation=relu)
  p = sigmoid(dense(x, 1))
  loss binary_crossentropy(p, label)
}}
train {{
  optimizer = adam(lr=0.001)
  batch = {batch}
  epochs = 1
  seed = 1
}}
data train {{
  seq = npy("seq.npy")
  label = npy("label.npy")
}}
"""


def fail(message):
    # bench/transformer.py imports this module's helpers: name the script that runs
    sys.exit(f"bench/{os.path.basename(sys.argv[0])}: error: {message}")


def run(cmd, cwd=None, env=None, check=True, cpu=None):
    """Runs cmd (on CPU cpu alone, if given) and returns (completed process,
    wall seconds); a failure that check asks about ends the benchmark with the
    command's own stderr."""
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=pin)
    wall = time.perf_counter() - start
    if check and done.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {done.returncode}:\n{done.stderr.strip()}")
    return done, wall


def find_nnd(path):
    """build/nnd (built here if missing, as bench/run.sh does) or --nnd PATH."""
    if path:
        if not os.access(path, os.X_OK):
            fail(f"{path} is not an executable")
        return os.path.abspath(path)
    nnd = os.path.join(ROOT, "build", "nnd")
    if not os.access(nnd, os.X_OK):
        print("== building nnd", flush=True)
        run(["cmake", "-S", ROOT, "-B", os.path.join(ROOT, "build")])
        run(["cmake", "--build", os.path.join(ROOT, "build"), "-j2"])
    return nnd


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    commit, _ = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False)
    return {"cpu": cpu, "cores": os.cpu_count(), "commit": commit.stdout.strip() or "unknown",
            "date": time.strftime("%Y-%m-%d %H:%M")}


# ---- 1. compile time and graph size against T ----

def write_data(folder, seq, label):
    """seq.npy and label.npy, which the models' data blocks read"""
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "seq.npy"), seq)
    np.save(os.path.join(folder, "label.npy"), label)


def write_model(folder, text):
    model = os.path.join(folder, "model.nnd")
    with open(model, "w") as f:
        f.write(text)
    return model


def count_graph(text):
    """Ops and kernels of a printed graph: one node a line (`%N = ...`), a
    `kernel(K)` suffix after fusion. Kernels are counted per graph block, so
    that nested body graphs (a scan's) count theirs whether or not they
    number them apart; nested ops are counted too, and reported apart."""
    ops = nested = kernels = 0
    blocks = []
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"%\d+ = ", stripped):
            ops += 1
            nested += len(blocks) > 1
            k = re.search(r"\bkernel\((\d+)\)", stripped)
            if k and blocks:
                blocks[-1].add(k.group(1))
        if stripped.endswith("{"):
            blocks.append(set())
        elif stripped == "}" and blocks:
            kernels += len(blocks.pop())
    return {"ops": ops, "nested_ops": nested, "kernels": kernels}


def parse_times(text):
    """The compile-time rows of --time-passes (milliseconds) and the
    "compiled train_step: N ops in K kernels ... S s" line of nnd train."""
    out = {"backend_s": 0.0, "passes_s": 0.0, "total_s": None}
    for ms, name in re.findall(r"^\s*([\d.]+)\s+[\d.]+%\s+(.+?)\s*$", text, re.M):
        if name == "total":
            out["total_s"] = float(ms) / 1e3
        elif "LLVM" in name or "JIT" in name:
            out["backend_s"] += float(ms) / 1e3
        else:
            out["passes_s"] += float(ms) / 1e3
    line = re.search(r"compiled train_step: (\d+) ops in (\d+) kernels.*?([\d.]+) s\s*$", text,
                     re.M)
    if line:
        out["reported_ops"], out["reported_kernels"] = int(line.group(1)), int(line.group(2))
        out["reported_compile_s"] = float(line.group(3))
    if not out["backend_s"] and line:  # no --time-passes rows: the line's LLVM + JIT time
        out["backend_s"] = out["reported_compile_s"]
    return out


def measure_compile(nnd, work, steps, repeat):
    rng = np.random.default_rng(steps)
    seq = rng.standard_normal((BATCH, steps, 4)).astype(np.float32)
    label = rng.integers(0, 2, BATCH).astype(np.int32)
    folder = os.path.join(work, f"t{steps}")
    write_data(folder, seq, label)
    model = write_model(folder, COMPILE_MODEL.format(steps=steps, batch=BATCH))
    dump, _ = run([nnd, "dump", model, "--stage=planned", "--graph=train"])
    row = {"T": steps, **count_graph(dump.stdout)}
    best = None
    for _ in range(repeat):  # a one-step training run: compiles the train and eval steps
        done, wall = run([nnd, "train", model, "--threads", "1", "--time-passes"],
                         cwd=folder)
        times = parse_times(done.stdout + done.stderr)
        times["wall_s"] = wall
        if best is None or times["backend_s"] < best["backend_s"]:
            best = times
    row.update(best)
    return row


def verdict(ok):
    return "holds" if ok else "MISSED"


def report_compile(rows):
    print("\n1. Compile time and graph size vs sequence length: LSTM(32) over 4 features, batch 32")
    print(f"{'T':>5} {'ops':>7} {'kernels':>8} {'LLVM+JIT s':>11} {'passes s':>9}"
          f" {'nnd total s':>12} {'wall s':>7}")
    for r in rows:
        total = f"{r['total_s']:.3f}" if r["total_s"] is not None else "n/a"
        print(f"{r['T']:>5} {r['ops']:>7} {r['kernels']:>8} {r['backend_s']:>11.3f}"
              f" {r['passes_s']:>9.3f} {total:>12} {r['wall_s']:>7.2f}")
    for r in rows:
        if r["nested_ops"]:
            print(f"  T={r['T']}: {r['nested_ops']} of the ops are in nested (body) graphs")
        reported = (r.get("reported_ops"), r.get("reported_kernels"))
        if reported[0] is not None and reported != (r["ops"], r["kernels"]):
            print(f"  T={r['T']}: nnd train reports {r['reported_ops']} ops in"
                  f" {r['reported_kernels']} kernels")
    lo, hi = rows[0], rows[-1]
    ratio = hi["backend_s"] / lo["backend_s"] if lo["backend_s"] else float("nan")
    targets = {
        "compile_ratio": ratio, "compile_ratio_ok": ratio <= 1.3,
        "compile_max_T_s": hi["backend_s"], "compile_max_T_ok": hi["backend_s"] < 1.0,
        "counts_independent_of_T": len({(r["ops"], r["kernels"]) for r in rows}) == 1,
    }
    if lo["total_s"] and hi["total_s"]:
        targets["total_ratio"] = hi["total_s"] / lo["total_s"]
    print("LLVM+JIT: the LLVM optimisation and JIT rows of nnd's --time-passes (the train and eval")
    print("steps); passes: its other rows; wall: the whole one-step `nnd train`")
    with_passes = ""
    if "total_ratio" in targets:
        with_passes = f"; with nnd's passes {targets['total_ratio']:.2f}"
    print(f"compile(T={hi['T']}) / compile(T={lo['T']}) = {ratio:.2f}"
          f"  (target <= 1.3: {verdict(targets['compile_ratio_ok'])}){with_passes}")
    print(f"compile(T={hi['T']}) = {hi['backend_s']:.3f} s  (target < 1 s:"
          f" {verdict(targets['compile_max_T_ok'])})")
    print(f"op and kernel counts independent of T: {verdict(targets['counts_independent_of_T'])}")
    return targets


# ---- 2. the seed LSTM's training step, one thread each ----

def seed_data(folder, steps):
    """steps batches of random sequences, labelled by the sign of their mean (learnable)"""
    rng = np.random.default_rng(0)
    seq = rng.standard_normal((steps * BATCH, 10, 10)).astype(np.float32)
    write_data(folder, seq, (seq.mean(axis=(1, 2)) > 0).astype(np.float32).reshape(-1, 1))


def seed_model(nnd, folder):
    """The seed model with activation=relu, or plain lstm where nnd rejects
    the option (it lands with the scan work): (path, note or None)."""
    model = write_model(folder, SEED_MODEL.format(activation=", activation=relu", batch=BATCH))
    done, _ = run([nnd, "check", model], check=False)
    if done.returncode == 0:
        return model, None
    if "activation" not in done.stderr:
        fail(f"nnd check rejects the seed model:\n{done.stderr.strip()}")
    write_model(folder, SEED_MODEL.format(activation="", batch=BATCH))
    return model, ("this nnd has no lstm(..., activation=relu), so nnd runs lstm(seq, 100)\n"
                   "   (tanh, the same arithmetic but for the activations); the opponents run relu")


def children_cpu():
    """CPU seconds of the finished child processes (user and system)"""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_nnd(nnd, model, epochs, cpu):
    folder = os.path.dirname(model)
    log = os.path.join(folder, "log.jsonl")
    cpu_before = children_cpu()
    done, wall = run([nnd, "train", model, "--epochs", str(epochs), "--threads", "1", "--log", log],
                     cwd=folder, cpu=cpu)
    logged = [json.loads(line) for line in open(log)]
    times = parse_times(done.stdout)
    return {"framework": "nnd", "epoch_seconds": [e["seconds"] for e in logged],
            "loss": logged[-1]["loss"], "ops": times.get("reported_ops"),
            "kernels": times.get("reported_kernels"),
            "cpu_per_wall": (children_cpu() - cpu_before) / wall}  # the whole run, compiling too


def openblas_dir(allowed):
    """A folder with OpenBLAS's libblas.so.3 for PyTorch's LD_LIBRARY_PATH, or
    None where the system's libblas.so.3 is OpenBLAS already or none is had.
    Debian's PyTorch calls libblas.so.3, the slow reference BLAS unless OpenBLAS
    is installed; rather than install it system-wide (bench/run.sh does, as
    root), Debian's package is unpacked into bench/.cache (apt-get download)."""
    system = glob.glob("/usr/lib/*/libblas.so.3")
    if not allowed or any("openblas" in os.path.realpath(p) for p in system):
        return None
    cache = os.path.join(BENCH, ".cache", "openblas")
    found = glob.glob(os.path.join(cache, "usr/lib/*/openblas-pthread/libblas.so.3"))
    if not found:
        os.makedirs(cache, exist_ok=True)
        got, _ = run(["apt-get", "download", "libopenblas0-pthread"], cwd=cache, check=False)
        debs = glob.glob(os.path.join(cache, "libopenblas0-pthread_*.deb"))
        if got.returncode != 0 or not debs:
            print("warning: could not fetch libopenblas0-pthread: PyTorch uses the system BLAS",
                  file=sys.stderr)
            return None
        run(["dpkg", "-x", debs[0], cache])
        found = glob.glob(os.path.join(cache, "usr/lib/*/openblas-pthread/libblas.so.3"))
    return os.path.dirname(found[0]) if found else None


def time_script(cpu, python, script, data, epochs, extra=(), env_extra=None):
    env = {**os.environ, **ONE_THREAD, **(env_extra or {})}
    done, _ = run([python, os.path.join(BENCH, script), "--data", data, "--epochs", str(epochs),
                   *extra], env=env, cpu=cpu)
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_env(blas_dir):
    if not blas_dir:
        return {}
    return {"LD_LIBRARY_PATH": blas_dir + os.pathsep + os.environ.get("LD_LIBRARY_PATH", "")}


def jax_python():
    """bench/.venv's python with jax, installed from PyPI on first use;
    (python, None) or (None, why not)."""
    venv = os.path.join(BENCH, ".venv")
    python = os.path.join(venv, "bin", "python")
    if os.access(python, os.X_OK):
        if run([python, "-c", "import jax"], check=False)[0].returncode == 0:
            return python, None
    print("== installing jax[cpu] into bench/.venv (PyPI)", flush=True)
    made, _ = run([sys.executable, "-m", "venv", venv], check=False)
    if made.returncode != 0:
        return None, f"python3 -m venv failed: {made.stderr.strip()[-300:]}"
    try:
        pip = subprocess.run([python, "-m", "pip", "install", "-q", "jax[cpu]"],
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "pip install jax[cpu] timed out (is PyPI reachable?)"
    if pip.returncode != 0:
        why = pip.stderr.strip()[-300:]
        return None, f"pip install jax[cpu] failed (is PyPI reachable?): {why}"
    return python, None


def per_step_us(result):
    """The median epoch's time per step (the first epochs may be cold)."""
    return statistics.median(result["epoch_seconds"]) / result["steps"] * 1e6


def report_seed(results, steps, epochs, note, jax_note, cpu):
    pinned = "" if cpu is None else f", all on CPU {cpu}"
    print("\n2. Seed LSTM training step: LSTM(100, relu) over [10, 10] -> Dense(50, relu) ->")
    print(f"   Dense(1, sigmoid), binary cross-entropy, Adam, batch {BATCH}")
    print(f"   {steps} steps per epoch, {epochs} epochs, one thread each{pinned};"
          " us/step of the median epoch")
    if note:
        print(f"   note: {note}")
    nnd = per_step_us(results["nnd"])
    print(f"{'framework':<34} {'us/step':>8} {'loss':>7} {'cpu/wall':>8} {'nnd speedup':>11}"
          "  target")
    targets = {}
    for key, label, target in (("nnd", "nnd (--threads 1)", None),
                               ("pytorch", "pytorch (relu cell, eager)", 5.0),
                               ("pytorch_nn_lstm", "pytorch nn.LSTM (tanh; reference)", None),
                               ("jax", "jax (lax.scan, jit)", 2.0)):
        r = results.get(key)
        if r is None:
            continue
        us = per_step_us(r)
        speedup = us / nnd
        aim = f"  >= {target:.0f}x: {verdict(speedup >= target)}" if target else ""
        if target:
            targets[f"speedup_vs_{key}"] = speedup
            targets[f"speedup_vs_{key}_ok"] = speedup >= target
        shown = "" if key == "nnd" else f"{speedup:.2f}x"
        print(f"{label:<34} {us:>8.0f} {r['loss']:>7.4f} {r['cpu_per_wall']:>8.2f}"
              f" {shown:>11}{aim}".rstrip())
    if results["nnd"].get("ops"):
        nnd_run = results["nnd"]
        print(f"nnd's seed train_step: {nnd_run['ops']} ops in {nnd_run['kernels']} kernels")
    print("cpu/wall: CPU time over wall time (for nnd, of its whole run); under 1: it waited for a"
          " core")
    if "pytorch" in results:
        print(f"PyTorch's BLAS: {results['pytorch']['blas']}")
    if jax_note:
        print(f"jax: {jax_note}")
    return targets


def bench_seed(nnd, work, args):
    folder = os.path.join(work, "seed")
    seed_data(folder, args.steps)
    model, note = seed_model(nnd, folder)
    print("== nnd: seed LSTM", flush=True)
    results = {"nnd": time_nnd(nnd, model, args.epochs, args.cpu)}
    results["nnd"]["steps"] = args.steps
    blas = torch_env(openblas_dir(not args.system_blas))
    print("== pytorch: seed LSTM (relu cell, and nn.LSTM)", flush=True)
    torch_run = (args.cpu, sys.executable, "rnn_torch.py", folder, args.epochs)
    results["pytorch"] = time_script(*torch_run, env_extra=blas)
    results["pytorch_nn_lstm"] = time_script(*torch_run, ["--tanh"], blas)
    jax_note = "not run (--jax installs it into bench/.venv and runs it)"
    if args.jax:
        python, why = jax_python()
        jax_note = why and f"skipped: {why}"
        if python:
            print("== jax: seed LSTM", flush=True)
            results["jax"] = time_script(args.cpu, python, "rnn_jax.py", folder, args.epochs)
    return {"results": results, "note": note, "jax_note": jax_note}


def check_cpu(ap, args):
    """--cpu N: the CPU to pin every run to (one of this process's); -1: none"""
    if args.cpu < 0:
        args.cpu = None
    elif args.cpu not in os.sched_getaffinity(0):
        ap.error(f"--cpu {args.cpu} is not one of this process's CPUs")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="25,50,100,200", help="sequence lengths for part 1")
    ap.add_argument("--steps", type=int, default=500, help="training steps per epoch in part 2")
    ap.add_argument("--epochs", type=int, default=3, help="epochs in part 2 (the median counts)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="compiles per length (the fastest counts)")
    ap.add_argument("--jax", action="store_true",
                    help="also JAX (pip installs it into bench/.venv)")
    ap.add_argument("--system-blas", action="store_true",
                    help="PyTorch with the system's libblas.so.3, not a local OpenBLAS")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: T in {25, 50}, 50 steps, 2 epochs")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the one CPU that part 2 runs each framework on (-1: no pinning;"
                         " default: the highest-numbered)")
    ap.add_argument("--nnd", help="the nnd binary (default: build/nnd, built if missing)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if args.quick:
        args.lengths, args.steps, args.epochs = "25,50", 50, 2
    try:
        args.lengths = sorted({int(t) for t in args.lengths.split(",")})
    except ValueError:
        ap.error("--lengths takes comma-separated integers")
    if args.lengths[0] < 1 or min(args.steps, args.epochs, args.repeat) < 1:
        ap.error("lengths, --steps, --epochs and --repeat must be positive")
    check_cpu(ap, args)
    return args


def main():
    args = parse_args()
    nnd = find_nnd(args.nnd)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="nnd-bench-rnn-") as work:
        rows = []
        for steps in args.lengths:
            print(f"== nnd: compiling the LSTM for T={steps}", flush=True)
            rows.append(measure_compile(nnd, work, steps, args.repeat))
        seed = bench_seed(nnd, work, args)
    print(f"\n{info['cpu']}, {info['cores']} cores; checkout {info['commit']}; {info['date']}")
    compile_targets = report_compile(rows)
    seed["targets"] = report_seed(seed["results"], args.steps, args.epochs, seed["note"],
                                  seed["jax_note"], args.cpu)
    peak, why = fma_peak(args.cpu)
    print(f"FMA peak (one thread, bench/peak.py): {peak['gflops']:.1f} GFLOP/s" if peak
          else f"FMA peak: not measured ({why})")
    seed["fma_peak"] = peak
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "compile": rows, "compile_targets": compile_targets,
                       "seed": seed}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

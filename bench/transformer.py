#!/usr/bin/python3
"""Benchmark of nnd's char-GPT training step against PyTorch (and optionally JAX), in one run.

The model (CHAR_GPT below, issue 10's target): d=128, 4 heads, 2 pre-norm decoder blocks
with causal attention and an exact-GELU feed-forward, T=64, a 101-token vocabulary,
sinusoidal positions, per-position cross-entropy, Adam(lr=0.001), batch 32. On generated
token data, one thread each, all pinned to one CPU:

1. nnd's compile time: a one-step `nnd train --time-passes` (its passes, LLVM optimisation
   and JIT, for the train and eval steps). Target: under 2 s.
2. The training step: nnd (`nnd train --threads 1 --log F`, the `seconds` of each epoch),
   PyTorch eager (bench/transformer_torch.py), torch.compile where Debian's torch has it,
   and with --jax JAX (bench/transformer_jax.py). Target: nnd at least 1.5x faster than
   PyTorch on one thread.
3. The step's FLOP count (the matmuls: 6 x matmul parameters x tokens, plus attention's two
   [T, T] products per head, forward and backward), each framework's GFLOP/s and its
   fraction of the machine's one-thread FMA peak, measured here (bench/peak.py).

The targets are printed as information; nothing here asserts a time. Only nnd's CLI is
used, so this runs against any nnd build; where that build cannot compile CHAR_GPT yet,
the output says why and the opponents still run.

usage: /usr/bin/python3 bench/transformer.py [--quick] [--jax] [--profile] [--json FILE]
                                             [--steps N] [--epochs N] [--repeat N] [--cpu N]
                                             [--nnd PATH]
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile

import numpy as np

from peak import fma_peak
from rnn import (BENCH, ONE_THREAD, check_cpu, children_cpu, find_nnd, jax_python, machine,
                 openblas_dir, parse_times, run, torch_env, verdict, write_model)

BATCH = 32
STEPS_T = 64  # tokens per sequence
VOCAB = 101
DIM = 128
HEADS = 4
LAYERS = 2
TARGET_SPEEDUP = 1.5
TARGET_COMPILE_S = 2.0

CHAR_GPT = """\
block decoder(x, d, heads) {
  h = layer_norm(x)
  x = x + multi_head_attention(h, h, heads, causal=true)
  h = layer_norm(x)
  return x + dense(dense(h, 4 * d, activation=gelu), d)
}

model char_gpt {
  input tokens: i32[64]
  input targets: i32[64]
  x = embedding(tokens, 101, 128) + sinusoidal_encoding(64, 128)
  x = repeat 2 decoder(x, 128, 4)
  logits = dense(layer_norm(x), 101)
  loss sparse_categorical_crossentropy(logits, targets)
}

train { optimizer = adam(lr=0.001) batch = 32 epochs = 1 seed = 1 }

data train {
  tokens = npy("tokens.npy")
  targets = npy("targets.npy")
}
"""


# The same model with its blocks written out, for an nnd that has no `block` or `repeat`
# yet (the same arithmetic and parameters; only the checkpoint names differ).
INLINE_BLOCK = """\
  h = layer_norm(x)
  x = x + multi_head_attention(h, h, 4, causal=true)
  h = layer_norm(x)
  x = x + dense(dense(h, 512, activation=gelu), 128)
"""
CHAR_GPT_INLINE = CHAR_GPT[CHAR_GPT.index("model char_gpt"):].replace(
    "  x = repeat 2 decoder(x, 128, 4)\n", INLINE_BLOCK * LAYERS)


# ---- data and model files ----

def token_stream(length, seed):
    """Tokens in [0, VOCAB) where each token has 4 possible successors, drawn uniformly:
    a next-token loss falls from ln(101) = 4.62 toward ln(4) = 1.39 nats, so the losses
    show that every framework learns (uniform tokens would leave nothing to learn)."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, 4, length)
    stream = np.empty(length, np.int64)
    stream[0] = rng.integers(0, VOCAB)
    for i in range(1, length):
        stream[i] = (31 * stream[i - 1] + 7 * steps[i]) % VOCAB
    return stream.astype(np.int32)


def write_data(folder, rows, seed=0):
    """tokens.npy and targets.npy: int32 [rows, T], the targets the next tokens."""
    os.makedirs(folder, exist_ok=True)
    stream = token_stream(rows * STEPS_T + 1, seed)
    np.save(os.path.join(folder, "tokens.npy"), stream[:-1].reshape(rows, STEPS_T))
    np.save(os.path.join(folder, "targets.npy"), stream[1:].reshape(rows, STEPS_T))


def nnd_refuses(nnd, model):
    """None where `nnd check` accepts the model, else its first diagnostics (this nnd
    lacks a construct that the model uses)."""
    done, _ = run([nnd, "check", model], check=False)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return "\n".join(lines[:6])


def choose_model(nnd, folder):
    """CHAR_GPT in folder/model.nnd where this nnd compiles it, else the blocks written out
    (with a note), else None: (text or None, note or None)."""
    refused = nnd_refuses(nnd, write_model(folder, CHAR_GPT))
    if not refused:
        return CHAR_GPT, None
    if nnd_refuses(nnd, write_model(folder, CHAR_GPT_INLINE)):
        return None, f"not run: this nnd does not compile the char GPT yet:\n{refused}"
    first = refused.splitlines()[0]
    return CHAR_GPT_INLINE, ("this nnd has no `block`/`repeat` yet, so it runs the two"
                             f" decoder blocks written out (the same arithmetic):\n{first}")


# ---- nnd: compile time and step time ----

def nnd_params(nnd, model):
    """The trained parameters of nnd's train step (its Program's `weight` params), to
    compare with PyTorch's count: the same model has the same number."""
    done, _ = run([nnd, "dump", model, "--stage=program"])
    total, entries = 0, 0
    for line in done.stdout.splitlines():
        entries += line.startswith("entry ")
        if entries > 1:
            break
        weight = re.match(r'\s*param \d+ "[^"]*" weight \S+ f32\[([\d,]*)\]', line)
        if weight:
            total += math.prod(int(n) for n in weight.group(1).split(",") if n)
    return total


def measure_compile(nnd, folder, repeat, cpu):
    """The fastest of repeat one-step `nnd train --time-passes` runs (one batch of data)."""
    best = None
    for _ in range(repeat):
        cpu_before = children_cpu()
        done, wall = run([nnd, "train", os.path.join(folder, "model.nnd"), "--threads", "1",
                          "--quiet", "--time-passes"], cwd=folder, cpu=cpu)
        times = parse_times(done.stdout + done.stderr)
        times["wall_s"] = wall
        times["cpu_s"] = children_cpu() - cpu_before  # less than wall_s on a busy machine
        times["compile_s"] = times["total_s"] if times["total_s"] else times["backend_s"]
        if best is None or times["compile_s"] < best["compile_s"]:
            best = times
    return best


def time_nnd(nnd, folder, epochs, cpu):
    log = os.path.join(folder, "log.jsonl")
    cpu_before = children_cpu()
    done, wall = run([nnd, "train", os.path.join(folder, "model.nnd"), "--epochs", str(epochs),
                      "--threads", "1", "--log", log], cwd=folder, cpu=cpu)
    logged = [json.loads(line) for line in open(log)]
    times = parse_times(done.stdout)
    return {"framework": "nnd", "epoch_seconds": [e["seconds"] for e in logged],
            "loss": logged[-1]["loss"], "ops": times.get("reported_ops"),
            "kernels": times.get("reported_kernels"),
            "cpu_per_wall": (children_cpu() - cpu_before) / wall}  # the whole run, compiling too


def profile_nnd(nnd, folder, cpu, rows=12):
    """Where nnd's step goes: the first rows kernels of `nnd train --profile` (one epoch on
    folder's data), and each op kind's share of the step among all the kernels listed."""
    done, _ = run([nnd, "train", os.path.join(folder, "model.nnd"), "--epochs", "1",
                   "--threads", "1", "--quiet", "--profile"], cwd=folder, cpu=cpu)
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("profile of")), None)
    if start is None:
        return {"text": "nnd train --profile printed no profile", "shares": {}}
    kernels = [l for l in lines[start + 2:] if re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s", l)]
    shares = {}
    for line in kernels:
        fields = line.split()
        ops = " ".join(f for f in fields[3:] if not f.startswith("("))
        shares[ops] = shares.get(ops, 0.0) + float(fields[0])
    text = "\n".join(lines[start:start + 2] + kernels[:rows]).replace(folder + os.sep, "")
    return {"text": text, "shares": shares, "listed": len(kernels)}


# ---- the opponents ----

def time_script(python, script, folder, args, extra=(), env_extra=None):
    env = {**os.environ, **ONE_THREAD, **(env_extra or {})}
    done, _ = run([python, os.path.join(BENCH, script), "--data", folder,
                   "--epochs", str(args.epochs), *extra], env=env, cpu=args.cpu)
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_opponents(folder, args):
    blas = torch_env(openblas_dir(not args.system_blas))
    results, notes = {}, {}
    print("== pytorch: char GPT (eager)", flush=True)
    results["pytorch"] = time_script(sys.executable, "transformer_torch.py", folder, args,
                                     env_extra=blas)
    print("== pytorch: char GPT (torch.compile)", flush=True)
    compiled = time_script(sys.executable, "transformer_torch.py", folder, args, ["--compile"],
                           blas)
    if "skipped" in compiled:
        notes["pytorch_compiled"] = compiled["skipped"]
    else:
        results["pytorch_compiled"] = compiled
    notes["jax"] = "not run (--jax installs it into bench/.venv and runs it)"
    if args.jax:
        python, why = jax_python()
        notes["jax"] = why and f"skipped: {why}"
        if python:
            print("== jax: char GPT", flush=True)
            results["jax"] = time_script(python, "transformer_jax.py", folder, args)
    return results, {k: v for k, v in notes.items() if v}


# ---- FLOPs and the report ----

def step_flops():
    """FLOPs of one training step's matmuls, forward and backward. Dense layers: 2 per
    multiply-add, 3 products each (forward, input gradient, weight gradient), over the
    matmul weights (Q/K/V/O and the feed-forward per block, the output head; not the
    embedding table, a lookup). Attention: q k^T and weights x v per head, each 2*T*T*d_head
    per sequence forward and twice that backward, the full [T, T] (no causal halving).
    Biases, layer norms, softmax, GELU and Adam are left out (elementwise, a few percent)."""
    tokens = BATCH * STEPS_T
    matmul_params = LAYERS * (4 * DIM * DIM + 2 * DIM * 4 * DIM) + DIM * VOCAB
    attention = LAYERS * 3 * 2 * (2 * BATCH * STEPS_T * STEPS_T * DIM)
    return {"matmul_params": matmul_params, "dense_flops": 6 * matmul_params * tokens,
            "attention_flops": attention, "flops": 6 * matmul_params * tokens + attention}


def per_step_ms(result):
    """The median epoch's time per step (the first epoch may be cold)."""
    return statistics.median(result["epoch_seconds"]) / result["steps"] * 1e3


ROWS = (("nnd", "nnd (--threads 1)"), ("pytorch", "pytorch (eager)"),
        ("pytorch_compiled", "pytorch (torch.compile)"), ("jax", "jax (jit)"))


def report_step(results, flops, peak):
    print(f"{'framework':<26} {'ms/step':>8} {'loss':>7} {'GFLOP/s':>8} {'of peak':>8}"
          f" {'cpu/wall':>8} {'nnd speedup':>12}")
    nnd = per_step_ms(results["nnd"]) if "nnd" in results else None
    for key, label in ROWS:
        r = results.get(key)
        if r is None:
            continue
        ms = per_step_ms(r)
        r["ms_per_step"] = ms
        r["gflops"] = flops["flops"] / ms * 1e-6
        fraction = f"{r['gflops'] / peak['gflops']:.0%}" if peak else "n/a"
        shown = f"{ms / nnd:.2f}x" if nnd and key != "nnd" else ""
        print(f"{label:<26} {ms:>8.1f} {r['loss']:>7.4f} {r['gflops']:>8.1f} {fraction:>8}"
              f" {r['cpu_per_wall']:>8.2f} {shown:>12}".rstrip())


def report_targets(results, compile_times):
    targets = {}
    if "nnd" in results:
        speedup = results["pytorch"]["ms_per_step"] / results["nnd"]["ms_per_step"]
        targets.update(speedup_vs_pytorch=speedup, speedup_ok=speedup >= TARGET_SPEEDUP)
        print(f"nnd speedup over PyTorch (eager): {speedup:.2f}x  (target >="
              f" {TARGET_SPEEDUP}x: {verdict(targets['speedup_ok'])})")
    else:
        print(f"nnd speedup over PyTorch: not measured (target >= {TARGET_SPEEDUP}x)")
    if compile_times:
        seconds = compile_times["compile_s"]
        targets.update(compile_s=seconds, compile_ok=seconds < TARGET_COMPILE_S)
        print(f"nnd compile time: {seconds:.3f} s = passes {compile_times['passes_s']:.3f} +"
              f" LLVM+JIT {compile_times['backend_s']:.3f} (train and eval steps)  (target <"
              f" {TARGET_COMPILE_S:.0f} s: {verdict(targets['compile_ok'])})")
        print(f"   the whole one-step run: wall {compile_times['wall_s']:.2f} s, CPU"
              f" {compile_times['cpu_s']:.2f} s (nnd's times are wall times: on a busy"
              " machine the CPU time bounds them better)")
    else:
        print(f"nnd compile time: not measured (target < {TARGET_COMPILE_S:.0f} s)")
    return targets


def report(info, args, results, notes, compile_times, flops, peak):
    print(f"\n{info['cpu']}, {info['cores']} cores; checkout {info['commit']}; {info['date']}")
    pinned = "" if args.cpu is None else f", all on CPU {args.cpu}"
    print(f"Char GPT training step: d={DIM}, {HEADS} heads, {LAYERS} layers, T={STEPS_T},"
          f" vocab {VOCAB}, batch {BATCH}, Adam")
    print(f"   {args.steps} steps per epoch, {args.epochs} epochs, one thread each{pinned};"
          " ms/step of the median epoch")
    print(f"   FLOPs per step: {flops['flops'] / 1e9:.3f} G (dense {flops['dense_flops'] / 1e9:.3f}"
          f" over {flops['matmul_params']} matmul weights, attention"
          f" {flops['attention_flops'] / 1e9:.3f}; forward and backward)")
    report_step(results, flops, peak)
    if peak:
        print(f"FMA peak (one thread, measured by bench/peak.py): {peak['gflops']:.1f} GFLOP/s"
              f" ({peak['bits']}-bit vectors)")
    else:
        print(f"FMA peak: not measured ({notes.get('peak')})")
    if results.get("nnd", {}).get("ops"):
        nnd_run = results["nnd"]
        print(f"nnd's train_step: {nnd_run['ops']} ops in {nnd_run['kernels']} kernels")
    counts = ", ".join(f"{key} {r['params']}" for key, r in results.items() if "params" in r)
    print(f"trained parameters: {counts}")
    profile = results.get("nnd", {}).get("profile")
    if profile:
        shares = sorted(profile["shares"].items(), key=lambda kv: -kv[1])
        print(f"where nnd's step goes (nnd train --profile, {profile.get('listed', 0)} kernels"
              " listed):\n" + profile["text"])
        print("   by op, among those listed: " + ", ".join(f"{ops} {pct:.1f}%"
                                                       for ops, pct in shares[:6]))
    targets = report_targets(results, compile_times)
    print("cpu/wall: CPU time over wall time (for nnd, of its whole run); under 1: it waited"
          " for a core")
    print(f"PyTorch {results['pytorch']['torch']}: attention {results['pytorch']['attention']};"
          f" BLAS {results['pytorch']['blas']}")
    for key, note in notes.items():
        print(f"{key}: {note}")
    return targets


# ---- driver ----

def bench_nnd(nnd, work, args, notes):
    """nnd's compile time and step time, or (None, {}) with a note where it cannot compile
    CHAR_GPT."""
    folder = os.path.join(work, "nnd")
    write_data(folder, args.steps * BATCH)
    text, note = choose_model(nnd, folder)
    if note:
        notes["nnd"] = note
    if text is None:
        return None, {}
    print("== nnd: compile time (one-step runs)", flush=True)
    small = os.path.join(work, "compile")
    write_data(small, BATCH)
    write_model(small, text)
    compile_times = measure_compile(nnd, small, args.repeat, args.cpu)
    print("== nnd: char GPT", flush=True)
    result = time_nnd(nnd, folder, args.epochs, args.cpu)
    result["steps"] = args.steps
    result["model"] = "blocks" if text is CHAR_GPT else "blocks written out"
    result["params"] = nnd_params(nnd, os.path.join(folder, "model.nnd"))
    if args.profile:
        print("== nnd: char GPT, --profile", flush=True)
        result["profile"] = profile_nnd(nnd, small_steps(work, text), args.cpu)
    return compile_times, {"nnd": result}


def small_steps(work, text, steps=5):
    """A folder with steps batches and the model, for a short profiled run."""
    folder = os.path.join(work, "profile")
    write_data(folder, steps * BATCH)
    write_model(folder, text)
    return folder


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs (the median counts)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="one-step compiles of nnd (the fastest counts)")
    ap.add_argument("--jax", action="store_true",
                    help="also JAX (pip installs it into bench/.venv)")
    ap.add_argument("--system-blas", action="store_true",
                    help="PyTorch with the system's libblas.so.3, not a local OpenBLAS")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 8 steps, 2 epochs")
    ap.add_argument("--profile", action="store_true",
                    help="also where nnd's step goes (nnd train --profile on 5 steps)")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)),
                    help="the one CPU that every framework runs on (-1: no pinning;"
                         " default: the highest-numbered)")
    ap.add_argument("--nnd", help="the nnd binary (default: build/nnd, built if missing)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.epochs, args.repeat = 8, 2, 1
    if min(args.steps, args.epochs, args.repeat) < 1:
        ap.error("--steps, --epochs and --repeat must be positive")
    check_cpu(ap, args)
    return args


def main():
    args = parse_args()
    nnd = find_nnd(args.nnd)
    info = machine()
    notes = {}
    peak, why = fma_peak(args.cpu)
    if why:
        notes["peak"] = why
    with tempfile.TemporaryDirectory(prefix="nnd-bench-gpt-") as work:
        compile_times, results = bench_nnd(nnd, work, args, notes)
        opponents, opponent_notes = time_opponents(os.path.join(work, "nnd"), args)
    results.update(opponents)
    notes.update(opponent_notes)
    flops = step_flops()
    targets = report(info, args, results, notes, compile_times, flops, peak)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "flops": flops, "peak": peak, "compile": compile_times,
                       "results": results, "targets": targets, "notes": notes}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

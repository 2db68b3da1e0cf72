"""The machine's single-thread fp32 FMA peak, measured here, for the benchmarks in bench/.

fma_peak() compiles bench/fma_peak.c (independent chains of vector FMAs) once per machine
and source into bench/.cache with the system's C compiler and -march=native, runs it on
one CPU (the one the benchmark pins its frameworks to) and returns its JSON: "gflops"
(the faster of two vector widths) and the rate of each width. bench/ reports achieved
GFLOP/s as fractions of this number rather than of any one CPU's datasheet figure.

Also runs alone: /usr/bin/python3 bench/peak.py [--cpu N]
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess

BENCH = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(BENCH, "fma_peak.c")
FLAGS = ["-O2", "-march=native", "-ffp-contract=fast"]
ITERATIONS = 500_000  # about 2 ms per trial at 100 GFLOP/s: short trials, so that the best
TRIALS = 100  # of them ran without sharing its core, even on a busy machine


def _cpu_model():
    with open("/proc/cpuinfo") as info:
        line = next((l for l in info if l.startswith("model name")), platform.processor())
    return line.split(":", 1)[-1].strip()


def _binary():
    """The probe built for this source, compiler flags and CPU model: (path, None) or
    (None, why not). Built once; the name's hash keeps a binary from another machine
    (another -march=native) from being reused through a shared checkout."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("clang")
    if not compiler:
        return None, "no C compiler (cc) to build bench/fma_peak.c"
    with open(SOURCE, "rb") as f:
        key = hashlib.sha256(f.read() + " ".join(FLAGS + [compiler, _cpu_model()]).encode())
    path = os.path.join(BENCH, ".cache", f"fma_peak-{key.hexdigest()[:12]}")
    if os.access(path, os.X_OK):
        return path, None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    built = subprocess.run([compiler, *FLAGS, "-o", path, SOURCE], capture_output=True, text=True)
    if built.returncode != 0:
        return None, f"{compiler} could not build bench/fma_peak.c: {built.stderr.strip()[-300:]}"
    return path, None


def fma_peak(cpu=None):
    """Measures the peak on CPU cpu (None: wherever the OS puts it): (result dict, None)
    or (None, why not)."""
    path, why = _binary()
    if path is None:
        return None, why
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    done = subprocess.run([path, str(ITERATIONS), str(TRIALS)], capture_output=True, text=True,
                          preexec_fn=pin)
    if done.returncode != 0:
        return None, f"bench/fma_peak.c's probe exited with {done.returncode}: {done.stderr}"
    result = json.loads(done.stdout)
    result["cpu"] = cpu
    return result, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", type=int, help="the CPU to run on (default: not pinned)")
    result, why = fma_peak(ap.parse_args().cpu)
    print(json.dumps(result) if result else f"bench/peak.py: {why}")


if __name__ == "__main__":
    main()

"""timing.py — the one timing loop of the example benchmarks (bench/examples.py and its
workers, bench/examples_torch.py and bench/examples_jax.py), so that every framework is timed
alike: untimed warm-up calls, then each call timed on its own; the median and the range in
milliseconds, and the process's CPU time per wall-clock second (above 1: more than one thread
ran)."""
import statistics
import time


def median_timing(call, steps, warmup):
    for _ in range(warmup):
        call()
    times, cpu = [], time.process_time()
    for _ in range(steps):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    cpu = time.process_time() - cpu
    return {"ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "cpu_per_wall": cpu / (sum(times) / 1e3)}

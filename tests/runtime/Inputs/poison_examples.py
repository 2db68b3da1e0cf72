"""Every example trains 3 steps with and without --poison (the arena NaN at
each step's start, every buffer after its last use): the logs must be equal
but for the time, so that no kernel reads a value the plan let die or never
wrote. Run from the repository's root (the examples' data paths are relative
to it).

usage: poison_examples.py NND WORK_DIR EXAMPLE.nnd..."""
import json
import os
import subprocess
import sys


def log_of(nnd, model, log, poison):
    args = [nnd, "train", model, "--epochs", "1", "--steps", "3", "--quiet", "--log", log]
    subprocess.run(args + (["--poison"] if poison else []), check=True, stdout=subprocess.DEVNULL)
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        r.pop("seconds", None)
    return rows


def main():
    nnd, work, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    bad = 0
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        plain = log_of(nnd, model, os.path.join(work, name + ".json"), False)
        poisoned = log_of(nnd, model, os.path.join(work, name + ".poison.json"), True)
        same = plain == poisoned and all(v is not None for r in plain for v in r.values())
        bad += not same
        print(f"{name}: {'same with --poison' if same else 'DIFFERENT'}: {plain[-1]}"
              + ("" if same else f" against {poisoned[-1]}"))
    print(f"{len(models) - bad} of {len(models)} examples the same with --poison")
    sys.exit(1 if bad else 0)


main()

"""Bad input never crashes: feeds nnd many damaged variants of good inputs
(.nnd models, IR dumps, checkpoints) and fails if any run ends by a signal or
with an exit status other than 0 or 1. The damage is seeded, so a failure
repeats; the failing input is written next to OUT for a look.

usage: mutate.py NND OUT N MODEL...
"""
import random
import re
import struct
import subprocess
import sys

NUMBERS = ["0", "-1", "1", "7", "65536", "1000000", "3037000500", "9223372036854775807", "1e40"]
TOKENS = ["(", ")", "[", "]", "{", "}", ",", ":", "=", "-", "*", "/", "@", "%0", "%999", '"', "#", "\n", "B", "f32"]


def damage_text(rng, s):
    for _ in range(rng.randint(1, 3)):
        lines, k, i = s.split("\n"), rng.randrange(6), rng.randint(0, len(s))
        if k == 0 and len(lines) > 1:
            del lines[rng.randrange(len(lines))]
            s = "\n".join(lines)
        elif k == 1:
            lines.insert(rng.randrange(len(lines)), rng.choice(lines))
            s = "\n".join(lines)
        elif k == 2:
            s = s[:i]
        elif k == 3:
            s = s[:i] + rng.choice(TOKENS) + s[i:]
        elif k == 4:
            nums = list(re.finditer(r"\d+", s))
            if nums:
                m = rng.choice(nums)
                s = s[: m.start()] + rng.choice(NUMBERS) + s[m.end():]
        else:
            words = list(re.finditer(r"[A-Za-z_]+", s))
            if len(words) > 1:
                a, b = rng.sample(words, 2)
                s = s[: a.start()] + b.group() + s[a.end():]
    return s


def damage_checkpoint(rng, b):
    n = struct.unpack("<Q", b[:8])[0]
    header, data = b[8 : 8 + n].decode(), b[8 + n :]
    k = rng.randrange(3)
    if k == 0:
        return b[: rng.randint(0, len(b))]
    if k == 1:
        return struct.pack("<Q", rng.choice([0, 1, 2**63, 2**64 - 1, len(b)])) + b[8:]
    header = damage_text(rng, header).encode()
    return struct.pack("<Q", len(header)) + header + data


def run(cmd, damaged, out):
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    if r.returncode not in (0, 1):
        open(out + ".failing", "wb").write(damaged)
        sys.exit(f"exit status {r.returncode} from {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")


def main():
    nnd, out, n, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    rng = random.Random(1)
    sources = [open(m).read() for m in models]
    dumps = [subprocess.run([nnd, "dump", m, "--stage=" + st], capture_output=True, text=True, check=True).stdout
             for m in models for st in ("elaborated", "autodiff", "planned")]
    checkpoint = open(out + ".ckpt", "rb").read()
    for _ in range(n):
        s = damage_text(rng, rng.choice(sources)).encode()
        open(out + ".nnd", "wb").write(s)
        run([nnd, "dump", out + ".nnd", "--stage=planned"], s, out)
        s = damage_text(rng, rng.choice(dumps)).encode()
        open(out + ".nnir", "wb").write(s)
        run([nnd, "opt", out + ".nnir", "--passes=verify,canonicalize,cse,dce"], s, out)
        b = damage_checkpoint(rng, checkpoint)
        open(out + ".bad.ckpt", "wb").write(b)
        run([nnd, "eval", models[0], "--weights", out + ".bad.ckpt"], b, out)
    print(f"{n} x 3 damaged inputs: no crash")


main()

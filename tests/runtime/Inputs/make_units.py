# Writes files of units of text between lines holding only '%' (as the
# fortune files have them) for tests/runtime/records.test: random words,
# lines and lengths (some longer than an example), empty units, trailing
# newlines, a tab, bytes outside ASCII, a last unit with or without a newline.
# usage: make_units.py PREFIX SEED COUNT... (writes PREFIX.0, PREFIX.1, ...)
import random
import sys

WORDS = [b"the", b"cat", b"sat", b"on", b"a", b"mat", b"Why?", b"No.", b"caf\xc3\xa9", b"x\ty"]


def unit(r):
    lines = [b" ".join(r.choice(WORDS) for _ in range(r.randint(1, 6)))
             for _ in range(r.randint(1, 3))]
    return b"\n".join(lines) + b"\n" * r.randint(0, 2)


def main():
    prefix, seed, counts = sys.argv[1], int(sys.argv[2]), [int(c) for c in sys.argv[3:]]
    r = random.Random(seed)
    for i, n in enumerate(counts):
        units = [unit(r) for _ in range(n)]
        for _ in range(r.randint(0, 2)):  # empty units: no example
            units.insert(r.randrange(len(units) + 1), b"\n" * r.randint(0, 1))
        text = b"%\n".join(u if u.endswith(b"\n") else u + b"\n" for u in units)
        if r.random() < 0.5:
            text = text.rstrip(b"\n")
        open(f"{prefix}.{i}", "wb").write(text)


main()

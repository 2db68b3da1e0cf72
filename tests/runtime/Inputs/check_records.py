# Checks what `nnd data` prints of a records() data block against the files
# it was read from (tests/runtime/records.test): the units of each file
# (between lines holding only '%', last newlines dropped, empty ones skipped),
# each example [CLS] unit [SEP] [PAD].. cut to the length, segments 0, label
# the file's index; with balance the first m units of each file (m: the
# smallest count); in the order that sorts unit j of a file giving n units by
# (j + 1/2) / n, ties in file order; validation_split's tail (--split F,
# --part train|validation) the last of them.
# usage: check_records.py LENGTH BALANCE [--split F --part P] FILE... < output
import sys
from fractions import Fraction

from chars_data import CLS, PAD, SEP, read_rows, units


def expected(files, length, balance):
    per_file = [units(open(f, "rb").read()) for f in files]
    take = [min(map(len, per_file)) if balance else len(u) for u in per_file]
    order = sorted((Fraction(2 * j + 1, 2 * n), f, j) for f, n in enumerate(take) for j in range(n))
    rows = []
    for _, f, j in order:
        u = per_file[f][j][: length - 2]
        tokens = [CLS] + u + [SEP]
        rows.append({"tokens": tokens + [PAD] * (length - len(tokens)),
                     "segments": [0] * length, "label": [f]})
    return rows


def main():
    args = sys.argv[1:]
    length, balance = int(args.pop(0)), args.pop(0) == "true"
    split, part = 0.0, "train"
    while args[0].startswith("--"):
        opt, value = args.pop(0), args.pop(0)
        split, part = (float(value), part) if opt == "--split" else (split, value)
    want = expected(args, length, balance)
    if split:
        keep = int(len(want) * (1 - split))
        want = want[keep:] if part == "validation" else want[:keep]
    got = read_rows(sys.stdin)
    assert len(got) == len(want), f"{len(got)} examples, expected {len(want)}"
    for r, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"example {r}: {g} is not {w}"
    labels = [w["label"][0] for w in want]
    print(f"{len(got)} examples ok; labels " + " ".join(
        str(labels.count(f)) for f in range(len(args))))


main()

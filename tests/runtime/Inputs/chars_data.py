"""What check_pairs.py and check_records.py share: the chars vocabulary's ids
of bytes (runtime/text.c), a text's units (between lines holding only '%',
last newlines dropped, empty ones skipped) and the examples `nnd data` prints,
one dict of field -> ids per example."""
PAD, UNK, CLS, SEP, MASK, NL = range(6)


def encode(data):
    return [NL if b == 10 else 6 if b == 9 else 7 + b - 32 if 32 <= b <= 126 else UNK
            for b in data]


def units(data):
    out, cur = [], []
    for line in data.split(b"\n"):
        if line == b"%":
            out.append(b"\n".join(cur))
            cur = []
        else:
            cur.append(line)
    out.append(b"\n".join(cur))
    return [encode(u.rstrip(b"\n")) for u in out if u.rstrip(b"\n")]


def read_rows(lines):
    rows = {}
    for line in lines:
        head, _, rest = line.partition(":")
        if " " not in head:
            continue
        r, name = head.split()
        rows.setdefault(int(r), {})[name] = [int(v) for v in rest.split('"')[0].split()]
    return [rows[r] for r in sorted(rows)]

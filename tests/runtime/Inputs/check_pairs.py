# Checks what `nnd data` prints of a pairs() data block against the text it
# was drawn from (tests/runtime/pairs.test): every example packs unit r with
# unit r+1 (is_next 1) or another (is_next 0) as [CLS] a [SEP] b [SEP] [PAD]..,
# the longer cut first; segments 0 then 1; masked tokens hold their original
# id in `masked`, every other entry is -1; and the rates (15% of the ordinary
# tokens chosen, of those 80% [MASK], 10% random, 10% kept; half the pairs
# true) hold within a few points.
# usage: check_pairs.py TEXT LENGTH < `nnd data ... --batch N` output
import sys

from chars_data import CLS, MASK, NL, PAD, SEP, read_rows, units


def fit(la, lb, room):
    while la + lb > room:
        if la > lb:
            la -= 1
        else:
            lb -= 1
    return la, lb


def packed(a, b, length):
    la, lb = fit(len(a), len(b), length - 3)
    row = [CLS] + a[:la] + [SEP] + b[:lb] + [SEP]
    seg = [0] * (la + 2) + [1] * (lb + 1)
    return row + [PAD] * (length - len(row)), seg + [0] * (length - len(seg))


def main():
    u = units(open(sys.argv[1], "rb").read())
    length = int(sys.argv[2])
    rows = read_rows(sys.stdin)
    assert rows, "no examples"
    ordinary = chosen = masked = kept = true_pairs = 0
    for r, x in enumerate(rows):
        orig = [t if m == -1 else m for t, m in zip(x["tokens"], x["masked"])]
        nxt = x["is_next"][0]
        true_pairs += nxt
        partners = [r + 1] if nxt else [b for b in range(len(u)) if b not in (r, r + 1)]
        fits = [b for b in partners if packed(u[r], u[b], length) == (orig, x["segments"])]
        assert fits, f"example {r}: no unit b packs as {orig} {x['segments']}"
        for t, o, m in zip(x["tokens"], orig, x["masked"]):
            ordinary += o >= NL
            assert m == -1 or o >= NL, f"example {r}: a special token {o} chosen"
            chosen += m != -1
            masked += m != -1 and t == MASK
            kept += m != -1 and t == o
    n = len(rows)
    print(f"{n} examples")
    rates = {"chosen": chosen / ordinary, "mask": masked / chosen, "kept": kept / chosen,
             "true": true_pairs / n}
    want = {"chosen": (0.13, 0.17), "mask": (0.75, 0.85), "kept": (0.06, 0.14), "true": (0.45, 0.55)}
    for k, (lo, hi) in want.items():
        assert lo <= rates[k] <= hi, f"{k} rate {rates[k]:.3f} outside [{lo}, {hi}]"
    print("rates ok")


main()

"""Checks nnd predict's --probabilities and --top-k columns (argv: the CSV,
the number of classes, the top k, the least mean top probability): each
row's probabilities sum to 1, the class is the likeliest, the top-k columns
are the k highest probabilities in order. Prints a summary line."""
import csv
import sys

path, classes, k, least = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rows = list(csv.DictReader(open(path)))
tops = []
for r in rows:
    p = [float(r[f"probability_{c}"]) for c in range(classes)]
    assert abs(sum(p) - 1) < 1e-5, (r, sum(p))
    order = sorted(range(classes), key=lambda c: (-p[c], c))
    assert int(r["class_0"]) == order[0], r
    for i in range(k):
        assert int(r[f"top_{i + 1}_class"]) == order[i], r
        assert float(r[f"top_{i + 1}_probability"]) == p[order[i]], r
    tops.append(p[order[0]])
mean_top = sum(tops) / len(tops)
assert mean_top >= least, mean_top
print(f"{len(rows)} rows: probabilities sum to 1, top {k} in order, mean top {'ok' if mean_top >= least else 'low'}")

"""Checks nnd's evaluation report against scikit-learn on the predictions
nnd wrote: the confusion matrix, per-class precision/recall/F1 and their
macro averages, or R^2.

usage: check_report.py classes|regression PREDICTIONS.csv EVAL_OUTPUT
"""
import sys

import numpy as np
from sklearn import metrics

kind, predictions, report = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().split("\n")
table = np.loadtxt(predictions, delimiter=",", skiprows=1, ndmin=2)
pred, truth = table[:, 0], table[:, 1]
if kind == "regression":
    r2 = float([l for l in report if l.startswith("r2: ")][0].split()[1])
    assert abs(r2 - metrics.r2_score(truth, pred)) < 1e-3, (r2, metrics.r2_score(truth, pred))
    print("r2 matches scikit-learn")
    sys.exit(0)
start = report.index("confusion matrix (rows: true class, columns: predicted class)")
k = len(report[start + 1].split())
ours = np.array([[int(v) for v in report[start + 2 + i].split()[1:]] for i in range(k)])
labels = list(range(k))
assert (ours == metrics.confusion_matrix(truth, pred, labels=labels)).all(), ours
rows = {l.split()[0]: [float(v) for v in l.split()[1:4]] for l in report if l.strip() and l.split()[0] in [str(c) for c in labels] + ["macro"] and len(l.split()) == 5}
p, r, f, _ = metrics.precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
for c in labels:
    assert np.allclose(rows[str(c)], [p[c], r[c], f[c]], atol=1e-4), (c, rows[str(c)])
mp, mr, mf, _ = metrics.precision_recall_fscore_support(truth, pred, labels=labels, average="macro", zero_division=0)
assert np.allclose(rows["macro"][:2], [mp, mr], atol=1e-4), rows["macro"]
# our macro F1 is the mean of the per-class F1s, as scikit-learn's
assert abs(rows["macro"][2] - mf) < 1e-4, (rows["macro"], mf)
print("confusion matrix, precision, recall and F1 match scikit-learn")

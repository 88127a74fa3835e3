#!/usr/bin/env python3
"""metrics.py CUTOFF < scores — the issue's metrics from "class score" lines.

class is ham or spam; score is the peer's spam probability. Prints ham,
spam, false positives at CUTOFF (score >= CUTOFF is spam), spam recall,
precision, ROC AUC (ties count half) and the recall at <= 0.1% false
positives (messages tied with the highest ham let through are not caught),
the same definitions as filter/bayes Measure.
"""
import math, sys

cut = float(sys.argv[1])
rows = []
for line in sys.stdin:
    c, s = line.split()[:2]
    rows.append((float(s), c == "spam"))
ham = sum(1 for _, sp in rows if not sp)
spam = len(rows) - ham
fp = sum(1 for s, sp in rows if not sp and s >= cut)
tp = sum(1 for s, sp in rows if sp and s >= cut)
rows.sort()
auc, below, i = 0.0, 0, 0
while i < len(rows):
    j, h, s = i, 0, 0
    while j < len(rows) and rows[j][0] == rows[i][0]:
        if rows[j][1]: s += 1
        else: h += 1
        j += 1
    auc += s * (below + h / 2)
    below += h
    i = j
auc /= ham * spam
allowed = math.floor(0.001 * ham + 1e-9)
hams = caught = 0
i = len(rows) - 1
while i >= 0:
    j, h, s = i, 0, 0
    while j >= 0 and rows[j][0] == rows[i][0]:
        if rows[j][1]: s += 1
        else: h += 1
        j -= 1
    if hams + h > allowed: break
    hams += h; caught += s; i = j
print(f"ham {ham} spam {spam} cutoff {cut} false_positives {fp} ({100*fp/ham:.3f}%) "
      f"spam_recall {100*tp/spam:.2f}% precision {100*tp/max(tp+fp,1):.2f}% "
      f"auc {auc:.5f} recall_at_0.1%fpr {100*caught/spam:.2f}%")

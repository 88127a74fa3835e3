#!/usr/bin/env python3
"""folds.py CORPUS K OUTDIR — write the issue's K-fold split as file lists.

Within each class (CORPUS/ham, CORPUS/spam) files are sorted by name and
the i-th file (from 0) goes to fold i mod K. For fold f it writes
OUTDIR/f/{train,test}-{ham,spam}.txt: one absolute path per line.
"""
import os, sys

corpus, k, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for f in range(k):
    os.makedirs(os.path.join(out, str(f)), exist_ok=True)
    for cls in ("ham", "spam"):
        d = os.path.join(corpus, cls)
        names = sorted(os.listdir(d))
        test = [os.path.join(d, n) for i, n in enumerate(names) if i % k == f]
        train = [os.path.join(d, n) for i, n in enumerate(names) if i % k != f]
        for part, files in (("train", train), ("test", test)):
            with open(os.path.join(out, str(f), f"{part}-{cls}.txt"), "w") as fh:
                fh.write("\n".join(os.path.abspath(p) for p in files) + "\n")

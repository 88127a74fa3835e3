#!/usr/bin/env bash
# bogofilter-folds.sh CORPUS — bogofilter (default settings) on the issue's
# 5-fold split of CORPUS (ham/, spam/): train on four folds, score the
# fifth, pool; prints metrics.py's line at bogofilter's default cutoff 0.99.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CORPUS="${1:?usage: bogofilter-folds.sh CORPUS}"
W="$(mktemp -d /tmp/bogo-folds.XXXXXX)"; trap 'rm -rf "$W"' EXIT
python3 "$HERE/folds.py" "$CORPUS" 5 "$W/folds"
: > "$W/scores"
for f in 0 1 2 3 4; do
  db="$W/db$f"; mkdir -p "$db"
  xargs -a "$W/folds/$f/train-spam.txt" -n 500 bogofilter -d "$db" -s -B
  xargs -a "$W/folds/$f/train-ham.txt" -n 500 bogofilter -d "$db" -n -B
  for c in ham spam; do
    # -T: "file class score" per message; the exit code is the verdict
    { xargs -a "$W/folds/$f/test-$c.txt" -n 500 bogofilter -d "$db" -T -B || true; } | awk -v c="$c" '{print c, $3}' >> "$W/scores"
  done
done
python3 "$HERE/metrics.py" 0.99 < "$W/scores"

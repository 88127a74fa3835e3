#!/usr/bin/env bash
# sa-bayes-folds.sh CORPUS — SpamAssassin's Bayes on the issue's 5-fold
# split of CORPUS; prints metrics.py's line at 0.99 (BAYES_99). Slow: about
# ten minutes for the 4232-message development corpus on one core.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CORPUS="${1:?usage: sa-bayes-folds.sh CORPUS}"
W="$(mktemp -d /tmp/sa-folds.XXXXXX)"; trap 'rm -rf "$W"' EXIT
python3 "$HERE/folds.py" "$CORPUS" 5 "$W/folds"
perl "$HERE/sa-bayes-folds.pl" "$W/folds" 5 > "$W/scores"
python3 "$HERE/metrics.py" 0.99 < "$W/scores"

#!/bin/sh
# verify-unit.sh — check deploy/moat.service with `systemd-analyze verify`.
#
# verify insists that ExecStart names an existing executable, so the unit is
# copied to a temporary directory with /usr/local/bin/moat replaced by a real
# moat binary: $MOAT_BIN when set (e.g. bin/moat from `make build`),
# otherwise one built here with `go build ./cmd/moat`. Any output from
# verify (warnings included) fails the check. Without systemd-analyze the
# check is skipped (exit 0), unless CI is set (exit 1).
#
# Usage: deploy/verify-unit.sh            (from anywhere in the repository)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
unit="$here/moat.service"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [ -n "${CI:-}" ]; then
		echo "verify-unit: systemd-analyze not found (required in CI)" >&2
		exit 1
	fi
	echo "verify-unit: systemd-analyze not found; skipped" >&2
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

bin=${MOAT_BIN:-}
if [ -z "$bin" ]; then
	bin="$tmp/moat"
	(cd "$root" && CGO_ENABLED=0 go build -o "$bin" ./cmd/moat)
fi
case "$bin" in
/*) ;;
*) bin="$(pwd)/$bin" ;;
esac
if [ ! -x "$bin" ]; then
	echo "verify-unit: $bin is not an executable" >&2
	exit 1
fi

grep -q '^ExecStart=/usr/local/bin/moat ' "$unit" || {
	echo "verify-unit: $unit: ExecStart no longer starts with /usr/local/bin/moat; update this script" >&2
	exit 1
}
mkdir "$tmp/unit"
sed "s|^ExecStart=/usr/local/bin/moat |ExecStart=$bin |" "$unit" >"$tmp/unit/moat.service"

# --man=no: the Documentation= URL is not a man page to look up.
out=$(systemd-analyze verify --man=no "$tmp/unit/moat.service" 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	echo "verify-unit: systemd-analyze verify deploy/moat.service failed (exit $rc):" >&2
	printf '%s\n' "$out" >&2
	exit 1
fi
echo "verify-unit: deploy/moat.service OK ($(systemd-analyze --version | head -n 1))"

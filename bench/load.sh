#!/usr/bin/env bash
# bench/load.sh — end-to-end load run of moat (not part of CI; `make bench`
# runs it after the Go benchmarks).
#
# What it does, all on 127.0.0.1, bounded in message count and time:
#   1. builds moat into a temp dir;
#   2. starts Postfix's smtp-sink on SINK_PORT via $SHARED/bench/sink.sh;
#   3. starts moat on MOAT_PORT relaying example.com to the sink, check
#      pipeline on (no trusted networks), log level warn;
#   4. pushes N messages through moat with $SHARED/bench/smtp-throughput.sh
#      (smtp-source, a new connection per message) at concurrency 10, 50 and
#      200 with a real ham message from $SHARED/corpus, and once at 50 with a
#      real spam message; prints msgs/s, moat's CPU ms per message and its
#      peak RSS for each, and the targets (>= 1500 msg/s, < 150 MiB at 200);
#   5. if the Haraka peer is installed ($SHARED/bench/peers/haraka/node_modules)
#      runs `$SHARED/bench/run-all.sh $RUNALL_ARG` (default 1) with SKIP_SCANS=1 and NEW_GW_START
#      pointing at moat (ports 2525 for moat, 2526 sink, 2600 Haraka, as that
#      harness fixes them) and prints its moat/Haraka ratios.
# Every server is stopped by its PID from the EXIT trap.
#
# Usage: bench/load.sh
# Env:  SHARED      shared folder (default: ../shared beside the repository)
#       N           messages per run (default 3000)
#       MOAT_PORT   moat's port for step 4 (default 2725)
#       SINK_PORT   the sink's port for step 4 (default 2726)
#       MSG_HAM, MSG_SPAM  message files (default: corpus ham/00340.eml, 7070
#                   bytes like the harness's 7084-byte one; spam/00021.eml)
#       RUNALL_ARG  argument to run-all.sh (default 1: quick, 500 msgs per
#                   case; 0: the full 3000)
#       MIN_TTL     dns.min_ttl for moat (default 0s: the harness's TTL-0
#                   records are looked up for every message)
#       MODE        example.com's route mode: queue (default; durable queue
#                   with fsync) or proxy (before-queue relay)
#       SKIP_HARAKA=1  skip step 5; REQUIRE=1  fail (instead of skipping)
#                   when smtp-source/smtp-sink or $SHARED are missing
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$REPO/../shared}"
B="$SHARED/bench"
N="${N:-3000}"
MOAT_PORT="${MOAT_PORT:-2725}"
SINK_PORT="${SINK_PORT:-2726}"
MSG_HAM="${MSG_HAM:-$SHARED/corpus/ham/00340.eml}"
MSG_SPAM="${MSG_SPAM:-$SHARED/corpus/spam/00021.eml}"

skip() {
  echo "bench/load.sh: SKIPPED: $*" >&2
  [ "${REQUIRE:-0}" = 1 ] && exit 1
  exit 0
}
command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null ||
  skip "smtp-source/smtp-sink not installed (Debian: apt-get install postfix; see $B/PEERS.md)"
[ -x "$B/smtp-throughput.sh" ] && [ -x "$B/sink.sh" ] || skip "no bench harness in $B (set SHARED)"
[ -f "$MSG_HAM" ] && [ -f "$MSG_SPAM" ] || skip "corpus messages not found: $MSG_HAM $MSG_SPAM"
# shellcheck source=/dev/null
. "$B/lib.sh"

TMP="$(mktemp -d /tmp/moat-load.XXXXXX)"
MOAT_PID=""
SINK_STARTED=""
DNS_STARTED=""
cleanup() {
  [ -n "$MOAT_PID" ] && stop_pid "$MOAT_PID" 15
  [ -n "$SINK_STARTED" ] && "$B/sink.sh" --stop "$SINK_PORT"
  [ -n "$DNS_STARTED" ] && "$B/dns-local.sh" stop
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# moat load run $(date -u +%FT%TZ) host=$(hostname) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$REPO" && go build -o "$TMP/moat" ./cmd/moat)
echo "# $("$TMP/moat" version)"

# config PORT SINKPORT DATADIR [EXTRA] — a moat.yaml for the load run; EXTRA
# is more top-level YAML
config() {
  cat <<EOF
hostname: bench.moat.invalid
data_dir: $3
listen:
  smtp: ["127.0.0.1:$1"]
  imap: []
  pop3: []
domains:
  example.com:
    deliver: relay
    relay: "127.0.0.1:$2"
    # queue: 250 once the message is fsync'd in the durable queue, then
    # delivered to the sink; proxy: relayed inside the client's transaction.
    mode: ${MODE:-queue}
dns:
  # the loopback-only dnsmasq of ../shared/bench (never the system
  # resolver): every DNS check asks it, as the peers do. It serves its
  # records with TTL 0, so nothing is cached unless MIN_TTL (e.g. 60s,
  # what real SPF/DKIM/DMARC records live at least) raises it.
  servers: ["127.0.0.153:53"]
  min_ttl: ${MIN_TTL:-0s}
limits:
  connections: 1000
  connections_per_ip: 1000
log:
  level: warn
${4:-}
EOF
}

# message FILE — the file without a leading mbox "From " line (smtp-source
# sends the file as DATA, so that line would become part of the header)
message() {
  local out="$TMP/$(basename "$(dirname "$1")")-$(basename "$1")"
  sed '1{/^From /d}' "$1" > "$out"
  echo "$out"
}
HAM="$(message "$MSG_HAM")"
SPAM="$(message "$MSG_SPAM")"

# ---- step 2-4: moat alone ---------------------------------------------------
"$B/dns-local.sh" start >/dev/null
DNS_STARTED=1
port_free "$MOAT_PORT" || exit 1
"$B/sink.sh" "$SINK_PORT" >/dev/null
SINK_STARTED=1
config "$MOAT_PORT" "$SINK_PORT" "$TMP/data" > "$TMP/moat.yaml"
"$TMP/moat" serve -c "$TMP/moat.yaml" >"$TMP/moat.log" 2>&1 </dev/null &
MOAT_PID=$!
wait_port "$MOAT_PORT" 20 || { cat "$TMP/moat.log" >&2; exit 1; }

echo "## smtp-source -> moat -> smtp-sink, $N msgs per run, new connection per message"
printf '%-6s %-5s %8s %9s %13s %15s %s\n' msg conc msgs/s cpu_ms/msg peak_rss_MiB sent/received result
worst_rate=""; rss200=""
run() { # LABEL FILE CONCURRENCY
  local label="$1" file="$2" c="$3" out rc=0 summary rate cpu rss sent recv
  out=$(TIMEOUT=180 SINK_PORT="$SINK_PORT" SERVER_PID="$MOAT_PID" \
    "$B/smtp-throughput.sh" "$MOAT_PORT" "$N" "$c" "$file" 2>&1) || rc=$?
  summary=$(echo "$out" | grep '^port=' | tail -1)
  rate=$(echo "$out" | tail -1)
  cpu=$(echo "$summary" | sed -n 's/.*cpu_ms_per_msg=\([0-9.]*\).*/\1/p')
  rss=$(echo "$summary" | sed -n 's/.*server_peak_rss_kb_max=\([0-9]*\).*/\1/p')
  sent=$(echo "$summary" | sed -n 's/.*sent=\([0-9]*\)\/.*/\1/p')
  recv=$(echo "$summary" | sed -n 's/.*sink_received=\([0-9]*\).*/\1/p')
  printf '%-6s %-5s %8s %9s %13s %15s %s\n' "$label" "$c" "$rate" "${cpu:-?}" \
    "$(awk -v k="${rss:-0}" 'BEGIN{printf "%.1f", k/1024}')" "${sent:-?}/${recv:-?}" \
    "$([ "$rc" = 0 ] && echo ok || echo "smtp-source exit $rc")"
  [ "$rc" = 0 ] || echo "$out" | grep -v '^[0-9.]*$' | tail -5 | sed 's/^/    /'
  if [ "$label" = ham ]; then
    if [ -z "$worst_rate" ] || awk -v a="$rate" -v b="$worst_rate" 'BEGIN{exit !(a<b)}'; then worst_rate=$rate; fi
    [ "$c" = 200 ] && rss200=$rss
  fi
  return 0
}
for c in 10 50 200; do run ham "$HAM" "$c"; done
run spam "$SPAM" 50
echo "target: >= 1500 msg/s with new connections: lowest ham rate ${worst_rate} msg/s -> $(awk -v r="$worst_rate" 'BEGIN{print (r>=1500)?"met":"NOT met"}')"
echo "target: peak RSS < 150 MiB under 200 connections: $(awk -v k="${rss200:-0}" 'BEGIN{printf "%.1f MiB -> %s", k/1024, (k>0 && k<150*1024)?"met":"NOT met"}')"
warns=$(grep -c 'level=\(WARN\|ERROR\)' "$TMP/moat.log" || true)
echo "moat log: $warns warn/error lines$([ "$warns" -gt 0 ] && echo "; last: $(grep 'level=\(WARN\|ERROR\)' "$TMP/moat.log" | tail -1)")"
stop_pid "$MOAT_PID" 15; MOAT_PID=""
"$B/sink.sh" --stop "$SINK_PORT"; SINK_STARTED=""

# ---- step 5: moat and Haraka in the same run-all.sh run -------------------------
if [ "${SKIP_HARAKA:-0}" = 1 ]; then
  echo "## Haraka comparison skipped (SKIP_HARAKA=1)"
elif [ ! -d "$B/peers/haraka/node_modules" ]; then
  echo "## Haraka comparison skipped: $B/peers/haraka/node_modules not installed ($B/peers-install.sh)"
elif ! { port_free "${NEW_GW_PORT:-2525}" && port_free 2526 && port_free 2600; }; then
  # run-all.sh only waits for the port to answer: another server there would
  # be measured in moat's place.
  echo "## Haraka comparison skipped: a port run-all.sh needs (${NEW_GW_PORT:-2525}, 2526, 2600) is in use"
else
  echo "## run-all.sh ${RUNALL_ARG:-1} (SKIP_SCANS=1): Haraka and moat measured in the same run"
  # Like for like with the harness's Haraka plugin set (SPF, DKIM verify,
  # recipient domains; PEERS.md "Measuring moat in the same run"): the
  # checks Haraka does not run are off here (FCrDNS, HELO, DMARC, content
  # rules); the runs above have the whole default pipeline on.
  config "${NEW_GW_PORT:-2525}" 2526 "$TMP/data-newgw" "fcrdns: {enabled: false}
helo: {enabled: false}
dmarc: {enabled: false}
rules: {defaults: false}" > "$TMP/newgw.yaml"
  # loopdns (lib.sh) keeps any DNS lookup moat makes on loopback, as for the
  # peers. The command prints moat's PID; run-all.sh stops it by that PID.
  start="bash -c '. \"$B/lib.sh\"; loopdns \"$TMP/moat\" serve -c \"$TMP/newgw.yaml\"' >\"$TMP/newgw.log\" 2>&1 </dev/null & echo \$!"
  out=$(NEW_GW_START="$start" SKIP_SCANS=1 timeout 900 "$B/run-all.sh" "${RUNALL_ARG:-1}" 2>&1) || true
  echo "$out" | grep -E '^(sink-direct|haraka|newgw|ratio)' | sed 's/^/  /'
  echo "$out" | grep -E '^# results:' || true
  [ -s "$TMP/newgw.log" ] && { echo "  moat (newgw) log, last lines:"; tail -3 "$TMP/newgw.log" | sed 's/^/    /'; }
fi

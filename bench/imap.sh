#!/usr/bin/env bash
# bench/imap.sh — moat's built-in store over IMAP compared with Dovecot in one
# run, on the same machine, the same 1,000 real messages and the same client
# workload (not part of CI).
#
# What it does, all on 127.0.0.1:
#   1. `make build` (bin/moat), then starts moat with a temporary config:
#      SMTP on MOAT_SMTP, IMAP on MOAT_IMAP, bench.test delivered to the
#      store, thresholds raised so that every message lands in INBOX;
#   2. `moat user add alice@bench.test`, then delivers N (1,000) messages of
#      $SHARED/corpus/ham (the first N, sorted, without the mbox "From " line)
#      over one smtplib connection, and checks INBOX holds N;
#   3. starts the stand-in Dovecot 2.3 ($SHARED/bench/clients/standin-dovecot.sh,
#      IMAP on DOVECOT_IMAP, user alice/secret) with the same N files put
#      straight into alice's Maildir/new;
#   4. runs the same python imaplib workload against both, each over one
#      logged-in connection:
#      (a) SELECT INBOX + FETCH 1:N (ENVELOPE): one untimed warm-up (Dovecot
#          builds its index and cache there), then RUNS timed runs;
#      (b) LOOP x (SELECT INBOX, FETCH i BODY.PEEK[HEADER], STORE i +FLAGS
#          (\Seen)) for i = 1..LOOP;
#      and prints the times and the moat/Dovecot ratio (> 1: moat slower);
#   5. stops moat and Dovecot by their PIDs and removes the temp dir (EXIT trap).
#
# Usage: bench/imap.sh
# Env:  SHARED        shared folder (default: ../shared beside the repository)
#       N             messages (default 1000); RUNS (5); LOOP (200)
#       MOAT_SMTP, MOAT_IMAP   moat's ports (default 2825, 2843)
#       DOVECOT_IMAP  Dovecot's IMAP port (default 31143; its POP3/IMAPS/POP3S
#                     ports are moved 1 above their defaults)
# Needs: python3, dovecot (dovecot-imapd), the system user vmail (created as
# install-tools.sh does when missing and running as root). Without python3
# or dovecot it says so and skips (exit 0), unless REQUIRE=1.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$REPO/../shared}"
C="$SHARED/bench/clients"
N="${N:-1000}"
RUNS="${RUNS:-5}"
LOOP="${LOOP:-200}"
MOAT_SMTP="${MOAT_SMTP:-2825}"
MOAT_IMAP="${MOAT_IMAP:-2843}"
DOVECOT_IMAP="${DOVECOT_IMAP:-31143}"
PASS=bench-secret-1

# Like bench/load.sh: a missing tool skips the run, unless REQUIRE=1.
missing() {
  echo "bench/imap.sh: $1 is missing ($2); skipped" >&2
  [ "${REQUIRE:-0}" = 1 ] && exit 1
  exit 0
}
command -v python3 >/dev/null || missing python3 "apt-get install python3"
command -v dovecot >/dev/null || missing dovecot "apt-get install dovecot-imapd, or ../shared/bench/peers-install.sh"
[ -x "$C/standin-dovecot.sh" ] || { echo "bench/imap.sh: no $C/standin-dovecot.sh (set SHARED)" >&2; exit 1; }
if ! id vmail >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "bench/imap.sh: user vmail is missing (run $C/install-tools.sh)" >&2; exit 1; }
  useradd -r -U -d /nonexistent -s /usr/sbin/nologin vmail
fi
for port in "$MOAT_SMTP" "$MOAT_IMAP" "$DOVECOT_IMAP"; do
  if ss -ltn | grep -q ":$port "; then echo "bench/imap.sh: port $port is in use" >&2; exit 1; fi
done

TMP="$(mktemp -d /tmp/moat-imap.XXXXXX)"
chmod 755 "$TMP" # Dovecot's auth and vmail processes must reach their files in it
MOAT_PID=""
DOVECOT_STARTED=""
cleanup() {
  if [ -n "$MOAT_PID" ]; then
    kill -TERM "$MOAT_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$MOAT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MOAT_PID" 2>/dev/null || true
  fi
  [ -n "$DOVECOT_STARTED" ] && "$C/standin-dovecot.sh" stop "$TMP/dovecot" >/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# moat vs Dovecot IMAP $(date -u +%FT%TZ) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) N=$N runs=$RUNS loop=$LOOP"
make -C "$REPO" -s build >/dev/null
MOAT="$REPO/bin/moat"
echo "# $("$MOAT" version 2>&1 | head -1); $(dovecot --version | sed 's/^/dovecot /')"

# The same N messages for both servers, without the mbox "From " line.
mkdir -p "$TMP/msgs"
python3 - "$SHARED/corpus/ham" "$TMP/msgs" "$N" <<'EOF'
import os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(f for f in os.listdir(src) if f.endswith(".eml"))[:n]
if len(names) < n:
    sys.exit("only %d messages in %s" % (len(names), src))
for f in names:
    b = open(os.path.join(src, f), "rb").read()
    if b.startswith(b"From "):
        b = b[b.index(b"\n") + 1:]
    # LF line ends (Maildir's form); SMTP gets CRLF. A stray CR would be a
    # bare CR, which moat rightly refuses.
    b = b.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    open(os.path.join(dst, f), "wb").write(b)
EOF

# ---- moat ------------------------------------------------------------------
cat > "$TMP/moat.yaml" <<EOF
hostname: bench.moat.invalid
data_dir: $TMP/moat-data
listen:
  smtp: ["127.0.0.1:$MOAT_SMTP"]
  imap: ["127.0.0.1:$MOAT_IMAP"]
  pop3: []
domains:
  bench.test:
    deliver: local
dns:
  # nothing listens there: lookups fail at once, no outside DNS is asked
  servers: ["127.0.0.1:9"]
  timeout: 200ms
limits:
  connections: 100
# every message to INBOX: this measures the store, not the filter
policy:
  thresholds:
    junk: 10000
    reject: 20000
log:
  level: warn
EOF
"$MOAT" serve -c "$TMP/moat.yaml" > "$TMP/moat.log" 2>&1 &
MOAT_PID=$!
for _ in $(seq 100); do ss -ltn | grep -q ":$MOAT_IMAP " && break; sleep 0.1; done
ss -ltn | grep -q ":$MOAT_IMAP " || { echo "moat did not start:" >&2; cat "$TMP/moat.log" >&2; exit 1; }
printf '%s\n' "$PASS" | "$MOAT" user add -c "$TMP/moat.yaml" alice@bench.test >/dev/null

t0=$(date +%s.%N)
python3 - "$MOAT_SMTP" "$TMP/msgs" <<'EOF'
import os, smtplib, sys
port, d = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.client.invalid", timeout=60)
s.ehlo()
for f in sorted(os.listdir(d)):
    msg = open(os.path.join(d, f), "rb").read().replace(b"\n", b"\r\n")
    s.sendmail("sender@client.invalid", ["alice@bench.test"], msg)
s.quit()
EOF
t1=$(date +%s.%N)
echo "# moat: delivered $N messages by SMTP in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (one connection)"

# ---- Dovecot ---------------------------------------------------------------
DD="$TMP/dovecot"
MD="$DD/mail/alice/Maildir"
mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
i=0
for f in "$TMP"/msgs/*.eml; do
  i=$((i + 1))
  cp "$f" "$MD/new/$((1700000000 + i)).M${i}P$$.bench,S=$(stat -c %s "$f")"
done
DOVECOT_STARTED=1
IMAP_PORT=$DOVECOT_IMAP POP3_PORT=$((31110 + 1)) IMAPS_PORT=$((31993 + 1)) POP3S_PORT=$((31995 + 1)) \
  "$C/standin-dovecot.sh" start "$DD" >/dev/null
# no raw protocol logs: they would cost Dovecot time moat does not spend
rm -rf "$DD/rawlog"

# ---- the workload ----------------------------------------------------------
python3 - "$N" "$RUNS" "$LOOP" "$MOAT_IMAP" "alice@bench.test" "$PASS" "$DOVECOT_IMAP" alice secret <<'EOF'
import imaplib, re, statistics, sys, time
n, runs, loop = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
servers = [("moat", int(sys.argv[4]), sys.argv[5], sys.argv[6]),
           ("dovecot", int(sys.argv[7]), sys.argv[8], sys.argv[9])]

def check(typ, data, what):
    if typ != "OK":
        sys.exit("%s: %s %r" % (what, typ, data))

def select(M):
    typ, data = M.select("INBOX")
    check(typ, data, "SELECT")
    return int(data[0])

res = {}
for name, port, user, pw in servers:
    M = imaplib.IMAP4("127.0.0.1", port, timeout=120)
    check(*M.login(user, pw), what=name + " LOGIN")
    exists = select(M)
    if exists != n:
        sys.exit("%s: INBOX holds %d messages, want %d" % (name, exists, n))
    # (a) SELECT + FETCH 1:n (ENVELOPE)
    times = []
    for r in range(runs + 1):
        t = time.perf_counter()
        select(M)
        typ, data = M.fetch("1:%d" % n, "(ENVELOPE)")
        dt = time.perf_counter() - t
        check(typ, data, name + " FETCH ENVELOPE")
        got = sum(1 for d in data if (d[0] if isinstance(d, tuple) else d) and b"ENVELOPE" in (d[0] if isinstance(d, tuple) else d))
        if got != n:
            sys.exit("%s: FETCH 1:%d (ENVELOPE) returned %d envelopes" % (name, n, got))
        if r == 0:
            warm = dt
        else:
            times.append(dt)
    # (b) SELECT, FETCH i BODY.PEEK[HEADER], STORE i +FLAGS (\Seen)
    t = time.perf_counter()
    for i in range(1, loop + 1):
        select(M)
        typ, data = M.fetch(str(i), "(BODY.PEEK[HEADER])")
        check(typ, data, name + " FETCH HEADER")
        if not isinstance(data[0], tuple) or b"Message-" not in data[0][1] and b"Subject" not in data[0][1]:
            sys.exit("%s: FETCH %d BODY.PEEK[HEADER] -> %r" % (name, i, data[:1]))
        typ, data = M.store(str(i), "+FLAGS", "(\\Seen)")
        check(typ, data, name + " STORE")
    loop_t = time.perf_counter() - t
    typ, data = M.search(None, "SEEN")
    check(typ, data, name + " SEARCH SEEN")
    seen = len(data[0].split())
    if seen != loop:
        sys.exit("%s: %d messages \\Seen after the loop, want %d" % (name, seen, loop))
    M.logout()
    res[name] = dict(warm=warm, med=statistics.median(times), min=min(times), max=max(times), loop=loop_t)

print("%-8s %12s %12s %12s %12s %14s %12s" % ("server", "a warm-up s", "a median s", "a min s", "a max s", "b %d loops s" % loop, "b ms/iter"))
for name in ("moat", "dovecot"):
    r = res[name]
    print("%-8s %12.3f %12.3f %12.3f %12.3f %14.3f %12.2f" % (name, r["warm"], r["med"], r["min"], r["max"], r["loop"], 1000 * r["loop"] / loop))
m, d = res["moat"], res["dovecot"]
print("ratio moat/dovecot: (a) FETCH 1:%d ENVELOPE median %.2f  (warm-up %.2f)   (b) SELECT/FETCH/STORE loop %.2f"
      % (n, m["med"] / d["med"], m["warm"] / d["warm"], m["loop"] / d["loop"]))
EOF

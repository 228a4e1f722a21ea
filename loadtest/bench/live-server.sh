#!/usr/bin/env bash
# The server the live-generator benchmarks run against (docs/benchmarks.md:
# "Capacity knee and generator CPU", "Quiet-machine re-runs"): a release
# `ivr` on fixed loopback ports with the repository's 012 dialplan and
# prompts, changed only where a benchmark needs it:
#   - the calendar staffed every day, all day, holidays included (the knee
#     must not depend on the day it runs), or, with STAFFED=never, staffed
#     at no hour at all (a closed line: every operator caller meets the
#     out-of-hours contact options);
#   - 2 s of wrap-up instead of 30 (operators' times are scaled down);
#   - AGENTS demo operators op000, op001, ... with every skill (passwords
#     demo-opNNN-012: never outside a benchmark);
#   - a fresh SQLite database;
#   - with CONSOLE_USERS=N, agent console users for the first N operators:
#     login opNNN acting as agent opNNN, password demo-opNNN-012 (the
#     operator's SIP password), for `loadtest run --console-url`.
# Starts it in the background, waits until it answers /health, and prints
# its pid on stdout; the loadtest commands then take the files it names.
#
# Usage: loadtest/bench/live-server.sh [AGENTS]      (default 70, at most 500)
# Env:
#   IVR_BIN  the ivr binary (default target/release/ivr)
#   DIR      the bench folder (default /tmp/012-live-bench; emptied first)
#   SIP      the SIP address (default 127.0.0.1:45060)
#   HTTP     the console and /health address (default 127.0.0.1:45080)
#   RTP      the RTP port range (default 46000-53999)
#   STAFFED  always (default) or never: the calendar's staffed hours
#   CONSOLE_USERS  console users for the first N operators (default 0: none;
#            each costs an Argon2 hash, a fraction of a second)
#   (two benchmark servers side by side need their own DIR, SIP, HTTP, RTP)
# Then, for example (from the repository root):
#   PID=$(loadtest/bench/live-server.sh 10)
#   target/release/loadtest capacity --server 127.0.0.1:45060 --start 100 --step 100 \
#       --max 3000 --hold-secs 10 --max-deviation-ms 2 --server-pid $PID
#   kill $PID
# A closed line (callers leave messages and callback requests):
#   PID=$(STAFFED=never loadtest/bench/live-server.sh 10)
#   target/release/loadtest run --server 127.0.0.1:45060 --line closed ...
# Operators through the console, with breaks (docs/benchmarks.md):
#   PID=$(CONSOLE_USERS=10 loadtest/bench/live-server.sh 10)
#   target/release/loadtest run --server 127.0.0.1:45060 --console-url http://127.0.0.1:45080 \
#       --breaks 1800:300 --time-scale 0.05 --agents /tmp/012-live-bench/dialplans/agents.toml ...
set -euo pipefail

AGENTS=${1:-70}
(( AGENTS > 0 && AGENTS <= 500 )) || { echo "AGENTS must be 1..500" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVR_BIN=${IVR_BIN:-$ROOT/target/release/ivr}
DIR=${DIR:-/tmp/012-live-bench}
SIP=${SIP:-127.0.0.1:45060}
HTTP=${HTTP:-127.0.0.1:45080}
RTP=${RTP:-46000-53999}
STAFFED=${STAFFED:-always}
CONSOLE_USERS=${CONSOLE_USERS:-0}
[[ $CONSOLE_USERS =~ ^[0-9]+$ ]] && (( CONSOLE_USERS <= AGENTS )) ||
  { echo "CONSOLE_USERS must be 0..AGENTS" >&2; exit 2; }
case $STAFFED in
  always) HOURS='monday-sunday = ["00:00-24:00"]' ;;
  never) HOURS='monday-sunday = []' ;;
  *) echo "STAFFED must be always or never" >&2; exit 2 ;;
esac
[[ -x $IVR_BIN ]] || { echo "no ivr binary: cargo build --release -p ivr (or set IVR_BIN)" >&2; exit 2; }
# The server starts from $DIR: a relative IVR_BIN is made absolute first.
[[ $IVR_BIN == /* ]] || IVR_BIN=$PWD/$IVR_BIN

rm -rf "$DIR"
mkdir -p "$DIR/dialplans/calendars"
cp "$ROOT/dialplans/012.toml" "$DIR/dialplans/"
sed 's/^wrap_up_secs = .*/wrap_up_secs = 2/' "$ROOT/dialplans/queues.toml" > "$DIR/dialplans/queues.toml"
# The repository's calendar, staffed every day at every hour, holidays
# included (STAFFED=always), or at none (STAFFED=never).
sed -e "s/^monday-saturday = \[\"07:00-23:00\"\]/$HOURS/" \
    -e 's/^closed_on = \["catalonia"\]/closed_on = []/' \
    "$ROOT/dialplans/calendars/catalonia.toml" > "$DIR/dialplans/calendars/catalonia.toml"
grep -qxF "$HOURS" "$DIR/dialplans/calendars/catalonia.toml" ||
  { echo "the calendar's staffed hours were not found: update this script" >&2; exit 1; }
{
  echo "# $AGENTS demo operators for a benchmark server (loadtest/bench/live-server.sh)"
  for ((i = 0; i < AGENTS; i++)); do
    printf '\n[agents.op%03d]\nname = "Operator %d"\npassword = { demo = "demo-op%03d-012" }\n' "$i" "$i" "$i"
    echo 'skills = { language = { ca = 10, es = 10, en = 10, oc = 10 }, topic = { procedures = 10, health = 10, education = 10, work = 10, transport = 10, other = 10 } }'
  done
} > "$DIR/dialplans/agents.toml"
cat > "$DIR/ivr.toml" <<EOF
dialplan = "$DIR/dialplans/012.toml"

[media]
media_timeout_secs = 60
realtime = true

[shutdown]
grace_secs = 2

[acd]
queues = "$DIR/dialplans/queues.toml"
agents = "$DIR/dialplans/agents.toml"

[data]
dir = "$DIR/data"
EOF
"$IVR_BIN" check "$DIR/dialplans/012.toml" >&2
# Console users before the server starts (it reads users from the database
# on every request); the password file's last line break is dropped.
for ((i = 0; i < CONSOLE_USERS; i++)); do
  login=$(printf 'op%03d' "$i")
  printf 'demo-%s-012\n' "$login" > "$DIR/console-password"
  "$IVR_BIN" user add "$login" --role agent --agent "$login" --name "Operator $i" \
    --password-file "$DIR/console-password" --db "sqlite://$DIR/ivr.db" >&2
done
rm -f "$DIR/console-password"

cd "$DIR"
"$IVR_BIN" serve --sip "$SIP" --http "$HTTP" --prompts "$ROOT/prompts" \
  --rtp-ports "$RTP" --config "$DIR/ivr.toml" --db "sqlite://$DIR/ivr.db" > "$DIR/ivr.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if curl -sf -o /dev/null "http://$HTTP/health"; then
    echo "$pid"
    echo "ivr $pid ready (staffed: $STAFFED, console users: $CONSOLE_USERS): files in $DIR (agents $DIR/dialplans/agents.toml, queues $DIR/dialplans/queues.toml, db sqlite://$DIR/ivr.db, key $DIR/data/pseudonym.key)" >&2
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { echo "ivr stopped: see $DIR/ivr.log" >&2; tail -5 "$DIR/ivr.log" >&2; exit 1; }
  sleep 0.2
done
kill "$pid"; echo "ivr did not answer /health within 30 s: see $DIR/ivr.log" >&2; exit 1

#!/usr/bin/env bash
# Capacity run: SIPp callers hold N concurrent calls against each server in
# turn and we measure, per server process: CPU per concurrent call (% of one
# core), RSS per call, RTP send-grid deviation and loss of the server->caller
# direction (tcpdump + `loadtest analyze-pcap`), failed calls and call-setup
# time (SIPp response time INVITE -> 200). Prints one markdown table row per
# server for docs/benchmarks.md.
#
# Usage: loadtest/bench/sipp-capacity.sh N [DURATION_SECS]
# Env:
#   SERVERS       which servers, in order (default "ivr sipp-uas"):
#                   ivr       the 012 server (IVR_BIN, release build)
#                   sipp-uas  `sipp -sn uas -rtp_echo`, the baseline
#   IVR_BIN       path of the ivr binary (default target/release/ivr)
#   LOADTEST_BIN  path of the loadtest binary (default target/release/loadtest,
#                 else target/debug/loadtest)
#   RATE          new calls per second while ramping up (default 100)
#   IVR_REALTIME  the ivr media thread under SCHED_FIFO (default true)
#   OUT           folder for logs and captures (default loadtest/results/tmp/<time>)
# Needs: sipp (sip-tester), tcpdump (as root / CAP_NET_RAW), curl, awk, sort.
# Every process it starts is stopped on exit; every wait is bounded.
set -euo pipefail

N=${1:?usage: sipp-capacity.sh N [DURATION_SECS]}
DURATION=${2:-30}
RATE=${RATE:-100}
SERVERS=${SERVERS:-"ivr sipp-uas"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVR_BIN=${IVR_BIN:-$ROOT/target/release/ivr}
if [[ -z "${LOADTEST_BIN:-}" ]]; then
  LOADTEST_BIN=$ROOT/target/release/loadtest
  [[ -x $LOADTEST_BIN ]] || LOADTEST_BIN=$ROOT/target/debug/loadtest
fi
OUT=${OUT:-$ROOT/loadtest/results/tmp/$(date +%Y%m%d-%H%M%S)}
SCENARIO=$ROOT/ivr/server/tests/scenarios/uac_play.xml
CLK_TCK=$(getconf CLK_TCK)

# Fixed loopback ports. The peer tests pick free blocks in 20000-60000 and
# skip busy ports, but do not run a benchmark beside them anyway: they
# would share the two cores.
SIP_PORT=35060 HTTP_PORT=35080 RTP_FIRST=36000 RTP_LAST=39999
UAS_PORT=35160 UAS_MEDIA=35200 UAC_PORT=35260 UAC_MEDIA=35300

(( N > 0 && N <= 5000 )) || { echo "N must be 1..5000" >&2; exit 2; }
(( DURATION >= 12 && DURATION <= 600 )) || { echo "DURATION must be 12..600 s" >&2; exit 2; }
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 2; }
command -v tcpdump >/dev/null || { echo "tcpdump missing: apt-get install -y tcpdump" >&2; exit 2; }
[[ -x $LOADTEST_BIN ]] || { echo "no loadtest binary: cargo build -p loadtest (or set LOADTEST_BIN)" >&2; exit 2; }
mkdir -p "$OUT"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# wait_until SECONDS COMMAND...: polls every 0.1 s; fails after SECONDS.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.1
  done
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# The callers' audio, PCMU 20 ms for the whole call: 1 s of silence, in-band
# 1 and 2, RFC 4733 3, then silence (SIPp plays it once per call).
mkdir -p "$OUT/pcap"
"$LOADTEST_BIN" make-pcap --codec pcmu --ptime 20 --silence-ms 1000 --inband-dtmf 12 --rfc4733 3 \
  --tail-ms $(( DURATION * 1000 )) -o "$OUT/pcap/audio.pcap" 2>/dev/null

start_server() { # name -> sets SERVER_PID, SERVER_ADDR, MEDIA_FILTER
  case $1 in
    ivr)
      [[ -x $IVR_BIN ]] || { echo "no ivr binary at $IVR_BIN: cargo build --release -p ivr" >&2; return 1; }
      cat > "$OUT/ivr.toml" <<TOML
[flow]
language = "ca"
idle_hangup_secs = $(( DURATION + 60 ))

[media]
media_timeout_secs = $(( DURATION + 60 ))
realtime = ${IVR_REALTIME:-true}

[shutdown]
grace_secs = 2
TOML
      "$IVR_BIN" serve --sip 127.0.0.1:$SIP_PORT --http 127.0.0.1:$HTTP_PORT --prompts "$ROOT/prompts" \
        --rtp-ports $RTP_FIRST-$RTP_LAST --config "$OUT/ivr.toml" --db "sqlite://$OUT/ivr.db" > "$OUT/ivr.log" 2>&1 &
      SERVER_PID=$!; PIDS+=("$SERVER_PID")
      SERVER_ADDR=127.0.0.1:$SIP_PORT
      MEDIA_FILTER="udp and src portrange $RTP_FIRST-$RTP_LAST and dst port $UAC_MEDIA"
      wait_until 20 curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/health" \
        || { echo "ivr did not become healthy; see $OUT/ivr.log" >&2; return 1; }
      ;;
    sipp-uas)
      sipp -sn uas -rtp_echo -i 127.0.0.1 -mi 127.0.0.1 -p $UAS_PORT -mp $UAS_MEDIA -nostdin \
        > "$OUT/uas.log" 2>&1 &
      SERVER_PID=$!; PIDS+=("$SERVER_PID")
      SERVER_ADDR=127.0.0.1:$UAS_PORT
      MEDIA_FILTER="udp and src port $UAS_MEDIA"
      wait_until 10 bash -c "ss -lun | grep -q ':$UAS_PORT '" || { echo "sipp uas did not start" >&2; return 1; }
      ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
}

stop_server() { # name
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait_until 15 bash -c "! kill -0 $SERVER_PID 2>/dev/null" || kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# p50 p99 max of the second ';'-separated column (ms) of SIPp's rtt file.
rtt_percentiles() {
  awk -F';' 'NR > 1 && $2 ~ /^[0-9.]+$/ { print $2 }' "$@" 2>/dev/null | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "n/a n/a n/a"; exit }
      p50 = v[int((NR * 50 + 99) / 100)]; p99 = v[int((NR * 99 + 99) / 100)]
      printf "%.1f %.1f %.1f\n", p50, p99, v[NR]
    }'
}

ROWS=()
for server in $SERVERS; do
  echo "== $server: $N concurrent calls of ${DURATION} s at $RATE calls/s" >&2
  dir=$OUT/$server; mkdir -p "$dir"; cp -r "$OUT/pcap" "$dir/"
  start_server "$server"
  rss_idle=$(rss_kb "$SERVER_PID")

  ramp=$(( (N + RATE - 1) / RATE ))
  ( cd "$dir" && exec timeout $(( DURATION + ramp + 60 )) sipp "$SERVER_ADDR" -sf "$SCENARIO" -s 012 \
      -key offer "0 101" -key ptime 20 -i 127.0.0.1 -mi 127.0.0.1 -p $UAC_PORT -mp $UAC_MEDIA \
      -r "$RATE" -l "$N" -m "$N" -d $(( DURATION * 1000 )) -nostdin \
      -trace_stat -stf stats.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err -error_file errors.log \
      -recv_timeout 20000 > sipp.out 2>&1 ) &
  UAC_PID=$!; PIDS+=("$UAC_PID")

  # Steady window: from 2 s after the ramp until 2 s before the first calls end.
  sleep $(( ramp + 2 ))
  window=$(( DURATION - ramp - 4 )); (( window >= 4 )) || window=4
  t0=$(date +%s.%N); c0=$(cpu_ticks "$SERVER_PID")
  capture_secs=$(( window < 5 ? window : 5 ))
  timeout -s INT $capture_secs tcpdump -i lo -n -U -s 64 -c 500000 -w "$dir/server-rtp.pcap" "$MEDIA_FILTER" \
    2> "$dir/tcpdump.log" || true
  sleep $(( window - capture_secs ))
  c1=$(cpu_ticks "$SERVER_PID"); t1=$(date +%s.%N)
  rss_busy=$(rss_kb "$SERVER_PID")
  # The server's own view of its pacing (ivr only): sends more than 2 ms
  # after their grid slot, out of all RTP sent so far.
  server_late="n/a"
  if [[ $server == ivr ]] && curl -sf -o "$dir/metrics.txt" "http://127.0.0.1:$HTTP_PORT/metrics"; then
    server_late=$(awk '$1 == "ivr_rtp_late_sends_total" { late = $2 } $1 == "ivr_rtp_packets_sent_total" { sent = $2 }
                       END { if (sent > 0) printf "%.3f %%", late * 100 / sent; else print "n/a" }' "$dir/metrics.txt")
  fi

  wait "$UAC_PID" && uac_status=0 || uac_status=$?
  stop_server "$server"

  cpu_per_call=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v n="$N" -v hz="$CLK_TCK" \
    'BEGIN { printf "%.3f", (c1 - c0) / hz / (t1 - t0) * 100 / n }')
  rss_per_call=$(awk -v a="$rss_idle" -v b="$rss_busy" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
  read -r streams packets lost loss_pct dups p50 p99 dmax <<< "$("$LOADTEST_BIN" analyze-pcap --audio-only "$dir/server-rtp.pcap" \
    | awk 'NR == 1 { gsub(/[()%]/, ""); print $2, $4, $6, $7, $9, $12, $15, $18 }')"
  rtp_grid="$p50 / $p99 / $dmax" rtp_loss="$lost ($loss_pct %)"
  # Gaps that tcpdump itself caused are not the server's loss: say so.
  capture_drops=$(awk '/packets dropped by kernel/ { print $1 }' "$dir/tcpdump.log")
  if [[ ${capture_drops:-0} != 0 ]]; then
    rtp_loss="n/a (tcpdump dropped $capture_drops)"
  fi
  if (( dups * 2 > packets )); then
    # SIPp's -rtp_echo reflects every call's identical pcap stream (same
    # SSRC, same sequence numbers) to the caller's one media port: the
    # calls cannot be told apart, so grid and loss are not measurable.
    rtp_grid="n/a (echoed streams merge)" rtp_loss="n/a"
  fi
  failed=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") col = i }
                      END { print (col ? $col : "n/a") }' "$dir/stats.csv" 2>/dev/null || echo n/a)
  read -r setup50 setup99 setupmax <<< "$(rtt_percentiles "$dir"/*_rtt.csv)"
  echo "   sipp exit $uac_status; $streams streams, $packets packets captured; logs in $dir" >&2
  ROWS+=("| $server | $N | $DURATION | $cpu_per_call | $rss_per_call | $rtp_grid | $rtp_loss | $server_late | $failed | $setup50 / $setup99 / $setupmax |")
done

echo
echo "| server | concurrent calls | call s | CPU per call (% of a core) | RSS per call (KiB) | RTP send deviation p50 / p99 / max (ms) | RTP lost | sends > 2 ms late (server's view) | failed calls | setup ms p50 / p99 / max |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"

#!/usr/bin/env bash
# The test command (README, second line; .ci/run calls exactly this).
# Installs the real peers the tests drive (and the sqlite3 and psql clients
# the record checks read with) when they are missing, then builds
# and runs every test of the workspace: unit, scenario, property and the
# real-peer integration tests (SIPp, baresip, tcpdump on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null      || need+=(sip-tester)
command -v baresip >/dev/null   || need+=(baresip-core)
command -v sox >/dev/null       || need+=(sox)
command -v tcpdump >/dev/null   || need+=(tcpdump)
command -v sipsak >/dev/null    || need+=(sipsak)
command -v sqlite3 >/dev/null   || need+=(sqlite3)
command -v psql >/dev/null      || need+=(postgresql-client)
command -v chromium >/dev/null  || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

export CARGO_TERM_COLOR=never
# The test build needs about 4.1 GB of target/ (line tables only, see the
# workspace Cargo.toml): say so plainly before a linker dies of a full disk.
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "test.sh: warning: only $((free_kb / 1024)) MiB free here; the test build needs about 4.1 GB" >&2
fi
# The peer tests start real processes and capture on loopback: they need the
# binaries above, and tcpdump needs root or CAP_NET_RAW.
cargo build --workspace --all-targets --locked
# Every dialplan in the repository must pass the checker before anything runs.
"${CARGO_TARGET_DIR:-target}/debug/ivr" check dialplans/
cargo test --workspace --locked -- --test-threads=2

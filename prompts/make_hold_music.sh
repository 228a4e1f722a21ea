#!/usr/bin/env bash
# Generates prompts/hold-music.wav: a quiet, looping arpeggio (synthesised by
# sox, so it carries no licence) that callers hear while they wait for an
# operator. 8 kHz mono 16-bit, like every prompt; about 19 s, and it ends on
# the note it starts from so the loop is seamless.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
notes=(C4 E4 G4 C5 G4 E4  A3 C4 E4 A4 E4 C4  F3 A3 C4 F4 C4 A3  G3 B3 D4 G4 D4 B3)
i=0
for n in "${notes[@]}" "${notes[@]}" "${notes[@]}"; do
  sox -q -n -r 8000 -b 16 -c 1 -D "$tmp/$(printf %03d $i).wav" synth 0.26 pluck "$n" fade 0 0.26 0.08 vol 0.35
  i=$((i + 1))
done
sox -q -D "$tmp"/*.wav hold-music.wav
soxi -D hold-music.wav

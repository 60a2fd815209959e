#!/usr/bin/env bash
# Seconds per training step of the bundled denoiser's command, for one or more `grl` binaries,
# alternating, several rounds: (t(LONG steps) - t(SHORT steps)) / (LONG - SHORT), so start-up,
# table building and the final save cancel out. Each run starts from a fresh run folder.
#
# Usage: scripts/bench-train-step.sh [--rounds N] [--steps SHORT LONG] 'LABEL=GRL [ARGS...]' ...
#   (--steps: the two run lengths, 5 and 25 unless given; longer runs average more steps)
#   e.g. scripts/bench-train-step.sh 'old=/tmp/grl-old' 'new1=target/release/grl --threads 1'
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
short=5 long=25
if [ "${1:-}" = --rounds ]; then rounds=$2; shift 2; fi
if [ "${1:-}" = --steps ]; then short=$2 long=$3; shift 3; fi
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--steps SHORT LONG] 'LABEL=GRL [ARGS...]' ..." >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# seconds for `steps` steps of `grl train` with the given command line
time_steps() {
  local steps=$1; shift
  rm -rf "$scratch/run"
  local start end
  start=$(date +%s.%N)
  "$@" train --config models/denoise.json --degradation noise:25 --batch 12 --patch 32 \
    --steps "$steps" --val-every 1000 --run "$scratch/run" -o "$scratch/out.safetensors" \
    --name bench > "$scratch/log" 2>&1 || { echo "failed: $* (see below)" >&2; cat "$scratch/log" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

for round in $(seq 1 "$rounds"); do
  for case in "$@"; do
    label=${case%%=*}
    read -r -a cmd <<< "${case#*=}"
    t_short=$(time_steps "$short" "${cmd[@]}")
    t_long=$(time_steps "$long" "${cmd[@]}")
    printf 'round %d  %-10s %.3f s per step  (%d steps %.1f s, %d steps %.1f s)\n' \
      "$round" "$label" "$(echo "($t_long - $t_short) / ($long - $short)" | bc -l)" "$short" "$t_short" "$long" "$t_long"
  done
done

#!/usr/bin/env bash
# How each phase's time grows when the policy doubles, for docs/performance.md: runs
# the `phase_times` example (one build and one verify in a fresh process, each phase
# timed once) on the synth policy of N and of 2N segments, for each target, and
# prints the fastest of RUNS runs of each phase and the ratio, by the wall clock and
# by CPU time.
#
#   bash compiler/benches/doubling.sh              # 10000 against 20000 segments
#   bash compiler/benches/doubling.sh 1000         # 1000 against 2000
#   RUNS=15 OUT_BASE=/tmp bash compiler/benches/doubling.sh
#
# The build is written under OUT_BASE (default /dev/shm, a tmpfs: the disk's own
# behaviour is not segc's; see docs/performance.md on ext4). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-10000}
runs=${RUNS:-9}
out_base=${OUT_BASE:-/dev/shm}

cargo build --quiet --release --example synth --example phase_times
synth=$PWD/target/release/examples/synth
phase_times=$PWD/target/release/examples/phase_times
work=$(mktemp -d)
out=$(mktemp -u -p "$out_base" segc-doubling.XXXXXX)
trap 'rm -rf "$work" "$out"' EXIT

for size in "$n" $((2 * n)); do
  "$synth" --segments "$size" --namespaces $((size / 100 > 0 ? size / 100 : 1)) --edges-per-segment 5 \
    --exposures $((size / 10)) --seed 1 >"$work/s$size.seg"
done
# The sizes take turns, so that both see the machine in the same states (the page
# cache, memory left fragmented by the previous run, other load).
for _ in $(seq "$runs"); do
  for target in prod edge; do
    for size in "$n" $((2 * n)); do
      rm -rf "$out"
      "$phase_times" "$work/s$size.seg" --target "$target" --out "$out" | sed "s/^/$size $target /"
    done
  done
done >"$work/times"

echo "| phase | target | $n segments (ms) | $((2 * n)) segments (ms) | ratio | CPU $n (ms) | CPU $((2 * n)) (ms) | CPU ratio |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
# Fastest run of each (size, target, phase), in the order the phases ran: wall clock,
# and CPU time (user + kernel, every thread) on its own.
awk -v n="$n" '
  { key = $2 " " $3; cpu = $5 + $6
    if (!(($1, key) in t) || $4 < t[$1, key]) t[$1, key] = $4
    if (!(($1, key) in c) || cpu < c[$1, key]) c[$1, key] = cpu
    if (!(key in seen)) { seen[key] = 1; order[++count] = key } }
  END {
    for (i = 1; i <= count; i++) {
      split(order[i], k, " "); a = t[n, order[i]]; b = t[2 * n, order[i]]
      ca = c[n, order[i]]; cb = c[2 * n, order[i]]
      printf "| %s | %s | %.1f | %.1f | %.2f× | %.1f | %.1f | %.2f× |\n", k[2], k[1], a, b, b / a, ca, cb, (ca > 0 ? cb / ca : 0)
    }
  }' "$work/times"

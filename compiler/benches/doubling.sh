#!/usr/bin/env bash
# How each phase's time grows when the policy doubles, for docs/performance.md: runs
# the `phase_times` example (one build and one verify in a fresh process, each phase
# timed once) on the synth policy of N and of 2N segments, for each target, and
# prints the fastest of RUNS runs of each phase (each run after an unmeasured one of
# the same size) and the ratio, by the wall clock and by user CPU time, and the median
# time each phase spent in the kernel.
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
# cache, other load). Each measured run follows an unmeasured one of the same size and
# target: what a run costs the kernel depends on how much memory the run before it
# left warm (docs/performance.md, "Memory the host takes back"), and right after a
# smaller run the larger size would find too little of it.
for _ in $(seq "$runs"); do
  for target in prod edge; do
    for size in "$n" $((2 * n)); do
      for measured in false true; do
        rm -rf "$out"
        if $measured; then
          "$phase_times" "$work/s$size.seg" --target "$target" --out "$out" | sed "s/^/$size $target /"
        else
          "$phase_times" "$work/s$size.seg" --target "$target" --out "$out" >/dev/null
        fi
      done
    done
  done
done >"$work/times"

echo "| phase | target | $n (ms) | $((2 * n)) (ms) | ratio | user CPU ratio | kernel $n (ms) | kernel $((2 * n)) (ms) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
# Per (size, target, phase), in the order the phases ran: the fastest wall time, the
# least user CPU time (every thread) and the median kernel time, which is where this
# machine varies most from run to run (zeroing fresh memory; file system calls).
awk -v n="$n" '
  { key = $2 " " $3
    if (!(($1, key) in t) || $4 < t[$1, key]) t[$1, key] = $4
    if (!(($1, key) in u) || $5 < u[$1, key]) u[$1, key] = $5
    kernel[$1, key, ++runs[$1, key]] = $6
    if (!(key in seen)) { seen[key] = 1; order[++count] = key } }
  function median(size, key,    m, i, j, v, x) {
    m = runs[size, key]
    for (i = 1; i <= m; i++) v[i] = kernel[size, key, i]
    for (i = 2; i <= m; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
    return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= count; i++) {
      key = order[i]; split(key, k, " ")
      a = t[n, key]; b = t[2 * n, key]; ua = u[n, key]; ub = u[2 * n, key]
      # The kernel charges CPU time by the clock tick (4 ms here): a ratio of less than
      # 100 ms of it moves by a quarter from one run to the next.
      user = (ua >= 100 ? sprintf("%.2f×", ub / ua) : "–")
      printf "| %s | %s | %.1f | %.1f | %.2f× | %s | %.1f | %.1f |\n", k[2], k[1], a, b, b / a,
        user, median(n, key), median(2 * n, key)
    }
  }' "$work/times"

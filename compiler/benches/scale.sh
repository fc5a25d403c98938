#!/usr/bin/env bash
# Whole-command figures for docs/performance.md: wall time and peak RSS of
# `segc check`, `segc build` (into an empty directory) and `segc verify`, for each
# target of the synth policy, at several sizes. Best of three runs.
#
#   bash compiler/benches/scale.sh                 # 1000 2000 10000 20000 segments
#   bash compiler/benches/scale.sh 10000           # one size
#
# Needs GNU time (/usr/bin/time). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 2000 10000 20000)
runs=${RUNS:-3}

cargo build --quiet --release --bin segc --example synth
segc=$PWD/target/release/segc
synth=$PWD/target/release/examples/synth
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# best COMMAND...: runs the command $runs times (with `prepare` before
# each), prints "seconds peak-MB" of the fastest run.
best() {
  local best_s="" best_kb="" s kb
  for _ in $(seq "$runs"); do
    prepare
    { /usr/bin/time -o "$work/time" -f "%e %M" "$@" >/dev/null 2>&1; } || { echo "failed: $*" >&2; exit 1; }
    read -r s kb <"$work/time"
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s best_kb=$kb; fi
  done
  echo "$best_s $((best_kb / 1024))"
}
prepare() { :; }

echo "| segments | allows | command | target | objects | seconds | peak RSS (MB) |"
echo "|---:|---:|---|---|---:|---:|---:|"
for n in "${sizes[@]}"; do
  policy=$work/s$n.seg
  "$synth" --segments "$n" --namespaces $((n / 100 > 0 ? n / 100 : 1)) --edges-per-segment 5 \
    --exposures $((n / 10)) --seed 1 >"$policy"
  allows=$(grep -c '^allow' "$policy")
  prepare() { :; }
  read -r s mb < <(best "$segc" check "$policy")
  echo "| $n | $allows | check | | | $s | $mb |"
  for target in prod edge; do
    out=$work/out-$n-$target
    prepare() { rm -rf "$out"; }
    read -r s mb < <(best "$segc" build "$policy" --target "$target" -o "$out")
    objects=$(find "$out" -name '*.yaml' | wc -l)
    echo "| $n | $allows | build | $target | $objects | $s | $mb |"
    prepare() { :; }
    read -r s mb < <(best "$segc" verify "$policy" --target "$target" "$out")
    echo "| $n | $allows | verify | $target | $objects | $s | $mb |"
  done
done

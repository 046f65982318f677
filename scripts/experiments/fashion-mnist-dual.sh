#!/usr/bin/env bash
# The dual-model study of issue 16 (docs/dual.md, docs/results.md) on the runs of
# scripts/experiments/fashion-mnist-reproduction.sh (METHODS="at-moe advmoe rt-er std-moe jtdmoe",
# EXPERTS=2): for AT(MoE), AdvMoE and RT-ER at every seed, SA, RA, RA-E and RA-R under one PGD
# (advmoe eval --component model|experts|router); the dual model's SA/RA over alpha for the
# separately trained pair (standard MoE + RT-ER MoE of the same seed) and for the JTDMoE pair
# (advmoe sweep-alpha); then tools/dual_table.py writes OUT_DIR/dual/table.md and advmoe plot the
# trade-off figure.
#
# usage: scripts/experiments/fashion-mnist-dual.sh OUT_DIR [SEED...]   (default 0 1 2)
# Settings (environment): TEST_LIMIT (component attacks, default 2000), STEPS (50), SWEEP_LIMIT
# (1000), SWEEP_STEPS (20), ALPHAS (0,0.2,0.4,0.5,0.6,0.7,0.8,0.9,1), THREADS (0: all cores).
# Every result file is written once (atomically) and skipped when present: rerunning resumes.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SEED...]}
shift
seeds=${*:-0 1 2}
advmoe=${ADVMOE:-build/bin/advmoe}
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-0}
limit=${TEST_LIMIT:-2000}
steps=${STEPS:-50}
sweep_limit=${SWEEP_LIMIT:-1000}
sweep_steps=${SWEEP_STEPS:-20}
alphas=${ALPHAS:-0,0.2,0.4,0.5,0.6,0.7,0.8,0.9,1}
mkdir -p "$out/dual/components" "$out/dual/sweeps"
echo "$(date -u +%FT%TZ): seeds=$seeds test_limit=$limit steps=$steps sweep_limit=$sweep_limit" \
  "sweep_steps=$sweep_steps alphas=$alphas" >> "$out/dual/protocol.txt"
# The attack of the reproduction's final evaluation: PGD, eps 0.1, step 0.01.
attack=(--attack pgd --eps 0.1 --step-size 0.01 --threads "$threads")

for seed in $seeds; do
  for method in at-moe advmoe rt-er; do
    run="$out/$method-r0.5-n2-seed$seed"
    [ -f "$run/trained" ] || { echo "skip $run (not trained)"; continue; }
    for component in model experts router; do
      json="$out/dual/components/$method-seed$seed-$component.json"
      [ -f "$json" ] && continue
      echo "$(date -u +%T) $method seed $seed: --component $component"
      "$advmoe" eval --checkpoint "$run/last.h5" "${attack[@]}" --steps "$steps" \
        --test-limit "$limit" --component "$component" --json "$json" > "$json.log" 2>&1
    done
  done
  std="$out/std-moe-r0.5-n2-seed$seed" rob="$out/rt-er-r0.5-n2-seed$seed"
  jtd="$out/jtdmoe-r0.5-n2-seed$seed"
  sweep=(--alphas "$alphas" "${attack[@]}" --steps "$sweep_steps" --test-limit "$sweep_limit")
  json="$out/dual/sweeps/separate-seed$seed.json"
  if [ ! -f "$json" ] && [ -f "$std/trained" ] && [ -f "$rob/trained" ]; then
    echo "$(date -u +%T) separate pair seed $seed: sweep-alpha"
    "$advmoe" sweep-alpha --dual "$std/last.h5" "$rob/last.h5" "${sweep[@]}" --json "$json" \
      > "$json.log" 2>&1
  fi
  json="$out/dual/sweeps/jtdmoe-seed$seed.json"
  if [ ! -f "$json" ] && [ -f "$jtd/trained" ]; then
    echo "$(date -u +%T) JTDMoE seed $seed: sweep-alpha"
    "$advmoe" sweep-alpha --dual "$jtd/last.h5" "${sweep[@]}" --json "$json" > "$json.log" 2>&1
  fi
done
"$python" tools/dual_table.py "$out" > "$out/dual/table.md.tmp" && mv "$out/dual/table.md.tmp" "$out/dual/table.md"
"$advmoe" plot "$out"/dual/sweeps/*.json --out "$out/dual/figures" --kind alpha > /dev/null
cat "$out/dual/table.md"

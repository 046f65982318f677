#!/usr/bin/env bash
# The router/pathway analyses of docs/results.md on the checkpoints fashion-mnist-sweeps.sh made
# (run it with `dissection` and `table` first): advmoe dissect on theta, theta-bar,
# theta-double-bar, AT(MoE) and AdvMoE (Figs. 3-5), advmoe iou of AT(MoE) and AdvMoE pathways
# with AT(Sparse)'s mask (Fig. 6), and the figures.
# usage: scripts/experiments/fashion-mnist-analyses.sh OUT_DIR [SEED...]   (default seeds: 0 1 2)
# Writes OUT_DIR/analyses/<model>.dissect.json (+ .csv), <model>.iou.json and OUT_DIR/figures/.
# Attack: PGD-20, eps 0.1, step 0.01, one uniform start, on the first TEST_LIMIT (2000) test
# images: the sweeps' small protocol.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SEED...]}
shift
seeds=${*:-0 1 2}
advmoe=${ADVMOE:-build/bin/advmoe}
attack=(--eps 0.1 --step-size 0.01 --steps 20 --test-limit "${TEST_LIMIT:-2000}"
        --threads "${THREADS:-0}")
mkdir -p "$out/analyses" "$out/figures"
for seed in $seeds; do
  for model in theta-seed$seed theta-bar-seed$seed theta-double-bar-seed$seed \
               at-moe-r0.5-n2-seed$seed advmoe-r0.5-n2-seed$seed; do
    json=$out/analyses/$model.dissect.json
    [ -f "$json" ] || [ ! -f "$out/$model/done" ] ||
      "$advmoe" dissect --checkpoint "$out/$model/last.h5" "${attack[@]}" --json "$json" \
        --csv "$out/analyses/$model.dissect.csv" > "$out/analyses/$model.dissect.log" 2>&1
  done
  for model in at-moe-r0.5-n2-seed$seed advmoe-r0.5-n2-seed$seed; do
    json=$out/analyses/$model.iou.json
    [ -f "$json" ] || [ ! -f "$out/$model/done" ] || [ ! -f "$out/at-sparse-r0.5-seed$seed/done" ] ||
      "$advmoe" iou --checkpoint "$out/$model/last.h5" \
        --mask "$out/at-sparse-r0.5-seed$seed/last.h5" "${attack[@]}" --json "$json" \
        > "$out/analyses/$model.iou.log" 2>&1
  done
done
"$advmoe" plot "$out"/analyses/*seed0.dissect.json --out "$out/figures/seed0" || true
"$advmoe" plot "$out"/analyses/*seed0.iou.json --out "$out/figures/seed0" || true
[ -f "$out/summary.tsv" ] && "$advmoe" plot "$out/summary.tsv" --out "$out/figures"

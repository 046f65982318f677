#!/usr/bin/env bash
# The Fashion-MNIST comparison of docs/results.md: the paper's Table 1 methods on SmallCNN
# (S-Dense and MoE at r = 0.5, MoE with N = 2), TRADES objective everywhere, eps = 0.1, 3 epochs;
# SA and PGD-50 RA (step 0.01, one uniform random start) on the full 10k test set.
# usage: scripts/experiments/fashion-mnist-table1.sh OUT_DIR [SEED...]   (default seeds: 0 1)
# Each run goes to OUT_DIR/<name>-seed<S>/ (log.txt, metrics.csv, usage.csv, last.h5);
# OUT_DIR/summary.tsv collects name, seed, SA, RA, wall seconds.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SEED...]}
shift
seeds=${*:-0 1}
advmoe=${ADVMOE:-build/bin/advmoe}
common=(--dataset fashion-mnist --arch smallcnn --epochs 3 --lr 0.05 --epsilon 0.1 --attack-steps 2
        --beta 6 --eval-step-size 0.01 --final-pgd-steps 50)
declare -A runs=(
  [at-dense]="--method trades --variant dense"
  [at-sdense]="--method trades --variant sdense --ratio 0.5"
  [at-moe]="--method trades --variant moe --ratio 0.5 --experts 2"
  [advmoe]="--method advmoe --variant moe --ratio 0.5 --experts 2"
  [at-moe-balanced]="--method trades --variant moe --ratio 0.5 --experts 2 --balance-loss 0.05"
  [advmoe-balanced]="--method advmoe --variant moe --ratio 0.5 --experts 2 --balance-loss 0.05"
  [advmoe-reference-code]="--method advmoe --preset reference-code --variant moe --ratio 0.5 --experts 2"
)
order=${RUNS:-at-sdense at-moe advmoe at-moe-balanced advmoe-balanced advmoe-reference-code at-dense}
mkdir -p "$out"
for seed in $seeds; do
  for name in $order; do
    dir=$out/$name-seed$seed
    [ -f "$dir/done" ] && continue
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$advmoe" train "${common[@]}" ${runs[$name]} --seed "$seed" --out "$dir" > "$dir.log" 2>&1
    mv "$dir.log" "$dir/log.txt"
    seconds=$(( $(date +%s) - start ))
    sa=$(grep -oE "final test accuracy: [0-9.]+" "$dir/log.txt" | grep -oE "[0-9.]+$")
    ra=$(grep -oE "final robust accuracy: [0-9.]+" "$dir/log.txt" | grep -oE "[0-9.]+$")
    printf "%s\t%s\t%s\t%s\t%s\n" "$name" "$seed" "$sa" "$ra" "$seconds" >> "$out/summary.tsv"
    touch "$dir/done"
  done
done

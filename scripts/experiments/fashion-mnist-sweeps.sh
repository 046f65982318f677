#!/usr/bin/env bash
# The analyses of docs/results.md on Fashion-MNIST SmallCNN (issue 14): Table 1 with AT(Sparse),
# RA/SA vs model scale r (Fig. 7), vs the number of experts N (Fig. 8), and the router/backbone
# dissection protocol (Figs. 3-5). TRADES objective everywhere (beta 6, 2-step attack, eps 0.1).
#
# usage: scripts/experiments/fashion-mnist-sweeps.sh OUT_DIR table|scale|experts|dissection [SEED...]
#   (default seeds: 0 1 2). Each run goes to OUT_DIR/<name>/ (log.txt, metrics.csv, final.json,
#   last.h5); OUT_DIR/summary.tsv collects: name, method, seed, r, N, SA, RA, wall seconds.
#   Runs already done are skipped, so the script resumes where it stopped.
# Protocol: PROTOCOL=small (default: the first 20,000 training images, 2 epochs, SA and PGD-20 RA
# on the first 2,000 test images; minutes per run on 2 CPU cores) or PROTOCOL=paper-size (all
# 60,000 images, 3 epochs, SA and PGD-50 RA on the 10,000 test images).
# AT(Sparse) (HYDRA): AT(Dense) pretraining (the at-dense run of the same seed), then one epoch
# of pruning (scores only) and the protocol's epochs of finetuning (kept weights only); its keep
# ratio is the default, one MoE pathway's at r (structured masks: r of the filters).
# Other datasets: DATASET=cifar10 ARCH=resnet18 (and DATA_DIR) with the same layout.
# Grids: SCALES (default "0.2 0.5 0.8") and EXPERTS (default "2 4 8"). Several copies of the
# script may share OUT_DIR: a run in progress (OUT_DIR/<name>.lock) is left to its owner.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR table|scale|experts|dissection [SEED...]}
what=${2:?usage: $0 OUT_DIR table|scale|experts|dissection [SEED...]}
shift 2
seeds=${*:-0 1 2}
advmoe=${ADVMOE:-build/bin/advmoe}
threads=${THREADS:-0}
if [ "${PROTOCOL:-small}" = paper-size ]; then
  budget=()
  epochs=3 pgd=50
else
  budget=(--train-limit 20000 --test-limit 2000)
  epochs=2 pgd=20
fi
common=(--dataset "${DATASET:-fashion-mnist}" --arch "${ARCH:-smallcnn}" --lr 0.05 --epsilon 0.1
        --attack-steps 2 --beta 6 --eval-step-size 0.01 --eval-pgd-steps 0 --threads "$threads"
        "${budget[@]}")
[ -n "${DATA_DIR:-}" ] && common+=(--data-dir "$DATA_DIR")
mkdir -p "$out"

# run NAME METHOD SEED R N ARGS...: one training run, recorded in summary.tsv. ARGS give the
# method, and --epochs and --final-pgd-steps when they differ from the protocol's.
run() {
  local name=$1 method=$2 seed=$3 r=$4 n=$5
  shift 5
  local dir=$out/$name
  [ -f "$dir/done" ] && return 0
  mkdir "$dir.lock" 2>/dev/null || return 0  # a failed run leaves its lock: remove it to retry
  mkdir -p "$dir"
  local start
  start=$(date +%s)
  local extra=()
  [[ " $* " == *" --epochs "* ]] || extra+=(--epochs "$epochs")
  [[ " $* " == *" --final-pgd-steps "* ]] || extra+=(--final-pgd-steps "$pgd")
  "$advmoe" train "${common[@]}" "${extra[@]}" --seed "$seed" --out "$dir" "$@" > "$dir/log.txt" 2>&1
  local sa ra
  sa=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['clean_accuracy'])" "$dir/final.json")
  ra=$(python3 -c "import json,sys; v=json.load(open(sys.argv[1]))['robust_accuracy']; print('' if v is None else v)" "$dir/final.json")
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$name" "$method" "$seed" "$r" "$n" "$sa" "$ra" \
    $(( $(date +%s) - start )) >> "$out/summary.tsv"
  touch "$dir/done"
  rmdir "$dir.lock"
}

# method NAME SEED R N: one of the compared methods at scale r with N experts.
method() {
  local m=$1 seed=$2 r=$3 n=$4
  case $m in
    at-dense) run "at-dense-seed$seed" at-dense "$seed" 1 0 --method trades --variant dense ;;
    at-sdense) run "at-sdense-r$r-seed$seed" at-sdense "$seed" "$r" 0 --method trades \
                 --variant sdense --ratio "$r" ;;
    at-moe) run "at-moe-r$r-n$n-seed$seed" at-moe "$seed" "$r" "$n" --method trades \
              --variant moe --ratio "$r" --experts "$n" ;;
    advmoe) run "advmoe-r$r-n$n-seed$seed" advmoe "$seed" "$r" "$n" --method advmoe \
              --variant moe --ratio "$r" --experts "$n" ;;
    at-sparse)
      method at-dense "$seed" 1 0
      run "at-sparse-prune-r$r-seed$seed" at-sparse-prune "$seed" "$r" 0 --method trades \
        --variant sparse --phase prune --ratio "$r" --epochs 1 --final-pgd-steps 0 \
        --init-from "$out/at-dense-seed$seed/last.h5"
      run "at-sparse-r$r-seed$seed" at-sparse "$seed" "$r" 0 --method trades --variant sparse \
        --phase finetune --ratio "$r" \
        --init-from "$out/at-sparse-prune-r$r-seed$seed/last.h5" ;;
  esac
}

for seed in $seeds; do
  case $what in
    table)
      for m in at-sdense at-moe advmoe at-sparse at-dense; do method $m "$seed" 0.5 2; done ;;
    scale)
      for r in ${SCALES:-0.2 0.5 0.8}; do
        for m in at-sdense at-sparse at-moe advmoe; do method $m "$seed" $r 2; done
      done ;;
    experts)
      for n in ${EXPERTS:-2 4 8}; do
        for m in at-moe advmoe; do method $m "$seed" 0.5 $n; done
      done ;;
    dissection)
      # theta: standard MoE; theta-bar: AT on the routers only (backbone fixed at theta);
      # theta-double-bar: then AT on the backbone only (routers fixed at theta-bar).
      run "theta-seed$seed" standard "$seed" 0.5 2 --method standard --variant moe --ratio 0.5 \
        --experts 2
      run "theta-bar-seed$seed" routers-at "$seed" 0.5 2 --method trades --variant moe --ratio 0.5 \
        --experts 2 --train-groups router --epochs 1 --init-from "$out/theta-seed$seed/last.h5"
      run "theta-double-bar-seed$seed" backbone-at "$seed" 0.5 2 --method trades --variant moe \
        --ratio 0.5 --experts 2 --train-groups backbone --epochs 1 \
        --init-from "$out/theta-bar-seed$seed/last.h5" ;;
    *) echo "unknown analysis '$what' (table, scale, experts, dissection)" >&2; exit 2 ;;
  esac
done

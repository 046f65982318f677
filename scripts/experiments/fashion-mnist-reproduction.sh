#!/usr/bin/env bash
# The reproduction that decides (issue 15, docs/results.md): the paper's Table 1 methods on real
# Fashion-MNIST, SmallCNN, r = 0.5, TRADES objective (beta 6, 2-step attack, eps 0.1) for every
# adversarial method, at several seeds and N = 2 and 4 experts, every MoE with the default
# healthy routing (docs/moe.md). SA and PGD-50 RA (step 0.01) on the whole test set from training,
# then the AutoAttack cascade (advmoe eval --attack aa) on the whole test set. Then
# tools/reproduction_table.py writes OUT_DIR/table.md: means, standard deviations, parameters and
# per-sample MACs (pathway and router) per row, and the paired per-seed differences AdvMoE - AT(MoE)
# and AdvMoE - AT(S-Dense) with 95% t confidence intervals.
#
# usage: scripts/experiments/fashion-mnist-reproduction.sh OUT_DIR [SEED...]   (default 0 1 2 3 4)
#
# Settings (environment): EPOCHS (10), EXPERTS ("2 4"), AA (aa | aa-fast | none; default aa),
# METHODS (default "at-dense at-sdense at-moe advmoe at-sparse"; a subset runs only those; also
# rt-er, jtdmoe and std-moe, a standard-trained MoE, for the dual-model study of scripts/experiments/
# fashion-mnist-dual.sh),
# THREADS (0: all cores), PROTOCOL=quick for a smaller, clearly labelled preliminary run (the
# first 20,000 training images, 3 epochs, the first 2,000 test images; AA on the first 500).
# AT(Sparse) (HYDRA) = the seed's AT(Dense) run, one epoch of pruning (scores only, keep r of the
# filters), EPOCHS epochs of finetuning (kept weights only). AT(S-Dense) at r = 0.5 has exactly
# the MoE pathway's MACs on SmallCNN (advmoe flops prints the budget-matched S-Dense ratio; the
# table shows both), so it is the budget-matched baseline here.
#
# Resumable: a finished step leaves a marker; a training run killed part-way continues from its
# last.h5 (--resume), an AutoAttack evaluation from its state file. Several copies may share
# OUT_DIR (each step is locked by its owner's PID; a dead owner's lock is taken over).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SEED...]}
shift
seeds=${*:-0 1 2 3 4}
advmoe=${ADVMOE:-build/bin/advmoe}
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-0}
epochs=${EPOCHS:-10}
aa=${AA:-aa}
budget=() aa_budget=()
if [ "${PROTOCOL:-full}" = quick ]; then
  epochs=${EPOCHS:-3}
  budget=(--train-limit 20000 --test-limit 2000)
  aa_budget=(--test-limit 500)
fi
common=(--dataset fashion-mnist --arch smallcnn --lr 0.05 --epsilon 0.1 --attack-steps 2 --beta 6
        --eval-step-size 0.01 --eval-pgd-steps 0 --final-pgd-steps 50 --threads "$threads"
        "${budget[@]}")
mkdir -p "$out"
# One line per invocation: a directory filled by several invocations says what each one ran.
printf '%s: protocol=%s epochs=%s aa=%s seeds=%s experts=%s methods=%s\n' "$(date -u +%FT%TZ)" \
  "${PROTOCOL:-full}" "$epochs" "$aa" "$seeds" "${EXPERTS:-2 4}" \
  "${METHODS:-at-dense at-sdense at-moe advmoe at-sparse}" >> "$out/protocol.txt"

# lock NAME: 0 when this process now owns OUT_DIR/NAME.lock (free, or its owner is dead).
lock() {
  local dir=$out/$1.lock
  if ! mkdir "$dir" 2>/dev/null; then
    local owner
    owner=$(cat "$dir/pid" 2>/dev/null || true)
    if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then return 1; fi
    echo "taking over the stale lock of $1 (owner ${owner:-unknown} is gone)" >&2
  fi
  echo $$ > "$dir/pid"
}
unlock() { rm -rf "$out/$1.lock"; }

# train NAME ARGS...: one training run into OUT_DIR/NAME (resumed when interrupted).
train() {
  local name=$1
  shift
  local dir=$out/$name
  [ -f "$dir/trained" ] && return 0
  lock "$name" || return 0
  local start
  start=$(date +%s)
  if [ -f "$dir/last.h5" ]; then
    "$advmoe" train --resume "$dir" --threads "$threads" >> "$dir/log.txt" 2>&1
  else
    mkdir -p "$dir"
    local extra=()
    [[ " $* " == *" --epochs "* ]] || extra+=(--epochs "$epochs")
    "$advmoe" train "${common[@]}" "${extra[@]}" --out "$dir" "$@" > "$dir/log.txt" 2>&1
  fi
  echo $(( $(date +%s) - start )) >> "$dir/train_seconds"
  touch "$dir/trained"
  unlock "$name"
}

# autoattack NAME: the AutoAttack cascade on the run's last checkpoint (resumable state file).
autoattack() {
  local name=$1 dir=$out/$1
  [ "$aa" = none ] || [ -f "$dir/aa.json" ] && return 0
  lock "$name-aa" || return 0
  local start
  start=$(date +%s)
  "$advmoe" eval --checkpoint "$dir/last.h5" --attack "$aa" --eps 0.1 --threads "$threads" \
    "${aa_budget[@]}" --state "$dir/aa-state.h5" --json "$dir/aa.json.tmp" >> "$dir/aa-log.txt" 2>&1
  mv "$dir/aa.json.tmp" "$dir/aa.json"
  echo $(( $(date +%s) - start )) > "$dir/aa_seconds"
  unlock "$name-aa"
}

# flops NAME ARGS...: parameters and per-sample MACs of one architecture, for the table.
flops() {
  local file=$out/flops-$1.json
  shift
  [ -f "$file" ] || "$advmoe" flops --arch smallcnn --image-size 28 --channels 1 "$@" --json "$file" > /dev/null
}

flops dense --variant dense
flops sdense-r0.5 --variant sdense --ratio 0.5
for n in ${EXPERTS:-2 4}; do flops moe-r0.5-n$n --variant moe --ratio 0.5 --experts "$n"; done

methods=" ${METHODS:-at-dense at-sdense at-moe advmoe at-sparse} "
wanted() { [[ "$methods" == *" $1 "* ]]; }

for seed in $seeds; do
  s=(--seed "$seed")
  if wanted at-dense; then
    train "at-dense-seed$seed" --method trades --variant dense "${s[@]}"
    autoattack "at-dense-seed$seed"
  fi
  if wanted at-sdense; then
    train "at-sdense-r0.5-seed$seed" --method trades --variant sdense --ratio 0.5 "${s[@]}"
    autoattack "at-sdense-r0.5-seed$seed"
  fi
  for n in ${EXPERTS:-2 4}; do
    if wanted at-moe; then
      train "at-moe-r0.5-n$n-seed$seed" --method trades --variant moe --ratio 0.5 --experts "$n" "${s[@]}"
      autoattack "at-moe-r0.5-n$n-seed$seed"
    fi
    if wanted advmoe; then
      train "advmoe-r0.5-n$n-seed$seed" --method advmoe --variant moe --ratio 0.5 --experts "$n" "${s[@]}"
      autoattack "advmoe-r0.5-n$n-seed$seed"
    fi
    # Issue 16 (docs/dual.md): RT-ER, and a standard-trained MoE, the dual model's standard half.
    if wanted rt-er; then
      train "rt-er-r0.5-n$n-seed$seed" --method rt-er --variant moe --ratio 0.5 --experts "$n" "${s[@]}"
      autoattack "rt-er-r0.5-n$n-seed$seed"
    fi
    if wanted std-moe; then
      train "std-moe-r0.5-n$n-seed$seed" --method standard --variant moe --ratio 0.5 --experts "$n" "${s[@]}"
    fi
    if wanted jtdmoe; then
      train "jtdmoe-r0.5-n$n-seed$seed" --method jtdmoe --alpha 0.7 --variant moe --ratio 0.5 --experts "$n" "${s[@]}"
    fi
  done
  if wanted at-sparse && [ -f "$out/at-dense-seed$seed/trained" ]; then
    train "at-sparse-prune-r0.5-seed$seed" --method trades --variant sparse --phase prune \
      --ratio 0.5 --epochs 1 --final-pgd-steps 0 --init-from "$out/at-dense-seed$seed/last.h5" "${s[@]}"
    train "at-sparse-r0.5-seed$seed" --method trades --variant sparse --phase finetune --ratio 0.5 \
      --init-from "$out/at-sparse-prune-r0.5-seed$seed/last.h5" "${s[@]}"
    autoattack "at-sparse-r0.5-seed$seed"
  fi
  "$python" tools/reproduction_table.py "$out" > "$out/table.md.tmp" && mv "$out/table.md.tmp" "$out/table.md"
done
"$python" tools/reproduction_table.py "$out" > "$out/table.md.tmp" && mv "$out/table.md.tmp" "$out/table.md"
cat "$out/table.md"

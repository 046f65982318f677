#!/usr/bin/env bash
# End-to-end adversarial command line on a small Fashion-MNIST subset: an AdvMoE run reports the
# per-epoch quick RA and the final SA/RA, resumes, and `advmoe eval --attack ...` on its
# checkpoint reproduces the final RA exactly (same seed, batch and attack); FGSM, restarts and
# the reference-code preset run; bad attack options exit with code 2.
# usage: adversarial_run.sh path/to/advmoe
set -euo pipefail
advmoe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "adversarial_run.sh: $*" >&2; exit 1; }

quick=(--test-limit 256 --width 0.25 --variant moe --ratio 0.5 --epsilon 0.1
       --eval-limit 128 --eval-step-size 0.01 --seed 3)
out=$("$advmoe" train --method advmoe "${quick[@]}" --train-limit 512 --final-pgd-steps 5 \
      --out "$dir/run" 2>&1) || fail "train failed: $out"
grep -q "robust accuracy [0-9.]*% (PGD-10 L-inf eps 0.1 step 0.01.*first 128 test images)" <<<"$out" ||
  fail "no per-epoch robust accuracy: $out"
final=$(grep -oE "final robust accuracy: [0-9.]+% on 256 images" <<<"$out") || fail "no final RA: $out"
ra=$(grep -oE "[0-9.]+%" <<<"$final")

out=$("$advmoe" eval --checkpoint "$dir/run/last.h5" --test-limit 256 --batch-size 128 --seed 3 \
      --attack pgd --steps 5 --eps 1/10 --step-size 0.01 2>&1) || fail "eval failed: $out"
grep -q "robust accuracy (RA) $ra, .*256 images" <<<"$out" ||
  fail "eval RA differs from the training run's final RA $ra: $out"
grep -q "expert usage (adversarial test inputs)" <<<"$out" || fail "eval: no expert usage: $out"

out=$("$advmoe" eval --checkpoint "$dir/run/last.h5" --test-limit 256 --attack pgd --steps 3 \
      --restarts 2 --norm l2 --eps 1.5 --step-size 0.5 2>&1) || fail "L2 eval failed: $out"
grep -q "PGD-3 L2 eps 1.5 step 0.5, 2 restarts" <<<"$out" || fail "L2 eval output: $out"
out=$("$advmoe" eval --checkpoint "$dir/run/last.h5" --test-limit 256 --attack fgsm --eps 8/255 2>&1) ||
  fail "FGSM eval failed: $out"
grep -q "FGSM eps 0.03137" <<<"$out" || fail "FGSM eval output: $out"

out=$("$advmoe" train --resume "$dir/run" --epochs 2 2>&1) || fail "resume failed: $out"
grep -q "epoch 2/2:" <<<"$out" || fail "resume did not train epoch 2: $out"
[ "$(wc -l < "$dir/run/metrics.csv")" -eq 3 ] || fail "metrics.csv should have 2 rows"

out=$("$advmoe" train --method advmoe --preset reference-code "${quick[@]}" --train-limit 256 \
      --final-pgd-steps 0 --eval-pgd-steps 0 --out "$dir/reference" 2>&1) ||
  fail "reference-code preset failed: $out"
grep -q "epoch 1/1:" <<<"$out" || fail "reference-code output: $out"
out=$("$advmoe" inspect "$dir/reference/last.h5") || fail "inspect failed"
grep -q "router.linear.weight" <<<"$out" || fail "reference-code did not pick a global router: $out"

for bad in "--attack bim" "--eps 8/x" "--norm l1" "--restarts 0" "--attack-loss hinge"; do
  set +e
  # shellcheck disable=SC2086
  out=$("$advmoe" eval --checkpoint "$dir/run/last.h5" --attack pgd $bad 2>&1); code=$?
  set -e
  [ "$code" -eq 2 ] || fail "eval $bad gave exit code $code: $out"
done
echo "adversarial_run.sh: all checks passed"

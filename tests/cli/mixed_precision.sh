#!/usr/bin/env bash
# --precision bf16 end to end on the real Fashion-MNIST: SmallCNN TRADES trained for one epoch on
# the first 8,000 training images, once in fp32 and once in bf16 (same seed), then clean (SA) and
# PGD-20 robust accuracy (RA) on the first 1,000 test images. bf16 must end within 3 points of
# fp32 in both (the two runs round differently from the first step on, so they differ like two
# seeds would; the issue's real-run check, 0.5 points over three seeds on all 10,000 test images,
# is in docs/performance.md). Also: the run directory records the precision, a resume cannot
# change it, and a bad value is a usage error. On a CPU without AVX-512 BF16 the bf16 run must say
# that it fell back to fp32.
# usage: mixed_precision.sh ADVMOE
set -u
advmoe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "mixed_precision.sh: $*" >&2; exit 1; }
common=(--config "$(dirname "$0")/../../configs/fashion-mnist-smallcnn.ini" --variant dense
  --method trades --epsilon 0.1 --attack-steps 2 --beta 6 --eval-step-size 0.01 --eval-pgd-steps 0
  --final-pgd-steps 20 --train-limit 8000 --test-limit 1000 --threads 1 --seed 3)
for p in fp32 bf16; do
  "$advmoe" train "${common[@]}" --precision "$p" --out "$dir/$p" > "$dir/$p.log" 2>&1 ||
    { tail -20 "$dir/$p.log"; fail "$p training failed"; }
  grep -v '^train ' "$dir/$p.log" | tail -4
done
if grep -q avx512_bf16 /proc/cpuinfo; then
  grep -q "no AVX-512 BF16" "$dir/bf16.log" && fail "bf16 fell back to fp32 on a CPU with AVX-512 BF16"
else
  grep -q "no AVX-512 BF16 instructions" "$dir/bf16.log" || fail "no fallback message without AVX-512 BF16"
fi
grep -q "^precision *= *bf16" "$dir/bf16/config.ini" || fail "config.ini does not record precision = bf16"
/usr/bin/python3 - "$dir/fp32/final.json" "$dir/bf16/final.json" <<'END' || fail "bf16 accuracy too far from fp32"
import json, sys
f32, bf16 = (json.load(open(p)) for p in sys.argv[1:3])
for key in ("clean_accuracy", "robust_accuracy"):
    a, b = 100 * f32[key], 100 * bf16[key]
    print(f"{key}: fp32 {a:.2f}%  bf16 {b:.2f}%  difference {b - a:+.2f} points")
    assert a > (60 if key == "clean_accuracy" else 40), (key, a)
    assert abs(a - b) <= 3, (key, a, b)
END
out=$("$advmoe" train --resume "$dir/bf16" --epochs 2 --precision fp32 2>&1) && fail "resume changed the precision"
grep -q "precision" <<<"$out" || { echo "$out"; fail "the resume refusal does not name precision"; }
out=$("$advmoe" bench --precision fp16 2>&1) && fail "--precision fp16 accepted"
grep -q "fp32 or bf16" <<<"$out" || { echo "$out"; fail "bad --precision not explained"; }
echo "mixed_precision.sh: ok"

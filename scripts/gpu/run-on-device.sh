#!/usr/bin/env bash
# Runs on a lent GPU machine with the bundle from scripts/gpu/package.sh (builds nothing there):
# the GPU test suite, `advmoe bench --device cuda` on ResNet-18 dense / S-Dense / MoE (r = 0.5,
# N = 2, batch 128, 32x32x3) for standard, TRADES and AdvMoE iterations and PGD-50 evaluation,
# and the same with PyTorch eager (tools/pytorch_bench.py). Logs and summary.md go to $OUT; the
# summary table is printed last.
#   scripts/gpu/run-on-device.sh [BUNDLE] [--quick]     (--quick: 3 timed iterations)
set -uo pipefail
cd "$(dirname "$0")/../.."
bundle=gpu-bundle
iters=10
for arg in "$@"; do
  case "$arg" in
    --quick) iters=3 ;;
    *) bundle="$arg" ;;
  esac
done
out="${OUT:-/tmp/advmoe-gpu}"
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/steps.log"; }

# Libraries: ours from the bundle; cuDNN and cuBLAS from PyTorch's nvidia wheels.
sys=/tmp/advmoe-sys
rm -rf "$sys" && mkdir -p "$sys" && tar -C "$sys" -xJf "$bundle/lib.tar.xz"
nvidia_dirs=$(python3 - <<'PY'
import os, sys
found = set()
for base in sys.path:
    root = os.path.join(base, "nvidia")
    if not os.path.isdir(root):
        continue
    for dirpath, _, files in os.walk(root):
        if any(f.startswith(("libcudnn.so", "libcublas.so", "libcublasLt.so", "libnccl.so"))
               for f in files):
            found.add(dirpath)
print(":".join(sorted(found)))
PY
)
log "nvidia wheel libraries: ${nvidia_dirs:-none found}"
export LD_LIBRARY_PATH="$sys/lib:${nvidia_dirs}:${LD_LIBRARY_PATH:-}"
advmoe=("$bundle/bin/advmoe")
test_cuda=("$bundle/bin/test_cuda")
if ! "${advmoe[@]}" --help > /dev/null 2> "$out/loader.log"; then
  # The device's glibc is older than the build machine's: start through the carried loader.
  log "system loader failed ($(head -c 300 "$out/loader.log")); using the bundle's loader"
  loader=("$sys/glibc/ld-linux-x86-64.so.2" --library-path "$sys/glibc:$LD_LIBRARY_PATH")
  advmoe=("${loader[@]}" "$bundle/bin/advmoe")
  test_cuda=("${loader[@]}" "$bundle/bin/test_cuda")
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

log "GPU test suite"
"${test_cuda[@]}" --log_level=test_suite > "$out/test_cuda.log" 2>&1
tests_rc=$?
log "test_cuda exit code $tests_rc ($(grep -c 'error:' "$out/test_cuda.log") failed checks)"

# Data-parallel: the NCCL all-reduce path with the ranks the machine has (docs/distributed.md);
# needs an MPI launcher there (the bundle carries Open MPI's library, not mpirun).
if command -v mpirun > /dev/null; then
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
  log "data-parallel bench over NCCL, $gpus rank(s)"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np "${gpus:-1}" \
    "${advmoe[@]}" bench --device cuda --arch resnet18 --variant moe --ratio 0.5 \
    --method advmoe --batch-size 128 --iters "$iters" > "$out/bench-nccl.log" 2>&1
  log "nccl bench exit code $? ($(grep -o 'data-parallel:.*' "$out/bench-nccl.log" | head -1))"
else
  log "no mpirun on the device: the NCCL all-reduce was not run"
fi

# advmoe: the train column of `advmoe bench` (4th field) and the pgd-50 column (8th).
declare -A ours
bench() {  # variant ratio method [pgd-steps]
  local variant=$1 ratio=$2 method=$3 pgd=${4:-0}
  local name="bench-$variant-$method"
  "${advmoe[@]}" bench --device cuda --arch resnet18 --variant "$variant" --ratio "$ratio" \
    --experts 2 --batch-size 128 --method "$method" --pgd-steps "$pgd" --iters "$iters" \
    > "$out/$name.log" 2>&1
  local row
  row=$(grep -E "^\s+resnet18" "$out/$name.log" | tail -1)
  ours[$variant,$method]=$(echo "$row" | awk '{print $4}')
  [ "$pgd" -gt 0 ] && ours[$variant,pgd50]=$(echo "$row" | awk '{print $8}')
  log "advmoe $variant $method: ${ours[$variant,$method]:-failed} images/s"
}
for v in "dense 1" "sdense 0.5" "moe 0.5"; do
  set -- $v
  bench "$1" "$2" standard 50
  bench "$1" "$2" trades
done
bench moe 0.5 advmoe

log "PyTorch eager"
python3 tools/pytorch_bench.py --iters "$iters" --csv "$out/pytorch.csv" > "$out/pytorch.log" 2>&1
declare -A theirs
if [ -f "$out/pytorch.csv" ]; then
  while IFS=, read -r variant method rate; do theirs[$variant,$method]=$rate; done \
    < <(tail -n +2 "$out/pytorch.csv")
fi

{
  echo "## advmoe vs PyTorch eager, ResNet-18 32x32x3, batch 128, TF32 off ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  echo
  echo "GPU test suite: exit code $tests_rc"
  echo
  echo "| variant | method | advmoe images/s | PyTorch images/s | ratio |"
  echo "|---|---|---|---|---|"
  for variant in dense sdense moe; do
    for method in standard trades advmoe pgd50; do
      a=${ours[$variant,$method]:-}
      p=${theirs[$variant,$method]:-}
      [ -z "$a$p" ] && continue
      ratio=$(awk -v a="${a:-0}" -v p="${p:-0}" 'BEGIN { if (a > 0 && p > 0) printf "%.2f", a / p; else print "-" }')
      echo "| $variant | $method | ${a:--} | ${p:--} | $ratio |"
    done
  done
} > "$out/summary.md"
cat "$out/summary.md"

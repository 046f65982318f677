#!/usr/bin/env bash
# The defect-class checks CI runs after the test suite: the test suite built with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer (build-sanitize/, CUDA off), then each fuzz
# target for a fixed time (scripts/fuzz.sh). Extra arguments: seconds per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -f build-sanitize/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DADVMOE_SANITIZE=ON -DADVMOE_FUZZ=ON -DADVMOE_CUDA=OFF
fi
cmake --build build-sanitize --parallel "$(nproc)"
# halt_on_error: the first report fails the test; UBSan prints the stack of each finding.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Every test but the two full-dataset accuracy runs (one Fashion-MNIST epoch each, 10-15 min
# under ASan): they execute the same trainer, attack and evaluation code that test_training,
# cli_adversarial_run and cli_run_directory run here on fewer images.
ctest --test-dir build-sanitize --output-on-failure --timeout 2400 \
  -E "^(test_cuda|main_job_advmoe_fashion_mnist|standard_training_fashion_mnist_88_percent)$"
scripts/fuzz.sh "${1:-60}"

#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then train the small CNN on the
# real Fashion-MNIST for one epoch and evaluate it on the 10k test images.
# Extra arguments go to `advmoe train` (e.g. --epochs 3).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/bin/advmoe train --dataset fashion-mnist --arch smallcnn --epochs 1 "$@"

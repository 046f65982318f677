#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then a short AdvMoE training of a
# SmallCNN mixture of experts on the real Fashion-MNIST (configs/main-job.ini: one epoch), and its
# clean and PGD-50 robust accuracy on the 10k test images. Extra arguments go to `advmoe train`
# and win over the config (e.g. --epochs 3, or --method standard --variant dense).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/bin/advmoe train --config configs/main-job.ini "$@"

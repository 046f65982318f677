#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 1200

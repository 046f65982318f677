#!/usr/bin/env bash
# End-to-end command line: --config (command line wins), run directory contents, --resume,
# inspect and eval, and config-file errors. usage: run_directory.sh path/to/advmoe
set -euo pipefail
advmoe=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "run_directory.sh: $*" >&2; exit 1; }

quick=(--train-limit 1024 --test-limit 256 --width 0.25)
out=$("$advmoe" train --config "$repo/configs/fashion-mnist-smallcnn.ini" --epochs 2 "${quick[@]}" \
      --out "$dir/run" 2>&1) || fail "train failed: $out"
# --epochs on the command line wins over the config file's epochs = 1.
grep -q "epoch 2/2:" <<<"$out" || fail "command-line --epochs did not win: $out"
for f in config.ini metrics.csv last.h5 best.h5; do [ -f "$dir/run/$f" ] || fail "missing $f"; done
grep -q "^epochs = 2$" "$dir/run/config.ini" || fail "config.ini lacks epochs = 2"
[ "$(wc -l < "$dir/run/metrics.csv")" -eq 3 ] || fail "metrics.csv should have a header and 2 rows"

out=$("$advmoe" train --resume "$dir/run" --epochs 3 2>&1) || fail "resume failed: $out"
grep -q "resumed .*last.h5 at epoch 2, step 16" <<<"$out" || fail "no resume line: $out"
grep -q "epoch 3/3:" <<<"$out" || fail "resume did not train epoch 3: $out"
grep -q "epoch 1/3:" <<<"$out" && fail "resume retrained epoch 1"

out=$("$advmoe" inspect "$dir/run/last.h5") || fail "inspect failed"
grep -q "epoch 3, step 24" <<<"$out" || fail "inspect: wrong epoch/step: $out"
grep -q "conv2.weight .*\[16, 8, 3, 3\]" <<<"$out" || fail "inspect: no OIHW conv2.weight: $out"
grep -q "parameters: " <<<"$out" || fail "inspect: no parameter count"

out=$("$advmoe" eval --checkpoint "$dir/run/best.h5" --test-limit 256) || fail "eval failed"
grep -q "clean accuracy (SA) .* 256 images" <<<"$out" || fail "eval output: $out"

printf 'bogus = 1\n' > "$dir/bad.ini"
set +e
out=$("$advmoe" train --config "$dir/bad.ini" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "unknown config key gave exit code $code"
grep -q "bad.ini.*bogus" <<<"$out" || fail "config error does not name file and key: $out"
set +e
out=$("$advmoe" eval --checkpoint "$dir/run/metrics.csv" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "eval of a non-checkpoint gave exit code $code"
grep -q "not an HDF5 file" <<<"$out" || fail "eval error: $out"
echo "run_directory.sh: all checks passed"

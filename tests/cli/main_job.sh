#!/usr/bin/env bash
# The README's main job (configs/main-job.ini: one epoch of AdvMoE on the real Fashion-MNIST),
# run exactly as scripts/main.sh runs it, into a temporary run directory. Passes when the clean
# accuracy (SA) reaches 70% and the PGD-50 robust accuracy (RA) 45% on the 10k test images
# (measured: SA 75.55%, RA 53.16%), the run directory holds the per-epoch robust accuracy, and no
# MoE layer collapsed: final.json's busiest-expert share of every layer is at most 90% on the clean
# and on the PGD-50 test images (the definition of docs/moe.md).
# usage: main_job.sh ADVMOE CONFIG
set -u
advmoe=$1 config=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "main_job.sh: $*" >&2; exit 1; }
output=$("$advmoe" train --config "$config" --out "$dir/run" 2>&1) || { echo "$output" | tail -20; fail "advmoe train failed"; }
echo "$output" | grep -v '^train ' | tail -12
grep -Eq "final test accuracy: (7[0-9]|8[0-9]|9[0-9])\.[0-9]+% on 10000 images" <<<"$output" ||
  fail "clean accuracy below 70%"
grep -Eq "final robust accuracy: (4[5-9]|[5-9][0-9])\.[0-9]+% on 10000 images \(PGD-50" <<<"$output" ||
  fail "PGD-50 robust accuracy below 45%"
grep -q "expert usage (adversarial test inputs)" <<<"$output" || fail "no expert usage reported"
row=$(sed -n 2p "$dir/run/metrics.csv")
ra=$(cut -d, -f6 <<<"$row")
[ "$ra" != "nan" ] && [ -n "$ra" ] || fail "metrics.csv has no per-epoch robust accuracy: $row"
/usr/bin/python3 - "$dir/run/final.json" <<'END' || fail "an MoE layer collapsed (busiest expert > 90%)"
import json, sys
final = json.load(open(sys.argv[1]))
for kind in ("busiest_clean", "busiest_adversarial"):
    shares = final[kind]
    assert len(shares) == 3, (kind, shares)
    print(kind, " ".join(f"{100 * s:.1f}%" for s in shares))
    assert all(s <= final["collapsed_threshold"] for s in shares), (kind, shares)
END
echo "main_job.sh: ok"

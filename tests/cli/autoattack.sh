#!/usr/bin/env bash
# advmoe eval with the AutoAttack cascade end to end on a tiny trained checkpoint (small budgets):
# the JSON and the --save-adversarial HDF5 file agree with each other and with the printed RA,
# h5py reads the file in its documented layout, and an evaluation interrupted by --max-batches and
# resumed from its --state file ends with the same JSON numbers.
# usage: autoattack.sh path/to/advmoe
set -euo pipefail
advmoe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$advmoe" train --train-limit 4096 --test-limit 128 --width 0.5 --batch-size 64 --variant moe \
  --ratio 0.5 --out "$dir/run" >"$dir/train.log" 2>&1 || { cat "$dir/train.log"; exit 1; }
budget=(--attack aa --eps 0.1 --test-limit 96 --batch-size 32 --apgd-iterations 10
        --fab-iterations 5 --target-classes 3 --square-queries 30 --router-grad ste)
"$advmoe" eval --checkpoint "$dir/run/last.h5" "${budget[@]}" --json "$dir/whole.json" \
  --save-adversarial "$dir/adv.h5" | tee "$dir/whole.log"
grep -q "robust accuracy (RA-AA" "$dir/whole.log"
grep -q "apgd-ce (router STE)" "$dir/whole.log"
# Interrupted twice, then finished, with one state file.
for limit in 2 3 -1; do
  "$advmoe" eval --checkpoint "$dir/run/last.h5" "${budget[@]}" --state "$dir/state.h5" \
    --max-batches "$limit" --json "$dir/resumed.json" >"$dir/resumed.log"
done
grep -q "resuming from" "$dir/resumed.log"
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
import h5py, numpy as np
d = sys.argv[1]
whole, resumed = (json.load(open(f"{d}/{n}.json")) for n in ("whole", "resumed"))
assert whole["finished"] and resumed["finished"], "unfinished evaluation"
for key in ("robust", "clean_correct", "robust_accuracy"):
    assert whole[key] == resumed[key], (key, whole[key], resumed[key])
assert [a["fooled"] for a in whole["attacks"]] == [a["fooled"] for a in resumed["attacks"]]
assert [a["name"] for a in whole["attacks"]][:2] == ["apgd-ce", "apgd-ce (router STE)"]
# Each attack runs on the points the earlier ones left robust.
left = whole["clean_correct"]
for a in whole["attacks"]:
    assert a["attacked"] == left, (a["name"], a["attacked"], left)
    left -= a["fooled"]
assert left == whole["robust"]
assert sum(whole["per_class"]["robust"]) == whole["robust"]
with h5py.File(f"{d}/adv.h5", "r") as f:
    images, fooled_by, robust = f["images"][...], f["fooled_by"][...], f["robust"][...]
    assert images.shape == (96, 28, 28, 1) and images.dtype == np.float32, images.shape
    assert images.min() >= 0 and images.max() <= 1
    assert robust.sum() == whole["robust"] and ((fooled_by == -1) == (robust == 1)).all()
    assert (fooled_by >= 0).sum() == sum(a["fooled"] for a in whole["attacks"])
    assert abs(f.attrs["robust_accuracy"] - whole["robust_accuracy"]) < 1e-9
    names = f.attrs["attacks"]
    names = names.decode() if isinstance(names, bytes) else names  # fixed-length string
    assert names.split(",")[0] == "apgd-ce", names
print("autoattack: RA", whole["robust_accuracy"], "resumed run identical")
PY

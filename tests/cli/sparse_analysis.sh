#!/usr/bin/env bash
# Issue 14 end to end on tiny real runs: HYDRA's dense -> prune -> finetune -> export (the compact
# model gives the masked model's accuracy and loss), dissect and iou JSON/CSV that add up, plots
# that are PNGs whose data files hold the input's numbers, and the bad inputs (exit 2 with a
# message). usage: sparse_analysis.sh path/to/advmoe
set -uo pipefail
advmoe=$1
py=/usr/bin/python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0

fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}
# expect CODE REGEX COMMAND...: exit CODE and a line matching REGEX.
expect() {
  local want=$1 pattern=$2
  shift 2
  local output code
  output=$(timeout 300 "$@" 2>&1)
  code=$?
  if [ "$code" -ne "$want" ] || ! grep -Eq -- "$pattern" <<<"$output"; then
    fail "$* -> exit $code (want $want), expected /$pattern/; output:"
    tail -5 <<<"$output" >&2
  fi
}

tiny=(--train-limit 256 --test-limit 200 --batch-size 64 --epochs 1 --eval-pgd-steps 0
      --final-pgd-steps 0 --threads 2)
expect 0 "final test accuracy" "$advmoe" train "${tiny[@]}" --out "$dir/dense"
expect 0 "16 score tensors|score tensors from its weights" "$advmoe" train "${tiny[@]}" \
  --variant sparse --phase prune --keep 0.5 --init-from "$dir/dense/last.h5" --out "$dir/prune"
# A run with frozen groups resumes (its checkpoint holds momentum for the scores only).
expect 0 "resumed .* at epoch 1" "$advmoe" train --resume "$dir/prune" --epochs 2
expect 0 "keep 0.5 of each layer's filters, as" "$advmoe" train "${tiny[@]}" --variant sparse \
  --phase finetune --init-from "$dir/prune/last.h5" --out "$dir/finetune"
expect 0 "sdense r=0.5" "$advmoe" export --checkpoint "$dir/finetune/last.h5" --compact \
  --out "$dir/compact.h5"
masked=$("$advmoe" eval --checkpoint "$dir/finetune/last.h5" --test-limit 200 2>&1 |
         grep -oE "clean accuracy \(SA\) [0-9.]+%, loss [0-9.]+")
compact=$("$advmoe" eval --checkpoint "$dir/compact.h5" --test-limit 200 2>&1 |
          grep -oE "clean accuracy \(SA\) [0-9.]+%, loss [0-9.]+")
[ -n "$masked" ] && [ "$masked" = "$compact" ] || fail "compact '$compact' vs masked '$masked'"
# The masks in the checkpoint: whole filters, half of each layer's kept.
$py - "$dir/finetune/last.h5" <<'PY' || fail "masks in the checkpoint"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
assert text(f.attrs["variant"]) == "sparse" and text(f.attrs["mask"]) == "structured"
assert f.attrs["keep"] == 0.5
assert sorted(f["masks"].keys()) == ["conv1", "conv2", "conv3", "conv4"], list(f["masks"].keys())
for name, filters in [("conv1", 32), ("conv2", 64), ("conv3", 128), ("conv4", 256)]:
    m = np.array(f["masks/" + name]).reshape(filters, -1)
    assert set(np.unique(m)) <= {0.0, 1.0}
    kept = m.max(axis=1)
    assert (m == kept[:, None]).all(), name + ": a filter is partly kept"
    assert kept.sum() == filters // 2, (name, kept.sum())
PY

# An MoE to dissect (N * r = 1: its experts split the sparse model's filters).
expect 0 "final test accuracy" "$advmoe" train "${tiny[@]}" --variant moe --ratio 0.5 \
  --out "$dir/moe"
expect 0 "router robustness" "$advmoe" dissect --checkpoint "$dir/moe/last.h5" --test-limit 100 \
  --eps 0.1 --step-size 0.02 --steps 3 --json "$dir/dissect.json" --csv "$dir/dissect.csv"
$py - "$dir/dissect.json" "$dir/dissect.csv" <<'PY' || fail "dissect JSON/CSV"
import sys, json, csv
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert d["samples"] == 100 == len(rows) and sum(d["categories"]) == 100
for k in range(4):
    assert d["categories"][k] == sum(int(r["category"]) == k + 1 for r in rows)
changed = [sum(r["clean_route:" + l] != r["adversarial_route:" + l] for r in rows) for l in d["layers"]]
assert changed == d["layer_changed"], (changed, d["layer_changed"])
robust = sum(r["adversarial_prediction"] == r["label"] for r in rows) / 100
assert abs(d["predictor_robustness"] - robust) < 1e-12
assert 0 <= d["pathway_only_robust_accuracy"] <= 1 and 0 <= d["router_only_robust_accuracy"] <= 1
PY
expect 0 "clean pathway vs sparse mask" "$advmoe" iou --checkpoint "$dir/moe/last.h5" \
  --mask "$dir/finetune/last.h5" --test-limit 50 --eps 0.1 --step-size 0.02 --steps 3 \
  --json "$dir/iou.json" --csv "$dir/iou.csv"
$py - "$dir/iou.json" "$dir/iou.csv" <<'PY' || fail "iou JSON/CSV"
import sys, json, csv, statistics
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert d["samples"] == 50 == len(rows)
for key in ("clean_vs_adversarial", "clean_vs_mask", "adversarial_vs_mask"):
    v = [float(r[key]) for r in rows]
    assert all(0 <= x <= 1 for x in v) and sum(d[key]["histogram"]) == 50
    assert abs(d[key]["mean"] - sum(v) / 50) < 1e-12
    assert abs(d[key]["median"] - statistics.median(v)) < 1e-12
    assert abs(d[key]["at_one"] - sum(x == 1.0 for x in v) / 50) < 1e-12
PY

# Plots: valid PNGs (and SVGs) whose data files hold the input's numbers.
printf "a\tat-moe\t0\t0.5\t2\t0.80\t0.40\t1\nb\tat-moe\t1\t0.5\t2\t0.90\t0.50\t1\nc\tat-moe\t0\t0.5\t4\t0.70\t0.30\t1\n" \
  > "$dir/summary.tsv"
expect 0 "wrote .*curves.png" "$advmoe" plot "$dir/dense" "$dir/moe" --out "$dir/figs"
expect 0 "wrote .*dissection.png" "$advmoe" plot "$dir/dissect.json" --out "$dir/figs"
expect 0 "wrote .*iou.png" "$advmoe" plot "$dir/iou.json" --out "$dir/figs"
expect 0 "wrote .*experts.png" "$advmoe" plot "$dir/summary.tsv" --out "$dir/figs"
$py - "$dir" <<'PY' || fail "plot files"
import sys, json, csv, os
d = sys.argv[1]
for name in ["curves", "usage", "dissection", "iou", "scale", "experts"]:
    assert open(f"{d}/figs/{name}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n", name
    assert b"<svg" in open(f"{d}/figs/{name}.svg", "rb").read(400), name
e = json.load(open(f"{d}/figs/experts.data.json"))["at-moe"]
assert e["x"] == [2, 4] and e["seeds"] == [[0, 1], [0]]
assert abs(e["ra_mean"][0] - 45.0) < 1e-9 and abs(e["sa_mean"][1] - 70.0) < 1e-9
assert abs(e["ra_std"][0] - 7.0710678118654755) < 1e-9
c = json.load(open(f"{d}/figs/curves.data.json"))
rows = list(csv.DictReader(open(f"{d}/moe/metrics.csv")))
assert abs(c["moe"]["test_accuracy"][0] - 100 * float(rows[0]["test_accuracy"])) < 1e-9
dj = json.load(open(f"{d}/dissect.json"))
pd = json.load(open(f"{d}/figs/dissection.data.json"))["dissect"]
assert [round(v, 9) for v in pd["fractions_percent"]] == [round(100 * v, 9) for v in dj["fractions"]]
ij = json.load(open(f"{d}/iou.json"))
pi = json.load(open(f"{d}/figs/iou.data.json"))["iou"]["clean_vs_mask"]
assert abs(pi["mean"] - ij["clean_vs_mask"]["mean"]) < 1e-12
PY

# Bad inputs: exit 2 and a message.
expect 2 "keep must be in \(0, 1\], got 1.5" "$advmoe" train "${tiny[@]}" --variant sparse \
  --phase prune --keep 1.5 --init-from "$dir/dense/last.h5" --out "$dir/bad1"
expect 2 "starts from a checkpoint: give --init-from" "$advmoe" train "${tiny[@]}" \
  --variant sparse --phase prune --out "$dir/bad2"
expect 2 "trains in phases" "$advmoe" train "${tiny[@]}" --variant sparse --out "$dir/bad3"
expect 2 "holds a moe model; --init-from needs one of the same variant" "$advmoe" train \
  "${tiny[@]}" --variant sparse --phase prune --init-from "$dir/moe/last.h5" --out "$dir/bad4"
expect 2 "studies the routes of an MoE checkpoint" "$advmoe" dissect \
  --checkpoint "$dir/dense/last.h5" --test-limit 10
expect 2 "not a Sparse-CNN" "$advmoe" iou --checkpoint "$dir/moe/last.h5" \
  --mask "$dir/dense/last.h5" --test-limit 10
# A mask checkpoint of another architecture (the pruned file with its arch attribute changed).
$py - "$dir/finetune/last.h5" "$dir/vgg-mask.h5" <<'PY' || fail "crafting a foreign mask"
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs["arch"] = np.bytes_("vgg16-bn")
PY
expect 2 "is a vgg16-bn for another input or class count than the MoE's smallcnn" "$advmoe" iou \
  --checkpoint "$dir/moe/last.h5" --mask "$dir/vgg-mask.h5" --test-limit 10
expect 2 "needs a structured sparse checkpoint" "$advmoe" export \
  --checkpoint "$dir/dense/last.h5" --compact --out "$dir/x.h5"
expect 2 "--attack must be pgd, fgsm" "$advmoe" dissect --checkpoint "$dir/moe/last.h5" \
  --attack aa --test-limit 10
expect 2 "no such file or directory" "$advmoe" plot "$dir/nothing" --out "$dir/figs"
# A width other than the dense model's, and a checkpoint of another architecture.
expect 2 "--variant sparse with width|masks prune the dense model of width 1" "$advmoe" train \
  "${tiny[@]}" --variant sparse --phase prune --width 0.5 --init-from "$dir/dense/last.h5" \
  --out "$dir/bad5"
expect 2 "holds another model than the one requested.*arch" "$advmoe" train --train-limit 256 \
  --test-limit 64 --batch-size 64 --epochs 1 --eval-pgd-steps 0 --final-pgd-steps 0 \
  --arch resnet18 --variant sparse --phase prune --keep 0.5 --init-from "$dir/dense/last.h5" \
  --out "$dir/bad6"

echo "sparse_analysis: $failures failure(s)"
[ "$failures" -eq 0 ]

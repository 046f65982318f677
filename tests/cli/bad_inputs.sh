#!/usr/bin/env bash
# Hostile and damaged inputs end in exit code 2 and a message naming the file and the field at
# fault: never a crash, a hang, a huge allocation or a silently wrong result. Covers crafted
# checkpoints (tests/cli/craft_checkpoints.py), FIFOs, devices, directories and dangling links
# where files belong, crafted idx files, out-of-range options, and resumes that would continue
# another run. usage: bad_inputs.sh path/to/advmoe
set -uo pipefail
advmoe=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
checks=0

# expect CODE REGEX COMMAND...: the command must end within 60 s (no hang) with CODE and print
# a line matching REGEX.
expect() {
  local want=$1 pattern=$2
  shift 2
  checks=$((checks + 1))
  local output code
  output=$(timeout 60 "$@" 2>&1)
  code=$?
  if [ "$code" -ne "$want" ] || ! grep -Eq -- "$pattern" <<<"$output"; then
    echo "FAILED: $* -> exit $code (want $want), output:" >&2
    tail -5 <<<"$output" >&2
    echo "  expected /$pattern/" >&2
    failures=$((failures + 1))
  fi
}

# A tiny real run to damage.
"$advmoe" train --train-limit 256 --test-limit 128 --width 0.25 --batch-size 64 \
  --out "$dir/run" >"$dir/train.log" 2>&1 || { cat "$dir/train.log"; exit 1; }
good="$dir/run/last.h5"
mkdir "$dir/bad"
/usr/bin/python3 "$here/craft_checkpoints.py" "$good" "$dir/bad" || exit 1
eval_of() { expect 2 "$2" "$advmoe" eval --checkpoint "$dir/bad/$1.h5" --test-limit 64; }

# C: a file that crashes libhdf5 1.10.8 itself (heap overflow in H5Aexists_by_name) is read
# first in a child process: an error, not a crash. Whether the overflow kills the child depends
# on the heap's layout (a fresh debootstrap root reads past it and fails on /metrics instead), so
# either clean error is right; what must not happen is advmoe itself crashing.
expect 2 "crashed the HDF5 library while being read \((signal|exit code) [0-9]+\): a corrupted checkpoint|cannot read '.*libhdf5-heap-overflow-in-H5Aexists_by_name'" \
  "$advmoe" inspect "$here/../fuzz/regressions/fuzz_checkpoint/libhdf5-heap-overflow-in-H5Aexists_by_name"

# C: arrays where scalars belong, cycles, depth.
eval_of ratio_array "attribute 'ratio' of '.*ratio_array.h5' / holds 1000 values, expected one number"
eval_of ratio_pair "attribute 'ratio' of .* holds 2 values, expected one number"
eval_of arch_array "attribute 'arch' of .* holds 100 strings, expected one"
expect 2 "attribute 'ratio' of .* holds 1000 values" "$advmoe" inspect "$dir/bad/ratio_array.h5"
expect 0 "loop/ -> \(a link to a group already shown\)" "$advmoe" inspect "$dir/bad/cycle.h5"
eval_of cycle "cycle.h5' has unexpected dataset /params/loop"
expect 2 "nests groups deeper than 16 levels" "$advmoe" inspect "$dir/bad/deep_groups.h5"
# C and D: out-of-range and NaN numbers.
eval_of version_string "attribute 'format_version' of .* is a string, expected a number"
eval_of epoch_wrapped "attribute 'epoch' of .* is 4.29497e\+09; it must be an integer in \[0, 100000\]"
eval_of epoch_negative "attribute 'epoch' of .* is -1e\+06; it must be an integer"
eval_of epoch_nan "attribute 'epoch' of .* is nan; it must be an integer"
eval_of classes_nan "attribute 'classes' of .* is nan; it must be an integer"
expect 2 "normalize_mismatch.h5': its attributes .* describe no buildable model: normalization 'cifar10' needs 3-channel images" \
  "$advmoe" eval --checkpoint "$dir/bad/normalize_mismatch.h5" --test-limit 64 --dataset fashion-mnist
# D: damaged tensors.
eval_of weight_nan "weight_nan.h5' /params/conv1.weight holds nan at element 3"
eval_of weight_inf "/params/conv1.weight holds inf at element 0"
eval_of weight_huge "/params/conv1.weight holds 1e\+20 at element 1"
eval_of variance_negative "/buffers/bn1.running_var holds the negative variance -1 at element 0"
eval_of variance_nan "/buffers/bn1.running_var holds nan at element 0"
eval_of nan_fill_value "/params/conv1.weight has no data written"
eval_of external_storage "/params/conv1.weight uses external storage"
eval_of virtual_dataset "/params/conv1.weight is a virtual dataset"
eval_of exponent_bias "/params/conv1.weight has an unsupported element type: 4-byte float that is not IEEE 754"
eval_of flipped_byte "cannot read dataset .*/params/conv1.weight .*checksum mismatch"
# E: huge announced shapes are refused before any allocation.
eval_of metrics_2e40_rows "/metrics has 1099511627776 rows; a checkpoint of 1 completed epochs has at most 1"
cp -r "$dir/run" "$dir/resume_momentum"
cp "$dir/bad/momentum_2e31.h5" "$dir/resume_momentum/last.h5"
expect 2 "/optimizer/backbone/momentum/conv1.weight has shape \[2147483648\], the model needs" \
  "$advmoe" train --resume "$dir/resume_momentum" --epochs 2

# D: a damaged checkpoint never reaches a new last.h5 on resume.
cp -r "$dir/run" "$dir/resume_nan"
cp "$dir/bad/weight_nan.h5" "$dir/resume_nan/last.h5"
expect 2 "resume_nan/last.h5' /params/conv1.weight holds nan at element 3" \
  "$advmoe" train --resume "$dir/resume_nan" --epochs 2
cmp -s "$dir/bad/weight_nan.h5" "$dir/resume_nan/last.h5" || { echo "FAILED: resume rewrote last.h5" >&2; failures=$((failures + 1)); }

# C: FIFOs, devices, directories, dangling links where a file belongs.
mkfifo "$dir/fifo"
expect 2 "checkpoint '.*fifo' is a FIFO \(named pipe\), not a regular file" "$advmoe" inspect "$dir/fifo"
expect 2 "checkpoint '.*fifo' is a FIFO" "$advmoe" eval --checkpoint "$dir/fifo"
expect 2 "config file '.*fifo' is a FIFO" "$advmoe" train --config "$dir/fifo"
expect 2 "config file '/dev/zero' is a character device" "$advmoe" train --config /dev/zero
expect 2 "config file '.*' is a directory" "$advmoe" train --config "$dir"
ln -s "$dir/nowhere.h5" "$dir/dangling.h5"
expect 2 "checkpoint '.*dangling.h5' is a symbolic link to a missing file" "$advmoe" inspect "$dir/dangling.h5"
expect 2 "missing checkpoint '.*absent.h5' \(no such file\)" "$advmoe" inspect "$dir/absent.h5"
expect 2 "checkpoint '.*' is a directory" "$advmoe" inspect "$dir/run"
mkdir "$dir/fifo_data"
mkfifo "$dir/fifo_data/train-images-idx3-ubyte"
: >"$dir/fifo_data/train-labels-idx1-ubyte"
expect 2 "dataset file '.*train-images-idx3-ubyte' is a FIFO" "$advmoe" train --data-dir "$dir/fifo_data"

# The same kind of fault gives the same exit code for every dataset format.
mkdir -p "$dir/cifar/data_batch_1.bin"
expect 2 "dataset file '.*data_batch_1.bin' is a directory, not a regular file" \
  "$advmoe" train --dataset cifar10 --data-dir "$dir/cifar"
expect 2 "missing dataset file '.*cifar-none/data_batch_1.bin' \(no such file\)" \
  "$advmoe" train --dataset cifar10 --data-dir "$dir/cifar-none"

# D and E: crafted idx files.
idx() {  # idx DIR PREFIX COUNT ROWS COLS PIXEL_BYTES LABELS
  mkdir -p "$1"
  /usr/bin/python3 - "$@" <<'EOF'
import struct, sys
d, prefix, count, rows, cols, pixel_bytes, labels = sys.argv[1:8]
with open(f"{d}/{prefix}-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, int(count), int(rows), int(cols)) + bytes(int(pixel_bytes)))
with open(f"{d}/{prefix}-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, int(labels)) + bytes(int(labels)))
EOF
}
idx "$dir/idx_big" train 134217728 28 28 1000 256
expect 2 "train-images-idx3-ubyte' is truncated: its header announces 105226698752 bytes" \
  "$advmoe" train --data-dir "$dir/idx_big"
idx "$dir/idx_huge" train 4000000000 28 28 1000 256
expect 2 "train-images-idx3-ubyte' announces an implausible 4000000000 images" \
  "$advmoe" train --data-dir "$dir/idx_huge"
idx "$dir/idx_geometry" train 256 1 784 200704 256
expect 2 "train-images-idx3-ubyte' holds 1x784 images; fashion-mnist images are 28x28" \
  "$advmoe" train --data-dir "$dir/idx_geometry"
idx "$dir/idx_empty" train 256 28 28 200704 256
idx "$dir/idx_empty" t10k 0 28 28 0 0
expect 2 "t10k-images-idx3-ubyte' holds no images \(empty test split\)" \
  "$advmoe" train --data-dir "$dir/idx_empty"

# C and D: options out of range (each names the option and the value).
bad_train() { expect 2 "$1" "$advmoe" train "${@:2}"; }
bad_train "--threads must be in \[0, [0-9]+\] \(0: all cores\), got 100000" --threads 100000
bad_train "--threads must be in .*got -1" --threads -1
for w in 0 -1 nan inf; do bad_train "--width must be in \[0.01, 16\], got $w" --width $w; done
bad_train "--ratio must be in \[0.01, 1\], got 1e-300" --ratio 1e-300
bad_train "--lr must be in \(0, 10\], got 1e\+30" --lr 1e30
bad_train "--momentum must be in \[0, 1\), got 1e\+10" --momentum 1e10
bad_train "--momentum must be in \[0, 1\), got -1" --momentum -1
bad_train "--weight-decay must be in \[0, 1\), got -1" --weight-decay -1
bad_train "--epsilon must be a finite number in \[0, 1\], got 'inf'" --epsilon inf
bad_train "--balance-loss must be in \[0, 1000\], got nan" --balance-loss nan
bad_train "--seed must be in \[0, 2\^53\].*negative" --seed -1
bad_train "--train-limit must be >= 0, got -1" --train-limit -1
bad_train "too many positional options|unrecognised" stray-argument
printf 'lr = abc\n' >"$dir/bad_value.ini"
bad_train "bad_value.ini.*(invalid|lr)" --config "$dir/bad_value.ini" --lr 0.1
# Boost.Program_options would loop for ever building the message for these (found by fuzz_ini).
bad_train "argument '%value%x' contains '%value%'" --seed %value%x
bad_train "argument '--%canonical_option%' contains '%canonical_option%'" --%canonical_option%
printf 'seed = %%value%%\n' >"$dir/placeholder.ini"
bad_train "config file '.*placeholder.ini' contains '%value%'" --config "$dir/placeholder.ini"
bad_train "--router-grad: router gradient must be none \(routes held fixed\) or ste, got 'exact'" \
  --router-grad exact
expect 2 "--eps must be a finite number in \[0, 1\], got 'inf'" "$advmoe" eval --checkpoint "$good" --eps inf
expect 2 "--step-size must be a finite number in \[0, 400\], got 'inf'" \
  "$advmoe" eval --checkpoint "$good" --attack pgd --step-size inf
expect 2 "--seed must be in \[0, 2\^53\]" "$advmoe" eval --checkpoint "$good" --seed -1
# The AutoAttack evaluation: a negative radius, unknown attacks and DLR on too few classes.
expect 2 "--eps must be a finite number in \[0, 1\], got '-0.1'" \
  "$advmoe" eval --checkpoint "$good" --attack aa --eps -0.1
expect 2 "--attack must be none, pgd or fgsm \(eval also: aa, aa-fast" \
  "$advmoe" eval --checkpoint "$good" --attack apgd-xyz
expect 2 "--attack aa uses the targeted DLR loss, which needs at least 4 classes; the checkpoint's model has 3" \
  "$advmoe" eval --checkpoint "$dir/bad/classes_3.h5" --attack aa
expect 2 "--attack apgd-dlr uses the DLR loss, which needs at least 3 classes; the checkpoint's model has 2" \
  "$advmoe" eval --checkpoint "$dir/bad/classes_2.h5" --attack apgd-dlr
expect 2 "--save-adversarial and --state belong to the AutoAttack attacks" \
  "$advmoe" eval --checkpoint "$good" --attack pgd --state "$dir/x.h5"

# D: a resume that would continue another run.
cp -r "$dir/run" "$dir/edited"
sed -i 's/^method = standard$/method = pgd-at/' "$dir/edited/config.ini"
expect 2 "--method: standard in the checkpoint, pgd-at now" "$advmoe" train --resume "$dir/edited" --epochs 2
expect 2 "--batch-size: 64 in the checkpoint, 32 now" \
  "$advmoe" train --resume "$dir/run" --epochs 2 --batch-size 32
expect 2 "--train-limit: 256 in the checkpoint, 512 now" \
  "$advmoe" train --resume "$dir/run" --epochs 2 --train-limit 512
expect 2 "--seed: 0 in the checkpoint, 3 now" "$advmoe" train --resume "$dir/run" --epochs 2 --seed 3

# F: an MoE checkpoint's routing fields: a busiest-expert share outside [0, 1], an unknown router
# input, a shares table of the wrong shape.
"$advmoe" train --variant moe --ratio 0.5 --train-limit 256 --test-limit 128 --batch-size 64 \
  --out "$dir/moe" >"$dir/moe.log" 2>&1 || { cat "$dir/moe.log"; exit 1; }
/usr/bin/python3 - "$dir/moe/last.h5" "$dir/bad" <<'EOF'
import shutil, sys
import h5py
import numpy as np
good, bad = sys.argv[1], sys.argv[2]
for name, edit in [
    ("share_above_one", lambda f: f["metrics_busiest"].__setitem__((0, 1), 1.5)),
    ("router_input_unknown", lambda f: f.attrs.__setitem__("router_input", np.bytes_("whitened"))),
    ("shares_wrong_shape", lambda f: (f.__delitem__("metrics_busiest"),
                                      f.create_dataset("metrics_busiest",
                                                       data=np.zeros((1, 5), np.float32)))),
]:
    shutil.copy(good, f"{bad}/{name}.h5")
    with h5py.File(f"{bad}/{name}.h5", "r+") as f:
        edit(f)
EOF
eval_of share_above_one "/metrics_busiest holds 1.5, not a share in \[0, 1\]"
eval_of router_input_unknown "attribute 'router_input' is 'whitened'; expected one of pooled, standardized"
eval_of shares_wrong_shape "/metrics_busiest has shape \[1, 5\], expected \[1, 2 \* MoE layers\]"

# G: the dual-model study (docs/dual.md): components of a dense model, alphas outside [0, 1],
# halves of different datasets or class counts, a damaged dual checkpoint, methods that need an
# MoE.
moe="$dir/moe/last.h5"
/usr/bin/python3 - "$moe" "$dir/bad" <<'EOF'
import shutil, sys
import h5py
import numpy as np
good, bad = sys.argv[1], sys.argv[2]
for name, edit in [
    ("other_dataset", lambda f: f.attrs.__setitem__("dataset", np.bytes_("mnist"))),
    ("dual_alpha_out_of_range", lambda f: f.attrs.__setitem__("dual_alpha", 1.5)),
]:
    shutil.copy(good, f"{bad}/{name}.h5")
    with h5py.File(f"{bad}/{name}.h5", "r+") as f:
        edit(f)
EOF
expect 2 "--component experts attacks one part of an MoE; '.*' holds a dense model" \
  "$advmoe" eval --checkpoint "$good" --component experts --test-limit 64
expect 2 "--component must be model, experts or router, got 'gate'" \
  "$advmoe" eval --checkpoint "$moe" --component gate
expect 2 "--alpha must be a finite number in \[0, 1\], got '1.5'" \
  "$advmoe" eval --dual "$moe" "$moe" --alpha 1.5
expect 2 "were trained on different datasets: fashion-mnist and mnist" \
  "$advmoe" eval --dual "$moe" "$dir/bad/other_dataset.h5" --test-limit 64
expect 2 "have different class counts: 10 and 3" \
  "$advmoe" eval --dual "$good" "$dir/bad/classes_3.h5" --test-limit 64
expect 2 "--dual takes two checkpoints \(standard, robust\), got 3" \
  "$advmoe" eval --dual "$moe" "$moe" "$moe"
expect 2 "attribute 'dual_alpha'" "$advmoe" eval --checkpoint "$dir/bad/dual_alpha_out_of_range.h5"
expect 2 "--alphas must be a finite number in \[0, 1\], got '2'" \
  "$advmoe" sweep-alpha --dual "$moe" "$moe" --alphas 0,2
expect 2 "holds a single model, not a dual one" "$advmoe" sweep-alpha --dual "$moe" --test-limit 64
expect 2 "--alpha must be a finite number in \[0, 1\], got '-0.1'" \
  "$advmoe" train --method jtdmoe --variant moe --alpha -0.1 --train-limit 64 --batch-size 32 --out "$dir/j"
expect 2 "rt-er robustifies each sample's second-choice expert: it needs an MoE" \
  "$advmoe" train --method rt-er --train-limit 64 --batch-size 32 --out "$dir/r1"
expect 2 "needs an MoE with routers and at least 2 experts" \
  "$advmoe" train --method rt-er --variant moe --experts 1 --train-limit 64 --batch-size 32 --out "$dir/r2"

echo "bad_inputs.sh: $((checks - failures)) of $checks checks passed"
[ "$failures" -eq 0 ]

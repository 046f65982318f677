#!/usr/bin/python3
# Makes damaged and hostile variants of a good advmoe checkpoint, one file per case, for
# tests/cli/bad_inputs.sh: attributes stored as arrays, group cycles, data stored outside the
# file, non-IEEE floats, flipped bytes, out-of-range numbers, NaN/Inf/huge weights, negative
# variances, fill-value-only datasets and huge announced shapes.
# usage: craft_checkpoints.py GOOD.h5 OUT_DIR
import shutil
import sys

import h5py
import numpy as np

good, out = sys.argv[1], sys.argv[2]
WEIGHT = "params/conv1.weight"
VARIANCE = "buffers/bn1.running_var"


def variant(name):
    path = f"{out}/{name}.h5"
    shutil.copy(good, path)
    return path


def edit(name, change):
    with h5py.File(variant(name), "r+") as f:
        change(f)


def set_attr(f, key, value):
    del f.attrs[key]
    f.attrs[key] = value


def replace(f, dataset, **create):
    del f[dataset]
    f.create_dataset(dataset, **create)


edit("ratio_array", lambda f: set_attr(f, "ratio", np.full(1000, 0.5)))
edit("ratio_pair", lambda f: set_attr(f, "ratio", np.array([0.5, 0.5])))
edit("arch_array", lambda f: set_attr(f, "arch", np.array([b"smallcnn"] * 100)))
edit("version_string", lambda f: set_attr(f, "format_version", np.bytes_(b"2")))
edit("epoch_wrapped", lambda f: set_attr(f, "epoch", 4294967291.0))
edit("epoch_negative", lambda f: set_attr(f, "epoch", -1e6))
edit("epoch_nan", lambda f: set_attr(f, "epoch", float("nan")))
edit("classes_nan", lambda f: set_attr(f, "classes", float("nan")))
edit("classes_3", lambda f: set_attr(f, "classes", 3.0))
edit("classes_2", lambda f: set_attr(f, "classes", 2.0))
edit("normalize_mismatch", lambda f: set_attr(f, "normalize", np.bytes_(b"cifar10")))
edit("cycle", lambda f: f["params"].__setitem__("loop", f["params"]))


def deep(f):
    g = f["params"]
    for i in range(40):
        g = g.create_group(f"g{i}")


edit("deep_groups", deep)


def with_values(dataset, fn):
    def change(f):
        v = f[dataset][()]
        fn(v)
        f[dataset][...] = v

    return change


def put(index, value):
    return lambda v: v.reshape(-1).__setitem__(index, value)


edit("weight_nan", with_values(WEIGHT, put(3, np.nan)))
edit("weight_inf", with_values(WEIGHT, put(0, np.inf)))
edit("weight_huge", with_values(WEIGHT, put(1, 1e20)))
edit("variance_negative", with_values(VARIANCE, put(0, -1.0)))
edit("variance_nan", with_values(VARIANCE, put(0, np.nan)))


def external(f):
    shape = f[WEIGHT].shape
    replace(f, WEIGHT, shape=shape, dtype="<f4",
            external=[("/etc/passwd", 0, int(np.prod(shape)) * 4)])


edit("external_storage", external)


def virtual(f):
    shape = f[WEIGHT].shape
    layout = h5py.VirtualLayout(shape=shape, dtype="<f4")
    layout[...] = h5py.VirtualSource("/dev/urandom", "x", shape=shape)
    del f[WEIGHT]
    f.create_virtual_dataset(WEIGHT, layout, fillvalue=0)


edit("virtual_dataset", virtual)


def fill_only(f):
    shape = f[WEIGHT].shape
    replace(f, WEIGHT, shape=shape, dtype="<f4", fillvalue=np.nan)


edit("nan_fill_value", fill_only)


def bad_bias(f):
    values = f[WEIGHT][()]
    del f[WEIGHT]
    tid = h5py.h5t.IEEE_F32LE.copy()
    tid.set_ebias(100)  # IEEE float32 has 127
    space = h5py.h5s.create_simple(values.shape)
    d = h5py.h5d.create(f.id, WEIGHT.encode(), tid, space)
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, values)


edit("exponent_bias", bad_bias)

# Huge announced shapes: chunked and never written, so the files stay tiny.
edit("metrics_2e40_rows", lambda f: replace(
    f, "metrics", shape=(2 ** 40,), chunks=(1024,), dtype=f["metrics"].dtype))
momentum = "optimizer/backbone/momentum/conv1.weight"
edit("momentum_2e31", lambda f: replace(f, momentum, shape=(2 ** 31,), chunks=(1 << 20,),
                                        dtype="<f4"))

# One flipped byte inside the weight's data: the Fletcher-32 checksum must catch it.
path = variant("flipped_byte")
with h5py.File(path, "r") as f:
    info = f[WEIGHT].id.get_chunk_info(0)
    offset = info.byte_offset + 17
with open(path, "r+b") as raw:
    raw.seek(offset)
    byte = raw.read(1)[0]
    raw.seek(offset)
    raw.write(bytes([byte ^ 0x10]))

#!/usr/bin/env python3
"""Compares the parameters (and momenta) of two advmoe checkpoints; prints one JSON line:
{"params": worst per-tensor relative L2 difference, "params_global": relative L2 difference of
all parameters together, "momentum": the same per-tensor worst for /optimizer, "bitwise": how many
parameter tensors are bit-identical, "tensors": how many there are}.
usage: compare_checkpoints.py A.h5 B.h5"""
import json
import sys

import h5py
import numpy as np


def tensors(f, group):
    out = {}
    f[group].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def relative(x, y):
    x = x.astype(np.float64).ravel()
    y = y.astype(np.float64).ravel()
    return float(np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-30))


with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    pa, pb = tensors(a, "params"), tensors(b, "params")
    ma, mb = tensors(a, "optimizer"), tensors(b, "optimizer")
    assert pa.keys() == pb.keys() and pa, "the checkpoints hold different parameters"
    result = {
        "params": max(relative(pa[k], pb[k]) for k in pa),
        "params_global": relative(np.concatenate([pa[k].ravel() for k in sorted(pa)]),
                                  np.concatenate([pb[k].ravel() for k in sorted(pa)])),
        "momentum": max(relative(ma[k], mb[k]) for k in ma) if ma else 0.0,
        "bitwise": sum(bool(np.array_equal(pa[k], pb[k])) for k in pa),
        "tensors": len(pa),
    }
    print(json.dumps(result))

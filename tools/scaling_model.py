#!/usr/bin/env python3
"""What P data-parallel ranks on P hosts would give (docs/distributed.md, "Scaling"): a ring
all-reduce model fed with numbers `advmoe bench` measured on one host.

Per iteration, rank compute is the one-process iteration time divided by P (each rank has B / P
of the global batch; this is optimistic for small shares, where kernels run below their best
rate), plus, without overlap (advmoe does not overlap yet), a ring all-reduce of every level's
gradients: each rank sends and receives 2 (P - 1) / P of the bytes, in 2 (P - 1) messages of
latency `alpha` (Patarasuk & Yuan 2009; NCCL's and Open MPI's large-message algorithm).

usage: scaling_model.py --model NAME --iteration-s S --bytes BYTES --batch B
           [--ranks 1,2,4,8,16,32] [--gbits 10,100] [--latency-us 10] [--json OUT]"""
import argparse
import json


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--iteration-s", type=float, required=True,
                   help="one-process seconds per iteration of the global batch")
    p.add_argument("--bytes", type=float, required=True,
                   help="gradient bytes all-reduced per iteration (all levels)")
    p.add_argument("--batch", type=int, required=True, help="global batch")
    p.add_argument("--ranks", default="1,2,4,8,16,32")
    p.add_argument("--gbits", default="10,100")
    p.add_argument("--latency-us", type=float, default=10.0)
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    print(f"{a.model}: {a.iteration_s * 1e3:.0f} ms per iteration of {a.batch} images in one "
          f"process, {a.bytes / 1e6:.1f} MB all-reduced per iteration")
    print(f"  {'ranks':>5} {'Gbit/s':>7} {'compute ms':>11} {'all-reduce ms':>14} "
          f"{'images/s':>9} {'speed-up':>9} {'efficiency':>10}")
    for gbits in [float(g) for g in a.gbits.split(",")]:
        for ranks in [int(r) for r in a.ranks.split(",")]:
            compute = a.iteration_s / ranks
            if ranks == 1:
                comm = 0.0
            else:
                comm = (2 * (ranks - 1) / ranks * a.bytes * 8 / (gbits * 1e9)
                        + 2 * (ranks - 1) * a.latency_us * 1e-6)
            total = compute + comm
            speedup = a.iteration_s / total
            rows.append({"model": a.model, "ranks": ranks, "gbits": gbits, "compute_s": compute,
                         "allreduce_s": comm, "images_per_s": a.batch / total,
                         "speedup": speedup, "efficiency": speedup / ranks})
            print(f"  {ranks:>5} {gbits:>7.0f} {compute * 1e3:>11.1f} {comm * 1e3:>14.1f} "
                  f"{a.batch / total:>9.1f} {speedup:>9.2f} {speedup / ranks:>10.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

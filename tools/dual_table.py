#!/usr/bin/env python3
"""The tables of scripts/experiments/fashion-mnist-dual.sh (issue 16, docs/dual.md).

Reads OUT_DIR/dual/components/<method>-seed<S>-<component>.json (advmoe eval --component
--json) and OUT_DIR/dual/sweeps/<pair>-seed<S>.json (advmoe sweep-alpha --json) and prints
Markdown: SA, RA, RA-E and RA-R per method (mean and sample standard deviation over the seeds
present), the paired per-seed difference RA-E - RA-R (negative: the experts are the weaker part)
with its 95% t confidence interval, and the dual model's SA / RA per alpha for each pair. Standard
library only, so analysts can rerun it.

usage: tools/dual_table.py OUT_DIR
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reproduction_table import fmt, load, mean_sd, t_interval  # noqa: E402

METHODS = [("at-moe", "AT(MoE) (TRADES)"), ("advmoe", "AdvMoE"), ("rt-er", "RT-ER")]
PAIRS = [("separate", "standard MoE + RT-ER MoE, trained separately"),
         ("jtdmoe", "JTDMoE (trained jointly, alpha 0.7 in training)")]


def components(out):
    """{method: {seed: {component: record}}}."""
    table = {}
    folder = os.path.join(out, "dual", "components")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        m = re.fullmatch(r"(.+)-seed(\d+)-(model|experts|router)\.json", name)
        doc = load(os.path.join(folder, name)) if m else None
        if doc:
            table.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = doc
    return table


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tools/dual_table.py OUT_DIR")
    out = sys.argv[1]
    table = components(out)
    attack = next((r["attack"] for s in table.values() for c in s.values() for r in c.values()),
                  "?")
    images = next((r["test_images"] for s in table.values() for c in s.values()
                   for r in c.values()), 0)
    print(f"### Component robustness ({attack}, first {images} test images)\n")
    print("RA: the whole MoE attacked. RA-E: the experts attacked, the routes held at the clean "
          "image's. RA-R: the routers attacked (straight-through gradient), the experts on the "
          "clean image. Mean ± sample sd over seeds.\n")
    print("| method | seeds | SA | RA | RA-E | RA-R | RA-E − RA-R (95% CI) |")
    print("|---|---|---|---|---|---|---|")
    for key, label in METHODS:
        seeds = {s: c for s, c in table.get(key, {}).items()
                 if all(k in c for k in ("model", "experts", "router"))}
        if not seeds:
            continue
        col = lambda comp, field: [seeds[s][comp][field] for s in sorted(seeds)]
        sa = mean_sd(col("model", "clean_accuracy"))
        cells = [fmt(*sa)] + [fmt(*mean_sd(col(c, "robust_accuracy")))
                              for c in ("model", "experts", "router")]
        diffs = [e - r for e, r in zip(col("experts", "robust_accuracy"),
                                       col("router", "robust_accuracy"))]
        m, half = t_interval(diffs)
        per_seed = ", ".join(f"{100 * d:+.2f}" for d in diffs)
        ci = f"{100 * m:+.2f} [{100 * (m - half):+.2f}, {100 * (m + half):+.2f}] ({per_seed})"
        print(f"| {label} | {len(seeds)} | " + " | ".join(cells) + f" | {ci} |")
    sweeps = os.path.join(out, "dual", "sweeps")
    for key, label in PAIRS:
        docs = []
        for name in sorted(os.listdir(sweeps)) if os.path.isdir(sweeps) else []:
            if re.fullmatch(rf"{key}-seed\d+\.json", name):
                doc = load(os.path.join(sweeps, name))
                if doc:
                    docs.append(doc)
        if not docs:
            continue
        print(f"\n### Dual model over alpha: {label} ({docs[0]['attack']}, first "
              f"{docs[0]['test_images']} test images, {len(docs)} seeds)\n")
        print("| alpha | SA | RA |")
        print("|---|---|---|")
        alphas = [p["alpha"] for p in docs[0]["points"]]
        for i, a in enumerate(alphas):
            pts = [d["points"][i] for d in docs if len(d["points"]) > i
                   and d["points"][i]["alpha"] == a]
            sa = mean_sd([p["clean_accuracy"] for p in pts])
            ra = mean_sd([p["robust_accuracy"] for p in pts])
            print(f"| {a:g} | {fmt(*sa)} | {fmt(*ra)} |")


if __name__ == "__main__":
    main()

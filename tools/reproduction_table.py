#!/usr/bin/env python3
"""The table of scripts/experiments/fashion-mnist-reproduction.sh (issue 15).

Reads OUT_DIR/<method>-seed<S>/final.json (SA, PGD-50 RA, busiest-expert shares), aa.json
(AutoAttack RA) and OUT_DIR/flops-*.json (parameters, per-sample MACs), and prints Markdown:
one row per method with mean and sample standard deviation over the seeds present, and the
paired per-seed differences AdvMoE - AT(MoE) and AdvMoE - AT(S-Dense) with their 95% t
confidence intervals. Standard library only (Debian's python3), so analysts can rerun it.

usage: tools/reproduction_table.py OUT_DIR
"""
import json
import math
import os
import re
import sys

# Two-sided 95% Student t quantiles t_{0.975, df}, df = 1..30 (beyond: the normal 1.96).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
COLLAPSED = 0.9  # training/run_files.h kCollapsedShare


def t975(df):
    return T975[df - 1] if df <= len(T975) else 1.96


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mean_sd(values):
    n = len(values)
    if n == 0:
        return None, None
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return m, sd


def fmt(m, sd, scale=100):
    if m is None:
        return "–"
    if sd is None or math.isnan(sd):
        return f"{scale * m:.2f}"
    return f"{scale * m:.2f} ± {scale * sd:.2f}"


def runs(out):
    """{method key: {seed: record}} from the run directories."""
    table = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"(.+)-seed(\d+)", name)
        if not m or "prune" in name:
            continue
        final = load(os.path.join(out, name, "final.json"))
        if final is None:
            continue
        aa = load(os.path.join(out, name, "aa.json"))
        record = {
            "sa": final["clean_accuracy"],
            "ra": final.get("robust_accuracy"),
            "aa": aa["robust_accuracy"] if aa and aa.get("finished") else None,
            "aa_images": aa["images"] if aa else None,
            "images": final.get("test_images"),
            "busiest": [s for key in ("busiest_clean", "busiest_adversarial")
                        for s in (final.get(key) or []) if s is not None],
        }
        table.setdefault(m.group(1), {})[int(m.group(2))] = record
    return table


LABELS = [
    ("at-dense", "AT(Dense)", "dense"),
    ("at-sdense-r0.5", "AT(S-Dense) r=0.5 (budget-matched)", "sdense-r0.5"),
    ("at-sparse-r0.5", "AT(Sparse) r=0.5 (HYDRA, structured)", "dense"),
    ("at-moe-r0.5-n2", "AT(MoE) r=0.5 N=2", "moe-r0.5-n2"),
    ("advmoe-r0.5-n2", "AdvMoE r=0.5 N=2", "moe-r0.5-n2"),
    ("at-moe-r0.5-n4", "AT(MoE) r=0.5 N=4", "moe-r0.5-n4"),
    ("advmoe-r0.5-n4", "AdvMoE r=0.5 N=4", "moe-r0.5-n4"),
]


def t_interval(diffs):
    """Mean of `diffs` and the half-width of its 95% t confidence interval (NaN for one value)."""
    m, sd = mean_sd(diffs)
    half = t975(len(diffs) - 1) * sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    return m, half


def paired(table, a, b, metric):
    """Per-seed a - b on `metric` over the seeds both have: (mean, half-width, n, diffs)."""
    if a not in table or b not in table:
        return None
    diffs = [table[a][s][metric] - table[b][s][metric] for s in sorted(table[a])
             if s in table[b] and table[a][s][metric] is not None
             and table[b][s][metric] is not None]
    if not diffs:
        return None
    m, half = t_interval(diffs)
    return m, half, len(diffs), diffs


def main():
    out = sys.argv[1]
    table = runs(out)
    path = os.path.join(out, "protocol.txt")
    lines = open(path).read().split("\n") if os.path.exists(path) else []
    print("Invocations:\n\n" + "\n".join(f"- {line}" for line in lines if line.strip()) + "\n")
    print("Mean ± sample standard deviation over the seeds listed; "
          "accuracies in %. RA-PGD: PGD-50 (step 0.01, 1 uniform start); RA-AA: AutoAttack as the "
          "invocation's aa setting says (aa: the standard cascade; aa-fast: APGD-CE then APGD-T), "
          f"on its test images; collapsed: busiest expert > {100 * COLLAPSED:.0f}% of the test images, "
          "clean or adversarial (layers summed over seeds).\n")
    print("| method | params | pathway MACs | router MACs | seeds | SA | RA-PGD-50 | RA-AA "
          "| collapsed layers |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, label, arch in LABELS:
        if key not in table:
            continue
        flops = load(os.path.join(out, f"flops-{arch}.json")) or {}
        rows = table[key]
        seeds = sorted(rows)
        sa = mean_sd([rows[s]["sa"] for s in seeds])
        ra = mean_sd([rows[s]["ra"] for s in seeds if rows[s]["ra"] is not None])
        aa_seeds = [s for s in seeds if rows[s]["aa"] is not None]
        aa = mean_sd([rows[s]["aa"] for s in aa_seeds])
        shares = [b for s in seeds for b in rows[s]["busiest"]]
        collapsed = sum(b > COLLAPSED for b in shares)
        layers = f"{collapsed} of {len(shares)}" if shares else "–"
        macs = flops.get("pathway_macs")
        params = flops.get("parameters")
        if key.startswith("at-sparse"):
            params, macs = f"{params} (dense; r kept)", f"{macs} (dense kernels)"
        aa_text = fmt(*aa) + (f" ({len(aa_seeds)} seeds)" if 0 < len(aa_seeds) < len(seeds) else "")
        print(f"| {label} | {params} | {macs} | {flops.get('router_macs', 0)} | "
              f"{','.join(map(str, seeds))} | {fmt(*sa)} | {fmt(*ra)} | {aa_text} | {layers} |")
    print("\nPaired differences per seed (percentage points; 95% t interval over the seeds):\n")
    print("| comparison | metric | seeds | mean difference | 95% CI | per seed |")
    print("|---|---|---|---|---|---|")
    for n in (2, 4):
        for other, name in ((f"at-moe-r0.5-n{n}", f"AT(MoE) N={n}"),
                            ("at-sdense-r0.5", "AT(S-Dense)")):
            for metric, label in (("ra", "RA-PGD-50"), ("aa", "RA-AA"), ("sa", "SA")):
                p = paired(table, f"advmoe-r0.5-n{n}", other, metric)
                if p is None:
                    continue
                m, half, count, diffs = p
                ci = "–" if math.isnan(half) else \
                    f"[{100 * (m - half):+.2f}, {100 * (m + half):+.2f}]"
                per = ", ".join(f"{100 * d:+.2f}" for d in diffs)
                print(f"| AdvMoE N={n} − {name} | {label} | {count} | {100 * m:+.2f} | {ci} | "
                      f"{per} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""advmoe plot: figures of runs and analysis results (matplotlib, Agg backend).

Inputs (detected by content; --kind forces one):
  run directory (metrics.csv [, usage.csv])  -> curves.png (loss, SA, quick RA, LR per epoch;
                                                runs overlaid), usage.png (experts' share per
                                                layer and epoch)
  advmoe dissect --json file                 -> dissection.png (the four categories, bars)
  advmoe iou --json file                     -> iou.png (histograms, clean vs adversarial)
  sweep summary.tsv                          -> scale.png (RA/SA vs r) or experts.png (vs N):
                                                mean over seeds, standard-deviation error bars
  advmoe sweep-alpha --json file             -> alpha.png (the dual model's SA and RA vs alpha,
                                                one pair of lines per file)
Each figure NAME is written as DIR/NAME.png, DIR/NAME.svg and DIR/NAME.data.json: the numbers
drawn, so tests and readers can check the picture against its input.
Exit status 2 on bad input (a missing file, an unknown kind, an unreadable table).
"""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class InputError(Exception):
    pass


def save(fig, out, name, data):
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(base + ".png", dpi=120)
    fig.savefig(base + ".svg")
    plt.close(fig)
    with open(base + ".data.json", "w") as f:
        json.dump(data, f, indent=1)
    print(f"advmoe plot: wrote {base}.png, {base}.svg, {base}.data.json")


def number(text, where):
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not a number")


def read_csv(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}")
    if not rows:
        raise InputError(f"{path} has no rows")
    return rows


def cosine_lr(epochs, peak):
    # The rate at each epoch's first step (config.ini: lr, schedule), for the LR panel.
    return [peak * 0.5 * (1 + math.cos(math.pi * (e - 1) / epochs)) for e in range(1, epochs + 1)]


def run_config(run):
    cfg = {}
    path = os.path.join(run, "config.ini")
    if os.path.exists(path):
        for line in open(path):
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                cfg[k.strip()] = v.strip()
    return cfg


def plot_curves(runs, out):
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    data = {}
    for run in runs:
        rows = read_csv(os.path.join(run, "metrics.csv"))
        where = os.path.join(run, "metrics.csv")
        epochs = [int(number(r["epoch"], where)) for r in rows]
        series = {
            "train_loss": [number(r["train_loss"], where) for r in rows],
            "test_accuracy": [100 * number(r["test_accuracy"], where) for r in rows],
            # null where no per-epoch attack ran (NaN in metrics.csv)
            "robust_accuracy": [None if math.isnan(v) else v for v in
                                (100 * number(r["robust_accuracy"], where) for r in rows)],
        }
        cfg = run_config(run)
        peak = float(cfg.get("lr", "nan"))
        total = int(float(cfg.get("epochs", str(len(epochs)))))
        lr = cosine_lr(total, peak)[: len(epochs)] if cfg.get("schedule", "cosine") == "cosine" \
            else [peak] * len(epochs)
        series["lr"] = lr
        label = os.path.basename(os.path.normpath(run))
        data[label] = {"epoch": epochs, **series}
        axes[0].plot(epochs, series["train_loss"], marker="o", label=label)
        axes[1].plot(epochs, series["test_accuracy"], marker="o", label=label)
        ra = [(e, v) for e, v in zip(epochs, series["robust_accuracy"]) if v is not None]
        if ra:
            axes[2].plot([e for e, _ in ra], [v for _, v in ra], marker="o", label=label)
        axes[3].plot(epochs, lr, marker="o", label=label)
    if all(v is None for d in data.values() for v in d["robust_accuracy"]):
        axes[2].text(0.5, 0.5, "no per-epoch RA\n(--eval-pgd-steps 0)", ha="center",
                     va="center", transform=axes[2].transAxes)
    ticks = sorted({e for d in data.values() for e in d["epoch"]})
    for ax, title in zip(axes, ["train loss", "SA (%)", "quick RA (%)", "learning rate"]):
        ax.set_xticks(ticks)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save(fig, out, "curves", data)


def plot_usage(runs, out):
    data = {}
    for run in runs:
        path = os.path.join(run, "usage.csv")
        if not os.path.exists(path):
            continue
        rows = [r for r in read_csv(path) if r["inputs"] == "clean training"]
        label = os.path.basename(os.path.normpath(run))
        layers = {}
        for r in rows:
            experts = [number(r[k], path) for k in r if k.startswith("expert")]
            share = [v / sum(experts) for v in experts] if sum(experts) else experts
            layers.setdefault(r["layer"], []).append((int(number(r["epoch"], path)), share))
        data[label] = {layer: {"epoch": [e for e, _ in v], "share": [s for _, s in v]}
                       for layer, v in layers.items()}
    if not data:
        return
    n = sum(len(v) for v in data.values())
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False)
    i = 0
    for label, layers in data.items():
        for layer, v in layers.items():
            ax = axes[0][i]
            i += 1
            shares = list(zip(*v["share"]))
            bottom = [0.0] * len(v["epoch"])
            for e, s in enumerate(shares):
                ax.bar(v["epoch"], s, bottom=bottom, label=f"expert {e}")
                bottom = [b + x for b, x in zip(bottom, s)]
            ax.set_title(f"{label}\n{layer}", fontsize=8)
            ax.set_xticks(v["epoch"])
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("share of training samples")
    axes[0][0].legend(fontsize=7)
    save(fig, out, "usage", data)


def label_of(path, doc):
    return os.path.splitext(os.path.basename(path))[0]


def plot_dissection(files, out):
    names = ["(1) neither", "(2) routers only", "(3) prediction only", "(4) both"]
    data = {}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(files)
    for i, (path, doc) in enumerate(files):
        label = label_of(path, doc)
        fr = [100 * v for v in doc["fractions"]]
        data[label] = {"fractions_percent": fr, "router_robustness": doc["router_robustness"],
                       "predictor_robustness": doc["predictor_robustness"]}
        ax.bar([k + i * width for k in range(4)], fr, width=width, label=label)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(4)])
    ax.set_xticklabels(names)
    ax.set_ylabel("test points (%)")
    ax.set_title("what the attack fooled (routers: expert changed at any MoE layer)")
    ax.legend(fontsize=7)
    save(fig, out, "dissection", data)


def plot_iou(files, out):
    keys = [k for k in ("clean_vs_adversarial", "clean_vs_mask", "adversarial_vs_mask")
            if any(k in doc for _, doc in files)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
    data = {}
    for j, key in enumerate(keys):
        ax = axes[0][j]
        for path, doc in files:
            if key not in doc:
                continue
            label = label_of(path, doc)
            h = doc[key]["histogram"]
            bins = len(h)
            total = sum(h) or 1
            share = [100 * c / total for c in h]
            data.setdefault(label, {})[key] = {"histogram_percent": share,
                                               "mean": doc[key]["mean"],
                                               "median": doc[key]["median"],
                                               "at_one": doc[key]["at_one"]}
            ax.step([b / bins for b in range(bins + 1)], share + share[-1:], where="post",
                    label=f"{label} (mean {doc[key]['mean']:.2f})")
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("pathway IoU")
        ax.set_ylabel("test points (%)")
        ax.legend(fontsize=7)
    save(fig, out, "iou", data)


def read_summary(path):
    rows = []
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}")
    for i, line in enumerate(lines, 1):
        f = line.split("\t")
        if len(f) < 8:
            raise InputError(f"{path}:{i}: expected 8 tab-separated fields, got {len(f)}")
        ra = number(f[6], f"{path}:{i}") if f[6] else float("nan")
        rows.append({"name": f[0], "method": f[1], "seed": int(f[2]), "r": number(f[3], path),
                     "n": int(f[4]), "sa": 100 * number(f[5], path), "ra": 100 * ra})
    return rows


def mean_std(values):
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0
    return m, s


def plot_sweep(paths, out, kind):
    rows = [r for p in paths for r in read_summary(p)]
    if kind == "scale":
        methods = ["at-sdense", "at-sparse", "at-moe", "advmoe"]
        keep = [r for r in rows if r["method"] in methods and r["n"] in (0, 2)]
        x_of = lambda r: r["r"]  # noqa: E731
        xlabel = "model scale r"
    else:
        methods = ["at-moe", "advmoe"]
        keep = [r for r in rows if r["method"] in methods and r["r"] == 0.5]
        x_of = lambda r: r["n"]  # noqa: E731
        xlabel = "experts N"
    if not keep:
        raise InputError(f"no rows for the {kind} sweep in {', '.join(paths)}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    data = {}
    for m in methods:
        pts = {}
        for r in keep:
            if r["method"] == m:
                pts.setdefault(x_of(r), []).append(r)
        if not pts:
            continue
        xs = sorted(pts)
        entry = {"x": xs, "seeds": [sorted(r["seed"] for r in pts[x]) for x in xs]}
        for j, key in enumerate(("ra", "sa")):
            stats = [mean_std([r[key] for r in pts[x]]) for x in xs]
            entry[key + "_mean"] = [s[0] for s in stats]
            entry[key + "_std"] = [s[1] for s in stats]
            axes[j].errorbar(xs, entry[key + "_mean"], yerr=entry[key + "_std"], marker="o",
                             capsize=3, label=m)
        data[m] = entry
    for ax, title in zip(axes, ["RA (%)", "SA (%)"]):
        ax.set_title(title + ", mean ± std over seeds")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, out, kind, data)


def plot_alpha(files, out):
    data = {}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (path, doc) in enumerate(files):
        label = label_of(path, doc)
        points = doc["points"]
        if not points:
            raise InputError(f"{path}: the sweep has no points")
        alpha = [p["alpha"] for p in points]
        sa = [100 * p["clean_accuracy"] for p in points]
        ra = [100 * p["robust_accuracy"] for p in points]
        data[label] = {"alpha": alpha, "clean_accuracy_percent": sa, "robust_accuracy_percent": ra,
                       "attack": doc.get("attack", "")}
        color = f"C{i % 10}"
        ax.plot(alpha, sa, "-o", color=color, ms=3, label=f"{label} SA")
        ax.plot(alpha, ra, "--s", color=color, ms=3, label=f"{label} RA")
    ax.set_xlabel("alpha (the robust model's share of the logits)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("dual model (1 - alpha) F_std + alpha F_rob")
    ax.legend(fontsize=7)
    save(fig, out, "alpha", data)


def load_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable JSON result ({e})")


def main():
    p = argparse.ArgumentParser(prog="advmoe plot")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--kind", default="auto",
                   choices=["auto", "curves", "usage", "dissection", "iou", "scale", "experts",
                            "alpha"])
    a = p.parse_args()
    runs, dissections, ious, sweeps, alphas = [], [], [], [], []
    for path in a.inputs:
        if os.path.isdir(path):
            if not os.path.exists(os.path.join(path, "metrics.csv")):
                raise InputError(f"{path}: a run directory needs metrics.csv")
            runs.append(path)
        elif path.endswith(".tsv"):
            sweeps.append(path)
        elif os.path.exists(path):
            doc = load_json(path)
            if "categories" in doc:
                dissections.append((path, doc))
            elif "clean_vs_adversarial" in doc:
                ious.append((path, doc))
            elif doc.get("alpha_sweep"):
                alphas.append((path, doc))
            else:
                raise InputError(
                    f"{path}: not an advmoe dissect, iou or sweep-alpha result")
        else:
            raise InputError(f"{path}: no such file or directory")
    k = a.kind
    if runs and k in ("auto", "curves"):
        plot_curves(runs, a.out)
    if runs and k in ("auto", "usage"):
        plot_usage(runs, a.out)
    if dissections and k in ("auto", "dissection"):
        plot_dissection(dissections, a.out)
    if ious and k in ("auto", "iou"):
        plot_iou(ious, a.out)
    if alphas and k in ("auto", "alpha"):
        plot_alpha(alphas, a.out)
    if sweeps:
        for kind in (["scale", "experts"] if k == "auto" else [k]):
            if kind in ("scale", "experts"):
                plot_sweep(sweeps, a.out, kind)


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"advmoe plot: {e}", file=sys.stderr)
        sys.exit(2)

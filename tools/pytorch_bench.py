#!/usr/bin/env python3
"""PyTorch eager baseline for `advmoe bench`: the same models, methods and batch, on a GPU or the CPU.

ResNet-18 (CIFAR stem, 32x32x3, 10 classes) as advmoe builds it:
  dense   every conv at full width;
  sdense  every width times r (the stem too);
  moe     a dense 64-channel stem, both 3x3 convs of every block an MoE conv of N experts of
          r * C channels each, routed per sample by a per-layer router (global average pool of
          the detached layer input -> linear -> top-1, gate 1 with a straight-through gradient);
          the shortcut convs stay dense at r * C. Samples are grouped per expert with
          index_select, convolved with that expert's weight slice and scattered back, the usual
          eager way to make the sparsity real.
Methods (one timed iteration each, images/s of the batch): standard (one SGD step), trades
(PGD-2 on the KL from x + 0.001 N(0, 1), then the TRADES step with beta 6), advmoe (paper
Algorithm 1: a TRADES attack and a router step on one batch, then a TRADES attack and a backbone
step on another), PGD-K evaluation (pgdK, e.g. pgd50: the attack plus one eval forward) and
inference (one eval forward).

--precision bf16 runs under torch.autocast (bf16 convolutions and GEMMs, f32 weights and
optimizer), the counterpart of advmoe's --precision bf16. On the CPU (--device cpu --threads T)
run it with tcmalloc preloaded (LD_PRELOAD=libtcmalloc.so.4), as PyTorch recommends.

Usage: pytorch_bench.py [--variants dense,sdense,moe] [--methods standard,trades,advmoe,pgd50]
                        [--batch 128] [--iters 10] [--device cuda|cpu] [--threads T]
                        [--precision fp32|bf16] [--tf32 off|on] [--csv FILE]
Prints one line per (variant, method) and writes the CSV when asked; the device script compares
it with advmoe's numbers.
"""
import argparse
import contextlib
import csv
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Top1(torch.autograd.Function):
    """Expert index per sample and a gate that is 1 forward, straight-through backward."""

    @staticmethod
    def forward(ctx, logits):
        index = logits.argmax(dim=1)
        ctx.save_for_backward(index)
        ctx.shape = logits.shape
        return index, torch.ones(logits.shape[0], device=logits.device, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad_index, grad_gate):
        (index,) = ctx.saved_tensors
        grad = torch.zeros(ctx.shape, device=grad_gate.device, dtype=grad_gate.dtype)
        grad.scatter_(1, index[:, None], grad_gate[:, None])
        return grad


class MoEConv(nn.Module):
    def __init__(self, cin, width, experts, stride):
        super().__init__()
        self.experts, self.width, self.stride = experts, width, stride
        self.weight = nn.Parameter(torch.randn(experts * width, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5)
        self.router = nn.Linear(cin, experts)

    def forward(self, x):
        logits = self.router(F.adaptive_avg_pool2d(x.detach(), 1).flatten(1))
        index, gate = Top1.apply(logits)
        n = x.shape[0]
        ho = (x.shape[2] - 1) // self.stride + 1
        out = None
        for e in range(self.experts):
            members = (index == e).nonzero(as_tuple=True)[0]
            if members.numel() == 0:
                continue
            w = self.weight[e * self.width:(e + 1) * self.width]
            y = F.conv2d(x.index_select(0, members), w, stride=self.stride, padding=1)
            if out is None:
                # Allocated from the first expert's output so that it takes that output's dtype
                # (bf16 under autocast); Tensor.new_empty takes no memory_format in PyTorch
                # 1.13. Every row is written: each sample goes to exactly one expert.
                out = torch.empty(n, self.width, ho, ho, device=y.device, dtype=y.dtype,
                                  memory_format=torch.channels_last)
            out = out.index_copy(0, members, y)
        return out * gate[:, None, None, None]


def conv3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class Block(nn.Module):
    def __init__(self, cin, planes, stride, experts):
        super().__init__()
        make = (lambda a, b, s: MoEConv(a, b, experts, s)) if experts else conv3
        self.conv1, self.bn1 = make(cin, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = make(planes, planes, 1), nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, variant, ratio=0.5, experts=2, classes=10):
        super().__init__()
        scale = 1.0 if variant == "dense" else ratio
        moe = experts if variant == "moe" else 0
        stem = 64 if variant != "sdense" else round(64 * scale)
        self.conv1, self.bn1 = conv3(3, stem, 1), nn.BatchNorm2d(stem)
        blocks, cin = [], stem
        for layer, width in enumerate([64, 128, 256, 512]):
            planes = max(1, round(width * scale))
            for block in range(2):
                stride = 2 if layer > 0 and block == 0 else 1
                blocks.append(Block(cin, planes, stride, moe))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def trades_attack(model, x, eps, steps, alpha):
    model.eval()
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(adv), dim=1), p_clean, reduction="batchmean")
        (g,) = torch.autograd.grad(loss, adv)
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    model.train()
    return adv.detach()


def trades_loss(model, x, adv, y, beta=6.0):
    logits = model(x)
    kl = F.kl_div(F.log_softmax(model(adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return F.cross_entropy(logits, y) + beta * kl


def pgd_ce(model, x, y, eps, steps, alpha):
    model.eval()
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        model(adv)
    model.train()


def make_iteration(method, model, x, y, x2, y2):
    eps, k = 8 / 255, 2
    alpha = 2.5 * eps / k
    params = list(model.parameters())
    routers = [p for n, p in model.named_parameters() if ".router." in n]
    backbone = [p for n, p in model.named_parameters() if ".router." not in n]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt_r = torch.optim.SGD(routers or params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt_b = torch.optim.SGD(backbone, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def standard():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def trades():
        adv = trades_attack(model, x, eps, k, alpha)
        opt.zero_grad(set_to_none=True)
        trades_loss(model, x, adv, y).backward()
        opt.step()

    def advmoe():
        for batch, labels, optimizer in ((x2, y2, opt_r), (x, y, opt_b)):
            adv = trades_attack(model, batch, eps, k, alpha)
            optimizer.zero_grad(set_to_none=True)
            trades_loss(model, batch, adv, labels).backward()
            optimizer.step()

    def inference():
        model.eval()
        with torch.no_grad():
            model(x)
        model.train()

    if method.startswith("pgd"):
        return lambda: pgd_ce(model, x, y, eps, int(method[3:]), 2 / 255)
    return {"standard": standard, "trades": trades, "advmoe": advmoe, "inference": inference}[method]


def synchronize(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def images_per_second(step, batch, iters, dev, precision, warmup=2):
    # A fresh autocast region per iteration, as a training loop has: autocast caches its bf16
    # copies of the weights until the region ends, and one region around every iteration would
    # keep using copies that the optimizer's steps have made stale.
    def run():
        bf16 = precision == "bf16"
        with torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            step()

    for _ in range(warmup):
        run()
    synchronize(dev)
    start = time.perf_counter()
    for _ in range(iters):
        run()
    synchronize(dev)
    return batch * iters / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default="dense,sdense,moe")
    ap.add_argument("--methods", default="standard,trades,advmoe,pgd50")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--tf32", choices=["on", "off"], default="off")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--threads", type=int, default=0, help="cpu: intra-op threads (0: PyTorch's)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--csv", default="")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_bench.py: no CUDA device (use --device cpu)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True  # like advmoe's timed algorithm search
    torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
    torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    torch.manual_seed(0)
    dev = torch.device(a.device)
    where = torch.cuda.get_device_name() if a.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    rows = []
    print(f"pytorch {torch.__version__}, {where}, batch {a.batch}, {a.precision}, "
          f"tf32 {a.tf32}; images/s")
    for variant in a.variants.split(","):
        model = ResNet18(variant).to(dev).to(memory_format=torch.channels_last)
        shape = (a.batch, 3, 32, 32)
        x = torch.rand(shape, device=dev).contiguous(memory_format=torch.channels_last)
        x2 = torch.rand(shape, device=dev).contiguous(memory_format=torch.channels_last)
        y = torch.arange(a.batch, device=dev) % 10
        for method in a.methods.split(","):
            step = make_iteration(method, model, x, y, x2, y)
            iters = max(1, a.iters // 5) if method.startswith("pgd") else a.iters
            rate = images_per_second(step, a.batch, iters, dev, a.precision,
                                     warmup=1 if method.startswith("pgd") else 2)
            rows.append({"variant": variant, "method": method, "images_per_s": f"{rate:.1f}"})
            print(f"  {variant:7s} {method:9s} {rate:10.1f}", flush=True)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["variant", "method", "images_per_s"])
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

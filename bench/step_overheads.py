"""Before/after measurements of the training-step speed changes, in one process, alternating.

    python3 bench/step_overheads.py [--repeats 5] [--threads 2]

Times 100 reference-mlp steps (batch 128, Fashion-MNIST-sized random input) for: a bare PyTorch
loop (default and fused Adam) and vaekit's objective + optimiser step with each per-step cost
switched on or off (fused Adam, the finiteness check's host sync, the gradient-norm pass).
Reports median samples/s per variant.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.api import resolve_config
from vaekit.models import build_model
from vaekit.objectives import build_objective

BATCH, STEPS = 128, 100


def vaekit_steps(x: torch.Tensor, *, fused: bool, norm: bool, check: bool) -> float:
    cfg = resolve_config("reference-mlp")
    torch.manual_seed(0)
    model = build_model(cfg.model, (1, 28, 28))
    objective = build_objective(cfg.objective)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    t0 = time.perf_counter()
    for i in range(STEPS):
        loss = objective(model, x[i * BATCH : (i + 1) * BATCH])
        if check:
            bool(torch.isfinite(loss.total))
        opt.zero_grad(set_to_none=True)
        loss.total.backward()
        if norm:
            total = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)
            if check:
                bool(torch.isfinite(total))
        opt.step()
    return STEPS * BATCH / (time.perf_counter() - t0)


def plain_steps(x: torch.Tensor, *, fused: bool) -> float:
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 32))
    dec = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3, fused=fused)
    t0 = time.perf_counter()
    for i in range(STEPS):
        xb = x[i * BATCH : (i + 1) * BATCH].flatten(1)
        mu, logvar = enc(xb).chunk(2, -1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="none").sum(-1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
        loss = (rec + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return STEPS * BATCH / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(BATCH * STEPS, 1, 28, 28)
    variants = {
        "plain loop, Adam": lambda: plain_steps(x, fused=False),
        "plain loop, fused Adam": lambda: plain_steps(x, fused=True),
        "vaekit, Adam, norm + check (before)": lambda: vaekit_steps(x, fused=False, norm=True, check=True),
        "vaekit, Adam, no check": lambda: vaekit_steps(x, fused=False, norm=True, check=False),
        "vaekit, Adam, no norm pass": lambda: vaekit_steps(x, fused=False, norm=False, check=True),
        "vaekit, fused Adam, norm + check (after)": lambda: vaekit_steps(x, fused=True, norm=True, check=True),
        "vaekit, fused Adam, no norm pass": lambda: vaekit_steps(x, fused=True, norm=False, check=True),
    }
    for run in variants.values():  # warm-up
        run()
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            results[name].append(run())
    base = statistics.median(results["vaekit, Adam, norm + check (before)"])
    print(f"| variant ({args.threads} threads, {args.repeats} repeats) | median samples/s | vs 'before' |")
    print("|---|---|---|")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()

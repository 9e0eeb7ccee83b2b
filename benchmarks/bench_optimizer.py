"""MNP's optimiser step (not a test): time per training step as ratios measured in one run.

The step of MNP's layer-wise pretraining (8 rows, a denoising autoencoder D -> h1 -> D on
pendigits' shape, Adam lr 5e-3, weight decay 5e-4) with

- ``torch.optim.Adam`` (the for-loop kernel), ``torch.optim.Adam(fused=True)``, and
- mnpad's ``_Adam`` (the same fused update through ``torch.optim.adam.adam``, without the
  Optimizer class's per-step bookkeeping),

interleaved over ``--rounds`` rounds so machine load hits all three alike; reports the median
microseconds per step, the ratios to ``torch.optim.Adam(fused=True)``, and whether ``_Adam``'s
parameters after the run are bit-identical to the fused Optimizer's. Writes
``benchmarks/results/optimizer_step.md``.

    OMP_NUM_THREADS=1 python benchmarks/bench_optimizer.py [--steps 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from mnpad.detectors.mnp import _Adam

OUT = Path(__file__).resolve().parent / "results" / "optimizer_step.md"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--features", type=int, default=16)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    D = args.features
    h = D - (D - 8) // 2
    net0 = torch.nn.Sequential(torch.nn.Linear(D, h), torch.nn.LeakyReLU(0.01),
                               torch.nn.Linear(h, D), torch.nn.LeakyReLU(0.01))
    X = torch.randn(4000, D)
    rng = np.random.default_rng(0)
    idx = [torch.as_tensor(rng.choice(len(X), 8, replace=False)) for _ in range(args.steps)]
    makers = {
        "torch.optim.Adam": lambda ps: torch.optim.Adam(ps, lr=5e-3, weight_decay=5e-4),
        "torch.optim.Adam(fused=True)": lambda ps: torch.optim.Adam(ps, lr=5e-3,
                                                                     weight_decay=5e-4,
                                                                     fused=True),
        "mnpad _Adam": lambda ps: _Adam(ps, lr=5e-3, weight_decay=5e-4),
    }
    times = {k: [] for k in makers}
    final = {}
    for _ in range(args.rounds):
        for name, make in makers.items():
            net = copy.deepcopy(net0)
            opt = make(list(net.parameters()))
            t = time.perf_counter()
            for b in idx:
                x = X[b]
                loss = F.mse_loss(net(x + 0.05), x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            times[name].append((time.perf_counter() - t) / len(idx) * 1e6)
            final[name] = [p.detach().clone() for p in net.parameters()]
    ref = "torch.optim.Adam(fused=True)"
    med = {k: statistics.median(v) for k, v in times.items()}
    same = all(torch.equal(a, b) for a, b in zip(final["mnpad _Adam"], final[ref], strict=True))
    lines = ["# MNP's optimiser step", "",
             f"`OMP_NUM_THREADS=1 python benchmarks/bench_optimizer.py --steps {args.steps} "
             f"--rounds {args.rounds}`: one training step of an 8-row denoising autoencoder "
             f"{D} -> {h} -> {D} (MNP's layer-wise pretraining), one thread, median of "
             f"{args.rounds} interleaved rounds of {args.steps} steps.", "",
             "| optimiser | us per step | ratio to fused Optimizer |", "|---|---|---|"]
    lines += [f"| {k} | {med[k]:.0f} | {med[k] / med[ref]:.2f} |" for k in makers]
    lines += ["", f"`_Adam`'s parameters after the run bit-identical to "
              f"`torch.optim.Adam(fused=True)`'s: **{same}**."]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The training step of an exported difflab UNet, timed in PyTorch: the reference for
`npm run bench -- train --against torch`.

    /usr/bin/python3 bench/torch/train_step.py EXPORT.safetensors --size 16 --batch 32 --steps 7 --threads 1

The step is difflab's ε-objective step on the same network: per-sample σ from the VP schedule's
discrete levels, x_in = c_in·(x0 + σ·ε), F(x_in, c_noise), mean squared error against ε, backward,
global-norm clipping (1.0), AdamW and an EMA of the weights. The images are random (the step's cost
does not depend on them). Prints one JSON line: the median step in ms over `--steps` timed steps after
two warm-up steps, and the per-phase medians.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from difflab_torch import load_export  # noqa: E402


def blas():
    """The BLAS library loaded in this process (Debian's torch uses whichever libblas.so.3 is selected)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return "unknown"
    for name in ("openblas", "mkl", "blis"):
        if any(name in lib for lib in libs):
            return name
    return "reference" if any("libblas.so" in lib for lib in libs) else "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=16, help="image side the network runs at")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    models, _ = load_export(a.export)
    net = models["unet"].train()
    for p in net.parameters():
        p.requires_grad_(True)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.0)
    u = net.tree["in"].weight.shape[1]
    size = a.size
    # Linear VP schedule, T = 1000: σ_t = sqrt((1 − ᾱ_t)/ᾱ_t).
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    sig_table = ((1 - abar) / abar).sqrt().float()
    x0 = torch.randn(a.batch, u, size, size).clamp(-1, 1)

    def step():
        t = torch.randint(0, 1000, (a.batch,))
        sigma = sig_table[t].view(-1, 1, 1, 1)
        eps = torch.randn_like(x0)
        c_in = 1 / (1 + sigma ** 2).sqrt()
        t0 = time.perf_counter()
        out = net(c_in * (x0 + sigma * eps), t.float())
        loss = ((out - eps) ** 2).mean()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.995)
            torch._foreach_add_(ema, [p.detach() for p in net.parameters()], alpha=0.005)
        t3 = time.perf_counter()
        return (t3 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3

    step()
    step()
    rows = [step() for _ in range(a.steps)]
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(json.dumps({"torch": torch.__version__, "blas": blas(), "threads": torch.get_num_threads(), "batch": a.batch,
                      "msPerStep": med[0], "forwardMs": med[1], "backwardMs": med[2], "updateMs": med[3],
                      "params": sum(p.numel() for p in net.parameters())}))


if __name__ == "__main__":
    main()

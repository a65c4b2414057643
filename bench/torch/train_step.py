"""The training step of an exported difflab UNet or DiT, timed in PyTorch: the reference for
`npm run bench -- train --against torch`.

    /usr/bin/python3 bench/torch/train_step.py EXPORT.safetensors --size 16 --batch 32 --steps 7 --threads 1

The step is the one the training config names (--objective, --schedule, --T, --lr, --clip, --ema,
which `npm run bench -- train` reads from the config): eps, x0 or v on the config's discrete VP
schedule (per-sample level t, σ_t = √((1 − ᾱ_t)/ᾱ_t), x_in = c_in·(x0 + σ·ε), F(x_in, t), mean
squared error against ε, x0 or v), or flow, flow-x0, flow-eps (t ~ U(0, 1), x_t = (1 − t)·x0 + t·ε,
F(x_t, 1000·t), error against ε − x0, x0 or ε; --weighting velocity weights it as JiT's v-loss); then backward, global-norm clipping, AdamW and an EMA of the weights. The
images are random (the step's cost does not depend on them). Prints one JSON line: the median step in
ms over `--steps` timed steps after two warm-up steps, the per-phase medians, and the allocator
settings the process ran with (glibc returning freed memory to the OS costs torch thousands of page
faults per step: run it as its users do, with GLIBC_TUNABLES or jemalloc).
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
    ap.add_argument("--objective", choices=["eps", "x0", "v", "flow", "flow-x0", "flow-eps"], default="eps")
    ap.add_argument("--weighting", choices=["simple", "velocity"], default="simple")
    ap.add_argument("--schedule", choices=["linear", "scaled-linear", "cosine"], default="linear")
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--vae", action="store_true", help="time the autoencoder's step (src/models/vae.ts loss) instead of the denoiser's")
    ap.add_argument("--reconstruction", choices=["l1", "l2"], default="l1")
    ap.add_argument("--kl-weight", type=float, default=1e-6)
    ap.add_argument("--profile", action="store_true", help="also profile one step with torch.profiler: self CPU time per op")
    ap.add_argument("--sample-batch", type=int, default=0, help="also time one no-grad forward pass (the denoiser, or the VAE decoder) at this batch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    models, _ = load_export(a.export)
    net = (models["vae"] if a.vae else models["net"]).train()
    # Every parameter trains but a DiT's fixed position embedding (as in difflab and DiT).
    params = [p for name, p in net.named_parameters() if name != "pos_embed"]
    for p in params:
        p.requires_grad_(True)
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    u = (net.tree["enc"]["in"].weight.shape[1] if a.vae else net.tree["in"].weight.shape[1] if "unet" in models else net.in_channels)
    size = a.size
    # The discrete VP schedule (DDPM's linear, LDM's scaled-linear, Nichol & Dhariwal's cosine).
    T = a.T
    if a.schedule == "linear":
        abar = torch.cumprod(1 - torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64), 0)
    elif a.schedule == "scaled-linear":
        abar = torch.cumprod(1 - torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2, 0)
    else:
        s = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((s + 0.008) / 1.008 * torch.pi / 2) ** 2
        abar = torch.cumprod(1 - (1 - f[1:] / f[:-1]).clamp(max=0.999), 0)
    sig_table = ((1 - abar) / abar).sqrt().float()
    x0 = torch.randn(a.batch, u, size, size).clamp(-1, 1)

    def step():
        eps = torch.randn_like(x0)
        t0 = time.perf_counter()
        w = None
        if a.vae:
            # reconstruction (mean over pixels) + β·KL/D, one reparameterised z, as src/models/vae.ts.
            mean, logvar = net.encode(x0)
            z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
            diff = net.decode(z) - x0
            rec = diff.abs().mean() if a.reconstruction == "l1" else (diff ** 2).mean()
            kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum([1, 2, 3]).mean()
            out, target = None, None
            loss = rec + kl * a.kl_weight / x0[0].numel()
        elif a.objective.startswith("flow"):
            t = torch.rand(a.batch)
            tt = t.view(-1, 1, 1, 1)
            out = net((1 - tt) * x0 + tt * eps, 1000 * t)
            target = {"flow": eps - x0, "flow-x0": x0, "flow-eps": eps}[a.objective]
            if a.weighting == "velocity":
                # JiT's velocity loss on the network's output: 1/max(t, 0.05)² on the x0 error, whose
                # size is |c_out| times the output's (c_out: −t for flow, 1 for flow-x0, −σ for flow-eps)
                sigma = tt / (1 - tt)
                c_out = {"flow": -tt, "flow-x0": torch.ones_like(tt), "flow-eps": -sigma}[a.objective]
                w = c_out ** 2 / tt.clamp(min=0.05) ** 2
        else:
            t = torch.randint(0, T, (a.batch,))
            sigma = sig_table[t].view(-1, 1, 1, 1)
            c_in = 1 / (1 + sigma ** 2).sqrt()
            out = net(c_in * (x0 + sigma * eps), t.float())
            # v = α·ε − σ_vp·x0 with α = c_in·… in VP terms: √ᾱ·ε − √(1−ᾱ)·x0.
            target = eps if a.objective == "eps" else x0 if a.objective == "x0" else c_in * eps - sigma * c_in * x0
        if not a.vae:
            loss = ((out - target) ** 2).mean() if w is None else (w * (out - target) ** 2).mean()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, a.ema)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - a.ema)
        t3 = time.perf_counter()
        return (t3 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3

    step()
    step()
    rows = [step() for _ in range(a.steps)]
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    profile = None
    if a.profile:
        from torch.profiler import ProfilerActivity, profile as tprofile
        with tprofile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        profile = [{"op": e.key, "calls": e.count, "ms": e.self_cpu_time_total / 1e3} for e in ops[:25]]
    sample_ms = None
    if a.sample_batch:
        # One evaluation as a sampler makes it: no gradient, eval mode (the decoder alone for the VAE).
        net.eval()
        side = net.sizes[-1] if a.vae else size
        xs = torch.randn(a.sample_batch, net.z if a.vae else u, side, side)
        ts = torch.full((a.sample_batch,), 500.0)
        times = []
        with torch.no_grad():
            for _ in range(4):
                s0 = time.perf_counter()
                net.decode(xs) if a.vae else net(xs, ts)
                times.append((time.perf_counter() - s0) * 1e3)
        sample_ms = statistics.median(times[1:])
    print(json.dumps({"torch": torch.__version__, "blas": blas(), "threads": torch.get_num_threads(), "batch": a.batch,
                      "msPerStep": med[0], "sampleMs": sample_ms, "profile": profile, "forwardMs": med[1], "backwardMs": med[2], "updateMs": med[3],
                      "params": sum(p.numel() for p in params), "objective": a.objective,
                      "malloc": os.environ.get("GLIBC_TUNABLES", "glibc defaults")}))


if __name__ == "__main__":
    main()

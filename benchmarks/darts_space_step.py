"""The DARTS-space supernet's search step against DARTS's straightforward ``MixedOp``, on the CPU (issue 25).

One search step = DARTS-V1's architecture step (forward and backward on a
validation batch, gradients of ``alpha`` only) + the weight step (forward and
backward on a training batch, gradients of the weights). Three implementations
of the same network and weights, interleaved, in one run:

- ``reference`` — DARTS's ``MixedOp``: every operation module called on every
  edge, ``sum_k w_k · op_k(x)`` (``DartsSupernet(reference=True, channels_last=False)``,
  the memory format of DARTS's code);
- ``reference-cl`` — the same in ``channels_last`` (isolates what the memory format gives);
- ``fused`` — our forward (``DartsSupernet()``: fused edges, ``channels_last``).

First, in float64 on one batch, the losses and every gradient of ``fused`` and
``reference`` are compared (largest absolute difference printed). Then each is
timed (CPU seconds of this process, ``time.process_time``; median over
``--repeats`` interleaved rounds) in float32. Rule: ``fused`` passes when its
median step is ≤ 0.7 × ``reference``'s.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/darts_space_step.py \\
        --out benchmarks/results/darts_space_step.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from proxydata.nas.spaces.darts import DartsSupernet  # noqa: E402

VARIANTS = {
    "reference": dict(reference=True, channels_last=False),
    "reference-cl": dict(reference=True, channels_last=True),
    "fused": dict(reference=False, channels_last=True),
}


def step(net: DartsSupernet, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor) -> float:
    """CPU seconds of one architecture step (alpha gradients) and one weight step (weight gradients)."""
    start = time.process_time()
    torch.autograd.grad(F.cross_entropy(net(xv), yv), net.arch_parameter_list())
    torch.autograd.grad(F.cross_entropy(net(x), y), net.weight_parameters())
    return time.process_time() - start


def equality(args: argparse.Namespace) -> tuple[float, float]:
    """Largest |difference| of the loss and of any gradient, fused vs reference, float64."""
    nets = [
        DartsSupernet(C=args.C, layers=args.layers, seed=0, **VARIANTS[v]).double()
        for v in ("fused", "reference")
    ]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p, q in zip(nets[0].arch_parameter_list(), nets[1].arch_parameter_list()):
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
            q.copy_(p)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    out = []
    for net in nets:
        loss = F.cross_entropy(net(x), y)
        out.append((loss.detach(), torch.autograd.grad(loss, list(net.parameters()))))
    d_loss = float((out[0][0] - out[1][0]).abs())
    d_grad = max(float((a - b).abs().max()) for a, b in zip(out[0][1], out[1][1]))
    return d_loss, d_grad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    d_loss, d_grad = equality(args)
    g = torch.Generator().manual_seed(0)
    x, xv = (torch.randn(args.batch, 3, args.size, args.size, generator=g) for _ in range(2))
    y, yv = (torch.randint(0, 10, (args.batch,), generator=g) for _ in range(2))
    nets = {v: DartsSupernet(C=args.C, layers=args.layers, seed=0, **kw) for v, kw in VARIANTS.items()}
    times: dict[str, list[float]] = {v: [] for v in nets}
    for net in nets.values():
        step(net, x, y, xv, yv)  # warm-up
    for _ in range(args.repeats):
        for v, net in nets.items():
            times[v].append(step(net, x, y, xv, yv))
    med = {v: statistics.median(t) for v, t in times.items()}
    ratio = med["fused"] / med["reference"]
    command = "PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/darts_space_step.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "# DARTS-space supernet: search step against DARTS's MixedOp (CPU)",
        "",
        f"Command: `{command}`",
        "",
        f"Network C={args.C}, {args.layers} cells, batch {args.batch} of {args.size}×{args.size} images, "
        f"one torch thread, torch {torch.__version__}. CPU seconds of this process per step "
        "(architecture step + weight step), median of "
        f"{args.repeats} interleaved rounds; the machine was shared (2 cores, other jobs running).",
        "",
        "Rule: the fused step passes when its median is ≤ 0.7 × the reference's (DARTS's MixedOp, NCHW).",
        "",
        "| implementation | median s/step | all rounds | × reference |",
        "|---|---|---|---|",
    ]
    for v in nets:
        rounds = " ".join(f"{t:.3f}" for t in times[v])
        lines.append(f"| {v} | {med[v]:.3f} | {rounds} | {med[v] / med['reference']:.2f} |")
    lines += [
        "",
        f"Same numbers in float64 (C={args.C}, {args.layers} cells, one batch, random alphas): largest "
        f"|loss difference| {d_loss:.2e}, largest |gradient difference| over every parameter {d_grad:.2e}.",
        "",
        f"Verdict: fused / reference = {ratio:.2f} — {'passes' if ratio <= 0.7 else 'FAILS'} the 0.7 target.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

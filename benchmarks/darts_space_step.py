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
``--repeats`` interleaved rounds) in float32, in every ``--config`` (default: the
CPU-scale runs' network and DARTS's own search network). Rule: ``fused`` passes
when its median step is ≤ 0.7 × ``reference``'s in every configuration.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/darts_space_step.py \\
        --out benchmarks/results/darts_space_step.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
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


def equality(cfg: Config) -> tuple[float, float]:
    """Largest |difference| of the loss and of any gradient, fused vs reference, float64."""
    nets = [
        DartsSupernet(C=cfg.C, layers=cfg.layers, seed=0, **VARIANTS[v]).double()
        for v in ("fused", "reference")
    ]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p, q in zip(nets[0].arch_parameter_list(), nets[1].arch_parameter_list()):
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
            q.copy_(p)
    x = torch.randn(min(cfg.batch, 8), 3, cfg.size, cfg.size, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    out = []
    for net in nets:
        loss = F.cross_entropy(net(x), y)
        out.append((loss.detach(), torch.autograd.grad(loss, list(net.parameters()))))
    d_loss = float((out[0][0] - out[1][0]).abs())
    d_grad = max(float((a - b).abs().max()) for a, b in zip(out[0][1], out[1][1]))
    return d_loss, d_grad


@dataclass(frozen=True)
class Config:
    """One network and batch: ``C``, cells, image size, batch size, and what it stands for."""

    C: int
    layers: int
    size: int
    batch: int
    label: str

    @classmethod
    def parse(cls, text: str) -> Config:
        parts = text.split(",")
        if len(parts) != 5:
            raise argparse.ArgumentTypeError(f"--config wants C,layers,size,batch,label; got {text!r}")
        return cls(*(int(v) for v in parts[:4]), parts[4])  # type: ignore[arg-type]


DEFAULT_CONFIGS = (
    Config(4, 5, 16, 64, "the CPU-scale runs (darts_space_cpu.py)"),
    Config(16, 8, 32, 16, "DARTS's search network, batch cut from 64 to 16"),
)


def measure(cfg: Config, repeats: int) -> dict[str, list[float]]:
    """CPU seconds per step of each variant, ``repeats`` interleaved rounds after one warm-up."""
    g = torch.Generator().manual_seed(0)
    x, xv = (torch.randn(cfg.batch, 3, cfg.size, cfg.size, generator=g) for _ in range(2))
    y, yv = (torch.randint(0, 10, (cfg.batch,), generator=g) for _ in range(2))
    nets = {v: DartsSupernet(C=cfg.C, layers=cfg.layers, seed=0, **kw) for v, kw in VARIANTS.items()}
    times: dict[str, list[float]] = {v: [] for v in nets}
    for net in nets.values():
        step(net, x, y, xv, yv)  # warm-up
    for _ in range(repeats):
        for v, net in nets.items():
            times[v].append(step(net, x, y, xv, yv))
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--config", type=Config.parse, action="append", default=None,
        help="C,layers,size,batch,label (repeatable; default: the two of DEFAULT_CONFIGS)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    configs = args.config or list(DEFAULT_CONFIGS)
    torch.set_num_threads(1)
    command = "PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/darts_space_step.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "# DARTS-space supernet: search step against DARTS's MixedOp (CPU)",
        "",
        f"Command: `{command}`",
        "",
        f"One torch thread, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
        "CPU seconds of this process per step (architecture step + weight step), median of "
        f"{args.repeats} interleaved rounds after a warm-up. The machine had 2 cores and two other "
        "single-threaded jobs running; the variants share that load alike because they are interleaved.",
        "",
        "Rule, stated before the numbers: the fused step passes when its median is ≤ 0.7 × the "
        "reference's (DARTS's MixedOp, NCHW) in every configuration, with the same loss and gradients "
        "in float64 (largest difference ≤ 1e-12).",
    ]
    verdicts = []
    for cfg in configs:
        d_loss, d_grad = equality(cfg)
        times = measure(cfg, args.repeats)
        med = {v: statistics.median(t) for v, t in times.items()}
        ratio = med["fused"] / med["reference"]
        ok = ratio <= 0.7 and max(d_loss, d_grad) <= 1e-12
        verdicts.append(ok)
        lines += [
            "",
            f"## C={cfg.C}, {cfg.layers} cells, {cfg.size}×{cfg.size} images, batch {cfg.batch} "
            f"— {cfg.label}",
            "",
            "| implementation | median s/step | all rounds | × reference |",
            "|---|---|---|---|",
        ]
        for v in times:
            rounds = " ".join(f"{t:.3f}" for t in times[v])
            lines.append(f"| {v} | {med[v]:.3f} | {rounds} | {med[v] / med['reference']:.2f} |")
        lines += [
            "",
            f"float64, {min(cfg.batch, 8)} images, random alphas: largest |loss difference| {d_loss:.2e}, "
            f"largest |gradient difference| over every parameter {d_grad:.2e}.",
            "",
            f"fused / reference = {ratio:.2f} — {'passes' if ok else 'FAILS'}.",
        ]
    lines += [
        "",
        f"Verdict: {'passes' if all(verdicts) else 'FAILS'} "
        f"({sum(verdicts)}/{len(verdicts)} configurations).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

"""DARTS-V1 search time against the proxy ratio r, and our supernet against the naive one.

Part 1 — does the search time follow the data? DARTS-V1 on the NAS-Bench-201
supernet (C=8, N=1) over CIFAR-10 16×16 (search-train = the first 2,000
training images, search-val = the next 2,000), with an RS proxy of the
search-train split at r = 1, 0.75, 0.5, 0.25 as the training loader's sampler.
As in the paper's protocol the validation split is not reduced: the
architecture step still runs once per training batch, so both steps scale
with r. Target: seconds-per-epoch ratio to r = 1 within 0.05 of r.

Part 2 — per-step seconds (one architecture + one weight step, through
``search``) of our supernet against the straightforward implementation of
the same network (``SearchNetwork(reference=True)``: all 5 operations per
edge, ``none`` as zeros times its weight, one call per operation, PyTorch's
``avg_pool2d``), in the same run, interleaved.

Part 3 — the 3×3 average pooling (``count_include_pad=False``) alone:
PyTorch's ``avg_pool2d`` against the box filter the supernet uses.

Usage::

    python benchmarks/search_time.py [--data-dir ../shared/data] [--out benchmarks/results/search_time.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import proxydata
from proxydata.datasets import ArrayDataset
from proxydata.nas import SearchNetwork, search
from proxydata.nas.spaces.nb201.ops import avg_pool_3x3

REPO = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_cifar16(data_dir: Path, n_train: int, n_val: int) -> tuple[ArrayDataset, ArrayDataset]:
    path = data_dir / "cifar10_16x16.npz"
    if not path.is_file():
        sys.exit(
            f"cifar10_16x16.npz not found in {str(data_dir)!r} (set --data-dir or PROXYDATA_SHARED_DATA)"
        )
    with np.load(path, allow_pickle=False) as z:
        x, y = z["x_train"][: n_train + n_val], z["y_train"][: n_train + n_val].astype(np.int64)
    return ArrayDataset(x[:n_train], y[:n_train]), ArrayDataset(x[n_train:], y[n_train:])


def run_search(train, val, ratio, args, *, reference=False, algo="darts-v1", epochs=None):
    """One search; returns (SearchResult, process CPU seconds of every epoch)."""
    net = SearchNetwork(C=args.C, N=args.N, in_channels=3, algo="darts", reference=reference, seed=0)
    proxy = proxydata.RandomProxy(train, ratio=ratio, seed=0, progress=False)
    train_loader = DataLoader(train, batch_size=args.batch_size, sampler=proxy)
    gen = torch.Generator().manual_seed(0)
    val_loader = DataLoader(val, batch_size=args.batch_size, shuffle=True, generator=gen)
    marks = [time.process_time()]

    def mark(epoch, result, network):  # end of every epoch
        marks.append(time.process_time())

    res = search(
        net, train_loader, val_loader, algo=algo, epochs=epochs or args.epochs, seed=0,
        callbacks=[mark], progress=False,
    )  # fmt: skip
    return res, list(np.diff(marks))


def _cells(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def part1(train, val, args) -> list[str]:
    cpu: dict[float, list[float]] = {r: [] for r in args.ratios}
    wall: dict[float, list[float]] = {r: [] for r in args.ratios}
    sizes: dict[float, tuple[list[int], list[int]]] = {}
    for rep in range(args.repeats):
        for r in args.ratios:
            res, cpu_s = run_search(train, val, r, args)
            cpu[r].extend(cpu_s)
            wall[r].extend(res.epoch_seconds)
            sizes[r] = (res.train_sizes, res.val_sizes)
            print(f"  rep {rep} r={r}: cpu {_cells(cpu_s)} s, wall {_cells(res.epoch_seconds)} s", flush=True)
    base_cpu, base_wall = statistics.median(cpu[1.0]), statistics.median(wall[1.0])
    lines = [
        "| r | train samples / epoch | val samples / epoch | CPU s / epoch (median) "
        "| CPU s, all epochs | ratio to r=1 (CPU) | abs(ratio - r) | within 0.05 "
        "| wall s / epoch (median) | ratio to r=1 (wall) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in args.ratios:
        med, med_wall = statistics.median(cpu[r]), statistics.median(wall[r])
        ratio = med / base_cpu
        lines.append(
            f"| {r:g} | {sizes[r][0][0]} | {sizes[r][1][0]} | {med:.2f} | {_cells(cpu[r])} | {ratio:.3f} | "
            f"{abs(ratio - r):.3f} | {'yes' if abs(ratio - r) <= 0.05 else 'no'} | {med_wall:.2f} | "
            f"{med_wall / base_wall:.3f} |"
        )
    return lines


def part2(train, val, args) -> list[str]:
    n_steps = args.step_batches
    m = n_steps * args.batch_size
    sub_train = ArrayDataset(train.images[:m], train.targets[:m])
    cpu: dict[tuple[str, bool], list[float]] = {}
    wall: dict[tuple[str, bool], list[float]] = {}
    for algo in ("darts-v1", "darts-v2"):
        for rep in range(args.repeats + 1):
            for reference in (False, True):
                res, cpu_s = run_search(sub_train, val, 1.0, args, reference=reference, algo=algo, epochs=1)
                if rep:  # the first round warms up
                    cpu.setdefault((algo, reference), []).append(cpu_s[0] / n_steps)
                    wall.setdefault((algo, reference), []).append(res.epoch_seconds[0] / n_steps)
    lines = [
        "| algorithm | ours: CPU s / step | straightforward: CPU s / step | speed-up (CPU) "
        "| ours: wall s / step | straightforward: wall s / step |",
        "|---|---|---|---|---|---|",
    ]
    for algo in ("darts-v1", "darts-v2"):
        ours, ref = statistics.median(cpu[(algo, False)]), statistics.median(cpu[(algo, True)])
        ours_w, ref_w = statistics.median(wall[(algo, False)]), statistics.median(wall[(algo, True)])
        lines.append(f"| {algo} | {ours:.4f} | {ref:.4f} | {ref / ours:.2f}× | {ours_w:.4f} | {ref_w:.4f} |")
    return lines


def part3(args) -> list[str]:
    lines = [
        "| input (b, c, h, w) | avg_pool2d fwd+bwd (CPU µs) | box filter fwd+bwd (CPU µs) | speed-up |",
        "|---|---|---|---|",
    ]
    for shape in [(64, 8, 16, 16), (64, 16, 8, 8), (64, 32, 4, 4), (64, 16, 32, 32)]:
        x = torch.randn(shape, requires_grad=True)

        def ref(t):
            return F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False)

        res = {}
        for fn in (ref, avg_pool_3x3):
            for _ in range(5):
                fn(x).sum().backward()
        for name, fn in (("ref", ref), ("box", avg_pool_3x3)) * 3:
            t0 = time.process_time()
            for _ in range(50):
                out = fn(x)
                out.backward(torch.ones_like(out))
            res.setdefault(name, []).append((time.process_time() - t0) / 50 * 1e6)
        a, b = min(res["ref"]), min(res["box"])
        lines.append(f"| {shape} | {a:.0f} | {b:.0f} | {a / b:.1f}× |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search_time.md")
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=2000)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--ratios", type=float, nargs="+", default=[1.0, 0.75, 0.5, 0.25])
    p.add_argument("--repeats", type=int, default=2, help="rounds over the ratios (interleaved)")
    p.add_argument("--step-batches", type=int, default=10, help="batches per timing run in part 2")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if 1.0 not in args.ratios:
        args.ratios = [1.0, *args.ratios]
    torch.set_num_threads(args.threads)
    command = "python benchmarks/search_time.py " + " ".join(argv if argv is not None else sys.argv[1:])

    t0 = time.perf_counter()
    train, val = load_cifar16(args.data_dir, args.n_train, args.n_val)
    print(f"data loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    run_search(train, val, 0.1, args, epochs=1)  # warm-up (allocator, oneDNN kernels)
    load_before = os.getloadavg()
    print("part 1: seconds per epoch vs r", flush=True)
    p1 = part1(train, val, args)
    print("part 2: per-step seconds, ours vs straightforward", flush=True)
    p2 = part2(train, val, args)
    print("part 3: pooling", flush=True)
    p3 = part3(args)
    load_after = os.getloadavg()

    text = [
        "# Search time vs. proxy ratio, and the supernet's speed",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"{args.threads} thread(s); load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        "(the machine is shared by several users: wall times are noisy, so the ratios use the process's "
        "CPU time, `time.process_time()`, which with one thread is the work done; runs are interleaved).",
        "",
        "## 1. DARTS-V1 seconds per epoch vs r (RS proxy of the search-train split)",
        "",
        f"CIFAR-10 16×16, search-train = first {args.n_train} training images, "
        f"search-val = next {args.n_val}; "
        f"SearchNetwork C={args.C}, N={args.N}; batch {args.batch_size}; {args.epochs} epochs per run, "
        f"{args.repeats} interleaved rounds over r (the median is over all epochs of all rounds). "
        "The validation split is not reduced: one architecture step per training batch, so the "
        "validation samples processed per epoch shrink with r too.",
        "",
        *p1,
        "",
        "## 2. Per-step seconds: our supernet vs the straightforward implementation",
        "",
        f"One step = architecture step + weight step through `search` ({args.step_batches} batches of "
        f"{args.batch_size}, CIFAR-10 16×16, C={args.C}, N={args.N}); median of {args.repeats} interleaved "
        "runs after a warm-up round. Straightforward = `SearchNetwork(reference=True)`: every edge computes "
        "all five operations (`none` as zeros times its weight), one call per operation, PyTorch's "
        "`avg_pool2d`. Ours drops `none` (exact), stacks the convolutions of the edges leaving a node into "
        "one call, scales BatchNorm by the mixing weight, shares the pooling of a node, and pools with a "
        "depthwise box filter. Both give the same numbers (tests/test_nas.py checks loss and all gradients "
        "in float64).",
        "",
        *p2,
        "",
        "## 3. 3×3 average pooling (count_include_pad=False), forward + backward",
        "",
        *p3,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

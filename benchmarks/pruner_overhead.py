"""What BiLevelPruner costs a search: observe() per batch, one pruning step, memory.

Measured in one run on the CPU (one thread, ``torch.set_num_threads(1)``):

1. ``observe(indices, logits)`` for a batch of 64 against the forward + backward
   + SGD step it accompanies, for the supernet of ``examples/bdp_minimal_loop.py``
   (digits, 1×8×8) and a NAS-Bench-201-sized supernet (``proxydata.nas.SearchNetwork``,
   C=16, N=5, 3×32×32; a stand-in of similar cost only if that is not importable).
   Target: observe ≤ 1 % of the step.
2. A new sampler iterator (the coverage ordering) at 50,000 samples.
3. One pruning step (``step()`` at epoch T) with ``T = 5`` for ``n = 50,000`` and
   ``500,000`` tracked samples (half train, half val, 10 classes, 10 % per split
   and step), against the obvious alternative: a Python dict of per-sample EL2N
   lists, ``numpy.var`` per sample and a sorted Python walk with the same class
   caps. Target: ≤ 50 ms at 50,000.
4. Memory: the score buffers against the ``n·T·4`` bytes + ``O(n)`` target, the
   other per-sample arrays, and the peak extra resident memory of a pruning step
   (``VmHWM`` reset through ``/proc/self/clear_refs``, Linux).

Times are the best of several repeats (the machine is shared; the best is the
least disturbed) with the median beside it.

    python benchmarks/pruner_overhead.py                      # writes benchmarks/results/pruner_overhead.md
    python benchmarks/pruner_overhead.py --quick --out /tmp/p.md
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from proxydata import BiLevelPruner
from proxydata.metrics import class_prune_limits

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "pruner_overhead.md"


def _timeit(fn: Callable[[], object], repeats: int, number: int) -> tuple[float, float]:
    """(best, median) seconds per call over ``repeats`` rounds of ``number`` calls."""
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - start) / number)
    return min(per_call), statistics.median(per_call)


def _load_example_supernet() -> type[nn.Module]:
    path = REPO / "examples" / "bdp_minimal_loop.py"
    spec = importlib.util.spec_from_file_location("bdp_minimal_loop", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.TinySupernet


class _StandInSupernet(nn.Module):
    """Only used when proxydata.nas is missing: 15 cells of 6 five-op mixed edges, C=16/32/64."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        blocks: list[nn.Module] = []
        c = 16
        for stage, channels in enumerate((16, 32, 64)):
            if stage:
                blocks.append(nn.Conv2d(c, channels, 3, stride=2, padding=1))
            for _ in range(5):
                blocks.append(
                    nn.ModuleList(
                        nn.ModuleList(
                            [nn.Conv2d(channels, channels, 3, padding=1), nn.Conv2d(channels, channels, 1)]
                        )
                        for _ in range(6)
                    )
                )
            c = channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            if isinstance(block, nn.Conv2d):
                x = block(x)
                continue
            nodes = [x]
            for j in range(3):
                edges = block[j * (j + 1) // 2 : (j + 1) * (j + 2) // 2]
                nodes.append(
                    sum(
                        e[0](nodes[i]) + e[1](nodes[i]) + F.avg_pool2d(nodes[i], 3, 1, 1) + nodes[i]
                        for i, e in enumerate(edges)
                    )
                )
            x = nodes[-1]
        return self.head(x.mean(dim=(2, 3)))


def _nb201_supernet() -> tuple[nn.Module, str]:
    try:
        from proxydata.nas import SearchNetwork
    except ImportError as exc:  # pragma: no cover - depends on the checkout
        return _StandInSupernet(), f"stand-in (proxydata.nas not importable: {exc})"
    net = SearchNetwork(C=16, N=5, num_classes=10, in_channels=3, seed=0)
    return net, "proxydata.nas.SearchNetwork(C=16, N=5)"


def bench_observe(quick: bool) -> list[dict[str, object]]:
    n = 50_000
    pruner = BiLevelPruner(_labels(n), np.arange(0, n, 2), np.arange(1, n, 2), epochs=50, interval=5)
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.choice(n, 64, replace=False)) for _ in range(64)]
    rows = []
    tiny = _load_example_supernet()(seed=0)
    nb201, nb201_name = _nb201_supernet()
    cases = [
        (
            "example supernet (digits 1×8×8)",
            tiny,
            torch.randn(64, 1, 8, 8),
            20 if quick else 100,
            5 if quick else 9,
        ),
        (
            f"NAS-Bench-201 supernet: {nb201_name}, 3×32×32",
            nb201,
            torch.randn(64, 3, 32, 32),
            1,
            3 if quick else 5,
        ),
    ]
    for name, model, x, number, repeats in cases:
        target = torch.randint(0, 10, (64,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        holder: dict[str, torch.Tensor] = {}

        def train_step(
            model: nn.Module = model,
            x: torch.Tensor = x,
            target: torch.Tensor = target,
            opt: torch.optim.Optimizer = opt,
            holder: dict[str, torch.Tensor] = holder,
        ) -> None:
            opt.zero_grad()
            logits = model(x)
            F.cross_entropy(logits, target).backward()
            opt.step()
            holder["logits"] = logits

        train_step()
        logits = holder["logits"]

        def observe(logits: torch.Tensor = logits, counter: list[int] = [0]) -> None:  # noqa: B006
            counter[0] += 1
            pruner.observe(batches[counter[0] % len(batches)], logits)

        # Interleaved rounds: each round times the step, then observe, so both see the same load
        # on a shared machine; the verdict uses the median of the per-round ratios.
        steps, observes = [], []
        for _ in range(repeats):
            steps.append(_timeit(train_step, 1, number)[0])
            observes.append(_timeit(observe, 1, 200 if quick else 1000)[0])
        step_best, step_med = min(steps), statistics.median(steps)
        obs_best, obs_med = min(observes), statistics.median(observes)
        paired = statistics.median(o / st for o, st in zip(observes, steps))
        rows.append(
            {
                "model": name,
                "step_best": step_best,
                "step_med": step_med,
                "obs_best": obs_best,
                "obs_med": obs_med,
                "paired": paired,
            }
        )
        print(f"observe: {name}: step {step_best * 1e3:.2f} ms, observe {obs_best * 1e6:.1f} us", flush=True)
    return rows


def bench_iterator(quick: bool) -> dict[str, object]:
    """A new sampler iterator at 50,000 tracked samples with half the split observed.

    ``next(iter(val_loader))`` at every step (NASLib, xautodl) pays this once per
    step: the epoch's permutation, the shard, and the coverage filter.
    """
    n = 50_000
    pruner = BiLevelPruner(_labels(n), np.arange(0, n, 2), np.arange(1, n, 2), epochs=50, interval=5)
    sampler = pruner.val_sampler
    half = sampler.epoch_indices()[: len(sampler) // 2]
    for start in range(0, half.size, 4096):
        chunk = half[start : start + 4096]
        pruner.observe_el2n(chunk, torch.full((chunk.size,), 0.5))
    best, med = _timeit(lambda: sampler.iteration_order(), 3 if quick else 7, 10 if quick else 50)
    assert sampler.iteration_order().size == len(sampler) - half.size
    print(f"new iterator: {best * 1e3:.2f} ms", flush=True)
    return {"n_split": len(sampler), "best": best, "med": med}


def _labels(n: int) -> np.ndarray:
    # pairs (2i, 2i + 1) share a class, so both the even (train) and odd (val) halves hold all 10
    return (np.arange(n) // 2) % 10


def _filled_pruner(n: int, T: int) -> tuple[BiLevelPruner, list[float]]:
    """A pruner that has observed every sample in epochs 1..T (the step at T not yet taken).

    Also returns the times of the T − 1 ordinary (non-pruning) steps.
    """
    y = _labels(n)
    pruner = BiLevelPruner(
        y,
        np.arange(0, n, 2),
        np.arange(1, n, 2),
        epochs=10 * T,
        interval=T,
        train_prune_ratio=0.1,
        val_prune_ratio=0.1,
    )
    rng = np.random.default_rng(1)
    everything = np.arange(n)
    fold_times = []
    for epoch in range(T):
        values = rng.random(n, dtype=np.float32) * 1.4
        for start in range(0, n, 65536):
            chunk = slice(start, start + 65536)
            pruner.observe_el2n(everything[chunk], torch.from_numpy(values[chunk]))
        if epoch < T - 1:
            start_time = time.perf_counter()
            pruner.step()
            fold_times.append(time.perf_counter() - start_time)
    return pruner, fold_times


class DictHistory:
    """The obvious alternative: a dict of per-sample EL2N lists, numpy.var, a Python walk."""

    def __init__(self, labels: np.ndarray, train: np.ndarray, val: np.ndarray, T: int) -> None:
        self.labels = labels
        self.splits = {"train": set(train.tolist()), "val": set(val.tolist())}
        self.T = T
        self.history: dict[int, list[float]] = {int(i): [] for i in np.r_[train, val]}

    def observe_epoch(self, indices: np.ndarray, values: np.ndarray) -> None:
        for i, v in zip(indices.tolist(), values.tolist()):
            self.history[i].append(v)

    def prune(self, asked: int, num_steps: int) -> dict[str, list[int]]:
        voe = {i: float(np.var(v[-self.T :])) for i, v in self.history.items() if len(v) >= 2}
        out = {}
        for split, members in self.splits.items():
            counts = np.bincount(self.labels[list(members)], minlength=10)
            limits = np.minimum(class_prune_limits(counts, num_steps), counts - 1)
            sign = 1.0 if split == "train" else -1.0
            ordered = sorted((sign * voe[i], i) for i in members if i in voe)
            taken, per_class = [], np.zeros(10, dtype=int)
            for _, i in ordered:
                c = self.labels[i]
                if per_class[c] < limits[c]:
                    taken.append(i)
                    per_class[c] += 1
                    if len(taken) == asked:
                        break
            out[split] = taken
        return out


def _read_status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _peak_worker(n: int, T: int) -> None:
    """Child process: print how far RSS's high-water mark rises during one pruning step."""
    torch.set_num_threads(1)
    base, _ = _filled_pruner(n, T)
    trial = copy.deepcopy(base)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current RSS
        fh.write("5")
    before = _read_status("VmRSS:")
    trial.step()
    print(_read_status("VmHWM:") - before)


def _peak_step_bytes(n: int, T: int) -> int | None:
    """Peak extra resident memory of one pruning step, measured in a fresh process (Linux).

    ``MALLOC_MMAP_THRESHOLD_=65536`` makes every temporary of 64 KiB or more a
    fresh mapping that is returned when freed, so the high-water mark sees
    the step's temporaries instead of reused heap pages.
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1")
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--peak-worker", str(n), str(T)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        return int(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _host_arrays_bytes(p: BiLevelPruner) -> dict[str, int]:
    t = p.recorder.tracked  # the pruner's map of tracked samples
    arrays = {
        "targets": p.targets,
        "position map": t.pos,
        "observable mask": t.observable,
        "tracked indices": t.indices,
        "tracked labels": t.labels,
        "split ids": t.split_id,
        "pruned-at epochs": t.pruned_at,
        "observation counts (coverage)": p.recorder.host_counts,
        "kept sets (samplers)": np.r_[p.train_sampler.indices, p.val_sampler.indices],
        "initial splits": np.r_[p.train_sampler.initial, p.val_sampler.initial],
    }
    return {k: int(v.nbytes) for k, v in arrays.items()}


def bench_prune(quick: bool) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    T = 5
    rows, mem_rows = [], []
    for n in (50_000,) if quick else (50_000, 500_000):
        base, fold_times = _filled_pruner(n, T)
        fold_best = min(fold_times)
        prune_times = []
        for _ in range(3 if quick else 7):
            trial = copy.deepcopy(base)
            start = time.perf_counter()
            info = trial.step()
            prune_times.append(time.perf_counter() - start)
        assert info is not None and info["train"]["pruned"] == round(0.05 * n)
        peak = _peak_step_bytes(n, T)

        # The alternative, fed the same values.
        labels = base.targets
        alt = DictHistory(labels, np.arange(0, n, 2), np.arange(1, n, 2), T)
        ring = base.recorder.window()
        everything = np.arange(n)
        sums, counts = base.recorder.running()
        cur = sums / counts  # every sample was observed once in the running epoch
        for epoch in range(T):
            vals = ring[epoch] if epoch < T - 1 else cur
            alt.observe_epoch(everything, vals)
        tracemalloc.start()
        alt_copy = DictHistory(labels, np.arange(0, n, 2), np.arange(1, n, 2), T)
        for epoch in range(T):
            alt_copy.observe_epoch(everything, ring[epoch] if epoch < T - 1 else cur)
        alt_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del alt_copy
        alt_times = []
        for _ in range(1 if (quick or n > 100_000) else 3):
            start = time.perf_counter()
            chosen = alt.prune(round(0.05 * n), base.num_steps)
            alt_times.append(time.perf_counter() - start)
        same = sorted(chosen["train"]) == sorted(info["train"]["indices"].tolist())
        rows.append(
            {
                "n": n,
                "T": T,
                "prune_best": min(prune_times),
                "prune_med": statistics.median(prune_times),
                "fold_best": fold_best,
                "alt_best": min(alt_times),
                "same": same,
            }
        )
        buffers = base.recorder.nbytes()
        host = _host_arrays_bytes(base)
        mem_rows.append(
            {
                "n": n,
                "T": T,
                "target": n * T * 4,
                "ring": n * T * 4,
                "buffers": buffers,
                "host": host,
                "peak_step": peak,
                "alt_bytes": alt_bytes,
            }
        )
        print(
            f"prune n={n}: {min(prune_times) * 1e3:.1f} ms (alternative {min(alt_times) * 1e3:.0f} ms, "
            f"same choice: {same})",
            flush=True,
        )
        del base, alt
        gc.collect()
    return rows, mem_rows


def _fmt_bytes(b: float) -> str:
    return f"{b / 2**20:.2f} MiB"


def write_markdown(
    path: Path, obs: list, it: dict, prune: list, mem: list, command: str, seconds: float
) -> None:
    lines = [
        "# BiLevelPruner overhead",
        "",
        f"Command: `{command}` ({seconds:.0f} s).  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs shared "
        "with other "
        f"jobs (load average at start {os.getloadavg()[0]:.1f}); Python {platform.python_version()}, torch "
        f"{torch.__version__}, `torch.set_num_threads(1)`, CPU only. Times: best of the repeats (median in "
        "brackets); the machine was shared, so the best is the least disturbed figure.",
        "",
        "## observe() per batch of 64 vs the training step it accompanies",
        "",
        "The step is forward + backward + SGD update of the batch; `observe` computes EL2N from the step's "
        "logits, adds it to the running epoch's buffers and counts the observation on the host for the "
        "samplers' coverage guarantee (pruner tracking 50,000 samples). Step and observe are timed in "
        "alternating rounds; observe / step is the median of the rounds' ratios. Target: ≤ 1 %.",
        "",
        "| model | step | observe | observe / step | target met |",
        "|---|---|---|---|---|",
    ]
    for r in obs:
        ratio = r["paired"]
        shown = f"{ratio:.2%}" if ratio >= 1e-3 else f"{ratio:.4%}"
        lines.append(
            f"| {r['model']} | {r['step_best'] * 1e3:.2f} ms ({r['step_med'] * 1e3:.2f}) | "
            f"{r['obs_best'] * 1e6:.1f} µs ({r['obs_med'] * 1e6:.1f}) | {shown} | "
            f"{'yes' if ratio <= 0.01 else 'no'} |"
        )
    step_ms = obs[0]["step_best"] * 1e3 if obs else float("nan")
    lines += [
        "",
        "## A new sampler iterator",
        "",
        "What `iter(sampler)` costs with coverage on: the epoch's seeded permutation of the kept set, this "
        "rank's shard, and the filter that keeps the samples not yet observed in the epoch. A loop pays it "
        "once per epoch, or once per step when it takes `next(iter(val_loader))` at every step.",
        "",
        "| split size | new iterator | vs the example supernet's step |",
        "|---|---|---|",
        f"| {it['n_split']:,} (half observed) | {it['best'] * 1e3:.2f} ms ({it['med'] * 1e3:.2f}) | "
        f"{it['best'] * 1e3 / step_ms:.1%} |",
    ]
    lines += [
        "",
        "## One pruning step (T = 5, 10 classes, half train / half val, 10 % of each split per step)",
        "",
        "`step()` at epoch T: fold the last epoch into the ring, VoE of every sample "
        "(`proxydata.metrics.voe` on a float64 copy of the window), class limits, the capped walk for "
        "both splits, sampler update, history entry. The "
        "alternative keeps a Python dict of per-sample EL2N lists, takes `numpy.var` of each and walks a "
        "sorted Python list with the same caps (its VoE and choice are checked against the pruner's). "
        "Target: ≤ 50 ms at n = 50,000.",
        "",
        "| n | pruning step | epoch fold alone | dict + numpy.var alternative | speed-up "
        "| same training samples chosen |",
        "|---|---|---|---|---|---|",
    ]
    for r in prune:
        lines.append(
            f"| {r['n']:,} | {r['prune_best'] * 1e3:.1f} ms ({r['prune_med'] * 1e3:.1f}) | "
            f"{r['fold_best'] * 1e3:.1f} ms | {r['alt_best'] * 1e3:.0f} ms | "
            f"{r['alt_best'] / r['prune_best']:.0f}× | {'yes' if r['same'] else 'no'} |"
        )
    lines += [
        "",
        "## Memory",
        "",
        "Score buffers: the `(T, n)` float32 ring, the running epoch's `(2, n)` float32 sums and counts, one "
        "int64 (deferred NaN counter) and a cached row of ones as long as the largest batch. Host arrays are "
        "the pruner's O(n) bookkeeping (the position map and the masks are sized by the dataset, the rest by "
        "the tracked samples). Peak extra RSS is the rise of the resident high-water mark during one pruning "
        "step (its temporaries), measured in a fresh process with `MALLOC_MMAP_THRESHOLD_=65536`. The "
        "alternative's size is what `tracemalloc` sees of its dict of lists.",
        "",
        "| n | n·T·4 | score buffers | buffers − n·T·4 | host arrays | peak extra during a step "
        "| dict alternative |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in mem:
        host_total = sum(m["host"].values())
        peak = "n/a"
        if m["peak_step"] is not None:
            peak = f"{_fmt_bytes(m['peak_step'])} ({m['peak_step'] / m['n']:.0f} B/sample)"
        lines.append(
            f"| {m['n']:,} | {_fmt_bytes(m['target'])} | {_fmt_bytes(m['buffers'])} | "
            f"{(m['buffers'] - m['target']) / m['n']:.1f} B/sample | {_fmt_bytes(host_total)} "
            f"({host_total / m['n']:.0f} B/sample) | {peak} | {_fmt_bytes(m['alt_bytes'])} "
            f"({m['alt_bytes'] / m['n']:.0f} B/sample) |"
        )
    if mem:
        lines += [
            "",
            "Host arrays at n = {:,}: ".format(mem[0]["n"])
            + ", ".join(f"{k} {v / mem[0]['n']:.0f} B" for k, v in mem[0]["host"].items())
            + " per sample.",
        ]
    if mem:
        m = mem[-1]
        extra = m["buffers"] - m["target"] + sum(m["host"].values())
        lines += [
            "",
            f"Verdict: the score buffers are n·T·4 bytes plus {(m['buffers'] - m['target']) / m['n']:.0f} "
            f"bytes per sample (the running epoch's sum and count); with the bookkeeping the pruner holds "
            f"n·T·4 + {extra / m['n']:.0f}·n bytes at n = {m['n']:,}, i.e. n·T·4 + O(n), and a pruning "
            "step's temporaries are O(n) too.",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, n = 50,000 only")
    parser.add_argument("--peak-worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_worker:
        _peak_worker(*args.peak_worker)
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    start = time.perf_counter()
    obs = bench_observe(args.quick)
    it = bench_iterator(args.quick)
    prune, mem = bench_prune(args.quick)
    given = argv if argv is not None else sys.argv[1:]
    command = "python " + " ".join([os.path.relpath(__file__, REPO), *given])
    write_markdown(args.out, obs, it, prune, mem, command, time.perf_counter() - start)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The coreset baselines and the entropy proxy next to the obvious code (issue 31).

``python benchmarks/static_samplers.py --baselines`` runs this (or run it
directly). On the first ``--max-samples`` CIFAR-10 training images (default
2,000; ``cifar10.npz`` of the shared data folder), one process, one torch
thread, every pair run interleaved ``--repeat`` times after an untimed warm-up
on 200 images, it times each library sampler against the code a user would
write instead and checks that both choose the same samples where they should:

* ``herding`` — :class:`~proxydata.HerdingProxy` (per class, standardised
  pixels) against numpy that recomputes ``||μ − (s + x_i)/(t+1)||`` for every
  row at every step; same indices expected.
* ``k-center`` — :class:`~proxydata.KCenterProxy` against numpy that
  recomputes ``||X − x_c||`` for every row at every step; same indices expected.
* ``grand`` (``gradient="full"``, 1 seed) — per-sample gradients by
  ``torch.func.vmap`` against a loop of ``torch.autograd.grad`` one sample at a
  time, same initialisation; same scores expected (relative error reported).
  ``grand`` with ``gradient="last-layer"`` is timed beside it (another score).
* ``el2n``, ``forgetting``, ``entropy`` (1 seed, ``--epochs`` epochs, the
  default small CNN) against a ``DataLoader`` training loop with the same
  network and optimiser, then the score by hand (EL2N: ``||softmax − onehot||``;
  forgetting: per-sample previous-correctness arrays; entropy: the authors'
  per-sample bin search in Python and ``np.random.choice``). Different batch
  orders, so only the time is compared.

Writes ``benchmarks/results/baseline_samplers.md`` (``--out``) with the
command, the machine and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from provenance import code_version, cpu_model, git_state  # benchmarks/ is the script folder: on sys.path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "baseline_samplers.md"


def load_images(max_samples: int) -> Any:
    from proxydata.datasets import ArrayDataset

    env = os.environ.get("PROXYDATA_SHARED_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    path = folder / "cifar10.npz"
    if not path.is_file():
        sys.exit(f"{path} not found: set PROXYDATA_SHARED_DATA to the shared data folder")
    with np.load(path, allow_pickle=False) as z:
        x, y = z["x_train"][:max_samples], z["y_train"][:max_samples]
    if x.shape[-1] == 3:  # NHWC → NCHW
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return ArrayDataset(x, y.reshape(-1).astype(np.int64))


def standardised_pixels(ds: Any) -> np.ndarray:
    x = ds.images.reshape(len(ds), -1).astype(np.float32) / 255.0
    return (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)


# -- the obvious code --------------------------------------------------------------------------------


def obvious_herding(ds: Any, ratio: float) -> np.ndarray:
    x, y = standardised_pixels(ds).astype(np.float64), ds.targets
    kept = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        xc = x[rows]
        mu, s = xc.mean(axis=0), np.zeros(x.shape[1])
        free = np.ones(rows.size, dtype=bool)
        for t in range(int(np.floor(ratio * rows.size + 0.5))):
            gap = np.linalg.norm(mu - (s + xc) / (t + 1), axis=1)
            gap[~free] = np.inf
            i = int(np.argmin(gap))
            free[i] = False
            s += xc[i]
            kept.append(rows[i])
    return np.sort(kept)


def obvious_kcenter(ds: Any, ratio: float, seed: int) -> np.ndarray:
    x = standardised_pixels(ds).astype(np.float64)
    n = x.shape[0]
    c = int(np.random.default_rng(seed).integers(n))
    chosen = [c]
    dist = np.linalg.norm(x - x[c], axis=1)
    for _ in range(int(np.floor(ratio * n + 0.5)) - 1):
        dist[chosen] = -1.0
        c = int(np.argmax(dist))
        chosen.append(c)
        dist = np.minimum(dist, np.linalg.norm(x - x[c], axis=1))
    return np.sort(chosen)


def _net(ds: Any, seed: int) -> torch.nn.Module:
    from proxydata.samplers.classifier import default_classifier

    torch.manual_seed(seed)
    return default_classifier(3, int(ds.targets.max()) + 1)


def _loader(ds: Any, shuffle: bool, seed: int) -> torch.utils.data.DataLoader:
    x = torch.from_numpy(ds.images).float().div_(255.0)
    data = torch.utils.data.TensorDataset(x, torch.from_numpy(ds.targets))
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(data, batch_size=128, shuffle=shuffle, generator=gen)


def _train(net: torch.nn.Module, ds: Any, epochs: int, seed: int, on_batch: Callable | None = None) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = _loader(ds, True, seed)
    for epoch in range(epochs):
        net.train()
        for x, y in loader:
            out = net(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_batch is not None:
                on_batch(epoch, out.detach(), y)


def _eval(net: torch.nn.Module, ds: Any) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x) for x, _ in _loader(ds, False, 0)])


def obvious_grand(ds: Any, seed: int) -> np.ndarray:
    net = _net(ds, seed).eval()
    out = np.empty(len(ds))
    for i, (x, y) in enumerate(_loader(ds, False, 0).dataset):
        loss = F.cross_entropy(net(x[None]), y[None])
        grads = torch.autograd.grad(loss, list(net.parameters()))
        out[i] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return out


def obvious_el2n(ds: Any, epochs: int, seed: int) -> np.ndarray:
    net = _net(ds, seed)
    _train(net, ds, epochs, seed)
    p = F.softmax(_eval(net, ds), dim=1)
    return torch.linalg.vector_norm(p - F.one_hot(torch.from_numpy(ds.targets), p.shape[1]), dim=1).numpy()


def obvious_forgetting(ds: Any, epochs: int, seed: int) -> np.ndarray:
    # the dataset is shuffled by the loader: sample identities come from a parallel index loader
    net = _net(ds, seed)
    x = torch.from_numpy(ds.images).float().div_(255.0)
    y = torch.from_numpy(ds.targets)
    data = torch.utils.data.TensorDataset(x, y, torch.arange(len(ds)))
    loader = torch.utils.data.DataLoader(
        data, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    prev = np.zeros(len(ds), dtype=bool)
    learned = np.zeros(len(ds), dtype=bool)
    forgets = np.zeros(len(ds))
    for _ in range(epochs):
        net.train()
        for xb, yb, ib in loader:
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            acc = (out.argmax(1) == yb).numpy()
            idx = ib.numpy()
            forgets[idx] += prev[idx] & ~acc
            prev[idx] = acc
            learned[idx] |= acc
    forgets[~learned] = np.inf
    return forgets


def obvious_entropy(ds: Any, ratio: float, epochs: int, seed: int) -> np.ndarray:
    net = _net(ds, seed)
    _train(net, ds, epochs, seed)
    z = _eval(net, ds)
    ent = -(F.softmax(z, 1) * F.log_softmax(z, 1)).sum(1).numpy()
    log_e = np.log10(ent)
    w = 0.5
    low = np.round(log_e.min())
    while log_e.min() < low:
        low -= w
    high = np.round(log_e.max())
    while log_e.max() > high:
        high += w
    edges = np.arange(low, high + w, w)
    members: list[list[int]] = [[] for _ in range(len(edges) - 1)]
    for i, e in enumerate(log_e):  # the per-sample bin search a user copies from the authors' code
        for j in range(len(edges) - 1):
            if edges[j] <= e < edges[j + 1]:
                members[j].append(i)
                break
    counts = np.array([len(m) for m in members])
    weight = (counts.max() - counts + 1) * (counts > 0)
    p = np.zeros(len(ds))
    for j, m in enumerate(members):
        if m:
            p[m] = weight[j] / weight.sum() / len(m)
    rng = np.random.default_rng(seed)
    return np.sort(
        rng.choice(len(ds), size=int(np.floor(ratio * len(ds) + 0.5)), replace=False, p=p / p.sum())
    )


# -- the run ---------------------------------------------------------------------------------------


def contenders(
    ds: Any, args: argparse.Namespace
) -> list[tuple[str, Callable[[], Any], str, Callable[[], Any]]]:
    from proxydata import make_proxy

    r, s, e = args.ratio, args.seed, args.epochs

    def lib(name: str, **kw: Any) -> Callable[[], Any]:
        return lambda: make_proxy(name, ds, ratio=r, seed=s, progress=False, **kw)

    return [
        ("herding", lib("herding"), "numpy, all norms per step", lambda: obvious_herding(ds, r)),
        ("k-center", lib("k-center"), "numpy, all norms per step", lambda: obvious_kcenter(ds, r, s)),
        ("grand (full, vmap)", lib("grand", n_seeds=1), "autograd.grad per sample",
         lambda: obvious_grand(ds, s)),
        ("grand (last-layer)", lib("grand", n_seeds=1, gradient="last-layer"), "grand (full, vmap)",
         lib("grand", n_seeds=1)),
        ("el2n", lib("el2n", n_seeds=1, epochs=e), "DataLoader loop + formula",
         lambda: obvious_el2n(ds, e, s)),
        ("forgetting", lib("forgetting", epochs=e), "DataLoader loop + counters",
         lambda: obvious_forgetting(ds, e, s)),
        ("entropy", lib("entropy", epochs=e), "DataLoader loop + authors' binning",
         lambda: obvious_entropy(ds, r, e, s)),
    ]  # fmt: skip


def agreement(name: str, mine: Any, theirs: Any) -> str:
    if name in ("herding", "k-center"):
        same = np.array_equal(mine.indices, theirs)
        return (
            "same indices"
            if same
            else f"DIFFERENT indices (overlap {np.intersect1d(mine.indices, theirs).size})"
        )
    if name == "grand (full, vmap)":
        rel = np.max(np.abs(mine.scores - theirs) / np.abs(theirs))
        return f"scores max relative difference {rel:.1e}"
    if name == "grand (last-layer)":
        corr = np.corrcoef(mine.scores, theirs.scores)[0, 1]
        return f"another score: Pearson r with the full gradient norm {corr:.3f}"
    return "different batch orders: time only"


def run(args: argparse.Namespace, command: str) -> str:
    torch.set_num_threads(1)
    code = code_version(git_state(REPO))  # the code that runs, taken before it runs
    load_before = os.getloadavg()
    ds = load_images(args.max_samples)
    warm = load_images(200)
    pairs = contenders(ds, args)
    for _, mine, _, theirs in contenders(warm, args):  # untimed warm-up: imports, lazy init
        mine()
        theirs()
    rows = []
    for name, mine, other, theirs in pairs:
        times: dict[str, list[float]] = {"lib": [], "obv": []}
        cpu: dict[str, list[float]] = {"lib": [], "obv": []}
        outs: dict[str, Any] = {}
        for rep in range(args.repeat):
            order = [("lib", mine), ("obv", theirs)] if rep % 2 == 0 else [("obv", theirs), ("lib", mine)]
            for key, fn in order:
                start, cpu_start = time.perf_counter(), time.process_time()
                outs[key] = fn()
                times[key].append(time.perf_counter() - start)
                cpu[key].append(time.process_time() - cpu_start)
        cost = outs["lib"].selection_cost
        rows.append({
            "name": name, "other": other, "lib": min(times["lib"]), "obv": min(times["obv"]),
            "lib_median": statistics.median(times["lib"]), "obv_median": statistics.median(times["obv"]),
            "lib_cpu": min(cpu["lib"]), "obv_cpu": min(cpu["obv"]), "samples": cost["samples"],
            "agreement": agreement(name, outs["lib"], outs["obv"]),
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    load_after = os.getloadavg()
    lines = [
        "# Coreset baselines and the entropy proxy: cost next to the obvious code",
        "",
        "Produced by",
        "",
        f"    {command}",
        "",
        f"Code: `{code}`. The first {len(ds):,} CIFAR-10 training images "
        f"(3 × 32 × 32 uint8), ratio {args.ratio}, seed "
        f"{args.seed}, {args.epochs} training epoch(s) for EL2N / forgetting / entropy (default small CNN, "
        f"one seed), one torch thread, {args.repeat} interleaved repeat(s) after an untimed warm-up; the "
        f"minimum over the repeats of the process's CPU seconds (the ratio's basis: other jobs' load "
        f"does not count) and of the wall seconds. CPU: {cpu_model()}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}. Load average "
        f"(1/5/15 min) before: {'/'.join(f'{v:.2f}' for v in load_before)}, after: "
        f"{'/'.join(f'{v:.2f}' for v in load_after)} (a 2-core machine shared with other jobs).",
        "",
        "| library | obvious code | library CPU s / wall s | obvious CPU s / wall s | ratio (CPU) "
        "| library selection_cost samples | agreement |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['other']} | {row['lib_cpu']:.2f} / {row['lib']:.2f} "
            f"| {row['obv_cpu']:.2f} / {row['obv']:.2f} | {row['lib_cpu'] / row['obv_cpu']:.2f} "
            f"| {row['samples']:,} | {row['agreement']} |"
        )
    lines += [
        "",
        "- ratio < 1: the library is faster. Herding and k-center greedy do one matrix-vector product over "
        "the rows per step (norms precomputed); the obvious code recomputes every row's norm of a difference "
        "(a full `n × d` temporary) per step.",
        "- GraNd's full gradient is vectorised over the samples of a batch (`torch.func.vmap`); the "
        "last-layer closed form needs one forward pass per sample and is a different score (its correlation "
        "with the full norm is listed).",
        "- The training-based baselines read the images straight from the stored array and share one loop; "
        "their cost is the training itself, as in the obvious code (ratios near 1 are expected).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-samples", type=int, default=2000)
    parser.add_argument("--ratio", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    command = "python benchmarks/baseline_samplers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = run(args, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

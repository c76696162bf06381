"""Cost of the loss-value proxies AE and TL on CIFAR-10 train, on CPU (issue 3).

Measures, in one run, on the 50,000 CIFAR-10 training images (32×32, from
``cifar10.npz`` in the shared data folder; ``--max-samples`` takes the first
``m`` images instead and the figures are scaled by ``50000 / m``):

* AE — :class:`~proxydata.AutoencoderProxy` with the paper's network, trained
  for ``--epochs`` epochs: seconds per epoch, seconds of the scoring pass, and
  the full 50-epoch schedule estimated as ``50 · epoch + scoring``.
* TL — :class:`~proxydata.TransferProxy` with a ResNet-18 backbone, trained for
  ``--epochs`` epochs twice: with the feature cache (backbone run once) and with
  ``cache_features=False`` (backbone recomputed for every batch of every epoch
  and for scoring). Full schedule (``epochs=50``, the paper's scoring epoch;
  its 25 further epochs cannot change the scores and are not run):
  cached ``features + 50 · head epoch + scoring``, recomputed
  ``50 · epoch + scoring``.

ImageNet weights cannot be downloaded on these machines, so the ResNet-18 is
torchvision's architecture with random initialisation, passed as a user
backbone: a stand-in for timing only (its cost is that of the pretrained one;
its selections mean nothing).

Examples
--------
    python benchmarks/loss_samplers.py                       # full 50,000 images, 1 epoch each
    python benchmarks/loss_samplers.py --max-samples 5000 --out /tmp/loss.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "loss_samplers.md"
FULL_N = 50_000
AE_EPOCHS, TL_SCORE_EPOCH = 50, 50


def shared_data_dir() -> Path | None:
    """``$PROXYDATA_SHARED_DATA`` or ``<repo>/../shared/data`` if it exists."""
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


def load_cifar10(max_samples: int):
    from proxydata.datasets import ArrayDataset

    folder = shared_data_dir()
    if folder is None or not (folder / "cifar10.npz").is_file():
        sys.exit("cifar10.npz not found: set PROXYDATA_SHARED_DATA to the shared data folder")
    with np.load(folder / "cifar10.npz", allow_pickle=False) as z:
        x, y = z["x_train"][:max_samples], z["y_train"][:max_samples].astype(np.int64)
    return ArrayDataset(x, y)


def random_resnet18() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)  # random weights: timing stand-in only
    net.fc = torch.nn.Identity()
    return net


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-samples", type=int, default=FULL_N, help="first m training images")
    parser.add_argument("--epochs", type=int, default=1, help="epochs measured per run")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip", nargs="*", default=(), choices=("ae", "tl-cached", "tl-recomputed"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from proxydata import AutoencoderProxy, TransferProxy

    t0 = time.perf_counter()
    data = load_cifar10(args.max_samples)
    n = len(data)
    scale = FULL_N / n
    print(f"loaded {n} images in {time.perf_counter() - t0:.1f} s", flush=True)
    common = {"ratio": 0.5, "batch_size": args.batch_size, "progress": False, "seed": 0}
    rows: list[dict] = []
    load_before = os.getloadavg()

    if "ae" not in args.skip:
        ae = AutoencoderProxy(data, epochs=args.epochs, **common)
        epoch = float(np.mean(ae.epoch_seconds))
        rows.append(
            {
                "run": "AE (ConvAutoencoder, Adam, BCE)",
                "epoch": epoch,
                "score": ae.score_seconds,
                "features": 0.0,
                "full": scale * (AE_EPOCHS * epoch + ae.score_seconds),
                "schedule": f"{AE_EPOCHS} epochs + scoring",
            }
        )
        print(rows[-1], flush=True)

    tl_kwargs = {**common, "epochs": args.epochs}
    tl_kwargs.update(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # as for backbone="resnet18"
    for cached in (True, False):
        name = "tl-cached" if cached else "tl-recomputed"
        if name in args.skip:
            continue
        tl = TransferProxy(data, backbone=random_resnet18(), cache_features=cached, **tl_kwargs)
        epoch = float(np.mean(tl.epoch_seconds))
        full = TL_SCORE_EPOCH * epoch + tl.score_seconds + tl.feature_seconds
        rows.append(
            {
                "run": "TL, ResNet-18 features cached" if cached else "TL, ResNet-18 recomputed every epoch",
                "epoch": epoch,
                "score": tl.score_seconds,
                "features": tl.feature_seconds,
                "full": scale * full,
                "schedule": f"{'features + ' if cached else ''}{TL_SCORE_EPOCH} epochs + scoring",
            }
        )
        print(rows[-1], flush=True)

    write_report(args, rows, n, scale, load_before)


def write_report(args: argparse.Namespace, rows: list[dict], n: int, scale: float, load: tuple) -> None:
    cmd = "python benchmarks/loss_samplers.py " + " ".join(sys.argv[1:])
    lines = [
        "# Loss-value proxies (AE, TL): cost on CIFAR-10 train, CPU",
        "",
        f"Command: `{cmd.strip()}` (written by `benchmarks/loss_samplers.py`).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs shared with "
        f"other jobs (1-min load average {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at the end), "
        f"torch {torch.__version__}, "
        f"`torch.set_num_threads({args.threads})`, batch size {args.batch_size}.",
        "",
        f"**Measured:** {n} images (32×32×3), {args.epochs} training epoch(s) per run, then the scoring "
        "pass over every image. "
        + (
            "**Extrapolated:** the full-schedule column, from the measured epoch (mean over the "
            "measured epochs) and pass times."
            if n == FULL_N
            else f"**Extrapolated:** every figure below is scaled by {FULL_N}/{n} = {scale:.2f} "
            "to 50,000 images (cost is linear in n), and the full-schedule column from those."
        ),
        "",
        "| run | s / epoch | features (once) s | scoring s | full schedule | estimate |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {scale * r['epoch']:.1f} | {scale * r['features']:.1f} | "
            f"{scale * r['score']:.1f} | {r['schedule']} | {r['full']:.0f} s ({r['full'] / 3600:.2f} h) |"
        )
    cached = next((r for r in rows if "cached" in r["run"]), None)
    fresh = next((r for r in rows if "recomputed" in r["run"]), None)
    lines.append("")
    if cached and fresh:
        lines.append(
            f"Feature caching: a head epoch on cached features takes {scale * cached['epoch']:.2f} s "
            f"against {scale * fresh['epoch']:.1f} s when the backbone is recomputed "
            f"({fresh['epoch'] / max(cached['epoch'], 1e-9):.0f}× faster); over the 50 scored epochs "
            f"the whole TL selection takes {cached['full']:.0f} s against {fresh['full']:.0f} s "
            f"({fresh['full'] / max(cached['full'], 1e-9):.1f}× faster)."
        )
        lines.append("")
    lines += [
        "Notes:",
        "",
        "- The TL backbone is torchvision's ResNet-18 architecture with **random** weights, a stand-in "
        "for timing only: ImageNet weights cannot be downloaded on this machine. Inputs are the 32×32 "
        "images (no `input_size` resize); resizing to 224×224 would multiply the backbone cost by ~49.",
        "- Full-schedule TL estimates follow the paper's code: scores after epoch 50 of 75; "
        "`TransferProxy(epochs=50)` trains those 50 (epochs 51–75 cannot change the scores).",
        "- Timings are wall clock on a machine shared with other engineers' jobs; treat them as "
        "order-of-magnitude figures. The recomputed run's scoring pass and the cached run's feature "
        "pass do the same backbone work (one forward over every image); any gap between them is "
        "contention from other jobs.",
    ]
    if not rows:
        lines.append("- Nothing was measured (all runs skipped).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""GPU check of the ImageNet-scale path (issue 20): faiss k-means on GPU vs CPU, extraction on 1 vs all GPUs.

Run it on a machine with at least one CUDA GPU (and faiss-gpu for the k-means
part); it takes under 5 minutes on one modern GPU and writes its figures to
``benchmarks/results/gpu_check.md``:

1. k-means (the KM-OR step) on 1,281,167 × 512 synthetic float32 features in
   memory, K = 1,000, 10 Lloyd iterations: ``backend="faiss"`` with
   ``device="cuda"`` (every GPU, ``faiss.index_cpu_to_all_gpus``) and
   ``"cuda:0"``, against ``backend="numpy"`` on the CPU; seconds and objectives
   (same k-means++ start).
2. ``extract_features`` of a ResNet-18 (random weights, torchvision) over
   synthetic uint8 images: in one process on ``cuda:0``, then across every GPU
   with an NCCL process group (one process per GPU, ``torch.multiprocessing``);
   images per second, and whether the two files are equal.

Sections whose requirements are missing (no GPU, faiss without GPU support,
torchvision absent) are reported as skipped with the reason.

Examples
--------
    python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --images 20000 --rows 200000   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "gpu_check.md"


def synthetic_features(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = (3.0 * rng.standard_normal((1000, d))).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 65_536):
        e = min(n, s + 65_536)
        x[s:e] = centres[rng.integers(0, 1000, e - s)] + rng.standard_normal((e - s, d), dtype=np.float32)
    return x


def check_kmeans(args: argparse.Namespace) -> dict[str, Any]:
    from proxydata.cluster import faiss_gpus, kmeans, kmeans_plusplus

    if faiss_gpus() == 0:
        return {"skipped": "faiss sees no GPU (faiss-gpu not installed, or no CUDA device)"}
    x = synthetic_features(args.rows, args.dim)
    init = kmeans_plusplus(x, args.n_clusters, seed=0)
    out: dict[str, Any] = {"rows": args.rows, "dim": args.dim, "n_clusters": args.n_clusters, "runs": {}}
    for label, backend, device in (
        ("faiss, every GPU", "faiss", "cuda"),
        ("faiss, cuda:0", "faiss", "cuda:0"),
        ("numpy, CPU", "numpy", "cpu"),
    ):
        start = time.perf_counter()
        res = kmeans(
            x, args.n_clusters, backend=backend, device=device, init=init, n_iter=args.n_iter, progress=False
        )
        seconds = time.perf_counter() - start
        out["runs"][label] = {"seconds": seconds, "objective": res.objective, "device": res.device}
        print(label, out["runs"][label], flush=True)
    return out


def _images(n: int, size: int) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return torch.utils.data.TensorDataset(x, torch.arange(n) % 1000)


def _model() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    net.fc = torch.nn.Identity()  # 512-d embeddings
    return net


def _rank(rank: int, world: int, init: str, args: argparse.Namespace, path: str, out: str) -> None:
    import torch.distributed as dist

    from proxydata.features import extract_features

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{init}", rank=rank, world_size=world)
    ds, model = _images(args.images, args.image_size), _model().cuda(rank)
    dist.barrier()
    start = time.perf_counter()
    extract_features(ds, model, path, batch_size=args.batch_size, device=f"cuda:{rank}", progress=False)
    torch.cuda.synchronize()
    dist.barrier()
    if rank == 0:
        Path(out).write_text(json.dumps({"seconds": time.perf_counter() - start}))
    dist.destroy_process_group()


def check_extraction(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return {"skipped": "torchvision is not installed"}
    import torch.multiprocessing as mp

    from proxydata.features import extract_features

    ngpu = torch.cuda.device_count()
    ds, model = _images(args.images, args.image_size), _model().cuda(0)
    one = tmp / "one.npy"
    extract_features(ds, model, tmp / "warm.npy", batch_size=args.batch_size, device="cuda:0", progress=False)
    torch.cuda.synchronize()
    start = time.perf_counter()
    extract_features(ds, model, one, batch_size=args.batch_size, device="cuda:0", progress=False)
    torch.cuda.synchronize()
    single = time.perf_counter() - start
    many = tmp / "all.npy"
    mp.spawn(_rank, args=(ngpu, str(tmp / "init"), args, str(many), str(tmp / "all.json")), nprocs=ngpu)
    spread = json.loads((tmp / "all.json").read_text())["seconds"]
    a, b = np.load(one, mmap_mode="r"), np.load(many, mmap_mode="r")
    return {
        "images": args.images,
        "image_size": args.image_size,
        "gpus": ngpu,
        "one_gpu_s": single,
        "all_gpus_s": spread,
        "equal": bool(np.array_equal(a, b)),
        "max_abs_diff": float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
    }


def report(args: argparse.Namespace, km: dict[str, Any], ex: dict[str, Any], command: str) -> str:
    names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none"
    lines = [
        "# GPU check: faiss k-means and feature extraction",
        "",
        "Produced by",
        "",
        f"    {command}",
        "",
        f"GPUs: {names}. CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs. "
        f"torch {torch.__version__}.",
        "",
        "## k-means (KM-OR's clustering step)",
        "",
    ]
    if "skipped" in km:
        lines.append(f"Skipped: {km['skipped']}.")
    else:
        lines += [
            f"{km['rows']:,} × {km['dim']} float32 in memory, K = {km['n_clusters']}, {args.n_iter} Lloyd "
            "iterations, the same k-means++ start for every run.",
            "",
            "| run | device | seconds | objective |",
            "|---|---|---|---|",
        ]
        for label, r in km["runs"].items():
            lines.append(f"| {label} | {r['device']} | {r['seconds']:.1f} | {r['objective']:.6e} |")
    lines += ["", "## extract_features (ResNet-18, random weights)", ""]
    if "skipped" in ex:
        lines.append(f"Skipped: {ex['skipped']}.")
    else:
        lines += [
            f"{ex['images']:,} uint8 images 3 × {ex['image_size']} × {ex['image_size']}, "
            f"batch {args.batch_size}.",
            "",
            "| run | seconds | images / s |",
            "|---|---|---|",
            f"| one process, cuda:0 | {ex['one_gpu_s']:.1f} | {ex['images'] / ex['one_gpu_s']:,.0f} |",
            f"| {ex['gpus']} processes, NCCL, one GPU each | {ex['all_gpus_s']:.1f} "
            f"| {ex['images'] / ex['all_gpus_s']:,.0f} |",
            "",
            f"Files equal: {ex['equal']} (largest difference {ex['max_abs_diff']:.2e}).",
        ]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_281_167)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--n-clusters", type=int, default=1000)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--images", type=int, default=65_536)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    command = "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv)
    km = check_kmeans(args)
    with tempfile.TemporaryDirectory(prefix="proxydata-gpu-") as tmp:
        ex = check_extraction(args, Path(tmp))
    text = report(args, km, ex, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

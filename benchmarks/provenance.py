"""Where a run came from, and whether a re-run reproduces it (issue 18, item 1).

:func:`environment` is stored in every record of ``reproduce.py``: what, besides
the code and the seed, decides a run's floating point. :func:`compare_runs`
judges a re-run against its record (``reproduce.py --verify``):
``bit-identical``, ``same genotype`` or ``different``, with the first epoch at
which the losses part and the environment fields that differ.

A lower layer of ``benchmarks/``: it imports no other module of it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Environment variables that change which CPU kernels run (checked: on one machine,
#: ``ONEDNN_MAX_CPU_ISA=AVX2`` or ``ATEN_CPU_CAPABILITY=avx2`` changes the first
#: epoch's loss in its last digits) or how many threads they use.
KERNEL_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
)

#: The per-epoch series a re-run is compared on, in this order.
SERIES = ("train_loss", "val_loss", "train_acc", "val_acc", "hessian_eigenvalues")

#: Folders whose uncommitted changes make a checkout dirty (results files are data, not code).
CODE_PATHS = ("proxydata", "benchmarks", ":(exclude)benchmarks/results")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or :func:`platform.processor` elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_build() -> dict[str, str]:
    """The BLAS, oneDNN and OpenMP builds torch uses, and a digest of its whole build report.

    Key lines of ``torch.__config__.show()`` (MKL, MKL-DNN/oneDNN, OpenMP, LAPACK,
    CPU capability) and ``parallel_info()``'s backend line; ``sha256`` is the
    first 16 hex digits of SHA-256 over ``show()``.
    """
    show = torch.__config__.show()
    keys = {"blas": "Math Kernel Library", "onednn": "MKL-DNN", "openmp": "OpenMP", "lapack": "LAPACK"}
    out = {}
    for name, needle in keys.items():
        line = next((ln.strip(" -\t") for ln in show.splitlines() if needle in ln), "")
        out[name] = line or "absent"
    backend = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in torch.__config__.parallel_info().splitlines()
            if "backend" in ln
        ),
        "unknown",
    )
    out["parallel_backend"] = backend
    out["sha256"] = hashlib.sha256(show.encode()).hexdigest()[:16]
    return out


def thread_pools() -> list[str]:
    """threadpoolctl's view of the native thread pools loaded: API, library, version, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed"]
    return sorted(
        f"{p.get('user_api')}:{p.get('internal_api')} {p.get('version')} "
        f"threads={p.get('num_threads')}" + (f" arch={p['architecture']}" if p.get("architecture") else "")
        for p in threadpool_info()
    )


def deterministic_settings() -> dict[str, Any]:
    """torch's switches that trade speed for reproducibility (and oneDNN use on the CPU)."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def git_state(root: Path) -> dict[str, Any]:
    """Commit, dirty flag and (when dirty) a digest of the uncommitted code of the checkout at ``root``.

    Dirty means uncommitted changes, or untracked files, under ``proxydata/`` or
    ``benchmarks/`` (``benchmarks/results/`` excluded: runs append to it).
    ``diff_sha256``: first 16 hex digits of SHA-256 over ``git diff HEAD`` of those
    folders followed by each untracked file's path and bytes; two runs with the same
    commit and digest ran the same code.
    """
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        diff = _git(root, "diff", "HEAD", "--binary", "--", *CODE_PATHS)
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS).split()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None, "diff_sha256": None}
    dirty = bool(diff or untracked)
    digest = None
    if dirty:
        h = hashlib.sha256(diff.encode())
        for name in sorted(untracked):
            h.update(name.encode())
            h.update((root / name).read_bytes())
        digest = h.hexdigest()[:16]
    return {"commit": commit, "dirty": dirty, "diff_sha256": digest}


def code_version(state: dict[str, Any]) -> str:
    """The short form kept in a record's ``code``: 7-digit commit, ``+dirty`` when dirty."""
    commit = state.get("commit") or "unknown"
    return ("unknown" if commit == "unknown" else commit[:7]) + ("+dirty" if state.get("dirty") else "")


def environment(package_root: Path) -> dict[str, Any]:
    """What besides the code and the seed decides a run's floating point, and which code ran.

    Parameters
    ----------
    package_root : Path
        The checkout the imported ``proxydata`` comes from (its git state is recorded).

    Returns
    -------
    dict
        Versions (torch, numpy, python), the machine, the CPU model, ATen's CPU
        capability, torch's intra- and inter-op threads, the BLAS/oneDNN/OpenMP
        builds (:func:`torch_build`), threadpoolctl's pools, the deterministic
        switches, the kernel-choosing environment variables that are set, the
        path of the imported ``proxydata`` and the checkout's git state
        (:func:`git_state`).
    """
    import proxydata

    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        **{f"build_{k}": v for k, v in torch_build().items()},
        "thread_pools": thread_pools(),
        **deterministic_settings(),
        "kernel_variables": {k: os.environ[k] for k in KERNEL_VARIABLES if k in os.environ},
        "proxydata_path": str(Path(proxydata.__file__).resolve().parent),
        "git": git_state(package_root),
    }


def _flatten(env: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in env.items():
        if isinstance(value, dict) and key != "kernel_variables":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def environment_diff(recorded: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """``field: recorded -> now`` for every environment field that differs (or one side lacks).

    A record made before records carried an environment gives one line saying so,
    then the fields of ``now`` are not compared.
    """
    if not recorded:
        return ["the record has no environment (made before records carried one)"]
    old, new = _flatten(recorded), _flatten(now)
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, "<absent>") != new.get(key, "<absent>"):
            lines.append(f"{key}: {old.get(key, '<absent>')} -> {new.get(key, '<absent>')}")
    return lines


def first_parting_epoch(
    recorded: dict[str, Any], rerun: dict[str, Any], epochs: int | None = None
) -> int | None:
    """The first epoch (1-based) whose training or validation loss differs between the two runs.

    Only the first ``epochs`` epochs are compared when given. ``None`` when the
    losses agree to the last bit over the epochs both runs have.
    """
    firsts = []
    for name in ("train_loss", "val_loss"):
        a, b = list(recorded.get(name) or []), list(rerun.get(name) or [])
        n = min(len(a), len(b)) if epochs is None else min(len(a), len(b), epochs)
        first = next((i + 1 for i in range(n) if a[i] != b[i]), None)
        if first is not None:
            firsts.append(first)
    return min(firsts) if firsts else None


def compare_runs(
    recorded: dict[str, Any], rerun: dict[str, Any], epochs: int | None = None
) -> dict[str, Any]:
    """Judge a re-run against its record.

    Parameters
    ----------
    recorded, rerun : dict
        Records of ``reproduce.py`` (per-epoch :data:`SERIES` and ``genotype``).
    epochs : int, optional
        Compare only the first ``epochs`` epochs (a re-run stopped early); the
        genotype is then the one found after that epoch (``genotypes``) when
        the record has it.

    Returns
    -------
    dict
        ``verdict``: ``"bit-identical"`` when every series both runs recorded is
        equal to the last bit (over the compared epochs) and the genotype is the
        same; ``"same genotype"`` when the genotype is the same but a series
        differs; ``"different"`` otherwise. ``first_parting_epoch`` (1-based or
        None), ``series_differ`` (names), ``genotypes`` (recorded, re-run),
        ``first_losses`` (``((train recorded, re-run), (val recorded, re-run))``
        of epoch 1, None when a side lacks them).
    """
    n = epochs
    differ = []
    for name in SERIES:
        a, b = recorded.get(name), rerun.get(name)
        if not a or not b:
            continue
        a, b = list(a), list(b)
        if n is not None:
            a, b = a[:n], b[:n]
        if a != b:
            differ.append(name)
    if n is None:
        g_old, g_new = recorded.get("genotype"), rerun.get("genotype")
    else:
        old = recorded.get("genotypes") or []
        g_old = old[n - 1] if len(old) >= n else None
        g_new = (rerun.get("genotypes") or [rerun.get("genotype")])[-1]
    same_cell = g_old is not None and g_old == g_new
    if same_cell and not differ:
        verdict = "bit-identical"
    elif same_cell:
        verdict = "same genotype"
    else:
        verdict = "different"
    firsts = [(recorded.get(k) or [None])[0] for k in ("train_loss", "val_loss")]
    news = [(rerun.get(k) or [None])[0] for k in ("train_loss", "val_loss")]
    return {
        "verdict": verdict,
        "first_losses": tuple(zip(firsts, news)) if None not in firsts + news else None,
        "first_parting_epoch": first_parting_epoch(recorded, rerun, n),
        "series_differ": differ,
        "genotypes": (g_old, g_new),
    }


def format_comparison(key: str, result: dict[str, Any], env_lines: list[str], epochs: int | None) -> str:
    """The lines ``reproduce.py --verify`` prints for one record."""
    scope = "all epochs" if epochs is None else f"the first {epochs} epoch(s)"
    part = result["first_parting_epoch"]
    lines = [
        f"{key}",
        f"  verdict over {scope}: {result['verdict']}",
        "  losses: " + ("equal to the last bit" if part is None else f"first part at epoch {part}"),
    ]
    if result.get("first_losses"):
        (t_old, t_new), (v_old, v_new) = result["first_losses"]
        lines.append(f"  epoch-1 train loss: recorded {t_old!r}, re-run {t_new!r}")
        lines.append(f"  epoch-1 val loss:   recorded {v_old!r}, re-run {v_new!r}")
    if result["series_differ"]:
        lines.append("  series that differ: " + ", ".join(result["series_differ"]))
    if result["verdict"] == "different":
        lines.append(f"  genotype recorded: {result['genotypes'][0]}")
        lines.append(f"  genotype re-run:   {result['genotypes'][1]}")
    lines.append("  environment differences: " + ("none" if not env_lines else ""))
    lines += [f"    {line}" for line in env_lines]
    return "\n".join(lines)

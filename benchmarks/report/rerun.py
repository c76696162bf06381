"""The page's re-run note: which records this code reproduces, and what is known about why not.

The numbers come from the records; the re-runs behind the text were made with
``reproduce.py --verify`` and are written, with their commands and output, in
``benchmarks/results/reproduction_verify.md``.
"""

from __future__ import annotations

from .records import ALGO_ORDER, Record, groups_of


def _first_losses(records: list[Record]) -> list[str]:
    """Per algorithm with v1 and v2 full-data runs of a seed: their epoch-1 training losses."""
    groups = groups_of(records)
    out = []
    for algo in ALGO_ORDER:
        v1 = {r["seed"]: r for r in groups.get((algo, "full", 1.0, "", 1), [])}
        v2 = {r["seed"]: r for r in groups.get((algo, "full", 1.0, "", 2), [])}
        common = sorted(set(v1) & set(v2))
        if not common:
            continue
        same = sum(v1[s]["genotype"] == v2[s]["genotype"] for s in common)
        losses = "; ".join(
            f"seed {s}: v1 {v1[s]['train_loss'][0]:.7f}, v2 {v2[s]['train_loss'][0]:.7f}" for s in common
        )
        out.append(
            f"- {algo} full data, the same configuration in v1 and v2 (the records' `config` differ only in "
            "the Hessian measurement, and the v2 runs repeated without it are equal to the last bit): "
            f"epoch-1 training loss {losses}; the same cell in {same} of {len(common)} seeds."
        )
    return out


def environments(records: list[Record]) -> list[tuple[str, int]]:
    """The distinct environments of the records (CPU model, torch, thread count, BLAS build), with counts."""
    out: dict[str, int] = {}
    for r in records:
        env = r.get("environment") or {}
        if "cpu_model" not in env:
            name = "incomplete environment (made before records carried the full one)"
        else:
            name = (
                f"{env.get('cpu_model')}, {env.get('cpu_capability')}, torch {env.get('torch')}, "
                f"{r.get('torch_threads', env.get('torch_threads'))} thread(s), "
                f"device {r['config'].get('device')}"
            )
        out[name] = out.get(name, 0) + 1
    return sorted(out.items(), key=lambda kv: -kv[1])


def rerun_note(records: list[Record]) -> list[str]:
    """The re-run note: the records' environments and commits, and what re-running them showed."""
    full_env = sum("cpu_model" in (r.get("environment") or {}) for r in records)
    commits = sorted({str(r.get("code")) for r in records})
    envs = environments(records)
    return [
        "### Do these records reproduce?",
        "",
        *_first_losses(records),
        f"- {full_env} of {len(records)} runs carry the full `environment` of `benchmarks/provenance.py` "
        "(CPU model, threads, BLAS/oneDNN/OpenMP builds, deterministic switches, path of the imported "
        f"`proxydata`, git state); {len(envs)} environment(s) in this file: "
        + "; ".join(f"{name} ({n} runs)" for name, n in envs)
        + f". The runs name {len(commits)} commit(s): {', '.join(f'`{c}`' for c in commits)}"
        + (
            "."
            if len(commits) == 1
            else " (`reproduce.py --verify` lists the code that changed between a record's commit and the "
            "checkout it runs from)."
        ),
        "- `reproduce.py --verify K --seed S` re-runs K records drawn at random from their stored "
        "configuration and prints `bit-identical`, `same genotype` or `different`, the first epoch at "
        "which the losses part, and the environment fields and code that differ; what it printed for "
        "these records is in `benchmarks/results/reproduction_verify.md`.",
        "- The previous results file (`benchmarks/results/reproduction_2026-11.jsonl`, 5,000 + 5,000 "
        "images, kept aside and no longer read by this page) mixed code versions and environments, and "
        "its records carry at most torch, numpy, Python and ATen's CPU capability. Its record "
        "`--verify 1 --seed 7` draws (DARTS-V1 + BDP, `limit=linear`, long-tailed split, seed 7) re-runs "
        "bit-identically over all 20 epochs on an Intel Xeon machine (AVX512, one thread) both from its "
        "own commit and from today's code; the 'different from epoch 1' that issue 27 reports did not "
        "come from the code of either commit but from another environment (earlier re-runs in "
        "`reproduction_verify.md` ran on an AMD EPYC), which the record cannot name. Hence the fresh "
        "file: every record with the full environment, one environment per table.",
    ]

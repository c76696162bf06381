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


def rerun_note(records: list[Record]) -> list[str]:
    """The re-run note: what the records say, and what re-running them on one machine showed."""
    with_env = sum(bool(r.get("environment")) for r in records)
    full_env = sum("cpu_model" in (r.get("environment") or {}) for r in records)
    return [
        "### Do these records reproduce?",
        "",
        *_first_losses(records),
        f"- {with_env} of {len(records)} runs carry an `environment`, {full_env} of them the full one of "
        "`benchmarks/provenance.py` (CPU model, threads, BLAS/oneDNN/OpenMP builds, deterministic "
        "switches, path of the imported `proxydata`, git state); the others only torch, numpy, Python, "
        "machine and ATen's CPU capability, or nothing.",
        "- Re-run on one machine (AMD EPYC, AVX512, torch 2.14.1, one thread; commands and output in "
        "`benchmarks/results/reproduction_verify.md`), the first epoch of darts-v1's full-data runs gives "
        "the **v1** records' losses to the last bit, not the v2 records': with current code for seeds 0–2, "
        "and with 616936f, the commit the v2 records name, for seeds 0 and 2. This agrees with issue 18's "
        "report from another machine; an earlier version of this note said the opposite and is withdrawn.",
        "- So the code is not what differs, and the cause of the v2 losses is not identified: on that "
        "machine the same code changes the last bits with two threads, with oneDNN limited to AVX2 or "
        "with ATen's vector code at AVX2, and none of these gives the v2 value. The v2 records' "
        "environment (torch version and ATen's capability only) equals that machine's and cannot tell "
        "such runs apart.",
        "- A record could name code that did not run: until this change `reproduce.py` imported "
        "`proxydata` from wherever Python found it first (the virtual environment's editable install, "
        "i.e. another checkout, when run from a second checkout), while `code` gave the commit of the "
        "checkout holding `reproduce.py`. It now imports its own checkout's package, refuses to run "
        "with another, and records the package's path.",
        "- `reproduce.py --verify 2` (two records drawn at random with seed 0, both of protocol v2, re-run "
        "in full) found both **different**: the losses part at epoch 1 and the re-runs found other cells. "
        "Every v2 record compared so far differs from its re-run from the first epoch on (these two, and "
        "darts-v1's full-data seeds 0–2, whose configuration was re-run), and every v1 record re-run "
        "(three) is reproduced: the v2 verdicts on this page rest on runs that this code "
        "does not reproduce on the machine checked, and a verdict that depends on a few seeds' cells "
        "can change when they are repeated.",
    ]

"""Seeded NAS-Bench-201 searches give the same records before and after a refactor of ``proxydata.nas``.

Runs a few seeded :func:`proxydata.nas.search` calls per algorithm on tiny data
(scikit-learn digits, 8×8, C=4, N=1, a BiLevelPruner-free loop), and writes every
record without its timings, floats as ``float.hex`` (exact), one JSON object per
line. Run it on two commits and ``--compare A B``: it prints, per record,
``identical`` or the first differing field, and exits 1 on any difference.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/nas_layout_identical.py --out before.jsonl
    (checkout the new commit)
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/nas_layout_identical.py --out after.jsonl
    python benchmarks/nas_layout_identical.py --compare before.jsonl after.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

TIMINGS = ("epoch_seconds", "search_seconds", "hessian_seconds")


def _exact(value):
    if isinstance(value, float):
        return float.hex(value)
    if isinstance(value, list):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return value


def run(out: str) -> None:
    import torch
    from torch.utils.data import DataLoader, Subset

    import proxydata
    from proxydata.nas import ALGORITHMS, make_supernet, search

    torch.set_num_threads(1)
    ds = proxydata.load_digits()
    idx = np.random.default_rng(0).permutation(len(ds))[:192]
    train, val = Subset(ds, idx[:96].tolist()), Subset(ds, idx[96:].tolist())
    with open(out, "w") as fh:
        for algo in ALGORITHMS:
            for seed in (0, 1):
                gen = torch.Generator().manual_seed(seed)
                tl = DataLoader(train, batch_size=32, shuffle=True, generator=gen)
                vl = DataLoader(val, batch_size=32, shuffle=True, generator=gen)
                net = make_supernet(algo, C=4, N=1, in_channels=1, seed=seed)
                hb = None
                if algo in ("darts-v1", "beta-darts"):
                    xb = torch.stack([val[i][0] for i in range(16)])
                    yb = torch.tensor([int(val[i][1]) for i in range(16)])
                    hb = (xb, yb)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = search(
                        net,
                        tl,
                        vl,
                        algo=algo,
                        epochs=2,
                        seed=seed,
                        progress=False,
                        hessian_batch=hb,
                        hessian_iterations=3,
                    )
                rec = res.to_dict()
                for k in TIMINGS:
                    rec.pop(k, None)
                rec["weights"] = [
                    float.hex(float(v))
                    for v in torch.cat([p.detach().flatten().double() for p in net.parameters()]).tolist()[
                        ::7
                    ]
                ]
                fh.write(
                    json.dumps({"algo": algo, "seed": seed, "record": _exact(rec)}, sort_keys=True) + "\n"
                )
                print(algo, seed, rec["genotype"], flush=True)


def compare(a: str, b: str) -> int:
    ra = [json.loads(line) for line in open(a)]
    rb = [json.loads(line) for line in open(b)]
    bad = 0
    if len(ra) != len(rb):
        print(f"different numbers of records: {len(ra)} vs {len(rb)}")
        return 1
    for x, y in zip(ra, rb):
        name = f"{x['algo']} seed {x['seed']}"
        if x == y:
            print(f"{name}: identical")
            continue
        bad += 1
        fields = [
            k for k in sorted(set(x["record"]) | set(y["record"])) if x["record"].get(k) != y["record"].get(k)
        ]
        print(f"{name}: different ({', '.join(fields)})")
    print(f"{len(ra) - bad}/{len(ra)} records identical")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        parser.error("--out or --compare is required")
    run(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

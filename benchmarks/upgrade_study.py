"""Convert format-1 ranking-study files (no digests) to format 2 (sealed settings and rows).

Usage::

    PYTHONPATH=. python benchmarks/upgrade_study.py benchmarks/results/ranking*.jsonl

Each file's rows are checked (fields, types, ranges, no run twice, one digest
per selection) and the file is rewritten atomically with the settings line
recording the architectures, seeds and selections and every line sealed by its
digest (:func:`proxydata.fidelity.upgrade_study`). A format-1 file cannot show
whether it was edited before: convert only files you trust (these were written
by ``benchmarks/ranking_study.py``). Files already of format 2 are left alone.
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> int:
    from proxydata.fidelity import STUDY_FORMAT, upgrade_study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="study files (JSON lines)")
    args = parser.parse_args(argv)
    for path in args.paths:
        with open(path, encoding="utf-8") as fh:
            first = json.loads(fh.readline())
        if first.get("format") == STUDY_FORMAT:
            print(f"{path}: already format {STUDY_FORMAT}")
            continue
        print(f"upgraded {upgrade_study(path)} to study format {STUDY_FORMAT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

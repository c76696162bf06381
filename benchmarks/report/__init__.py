"""The results page (``docs/results.md``) from ``benchmarks/results/reproduction.jsonl`` alone.

``python benchmarks/reproduce.py --report`` calls :func:`report.page.write_report`.
Parts, each importing only the ones before it (and ``suites`` for run labels and
the planned grid; never ``reproduce``):

1. ``records``    — reading, folding (Hessian twins) and grouping the records;
2. ``statistics`` — paired differences, one-sided paired t-tests, Holm's step-down;
3. ``verdicts``   — a claim's verdict (rule outcome, seeds, p-values) and its line;
4. ``limits``     — what the class-balance limit did in each pruning step;
5. ``tables``     — the page's tables;
6. ``claims_static`` and ``claims_bdp`` — the verdicts of *Less is More* and of BDP;
7. ``figures``    — the PNG figures;
8. ``rerun``      — the note on whether the records reproduce;
   ``ranking``    — the ranking-fidelity section, from the ranking study's own files;
9. ``page``       — the page: rules first, then "In short" (after Holm over every test), sections.
"""

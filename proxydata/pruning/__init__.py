"""Bi-level data pruning (BDP, Tu et al. 2023) during a DARTS search.

:class:`BiLevelPruner` is a facade over the parts in this package, one per file:

* :mod:`.schedule` — :class:`PruningSchedule`, when to prune and how much;
* :mod:`.tracked` — the tracked samples: index ↔ buffer position, pruning epoch;
* :mod:`.split` — :class:`SplitState`, one split's settings and kept set;
* :mod:`.score_buffer` / :mod:`.recorder` — the EL2N ring buffer and
  :class:`ScoreRecorder`, which fills it and counts observations (coverage);
* :mod:`.selection` — which samples one step prunes (a pure function);
* :mod:`.history` — the per-epoch record and the summary table;
* :mod:`.state` — building and validating the state dict;
* :mod:`.distributed` — the check that all ranks built the same pruner;
* :mod:`.samplers` — :class:`KeptSetSampler`, the DataLoader samplers;
* :mod:`.glister` — :class:`GlisterSelector`, adaptive subset selection by
  GLISTER (Adaptive-NAS), a hook beside the pruner with the same contract;
  its greedy in :mod:`.glister_math`, its state-dict and rank checks in
  :mod:`.glister_checks`.

The formulas are in ``docs/methods/bdp.md``.
"""

from .glister import GlisterSelector, ScoringSampler
from .glister_math import GlisterResult, glister_gains, glister_greedy, glister_val_gradient
from .pruner import BiLevelPruner
from .recorder import ScoreRecorder
from .samplers import KeptSetSampler
from .schedule import PruningSchedule
from .selection import Selection, compute_class_limits, select_for_pruning
from .split import SplitState

__all__ = [
    "BiLevelPruner",
    "GlisterResult",
    "GlisterSelector",
    "KeptSetSampler",
    "PruningSchedule",
    "ScoreRecorder",
    "ScoringSampler",
    "Selection",
    "SplitState",
    "compute_class_limits",
    "glister_gains",
    "glister_greedy",
    "glister_val_gradient",
    "select_for_pruning",
]

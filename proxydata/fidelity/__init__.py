"""Ranking fidelity: does a data selection keep the order of architectures?

A proxy dataset is only useful to a search if the architectures that do best on
it are the ones that do best on the full data. :func:`ranking_study` measures
exactly that: it trains every architecture on every data selection (several
seeds), tests each on a held-out set, and reports how well the accuracies reached
with each selection agree with those reached with full data and, optionally, with
a ground truth such as NAS-Bench-201's 200-epoch accuracies.

Agreement (:func:`proxydata.metrics.ranking_agreement`) is Kendall's tau-b,
Spearman's rho and the top-k overlap. It is always read next to its **ceiling**:
full data's own seed-to-seed agreement under the same recipe, since no selection
can be expected to agree with full data better than full data agrees with itself.
To compare like with like, a selection's agreement with full data is measured
across seeds (``tau_cross``: the mean over seed pairs ``i != j`` of
``tau(selection_i, full_j)``), the same estimator as the ceiling
(``mean_{i != j} tau(full_i, full_j)``); the agreement of the seed means
(``tau``) is reported too. Intervals are percentile bootstrap intervals over
architectures.

Every finished (selection, architecture, seed) is appended to a JSON-lines file
at once, so a study can be stopped and resumed; a file made with other settings
is refused rather than mixed (see :func:`read_study`).

The parts, one job each: :mod:`.study` (the runs), :mod:`.architectures`
(sampling, checking and training them), :mod:`.study_file` (the JSON-lines
file) and :mod:`.agreement` (the statistics).
"""

from .agreement import MARGIN, family_agreement, margin_verdict, study_agreement, versus_random
from .architectures import sample_nb201_architectures
from .recipe import TrainRecipe
from .study import RankingStudy, ranking_study
from .study_file import STUDY_FORMAT, read_study

__all__ = [
    "MARGIN",
    "STUDY_FORMAT",
    "RankingStudy",
    "TrainRecipe",
    "family_agreement",
    "margin_verdict",
    "ranking_study",
    "read_study",
    "sample_nb201_architectures",
    "study_agreement",
    "versus_random",
]

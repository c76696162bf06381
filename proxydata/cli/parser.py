"""The argument parser of the ``proxydata`` command."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from .._version import __version__
from ..nas import ALGORITHMS
from ..nas.search_options import SPACE_ALGORITHMS
from ..nas.spaces.nb201.table import TABLE_ENV
from ..pruning import BiLevelPruner
from .checks import SOURCE_FORMS, UsageError
from .options import METHODS, add_method_options, normalize_method

__all__ = ["PROG", "bdp_default", "build_parser"]

PROG = "proxydata"


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits from inside parse_args; raise instead so
    # that main() reports every usage error the same way, as one line.
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def bdp_default(name: str) -> Any:
    """The default of :class:`~proxydata.BiLevelPruner`'s parameter ``name`` (one definition)."""
    return inspect.signature(BiLevelPruner).parameters[name].default


_SEED_HELP = "seeds every random choice (proxy, splits, initialisation); same seed, same result (default 0)"
_DEVICE_HELP = "torch device of the training, e.g. cpu, cuda, cuda:1, mps (default cpu)"


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help=SOURCE_FORMS.replace("'", "").replace(" or ", ", "))
    p.add_argument("--download", action="store_true", help="allow torchvision to download CIFAR")


def _add_output(p: argparse.ArgumentParser, what: str) -> None:
    """``-o/--output`` (``what`` is written there) and ``--no-progress``: every command has both."""
    p.add_argument("-o", "--output", default=None, help=what)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_test_fraction(p: argparse.ArgumentParser, use: str = "") -> None:
    """``--test-fraction``: the stratified hold-out of a source without a test split (``use``: what for)."""
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help=f"stratified test hold-out {use}when the source has no test split (default 0.2)",
    )


def _add_select(sub: Any) -> None:
    p = sub.add_parser(
        "select",
        help="choose a static proxy subset and save it",
        description="Choose a static proxy subset of a dataset (Moser et al., 2022).",
    )
    p.add_argument("method", type=normalize_method, choices=METHODS, help=f"one of {', '.join(METHODS)}")
    _add_data(p)
    p.add_argument("--ratio", type=float, required=True, help="kept share r in (0, 1]")
    p.add_argument(
        "--indices",
        default=None,
        metavar="PATH",
        help="select within these dataset indices only (a split, e.g. DARTS's training half): "
        "a .npy array or a text file of integers; the proxy keeps r of them (default: all of --data)",
    )
    p.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    _add_output(p, "write the proxy here (.json or .npz)")
    add_method_options(p, "select")


def _add_bdp(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bdp", action="store_true", help="prune both splits during the search (BiLevelPruner)")
    p.add_argument(
        "--bdp-interval",
        type=int,
        default=None,
        help=f"prune every T >= 2 epochs, VoE over the last T (default {bdp_default('interval')})",
    )
    for split, name in (("train", "training"), ("val", "validation")):
        p.add_argument(
            f"--bdp-{split}-ratio",
            type=float,
            default=None,
            help=f"share of the initial {name} split pruned per step "
            f"(default {bdp_default(f'{split}_prune_ratio')})",
        )
    p.add_argument(
        "--no-class-balance", action="store_true", help="turn off the automatic class-balance limit"
    )


def _add_adaptive(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--adaptive",
        choices=("glister",),
        default=None,
        help="re-select a training subset of share --ratio every --interval epochs during the search "
        "(GlisterSelector, Adaptive-NAS)",
    )
    p.add_argument(
        "--interval", type=int, default=None, help="--adaptive: re-select every T >= 1 epochs (default 5)"
    )
    p.add_argument("--eta", type=float, default=None, help="--adaptive: GLISTER's step size (default 0.025)")


def _add_search(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help=f"run a NAS-Bench-201 or DARTS-space search ({', '.join(ALGORITHMS)}, p-darts)",
        description="Search a NAS-Bench-201 cell (--space nb201) or DARTS-space cells (--space darts) "
        "on full data, a static proxy and/or with the bi-level pruner.",
    )
    _add_data(p)
    p.add_argument(
        "--algo",
        choices=list(dict.fromkeys(sum(SPACE_ALGORITHMS.values(), ()))),
        default=ALGORITHMS[0],
        help=f"search algorithm (default {ALGORITHMS[0]}; see proxydata.nas.ALGORITHMS)",
    )
    p.add_argument(
        "--space",
        choices=tuple(SPACE_ALGORITHMS),
        default="nb201",
        help="search space (default nb201; darts: --N is the number of cells)",
    )
    p.add_argument(
        "--proxy", type=normalize_method, choices=METHODS, help="static proxy of the training split"
    )
    p.add_argument(
        "--ratio", type=float, default=None, help="proxy ratio r in (0, 1] (needs --proxy or --adaptive)"
    )
    _add_bdp(p)
    _add_adaptive(p)
    p.add_argument("--epochs", type=int, default=50, help="search epochs (default 50)")
    p.add_argument("--C", type=int, default=16, help="supernet channels (default 16)")
    p.add_argument("--N", type=int, default=5, help="cells per stage (default 5)")
    p.add_argument(
        "--batch-size", type=int, default=64, help="images per search batch, each split (default 64)"
    )
    p.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    p.add_argument("--device", default="cpu", help=_DEVICE_HELP)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.5,
        help="share of the search data used as the DARTS validation split (stratified, default 0.5)",
    )
    p.add_argument("--table", help=f"NAS-Bench-201 accuracy table (csv/csv.gz); default: ${TABLE_ENV} if set")
    p.add_argument(
        "--train-from-scratch",
        dest="scratch_epochs",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="train the found cell from scratch for EPOCHS and report its test accuracy",
    )
    _add_test_fraction(p, "for --train-from-scratch ")
    _add_output(p, "write the result record here (JSON)")
    add_method_options(p, "search")


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="full data vs CC-OR proxy vs BiLevelPruner on digits (no download)",
        description="The same short DARTS-V1 search three ways on scikit-learn's digits.",
    )
    from ..demo import DEMO_EPOCHS, DEMO_SCRATCH_EPOCHS

    p.add_argument("--epochs", type=int, default=None, help=f"search epochs (default {DEMO_EPOCHS})")
    p.add_argument(
        "--scratch-epochs",
        type=int,
        default=None,
        help=f"from-scratch training epochs of each found cell (default {DEMO_SCRATCH_EPOCHS})",
    )
    p.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    p.add_argument("--device", default="cpu", help=_DEVICE_HELP)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: on 8x8 images more threads cost more than "
        "they give, and far more on a busy machine); 0 keeps torch's default",
    )
    _add_output(p, "write all three records here (JSON)")


def _add_rank(sub: Any) -> None:
    p = sub.add_parser(
        "rank",
        help="ranking study: do static proxies keep the order of architectures?",
        description="Train NAS-Bench-201 cells on full data and on each proxy; report how well "
        "each proxy keeps their ranking (Kendall tau, Spearman rho, top-k overlap), next to "
        "full data's own seed-to-seed agreement.",
    )
    p.add_argument("--data", default=None, help=SOURCE_FORMS.replace("'", "").replace(" or ", ", "))
    p.add_argument("--download", action="store_true", help="allow torchvision to download CIFAR")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a study of a minute or two on digits (6 cells, rs and cc-or at r=0.5, 2 epochs, 2 seeds); "
        "flags given explicitly win",
    )
    p.add_argument("--methods", nargs="+", default=None, help="proxies (default rs cc-rs km-or cc-or)")
    p.add_argument("--ratios", nargs="+", type=float, default=None, help="kept shares (default 0.1 0.25 0.5)")
    arch = p.add_mutually_exclusive_group()
    arch.add_argument("--architectures", help="file of genotypes: one per line, or a JSON list / sample file")
    arch.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="K",
        help="K cells: stratified over the table's accuracy with --table, else uniformly (default 20)",
    )
    p.add_argument("--table", help=f"NAS-Bench-201 accuracy table (csv/csv.gz); default: ${TABLE_ENV} if set")
    p.add_argument("--truth-column", default="cifar10_test_200ep", help="the table's column used as truth")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per cell (default 12)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per cell (default 2)")
    p.add_argument("--C", type=int, default=None, help="cell network channels (default 8)")
    p.add_argument("--N", type=int, default=None, help="cells per stage (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="images per training batch (default 64)")
    p.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="training pool size, stratified: exactly this many samples (default 0: all)",
    )
    _add_test_fraction(p)
    p.add_argument("--bootstrap", type=int, default=None, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the proxies, the cell sample and the splits")
    p.add_argument("--device", default="cpu", help=_DEVICE_HELP)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (0: torch's default)")
    _add_output(p, "JSON-lines study file (resumed when it exists)")
    add_method_options(p, "rank")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``proxydata`` command (``select``, ``search``, ``demo``, ``rank``)."""
    parser = _Parser(prog=PROG, description="Proxy datasets and bi-level data pruning for NAS.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_select(sub)
    _add_search(sub)
    _add_demo(sub)
    _add_rank(sub)
    return parser

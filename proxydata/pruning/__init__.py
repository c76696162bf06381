"""Bi-level data pruning (BDP) during a DARTS search."""

from .pruner import BiLevelPruner

__all__ = ["BiLevelPruner"]

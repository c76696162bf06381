"""Placeholder: BiLevelPruner is being written (issue 4)."""


class BiLevelPruner:
    pass

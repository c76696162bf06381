"""Result records: dataclasses with ``to_dict()``, readable for a while as the dicts they replace.

Every result of the library's runs (:class:`~proxydata.nas.SearchResult`,
:class:`~proxydata.nas.TrainResult`, :class:`~proxydata.experiment.SearchRecord`,
:class:`~proxydata.fidelity.RankingStudy`) is a dataclass: attributes to read,
``to_dict()`` for the plain JSON-able dict. :func:`~proxydata.nas.train_genotype`,
:func:`~proxydata.nas.train_network`, :func:`~proxydata.experiment.run_search` and
:func:`~proxydata.experiment.evaluate_genotype` returned plain dicts up to
0.2; their records derive from :class:`DictAccess`, so reading one as that
dict still works until 0.4 (with a ``FutureWarning``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["DictAccess", "data_frame"]


def data_frame(rows: list[dict[str, Any]], what: str) -> Any:
    """``pandas.DataFrame(rows)``: the ``to_pandas()`` of a record (``what`` names it in the error).

    pandas is optional: without it, an ``ImportError`` says what to install.
    """
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            f"{what}.to_pandas() needs pandas, which is not installed: pip install pandas "
            "(or pip install 'proxydata[pandas]')"
        ) from exc
    return pandas.DataFrame(rows)


class DictAccess:
    """Deprecated read-only dict access to a record (``record["key"]`` etc.), by way of ``to_dict()``.

    ``record[key]``, ``key in record``, ``record.get(key, default)``, ``keys()``,
    ``values()``, ``items()``, ``len(record)`` and iteration read
    ``record.to_dict()`` — the dict the function returned before — and warn with
    a ``FutureWarning``: use the attributes, or ``to_dict()`` for the dict (which
    is also what ``json.dump`` needs). ``dict(record)`` works the same way.
    Writing (``record[key] = value``) is not supported: take ``to_dict()``.
    """

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every record defines it
        raise NotImplementedError

    def _legacy(self, how: str) -> dict[str, Any]:
        name = type(self).__name__
        warnings.warn(
            f"reading a {name} as a dict ({how}) is deprecated and will stop working in "
            f"proxydata 0.4: use its attributes, or {name}.to_dict() for the plain dict",
            FutureWarning,
            stacklevel=3,
        )
        return self.to_dict()

    def __getitem__(self, key: str) -> Any:
        return self._legacy(f"[{key!r}]")[key]

    def __contains__(self, key: object) -> bool:
        return key in self._legacy("in")

    def get(self, key: str, default: Any = None) -> Any:
        """``to_dict().get(key, default)`` (deprecated)."""
        return self._legacy(f"get({key!r})").get(key, default)

    def keys(self) -> Any:
        """``to_dict().keys()`` (deprecated)."""
        return self._legacy("keys()").keys()

    def values(self) -> Any:
        """``to_dict().values()`` (deprecated)."""
        return self._legacy("values()").values()

    def items(self) -> Any:
        """``to_dict().items()`` (deprecated)."""
        return self._legacy("items()").items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._legacy("iteration"))

    def __len__(self) -> int:
        return len(self._legacy("len()"))

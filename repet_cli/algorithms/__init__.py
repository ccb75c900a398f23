"""The background models, by name.

Each algorithm is one module here holding its DSP and a frozen dataclass of its own options
(a subclass of :class:`~.base.AlgorithmOptions`: validated on construction, with its length
check and its model). Adding an algorithm is one file and one line in :data:`ALGORITHMS`.
"""

from __future__ import annotations

import dataclasses

from .adaptive import AdaptiveOptions
from .base import AlgorithmOptions, Found, Model, Spectra
from .ft2d import Ft2dOptions
from .repet import RepetOptions
from .similarity import SimilarityOptions

#: Algorithm name -> the class of its options; the first is the default.
ALGORITHMS: dict[str, type[AlgorithmOptions]] = {
    cls.name: cls for cls in (RepetOptions, SimilarityOptions, AdaptiveOptions, Ft2dOptions)
}
DEFAULT_ALGORITHM = next(iter(ALGORITHMS))


def option_owners() -> dict[str, tuple[str, ...]]:
    """Each algorithm-specific option -> the algorithms that have it, in registry order."""
    owners: dict[str, list[str]] = {}
    for name, cls in ALGORITHMS.items():
        for field in dataclasses.fields(cls):
            owners.setdefault(field.name, []).append(name)
    return {option: tuple(names) for option, names in owners.items()}


__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "AdaptiveOptions",
    "AlgorithmOptions",
    "Found",
    "Ft2dOptions",
    "Model",
    "RepetOptions",
    "SimilarityOptions",
    "Spectra",
    "option_owners",
]

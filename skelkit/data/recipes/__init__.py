"""Preprocessing recipes: parsed raw samples -> stored sequences.

A recipe object (built by a ``recipes`` registry factory from its options) has:

* ``name`` (``"ctrgcn"`` ...) and ``constants``: every constant it used, JSON-serialisable,
  stored as HDF5 attributes;
* ``process(raw_sample) -> ProcessedSample``: one :class:`~skelkit.data.datasets.RawSample`
  (its ``dataset`` and ``data`` say which pipeline applies) to one stored sequence. A sample
  the reference drops by design raises :class:`SkippedSample` (record it and go on); a
  sample on which the reference pipeline fails raises :class:`UnusableSample` (a bad raw
  file: a problem to report). Both are DataErrors naming the sample;
* ``to_reference_layout(frames)``: the stored frames expanded to the reference pipeline's
  padded array, for comparisons and exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from skelkit.errors import DataError


class SkippedSample(DataError):
    """The reference pipeline drops this sample by design; the message says why."""


class UnusableSample(DataError):
    """The reference pipeline fails on this sample (it would crash); the message says why."""


@dataclass(frozen=True, eq=False)
class ProcessedSample:
    """A stored sequence.

    Attributes:
        name: the sample name.
        frames: float32 ``(T, M=2, V=25, C=3)`` with ``T`` the true length (no padding).
        label: 0-based class label.
        meta: metadata columns (the raw sample's, plus the recipe's own, same keys for every
            sample of a dataset).
    """

    name: str
    frames: np.ndarray
    label: int
    meta: Mapping[str, int | str]

    @property
    def length(self) -> int:
        """The number of frames ``T``."""
        return int(self.frames.shape[0])


class Recipe(Protocol):
    """What ``skelkit preprocess`` needs from a recipe."""

    @property
    def name(self) -> str: ...

    @property
    def constants(self) -> Mapping[str, Any]: ...

    def process(self, raw: Any) -> ProcessedSample: ...

    def to_reference_layout(self, frames: np.ndarray) -> np.ndarray: ...

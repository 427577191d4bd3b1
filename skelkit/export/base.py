"""The exporter contract and helpers shared by the exporters.

An exporter (built from an ``ExporterSpec`` factory) writes the wrapped encoder
(:class:`skelkit.export.model.ExportedEncoder`) in its format and can run the written file,
which ``skelkit export`` uses to check every file against the eager model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from skelkit.errors import PluginError

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn


class Exporter(Protocol):
    """What an exporter factory returns."""

    #: Usual file suffix, e.g. ``.onnx``.
    suffix: str

    def export(
        self, module: nn.Module, example: Tensor, path: Path, metadata: Mapping[str, str]
    ) -> None:
        """Write ``module`` (traced or scripted on ``example`` if needed) to ``path``.

        ``metadata`` (strings) goes into the file where the format allows it.
        """

    def run(self, path: Path, x: np.ndarray) -> np.ndarray:
        """Load the file at ``path`` and return its output for the batch ``x`` (float32)."""


def require_modules(fmt: str, extra: str, *modules: str) -> None:
    """Raise PluginError naming the extra to install when a module is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise PluginError(
            f"the '{fmt}' export format needs {', '.join(missing)}, which is not installed; "
            f"install the extra with: pip install 'skelkit[{extra}]'"
        )


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

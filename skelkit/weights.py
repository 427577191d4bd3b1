"""Helpers for importers of official checkpoints (``skelkit import-weights``).

Official checkpoints are pickles. :func:`load_untrusted` reads them with
``torch.load(weights_only=True)``, so nothing in the file is executed: only tensors, plain
data and, where a paper's code saved its command-line arguments, ``argparse.Namespace``
(rebuilt as an inert object whose attributes become a dict) are accepted. Everything else
is refused with a :class:`~skelkit.errors.DataError` naming the blocked object.

The other helpers are the small pieces every importer needs: stripping wrapper prefixes
(``module.`` from DDP), counting transformer blocks, guessing the dataset from a path, and
writing ``--set`` overrides that describe the checkpoint.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from skelkit.errors import DataError

#: Dataset names and the patterns that find them in official paths and arguments.
DATASET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ntu120", re.compile(r"ntu[-_]?120", re.IGNORECASE)),
    ("ntu60", re.compile(r"ntu[-_]?60|/ntu/", re.IGNORECASE)),
    ("pkummd1", re.compile(r"pku[-_]?v?1", re.IGNORECASE)),
    ("pkummd2", re.compile(r"pku[-_]?v?2", re.IGNORECASE)),
)


class PickledNamespace:
    """Inert stand-in for ``argparse.Namespace`` while unpickling: it only holds attributes."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _blocked_global(exc: BaseException) -> str | None:
    """The line of a weights-only refusal that names the blocked global, if any."""
    for line in str(exc).splitlines():
        if "GLOBAL" in line or "global" in line.split(":")[0]:
            return line.strip()
    return None


def plain_data(value: Any) -> Any:
    """Replace :class:`PickledNamespace` objects by dicts, recursively."""
    if isinstance(value, PickledNamespace):
        return {k: plain_data(v) for k, v in vars(value).items()}
    if isinstance(value, Mapping):
        return {k: plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


def load_untrusted(
    path: str | Path, *, paper: str, weights_entry: str, allow_namespace: bool = False
) -> dict[str, Any]:
    """Load an official checkpoint file without executing pickled code.

    Args:
        path: the file.
        paper: the method's name, for messages (``MAMP``).
        weights_entry: where the file keeps its weights (``'model'``), for the advice to
            re-save them when the file holds other objects.
        allow_namespace: accept ``argparse.Namespace`` objects (turned into dicts).

    Raises:
        DataError: the file is missing, damaged, not a torch checkpoint, not a dict, or holds
            Python objects other than tensors and plain data.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{paper} checkpoint '{path}' does not exist; check the path.")
    allowed: list[Any] = [(PickledNamespace, "argparse.Namespace")] if allow_namespace else []
    try:
        with torch.serialization.safe_globals(allowed):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _blocked_global(exc)
        if detail is None:
            raise DataError(
                f"'{path}' can not be read as a torch checkpoint (damaged or another format)."
            ) from exc
        raise DataError(
            f"'{path}' contains Python objects other than tensors and plain data, so it is not "
            f"loaded (skelkit never executes pickled code); re-save its {weights_entry} with "
            f"torch.save. Detail: {detail}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"'{path}' can not be read as a torch checkpoint (truncated or another format): "
            f"{first_line(exc)}"
        ) from exc
    if not isinstance(data, dict):
        raise DataError(f"'{path}' holds a {type(data).__name__}, not a {paper} checkpoint dict.")
    return {key: plain_data(value) for key, value in data.items()}


def strip_prefixes(state: Mapping[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """Remove wrapper segments (``module.`` from DDP, ``_orig_mod.`` from torch.compile).

    They are removed wherever they stand in a key: wrapped submodules put them mid-key.
    """
    prefixes = tuple(prefixes)
    out: dict[str, Any] = {}
    for key, value in state.items():
        name = str(key)
        for prefix in prefixes:
            name = name.replace(prefix, "")
        out[name] = value
    return out


def count_blocks(state: Mapping[str, Any], prefix: str) -> int:
    """Number of numbered blocks stored under ``prefix`` (``blocks.`` -> ``blocks.0.*``...)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    ids = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    return max(ids) + 1 if ids else 0


def guess_dataset(text: str) -> str | None:
    """The dataset named in an official path or argument (``.../ntu120/xsub/...``)."""
    for name, pattern in DATASET_PATTERNS:
        if pattern.search(text):
            return name
    return None


def override(key: str, value: Any) -> str:
    """A ``--set KEY=VALUE`` string that reads back as the same scalar."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return f"{key}={text}"


def plain_record(value: Any) -> Any:
    """Official arguments as JSON-like data for the checkpoint's ``source`` record.

    Scalars, dicts and lists are kept; anything else becomes its ``repr``.
    """
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_record(v) for v in value]
    return repr(value)

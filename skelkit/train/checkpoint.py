"""skelkit checkpoints: plain data and tensors only, written atomically.

A checkpoint is a dict that ``torch.load(weights_only=True)`` reads::

    {"skelkit": {"format": 1, "version": "0.1.0", "kind": "pretrain"},
     "config": {...resolved config, with "plugins": {name: version}...},
     "model": method.state_dict(), "dataset": "ntu60", "recipe": "ctrgcn",
     "epoch": 3, "step": 120, ...engine state for "pretrain" (optimizer, scaler, rng)}

``epoch`` counts completed epochs and ``step`` completed optimizer steps; a checkpoint
written in the middle of an epoch has ``step_in_epoch > 0``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import skelkit
from skelkit.errors import DataError

if TYPE_CHECKING:
    from torch import nn

FORMAT = 1
KINDS = ("pretrain", "imported", "evaluate")


def header(kind: str) -> dict[str, Any]:
    """The ``"skelkit"`` entry of a new checkpoint of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"checkpoint kind must be one of {KINDS}, got {kind!r}")
    return {"format": FORMAT, "version": skelkit.__version__, "kind": kind}


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename).

    A reader never sees a half-written file: a crash leaves the previous file in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(dict(payload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a skelkit checkpoint without executing pickled code.

    Raises:
        DataError: the file is missing, truncated, not a torch file, holds objects other
            than tensors and plain data, or is not a skelkit checkpoint.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"checkpoint '{source}' does not exist; check the path.")
    try:
        data = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():
            raise DataError(
                f"checkpoint '{source}' can not be read (truncated, damaged or not a torch "
                "file); write it again or check the path."
            ) from exc
        raise DataError(
            f"checkpoint '{source}' holds objects other than tensors and plain data; skelkit "
            "does not execute pickled code. Convert official weights with "
            "'skelkit import-weights'."
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"checkpoint '{source}' can not be read (truncated or not a torch file): "
            f"{_first_line(exc)}"
        ) from exc
    return validate_checkpoint(data, str(source))


def validate_checkpoint(data: Any, source: str = "checkpoint") -> dict[str, Any]:
    """Check that ``data`` is a skelkit checkpoint of a known format and return it."""
    info = data.get("skelkit") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise DataError(
            f"'{source}' is not a skelkit checkpoint (no 'skelkit' header); convert official "
            "weights with 'skelkit import-weights'."
        )
    fmt = info.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise DataError(
            f"'{source}' has checkpoint format {fmt!r}, this skelkit "
            f"({skelkit.__version__}) reads format {FORMAT}; upgrade skelkit."
        )
    for key in ("config", "model"):
        if not isinstance(data.get(key), dict):
            raise DataError(f"'{source}' is not a complete skelkit checkpoint: no '{key}' entry.")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_encoder(
    path_or_ckpt: str | os.PathLike[str] | Mapping[str, Any], which: str | None = None
) -> nn.Module:
    """Rebuild the method's encoder (attribute path ``which``) and load its weights.

    The whole method is built from the stored config through the registry; only the
    encoder's weights must be present (an imported checkpoint may lack the decoder).
    ``which`` defaults to the method's ``downstream_encoder`` (Skeleton2vec: its EMA
    teacher, ``target.teacher``), else ``encoder``. The returned encoder is trainable.
    """
    return load_encoder_at(path_or_ckpt, which)[0]


def load_encoder_at(
    path_or_ckpt: str | os.PathLike[str] | Mapping[str, Any], which: str | None = None
) -> tuple[nn.Module, str]:
    """:func:`load_encoder`, also returning the attribute path the encoder was loaded from."""
    from skelkit.methods.build import build_method

    ckpt = _as_checkpoint(path_or_ckpt)
    source = _source_name(path_or_ckpt)
    method = build_method(ckpt["config"])
    if which is None:
        which = str(getattr(method, "downstream_encoder", "encoder"))
    encoder: Any = method
    for part in which.split("."):
        if not hasattr(encoder, part):
            raise DataError(f"'{source}': the method has no submodule '{which}' to load.")
        encoder = getattr(encoder, part)
    prefix = f"{which}."
    state = {k[len(prefix) :]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
    expected = set(encoder.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise DataError(
            f"'{source}': the stored '{which}' weights do not fit the encoder the stored config "
            f"builds ({detail}); the checkpoint is damaged or from an incompatible version."
        )
    encoder.load_state_dict(state)
    encoder.requires_grad_(True)
    return encoder.eval(), which


def _as_checkpoint(path_or_ckpt: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(path_or_ckpt, Mapping):
        return validate_checkpoint(dict(path_or_ckpt))
    return load_checkpoint(path_or_ckpt)


def _source_name(path_or_ckpt: str | os.PathLike[str] | Mapping[str, Any]) -> str:
    return "checkpoint" if isinstance(path_or_ckpt, Mapping) else str(path_or_ckpt)


def state_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """A SHA-256 of every tensor of a state dict (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

"""PKU-MMD (Phase I and II) raw files: skeletons, action labels and split lists.

Formats (official README; the distributed files are ``.txt``):

* **skeleton file** ``<video>.txt``: one line per frame of 150 whitespace-separated numbers,
  ``x1 y1 z1 ... x25 y25 z25`` of person 1 then person 2 (zeros when there is one person),
  Kinect v2 joint order as NTU. Video names are ``0002-L`` (Phase I: 4-digit id, view
  L/M/R) or ``A01N02-L`` (Phase II: action group ``A``, subject ``N``, view).
* **label file** ``<video>.txt`` (same name, in the label folder): one row per action
  instance, ``action_id,start_frame,end_frame,confidence`` with 1-based ``action_id`` and
  confidence 1 (slight) or 2 (strong).
* **split file** (``cross-subject.txt``, ``cross_view_v2.txt`` ...)::

      Training videos:
      0002-L, 0002-M, ...
      Validataion videos:
      0003-L, ...

  (the "Validataion" typo is in the official files; the second list is the test set).

Numbers are read as Python ``float`` (double), like ``np.loadtxt``. Every problem raises
:class:`skelkit.errors.DataError` naming the file and the 1-based line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skelkit.errors import DataError

VALUES_PER_FRAME = 150
NUM_CLASSES = 51
VIDEO_PATTERN = re.compile(
    r"^(?:(?P<id>\d{4})|A(?P<group>\d{2})N(?P<subject>\d{2}))-(?P<view>[LMR])$"
)
_TRAIN_HEADER = "training videos:"
_FIX = "extract the file again from the official archive, or remove it"
_TEST_HEADERS = ("validataion videos:", "validation videos:", "test videos:")


@dataclass(frozen=True)
class PkuVideoName:
    """Fields of a PKU-MMD video name.

    Attributes:
        name: the video name (``0002-L`` or ``A01N02-L``).
        phase: 1 or 2.
        view: ``"L"``, ``"M"`` or ``"R"``.
        subject: the Phase-II subject number (``N``); ``None`` for Phase I, whose names do
            not encode the subject.
    """

    name: str
    phase: int
    view: str
    subject: int | None


def parse_pku_video_name(name: str, where: str = "") -> PkuVideoName:
    """Split a video name; raises DataError (naming ``where``) if it is not a PKU-MMD name."""
    match = VIDEO_PATTERN.match(name)
    if match is None:
        place = f"{where}: " if where else ""
        raise DataError(
            f"{place}{name!r} is not a PKU-MMD video name: expected 0002-L (Phase I) or "
            "A01N02-L (Phase II); rename or remove the file"
        )
    if match.group("id") is not None:
        return PkuVideoName(name, 1, match.group("view"), None)
    return PkuVideoName(name, 2, match.group("view"), int(match.group("subject")))


@dataclass(frozen=True)
class PkuLabel:
    """One labelled action instance of a video.

    Attributes:
        action: the 1-based action id from the file (the 0-based label is ``action - 1``).
        start: start frame as written.
        end: end frame as written (MAMP and PCM3 cut ``frames[start:end]``).
        confidence: 1 (slight) or 2 (strong).
        line: the 1-based line of the row in the label file.
    """

    action: int
    start: int
    end: int
    confidence: int
    line: int


@dataclass(frozen=True)
class PkuSplit:
    """A split file: the training videos and the "validation" (= test) videos, in file order."""

    train: tuple[str, ...]
    test: tuple[str, ...]


def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: can not read the {what} ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not a text {what} (invalid byte)") from None


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """Read a skeleton file as float64 ``(frames, 150)``.

    Blank lines are skipped, like ``np.loadtxt``.

    Raises:
        DataError: unreadable or empty file, a line without exactly 150 numbers, a field that
            is not a number, or a NaN/inf value; the message names the file and line.
    """
    path = Path(path)
    rows: list[list[str]] = []
    linenos: list[int] = []
    for lineno, line in enumerate(_read_text(path, "skeleton file").splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != VALUES_PER_FRAME:
            raise DataError(
                f"{path}:{lineno}: expected 150 numbers per frame (2 persons x 25 joints x 3), "
                f"found {len(tokens)}; the file is truncated or not a PKU-MMD skeleton file"
            )
        rows.append(tokens)
        linenos.append(lineno)
    if not rows:
        raise DataError(f"{path}:1: the skeleton file is empty; {_FIX}")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for lineno, tokens in zip(linenos, rows, strict=True):
            for token in tokens:
                try:
                    float(token)
                except ValueError:
                    raise DataError(
                        f"{path}:{lineno}: skeleton value must be a number, found {token!r}; {_FIX}"
                    ) from None
        raise
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = linenos[int(np.flatnonzero(~finite)[0])]
        raise DataError(f"{path}:{bad}: skeleton values must be finite, found NaN or inf; {_FIX}")
    return values


def _int_token(path: Path, lineno: int, token: str, what: str) -> int:
    try:
        value = float(token)
    except ValueError:
        raise DataError(
            f"{path}:{lineno}: {what} must be an integer, found {token!r}; fix the row"
        ) from None
    if not math.isfinite(value) or value != int(value):
        raise DataError(f"{path}:{lineno}: {what} must be an integer, found {token!r}; fix the row")
    return int(value)


def read_pku_labels(path: str | Path) -> list[PkuLabel]:
    """Read a label file (rows ``action_id,start,end,confidence``); blank lines are skipped.

    Raises:
        DataError: a row without 4 comma-separated integers, an action id outside 1..51, or
            ``end < start``; the message names the file and line. Rows are checked against
            the sequence length by :func:`check_labels_in_sequence`.
    """
    path = Path(path)
    labels: list[PkuLabel] = []
    for lineno, line in enumerate(_read_text(path, "label file").splitlines(), start=1):
        if not line.strip():
            continue
        tokens = [t.strip() for t in line.split(",")]
        if len(tokens) != 4:
            raise DataError(
                f"{path}:{lineno}: expected 'action_id,start_frame,end_frame,confidence', "
                f"found {len(tokens)} comma-separated fields; fix the row"
            )
        action, start, end, confidence = (
            _int_token(path, lineno, token, what)
            for token, what in zip(
                tokens, ("action_id", "start_frame", "end_frame", "confidence"), strict=True
            )
        )
        if not 1 <= action <= NUM_CLASSES:
            raise DataError(
                f"{path}:{lineno}: action_id must be in 1..51, found {action}; fix the row"
            )
        if end < start:
            raise DataError(
                f"{path}:{lineno}: end_frame {end} is before start_frame {start}; fix the row"
            )
        labels.append(PkuLabel(action, start, end, confidence, lineno))
    return labels


def check_labels_in_sequence(labels: Sequence[PkuLabel], num_frames: int, path: str | Path) -> None:
    """Raise DataError naming the label file and line of the first row outside the sequence.

    A row is inside when ``0 <= start < end <= num_frames`` (the slice ``[start:end]`` that
    MAMP and PCM3 cut is a non-empty part of the sequence).
    """
    for label in labels:
        if not 0 <= label.start < label.end <= num_frames:
            raise DataError(
                f"{path}:{label.line}: action interval [{label.start}, {label.end}) lies outside "
                f"the skeleton sequence of {num_frames} frames; fix the label row or the "
                "skeleton file"
            )


def read_pku_split(path: str | Path) -> PkuSplit:
    """Read a split file (see the module docstring for the format).

    Names are comma-separated; surrounding whitespace and empty entries (a trailing comma)
    are ignored.

    Raises:
        DataError: no ``Training videos:`` header, or a name that is not a PKU-MMD video name.
    """
    path = Path(path)
    lists: dict[str, list[str]] = {"train": [], "test": []}
    current: str | None = None
    seen_train = False
    for lineno, line in enumerate(_read_text(path, "split file").splitlines(), start=1):
        text = line.strip()
        header = text.lower()
        if header.startswith(_TRAIN_HEADER):
            current, seen_train = "train", True
            text = text[len(_TRAIN_HEADER) :]
        elif header.startswith(_TEST_HEADERS):
            current = "test"
            text = text.split(":", 1)[1]
        if not text.strip():
            continue
        if current is None:
            raise DataError(
                f"{path}:{lineno}: expected a 'Training videos:' line before the video names; "
                "use the official split file"
            )
        for name in (part.strip() for part in text.split(",")):
            if name:
                parse_pku_video_name(name, f"{path}:{lineno}")
                lists[current].append(name)
    if not seen_train:
        raise DataError(
            f"{path}:1: not a PKU-MMD split file: no 'Training videos:' line; "
            "use the official split file"
        )
    return PkuSplit(tuple(lists["train"]), tuple(lists["test"]))


def _format(value: float, digits: int | None) -> str:
    return repr(float(value)) if digits is None else f"{value:.{digits}g}"


def write_pku_skeleton(path: str | Path, frames: np.ndarray, *, digits: int | None = None) -> Path:
    """Write a skeleton file.

    Args:
        path: output file, named ``<video>.txt``.
        frames: ``(T, 150)`` or ``(T, 2, 25, 3)`` (person, joint, xyz) values; put zeros in
            person 2 for a single person.
        digits: significant digits per value; ``None`` (default) writes the shortest text
            that reads back to exactly the same float64.
    """
    values = np.asarray(frames, dtype=np.float64).reshape(len(frames), -1)
    if values.shape[1] != VALUES_PER_FRAME:
        raise ValueError(f"frames must hold 150 values per frame, got shape {np.shape(frames)}")
    if not np.isfinite(values).all():
        raise ValueError("frames must be finite")
    path = Path(path)
    lines = (" ".join(_format(v, digits) for v in row) for row in values.tolist())
    path.write_text("".join(line + "\n" for line in lines), encoding="ascii")
    return path


def write_pku_labels(path: str | Path, rows: Sequence[tuple[int, int, int, int]]) -> Path:
    """Write a label file from ``(action_id, start, end, confidence)`` rows (action 1-based)."""
    path = Path(path)
    path.write_text("".join(f"{a},{s},{e},{c}\n" for a, s, e, c in rows), encoding="ascii")
    return path


def write_pku_split(path: str | Path, train: Sequence[str], test: Sequence[str]) -> Path:
    """Write a split file in the official layout (with its "Validataion" header)."""
    path = Path(path)
    text = f"Training videos: \n{', '.join(train)}\nValidataion videos: \n{', '.join(test)}\n"
    path.write_text(text, encoding="ascii")
    return path

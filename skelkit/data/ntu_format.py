"""The NTU RGB+D ``.skeleton`` text format: an exact reader and a writer.

File layout (one file per sample, named ``SsssCcccPpppRrrrAaaa.skeleton``)::

    framecount
    for every frame:
        bodycount                      (0 .. 6; a frame with 0 bodies has no more lines)
        for every body:
            bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
                handRightState isResticted leanX leanY trackingState
            jointCount                 (always 25)
            25 lines: x y z depthX depthY colorX colorY
                      orientationW orientationX orientationY orientationZ trackingState

Numbers are read as Python ``float`` (IEEE double). NumPy's ``str -> float32`` conversion goes
through the same double, so ``body.xyz.astype(np.float32)`` is bit-identical to the
reference pipelines that parse the text straight to float32 (CTR-GCN, pyskl), and the float64
values serve the pipelines that compute in double (ST-GCN, 2s-AGCN). ``bodyID`` is a 64-bit
Kinect tracking id and is kept as the exact decimal text.

Every problem raises :class:`skelkit.errors.DataError` naming the file and the 1-based line.

Three readers give the same result, each declining what it can not prove it reads exactly:
the compiled reader (``skelkit.data._ntu_scan``, see :mod:`skelkit.data.compiled`) reads the
plain files (all distributed ones) converting only x y z until the other columns are asked
for; :func:`skelkit.data.fast_parse.parse_blocks` does the same with a few NumPy passes where
the extension is not built; the line-by-line reader here handles the rest and locates every
error.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from skelkit.data.compiled import ntu_scanner
from skelkit.data.fast_parse import Blocks, parse_blocks
from skelkit.errors import DataError

NUM_JOINTS = 25
#: Columns of :attr:`SkeletonBody.joints` (the 11 float fields of a joint line).
JOINT_COLUMNS = (
    "x",
    "y",
    "z",
    "depthX",
    "depthY",
    "colorX",
    "colorY",
    "orientationW",
    "orientationX",
    "orientationY",
    "orientationZ",
)
NAME_PATTERN = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
SUFFIX = ".skeleton"

_FIX = "extract the file again from the official archive, or remove it"
_BODY_INFO_FIELDS = 10
_JOINT_FIELDS = 12
_BODY_ID = re.compile(r"^\d+$")
_BODY_INT_FIELDS = (
    "clipedEdges",
    "handLeftConfidence",
    "handLeftState",
    "handRightConfidence",
    "handRightState",
    "isResticted",
)


@dataclass(frozen=True)
class NtuName:
    """The fields encoded in an NTU sample name ``SsssCcccPpppRrrrAaaa`` (all 1-based)."""

    name: str
    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """The 0-based class label (``action - 1``)."""
        return self.action - 1


def parse_ntu_name(name: str, where: str = "") -> NtuName:
    """Split an NTU sample name (without ``.skeleton``) into its fields.

    Raises:
        DataError: ``name`` does not look like ``S001C002P003R002A013``; ``where`` (a file
            or list line) is named in the message.
    """
    match = NAME_PATTERN.match(name)
    if match is None:
        place = f"{where}: " if where else ""
        raise DataError(
            f"{place}{name!r} is not an NTU sample name: expected SsssCcccPpppRrrrAaaa "
            "(for example S001C002P003R002A013); rename the file or remove it from the raw folder"
        )
    setup, camera, subject, replication, action = (int(g) for g in match.groups())
    return NtuName(name, setup, camera, subject, replication, action)


def is_ntu_name(name: str) -> bool:
    """Whether ``name`` matches ``SsssCcccPpppRrrrAaaa`` exactly."""
    return NAME_PATTERN.match(name) is not None


@dataclass(frozen=True)
class BodyInfo:
    """The nine fields after ``bodyID`` on a body-info line (names as in the NTU README)."""

    clipped_edges: int = 0
    hand_left_confidence: int = 0
    hand_left_state: int = 0
    hand_right_confidence: int = 0
    hand_right_state: int = 0
    is_restricted: int = 0
    lean_x: float = 0.0
    lean_y: float = 0.0
    tracking_state: int = 2


@dataclass(frozen=True, eq=False)
class SkeletonBody:
    """One tracked body in one frame.

    Attributes:
        body_id: the Kinect tracking id, exactly as written (decimal digits of a uint64).
        joints: float64 ``(25, 11)``, columns :data:`JOINT_COLUMNS`.
        joint_tracking: int8 ``(25,)``: 0 not tracked, 1 inferred, 2 tracked.
        info: the other body-info fields.
    """

    body_id: str
    joints: np.ndarray
    joint_tracking: np.ndarray
    info: BodyInfo = field(default_factory=BodyInfo)

    @property
    def xyz(self) -> np.ndarray:
        """Camera-space joint positions in metres, float64 ``(25, 3)``."""
        return self.joints[:, 0:3]

    @property
    def depth_xy(self) -> np.ndarray:
        """Joint positions in the 512x424 depth image, float64 ``(25, 2)``."""
        return self.joints[:, 3:5]

    @property
    def color_xy(self) -> np.ndarray:
        """Joint positions in the 1920x1080 colour image, float64 ``(25, 2)``."""
        return self.joints[:, 5:7]

    @property
    def orientation(self) -> np.ndarray:
        """Joint orientation quaternions ``(w, x, y, z)``, float64 ``(25, 4)``."""
        return self.joints[:, 7:11]

    @classmethod
    def from_xyz(
        cls,
        body_id: int | str,
        xyz: np.ndarray,
        *,
        depth_xy: np.ndarray | None = None,
        color_xy: np.ndarray | None = None,
        orientation: np.ndarray | None = None,
        joint_tracking: np.ndarray | None = None,
        info: BodyInfo | None = None,
    ) -> SkeletonBody:
        """Build a body from joint positions; the other fields default to zeros / tracked (2)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.shape != (NUM_JOINTS, 3):
            raise ValueError(f"xyz must have shape (25, 3), got {xyz.shape}")
        joints = np.zeros((NUM_JOINTS, len(JOINT_COLUMNS)), dtype=np.float64)
        joints[:, 0:3] = xyz
        for columns, values in ((slice(3, 5), depth_xy), (slice(5, 7), color_xy)):
            if values is not None:
                joints[:, columns] = np.asarray(values, dtype=np.float64).reshape(NUM_JOINTS, 2)
        if orientation is not None:
            joints[:, 7:11] = np.asarray(orientation, dtype=np.float64).reshape(NUM_JOINTS, 4)
        tracking = (
            np.full(NUM_JOINTS, 2, dtype=np.int8)
            if joint_tracking is None
            else np.asarray(joint_tracking, dtype=np.int8).reshape(NUM_JOINTS)
        )
        body_text = str(body_id)
        if not _BODY_ID.match(body_text):
            raise ValueError(f"body_id must be a non-negative integer, got {body_id!r}")
        return cls(body_text, joints, tracking, info if info is not None else BodyInfo())


@dataclass(frozen=True, eq=False)
class BodyBlocks:
    """Every body of a file in file order, as arrays: what the recipes read.

    Attributes:
        body_counts: int64 ``(frames,)``: the bodies of every recorded frame (0 when empty).
        ids: the distinct bodyIDs (text), in order of first appearance.
        codes: int64 ``(bodies,)``: the index in ``ids`` of every body's bodyID.
        xyz: float64 ``(bodies, 25, 3)``: camera-space joint positions.
        joint_tracking: int8 ``(bodies, 25)``.
        info: int64 ``(bodies, 7)``: clipedEdges, handLeftConfidence, handLeftState,
            handRightConfidence, handRightState, isResticted, trackingState.
        lean: float64 ``(bodies, 2)``: leanX, leanY.
        all_columns: returns float64 ``(bodies, 25, 11)``, every float field of the joint
            lines (:data:`JOINT_COLUMNS`); the compiled reader checks those fields but
            converts them only when they are asked for.
    """

    body_counts: np.ndarray
    ids: list[str]
    codes: np.ndarray
    xyz: np.ndarray
    joint_tracking: np.ndarray
    info: np.ndarray
    lean: np.ndarray
    all_columns: Callable[[], np.ndarray] = field(repr=False)

    @property
    def body_ids(self) -> list[str]:
        """The bodyID text of every body."""
        return [self.ids[code] for code in self.codes.tolist()]

    @cached_property
    def joints(self) -> np.ndarray:
        """float64 ``(bodies, 25, 11)``: every float field of the joint lines."""
        return self.all_columns()

    def frame_of_body(self) -> np.ndarray:
        """int64 ``(bodies,)``: the recorded frame of every body."""
        return np.repeat(np.arange(self.body_counts.size), self.body_counts)

    @classmethod
    def from_frames(cls, frames: Sequence[Sequence[SkeletonBody]]) -> BodyBlocks:
        """Stack the bodies of ``frames`` (one sequence of bodies per recorded frame)."""
        bodies = [body for frame in frames for body in frame]
        joints = np.zeros((len(bodies), NUM_JOINTS, len(JOINT_COLUMNS)), dtype=np.float64)
        tracking = np.zeros((len(bodies), NUM_JOINTS), dtype=np.int8)
        info = np.zeros((len(bodies), 7), dtype=np.int64)
        lean = np.zeros((len(bodies), 2), dtype=np.float64)
        for i, body in enumerate(bodies):
            joints[i] = body.joints
            tracking[i] = body.joint_tracking
            b = body.info
            info[i] = (
                b.clipped_edges,
                b.hand_left_confidence,
                b.hand_left_state,
                b.hand_right_confidence,
                b.hand_right_state,
                b.is_restricted,
                b.tracking_state,
            )
            lean[i] = (b.lean_x, b.lean_y)
        counts = np.array([len(frame) for frame in frames], dtype=np.int64)
        ids, codes = id_codes([body.body_id for body in bodies])
        return cls(counts, ids, codes, joints[:, :, 0:3], tracking, info, lean, Columns(joints))

    def to_frames(self) -> list[list[SkeletonBody]]:
        """The bodies as :class:`SkeletonBody` objects, one list per recorded frame."""
        joints = self.joints
        infos = [
            BodyInfo(a, b, c, d, e, f, lean_x, lean_y, state)
            for (a, b, c, d, e, f, state), (lean_x, lean_y) in zip(
                self.info.tolist(), self.lean.tolist(), strict=True
            )
        ]
        bodies = [
            SkeletonBody(body_id, joints[i], self.joint_tracking[i], info)
            for i, (body_id, info) in enumerate(zip(self.body_ids, infos, strict=True))
        ]
        frames: list[list[SkeletonBody]] = []
        first = 0
        for count in self.body_counts.tolist():
            frames.append(bodies[first : first + count])
            first += count
        return frames


class Columns:
    """:attr:`BodyBlocks.all_columns` of arrays already converted (picklable)."""

    def __init__(self, joints: np.ndarray) -> None:
        self.joints = joints

    def __call__(self) -> np.ndarray:
        return self.joints


class ScannedColumns:
    """:attr:`BodyBlocks.all_columns` of a file the compiled reader read: every field of its
    joint lines, converted on demand (picklable: it keeps the file's bytes)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __call__(self) -> np.ndarray:
        scanner = ntu_scanner()
        full = scanner.scan(self.raw, True) if scanner is not None else None
        if full is not None:
            return np.frombuffer(full[5]).reshape(-1, NUM_JOINTS, len(JOINT_COLUMNS))
        blocks = parse_blocks(self.raw)  # the Python readers accept what the C reader does
        if blocks is None:
            raise DataError("the compiled reader and the NumPy reader disagree on a file")
        return np.ascontiguousarray(blocks.joints[:, :, :11])


def id_codes(body_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct ``body_ids`` in order of first appearance, and the index of each."""
    index: dict[str, int] = {}
    codes = [index.setdefault(body_id, len(index)) for body_id in body_ids]
    return list(index), np.array(codes, dtype=np.int64)


class SkeletonFile:
    """A parsed ``.skeleton`` file.

    Built from its frames (``SkeletonFile(name, frames)``) or, by the readers, from its
    :class:`BodyBlocks`; each view is made from the other when first used.

    Attributes:
        name: the sample name (file name without ``.skeleton``).
        frames: one list of bodies per recorded frame, in file order (empty lists for frames
            without a body); ``len(frames)`` equals the frame count on line 1.
        blocks: the same bodies as arrays.
    """

    def __init__(
        self,
        name: str,
        frames: Sequence[Sequence[SkeletonBody]] | None = None,
        *,
        blocks: BodyBlocks | None = None,
    ) -> None:
        if (frames is None) == (blocks is None):
            raise TypeError("SkeletonFile needs either frames or blocks")
        self.name = name
        self._frames = None if frames is None else [list(frame) for frame in frames]
        self._blocks = blocks

    @property
    def frames(self) -> list[list[SkeletonBody]]:
        """One list of bodies per recorded frame."""
        if self._frames is None:
            assert self._blocks is not None
            self._frames = self._blocks.to_frames()
        return self._frames

    @property
    def blocks(self) -> BodyBlocks:
        """Every body as arrays (see :class:`BodyBlocks`)."""
        if self._blocks is None:
            self._blocks = BodyBlocks.from_frames(self.frames)
        return self._blocks

    @property
    def num_frames(self) -> int:
        """The recorded frame count, including frames with no body."""
        if self._blocks is not None:
            return int(self._blocks.body_counts.size)
        return len(self.frames)

    def __repr__(self) -> str:
        return f"SkeletonFile({self.name!r}, {self.num_frames} frames)"


class _Lines:
    """Numbered access to the lines of a file, raising DataError at the end."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.pos = 0

    def next(self, what: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.lines):
            raise DataError(
                f"{self.path}:{len(self.lines) + 1}: file ends early, expected {what}; "
                f"the file is truncated: {_FIX}"
            )
        self.pos += 1
        return self.pos, self.lines[self.pos - 1].split()

    def fail(self, lineno: int, message: str) -> DataError:
        return DataError(f"{self.path}:{lineno}: {message}; {_FIX}")


def _int_field(lines: _Lines, lineno: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise lines.fail(lineno, f"{what} must be an integer, found {token!r}") from None


def _float_field(lines: _Lines, lineno: int, token: str, what: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise lines.fail(lineno, f"{what} must be a number, found {token!r}") from None


def _read_count(lines: _Lines, what: str, hint: str = "") -> tuple[int, int]:
    lineno, tokens = lines.next(what)
    if len(tokens) != 1:
        raise lines.fail(lineno, f"expected {what} (one integer), found {len(tokens)} fields{hint}")
    value = _int_field(lines, lineno, tokens[0], what)
    if value < 0:
        raise lines.fail(lineno, f"{what} must not be negative, found {value}")
    return lineno, value


def _read_body_info(lines: _Lines, hint: str) -> tuple[str, BodyInfo]:
    lineno, tokens = lines.next("a body-info line")
    if len(tokens) != _BODY_INFO_FIELDS:
        raise lines.fail(
            lineno, f"expected a body-info line with 10 fields, found {len(tokens)}{hint}"
        )
    if not _BODY_ID.match(tokens[0]):
        raise lines.fail(lineno, f"bodyID must be a non-negative integer, found {tokens[0]!r}")
    ints = [
        _int_field(lines, lineno, token, name)
        for token, name in zip(tokens[1:7], _BODY_INT_FIELDS, strict=True)
    ]
    return tokens[0], BodyInfo(
        clipped_edges=ints[0],
        hand_left_confidence=ints[1],
        hand_left_state=ints[2],
        hand_right_confidence=ints[3],
        hand_right_state=ints[4],
        is_restricted=ints[5],
        lean_x=_float_field(lines, lineno, tokens[7], "leanX"),
        lean_y=_float_field(lines, lineno, tokens[8], "leanY"),
        tracking_state=_int_field(lines, lineno, tokens[9], "trackingState"),
    )


def _read_joint_block(lines: _Lines, hint: str) -> int:
    """Check a joint count and its 25 joint lines; return the first joint line's number."""
    lineno, count = _read_count(lines, "the joint count", hint)
    if count != NUM_JOINTS:
        raise lines.fail(lineno, f"joint count must be 25 (Kinect v2), found {count}{hint}")
    for _ in range(NUM_JOINTS):
        joint_line, tokens = lines.next("a joint line")
        if len(tokens) != _JOINT_FIELDS:
            raise lines.fail(
                joint_line, f"expected a joint line with 12 fields, found {len(tokens)}{hint}"
            )
    return lineno + 1


def _convert_slowly(lines: _Lines, starts: list[int]) -> np.ndarray:
    """Convert token by token with ``float``, naming the first field that is not a number."""
    values: list[float] = []
    for first in starts:
        for lineno in range(first, first + NUM_JOINTS):
            for token in lines.lines[lineno - 1].split():
                try:
                    values.append(float(token))
                except ValueError:
                    raise lines.fail(
                        lineno, f"joint field must be a number, found {token!r}"
                    ) from None
    return np.array(values, dtype=np.float64)


def _convert_joint_blocks(lines: _Lines, starts: list[int]) -> np.ndarray:
    """All joint blocks as float64 ``(blocks, 25, 12)``, checked; ``starts`` are line numbers.

    NumPy's text parser and Python's ``float`` both round correctly, so the fast path and
    the token-by-token fallback (used to locate a bad field) give the same values.
    """
    text = " ".join(" ".join(lines.lines[s - 1 : s - 1 + NUM_JOINTS]) for s in starts)
    expected = len(starts) * NUM_JOINTS * _JOINT_FIELDS
    flat: np.ndarray | None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            flat = np.fromstring(text, dtype=np.float64, sep=" ")
        except ValueError:
            flat = None
    if flat is None or flat.size != expected:
        flat = _convert_slowly(lines, starts)
    values = flat.reshape(len(starts), NUM_JOINTS, _JOINT_FIELDS)
    finite = np.isfinite(values[:, :, 0:3]).all(axis=2)
    if not finite.all():
        block, joint = (int(i[0]) for i in np.nonzero(~finite))
        raise lines.fail(
            starts[block] + joint, "joint coordinates x y z must be finite, found NaN or inf"
        )
    integral = _valid_tracking(values[:, :, 11])
    if not integral.all():
        block, joint = (int(i[0]) for i in np.nonzero(~integral))
        raise lines.fail(
            starts[block] + joint, "joint trackingState must be an integer (0, 1 or 2)"
        )
    return values


def _valid_tracking(values: np.ndarray) -> np.ndarray:
    """Where joint trackingState values are integers that fit the int8 they are kept in."""
    with np.errstate(invalid="ignore"):
        return (values == np.round(values)) & (values >= -128) & (values <= 127)


def parse_skeleton_text(text: str, path: str | Path, *, check_name: bool = True) -> SkeletonFile:
    """Parse the text of a ``.skeleton`` file; ``path`` is used for the name and messages."""
    path = Path(path)
    name = _sample_name(path, check_name)
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return _parse(text, None, path, name)
    return _parse_bytes(data, path, name, text)


def read_skeleton_file(
    path: str | Path, *, check_name: bool = True, data: bytes | None = None
) -> SkeletonFile:
    """Read and validate one NTU ``.skeleton`` file.

    Accepts LF and CRLF line endings and surrounding whitespace. ``data``: the file's bytes
    when the caller has read them already (``path`` then only names the sample).

    Raises:
        DataError: the file can not be read, is empty or truncated, a count or field is not a
            number, a joint count is not 25, a body count does not match the lines that follow,
            a coordinate is NaN/inf, or (with ``check_name``) the name is not
            ``SsssCcccPpppRrrrAaaa``. The message names the file and line.
    """
    path = Path(path)
    name = _sample_name(path, check_name)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: can not read the skeleton file ({exc.strerror})") from None
    return _parse_bytes(data, path, name)


def _sample_name(path: Path, check_name: bool) -> str:
    name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name
    if check_name:
        parse_ntu_name(name, str(path))
    return name


def _parse_bytes(raw: bytes, path: Path, name: str, text: str | None = None) -> SkeletonFile:
    """The compiled reader where it reads the file, else the Python readers."""
    blocks = compiled_scan(raw)
    if blocks is not None:
        return SkeletonFile(name, blocks=blocks)
    if text is None:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise DataError(f"{path}:{line}: not a text skeleton file (non-ASCII byte)") from None
    return _parse(text, raw, path, name)


def compiled_scan(raw: bytes) -> BodyBlocks | None:
    """The file read by the compiled reader, or ``None`` (no reader, or it declines).

    The reader converts x y z and checks the other joint fields; :attr:`BodyBlocks.joints`
    converts them on first use.
    """
    scanner = ntu_scanner()
    if scanner is None:
        return None
    scanned = scanner.scan(raw)
    if scanned is None:
        return None
    counts, ids, codes, info, lean, xyz, tracking = scanned
    bodies = len(codes) // 8
    return BodyBlocks(
        np.frombuffer(counts, dtype=np.int64),
        ids,
        np.frombuffer(codes, dtype=np.int64),
        np.frombuffer(xyz).reshape(bodies, NUM_JOINTS, 3),
        np.frombuffer(tracking, dtype=np.int8).reshape(bodies, NUM_JOINTS),
        np.frombuffer(info, dtype=np.int64).reshape(bodies, 7),
        np.frombuffer(lean).reshape(bodies, 2),
        ScannedColumns(raw),
    )


def _parse(text: str, data: bytes | None, path: Path, name: str) -> SkeletonFile:
    """Parse with the vectorised reader, or line by line where it declines (see fast_parse)."""
    if not text or text.isspace():
        raise DataError(f"{path}:1: the file is empty; {_FIX}")
    blocks = parse_blocks(data) if data is not None else None
    parsed = _from_blocks(name, blocks) if blocks is not None else None
    return parsed if parsed is not None else _parse_lines(text, path, name)


def _from_blocks(name: str, blocks: Blocks) -> SkeletonFile | None:
    """The file read by the fast path, or ``None`` if a value needs a located error."""
    values = blocks.joints
    tracking_values = values[:, :, 11]
    if not (np.isfinite(values[:, :, 0:3]).all() and _valid_tracking(tracking_values).all()):
        return None
    joints = np.ascontiguousarray(values[:, :, :11])
    counts = np.asarray(blocks.body_counts, dtype=np.int64)
    tracking = tracking_values.astype(np.int8)
    ids, codes = id_codes(blocks.body_ids)
    arrays = BodyBlocks(
        counts,
        ids,
        codes,
        joints[:, :, 0:3],
        tracking,
        blocks.info_ints,
        blocks.lean,
        Columns(joints),
    )
    return SkeletonFile(name, blocks=arrays)


def _parse_lines(text: str, path: Path, name: str) -> SkeletonFile:
    """The line-by-line reader: exact for every accepted file, and locates every error."""
    lines = _Lines(path, text)
    _, frame_count = _read_count(lines, "the frame count")
    layout: list[list[tuple[str, BodyInfo]]] = []
    starts: list[int] = []
    for frame in range(frame_count):
        count_line, body_count = _read_count(lines, f"the body count of frame {frame + 1}")
        hint = f" (does the body count {body_count} on line {count_line} match the file?)"
        bodies: list[tuple[str, BodyInfo]] = []
        for _ in range(body_count):
            bodies.append(_read_body_info(lines, hint))
            starts.append(_read_joint_block(lines, hint))
        layout.append(bodies)
    for rest in range(lines.pos, len(lines.lines)):
        if lines.lines[rest].strip():
            raise lines.fail(
                rest + 1,
                f"unexpected text after the last of the {frame_count} frames declared on line 1 "
                "(does a body count match the bodies that follow?)",
            )
    values = _convert_joint_blocks(lines, starts)
    joints = np.ascontiguousarray(values[:, :, :11])
    tracking = values[:, :, 11].astype(np.int8)
    frames: list[list[SkeletonBody]] = []
    block = 0
    for bodies in layout:
        frame_bodies = []
        for body_id, info in bodies:
            frame_bodies.append(SkeletonBody(body_id, joints[block], tracking[block], info))
            block += 1
        frames.append(frame_bodies)
    return SkeletonFile(name, frames)


def _format_float(value: float, digits: int | None) -> str:
    if not math.isfinite(value):
        raise ValueError(f"can not write a non-finite value {value!r}")
    if digits is None:
        return repr(float(value))
    return f"{value:.{digits}g}"


def format_skeleton(
    frames: Sequence[Sequence[SkeletonBody]], *, digits: int | None = 7
) -> Iterable[str]:
    """Yield the lines (without line ends) of a ``.skeleton`` file for ``frames``.

    See :func:`write_skeleton_file` for the arguments.
    """
    yield str(len(frames))
    for bodies in frames:
        yield str(len(bodies))
        for body in bodies:
            info = body.info
            ints = (
                info.clipped_edges,
                info.hand_left_confidence,
                info.hand_left_state,
                info.hand_right_confidence,
                info.hand_right_state,
                info.is_restricted,
            )
            lean = (_format_float(info.lean_x, digits), _format_float(info.lean_y, digits))
            yield " ".join([body.body_id, *map(str, ints), *lean, str(info.tracking_state)])
            yield str(NUM_JOINTS)
            joints = np.asarray(body.joints, dtype=np.float64)
            if joints.shape != (NUM_JOINTS, len(JOINT_COLUMNS)):
                raise ValueError(f"body joints must have shape (25, 11), got {joints.shape}")
            if not np.isfinite(joints).all():
                raise ValueError("can not write a non-finite joint value")
            states = body.joint_tracking.tolist()
            if digits is None:
                for row, state in zip(joints.tolist(), states, strict=True):
                    yield " ".join([*(repr(v) for v in row), str(int(state))])
            else:
                # One %-format per line: the same text as formatting each value, much faster.
                line_format = " ".join([f"%.{digits}g"] * len(JOINT_COLUMNS) + ["%d"])
                for row, state in zip(joints.tolist(), states, strict=True):
                    yield line_format % (*row, int(state))


def write_skeleton_file(
    path: str | Path,
    frames: Sequence[Sequence[SkeletonBody]],
    *,
    digits: int | None = 7,
    newline: str = "\r\n",
) -> Path:
    """Write ``frames`` as an NTU ``.skeleton`` file that :func:`read_skeleton_file` reads back.

    Args:
        path: the output file; name it ``SsssCcccPpppRrrrAaaa.skeleton`` for a readable sample.
        frames: one sequence per recorded frame (its length is the frame count on line 1),
            each holding the :class:`SkeletonBody` objects tracked in that frame (an empty
            sequence writes a frame with 0 bodies). Build bodies with
            ``SkeletonBody.from_xyz(body_id, xyz (25, 3), color_xy=..., ...)``; the same
            ``body_id`` in several frames is the same person, as in Kinect's output.
        digits: significant digits of every float field. The default 7 matches the real files,
            so a value reads back as its 7-digit rounding; ``None`` writes the shortest text
            that reads back to exactly the same float64.
        newline: line ending; the distributed files use CRLF.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    text = newline.join(format_skeleton(frames, digits=digits)) + newline
    path.write_bytes(text.encode("ascii"))
    return path

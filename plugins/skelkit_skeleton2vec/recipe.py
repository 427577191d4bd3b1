"""The ``pyskl`` recipe: pyskl's ``tools/data/ntu_preproc.py`` (Skeleton2vec's data).

NTU RGB+D only, reimplemented from its documented behaviour:

1. **Parse.** Frames without a body are skipped (the frame index advances on non-empty
   frames only). Bodies are keyed by ``int(bodyID)``; a body starts at the frame index of
   its first appearance and its frames are stacked (a body that vanishes and returns is
   treated as contiguous). Positions are float32; every body's *motion* is
   ``sum(var(joints (n*25, 3), axis=0))`` in float32.
2. **Choose the actors.** Bodies are sorted by motion (descending, stable). A single body
   is returned alone. Otherwise bodies seen in at most 11 frames are dropped (one left: it
   is returned alone); then the *spread* filter runs on every remaining body: a frame is
   valid when ``x-range <= 0.8 * y-range``; a body without invalid frames is kept, one with
   a noise ratio ``>= 0.69754`` is dropped, otherwise its motion becomes
   ``min(motion, motion of its valid frames)``; the rest is sorted again. One left: it is
   returned alone. Otherwise two slots of ``max(start + length)`` frames are filled: the
   first body in slot 0, every next body in slot 0 if its frames ``[s, e)`` do not overlap
   slot 0's span, else in slot 1 under the same rule, else it is dropped. Leading and
   trailing frames where both slots sum (in absolute value) to less than 1e-3 are trimmed
   (interior gaps stay), and the slots are swapped if slot 0's joint 1 is ~0 in the first
   frame while slot 1's is not.
3. **Store** the keypoints as **float16**, like pyskl's annotation file. No centring: pyskl
   normalises at load time (PreNormalize3D, see :mod:`skelkit_skeleton2vec.pyskl_transforms`).

The stored frames are the float16 values exactly, as float32 ``(T, 2, 25, 3)``; a single
actor gets a zero second person (pyskl stores ``M = 1``; its loader pads it with zeros).
Samples on which ``ntu_preproc`` fails (no body at all, every body of a multi-body file
seen in 11 frames or fewer, all-zero joints) raise :class:`UnusableSample`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from skelkit.data.compiled import body_motion
from skelkit.data.datasets import RawSample
from skelkit.data.ntu_format import SkeletonFile
from skelkit.data.recipes import ProcessedSample, UnusableSample

LENGTH_THRESHOLD = 11
WH_RATIO = 0.8
SPNOISE_RATIO = 0.69754
EPS = 1e-3


class _Body:
    """One bodyID: its first frame index, stacked joints and motion."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.kpt = np.zeros((0, 25, 3), np.float32)
        self.motion: Any = None

    @property
    def end(self) -> int:
        """One past the last frame index (the frames are taken as contiguous)."""
        return self.start + int(self.kpt.shape[0])


def parse_bodies(skeleton: SkeletonFile) -> list[_Body]:
    """Step 1: bodies in order of first appearance, with float32 joints and motion.

    pyskl keys bodies by the integer value of bodyID; a body's frames are its appearances in
    file order, starting at the index (among non-empty frames) of its first one.
    """
    blocks = skeleton.blocks
    nonempty = blocks.body_counts > 0
    rows = (np.cumsum(nonempty) - 1)[blocks.frame_of_body()]
    kpt = blocks.xyz.astype(np.float32)
    codes_of_key: dict[int, list[int]] = {}
    for code, body_id in enumerate(blocks.ids):  # codes number bodyIDs by first appearance
        codes_of_key.setdefault(int(body_id), []).append(code)
    bodies: list[_Body] = []
    for codes in codes_of_key.values():
        if len(codes_of_key) == 1:
            indices = np.arange(len(kpt))
        else:
            indices = np.flatnonzero(np.isin(blocks.codes, codes))
        body = _Body(int(rows[indices[0]]))
        body.kpt = kpt[indices]
        body.motion = body_motion(body.kpt.reshape(-1, 3))
        bodies.append(body)
    return bodies


def _spread_valid(kpt: np.ndarray) -> np.ndarray:
    """Frames whose x-range is at most 0.8 times the y-range."""
    x, y = kpt[:, :, 0], kpt[:, :, 1]
    return (x.max(axis=1) - x.min(axis=1)) <= WH_RATIO * (y.max(axis=1) - y.min(axis=1))


def spread_denoise(bodies: list[_Body], name: str) -> list[_Body]:
    """The spread filter on every body, then the motion order."""
    kept: list[_Body] = []
    for body in bodies:
        valid = _spread_valid(body.kpt)
        count = int(valid.sum())
        if count == body.kpt.shape[0]:
            kept.append(body)
            continue
        if 1 - count / body.kpt.shape[0] >= SPNOISE_RATIO:
            continue
        body.motion = min(body.motion, body_motion(body.kpt[valid].reshape(-1, 3)))
        kept.append(body)
    if not kept:
        raise UnusableSample(
            f"{name}: the spread filter drops every body (pyskl's ntu_preproc fails on it)"
        )
    return sorted(kept, key=lambda b: -b.motion)


def _trim(keypoint: np.ndarray, name: str) -> np.ndarray:
    """Drop leading and trailing frames where every person is ~0."""
    length = keypoint.shape[1]
    begin, end = 0, length
    while begin < length and np.sum(np.abs(keypoint[:, begin])) < EPS:
        begin += 1
    if begin == length:
        raise UnusableSample(f"{name}: every joint is 0 (pyskl's ntu_preproc fails on it)")
    while np.sum(np.abs(keypoint[:, end - 1])) < EPS:
        end -= 1
    return keypoint[:, begin:end]


def keypoint_array(skeleton: SkeletonFile) -> np.ndarray:
    """Steps 1-2: float32 keypoints ``(M, T, 25, 3)`` with ``M`` 1 or 2."""
    name = skeleton.name
    bodies = sorted(parse_bodies(skeleton), key=lambda b: -b.motion)
    if not bodies:
        raise UnusableSample(f"{name}: no frame has a body (pyskl's ntu_preproc skips it)")
    if len(bodies) == 1:
        return bodies[0].kpt[None]
    bodies = [b for b in bodies if b.kpt.shape[0] > LENGTH_THRESHOLD]
    if not bodies:
        raise UnusableSample(
            f"{name}: every body is seen in {LENGTH_THRESHOLD} frames or fewer "
            "(pyskl's ntu_preproc fails on it)"
        )
    if len(bodies) == 1:
        return bodies[0].kpt[None]
    bodies = spread_denoise(bodies, name)
    if len(bodies) == 1:
        return bodies[0].kpt[None]
    keypoint = np.zeros((2, max(b.end for b in bodies), 25, 3), np.float32)
    first = bodies[0]
    keypoint[0, first.start : first.end] = first.kpt
    s1, e1, s2, e2 = first.start, first.end, 0, 0
    for body in bodies[1:]:
        s, e = body.start, body.end
        if max(s1, s) >= min(e1, e):
            keypoint[0, s:e] = body.kpt
            s1, e1 = min(s, s1), max(e, e1)
        elif max(s2, s) >= min(e2, e):
            keypoint[1, s:e] = body.kpt
            s2, e2 = min(s, s2), max(e, e2)
    keypoint = _trim(keypoint, name)
    if np.abs(keypoint[0, 0, 1]).sum() < EPS and np.abs(keypoint[1, 0, 1]).sum() > EPS:
        keypoint = keypoint[::-1]
    return keypoint


class PysklRecipe:
    """pyskl's NTU preprocessing (see the module docstring)."""

    name = "pyskl"
    constants: Mapping[str, Any] = {
        "length_threshold": LENGTH_THRESHOLD,
        "wh_ratio": WH_RATIO,
        "spnoise_ratio": SPNOISE_RATIO,
        "trim_eps": EPS,
        "keypoint_dtype": "float16",
        "centering": "none (PreNormalize3D at load time)",
        "single_actor": "zeros",
    }

    def process(self, raw: RawSample) -> ProcessedSample:
        """Turn one NTU raw sample into its stored float16-exact sequence.

        Raises:
            DataError: the sample is not an NTU skeleton file (pyskl's recipe is NTU only).
            UnusableSample: pyskl's ntu_preproc fails on this sample.
        """
        if not isinstance(raw.data, SkeletonFile):
            raise UnusableSample(
                f"{raw.name}: the pyskl recipe reads NTU RGB+D skeleton files only "
                f"(dataset '{raw.dataset}'); preprocess it with --recipe ctrgcn"
            )
        keypoint = keypoint_array(raw.data).astype(np.float16)
        actors = int(keypoint.shape[0])
        frames = np.zeros((keypoint.shape[1], 2, 25, 3), np.float32)
        frames[:, :actors] = keypoint.transpose(1, 0, 2, 3)
        return ProcessedSample(raw.name, frames, raw.label, {**raw.meta, "actors": actors})

    def to_reference_layout(self, frames: np.ndarray, actors: int = 2) -> np.ndarray:
        """pyskl's float16 ``keypoint (M, T, 25, 3)`` of stored ``(T, 2, 25, 3)`` frames."""
        frames = np.asarray(frames)
        return np.ascontiguousarray(frames[:, :actors].transpose(1, 0, 2, 3).astype(np.float16))


def pyskl() -> PysklRecipe:
    """Registry factory of the ``pyskl`` recipe (it has no options)."""
    return PysklRecipe()

"""The ``ctrgcn`` recipe: the CTR-GCN / MAMP preprocessing, bit-identical in float32.

NTU RGB+D (the three reference steps, reimplemented):

1. **Parse.** Frames without a body are dropped. Bodies are keyed by ``bodyID`` in order of
   first appearance; a body's frames are stacked, and every reappearance counts as the frame
   right after its previous one (a body that vanishes and returns is treated as contiguous).
   Positions are float32. With more than one bodyID, a body's *motion* is
   ``sum(var(joints (n*25, 3), axis=0))`` in float32.
2. **Denoise** (one bodyID: placed as is). Otherwise: drop bodies seen in at most 11 frames;
   then, while more than one remains, the *spread* filter: a frame of a body is valid when
   ``x-range <= 0.8 * y-range`` of its 25 joints (float32 ranges, compared in float64, as
   NumPy 1.x promoted ``np.float32 * float``); a body with noise ratio ``>= 0.69754`` is
   dropped, otherwise its motion becomes ``min(motion, motion of its valid frames)``. The
   rest is sorted by motion (descending, stable). Actor 1 is the first body; each next body
   joins actor 1 if its interval overlaps actor 1's by at most one frame (that frame is
   overwritten), else actor 2 under the same rule, else it is discarded. Finally the frames
   where every value sums to 0 are removed (multi-bodyID samples only).
3. **Translate.** Subtract joint 1 (middle of the spine) of actor 1's first non-zero frame
   from every frame; frames where an actor was missing are zeroed again. No rotation, no
   scaling. A single actor gets a zero second actor in NTU-60 and a **copy of itself** in
   NTU-120, as the reference NTU-120 alignment step does.

PKU-MMD (MAMP's PKU-MMD preparation): the instance ``frames[start:end]`` (float64, cast to
float32), truncated to the first 300 frames, no centering; all-zero instances are dropped.

The stored sequence keeps its true length; :meth:`CtrgcnRecipe.to_reference_layout` pads it
to the reference's ``(300, 150)`` rows. Samples on which the reference scripts would crash
(every frame empty, every body of a multi-body file shorter than 12 frames, a bodyID repeated
within a frame) raise :class:`~skelkit.data.recipes.UnusableSample`; an all-zero PKU-MMD
instance, which MAMP drops by design, raises :class:`~skelkit.data.recipes.SkippedSample`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from skelkit.data.compiled import body_motion
from skelkit.data.datasets import RawSample
from skelkit.data.ntu_format import SkeletonFile
from skelkit.data.recipes import ProcessedSample, SkippedSample, UnusableSample

NOISE_LEN_THRES = 11
NOISE_SPR_THRES1 = 0.8
NOISE_SPR_THRES2 = 0.69754
ORIGIN_JOINT = 1
MAX_FRAMES = 300
_WIDTH = 75  # one actor: 25 joints x xyz


@dataclass
class _Body:
    """One bodyID's stacked frames (step 1): rows ``start .. start + count - 1``."""

    start: int
    count: int
    joints: np.ndarray  # float32 (count * 25, 3)
    motion: Any = None

    @property
    def end(self) -> int:
        return self.start + self.count - 1


def collect_bodies(skeleton: SkeletonFile) -> tuple[dict[str, _Body], int]:
    """Step 1: bodies by ID (first-appearance order) and the number of non-empty frames."""
    blocks = skeleton.blocks
    nonempty = blocks.body_counts > 0
    num_valid = int(np.count_nonzero(nonempty))
    if num_valid == 0:
        raise UnusableSample(
            f"{skeleton.name}: no frame has a body (the reference pipeline stops on it)"
        )
    xyz = blocks.xyz.astype(np.float32)
    if len(blocks.ids) == 1:  # one bodyID (most samples): it starts at the first non-empty frame
        return {blocks.ids[0]: _Body(0, len(xyz), xyz.reshape(-1, 3))}, num_valid
    # the row of every body: its frame's index among the non-empty frames
    rows = (np.cumsum(nonempty) - 1)[blocks.frame_of_body()]
    bodies: dict[str, _Body] = {}
    for code, body_id in enumerate(blocks.ids):
        indices = np.flatnonzero(blocks.codes == code)
        joints = xyz[indices].reshape(-1, 3)
        # a body that vanishes and returns counts as contiguous from its first frame
        bodies[body_id] = _Body(int(rows[indices[0]]), len(indices), joints)
        bodies[body_id].motion = body_motion(joints)
    return bodies, num_valid


def _valid_spread_frames(joints: np.ndarray) -> np.ndarray:
    """Boolean mask of the frames whose x-range is at most 0.8 times the y-range."""
    points = joints.reshape(-1, 25, 3)
    x, y = points[:, :, 0], points[:, :, 1]
    x_range = x.max(axis=1) - x.min(axis=1)
    y_range = y.max(axis=1) - y.min(axis=1)
    return x_range.astype(np.float64) <= NOISE_SPR_THRES1 * y_range.astype(np.float64)


def denoise(bodies: dict[str, _Body]) -> list[tuple[str, _Body]]:
    """Step 2 filters (length, spread) and the motion order, for two or more bodyIDs."""
    kept = {body_id: b for body_id, b in bodies.items() if b.count > NOISE_LEN_THRES}
    if len(kept) <= 1:
        return list(kept.items())
    for body_id, body in list(kept.items()):
        if len(kept) == 1:
            break
        valid = _valid_spread_frames(body.joints)
        num_frames = body.count
        num_noise = num_frames - int(valid.sum())
        if num_noise == 0:
            continue
        if num_noise / float(num_frames) >= NOISE_SPR_THRES2:
            del kept[body_id]
        else:
            points = body.joints.reshape(-1, 25, 3)[valid]
            body.motion = min(body.motion, body_motion(points.reshape(-1, 3)))
    if len(kept) == 1:
        return list(kept.items())
    return sorted(kept.items(), key=lambda item: item[1].motion, reverse=True)


def _place(name: str, out: np.ndarray, cols: slice, body_id: str, body: _Body) -> None:
    if body.end + 1 > out.shape[0]:
        raise UnusableSample(
            f"{name}: body {body_id} has more frames than the sample (a bodyID repeated "
            "within a frame); the reference pipeline fails on it"
        )
    out[body.start : body.end + 1, cols] = body.joints.reshape(-1, _WIDTH)


def _one_actor(name: str, body_id: str, body: _Body, num_frames: int) -> np.ndarray:
    if body.start == 0 and body.count == num_frames:  # it fills every row (one bodyID)
        return body.joints.reshape(num_frames, _WIDTH)
    joints = np.zeros((num_frames, _WIDTH), dtype=np.float32)
    _place(name, joints, slice(None), body_id, body)
    return joints


def _two_actors(name: str, ordered: list[tuple[str, _Body]], num_frames: int) -> np.ndarray:
    joints = np.zeros((num_frames, 2 * _WIDTH), dtype=np.float32)
    first_id, first = ordered[0]
    _place(name, joints, slice(0, _WIDTH), first_id, first)
    start1, end1 = first.start, first.end
    start2, end2 = 0, 0  # the reference's virtual initial interval of actor 2
    for body_id, body in ordered[1:]:
        start, end = body.start, body.end
        if min(end1, end) - max(start1, start) <= 0:
            _place(name, joints, slice(0, _WIDTH), body_id, body)
            start1, end1 = min(start, start1), max(end, end1)
        elif min(end2, end) - max(start2, start) <= 0:
            _place(name, joints, slice(_WIDTH, 2 * _WIDTH), body_id, body)
            start2, end2 = min(start, start2), max(end, end2)
    return joints


def denoised_joints(skeleton: SkeletonFile) -> np.ndarray:
    """Steps 1-2: float32 ``(T, 75)`` (one actor) or ``(T, 150)`` (two actors)."""
    name = skeleton.name
    bodies, num_frames = collect_bodies(skeleton)
    if len(bodies) == 1:
        ((body_id, body),) = bodies.items()
        return _one_actor(name, body_id, body, num_frames)
    ordered = denoise(bodies)
    if not ordered:
        raise UnusableSample(
            f"{name}: every body is seen in {NOISE_LEN_THRES} frames or fewer (the reference "
            "pipeline fails on it)"
        )
    if len(ordered) == 1:
        joints = _one_actor(name, *ordered[0], num_frames)
    else:
        joints = _two_actors(name, ordered, num_frames)
    return joints[np.where(joints.sum(axis=1) != 0)[0]]


def translate(joints: np.ndarray, name: str = "") -> np.ndarray:
    """Step 3: subtract actor 1's joint 1 of its first non-zero frame (in place; returned)."""
    two = joints.shape[1] == 2 * _WIDTH
    if two:
        missing_1 = np.flatnonzero(joints[:, :_WIDTH].sum(axis=1) == 0)
        missing_2 = np.flatnonzero(joints[:, _WIDTH:].sum(axis=1) == 0)
    present = np.asarray(joints[:, :_WIDTH].any(axis=1))
    first = int(np.argmax(present))
    if not present[first]:
        raise UnusableSample(f"{name}: every joint of the main actor is 0 (nothing to centre)")
    origin = joints[first, 3 * ORIGIN_JOINT : 3 * ORIGIN_JOINT + 3].copy()
    joints -= np.tile(origin, joints.shape[1] // 3)
    if two:
        joints[missing_1, :_WIDTH] = 0
        joints[missing_2, _WIDTH:] = 0
    return joints


class CtrgcnRecipe:
    """The CTR-GCN / MAMP recipe (see the module docstring).

    The pipeline follows the raw sample: an NTU :class:`~skelkit.data.ntu_format.SkeletonFile`
    goes through the three NTU steps (a single actor is duplicated when
    ``raw.dataset == "ntu120"``), PKU-MMD instance frames through MAMP's PKU steps.
    """

    name = "ctrgcn"
    constants: Mapping[str, Any] = {
        "noise_len_thres": NOISE_LEN_THRES,
        "noise_spr_thres1": NOISE_SPR_THRES1,
        "noise_spr_thres2": NOISE_SPR_THRES2,
        "spread_comparison": "float64",
        "origin_joint": ORIGIN_JOINT,
        "single_actor": {"ntu60": "zeros", "ntu120": "duplicate"},
        "pku_instance_frames": "[start:end)",
        "pku_centering": "none",
        "pku_drop_all_zero": True,
        "max_frames": MAX_FRAMES,
    }

    def process(self, raw: RawSample) -> ProcessedSample:
        """Turn one raw sample into its stored sequence.

        Raises:
            SkippedSample: the reference drops this sample by design (an all-zero PKU-MMD
                instance).
            UnusableSample: the reference pipeline fails on this sample.
        """
        if isinstance(raw.data, SkeletonFile):
            frames, actors = self._ntu(raw, raw.data)
        else:
            data = np.asarray(raw.data)
            if data.sum() == 0:
                raise SkippedSample(f"{raw.name}: the instance is all zeros (MAMP drops it)")
            frames, actors = self._pku(data)
        meta = {**raw.meta, "actors": actors}
        return ProcessedSample(raw.name, frames, raw.label, meta)

    @staticmethod
    def _ntu(raw: RawSample, skeleton: SkeletonFile) -> tuple[np.ndarray, int]:
        joints = translate(denoised_joints(skeleton), raw.name)
        if joints.shape[1] == 2 * _WIDTH:
            return joints.reshape(len(joints), 2, 25, 3), 2
        frames = np.zeros((len(joints), 2, 25, 3), dtype=np.float32)
        frames[:, 0] = joints.reshape(len(joints), 25, 3)
        if raw.dataset == "ntu120":
            frames[:, 1] = frames[:, 0]
        return frames, 1

    @staticmethod
    def _pku(data: np.ndarray) -> tuple[np.ndarray, int]:
        length = min(data.shape[0], MAX_FRAMES)
        frames = data[:length].astype(np.float32).reshape(length, 2, 25, 3)
        return frames, 2 if bool(np.any(frames[:, 1] != 0)) else 1

    def to_reference_layout(self, frames: np.ndarray, num_frames: int = MAX_FRAMES) -> np.ndarray:
        """Pad ``(T, 2, 25, 3)`` frames to the reference's float32 ``(num_frames, 150)`` rows.

        The reference pads every sequence to the longest one of the dataset, 300 frames on
        the real NTU and PKU-MMD data.
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.shape[0] > num_frames:
            raise ValueError(f"{frames.shape[0]} frames do not fit in {num_frames}")
        out = np.zeros((num_frames, 2 * _WIDTH), dtype=np.float32)
        out[: frames.shape[0]] = frames.reshape(frames.shape[0], -1)
        return out


def ctrgcn() -> CtrgcnRecipe:
    """Registry factory of the ``ctrgcn`` recipe (it has no options)."""
    return CtrgcnRecipe()

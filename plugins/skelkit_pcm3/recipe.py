"""The ``agcn`` recipe: 2s-AGCN's ``ntu_gendata`` + ``pre_normalization`` (PCM3, CMD).

NTU RGB+D, per sample (reimplemented from the description in the docs; float64 reading,
float32 storage, as the reference):

1. **Body slots.** Every frame of the file counts (frames without a body included); the
   k-th body listed in a frame fills slot k (up to 4 slots, later bodies are ignored), so a
   slot is not a person. Positions are float64.
2. **Two actors.** A slot's *energy* is ``std(x) + std(y) + std(z)`` over its frames whose
   coordinates do not sum to 0 (0 when there are none); the two slots of highest energy are
   kept (``argsort()[::-1][:2]``, the reference's tie order) and cast to float32.
3. **pre_normalization**, on the sample padded with zero frames to 300 (the reference array):
   a person whose first frame is empty has all its non-empty frames moved to the front; the
   empty tail after the last non-empty frame is filled by repeating the person's frames
   cyclically from the start; every person is centred on person 0's joint 1 of the same
   frame (joints that are 0 stay 0); the sample is rotated so that person 0's bone from
   joint 0 to joint 1 in frame 0 points along +z, then so that its bone from joint 8 to
   joint 4 points along +x (Euler-Rodrigues matrices in float64, applied to every joint of
   every non-empty frame, results stored in float32).

The stored sequence is the first ``T`` frames of the normalised array, ``T`` the file's frame
count (the reference's ``num_frame``, which its feeder uses as the valid length). Beyond ``T``
the reference array holds the cyclic padding, which no consumer reads;
:meth:`AgcnRecipe.to_reference_layout` pads with zeros instead.

PKU-MMD (PCM3's ``pku*_gendata``): the instance ``frames[start:end]`` truncated to 300
frames, then the same ``pre_normalization``; the metadata column ``num_frame`` keeps the
instance's true length (it may exceed 300).

A file with more than 300 frames makes the reference crash; it raises
:class:`~skelkit.data.recipes.SkippedSample`, as does a file without frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from skelkit.data.datasets import RawSample
from skelkit.data.ntu_format import SkeletonFile
from skelkit.data.recipes import ProcessedSample, SkippedSample

MAX_BODY_KINECT = 4
MAX_BODY_TRUE = 2
NUM_JOINTS = 25
MAX_FRAMES = 300
ZAXIS = (0, 1)
XAXIS = (8, 4)


def slot_positions(skeleton: SkeletonFile, max_body: int = MAX_BODY_KINECT) -> np.ndarray:
    """Step 1: float64 ``(max_body, T, 25, 3)``, the k-th listed body of a frame in slot k."""
    blocks = skeleton.blocks
    data = np.zeros((max_body, skeleton.num_frames, NUM_JOINTS, 3))
    frame = blocks.frame_of_body()
    # a body's slot: its place among the bodies listed in its frame
    slot = np.arange(frame.size) - (np.cumsum(blocks.body_counts) - blocks.body_counts)[frame]
    kept = slot < max_body
    data[slot[kept], frame[kept]] = blocks.xyz[kept]
    return data


def slot_energy(slot: np.ndarray) -> float:
    """Sum of the per-axis std over the frames whose coordinates do not sum to 0."""
    valid = slot[slot.sum(-1).sum(-1) != 0]
    if len(valid) == 0:
        return 0.0
    return float(valid[:, :, 0].std() + valid[:, :, 1].std() + valid[:, :, 2].std())


def two_actors(data: np.ndarray) -> np.ndarray:
    """Step 2: the two slots of highest energy, ``(2, T, 25, 3)`` float32."""
    energy = np.array([slot_energy(slot) for slot in data])
    index = energy.argsort()[::-1][0:MAX_BODY_TRUE]
    return data[index].astype(np.float32)


def rotation_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Counter-clockwise rotation by ``theta`` about ``axis`` (Euler-Rodrigues), float64.

    The identity when the axis or the angle is (almost) 0.
    """
    if np.abs(axis).sum() < 1e-6 or np.abs(theta) < 1e-6:
        return np.eye(3)
    axis = np.asarray(axis)
    axis = axis / math.sqrt(np.dot(axis, axis))
    a = math.cos(theta / 2.0)
    b, c, d = -axis * math.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array(
        [
            [aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
            [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
            [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc],
        ]
    )


def angle_between(v1: np.ndarray, v2: np.ndarray) -> float:
    """Angle in radians between two vectors (0 if one is (almost) 0)."""
    v1 = np.asarray(v1)
    v2 = np.asarray(v2)
    if np.abs(v1).sum() < 1e-6 or np.abs(v2).sum() < 1e-6:
        return 0.0
    u1 = v1 / np.linalg.norm(v1)
    u2 = v2 / np.linalg.norm(v2)
    return float(np.arccos(np.clip(np.dot(u1, u2), -1.0, 1.0)))


def pad_null_frames(person: np.ndarray) -> np.ndarray:
    """Compact a person whose first frame is empty, then fill its empty tail cyclically.

    ``person``: float32 ``(T, V, C)``, modified in place and returned.
    """
    if person.sum() == 0:
        return person
    if person[0].sum() == 0:
        keep = person.sum(-1).sum(-1) != 0
        moved = person[keep].copy()
        person *= 0
        person[: len(moved)] = moved
    for i_f in range(len(person)):
        if person[i_f].sum() == 0 and person[i_f:].sum() == 0:
            if i_f == 0:
                raise ValueError("a person with an empty first frame after compaction")
            rest = len(person) - i_f
            reps = int(np.ceil(rest / i_f))
            person[i_f:] = np.concatenate([person[0:i_f]] * reps, 0)[:rest]
            break
    return person


def _rotate(sample: np.ndarray, matrix: np.ndarray) -> None:
    """Apply ``matrix`` to every joint of every non-empty frame (in place, float32 out)."""
    for person in sample:
        if person.sum() == 0:
            continue
        frames = person.sum(-1).sum(-1) != 0
        person[frames] = (person[frames].astype(np.float64) @ matrix.T).astype(np.float32)


def pre_normalize(sample: np.ndarray) -> np.ndarray:
    """2s-AGCN's ``pre_normalization`` of one sample, float32 ``(M, T, V, C)``, in place."""
    for person in sample:
        pad_null_frames(person)
    if sample.sum() == 0:
        return sample
    center = sample[0][:, 1:2, :].copy()
    for i_p in range(len(sample)):
        if sample[i_p].sum() == 0:
            continue
        mask = (sample[i_p].sum(-1) != 0)[:, :, None]
        sample[i_p] = (sample[i_p] - center) * mask
    for first, second, target in ((*ZAXIS, (0, 0, 1)), (*XAXIS, (1, 0, 0))):
        if sample.sum() == 0:
            continue
        if (first, second) == ZAXIS:
            vector = sample[0, 0, second] - sample[0, 0, first]
        else:
            vector = sample[0, 0, first] - sample[0, 0, second]
        axis = np.cross(vector, np.array(target))
        angle = angle_between(vector, np.array(target))
        _rotate(sample, rotation_matrix(axis, angle))
    return sample


def normalize_sample(actors: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Pad ``(2, T, 25, 3)`` float32 to ``max_frames``, normalise, return ``(T, 2, 25, 3)``."""
    length = actors.shape[1]
    padded = np.zeros((actors.shape[0], max_frames, NUM_JOINTS, 3), dtype=np.float32)
    padded[:, :length] = actors
    pre_normalize(padded)
    return np.ascontiguousarray(padded[:, :length].transpose(1, 0, 2, 3))


class AgcnRecipe:
    """The 2s-AGCN recipe for one dataset (see the module docstring)."""

    name = "agcn"

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.kind = "pku" if dataset.startswith("pkummd") else "ntu"
        self.constants: Mapping[str, Any] = {
            "max_body_kinect": MAX_BODY_KINECT,
            "max_body_true": MAX_BODY_TRUE,
            "actor_choice": "top-2 slot energy (sum of per-axis std over non-empty frames)",
            "max_frames": MAX_FRAMES,
            "pad_null_frames": "compact if frame 0 is empty, then repeat cyclically",
            "center_joint": 1,
            "zaxis_joints": list(ZAXIS),
            "xaxis_joints": list(XAXIS),
            "scaling": "none",
        }

    def process(self, raw: RawSample) -> ProcessedSample:
        """Turn one raw sample into its stored sequence (raises SkippedSample if dropped)."""
        if self.kind == "ntu":
            actors, true_length = self._ntu(raw)
        else:
            actors, true_length = self._pku(raw)
        try:
            frames = normalize_sample(actors)
        except ValueError as exc:
            raise SkippedSample(f"{raw.name}: {exc} (the reference pipeline fails on it)") from exc
        present = int(np.any(frames[:, 1] != 0)) + int(np.any(frames[:, 0] != 0))
        meta = {**raw.meta, "actors": present, "num_frame": true_length}
        return ProcessedSample(raw.name, frames, raw.label, meta)

    def _ntu(self, raw: RawSample) -> tuple[np.ndarray, int]:
        skeleton = raw.data
        if not isinstance(skeleton, SkeletonFile):
            raise TypeError(f"{raw.name}: the agcn NTU recipe needs a parsed SkeletonFile")
        if skeleton.num_frames == 0:
            raise SkippedSample(f"{raw.name}: the file has no frame")
        if skeleton.num_frames > MAX_FRAMES:
            raise SkippedSample(
                f"{raw.name}: {skeleton.num_frames} frames, more than the reference's "
                f"{MAX_FRAMES} (its gendata fails on it)"
            )
        return two_actors(slot_positions(skeleton)), skeleton.num_frames

    def _pku(self, raw: RawSample) -> tuple[np.ndarray, int]:
        data = np.asarray(raw.data, dtype=np.float64)
        if len(data) == 0:
            raise SkippedSample(f"{raw.name}: the instance has no frame")
        true_length = int(data.shape[0])
        kept = data[:MAX_FRAMES].reshape(-1, 2, NUM_JOINTS, 3)
        return kept.transpose(1, 0, 2, 3).astype(np.float32), true_length

    def to_reference_layout(self, frames: np.ndarray, num_frames: int = MAX_FRAMES) -> np.ndarray:
        """Stored ``(T, 2, 25, 3)`` frames as the reference's ``(3, num_frames, 25, 2)`` array.

        The frames after ``T`` are zeros here; the reference holds its cyclic padding there.
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.shape[0] > num_frames:
            raise ValueError(f"{frames.shape[0]} frames do not fit in {num_frames}")
        out = np.zeros((3, num_frames, NUM_JOINTS, 2), dtype=np.float32)
        out[:, : frames.shape[0]] = frames.transpose(3, 0, 2, 1)
        return out


def agcn(dataset: str) -> AgcnRecipe:
    """Registry factory: the ``agcn`` recipe for ``dataset`` (injected by the caller)."""
    return AgcnRecipe(dataset)

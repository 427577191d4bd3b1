"""Synthetic NTU RGB+D 60/120 ``.skeleton`` files (used by :mod:`skelkit.data.synth`).

A *performance* (setup, subject, replication, action) is recorded by the three cameras as in
the real set: camera 1 sees it at 45 degrees, cameras 2 and 3 from the front or the side,
depending on the replication. Performances alternate between training and test subjects and
between even and odd setups, so the official cross-subject, cross-view and cross-setup
splits all get training and test samples. Every file then gets its own tracking artefacts
(:class:`skelkit.data.synth.NoiseRates`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from skelkit.data.datasets import NTU60_XSUB_TRAIN, NTU120_XSUB_TRAIN, missing_skeletons
from skelkit.data.ntu_format import BodyInfo, SkeletonBody, write_skeleton_file
from skelkit.data.synth import (
    SITUATIONS,
    NoiseRates,
    SynthOptions,
    SynthReport,
    run_tasks,
    spread_actions,
)
from skelkit.data.synth_motion import (
    ClassProgram,
    Performance,
    class_program,
    perform,
    performance_length,
    performer,
    rotation_to_quaternion,
    view_performance,
)
from skelkit.errors import ConfigError

#: Horizontal angle of each camera around the performer (radians).
_CAMERA_ANGLE = {1: 0.0, 2: np.pi / 4, 3: -np.pi / 4}
#: Direction the performer faces in each replication: towards camera 2, then camera 3.
_FACING = {1: np.pi / 4, 2: -np.pi / 4}
#: Kinect v2 depth (512x424) and colour (1920x1080) pinhole intrinsics (approximate).
_DEPTH = (365.0, 256.0, 212.0)
_COLOR = (1063.0, 960.0, 540.0)
_BODY_ID_BASE = 72057594037927936  # 2**56, the range of Kinect's tracking ids
_MAX_SHORT = 11  # the reference denoisers drop bodies seen in at most 11 frames


@dataclass(frozen=True)
class NtuLayout:
    """Naming and folders of one NTU release."""

    name: str
    actions: int
    setups: int
    subjects: int
    train_subjects: tuple[int, ...]
    folders: tuple[str, ...]  # setups 1-17, then 18-32

    def folder(self, setup: int) -> str:
        """The raw folder a sample of ``setup`` belongs in."""
        return self.folders[0] if setup <= 17 else self.folders[-1]

    def setup_range(self, action: int) -> tuple[int, int]:
        """Setups (inclusive) that recorded ``action``: A001-A060 in S001-S017, the rest after."""
        return (1, 17) if action <= 60 else (18, self.setups)

    def two_person(self, action: int) -> bool:
        """Whether ``action`` is a mutual action (A050-A060, A106-A120)."""
        return 50 <= action <= 60 or action >= 106


LAYOUTS = {
    "ntu60": NtuLayout("ntu60", 60, 17, 40, NTU60_XSUB_TRAIN, ("nturgb+d_skeletons",)),
    "ntu120": NtuLayout(
        "ntu120",
        120,
        32,
        106,
        NTU120_XSUB_TRAIN,
        ("nturgb+d_skeletons", "nturgb+d_skeletons_120"),
    ),
}


@dataclass(frozen=True)
class Take:
    """One performance and the cameras that record it."""

    index: int
    setup: int
    subject: int
    partner: int
    replication: int
    action: int
    cameras: tuple[int, ...]

    def name(self, camera: int) -> str:
        """The sample name ``SsssCcccPpppRrrrAaaa`` seen by ``camera``."""
        return (
            f"S{self.setup:03d}C{camera:03d}P{self.subject:03d}"
            f"R{self.replication:03d}A{self.action:03d}"
        )


def plan_takes(layout: NtuLayout, options: SynthOptions) -> list[Take]:
    """Choose setup, subject, replication and action of every performance.

    Consecutive pairs of performances share a class; one has a training subject, the other a
    test subject, and their setups have opposite parity (cross-setup: even = training).
    """
    actions = spread_actions(layout.actions, options.classes, layout.name)
    rng = np.random.default_rng([options.seed, 0])
    pools = {}
    for first_setup, last_subject in ((1, 40), (18, layout.subjects)):
        train = np.asarray([s for s in layout.train_subjects if s <= last_subject])
        test = np.setdiff1d(np.arange(1, last_subject + 1), train)
        pools[first_setup] = (train, test)
    count = -(-options.samples // 3)
    used: set[tuple[int, int, int, int]] = set()
    missing = missing_skeletons(layout.name)  # official names every reader leaves out
    takes = []
    for i in range(count):
        pair = i // 2
        action = actions[pair % len(actions)]
        low, high = layout.setup_range(action)
        subjects = pools[low][i % 2]  # setups S001-S017 recorded subjects P001-P040 only
        parity = (pair // len(actions) + i) % 2
        setups = [s for s in range(low, high + 1) if s % 2 == parity] or list(range(low, high + 1))
        cameras = tuple(range(1, min(3, options.samples - 3 * i) + 1))
        for _ in range(200):
            setup, subject = int(rng.choice(setups)), int(rng.choice(subjects))
            take = Take(i, setup, subject, 0, int(rng.integers(1, 3)), action, cameras)
            key = (take.setup, take.subject, take.replication, take.action)
            if key not in used and missing.isdisjoint(take.name(c) for c in (1, 2, 3)):
                break
        else:
            raise ConfigError(
                f"--samples {options.samples} is too many for {options.classes} classes of "
                f"{layout.name}: names would repeat; ask for more classes or fewer samples"
            )
        used.add(key)
        partner = int(rng.integers(1, layout.subjects + 1))
        takes.append(replace(take, partner=partner))
    return takes


@dataclass
class _Track:
    """One body id's appearance in a file: ``frames[k]`` is the file frame of ``xyz[k]``."""

    body_id: int
    frames: np.ndarray  # int (n,)
    xyz: np.ndarray  # (n, 25, 3)
    orientation: np.ndarray  # (n, 25, 4)
    tracking: np.ndarray  # int8 (n, 25)
    lean: np.ndarray  # (n, 2)


def _project(xyz: np.ndarray, intrinsics: tuple[float, float, float]) -> np.ndarray:
    focal, cx, cy = intrinsics
    depth = np.maximum(xyz[..., 2], 0.3)
    return np.stack([cx + focal * xyz[..., 0] / depth, cy - focal * xyz[..., 1] / depth], -1)


def _lean(xyz: np.ndarray, yaw: float) -> np.ndarray:
    """Kinect's lean: sideways and forward tilt of the spine, in [-1, 1]."""
    spine = xyz[:, 20] - xyz[:, 0]
    c, s = np.cos(-yaw), np.sin(-yaw)
    side = c * spine[:, 0] + s * spine[:, 2]
    forward = s * spine[:, 0] - c * spine[:, 2]
    norm = np.linalg.norm(spine, axis=-1) + 1e-9
    return np.clip(np.stack([side / norm, forward / norm], -1), -1.0, 1.0)


def _tracking_states(rng: np.random.Generator, frames: int) -> np.ndarray:
    states = np.full((frames, 25), 2, dtype=np.int8)
    extremities = np.array([3, 15, 19, 21, 22, 23, 24])
    inferred = rng.random((frames, len(extremities))) < 0.05
    states[:, extremities] = np.where(inferred, 1, 2)
    return states


def _choose(rng: np.random.Generator, total: int, rate: float) -> set[int]:
    if rate <= 0.0 or total == 0:
        return set()
    count = min(total, max(1, round(rate * total)))
    return set(rng.choice(total, size=count, replace=False).tolist())


@dataclass(frozen=True)
class _Artefacts:
    """Which tracking artefacts one file gets."""

    spurious: bool
    spread: bool
    empty_frames: bool
    vanish: bool


def _assign_artefacts(rng: np.random.Generator, total: int, rates: NoiseRates) -> list[_Artefacts]:
    chosen_rates = (rates.spurious, rates.spread, rates.empty_frames, rates.vanish)
    picks = [_choose(rng, total, rate) for rate in chosen_rates]
    return [_Artefacts(*(i in chosen for chosen in picks)) for i in range(total)]


def _spread_body(rng: np.random.Generator, length: int) -> np.ndarray:
    """A wide, flat body (a table or a sofa taken for a person): ``(length, 25, 3)``."""
    centre = np.array([rng.uniform(-1.2, 1.2), rng.uniform(-0.7, -0.3), rng.uniform(3.0, 4.2)])
    shape = np.stack(
        [rng.uniform(-0.7, 0.7, 25), rng.uniform(-0.12, 0.12, 25), rng.uniform(-0.25, 0.25, 25)],
        -1,
    )
    return centre + shape[None] + rng.normal(0.0, 0.01, size=(length, 25, 3))


def _camera_tracks(
    take: Take, camera: int, performance: Performance, artefacts: _Artefacts, seed: int
) -> tuple[int, list[_Track]]:
    """Everything camera ``camera`` records of ``take``: frame count and body tracks."""
    rng = np.random.default_rng([seed, 1, take.index, camera])
    yaw = _FACING[take.replication] - _CAMERA_ANGLE[camera] + rng.normal(0.0, 0.08)
    setup_rng = np.random.default_rng([seed, 3, take.setup])
    height = setup_rng.uniform(-1.25, -0.85)
    distance = setup_rng.uniform(2.7, 3.4)
    position = np.array(
        [rng.normal(0.0, 0.2), height + rng.normal(0.0, 0.03), distance + rng.normal(0.0, 0.15)]
    )
    xyz, rotations = view_performance(performance, yaw, position, rng.uniform(0.003, 0.008), rng)
    quaternions = rotation_to_quaternion(rotations)
    length = performance.length
    lead, trail = 0, 0
    if artefacts.empty_frames:
        lead, trail = int(rng.integers(1, 6)), int(rng.integers(0, 6))
    ids = (_BODY_ID_BASE + rng.choice(100000, size=4, replace=False)).tolist()
    tracks = []
    for person in range(performance.persons):
        keep = np.ones(length, dtype=bool)
        if person == 0 and artefacts.vanish:
            gap = int(rng.integers(3, max(4, min(20, length // 4)) + 1))
            start = int(rng.integers(length // 4, max(length // 4 + 1, 3 * length // 4 - gap)))
            keep[start : start + gap] = False
        frames = np.flatnonzero(keep)
        tracks.append(
            _Track(
                ids[person],
                frames + lead,
                xyz[person, frames],
                quaternions[person, frames],
                _tracking_states(rng, len(frames)),
                _lean(xyz[person, frames], yaw),
            )
        )
    if artefacts.spurious:
        short = int(rng.integers(1, _MAX_SHORT + 1))
        start = int(rng.integers(0, length - short + 1))
        offset = np.array([rng.uniform(-1.0, 1.0), 0.0, rng.uniform(0.2, 0.8)])
        ghost = xyz[0, start : start + short] + offset + rng.normal(0.0, 0.03, (short, 25, 3))
        tracks.insert(
            int(rng.integers(0, len(tracks) + 1)),
            _Track(
                ids[2],
                np.arange(start, start + short) + lead,
                ghost,
                np.zeros((short, 25, 4)),
                np.ones((short, 25), dtype=np.int8),
                np.zeros((short, 2)),
            ),
        )
    if artefacts.spread:
        span = int(rng.integers(max(_MAX_SHORT + 1, length // 3), length + 1))
        start = int(rng.integers(0, length - span + 1))
        tracks.append(
            _Track(
                ids[3],
                np.arange(start, start + span) + lead,
                _spread_body(rng, span),
                np.zeros((span, 25, 4)),
                np.ones((span, 25), dtype=np.int8),
                np.zeros((span, 2)),
            )
        )
    return lead + length + trail, tracks


def _frames_of(num_frames: int, tracks: Sequence[_Track]) -> list[list[SkeletonBody]]:
    """Turn body tracks into the per-frame body lists of a ``.skeleton`` file."""
    frames: list[list[SkeletonBody]] = [[] for _ in range(num_frames)]
    for track in tracks:
        depth = _project(track.xyz, _DEPTH)
        color = _project(track.xyz, _COLOR)
        for k, frame in enumerate(track.frames.tolist()):
            info = BodyInfo(
                hand_left_confidence=1,
                hand_left_state=1,
                hand_right_confidence=1,
                hand_right_state=1,
                lean_x=float(track.lean[k, 0]),
                lean_y=float(track.lean[k, 1]),
            )
            frames[frame].append(
                SkeletonBody.from_xyz(
                    track.body_id,
                    track.xyz[k],
                    depth_xy=depth[k],
                    color_xy=color[k],
                    orientation=track.orientation[k],
                    joint_tracking=track.tracking[k],
                    info=info,
                )
            )
    return frames


def _performance(take: Take, program: ClassProgram, options: SynthOptions) -> Performance:
    rng = np.random.default_rng([options.seed, 2, take.index])
    bodies = (performer(take.subject), performer(take.partner))
    length = performance_length(program, bodies[0], rng, options.min_length, options.max_length)
    return perform(program, bodies[: program.persons], length, rng)


def _write_take(
    task: tuple[str, Path, Take, tuple[_Artefacts, ...], SynthOptions],
) -> dict[str, int]:
    """Write the files of one take (one per camera); return its situation counts."""
    dataset, out_dir, take, artefacts, options = task
    layout = LAYOUTS[dataset]
    program = class_program(take.action - 1, layout.two_person(take.action))
    performance = _performance(take, program, options)
    counts = dict.fromkeys(SITUATIONS, 0)
    for camera, chosen in zip(take.cameras, artefacts, strict=True):
        num_frames, tracks = _camera_tracks(take, camera, performance, chosen, options.seed)
        path = out_dir / layout.folder(take.setup) / f"{take.name(camera)}.skeleton"
        write_skeleton_file(path, _frames_of(num_frames, tracks))
        for key in ("spurious", "spread", "empty_frames", "vanish"):
            counts[key] += int(getattr(chosen, key))
        counts["two_person"] += int(program.persons == 2)
    return counts


def write_ntu(dataset: str, out_dir: Path, options: SynthOptions) -> SynthReport:
    """Write ``options.samples`` NTU ``.skeleton`` files of ``dataset`` under ``out_dir``."""
    layout = LAYOUTS[dataset]
    takes = plan_takes(layout, options)
    artefacts = _assign_artefacts(
        np.random.default_rng([options.seed, 4]), options.samples, options.noise
    )
    for folder in {layout.folder(take.setup) for take in takes}:
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    tasks = []
    first = 0
    for take in takes:
        chosen = tuple(artefacts[first : first + len(take.cameras)])
        first += len(take.cameras)
        tasks.append((dataset, out_dir, take, chosen, options))
    situations: Counter[str] = Counter()
    for counts in run_tasks(_write_take, tasks, options.workers):
        situations.update(counts)
    folders = tuple(sorted({layout.folder(take.setup) for take in takes}))
    actions = tuple(sorted({take.action for take in takes}))
    counts = {key: situations[key] for key in SITUATIONS}
    return SynthReport(dataset, out_dir, options.samples, options.samples, actions, counts, folders)

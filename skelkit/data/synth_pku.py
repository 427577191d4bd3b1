"""Synthetic PKU-MMD Phase I / II videos (used by :mod:`skelkit.data.synth`).

A video is an untrimmed take by one subject (two for interaction classes): a few action
instances separated by idle stretches, recorded by the three cameras (views ``L``, ``M``,
``R``) as in the real set. Each view gets a skeleton file (150 numbers per frame, zeros for
an absent second person) and a label file (``action_id,start,end,confidence``, where
``frames[start:end]`` is the instance); the split files list every video: cross-view trains
on ``M`` and ``R`` and tests on ``L``, cross-subject tests on a fixed set of subjects (Phase
II: N02, N03, N07 as in the official lists).

Folders: Phase I ``PKU_Skeleton_Renew/`` and ``Train_Label_PKU_final/`` with
``cross-subject.txt`` and ``cross-view.txt``, as distributed; Phase II ``skeleton/`` and
``label/`` with ``cross_subject_v2.txt`` and ``cross_view_v2.txt``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import numpy as np

from skelkit.data.datasets import get_dataset_info
from skelkit.data.pku_format import write_pku_labels, write_pku_skeleton, write_pku_split
from skelkit.data.synth import SITUATIONS, SynthOptions, SynthReport, run_tasks, spread_actions
from skelkit.data.synth_motion import (
    class_program,
    perform,
    performance_length,
    performer,
    place_in_camera,
)
from skelkit.errors import ConfigError

VIEWS = ("L", "M", "R")
#: Horizontal angle of each camera: the subject faces the middle one.
_VIEW_YAW = {"L": np.pi / 4, "M": 0.0, "R": -np.pi / 4}
_PHASE2_TEST_SUBJECTS = (2, 3, 7)


@dataclass(frozen=True)
class PkuLayout:
    """Names and folders of one PKU-MMD phase."""

    name: str
    phase: int
    subjects: int
    skeleton_folder: str
    label_folder: str
    split_files: dict[str, str]

    def test_subject(self, subject: int) -> bool:
        """Whether ``subject`` is in the cross-subject test set."""
        if self.phase == 2:
            return subject in _PHASE2_TEST_SUBJECTS
        return subject % 7 == 3  # 9 of the 66 Phase-I subjects


LAYOUTS = {
    "pkummd1": PkuLayout(
        "pkummd1",
        1,
        66,
        "PKU_Skeleton_Renew",
        "Train_Label_PKU_final",
        {"xsub": "cross-subject.txt", "xview": "cross-view.txt"},
    ),
    "pkummd2": PkuLayout(
        "pkummd2",
        2,
        13,
        "skeleton",
        "label",
        {"xsub": "cross_subject_v2.txt", "xview": "cross_view_v2.txt"},
    ),
}


def is_two_person(class_name: str) -> bool:
    """Whether a PKU-MMD class involves a second person (by its official name)."""
    name = class_name.lower()
    return "other person" in name or name == "handshaking"


@dataclass(frozen=True)
class Video:
    """One untrimmed take: who performs which actions, and the views that record it."""

    index: int
    stem: str  # "0002" (Phase I) or "A01N02" (Phase II)
    subject: int
    partner: int
    actions: tuple[int, ...]
    views: tuple[str, ...]
    persons: int


def _counts(samples: int, rng: np.random.Generator) -> Iterator[tuple[int, int]]:
    """Yield ``(instances per view, number of views)`` per video, summing to ``samples``."""
    remaining = samples
    while remaining > 0:
        per_view = int(rng.integers(3, 8))
        if remaining >= 3 * per_view + 3:
            yield per_view, 3
            remaining -= 3 * per_view
            continue
        views = 3 if remaining % 3 == 0 else 2 if remaining % 2 == 0 else 1
        yield remaining // views, views
        return


def plan_videos(layout: PkuLayout, options: SynthOptions) -> list[Video]:
    """Choose subject, actions and views of every video.

    Videos alternate between training and test subjects; single-person and interaction
    classes go to separate videos (the second person is present for the whole video).
    """
    info = get_dataset_info(layout.name)
    actions = spread_actions(info.num_classes, options.classes, layout.name)
    pairs = [a for a in actions if is_two_person(info.class_names[a - 1])]
    singles = [a for a in actions if a not in pairs]
    queues = {1: cycle(singles), 2: cycle(pairs)}
    rng = np.random.default_rng([options.seed, 0])
    subjects = np.arange(1, layout.subjects + 1)
    sides = {
        False: [int(s) for s in subjects if not layout.test_subject(int(s))],
        True: [int(s) for s in subjects if layout.test_subject(int(s))],
    }
    used: set[str] = set()
    videos = []
    for index, (per_view, views) in enumerate(_counts(options.samples, rng)):
        persons = 2 if not singles or (pairs and rng.random() < len(pairs) / len(actions)) else 1
        chosen = tuple(next(queues[persons]) for _ in range(per_view))
        subject = int(rng.choice(sides[index % 2 == 1]))
        if layout.phase == 1:
            if index + 2 > 9999:
                raise ConfigError(
                    f"--samples {options.samples} needs more than 9998 Phase-I videos; "
                    "ask for fewer samples"
                )
            stem = f"{index + 2:04d}"
        else:
            free = [g for g in range(1, 27) if f"A{g:02d}N{subject:02d}" not in used]
            if not free:
                raise ConfigError(
                    f"--samples {options.samples} needs more PKU-MMD Phase II videos than the "
                    "26 per subject its names allow; ask for fewer samples"
                )
            stem = f"A{int(rng.choice(free)):02d}N{subject:02d}"
        used.add(stem)
        partner = int(rng.integers(1, layout.subjects + 1))
        videos.append(Video(index, stem, subject, partner, chosen, _views(views), persons))
    return videos


def _views(count: int) -> tuple[str, ...]:
    """The first ``count`` views, training views first so a 1-view video still trains."""
    return ("M", "L", "R")[:count]


def _video_frames(
    video: Video, options: SynthOptions, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Scene joints ``(2, F, 25, 3)`` of a video and its label rows."""
    bodies = (performer(video.subject), performer(video.partner))
    pieces: list[np.ndarray] = []
    rows = []
    cursor = 0

    def hold(frame: np.ndarray, count: int) -> None:
        nonlocal cursor
        pieces.append(np.repeat(frame[:, None], count, axis=1))
        cursor += count

    for k, action in enumerate(video.actions):
        program = class_program(action - 1, video.persons == 2)
        length = performance_length(program, bodies[0], rng, options.min_length, options.max_length)
        xyz = perform(program, bodies[: video.persons], length, rng).xyz
        if k == 0:
            hold(xyz[:, 0], int(rng.integers(10, 31)))
        else:
            gap = int(rng.integers(15, 46))
            last = pieces[-1][:, -1]
            weights = (np.arange(1, gap + 1) / (gap + 1))[None, :, None, None]
            pieces.append(last[:, None] + weights * (xyz[:, :1] - last[:, None]))
            cursor += gap
        confidence = 2 if rng.random() < 0.8 else 1
        rows.append((action, cursor, cursor + length, confidence))
        pieces.append(xyz)
        cursor += length
    hold(pieces[-1][:, -1], int(rng.integers(10, 31)))
    scene = np.concatenate(pieces, axis=1)
    if video.persons == 1:
        scene = np.concatenate([scene, np.zeros_like(scene)], axis=0)
    return scene, rows


def _write_video(task: tuple[str, Path, Video, SynthOptions]) -> list[str]:
    """Write the skeleton and label files of one video (one per view); return their names."""
    dataset, out_dir, video, options = task
    layout = LAYOUTS[dataset]
    rng = np.random.default_rng([options.seed, 2, video.index])
    scene, rows = _video_frames(video, options, rng)
    distance = rng.uniform(2.6, 3.4)
    height = rng.uniform(-1.2, -0.85)
    names = []
    for view in video.views:
        view_rng = np.random.default_rng([options.seed, 1, video.index, VIEWS.index(view)])
        yaw = _VIEW_YAW[view] + view_rng.normal(0.0, 0.08)
        position = np.array([view_rng.normal(0.0, 0.2), height, distance])
        xyz = place_in_camera(scene, yaw, position, view_rng.uniform(0.003, 0.008), view_rng)
        if video.persons == 1:
            xyz[1] = 0.0
        name = f"{video.stem}-{view}"
        frames = np.ascontiguousarray(xyz.transpose(1, 0, 2, 3))
        write_pku_skeleton(out_dir / layout.skeleton_folder / f"{name}.txt", frames, digits=7)
        write_pku_labels(out_dir / layout.label_folder / f"{name}.txt", rows)
        names.append(name)
    return names


def write_pku(dataset: str, out_dir: Path, options: SynthOptions) -> SynthReport:
    """Write PKU-MMD skeleton, label and split files with ``options.samples`` instances."""
    layout = LAYOUTS[dataset]
    videos = plan_videos(layout, options)
    (out_dir / layout.skeleton_folder).mkdir(parents=True, exist_ok=True)
    (out_dir / layout.label_folder).mkdir(parents=True, exist_ok=True)
    tasks = [(dataset, out_dir, video, options) for video in videos]
    written = list(run_tasks(_write_video, tasks, options.workers))
    names = [(name, video) for video, files in zip(videos, written, strict=True) for name in files]
    _write_splits(out_dir, layout, names)
    situations = dict.fromkeys(SITUATIONS, 0)
    situations["two_person"] = sum(video.persons == 2 for _, video in names)
    actions = tuple(sorted({a for video in videos for a in video.actions}))
    folders = (layout.skeleton_folder, layout.label_folder)
    return SynthReport(dataset, out_dir, options.samples, len(names), actions, situations, folders)


def _write_splits(out_dir: Path, layout: PkuLayout, names: list[tuple[str, Video]]) -> None:
    ordered = sorted(names, key=lambda item: item[0])
    xview_train = [n for n, _ in ordered if not n.endswith("-L")]
    xview_test = [n for n, _ in ordered if n.endswith("-L")]
    xsub_train = [n for n, v in ordered if not layout.test_subject(v.subject)]
    xsub_test = [n for n, v in ordered if layout.test_subject(v.subject)]
    write_pku_split(out_dir / layout.split_files["xsub"], xsub_train, xsub_test)
    write_pku_split(out_dir / layout.split_files["xview"], xview_train, xview_test)

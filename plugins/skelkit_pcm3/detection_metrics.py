"""Temporal action detection metrics of PKU-MMD: proposals from frame scores, mAP.

Proposals (the detection code PCM3 used, JHang2020/Simple-Skeleton-Detection):

* :func:`smooth` — mean filter over ``[t - k, t + k)`` (clipped to the sequence) of the
  per-frame class probabilities (``k = 10``);
* :func:`segments_from_scores` — runs of frames whose activity probability
  ``1 - p(background)`` is at least ``threshold`` (0.4) become proposals; a proposal's class
  is the argmax of its mean probability over the action classes, its confidence the mean
  probability of that class. Ends are exclusive.

Average precision (PKU-MMD's official ``evaluate.py`` semantics, the version that counts a
ground truth once):

* overlap of a proposal and a ground truth of the same class in the same video:
  ``(min(ends) - max(starts)) / (max(ends) - min(starts))``;
* every proposal is matched to the ground truth with its largest overlap of at least
  ``ratio``; a ground truth matched by several proposals counts as one positive;
* proposals are sorted by confidence and removed from the least confident one; at every
  matched proposal precision and recall are recomputed and the interpolated precision
  (its running maximum) times the recall decrease is added up.

``mAP_a`` averages that AP over the action classes that have ground truth (all proposals
and ground truths of the class, every video); ``mAP_v`` averages it over videos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A ground-truth instance or a proposal: class (1-based actions), frames, confidence."""

    label: int
    start: int
    end: int
    confidence: float = 1.0
    video: str = ""


def smooth(scores: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean over frames ``[t - k, t + k)`` clipped to ``[0, len - 1)`` (the official filter)."""
    length = len(scores)
    starts = np.clip(np.arange(-k, length - k), 0, None)
    ends = np.arange(k, length + k)
    ends[ends >= length] = length - 1
    out = np.zeros(scores.shape, dtype=np.float64)
    for t in range(length):
        window = scores[starts[t] : ends[t]]
        out[t] = window.mean(axis=0) if len(window) else np.nan
    return out


def segments_from_scores(
    scores: np.ndarray, threshold: float = 0.4, video: str = ""
) -> list[Interval]:
    """Proposals from per-frame class probabilities ``(T, 1 + classes)``, column 0 = background."""
    active = (1.0 - scores[:, 0]) >= threshold
    padded = np.concatenate([[0], active.astype(np.int8), [0]])
    diff = np.diff(padded)
    starts, ends = np.flatnonzero(diff == 1), np.flatnonzero(diff == -1)
    proposals = []
    for start, end in zip(starts, ends, strict=True):
        mean = scores[start:end].mean(axis=0)
        label = int(np.argmax(mean[1:])) + 1
        confidence = float(scores[start:end, label].mean())
        proposals.append(Interval(label, int(start), int(end), confidence, video))
    return proposals


def overlap(a: Interval, b: Interval) -> float:
    """PKU-MMD's overlap ratio; 0 for different classes or videos."""
    if a.label != b.label or a.video != b.video:
        return 0.0
    return (min(a.end, b.end) - max(a.start, b.start)) / (max(a.end, b.end) - min(a.start, b.start))


def _precision_recall(positive: int, proposals: int, ground: int) -> tuple[float, float]:
    if proposals == 0 or ground == 0:
        return 0.0, 0.0
    return positive / proposals, positive / ground


def average_precision(
    proposals: Sequence[Interval], ground: Sequence[Interval], ratio: float = 0.5
) -> float:
    """Interpolated AP of ``proposals`` against ``ground`` at overlap ``ratio``."""
    ordered = sorted(proposals, key=lambda p: p.confidence)
    matched: list[int] = []
    counts = [0] * len(ground)
    for proposal in ordered:
        best, best_overlap = -1, -1.0
        for index, truth in enumerate(ground):
            value = overlap(proposal, truth)
            if value >= ratio and value >= best_overlap:
                best, best_overlap = index, value
        matched.append(best)
        if best >= 0:
            counts[best] += 1
    positive = sum(count > 0 for count in counts)
    remaining = len(ordered)
    best_precision, last_recall = _precision_recall(positive, remaining, len(ground))
    score = 0.0
    for match in matched:
        remaining -= 1
        if match < 0:
            continue
        counts[match] -= 1
        if counts[match] == 0:
            positive -= 1
        precision, recall = _precision_recall(positive, remaining, len(ground))
        best_precision = max(best_precision, precision)
        score += best_precision * (last_recall - recall)
        last_recall = recall
    return score


def detection_map(
    proposals: Mapping[str, Sequence[Interval]],
    ground: Mapping[str, Sequence[Interval]],
    ratio: float = 0.5,
) -> dict[str, float]:
    """``mAP_a`` (over action classes with ground truth) and ``mAP_v`` (over videos).

    ``proposals`` and ``ground`` map a video name to its intervals; every video of ``ground``
    is evaluated (a video without proposals scores 0).
    """
    videos = sorted(ground)
    if not videos:
        raise ValueError("no ground truth to evaluate against")
    all_props = [p for v in videos for p in proposals.get(v, ())]
    all_truth = [g for v in videos for g in ground[v]]
    classes = sorted({g.label for g in all_truth})
    per_class = [
        average_precision(
            [p for p in all_props if p.label == c], [g for g in all_truth if g.label == c], ratio
        )
        for c in classes
    ]
    per_video = [
        average_precision(list(proposals.get(v, ())), list(ground[v]), ratio) for v in videos
    ]
    return {
        "map_actions": float(np.mean(per_class)),
        "map_videos": float(np.mean(per_video)),
        "classes": len(classes),
        "videos": len(videos),
    }

"""The ``detection`` protocol: temporal action detection on untrimmed PKU-MMD I videos.

The recipe of the detection code PCM3 reports (JHang2020/Simple-Skeleton-Detection,
``detection_downsample_linear``), reimplemented:

* **frozen encoder, linear head**: ``Linear(D, 1 + classes)`` (background + the actions)
  on the encoder's pooled feature of a window; only the head trains. The encoder runs in
  train mode while the head trains, as the reference does (its input BatchNorm normalises
  with the batch and updates its statistics), and in eval mode at test time;
* **training windows**: a random video, a random centre frame and a random temporal stride
  in ``strides`` (3..5, drawn per window); the window covers ``window * stride`` raw frames
  around the centre (shifted to stay inside the video) and keeps every ``stride``-th frame;
  its target is the label of its centre frame. ``samples_per_video`` windows per video make
  an epoch; SGD with Nesterov momentum 0.9, lr 0.01 multiplied by 0.1 at ``milestones``, 60 epochs,
  batch 64, no weight decay;
* **testing**: one window per frame (stride ``test_stride`` = 4, i.e. 64 raw frames), a
  softmax per frame, then the proposals and the mAP of :mod:`skelkit_pcm3.detection_metrics`
  (smoothing 10, activity threshold 0.4, overlap 0.5): ``map_actions`` and ``map_videos``.

Data: :class:`skelkit.data.datasets.UntrimmedSequence` objects (raw, not pre-normalised
coordinates, as the reference uses), read from the PKU-MMD folders by the dataset's
``read_untrimmed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError, DataError
from skelkit_pcm3.detection_metrics import Interval, detection_map, segments_from_scores, smooth
from skelkit_pcm3.detection_settings import DetectionSettings


def window_frames(length: int, centre: int, window: int, stride: int) -> np.ndarray:
    """Frame indices of the window around ``centre``: ``window * stride`` raw frames shifted to
    lie inside ``[0, length)``, every ``stride``-th one (the reference's clamping)."""
    span = window * stride
    if length < span:
        raise DataError(
            f"a video of {length} frames is shorter than one detection window ({span} frames)"
        )
    if centre < span // 2:
        start = 0
    elif centre > length - span // 2:
        start = length - span
    else:
        start = centre - span // 2
    return np.arange(start, start + span, stride)


def window_batch(frames: np.ndarray, indices: np.ndarray) -> Tensor:
    """Stack windows of ``frames (F, M, V, C)`` at ``indices (B, W)`` into ``(B, C, W, V, M)``."""
    picked = frames[indices]  # (B, W, M, V, C)
    return torch.from_numpy(np.ascontiguousarray(picked.transpose(0, 4, 1, 3, 2)))


def frame_targets(sequence: Any) -> np.ndarray:
    """Per-frame targets: 0 = background, ``label + 1`` for the actions."""
    return np.asarray(sequence.frame_labels, dtype=np.int64) + 1


@torch.no_grad()
def _features(encoder: nn.Module, x: Tensor, device: torch.device) -> Tensor:
    out = encoder(x.to(device))
    if out.ndim != 2:
        pool = getattr(encoder, "pool", None)
        out = pool(out) if callable(pool) else out.mean(dim=(1, 2, 3))
    return out.float()


def train_head(
    encoder: nn.Module,
    train: Sequence[Any],
    num_classes: int,
    settings: DetectionSettings,
    device: torch.device,
) -> nn.Linear:
    """Train the ``Linear(D, 1 + num_classes)`` head on random windows of ``train`` videos."""
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    feature_dim = getattr(encoder, "feature_dim", None)
    if feature_dim is None:
        raise ConfigError(f"encoder {type(encoder).__name__} does not expose feature_dim")
    dim = int(feature_dim)
    head = nn.Linear(dim, num_classes + 1).to(device)
    optimizer = torch.optim.SGD(
        head.parameters(),
        lr=settings.lr,
        momentum=settings.momentum,
        nesterov=settings.nesterov,
        weight_decay=settings.weight_decay,
    )
    for param in encoder.parameters():
        param.requires_grad_(False)
    targets = [frame_targets(seq) for seq in train]
    per_epoch = len(train) * settings.samples_per_video
    for epoch in range(settings.epochs):
        lr = settings.lr * settings.gamma ** sum(epoch >= m for m in settings.milestones)
        for group in optimizer.param_groups:
            group["lr"] = lr
        encoder.train()
        head.train()
        order = rng.permutation(per_epoch) % len(train)
        for first in range(0, per_epoch - settings.batch_size + 1, settings.batch_size):
            xs, ys = [], []
            for video in order[first : first + settings.batch_size]:
                seq = train[int(video)]
                stride = int(rng.integers(settings.strides[0], settings.strides[1] + 1))
                centre = int(rng.integers(0, len(seq.frames)))
                idx = window_frames(len(seq.frames), centre, settings.window, stride)
                xs.append(window_batch(seq.frames, idx[None])[0])
                start, end = idx[0], idx[-1] + stride
                ys.append(int(targets[int(video)][(start + end) // 2]))
            features = _features(encoder, torch.stack(xs), device)
            loss = F.cross_entropy(head(features), torch.tensor(ys, device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return head


@torch.no_grad()
def frame_probabilities(
    encoder: nn.Module,
    head: nn.Module,
    sequence: Any,
    settings: DetectionSettings,
    device: torch.device,
) -> np.ndarray:
    """Softmax class probabilities of every frame ``(F, 1 + classes)``, one window per frame."""
    encoder.eval()
    head.eval()
    length = len(sequence.frames)
    indices = np.stack(
        [window_frames(length, t, settings.window, settings.test_stride) for t in range(length)]
    )
    probs = []
    for first in range(0, length, settings.eval_batch_size):
        x = window_batch(sequence.frames, indices[first : first + settings.eval_batch_size])
        probs.append(F.softmax(head(_features(encoder, x, device)), dim=1).cpu())
    return torch.cat(probs).numpy().astype(np.float64)


def ground_truth(sequence: Any) -> list[Interval]:
    """The video's labelled instances as 1-based-action intervals (end exclusive)."""
    return [
        Interval(int(label) + 1, int(start), int(end), 1.0, sequence.video)
        for label, start, end in np.asarray(sequence.segments).reshape(-1, 3)
    ]


def evaluate_probabilities(
    probabilities: dict[str, np.ndarray], test: Sequence[Any], settings: DetectionSettings
) -> dict[str, float]:
    """Proposals from per-frame probabilities and their mAP against the test videos."""
    proposals = {
        seq.video: segments_from_scores(
            smooth(probabilities[seq.video], settings.smoothing), settings.threshold, seq.video
        )
        for seq in test
    }
    ground = {seq.video: ground_truth(seq) for seq in test}
    return detection_map(proposals, ground, settings.overlap)


def run_detection(
    encoder: nn.Module,
    train: Sequence[Any],
    test: Sequence[Any],
    num_classes: int,
    settings: DetectionSettings,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Train the head on ``train`` videos, detect on ``test`` videos; return the metrics."""
    if not train or not test:
        raise DataError("detection needs training and test videos; check the split")
    device = torch.device(device)
    encoder = encoder.to(device)
    head = train_head(encoder, train, num_classes, settings, device)
    probabilities = {
        seq.video: frame_probabilities(encoder, head, seq, settings, device) for seq in test
    }
    metrics = evaluate_probabilities(probabilities, test, settings)
    frames = sum(len(p) for p in probabilities.values())
    correct = sum(
        int((probabilities[seq.video].argmax(1) == frame_targets(seq)).sum()) for seq in test
    )
    return {
        **metrics,
        "frame_accuracy": 100.0 * correct / max(frames, 1),
        "train_videos": len(train),
        "settings": settings.as_dict(),
    }

"""Test-set evaluation of a classifier, sharded over ranks, with optional multi-clip testing.

With ``clips = 1`` every test sample goes through the deterministic test transform once.
With ``clips = n`` each sample is seen through ``n`` crops of the clip transform (the train
transform without rotation), drawn from ``(seed, clip, sample)`` so they are the same on
every run and rank, and the softmax scores of the clips are averaged (Skeleton2vec tests
with 10 clips).

Every test also returns this rank's :class:`Predictions` (positions in the test part,
labels and logits; with several clips the mean of the clips' logits), which the evaluation
saves as ``test_logits.npz`` for ``skelkit evaluate ensemble``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from skelkit.evaluate.data import CLIP_EPOCH, ShardedTestSampler, loader
from skelkit.evaluate.job import EvalJob
from skelkit.evaluate.metrics import ClassificationMeter, Summary
from skelkit.train.step import autocast_context


@dataclass(frozen=True)
class Predictions:
    """One rank's test predictions: positions in the test part, labels and logits (CPU)."""

    positions: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor


def evaluate_classifier(
    model: nn.Module,
    job: EvalJob,
    clips: int,
    batch_size: int,
    seed: int,
    num_workers: int,
    precision: str,
) -> tuple[Summary, Predictions]:
    """Top-1 / top-5 / loss / per-class accuracy of ``model`` on the test part, and this
    rank's predictions."""
    model.eval()
    transform = job.test_transform if clips == 1 else job.clip_transform
    dataset = job.data.open(job.data.test_part, transform, seed)
    sampler = ShardedTestSampler(len(dataset), batch_size, job.env.rank, job.env.world_size)
    probs: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    for clip in range(clips):
        sampler.epoch = CLIP_EPOCH + clip
        clip_logits, clip_labels = _predict(model, dataset, sampler, job, num_workers, precision)
        clip_probs = F.softmax(clip_logits, dim=1)
        probs = clip_probs if probs is None else probs + clip_probs
        logits = clip_logits if logits is None else logits + clip_logits
        labels = clip_labels
    assert probs is not None
    assert logits is not None
    assert labels is not None
    probs = probs / clips
    positions = torch.as_tensor(sampler.positions, dtype=torch.int64)
    meter = ClassificationMeter(job.data.num_classes)
    if len(labels):
        picked = probs.gather(1, labels[:, None]).clamp_min(1e-12)
        meter.update(probs, labels, loss_sum=-picked.log().sum())
    meter.reduce(job.env, job.device)
    return meter.summary(), Predictions(positions, labels, logits / clips)


def frozen_test_features(
    model: nn.Module, job: EvalJob, batch_size: int, seed: int, num_workers: int, precision: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pooled features, labels and positions of this rank's test samples (deterministic
    test transform).

    A frozen encoder with a deterministic test transform gives the same features every
    epoch, so the linear probe computes them once and tests only its head each epoch.
    """
    from skelkit.evaluate.model import pooled

    encoder: Any = model.encoder
    dataset = job.data.open(job.data.test_part, job.test_transform, seed)
    sampler = ShardedTestSampler(len(dataset), batch_size, job.env.rank, job.env.world_size)
    features, labels = [], []
    encoder.eval()
    with torch.no_grad():
        for batch in loader(dataset, sampler, num_workers, job.device):
            with autocast_context(precision, job.device):
                out = encoder(batch["x"].to(job.device, non_blocking=True))
            features.append(pooled(encoder, out).float())
            labels.append(batch["labels"])
    width = int(getattr(encoder, "feature_dim", 1))
    positions = torch.as_tensor(sampler.positions, dtype=torch.int64)
    if not features:
        empty = torch.zeros(0, dtype=torch.int64)
        return torch.zeros(0, width, device=job.device), empty, positions
    return torch.cat(features), torch.cat(labels), positions


def evaluate_on_features(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    positions: torch.Tensor,
    job: EvalJob,
) -> tuple[Summary, Predictions]:
    """Test metrics of ``model``'s head on precomputed pooled test features, and this
    rank's predictions."""
    model.eval()
    meter = ClassificationMeter(job.data.num_classes)
    logits = torch.zeros(0, job.data.num_classes)
    if len(labels):
        with torch.no_grad():
            logits = model(features, pooled_input=True).float().cpu()
        probs = F.softmax(logits, dim=1)
        picked = probs.gather(1, labels[:, None]).clamp_min(1e-12)
        meter.update(probs, labels, loss_sum=-picked.log().sum())
    meter.reduce(job.env, job.device)
    return meter.summary(), Predictions(positions, labels, logits)


def _predict(
    model: nn.Module,
    dataset: Any,
    sampler: ShardedTestSampler,
    job: EvalJob,
    num_workers: int,
    precision: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (float32, CPU) and labels of the sampler's samples, in its order."""
    outputs, labels = [], []
    with torch.no_grad():
        for batch in loader(dataset, sampler, num_workers, job.device):
            x = batch["x"].to(job.device, non_blocking=True)
            with autocast_context(precision, job.device):
                logits = model(x)
            outputs.append(logits.float().cpu())
            labels.append(batch["labels"])
    if not outputs:
        return torch.zeros(0, job.data.num_classes), torch.zeros(0, dtype=torch.int64)
    return torch.cat(outputs), torch.cat(labels)

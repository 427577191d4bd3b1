"""Classification metrics that add up over batches and processes.

A :class:`ClassificationMeter` keeps the confusion matrix, the top-5 hits and the loss sum
as tensors; :meth:`ClassificationMeter.reduce` sums them over the ranks of a distributed
run, so metrics computed on disjoint test shards equal those of one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from skelkit.train import distributed as ddp


@dataclass
class Summary:
    """Metrics of one evaluation pass."""

    top1: float
    top5: float
    loss: float | None
    samples: int
    per_class: list[float | None]
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        """Plain data; ``per_class`` and ``confusion`` included."""
        return {
            "top1": self.top1,
            "top5": self.top5,
            "loss": self.loss,
            "samples": self.samples,
            "per_class": self.per_class,
            "confusion": self.confusion,
        }


class ClassificationMeter:
    """Accumulates predictions of ``num_classes``-way classification (on CPU, int64)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.top5_hits = torch.zeros((), dtype=torch.int64)
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.loss_count = torch.zeros((), dtype=torch.int64)

    def update(self, scores: Tensor, labels: Tensor, loss_sum: Tensor | None = None) -> None:
        """Add a batch: ``scores (B, K)`` (higher is better), ``labels (B,)``.

        ``loss_sum`` is the batch's summed (not averaged) loss, if there is one.
        """
        scores = scores.detach().float().cpu()
        labels = labels.detach().cpu().long()
        pred = scores.argmax(dim=1)
        index = labels * self.num_classes + pred
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).view(
            self.num_classes, self.num_classes
        )
        k = min(5, self.num_classes)
        top = scores.topk(k, dim=1).indices
        self.top5_hits += (top == labels[:, None]).any(dim=1).sum()
        if loss_sum is not None:
            self.loss_sum += float(loss_sum.detach().double().cpu())
            self.loss_count += labels.numel()

    def reduce(self, env: ddp.DistEnv, device: torch.device) -> None:
        """Sum the counts over every rank (in place)."""
        if not env.enabled:
            return
        packed = torch.cat(
            [
                self.confusion.flatten().double(),
                self.top5_hits.double().view(1),
                self.loss_sum.view(1),
                self.loss_count.double().view(1),
            ]
        ).to(device)
        ddp.all_reduce_sum(packed, env)
        packed = packed.cpu()
        k2 = self.num_classes**2
        self.confusion = packed[:k2].round().long().view(self.num_classes, self.num_classes)
        self.top5_hits = packed[k2].round().long()
        self.loss_sum = packed[k2 + 1].clone()
        self.loss_count = packed[k2 + 2].round().long()

    def summary(self) -> Summary:
        """Top-1 / top-5 accuracy in percent, mean loss, per-class accuracy."""
        total = int(self.confusion.sum())
        correct = int(self.confusion.diagonal().sum())
        support = self.confusion.sum(dim=1)
        per_class: list[float | None] = [
            100.0 * int(self.confusion[c, c]) / int(support[c]) if int(support[c]) else None
            for c in range(self.num_classes)
        ]
        count = int(self.loss_count)
        return Summary(
            top1=100.0 * correct / total if total else 0.0,
            top5=100.0 * int(self.top5_hits) / total if total else 0.0,
            loss=float(self.loss_sum) / count if count else None,
            samples=total,
            per_class=per_class,
            confusion=self.confusion.tolist(),
        )

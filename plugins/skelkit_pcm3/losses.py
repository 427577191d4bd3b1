"""PCM3's contrastive losses over a MoCo queue: InfoNCE and the queue-similarity KL term.

* ``infonce``: logits ``[q . k, q . queue] / temperature`` with the positive at index 0,
  cross-entropy averaged over the batch (MoCo v2).
* ``queue_kl``: CMD's "distillation" term, ``KL(softmax(t / teacher_t) ||
  softmax(s / student_t))`` between the student's and the teacher's similarities to the
  whole queue, summed over the queue and averaged over the batch (``batchmean``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError


class InfoNCE(nn.Module):
    """MoCo's InfoNCE over a positive key and a queue of negatives."""

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = temperature

    def logits(self, query: Tensor, key: Tensor, negatives: Tensor) -> Tensor:
        """``(N, 1 + K)`` logits: ``q . k`` then the precomputed ``negatives = q . queue``."""
        positive = (query * key).sum(dim=1, keepdim=True)
        return torch.cat([positive, negatives], dim=1) / self.temperature

    def from_logits(self, logits: Tensor) -> Tensor:
        """Cross-entropy of ``(N, 1 + K)`` logits with the positive at index 0."""
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, labels)

    def forward(self, query: Tensor, key: Tensor, negatives: Tensor) -> Tensor:
        """Cross-entropy of :meth:`logits` with the positive at index 0."""
        return self.from_logits(self.logits(query, key, negatives))


class QueueKL(nn.Module):
    """KL divergence between the teacher's and the student's queue similarities."""

    def __init__(self, student_temperature: float = 0.1, teacher_temperature: float = 0.05) -> None:
        super().__init__()
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """``student``, ``teacher``: ``(N, K)`` similarities to the queue -> scalar."""
        log_p = F.log_softmax(student / self.student_temperature, dim=1)
        q = F.softmax(teacher / self.teacher_temperature, dim=1)
        return F.kl_div(log_p, q, reduction="batchmean")


def build_infonce(temperature: float = 0.07) -> InfoNCE:
    """Factory of the ``infonce`` loss (MoCo v2; PCM3's temperature 0.07).

    Args:
        temperature: divides every logit (> 0).
    """
    if temperature <= 0:
        raise ConfigError(f"loss.temperature must be > 0, got {temperature}")
    return InfoNCE(temperature)


def build_queue_kl(student_temperature: float = 0.1, teacher_temperature: float = 0.05) -> QueueKL:
    """Factory of the ``queue_kl`` loss (CMD / PCM3: student 0.1, teacher 0.05).

    Args:
        student_temperature: temperature of the student's queue similarities (> 0).
        teacher_temperature: temperature of the teacher's queue similarities (> 0).
    """
    if student_temperature <= 0 or teacher_temperature <= 0:
        raise ConfigError(
            "queue_kl temperatures must be > 0, got "
            f"student {student_temperature}, teacher {teacher_temperature}"
        )
    return QueueKL(student_temperature, teacher_temperature)

"""Learning-rate schedules, evaluated every optimizer step at a fractional epoch.

``cosine`` is MAMP's (and MAE's) per-iteration rule: a linear warmup from 0 to ``lr``
over ``warmup_epochs``, then a half cosine from ``lr`` to ``min_lr`` at ``epochs``.
``step`` is PCM3's: after the warmup the lr is multiplied by ``gamma`` at every
milestone epoch that has been reached. ``constant`` keeps ``lr`` after the warmup.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skelkit.train.settings import TrainSettings


def lr_at(settings: TrainSettings, epoch: float) -> float:
    """Return the learning rate at the fractional ``epoch`` (``epoch + step / steps``)."""
    warmup = settings.warmup_epochs
    if epoch < warmup:
        return settings.lr * epoch / warmup
    if settings.schedule == "cosine":
        span = settings.epochs - warmup
        progress = (epoch - warmup) / span if span > 0 else 1.0
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return settings.min_lr + (settings.lr - settings.min_lr) * cosine
    if settings.schedule == "step":
        reached = sum(1 for milestone in settings.milestones if epoch >= milestone)
        return settings.lr * settings.gamma**reached
    return settings.lr


def fractional_epoch(epoch: int, step_in_epoch: int, steps_per_epoch: int) -> float:
    """Return ``epoch + step_in_epoch / steps_per_epoch`` (the references' schedule clock)."""
    return epoch + step_in_epoch / steps_per_epoch


def apply_lr(optimizer: Any, lr: float) -> None:
    """Set ``lr`` on every param group, scaled by the group's ``lr_scale`` when it has one."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)

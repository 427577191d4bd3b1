"""Optimizers with the references' weight-decay groups.

MAMP and Skeleton2vec (timm's ``add_weight_decay``) decay only parameters with more than
one dimension whose name does not end in ``.bias``; Skeleton2vec also exempts the
positional embeddings, which a method declares through ``no_weight_decay()`` (timm's
convention) or a preset through ``train.no_weight_decay`` patterns. PCM3 (SGD) decays every
parameter: ``train.no_decay_1d = false``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch import nn

    from skelkit.train.settings import TrainSettings


def exempt_names(model: nn.Module, settings: TrainSettings) -> set[str]:
    """Return the trainable parameter names that get no weight decay."""
    declared: set[str] = set()
    hook = getattr(model, "no_weight_decay", None)
    if callable(hook):
        declared = {str(name) for name in hook()}
    exempt = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        one_d = settings.no_decay_1d and (param.ndim <= 1 or name.endswith(".bias"))
        listed = name in declared or any(fnmatchcase(name, p) for p in settings.no_weight_decay)
        if one_d or listed:
            exempt.add(name)
    return exempt


def param_groups(model: nn.Module, settings: TrainSettings) -> list[dict[str, Any]]:
    """Split the trainable parameters into a decayed and an undecayed group."""
    exempt = exempt_names(model, settings)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name in exempt else decay).append(param)
    groups = [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": settings.weight_decay},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """Return the optimizer named by ``settings.optimizer`` over ``model``'s parameters."""
    groups = param_groups(model, settings)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov
        )
    return torch.optim.AdamW(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)

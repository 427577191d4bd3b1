"""Optimizers of the evaluation protocols, with layer-wise lr decay for finetuning.

Layer-wise decay follows MAMP's ``param_groups_lrd`` (BEiT style): with ``L = depth + 1``
layers, the encoder's embeddings (``joints_embed``, ``temp_embed``, ``pos_embed``) are layer
0, block ``i`` is layer ``i + 1``, and everything else (the final norm, the head) is layer
``L``; layer ``l`` gets ``lr_scale = decay ** (L - l)``, applied every step by
:func:`skelkit.train.schedule.apply_lr`. Parameters with one dimension get no weight
decay. An encoder may define ``layer_id(name) -> int`` and ``num_layers`` to place its own
parameters; one without ``blocks`` and without them gets no decay.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

EMBEDDINGS = ("joints_embed", "temp_embed", "pos_embed", "cls_token", "patch_embed")
_BLOCK = re.compile(r"^blocks\.(\d+)\.")


def encoder_depth(encoder: nn.Module) -> int | None:
    """Number of layers of ``encoder`` for layer decay (None: no decay possible)."""
    declared = getattr(encoder, "num_layers", None)
    if isinstance(declared, int) and callable(getattr(encoder, "layer_id", None)):
        return declared
    blocks = getattr(encoder, "blocks", None)
    return len(blocks) + 1 if isinstance(blocks, nn.ModuleList) else None


def layer_id(encoder: nn.Module, name: str, num_layers: int) -> int:
    """Layer of encoder parameter ``name`` (relative to the encoder)."""
    custom = getattr(encoder, "layer_id", None)
    if callable(custom):
        return int(custom(name))
    if name.split(".")[0] in EMBEDDINGS:
        return 0
    match = _BLOCK.match(name)
    if match:
        return int(match.group(1)) + 1
    return num_layers


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float) -> list[dict[str, Any]]:
    """Parameter groups of a :class:`~skelkit.evaluate.model.Classifier` with ``lr_scale``."""
    encoder: nn.Module = model.encoder  # type: ignore[assignment]
    num_layers = encoder_depth(encoder)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith("encoder.") and num_layers is not None:
            layer = layer_id(encoder, name[len("encoder.") :], num_layers)
            scale = layer_decay ** (num_layers - layer)
        else:
            layer, scale = -1, 1.0
        decay = param.ndim > 1
        group = groups.setdefault(
            (layer, decay),
            {"params": [], "weight_decay": weight_decay if decay else 0.0, "lr_scale": scale},
        )
        group["params"].append(param)
    return list(groups.values())


def build_optimizer(model: nn.Module, settings: Any) -> torch.optim.Optimizer:
    """SGD over the trainable parameters (linear probe) or AdamW with layer decay."""
    decay = settings.effective_layer_decay if settings.train_encoder else 1.0
    groups = param_groups(model, settings.weight_decay, decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)
    return torch.optim.AdamW(groups, lr=settings.lr, betas=settings.betas)

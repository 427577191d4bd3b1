"""The evaluated network: the checkpoint's encoder plus a classification head.

Encoder contract (DESIGN.md): ``encoder(x (N, C, T, V, M))`` returns the token grid
``(N, M, T', V', D)`` or, for encoders that pool themselves (PCM3's GRU), ``(N, D)``; the
width is ``encoder.feature_dim``. The pooled feature of a grid is ``encoder.pool(grid)``
when the encoder defines it, else the mean over persons, time and joints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from skelkit.errors import ConfigError, DataError


def pooled(encoder: nn.Module, features: Tensor) -> Tensor:
    """``(N, D)`` features of an encoder output (grid or already pooled)."""
    if features.ndim == 2:
        return features
    if features.ndim != 5:
        raise ConfigError(
            f"encoder {type(encoder).__name__} returned features of shape "
            f"{tuple(features.shape)}; the encoder contract is (N, M, T', V', D) or (N, D)"
        )
    pool = getattr(encoder, "pool", None)
    out = pool(features) if callable(pool) else features.mean(dim=(1, 2, 3))
    assert isinstance(out, Tensor)
    return out


def encoder_config(ckpt: Mapping[str, Any], drop_path: float | None) -> dict[str, Any]:
    """The checkpoint's config with ``encoder.drop_path`` replaced when the encoder has it."""
    config = dict(ckpt["config"])
    section = config.get("encoder")
    if drop_path is not None and isinstance(section, Mapping) and "drop_path" in section:
        config["encoder"] = {**section, "drop_path": float(drop_path)}
    return config


def load_eval_encoder(
    ckpt: Mapping[str, Any],
    *,
    init: str,
    drop_path: float | None,
    seed: int,
    which: str | None = None,
) -> nn.Module:
    """The encoder to evaluate: the checkpoint's weights, or (``init=scratch``) the same
    architecture at the random initialisation of ``seed``.

    ``which`` is the encoder's attribute path in the method (default: the method's
    ``downstream_encoder``, e.g. Skeleton2vec's ``target.teacher``; ``encoder`` is its
    student).

    ``drop_path`` (finetuning) rebuilds the encoder with that stochastic-depth rate when
    its config section has the key; the weights do not depend on it.
    """
    from skelkit.methods.build import build_method
    from skelkit.train.checkpoint import load_encoder
    from skelkit.train.seeding import seed_all

    config = encoder_config(ckpt, drop_path)
    if init == "scratch":
        seed_all(seed)
        method = build_method(config)
        path = which or str(getattr(method, "downstream_encoder", "encoder"))
        encoder: Any = method
        for part in path.split("."):
            encoder = getattr(encoder, part, None)
        if not isinstance(encoder, nn.Module):
            raise DataError(f"the checkpoint's method has no encoder '{path}' to evaluate")
        return encoder
    return load_encoder({**ckpt, "config": config}, which=which)


def feature_shape(encoder: nn.Module, x: Tensor) -> tuple[int, ...]:
    """Shape of the encoder's output for one sample ``x (C, T, V, M)`` (batch dim dropped)."""
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        out = encoder(x.unsqueeze(0))
    encoder.train(was_training)
    return tuple(out.shape[1:])


class LinearHead(nn.Module):
    """``BatchNorm1d(affine=False)`` + ``Linear`` on the pooled feature (MAMP's linear probe).

    The Linear weight is trunc-normal (std 0.01), its bias 0.
    """

    def __init__(self, dim: int, num_classes: int, bn_eps: float = 1e-6) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim, affine=False, eps=bn_eps)
        self.fc = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, features: Tensor) -> Tensor:
        """Logits of pooled features ``(N, D)``."""
        return self.fc(self.bn(features))


class MlpHead(nn.Module):
    """MAMP's finetune head: dropout, mean over time, joints x width flattened, mean over
    persons, ``Linear(V*D, hidden)``, BatchNorm, ReLU, ``Linear(hidden, classes)``.

    For an encoder with pooled ``(N, D)`` output the same MLP runs on the pooled feature.
    Linear weights are xavier-uniform, biases 0 (the reference's initialisation).
    """

    def __init__(
        self, feature_shape: tuple[int, ...], num_classes: int, hidden: int, dropout: float
    ) -> None:
        super().__init__()
        if len(feature_shape) == 4:  # (M, T', V, D)
            in_dim = feature_shape[2] * feature_shape[3]
        elif len(feature_shape) == 1:
            in_dim = feature_shape[0]
        else:
            raise ConfigError(
                f"encoder features of shape {feature_shape} per sample do not fit the "
                "encoder contract (M, T', V', D) or (D,)"
            )
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(in_dim, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, num_classes)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, features: Tensor) -> Tensor:
        """Logits of a token grid ``(N, M, T', V, D)`` or pooled features ``(N, D)``."""
        x = self.dropout(features)
        if x.ndim == 5:
            n, m, _, v, d = x.shape
            x = x.mean(dim=2).reshape(n, m, v * d).mean(dim=1)
        return self.fc2(self.relu(self.bn(self.fc1(x))))


class Classifier(nn.Module):
    """Encoder + head. A frozen encoder (linear probe) runs without gradients in eval mode."""

    def __init__(self, encoder: nn.Module, head: nn.Module, train_encoder: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.train_encoder = train_encoder
        if not train_encoder:
            for param in encoder.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True) -> Classifier:
        """Set the head's mode; a frozen encoder always stays in eval mode."""
        super().train(mode)
        if not self.train_encoder:
            self.encoder.eval()
        return self

    def features(self, x: Tensor) -> Tensor:
        """What the head consumes: pooled features (linear head) or the encoder output."""
        if self.train_encoder:
            out = self.encoder(x)
        else:
            with torch.no_grad():
                out = self.encoder(x)
        return pooled(self.encoder, out) if isinstance(self.head, LinearHead) else out

    def forward(self, x: Tensor, pooled_input: bool = False) -> Tensor:
        """Logits ``(N, classes)`` of a batch, or of precomputed pooled features."""
        return self.head(x if pooled_input else self.features(x))


def build_classifier(
    encoder: nn.Module, settings: Any, num_classes: int, sample: Tensor
) -> Classifier:
    """The encoder and the head of ``settings.head`` sized from one sample's features."""
    shape = feature_shape(encoder, sample)
    if settings.head == "linear":
        dim = int(getattr(encoder, "feature_dim", shape[-1]))
        head: nn.Module = LinearHead(dim, num_classes, settings.bn_eps)
    else:
        head = MlpHead(shape, num_classes, settings.hidden, settings.dropout)
    return Classifier(encoder, head, settings.train_encoder)

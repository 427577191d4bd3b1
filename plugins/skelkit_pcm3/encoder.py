"""PCM3's encoder: input BatchNorm and three "bidirectional" GRU layers.

The official backbone (inherited from skeleton-contrast and CMD) is a 3-layer
bidirectional ``nn.GRU`` of width 1024, but it is fed one frame at a time with the hidden
state carried over, so its "reverse" direction never sees the future: every layer is in
fact **two causal GRUs**, one with the forward weights and one with the ``_reverse``
weights, both reading the sequence forward in time, and layer ``k + 1`` reads the
concatenation of both outputs. This module computes exactly that, one whole-sequence
unidirectional GRU call per direction and layer (fast, cuDNN-fusable); a true
bidirectional GRU would give different features.

Input layout: ``x (N, C, T, V, M)`` is flattened per frame in the official order
``v * C * M + c * M + m`` (joint-major, then coordinate, then person) and normalised by a
``BatchNorm1d`` over these ``C * V * M = 150`` values. The pooled feature is the
``2 * hidden_size``-wide output at the last frame, so ``forward`` returns ``(N, D)``
directly (no token grid). The encoder also converts joint input to its ``stream``
(joint, motion or bone) first, so that evaluation and export see the stream it was
trained on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skelkit.errors import ConfigError
from skelkit_pcm3.streams import STREAMS, to_stream


class CausalGruPair(nn.Module):
    """One layer: two unidirectional GRUs over the same input, outputs concatenated.

    ``forward_gru`` holds the official ``*_l{k}`` weights, ``reverse_gru`` the
    ``*_l{k}_reverse`` weights; both run forward in time, as the official step-by-step
    loop computes them.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.forward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.reverse_gru = nn.GRU(input_size, hidden_size, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, T, input_size) -> (N, T, 2 * hidden_size)``."""
        a, _ = self.forward_gru(x)
        b, _ = self.reverse_gru(x)
        return torch.cat((a, b), dim=-1)


class GruEncoder(nn.Module):
    """Input BatchNorm + stacked causal GRU pairs; ``forward`` returns ``(N, feature_dim)``.

    Attributes:
        pooled_output: True: ``forward`` returns pooled ``(N, D)`` features, not a grid.
    """

    pooled_output = True

    def __init__(
        self,
        *,
        num_joints: int = 25,
        in_channels: int = 3,
        num_persons: int = 2,
        hidden_size: int = 1024,
        num_layers: int = 3,
        stream: str = "joint",
        init: str = "xavier",
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.in_channels = in_channels
        self.num_persons = num_persons
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.stream = stream
        self.in_features = num_joints * in_channels * num_persons
        self.input_norm = nn.BatchNorm1d(self.in_features)
        sizes = [self.in_features] + [2 * hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(CausalGruPair(size, hidden_size) for size in sizes)
        if init == "xavier":
            self.reset_gru_weights()

    @property
    def feature_dim(self) -> int:
        """Width of the pooled feature: both directions of the last layer."""
        return 2 * self.hidden_size

    def reset_gru_weights(self) -> None:
        """The official init: ``xavier_uniform_`` on every whole GRU weight matrix.

        Biases keep PyTorch's default ``U(-1/sqrt(H), 1/sqrt(H))``, BatchNorm its 1 and 0.
        """
        for name, param in self.layers.named_parameters():
            if param.dim() == 2:
                nn.init.xavier_uniform_(param)
            elif not name.split(".")[-1].startswith("bias"):
                raise AssertionError(f"unexpected GRU parameter {name}")

    def flatten(self, x: Tensor) -> Tensor:
        """``(N, C, T, V, M) -> (N, T, V * C * M)`` in the official order."""
        n, c, t, v, m = x.shape
        if c == 3 * self.in_channels and (v, m) == (self.num_joints, self.num_persons):
            raise ConfigError(
                f"the gru encoder got {c} channels: three views stacked by the pcm3_views "
                "pretraining transform; evaluate with a single-view transform, e.g. "
                "--set train_transform.name=pcm3_linear"
            )
        if (c, v, m) != (self.in_channels, self.num_joints, self.num_persons):
            raise ConfigError(
                f"input of shape (C={c}, V={v}, M={m}) does not match the gru encoder "
                f"(in_channels={self.in_channels}, num_joints={self.num_joints}, "
                f"num_persons={self.num_persons})"
            )
        return x.permute(0, 2, 3, 1, 4).reshape(n, t, v * c * m)

    def unflatten(self, flat: Tensor) -> Tensor:
        """``(N, T, V * C * M) -> (N, C, T, V, M)``, the inverse of :meth:`flatten`."""
        n, t, _ = flat.shape
        c, v, m = self.in_channels, self.num_joints, self.num_persons
        return flat.reshape(n, t, v, c, m).permute(0, 3, 1, 2, 4)

    def sequence(self, flat: Tensor) -> Tensor:
        """Normalise and encode flattened frames ``(N, T, F)`` into ``(N, T, feature_dim)``."""
        h = self.input_norm(flat.transpose(1, 2)).transpose(1, 2)
        for layer in self.layers:
            h = layer(h)
        return h

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features ``(N, feature_dim)`` of joint input ``x (N, C, T, V, M)``."""
        return self.sequence(self.flatten(to_stream(x, self.stream)))[:, -1]

    def pool(self, features: Tensor) -> Tensor:
        """The features are already pooled: returned as they are."""
        return features


def build_gru_encoder(
    num_joints: int = 25,
    in_channels: int = 3,
    num_persons: int = 2,
    hidden_size: int = 1024,
    num_layers: int = 3,
    stream: str = "joint",
    init: str = "xavier",
) -> GruEncoder:
    """Factory of the ``gru`` encoder (PCM3's backbone; defaults are the official ones).

    Args:
        num_joints, in_channels, num_persons: input layout; ``V * C * M`` values per frame.
        hidden_size: width of every GRU direction (the feature is twice as wide).
        num_layers: stacked causal GRU pairs.
        stream: ``joint``, ``motion`` or ``bone``: what the encoder computes from joint
            input (PCM3's three streams; ``--set encoder.stream=motion``).
        init: ``xavier`` (official) or ``default`` (PyTorch's GRU init).
    """
    if stream not in STREAMS:
        raise ConfigError(f"encoder.stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    if init not in ("xavier", "default"):
        raise ConfigError(f"encoder.init must be 'xavier' or 'default', got {init!r}")
    for key, value in (
        ("num_joints", num_joints),
        ("in_channels", in_channels),
        ("num_persons", num_persons),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ):
        if value < 1:
            raise ConfigError(f"encoder.{key} must be >= 1, got {value}")
    return GruEncoder(
        num_joints=num_joints,
        in_channels=in_channels,
        num_persons=num_persons,
        hidden_size=hidden_size,
        num_layers=num_layers,
        stream=stream,
        init=init,
    )

"""Settings of PCM3's detection protocol (no torch here; see :mod:`skelkit_pcm3.detection`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from skelkit.errors import ConfigError


@dataclass(frozen=True)
class DetectionSettings:
    """The ``detection`` protocol's settings (defaults: the reference's)."""

    window: int = 16
    strides: tuple[int, int] = (3, 5)
    test_stride: int = 4
    epochs: int = 60
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (40,)
    gamma: float = 0.1
    samples_per_video: int = 16
    smoothing: int = 10
    threshold: float = 0.4
    overlap: float = 0.5
    seed: int = 0
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        for key in ("window", "test_stride", "epochs", "batch_size", "samples_per_video"):
            if getattr(self, key) < 1:
                raise ConfigError(f"protocol.{key} must be >= 1, got {getattr(self, key)}")
        if len(self.strides) != 2 or not 1 <= self.strides[0] <= self.strides[1]:
            raise ConfigError(f"protocol.strides must be two increasing values, got {self.strides}")
        if not 0 < self.threshold <= 1 or not 0 < self.overlap <= 1:
            raise ConfigError("protocol.threshold and protocol.overlap must be in (0, 1]")

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for reports."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_overrides(cls, values: dict[str, Any]) -> DetectionSettings:
        """Settings from ``protocol.KEY`` values; an unknown key is a ConfigError."""
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown detection key 'protocol.{unknown[0]}'; keys: {', '.join(known)}"
            )
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"bad detection settings: {exc}") from exc

"""Settings of the ``train`` config section (the pretraining engine).

Every field has a default so a preset only names what it changes. ``batch_size`` is the
global batch of one optimizer step: it is split into ``world_size * accumulate`` equal
shards (one per rank and accumulation micro-step), so the same config trains the same
model on 1 or N processes. The last incomplete batch of an epoch is dropped, as in every
reference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from skelkit.errors import ConfigError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section: optimisation, schedule, precision, checkpoints and logging."""

    # Number of passes over the training split.
    epochs: int = 400
    # Global samples per optimizer step (all ranks and accumulation micro-steps together).
    batch_size: int = 128
    # Optimizer: "adamw" (MAMP, Skeleton2vec) or "sgd" (PCM3).
    optimizer: str = "adamw"
    # Peak learning rate, absolute (no batch-size scaling).
    lr: float = 1e-3
    # Final learning rate of the cosine schedule.
    min_lr: float = 0.0
    # AdamW betas.
    betas: tuple[float, float] = (0.9, 0.95)
    # AdamW epsilon.
    eps: float = 1e-8
    # SGD momentum.
    momentum: float = 0.9
    # SGD Nesterov momentum.
    nesterov: bool = False
    # Weight decay of parameters with ndim > 1 (1-D parameters and biases get none).
    weight_decay: float = 0.05
    # No weight decay on 1-D parameters and biases (MAMP, Skeleton2vec); False decays all (PCM3).
    no_decay_1d: bool = True
    # Further parameter-name patterns (fnmatch, e.g. "*pos_embed*") without weight decay.
    no_weight_decay: tuple[str, ...] = ()
    # Linear warmup from 0 to ``lr``, in (fractional) epochs, updated every iteration.
    warmup_epochs: float = 20.0
    # Schedule after warmup: "cosine" (per iteration), "step" (x gamma at milestones), "constant".
    schedule: str = "cosine"
    # Epochs at which the "step" schedule multiplies the lr by ``gamma``.
    milestones: tuple[int, ...] = ()
    # Factor of the "step" schedule.
    gamma: float = 0.1
    # Clip the global gradient norm to this value; None disables clipping.
    clip_grad: float | None = None
    # Micro-steps accumulated per optimizer step (``batch_size`` is split between them).
    accumulate: int = 1
    # Numeric precision: "fp32", "bf16" (autocast) or "fp16" (autocast + GradScaler); CUDA only.
    precision: str = "fp32"
    # Device: "auto" (CUDA when available), "cpu" or "cuda".
    device: str = "auto"
    # Seed of every random draw (derived per epoch, step, sample index and rank).
    seed: int = 0
    # Keep a numbered checkpoint every N epochs (``last.pt`` is written every epoch).
    save_every: int = 50
    # Write a resumable mid-epoch ``last.pt`` every N optimizer steps; 0 disables it.
    checkpoint_every_steps: int = 500
    # DataLoader worker processes per rank; 0 loads in the main process.
    num_workers: int = 4
    # Log a metrics line every N optimizer steps.
    log_every: int = 20
    # DDP: find parameters unused by the loss (needed by methods that skip branches).
    find_unused_parameters: bool = False
    # cuDNN autotuning of convolution kernels.
    cudnn_benchmark: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "no_weight_decay", tuple(str(p) for p in self.no_weight_decay))
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("device", self.device, DEVICES)
        if len(self.betas) != 2:
            raise ConfigError(f"train.betas must have two values, got {list(self.betas)}")
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("accumulate", self.accumulate)
        _positive("save_every", self.save_every)
        _positive("log_every", self.log_every)
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise ConfigError(f"train.min_lr must be in [0, train.lr], got {self.min_lr}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"train.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.clip_grad is not None and self.clip_grad <= 0:
            raise ConfigError(f"train.clip_grad must be > 0 or null, got {self.clip_grad}")
        for name in ("weight_decay", "checkpoint_every_steps", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size % self.accumulate:
            raise ConfigError(
                f"train.batch_size={self.batch_size} must be divisible by "
                f"train.accumulate={self.accumulate}"
            )

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> TrainSettings:
        """Build settings from the ``train`` section of a resolved config."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"unknown key train.{unknown[0]}; valid keys: {', '.join(sorted(known))}"
            )
        return cls(**section)


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"train.{key} must be one of {', '.join(allowed)}, got {value!r}")


def _positive(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"train.{key} must be >= 1, got {value}")


__all__ = ["TrainSettings"]

"""One optimizer step: forward and backward every micro-batch, clip, step, zero.

Shared by the training loop and ``skelkit bench pretrain`` so that the benchmark measures
exactly the engine's step (autocast, GradScaler, accumulation, DDP ``no_sync``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


def autocast_context(
    precision: str, device: torch.device
) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision autocast for ``bf16`` / ``fp16``; nothing for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class StepRunner:
    """Runs optimizer steps of ``model`` (``method`` itself, or ``method`` inside DDP)."""

    model: nn.Module
    method: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    precision: str
    device: torch.device
    clip_grad: float | None = None

    def run(
        self,
        micro_batches: Sequence[Batch],
        prepare: Callable[[int, Batch], Batch] | None = None,
    ) -> torch.Tensor:
        """Train on ``micro_batches`` (one optimizer step); return the mean loss (float64).

        ``prepare(micro, batch)`` runs before each micro-batch's forward (seeding, moving
        to the device, batched transforms). Gradients are synchronised across DDP ranks
        only on the last micro-batch.
        """
        self.model.train()
        accumulate = len(micro_batches)
        step_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        for micro, batch in enumerate(micro_batches):
            if prepare is not None:
                batch = prepare(micro, batch)
            last = micro == accumulate - 1
            with contextlib.nullcontext() if last else self._no_sync():
                with autocast_context(self.precision, self.device):
                    loss, _logs = self.model(batch)
                self.scaler.scale(loss.float() / accumulate).backward()
            step_loss += loss.detach().double() / accumulate
        if self.clip_grad is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), self.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return step_loss

    def _no_sync(self) -> contextlib.AbstractContextManager[Any]:
        no_sync = getattr(self.model, "no_sync", None)
        return no_sync() if callable(no_sync) else contextlib.nullcontext()

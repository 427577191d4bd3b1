"""The engine's optimizer step: accumulation, clipping, mixed precision."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from skelkit.train.step import StepRunner


class Regression(nn.Module):
    """A least-squares "method": forward(batch) -> (loss, logs), like every method."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(6, 1)

    def forward(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = ((self.linear(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()
        return loss, {"loss": loss.detach()}


def runner(
    method: nn.Module, lr: float = 0.1, clip: float | None = None, precision: str = "fp32"
) -> StepRunner:
    return StepRunner(
        model=method,
        method=method,
        optimizer=torch.optim.SGD(method.parameters(), lr=lr),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        precision=precision,
        device=torch.device("cpu"),
        clip_grad=clip,
    )


def batch(n: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 6, generator=gen), "y": torch.randn(n, generator=gen)}


def test_accumulation_equals_the_full_batch() -> None:
    full, halves = Regression(), Regression()
    data = batch(8, seed=1)
    parts = [{k: v[:4] for k, v in data.items()}, {k: v[4:] for k, v in data.items()}]
    loss_full = runner(full).run([data])
    loss_acc = runner(halves).run(parts)
    assert float(loss_acc) == pytest.approx(float(loss_full), rel=1e-6)
    for a, b in zip(full.parameters(), halves.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert all(p.grad is None for p in full.parameters())  # zeroed for the next step


def test_clipping_bounds_the_update() -> None:
    method = Regression()
    before = [p.detach().clone() for p in method.parameters()]
    big = {"x": torch.full((4, 6), 100.0), "y": torch.zeros(4)}
    runner(method, lr=1.0, clip=0.5).run([big])
    update = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(method.parameters(), before, strict=True)]
    )
    assert float(update.norm()) == pytest.approx(0.5, rel=1e-4)


def test_prepare_runs_before_every_micro_batch_and_bf16_autocast_on_cpu() -> None:
    method = Regression()
    seen: list[int] = []

    def prepare(micro: int, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seen.append(micro)
        return b

    loss = runner(method, precision="bf16").run([batch(4, 1), batch(4, 2)], prepare)
    assert seen == [0, 1]
    assert loss.dtype == torch.float64
    assert torch.isfinite(loss)

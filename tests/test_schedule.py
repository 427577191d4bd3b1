"""Learning-rate schedules, weight-decay groups, train settings and the shard sampler."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from skelkit.errors import ConfigError
from skelkit.train.optim import build_optimizer, exempt_names, param_groups
from skelkit.train.sampler import ShardBatchSampler, ShardLayout
from skelkit.train.schedule import apply_lr, fractional_epoch, lr_at
from skelkit.train.settings import TrainSettings

MAMP = TrainSettings(epochs=400, warmup_epochs=20, lr=1e-3, min_lr=5e-4)


def mamp_reference(epoch: float) -> float:
    """MAMP's util/lr_sched.py rule as written in its paper notes (fractional epoch)."""
    if epoch < 20:
        return 1e-3 * epoch / 20
    return 5e-4 + (1e-3 - 5e-4) * 0.5 * (1.0 + math.cos(math.pi * (epoch - 20) / (400 - 20)))


@pytest.mark.parametrize("epoch", [0.0, 0.5, 10.0, 19.99, 20.0, 21.25, 123.4, 210.0, 399.9, 400.0])
def test_cosine_matches_mamp(epoch: float) -> None:
    assert lr_at(MAMP, epoch) == pytest.approx(mamp_reference(epoch), rel=1e-12, abs=0)


def test_cosine_landmarks() -> None:
    assert lr_at(MAMP, 0.0) == 0.0
    assert lr_at(MAMP, 10.0) == pytest.approx(5e-4)
    assert lr_at(MAMP, 20.0) == pytest.approx(1e-3)
    assert lr_at(MAMP, 210.0) == pytest.approx(7.5e-4)  # half way down the cosine
    assert lr_at(MAMP, 400.0) == pytest.approx(5e-4)


def test_schedule_is_per_iteration() -> None:
    steps = 314
    lrs = [lr_at(MAMP, fractional_epoch(30, k, steps)) for k in range(steps)]
    assert all(a > b for a, b in itertools.pairwise(lrs))  # changes every step
    assert fractional_epoch(3, 157, 314) == 3.5


def test_step_decay_of_pcm3() -> None:
    pcm3 = TrainSettings(
        optimizer="sgd", lr=0.02, schedule="step", milestones=(351,), warmup_epochs=0, epochs=451
    )
    assert lr_at(pcm3, 0.0) == pytest.approx(0.02)
    assert lr_at(pcm3, 350.99) == pytest.approx(0.02)
    assert lr_at(pcm3, 351.0) == pytest.approx(0.002)
    two = TrainSettings(lr=1.0, schedule="step", milestones=(2, 4), gamma=0.5, warmup_epochs=1)
    assert [lr_at(two, e) for e in (0.5, 1.0, 2.0, 3.9, 4.0)] == pytest.approx(
        [0.5, 1.0, 0.5, 0.5, 0.25]
    )


def test_warmup_longer_than_the_run() -> None:
    short = TrainSettings(epochs=2, warmup_epochs=20, lr=1e-3)
    assert lr_at(short, 1.0) == pytest.approx(5e-5)


def test_apply_lr_honours_lr_scale() -> None:
    weights = [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))]
    opt = torch.optim.SGD([{"params": [weights[0]]}, {"params": [weights[1]], "lr_scale": 0.8}])
    apply_lr(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.4])


class Tiny(nn.Module):
    def __init__(self, declare: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, 4))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.frozen = nn.Parameter(torch.zeros(4, 4), requires_grad=False)
        self._declare = declare

    def no_weight_decay(self) -> set[str]:
        return set(self._declare)


def test_weight_decay_groups_like_timm() -> None:
    model = Tiny()
    assert exempt_names(model, TrainSettings()) == {"proj.bias", "norm.weight", "norm.bias"}
    groups = param_groups(model, TrainSettings(weight_decay=0.05))
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in groups}
    decayed = {id(model.proj.weight), id(model.pos_embed), id(model.mask_token)}
    assert by_decay[0.05] == decayed  # embeddings decayed as in MAMP; frozen left out
    assert id(model.frozen) not in by_decay[0.0] | by_decay[0.05]


def test_no_weight_decay_declared_or_by_pattern() -> None:
    declared = exempt_names(Tiny(declare=("pos_embed",)), TrainSettings())
    assert "pos_embed" in declared
    assert "mask_token" not in declared
    patterned = exempt_names(Tiny(), TrainSettings(no_weight_decay=("*embed*",)))
    assert "pos_embed" in patterned
    assert exempt_names(Tiny(), TrainSettings(no_decay_1d=False)) == set()


def test_build_optimizers() -> None:
    adamw = build_optimizer(Tiny(), TrainSettings(betas=(0.9, 0.95), weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["betas"] == (0.9, 0.95)
    sgd = build_optimizer(
        Tiny(), TrainSettings(optimizer="sgd", momentum=0.9, weight_decay=1e-4, no_decay_1d=False)
    )
    assert isinstance(sgd, torch.optim.SGD)
    assert [g["weight_decay"] for g in sgd.param_groups] == [1e-4]
    assert sgd.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"optimizer": "adam"}, "train.optimizer must be one of adamw, sgd"),
        ({"schedule": "linear"}, "train.schedule"),
        ({"precision": "fp8"}, "train.precision"),
        ({"batch_size": 10, "accumulate": 3}, "divisible by train.accumulate"),
        ({"lr": 0}, "train.lr must be > 0"),
        ({"min_lr": 1.0}, "train.min_lr"),
        ({"clip_grad": -1.0}, "train.clip_grad"),
        ({"epochs": 0}, "train.epochs must be >= 1"),
        ({"betas": [0.9]}, "train.betas"),
    ],
)
def test_settings_errors(values: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainSettings.from_dict(values)


def test_settings_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown key train\.lrr"):
        TrainSettings.from_dict({"lrr": 1.0})


def _epoch_batches(layout: ShardLayout, seed: int, epoch: int, start: int = 0) -> list[list[int]]:
    """Per optimizer step, the indices of all shards in shard order."""
    per_rank = []
    for rank in range(layout.world_size):
        sampler = ShardBatchSampler(layout, seed, rank)
        sampler.set_position(epoch, start)
        assert len(sampler) == (layout.steps_per_epoch - start) * layout.accumulate
        per_rank.append([[i for i, e in batch if e == epoch] for batch in sampler])
    steps = []
    for s in range(layout.steps_per_epoch - start):
        step = []
        for rank in range(layout.world_size):
            for micro in range(layout.accumulate):
                step.extend(per_rank[rank][s * layout.accumulate + micro])
        steps.append(step)
    return steps


def test_shards_cover_the_global_batch_whatever_the_split() -> None:
    single = _epoch_batches(ShardLayout(50, 8), seed=3, epoch=2)
    assert len(single) == 6
    assert all(len(b) == 8 for b in single)
    flat = [i for b in single for i in b]
    assert len(set(flat)) == 48
    assert set(flat) <= set(range(50))
    for world, acc in ((2, 1), (1, 2), (2, 2), (4, 2)):
        assert _epoch_batches(ShardLayout(50, 8, world, acc), seed=3, epoch=2) == single
    assert _epoch_batches(ShardLayout(50, 8), seed=3, epoch=3) != single
    assert _epoch_batches(ShardLayout(50, 8), seed=4, epoch=2) != single


def test_sampler_resumes_mid_epoch() -> None:
    layout = ShardLayout(40, 4, 1, 2)
    full = _epoch_batches(layout, seed=0, epoch=1)
    assert _epoch_batches(layout, seed=0, epoch=1, start=4) == full[4:]

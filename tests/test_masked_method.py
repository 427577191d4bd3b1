"""The generic ``masked`` method with the core masker, target and losses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from skelkit.config import resolve_config
from skelkit.errors import ConfigError
from skelkit.methods.build import build_method
from skelkit.methods.losses import MSELoss, SmoothL1Loss
from skelkit.methods.masked import MaskedMethod, build_masked_method
from skelkit.methods.maskers import RandomMasker, build_random_masker, keep_count
from skelkit.methods.targets import TokenTarget, build_coords_target, normalize_tokens, patchify
from skelkit.nn.transformer import build_transformer
from skelkit.registry import get_registries

SMALL = [
    "encoder.num_frames=16",
    "encoder.dim=32",
    "encoder.depth=1",
    "encoder.num_heads=4",
    "method.decoder_dim=32",
    "method.decoder_depth=1",
    "method.decoder_heads=4",
]


def small_method(*overrides: str) -> MaskedMethod:
    cfg = resolve_config(get_registries(), overrides=[*SMALL, *overrides])
    method = build_method(cfg)
    assert isinstance(method, MaskedMethod)
    return method


def batch(n: int = 2, frames: int = 16, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, frames, 25, 2, generator=gen).cumsum(dim=2) * 0.1


def test_core_defaults_are_the_mae_baseline() -> None:
    cfg = resolve_config(get_registries())
    assert cfg["method"]["name"] == "masked"
    assert (cfg["masker"]["name"], cfg["masker"]["ratio"]) == ("random", 0.9)
    assert cfg["target"] == {"name": "coords", "normalize": True, "eps": 1e-6}
    assert cfg["loss"]["name"] == "mse"
    enc = cfg["encoder"]
    assert (enc["num_frames"], enc["segment_length"], enc["dim"], enc["depth"]) == (120, 4, 256, 8)


def test_forward_returns_loss_and_logs_and_trains_everything() -> None:
    method = small_method()
    loss, logs = method({"x": batch(), "lengths": torch.tensor([16, 16])})
    assert loss.ndim == 0
    assert torch.isfinite(loss)
    assert set(logs) == {"loss", "mask_ratio"}
    assert not logs["loss"].requires_grad
    assert abs(float(logs["mask_ratio"]) - (100 - int(100 * (1 - 0.9))) / 100) < 1e-6
    loss.backward()
    assert method.encoder.blocks[0].attn.qkv.weight.grad is not None
    assert method.decoder.pred.weight.grad is not None
    assert method.decoder.mask_token.grad is not None
    assert isinstance(method.encoder, nn.Module)
    assert method.encoder.feature_dim == 32


def test_random_masker_draws_one_uniform_from_the_global_rng() -> None:
    masker = build_random_masker(ratio=0.9)
    patches = torch.randn(3, 4, 25, 12)
    torch.manual_seed(7)
    drawn = masker(patches)
    after = torch.random.get_rng_state()
    torch.manual_seed(7)
    u = torch.rand(3, 100)
    assert torch.equal(torch.random.get_rng_state(), after)  # exactly one draw
    given = masker(patches, noise=u)
    assert torch.equal(drawn.mask, given.mask)
    assert torch.equal(drawn.ids_keep, given.ids_keep)
    # the kept tokens are the ones with the lowest noise, in ascending order;
    # int(100 * (1 - 0.9)) == 9, the references' float rounding
    assert keep_count(100, 0.9) == 9
    assert torch.equal(given.ids_keep, torch.argsort(u, dim=1)[:, :9])
    assert given.mask.sum(dim=1).tolist() == [91, 91, 91]
    assert not given.mask.gather(1, given.ids_keep).any()
    # ids_restore puts [kept, masked] back into grid order
    order = torch.cat([given.ids_keep, torch.argsort(u, dim=1)[:, 9:]], dim=1)
    assert torch.equal(order.gather(1, given.ids_restore), torch.arange(100).expand(3, 100))
    with pytest.raises(ValueError, match="noise must have shape"):
        masker(patches, noise=torch.rand(3, 99))


def test_coords_target_is_normalised_patches() -> None:
    target = build_coords_target()
    method = small_method()
    target.bind(method)
    seq = torch.randn(2, 3, 16, 25)
    out = target(seq)
    assert out.shape == (2, 100, 12)
    assert target.dim == 12
    # token (t=1, v=3): frames 4..7 of joint 3, frame-major then xyz
    raw = seq[0, :, 4:8, 3].t().reshape(12)
    expected = (raw - raw.mean()) / (raw.var(unbiased=True) + 1e-6).sqrt()
    torch.testing.assert_close(out[0, 1 * 25 + 3], expected)
    assert torch.equal(patchify(seq, 4)[0, 1, 3], raw)
    raw_target = build_coords_target(normalize=False)
    raw_target.bind(method)
    torch.testing.assert_close(raw_target(seq)[0, 28], raw)
    torch.testing.assert_close(normalize_tokens(raw[None]), expected[None])


def test_losses_average_over_masked_tokens_only() -> None:
    pred, target = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    mask = torch.tensor([[True, False, True, False, False], [False, False, False, True, True]])
    per_token = ((pred - target) ** 2).mean(-1)
    torch.testing.assert_close(MSELoss()(pred, target, mask), per_token[mask].mean())
    changed = pred.clone()
    changed[~mask] += 100.0
    torch.testing.assert_close(MSELoss()(changed, target, mask), per_token[mask].mean())
    err = torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=0.5)
    torch.testing.assert_close(SmoothL1Loss(0.5)(pred, target, mask), err.mean(-1)[mask].mean())


def test_loss_equals_masked_mse_of_prediction_and_target() -> None:
    method = small_method().eval()
    out = method.forward_details(batch(), noise=torch.rand(4, 100))
    seq = method.encoder.to_sequences(batch())
    torch.testing.assert_close(out.target, method.target(seq))
    per_token = ((out.pred - out.target) ** 2).mean(-1)
    torch.testing.assert_close(out.loss, per_token[out.masking.mask].mean())


class TeacherTarget(TokenTarget):
    """A teacher-style target: a frozen copy of the encoder sees the unmasked input."""

    def __init__(self) -> None:
        super().__init__(normalize=False)
        self.teacher: nn.Module | None = None
        self.steps: list[tuple[int, int]] = []

    def bind(self, method: MaskedMethod) -> None:
        super().bind(method)
        self.teacher = copy.deepcopy(method.encoder).requires_grad_(False)

    @property
    def dim(self) -> int:
        assert self.teacher is not None
        return int(self.teacher.feature_dim)  # type: ignore[arg-type]

    def forward(self, seq: Tensor) -> Tensor:
        assert self.teacher is not None
        teacher: Any = self.teacher
        with torch.no_grad():
            return teacher.encode_tokens(teacher.embed(seq))  # type: ignore[no-any-return]

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        self.steps.append((step, total_steps))


def test_target_can_bind_to_the_method_and_receives_after_step_hooks() -> None:
    encoder = build_transformer(num_frames=16, dim=32, depth=1, num_heads=4)
    target = TeacherTarget()
    method = build_masked_method(
        encoder=encoder, masker=RandomMasker(0.5), target=target, loss=MSELoss(),
        decoder_dim=16, decoder_depth=1, decoder_heads=2,
    )  # fmt: skip
    assert method.decoder.pred.out_features == 32  # the decoder predicts the target's width
    assert "target.teacher.norm.weight" in method.state_dict()  # saved with the method
    loss, _ = method({"x": batch()})
    loss.backward()
    assert target.teacher is not None
    assert all(p.grad is None for p in target.teacher.parameters())
    method.after_optimizer_step(3, 10)
    assert target.steps == [(3, 10)]


def test_ablation_switches_through_config_alone() -> None:
    method = small_method("masker.ratio=0.75", "method.decoder_depth=2", "loss.name=smooth_l1")
    out = method.forward_details(batch())
    assert (~out.masking.mask).sum(dim=1).tolist() == [25] * 4
    assert len(method.decoder.blocks) == 2
    assert isinstance(method.loss_fn, SmoothL1Loss)
    raw = small_method("target.normalize=false")
    assert raw.target.normalize is False


def test_a_tiny_model_learns() -> None:
    torch.manual_seed(0)
    method = small_method("masker.ratio=0.5")
    opt = torch.optim.AdamW(method.parameters(), lr=3e-3)
    x = batch(4)
    noise = torch.rand(8, 100)
    first = float(method.forward_details(x, noise=noise).loss.detach())
    for _ in range(40):
        loss = method.forward_details(x, noise=noise).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(method.forward_details(x, noise=noise).loss.detach()) < 0.7 * first


def test_bad_configuration_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"masker.ratio must be in \[0, 1\)"):
        small_method("masker.ratio=1.0")
    with pytest.raises(ConfigError, match="decoder_depth"):
        small_method("method.decoder_depth=0")
    with pytest.raises(ConfigError, match=r"method\.decoder_dim=32 must be divisible"):
        small_method("method.decoder_heads=5")
    with pytest.raises(ConfigError, match="can not be used by method 'masked'"):
        build_masked_method(
            encoder=nn.Linear(3, 3), masker=RandomMasker(), target=build_coords_target(),
            loss=MSELoss(),
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"loss\.beta"):
        small_method("loss.name=smooth_l1", "loss.beta=0")

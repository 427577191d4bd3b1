"""The MAMP plugin: motion-aware masker, motion target, preset, registration."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from skelkit.config import resolve_config
from skelkit.errors import ConfigError
from skelkit.methods.build import build_method
from skelkit.methods.maskers import build_random_masker
from skelkit.methods.targets import normalize_tokens, patchify
from skelkit.registry import get_registries
from skelkit_mamp.masking import build_motion_aware_masker, motion_logits
from skelkit_mamp.targets import build_motion_target, frame_motion

SMALL = [
    "encoder.num_frames=16",
    "encoder.dim=32",
    "encoder.depth=1",
    "encoder.num_heads=4",
    "method.decoder_dim=32",
    "method.decoder_heads=4",
]


def test_registered_through_the_entry_point() -> None:
    regs = get_registries()
    for kind, name in [
        ("maskers", "motion_aware"),
        ("targets", "motion"),
        ("presets", "mamp"),
        ("importers", "mamp"),
    ]:
        entry = regs.get(kind, name)
        assert entry.plugin == "mamp"
        assert entry.dist == "skelkit"


def test_plugin_module_does_not_import_torch() -> None:
    code = "import sys, skelkit_mamp; skelkit_mamp.skelkit_presets(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_motion_logits_follow_the_segment_motion() -> None:
    seq = torch.randn(2, 3, 16, 25)
    patches = patchify(seq, 4)
    logits = motion_logits(patches, tau=0.8)
    assert logits.shape == (2, 100)
    diff = (patches[:, 2] - patches[:, 1]).abs().mean(-1)  # segment 2 vs 1, all joints
    scale = (patches[:, 1:] - patches[:, :-1]).abs().mean(-1).amax((1, 2))
    torch.testing.assert_close(logits[:, 50:75], diff / (scale[:, None] * 0.8 + 1e-10))
    torch.testing.assert_close(logits[:, :25], logits[:, 25:50])  # first segment copied
    assert float(logits.max()) == pytest.approx(1 / 0.8, rel=1e-6)


def test_motion_aware_keeps_74_of_750_and_draws_one_uniform() -> None:
    masker = build_motion_aware_masker(ratio=0.9, tau=0.8)
    patches = patchify(torch.randn(4, 3, 120, 25).cumsum(2), 4)
    torch.manual_seed(11)
    drawn = masker(patches)
    after = torch.random.get_rng_state()
    torch.manual_seed(11)
    u = torch.rand(4, 750)
    assert torch.equal(torch.random.get_rng_state(), after)
    given = masker(patches, noise=u)
    assert torch.equal(drawn.mask, given.mask)
    assert (~given.mask).sum(dim=1).tolist() == [74] * 4
    scores = torch.log(torch.softmax(motion_logits(patches, 0.8), -1)) - torch.log(
        -torch.log(u + 1e-10) + 1e-10
    )
    assert torch.equal(given.ids_keep, torch.argsort(scores, dim=1)[:, :74])


def test_an_empty_person_is_masked_at_random() -> None:
    patches = torch.zeros(3, 30, 25, 12)
    u = torch.rand(3, 750)
    aware = build_motion_aware_masker(ratio=0.9, tau=0.75)(patches, noise=u)
    plain = build_random_masker(ratio=0.9)(patches, noise=u)
    assert torch.equal(aware.mask, plain.mask)


def test_moving_tokens_are_masked_more_often() -> None:
    seq = torch.zeros(1, 3, 120, 25)
    seq[:, :, :, :5] = torch.randn(1, 3, 120, 5).cumsum(2)  # joints 0-4 move, the rest stand
    patches = patchify(seq, 4).expand(400, -1, -1, -1)
    torch.manual_seed(0)
    mask = build_motion_aware_masker(ratio=0.5, tau=0.8)(patches).mask.float().mean(0)
    grid = mask.view(30, 25)
    assert float(grid[:, :5].mean()) > float(grid[:, 5:].mean()) + 0.1


def test_motion_target() -> None:
    seq = torch.randn(2, 3, 16, 25)
    motion = frame_motion(seq)
    torch.testing.assert_close(motion[:, :, 3], seq[:, :, 4] - seq[:, :, 3])
    assert torch.all(motion[:, :, -1] == 0)
    stride2 = frame_motion(seq, 2)
    torch.testing.assert_close(stride2[:, :, 5], seq[:, :, 7] - seq[:, :, 5])
    assert torch.all(stride2[:, :, -2:] == 0)
    method = build_method(resolve_config(get_registries(), preset="mamp", overrides=SMALL))
    target = build_motion_target(stride=1)
    target.bind(method)
    out = target(seq)
    assert out.shape == (2, 100, 12)
    assert target.dim == 12
    expected = normalize_tokens(patchify(motion, 4).reshape(2, 100, 12), 1e-6)
    torch.testing.assert_close(out, expected)
    # a last-segment token: frames 12..15 of joint 0, with the final frame's motion 0
    raw = motion[1, :, 12:16, 0].t().reshape(12)
    torch.testing.assert_close(out[1, 75], (raw - raw.mean()) / (raw.var() + 1e-6).sqrt())


@pytest.mark.parametrize(
    ("dataset", "depth", "tau"),
    [("ntu60", 3, 0.8), ("ntu120", 5, 0.75), ("pkummd1", 5, 0.8), ("pkummd2", 5, 0.8)],
)
def test_preset_per_dataset(dataset: str, depth: int, tau: float) -> None:
    cfg = resolve_config(get_registries(), preset="mamp", dataset=dataset)
    assert cfg["recipe"] == "ctrgcn"
    assert cfg["method"]["decoder_depth"] == depth
    assert cfg["masker"] == {"name": "motion_aware", "ratio": 0.9, "tau": tau}
    assert cfg["target"]["name"] == "motion"
    assert cfg["target"]["stride"] == 1
    assert cfg["encoder"]["num_frames"] == 120
    assert cfg["encoder"]["segment_length"] == 4
    assert cfg["train_transform"]["name"] == "mamp_train"
    assert cfg["train_transform"]["window"] == 120
    assert cfg["test_transform"] == {"name": "mamp_test", "window": 120, "ratio": 0.95}
    train = cfg["train"]
    assert (train["epochs"], train["batch_size"], train["warmup_epochs"]) == (400, 128, 20.0)
    assert (train["lr"], train["min_lr"], train["weight_decay"]) == (1e-3, 5e-4, 0.05)
    assert train["optimizer"] == "adamw"
    assert list(train["betas"]) == [0.9, 0.95]
    assert train["schedule"] == "cosine"
    assert train["clip_grad"] is None


def test_ablations_on_the_preset() -> None:
    regs = get_registries()
    cfg = resolve_config(
        regs, preset="mamp", dataset="ntu120",
        overrides=["masker.name=random", "target.name=coords", "masker.ratio=0.8"],
    )  # fmt: skip
    assert cfg["masker"] == {"name": "random", "ratio": 0.8}  # tau dropped with the swap
    assert cfg["target"]["name"] == "coords"
    cfg = resolve_config(
        regs,
        preset="mamp",
        overrides=["masker.tau=0.5", "target.stride=2", "method.decoder_depth=1"],
    )
    assert (cfg["masker"]["tau"], cfg["target"]["stride"]) == (0.5, 2)
    assert cfg["method"]["decoder_depth"] == 1


def test_a_mamp_training_step() -> None:
    torch.manual_seed(0)
    method = build_method(resolve_config(get_registries(), preset="mamp", overrides=SMALL))
    x = torch.randn(2, 3, 16, 25, 2).cumsum(2) * 0.05
    x[1, ..., 1] = 0  # an empty second person
    loss, logs = method({"x": x})
    loss.backward()
    assert torch.isfinite(loss)
    assert float(logs["loss"]) > 0
    assert method.encoder.joints_embed.proj.weight.grad is not None


def test_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"masker\.tau must be > 0"):
        build_motion_aware_masker(tau=0.0)
    with pytest.raises(ConfigError, match=r"target\.stride"):
        build_motion_target(stride=0)
    with pytest.raises(ConfigError, match=r"masker\.ratio"):
        build_motion_aware_masker(ratio=-0.1)

"""The PCM3 plugin: registration, preset, the method's routing and state, training via the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.config import resolve_config
from skelkit.errors import ConfigError
from skelkit.methods.build import build_method
from skelkit.registry import get_registries
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from skelkit_pcm3.masking import BODY_PARTS, build_body_part_masker, part_joints
from skelkit_pcm3.method import StepDraws
from skelkit_pcm3.mixing import MixDraw, draw_mix, mix_view
from tests.engine_utils import make_store
from tests.pcm3_utils import TINY, tiny_method

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()


def views(n: int = 5, t: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 9, t, 25, 2).cumsum(2) * 0.05
    v1, v2, v3 = x.split(3, dim=1)
    return v1, v2, v3


DRAWS = StepDraws(
    parts=[[0, 1, 2]] * 8,
    mix=MixDraw(shift=1, parts=(0, 2), span=8, start=2, p=0.9, lam=0.0),
    offsets={"q": 1, "mp": 2, "mask_q": 3, "recons_q": 4, "pc": 5, "k": 6},
)


def test_registered_through_the_entry_point() -> None:
    regs = get_registries()
    for kind, name in [
        ("encoders", "gru"),
        ("maskers", "body_parts"),
        ("losses", "infonce"),
        ("losses", "queue_kl"),
        ("methods", "pcm3"),
        ("presets", "pcm3"),
        ("transforms", "pcm3_views"),
        ("transforms", "pcm3_test"),
        ("recipes", "agcn"),
        ("importers", "pcm3"),
    ]:
        entry = regs.get(kind, name)
        assert entry.plugin == "pcm3"


def test_plugin_module_does_not_import_torch() -> None:
    code = (
        "import sys, skelkit_pcm3; list(skelkit_pcm3.skelkit_presets()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_preset_is_the_official_recipe() -> None:
    config = resolve_config(get_registries(), preset="pcm3")
    train = config["train"]
    assert (train["optimizer"], train["lr"], train["momentum"]) == ("sgd", 0.02, 0.9)
    assert (train["weight_decay"], train["no_decay_1d"]) == (1e-4, False)
    assert (train["schedule"], train["milestones"], train["gamma"]) == ("step", [351], 0.1)
    assert (train["epochs"], train["batch_size"], train["warmup_epochs"]) == (451, 128, 0.0)
    assert config["method"]["queue_size"] == 16384
    assert config["method"]["momentum"] == 0.999
    assert config["loss"] == {"name": "infonce", "temperature": 0.07}
    assert config["encoder"]["hidden_size"] == 1024
    assert config["recipe"] == "agcn"


def test_prompted_variant_routes_the_predicted_view_into_the_decoder_only() -> None:
    torch.manual_seed(0)
    method = tiny_method()
    out = method.forward_views(*views(), draws=DRAWS)
    ce = method.contrast.from_logits
    ce(out.logits["recons"]).backward(retain_graph=True)
    assert method.decoder.reconstruction.weight.grad.abs().sum() > 0
    assert method.predictor[0].weight.grad.abs().sum() > 0
    assert method.mp_prompt.grad is None  # the decoder's input was detached
    assert method.mask_prompt.grad is None
    method.zero_grad(set_to_none=True)
    out.terms["loss_rec"].backward()
    assert method.mp_prompt.grad is not None
    assert method.encoder.layers[0].forward_gru.weight_ih_l0.grad.abs().sum() > 0
    assert method.cl_prompt.grad is None  # the reconstruction does not use the cl prompt


def test_plain_variant_for_motion_has_no_prompts_and_no_kl_in_the_loss() -> None:
    torch.manual_seed(0)
    method = tiny_method("encoder.stream=motion")
    assert not method.prompted
    assert not any("prompt" in name for name, _ in method.named_parameters())
    out = method.forward_views(*views(), draws=DRAWS)
    terms = out.terms
    expected = terms["loss_base"] + terms["loss_mix"] + terms["loss_mp"] + 40 * terms["loss_rec"]
    torch.testing.assert_close(out.loss, expected)
    assert terms["loss_kl"] > 0
    method.contrast.from_logits(out.logits["recons"]).backward()
    assert method.decoder.reconstruction.weight.grad is None  # the predicted view is detached


def test_prompted_loss_adds_the_kl_term_and_the_mp_terms() -> None:
    torch.manual_seed(1)
    out = tiny_method().forward_views(*views(), draws=DRAWS)
    t = out.terms
    total = t["loss_base"] + t["loss_mix"] + t["loss_mp"] + t["loss_kl"] + 40 * t["loss_rec"]
    torch.testing.assert_close(out.loss, total)


def test_momentum_update_moves_parameters_not_batchnorm_statistics() -> None:
    torch.manual_seed(2)
    method = tiny_method()
    with torch.no_grad():
        for param in method.encoder.parameters():
            param.add_(1.0)
        method.encoder.input_norm.running_mean.fill_(5.0)
    before = [p.clone() for p in method.key_encoder.parameters()]
    method.after_optimizer_step(1, 10)
    for old, key, query in zip(
        before, method.key_encoder.parameters(), method.encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(key, 0.999 * old + 0.001 * query)
    assert torch.equal(method.key_encoder.input_norm.running_mean, torch.zeros(150))
    assert not any(p.requires_grad for p in method.key_encoder.parameters())
    assert not any(p.requires_grad for p in method.key_projector.parameters())


def test_queue_is_a_ring_of_plain_keys() -> None:
    torch.manual_seed(3)
    method = tiny_method()
    method.queue_ptr.fill_(38)
    out = method.forward_views(*views(), draws=DRAWS)
    torch.testing.assert_close(method.queue[:, 38:], out.key[:2].T)
    torch.testing.assert_close(method.queue[:, :3], out.key[2:].T)
    assert int(method.queue_ptr) == 3
    assert "queue" in method.state_dict()
    assert "queue_ptr" in method.state_dict()


def test_body_part_masker() -> None:
    masker = build_body_part_masker()
    torch.manual_seed(4)
    draw = masker.draw()
    assert len(draw) == 8
    assert all(len(parts) == 3 for parts in draw)
    visible = masker.visible(64, draw=draw)
    for i, parts in enumerate(draw):
        hidden = (visible[i * 8 : (i + 1) * 8] == 0).all(dim=0).nonzero().flatten().tolist()
        assert hidden == part_joints(parts)
    assert sorted(j for part in BODY_PARTS for j in part) == list(range(25))
    # In the core masked method every row keeps the same tokens.
    result = masker(torch.zeros(4, 16, 25, 12))
    assert result.mask.shape == (4, 400)
    assert (result.mask == result.mask[0]).all()
    assert result.ids_keep.shape[1] == int((~result.mask[0]).sum())


def test_body_part_masker_on_the_mamp_preset() -> None:
    small = [
        "masker.name=body_parts",
        "masker.chunks=4",
        "encoder.num_frames=16",
        "encoder.dim=32",
        "encoder.depth=1",
        "encoder.num_heads=4",
        "method.decoder_dim=32",
        "method.decoder_heads=4",
    ]
    method = build_method(resolve_config(get_registries(), preset="mamp", overrides=small))
    loss, logs = method({"x": torch.randn(2, 3, 16, 25, 2).cumsum(2) * 0.05})
    loss.backward()
    assert torch.isfinite(loss)
    assert 0.3 < float(logs["mask_ratio"]) < 0.9


def test_mixing_swaps_regions_and_reports_their_share() -> None:
    x = torch.randn(4, 3, 64, 25, 2)
    draw = MixDraw(shift=1, parts=(3,), span=7, start=2, p=0.8, lam=0.0)
    partner, mixed, lam = mix_view(x, draw)
    joints = part_joints((3,))
    assert partner.tolist() == [1, 2, 3, 0]
    assert torch.equal(mixed[:, :, 8:36, joints], x[partner][:, :, 8:36, joints])
    outside = torch.ones(64, 25, dtype=torch.bool)
    outside[8:36, joints] = False
    assert torch.equal(mixed[:, :, outside], x[:, :, outside])
    assert float(lam) == pytest.approx(7 * 4 / (16 * 25))
    _, mixup, lam = mix_view(x, MixDraw(1, (0, 1), 7, 0, p=0.1, lam=0.25))
    torch.testing.assert_close(mixup, 0.75 * x + 0.25 * x[partner])
    torch.manual_seed(5)
    for _ in range(20):
        d = draw_mix(6, 64)
        assert 1 <= d.shift <= 4
        assert 2 <= len(d.parts) <= 3
        assert 7 <= d.span <= 11
        assert 0 <= d.start <= 16 - d.span


def test_user_errors_are_config_errors() -> None:
    method = tiny_method()
    with pytest.raises(ConfigError, match="three views"):
        method({"x": torch.zeros(4, 3, 64, 25, 2)})
    with pytest.raises(ConfigError, match="needs the gru encoder"):
        resolve_and_build(["encoder.name=transformer"])
    with pytest.raises(ConfigError, match=r"method\.variant"):
        tiny_method("method.variant=fancy")
    with pytest.raises(ConfigError, match=r"method\.prompt_size"):
        tiny_method("method.prompt_size=16")


def resolve_and_build(overrides: list[str]) -> object:
    config = resolve_config(get_registries(), preset="pcm3", overrides=[*TINY[1:], *overrides])
    return build_method(config)


SETTINGS = ["train.num_workers=0", "train.log_every=1", "train.save_every=1"]


def test_pretrain_and_resume_through_the_cli(tmp_path: Path) -> None:
    store = make_store(tmp_path / "tiny.h5", train=12, test=4, recipe="agcn")
    out, resumed_out = tmp_path / "run", tmp_path / "resumed"
    args: list[str | Path] = [
        "pretrain",
        "--plugin",
        "pcm3",
        "--data",
        str(store),
        "--split",
        "xsub",
        "--out",
        out,
        "--batch-size",
        "6",
        "--device",
        "cpu",
        "--json",
        *[a for item in [*TINY, *SETTINGS] for a in ("--set", item)],
    ]
    result = runner.invoke(get_app(), [*map(str, args), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "recipe" not in result.stderr  # the store has the preset's recipe: no warning
    summary = json.loads(result.stdout)
    assert summary["steps"] == 4
    final = load_checkpoint(out / "checkpoints" / "last.pt")
    assert int(final["model"]["queue_ptr"]) == 24
    assert final["config"]["method"]["name"] == "pcm3"
    assert final["config"]["train_transform"]["name"] == "pcm3_views"
    encoder = load_encoder(final)
    assert encoder(torch.randn(2, 3, 64, 25, 2)).shape == (2, 32)
    # Resume from the end of epoch 1: the same model, queue included, as without a stop.
    shutil.copytree(out, resumed_out)
    shutil.copy(out / "checkpoints" / "epoch-0001.pt", resumed_out / "checkpoints" / "last.pt")
    (resumed_out / "checkpoints" / "epoch-0002.pt").unlink()
    resumed_args = [resumed_out if a == out else a for a in args]
    result = runner.invoke(get_app(), [*map(str, resumed_args), "--epochs", "2", "--resume"])
    assert result.exit_code == 0, result.output
    resumed = load_checkpoint(resumed_out / "checkpoints" / "last.pt")
    assert resumed["step"] == 4
    for key, value in final["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_full_size_model_has_the_official_parameter_count() -> None:
    method = build_method(resolve_config(get_registries(), preset="pcm3"))
    trainable = sum(p.numel() for p in method.parameters() if p.requires_grad)
    assert trainable == 54_000_282  # the official MoCo model's trainable total
    assert sum(p.numel() for p in method.encoder.parameters()) == 44_998_956  # GRU + input BN
    assert method.queue.shape == (128, 16384)

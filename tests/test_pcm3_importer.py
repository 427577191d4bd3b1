"""``skelkit import-weights pcm3``: official PCM3 checkpoints, read safely, same features."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from skelkit_pcm3.importer import import_pcm3_checkpoint
from tests.test_pcm3_encoder import official_gru_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()


class Unsafe:
    """A class pickled by reference: loading it would run code of this module."""


def official_checkpoint(path: Path, hidden: int, ddp: bool = True) -> tuple[nn.GRU, nn.BatchNorm1d]:
    """An official pretraining checkpoint (the MoCo state dict layout) with random weights."""
    torch.manual_seed(3)
    gru = nn.GRU(150, hidden, num_layers=3, bidirectional=True, batch_first=True)
    norm = nn.BatchNorm1d(150)
    norm.running_mean.uniform_(-0.5, 0.5)
    norm.running_var.uniform_(0.2, 3.0)
    norm.num_batches_tracked.fill_(1234)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.3, 0.3)
    width = 2 * hidden
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    state["cl_prompt"] = torch.randn(1, 256)
    state["base_prompt"] = torch.randn(1, 1, 150)
    state["queue"] = torch.randn(128, 64)
    state["queue_ptr"] = torch.zeros(1, dtype=torch.long)
    for enc in ("encoder_q", "encoder_k"):
        for key, value in gru.state_dict().items():
            state[f"{enc}.encoder.gru.{key}"] = value.clone()
        state[f"{enc}.fc.0.weight"] = torch.randn(width, width)
        state[f"{enc}.fc.0.bias"] = torch.randn(width)
        state[f"{enc}.fc.2.weight"] = torch.randn(128, width)
        state[f"{enc}.fc.2.bias"] = torch.randn(128)
        for key, value in norm.state_dict().items():
            state[f"{enc}.input_norm.{key}"] = value.clone()
    state["linear.0.weight"] = torch.randn(512, width)
    state["recons_decoder.reconstruction.weight"] = torch.randn(150, 512)
    if ddp:
        state = OrderedDict((f"module.{k}", v) for k, v in state.items())
    optimizer = {"state": {}, "param_groups": [{"lr": 0.002, "momentum": 0.9, "params": [0, 1]}]}
    torch.save({"epoch": 451, "state_dict": state, "optimizer": optimizer}, path)
    return gru, norm.eval()


@pytest.mark.slow
def test_import_gives_the_official_features_at_full_size(tmp_path: Path) -> None:
    source = tmp_path / "checkpoint_0450.pth.tar"
    gru, norm = official_checkpoint(source, hidden=1024)
    out = tmp_path / "pcm3.pt"
    result = runner.invoke(get_app(), ["import-weights", "pcm3", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(out)
    assert ckpt["skelkit"]["kind"] == "imported"
    assert ckpt["epoch"] == 451
    assert ckpt["recipe"] == "agcn"
    assert ckpt["config"]["encoder"]["hidden_size"] == 1024
    assert ckpt["config"]["encoder"]["stream"] == "joint"
    assert all(k.startswith("encoder.") for k in ckpt["model"])
    assert not any(".fc" in k or "prompt" in k for k in ckpt["model"])
    assert len(ckpt["model"]) == 4 * 6 + 5  # GRU tensors + input BatchNorm
    encoder = load_encoder(out)
    x = torch.randn(2, 3, 64, 25, 2)
    with torch.no_grad():
        expected = official_gru_features(gru, norm, x)
        got = encoder(x)
    assert got.shape == (2, 2048)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_plain_keys_stream_from_the_name_and_small_width(tmp_path: Path) -> None:
    folder = tmp_path / "PCM3_woprompt_motion_xsub"
    folder.mkdir()
    source = folder / "checkpoint_0100.pth.tar"
    gru, norm = official_checkpoint(source, hidden=16, ddp=False)
    ckpt = import_pcm3_checkpoint(source)
    assert ckpt["config"]["encoder"]["stream"] == "motion"
    assert ckpt["config"]["encoder"]["hidden_size"] == 16
    encoder = load_encoder(ckpt)
    x = torch.randn(2, 3, 12, 25, 2)
    motion = torch.zeros_like(x)
    motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), official_gru_features(gru, norm, motion))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {}, "payload": Unsafe()}, source)
    result = runner.invoke(
        get_app(), ["import-weights", "pcm3", str(source), "--out", str(tmp_path / "x.pt")]
    )
    assert result.exit_code == 2
    assert "never executes pickled code" in result.output
    assert not (tmp_path / "x.pt").exists()


def test_other_files_get_one_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "mamp.pth"
    torch.save({"model": {"pos_embed": torch.zeros(1)}}, source)
    missing = tmp_path / "missing.pth.tar"
    for path, message in ((source, "not a PCM3 GRU checkpoint"), (missing, "does not exist")):
        result = runner.invoke(
            get_app(), ["import-weights", "pcm3", str(path), "--out", str(tmp_path / "x.pt")]
        )
        assert result.exit_code == 2
        assert message in result.output

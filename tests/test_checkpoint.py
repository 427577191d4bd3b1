"""skelkit checkpoints: atomic writes, safe loading, clear errors, encoder rebuilding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from skelkit.errors import DataError
from skelkit.train.checkpoint import (
    header,
    load_checkpoint,
    load_encoder,
    save_checkpoint,
    validate_checkpoint,
)
from tests.engine_utils import TINY_MODEL


def tiny_config() -> dict[str, Any]:
    from skelkit.config import resolve_config
    from skelkit.registry import get_registries

    return resolve_config(get_registries(), overrides=list(TINY_MODEL))


def tiny_checkpoint() -> tuple[dict[str, Any], torch.nn.Module]:
    from skelkit.methods.build import build_method

    config = tiny_config()
    torch.manual_seed(0)
    method = build_method(config)
    ckpt = {
        "skelkit": header("pretrain"),
        "config": config,
        "model": method.state_dict(),
        "dataset": "ntu60",
        "recipe": "ctrgcn",
        "epoch": 1,
        "step": 3,
    }
    return ckpt, method


def test_round_trip_is_weights_only(tmp_path: Path) -> None:
    ckpt, method = tiny_checkpoint()
    path = tmp_path / "sub" / "last.pt"
    save_checkpoint(path, ckpt)
    raw = torch.load(path, weights_only=True)  # plain data and tensors only
    assert raw["skelkit"] == {"format": 1, "version": raw["skelkit"]["version"], "kind": "pretrain"}
    loaded = load_checkpoint(path)
    assert loaded["config"] == ckpt["config"]
    for key, value in method.state_dict().items():
        assert torch.equal(loaded["model"][key], value)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"skelkit": header("pretrain"), "config": {}, "model": {}, "step": 1})

    def broken_save(obj: object, handle: Any) -> None:
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"skelkit": header("pretrain"), "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pickled code ran",))


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(DataError, match="can not be read"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    good = tmp_path / "good.pt"
    save_checkpoint(good, tiny_checkpoint()[0])
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataError, match="can not be read"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(DataError, match="not a skelkit checkpoint"):
        load_checkpoint(foreign)
    evil = tmp_path / "evil.pt"
    torch.save({"skelkit": Evil()}, evil)
    with pytest.raises(DataError, match="does not execute pickled code"):
        load_checkpoint(evil)


def test_newer_format_is_refused() -> None:
    with pytest.raises(DataError, match="upgrade skelkit"):
        validate_checkpoint({"skelkit": {"format": 99}, "config": {}, "model": {}})
    with pytest.raises(DataError, match="no 'model' entry"):
        validate_checkpoint({"skelkit": header("imported"), "config": {}})


def test_load_encoder_rebuilds_from_the_config(tmp_path: Path) -> None:
    ckpt, method = tiny_checkpoint()
    path = tmp_path / "model.pt"
    save_checkpoint(path, ckpt)
    torch.manual_seed(123)  # a different initialisation: the weights must come from the file
    encoder = load_encoder(path)
    assert not encoder.training
    for key, value in method.encoder.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value)
    x = torch.randn(2, 3, 40, 25, 2)
    method.eval()
    with torch.no_grad():
        assert torch.equal(encoder(x), method.encoder(x))
    from_dict = load_encoder(ckpt)
    assert torch.equal(from_dict.state_dict()["norm.weight"], encoder.state_dict()["norm.weight"])


def test_load_encoder_accepts_encoder_only_weights_and_rejects_damage() -> None:
    ckpt, method = tiny_checkpoint()
    only = {k: v for k, v in ckpt["model"].items() if k.startswith("encoder.")}
    encoder = load_encoder({**ckpt, "model": only})
    assert torch.equal(encoder.state_dict()["norm.weight"], method.encoder.norm.weight)
    damaged = dict(only)
    damaged.pop("encoder.norm.weight")
    with pytest.raises(DataError, match=r"missing \['norm.weight'\]"):
        load_encoder({**ckpt, "model": damaged})
    with pytest.raises(DataError, match="no submodule 'teacher'"):
        load_encoder(ckpt, which="teacher")

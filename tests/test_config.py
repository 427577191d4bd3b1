"""Configuration resolution: precedence, component swaps, validation messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skelkit import MaskerSpec, MethodSpec, PresetSpec, hookimpl
from skelkit.config import (
    config_differences,
    dump_config,
    load_config_file,
    parse_override,
    preset_for_plugins,
    resolve_config,
)
from skelkit.errors import ConfigError
from skelkit.plugins import get_plugin_manager
from skelkit.registry import get_registries


class ToyMethod:
    """A method factory for config tests: records what it was built with."""

    def __init__(self, masker: Any, depth: int = 2, width: float = 1.0) -> None:
        self.masker, self.depth, self.width = masker, depth, width


class SlowMasker:
    def __init__(self, ratio: float = 0.5, tau: float = 0.8, mode: str = "a") -> None:
        self.ratio, self.tau, self.mode = ratio, tau, mode


class PlainMasker:
    def __init__(self, ratio: float = 0.5, flip: bool = False) -> None:
        self.ratio, self.flip = ratio, flip


class ToyPlugin:
    @hookimpl
    def skelkit_methods(self) -> Iterator[MethodSpec]:
        yield MethodSpec("toy", ToyMethod, components=("masker",))

    @hookimpl
    def skelkit_maskers(self) -> Iterator[MaskerSpec]:
        yield MaskerSpec("slow", SlowMasker, defaults={"tau": 0.5})
        yield MaskerSpec("plain", PlainMasker)

    @hookimpl
    def skelkit_presets(self) -> Iterator[PresetSpec]:
        yield PresetSpec(
            "toy",
            config={
                "method": {"name": "toy", "depth": 3},
                "masker": {"name": "slow", "ratio": 0.9, "tau": 0.8},
                "train": {"epochs": 40, "lr": 0.001},
            },
            datasets={"ntu120": {"masker": {"tau": 0.75}, "method": {"depth": 5}}},
            recipe="ctrgcn",
        )


@pytest.fixture
def registries() -> Any:
    get_plugin_manager().register(ToyPlugin(), name="toy")
    return get_registries()


def test_precedence_defaults_preset_dataset_file_set(registries: Any, tmp_path: Path) -> None:
    cfg = resolve_config(registries, preset="toy")
    assert cfg["method"] == {"name": "toy", "depth": 3, "width": 1.0}
    assert cfg["masker"] == {"name": "slow", "ratio": 0.9, "tau": 0.8, "mode": "a"}
    assert cfg["train"]["epochs"] == 40
    assert cfg["recipe"] == "ctrgcn"

    cfg = resolve_config(registries, preset="toy", dataset="ntu120")
    assert cfg["masker"]["tau"] == 0.75
    assert cfg["method"]["depth"] == 5

    first = tmp_path / "a.yaml"
    first.write_text("method: {depth: 6}\ntrain: {epochs: 7}\n")
    second = tmp_path / "b.yaml"
    second.write_text("train: {epochs: 8}\n")
    cfg = resolve_config(
        registries,
        preset="toy",
        dataset="ntu120",
        files=[first, second],
        overrides=["method.depth=9", "masker.mode=b"],
    )
    assert cfg["method"]["depth"] == 9
    assert cfg["train"]["epochs"] == 8
    assert cfg["masker"]["mode"] == "b"


def test_component_defaults_come_from_signature_and_spec(registries: Any) -> None:
    cfg = resolve_config(registries, overrides=["method.name=toy", "masker.name=slow"])
    assert cfg["masker"] == {"name": "slow", "ratio": 0.5, "tau": 0.5, "mode": "a"}


def test_swapping_a_component_drops_keys_meant_for_the_old_one(registries: Any) -> None:
    cfg = resolve_config(
        registries, preset="toy", dataset="ntu120", overrides=["masker.name=plain"]
    )
    assert cfg["masker"] == {"name": "plain", "ratio": 0.5, "flip": False}


def test_unknown_key_names_key_accepted_and_close_match(registries: Any) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(registries, preset="toy", overrides=["masker.tua=0.7"])
    message = str(info.value)
    assert "'masker.tua'" in message
    assert "Did you mean 'masker.tau'?" in message
    assert "Accepted keys: mode, ratio, tau" in message


def test_unknown_plain_key_and_section(registries: Any) -> None:
    with pytest.raises(ConfigError, match=r"Did you mean 'train.epochs'\?"):
        resolve_config(registries, preset="toy", overrides=["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"unknown config section 'trian'.*Did you mean 'train'"):
        resolve_config(registries, preset="toy", overrides=["trian.epochs=3"])


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("masker.ratio=high", "'masker.ratio' must be float"),
        ("method.depth=2.5", "'method.depth' must be int"),
        ("train.epochs=ten", "'train.epochs' must be int"),
        ("masker.mode=[1, 2]", "'masker.mode' must be str"),
    ],
)
def test_bad_types_are_errors(registries: Any, override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        resolve_config(registries, preset="toy", overrides=[override])


def test_ints_are_accepted_for_floats(registries: Any) -> None:
    cfg = resolve_config(registries, preset="toy", overrides=["masker.ratio=1", "train.lr=1"])
    assert cfg["masker"]["ratio"] == 1
    assert cfg["train"]["lr"] == 1


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: 3\n  lr: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")


def test_parse_override_forms() -> None:
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}
    assert parse_override("train.betas=[0.9, 0.95]") == {"train": {"betas": [0.9, 0.95]}}
    assert parse_override("x=") == {"x": None}
    assert parse_override("train.lr=1e-3") == {"train": {"lr": 0.001}}
    assert parse_override("train.lr=2E4") == {"train": {"lr": 20000.0}}
    assert parse_override("a=.5") == {"a": 0.5}
    assert parse_override("a=1_000") == {"a": 1000}
    assert parse_override("a=abc1e3") == {"a": "abc1e3"}
    for bad in ("novalue", "=3", "a..b=1"):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_override(bad)


def test_preset_for_plugins(registries: Any) -> None:
    assert preset_for_plugins(registries, ["toy"]) == "toy:toy"
    assert preset_for_plugins(registries, []) is None


def test_dump_and_diff(registries: Any) -> None:
    a = resolve_config(registries, preset="toy")
    b = resolve_config(registries, preset="toy", overrides=["train.epochs=1"])
    assert "epochs: 40" in dump_config(a)
    assert config_differences(a, b) == ["train.epochs: 40 -> 1"]

"""The plugin system: in-process registration, entry points, failures, disabling, clashes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from skelkit import MaskerSpec, PresetSpec, hookimpl
from skelkit.errors import PluginError
from skelkit.plugins import get_plugin_manager
from skelkit.registry import get_registries
from tests.conftest import FIXTURES, pip_install_target, run_skelkit


class _Plugin:
    """An in-process plugin providing one masker."""

    def __init__(self, masker: str, factory: str = "skelkit.methods.maskers:RandomMasker") -> None:
        self.masker = masker
        self.factory = factory

    @hookimpl
    def skelkit_maskers(self) -> Iterator[MaskerSpec]:
        yield MaskerSpec(self.masker, self.factory, summary="test masker")


def test_in_process_registration_gives_provenance() -> None:
    manager = get_plugin_manager()
    manager.register(_Plugin("unit_masker"), name="unit")
    entry = get_registries().get("maskers", "unit_masker")
    assert entry.plugin == "unit"
    assert entry.qualified == "unit:unit_masker"
    assert entry.spec.summary == "test masker"
    manager.unregister("unit")
    with pytest.raises(PluginError, match="unknown masker 'unit_masker'"):
        get_registries().get("maskers", "unit_masker")


def test_unknown_component_suggests_close_match() -> None:
    manager = get_plugin_manager()
    manager.register(_Plugin("temporal_block"), name="unit")
    with pytest.raises(PluginError) as info:
        get_registries().get("maskers", "temporal_blok")
    message = str(info.value)
    assert "Did you mean 'temporal_block'?" in message
    assert "Available:" in message


def test_clash_names_both_providers_and_qualified_names_resolve() -> None:
    manager = get_plugin_manager()
    manager.register(_Plugin("shared"), name="first")
    manager.register(_Plugin("shared"), name="second")
    with pytest.raises(PluginError) as info:
        get_registries().get("maskers", "shared")
    message = str(info.value)
    assert "plugin 'first'" in message
    assert "plugin 'second'" in message
    assert "'first:shared'" in message
    assert get_registries().get("maskers", "second:shared").plugin == "second"


def test_wrong_spec_type_is_reported() -> None:
    class Bad:
        @hookimpl
        def skelkit_maskers(self) -> list[PresetSpec]:
            return [PresetSpec("oops", config={})]

    get_plugin_manager().register(Bad(), name="bad")
    with pytest.raises(PluginError, match="expected MaskerSpec"):
        get_registries()


def test_hook_that_raises_marks_plugin_failed(capsys: pytest.CaptureFixture[str]) -> None:
    class Raising:
        @hookimpl
        def skelkit_maskers(self) -> list[MaskerSpec]:
            raise RuntimeError("boom")

    manager = get_plugin_manager()
    manager.register(Raising(), name="raising")
    get_registries()
    assert manager.records["raising"].status == "failed"
    assert "boom" in (manager.records["raising"].error or "")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "raising" in err


def test_require_unknown_plugin_suggests() -> None:
    with pytest.raises(PluginError, match="Did you mean 'mamp'"):
        get_plugin_manager().require("mampp")


def test_shipped_plugins_load_through_entry_points() -> None:
    records = get_plugin_manager().records
    for name in ("mamp", "skeleton2vec", "pcm3"):
        assert records[name].status == "ok", records[name]
        assert records[name].builtin
        assert records[name].dist == "skelkit"


@pytest.fixture(scope="module")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example and broken fixture packages, really pip-installed into one folder."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(FIXTURES / "skelkit-example", target)
    pip_install_target(FIXTURES / "skelkit-broken", target)
    return target


def _env(site: Path, load: str = "example,broken") -> dict[str, str]:
    return {"PYTHONPATH": str(site), "SKELKIT_LOAD_PLUGINS": load}


@pytest.mark.integration
def test_pip_installed_plugin_is_found(installed_plugins: Path) -> None:
    result = run_skelkit("plugins", "--json", env=_env(installed_plugins, "example"))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["example"]["status"] == "ok"
    assert rows["example"]["dist"] == "skelkit-example"
    assert rows["example"]["version"] == "0.1.0"
    assert rows["example"]["provides"] == {"maskers": ["temporal_block"]}
    components = run_skelkit(
        "components", "maskers", "--json", env=_env(installed_plugins, "example")
    )
    names = {(r["name"], r["plugin"]) for r in json.loads(components.stdout)}
    assert ("temporal_block", "example") in names


@pytest.mark.integration
def test_broken_plugin_is_skipped_with_one_line(installed_plugins: Path) -> None:
    result = run_skelkit("plugins", "--json", env=_env(installed_plugins))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["broken"]["status"] == "failed"
    assert "ModuleNotFoundError" in rows["broken"]["error"]
    assert rows["example"]["status"] == "ok"
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1
    assert "plugin 'broken' (skelkit-broken 0.0.1) failed to load" in warnings[0]
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_asking_for_broken_plugin_fails_cleanly(installed_plugins: Path) -> None:
    result = run_skelkit("--plugin", "broken", "plugins", env=_env(installed_plugins))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "skelkit: error: plugin 'broken'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr


@pytest.mark.integration
def test_unknown_plugin_exits_2_with_suggestion(installed_plugins: Path) -> None:
    result = run_skelkit("--plugin", "exampel", "plugins", env=_env(installed_plugins))
    assert result.returncode == 2
    assert "Did you mean 'example'?" in result.stderr


@pytest.mark.integration
def test_disable_plugins_env(installed_plugins: Path) -> None:
    env = _env(installed_plugins)
    env["SKELKIT_DISABLE_PLUGINS"] = "broken,example"
    result = run_skelkit("plugins", "--json", env=env)
    assert result.returncode == 0
    assert result.stderr.strip() == ""
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["broken"]["status"] == "disabled"
    assert rows["example"]["status"] == "disabled"
    asked = run_skelkit("--plugin", "example", "plugins", env=env)
    assert asked.returncode == 2
    assert "SKELKIT_DISABLE_PLUGINS" in asked.stderr


@pytest.mark.integration
def test_strict_mode_turns_failure_into_error(installed_plugins: Path) -> None:
    env = _env(installed_plugins)
    env["SKELKIT_STRICT_PLUGINS"] = "1"
    result = run_skelkit("plugins", env=env)
    assert result.returncode == 2
    assert "plugin 'broken'" in result.stderr


def test_example_masker_keeps_whole_segments() -> None:
    import sys

    import torch

    sys.path.insert(0, str(FIXTURES / "skelkit-example"))
    try:
        from skelkit_example.masker import TemporalBlockMasker
    finally:
        sys.path.remove(str(FIXTURES / "skelkit-example"))
        sys.modules.pop("skelkit_example", None)
    patches = torch.zeros(3, 10, 25, 12)
    result = TemporalBlockMasker(ratio=0.7)(patches)
    grid = result.mask.reshape(3, 10, 25)
    assert torch.all(grid.all(dim=2) | (~grid).all(dim=2))  # segments are all-or-nothing
    assert torch.all((~grid).all(dim=2).sum(dim=1) == 3)


def test_namespace_like_objects_are_not_plugins() -> None:
    # a plain object without hookimpls registers but provides nothing
    get_plugin_manager().register(SimpleNamespace(), name="empty")
    assert "empty" not in {e.plugin for e in get_registries()["maskers"]}

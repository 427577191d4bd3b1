"""The core command line: version, plugins, components, config show, errors, completions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skelkit import __version__, hookimpl
from skelkit.cli.app import get_app
from skelkit.plugins import get_plugin_manager
from tests.conftest import ROOT, run_skelkit

runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(get_app(), list(args))


def test_version_lists_core_and_plugins() -> None:
    result = runner.invoke(get_app(), ["--version"])
    assert result.exit_code == 0
    assert f"skelkit {__version__}" in result.stdout
    for name in ("mamp", "skeleton2vec", "pcm3"):
        assert f"plugin {name} {__version__}" in result.stdout


def test_plugins_json_is_clean_stdout() -> None:
    result = runner.invoke(get_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = {row["name"] for row in rows}
    assert {"mamp", "skeleton2vec", "pcm3"} <= names
    assert set(rows[0]) >= {"name", "dist", "version", "status", "error", "provides"}


def test_plugins_table_goes_to_stderr() -> None:
    result = runner.invoke(get_app(), ["plugins"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "mamp" in result.stderr


def test_components_filter_and_kind_validation() -> None:
    result = runner.invoke(get_app(), ["components", "maskers", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows
    assert all(row["kind"] == "maskers" for row in rows)
    bad = runner.invoke(get_app(), ["components", "maskerz"])
    assert bad.exit_code == 2
    assert "unknown component kind 'maskerz'" in bad.stderr


def test_config_show_prints_resolved_yaml_with_overrides() -> None:
    result = runner.invoke(
        get_app(), ["config", "show", "--set", "train.epochs=3", "--set", "masker.ratio=0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "epochs: 3" in result.stdout
    assert "ratio: 0.5" in result.stdout
    assert "name: masked" in result.stdout


def test_config_errors_exit_2_without_traceback() -> None:
    result = runner.invoke(get_app(), ["config", "show", "--set", "train.epoch=3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("skelkit: error: unknown config key 'train.epoch'")
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_config_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(get_app(), ["config", "show", "-c", str(missing)])
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr


def test_debug_shows_traceback() -> None:
    result = runner.invoke(get_app(), ["--debug", "config", "show", "--set", "train.epoch=3"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_plugin_option_before_and_after_subcommand() -> None:
    before = runner.invoke(get_app(), ["--plugin", "mamp", "config", "show"])
    after = runner.invoke(get_app(), ["config", "show", "--plugin", "mamp"])
    assert before.exit_code == 0, before.output
    assert before.stdout == after.stdout
    unknown = runner.invoke(get_app(), ["config", "show", "--plugin", "mampp"])
    assert unknown.exit_code == 2
    assert "Did you mean 'mamp'?" in unknown.stderr


def test_plugin_commands_hook_adds_a_command() -> None:
    class Commands:
        @hookimpl
        def skelkit_commands(self, app: object) -> None:
            @app.command("hello")  # type: ignore[attr-defined]
            def hello() -> None:
                """Say hello."""
                print("hello from a plugin")

    get_plugin_manager().register(Commands(), name="commands")
    from skelkit.cli.app import reset_app

    reset_app()
    result = runner.invoke(get_app(), ["hello"])
    assert result.exit_code == 0
    assert "hello from a plugin" in result.stdout


@pytest.mark.integration
def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from skelkit.cli.app import main\n"
        "sys.argv = ['skelkit', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'h5py', 'numpy'})\n"
        "print('HEAVY', bad)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-500:]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("shell", "filename"),
    [("bash", "skelkit.bash"), ("zsh", "_skelkit"), ("fish", "skelkit.fish")],
)
def test_completion_scripts_are_current(shell: str, filename: str) -> None:
    result = run_skelkit(env={"_SKELKIT_COMPLETE": f"source_{shell}"})
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "completions" / filename).read_text()
    assert result.stdout == committed, f"completions/{filename} is stale: regenerate it"


@pytest.mark.integration
def test_completion_lists_plugins_and_component_names() -> None:
    plugins = run_skelkit(
        env={
            "_SKELKIT_COMPLETE": "complete_bash",
            "COMP_WORDS": "skelkit --plugin m",
            "COMP_CWORD": "2",
        }
    )
    assert "mamp" in plugins.stdout.split()
    maskers = run_skelkit(
        env={
            "_SKELKIT_COMPLETE": "complete_bash",
            "COMP_WORDS": "skelkit config show --set masker.name=",
            "COMP_CWORD": "4",
        }
    )
    assert "masker.name=random" in maskers.stdout.split()

"""``skelkit config show``: print the resolved configuration."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_kind, complete_plugins, complete_set

PLUGIN_OPTION = typer.Option(
    [],
    "--plugin",
    "-p",
    help="Use this plugin's preset and components; repeatable.",
    autocompletion=complete_plugins,
)
CONFIG_OPTION = typer.Option(
    [], "--config", "-c", help="YAML config file; repeatable, later files win."
)
SET_OPTION = typer.Option(
    [],
    "--set",
    "-s",
    help="Override one key, e.g. --set masker.ratio=0.75.",
    autocompletion=complete_set,
)
PRESET_OPTION = typer.Option(
    None,
    "--preset",
    help="Preset name (default: the plugin's own).",
    autocompletion=complete_kind("presets"),
)


def resolve_from_options(
    plugin: list[str],
    config: list[Path],
    overrides: list[str],
    dataset: str | None = None,
    preset: str | None = None,
) -> dict[str, object]:
    """Resolve a run's config from the command-line options shared by several commands."""
    from skelkit.config import preset_for_plugins, resolve_config
    from skelkit.plugins import get_plugin_manager
    from skelkit.registry import get_registries

    names = state.requested_plugins(plugin)
    registries = get_registries()
    chosen = preset or preset_for_plugins(registries, names)
    resolved = resolve_config(
        registries, preset=chosen, dataset=dataset, files=config, overrides=overrides
    )
    manager = get_plugin_manager()
    resolved["plugins"] = {n: manager.records[n].version for n in manager.loaded() if "." not in n}
    return resolved


def show(
    plugin: list[str] = PLUGIN_OPTION,
    config: list[Path] = CONFIG_OPTION,
    overrides: list[str] = SET_OPTION,
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        help="Apply the preset's overrides for this dataset (ntu60, ...).",
        autocompletion=complete_kind("datasets"),
    ),
    preset: str | None = PRESET_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the resolved configuration (defaults < preset < dataset preset < -c < --set)."""
    from skelkit.config import dump_config

    resolved = resolve_from_options(plugin, config, overrides, dataset=dataset, preset=preset)
    if json_out:
        state.print_json(resolved)
    else:
        typer.echo(dump_config(resolved), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group."""
    group = typer.Typer(help="Inspect configurations.", no_args_is_help=True)
    group.command("show")(show)
    app.add_typer(group, name="config")

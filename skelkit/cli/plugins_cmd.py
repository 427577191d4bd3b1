"""``skelkit plugins`` and ``skelkit components``: what is installed and who provides it."""

from __future__ import annotations

import fnmatch
from typing import Any

import typer
from rich.table import Table

from skelkit.cli import state
from skelkit.cli.completion import complete_kinds
from skelkit.errors import ConfigError
from skelkit.specs import KINDS


def list_plugins(include_core: bool) -> list[dict[str, Any]]:
    """Every plugin record as plain data (the registries are built to fill ``provides``)."""
    from skelkit.plugins import get_plugin_manager
    from skelkit.registry import get_registries

    manager = get_plugin_manager()
    get_registries()
    records = [
        r for r in manager.records.values() if include_core or not (r.builtin and "." in r.name)
    ]
    return [r.as_dict() for r in records]


def list_components(kind: str | None, pattern: str | None) -> list[dict[str, Any]]:
    """Registered components, optionally of one kind and matching a glob pattern."""
    from skelkit.registry import get_registries

    registries = get_registries()
    kinds = [kind] if kind else list(KINDS)
    rows = []
    for k in kinds:
        for entry in registries[k]:
            if pattern and not fnmatch.fnmatch(entry.name, pattern):
                continue
            rows.append(
                {
                    "kind": k,
                    "name": entry.name,
                    "plugin": entry.plugin,
                    "dist": entry.dist,
                    "version": entry.version,
                    "summary": entry.spec.summary,
                }
            )
    return rows


def plugins(
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    core: bool = typer.Option(False, "--core", help="Also list the core's own modules."),
) -> None:
    """List installed plugins: distribution, version, status and what each provides."""
    rows = list_plugins(include_core=core)
    if json_out:
        state.print_json(rows)
        return
    table = Table(title="skelkit plugins")
    for column in ("name", "distribution", "version", "status", "provides"):
        table.add_column(column)
    for row in rows:
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in row["provides"].items())
        status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row['error']}"
        table.add_row(row["name"], row["dist"] or "", row["version"] or "", status, provides)
    state.err_console().print(table)


def components(
    kind: str | None = typer.Argument(
        None, help="Component kind (maskers, targets, ...).", autocompletion=complete_kinds
    ),
    pattern: str | None = typer.Argument(None, help="Glob on names, e.g. 'motion*'."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List components by kind with the plugin that provides each."""
    if kind is not None and kind not in KINDS:
        singular = {k[:-1]: k for k in KINDS}
        if kind in singular:
            kind = singular[kind]
        else:
            raise ConfigError(f"unknown component kind '{kind}'. Kinds: {', '.join(KINDS)}.")
    rows = list_components(kind, pattern)
    if json_out:
        state.print_json(rows)
        return
    table = Table(title="skelkit components")
    for column in ("kind", "name", "plugin", "summary"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["kind"], row["name"], row["plugin"], row["summary"])
    state.err_console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``plugins`` and ``components`` to the application."""
    app.command("plugins")(plugins)
    app.command("components")(components)

"""The ``skelkit`` typer application: global options, error handling, command registration.

Each command group lives in its own module exposing ``register(app)``; plugins add
commands through the ``skelkit_commands`` hook. Nothing here imports torch.
"""

from __future__ import annotations

import sys
import traceback
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from skelkit import __version__
from skelkit.cli import state
from skelkit.cli.completion import complete_plugins
from skelkit.errors import SkelkitError

#: Core command modules, each with ``register(app: typer.Typer) -> None``.
CORE_COMMAND_MODULES: tuple[str, ...] = (
    "skelkit.cli.plugins_cmd",
    "skelkit.cli.config_cmd",
    "skelkit.cli.import_weights",
    "skelkit.cli.pretrain",
    "skelkit.cli.bench",
    "skelkit.cli.evaluate",
    "skelkit.cli.report",
    "skelkit.cli.demo",
    "skelkit.cli.preprocess",
    "skelkit.cli.synth",
    "skelkit.cli.inspect",
    "skelkit.cli.export",
    "skelkit.cli.embed",
)


def report_error(exc: BaseException) -> None:
    """Print a user error in one line (a traceback too with ``--debug``)."""
    if state.OPTIONS.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    message = str(exc).strip() or type(exc).__name__
    print(f"skelkit: error: {message}", file=sys.stderr)


class SkelkitGroup(TyperGroup):
    """Turns :class:`SkelkitError` into one line on stderr and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SkelkitError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except (TyperException, typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if state.OPTIONS.debug:
                raise
            print(
                f"skelkit: internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback, and please report it)",
                file=sys.stderr,
            )
            raise typer.Exit(1) from None


def _version_text() -> str:
    from skelkit.plugins import get_plugin_manager

    lines = [f"skelkit {__version__}"]
    manager = get_plugin_manager()
    for record in manager.records.values():
        if record.builtin and "." in record.name:
            continue
        version = record.version or "?"
        status = "" if record.status == "ok" else f" ({record.status})"
        lines.append(f"  plugin {record.name} {version}{status}")
    return "\n".join(lines)


def _version_callback(value: bool) -> None:
    if value:
        print(_version_text())
        raise typer.Exit(0)


def _main_callback(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Show the skelkit and plugin versions and exit.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print errors and results."),
    plugin: list[str] = typer.Option(
        [],
        "--plugin",
        "-p",
        help="Use this plugin (its presets and components); repeatable.",
        autocompletion=complete_plugins,
    ),
) -> None:
    """skelkit: self-supervised 3D skeleton action representation learning."""
    state.OPTIONS.debug = debug
    state.OPTIONS.quiet = quiet
    state.OPTIONS.plugins = list(plugin)
    if plugin:
        state.requested_plugins()


def build_app() -> typer.Typer:
    """Create the application with the core and plugin commands."""
    app = typer.Typer(
        name="skelkit",
        cls=SkelkitGroup,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        help="Self-supervised 3D skeleton action representation learning.",
    )
    app.callback()(_main_callback)
    for module_name in CORE_COMMAND_MODULES:
        import_module(module_name).register(app)
    _add_plugin_commands(app)
    return app


def _add_plugin_commands(app: typer.Typer) -> None:
    from skelkit.plugins import get_plugin_manager

    manager = get_plugin_manager()
    for impl in manager.pm.hook.skelkit_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as exc:
            record = manager.records.get(impl.plugin_name)
            if record is not None:
                record.status = "failed"
                record.error = f"skelkit_commands: {type(exc).__name__}: {exc}"
            print(
                f"skelkit: warning: plugin '{impl.plugin_name}' failed to add its commands: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


_APP: typer.Typer | None = None


def get_app() -> typer.Typer:
    """The process-wide application (built on first use)."""
    global _APP
    if _APP is None:
        _APP = build_app()
    return _APP


def reset_app() -> None:
    """Forget the cached application (tests; after the plugin set changed)."""
    global _APP
    _APP = None


def __getattr__(name: str) -> Any:
    if name == "app":
        return get_app()
    raise AttributeError(name)


def main() -> None:
    """Entry point of the ``skelkit`` console script."""
    try:
        app = get_app()
    except SkelkitError as exc:  # a strict-mode plugin failure at start-up
        report_error(exc)
        sys.exit(exc.exit_code)
    app(prog_name="skelkit")

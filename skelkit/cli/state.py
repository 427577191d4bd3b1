"""Options shared by every command (``--debug``, ``--quiet``, ``--plugin``) and the consoles.

Progress and logs go to stderr; machine-readable output (``--json``) goes to stdout.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console


@dataclass
class GlobalOptions:
    """What the top-level callback parsed."""

    debug: bool = False
    quiet: bool = False
    plugins: list[str] = field(default_factory=list)


OPTIONS = GlobalOptions()


def err_console() -> Console:
    """A console on stderr for progress, tables and messages (silent with ``--quiet``)."""
    return Console(stderr=True, quiet=OPTIONS.quiet, highlight=False)


def print_json(data: Any) -> None:
    """Write machine-readable output to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def requested_plugins(extra: list[str] | None = None) -> list[str]:
    """Plugins asked for with ``--plugin``, before the subcommand and on it, in order.

    Each one is checked (unknown or broken plugins raise PluginError).
    """
    from skelkit.plugins import get_plugin_manager

    names: list[str] = []
    for name in [*OPTIONS.plugins, *(extra or [])]:
        if name not in names:
            names.append(name)
    manager = get_plugin_manager()
    for name in names:
        manager.require(name)
    return names

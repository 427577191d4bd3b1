"""The ``skelkit`` command line. Each command group is one module; the library does the work."""

from __future__ import annotations

from skelkit.cli.app import main

__all__ = ["main"]

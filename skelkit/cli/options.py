"""Command-line options several commands share: ``--device`` and ``--precision``."""

from __future__ import annotations

from typing import Any

import typer

from skelkit.cli.completion import complete_choices

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


def device_option(default: str | None, help: str) -> Any:
    """A ``--device`` option (auto, cpu or cuda) with this default and help text."""
    return typer.Option(default, "--device", help=help, autocompletion=complete_choices(*DEVICES))


def precision_option(default: str | None, help: str) -> Any:
    """A ``--precision`` option (fp32, bf16 or fp16) with this default and help text."""
    return typer.Option(
        default, "--precision", help=help, autocompletion=complete_choices(*PRECISIONS)
    )

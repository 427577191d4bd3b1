"""``skelkit report``: evaluation runs side by side (a paper-style table)."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state


def report_command(
    runs: list[Path] = typer.Argument(..., help="--out folders of 'skelkit evaluate' runs."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a markdown table on stdout."),
    json_out: bool = typer.Option(False, "--json", help="Print the runs' metrics as JSON."),
) -> None:
    """Print evaluation runs side by side."""
    from skelkit.evaluate.report import comparison_markdown, comparison_table, load_metrics

    reports = [(run.name or str(run), load_metrics(run)) for run in runs]
    if json_out:
        state.print_json(
            {name: {k: v for k, v in m.items() if k != "history"} for name, m in reports}
        )
    elif markdown:
        typer.echo(comparison_markdown(reports), nl=False)
    else:
        from rich.console import Console

        Console(highlight=False).print(comparison_table(reports))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""
    app.command("report")(report_command)

"""``skelkit demo``: synthesise, preprocess, pretrain MAMP and evaluate it, in minutes."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.options import device_option


def demo_command(
    out: Path = typer.Option(
        Path("skelkit-demo"), "--out", "-o", help="Folder for every file the demo writes."
    ),
    device: str = device_option("auto", "auto, cpu or cuda."),
    samples: int = typer.Option(480, "--samples", help="Synthetic NTU-60 files to write."),
    pretrain_epochs: int = typer.Option(60, "--pretrain-epochs", help="MAMP pretraining epochs."),
    linear_epochs: int = typer.Option(20, "--linear-epochs", help="Linear-probe epochs."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (1 is fastest here)."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout."),
) -> None:
    """Run the main job at a small scale: synthetic NTU-60 -> ctrgcn store -> MAMP
    pretraining -> linear probe and kNN of the pretrained vs the random-initialised
    encoder (under 5 minutes on 2 CPU cores)."""
    from skelkit.demo import DemoOptions, comparison_table, files_table, run_demo

    console = state.err_console()
    options = DemoOptions(
        samples=samples,
        pretrain_epochs=pretrain_epochs,
        linear_epochs=linear_epochs,
        threads=threads,
    )
    result = run_demo(out, device=device, options=options, console=console)
    if json_out:
        state.print_json(
            {
                "out": str(result.out),
                "files": {k: str(v) for k, v in result.files.items()},
                "top1": {key: metrics["final"]["top1"] for key, metrics in result.metrics.items()},
                "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
            }
        )
        return
    from rich.console import Console

    stdout = Console(highlight=False)
    stdout.print(comparison_table(result))
    stdout.print(files_table(result))
    stdout.print(f"compare the evaluations side by side: skelkit report {out / 'eval'}/*")


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""
    app.command("demo")(demo_command)

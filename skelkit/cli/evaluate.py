"""``skelkit evaluate``: run an evaluation protocol (linear, finetune, semi, knn, transfer).

Thin: resolve the config, call :func:`skelkit.evaluate.run.evaluate`, print. Under
``torchrun`` every process runs this command; the test samples are split between them and
rank 0 prints and writes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_choices, complete_splits
from skelkit.cli.config_cmd import CONFIG_OPTION, SET_OPTION


def complete_protocols(incomplete: str) -> list[str]:
    """Shell completion of protocol names."""
    from skelkit.registry import get_registries

    return [n for n in get_registries()["protocols"].names() if n.startswith(incomplete)]


def evaluate_command(
    protocol: str = typer.Argument(
        ..., help="linear, finetune, semi, knn or transfer.", autocompletion=complete_protocols
    ),
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", "-k", help="skelkit checkpoint of the pretrained encoder."
    ),
    data: Path = typer.Option(..., "--data", "-d", help="The skelkit HDF5 store to evaluate on."),
    split: str = typer.Option(
        ...,
        "--split",
        help="Split whose train/test parts are used.",
        autocompletion=complete_splits,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the evaluation's files."),
    config: list[Path] = CONFIG_OPTION,
    overrides: list[str] = SET_OPTION,
    device: str | None = typer.Option(
        None,
        "--device",
        help="auto, cpu or cuda; same as --set protocol.device=D.",
        autocompletion=complete_choices("auto", "cpu", "cuda"),
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the evaluation in --out from checkpoints/last.pt."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print metrics.json on stdout."),
) -> None:
    """Evaluate a pretrained encoder (protocol defaults < checkpoint transforms < -c < --set)."""
    from skelkit.cli.pretrain import check_out_dir, check_store
    from skelkit.evaluate.config import resolve_eval_config
    from skelkit.evaluate.run import evaluate
    from skelkit.train.checkpoint import load_checkpoint
    from skelkit.train.distributed import detect

    is_main = detect().is_main
    console = state.err_console()
    if not is_main:
        console.quiet = True
    check_store(data, split, "train")
    check_store(data, split, "test")
    ckpt = load_checkpoint(checkpoint)
    sets = [*overrides, *([f"protocol.device={device}"] if device else [])]
    resolved = resolve_eval_config(
        protocol,
        ckpt["config"],
        files=config,
        overrides=sets,
        data={"path": str(data), "split": split},
    )
    check_out_dir(out)
    metrics = evaluate(resolved, checkpoint, out, resume=resume, console=console)
    if not is_main:
        return
    if json_out:
        state.print_json({k: v for k, v in metrics.items() if k != "history"})
    else:
        console.print(f"report: {out / 'metrics.json'}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command."""
    app.command("evaluate")(evaluate_command)

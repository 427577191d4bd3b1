"""``skelkit evaluate``: run an evaluation protocol (linear, finetune, semi, knn, transfer),
or ``skelkit evaluate ensemble RUN_DIR RUN_DIR ...`` to add the test logits of evaluations.

Thin: resolve the config, call :func:`skelkit.evaluate.run.evaluate` (or
:func:`skelkit.evaluate.ensemble.run_ensemble`), print. Under ``torchrun`` every process
runs this command; the test samples are split between them and rank 0 prints and writes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_splits
from skelkit.cli.config_cmd import CONFIG_OPTION, SET_OPTION
from skelkit.cli.options import device_option


def complete_protocols(incomplete: str) -> list[str]:
    """Shell completion of protocol names."""
    from skelkit.registry import get_registries

    names = [*get_registries()["protocols"].names(), ENSEMBLE]
    return [n for n in names if n.startswith(incomplete)]


#: The pseudo-protocol that combines finished evaluations instead of evaluating a checkpoint.
ENSEMBLE = "ensemble"


def _require(protocol: str, **options: object) -> None:
    from skelkit.errors import ConfigError

    missing = [f"--{name}" for name, value in options.items() if value is None]
    if missing:
        raise ConfigError(
            f"evaluate {protocol} needs {', '.join(missing)} (see 'skelkit evaluate --help')"
        )


def evaluate_command(
    protocol: str = typer.Argument(
        ...,
        help="linear, finetune, semi, knn, transfer, a plugin's protocol, or ensemble.",
        autocompletion=complete_protocols,
    ),
    run_dirs: list[Path] | None = typer.Argument(
        None, help="ensemble only: the --out folders of the evaluations to combine."
    ),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        "-k",
        help="skelkit checkpoint of the pretrained encoder (required but for ensemble).",
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        help="The skelkit HDF5 store to evaluate on (optional for detection).",
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="Split whose train/test parts are used (required but for ensemble).",
        autocompletion=complete_splits,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the evaluation's files."),
    config: list[Path] = CONFIG_OPTION,
    overrides: list[str] = SET_OPTION,
    device: str | None = device_option(None, "auto, cpu or cuda; same as --set protocol.device=D."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the evaluation in --out from checkpoints/last.pt."
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="Attribute path of the evaluated encoder in the method (default: the method's "
        "downstream encoder; Skeleton2vec: target.teacher, 'encoder' = its student).",
    ),
    weights: list[float] = typer.Option(
        [], "--weight", help="ensemble only: weight of each RUN_DIR's logits (default 1 each)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print metrics.json on stdout."),
) -> None:
    """Evaluate a pretrained encoder (protocol defaults < checkpoint transforms < -c < --set),
    or combine finished evaluations: 'skelkit evaluate ensemble RUN_DIR RUN_DIR --out DIR'."""
    if protocol == ENSEMBLE:
        _reject_unused(
            checkpoint=checkpoint,
            data=data,
            split=split,
            config=config or None,
            set=overrides or None,
            device=device,
            encoder=encoder,
            resume=resume or None,
        )
        _ensemble(list(run_dirs or []), out, weights, json_out)
        return
    if weights:
        from skelkit.errors import ConfigError

        raise ConfigError("--weight is an option of 'evaluate ensemble' only")
    if run_dirs:
        from skelkit.errors import ConfigError

        raise ConfigError(
            f"evaluate {protocol} takes no RUN_DIR arguments (got '{run_dirs[0]}'); only "
            "'evaluate ensemble' combines folders"
        )
    _require(protocol, checkpoint=checkpoint, split=split)
    assert checkpoint is not None
    assert split is not None
    from skelkit.cli.pretrain import check_out_dir, check_store
    from skelkit.evaluate.config import resolve_eval_config
    from skelkit.evaluate.run import evaluate
    from skelkit.train.checkpoint import load_checkpoint
    from skelkit.train.distributed import detect

    is_main = detect().is_main
    console = state.err_console()
    if not is_main:
        console.quiet = True
    if data is not None:
        check_store(data, split, "train")
        check_store(data, split, "test")
    ckpt = load_checkpoint(checkpoint)
    sets = [
        *overrides,
        *([f"protocol.device={device}"] if device else []),
        *([f"protocol.encoder={encoder}"] if encoder else []),
    ]
    resolved = resolve_eval_config(
        protocol,
        ckpt["config"],
        files=config,
        overrides=sets,
        data={"split": split, **({"path": str(data)} if data is not None else {})},
    )
    check_out_dir(out)
    metrics = evaluate(resolved, checkpoint, out, resume=resume, console=console)
    if not is_main:
        return
    if json_out:
        state.print_json({k: v for k, v in metrics.items() if k != "history"})
    else:
        console.print(f"report: {out / 'metrics.json'}")


def _reject_unused(**options: object) -> None:
    from skelkit.errors import ConfigError

    given = [f"--{name}" for name, value in options.items() if value is not None]
    if given:
        raise ConfigError(
            f"evaluate ensemble combines finished evaluations and takes no {', '.join(given)}; "
            "pass RUN_DIR folders, --out and optionally --weight"
        )


def _ensemble(run_dirs: list[Path], out: Path, weights: list[float], json_out: bool) -> None:
    from skelkit.evaluate.ensemble import run_ensemble

    metrics = run_ensemble(run_dirs, out, weights, console=state.err_console())
    if json_out:
        state.print_json(metrics)
    else:
        state.err_console().print(f"report: {out / 'metrics.json'}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command."""
    app.command("evaluate")(evaluate_command)

"""``skelkit detect``: PCM3's temporal action detection on untrimmed PKU-MMD I videos.

Thin: read the checkpoint's encoder and the raw PKU-MMD videos of a split, run
:func:`skelkit_pcm3.detection.run_detection`, print and write ``detection.json``. The same
protocol runs as ``skelkit evaluate detection`` (:mod:`skelkit_pcm3.detection_protocol`),
which writes the evaluation report files. No torch import at module level (the CLI imports
this at start-up).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from skelkit.cli import state
from skelkit.errors import ConfigError, DataError


def parse_sets(overrides: list[str]) -> dict[str, Any]:
    """``--set protocol.KEY=VALUE`` (or ``KEY=VALUE``) pairs for the detection settings."""
    from skelkit.config import parse_override

    values: dict[str, Any] = {}
    for text in overrides:
        parsed = parse_override(text)
        section = parsed.get("protocol", parsed)
        if not isinstance(section, dict):
            raise ConfigError(f"--set '{text}': expected protocol.KEY=VALUE")
        values.update(section)
    return values


def detect_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-k", help="skelkit checkpoint."),
    raw: list[Path] = typer.Option(..., "--raw", help="Raw PKU-MMD folder(s) (skeletons, labels)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for detection.json."),
    dataset: str = typer.Option("pkummd1", "--dataset", help="pkummd1 (the reference) or pkummd2."),
    split: str = typer.Option("xsub", "--split", help="Split whose train/test videos are used."),
    overrides: list[str] = typer.Option(
        [], "--set", help="protocol.KEY=VALUE, e.g. protocol.epochs=60; repeatable."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics as JSON on stdout."),
) -> None:
    """Detect actions in untrimmed PKU-MMD videos with a frozen encoder (mAP_a, mAP_v at 0.5)."""
    from skelkit.train.checkpoint import load_encoder
    from skelkit_pcm3.detection import run_detection
    from skelkit_pcm3.detection_protocol import load_videos
    from skelkit_pcm3.detection_settings import DetectionSettings

    settings = DetectionSettings.from_overrides(parse_sets(overrides))
    train, test, classes = load_videos(raw, dataset, split)
    encoder = load_encoder(checkpoint)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out '{out}' is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    metrics = run_detection(encoder, train, test, classes, settings, device)
    metrics["checkpoint"] = str(checkpoint)
    (out / "detection.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if json_out:
        state.print_json(metrics)
    else:
        state.err_console().print(
            f"mAP_a {100 * metrics['map_actions']:.1f}, mAP_v {100 * metrics['map_videos']:.1f} "
            f"({metrics['videos']} test videos) -> {out / 'detection.json'}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``detect`` command."""
    app.command("detect")(detect_command)

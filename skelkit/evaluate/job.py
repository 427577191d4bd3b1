"""What every protocol receives: the checkpoint, the data, the run folder and the device."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from skelkit.evaluate.data import EvalData
from skelkit.train import distributed as ddp


@dataclass(frozen=True)
class EvalFiles:
    """The files of an evaluation folder."""

    root: Path

    @property
    def config(self) -> Path:
        """The resolved evaluation config."""
        return self.root / "config.yaml"

    @property
    def history(self) -> Path:
        """One JSON object per evaluated epoch (``metrics.jsonl``)."""
        return self.root / "metrics.jsonl"

    @property
    def metrics(self) -> Path:
        """The final report (``metrics.json``)."""
        return self.root / "metrics.json"

    @property
    def last(self) -> Path:
        """The resumable checkpoint, written after every epoch."""
        return self.root / "checkpoints" / "last.pt"

    @property
    def confusion(self) -> Path:
        """The confusion matrix plot."""
        return self.root / "confusion.png"

    @property
    def curves(self) -> Path:
        """Loss and accuracy per epoch."""
        return self.root / "curves.png"


@dataclass
class EvalJob:
    """An evaluation in progress (one per process under torchrun)."""

    config: dict[str, Any]
    checkpoint: dict[str, Any]
    checkpoint_path: Path
    data: EvalData
    files: EvalFiles
    env: ddp.DistEnv
    device: torch.device
    console: Console
    train_transform: Any
    test_transform: Any
    clip_transform: Any

    def log_epoch(self, record: dict[str, Any]) -> None:
        """Append one epoch's record to ``metrics.jsonl`` (rank 0)."""
        if self.env.is_main:
            with self.files.history.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

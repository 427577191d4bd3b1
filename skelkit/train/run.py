"""The files of a run folder, and the checks a resumed run must pass."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skelkit.errors import ConfigError

#: Config keys that may change between a run and its resumption.
RESUMABLE_CHANGES = ("train.num_workers", "train.log_every", "train.device", "plugins")


@dataclass(frozen=True)
class RunFiles:
    """The files of a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        """The resolved config."""
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        """One JSON object per line."""
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        """Folder of the checkpoints."""
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        """The newest resumable checkpoint."""
        return self.checkpoints / "last.pt"

    def epoch(self, epoch: int) -> Path:
        """The checkpoint kept after ``epoch`` completed epochs."""
        return self.checkpoints / f"epoch-{epoch:04d}.pt"


def check_resume_config(ckpt: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> None:
    """Raise ConfigError listing every key where ``config`` differs from the saved one."""
    from skelkit.config import config_differences

    differences = [
        line
        for line in config_differences(ckpt["config"], config)
        if not line.split(":", 1)[0].startswith(RESUMABLE_CHANGES)
    ]
    if differences:
        raise ConfigError(
            f"--resume: the config differs from the one saved in {path}: "
            + "; ".join(differences)
            + ". Resume with the same options, or start a new run in another --out"
        )


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the metrics an interrupted run logged after the checkpoint it resumes from."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if int(record.get("step", 0)) <= step:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

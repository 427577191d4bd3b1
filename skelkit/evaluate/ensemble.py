"""``skelkit evaluate ensemble``: add the test logits of several evaluations.

The usual multi-stream ensemble (joint, motion, bone): every evaluation folder holds
``test_logits.npz`` (:mod:`skelkit.evaluate.logits`); the ensemble checks that they cover
the same test samples with the same labels, adds their logits and reports top-1 / top-5,
per-class accuracy and the confusion matrix in ``metrics.json`` like the other protocols.
Numpy only; nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import skelkit
from skelkit.errors import ConfigError, DataError
from skelkit.evaluate.logits import LOGITS_FILE


@dataclass(frozen=True)
class MemberLogits:
    """The test logits of one evaluation folder."""

    run_dir: Path
    index: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    dataset: str
    split: str
    test_part: str


def load_member(run_dir: Path) -> MemberLogits:
    """Read ``RUN_DIR/test_logits.npz``."""
    path = run_dir / LOGITS_FILE
    if not path.is_file():
        raise DataError(
            f"'{run_dir}' has no {LOGITS_FILE}; pass the --out folder of a finished "
            "'skelkit evaluate linear/finetune/semi/transfer' run (kNN saves no logits)"
        )
    try:
        with np.load(path) as data:
            member = MemberLogits(
                run_dir=run_dir,
                index=np.asarray(data["index"], dtype=np.int64),
                labels=np.asarray(data["labels"], dtype=np.int64),
                logits=np.asarray(data["logits"], dtype=np.float64),
                dataset=str(data["dataset"]),
                split=str(data["split"]),
                test_part=str(data["test_part"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{path}: not a skelkit test-logits file ({exc}); the file is damaged"
        ) from exc
    if member.logits.ndim != 2 or len(member.logits) != len(member.index):
        raise DataError(f"{path}: logits of shape {member.logits.shape} do not fit its index")
    return member


def check_members(members: Sequence[MemberLogits]) -> None:
    """The members must test the same samples (store, split, order) with the same labels."""
    first = members[0]
    for other in members[1:]:
        where = f"'{other.run_dir}' and '{first.run_dir}'"
        same_data = (other.dataset, other.split, other.test_part) == (
            first.dataset,
            first.split,
            first.test_part,
        )
        if not same_data:
            raise DataError(
                f"{where} were tested on different data ({other.dataset} {other.split}/"
                f"{other.test_part} vs {first.dataset} {first.split}/{first.test_part}); "
                "ensemble evaluations of the same dataset and split"
            )
        if not np.array_equal(other.index, first.index):
            raise DataError(
                f"{where} cover different test samples ({len(other.index)} vs "
                f"{len(first.index)}); evaluate every stream on the same split"
            )
        if not np.array_equal(other.labels, first.labels):
            wrong = int(np.sum(other.labels != first.labels))
            raise DataError(
                f"{where} give {wrong} of the same test samples different labels; the "
                "stores do not hold the same dataset"
            )
        if other.logits.shape[1] != first.logits.shape[1]:
            raise DataError(
                f"{where} have {other.logits.shape[1]} and {first.logits.shape[1]} classes"
            )


def accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 and top-5 accuracy (percent) of logits ``(N, K)``."""
    k = min(5, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    top1 = float(np.mean(top[:, 0] == labels) * 100.0)
    top5 = float(np.mean(np.any(top == labels[:, None], axis=1)) * 100.0)
    return {"top1": top1, "top5": top5}


def ensemble_metrics(
    members: Sequence[MemberLogits], weights: Sequence[float], class_names: Sequence[str]
) -> dict[str, Any]:
    """The ensemble's ``metrics.json`` content: weighted sum of the members' logits."""
    first = members[0]
    total = np.zeros_like(first.logits)
    for weight, member in zip(weights, members, strict=True):
        total += weight * member.logits
    num_classes = total.shape[1]
    predicted = total.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (first.labels, predicted), 1)
    names = list(class_names)[:num_classes] + [str(c) for c in range(len(class_names), num_classes)]
    per_class = {
        names[c]: (100.0 * confusion[c, c] / confusion[c].sum() if confusion[c].sum() else None)
        for c in range(num_classes)
    }
    final = {"epoch": None, **accuracy(total, first.labels), "loss": None}
    return {
        "protocol": "ensemble",
        "dataset": first.dataset,
        "recipe": None,
        "split": first.split,
        "test_part": first.test_part,
        "num_classes": num_classes,
        "test_samples": len(first.index),
        "train_samples": None,
        "members": [
            {
                "run_dir": str(m.run_dir),
                "weight": float(w),
                **accuracy(m.logits, m.labels),
            }
            for w, m in zip(weights, members, strict=True)
        ],
        "final": final,
        "best": {"epoch": None, "top1": None, "top5": None, "note": "an ensemble has no epochs"},
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "skelkit_version": skelkit.__version__,
    }


def member_class_names(run_dir: Path) -> list[str]:
    """Class names from a member's ``metrics.json`` (empty when it has none)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    per_class = data.get("per_class") if isinstance(data, Mapping) else None
    return list(per_class) if isinstance(per_class, Mapping) else []


def run_ensemble(
    run_dirs: Sequence[Path],
    out: Path,
    weights: Sequence[float] = (),
    console: Console | None = None,
) -> dict[str, Any]:
    """Ensemble the evaluations in ``run_dirs``; write ``out/metrics.json``; print a table.

    Raises:
        ConfigError: fewer than two folders, or weights that do not match them.
        DataError: a folder without logits, or folders that tested different samples.
    """
    console = console or Console(stderr=True)
    if len(run_dirs) < 2:
        raise ConfigError("evaluate ensemble needs at least two RUN_DIR folders to combine")
    weights = list(weights) or [1.0] * len(run_dirs)
    if len(weights) != len(run_dirs):
        raise ConfigError(
            f"--weight was given {len(weights)} times for {len(run_dirs)} RUN_DIR folders; "
            "give one weight per folder or none"
        )
    members = [load_member(Path(d)) for d in run_dirs]
    check_members(members)
    metrics = ensemble_metrics(members, weights, member_class_names(members[0].run_dir))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    console.print(ensemble_table(metrics))
    return metrics


def ensemble_table(metrics: Mapping[str, Any]) -> Table:
    """The members' and the ensemble's accuracies as a rich table."""
    table = Table(
        title=f"skelkit evaluate ensemble: {metrics['dataset']} {metrics['split']} "
        f"({metrics['test_samples']} test samples)"
    )
    for column in ("run", "weight", "top-1", "top-5"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for member in metrics["members"]:
        table.add_row(
            member["run_dir"],
            f"{member['weight']:g}",
            f"{member['top1']:.2f}",
            f"{member['top5']:.2f}",
        )
    final = metrics["final"]
    table.add_row("ensemble", "", f"{final['top1']:.2f}", f"{final['top5']:.2f}", style="bold")
    return table

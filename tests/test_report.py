"""Evaluation reports: metrics.json content, plots, and ``skelkit report``."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.evaluate.job import EvalFiles
from skelkit.evaluate.report import (
    BEST_NOTE,
    comparison_markdown,
    load_metrics,
    summary_table,
    write_plots,
    write_report,
)


def report_metrics(protocol: str, top1: float, runs: int = 1) -> dict[str, Any]:
    """A report as ``build_metrics`` writes it (two classes, three epochs)."""
    history = [
        {
            "type": "epoch",
            "run": r,
            "epoch": e,
            "train_loss": 1.0 / e,
            "test_loss": 1.2 / e,
            "train_top1": 40.0 + e,
            "test_top1": top1 - 3 + e,
        }
        for r in range(runs)
        for e in (1, 2, 3)
    ]
    metrics: dict[str, Any] = {
        "protocol": protocol,
        "dataset": "ntu60",
        "recipe": "ctrgcn",
        "split": "xsub",
        "checkpoint": "pre/checkpoints/last.pt",
        "pretrained_on": {"dataset": "ntu120", "method": "masked", "epoch": 400},
        "init": "pretrained",
        "train_samples": 10,
        "test_samples": 4,
        "final": {"epoch": 3, "top1": top1, "top5": 100.0, "loss": 0.4},
        "best": {"epoch": 3, "top1": top1, "top5": 100.0, "selected_on": "test"},
        "per_class": {"a": 100.0, "b": 50.0},
        "confusion": [[2, 0], [1, 1]],
        "runs": [
            {"run": r, "final_top1": top1 + r, "final_top5": 100.0, "best_top1": top1 + r}
            for r in range(runs)
        ],
        "history": history,
    }
    if runs > 1:
        metrics["over_runs"] = {
            key: {"mean": top1 + 0.5, "std": 0.71}
            for key in ("final_top1", "final_top5", "best_top1")
        }
    return metrics


def write_run(folder: Path, metrics: dict[str, Any]) -> Path:
    """A finished evaluation folder."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_write_report_writes_json_and_both_plots(tmp_path: Path) -> None:
    files = EvalFiles(tmp_path)
    console = Console(record=True, width=120)
    written = write_report(files, report_metrics("linear", 70.0), console)
    assert set(written) == {files.metrics, files.confusion, files.curves}
    assert json.loads(files.metrics.read_text())["final"]["top1"] == 70.0
    assert files.confusion.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files.curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = console.export_text()
    assert "top-1 70.00%" in text
    assert "ntu120" in text


def test_plots_are_skipped_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    files = EvalFiles(tmp_path)
    assert write_plots(files, report_metrics("knn", 50.0)) is None
    console = Console(record=True, width=120)
    write_report(files, report_metrics("knn", 50.0), console)
    assert "matplotlib is not installed" in console.export_text()
    assert files.metrics.is_file()
    assert not files.confusion.exists()


def test_summary_table_shows_mean_and_std_of_runs() -> None:
    console = Console(record=True, width=120)
    console.print(summary_table(report_metrics("semi", 60.0, runs=2)))
    text = console.export_text()
    assert "60.50 ± 0.71%" in text
    assert "2 runs" in text


def test_report_command_prints_runs_side_by_side(tmp_path: Path) -> None:
    a = write_run(tmp_path / "mamp-linear", report_metrics("linear", 84.0))
    b = write_run(tmp_path / "mamp-semi", report_metrics("semi", 60.0, runs=2))
    runner = CliRunner()
    result = runner.invoke(get_app(), ["report", str(a), str(b), "--markdown"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("| run | protocol |")
    assert lines[2].startswith("| mamp-linear | linear | ntu60 xsub | ntu120 (masked)")
    assert "| 84.00 | 100.00 | 84.00 (ep 3) |" in lines[2]
    assert "60.50 ± 0.71" in lines[3]
    assert BEST_NOTE in result.output
    table = runner.invoke(get_app(), ["report", str(a), str(b)])
    assert table.exit_code == 0
    assert "60.50" in table.output
    as_json = runner.invoke(get_app(), ["report", str(a), "--json"])
    assert json.loads(as_json.output)["mamp-linear"]["final"]["top1"] == 84.0


def test_report_errors_name_the_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(get_app(), ["report", str(empty)])
    assert result.exit_code == 2
    assert "has no metrics.json" in result.output
    bad = write_run(tmp_path / "bad", {})
    (bad / "metrics.json").write_text("{not json")
    result = runner.invoke(get_app(), ["report", str(bad)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_load_metrics_rejects_other_json(tmp_path: Path) -> None:
    from skelkit.errors import DataError

    run = write_run(tmp_path / "x", {"loss": 1})
    with pytest.raises(DataError, match="not a skelkit evaluation report"):
        load_metrics(run)


def test_markdown_escapes_pipes() -> None:
    metrics = report_metrics("linear", 1.0)
    text = comparison_markdown([("a|b", metrics)])
    assert "a\\|b" in text

"""``skelkit demo`` end to end, at a reduced size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skelkit.cli.app import get_app


@pytest.mark.slow
def test_demo_runs_the_main_job_and_says_where_files_went(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--device", "cpu", "--samples", "80",
            "--pretrain-epochs", "1", "--linear-epochs", "1", "--json"]  # fmt: skip
    result = CliRunner().invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["top1"]) == {
        "linear-pretrained", "linear-scratch", "knn-pretrained", "knn-scratch",
    }  # fmt: skip
    for path in summary["files"].values():
        assert Path(path).exists(), path
    assert (out / "data" / "ntu60_ctrgcn.h5").is_file()
    assert (out / "pretrain" / "checkpoints" / "last.pt").is_file()
    for key in summary["top1"]:
        metrics = json.loads((out / "eval" / key / "metrics.json").read_text())
        assert metrics["dataset"] == "ntu60"
        assert metrics["pretrained_on"]["dataset"] == "ntu60"
        assert metrics["init"] == key.split("-")[1]
    again = CliRunner().invoke(get_app(), args)
    assert again.exit_code == 2
    assert "already holds a demo" in again.output

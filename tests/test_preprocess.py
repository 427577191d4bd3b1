"""``skelkit preprocess`` end to end on small synthetic NTU raw folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skelkit.data.datasets import get_dataset_info
from skelkit.data.preprocess import preprocess
from skelkit.data.recipes.ctrgcn import ctrgcn
from skelkit.data.store import open_store
from skelkit.data.synth import synthesize
from skelkit.errors import ConfigError, DataError

FILES = 24
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw") / "ntu60"
    synthesize("ntu60", out, samples=FILES, classes=4, seed=3)
    return out


@pytest.fixture
def bad_raw_dir(raw_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the raw folder with one broken file; returns (folder, broken file)."""
    copy = tmp_path / "raw_bad"
    shutil.copytree(raw_dir, copy)
    broken = sorted(copy.rglob("*.skeleton"))[5]
    lines = broken.read_text().split("\n")
    lines[4] = "0.1 not-a-number " + lines[4]
    broken.write_text("\n".join(lines))
    return copy, broken


def _only(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_end_to_end_matches_the_recipe(raw_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ntu60_ctrgcn.h5"
    seen: list[tuple[int, int, int]] = []
    report = preprocess("ntu60", [raw_dir], out=out, workers=1, progress=lambda *a: seen.append(a))
    assert report.samples == FILES
    assert report.sources == FILES
    assert report.skipped == []
    assert seen[-1] == (FILES, FILES, FILES)
    assert _only(tmp_path) == ["ntu60_ctrgcn.h5"]  # no temporary file left
    info = get_dataset_info("ntu60")
    recipe = ctrgcn()
    sources = info.discover([raw_dir])
    with open_store(out) as store:
        assert store.dataset == "ntu60"
        assert store.recipe == "ctrgcn"
        assert store.class_names == info.class_names
        assert store.recipe_constants["noise_spr_thres2"] == 0.69754
        assert len(store.raw_fingerprint) == 64
        assert store.names == [s.name for s in sources]
        assert set(store.meta_columns) >= {"setup", "camera", "subject", "replication", "action"}
        for i, source in enumerate(sources):
            (raw,) = info.read(source)
            expected = recipe.process(raw)
            assert expected is not None
            np.testing.assert_array_equal(store.read(i), expected.frames)
            assert store.labels[i] == expected.label
        expected_splits = info.assign_splits(sources)
        for split, parts in expected_splits.items():
            for part, idx in parts.items():
                np.testing.assert_array_equal(store.split_indices(split, part), idx)
                assert report.splits[split][part] == len(idx)


def test_two_workers_write_the_same_file_contents(raw_dir: Path, tmp_path: Path) -> None:
    one = preprocess("ntu60", [raw_dir], out=tmp_path / "one.h5", workers=1)
    two = preprocess("ntu60", [raw_dir], out=tmp_path / "two.h5", workers=2)
    assert two.workers == 2
    with open_store(one.out) as a, open_store(two.out) as b:
        assert a.names == b.names
        assert a.raw_fingerprint == b.raw_fingerprint
        np.testing.assert_array_equal(a.offsets, b.offsets)
        for i in range(a.num_samples):
            np.testing.assert_array_equal(a.read(i), b.read(i))
        assert a.splits == b.splits
        for split, parts in a.splits.items():
            for part in parts:
                np.testing.assert_array_equal(
                    a.split_indices(split, part), b.split_indices(split, part)
                )


@pytest.mark.parametrize("workers", [1, 2])
def test_fail_names_file_and_line_and_writes_nothing(
    bad_raw_dir: tuple[Path, Path], tmp_path: Path, workers: int
) -> None:
    folder, broken = bad_raw_dir
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(DataError) as info:
        preprocess("ntu60", [folder], out=out_dir / "x.h5", workers=workers)
    assert f"{broken}:5:" in str(info.value)
    assert "--on-error skip" in str(info.value)
    assert _only(out_dir) == []


def test_skip_records_every_bad_file(bad_raw_dir: tuple[Path, Path], tmp_path: Path) -> None:
    folder, broken = bad_raw_dir
    report = preprocess("ntu60", [folder], out=tmp_path / "x.h5", on_error="skip")
    assert report.samples == FILES - 1
    assert [s.source for s in report.skipped] == [str(broken)]
    assert f"{broken}:5:" in report.skipped[0].reason
    with open_store(report.out) as store:
        assert store.skipped == tuple(report.skipped)
        assert broken.stem not in store.names


def test_default_output_path_uses_the_data_dir(
    raw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKELKIT_DATA_DIR", str(tmp_path / "store"))
    report = preprocess("ntu60", [raw_dir])
    assert report.out == tmp_path / "store" / "ntu60_ctrgcn.h5"
    assert report.out.is_file()


def test_bad_arguments(raw_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--on-error"):
        preprocess("ntu60", [raw_dir], out=tmp_path / "x.h5", on_error="ignore")
    with pytest.raises(ConfigError, match="no option 'window'"):
        preprocess("ntu60", [raw_dir], out=tmp_path / "x.h5", recipe_options={"window": 3})
    with pytest.raises(DataError, match="does not exist"):
        preprocess("ntu60", [tmp_path / "nope"], out=tmp_path / "x.h5")
    with pytest.raises(DataError, match="compression"):
        preprocess("ntu60", [raw_dir], out=tmp_path / "x.h5", compression="zip")
    assert not (tmp_path / "x.h5").exists()


# -- the command ---------------------------------------------------------------------------------


def test_cli_json_summary(raw_dir: Path, tmp_path: Path) -> None:
    from skelkit.cli.app import app

    out = tmp_path / "cli.h5"
    result = CliRunner().invoke(
        app, ["preprocess", "ntu60", "--raw", str(raw_dir), "--out", str(out), "-j", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["samples"] == FILES
    assert summary["out"] == str(out)
    assert summary["splits"]["xsub"]["train"] + summary["splits"]["xsub"]["test"] == FILES
    assert out.is_file()


def test_cli_bad_file_exits_2_with_one_line(bad_raw_dir: tuple[Path, Path], tmp_path: Path) -> None:
    from skelkit.cli.app import app

    folder, broken = bad_raw_dir
    out = tmp_path / "cli.h5"
    result = CliRunner().invoke(
        app, ["preprocess", "ntu60", "--raw", str(folder), "--out", str(out), "-j", "1"]
    )
    assert result.exit_code == 2
    assert f"{broken}:5:" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    result = CliRunner().invoke(
        app,
        ["preprocess", "ntu60", "-r", str(folder), "-o", str(out), "--on-error", "skip", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"][0]["source"] == str(broken)


# -- interruption by a real signal ---------------------------------------------------------------

_SLOW_RUN = """
import sys, time
from skelkit.data.preprocess import preprocess

def tick(done, total, samples):
    print("tick", flush=True)
    time.sleep(0.2)

if __name__ == "__main__":
    preprocess("ntu60", [sys.argv[1]], out=sys.argv[2], workers=1, progress=tick)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.integration
def test_ctrl_c_leaves_nothing(raw_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    script = tmp_path / "slow.py"
    script.write_text(_SLOW_RUN)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(raw_dir), str(out_dir / "x.h5")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "tick"  # samples are being written
    assert any(p.name.endswith(".frames") for p in out_dir.iterdir())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert _only(out_dir) == []


@pytest.mark.integration
def test_cli_sigterm_mid_run_leaves_nothing(raw_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    command = ["-m", "skelkit", "preprocess", "ntu60", "-r", str(raw_dir)]
    command += ["-o", str(out_dir / "x.h5"), "-j", "2"]
    proc = subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".frames") for p in out_dir.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert _only(out_dir) == []


def test_missing_output_folders_are_created(raw_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "ntu60.h5"
    report = preprocess("ntu60", [raw_dir], out=out, workers=1)
    assert report.out == out
    assert out.is_file()

"""``skelkit inspect`` and ``skelkit viz`` on a small store, and the Kinect bone list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.data.datasets import get_dataset_info
from skelkit.data.inspect import inspect_store
from skelkit.data.skeleton import BONES, NUM_JOINTS, joint_parents, mirror_permutation
from skelkit.data.store import StoreWriter
from skelkit.data.synth_motion import class_program, perform, performer
from skelkit.data.viz import PERSON_COLORS, parse_frames, render
from skelkit.errors import ConfigError

runner = CliRunner()

# name, label, persons, frames
SAMPLES = [
    ("S001C001P001R001A001", 0, 1, 30),
    ("S001C001P003R001A001", 0, 1, 44),
    ("S001C001P001R001A002", 1, 1, 36),
    ("S001C001P003R001A002", 1, 1, 40),
    ("S001C001P001R001A050", 49, 2, 50),
    ("S001C001P003R001A050", 49, 2, 32),
]


def sample_frames(label: int, persons: int, length: int) -> np.ndarray:
    """Real synthetic motion, (T, M=2, V, C) float32 with a zero second person if alone."""
    program = class_program(label, persons == 2)
    xyz = perform(program, (performer(1), performer(2))[:persons], length, np.random.default_rng(0))
    frames = np.zeros((length, 2, NUM_JOINTS, 3), dtype=np.float32)
    frames[:, :persons] = xyz.xyz.transpose(1, 0, 2, 3)
    return frames


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "ntu60_ctrgcn.h5"
    with StoreWriter(
        path,
        dataset="ntu60",
        recipe="ctrgcn",
        recipe_constants={"noise_len_thres": 11, "noise_spr_thres1": 0.8},
        class_names=get_dataset_info("ntu60").class_names,
    ) as writer:
        for name, label, persons, length in SAMPLES:
            meta = {"subject": int(name[9:12]), "action": label + 1}
            writer.append(name, sample_frames(label, persons, length), label, meta)
        writer.skip("S001C002P001R001A003.skeleton", "all 3 bodies are noise (length <= 11)")
        writer.set_splits({"xsub": {"train": [0, 2, 4], "test": [1, 3, 5]}})
    return path


def test_inspect_summary(store: Path) -> None:
    summary = inspect_store(store)
    assert summary.dataset == "ntu60"
    assert summary.recipe == "ctrgcn"
    assert summary.recipe_constants == {"noise_len_thres": 11, "noise_spr_thres1": 0.8}
    assert summary.num_samples == 6
    assert summary.num_frames == sum(s[3] for s in SAMPLES)
    assert summary.splits == {"xsub": {"test": 3, "train": 3}}
    assert [(c.label, c.count) for c in summary.classes] == [(0, 2), (1, 2), (49, 2)]
    assert summary.classes[0].name == "drink water"
    assert summary.num_class_names == 60
    assert (summary.lengths.min, summary.lengths.max) == (30, 50)
    assert summary.lengths.median == 38.0
    assert summary.skipped == (
        ("S001C002P001R001A003.skeleton", "all 3 bodies are noise (length <= 11)"),
    )


def test_cli_inspect_json_is_clean_stdout(store: Path) -> None:
    result = runner.invoke(get_app(), ["inspect", str(store), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["splits"] == {"xsub": {"test": 3, "train": 3}}
    assert data["lengths"]["max"] == 50
    assert data["skipped"][0]["reason"].startswith("all 3 bodies")
    assert data["classes"][2] == {"label": 49, "name": "punching/slapping other person", "count": 2}


def test_cli_inspect_human_output(store: Path) -> None:
    result = runner.invoke(get_app(), ["inspect", str(store), "--classes"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    for text in ("ntu60", "ctrgcn", "xsub", "noise_len_thres=11", "skipped samples: 1"):
        assert text in result.stderr
    assert "drink water" in result.stderr


def test_cli_inspect_names(store: Path) -> None:
    result = runner.invoke(get_app(), ["inspect", str(store), "--names"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [s[0] for s in SAMPLES]


def test_cli_inspect_rejects_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.h5"
    bogus.write_text("hello")
    result = runner.invoke(get_app(), ["inspect", str(bogus)])
    assert result.exit_code == 2
    assert "not an HDF5 file" in result.output
    assert "Traceback" not in result.output


def color_pixels(png: Path, color: str) -> int:
    from matplotlib.image import imread

    image = imread(png)[..., :3]
    target = np.array([int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=-1) < 0.05).sum())


def test_viz_png_draws_each_person_in_its_own_colour(store: Path, tmp_path: Path) -> None:
    single, pair = tmp_path / "single.png", tmp_path / "pair.png"
    for name, out in ((SAMPLES[0][0], single), (SAMPLES[4][0], pair)):
        result = runner.invoke(get_app(), ["viz", str(store), "--sample", name, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert color_pixels(single, PERSON_COLORS[0]) > 100
    assert color_pixels(single, PERSON_COLORS[1]) == 0
    assert color_pixels(pair, PERSON_COLORS[0]) > 100
    assert color_pixels(pair, PERSON_COLORS[1]) > 100


def test_viz_gif_has_the_chosen_frames(store: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "anim.gif"
    args = ["viz", str(store), "--sample", SAMPLES[4][0], "--out", str(out), "--frames", "0:50:5"]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "GIF"
        assert image.n_frames == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "S001C001P001R001A009"], "no sample named 'S001C001P001R001A009'"),
        (["--sample", SAMPLES[0][0], "--frames", "0,x"], "not a frame number"),
        (["--sample", SAMPLES[0][0], "--frames", "31"], "outside the sample's 30 frames"),
        (["--sample", SAMPLES[0][0], "--out-suffix", ".jpg"], "write a .png"),
    ],
)
def test_viz_user_errors(store: Path, tmp_path: Path, args: list[str], message: str) -> None:
    suffix = ".png"
    if "--out-suffix" in args:
        suffix = args[-1]
        args = args[:-2]
    out = tmp_path / f"out{suffix}"
    result = runner.invoke(get_app(), ["viz", str(store), *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unknown_sample_suggests_close_names(store: Path, tmp_path: Path) -> None:
    args = ["viz", str(store), "--sample", "S001C001P001R001A01", "--out", str(tmp_path / "a.png")]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 2
    assert "Did you mean S001C001P001R001A001" in result.output


def test_viz_without_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it now fails
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    frames = sample_frames(0, 1, 10)
    with pytest.raises(ConfigError, match=r"pip install 'skelkit\[viz\]'"):
        render(frames, tmp_path / "a.png", [0, 1])


def test_parse_frames() -> None:
    assert parse_frames("0,5,9", 10) == [0, 5, 9]
    assert parse_frames("0:10:4", 10) == [0, 4, 8]
    assert parse_frames("-1, 2:4", 10) == [9, 2, 3]
    assert parse_frames("::3", 7) == [0, 3, 6]
    for bad in ("", "1-3", "0:5:0", "12", "20:30"):
        with pytest.raises(ConfigError):
            parse_frames(bad, 10)


def test_bones_form_a_tree_over_the_25_joints() -> None:
    assert len(BONES) == NUM_JOINTS - 1
    parents = joint_parents()
    assert parents[0] == -1
    for joint in range(1, NUM_JOINTS):
        seen = {joint}
        while parents[joint] != -1:  # every joint reaches the root without a cycle
            joint = parents[joint]
            assert joint not in seen
            seen.add(joint)
    mirror = mirror_permutation()
    assert [mirror[j] for j in mirror] == list(range(NUM_JOINTS))
    assert mirror[4] == 8  # left shoulder <-> right shoulder

"""The ``agcn`` recipe against outputs of the official 2s-AGCN / PCM3 scripts.

The goldens in tests/fixtures/agcn_reference were produced by running the reference
``read_xyz`` + ``pre_normalization`` on the raw files next to them (see its README).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.data.datasets import RawSample
from skelkit.data.ntu_format import SkeletonBody, SkeletonFile, read_skeleton_file
from skelkit.data.pku_format import read_pku_labels, read_pku_skeleton
from skelkit.data.recipes import SkippedSample
from skelkit.data.store import open_store
from skelkit.registry import get_registries
from skelkit_pcm3.recipe import AgcnRecipe, rotation_matrix

GOLDEN = Path(__file__).parent / "fixtures" / "agcn_reference"


def recipe(dataset: str) -> AgcnRecipe:
    entry = get_registries().get("recipes", "agcn")
    built = entry.spec.load()(dataset=dataset)
    assert isinstance(built, AgcnRecipe)
    return built


def raw_sample(name: str, data: object, dataset: str = "ntu60") -> RawSample:
    return RawSample(name=name, label=0, dataset=dataset, data=data, meta={}, source=Path(name))


def test_ntu_equals_the_reference_output() -> None:
    golden = np.load(GOLDEN / "ntu_reference.npz")
    agcn = recipe("ntu60")
    assert len(golden["names"]) == 6
    for name, length, expected in zip(
        golden["names"], golden["num_frame"], golden["data"], strict=True
    ):
        skeleton = read_skeleton_file(GOLDEN / "ntu" / f"{name}.skeleton")
        out = agcn.process(raw_sample(str(name), skeleton))
        assert out.length == length == skeleton.num_frames
        assert out.frames.dtype == np.float32
        assert out.meta["num_frame"] == length
        got = agcn.to_reference_layout(out.frames)[:, :length]
        np.testing.assert_allclose(got, expected[:, :length], rtol=0, atol=1e-6)


def test_pku_equals_the_reference_output() -> None:
    golden = np.load(GOLDEN / "pku_reference.npz")
    frames = read_pku_skeleton(GOLDEN / "pku" / "0002-L.txt")
    labels = read_pku_labels(GOLDEN / "pku" / "0002-L_label.txt")
    agcn = recipe("pkummd1")
    for row, (length, expected) in enumerate(zip(golden["num_frame"], golden["data"], strict=True)):
        instance = frames[labels[row].start : labels[row].end]
        out = agcn.process(raw_sample(f"0002-L_{row}", instance, "pkummd1"))
        assert out.length == length
        got = agcn.to_reference_layout(out.frames)[:, :length]
        np.testing.assert_allclose(got, expected[:, :length], rtol=0, atol=1e-6)


def test_pku_instances_are_cut_to_300_frames_and_keep_their_true_length() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(340, 150)) + 2.0
    out = recipe("pkummd2").process(raw_sample("long", data, "pkummd2"))
    assert out.length == 300
    assert out.meta["num_frame"] == 340


def test_result_is_centred_and_aligned() -> None:
    golden_name = "S001C001P001R001A001"
    skeleton = read_skeleton_file(GOLDEN / "ntu" / f"{golden_name}.skeleton")
    frames = recipe("ntu60").process(raw_sample(golden_name, skeleton)).frames
    np.testing.assert_allclose(frames[:, 0, 1], 0.0, atol=1e-6)  # person 0, joint 1 at 0
    # The last rotation puts the shoulders of frame 0 along +x.
    shoulders = frames[0, 0, 8] - frames[0, 0, 4]
    assert abs(shoulders[1]) < 1e-5
    assert abs(shoulders[2]) < 1e-5
    assert shoulders[0] > 0


def test_rotation_matrix_is_a_rotation() -> None:
    m = rotation_matrix(np.array([0.3, -1.0, 0.5]), 0.7)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(m), 1.0)
    assert np.array_equal(rotation_matrix(np.zeros(3), 1.0), np.eye(3))


def test_too_long_or_empty_files_are_skipped_with_a_reason() -> None:
    body = SkeletonBody.from_xyz(1, np.ones((25, 3)))
    agcn = recipe("ntu120")
    with pytest.raises(SkippedSample, match="more than the reference's 300"):
        agcn.process(raw_sample("S001C001P001R001A001", SkeletonFile("x", [[body]] * 301)))
    with pytest.raises(SkippedSample, match="no frame"):
        agcn.process(raw_sample("S001C001P001R001A001", SkeletonFile("x", [])))


def test_constants_are_recorded() -> None:
    constants = recipe("ntu60").constants
    assert constants["max_frames"] == 300
    assert constants["xaxis_joints"] == [8, 4]


def test_preprocess_command_stores_the_reference_output(tmp_path: Path) -> None:
    out = tmp_path / "ntu60_agcn.h5"
    args = ["preprocess", "ntu60", "--raw", str(GOLDEN / "ntu"), "--recipe", "agcn"]
    result = CliRunner().invoke(get_app(), [*args, "--out", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    golden = np.load(GOLDEN / "ntu_reference.npz")
    with open_store(out) as store:
        assert store.recipe == "agcn"
        names = store.names
        for name, length, expected in zip(
            golden["names"], golden["num_frame"], golden["data"], strict=True
        ):
            frames = store.read(names.index(str(name)))  # (T, M, V, C)
            assert len(frames) == length
            got = frames.transpose(3, 0, 2, 1)
            np.testing.assert_allclose(got, expected[:, :length], rtol=0, atol=1e-6)

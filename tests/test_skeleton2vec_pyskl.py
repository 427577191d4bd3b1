"""The ``pyskl`` recipe and transforms: bit-identical to pyskl on the same raw files."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from skelkit.data.datasets import RawSample
from skelkit.data.ntu_format import SkeletonBody, SkeletonFile
from skelkit.data.preprocess import preprocess
from skelkit.data.recipes import UnusableSample
from skelkit.data.store import open_store
from skelkit.errors import ConfigError
from skelkit.registry import get_registries
from skelkit_skeleton2vec.pyskl_transforms import (
    PysklTransform,
    pre_normalize,
    pyskl_test,
    pyskl_train,
    sample_indices,
)
from skelkit_skeleton2vec.recipe import pyskl

GOLDEN = Path(__file__).parent / "fixtures" / "pyskl_reference"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "reference.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    with tarfile.open(GOLDEN / "raw.tar.gz") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(root, filter="data")
        else:
            archive.extractall(root)
    out = root / "ntu60_pyskl.h5"
    preprocess("ntu60", [root / "ntu"], out, recipe="pyskl", workers=1)
    return out


def test_registered_through_the_entry_point() -> None:
    regs = get_registries()
    for kind, name in [
        ("recipes", "pyskl"),
        ("transforms", "pyskl_train"),
        ("transforms", "pyskl_test"),
    ]:
        assert regs.get(kind, name).plugin == "skeleton2vec"


def test_stored_keypoints_equal_pyskl_ntu_preproc(
    store: Path, reference: dict[str, np.ndarray]
) -> None:
    recipe = pyskl()
    with open_store(store) as data:
        names = data.names
        assert sorted(names) == sorted(str(n) for n in reference["names"])
        actors = data.meta("actors")
        for i, name in enumerate(names):
            frames = data.read(i)
            assert frames.dtype == np.float32
            expected = reference[f"{name}/keypoint"]
            ours = recipe.to_reference_layout(frames, expected.shape[0])
            assert ours.dtype == np.float16
            np.testing.assert_array_equal(ours, expected, err_msg=name)
            # float16-exact values, and a zero second person where pyskl has M = 1
            np.testing.assert_array_equal(frames, frames.astype(np.float16).astype(np.float32))
            if expected.shape[0] == 1:
                assert not frames[:, 1].any()
            assert int(actors[i]) == expected.shape[0]


def test_test_transform_equals_pyskl(store: Path, reference: dict[str, np.ndarray]) -> None:
    checked = 0
    with open_store(store) as data:
        for i, name in enumerate(data.names):
            x = np.ascontiguousarray(data.read(i).transpose(3, 0, 2, 1))  # (C, T, V, M)
            for suffix, align in (("test_clip", False), ("test_clip_aligned", True)):
                key = f"{name}/{suffix}"
                if key not in reference:
                    continue
                out = pyskl_test(window=90, align_spine=align)(x)
                assert out.shape == (3, 90, 25, 2)
                assert out.dtype == np.float32
                np.testing.assert_array_equal(out.transpose(3, 1, 2, 0), reference[key], key)
                checked += 1
    assert checked == 12


def test_the_three_sampling_branches() -> None:
    for length in (37, 90, 179, 180, 400):
        inds = sample_indices(length, 90, np.random.RandomState(255))
        assert inds.shape == (90,)
        assert inds.min() >= 0
        assert inds.max() < length
        if length >= 90:
            assert np.all(np.diff(inds) >= 1)  # increasing, no repeat
        else:
            assert set(inds.tolist()) == set(range(length))  # looping covers every frame
    long = sample_indices(900, 90, np.random.default_rng(0))
    assert np.all(long // 10 == np.arange(90))  # one frame per segment of 10


def test_train_transform_is_deterministic_per_generator_and_rotates() -> None:
    rng = np.random.default_rng(1)
    x = np.zeros((3, 90, 25, 2), np.float32)  # 90 frames: every draw samples all of them
    x[..., 0] = rng.normal(size=(3, 90, 25)).astype(np.float16)
    train = pyskl_train(window=90, rotation=0.3)
    a = train(x, np.random.default_rng([0, 1, 2]))
    b = train(x, np.random.default_rng([0, 1, 2]))
    c = train(x, np.random.default_rng([0, 1, 3]))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    long = np.concatenate([x, x], axis=1)
    assert not np.array_equal(
        train(long, np.random.default_rng(0)), train(long, np.random.default_rng(1))
    )
    assert a.shape == (3, 90, 25, 2)
    assert not a[..., 1].any()
    flat = PysklTransform(window=90, rotation=0.0)(x, np.random.default_rng([0, 1, 2]))
    # the rotation keeps every joint's distance to the (centred) origin
    np.testing.assert_allclose(
        np.linalg.norm(a[..., 0], axis=0), np.linalg.norm(flat[..., 0], axis=0), rtol=1e-5
    )
    # with the test seed as generator, the train draws are the test transform's
    same = PysklTransform(window=90, rotation=0.0)(x, np.random.RandomState(255))  # type: ignore[arg-type]
    assert np.array_equal(same, pyskl_test(window=90)(x))
    assert train.is_random
    assert not pyskl_test().is_random


def test_pre_normalize_centres_in_float16() -> None:
    kp = np.zeros((2, 4, 25, 3), np.float16)
    kp[0, 1:] = np.float16(1.0009765625)  # frame 0 of person 0 is empty: dropped
    kp[0, 1:, 1] = np.float16(0.5)
    kp[1, :] = np.float16(2.0)
    out = pre_normalize(kp)
    assert out.dtype == np.float16
    # person 1 has more valid frames (4 > 3): it becomes the main person, centred on itself
    assert out.shape == (2, 4, 25, 3)
    assert not out[0].any()
    assert np.all(out[1, 1:, 0] == np.float16(1.0009765625) - np.float16(2.0))
    assert not out[1, 0].any()  # a zero frame stays zero
    assert pre_normalize(np.zeros((2, 3, 25, 3), np.float16)).shape == (2, 3, 25, 3)


def test_batched_use_is_refused_and_options_checked() -> None:
    with pytest.raises(ConfigError, match="per sample"):
        pyskl_train().batch()
    with pytest.raises(ConfigError, match="window"):
        pyskl_test(window=0)
    with pytest.raises(ConfigError, match="rotation"):
        pyskl_train(rotation=-1.0)


def _raw(bodies: list[tuple[int, range]], name: str = "S001C001P001R001A001") -> RawSample:
    base = np.stack([np.linspace(-0.2, 0.2, 25), np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], 1)
    frames = [
        [SkeletonBody.from_xyz(bid, base + 0.01 * f) for bid, span in bodies if f in span]
        for f in range(30)
    ]
    return RawSample(name, 0, "ntu60", SkeletonFile(name, frames), {}, Path(f"{name}.skeleton"))


def test_samples_pyskl_fails_on_are_unusable() -> None:
    recipe = pyskl()
    with pytest.raises(UnusableSample, match="11 frames or fewer"):
        recipe.process(_raw([(1, range(0, 8)), (2, range(10, 20))]))
    with pytest.raises(UnusableSample, match="no frame has a body"):
        recipe.process(_raw([]))
    pku = RawSample("x", 0, "pkummd1", np.zeros((5, 150)), {}, Path("x.txt"))
    with pytest.raises(UnusableSample, match="NTU RGB\\+D skeleton files only"):
        recipe.process(pku)
    one = recipe.process(_raw([(1, range(0, 8)), (2, range(5, 30))]))
    assert one.meta["actors"] == 1
    assert one.length == 25

"""The ``ctrgcn`` recipe: bit-identical to the reference outputs, and every denoiser branch."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from skelkit.data.datasets import RawSample, get_dataset_info
from skelkit.data.ntu_format import SkeletonBody, SkeletonFile
from skelkit.data.recipes import ProcessedSample, SkippedSample, UnusableSample
from skelkit.data.recipes.ctrgcn import (
    CtrgcnRecipe,
    _valid_spread_frames,
    collect_bodies,
    ctrgcn,
    denoise,
)

GOLDEN = Path(__file__).parent / "fixtures" / "ctrgcn_reference"
RNG = np.random.default_rng(3)
#: A standing body: narrow in x, tall in y (passes the spread test).
STAND = np.stack([RNG.uniform(-0.25, 0.25, 25), RNG.uniform(-0.8, 0.8, 25), np.full(25, 3.0)], 1)
#: A table-like body: wide in x, flat in y (fails the spread test).
WIDE = np.stack([RNG.uniform(-1.0, 1.0, 25), RNG.uniform(-0.3, 0.3, 25), np.full(25, 3.0)], 1)

Track = Mapping[int, np.ndarray]


def track(frames: range | list[int], amp: float, x: float = 0.0, base: np.ndarray = STAND) -> Track:
    """A body's positions: ``base`` moved by ``x`` and a sway of amplitude ``amp``."""
    sway = [np.array([x + amp * np.sin(0.7 * f), 0.5 * amp * np.cos(0.4 * f), 0.0]) for f in frames]
    return {f: base + offset for f, offset in zip(frames, sway, strict=True)}


def sample(num_frames: int, bodies: list[tuple[int, Track]], dataset: str = "ntu60") -> RawSample:
    """A raw NTU sample with the given bodies (listed in this order in every frame)."""
    frames = [
        [SkeletonBody.from_xyz(body_id, t[f]) for body_id, t in bodies if f in t]
        for f in range(num_frames)
    ]
    name = "S001C001P001R001A050"
    skeleton = SkeletonFile(name, frames)
    return RawSample(name, 49, dataset, skeleton, {"action": 50}, Path(f"{name}.skeleton"))


def expected(t: Track, frames: range | list[int], origin: np.ndarray) -> np.ndarray:
    """The stored positions of a track: float32, minus the float32 origin."""
    return np.stack([t[f].astype(np.float32) - origin for f in frames])


def origin_of(t: Track, frame: int) -> np.ndarray:
    return t[frame][1].astype(np.float32)


# -- the reference outputs --------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    with tarfile.open(GOLDEN / "raw.tar.gz") as archive:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            archive.extractall(root, filter="data")
        else:
            archive.extractall(root)
    return root


def _processed(root: Path, dataset: str) -> list[ProcessedSample]:
    info = get_dataset_info(dataset)
    recipe = ctrgcn()
    out = []
    for source in info.discover([root / dataset]):
        for raw in info.read(source):
            try:
                out.append(recipe.process(raw))
            except SkippedSample:
                continue
    return out


@pytest.mark.parametrize(
    ("dataset", "split"),
    [("ntu60", "xsub"), ("ntu60", "xview"), ("ntu120", "xsub"), ("ntu120", "xset")],
)
def test_ntu_equals_reference_bit_for_bit_in_order(
    raw_root: Path, dataset: str, split: str
) -> None:
    samples = _processed(raw_root, dataset)
    parts = get_dataset_info(dataset).assign_splits(samples)[split]
    golden = np.load(GOLDEN / f"{dataset}_{split}.npz")
    recipe = ctrgcn()
    for part in ("train", "test"):
        x, y = golden[f"x_{part}"], golden[f"y_{part}"]
        indices = parts[part]
        assert len(indices) == len(x)
        for row, index in enumerate(indices):
            ours = recipe.to_reference_layout(samples[index].frames, num_frames=x.shape[1])
            assert ours.tobytes() == x[row].tobytes(), samples[index].name
            assert samples[index].label == int(np.argmax(y[row]))


@pytest.mark.parametrize("split", ["xsub", "xview"])
def test_pku_equals_reference_bit_for_bit(raw_root: Path, split: str) -> None:
    samples = _processed(raw_root, "pkummd2")
    parts = get_dataset_info("pkummd2").assign_splits(samples)[split]
    golden = np.load(GOLDEN / f"pkummd2_{split}.npz")
    recipe = ctrgcn()
    for part in ("train", "test"):
        x, y = golden[f"x_{part}"], golden[f"y_{part}"]
        ours = {
            (recipe.to_reference_layout(samples[i].frames).tobytes(), samples[i].label)
            for i in parts[part]
        }
        theirs = {(x[row].tobytes(), int(np.argmax(y[row]))) for row in range(len(x))}
        assert len(parts[part]) == len(x)
        assert ours == theirs  # MAMP's order is an unsorted directory listing


# -- step 1: parsing into bodies --------------------------------------------------------------


def test_empty_frames_are_dropped_and_single_body_is_placed_as_is() -> None:
    a = track([1, 2, 5, 6, 7], 0.05)
    out = ctrgcn().process(sample(9, [(1, a)]))
    assert out.length == 5
    assert out.meta == {"action": 50, "actors": 1}
    np.testing.assert_array_equal(out.frames[:, 0], expected(a, [1, 2, 5, 6, 7], origin_of(a, 1)))
    assert not out.frames[:, 1].any()  # NTU-60: zero second actor
    np.testing.assert_array_equal(out.frames[0, 0, 1], 0)  # the origin joint of frame 0


def test_ntu120_duplicates_a_single_actor() -> None:
    a = track(range(12), 0.05)
    out = ctrgcn().process(sample(12, [(1, a)], dataset="ntu120"))
    np.testing.assert_array_equal(out.frames[:, 1], out.frames[:, 0])
    assert out.meta["actors"] == 1


def test_a_returning_body_is_treated_as_contiguous() -> None:
    bodies, num_frames = collect_bodies(
        sample(20, [(1, track(range(20), 0.1)), (2, track([*range(5), *range(9, 20)], 0.1))]).data
    )
    assert num_frames == 20
    # its 16 frames occupy rows 0..15, as if it had never vanished
    assert (bodies["2"].start, bodies["2"].count, bodies["2"].end) == (0, 16, 15)
    assert bodies["2"].joints.shape == (16 * 25, 3)
    assert bodies["1"].motion.dtype == np.float32


def test_all_frames_empty_is_unusable() -> None:
    with pytest.raises(UnusableSample, match="no frame has a body"):
        ctrgcn().process(sample(4, []))


def test_repeated_body_id_within_a_frame_is_unusable() -> None:
    a = track(range(3), 0.05)
    raw = sample(3, [(1, a), (1, a)])
    with pytest.raises(UnusableSample, match="bodyID repeated"):
        ctrgcn().process(raw)


# -- step 2: denoising ------------------------------------------------------------------------


def test_length_filter_leaves_one_actor_and_removes_empty_rows() -> None:
    a = track([*range(0, 10), *range(13, 20)], 0.05)
    short = track(range(9, 15), 0.3, x=0.6)  # 6 frames <= 11
    out = ctrgcn().process(sample(20, [(1, a), (2, short)]))
    # a fills rows 0..16 (contiguity), rows 17..19 held only the short body: removed
    assert out.length == 17
    assert out.meta["actors"] == 1
    frames = [*range(0, 10), *range(13, 20)]
    np.testing.assert_array_equal(out.frames[:, 0], expected(a, frames, origin_of(a, 0)))


def test_every_body_too_short_is_unusable() -> None:
    raw = sample(11, [(1, track(range(11), 0.1)), (2, track(range(11), 0.1, x=0.7))])
    with pytest.raises(UnusableSample, match="11 frames or fewer"):
        ctrgcn().process(raw)


def test_spread_filter_drops_a_table_like_body() -> None:
    a = track(range(15), 0.05)
    table = track(range(15), 0.4, base=WIDE)  # more motion, but wide in every frame
    out = ctrgcn().process(sample(15, [(1, table), (2, a)]))
    assert out.meta["actors"] == 1
    np.testing.assert_array_equal(out.frames[:, 0], expected(a, range(15), origin_of(a, 0)))


def test_spread_filter_reduces_motion_to_the_valid_frames() -> None:
    jumpy = track(range(15), 0.01)
    for f in range(0, 15, 3):  # 5 of 15 frames wide and far away: ratio 0.33
        jumpy[f] = WIDE + np.array([RNG.uniform(-2, 2), 0, 0])
    calm = track(range(15), 0.08, x=0.7)
    bodies, _ = collect_bodies(sample(15, [(1, jumpy), (2, calm)]).data)
    assert bodies["1"].motion > bodies["2"].motion
    ordered = denoise(bodies)
    assert [body_id for body_id, _ in ordered] == ["2", "1"]  # the jumpy body lost its rank
    assert bodies["1"].motion < bodies["2"].motion


def test_spread_test_compares_in_float64_like_numpy_1() -> None:
    joints = STAND.astype(np.float32).copy()
    joints[:, 0] = np.clip(joints[:, 0], 0, np.float32(0.8))
    joints[0, 0], joints[1, 0] = 0, np.float32(0.8)
    joints[:, 1] = np.clip(joints[:, 1], -0.5, 0.5)
    joints[2, 1], joints[3, 1] = -0.5, 0.5
    # float32(0.8) <= 0.8 * 1.0 is False in float64 (True in float32 arithmetic)
    assert not _valid_spread_frames(joints)[0]


def test_one_frame_overlap_joins_actor_1_and_full_overlap_is_discarded() -> None:
    first = track(range(0, 16), 0.12)
    later = track(range(15, 30), 0.09, x=0.1)  # overlaps actor 1 at frame 15 only
    second = track(range(0, 30), 0.06, x=0.8)  # overlaps actor 1: actor 2
    third = track(range(5, 25), 0.01, x=-0.8)  # overlaps both: discarded
    raw = sample(30, [(1, first), (2, later), (3, second), (4, third)])
    out = ctrgcn().process(raw)
    origin = origin_of(first, 0)
    assert out.length == 30
    assert out.meta["actors"] == 2
    np.testing.assert_array_equal(out.frames[:15, 0], expected(first, range(15), origin))
    np.testing.assert_array_equal(out.frames[15:, 0], expected(later, range(15, 30), origin))
    np.testing.assert_array_equal(out.frames[:, 1], expected(second, range(30), origin))


# -- step 3: translation, and the PKU-MMD path --------------------------------------------------


def test_origin_is_actor_1_first_non_zero_frame_and_gaps_stay_zero() -> None:
    main = track(range(4, 16), 0.15)
    other = track(range(0, 16), 0.02, x=0.7)
    out = ctrgcn().process(sample(16, [(1, other), (2, main)]))
    origin = origin_of(main, 4)
    assert not out.frames[:4, 0].any()  # actor 1 missing: zeros, not -origin
    np.testing.assert_array_equal(out.frames[4:, 0], expected(main, range(4, 16), origin))
    np.testing.assert_array_equal(out.frames[:, 1], expected(other, range(16), origin))


def _pku(frames: np.ndarray) -> RawSample:
    return RawSample("0002-L_0", 3, "pkummd1", frames, {"video": "0002-L"}, Path("0002-L.txt"))


def test_pku_instances_are_cast_and_truncated_without_centering() -> None:
    frames = RNG.normal(0, 1, (310, 150))
    frames[:, 75:] = 0
    out = ctrgcn().process(_pku(frames))
    assert out.frames.shape == (300, 2, 25, 3)
    assert out.meta["actors"] == 1
    np.testing.assert_array_equal(out.frames.reshape(300, 150), frames[:300].astype(np.float32))
    with pytest.raises(SkippedSample, match="all zeros"):
        ctrgcn().process(_pku(np.zeros((5, 150))))


def test_reference_layout_and_constants() -> None:
    recipe = CtrgcnRecipe()
    frames = RNG.normal(0, 1, (7, 2, 25, 3)).astype(np.float32)
    padded = recipe.to_reference_layout(frames)
    assert padded.shape == (300, 150)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:7].reshape(7, 2, 25, 3), frames)
    assert not padded[7:].any()
    with pytest.raises(ValueError, match="do not fit"):
        recipe.to_reference_layout(frames, num_frames=6)
    constants = json.loads(json.dumps(recipe.constants))
    assert constants["noise_len_thres"] == 11
    assert constants["noise_spr_thres2"] == 0.69754
    assert constants["single_actor"] == {"ntu60": "zeros", "ntu120": "duplicate"}

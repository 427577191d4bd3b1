"""Dataset definitions: classes, official lists, raw discovery, split order, registration."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from skelkit.data.datasets import (
    NTU60_XSUB_TRAIN,
    NTU120_XSUB_TRAIN,
    NtuDataset,
    PkuDataset,
    RawSample,
    get_dataset_info,
    missing_skeletons,
)
from skelkit.data.ntu_format import SkeletonBody, SkeletonFile, write_skeleton_file
from skelkit.data.pku_format import write_pku_labels, write_pku_skeleton, write_pku_split
from skelkit.errors import ConfigError, DataError


def _write_ntu(folder: Path, name: str, frames: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = SkeletonBody.from_xyz(72057594037931101, np.ones((25, 3)))
    return write_skeleton_file(folder / f"{name}.skeleton", [[body]] * frames)


def _named(*names: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=n, meta={}) for n in names]


def test_class_names() -> None:
    ntu60, ntu120 = get_dataset_info("ntu60"), get_dataset_info("ntu120")
    assert ntu60.num_classes == 60
    assert ntu120.num_classes == 120
    assert ntu120.class_names[:60] == ntu60.class_names
    assert ntu60.class_names[0] == "drink water"
    assert ntu60.class_names[59] == "walking apart from each other"
    assert ntu120.class_names[60] == "put on headphone"
    assert ntu120.class_names[119] == "finger-guessing game (playing rock-paper-scissors)"
    pku = get_dataset_info("pkummd1")
    assert pku.num_classes == 51
    assert pku.class_names[0] == "bow"
    assert pku.class_names[50] == "writing"
    assert get_dataset_info("pkummd2").class_names == pku.class_names
    with pytest.raises(ConfigError, match=r"unknown dataset 'ntu61'.*ntu60, ntu120"):
        get_dataset_info("ntu61")


def test_missing_skeleton_lists() -> None:
    ntu60, ntu120 = missing_skeletons("ntu60"), missing_skeletons("ntu120")
    assert len(ntu60) == 302  # the header lines of the official files are skipped
    assert len(ntu120) == 535
    assert ntu60 == {n for n in ntu120 if int(n[1:4]) <= 17}
    assert "S001C002P005R002A008" in ntu60
    assert not any(n.startswith("S018") for n in ntu120)


def test_official_id_lists() -> None:
    assert len(NTU60_XSUB_TRAIN) == 20
    assert len(NTU120_XSUB_TRAIN) == 53
    info = get_dataset_info("ntu120")
    assert isinstance(info, NtuDataset)
    key, train, test = info.split_ids("xsub")
    assert key == "subject"
    assert sorted(train + test) == list(range(1, 107))
    assert test[:6] == (3, 6, 7, 10, 11, 12)
    assert info.split_ids("xset") == ("setup", tuple(range(2, 33, 2)), tuple(range(1, 33, 2)))
    ntu60 = get_dataset_info("ntu60")
    assert isinstance(ntu60, NtuDataset)
    assert ntu60.split_ids("xview") == ("camera", (2, 3), (1,))
    test_60 = (3, 6, 7, 10, 11, 12, 20, 21, 22, 23, 24, 26, 29, 30, 32, 33, 36, 37, 39, 40)
    assert ntu60.split_ids("xsub")[2] == test_60


def test_split_order_groups_by_id_in_list_order() -> None:
    samples = _named(
        "S002C003P001R001A001",  # 0
        "S001C001P002R001A002",  # 1
        "S001C002P001R001A001",  # 2
        "S001C001P003R002A005",  # 3
        "S001C001P001R001A001",  # 4
        "S003C003P006R001A010",  # 5
    )
    splits = get_dataset_info("ntu60").assign_splits(samples)
    # train subjects 1, 2, ...: P001 samples by name, then P002
    np.testing.assert_array_equal(splits["xsub"]["train"], [4, 2, 0, 1])
    np.testing.assert_array_equal(splits["xsub"]["test"], [3, 5])  # P003 then P006
    # xview: camera 2 then camera 3 (not name order), test camera 1
    np.testing.assert_array_equal(splits["xview"]["train"], [2, 0, 5])
    np.testing.assert_array_equal(splits["xview"]["test"], [4, 1, 3])
    assert splits["xsub"]["train"].dtype == np.int64


def test_ntu120_split_order_by_setup() -> None:
    samples = _named("S003C001P001R001A001", "S002C001P001R001A001", "S018C001P045R001A061")
    splits = get_dataset_info("ntu120").assign_splits(samples)
    np.testing.assert_array_equal(splits["xset"]["train"], [1, 2])
    np.testing.assert_array_equal(splits["xset"]["test"], [0])
    np.testing.assert_array_equal(splits["xsub"]["train"], [1, 0, 2])


def test_ntu_discovery_over_several_folders(tmp_path: Path) -> None:
    first, second = tmp_path / "s001_to_s017", tmp_path / "s018_to_s032" / "nested"
    _write_ntu(first, "S001C001P001R001A001")
    _write_ntu(first, "S001C002P005R002A008")  # an official missing-skeleton sample
    _write_ntu(second, "S018C001P045R001A061")
    ntu120 = get_dataset_info("ntu120")
    names = [s.name for s in ntu120.discover([first, tmp_path / "s018_to_s032"])]
    assert names == ["S001C001P001R001A001", "S018C001P045R001A061"]
    assert isinstance(ntu120, NtuDataset)
    with_missing = ntu120.discover([first], include_missing=True)
    assert [s.name for s in with_missing] == ["S001C001P001R001A001", "S001C002P005R002A008"]
    ntu60 = get_dataset_info("ntu60")  # NTU-60 takes the NTU-120 folders and skips S018+
    assert [s.name for s in ntu60.discover([first, second])] == ["S001C001P001R001A001"]


def test_ntu_discovery_errors(tmp_path: Path) -> None:
    info = get_dataset_info("ntu60")
    with pytest.raises(DataError, match="no raw folder given"):
        info.discover([])
    with pytest.raises(DataError, match=r"nope: raw folder for ntu60 does not exist"):
        info.discover([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no \.skeleton file found for ntu60"):
        info.discover([tmp_path / "empty"])
    _write_ntu(tmp_path / "s018", "S018C001P045R001A061")
    with pytest.raises(DataError, match=r"s018: no ntu60 sample \(setups S001-S017\) found"):
        info.discover([tmp_path / "s018"])
    _write_ntu(tmp_path / "a", "S001C001P001R001A001")
    _write_ntu(tmp_path / "b", "S001C001P001R001A001")
    with pytest.raises(DataError, match="sample S001C001P001R001A001 is also at"):
        info.discover([tmp_path / "a", tmp_path / "b"])


def test_ntu_read(tmp_path: Path) -> None:
    info = get_dataset_info("ntu60")
    _write_ntu(tmp_path, "S003C002P007R002A042", frames=3)
    (sample,) = info.read(info.discover([tmp_path])[0])
    assert isinstance(sample, RawSample)
    assert isinstance(sample.data, SkeletonFile)
    assert (sample.name, sample.label, sample.dataset) == ("S003C002P007R002A042", 41, "ntu60")
    assert sample.meta == {"setup": 3, "camera": 2, "subject": 7, "replication": 2, "action": 42}
    assert sample.data.num_frames == 3


def _pku_raw(root: Path) -> None:
    rng = np.random.default_rng(1)
    for video, frames, rows in (
        ("0002-L", 30, [(3, 0, 10, 1), (7, 12, 30, 2)]),
        ("0002-M", 20, [(51, 5, 15, 1)]),
        ("0003-L", 25, [(1, 0, 25, 1), (2, 10, 20, 2)]),
    ):
        (root / "PKU_Skeleton_Renew").mkdir(parents=True, exist_ok=True)
        (root / "Train_Label_PKU_final").mkdir(parents=True, exist_ok=True)
        write_pku_skeleton(
            root / "PKU_Skeleton_Renew" / f"{video}.txt", rng.normal(size=(frames, 150))
        )
        write_pku_labels(root / "Train_Label_PKU_final" / f"{video}.txt", rows)
    (root / "Split").mkdir()
    write_pku_split(root / "Split" / "cross-subject.txt", ["0002-L", "0002-M"], ["0003-L"])
    write_pku_split(root / "Split" / "cross-view.txt", ["0002-M"], ["0002-L", "0003-L"])


def test_pku_discovery_read_and_splits(tmp_path: Path) -> None:
    _pku_raw(tmp_path)
    info = get_dataset_info("pkummd1")
    assert isinstance(info, PkuDataset)
    sources = info.discover([tmp_path])
    assert [s.name for s in sources] == ["0002-L", "0002-M", "0003-L"]
    assert dict(sources[0].meta) == {"split_xsub": "train", "split_xview": "test"}
    samples = [s for source in sources for s in info.read(source)]
    assert [s.name for s in samples] == ["0002-L_0", "0002-L_1", "0002-M_0", "0003-L_0", "0003-L_1"]
    first = samples[1]
    assert first.label == 6
    assert first.data.shape == (18, 150)
    assert first.data.dtype == np.float64
    assert first.meta == {
        "video": "0002-L",
        "view": "L",
        "subject": 0,
        "start": 12,
        "end": 30,
        "confidence": 2,
        "row": 1,
        "split_xsub": "train",
        "split_xview": "test",
    }
    assert len({frozenset(s.meta) for s in samples}) == 1  # same keys for every sample
    reordered = samples[::-1]
    splits = info.assign_splits(reordered)
    names = {k: [reordered[i].name for i in v] for k, v in splits["xsub"].items()}
    assert names == {
        "train": ["0002-L_0", "0002-L_1", "0002-M_0"],
        "test": ["0003-L_0", "0003-L_1"],
    }
    assert [reordered[i].name for i in splits["xview"]["train"]] == ["0002-M_0"]


def test_pku_untrimmed_sequence(tmp_path: Path) -> None:
    _pku_raw(tmp_path)
    info = get_dataset_info("pkummd1")
    assert isinstance(info, PkuDataset)
    video = info.read_untrimmed(info.discover([tmp_path])[2])
    assert video.frames.shape == (25, 2, 25, 3)
    assert video.frames.dtype == np.float32
    assert video.frame_labels.tolist() == [0] * 10 + [1] * 10 + [0] * 5  # later row wins
    assert video.segments.tolist() == [[0, 0, 25], [1, 10, 20]]


def test_pku_discovery_errors(tmp_path: Path) -> None:
    info = get_dataset_info("pkummd2")
    (tmp_path / "v1").mkdir()
    write_pku_skeleton(tmp_path / "v1" / "0002-L.txt", np.zeros((2, 150)))
    with pytest.raises(DataError, match="no PKU-MMD Phase 2 skeleton file"):
        info.discover([tmp_path / "v1"])
    root = tmp_path / "v2"
    (root / "skeleton").mkdir(parents=True)
    write_pku_skeleton(root / "skeleton" / "A01N01-L.txt", np.ones((4, 150)))
    with pytest.raises(DataError, match=r"no cross_subject_v2\.txt split file found"):
        info.discover([root])
    write_pku_split(root / "cross_subject_v2.txt", ["A01N01-L"], [])
    write_pku_split(root / "cross_view_v2.txt", [], ["A01N01-L"])
    with pytest.raises(DataError, match=r"A01N01-L\.txt: no label file A01N01-L\.txt"):
        info.discover([root])
    (root / "label").mkdir()
    label = write_pku_labels(root / "label" / "A01N01-L.txt", [(1, 0, 3, 1), (2, 2, 5, 1)])
    (source,) = info.discover([root])
    with pytest.raises(
        DataError, match=rf"{re.escape(str(label))}:2: action interval \[2, 5\) lies outside"
    ):
        info.read(source)


def test_registered_in_the_registry() -> None:
    from skelkit.registry import get_registries

    registries = get_registries()
    for name in ("ntu60", "ntu120", "pkummd1", "pkummd2"):
        entry = registries.get("datasets", name)
        info = entry.spec.load()()
        assert info.name == name
        assert info.default_recipe == "ctrgcn"
    recipe = registries.get("recipes", "ctrgcn").spec.load()()
    assert recipe.name == "ctrgcn"

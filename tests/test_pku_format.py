"""PKU-MMD skeleton, label and split files: readers, writers, located errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelkit.data.pku_format import (
    PkuLabel,
    check_labels_in_sequence,
    parse_pku_video_name,
    read_pku_labels,
    read_pku_skeleton,
    read_pku_split,
    write_pku_labels,
    write_pku_skeleton,
    write_pku_split,
)
from skelkit.errors import DataError

BAD = Path(__file__).parent / "fixtures" / "bad_raw" / "pku"


def test_skeleton_round_trip_is_exact(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).normal(0, 1, (7, 2, 25, 3))
    frames[:, 1] = 0  # one person
    path = write_pku_skeleton(tmp_path / "0002-L.txt", frames)
    values = read_pku_skeleton(path)
    assert values.dtype == np.float64
    assert values.shape == (7, 150)
    np.testing.assert_array_equal(values, frames.reshape(7, 150))
    assert path.read_text().count("\n") == 7


def test_skeleton_digits_and_layout(tmp_path: Path) -> None:
    frames = np.full((2, 150), 0.123456789)
    path = write_pku_skeleton(tmp_path / "A01N02-R.txt", frames, digits=6)
    assert path.read_text().splitlines()[0].split()[:2] == ["0.123457", "0.123457"]
    with pytest.raises(ValueError, match="150 values"):
        write_pku_skeleton(tmp_path / "x.txt", np.zeros((2, 149)))


def test_label_rows(tmp_path: Path) -> None:
    path = write_pku_labels(tmp_path / "0002-L.txt", [(3, 10, 50, 1), (51, 60, 90, 2)])
    assert path.read_text() == "3,10,50,1\n51,60,90,2\n"
    path.write_text("3, 10, 50, 1\r\n\r\n51,60,90,2\r\n")  # spaces, CRLF, a blank line
    rows = read_pku_labels(path)
    assert rows == [PkuLabel(3, 10, 50, 1, 1), PkuLabel(51, 60, 90, 2, 3)]
    check_labels_in_sequence(rows, 90, path)
    with pytest.raises(DataError, match=r"0002-L\.txt:3: action interval \[60, 90\) lies outside"):
        check_labels_in_sequence(rows, 89, path)


def test_split_file_official_layout(tmp_path: Path) -> None:
    path = write_pku_split(tmp_path / "cross_view_v2.txt", ["A01N01-M", "A01N01-R"], ["A01N01-L"])
    assert path.read_text() == (
        "Training videos: \nA01N01-M, A01N01-R\nValidataion videos: \nA01N01-L\n"
    )
    assert read_pku_split(path).train == ("A01N01-M", "A01N01-R")
    # trailing comma and CRLF line ends, as in some distributed copies
    path.write_text("Training videos: \r\n0002-M, 0002-R, \r\nValidataion videos: \r\n0002-L,\r\n")
    split = read_pku_split(path)
    assert split.train == ("0002-M", "0002-R")
    assert split.test == ("0002-L",)


def test_video_names() -> None:
    one = parse_pku_video_name("0364-R")
    assert (one.phase, one.view, one.subject) == (1, "R", None)
    two = parse_pku_video_name("A26N13-M")
    assert (two.phase, two.view, two.subject) == (2, "M", 13)
    with pytest.raises(DataError, match="not a PKU-MMD video name"):
        parse_pku_video_name("0364-X")


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("empty_skeleton", 1, "the skeleton file is empty"),
        ("short_row", 4, "expected 150 numbers per frame"),
        ("non_numeric", 5, "skeleton value must be a number, found 'x1'"),
        ("nan_value", 3, "must be finite, found NaN"),
    ],
)
def test_bad_skeleton_files(name: str, line: int, message: str) -> None:
    path = BAD / f"{name}.txt"
    with pytest.raises(DataError) as info:
        read_pku_skeleton(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("label_fields", 2, "found 3 comma-separated fields"),
        ("label_action", 3, "action_id must be in 1..51, found 52"),
        ("label_order", 1, "end_frame 2 is before start_frame 5"),
        ("label_text", 1, "start_frame must be an integer, found 'a'"),
    ],
)
def test_bad_label_files(name: str, line: int, message: str) -> None:
    path = BAD / f"{name}.txt"
    with pytest.raises(DataError) as info:
        read_pku_labels(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_label_row_outside_the_sequence_names_file_and_line() -> None:
    path = BAD / "label_outside.txt"
    frames = read_pku_skeleton(BAD / "skeleton.txt")
    with pytest.raises(DataError) as info:
        check_labels_in_sequence(read_pku_labels(path), len(frames), path)
    assert str(info.value).startswith(f"{path}:2: action interval [2, 9) lies outside")
    assert "of 6 frames" in str(info.value)


def test_bad_split_files() -> None:
    with pytest.raises(DataError, match=r"split_no_header\.txt:1: expected a 'Training videos:'"):
        read_pku_split(BAD / "split_no_header.txt")
    with pytest.raises(DataError, match=r"split_bad_name\.txt:2: '02-M' is not a PKU-MMD"):
        read_pku_split(BAD / "split_bad_name.txt")

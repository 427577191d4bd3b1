"""The NTU ``.skeleton`` reader and writer: exact values, exact layout, located errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelkit.data.ntu_format import (
    BodyInfo,
    SkeletonBody,
    format_skeleton,
    parse_ntu_name,
    parse_skeleton_text,
    read_skeleton_file,
    write_skeleton_file,
)
from skelkit.errors import DataError

BAD = Path(__file__).parent / "fixtures" / "bad_raw" / "ntu"
NAME = "S001C002P003R002A013.skeleton"


def _body(body_id: int | str, seed: int) -> SkeletonBody:
    rng = np.random.default_rng(seed)
    return SkeletonBody.from_xyz(
        body_id,
        rng.normal(0, 0.5, (25, 3)),
        depth_xy=rng.uniform(0, 512, (25, 2)),
        color_xy=rng.uniform(0, 1920, (25, 2)),
        orientation=rng.normal(0, 1, (25, 4)),
        joint_tracking=rng.integers(0, 3, 25),
        info=BodyInfo(1, 2, 3, 4, 5, 6, -0.25, 0.125, 1),
    )


def test_exact_round_trip_keeps_every_field(tmp_path: Path) -> None:
    frames = [[_body(72057594037931101, 0), _body(18446744073709551615, 1)], [], [_body(7, 2)]]
    path = write_skeleton_file(tmp_path / NAME, frames, digits=None)
    parsed = read_skeleton_file(path)
    assert parsed.name == "S001C002P003R002A013"
    assert parsed.num_frames == 3
    assert [len(f) for f in parsed.frames] == [2, 0, 1]
    for want_frame, got_frame in zip(frames, parsed.frames, strict=True):
        for want, got in zip(want_frame, got_frame, strict=True):
            assert got.body_id == want.body_id
            assert got.info == want.info
            np.testing.assert_array_equal(got.joints, want.joints)
            np.testing.assert_array_equal(got.joint_tracking, want.joint_tracking)
    assert parsed.frames[0][1].body_id == "18446744073709551615"  # uint64 max, not rounded


def test_default_writer_rounds_like_the_real_files(tmp_path: Path) -> None:
    body = SkeletonBody.from_xyz(
        72057594037931101,
        np.full((25, 3), 0.218115312345),
        info=BodyInfo(0, 1, 1, 1, 1, 0, 0.02764709, 0.05745083, 2),
    )
    lines = list(format_skeleton([[body]]))
    assert lines[:3] == ["1", "1", "72057594037931101 0 1 1 1 1 0 0.02764709 0.05745083 2"]
    assert lines[3] == "25"
    assert lines[4] == "0.2181153 0.2181153 0.2181153 0 0 0 0 0 0 0 0 2"
    assert len(lines) == 4 + 25
    path = write_skeleton_file(tmp_path / NAME, [[body]])
    assert path.read_bytes().count(b"\r\n") == len(lines)  # CRLF, as distributed
    assert read_skeleton_file(path).frames[0][0].xyz[0, 0] == float("0.2181153")


def test_lf_crlf_and_surrounding_whitespace_parse_the_same() -> None:
    lines = list(format_skeleton([[_body(5, 3)], []], digits=None))
    lf = parse_skeleton_text("\n".join(lines) + "\n\n", NAME)
    crlf = parse_skeleton_text("\r\n".join(f"  {line}\t" for line in lines), NAME)
    np.testing.assert_array_equal(lf.frames[0][0].joints, crlf.frames[0][0].joints)
    assert crlf.num_frames == 2


def test_float32_equals_parsing_the_text_directly() -> None:
    # This decimal lies just above the midpoint of two float32 values, while its nearest
    # double is the midpoint itself: a direct correctly-rounded parse and a parse through
    # double differ. NumPy's str -> float32 goes through double, so the float64 values
    # cast to float32 equal what np.array(tokens, dtype=float32) gives (the references).
    token = "1.000000059604644775390625000001"
    joint = f"{token} 0.3 -2.5 0 0 0 0 0 0 0 0 2"
    text = "\n".join(["1", "1", "1 0 0 0 0 0 0 0 0 2", "25", *[joint] * 25])
    body = parse_skeleton_text(text, NAME).frames[0][0]
    direct = np.array([token, "0.3", "-2.5"], dtype=np.float32)
    np.testing.assert_array_equal(body.xyz.astype(np.float32)[0], direct)


def test_name_fields() -> None:
    fields = parse_ntu_name("S018C002P045R001A061")
    assert (fields.setup, fields.camera, fields.subject, fields.replication) == (18, 2, 45, 1)
    assert (fields.action, fields.label) == (61, 60)
    with pytest.raises(DataError, match=r"list\.txt:4: 'S18C002P045R001A061' is not an NTU"):
        parse_ntu_name("S18C002P045R001A061", "list.txt:4")


def test_writer_rejects_values_it_can_not_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(25, 3\)"):
        SkeletonBody.from_xyz(1, np.zeros((24, 3)))
    with pytest.raises(ValueError, match="non-negative integer"):
        SkeletonBody.from_xyz("-3", np.zeros((25, 3)))
    body = SkeletonBody.from_xyz(1, np.full((25, 3), np.nan))
    with pytest.raises(ValueError, match="non-finite"):
        write_skeleton_file(tmp_path / NAME, [[body]])


BAD_FILES = [
    ("S001C001P001R001A001", 1, "the file is empty"),
    ("S001C001P001R001A002", 41, "file ends early, expected a joint line"),
    ("S001C001P001R001A003", 10, "joint field must be a number, found 'abc'"),
    ("S001C001P001R001A004", 33, "joint count must be 25"),
    ("S001C001P001R001A005", 30, "10 fields, found 1 (does the body count 2 on line 2"),
    ("S001C001P001R001A006", 32, "unexpected text after the last of the 3 frames"),
    ("S001C001P001R001A007", 13, "must be finite, found NaN"),
    ("S001C001P001R001A008", 41, "must be finite, found NaN or inf"),
    ("S001C001P001R001A009", 1, "the frame count must be an integer, found 'three'"),
    ("S001C001P001R001A010", 3, "body-info line with 10 fields, found 9"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "line", "message"), BAD_FILES)
def test_bad_file_error_names_file_and_line(name: str, line: int, message: str) -> None:
    path = BAD / f"{name}.skeleton"
    with pytest.raises(DataError) as info:
        read_skeleton_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: ")
    assert message in text
    assert "\n" not in text


def test_bad_name_is_reported_and_crlf_control_file_reads() -> None:
    path = BAD / "S1C1P1R1A1.skeleton"
    with pytest.raises(DataError, match=r"S1C1P1R1A1\.skeleton: 'S1C1P1R1A1' is not an NTU"):
        read_skeleton_file(path)
    assert read_skeleton_file(path, check_name=False).num_frames == 3
    assert read_skeleton_file(BAD / "S001C001P001R001A011.skeleton").num_frames == 3


def test_unreadable_and_non_text_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="can not read the skeleton file"):
        read_skeleton_file(tmp_path / NAME)
    (tmp_path / NAME).write_bytes(b"1\n1\n\xff\xfe\n")
    with pytest.raises(DataError, match=r":3: not a text skeleton file"):
        read_skeleton_file(tmp_path / NAME)

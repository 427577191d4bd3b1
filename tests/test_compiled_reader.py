"""The compiled ``.skeleton`` reader: the same arrays and the same errors as the Python readers.

Every file here is read twice, by the compiled reader (which hands anything outside the plain
form to the Python readers) and by the Python readers alone, and the outcomes must be equal:
identical float64 values, bodyIDs, body-info fields and tracking states, or the same
DataError. The mutations put every kind of token into every field of a joint line, in the
middle of a file (read with the per-line byte masks) and at its end (read field by field).
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import sysconfig
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from skelkit.data import ntu_format
from skelkit.data.compiled import ntu_scanner
from skelkit.data.ntu_format import SkeletonFile, format_skeleton, read_skeleton_file
from skelkit.data.synth import synthesize
from skelkit.errors import DataError
from tests.test_fast_parse import (
    BAD,
    EDGE_NUMBERS,
    NOT_NUMBERS,
    ODD_NUMBERS,
    _bodies,
    _random_tokens,
    layout_text,
)

NAME = "S001C002P003R002A013.skeleton"
SCANNER = ntu_scanner()
needs_scanner = pytest.mark.skipif(SCANNER is None, reason="the C reader is not built here")
VARIANTS = SCANNER.variants() if SCANNER is not None else []


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each joint-line reader of the build in turn (field by field, SSE2 or AVX2 masks)."""
    assert SCANNER is not None
    previous = SCANNER.set_variant(request.param)
    yield request.param
    SCANNER.set_variant(previous)


def _compiler_found() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None


def test_the_reader_is_built_where_a_compiler_is_found() -> None:
    if not _compiler_found():
        pytest.skip("no C compiler: skelkit uses its Python readers")
    if os.environ.get("SKELKIT_NO_EXTENSION"):
        pytest.skip("SKELKIT_NO_EXTENSION turns the C reader off")
    assert SCANNER is not None, "reinstall skelkit (pip install -e .) to build the C reader"
    assert SCANNER.variants()[0] == "fields"
    with pytest.raises(ValueError, match="not available"):
        SCANNER.set_variant("no-such-reader")


def _outcome(read: Callable[[], SkeletonFile]) -> tuple[str, ...] | str:
    """Everything a reader gives for a file, as comparable bytes; or its error message."""
    try:
        skeleton = read()
    except DataError as err:
        return f"error: {err}"
    blocks = skeleton.blocks
    return (
        skeleton.name,
        repr(blocks.body_counts.tolist()),
        repr(blocks.body_ids),
        blocks.xyz.tobytes(),
        blocks.joints.tobytes(),
        blocks.joint_tracking.tobytes(),
        blocks.info.tobytes(),
        blocks.lean.tobytes(),
    )


def _both(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[object, object]:
    compiled = _outcome(lambda: read_skeleton_file(path))
    with monkeypatch.context() as patch:
        patch.setattr(ntu_format, "ntu_scanner", lambda: None)
        python = _outcome(lambda: read_skeleton_file(path))
    return compiled, python


@needs_scanner
def test_synthetic_files_are_read_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    synthesize("ntu60", tmp_path, samples=12, classes=6, seed=3)
    paths = sorted(tmp_path.rglob("*.skeleton"))
    assert len(paths) == 12
    for path in paths:
        assert SCANNER is not None
        assert SCANNER.scan(path.read_bytes()) is not None
        compiled, python = _both(monkeypatch, path)
        assert isinstance(compiled, tuple), compiled
        assert compiled == python, path.name


@needs_scanner
@pytest.mark.parametrize("digits", [7, None])
@pytest.mark.parametrize("layout", ["lf", "crlf", "spaces"])
def test_layouts_are_read_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits: int | None, layout: str, variant: str
) -> None:
    path = tmp_path / NAME
    path.write_text(layout_text(digits, layout))
    compiled, python = _both(monkeypatch, path)
    assert isinstance(compiled, tuple), compiled
    assert compiled == python


def _mutations(seed: int, count: int) -> list[str]:
    tokens = NOT_NUMBERS + ODD_NUMBERS + EDGE_NUMBERS + _random_tokens(count, seed)
    tokens += ["1.2.3", "-.", "-.5", ".5.", "5-", "-5-", "--5", "1-", "-0", "+2", "2.0", "2.5"]
    tokens += ["1" * 30 + ".5", "0." + "1" * 40, "1e300", "1e999", "-1e-999", "130", "-129"]
    rng = random.Random(seed)
    return [rng.choice(tokens) for _ in range(count)]


@needs_scanner
@pytest.mark.parametrize("where", ["middle", "end"])
def test_any_token_in_any_field_is_read_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, variant: str
) -> None:
    base = list(format_skeleton(_bodies(1), digits=7))
    # line 4 is the first joint line of the first body; the last line ends the file
    line = 4 if where == "middle" else len(base) - 1
    rng = random.Random(len(where))
    path = tmp_path / NAME
    outcomes = {"read": 0, "error": 0}
    for token in _mutations(seed=len(where), count=400):
        fields = base[line].split()
        fields[rng.randrange(len(fields))] = token
        lines = [*base[:line], " ".join(fields), *base[line + 1 :]]
        path.write_text("\r\n".join(lines) + "\r\n")
        compiled, python = _both(monkeypatch, path)
        assert compiled == python, (token, fields)
        outcomes["error" if isinstance(compiled, str) else "read"] += 1
    assert outcomes["read"] > 100, outcomes
    assert outcomes["error"] > 50, outcomes


@needs_scanner
def test_structure_changes_are_read_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    base = list(format_skeleton(_bodies(2), digits=7))
    path = tmp_path / NAME
    variants = {
        "a joint line with 13 fields": {4: base[4] + " 0"},
        "a joint line with 11 fields": {5: base[5].rsplit(" ", 1)[0]},
        "two spaces between fields": {6: base[6].replace(" ", "  ")},
        "a tab between fields": {7: base[7].replace(" ", "\t", 3)},
        "a long joint line": {8: base[8].replace(" ", " " * 20)},
        "a bodyID with a letter": {2: "x" + base[2]},
        "joint count 24": {3: "24"},
        "an empty line in a body": {9: ""},
        "a control character": {10: base[10] + "\x0c"},
        "a non-ASCII byte": {11: base[11] + " é"},
        "a lone carriage return": {12: base[12] + "\r0"},
    }
    for what, changes in variants.items():
        lines = [changes.get(i, line) for i, line in enumerate(base)]
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
        compiled, python = _both(monkeypatch, path)
        assert compiled == python, what


@needs_scanner
@pytest.mark.parametrize("path", sorted(BAD.glob("*.skeleton")), ids=lambda p: p.stem)
def test_broken_files_fail_alike(path: Path, monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    compiled, python = _both(monkeypatch, path)
    assert compiled == python


@needs_scanner
def test_other_joint_fields_are_converted_when_asked_for(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text("\r\n".join(format_skeleton(_bodies(5), digits=None)))
    skeleton = read_skeleton_file(path)
    assert skeleton.blocks.xyz.shape == (4, 25, 3)
    body = skeleton.frames[0][1]  # SkeletonBody objects convert every column
    assert body.body_id == "18446744073709551615"
    assert np.array_equal(body.joints[:, 0:3], skeleton.blocks.xyz[1])
    assert body.color_xy.shape == (25, 2)
    assert body.orientation.shape == (25, 4)


@needs_scanner
def test_body_motion_is_numpys_sum_of_variances_bit_for_bit() -> None:
    assert SCANNER is not None
    rng = np.random.default_rng(0)
    for _ in range(3000):
        rows = int(rng.integers(1, 2000))
        scale = rng.uniform(0.01, 10, size=3)
        joints = (rng.normal(size=(rows, 3)) * scale + rng.normal(size=3) * 5).astype(np.float32)
        want = np.sum(np.var(joints, axis=0))
        assert np.float32(SCANNER.body_motion(joints)).tobytes() == want.tobytes(), rows
    with pytest.raises(ValueError, match=r"float32 \(n, 3\)"):
        SCANNER.body_motion(np.zeros((0, 3), np.float32))


@needs_scanner
def test_crc32_is_zlibs() -> None:
    assert SCANNER is not None
    data = np.random.default_rng(0).integers(0, 256, 70_000, dtype=np.uint8).tobytes()
    view = memoryview(data)
    for start in range(0, 33, 7):  # unaligned starts
        for size in (0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 1000, 4099, 65_536):
            part = view[start : start + size]
            assert SCANNER.crc32(part) == zlib.crc32(part), (start, size)


def test_parsed_files_pickle(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text("\r\n".join(format_skeleton(_bodies(6), digits=7)))
    skeleton = read_skeleton_file(path)
    copy = pickle.loads(pickle.dumps(skeleton))
    assert copy.blocks.body_ids == skeleton.blocks.body_ids
    assert copy.blocks.joints.tobytes() == skeleton.blocks.joints.tobytes()
    assert copy.frames[2][0].joints.tobytes() == skeleton.frames[2][0].joints.tobytes()

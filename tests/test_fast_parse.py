"""The vectorised ``.skeleton`` reader: bit-identical to ``float``, declines what it can't prove."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from skelkit.data import ntu_format
from skelkit.data.fast_parse import _convert, _tokens, parse_blocks
from skelkit.data.ntu_format import BodyInfo, SkeletonBody, format_skeleton, read_skeleton_file
from skelkit.errors import DataError

BAD = Path(__file__).parent / "fixtures" / "bad_raw" / "ntu"
NAME = "S001C002P003R002A013.skeleton"
NOT_NUMBERS = ["-", ".", "-.", ".-5", "--1", "1-2", "1..2", "1.2.3", "abc", "5-", "0x10", "1/2"]
NOT_NUMBERS += ["1.234567890.5", "-1234567.8901.2", "12.-3", "-5.-", "-1234567890.12.3"]
ODD_NUMBERS = ["1e5", "1.5e-05", "-2E+3", "+3", "nan", "-inf", "1_000"]
EDGE_NUMBERS = [".5", "-.5", "5.", "-0", "-0.0", "0", "007", "123456789012345"]
EDGE_NUMBERS += ["12345678901234.5", "0.000000000000001", "1234567890123456", "9" * 20]


def _random_tokens(count: int, seed: int) -> list[str]:
    """Numbers spelled in every way the real files and Python's ``repr`` spell them."""
    rng = random.Random(seed)
    tokens = []
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:  # 7 significant digits, like the distributed files
            tokens.append(f"{rng.uniform(-5, 5):.7g}")
        elif kind == 1:  # tiny values: leading zeros after the point, or exponents
            tokens.append(f"{rng.uniform(-1e-3, 1e-3) * 10 ** -rng.randrange(4):.7g}")
        elif kind == 2:  # shortest round-trip text of a double (up to 17 digits)
            tokens.append(repr(rng.uniform(-2000, 2000)))
        elif kind == 3:
            tokens.append(str(rng.randint(-(10**17), 10**17)))
        elif kind == 4:  # arbitrary digit strings with the point anywhere
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
            point = rng.randint(0, len(digits))
            sign = rng.choice(["", "-"])
            tokens.append(f"{sign}{digits[:point]}.{digits[point:]}")
        else:
            tokens.append(rng.choice(NOT_NUMBERS + ODD_NUMBERS + EDGE_NUMBERS))
    return tokens


def _is_plain(token: str) -> bool:
    """The form the fast path reads itself: [-]digits[.digits], at most 16 bytes, 15 digits."""
    plain = re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", token) is not None
    return plain and len(token) <= 16 and sum(c.isdigit() for c in token) <= 15


def _float_or_none(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_exact_values_are_bit_identical_to_float(newline: str) -> None:
    tokens = _random_tokens(60_000, seed=len(newline))
    lines = [" ".join(tokens[i : i + 12]) for i in range(0, len(tokens), 12)]
    padded, starts, ends, _ = _tokens(newline.join(lines).encode("ascii"))
    values, exact, integral = _convert(padded, starts, ends)
    assert starts.size == len(tokens)
    assert exact.mean() > 0.35  # the plain forms (about 40% here) are read by the fast path
    wanted = [_float_or_none(token) for token in tokens]
    for token, value, is_exact, is_integral, want in zip(
        tokens, values.tolist(), exact.tolist(), integral.tolist(), wanted, strict=True
    ):
        assert is_exact == _is_plain(token), token
        if not is_exact:
            continue
        assert want is not None, token
        assert np.float64(value).tobytes() == np.float64(want).tobytes(), token
        assert is_integral == ("." not in token), token


def test_tokens_that_are_not_plain_numbers_are_never_exact() -> None:
    tokens = NOT_NUMBERS + ODD_NUMBERS
    padded, starts, ends, _ = _tokens(" ".join(tokens).encode("ascii"))
    _, exact, _ = _convert(padded, starts, ends)
    assert not exact.any()
    rng = np.random.default_rng(0)
    # %.7g of magnitudes 1e-4 .. 1e4 (smaller ones are written with an exponent)
    magnitudes = rng.uniform(1, 10, 5000) * 10.0 ** rng.integers(-4, 4, 5000)
    signs = rng.choice([-1.0, 1.0], 5000)
    like_the_real_files = [f"{v:.7g}" for v in signs * magnitudes]
    plain = EDGE_NUMBERS[:-3] + like_the_real_files
    padded, starts, ends, _ = _tokens(" ".join(plain).encode("ascii"))
    _, exact, _ = _convert(padded, starts, ends)
    assert exact.all()  # up to 15 digits and 16 bytes


def _bodies(seed: int) -> list[list[SkeletonBody]]:
    rng = np.random.default_rng(seed)

    def body(body_id: int) -> SkeletonBody:
        return SkeletonBody.from_xyz(
            body_id,
            rng.normal(0, 0.5, (25, 3)) * 10.0 ** rng.integers(-6, 3, (25, 3)),
            depth_xy=rng.uniform(0, 512, (25, 2)),
            color_xy=rng.uniform(0, 1920, (25, 2)),
            orientation=rng.normal(0, 1, (25, 4)),
            joint_tracking=rng.integers(0, 3, 25),
            info=BodyInfo(1, 2, 3, 4, 5, 6, float(rng.normal()), -0.125, 1),
        )

    return [[body(72057594037931101), body(18446744073709551615)], [], [body(7)], [body(8)]]


def layout_text(digits: int | None, layout: str) -> str:
    """The text of :func:`_bodies` written with ``digits``, in one of the accepted layouts:
    ``lf`` (and a blank line at the end), ``crlf``, or ``spaces`` (tabs and runs of spaces)."""
    lines = list(format_skeleton(_bodies(int(digits or 0)), digits=digits))
    if layout == "lf":
        return "\n".join(lines) + "\n\n"
    if layout == "crlf":
        return "\r\n".join(lines) + "\r\n"
    return "\n".join(f"\t {line.replace(' ', '  ')} " for line in lines)


def _assert_same(fast: ntu_format.SkeletonFile, exact: ntu_format.SkeletonFile) -> None:
    assert fast.name == exact.name
    assert [len(frame) for frame in fast.frames] == [len(frame) for frame in exact.frames]
    for fast_frame, exact_frame in zip(fast.frames, exact.frames, strict=True):
        for got, want in zip(fast_frame, exact_frame, strict=True):
            assert got.body_id == want.body_id
            assert got.info == want.info
            assert got.joints.dtype == want.joints.dtype == np.float64
            assert got.joints.tobytes() == want.joints.tobytes()
            assert got.joint_tracking.dtype == want.joint_tracking.dtype == np.int8
            assert got.joint_tracking.tobytes() == want.joint_tracking.tobytes()


@pytest.mark.parametrize("digits", [7, None])
@pytest.mark.parametrize("layout", ["lf", "crlf", "spaces"])
def test_fast_reader_equals_line_reader(tmp_path: Path, digits: int | None, layout: str) -> None:
    text = layout_text(digits, layout)
    path = tmp_path / NAME
    path.write_bytes(text.encode("ascii"))
    assert parse_blocks(text.encode("ascii")) is not None  # the fast path reads it
    exact = ntu_format._parse_lines(text, path, NAME.removesuffix(".skeleton"))
    _assert_same(read_skeleton_file(path), exact)
    _assert_same(ntu_format.parse_skeleton_text(text, path), exact)


def test_unusual_spellings_are_left_to_the_line_reader(tmp_path: Path) -> None:
    lines = list(format_skeleton(_bodies(3), digits=7))
    plain = "\n".join(lines)
    variants = {
        "plus sign in an integer field": plain.replace(" 1 2 3 4", " +1 2 3 4", 1),
        "joint count +25": plain.replace("\n25\n", "\n+25\n", 1),
        "vertical tab as a line end": plain.replace("\n", "\x0b", 1),
        "lone carriage return": plain.replace("\n", "\r", 1),
    }
    path = tmp_path / NAME
    path.write_text(plain)
    expected = read_skeleton_file(path)
    for what, text in variants.items():
        assert text != plain, what
        assert parse_blocks(text.encode("ascii")) is None, what
        path.write_bytes(text.encode("ascii"))
        _assert_same(read_skeleton_file(path), expected)  # the line reader reads them


def test_exponents_and_long_numbers_in_float_fields_are_converted_exactly(tmp_path: Path) -> None:
    lines = list(format_skeleton(_bodies(4), digits=None))
    joint = lines[4].split()
    joint[0:4] = ["1.5e-05", "-2E+3", "0.000000000000001", "1.000000059604644775390625000001"]
    lines[4] = " ".join(joint)
    text = "\r\n".join(lines)
    blocks = parse_blocks(text.encode("ascii"))
    assert blocks is not None
    assert blocks.joints[0, 0, :4].tolist() == [float(token) for token in joint[:4]]
    path = tmp_path / NAME
    path.write_text(text)
    _assert_same(read_skeleton_file(path), ntu_format._parse_lines(text, path, path.stem))


@pytest.mark.parametrize("path", sorted(BAD.glob("*.skeleton")), ids=lambda p: p.stem)
def test_broken_files_are_left_to_the_line_reader(path: Path) -> None:
    blocks = parse_blocks(path.read_bytes())
    if path.stem in {"S001C001P001R001A011", "S1C1P1R1A1"}:  # well-formed content
        assert blocks is not None
    elif path.stem in {"S001C001P001R001A007", "S001C001P001R001A008"}:
        assert blocks is not None  # nan / inf are numbers; the reader rejects them with a line
        with pytest.raises(DataError, match="must be finite"):
            read_skeleton_file(path)
    else:
        assert blocks is None

"""Vectorised reading of well-formed NTU ``.skeleton`` text (NumPy, no compiled code).

The compiled reader (``skelkit.data._ntu_scan``) is tried first; this one serves where it is
not built and for the files it declines.

:func:`parse_blocks` reads a file's layout and numbers with a few NumPy passes over its bytes
instead of Python work per line and token. It only accepts what it can prove it reads exactly
like :mod:`skelkit.data.ntu_format`'s line-by-line reader; for anything else (a broken file, an
unusual but valid spelling such as ``+1`` or ``1e-05`` in an integer field, a control
character) it returns ``None`` and the caller uses the line-by-line reader, which gives the
result or the located error.

Numbers: a token ``[-]digits[.digits]`` of at most 16 bytes and 15 digits has the exact
integer value ``M`` of its digits (below 2**53) and ``k`` digits after the point, so
``M / 10**k`` is one IEEE division of two exactly represented doubles. That division is
correctly rounded, as is Python's ``float(token)``, so both give the same double. Any other
token (an exponent, more digits, ``nan``) that the file needs is converted with ``float``.

The digits are read eight at a time: the 16 bytes that end a token are loaded as two
little-endian 64-bit words, the decimal point is found and squeezed out with byte masks,
and each word of eight ASCII digits becomes an integer with three multiply-and-shift steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

NUM_JOINTS = 25
JOINT_FIELDS = 12
BODY_INFO_FIELDS = 10
#: Lines of one body: the body-info line, the joint count and the joint lines.
BODY_LINES = 2 + NUM_JOINTS
_SPACES = b" " * 16  # padding: every token has 16 bytes before its end
_U64 = np.uint64
_ZEROS = _U64(0x3030303030303030)  # eight ASCII '0'
_DOTS = _U64(0x2E2E2E2E2E2E2E2E)
_LOW7 = _U64(0x7F7F7F7F7F7F7F7F)
_NIBBLE_HIGH = _U64(0xF0F0F0F0F0F0F0F0)
_CHUNK = 12288  # tokens per step: the temporaries stay in the CPU cache


def _keep_masks() -> np.ndarray:
    """uint64 ``(17, 2)``: row ``start`` keeps the bytes ``start..15`` of a 16-byte window.

    The window is two little-endian words: window byte ``j`` is byte ``j`` of word 0 for
    ``j < 8`` and byte ``j - 8`` of word 1 otherwise.
    """
    masks = np.zeros((17, 2), dtype=np.uint64)
    for start in range(17):
        value = sum(0xFF << (8 * j) for j in range(start, 16))
        masks[start] = value & 0xFFFFFFFFFFFFFFFF, value >> 64
    return masks


_KEEP = _keep_masks()  # indexed by a window index: the bytes at and after it
# Indexed by slot (1 + the window index of the point, 0 for none): the bytes before the point.
_BEFORE_SLOT = np.concatenate((np.zeros((1, 2), np.uint64), ~_KEEP[:16]))
# Indexed by slot (+ 17 for a negative number): +-10 ** (digits after the point).
_DIVISOR = np.concatenate(([1.0], 10.0 ** np.arange(15, -1, -1)))
_DIVISOR = np.concatenate((_DIVISOR, -_DIVISOR))


@dataclass(frozen=True)
class Blocks:
    """A file read by :func:`parse_blocks`.

    Attributes:
        body_counts: bodies per frame, one entry per recorded frame.
        body_ids: the bodyID text of every body, in file order.
        info_ints: int64 ``(bodies, 7)``: clipedEdges, the four hand fields, isResticted and
            trackingState of each body-info line.
        lean: float64 ``(bodies, 2)``: leanX, leanY.
        joints: float64 ``(bodies, 25, 12)``: the joint lines' fields.
    """

    body_counts: list[int]
    body_ids: list[str]
    info_ints: np.ndarray
    lean: np.ndarray
    joints: np.ndarray


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """The integers of words of eight ASCII digits (first digit in the lowest byte)."""
    value = word & _U64(0x0F0F0F0F0F0F0F0F)  # the digits' values
    value *= _U64(10 << 8 | 1)  # pairs of digits ...
    value >>= _U64(8)
    value &= _U64(0x00FF00FF00FF00FF)
    value *= _U64(100 << 16 | 1)  # ... groups of four ...
    value >>= _U64(16)
    value &= _U64(0x0000FFFF0000FFFF)
    value *= _U64(10000 << 32 | 1)  # ... all eight
    value >>= _U64(32)
    return value


def _all_digits(word: np.ndarray) -> np.ndarray:
    """Whether every byte of each word is an ASCII digit."""
    carried = word + _U64(0x0606060606060606)  # a byte above '9' carries into the high nibble
    carried &= _NIBBLE_HIGH
    carried >>= _U64(4)
    carried |= word & _NIBBLE_HIGH
    return carried == _U64(0x3333333333333333)


def _zero_byte_flags(word: np.ndarray) -> np.ndarray:
    """``0x80`` in every byte of each word that is zero, ``0`` elsewhere (exact)."""
    flags = word & _LOW7
    flags += _LOW7  # the high bit is set where the low seven bits are not all zero
    flags |= word
    flags |= _LOW7
    return np.invert(flags, out=flags)


def _dot_slot(dots: np.ndarray) -> np.ndarray:
    """``1 +`` the byte index (0-7) of the highest set bit of each word, ``0`` if none is set."""
    _, exponent = np.frexp(dots.astype(np.float64))
    return exponent >> 3


def _convert(padded: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Values of the tokens ``padded[starts:ends]`` with masks of those read exactly.

    Returns ``(values, exact, integral)``: float64 values, where they are exact (the token is
    ``[-]digits[.digits]`` within the limits of the module docstring; others are left 0), and
    which exact tokens have no decimal point. Works in chunks that stay in the CPU cache.
    """
    values = np.empty(starts.size, dtype=np.float64)
    exact = np.empty(starts.size, dtype=bool)
    integral = np.empty(starts.size, dtype=bool)
    # windows[i] = the 16 bytes starting at padded[i], as one raw item (gathered fast)
    windows = as_strided(
        np.frombuffer(padded, dtype="V16", count=1), shape=(len(padded) - 15,), strides=(1,)
    )
    buffer = np.frombuffer(padded, dtype=np.uint8)
    for first in range(0, starts.size, _CHUNK):
        chunk = slice(first, first + _CHUNK)
        values[chunk], exact[chunk], integral[chunk] = _convert_chunk(
            windows, buffer, starts[chunk], ends[chunk]
        )
    return values, exact, integral


def _convert_chunk(
    windows: np.ndarray, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_convert` for one chunk; ``windows[i]`` are the 16 bytes from ``buffer[i]``."""
    # (n, 2) words: the last 16 bytes of each token
    window = windows[ends - 16].view("<u8").reshape(-1, 2).astype(np.uint64, copy=False)
    length = ends - starts
    first = 16 - np.minimum(length, 16)  # the window index of the token's first byte
    negative = buffer[starts] == ord("-")
    dots = _zero_byte_flags(window ^ _DOTS) & np.take(_KEEP, first, axis=0)
    # slot: 1 + the window index of the (last) point, 0 without a point. Any other point or
    # sign is left among the digits, where the digit check below rejects the token.
    slot = np.where(dots[:, 1] != 0, 8 + _dot_slot(dots[:, 1]), _dot_slot(dots[:, 0]))
    has_dot = slot != 0
    # Squeeze the point out: the bytes before it move one byte towards the end of the token.
    moved = window & np.take(_BEFORE_SLOT, slot, axis=0)
    window &= np.take(_KEEP, slot, axis=0)
    window |= moved << _U64(8)
    window[:, 1] |= moved[:, 0] >> _U64(56)
    digits = length - negative - has_dot
    keep = np.take(_KEEP, 16 - np.clip(digits, 0, 16), axis=0)
    window &= keep
    window |= _ZEROS & ~keep
    exact = (length <= 16) & (digits >= 1) & (digits <= 15)
    all_digits = _all_digits(window)
    exact &= all_digits[:, 0] & all_digits[:, 1]
    mantissa = _eight_digits(window)
    mantissa = mantissa[:, 0] * _U64(100000000) + mantissa[:, 1]
    # A negative divisor gives exactly the negated quotient (and -0.0 for "-0").
    values = mantissa.astype(np.float64) / _DIVISOR[slot + 17 * negative]
    np.copyto(values, 0.0, where=~exact)
    return values, exact, exact & ~has_dot


def _tokens(data: bytes) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray] | None:
    """Pad ``data``; return it with the token bounds and the line ends (``\\n`` positions).

    ``None`` when the text has a control character other than tab, LF and CRLF (Python
    splits lines or fields at some of those; the line-by-line reader handles them).
    """
    padded = b"".join((_SPACES, data, _SPACES))
    buffer = np.frombuffer(padded, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == ord("\n"))
    controls = np.count_nonzero(buffer < ord(" "))
    if controls != newlines.size:
        returns = np.count_nonzero(buffer == ord("\r"))
        if returns != np.count_nonzero(buffer[newlines - 1] == ord("\r")):
            return None  # a carriage return that does not end a line
        if controls != newlines.size + returns:
            tabs = np.count_nonzero(buffer == ord("\t"))
            if controls != newlines.size + returns + tabs:
                return None
    solid = buffer > ord(" ")
    edges = np.flatnonzero(solid[1:] != solid[:-1]) + 1
    return padded, edges[0::2], edges[1::2], newlines


def parse_blocks(data: bytes) -> Blocks | None:
    """Read an NTU ``.skeleton`` file's bytes, or ``None`` when it needs the exact reader.

    ``None`` means the text is not in the plain form this function proves exact (see the
    module docstring): malformed files, but also valid files with unusual spellings.
    """
    found = _tokens(data)
    if found is None:
        return None
    padded, starts, ends, newlines = found
    line_count = newlines.size + (0 if data.endswith(b"\n") else 1)
    if starts.size == 0:
        return None
    # Tokens per line and the index of each line's first token.
    bounds = np.concatenate(([0], np.searchsorted(starts, newlines), [starts.size]))
    per_line = np.diff(bounds)[:line_count]
    first_token = bounds[:line_count]
    values, exact, integral = _convert(padded, starts, ends)
    # The value of every line that is one plain non-negative integer, -1 for other lines.
    first_or_last = np.minimum(first_token, starts.size - 1)
    is_count = (per_line == 1) & integral[first_or_last]
    counts = np.where(is_count, values[first_or_last], -1.0).astype(np.int64).tolist()
    frame_count = counts[0]
    line = 1
    body_counts: list[int] = []
    info_lines: list[int] = []
    for _ in range(max(frame_count, 0)):
        body_count = counts[line] if line < line_count else -1
        if body_count < 0:
            return None
        body_counts.append(body_count)
        info_lines.extend(range(line + 1, line + 1 + BODY_LINES * body_count, BODY_LINES))
        line += 1 + BODY_LINES * body_count
    if frame_count < 0 or line > line_count or per_line[line:].any():
        return None
    info = np.asarray(info_lines, dtype=np.int64)
    joint_lines = info[:, None] + 2 + np.arange(NUM_JOINTS)
    if not (
        (per_line[info] == BODY_INFO_FIELDS).all()
        and (per_line[info + 1] == 1).all()
        and (per_line[joint_lines] == JOINT_FIELDS).all()
    ):
        return None
    info_tokens = first_token[info][:, None] + np.arange(BODY_INFO_FIELDS)
    joint_count = first_token[info + 1]
    if not (integral[joint_count] & (values[joint_count] == NUM_JOINTS)).all():
        return None
    int_tokens = info_tokens[:, [1, 2, 3, 4, 5, 6, 9]]
    if not integral[int_tokens].all():
        return None
    id_tokens = info_tokens[:, 0]
    body_ids = [
        padded[start:end]
        for start, end in zip(starts[id_tokens].tolist(), ends[id_tokens].tolist(), strict=True)
    ]
    if not all(body_id.isdigit() for body_id in body_ids):
        return None
    joint_tokens = first_token[joint_lines][:, :, None] + np.arange(JOINT_FIELDS)
    lean_tokens = info_tokens[:, 7:9]
    try:
        joints = _exact_values(padded, starts, ends, values, exact, joint_tokens)
        lean = _exact_values(padded, starts, ends, values, exact, lean_tokens)
    except ValueError:
        return None
    return Blocks(
        body_counts,
        [body_id.decode("ascii") for body_id in body_ids],
        values[int_tokens].astype(np.int64),
        lean,
        joints,
    )


def _exact_values(
    padded: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    values: np.ndarray,
    exact: np.ndarray,
    tokens: np.ndarray,
) -> np.ndarray:
    """The values of ``tokens``, converting those outside the fast form with ``float``.

    Raises:
        ValueError: a token is not a number.
    """
    out = values[tokens]
    for position in np.flatnonzero(~exact[tokens]).tolist():
        token = int(tokens.flat[position])
        out.flat[position] = float(padded[int(starts[token]) : int(ends[token])])
    return out

"""Type declarations of the module compiled from ``_ntu_scan.c`` (see skelkit.data.compiled)."""

VERSION: int

def scan(
    data: bytes, all_columns: bool = False, /
) -> tuple[bytearray, list[str], bytearray, bytearray, bytearray, bytearray, bytearray] | None:
    """Read plain NTU ``.skeleton`` bytes; ``None`` when the text needs the exact reader."""

def body_motion(joints: object, /) -> float:
    """``np.sum(np.var(joints, axis=0))`` of C-contiguous float32 ``(n, 3)`` joints, exactly."""

def variants() -> list[str]:
    """The joint-line readers available here (``fields``, ``sse2``, ``avx2``), fastest last."""

def set_variant(name: str, /) -> str:
    """Use another joint-line reader (all give the same results); return the previous one."""

def crc32(data: bytes, /) -> int:
    """``zlib.crc32(data)``, computed with carry-less multiplications where available."""

def fast_crc32() -> bool:
    """Whether :func:`crc32` uses PCLMULQDQ on this CPU (faster than zlib's)."""

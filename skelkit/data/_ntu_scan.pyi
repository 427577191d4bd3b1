"""Type stub of the compiled reader built from ``_ntu_scan.c`` (see skelkit.data.compiled)."""

VERSION: int

def scan(
    data: bytes, all_columns: bool = False, /
) -> tuple[bytearray, list[str], bytearray, bytearray, bytearray, bytearray, bytearray] | None:
    """Read plain NTU ``.skeleton`` bytes; ``None`` when the text needs the exact reader."""

"""``python -m skelkit``: the same as the ``skelkit`` command."""

from __future__ import annotations

from skelkit.cli import main

if __name__ == "__main__":
    main()

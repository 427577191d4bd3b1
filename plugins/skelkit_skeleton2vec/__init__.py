"""skelkit plugin for Skeleton2vec.

"Skeleton2vec: A Self-supervised Learning Framework with Contextualized Target
Representations for Skeleton Sequence" (2024). The plugin registers through the ``skelkit``
entry-point group like any third-party plugin. Its components (contextual teacher target,
tube masker, presets, pyskl recipe, weight import) are not implemented yet; until then it
provides nothing.
"""

from __future__ import annotations

PAPER = {
    "title": (
        "Skeleton2vec: A Self-supervised Learning Framework with Contextualized Target "
        "Representations for Skeleton Sequence"
    ),
    "year": 2024,
}

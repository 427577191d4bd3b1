"""Shell-completion callbacks: names come from the registries, so plugins complete too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def complete_plugins(incomplete: str) -> list[str]:
    """Names of installed plugins."""
    from skelkit.plugins import get_plugin_manager

    manager = get_plugin_manager()
    names = [n for n, r in manager.records.items() if not (r.builtin and "." in n)]
    return [n for n in sorted(names) if n.startswith(incomplete)]


def complete_kind(kind: str) -> Callable[[str], list[str]]:
    """A completion callback listing the component names of one kind."""

    def complete(incomplete: str) -> list[str]:
        from skelkit.registry import get_registries

        return [n for n in get_registries()[kind].names() if n.startswith(incomplete)]

    complete.__name__ = f"complete_{kind}"
    return complete


def complete_kinds(incomplete: str) -> list[str]:
    """Component kinds."""
    from skelkit.specs import KINDS

    return [k for k in KINDS if k.startswith(incomplete)]


def complete_set(incomplete: str) -> list[str]:
    """``--set`` keys: component names after ``SECTION.name=``, else section prefixes."""
    from skelkit.registry import SECTION_KINDS, get_registries

    section, dot, rest = incomplete.partition(".")
    if dot and rest.startswith("name=") and section in SECTION_KINDS:
        names = get_registries()[SECTION_KINDS[section]].names()
        return [
            f"{section}.name={n}" for n in names if f"{section}.name={n}".startswith(incomplete)
        ]
    from skelkit.config import PLAIN_SECTIONS

    sections = [*SECTION_KINDS, *PLAIN_SECTIONS]
    return [f"{s}." for s in sections if f"{s}.".startswith(incomplete)]


def complete_choices(*choices: str) -> Callable[[str], list[str]]:
    """A completion callback over fixed choices (``--device auto|cpu|cuda``)."""

    def complete(incomplete: str) -> list[str]:
        return [c for c in choices if c.startswith(incomplete)]

    return complete


def _store_splits(ctx: Any) -> dict[str, tuple[str, ...]]:
    """Splits of the store given with ``--data`` on the command line so far (or none)."""
    data = (ctx.params or {}).get("data") if ctx is not None else None
    if not data:
        return {}
    try:
        from skelkit.data.store import open_store

        with open_store(data) as store:
            return store.splits
    except Exception:  # completion must never fail: no file yet, not a store, ...
        return {}


def complete_splits(ctx: Any, incomplete: str) -> list[str]:
    """``--split`` names read from the ``--data`` store already typed."""
    return [s for s in sorted(_store_splits(ctx)) if s.startswith(incomplete)]


def complete_parts(ctx: Any, incomplete: str) -> list[str]:
    """``--part`` names of the ``--split`` (or every split) of the ``--data`` store."""
    splits = _store_splits(ctx)
    split = (ctx.params or {}).get("split") if ctx is not None else None
    parts = (
        set(splits.get(split, ())) if split in splits else {p for v in splits.values() for p in v}
    )
    return [p for p in sorted(parts) if p.startswith(incomplete)]

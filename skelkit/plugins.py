"""The plugin manager: built-in modules, entry points, one-at-a-time loading, failures.

Core components (datasets, the generic method, shared encoders...) are registered from the
modules in :data:`BUILTIN_PLUGINS`. Everything else, the three paper plugins shipped in the
skelkit wheel included, is found through the ``skelkit`` entry-point group, exactly as a
third-party plugin is.

Entry points load one at a time: a plugin that fails to import or to validate is skipped
with a one-line warning on stderr and recorded as ``failed`` (``skelkit plugins`` shows it);
asking for it explicitly with ``--plugin NAME`` is an error naming the cause.

Environment:
    SKELKIT_DISABLE_PLUGINS=a,b  do not load these entry-point plugins.
    SKELKIT_LOAD_PLUGINS=a,b     load only these third-party plugins (empty: none); the
                                 plugins shipped with skelkit always load.
    SKELKIT_STRICT_PLUGINS=1     a plugin that fails to load is an error, not a warning.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

import pluggy

from skelkit import hookspecs
from skelkit.errors import PluginError

ENTRY_POINT_GROUP = "skelkit"
CORE_DIST = "skelkit"

#: Modules of the core's own components, registered directly (not through entry points).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "skelkit.methods.components",
    "skelkit.data.transform_components",
    "skelkit.evaluate.components",
    "skelkit.data.components",
    "skelkit.export.components",
)


@dataclass
class PluginRecord:
    """What ``skelkit plugins`` reports about one plugin."""

    name: str
    module: str
    dist: str | None = None
    version: str | None = None
    builtin: bool = False
    status: str = "ok"  # ok | failed | disabled
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``--json`` output."""
        return {
            "name": self.name,
            "module": self.module,
            "dist": self.dist,
            "version": self.version,
            "builtin": self.builtin,
            "status": self.status,
            "error": self.error,
            "provides": self.provides,
        }


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class PluginManager:
    """skelkit's plugin manager: a pluggy manager plus a record of every plugin."""

    def __init__(self, *, warn: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._warn = warn
        self._entry_points: dict[str, metadata.EntryPoint] = {}
        self._register_builtins()
        self._load_entry_points()

    # -- loading ---------------------------------------------------------------------

    def _register_builtins(self) -> None:
        from skelkit import __version__

        for module_name in BUILTIN_PLUGINS:
            module = import_module(module_name)
            self.pm.register(module, name=module_name)
            self.records[module_name] = PluginRecord(
                name=module_name,
                module=module_name,
                dist=CORE_DIST,
                version=__version__,
                builtin=True,
            )

    def _load_entry_points(self) -> None:
        disabled = set(_env_list("SKELKIT_DISABLE_PLUGINS") or [])
        only = _env_list("SKELKIT_LOAD_PLUGINS")
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._entry_points:
                continue  # the same distribution seen twice on sys.path
            self._entry_points[ep.name] = ep
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            builtin = dist == CORE_DIST
            record = PluginRecord(
                name=ep.name, module=ep.value, dist=dist, version=version, builtin=builtin
            )
            self.records[ep.name] = record
            if ep.name in disabled:
                record.status = "disabled"
                record.error = "disabled by SKELKIT_DISABLE_PLUGINS"
                continue
            if only is not None and not builtin and ep.name not in only:
                record.status = "disabled"
                record.error = "not listed in SKELKIT_LOAD_PLUGINS"
                continue
            self._load_one(ep, record)

    def _load_one(self, ep: metadata.EntryPoint, record: PluginRecord) -> None:
        try:
            plugin = ep.load()
            self.pm.register(plugin, name=ep.name)
            try:
                self.pm.check_pending()
            except pluggy.PluginValidationError:
                self.pm.unregister(name=ep.name)
                raise
        except Exception as exc:
            record.status = "failed"
            record.error = _describe_exception(exc)
            if os.environ.get("SKELKIT_STRICT_PLUGINS") == "1":
                raise PluginError(self._failure_line(record)) from exc
            if self._warn:
                print(
                    f"skelkit: warning: {self._failure_line(record)}; "
                    "run 'skelkit plugins' for details",
                    file=sys.stderr,
                )

    @staticmethod
    def _failure_line(record: PluginRecord) -> str:
        origin = f" ({record.dist} {record.version})" if record.dist else ""
        return f"plugin '{record.name}'{origin} failed to load: {record.error}"

    # -- queries ---------------------------------------------------------------------

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register an in-process plugin object (tests, notebooks)."""
        from skelkit import registry

        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self.records[name] = PluginRecord(name=name, module=getattr(plugin, "__name__", name))
        registry.reset_registries()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register`."""
        from skelkit import registry

        self.pm.unregister(name=name)
        self.records.pop(name, None)
        registry.reset_registries()

    def loaded(self) -> list[str]:
        """Names of the plugins that are registered and working."""
        return [n for n, r in self.records.items() if r.status == "ok"]

    def require(self, name: str) -> PluginRecord:
        """Return the record of a plugin the user asked for by name (``--plugin NAME``).

        Raises PluginError when the plugin is unknown (with "did you mean"), failed to load
        (with the cause) or is disabled.
        """
        record = self.records.get(name)
        if record is None:
            known = sorted(n for n, r in self.records.items() if not r.builtin or "." not in n)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            listing = ", ".join(known) or "none"
            raise PluginError(
                f"unknown plugin '{name}'.{hint} Installed plugins: {listing}. "
                "Install one with 'pip install skelkit-<name>'."
            )
        if record.status == "failed":
            raise PluginError(
                f"{self._failure_line(record)}. Fix or reinstall it "
                f"(pip install --force-reinstall {record.dist or name})."
            )
        if record.status == "disabled":
            raise PluginError(
                f"plugin '{name}' is {record.error}; remove it from that variable to use it."
            )
        return record

    def hook_results(self, hook_name: str) -> Iterable[tuple[str, list[Any]]]:
        """Call a component hook once per plugin, yielding ``(plugin_name, results)``.

        A plugin whose hook raises is marked failed and skipped (with a warning).
        """
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order
            name = impl.plugin_name
            try:
                result = impl.function()
                items = list(result) if result is not None else []
            except Exception as exc:
                record = self.records.setdefault(name, PluginRecord(name=name, module=name))
                record.status = "failed"
                record.error = f"{hook_name}: {_describe_exception(exc)}"
                if self._warn:
                    print(f"skelkit: warning: {self._failure_line(record)}", file=sys.stderr)
                continue
            yield name, items


_MANAGER: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """Return the process-wide plugin manager, creating it on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


def reset_plugin_manager() -> None:
    """Forget the cached manager and registries (tests; after installing a plugin)."""
    global _MANAGER
    _MANAGER = None
    from skelkit import registry

    registry.reset_registries()

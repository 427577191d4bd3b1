"""One registry per component kind, built from the plugins' hook results, with provenance.

A component is named ``name`` or, to pick one of several providers, ``plugin:name``.
Resolving a name two plugins provide is an error naming both; an unknown name gets a
"did you mean" and the list of available names.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from skelkit.errors import ConfigError, PluginError
from skelkit.plugins import PluginManager, get_plugin_manager
from skelkit.specs import KINDS, SPEC_TYPES, AnySpec, ComponentSpec

#: Config section -> component kind. Sections not listed here are plain settings.
SECTION_KINDS: dict[str, str] = {
    "encoder": "encoders",
    "masker": "maskers",
    "target": "targets",
    "loss": "losses",
    "method": "methods",
    "train_transform": "transforms",
    "test_transform": "transforms",
    "protocol": "protocols",
}

#: Kind -> hook name.
HOOKS: dict[str, str] = {kind: f"skelkit_{kind}" for kind in KINDS}


@dataclass(frozen=True)
class Registered:
    """A component together with the plugin that provided it."""

    kind: str
    name: str
    spec: AnySpec
    plugin: str
    dist: str | None
    version: str | None

    @property
    def qualified(self) -> str:
        """``plugin:name``, unambiguous."""
        return f"{self.plugin}:{self.name}"

    @property
    def provenance(self) -> str:
        """Human-readable origin, e.g. ``plugin 'mamp' (skelkit 0.1.0)``."""
        origin = f" ({self.dist} {self.version})" if self.dist else ""
        return f"plugin '{self.plugin}'{origin}"


class Registry:
    """All components of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._by_name: dict[str, list[Registered]] = {}

    def add(self, entry: Registered) -> None:
        """Add a component (and its aliases)."""
        for key in (entry.name, *getattr(entry.spec, "aliases", ())):
            self._by_name.setdefault(key, []).append(entry)

    def names(self) -> list[str]:
        """Every resolvable name, sorted."""
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[Registered]:
        seen: set[tuple[str, str]] = set()
        for name in sorted(self._by_name):
            for entry in self._by_name[name]:
                if (entry.plugin, entry.name) not in seen:
                    seen.add((entry.plugin, entry.name))
                    yield entry

    def get(self, name: str) -> Registered:
        """Resolve ``name`` or ``plugin:name``.

        Raises PluginError for unknown or ambiguous names.
        """
        singular = self.kind[:-1]
        plugin, sep, bare = name.rpartition(":")
        candidates = self._by_name.get(bare if sep else name, [])
        if sep:
            candidates = [c for c in candidates if c.plugin == plugin]
        if not candidates:
            choices = self.names()
            close = difflib.get_close_matches(bare if sep else name, choices, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            listing = ", ".join(choices) or "none installed"
            where = f" in plugin '{plugin}'" if sep else ""
            raise PluginError(f"unknown {singular} '{name}'{where}.{hint} Available: {listing}.")
        if len(candidates) > 1:
            providers = " and ".join(f"{c.provenance}" for c in candidates)
            options = ", ".join(f"'{c.qualified}'" for c in candidates)
            raise PluginError(
                f"{singular} '{name}' is provided by {providers}; name one of them as {options}."
            )
        return candidates[0]


def component_params(spec: ComponentSpec) -> dict[str, Any]:
    """The config keys of a component and their defaults.

    These are the factory's keyword parameters with defaults, updated by ``spec.defaults``.
    Importing a lazy factory happens here.
    """
    params = dict(_signature_defaults(spec.load()))
    params.update(spec.defaults)
    return params


def _signature_defaults(factory: Callable[..., Any]) -> Iterator[tuple[str, Any]]:
    for param in inspect.signature(factory).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is not param.empty:
            yield param.name, param.default


def _accepts_any_keyword(factory: Callable[..., Any]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def unknown_key_error(section: str, key: str, accepted: list[str]) -> ConfigError:
    """The error for a config key nobody accepts: names it, the accepted keys, a close match."""
    close = difflib.get_close_matches(key, accepted, n=1)
    hint = f" Did you mean '{section}.{close[0]}'?" if close else ""
    listing = ", ".join(accepted) or "none"
    return ConfigError(f"unknown config key '{section}.{key}'.{hint} Accepted keys: {listing}.")


class Registries:
    """The registries of every kind, built from one plugin manager."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self._registries = {kind: Registry(kind) for kind in KINDS}
        for kind, hook in HOOKS.items():
            for plugin, items in manager.hook_results(hook):
                record = manager.records.get(plugin)
                for spec in items:
                    self._check_spec(kind, plugin, spec)
                    entry = Registered(
                        kind=kind,
                        name=spec.name,
                        spec=spec,
                        plugin=plugin,
                        dist=record.dist if record else None,
                        version=record.version if record else None,
                    )
                    self._registries[kind].add(entry)
                    if record is not None:
                        record.provides.setdefault(kind, []).append(spec.name)

    @staticmethod
    def _check_spec(kind: str, plugin: str, spec: object) -> None:
        expected = SPEC_TYPES[kind]
        if not isinstance(spec, expected):
            raise PluginError(
                f"plugin '{plugin}' returned {type(spec).__name__} from skelkit_{kind}; "
                f"expected {expected.__name__}."
            )

    def __getitem__(self, kind: str) -> Registry:
        if kind not in self._registries:
            raise KeyError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        return self._registries[kind]

    def get(self, kind: str, name: str) -> Registered:
        """Resolve a component of ``kind`` by (qualified) name."""
        return self[kind].get(name)

    def build(self, section: str, config: Mapping[str, Any], **context: Any) -> Any:
        """Build the component configured by one config section.

        ``config`` holds ``name`` and the component's keyword arguments; ``context`` holds
        the factory's required parameters (built sub-components, shapes...).
        """
        kind = SECTION_KINDS.get(section)
        if kind is None:
            raise ConfigError(f"config section '{section}' does not select a component.")
        if "name" not in config:
            raise ConfigError(f"config section '{section}' has no 'name'; set {section}.name.")
        entry = self.get(kind, str(config["name"]))
        spec = entry.spec
        assert isinstance(spec, ComponentSpec)
        factory = spec.load()
        kwargs = {k: v for k, v in config.items() if k != "name"}
        if not _accepts_any_keyword(factory):
            accepted = sorted(component_params(spec))
            for key in kwargs:
                if key not in accepted:
                    raise unknown_key_error(section, key, accepted)
        try:
            return factory(**context, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{section} '{entry.name}' from {entry.provenance} rejected its configuration: "
                f"{exc}"
            ) from exc


_REGISTRIES: Registries | None = None


def get_registries() -> Registries:
    """Return the registries of the process-wide plugin manager."""
    global _REGISTRIES
    manager = get_plugin_manager()
    if _REGISTRIES is None or _REGISTRIES.manager is not manager:
        _REGISTRIES = Registries(manager)
    return _REGISTRIES


def reset_registries() -> None:
    """Forget the cached registries (after registering a plugin in-process)."""
    global _REGISTRIES
    _REGISTRIES = None

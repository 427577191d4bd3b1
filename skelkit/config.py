"""Configuration: YAML files + ``--set`` overrides -> one resolved, validated config.

A config has one section per component (``masker: {name: motion_aware, ratio: 0.9}``),
plain sections for settings (``train``, ``data``), and a few top-level scalars (``preset``,
``dataset``, ``recipe``).

Precedence, lowest first: component defaults < method preset < dataset preset < ``-c FILE``
(repeatable, left to right) < ``--set a.b=value``. When a layer selects a *different*
component for a section (``--set masker.name=tube`` over MAMP's ``motion_aware``), the keys
that lower layers set for the previous component are dropped: they configured another
component. Unknown keys and values of the wrong type are errors naming the key, the
accepted keys and a close match.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from skelkit.errors import ConfigError
from skelkit.registry import SECTION_KINDS, Registries, component_params, unknown_key_error
from skelkit.specs import ComponentSpec, MethodSpec, PresetSpec, load_factory

#: Plain sections: name -> lazy reference to the dataclass that defines their keys.
PLAIN_SECTIONS: dict[str, str] = {
    "train": "skelkit.train.settings:TrainSettings",
    "data": "skelkit.data.settings:DataSettings",
}

#: Top-level scalar keys.
SCALAR_KEYS: dict[str, Any] = {"preset": None, "dataset": None, "recipe": None}

#: The component chosen for a section when no layer names one: the MAE baseline.
DEFAULT_SELECTION: dict[str, str] = {
    "method": "masked",
    "encoder": "transformer",
    "masker": "random",
    "target": "coords",
    "loss": "mse",
    "train_transform": "mamp_train",
    "test_transform": "mamp_test",
}

Layer = tuple[str, Mapping[str, Any]]


class ConfigLoader(yaml.SafeLoader):
    """YAML loader that also reads YAML 1.2 floats such as ``1e-3`` as numbers.

    PyYAML follows YAML 1.1, where an exponent needs a dot (``1.0e-3``), so ``lr: 1e-3``
    would otherwise be the string ``"1e-3"``.
    """


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`ConfigLoader`."""
    return yaml.load(text, Loader=ConfigLoader)


# -- reading ---------------------------------------------------------------------------


def load_config_file(path: Path) -> dict[str, Any]:
    """Read one YAML config file; errors name the file and line."""
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist.")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc.problem}.") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections.")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``a.b=value`` into ``{"a": {"b": value}}``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set '{text}': expected KEY=VALUE with a dotted key, e.g. train.lr=1e-3."
        )
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set '{text}': the value is not valid YAML ({exc}).") from exc
    nested: dict[str, Any] = {}
    node = nested
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


# -- merging ---------------------------------------------------------------------------


def _merge_plain(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge_plain(base[key], value)
        else:
            base[key] = _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def merge_layers(layers: Iterable[Layer]) -> dict[str, Any]:
    """Merge config layers, lowest precedence first, with the component-swap rule."""
    merged: dict[str, Any] = {}
    for origin, layer in layers:
        if not isinstance(layer, Mapping):
            raise ConfigError(f"{origin}: expected a mapping of sections.")
        for section, value in layer.items():
            if section in SECTION_KINDS:
                if isinstance(value, str):
                    value = {"name": value}
                if not isinstance(value, Mapping):
                    raise ConfigError(
                        f"{origin}: section '{section}' must be a mapping with a 'name' "
                        f"(or a component name), not {type(value).__name__}."
                    )
                current = merged.get(section)
                new_name = value.get("name")
                if current is None or (new_name is not None and new_name != current.get("name")):
                    merged[section] = {}
                _merge_plain(merged[section], value)
            elif isinstance(value, Mapping) and isinstance(merged.get(section), dict):
                _merge_plain(merged[section], value)
            else:
                merged[section] = _plain(value)
    return merged


# -- validation ------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def value_matches(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits a type annotation (ints are accepted for floats)."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return any(value_matches(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(
                value_matches(v, a) for v, a in zip(value, args, strict=True)
            )
        inner = args[0] if args else Any
        return all(value_matches(v, inner) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _default_type(default: Any) -> Any:
    """The annotation implied by a component default value."""
    if default is None:
        return Any
    if isinstance(default, bool):
        return bool
    if isinstance(default, float):
        return float
    if isinstance(default, int):
        return int
    if isinstance(default, (list, tuple)):
        return list
    return type(default)


def _check_value(key: str, value: Any, annotation: Any) -> None:
    if not value_matches(value, annotation):
        raise ConfigError(
            f"config key '{key}' must be {_type_name(annotation)}, got {value!r} "
            f"({type(value).__name__})."
        )


def _plain_section_type(section: str) -> type[Any]:
    cls = load_factory(PLAIN_SECTIONS[section])
    assert isinstance(cls, type)
    assert dataclasses.is_dataclass(cls)
    return cls


def resolve_plain_section(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill a plain section with its dataclass defaults and type-check the given values."""
    cls = _plain_section_type(section)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise unknown_key_error(section, key, sorted(fields))
        _check_value(f"{section}.{key}", value, hints[key])
    resolved = dataclasses.asdict(cls(**values))
    return _plain(resolved)


def resolve_component_section(
    section: str, values: Mapping[str, Any], registries: Registries
) -> dict[str, Any]:
    """Fill a component section with the chosen component's defaults and check the values."""
    name = str(values.get("name") or DEFAULT_SELECTION.get(section, ""))
    if not name:
        raise ConfigError(f"config section '{section}' has no 'name'; set {section}.name.")
    entry = registries.get(SECTION_KINDS[section], name)
    spec = entry.spec
    assert isinstance(spec, ComponentSpec)
    defaults = component_params(spec)
    resolved: dict[str, Any] = {"name": name}
    resolved.update(_plain(defaults))
    for key, value in values.items():
        if key == "name":
            continue
        if key not in defaults:
            raise unknown_key_error(section, key, sorted(defaults))
        _check_value(f"{section}.{key}", value, _default_type(defaults[key]))
        resolved[key] = value
    return resolved


def _check_sections(merged: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = sorted(set(allowed))
    for section in merged:
        if section not in allowed:
            close = difflib.get_close_matches(section, allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown config section '{section}'.{hint} Sections: {', '.join(allowed)}."
            )


# -- the whole thing -------------------------------------------------------------------


def preset_layers(preset: PresetSpec | None, dataset: str | None) -> list[Layer]:
    """The method-preset and dataset-preset layers of a preset."""
    if preset is None:
        return []
    layers: list[Layer] = [(f"preset '{preset.name}'", preset.config)]
    if dataset is not None and dataset in preset.datasets:
        layers.append((f"preset '{preset.name}' for {dataset}", preset.datasets[dataset]))
    return layers


def resolve_config(
    registries: Registries,
    *,
    preset: str | None = None,
    dataset: str | None = None,
    files: Sequence[Path] = (),
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Resolve the full configuration of a run.

    Args:
        registries: where component names are resolved.
        preset: a preset name (``mamp``) or None for the core defaults (MAE baseline).
        dataset: the dataset trained on (selects the preset's dataset overrides).
        files: ``-c`` files, lowest precedence first.
        overrides: ``--set`` strings, applied last.
    """
    preset_spec = None
    if preset is not None:
        preset_entry = registries.get("presets", preset)
        assert isinstance(preset_entry.spec, PresetSpec)
        preset_spec = preset_entry.spec
    file_layers: list[Layer] = [(str(path), load_config_file(path)) for path in files]
    set_layers: list[Layer] = [(f"--set {text}", parse_override(text)) for text in overrides]
    # The dataset may come from a file or --set; find it before applying dataset presets.
    early = merge_layers([*file_layers, *set_layers])
    dataset = early.get("dataset", dataset)
    merged = merge_layers([*preset_layers(preset_spec, dataset), *file_layers, *set_layers])

    method_values = merged.get("method", {})
    method_entry = registries.get(
        "methods", str(method_values.get("name") or DEFAULT_SELECTION["method"])
    )
    assert isinstance(method_entry.spec, MethodSpec)
    component_sections = ["method", *method_entry.spec.components]
    component_sections += ["train_transform", "test_transform"]
    _check_sections(merged, [*component_sections, *PLAIN_SECTIONS, *SCALAR_KEYS])

    resolved: dict[str, Any] = {
        "preset": preset_spec.name if preset_spec else None,
        "dataset": dataset,
        "recipe": merged.get("recipe", preset_spec.recipe if preset_spec else None),
    }
    for section in component_sections:
        resolved[section] = resolve_component_section(section, merged.get(section, {}), registries)
    for section in PLAIN_SECTIONS:
        values = merged.get(section, {})
        if not isinstance(values, Mapping):
            raise ConfigError(f"config section '{section}' must be a mapping.")
        resolved[section] = resolve_plain_section(section, values)
    return resolved


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a resolved config, keys in insertion order."""
    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def config_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted keys whose values differ between two configs, as ``key: old -> new`` lines."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        dotted = f"{prefix}{key}"
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines.extend(config_differences(a, b, prefix=f"{dotted}."))
        elif a != b:
            lines.append(f"{dotted}: {a!r} -> {b!r}")
    return lines


def preset_for_plugins(registries: Registries, plugins: Sequence[str]) -> str | None:
    """The preset that ``--plugin NAME`` selects: the one named like the plugin, or its only one.

    With several plugins that bring presets, the last one named wins. Returns None when no
    requested plugin provides a preset (the core defaults apply).
    """
    chosen: str | None = None
    for plugin in plugins:
        provided = [e for e in registries["presets"] if e.plugin == plugin]
        named = [e for e in provided if e.name == plugin]
        if named:
            chosen = named[0].qualified
        elif len(provided) == 1:
            chosen = provided[0].qualified
        elif provided:
            names = ", ".join(e.name for e in provided)
            raise ConfigError(
                f"plugin '{plugin}' provides several presets ({names}); choose one with "
                "--preset NAME."
            )
    return chosen

"""The configuration of an evaluation: protocol, transforms and data sections.

Layers, lowest first: the protocol's defaults < the checkpoint's transforms (the pretraining
augmentation, so the linear probe augments as pretraining did; a pretraining-only transform
is replaced by the ``downstream`` transform its spec names) < ``-c FILE`` < ``--set``.
``--set KEY=VALUE`` with a bare key that is not a section is a protocol key
(``--set init=scratch`` is ``--set protocol.init=scratch``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skelkit.errors import ConfigError, SkelkitError

#: Sections an evaluation config may have.
SECTIONS = ("protocol", "train_transform", "test_transform", "data")
#: Protocol keys that may change when an evaluation is resumed.
RESUMABLE_CHANGES = ("protocol.device", "protocol.num_workers", "checkpoint")


def checkpoint_transforms(ckpt_config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``train_transform`` / ``test_transform`` sections the checkpoint was trained with,
    each pretraining-only transform replaced by its downstream counterpart."""
    from skelkit.train.data import with_default_transforms

    filled = with_default_transforms(ckpt_config)
    return {
        key: downstream_section(dict(filled[key])) for key in ("train_transform", "test_transform")
    }


def downstream_section(section: dict[str, Any]) -> dict[str, Any]:
    """``section`` itself, or, when its transform's spec names a ``downstream`` transform
    (a pretraining-only transform such as PCM3's ``pcm3_views``), that transform at its
    defaults with the pretraining ``window``."""
    from skelkit.registry import component_params, get_registries

    registries = get_registries()
    name = section.get("name")
    if not isinstance(name, str):
        return section
    try:
        spec = registries.get("transforms", name).spec
    except SkelkitError:
        return section  # reported when the section is resolved
    downstream = str(getattr(spec, "downstream", ""))
    if not downstream:
        return section
    params = component_params(registries.get("transforms", downstream).spec)  # type: ignore[arg-type]
    replaced: dict[str, Any] = {"name": downstream}
    if "window" in section and "window" in params:
        replaced["window"] = section["window"]
    return replaced


def resolve_eval_config(
    protocol: str,
    ckpt_config: Mapping[str, Any],
    *,
    files: Sequence[Path] = (),
    overrides: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Resolve the evaluation config of ``protocol`` for a checkpoint's config."""
    from skelkit.config import (
        load_config_file,
        merge_layers,
        parse_override,
        resolve_component_section,
        resolve_plain_section,
    )
    from skelkit.registry import component_params, get_registries

    registries = get_registries()
    entry = registries.get("protocols", protocol)
    params = component_params(entry.spec)  # type: ignore[arg-type]
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("protocol", {"protocol": {"name": protocol}}),
        ("checkpoint", checkpoint_transforms(ckpt_config)),
    ]
    layers += [(str(p), _bare_keys(str(p), load_config_file(p), params)) for p in files]
    layers += [
        (f"--set {t}", _bare_keys(f"--set {t}", parse_override(t), params)) for t in overrides
    ]
    if data:
        layers.append(("command line", {"data": dict(data)}))
    merged = merge_layers(layers)
    name = merged["protocol"].get("name")
    if name != protocol:
        raise ConfigError(
            f"the config selects protocol '{name}' but the command evaluates '{protocol}'; "
            "remove protocol.name from the config"
        )
    resolved: dict[str, Any] = {}
    for section in ("protocol", "train_transform", "test_transform"):
        resolved[section] = resolve_component_section(section, merged[section], registries)
    values = merged.get("data", {})
    if not isinstance(values, Mapping):
        raise ConfigError("config section 'data' must be a mapping.")
    resolved["data"] = resolve_plain_section("data", values)
    return resolved


def _bare_keys(origin: str, layer: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Move top-level protocol keys into the ``protocol`` section; reject unknown sections."""
    import difflib

    moved: dict[str, Any] = {}
    protocol: dict[str, Any] = {}
    for key, value in layer.items():
        if key in SECTIONS:
            moved[key] = value
        elif key in params:
            protocol[key] = value
        else:
            choices = [*SECTIONS, *sorted(params)]
            close = difflib.get_close_matches(key, choices, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{origin}: unknown key '{key}'.{hint} Sections: {', '.join(SECTIONS)}; "
                f"protocol keys: {', '.join(sorted(params))}."
            )
    if protocol:
        section = moved.get("protocol")
        if isinstance(section, str):
            section = {"name": section}
        moved["protocol"] = {**dict(section or {}), **protocol}
    return moved


def resume_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Keys where the current config differs from a resumed evaluation's, ignoring the
    settings that may change (device, workers)."""
    from skelkit.config import config_differences

    return [
        line
        for line in config_differences(saved, current)
        if not line.split(":", 1)[0].startswith(RESUMABLE_CHANGES)
    ]

"""Build a pretraining method from a resolved config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skelkit.errors import ConfigError
from skelkit.specs import MethodSpec

if TYPE_CHECKING:
    from torch import nn


def build_method(config: Mapping[str, Any]) -> nn.Module:
    """Build the method of a resolved config (see :func:`skelkit.config.resolve_config`).

    The sections the method spec lists in ``components`` (``encoder``, ``masker``,
    ``target``, ``loss`` for ``masked``) are built through the registry first and passed to
    the method factory as keyword arguments of the same name.
    """
    from skelkit.registry import get_registries

    registries = get_registries()
    method_section = config.get("method")
    if not isinstance(method_section, Mapping) or "name" not in method_section:
        raise ConfigError("config has no 'method' section with a 'name'; set method.name.")
    entry = registries.get("methods", str(method_section["name"]))
    spec = entry.spec
    assert isinstance(spec, MethodSpec)
    context: dict[str, Any] = {}
    for section in spec.components:
        values = config.get(section)
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"method '{entry.name}' needs a '{section}' section in the config; "
                f"set {section}.name."
            )
        context[section] = registries.build(section, values)
    method: nn.Module = registries.build("method", method_section, **context)
    return method

"""Component specifications: what a plugin hook returns.

A spec names a component and says how to build it. The ``factory`` is either a callable
or a lazy ``"package.module:attr"`` string, so registering a component never imports
torch; the factory is imported only when the component is built or its parameters are
asked for.

Configuration keys of a component are the keyword parameters of its factory that have a
default value. Parameters without a default are *context* supplied by the code that builds
the component (for example the ``masked`` method receives the built ``encoder``); they can
not be set from a config file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

Factory = Callable[..., Any] | str


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def load_factory(factory: Factory) -> Callable[..., Any]:
    """Return the callable behind ``factory``, importing ``"module:attr"`` strings."""
    if not isinstance(factory, str):
        return factory
    module_name, sep, attr = factory.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"lazy factory {factory!r} must look like 'package.module:attr'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"factory {factory!r} is not callable")
    return obj


@dataclass(frozen=True)
class ComponentSpec:
    """Base of every component spec.

    Attributes:
        name: the registry name (``[a-z0-9_]+``); users may also write ``plugin:name``.
        factory: a callable, or a lazy ``"module:attr"`` string.
        summary: one line shown by ``skelkit components``.
        defaults: overrides of the factory's own keyword defaults.
        aliases: other names that resolve to this component.
    """

    kind: ClassVar[str] = ""

    name: str
    factory: Factory
    summary: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _frozen(self.defaults))

    def load(self) -> Callable[..., Any]:
        """Import (if lazy) and return the factory."""
        return load_factory(self.factory)


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A dataset: its raw layout reader, class names, splits and default recipe.

    ``factory`` returns an object implementing :class:`skelkit.data.datasets.DatasetInfo`.
    """

    kind: ClassVar[str] = "datasets"


@dataclass(frozen=True)
class RecipeSpec(ComponentSpec):
    """A preprocessing recipe: parsed raw records -> stored sequences."""

    kind: ClassVar[str] = "recipes"


@dataclass(frozen=True)
class TransformSpec(ComponentSpec):
    """A data transform (augmentation or test-time crop) used by the loaders.

    Attributes:
        downstream: for a pretraining-only transform (e.g. PCM3's three stacked views), the
            name of the single-view transform that evaluation protocols train with instead;
            empty when the transform itself suits downstream training.
    """

    kind: ClassVar[str] = "transforms"

    downstream: str = ""


@dataclass(frozen=True)
class MaskerSpec(ComponentSpec):
    """A masker: chooses the hidden tokens of every person-sequence."""

    kind: ClassVar[str] = "maskers"


@dataclass(frozen=True)
class TargetSpec(ComponentSpec):
    """A prediction target: what the decoder must predict for every token."""

    kind: ClassVar[str] = "targets"


@dataclass(frozen=True)
class LossSpec(ComponentSpec):
    """A loss: (prediction, target, mask) -> scalar."""

    kind: ClassVar[str] = "losses"


@dataclass(frozen=True)
class EncoderSpec(ComponentSpec):
    """An encoder: skeleton batch -> token grid / pooled features."""

    kind: ClassVar[str] = "encoders"


@dataclass(frozen=True)
class MethodSpec(ComponentSpec):
    """A pretraining method: an ``nn.Module`` whose forward returns ``(loss, logs)``.

    ``components`` lists the config sections (``encoder``, ``masker``, ...) that are built
    first and passed to the factory as keyword arguments of the same name.
    """

    kind: ClassVar[str] = "methods"

    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImporterSpec(ComponentSpec):
    """A reader of a paper's official checkpoint format (``skelkit import-weights NAME``).

    ``factory(path)`` returns a skelkit checkpoint dict (see ``skelkit.train.checkpoint``)
    without executing pickled code.
    """

    kind: ClassVar[str] = "importers"


@dataclass(frozen=True)
class ProtocolSpec(ComponentSpec):
    """An evaluation protocol (``skelkit evaluate NAME``): linear, finetune, knn, ...

    ``defaults`` carry the references' settings; the factory's keyword parameters with
    defaults are the keys of the ``protocol`` config section.
    """

    kind: ClassVar[str] = "protocols"


@dataclass(frozen=True)
class ExporterSpec(ComponentSpec):
    """An export format (``skelkit export CKPT --format NAME``): torchscript, onnx, ...

    The factory's keyword parameters with defaults are the exporter's options; it returns
    an object implementing :class:`skelkit.export.base.Exporter`.
    """

    kind: ClassVar[str] = "exporters"


@dataclass(frozen=True)
class PresetSpec:
    """A named configuration: a paper's recipe over a method.

    ``config`` is a nested mapping of config sections (``method``, ``masker``, ``train`` ...).
    ``datasets`` maps a dataset name (``ntu60``) to further overrides applied on top when
    training on that dataset. ``recipe`` is the preprocessing recipe the preset expects.
    """

    kind: ClassVar[str] = "presets"

    name: str
    config: Mapping[str, Any]
    summary: str = ""
    datasets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    recipe: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _frozen(self.config))
        object.__setattr__(self, "datasets", _frozen(self.datasets))


AnySpec = ComponentSpec | PresetSpec

#: Every component kind, in the order ``skelkit components`` lists them.
KINDS: tuple[str, ...] = (
    "datasets",
    "recipes",
    "transforms",
    "encoders",
    "maskers",
    "targets",
    "losses",
    "methods",
    "presets",
    "importers",
    "protocols",
    "exporters",
)

SPEC_TYPES: dict[str, type[ComponentSpec] | type[PresetSpec]] = {
    "datasets": DatasetSpec,
    "recipes": RecipeSpec,
    "transforms": TransformSpec,
    "encoders": EncoderSpec,
    "maskers": MaskerSpec,
    "targets": TargetSpec,
    "losses": LossSpec,
    "methods": MethodSpec,
    "presets": PresetSpec,
    "importers": ImporterSpec,
    "protocols": ProtocolSpec,
    "exporters": ExporterSpec,
}

"""Hook specifications of skelkit.

A plugin is a module (or object) with functions decorated by :data:`skelkit.hookimpl`
whose names match the functions below. Component hooks take no arguments and return an
iterable of specs; implementations may be generators. Every component hook is called once
per plugin so that each component records which plugin provided it.

Keep plugin modules light: import torch inside factories, never at module level, so that
``skelkit --help`` and shell completion stay fast. Give factories as ``"module:attr"``
strings.

Each hook below is documented, with an example, in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from skelkit.specs import (
        DatasetSpec,
        EncoderSpec,
        ExporterSpec,
        ImporterSpec,
        LossSpec,
        MaskerSpec,
        MethodSpec,
        PresetSpec,
        ProtocolSpec,
        RecipeSpec,
        TargetSpec,
        TransformSpec,
    )

PROJECT = "skelkit"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def skelkit_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin provides.

    A dataset spec's factory returns a ``skelkit.data.datasets.DatasetInfo``: the raw
    layout, class names, official splits and the default recipe. ``skelkit preprocess NAME``
    and ``skelkit synth NAME`` look the name up here.
    """


@hookspec
def skelkit_recipes() -> Iterable[RecipeSpec]:
    """Return the preprocessing recipes this plugin provides.

    A recipe's factory returns an object that turns one parsed raw sample into the stored
    sequence (denoise, choose actors, normalise). ``skelkit preprocess --recipe NAME``
    selects it; a preset names the recipe it expects.
    """


@hookspec
def skelkit_transforms() -> Iterable[TransformSpec]:
    """Return the data transforms (train augmentation, test-time crops) this plugin provides.

    Transforms are selected by the ``train_transform`` and ``test_transform`` config
    sections.
    """


@hookspec
def skelkit_encoders() -> Iterable[EncoderSpec]:
    """Return the encoders this plugin provides.

    An encoder maps a skeleton batch ``(N, C, T, V, M)`` to features and exposes
    ``feature_dim``. Selected by the ``encoder`` config section.
    """


@hookspec
def skelkit_maskers() -> Iterable[MaskerSpec]:
    """Return the maskers this plugin provides.

    A masker decides, per person-sequence, which tokens are hidden (boolean ``(B, L)``,
    True = masked) and the kept tokens' order. Selected by the ``masker`` config section.
    """


@hookspec
def skelkit_targets() -> Iterable[TargetSpec]:
    """Return the prediction targets this plugin provides.

    A target maps the unmasked input (and, for teacher targets, the method's state) to what
    the decoder must predict, ``(B, L, D_t)``. Selected by the ``target`` config section.
    """


@hookspec
def skelkit_losses() -> Iterable[LossSpec]:
    """Return the losses this plugin provides.

    A loss maps ``(prediction, target, mask)`` to a scalar. Selected by the ``loss``
    config section.
    """


@hookspec
def skelkit_methods() -> Iterable[MethodSpec]:
    """Return the pretraining methods this plugin provides.

    A method is an ``nn.Module`` whose forward takes a batch and returns ``(loss, logs)``
    and which exposes the encoder to evaluate. Selected by the ``method`` config section.
    """


@hookspec
def skelkit_presets() -> Iterable[PresetSpec]:
    """Return named configurations (a paper's recipe), with per-dataset overrides.

    ``skelkit pretrain --plugin mamp`` applies the preset named like the plugin (or the
    plugin's only preset) on top of the component defaults.
    """


@hookspec
def skelkit_importers() -> Iterable[ImporterSpec]:
    """Return readers of official checkpoint formats.

    ``skelkit import-weights NAME FILE --out CKPT`` converts a paper's released weights into
    a skelkit checkpoint with the importer named ``NAME``. Importers must never execute
    pickled code (read with an allow-list).
    """


@hookspec
def skelkit_protocols() -> Iterable[ProtocolSpec]:
    """Return evaluation protocols (linear probe, fine-tuning, kNN, detection, ...).

    ``skelkit evaluate NAME --checkpoint CKPT ...`` runs the protocol named ``NAME`` on a
    pretrained encoder; its defaults are the references' settings.
    """


@hookspec
def skelkit_exporters() -> Iterable[ExporterSpec]:
    """Return export formats for trained encoders (TorchScript, ONNX, safetensors, ...).

    ``skelkit export CKPT --format NAME --out FILE`` writes the checkpoint's encoder with the
    exporter named ``NAME``. The factory returns an object with ``export(module, example,
    path, metadata)`` and ``run(path, x)`` (see ``skelkit.export.base.Exporter``); import
    heavy or optional libraries inside it and raise ``PluginError`` naming the extra to
    install when they are missing.
    """


@hookspec
def skelkit_commands(app: typer.Typer) -> None:
    """Add subcommands to the ``skelkit`` command line.

    Register them on ``app`` with ``app.command()`` or ``app.add_typer()``. Keep the
    command modules light (no torch import at module level).
    """

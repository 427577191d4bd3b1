"""skelkit-pcm3: PCM3, "Prompted Contrast with Masked Motion Modeling: Towards Versatile 3D
Action Representation Learning" (Zhang, Lin and Liu, ACM MM 2023), as a skelkit plugin.

Provides the ``gru`` encoder, the ``body_parts`` masker, the ``infonce`` and ``queue_kl``
losses, the ``pcm3`` method and preset, the ``pcm3_views`` / ``pcm3_linear`` / ``pcm3_test``
transforms, the ``agcn`` preprocessing recipe (2s-AGCN), the ``pcm3`` importer of the
official checkpoints and the ``detection`` protocol (``skelkit evaluate detection``, also
``skelkit detect``: temporal detection on PKU-MMD I).
Uses only skelkit's public API; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from skelkit import (
    EncoderSpec,
    ImporterSpec,
    LossSpec,
    MaskerSpec,
    MethodSpec,
    PresetSpec,
    ProtocolSpec,
    RecipeSpec,
    TransformSpec,
    hookimpl,
)

if TYPE_CHECKING:
    import typer

__version__ = "0.1.0"

PAPER = {
    "title": (
        "Prompted Contrast with Masked Motion Modeling: Towards Versatile 3D Action "
        "Representation Learning"
    ),
    "venue": "ACM MM 2023",
}


@hookimpl
def skelkit_encoders() -> Iterable[EncoderSpec]:
    """PCM3's GRU backbone."""
    yield EncoderSpec(
        name="gru",
        factory="skelkit_pcm3.encoder:build_gru_encoder",
        summary="input BatchNorm + 3 causal 'bidirectional' GRU layers of 1024, last frame (PCM3)",
    )


@hookimpl
def skelkit_maskers() -> Iterable[MaskerSpec]:
    """PCM3's body-part masker."""
    yield MaskerSpec(
        name="body_parts",
        factory="skelkit_pcm3.masking:build_body_part_masker",
        summary="hide 3 of 5 body parts per temporal chunk, shared by the batch (PCM3)",
    )


@hookimpl
def skelkit_losses() -> Iterable[LossSpec]:
    """The contrastive terms of PCM3."""
    yield LossSpec(
        name="infonce",
        factory="skelkit_pcm3.losses:build_infonce",
        summary="MoCo InfoNCE: positive key against a queue of negatives",
    )
    yield LossSpec(
        name="queue_kl",
        factory="skelkit_pcm3.losses:build_queue_kl",
        summary="KL between teacher and student similarities to the queue (CMD / PCM3)",
    )


@hookimpl
def skelkit_methods() -> Iterable[MethodSpec]:
    """The PCM3 method."""
    yield MethodSpec(
        name="pcm3",
        factory="skelkit_pcm3.method:build_pcm3",
        summary="MoCo v2 + masked motion modeling + dual prompts, three views (PCM3)",
        components=("encoder", "masker", "loss"),
    )


@hookimpl
def skelkit_transforms() -> Iterable[TransformSpec]:
    """PCM3's pretraining views and downstream crops."""
    yield TransformSpec(
        name="pcm3_views",
        factory="skelkit_pcm3.views:pcm3_views",
        summary="three views: crop U(0.1,1) resized to 64, then joint corruption or shear",
        downstream="pcm3_linear",
    )
    yield TransformSpec(
        name="pcm3_linear",
        factory="skelkit_pcm3.views:pcm3_linear",
        summary="random crop U(0.5,1) of the valid frames (>= 64), resized to 64",
    )
    yield TransformSpec(
        name="pcm3_test",
        factory="skelkit_pcm3.views:pcm3_test",
        summary="centre crop of 95% of the valid frames, resized to 64",
    )


@hookimpl
def skelkit_presets() -> Iterable[PresetSpec]:
    """PCM3's pretraining recipe."""
    from skelkit_pcm3.preset import PCM3_PRESET

    yield PCM3_PRESET


@hookimpl
def skelkit_recipes() -> Iterable[RecipeSpec]:
    """2s-AGCN's preprocessing, which PCM3's data come from."""
    yield RecipeSpec(
        name="agcn",
        factory="skelkit_pcm3.recipe:agcn",
        summary="2s-AGCN gendata + pre_normalization: top-2 energy slots, cyclic pad, rotate",
    )


@hookimpl
def skelkit_importers() -> Iterable[ImporterSpec]:
    """Reader of the official PCM3 checkpoints."""
    yield ImporterSpec(
        name="pcm3",
        factory="skelkit_pcm3.importer:import_pcm3_checkpoint",
        summary="official PCM3 checkpoint_*.pth.tar (encoder_q) -> skelkit checkpoint",
    )


@hookimpl
def skelkit_protocols() -> Iterable[ProtocolSpec]:
    """``skelkit evaluate detection``: temporal detection on untrimmed PKU-MMD videos."""
    yield ProtocolSpec(
        name="detection",
        factory="skelkit_pcm3.detection_protocol:detection_protocol",
        summary="frozen encoder + linear head per frame window, PKU-MMD mAP at IoU 0.5",
    )


@hookimpl
def skelkit_commands(app: typer.Typer) -> None:
    """``skelkit detect``: PCM3's temporal action detection on PKU-MMD I."""
    from skelkit_pcm3.cli import register

    register(app)

"""Registration of the core's models: the transformer encoder, the ``masked`` method and
its core maskers, targets and losses. Nothing here imports torch."""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import hookimpl
from skelkit.specs import EncoderSpec, LossSpec, MaskerSpec, MethodSpec, TargetSpec


@hookimpl
def skelkit_encoders() -> Iterable[EncoderSpec]:
    """The skeleton transformer encoder."""
    yield EncoderSpec(
        name="transformer",
        factory="skelkit.nn.transformer:build_transformer",
        summary="transformer over per-joint temporal segments (MAMP / Skeleton2vec encoder)",
    )


@hookimpl
def skelkit_maskers() -> Iterable[MaskerSpec]:
    """The MAE random masker."""
    yield MaskerSpec(
        name="random",
        factory="skelkit.methods.maskers:build_random_masker",
        summary="hide a fixed ratio of tokens uniformly at random (MAE)",
    )


@hookimpl
def skelkit_targets() -> Iterable[TargetSpec]:
    """The coordinate target."""
    yield TargetSpec(
        name="coords",
        factory="skelkit.methods.targets:build_coords_target",
        summary="per-token normalised joint coordinates (MAE baseline)",
    )


@hookimpl
def skelkit_losses() -> Iterable[LossSpec]:
    """Masked-token regression losses."""
    yield LossSpec(
        name="mse",
        factory="skelkit.methods.losses:build_mse_loss",
        summary="per-token mean squared error averaged over masked tokens",
    )
    yield LossSpec(
        name="smooth_l1",
        factory="skelkit.methods.losses:build_smooth_l1_loss",
        summary="per-token smooth-L1 error averaged over masked tokens",
    )


@hookimpl
def skelkit_methods() -> Iterable[MethodSpec]:
    """The generic masked-prediction method."""
    yield MethodSpec(
        name="masked",
        factory="skelkit.methods.masked:build_masked_method",
        summary="MAE-style masked prediction: encoder, masker, decoder, target, loss",
        components=("encoder", "masker", "target", "loss"),
    )

"""skelkit-mamp: MAMP, "Masked Motion Predictors are Strong 3D Action Representation
Learners" (Mao et al., ICCV 2023), as a skelkit plugin.

Provides the ``motion_aware`` masker, the ``motion`` target, the ``mamp`` preset over the
core ``masked`` method, and the ``mamp`` importer of the official checkpoints. Uses only
skelkit's public API; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import ImporterSpec, MaskerSpec, PresetSpec, TargetSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def skelkit_maskers() -> Iterable[MaskerSpec]:
    """MAMP's motion-aware masker."""
    yield MaskerSpec(
        name="motion_aware",
        factory="skelkit_mamp.masking:build_motion_aware_masker",
        summary="hide tokens with probability softmax(motion / tau) (MAMP)",
    )


@hookimpl
def skelkit_targets() -> Iterable[TargetSpec]:
    """MAMP's motion target."""
    yield TargetSpec(
        name="motion",
        factory="skelkit_mamp.targets:build_motion_target",
        summary="per-token normalised frame-to-frame motion (MAMP)",
    )


@hookimpl
def skelkit_presets() -> Iterable[PresetSpec]:
    """MAMP's pretraining recipe."""
    from skelkit_mamp.preset import MAMP_PRESET

    yield MAMP_PRESET


@hookimpl
def skelkit_importers() -> Iterable[ImporterSpec]:
    """Reader of the official MAMP checkpoints."""
    yield ImporterSpec(
        name="mamp",
        factory="skelkit_mamp.importer:import_mamp_checkpoint",
        summary="official MAMP checkpoint-*.pth (pretrain or downstream) -> skelkit checkpoint",
    )

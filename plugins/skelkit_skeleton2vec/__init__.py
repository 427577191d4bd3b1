"""skelkit-skeleton2vec: Skeleton2vec, "Skeleton2vec: A Self-supervised Learning Framework
with Contextualized Target Representations for Skeleton Sequence" (Xu et al., 2024), as a
skelkit plugin.

Provides the ``tube`` masker, the ``contextual`` EMA-teacher target, the ``skeleton2vec``
preset over the core ``masked`` method, the ``pyskl`` recipe with its ``pyskl_train`` /
``pyskl_test`` transforms, and the ``skeleton2vec`` importer of the authors' checkpoints.
Uses only skelkit's public API; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import (
    ImporterSpec,
    MaskerSpec,
    PresetSpec,
    RecipeSpec,
    TargetSpec,
    TransformSpec,
    hookimpl,
)

__version__ = "0.1.0"

PAPER = {
    "title": (
        "Skeleton2vec: A Self-supervised Learning Framework with Contextualized Target "
        "Representations for Skeleton Sequence"
    ),
    "year": 2024,
}


@hookimpl
def skelkit_maskers() -> Iterable[MaskerSpec]:
    """Skeleton2vec's motion-aware tube masker."""
    yield MaskerSpec(
        name="tube",
        factory="skelkit_skeleton2vec.tube:build_tube_masker",
        summary="hide joints per tube of tokens, moving joints more often (Skeleton2vec)",
    )


@hookimpl
def skelkit_targets() -> Iterable[TargetSpec]:
    """Skeleton2vec's contextual EMA-teacher target."""
    yield TargetSpec(
        name="contextual",
        factory="skelkit_skeleton2vec.contextual:build_contextual_target",
        summary="EMA teacher's normalised top-K block outputs, averaged (Skeleton2vec)",
    )


@hookimpl
def skelkit_presets() -> Iterable[PresetSpec]:
    """Skeleton2vec's pretraining recipe."""
    from skelkit_skeleton2vec.preset import SKELETON2VEC_PRESET

    yield SKELETON2VEC_PRESET


@hookimpl
def skelkit_recipes() -> Iterable[RecipeSpec]:
    """pyskl's NTU preprocessing, which Skeleton2vec's data come from."""
    yield RecipeSpec(
        name="pyskl",
        factory="skelkit_skeleton2vec.recipe:pyskl",
        summary="pyskl ntu_preproc: denoise, 2 actors by motion, trim, float16, no centring",
    )


@hookimpl
def skelkit_transforms() -> Iterable[TransformSpec]:
    """pyskl's loader transforms (PreNormalize3D, RandomRot, UniformSampleDecode)."""
    yield TransformSpec(
        name="pyskl_train",
        factory="skelkit_skeleton2vec.pyskl_transforms:pyskl_train",
        summary="PreNormalize3D, rotate ±0.3 rad, uniform sampling of 90 frames (pyskl)",
    )
    yield TransformSpec(
        name="pyskl_test",
        factory="skelkit_skeleton2vec.pyskl_transforms:pyskl_test",
        summary="PreNormalize3D, uniform sampling of 90 frames, test-mode seed 255 (pyskl)",
    )


@hookimpl
def skelkit_importers() -> Iterable[ImporterSpec]:
    """Reader of the authors' Skeleton2vec checkpoints."""
    yield ImporterSpec(
        name="skeleton2vec",
        factory="skelkit_skeleton2vec.importer:import_skeleton2vec_checkpoint",
        summary="authors' epoch-*.pth (pretrain or downstream) -> skelkit checkpoint",
    )

"""Registration of the core's datasets and the ``ctrgcn`` recipe. Nothing here imports numpy."""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import hookimpl
from skelkit.specs import DatasetSpec, RecipeSpec


@hookimpl
def skelkit_datasets() -> Iterable[DatasetSpec]:
    """NTU RGB+D 60/120 and PKU-MMD Phase I/II."""
    yield DatasetSpec(
        name="ntu60",
        factory="skelkit.data.datasets:ntu60",
        summary="NTU RGB+D 60: 56,578 usable samples, 60 classes, xsub / xview",
    )
    yield DatasetSpec(
        name="ntu120",
        factory="skelkit.data.datasets:ntu120",
        summary="NTU RGB+D 120: 113,945 usable samples, 120 classes, xsub / xset",
    )
    yield DatasetSpec(
        name="pkummd1",
        factory="skelkit.data.datasets:pkummd1",
        summary="PKU-MMD Phase I: action instances of 1,076 videos, 51 classes, xsub / xview",
    )
    yield DatasetSpec(
        name="pkummd2",
        factory="skelkit.data.datasets:pkummd2",
        summary="PKU-MMD Phase II: action instances of 1,009 videos, 41 classes, xsub / xview",
    )


@hookimpl
def skelkit_recipes() -> Iterable[RecipeSpec]:
    """The CTR-GCN / MAMP preprocessing."""
    yield RecipeSpec(
        name="ctrgcn",
        factory="skelkit.data.recipes.ctrgcn:ctrgcn",
        summary="CTR-GCN/MAMP: denoise, 2 actors by motion, first-frame spine centring",
    )

"""Registration of the core's data transforms. Nothing here imports torch.

``mamp_train`` and ``mamp_test`` are MAMP's (and CTR-GCN's) feeder transforms; select them
in the ``train_transform`` / ``test_transform`` config sections. Each built transform runs
either per sample in the loader workers or batched on the training device — the
``data.batched_transform`` setting chooses, there is no separate component for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import hookimpl
from skelkit.specs import TransformSpec


@hookimpl
def skelkit_transforms() -> Iterable[TransformSpec]:
    """MAMP's train and test transforms."""
    yield TransformSpec(
        name="mamp_train",
        factory="skelkit.data.transforms:mamp_train",
        summary="random valid-frame crop U(0.5,1) (>= 64 frames), resize to 120, rotate ±0.3 rad",
    )
    yield TransformSpec(
        name="mamp_test",
        factory="skelkit.data.transforms:mamp_test",
        summary="centre crop of 95% of the valid frames, resize to 120",
    )

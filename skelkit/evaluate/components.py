"""Registration of the core's evaluation protocols. Nothing here imports torch."""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import hookimpl
from skelkit.specs import ProtocolSpec


@hookimpl
def skelkit_protocols() -> Iterable[ProtocolSpec]:
    """Linear probe, fine-tuning, semi-supervised, kNN retrieval and transfer."""
    yield ProtocolSpec(
        name="linear",
        factory="skelkit.evaluate.settings:linear_protocol",
        summary="frozen encoder, BatchNorm + Linear head, SGD 0.1 cosine, 100 epochs",
    )
    yield ProtocolSpec(
        name="finetune",
        factory="skelkit.evaluate.settings:finetune_protocol",
        summary="MAMP's head, AdamW 3e-4, layer decay 0.8, drop path 0.3, 100 epochs",
    )
    yield ProtocolSpec(
        name="semi",
        factory="skelkit.evaluate.settings:finetune_protocol",
        defaults={"ratio": 0.01, "runs": 5},
        summary="finetune on a labelled subset (ratio 0.01 / 0.1), mean and std of 5 runs",
    )
    yield ProtocolSpec(
        name="knn",
        factory="skelkit.evaluate.settings:knn_protocol",
        summary="cosine k-nearest-neighbour retrieval on frozen features (k=1)",
    )
    yield ProtocolSpec(
        name="transfer",
        factory="skelkit.evaluate.settings:finetune_protocol",
        summary="finetune an encoder pretrained on another dataset",
    )

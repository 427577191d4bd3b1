"""``skelkit evaluate detection``: PCM3's detection as an evaluation protocol.

A protocol that carries its own runner: the factory returns a :class:`DetectionProtocol`
whose :meth:`~DetectionProtocol.run` ``skelkit evaluate`` calls instead of its classifier
loop. Detection needs the untrimmed PKU-MMD videos, which a skelkit store does not keep
(preprocessing stores the trimmed action clips), so they are read from the raw PKU-MMD
folder given as ``protocol.raw``. ``--data``, when given, is the preprocessed store of the
same dataset: the protocol takes the dataset (``pkummd1`` / ``pkummd2``) from it and checks
the split; without it ``protocol.dataset`` names the dataset. No torch at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from skelkit.errors import ConfigError
from skelkit_pcm3.detection_settings import DetectionSettings

DEVICES = ("auto", "cpu", "cuda")


def load_videos(raw: list[Path], dataset: str, split: str) -> tuple[list[Any], list[Any], int]:
    """Untrimmed train and test videos of ``split`` from raw PKU-MMD folders."""
    from skelkit.data.preprocess import load_dataset

    info = load_dataset(dataset)
    if not hasattr(info, "read_untrimmed"):
        raise ConfigError(f"dataset '{dataset}' has no untrimmed videos; use pkummd1 or pkummd2")
    if split not in info.splits:
        raise ConfigError(f"unknown split '{split}' of {dataset}; splits: {', '.join(info.splits)}")
    train: list[Any] = []
    test: list[Any] = []
    for source in info.discover(raw):
        part = source.meta.get(f"split_{split}")
        (train if part == "train" else test).append(info.read_untrimmed(source))
    return train, test, len(info.class_names)


@dataclass(frozen=True)
class DetectionProtocol:
    """The resolved ``detection`` protocol: where the videos are, and the settings."""

    raw: str
    dataset: str
    encoder: str
    device: str
    settings: DetectionSettings

    name = "detection"
    kind = "runner"

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for reports)."""
        return {
            "raw": self.raw,
            "dataset": self.dataset,
            "encoder": self.encoder,
            "device": self.device,
            **self.settings.as_dict(),
        }

    def run(
        self,
        *,
        checkpoint: dict[str, Any],
        data: dict[str, Any],
        out: Path,
        console: Console,
    ) -> dict[str, Any]:
        """Train the detection head on the split's train videos, detect on its test videos;
        return the metrics (``map_actions``, ``map_videos``, ``frame_accuracy`` ...)."""
        import torch

        from skelkit.train.checkpoint import load_encoder
        from skelkit_pcm3.detection import run_detection

        if not self.raw:
            raise ConfigError(
                "evaluate detection needs the raw PKU-MMD folder of the untrimmed videos: "
                "--set protocol.raw=DIR (the store keeps only the trimmed clips)"
            )
        dataset = self.dataset
        if data.get("path"):
            dataset = _store_dataset(Path(str(data["path"])), str(data["split"]))
        train, test, classes = load_videos([Path(self.raw)], dataset, str(data["split"]))
        encoder = load_encoder(checkpoint, which=self.encoder or None)
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        console.print(
            f"detection on {dataset} {data['split']}: {len(train)} train / {len(test)} test "
            f"videos ({device})"
        )
        metrics = run_detection(encoder, train, test, classes, self.settings, device)
        console.print(detection_table(metrics))
        return {"dataset": dataset, "split": data["split"], "raw": self.raw, **metrics}


def _store_dataset(path: Path, split: str) -> str:
    from skelkit.data.store import open_store

    with open_store(path) as store:
        store.split_indices(split, "test")
        dataset = str(store.dataset)
    if not dataset.startswith("pkummd"):
        raise ConfigError(
            f"--data '{path}' holds {dataset}; detection runs on PKU-MMD (pkummd1 or pkummd2)"
        )
    return dataset


def detection_table(metrics: dict[str, Any]) -> Table:
    """mAP over actions and videos, and the per-frame accuracy."""
    table = Table(title="skelkit evaluate detection", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    table.add_row("mAP over actions (IoU 0.5)", f"{100 * metrics['map_actions']:.2f}%")
    table.add_row("mAP over videos (IoU 0.5)", f"{100 * metrics['map_videos']:.2f}%")
    table.add_row("frame accuracy", f"{metrics['frame_accuracy']:.2f}%")
    table.add_row("videos", f"{metrics['train_videos']} train / {metrics['videos']} test")
    return table


def detection_protocol(
    raw: str = "",
    dataset: str = "pkummd1",
    encoder: str = "",
    device: str = "auto",
    window: int = 16,
    strides: tuple[int, int] = (3, 5),
    test_stride: int = 4,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 0.01,
    momentum: float = 0.9,
    nesterov: bool = True,
    weight_decay: float = 0.0,
    milestones: tuple[int, ...] = (40,),
    gamma: float = 0.1,
    samples_per_video: int = 16,
    smoothing: int = 10,
    threshold: float = 0.4,
    overlap: float = 0.5,
    seed: int = 0,
    eval_batch_size: int = 256,
) -> DetectionProtocol:
    """PCM3's temporal detection on untrimmed PKU-MMD videos (frozen encoder, linear head
    over background + actions, mAP at IoU 0.5); ``raw`` is the raw PKU-MMD folder."""
    if device not in DEVICES:
        raise ConfigError(f"protocol.device must be one of {', '.join(DEVICES)}, got {device!r}")
    settings = DetectionSettings(
        window=window,
        strides=strides,
        test_stride=test_stride,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
        milestones=milestones,
        gamma=gamma,
        samples_per_video=samples_per_video,
        smoothing=smoothing,
        threshold=threshold,
        overlap=overlap,
        seed=seed,
        eval_batch_size=eval_batch_size,
    )
    return DetectionProtocol(
        raw=raw, dataset=dataset, encoder=encoder, device=device, settings=settings
    )

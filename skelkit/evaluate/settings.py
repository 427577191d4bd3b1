"""The protocols' settings and factories (the ``protocol`` config section). No torch here.

Every factory's keyword parameters with defaults are the keys of the ``protocol`` section;
the defaults are the references' recipes (MAMP's ``main_linprobe.py`` / ``main_finetune.py``
configs, PCM3's retrieval), written down in docs/evaluate.md. A factory returns a frozen
settings object that :func:`skelkit.evaluate.run.evaluate` runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from skelkit.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")
INITS = ("pretrained", "scratch")


@dataclass(frozen=True)
class SupervisedSettings:
    """A classifier trained on encoder features: linear probe, finetune, semi, transfer.

    Attributes:
        name: the protocol name (``linear``, ``finetune``, ``semi``, ``transfer``).
        train_encoder: False freezes the encoder in eval mode (linear probe).
        head: ``linear`` (BatchNorm without affine + Linear on the pooled feature) or
            ``mlp`` (MAMP's finetune head).
        epochs, batch_size: passes over the training part; global samples per step.
        optimizer: ``sgd`` or ``adamw``; lr, min_lr, warmup_epochs: cosine schedule
            evaluated every step (warmup linear from 0).
        momentum: SGD momentum; betas: AdamW betas; weight_decay: decay of parameters with
            more than one dimension.
        layer_decay: layer-wise lr decay of the encoder (1.0 disables it; forced to 1.0
            with ``init=scratch`` as MAMP's from-scratch script does).
        drop_path: stochastic depth of the encoder while finetuning.
        dropout: dropout on the tokens before the MLP head; hidden: MLP head width.
        bn_eps: epsilon of the linear head's BatchNorm.
        label_smoothing: cross-entropy label smoothing.
        init: ``pretrained`` (the checkpoint's encoder) or ``scratch`` (random init).
        encoder: attribute path of the evaluated encoder in the method (empty: the method's
            downstream encoder; Skeleton2vec's student is ``encoder``).
        ratio: fraction of the training part used (semi-supervised subsets).
        runs: independent runs (semi: different subsets and seeds), reported as mean/std.
        clips: test clips averaged per sample (1: the test transform's centre crop).
        seed: seed of the head init, the subsets and every per-sample draw.
        device: ``auto``, ``cpu`` or ``cuda``; precision: ``fp32``, ``bf16``, ``fp16``.
        num_workers: DataLoader worker processes per rank.
        eval_batch_size: samples per test batch (per rank).
    """

    name: str
    train_encoder: bool
    head: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    min_lr: float
    warmup_epochs: float
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    layer_decay: float = 1.0
    drop_path: float = 0.0
    dropout: float = 0.0
    hidden: int = 2048
    bn_eps: float = 1e-6
    label_smoothing: float = 0.0
    init: str = "pretrained"
    encoder: str = ""
    ratio: float = 1.0
    runs: int = 1
    clips: int = 1
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    num_workers: int = 2
    eval_batch_size: int = 256

    kind = "supervised"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        check_common(self.device, self.precision, self.num_workers, self.seed)
        for key in ("epochs", "batch_size", "runs", "clips", "eval_batch_size", "hidden"):
            if getattr(self, key) < 1:
                raise ConfigError(f"protocol.{key} must be >= 1, got {getattr(self, key)}")
        if self.lr <= 0 or not 0 <= self.min_lr <= self.lr:
            raise ConfigError(
                f"protocol.lr must be > 0 and protocol.min_lr in [0, lr], got lr={self.lr}, "
                f"min_lr={self.min_lr}"
            )
        if self.warmup_epochs < 0 or self.weight_decay < 0:
            raise ConfigError("protocol.warmup_epochs and protocol.weight_decay must be >= 0")
        if not 0 < self.ratio <= 1:
            raise ConfigError(f"protocol.ratio must be in (0, 1], got {self.ratio}")
        if not 0 < self.layer_decay <= 1:
            raise ConfigError(f"protocol.layer_decay must be in (0, 1], got {self.layer_decay}")
        for key in ("drop_path", "dropout", "label_smoothing"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"protocol.{key} must be in [0, 1), got {getattr(self, key)}")
        if self.init not in INITS:
            raise ConfigError(f"protocol.init must be one of {', '.join(INITS)}, got {self.init!r}")
        if len(self.betas) != 2:
            raise ConfigError(f"protocol.betas must have two values, got {list(self.betas)}")

    @property
    def effective_layer_decay(self) -> float:
        """The layer decay used: 1.0 from scratch (MAMP's scratch script), else ``layer_decay``."""
        return 1.0 if self.init == "scratch" else self.layer_decay

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for reports)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


@dataclass(frozen=True)
class KnnSettings:
    """k-nearest-neighbour retrieval on frozen, L2-normalised features (cosine similarity).

    Attributes:
        k: neighbours that vote (ties go to the class of the nearest voter).
        batch_size: samples per feature-extraction batch (per rank).
        init: ``pretrained`` or ``scratch`` (the same encoder at random initialisation).
        encoder: attribute path of the evaluated encoder (empty: the downstream encoder).
    """

    name: str = "knn"
    k: int = 1
    batch_size: int = 256
    init: str = "pretrained"
    encoder: str = ""
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    num_workers: int = 2

    kind = "knn"

    def __post_init__(self) -> None:
        check_common(self.device, self.precision, self.num_workers, self.seed)
        if self.k < 1 or self.batch_size < 1:
            raise ConfigError(
                f"protocol.k and protocol.batch_size must be >= 1, got {self.k}, {self.batch_size}"
            )
        if self.init not in INITS:
            raise ConfigError(f"protocol.init must be one of {', '.join(INITS)}, got {self.init!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for reports)."""
        return asdict(self)


ProtocolSettings = SupervisedSettings | KnnSettings


def check_common(device: str, precision: str, num_workers: int, seed: int) -> None:
    """Validate the keys every protocol has."""
    if device not in DEVICES:
        raise ConfigError(f"protocol.device must be one of {', '.join(DEVICES)}, got {device!r}")
    if precision not in PRECISIONS:
        raise ConfigError(
            f"protocol.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if num_workers < 0 or seed < 0:
        raise ConfigError("protocol.num_workers and protocol.seed must be >= 0")


def linear_protocol(
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 0.1,
    min_lr: float = 0.0,
    warmup_epochs: float = 0.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    bn_eps: float = 1e-6,
    init: str = "pretrained",
    encoder: str = "",
    clips: int = 1,
    seed: int = 0,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int = 2,
    eval_batch_size: int = 256,
) -> SupervisedSettings:
    """Linear probe (MAMP ``main_linprobe``): frozen encoder in eval mode, head
    BatchNorm1d(affine=False, eps 1e-6) + Linear on the pooled feature, SGD momentum 0.9,
    lr 0.1 cosine to 0 without warmup or weight decay, batch 256, 100 epochs; the train
    augmentation is the pretraining's (``train_transform``)."""
    return SupervisedSettings(
        name="linear",
        train_encoder=False,
        head="linear",
        epochs=epochs,
        batch_size=batch_size,
        optimizer="sgd",
        lr=lr,
        min_lr=min_lr,
        warmup_epochs=warmup_epochs,
        momentum=momentum,
        weight_decay=weight_decay,
        bn_eps=bn_eps,
        init=init,
        encoder=encoder,
        clips=clips,
        seed=seed,
        device=device,
        precision=precision,
        num_workers=num_workers,
        eval_batch_size=eval_batch_size,
    )


def finetune_protocol(
    epochs: int = 100,
    batch_size: int = 48,
    lr: float = 3e-4,
    min_lr: float = 1e-5,
    warmup_epochs: float = 5.0,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.05,
    layer_decay: float = 0.8,
    drop_path: float = 0.3,
    dropout: float = 0.3,
    hidden: int = 2048,
    label_smoothing: float = 0.1,
    ratio: float = 1.0,
    runs: int = 1,
    init: str = "pretrained",
    encoder: str = "",
    clips: int = 1,
    seed: int = 0,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int = 2,
    eval_batch_size: int = 256,
) -> SupervisedSettings:
    """Fine-tuning (MAMP ``main_finetune``): MAMP's head (dropout 0.3, mean over time,
    joints x width flattened, mean over persons, Linear 2048, BatchNorm, ReLU, Linear),
    AdamW lr 3e-4 cosine to 1e-5 after 5 warmup epochs, weight decay 0.05, layer-wise lr
    decay 0.8, drop path 0.3, label smoothing 0.1, batch 48, 100 epochs.
    ``init=scratch`` trains the same network from random initialisation.

    The protocols ``semi`` and ``transfer`` are this factory with other defaults
    (``skelkit.evaluate.components``): ``semi`` trains on a uniformly drawn ``ratio`` of
    the training part (run ``r`` draws its subset and seeds from ``(seed, r)``, the same on
    every rank) and reports ``runs`` runs as mean and standard deviation; ``transfer``
    fine-tunes on another dataset than the checkpoint was pretrained on."""
    return SupervisedSettings(
        name="finetune",
        train_encoder=True,
        head="mlp",
        optimizer="adamw",
        **_locals_without_self(locals()),
    )


def knn_protocol(
    k: int = 1,
    batch_size: int = 256,
    init: str = "pretrained",
    encoder: str = "",
    seed: int = 0,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int = 2,
) -> KnnSettings:
    """kNN action retrieval (PCM3 / CMD): frozen features of the centre-cropped train part
    are the bank, the test part's are the queries; cosine similarity, ``k`` voters."""
    return KnnSettings(
        k=k,
        batch_size=batch_size,
        init=init,
        encoder=encoder,
        seed=seed,
        device=device,
        precision=precision,
        num_workers=num_workers,
    )


def _locals_without_self(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("_")}

"""``skelkit demo``: the whole pipeline at a small scale, in a few minutes on a CPU.

1. synthesise an NTU RGB+D 60 dataset in the real ``.skeleton`` format
   (:mod:`skelkit.data.synth`; class-dependent, learnable motion);
2. preprocess it with MAMP's ``ctrgcn`` recipe into one HDF5 store;
3. pretrain MAMP (motion-aware masking, motion target) with a small encoder;
4. evaluate the ``linear`` and ``knn`` protocols for the pretrained encoder and for the
   same encoder at its random initialisation (``init=scratch`` rebuilds it from the
   pretraining seed, so the two differ only by the pretraining);
5. print the comparison and where every file went.

The sizes (:class:`DemoOptions`) are chosen so the demo finishes in under 5 minutes on
2 CPU cores; the learning-is-real test runs the same function with its own sizes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from skelkit.errors import DataError


@dataclass(frozen=True)
class DemoOptions:
    """Sizes of the demo (defaults: under 5 minutes on 2 CPU cores)."""

    samples: int = 480
    classes: int = 10
    window: int = 24
    dim: int = 64
    depth: int = 2
    heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 1
    pretrain_epochs: int = 60
    pretrain_batch: int = 16
    pretrain_lr: float = 1e-3
    linear_epochs: int = 20
    linear_batch: int = 32
    seed: int = 0
    workers: int = 0
    #: torch CPU threads while the demo runs; one is the fastest for these tiny models
    #: (two threads cost about 3x the CPU time for the same result on 2 cores).
    threads: int = 1

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if key not in ("seed", "workers") and value <= 0:
                raise DataError(f"demo option {key} must be > 0, got {value}")


@dataclass
class DemoResult:
    """Where the demo wrote, and what it measured."""

    out: Path
    files: dict[str, Path]
    metrics: dict[str, dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)

    def top1(self, protocol: str, init: str) -> float:
        """Final-epoch top-1 of ``protocol`` for ``init`` (``pretrained`` / ``scratch``)."""
        return float(self.metrics[f"{protocol}-{init}"]["final"]["top1"])


def pretrain_overrides(options: DemoOptions, store: Path, device: str) -> list[str]:
    """``--set`` strings of the demo's small MAMP pretraining."""
    w = options.window
    return [
        f"data.path={store}",
        "data.split=xsub",
        "train_transform.name=mamp_train",
        f"train_transform.window={w}",
        "test_transform.name=mamp_test",
        f"test_transform.window={w}",
        f"encoder.num_frames={w}",
        f"encoder.dim={options.dim}",
        f"encoder.depth={options.depth}",
        f"encoder.num_heads={options.heads}",
        f"method.decoder_dim={options.decoder_dim}",
        f"method.decoder_depth={options.decoder_depth}",
        f"method.decoder_heads={options.heads}",
        f"train.epochs={options.pretrain_epochs}",
        f"train.batch_size={options.pretrain_batch}",
        f"train.lr={options.pretrain_lr}",
        f"train.min_lr={options.pretrain_lr / 2}",
        f"train.warmup_epochs={max(1, options.pretrain_epochs // 10)}",
        f"train.save_every={options.pretrain_epochs}",
        "train.checkpoint_every_steps=0",
        f"train.num_workers={options.workers}",
        "train.log_every=5",
        f"train.seed={options.seed}",
        f"train.device={device}",
    ]


def eval_overrides(protocol: str, options: DemoOptions, init: str, device: str) -> list[str]:
    """``--set`` strings of one demo evaluation."""
    common = [
        f"protocol.init={init}",
        f"protocol.seed={options.seed}",
        f"protocol.device={device}",
        f"protocol.num_workers={options.workers}",
    ]
    if protocol == "knn":
        return common
    return [
        *common,
        f"protocol.epochs={options.linear_epochs}",
        f"protocol.batch_size={options.linear_batch}",
    ]


def prepare_data(out: Path, options: DemoOptions, console: Console) -> Path:
    """Synthesise the raw NTU-60 files and preprocess them (ctrgcn recipe)."""
    from skelkit.data.preprocess import preprocess
    from skelkit.data.synth import synthesize

    raw = out / "raw"
    report = synthesize(
        "ntu60", raw, samples=options.samples, classes=options.classes, seed=options.seed
    )
    console.print(f"synthesised {report.files} NTU-60 .skeleton files -> {raw}")
    store = out / "data" / "ntu60_ctrgcn.h5"
    store.parent.mkdir(parents=True, exist_ok=True)
    result = preprocess("ntu60", [raw], out=store, recipe="ctrgcn", workers=1)
    console.print(
        f"preprocessed {result.samples} samples (recipe ctrgcn, xsub "
        f"{result.splits['xsub']['train']} train / {result.splits['xsub']['test']} test) -> {store}"
    )
    return store


def pretrain_mamp(
    out: Path, store: Path, options: DemoOptions, device: str, console: Console
) -> Path:
    """Pretrain the demo's small MAMP; return its final checkpoint."""
    from skelkit.config import resolve_config
    from skelkit.registry import get_registries
    from skelkit.train.loop import plugin_versions, pretrain

    registries = get_registries()
    config = resolve_config(
        registries,
        preset="mamp",
        dataset="ntu60",
        overrides=pretrain_overrides(options, store, device),
    )
    config["plugins"] = plugin_versions(config)
    result = pretrain(config, out / "pretrain", console=console)
    return result.checkpoint


def run_eval(
    protocol: str,
    init: str,
    checkpoint: Path,
    store: Path,
    out: Path,
    options: DemoOptions,
    device: str,
    console: Console,
) -> dict[str, Any]:
    """One demo evaluation into ``out / 'eval' / f'{protocol}-{init}'``."""
    from skelkit.evaluate.config import resolve_eval_config
    from skelkit.evaluate.run import evaluate
    from skelkit.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    config = resolve_eval_config(
        protocol,
        ckpt["config"],
        overrides=eval_overrides(protocol, options, init, device),
        data={"path": str(store), "split": "xsub"},
    )
    quiet = Console(stderr=True, quiet=True)
    return evaluate(config, checkpoint, out / "eval" / f"{protocol}-{init}", console=quiet)


def run_demo(
    out: Path,
    device: str = "auto",
    options: DemoOptions | None = None,
    console: Console | None = None,
) -> DemoResult:
    """Run the demo into ``out`` (which must not hold an earlier demo)."""
    options = options or DemoOptions()
    console = console or Console(stderr=True)
    if (out / "pretrain").exists() or (out / "eval").exists():
        raise DataError(f"{out} already holds a demo; remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(options.threads)
    try:
        return _run_steps(out, device, options, console)
    finally:
        torch.set_num_threads(threads)


def _run_steps(out: Path, device: str, options: DemoOptions, console: Console) -> DemoResult:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    store = prepare_data(out, options, console)
    seconds["data"] = time.perf_counter() - started
    mark = time.perf_counter()
    console.print("pretraining MAMP ...")
    checkpoint = pretrain_mamp(out, store, options, device, console)
    seconds["pretrain"] = time.perf_counter() - mark
    metrics: dict[str, dict[str, Any]] = {}
    for protocol in ("linear", "knn"):
        for init in ("pretrained", "scratch"):
            mark = time.perf_counter()
            console.print(f"evaluating {protocol} ({init}) ...")
            metrics[f"{protocol}-{init}"] = run_eval(
                protocol, init, checkpoint, store, out, options, device, console
            )
            seconds[f"{protocol}-{init}"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    files = {
        "raw NTU-60 files": out / "raw",
        "HDF5 store": store,
        "pretraining run": out / "pretrain",
        "pretrained checkpoint": checkpoint,
        **{f"evaluation {key}": out / "eval" / key for key in metrics},
    }
    return DemoResult(out=out, files=files, metrics=metrics, seconds=seconds)


def comparison_table(result: DemoResult) -> Table:
    """Pretrained vs random-initialised encoder, linear probe and kNN."""
    table = Table(title="skelkit demo: MAMP-pretrained vs random-initialised encoder")
    table.add_column("protocol")
    table.add_column("random init top-1", justify="right")
    table.add_column("MAMP pretrained top-1", justify="right")
    table.add_column("gain", justify="right")
    for protocol in ("linear", "knn"):
        scratch, pretrained = result.top1(protocol, "scratch"), result.top1(protocol, "pretrained")
        table.add_row(
            protocol, f"{scratch:.2f}%", f"{pretrained:.2f}%", f"{pretrained - scratch:+.2f}"
        )
    metrics = result.metrics["linear-pretrained"]
    present = sum(1 for value in metrics["per_class"].values() if value is not None)
    table.caption = (
        f"synthetic NTU-60 xsub, {present} classes, "
        f"{metrics['train_samples']} train / {metrics['test_samples']} test samples; "
        f"final-epoch top-1; {result.seconds['total']:.0f} s in all"
    )
    return table


def files_table(result: DemoResult) -> Table:
    """Where every file went."""
    table = Table(title="files", show_header=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("path", overflow="fold")
    for what, path in result.files.items():
        table.add_row(what, str(path))
    return table

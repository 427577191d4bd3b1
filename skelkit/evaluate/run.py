"""Run an evaluation protocol on a checkpoint and write its report.

:func:`evaluate` is what ``skelkit evaluate`` calls; under ``torchrun`` every process calls
it, the test part is split between them and rank 0 writes the files:

* ``config.yaml``: the resolved evaluation config;
* ``metrics.jsonl``: one line per epoch (loss, accuracy, lr, throughput);
* ``checkpoints/last.pt``: the resumable state after every epoch (``--resume``);
* ``metrics.json``, ``confusion.png``, ``curves.png``: the report
  (:mod:`skelkit.evaluate.report`);
* ``test_logits.npz``: the final epoch's per-sample test logits of the supervised protocols
  (:mod:`skelkit.evaluate.logits`), for ``skelkit evaluate ensemble``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from skelkit.errors import ConfigError
from skelkit.evaluate.settings import SupervisedSettings


def _warn_about_origin(
    console: Console, protocol: str, ckpt: Mapping[str, Any], dataset: str, recipe: str
) -> None:
    pretrained_on = ckpt.get("dataset")
    if protocol == "transfer":
        if pretrained_on is None:
            console.print(
                "[yellow]warning:[/] the checkpoint does not record the dataset it was "
                "pretrained on; the transfer report can not name it"
            )
        elif pretrained_on == dataset:
            console.print(
                f"[yellow]warning:[/] transfer evaluates on {dataset}, the dataset the "
                "checkpoint was pretrained on; use 'finetune' for that"
            )
    saved_recipe = ckpt.get("recipe")
    if saved_recipe and saved_recipe != recipe:
        console.print(
            f"[yellow]warning:[/] the checkpoint was pretrained on data of recipe "
            f"'{saved_recipe}', the evaluation data use '{recipe}'; results are not comparable"
        )


def pretrained_info(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """Where and how the checkpoint's encoder was trained."""
    config = ckpt.get("config") or {}
    method = config.get("method") if isinstance(config, Mapping) else None
    encoder = config.get("encoder") if isinstance(config, Mapping) else None
    return {
        "dataset": ckpt.get("dataset"),
        "recipe": ckpt.get("recipe"),
        "preset": config.get("preset") if isinstance(config, Mapping) else None,
        "method": method.get("name") if isinstance(method, Mapping) else None,
        "encoder": encoder.get("name") if isinstance(encoder, Mapping) else None,
        "epoch": ckpt.get("epoch"),
        "kind": (ckpt.get("skelkit") or {}).get("kind"),
    }


def evaluate(
    config: dict[str, Any],
    checkpoint: Path,
    out: Path,
    *,
    resume: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` with the resolved ``config``; write the report into ``out``.

    Returns the metrics (``metrics.json``'s content) on every rank.

    Raises:
        ConfigError: bad settings, an existing evaluation without ``resume``, or a resume
            whose config differs.
        DataError: an unusable checkpoint, data file or split.
    """
    import torch

    from skelkit.config import dump_config
    from skelkit.evaluate.data import open_eval_data
    from skelkit.evaluate.job import EvalFiles, EvalJob
    from skelkit.evaluate.report import build_metrics, write_report
    from skelkit.registry import get_registries
    from skelkit.train import distributed as ddp
    from skelkit.train.checkpoint import load_checkpoint
    from skelkit.train.data import build_transform
    from skelkit.train.loop import check_precision

    console = console or Console(stderr=True)
    settings = get_registries().build("protocol", config["protocol"])
    if isinstance(settings, SupervisedSettings):
        # Several protocols share one factory (finetune, semi, transfer): name the settings
        # after the protocol the user chose, for the reports.
        chosen = str(config["protocol"]["name"]).rpartition(":")[2]
        settings = dataclasses.replace(settings, name=chosen)
    if callable(getattr(settings, "run", None)):
        return evaluate_with_runner(settings, config, checkpoint, out, resume, console)
    env = ddp.detect()
    device = ddp.select_device(settings.device, env)
    check_precision(settings.precision, device)
    ckpt = load_checkpoint(checkpoint)
    data = open_eval_data(config["data"])
    files = EvalFiles(out)
    saved = _resume_state(files, config, data.describe(), resume)
    _warn_about_origin(
        console if env.is_main else Console(quiet=True),
        settings.name,
        ckpt,
        data.dataset_name,
        data.recipe,
    )
    clip_section = dict(config["train_transform"])
    if "rotation" in clip_section:
        clip_section["rotation"] = 0.0
    ddp.init_process_group(env, device)
    try:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        job = EvalJob(
            config=config,
            checkpoint=ckpt,
            checkpoint_path=checkpoint,
            data=data,
            files=files,
            env=env,
            device=device,
            console=console,
            train_transform=build_transform(config, "train_transform"),
            test_transform=build_transform(config, "test_transform"),
            clip_transform=build_transform({"train_transform": clip_section}, "train_transform"),
        )
        if env.is_main:
            files.last.parent.mkdir(parents=True, exist_ok=True)
            files.config.write_text(dump_config(config), encoding="utf-8")
            _rewrite_history(files, saved)
        ddp.barrier(env)
        runs = _run_protocol(job, settings, saved)
        metrics = build_metrics(job, settings, runs, pretrained_info(ckpt))
        if env.is_main:
            write_report(files, metrics, console)
        ddp.barrier(env)
        return metrics
    finally:
        ddp.shutdown()


def evaluate_with_runner(
    protocol: Any,
    config: dict[str, Any],
    checkpoint: Path,
    out: Path,
    resume: bool,
    console: Console,
) -> dict[str, Any]:
    """Run a plugin protocol that carries its own runner (an object with ``run(...)``).

    The runner receives the checkpoint, the ``data`` section and the output folder, and
    returns its metrics; skelkit writes ``config.yaml`` and ``metrics.json`` (with the
    protocol, the checkpoint and where it was pretrained). Such protocols run in one
    process and can not be resumed.
    """
    from skelkit.config import dump_config
    from skelkit.evaluate.job import EvalFiles
    from skelkit.train import distributed as ddp
    from skelkit.train.checkpoint import load_checkpoint

    files = EvalFiles(out)
    if ddp.detect().enabled:
        raise ConfigError(
            f"protocol '{protocol.name}' runs in one process; start it without torchrun"
        )
    if resume:
        raise ConfigError(
            f"protocol '{protocol.name}' can not be resumed; run it again without --resume"
        )
    if files.metrics.exists():
        raise ConfigError(f"{out} already holds an evaluation; choose another --out")
    ckpt = load_checkpoint(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    files.config.write_text(dump_config(config), encoding="utf-8")
    result = protocol.run(checkpoint=ckpt, data=dict(config["data"]), out=out, console=console)
    metrics = {
        "protocol": protocol.name,
        "checkpoint": str(checkpoint),
        "pretrained_on": pretrained_info(ckpt),
        **result,
    }
    files.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def _run_protocol(job: Any, settings: Any, saved: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if settings.kind == "knn":
        from skelkit.evaluate.knn import run_knn

        return [run_knn(job, settings)]
    from skelkit.evaluate.supervised import run_supervised

    return run_supervised(job, settings, saved)


def _resume_state(
    files: Any, config: Mapping[str, Any], data: Mapping[str, Any], resume: bool
) -> dict[str, Any] | None:
    from skelkit.evaluate.config import resume_differences
    from skelkit.train.checkpoint import load_checkpoint

    if not resume:
        if files.last.exists() or files.metrics.exists():
            raise ConfigError(
                f"{files.root} already holds an evaluation; continue it with --resume or "
                "choose another --out"
            )
        return None
    if not files.last.is_file():
        raise ConfigError(
            f"--resume: {files.last} does not exist, nothing to resume; start the evaluation "
            "without --resume"
        )
    saved = load_checkpoint(files.last)
    differences = resume_differences(saved["config"], config)
    if differences:
        raise ConfigError(
            f"--resume: the config differs from the one saved in {files.last}: "
            + "; ".join(differences)
            + ". Resume with the same options, or evaluate into another --out"
        )
    if saved.get("data") != dict(data):
        raise ConfigError(
            f"--resume: the data differ from the evaluation's ({saved.get('data')} then, "
            f"{dict(data)} now); resume with the same data file and split"
        )
    return saved


def _rewrite_history(files: Any, saved: Mapping[str, Any] | None) -> None:
    """``metrics.jsonl`` as of the resumed checkpoint (empty for a new evaluation)."""
    records: list[dict[str, Any]] = []
    if saved is not None:
        for run in saved.get("runs") or []:
            records.extend(run.get("history") or [])
        if len(saved.get("runs") or []) == saved.get("run"):
            records.extend(saved.get("history") or [])
    files.history.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

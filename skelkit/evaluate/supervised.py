"""Supervised protocols: train a head (and, finetuning, the encoder) and test every epoch.

Reuses the engine: :class:`~skelkit.train.sampler.ShardBatchSampler` for the global
batches, :func:`~skelkit.train.schedule.lr_at` for the per-step cosine schedule,
:func:`~skelkit.train.seeding.seed_step` before every step and DDP from
:mod:`skelkit.train.distributed`. A checkpoint is written after every epoch; ``--resume``
continues from it with the same draws as an uninterrupted run.

The frozen-encoder path (linear probe) runs the encoder without gradients; its features are
computed once for the whole run when the train transform draws nothing at random, and once
per epoch otherwise (every epoch sees new random crops and rotations, so features can not
be reused).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from skelkit.errors import DataError
from skelkit.evaluate.data import SubsetDataset, loader, subset_indices
from skelkit.evaluate.job import EvalJob
from skelkit.evaluate.metrics import ClassificationMeter, Summary
from skelkit.evaluate.model import Classifier, build_classifier, load_eval_encoder, pooled
from skelkit.evaluate.optim import build_optimizer
from skelkit.evaluate.settings import SupervisedSettings
from skelkit.evaluate.testing import (
    Predictions,
    evaluate_classifier,
    evaluate_on_features,
    frozen_test_features,
)
from skelkit.train import distributed as ddp
from skelkit.train.checkpoint import header, save_checkpoint
from skelkit.train.progress import TrainProgress
from skelkit.train.sampler import ShardBatchSampler, ShardLayout
from skelkit.train.schedule import apply_lr, fractional_epoch, lr_at
from skelkit.train.seeding import derive_seed, seed_all, seed_step
from skelkit.train.settings import TrainSettings
from skelkit.train.step import autocast_context


def run_seed(seed: int, run: int) -> int:
    """The seed of run ``run`` (run 0 uses ``seed`` itself)."""
    return seed if run == 0 else derive_seed(seed, "run", run)


def is_random(transform: Any) -> bool:
    """Whether a transform draws random numbers (unknown transforms are assumed to)."""
    return bool(getattr(transform, "is_random", True))


class SupervisedRun:
    """One run (of ``settings.runs``) of a supervised protocol."""

    def __init__(self, job: EvalJob, settings: SupervisedSettings, run: int) -> None:
        self.job = job
        self.settings = settings
        self.run = run
        self.seed = run_seed(settings.seed, run)
        data = job.data
        self.full = data.open(data.train_part, job.train_transform, self.seed)
        positions = subset_indices(len(self.full), settings.ratio, settings.seed, run)
        self.train = SubsetDataset(self.full, positions)
        self.layout = ShardLayout(
            num_samples=len(self.train),
            batch_size=settings.batch_size,
            world_size=job.env.world_size,
        )
        if settings.batch_size % job.env.world_size:
            raise DataError(
                f"protocol.batch_size={settings.batch_size} must be divisible by the "
                f"{job.env.world_size} processes"
            )
        if self.layout.steps_per_epoch < 1:
            raise DataError(
                f"{data.path}: {len(self.train)} training samples (ratio {settings.ratio} of "
                f"{data.split}/{data.train_part}) are fewer than protocol.batch_size="
                f"{settings.batch_size}; lower protocol.batch_size"
            )
        seed_all(self.seed)
        encoder = load_eval_encoder(
            job.checkpoint,
            init=settings.init,
            drop_path=settings.drop_path if settings.train_encoder else None,
            seed=self.seed,
            which=settings.encoder or None,
        )
        sample = self.train[(0, 0)][0]
        self.model: Classifier = build_classifier(encoder, settings, data.num_classes, sample)
        self.model.to(job.device)
        self.wrapped = ddp.wrap(self.model, job.env, job.device, find_unused=False)
        self.optimizer = build_optimizer(self.model, settings)
        self.schedule = TrainSettings(
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            min_lr=settings.min_lr,
            warmup_epochs=settings.warmup_epochs,
            schedule="cosine",
        )
        self.sampler = ShardBatchSampler(self.layout, self.seed, job.env.rank)
        self.scaler = torch.amp.GradScaler(job.device.type, enabled=settings.precision == "fp16")
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.cached: torch.Tensor | None = None
        self.test_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.predictions: Predictions | None = None
        self.cache_seconds = 0.0

    # -- state ---------------------------------------------------------------------------------

    def state(self, finished: list[dict[str, Any]]) -> dict[str, Any]:
        """The resumable checkpoint after the current epoch."""
        job = self.job
        return {
            "skelkit": header("evaluate"),
            "config": job.config,
            "model": self.model.state_dict(),
            "dataset": job.data.dataset_name,
            "recipe": job.data.recipe,
            "epoch": self.epoch,
            "step": self.epoch * self.layout.steps_per_epoch,
            "run": self.run,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
            "best": self.best,
            "last": self.last,
            "runs": finished,
            "data": job.data.describe(),
            "world_size": job.env.world_size,
        }

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        """Continue from a checkpoint of this run."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.history = list(ckpt.get("history") or [])
        self.best = ckpt.get("best")
        self.last = ckpt.get("last")

    # -- training ------------------------------------------------------------------------------

    def fit(self, finished: list[dict[str, Any]]) -> dict[str, Any]:
        """Train the remaining epochs; return the run's result."""
        settings, job = self.settings, self.job
        spe = self.layout.steps_per_epoch
        use_cache = not settings.train_encoder and not is_random(job.train_transform)
        if use_cache and self.epoch < settings.epochs:
            self._cache_features()
        progress = TrainProgress(
            job.console,
            total=settings.epochs * spe,
            done=self.epoch * spe,
            enabled=job.env.is_main,
        )
        with progress:
            while self.epoch < settings.epochs:
                record = self._train_epoch(progress)
                summary = self._test()
                self.epoch += 1
                record.update(
                    epoch=self.epoch,
                    test_loss=summary.loss,
                    test_top1=summary.top1,
                    test_top5=summary.top5,
                )
                self._remember(record, summary)
                job.log_epoch(record)
                progress.log(
                    f"{settings.name} run {self.run + 1}/{settings.runs} epoch "
                    f"{self.epoch}/{settings.epochs}: train loss {record['train_loss']:.4f}, "
                    f"test top-1 {summary.top1:.2f}%, top-5 {summary.top5:.2f}%"
                )
                if job.env.is_main:
                    save_checkpoint(job.files.last, self.state(finished))
                ddp.barrier(job.env)
        return self.result()

    def _remember(self, record: dict[str, Any], summary: Summary) -> None:
        self.history.append(record)
        if self.best is None or summary.top1 > self.best["top1"]:
            self.best = {"epoch": self.epoch, **summary.as_dict()}
        self.last = {"epoch": self.epoch, **summary.as_dict()}

    def _train_epoch(self, progress: TrainProgress) -> dict[str, Any]:
        settings, job = self.settings, self.job
        spe = self.layout.steps_per_epoch
        self.sampler.set_position(self.epoch, 0)
        self.wrapped.train()
        meter = ClassificationMeter(job.data.num_classes)
        started = time.perf_counter()
        lr = settings.lr
        batches = self._batches()
        for step in range(spe):
            x_or_features, labels = next(batches)
            lr = lr_at(self.schedule, fractional_epoch(self.epoch, step, spe))
            apply_lr(self.optimizer, lr)
            seed_step(self.seed, self.epoch, step, self.layout.shard_index(job.env.rank, 0))
            with autocast_context(settings.precision, job.device):
                logits = self.wrapped(x_or_features, pooled_input=self.cached is not None)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=settings.label_smoothing)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            meter.update(logits, labels, loss_sum=loss.detach() * labels.numel())
            progress.advance(1)
        meter.reduce(job.env, job.device)
        summary = meter.summary()
        seconds = time.perf_counter() - started
        samples = spe * settings.batch_size
        if not math.isfinite(summary.loss or 0.0):
            raise DataError(
                f"the {settings.name} training loss became non-finite in epoch {self.epoch + 1}; "
                "lower protocol.lr"
            )
        return {
            "type": "epoch",
            "run": self.run,
            "lr": lr,
            "train_loss": summary.loss,
            "train_top1": summary.top1,
            "seconds": round(seconds, 3),
            "train_samples_per_s": round(samples / seconds, 2) if seconds > 0 else 0.0,
            "features_cached": self.cached is not None,
        }

    def _batches(self) -> Any:
        """This rank's batches of the epoch: (input or cached features, labels) on the device."""
        device = self.job.device
        if self.cached is not None:
            labels = torch.as_tensor(self.full.labels, device=device)
            for keys in self.sampler:
                index = torch.as_tensor(
                    [int(self.train.indices[k]) for k, _ in keys], device=device
                )
                yield self.cached[index], labels[index]
            return
        data = loader(self.train, self.sampler, self.settings.num_workers, device)
        for batch in data:
            yield (
                batch["x"].to(device, non_blocking=True),
                batch["labels"].to(device, non_blocking=True),
            )

    def _cache_features(self) -> None:
        """Pooled features of the whole train part, once (deterministic train transform)."""
        started = time.perf_counter()
        positions = np.arange(len(self.full))
        keys = [
            [(int(p), 0) for p in positions[i : i + 256]] for i in range(0, len(positions), 256)
        ]
        features = []
        self.model.eval()
        with torch.no_grad():
            for batch in loader(self.full, keys, self.settings.num_workers, self.job.device):
                x = batch["x"].to(self.job.device)
                with autocast_context(self.settings.precision, self.job.device):
                    out = self.model.encoder(x)
                features.append(pooled(self.model.encoder, out).float())
        self.cached = torch.cat(features)
        self.cache_seconds = time.perf_counter() - started

    def result(self) -> dict[str, Any]:
        """The run's final and best epochs, its history and throughput."""
        assert self.best is not None
        last = self.last if self.last is not None else self._evaluate_last()
        speeds = [r["train_samples_per_s"] for r in self.history if r.get("train_samples_per_s")]
        return {
            "run": self.run,
            "seed": self.seed,
            "train_samples": len(self.train),
            "final": last,
            "best": self.best,
            "history": self.history,
            "train_samples_per_s": round(float(np.median(speeds)), 2) if speeds else None,
            "features_cached": self.cached is not None,
        }

    def _evaluate_last(self) -> dict[str, Any]:
        return {"epoch": self.epoch, **self._test().as_dict()}

    def final_predictions(self) -> Predictions:
        """This rank's test predictions of the final epoch (tested again after a resume)."""
        if self.predictions is None:
            self._test()
        assert self.predictions is not None
        return self.predictions

    def _test(self) -> Summary:
        """Test metrics of the current model (cached test features for a frozen encoder);
        keeps this rank's predictions in ``self.predictions``."""
        settings, job = self.settings, self.job
        frozen_features = (
            not settings.train_encoder and settings.clips == 1 and not is_random(job.test_transform)
        )
        if frozen_features:
            if self.test_cache is None:
                self.test_cache = frozen_test_features(
                    self.model,
                    job,
                    settings.eval_batch_size,
                    self.seed,
                    settings.num_workers,
                    settings.precision,
                )
            summary, self.predictions = evaluate_on_features(self.model, *self.test_cache, job)
            return summary
        summary, self.predictions = evaluate_classifier(
            self.model,
            job,
            settings.clips,
            settings.eval_batch_size,
            self.seed,
            settings.num_workers,
            settings.precision,
        )
        return summary


def run_supervised(
    job: EvalJob, settings: SupervisedSettings, resume: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every run of ``settings``; continue from ``resume`` (a checkpoint) if given.

    The first run's final test logits are saved as ``test_logits.npz`` when it ends.
    """
    from skelkit.evaluate.logits import save_test_logits

    finished: list[dict[str, Any]] = list(resume.get("runs") or []) if resume else []
    for run in range(len(finished), settings.runs):
        current = SupervisedRun(job, settings, run)
        resumable = resume is not None and len(resume.get("runs") or []) == run
        if resume is not None and resumable and int(resume.get("run", -1)) == run:
            current.restore(resume)
        finished.append(current.fit(finished))
        if run == 0:
            save_test_logits(job, current.final_predictions())
        if job.env.is_main:
            state = current.state(finished)
            state["run"] = run + 1
            save_checkpoint(job.files.last, state)
        ddp.barrier(job.env)
    return finished

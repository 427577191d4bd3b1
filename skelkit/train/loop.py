"""The pretraining engine: one optimizer step after another, resumable at every step.

:func:`pretrain` builds the method (``skelkit.methods.build``), the data
(:mod:`skelkit.train.data`), the optimizer and the schedule from a resolved config, then
trains for ``train.epochs`` epochs. It writes, in the run folder (rank 0 only):

* ``config.yaml``: the resolved config with the versions of the plugins it uses;
* ``metrics.jsonl``: one JSON object per logged step and per epoch;
* ``checkpoints/last.pt`` every epoch, every ``train.checkpoint_every_steps`` steps and on
  Ctrl-C, plus ``checkpoints/epoch-NNNN.pt`` every ``train.save_every`` epochs.

Every random draw is derived from the seed and the position (see
:mod:`skelkit.train.seeding`), so ``--resume`` from any of these checkpoints continues
with exactly the numbers an uninterrupted run would use.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

import skelkit
from skelkit.errors import ConfigError, DataError, SkelkitError
from skelkit.train import distributed as ddp
from skelkit.train.checkpoint import header, load_checkpoint, save_checkpoint, state_fingerprint
from skelkit.train.data import TrainData, open_train_data, with_default_transforms
from skelkit.train.interrupt import StopFlag
from skelkit.train.optim import build_optimizer
from skelkit.train.progress import TrainProgress
from skelkit.train.run import RunFiles, check_resume_config, truncate_metrics
from skelkit.train.sampler import ShardBatchSampler, ShardLayout
from skelkit.train.schedule import apply_lr, fractional_epoch, lr_at
from skelkit.train.seeding import seed_all, seed_step
from skelkit.train.settings import TrainSettings
from skelkit.train.step import StepRunner


class NonFiniteLossError(SkelkitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the run after a resumable checkpoint was written."""

    def __init__(self, checkpoint: Path | None, step: int) -> None:
        super().__init__(f"interrupted at step {step}")
        self.checkpoint = checkpoint
        self.step = step


@dataclass(frozen=True)
class PretrainResult:
    """What a finished run reports."""

    out: Path
    epochs: int
    steps: int
    checkpoint: Path
    loss: float
    samples_per_s: float
    data_wait_share: float


def pretrain(
    config: Mapping[str, Any],
    out: Path,
    *,
    resume: bool = False,
    console: Console | None = None,
) -> PretrainResult:
    """Train the method of a resolved ``config``; write the run into ``out``.

    Under ``torchrun`` every process calls this; they train together with DDP and rank 0
    writes the files.

    Raises:
        ConfigError: bad settings, or a resume whose config differs from the saved one.
        DataError: an unusable data file or split.
        NonFiniteLossError: the loss became NaN or infinite (names the step).
        TrainingInterrupted: Ctrl-C; a resumable checkpoint was written first.
    """
    settings = TrainSettings.from_dict(dict(config["train"]))
    env = ddp.detect()
    device = ddp.select_device(settings.device, env)
    check_precision(settings.precision, device)
    ddp.init_process_group(env, device)
    try:
        full = with_default_transforms(config)
        trainer = Trainer(full, settings, RunFiles(out), env, device, console)
        return trainer.fit(resume=resume)
    finally:
        ddp.shutdown()


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (GradScaler); bf16 runs on CPU and CUDA."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on CPU")


def plugin_versions(config: Mapping[str, Any]) -> dict[str, str]:
    """Versions of the plugins that provide the config's components."""
    from skelkit.registry import SECTION_KINDS, get_registries

    registries = get_registries()
    versions = {"skelkit": skelkit.__version__}
    for section, kind in SECTION_KINDS.items():
        values = config.get(section)
        if isinstance(values, Mapping) and values.get("name"):
            entry = registries.get(kind, str(values["name"]))
            versions[entry.plugin] = entry.version or skelkit.__version__
    return dict(sorted(versions.items()))


class Trainer:
    """Owns the method, optimizer, data and run folder of one pretraining run."""

    def __init__(
        self,
        config: dict[str, Any],
        settings: TrainSettings,
        files: RunFiles,
        env: ddp.DistEnv,
        device: torch.device,
        console: Console | None,
    ) -> None:
        from skelkit.methods.build import build_method

        self.config = config
        self.settings = settings
        self.files = files
        self.env = env
        self.device = device
        self.console = console or Console(stderr=True)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        self.data: TrainData = open_train_data(config, device, settings.seed)
        self.layout = ShardLayout(
            num_samples=self.data.num_samples,
            batch_size=settings.batch_size,
            world_size=env.world_size,
            accumulate=settings.accumulate,
        )
        check_layout(self.layout, self.data)
        seed_all(settings.seed)  # model initialisation: the same on every rank
        self.method = build_method(config).to(device)
        self.model = ddp.wrap(self.method, env, device, settings.find_unused_parameters)
        self.optimizer = build_optimizer(self.method, settings)
        self.scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16")
        self.runner = StepRunner(
            model=self.model,
            method=self.method,
            optimizer=self.optimizer,
            scaler=self.scaler,
            precision=settings.precision,
            device=device,
            clip_grad=settings.clip_grad,
        )
        self.sampler = ShardBatchSampler(self.layout, settings.seed, env.rank)
        self.loader = self.data.loader(self.sampler, settings.num_workers)
        self.run_config = dict(config)
        self.run_config.setdefault("plugins", plugin_versions(config))
        self.step = 0
        self.total_steps = settings.epochs * self.layout.steps_per_epoch
        self._bad_step = torch.full((), -1, dtype=torch.int64, device=device)
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self._loss_steps = 0
        self._saved_step = -1
        self._last_loss = math.nan

    # -- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The checkpoint of the current position."""
        spe = self.layout.steps_per_epoch
        return {
            "skelkit": header("pretrain"),
            "config": self.run_config,
            "model": self.method.state_dict(),
            "dataset": self.data.dataset_name,
            "recipe": self.data.recipe,
            "epoch": self.step // spe,
            "step": self.step,
            "step_in_epoch": self.step % spe,
            "steps_per_epoch": spe,
            "data": self.data.describe(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {"seed": self.settings.seed, "derived": "seed, epoch, step, shard, sample"},
            "world_size": self.env.world_size,
            "loss": self._last_loss,
        }

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        """Continue from a checkpoint of this run (config checked by the caller)."""
        self.method.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self._saved_step = self.step
        self._last_loss = float(ckpt.get("loss", math.nan))

    def _resume_checkpoint(self) -> dict[str, Any]:
        if not self.files.last.is_file():
            raise ConfigError(
                f"--resume: {self.files.last} does not exist, nothing to resume; "
                "start the run without --resume"
            )
        ckpt = load_checkpoint(self.files.last)
        check_resume_config(ckpt, self.run_config, self.files.last)
        saved = ckpt.get("data", {})
        if saved != self.data.describe():
            raise ConfigError(
                f"--resume: the data differ from the run's ({saved} then, "
                f"{self.data.describe()} now); resume with the same data file and split"
            )
        return ckpt

    # -- the run ---------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> PretrainResult:
        """Train to the last epoch (from the saved position with ``resume``)."""
        if resume:
            self.restore(self._resume_checkpoint())
            if self.step >= self.total_steps and self.env.is_main:
                self.console.print(
                    f"the run in {self.files.root} already finished its {self.settings.epochs} "
                    "epochs; nothing left to train"
                )
        elif self.files.last.exists():
            raise ConfigError(
                f"{self.files.root} already holds a run ({self.files.last}); continue it with "
                "--resume or choose another --out"
            )
        self._write_start_files(resume)
        ddp.barrier(self.env)
        progress = TrainProgress(
            self.console,
            total=self.total_steps,
            done=self.step,
            enabled=self.env.is_main,
        )
        start = time.perf_counter()
        start_step = self.step
        data_wait = 0.0
        with progress, StopFlag(self.console) as stop:
            while self.step < self.total_steps:
                data_wait += self._run_epoch(progress, stop)
        elapsed = time.perf_counter() - start
        steps_done = self.step - start_step
        self._check_finite()
        checkpoint = self._save(end_of_epoch=True)
        samples = steps_done * self.settings.batch_size
        return PretrainResult(
            out=self.files.root,
            epochs=self.settings.epochs,
            steps=self.step,
            checkpoint=checkpoint,
            loss=self._last_loss,
            samples_per_s=samples / elapsed if elapsed > 0 else 0.0,
            data_wait_share=data_wait / elapsed if elapsed > 0 else 0.0,
        )

    def _run_epoch(self, progress: TrainProgress, stop: StopFlag) -> float:
        """Run the rest of the current epoch; return the seconds spent waiting for data."""
        spe = self.layout.steps_per_epoch
        epoch, first = divmod(self.step, spe)
        self.sampler.set_position(epoch, first)
        batches: Iterator[Any] = iter(self.loader)
        waited = 0.0
        epoch_start = time.perf_counter()
        window_start, window_wait, window_steps = time.perf_counter(), 0.0, 0
        for step_in_epoch in range(first, spe):
            t0 = time.perf_counter()
            try:
                micro = [next(batches) for _ in range(self.settings.accumulate)]
            except (RuntimeError, StopIteration) as exc:
                if stop.requested:  # Ctrl-C also reached the loader workers
                    self._interrupt()
                raise RuntimeError(f"data loading failed: {exc}") from exc
            wait = time.perf_counter() - t0
            waited += wait
            window_wait += wait
            lr = lr_at(self.settings, fractional_epoch(epoch, step_in_epoch, spe))
            apply_lr(self.optimizer, lr)
            self._train_step(micro, epoch, step_in_epoch)
            self.step += 1
            window_steps += 1
            after = getattr(self.method, "after_optimizer_step", None)
            if callable(after):
                after(self.step, self.total_steps)
            progress.advance(1)
            if self.step % self.settings.log_every == 0 or step_in_epoch == spe - 1:
                now = time.perf_counter()
                self._log_step(progress, epoch, lr, now - window_start, window_wait, window_steps)
                window_start, window_wait, window_steps = now, 0.0, 0
            if ddp.any_rank(stop.requested, self.env, self.device):
                self._interrupt()
            every = self.settings.checkpoint_every_steps
            if every and self.step % every == 0 and step_in_epoch != spe - 1:
                self._check_finite()
                self._save(end_of_epoch=False)
        self._check_finite()
        self._save(end_of_epoch=True)
        self._log_epoch(progress, epoch, time.perf_counter() - epoch_start, waited)
        return waited

    def _log_epoch(self, progress: TrainProgress, epoch: int, seconds: float, wait: float) -> None:
        record = {
            "type": "epoch",
            "epoch": epoch,
            "step": self.step,
            "loss": self._last_loss,
            "seconds": round(seconds, 3),
            "data_wait_share": round(wait / seconds, 4) if seconds > 0 else 0.0,
        }
        if self.env.is_main:
            with self.files.metrics.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            progress.log(
                f"epoch {epoch + 1}/{self.settings.epochs}: loss {self._last_loss:.4f}, "
                f"{seconds:.1f} s, data wait {record['data_wait_share']:.0%}"
            )

    def _train_step(self, micro_batches: list[dict[str, torch.Tensor]], epoch: int, k: int) -> None:
        """One optimizer step; every micro-batch reseeded from its shard's position."""

        def prepare(micro: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            shard = self.layout.shard_index(self.env.rank, micro)
            seed_step(self.settings.seed, epoch, k, shard)
            return self.data.prepare(batch, epoch, k, shard)

        step_loss = self.runner.run(micro_batches, prepare)
        bad = ~torch.isfinite(step_loss) & (self._bad_step < 0)
        here = torch.full_like(self._bad_step, self.step + 1)
        self._bad_step = torch.where(bad, here, self._bad_step)
        self._loss_sum += step_loss
        self._loss_steps += 1

    # -- checks, logs, checkpoints ---------------------------------------------------------

    def _check_finite(self) -> None:
        """Stop if any rank saw a non-finite loss since the last check."""
        flag = self._bad_step.clone()
        flag = torch.where(flag < 0, torch.full_like(flag, 2**62), flag)
        if self.env.enabled:
            import torch.distributed as dist

            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        bad = int(flag.item())
        if bad < 2**62:
            spe = self.layout.steps_per_epoch
            kept = (
                f"the last good checkpoint {self.files.last} is kept"
                if self.files.last.exists()
                else "no checkpoint was written"
            )
            raise NonFiniteLossError(
                f"the loss became non-finite at step {bad} (epoch {(bad - 1) // spe}); "
                f"{kept}. Lower train.lr or set train.clip_grad, then start again."
            )

    def _log_step(
        self,
        progress: TrainProgress,
        epoch: int,
        lr: float,
        seconds: float,
        wait: float,
        steps: int,
    ) -> None:
        self._check_finite()
        stats = torch.stack(
            [self._loss_sum, torch.tensor(float(self._loss_steps), device=self.device).double()]
        )
        ddp.all_reduce_sum(stats, self.env)
        loss = float(stats[0] / stats[1]) if float(stats[1]) else math.nan
        self._last_loss = loss
        self._loss_sum.zero_()
        self._loss_steps = 0
        samples_per_s = steps * self.settings.batch_size / seconds if seconds > 0 else 0.0
        record = {
            "type": "step",
            "epoch": epoch,
            "step": self.step,
            "lr": lr,
            "loss": loss,
            "samples_per_s": round(samples_per_s, 2),
            "step_time": round(seconds / max(steps, 1), 6),
            "data_wait_share": round(wait / seconds, 4) if seconds > 0 else 0.0,
        }
        progress.update(loss=loss, lr=lr, samples_per_s=samples_per_s, epoch=epoch)
        if self.env.is_main:
            with self.files.metrics.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def _save(self, end_of_epoch: bool) -> Path:
        """Write ``last.pt`` (and the numbered checkpoint at kept epochs) on rank 0."""
        if self._saved_step == self.step:
            return self.files.last
        payload = self.state()
        if self.env.enabled and end_of_epoch:
            payload["replica_fingerprints"] = self._replica_fingerprints()
        if self.env.is_main:
            save_checkpoint(self.files.last, payload)
            epoch = self.step // self.layout.steps_per_epoch
            final = self.step == self.total_steps
            if end_of_epoch and (epoch % self.settings.save_every == 0 or final):
                save_checkpoint(self.files.epoch(epoch), payload)
        self._saved_step = self.step
        ddp.barrier(self.env)
        return self.files.last

    def _replica_fingerprints(self) -> list[str]:
        """Every rank's :func:`state_fingerprint` of the parameters (a warning if they differ).

        DDP keeps parameters equal. Buffers are left out: BatchNorm running statistics are
        each rank's own until DDP broadcasts rank 0's at the next forward.
        """
        import torch.distributed as dist

        mine = state_fingerprint(dict(self.method.named_parameters()))
        gathered: list[Any] = [None] * self.env.world_size
        dist.all_gather_object(gathered, mine)
        if len(set(gathered)) > 1 and self.env.is_main:
            self.console.print(
                f"[red]warning:[/] the {self.env.world_size} DDP replicas hold different "
                f"weights at step {self.step}; the run is not reproducible"
            )
        return [str(fp) for fp in gathered]

    def _interrupt(self) -> None:
        self._check_finite()
        path = self._save(end_of_epoch=False)
        raise TrainingInterrupted(path, self.step)

    def _write_start_files(self, resume: bool) -> None:
        if not self.env.is_main:
            return
        from skelkit.config import dump_config

        self.files.checkpoints.mkdir(parents=True, exist_ok=True)
        self.files.config.write_text(dump_config(self.run_config), encoding="utf-8")
        if resume:
            truncate_metrics(self.files.metrics, self.step)
        else:
            self.files.metrics.unlink(missing_ok=True)


def check_layout(layout: ShardLayout, data: TrainData) -> None:
    """The global batch must split evenly and fit the training part at least once."""
    if layout.batch_size % layout.shards:
        raise ConfigError(
            f"train.batch_size={layout.batch_size} must be divisible by "
            f"{layout.world_size} processes x train.accumulate={layout.accumulate}"
        )
    if layout.steps_per_epoch < 1:
        raise DataError(
            f"{data.describe()['file']}: split part {data.describe()['split']} has "
            f"{layout.num_samples} samples, fewer than train.batch_size={layout.batch_size}; "
            "lower --batch-size"
        )

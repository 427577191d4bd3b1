"""Pretraining throughput on synthetic in-memory input (``skelkit bench pretrain``).

Runs the engine's own optimizer step (:class:`skelkit.train.step.StepRunner`: autocast,
GradScaler, clipping, the configured optimizer) on a fixed random batch, so the figures
measure the model and the step, not the data pipeline. FLOPs are counted once with
``torch.utils.flop_counter`` (matrix multiplications, convolutions, attention; forward and
backward); on CUDA the model FLOPs utilisation (MFU) divides the achieved rate by the
device's dense peak for the precision (table :data:`PEAK_TFLOPS`).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from skelkit.errors import ConfigError

#: Dense peak TFLOP/s by device-name fragment: fp32 (no TF32), bf16 and fp16 tensor cores.
#: The longest matching fragment wins ("H100 PCIe" before "H100").
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
    "H100 PCIe": {"fp32": 51.0, "bf16": 756.0, "fp16": 756.0},
    "H100 NVL": {"fp32": 60.0, "bf16": 835.0, "fp16": 835.0},
    "H100": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
    "GH200": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
    "A100": {"fp32": 19.5, "bf16": 312.0, "fp16": 312.0},
    "A800": {"fp32": 19.5, "bf16": 312.0, "fp16": 312.0},
    "L40S": {"fp32": 91.6, "bf16": 362.0, "fp16": 362.0},
    "L40": {"fp32": 90.5, "bf16": 181.0, "fp16": 181.0},
    "L4": {"fp32": 30.3, "bf16": 121.0, "fp16": 121.0},
    "A10": {"fp32": 31.2, "bf16": 125.0, "fp16": 125.0},
    "4090": {"fp32": 82.6, "bf16": 165.2, "fp16": 165.2},
    "3090": {"fp32": 35.6, "bf16": 71.0, "fp16": 71.0},
    "V100": {"fp32": 15.7, "fp16": 125.0},
    "T4": {"fp32": 8.1, "fp16": 65.0},
}


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The dense peak of a CUDA device for ``precision`` in TFLOP/s, if the table knows it."""
    matches = [fragment for fragment in PEAK_TFLOPS if fragment in device_name]
    if not matches:
        return None
    return PEAK_TFLOPS[max(matches, key=len)].get(precision)


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark."""

    method: str
    device: str
    device_name: str
    precision: str
    batch_size: int
    frames: int
    steps: int
    parameters: int
    samples_per_s: float
    step_ms: float
    peak_memory_mb: float
    gflops_per_step: float
    achieved_tflops: float
    peak_tflops: float | None
    mfu: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def synthetic_batch(batch: int, frames: int, device: torch.device) -> dict[str, torch.Tensor]:
    """A smooth random skeleton batch ``(N, 3, T, 25, 2)``; odd samples have one person."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, 25, 2, generator=generator).cumsum(dim=2) * 0.02
    x[1::2, ..., 1] = 0
    return {
        "x": x.to(device),
        "lengths": torch.full((batch,), frames, dtype=torch.int64, device=device),
        "labels": torch.zeros(batch, dtype=torch.int64, device=device),
        "index": torch.arange(batch, device=device),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def bench_pretrain(config: Mapping[str, Any], steps: int = 10, warmup: int = 3) -> BenchResult:
    """Time ``steps`` optimizer steps of the config's method (after ``warmup`` untimed ones).

    Device, precision and batch size come from the config's ``train`` section.
    """
    from skelkit.methods.build import build_method
    from skelkit.train.data import with_default_transforms
    from skelkit.train.distributed import DistEnv, select_device
    from skelkit.train.loop import check_precision
    from skelkit.train.optim import build_optimizer
    from skelkit.train.seeding import seed_all
    from skelkit.train.settings import TrainSettings
    from skelkit.train.step import StepRunner

    if steps < 1 or warmup < 0:
        raise ConfigError(f"--steps must be >= 1 and --warmup >= 0, got {steps} and {warmup}")
    config = with_default_transforms(config)
    settings = TrainSettings.from_dict(dict(config["train"]))
    device = select_device(settings.device, DistEnv())
    check_precision(settings.precision, device)
    frames = int(config["train_transform"].get("window", 120))
    seed_all(settings.seed)
    method = build_method(config).to(device)
    optimizer = build_optimizer(method, settings)
    runner = StepRunner(
        model=method,
        method=method,
        optimizer=optimizer,
        scaler=torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16"),
        precision=settings.precision,
        device=device,
        clip_grad=settings.clip_grad,
    )
    batch = synthetic_batch(settings.batch_size, frames, device)
    for _ in range(warmup):
        runner.run([batch])
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        runner.run([batch])
    flops = float(counter.get_total_flops())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        runner.run([batch])
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    achieved = flops / seconds / 1e12
    peak = peak_tflops(name, settings.precision) if device.type == "cuda" else None
    return BenchResult(
        method=str(config["method"]["name"]),
        device=str(device),
        device_name=name,
        precision=settings.precision,
        batch_size=settings.batch_size,
        frames=frames,
        steps=steps,
        parameters=sum(p.numel() for p in method.parameters() if p.requires_grad),
        samples_per_s=settings.batch_size / seconds,
        step_ms=seconds * 1e3,
        peak_memory_mb=_peak_memory_mb(device),
        gflops_per_step=flops / 1e9,
        achieved_tflops=achieved,
        peak_tflops=peak,
        mfu=achieved / peak if peak else None,
    )

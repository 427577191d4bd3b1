"""Pretraining throughput of the ``skeleton2vec`` preset against the ``mamp`` preset.

Runs the engine's optimizer step (:class:`skelkit.train.step.StepRunner`: forward,
backward, clipping, AdamW) followed by the method's after-step hook (Skeleton2vec's EMA
teacher update) on a fixed random batch, so the figures measure the model, not the data
pipeline. Skeleton2vec pays one extra (teacher) forward pass over all 750 tokens per
person and the EMA update; MAMP sees 120-frame clips, Skeleton2vec 90-frame clips, both
30 x 25 tokens. Prints samples/s of each and the ratio.

    python bench/bench_skeleton2vec.py                      # CPU, fp32, batch 32
    python bench/bench_skeleton2vec.py --device cuda --precision bf16 --batch 128
"""

from __future__ import annotations

import argparse
import time

import torch

from skelkit.config import resolve_config
from skelkit.methods.build import build_method
from skelkit.registry import get_registries
from skelkit.train.bench import synthetic_batch
from skelkit.train.optim import build_optimizer
from skelkit.train.settings import TrainSettings
from skelkit.train.step import StepRunner


def samples_per_s(
    preset: str, batch: int, device: torch.device, precision: str, steps: int, warmup: int
) -> float:
    """Samples per second of ``preset``'s pretraining step on NTU-60 shapes."""
    config = resolve_config(
        get_registries(),
        preset=preset,
        dataset="ntu60",
        overrides=[f"train.batch_size={batch}", f"train.precision={precision}"],
    )
    settings = TrainSettings.from_dict(dict(config["train"]))
    torch.manual_seed(0)
    method = build_method(config).to(device)
    runner = StepRunner(
        model=method,
        method=method,
        optimizer=build_optimizer(method, settings),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        precision=precision,
        device=device,
        clip_grad=settings.clip_grad,
    )
    frames = int(config["train_transform"]["window"])
    data = synthetic_batch(batch, frames, device)
    total = warmup + steps

    def step(i: int) -> None:
        runner.run([data])
        method.after_optimizer_step(i + 1, total)

    for i in range(warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for i in range(warmup, total):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    """Parse the options, time both presets, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    figures = {}
    for preset in ("mamp", "skeleton2vec"):
        figures[preset] = samples_per_s(
            preset, args.batch, device, args.precision, args.steps, args.warmup
        )
        print(f"{preset:>13}: {figures[preset]:8.1f} samples/s")
    ratio = figures["skeleton2vec"] / figures["mamp"]
    print(
        f"device {device} ({args.precision}), batch {args.batch}, threads "
        f"{torch.get_num_threads()}: skeleton2vec / mamp = {ratio:.2f}"
    )


if __name__ == "__main__":
    main()

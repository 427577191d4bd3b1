"""Throughput of one MAMP pretraining step (forward, backward, AdamW) in skelkit.

Prints samples/s for the ``mamp`` preset (NTU-60: 8 x 256 encoder, 3-block decoder,
120 frames, 2 persons) on random skeletons, and the FLOPs of one step counted by
``torch.utils.flop_counter``; on CUDA also the model FLOPs utilisation (MFU) against the
device's peak (``--peak-tflops`` to override the built-in table).

    python bench/bench_mamp_step.py                       # CPU, fp32, batch 32
    python bench/bench_mamp_step.py --device cuda --precision bf16 --batch 128
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from skelkit.config import resolve_config
from skelkit.methods.build import build_method
from skelkit.registry import get_registries

#: Dense peak TFLOP/s by device-name fragment: (fp32 without TF32, bf16 tensor cores).
PEAK_TFLOPS = {
    "H200": (67.0, 989.0),
    "H100": (67.0, 989.0),
    "A100": (19.5, 312.0),
    "L40S": (91.6, 362.0),
    "4090": (82.6, 165.0),
}


def skeletons(batch: int, frames: int, device: torch.device) -> torch.Tensor:
    """Smooth random skeleton batch ``(N, 3, T, 25, 2)``; odd samples have one person."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, 25, 2, generator=gen).cumsum(dim=2) * 0.02
    x[1::2, :, :, :, 1] = 0
    return x.to(device)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on request, otherwise nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (CUDA) before reading the clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timed(device: torch.device) -> Iterator[list[float]]:
    """Measure the wall time of the block, device work included."""
    out: list[float] = []
    synchronize(device)
    start = time.perf_counter()
    yield out
    synchronize(device)
    out.append(time.perf_counter() - start)


def peak_tflops(device: torch.device, precision: str, override: float | None) -> float | None:
    """The device's dense peak for ``precision`` in TFLOP/s, if known."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (fp32, bf16) in PEAK_TFLOPS.items():
        if fragment in name:
            return bf16 if precision == "bf16" else fp32
    return None


def main() -> None:
    """Parse options, time the steps, print the figures."""
    parser = argparse.ArgumentParser(description="Throughput of one MAMP pretraining step.")
    parser.add_argument("--batch", type=int, default=32, help="samples per step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--dataset", default="ntu60", help="preset variant (decoder depth)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU")
    opts = parser.parse_args()

    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = torch.device(opts.device)
    torch.manual_seed(0)
    config = resolve_config(get_registries(), preset="mamp", dataset=opts.dataset)
    method = build_method(config).to(device).train()
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95))
    batch = {"x": skeletons(opts.batch, config["encoder"]["num_frames"], device)}

    def step() -> float:
        with autocast(device, opts.precision):
            loss, _ = method(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    for _ in range(opts.warmup):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    losses = []
    with timed(device) as elapsed:
        for _ in range(opts.steps):
            losses.append(step())
    seconds = elapsed[0] / opts.steps
    rate = opts.batch / seconds
    threads = torch.get_num_threads() if device.type == "cpu" else None
    print(
        f"skelkit MAMP pretrain step ({opts.dataset} preset): batch {opts.batch}, "
        f"{opts.device}{f' ({threads} threads)' if threads else ''}, {opts.precision}"
    )
    print(f"  {rate:.1f} samples/s, {seconds * 1e3:.1f} ms/step over {opts.steps} steps")
    print(f"  {flops / 1e9:.1f} GFLOP/step counted, {flops / seconds / 1e12:.2f} TFLOP/s achieved")
    peak = peak_tflops(device, opts.precision, opts.peak_tflops)
    if peak:
        print(f"  MFU {100 * flops / seconds / (peak * 1e12):.1f}% of {peak:.0f} TFLOP/s peak")
    print(f"  loss first/last timed step: {losses[0]:.4f} / {losses[-1]:.4f}")


if __name__ == "__main__":
    main()

"""PCM3 pretraining speed: samples/s of full training steps and the GRUs' share of a step.

Builds the ``pcm3`` preset's model at full size (GRU 3 x 1024, queue 16384), feeds random
three-view batches ``(N, 9, 64, 25, 2)`` and times whole steps (forward of the five encoder
passes, backward, SGD step, momentum update). The GRU share is measured by replaying the
step's GRU work alone, with the same shapes: four query-encoder passes with backward (query,
masked, predicted and mixed views), one key-encoder pass without gradient, and the
decoder's GRU twice with backward (once in the plain variant), interleaved with the steps;
on a shared machine whose load changes this ratio is noisy, so the script also prints the
GRUs' share of the step's matrix FLOPs, counted from the layer shapes. On CUDA it also
reports whether PyTorch runs the GRUs with cuDNN's fused kernel.

    python bench/bench_pcm3.py [--batch-size 32] [--steps 3] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(device: torch.device, stream: str) -> Any:
    from skelkit.config import resolve_config
    from skelkit.methods.build import build_method
    from skelkit.registry import get_registries

    config = resolve_config(get_registries(), preset="pcm3", overrides=[f"encoder.stream={stream}"])
    return build_method(config).to(device).train(), config


def make_step(method: Any, batch: int, device: torch.device) -> Callable[[], None]:
    """One training step on a random three-view batch (forward, backward, SGD, momentum)."""
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 9, 64, 25, 2, device=device).cumsum(2) * 0.02

    def step() -> None:
        loss, _ = method({"x": x})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        method.after_optimizer_step(1, 1)

    return step


def make_gru_work(method: Any, batch: int, device: torch.device) -> Callable[[], None]:
    """The step's GRU calls alone, with the same shapes: four query-encoder passes with
    backward, one key-encoder pass without gradient, the decoder GRU (twice when prompted)."""
    encoder, key_encoder, decoder = method.encoder, method.key_encoder, method.decoder.decoder
    width = decoder.input_size
    decoder_runs = 2 if method.prompted else 1

    def encode(module: Any, x: torch.Tensor) -> torch.Tensor:
        for layer in module.layers:
            x = layer(x)
        return x

    def work() -> None:
        total = torch.zeros((), device=device)
        for _ in range(4):
            x = torch.randn(batch, 64, encoder.in_features, device=device, requires_grad=True)
            total = total + encode(encoder, x).sum()
        with torch.no_grad():
            encode(key_encoder, torch.randn(batch, 64, encoder.in_features, device=device))
        for _ in range(decoder_runs):
            z = torch.randn(batch, 64, width, device=device, requires_grad=True)
            total = total + decoder(z)[0].sum()
        total.backward()
        method.zero_grad(set_to_none=True)

    return work


def step_gflops(method: Any, batch: int, frames: int = 64) -> tuple[float, float]:
    """(GRU, all matrix products) GFLOP of one step, counted from the layer shapes.

    Forward multiply-adds count 2 FLOP, a backward pass twice its forward. The step runs
    four query-encoder passes and the predictor/decoder with backward (the decoder twice
    when prompted) and one key-encoder pass without.
    """
    rows = batch * frames

    def gru(input_size: int, hidden: int) -> float:
        return 2.0 * rows * 3 * hidden * (input_size + hidden)

    enc = method.encoder
    sizes = [enc.in_features] + [2 * enc.hidden_size] * (enc.num_layers - 1)
    encoder = sum(2 * gru(size, enc.hidden_size) for size in sizes)
    width = method.decoder.decoder.hidden_size
    layers = method.decoder.decoder.num_layers
    decoder = layers * gru(width, width)
    feature, dim = enc.feature_dim, method.queue.shape[0]
    projector = 2.0 * batch * (feature * feature + feature * dim)
    predictor = 2.0 * rows * (feature * width + width * width + width * enc.in_features)
    queue = 2.0 * batch * dim * method.queue.shape[1] * 6
    runs = 2 if method.prompted else 1
    gru_total = 4 * 3 * encoder + encoder + runs * 3 * decoder
    other = 4 * 3 * projector + projector + runs * 3 * predictor + 3 * queue
    return gru_total / 1e9, (gru_total + other) / 1e9


def timed(fn: Callable[[], None], device: torch.device) -> float:
    """Wall seconds of one call."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def uses_cudnn_gru(method: Any, device: torch.device) -> bool:
    """Whether a GRU call runs cuDNN's fused RNN kernel (CUDA only)."""
    if device.type != "cuda":
        return False
    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(2, 64, method.encoder.in_features, device=device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        method.encoder.layers[0](x)
        _sync(device)
    return any("cudnn_rnn" in event.key for event in prof.key_averages())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stream", default="joint", choices=("joint", "motion", "bone"))
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    method, _ = build(device, args.stream)
    params = sum(p.numel() for p in method.parameters() if p.requires_grad)
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), stream: {args.stream}")
    print(f"trainable parameters: {params:,}", flush=True)
    step, work = (
        make_step(method, args.batch_size, device),
        make_gru_work(method, args.batch_size, device),
    )
    step(), work()  # warm-up
    # Interleaved, so that a change of machine load hits both alike.
    pairs = [(timed(step, device), timed(work, device)) for _ in range(args.steps)]
    step_s = statistics.median(p[0] for p in pairs)
    share = statistics.median(p[1] / p[0] for p in pairs)
    print(f"batch {args.batch_size}, three views, two encoders: {step_s:.3f} s/step")
    print(f"pretraining throughput: {args.batch_size / step_s:.2f} samples/s")
    print(
        f"GRU work per step (replayed alone, median of {len(pairs)} interleaved pairs): "
        f"{100 * share:.1f} % of a step"
    )
    gru_gflop, all_gflop = step_gflops(method, args.batch_size)
    print(
        f"GRU share of the step's matrix FLOPs: {100 * gru_gflop / all_gflop:.1f} % "
        f"({gru_gflop:.0f} of {all_gflop:.0f} GFLOP)"
    )
    if device.type == "cuda":
        print(f"cuDNN fused GRU: {uses_cudnn_gru(method, device)}")


if __name__ == "__main__":
    main()

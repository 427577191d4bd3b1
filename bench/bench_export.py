"""Exported-encoder speed on the CPU: eager PyTorch, TorchScript and ONNX Runtime side by side.

For the MAMP-size transformer (width 256, depth 8, 120 frames) and PCM3's GRU (3 layers of
1024, 64 frames), at their published sizes with random weights (or the encoder of
``--checkpoint``), it prints the median latency of one sample and the throughput at batch
``--batch`` (256) for each runtime, all on the same number of threads. ONNX Runtime needs
``pip install 'skelkit[onnx]'``.

    python bench/bench_export.py [--models transformer,gru] [--runs 20] [--batch 256]
        [--batch-runs 3] [--batch-warmup 1] [--threads N] [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelkit.export.model import ExportedEncoder, example_input
from skelkit.export.onnx_format import OnnxExporter, open_session
from skelkit.export.torchscript_format import TorchScriptExporter, load_torchscript
from skelkit.registry import get_registries

#: name -> (encoder config section, input frames): the published sizes.
MODELS: dict[str, tuple[dict[str, object], int]] = {
    "transformer": ({"name": "transformer"}, 120),
    "gru": ({"name": "gru"}, 64),
}


def median_seconds(
    fn: Callable[[np.ndarray], object], x: np.ndarray, runs: int, warmup: int = 2
) -> float:
    """Median wall time of ``fn(x)`` over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def runtimes(module: ExportedEncoder, frames: int, folder: Path, threads: int) -> dict[str, Any]:
    """Callables ``x (numpy) -> features`` for eager, TorchScript and ONNX Runtime."""
    example = example_input(frames)
    ts_path, onnx_path = folder / "model.pt", folder / "model.onnx"
    TorchScriptExporter().export(module, example, ts_path, {})
    OnnxExporter().export(module, example, onnx_path, {})
    scripted = load_torchscript(ts_path)
    session = open_session(onnx_path, threads=threads)

    def eager(x: np.ndarray) -> object:
        with torch.inference_mode():
            return module(torch.from_numpy(x))

    def torchscript(x: np.ndarray) -> object:
        with torch.inference_mode():
            return scripted(torch.from_numpy(x))

    def onnxruntime(x: np.ndarray) -> object:
        return session.run(None, {"x": x})

    return {"eager PyTorch": eager, "TorchScript": torchscript, "ONNX Runtime": onnxruntime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="transformer,gru")
    parser.add_argument("--runs", type=int, default=20, help="timed single-sample calls")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batch-runs", type=int, default=3, help="timed calls at --batch")
    parser.add_argument("--batch-warmup", type=int, default=1, help="untimed calls at --batch")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--checkpoint", type=Path, help="export this checkpoint's encoder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}")
    print(
        "| encoder | runtime | latency, 1 sample (ms) | throughput, batch "
        f"{args.batch} (samples/s) |"
    )
    print("|---|---|---:|---:|")
    for name, encoder, frames in encoders(args.models.split(","), args.checkpoint):
        module = ExportedEncoder(encoder.eval()).eval()
        one = example_input(frames, batch=1).numpy()
        many = example_input(frames, batch=args.batch).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            for runtime, fn in runtimes(module, frames, Path(tmp), args.threads).items():
                latency = median_seconds(fn, one, args.runs)
                batch_time = median_seconds(fn, many, args.batch_runs, warmup=args.batch_warmup)
                print(
                    f"| {name} | {runtime} | {latency * 1e3:.1f} | {args.batch / batch_time:.1f} |",
                    flush=True,
                )


def encoders(names: list[str], checkpoint: Path | None) -> list[tuple[str, Any, int]]:
    """(name, encoder, frames): the checkpoint's encoder, or the published-size ones."""
    if checkpoint is not None:
        from skelkit.export.source import load_source

        source = load_source(checkpoint)
        return [(source.encoder_name, source.encoder, source.frames)]
    found = []
    for name in names:
        section, frames = MODELS[name]
        torch.manual_seed(0)
        found.append((name, get_registries().build("encoder", section), frames))
    return found


if __name__ == "__main__":
    main()

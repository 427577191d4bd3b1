"""Linear-probe throughput of the frozen-encoder path (samples/s).

Prints samples/s of one linear-probe training step (the protocol's own ``Classifier``,
``LinearHead`` and SGD optimizer) for:

* ``frozen encoder + head``: what every epoch costs with MAMP's random train augmentation
  (random crop and rotation): the encoder runs without gradients on every batch, because
  each epoch sees new crops, so features can not be reused across epochs;
* ``head on cached features``: what an epoch costs when the train transform is
  deterministic and the features are computed once for the whole run;
* ``encoder forward only``: the no-grad forward, i.e. the cost of computing features once.

The inputs are random tensors already in memory (the loader is measured by
``bench_loader.py``). Defaults are MAMP's encoder (120 frames, 8 x 256).

Usage::

    python bench/bench_linear_probe.py [--device cpu] [--batch 64] [--dim 256] [--depth 8]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from skelkit.evaluate.model import Classifier, LinearHead, pooled
from skelkit.evaluate.optim import build_optimizer
from skelkit.evaluate.settings import linear_protocol
from skelkit.nn.transformer import build_transformer


def _rate(step: Callable[[], None], batch: int, steps: int, device: torch.device) -> float:
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    """Parse the options, run the three measurements, print samples/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--window", type=int, default=120)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--classes", type=int, default=60)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    encoder = build_transformer(
        num_frames=args.window, dim=args.dim, depth=args.depth, num_heads=args.heads
    )
    model = Classifier(encoder, LinearHead(args.dim, args.classes), train_encoder=False)
    model.to(device).train()
    optimizer = build_optimizer(model, linear_protocol())
    x = torch.randn(args.batch, 3, args.window, 25, 2, device=device)
    labels = torch.randint(0, args.classes, (args.batch,), device=device)
    features = torch.randn(args.batch, args.dim, device=device)

    def train_step(pooled_input: bool) -> Callable[[], None]:
        def step() -> None:
            logits = model(features if pooled_input else x, pooled_input=pooled_input)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    def forward_only() -> None:
        with torch.no_grad():
            pooled(encoder, encoder(x))

    print(
        f"linear probe, encoder {args.depth} x {args.dim}, {args.window} frames, "
        f"batch {args.batch}, {device}, {torch.get_num_threads()} CPU threads"
    )
    rates = {
        "frozen encoder + head": _rate(train_step(False), args.batch, args.steps, device),
        "head on cached features": _rate(train_step(True), args.batch, args.steps * 20, device),
        "encoder forward only": _rate(forward_only, args.batch, args.steps, device),
    }
    for name, rate in rates.items():
        print(f"  {name:<26} {rate:>12,.1f} samples/s")


if __name__ == "__main__":
    main()

"""Randomness derived from (seed, epoch, sample index) and (seed, epoch, step, shard).

Nothing in a run draws from a generator whose state carries over from an earlier draw:
every sample's augmentation uses an RNG of ``(seed, epoch, index)`` in whichever process
loads it (:func:`skelkit.data.loader.sample_rng`, DataLoader workers included), the sample
order of an epoch comes from ``(seed, epoch)``, and every micro-step reseeds the global
RNGs from ``(seed, epoch, step, shard)`` before the method's forward (masking, dropout,
noise; a batched on-device transform gets its own generator of the same key). A resumed
run therefore draws exactly the numbers an uninterrupted run draws, without saving any
generator state, and a shard's draws do not depend on which rank runs it.
"""

from __future__ import annotations

import hashlib
import random
import struct

import numpy as np
import torch

SEED_BITS = 63


def derive_seed(seed: int, *keys: int | str) -> int:
    """Return a 63-bit seed that depends on ``seed`` and every key (stable across runs)."""
    digest = hashlib.blake2b(repr((int(seed), *keys)).encode(), digest_size=8).digest()
    return int(struct.unpack("<Q", digest)[0] >> (64 - SEED_BITS))


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and every CUDA device) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_step(seed: int, epoch: int, step: int, shard: int) -> None:
    """Seed the global generators for micro-step ``shard`` of optimizer step ``step``."""
    seed_all(derive_seed(seed, "step", epoch, step, shard))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for the sample order of ``epoch``."""
    return torch.Generator().manual_seed(derive_seed(seed, "order", epoch))


def shard_generator(
    seed: int, epoch: int, step: int, shard: int, device: torch.device
) -> torch.Generator:
    """A generator on ``device`` for the batched train transform of one micro-step."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, "transform", epoch, step, shard))
    return generator

"""k-nearest-neighbour action retrieval on frozen, L2-normalised encoder features.

Both parts go through the deterministic test transform (PCM3 / CMD use the centre crop
for bank and queries). Every rank extracts the features of its share of the train part
(the bank) and of the test part (the queries); the bank is gathered on every rank and put
back in sample order, so the result does not depend on the number of processes. A query's
prediction is the majority class of its ``k`` most similar bank samples (cosine), ties going
to the class of the most similar voter; its top-5 ranks classes by their most similar bank
sample.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from skelkit.evaluate.data import ShardedTestSampler, loader
from skelkit.evaluate.job import EvalJob
from skelkit.evaluate.metrics import ClassificationMeter
from skelkit.evaluate.model import load_eval_encoder, pooled
from skelkit.evaluate.settings import KnnSettings
from skelkit.train import distributed as ddp
from skelkit.train.seeding import seed_all
from skelkit.train.step import autocast_context


def extract(
    encoder: nn.Module, job: EvalJob, part: str, settings: KnnSettings
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """This rank's (positions, L2-normalised pooled features, labels) of ``part``."""
    dataset = job.data.open(part, job.test_transform, settings.seed)
    sampler = ShardedTestSampler(
        len(dataset), settings.batch_size, job.env.rank, job.env.world_size
    )
    positions, features, labels = [], [], []
    encoder.eval()
    with torch.no_grad():
        for batch in loader(dataset, sampler, settings.num_workers, job.device):
            with autocast_context(settings.precision, job.device):
                out = encoder(batch["x"].to(job.device, non_blocking=True))
            features.append(F.normalize(pooled(encoder, out).float(), dim=1))
            labels.append(batch["labels"].to(job.device))
            positions.append(batch["index"].to(job.device))
    if not features:
        width = int(getattr(encoder, "feature_dim", 1))
        empty = torch.zeros(0, dtype=torch.int64, device=job.device)
        return empty, torch.zeros(0, width, device=job.device), empty
    return torch.cat(positions), torch.cat(features), torch.cat(labels)


def gather_rows(tensor: torch.Tensor, env: ddp.DistEnv) -> torch.Tensor:
    """Concatenate every rank's rows (ranks may hold different counts)."""
    if not env.enabled:
        return tensor
    import torch.distributed as dist

    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(env.world_size)]
    dist.all_gather(counts, count)
    largest = int(max(int(c) for c in counts))
    padded = torch.zeros((largest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.zeros_like(padded) for _ in range(env.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(c)] for part, c in zip(parts, counts, strict=True)])


def knn_scores(
    queries: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    k: int,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores ``(Q, K)``: votes of the ``k`` nearest, then the best similarity.

    The integer part of a score is the class's votes, the fraction its most similar bank
    sample (mapped into [0, 1)), so the argmax is the majority class with ties to the
    nearest voter and the ranking of classes without votes follows their best match.
    """
    k = min(k, bank.shape[0])
    scores = []
    for start in range(0, queries.shape[0], chunk):
        sim = queries[start : start + chunk] @ bank.T
        best = torch.full((sim.shape[0], num_classes), -1.0, device=sim.device)
        best.scatter_reduce_(1, bank_labels.expand_as(sim), sim, reduce="amax")
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.zeros_like(best)
        votes.scatter_add_(1, bank_labels[top_idx], torch.ones_like(top_sim))
        scores.append(votes + (best + 1.0) / 2.0 * 0.999)
    if not scores:
        return torch.zeros(0, num_classes, device=queries.device)
    return torch.cat(scores)


def run_knn(job: EvalJob, settings: KnnSettings) -> dict[str, Any]:
    """Retrieve every test sample's class from the train bank; return the run result."""
    seed_all(settings.seed)
    encoder = load_eval_encoder(
        job.checkpoint,
        init=settings.init,
        drop_path=None,
        seed=settings.seed,
        which=settings.encoder or None,
    )
    encoder.to(job.device)
    started = time.perf_counter()
    bank_pos, bank, bank_labels = extract(encoder, job, job.data.train_part, settings)
    _, queries, labels = extract(encoder, job, job.data.test_part, settings)
    seconds = time.perf_counter() - started
    bank_pos = gather_rows(bank_pos, job.env)
    order = bank_pos.argsort()
    bank = gather_rows(bank, job.env)[order]
    bank_labels = gather_rows(bank_labels, job.env)[order]
    scores = knn_scores(queries, bank, bank_labels, job.data.num_classes, settings.k)
    meter = ClassificationMeter(job.data.num_classes)
    meter.update(scores, labels)
    meter.reduce(job.env, job.device)
    summary = {"epoch": 0, **meter.summary().as_dict()}
    extracted = job.data.train_size + job.data.test_size
    return {
        "run": 0,
        "seed": settings.seed,
        "train_samples": job.data.train_size,
        "final": summary,
        "best": summary,
        "history": [],
        "feature_samples_per_s": round(extracted / seconds, 2) if seconds > 0 else None,
    }

"""``test_logits.npz``: the per-sample test logits of an evaluation, for ensembles.

Written by rank 0 after gathering every rank's predictions of the final epoch (of the first
run for ``semi``): ``index`` (int64, the samples' indices in the store, sorted), ``labels``
(int64) and ``logits`` (float32, ``(N, classes)``; with several test clips the mean of the
clips' logits), plus ``dataset``, ``split`` and ``test_part`` as strings. ``skelkit evaluate
ensemble`` adds the logits of several such files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The file name inside an evaluation folder.
LOGITS_FILE = "test_logits.npz"


def save_test_logits(job: Any, predictions: Any) -> Path | None:
    """Gather ``predictions`` (this rank's :class:`~skelkit.evaluate.testing.Predictions`)
    from every rank and write ``test_logits.npz`` on rank 0; returns its path there."""
    from skelkit.evaluate.knn import gather_rows

    device = job.device
    positions = gather_rows(predictions.positions.to(device), job.env).cpu()
    labels = gather_rows(predictions.labels.to(device), job.env).cpu()
    logits = gather_rows(predictions.logits.to(device), job.env).cpu()
    if not job.env.is_main:
        return None
    order = positions.argsort()
    dataset = job.data.open(job.data.test_part, job.test_transform, 0)
    index = np.asarray(dataset.indices, dtype=np.int64)[positions[order].numpy()]
    path = Path(job.files.root) / LOGITS_FILE
    np.savez(
        path,
        index=index,
        labels=labels[order].numpy().astype(np.int64),
        logits=logits[order].numpy().astype(np.float32),
        dataset=np.array(job.data.dataset_name),
        split=np.array(job.data.split),
        test_part=np.array(job.data.test_part),
    )
    return path
